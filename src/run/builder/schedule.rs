//! The loop that runs a plan: ready steps are checked, dirty ones start
//! within the job, pool and load limits, finished ones ready their
//! dependents, until nothing can run.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::fs;
use std::path::Path;
use std::time::Instant;

use super::slots::Slots;
use super::{BuildOutcome, Builder, StepProgress, now_ns};
use crate::graph::{FileId, StepId};
use crate::run::process::{Event, ProcessPool};

impl Builder<'_, '_, '_> {
    pub(super) fn run(mut self) -> anyhow::Result<BuildOutcome> {
        let mut pool = ProcessPool::new();
        let mut slots = Slots::new(self.ctx.jobs, &pool);
        self.ctx.status.start_build();
        self.ctx.status.set_total(self.total);
        let result = self.run_steps(&mut pool, &mut slots);
        if pool.running() > 0 {
            // An internal error (a dyndep file that does not parse, a log
            // that cannot be written) must not leave commands running on
            // after zccache has exited.
            for finished in pool.interrupt_all() {
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

    pub(super) fn run_steps(
        &mut self,
        pool: &mut ProcessPool,
        slots: &mut Slots,
    ) -> anyhow::Result<()> {
        loop {
            self.check_ready_steps()?;
            let stop_starting = self.outcome.failed >= self.opts.failures_allowed
                || self.outcome.interrupted
                || crate::run::process::interrupted();
            if !stop_starting {
                self.start_runnable(pool, slots);
            }
            if pool.running() == 0 && self.ready.is_empty() {
                if stop_starting || self.runnable.is_empty() {
                    return Ok(());
                }
                // Only pool- or load-blocked steps remain with nothing
                // running: start one regardless so the build advances.
                if let Some(Reverse(step)) = self.runnable.pop() {
                    self.start_step(pool, step, slots);
                }
                continue;
            }
            if pool.running() == 0 {
                continue;
            }
            let Some(event) = pool.wait_any() else {
                continue;
            };
            match event {
                Event::Finished(finished) => {
                    slots.release(finished.token);
                    self.step_finished(finished)?;
                }
                Event::Token(token) => slots.token_arrived(token),
                Event::Interrupted => {}
            }
            if crate::run::process::interrupted() {
                for finished in pool.interrupt_all() {
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

    pub(super) fn start_runnable(&mut self, pool: &mut ProcessPool, slots: &mut Slots) {
        let mut deferred = VecDeque::new();
        while pool.running() < self.opts.parallelism {
            let Some(Reverse(step)) = self.runnable.pop() else {
                break;
            };
            if let (Some(limit), true) = (self.opts.max_load, pool.running() > 0)
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
            if !self.opts.dry_run && !slots.available() {
                slots.want(1 + self.runnable.len());
                self.runnable.push(Reverse(step));
                break;
            }
            self.start_step(pool, step, slots);
        }
        while let Some(step) = deferred.pop_back() {
            self.runnable.push(Reverse(step));
        }
    }

    pub(super) fn start_step(&mut self, pool: &mut ProcessPool, step: StepId, slots: &mut Slots) {
        let s = &self.graph.step(step);
        let description = if s.description.is_empty() {
            s.command.clone()
        } else {
            s.description.clone()
        };
        let command = s.command.clone();
        let console = s.uses_console();
        let pool_name = s.pool.clone();
        self.steps[step].progress = StepProgress::Running;
        self.ctx
            .status
            .step_started(&description, &command, console);
        self.outcome.ran += 1;
        if self.opts.dry_run {
            self.ctx
                .status
                .step_finished(&description, &command, &[], None, b"", console);
            self.finish_dry_run(step);
            return;
        }
        // A failed or interrupted run may leave outputs half written: forget
        // the old record so the step can never look clean over them.
        if let Some(key) = self.record_key(step) {
            self.ctx.state.remove(key);
        }
        if !pool_name.is_empty() {
            *self.pool_use.entry(pool_name).or_insert(0) += 1;
        }
        self.started_at.insert(step, (Instant::now(), now_ns()));
        slots.take(step.index());
        match self.prepare_step(step) {
            Ok(()) => match self.cache_job(step, &command, console) {
                Some(job) => pool.spawn_job(step.index(), Some(self.ctx.jobs), job),
                None => pool.spawn(step.index(), &command, console, Some(self.ctx.jobs)),
            },
            Err(err) => pool.fail_without_running(step.index(), format!("{err:#}")),
        }
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
