//! The loop that runs a plan: ready steps are checked, dirty ones start
//! within the job, pool and load limits, finished ones ready their
//! dependents, until nothing can run.

use super::runner::{DryRun, Processes, Runner};
use super::{BuildOutcome, Builder, StepProgress};
use crate::graph::{FileId, StepId};
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::fs;
use std::path::Path;

impl Builder<'_, '_, '_> {
    pub(super) fn run(self) -> anyhow::Result<BuildOutcome> {
        if self.opts.dry_run {
            self.run_with(&mut DryRun)
        } else {
            let mut processes = Processes::new(self.ctx.jobs);
            self.run_with(&mut processes)
        }
    }

    fn run_with(mut self, runner: &mut impl Runner) -> anyhow::Result<BuildOutcome> {
        self.ctx.status.start_build();
        self.ctx.status.set_total(self.total);
        let result = self.run_steps(runner);
        if runner.running() > 0 {
            // An internal error (a dyndep file that does not parse, a log
            // that cannot be written) must not leave commands running on
            // after zccache has exited.
            for finished in runner.interrupt_all() {
                self.remove_interrupted_outputs(StepId(finished.token as u32));
            }
        }
        result?;
        // Ctrl-C may arrive while nothing runs (between steps, or while
        // checking them): that too is an interrupted build, not a success.
        self.outcome.interrupted |= crate::run::process::interrupted();
        if self.outcome.failed == 0 && !self.outcome.interrupted {
            self.check_everything_finished()?;
        }
        Ok(self.outcome)
    }

    fn run_steps(&mut self, runner: &mut impl Runner) -> anyhow::Result<()> {
        loop {
            self.check_ready_steps()?;
            let stop_starting = self.outcome.failed >= self.opts.failures_allowed
                || self.outcome.interrupted
                || crate::run::process::interrupted();
            if !stop_starting {
                self.start_runnable(runner);
            }
            if runner.running() == 0 && self.ready.is_empty() {
                if stop_starting || self.runnable.is_empty() {
                    return Ok(());
                }
                // Only pool- or load-blocked steps remain with nothing
                // running: start one regardless so the build advances.
                if let Some(Reverse(step)) = self.runnable.pop() {
                    self.start_step(runner, step);
                }
                continue;
            }
            if runner.running() == 0 {
                continue;
            }
            if let Some(finished) = runner.wait() {
                self.step_finished(finished)?;
            }
            if crate::run::process::interrupted() {
                for finished in runner.interrupt_all() {
                    let step = StepId(finished.token as u32);
                    self.remove_interrupted_outputs(step);
                }
                self.outcome.interrupted = true;
                return Ok(());
            }
        }
    }

    /// A build that neither failed nor was interrupted must have finished
    /// every wanted step; one left waiting means its inputs can never be
    /// built (a cycle through depfile or dyndep dependencies).
    pub(super) fn check_everything_finished(&self) -> anyhow::Result<()> {
        let stuck = self.steps.iter().find(|(_, state)| {
            !matches!(state.progress, StepProgress::NotWanted | StepProgress::Done)
        });
        if let Some((id, _)) = stuck {
            let step = self.graph.step(id);
            let name = step
                .outs
                .first()
                .map(|&o| self.graph.path(o))
                .unwrap_or("?");
            anyhow::bail!(
                "cannot make progress: '{name}' waits on a dependency cycle \
                 (through depfile or dyndep dependencies)"
            );
        }
        Ok(())
    }

    /// Checks every step whose inputs are ready: clean ones complete at
    /// once (readying more), dirty ones queue to run.
    pub(super) fn check_ready_steps(&mut self) -> anyhow::Result<()> {
        while let Some(step) = self.ready.pop_front() {
            if self.graph.step(step).is_phony() {
                self.finish_phony(step);
                continue;
            }
            if self.graph.step(step).dyndep.is_some() && self.apply_dyndep(step)? {
                // New inputs from the dyndep file must be built first.
                continue;
            }
            // The estimate's verdict stands unless something upstream ran
            // after all (a safety net: the estimate assumes otherwise).
            if self.steps[step].known_clean && !self.any_producer_ran(step) {
                self.finish_clean(step);
                continue;
            }
            match self.check(step) {
                None => self.finish_clean(step),
                Some(reason) => {
                    if self.opts.explain {
                        self.ctx.status.explain(&reason.to_string());
                    }
                    if !self.steps[step].counted {
                        self.steps[step].counted = true;
                        self.total += 1;
                        self.ctx.status.set_total(self.total);
                    }
                    self.steps[step].progress = StepProgress::Queued;
                    self.runnable.push(Reverse(step));
                }
            }
        }
        Ok(())
    }

    pub(super) fn any_producer_ran(&self, step: StepId) -> bool {
        let s = &self.graph.step(step);
        s.dirtying_ins()
            .iter()
            .chain(&self.steps[step].discovered)
            .any(|&f| self.upstream_ran(f))
    }

    fn start_runnable(&mut self, runner: &mut impl Runner) {
        let mut deferred = VecDeque::new();
        while runner.running() < self.opts.parallelism {
            let Some(Reverse(step)) = self.runnable.pop() else {
                break;
            };
            if let (Some(limit), true) = (self.opts.max_load, runner.running() > 0)
                && crate::run::jobs::load_average().is_some_and(|load| load >= limit)
            {
                self.runnable.push(Reverse(step));
                break;
            }
            let pool_name = &self.graph.step(step).pool;
            if !pool_name.is_empty() {
                let depth = self
                    .graph
                    .pools
                    .get(pool_name)
                    .copied()
                    .unwrap_or(usize::MAX);
                let used = self.pool_use.get(pool_name).copied().unwrap_or(0);
                if depth != 0 && used >= depth {
                    deferred.push_back(step);
                    continue;
                }
            }
            if !runner.slot_free(1 + self.runnable.len()) {
                self.runnable.push(Reverse(step));
                break;
            }
            self.start_step(runner, step);
        }
        while let Some(step) = deferred.pop_back() {
            self.runnable.push(Reverse(step));
        }
    }

    fn start_step(&mut self, runner: &mut impl Runner, step: StepId) {
        let s = self.graph.step(step);
        let description = s.display_name().to_string();
        let command = s.command.clone();
        let console = s.uses_console();
        self.steps[step].progress = StepProgress::Running;
        self.ctx
            .status
            .step_started(&description, &command, console);
        self.outcome.ran += 1;
        runner.start(self, step, &command, console);
    }

    /// Records are kept under the step's first output.
    pub(super) fn record_key(&self, step: StepId) -> Option<FileId> {
        self.graph.step(step).outs.first().copied()
    }

    /// Creates output directories and writes the rspfile.
    pub(super) fn prepare_step(&mut self, step: StepId) -> anyhow::Result<()> {
        let s = &self.graph.step(step);
        for &out in &s.outs {
            create_parent_dir(self.graph.path(out))?;
        }
        if let Some(rspfile) = &s.rspfile {
            create_parent_dir(rspfile)?;
            fs::write(rspfile, &s.rspfile_content)
                .map_err(|err| anyhow::anyhow!("writing {rspfile}: {err}"))?;
        }
        if let Some(depfile) = &s.depfile {
            create_parent_dir(depfile)?;
        }
        Ok(())
    }
}

/// Creates the directory holding `path` when it is missing. Checked for
/// every step (a step may remove a directory another one writes into), with
/// one stat when it exists, as ninja does.
pub(super) fn create_parent_dir(path: &str) -> anyhow::Result<()> {
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        fs::create_dir_all(parent)
            .map_err(|err| anyhow::anyhow!("creating directory {}: {err}", parent.display()))?;
    }
    Ok(())
}
