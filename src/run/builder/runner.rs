//! What starts a dirty step and reports it finished: child processes within
//! the job slots, or with `-n` nothing at all (the step counts as run, with
//! changed outputs). The scheduler drives either one through [`Runner`] and
//! knows nothing of dry runs.

use std::time::Instant;

use super::slots::Slots;
use super::{Builder, now_ns};
use crate::graph::StepId;
use crate::run::jobs::JobLimit;
use crate::run::process::{Event, Finished, ProcessPool};

pub(super) trait Runner {
    /// Steps started and not yet reported finished.
    fn running(&self) -> usize;
    /// Whether a job slot is free now; when not, asks for enough slots for
    /// `waiting` steps.
    fn slot_free(&mut self, waiting: usize) -> bool;
    /// Starts `step`, whose start the status line already shows.
    fn start(&mut self, builder: &mut Builder, step: StepId, command: &str, console: bool);
    /// Blocks until a running step finishes (`Some`) or something else
    /// wakes the build (`None`: a jobserver token, Ctrl-C).
    fn wait(&mut self) -> Option<Finished>;
    /// Stops every running step and returns what each one left.
    fn interrupt_all(&mut self) -> Vec<Finished>;
}

/// Runs steps as child processes, through the cache when it handles them.
pub(super) struct Processes {
    pool: ProcessPool,
    slots: Slots,
}

impl Processes {
    pub(super) fn new(jobs: &JobLimit) -> Processes {
        let pool = ProcessPool::new();
        let slots = Slots::new(jobs, &pool);
        Processes { pool, slots }
    }
}

impl Runner for Processes {
    fn running(&self) -> usize {
        self.pool.running()
    }

    fn slot_free(&mut self, waiting: usize) -> bool {
        if self.slots.available() {
            return true;
        }
        self.slots.want(waiting);
        false
    }

    fn start(&mut self, builder: &mut Builder, step: StepId, command: &str, console: bool) {
        // A failed or interrupted run may leave outputs half written: forget
        // the old record so the step can never look clean over them.
        if let Some(key) = builder.record_key(step) {
            builder.ctx.state.remove(key);
        }
        let pool_name = &builder.graph.step(step).pool;
        if !pool_name.is_empty() {
            *builder.pool_use.entry(pool_name.clone()).or_insert(0) += 1;
        }
        builder.started_at.insert(step, (Instant::now(), now_ns()));
        self.slots.take(step.index());
        let jobs = Some(builder.ctx.jobs);
        match builder.prepare_step(step) {
            Ok(()) => match builder.cache_job(step, command, console) {
                Some(job) => self.pool.spawn_job(step.index(), jobs, job),
                None => self.pool.spawn(step.index(), command, console, jobs),
            },
            Err(err) => self
                .pool
                .fail_without_running(step.index(), format!("{err:#}")),
        }
    }

    fn wait(&mut self) -> Option<Finished> {
        match self.pool.wait_any()? {
            Event::Finished(finished) => {
                self.slots.release(finished.token);
                Some(finished)
            }
            Event::Token(token) => {
                self.slots.token_arrived(token);
                None
            }
            Event::Interrupted => None,
        }
    }

    fn interrupt_all(&mut self) -> Vec<Finished> {
        self.pool.interrupt_all()
    }
}

/// `-n`: a step "runs" by being shown and finishing at once, as if it had
/// changed its outputs; nothing is started, so nothing is ever running.
pub(super) struct DryRun;

impl Runner for DryRun {
    fn running(&self) -> usize {
        0
    }

    fn slot_free(&mut self, _waiting: usize) -> bool {
        true
    }

    /// The step counts as having changed its outputs, so everything after
    /// it is shown too, as ninja does.
    fn start(&mut self, builder: &mut Builder, step: StepId, command: &str, console: bool) {
        let s = builder.graph.step(step);
        builder
            .ctx
            .status
            .step_finished(s.display_name(), command, &[], None, b"", console);
        for &out in &s.outs {
            let mut hasher = blake3::Hasher::new();
            hasher.update(b"dry-run\0");
            hasher.update(builder.graph.path(out).as_bytes());
            builder
                .virtual_hash
                .insert(out, *hasher.finalize().as_bytes());
        }
        // Its dependents must not be adopted from ninja's log either.
        builder.steps[step].ran = true;
        builder.complete(step);
    }

    fn wait(&mut self) -> Option<Finished> {
        None
    }

    fn interrupt_all(&mut self) -> Vec<Finished> {
        Vec::new()
    }
}
