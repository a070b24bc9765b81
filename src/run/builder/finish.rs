//! The end of a step: its output shown, its failure counted or its
//! success recorded, and its dependents readied; clean and phony steps
//! finish without running.

use std::fs;

use super::{Builder, StepProgress, now_ns};
use crate::graph::{FileId, StepId};
use crate::hash::Observed;
use crate::run::process::{ExitStatus, Finished};

impl Builder<'_, '_, '_> {
    pub(super) fn step_finished(&mut self, finished: Finished) -> anyhow::Result<()> {
        let step = StepId(finished.token as u32);
        let s = &self.graph.step(step);
        let pool_name = s.pool.clone();
        if let Some(used) = self.pool_use.get_mut(&pool_name) {
            *used = used.saturating_sub(1);
        }
        if finished.status.is_interruption() {
            // A step dying of SIGINT or SIGTERM means the user interrupted
            // the build (the terminal signals the whole group): ninja then
            // prints no FAILED block, only that the build stopped.
            self.outcome.interrupted = true;
            self.steps[step].progress = StepProgress::Done;
            self.remove_interrupted_outputs(step);
            return Ok(());
        }
        let description = s.display_name().to_string();
        let command = s.command.clone();
        let outputs: Vec<String> = s
            .outs
            .iter()
            .map(|&o| self.graph.path(o).to_string())
            .collect();
        if self.opts.explain
            && let Some(note) = &finished.note
        {
            self.ctx.status.explain(note);
        }
        let mut output = finished.output;
        let mut success = matches!(finished.status, ExitStatus::Exited(0));
        let mut deps_paths: Vec<String> = Vec::new();
        let mut deps_error: Option<String> = None;
        if success {
            match self.read_discovered_deps(step, &mut output) {
                Ok(paths) => deps_paths = paths,
                Err(err) => {
                    deps_error = Some(err);
                    success = false;
                }
            }
        }
        if let ExitStatus::SpawnFailed(message) = &finished.status {
            output.extend_from_slice(message.as_bytes());
            output.push(b'\n');
        }
        if let Some(err) = &deps_error {
            output.extend_from_slice(err.as_bytes());
            output.push(b'\n');
        }
        if let Some(rspfile) = &self.graph.step(step).rspfile
            && success
            && !self.opts.keep_rsp
        {
            let _ = fs::remove_file(rspfile);
        }
        let console = self.graph.step(step).uses_console();
        // A step that exited 0 fails only through its depfile: ninja then
        // reports code 1.
        let failure = (!success).then(|| match finished.status {
            ExitStatus::Exited(0) => crate::run::process::EXIT_STEP_FAILED,
            ref status => status.code(),
        });
        self.ctx
            .status
            .step_finished(&description, &command, &outputs, failure, &output, console);
        if let Some(code) = failure {
            self.outcome.failure_code = code;
            self.outcome.failed += 1;
            self.outcome.failed_steps.push(step);
            // The step's dependents never become ready; leaving them waiting
            // ends the build once nothing else can run.
            self.steps[step].progress = StepProgress::Done;
            return Ok(());
        }
        self.steps[step].ran = true;
        self.outcome.restored += usize::from(finished.restored);
        self.outcome
            .rebuilt
            .extend_from_slice(&self.graph.step(step).outs);
        self.record_success(step, deps_paths, finished.duration, finished.restored)?;
        self.forget_rebuilt_dyndeps(step);
        self.complete(step);
        Ok(())
    }

    /// A clean step: its outputs are what its record says.
    pub(super) fn finish_clean(&mut self, step: StepId) {
        if self.steps[step].counted {
            self.steps[step].counted = false;
            self.total -= 1;
            self.ctx.status.set_total(self.total);
        }
        self.keep_ninja_in_sync(step);
        self.complete(step);
    }

    /// Phony steps never run; their outputs, when not real files, stand for
    /// the content of their inputs. A phony with no inputs and no file is
    /// always out of date, as in ninja.
    pub(super) fn finish_phony(&mut self, step: StepId) {
        let s = &self.graph.step(step);
        let ins: Vec<FileId> = s.dirtying_ins().to_vec();
        let outs = s.outs.clone();
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"phony\0");
        if ins.is_empty() {
            hasher.update(&now_ns().to_le_bytes());
            hasher.update(&(step.0).to_le_bytes());
        }
        for input in ins.iter().copied() {
            hasher.update(&self.current_hash(input));
        }
        let combined = *hasher.finalize().as_bytes();
        for out in outs {
            let real_file = ins.is_empty() && self.exists(out);
            if !real_file {
                self.virtual_hash.insert(out, combined);
            }
        }
        self.complete(step);
    }

    /// An interrupted step may have left partial outputs; ninja deletes
    /// outputs the step had touched so the next build redoes them.
    pub(super) fn remove_interrupted_outputs(&mut self, step: StepId) {
        let outs = self.graph.step(step).outs.clone();
        for out in outs {
            let path = self.graph.path(out);
            let was = self.observed.get(out).copied().flatten();
            let now = crate::hash::stat(path).ok().flatten();
            let touched = match (was, now) {
                (Some(Observed::Present { stat, .. }), Some(now)) => stat != now,
                (_, Some(_)) => true,
                (_, None) => false,
            };
            if touched {
                let _ = fs::remove_file(path);
            }
        }
    }
}
