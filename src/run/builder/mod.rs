//! The build loop: decide which wanted steps are dirty, by content, and run
//! them in dependency order within the job and pool limits.
//!
//! A step is checked only once every step producing one of its inputs has
//! finished, against the content those inputs have *now*. So a step whose
//! outputs come out byte-identical leaves its dependents clean (early
//! cutoff), for every rule, without relying on mtimes.

mod dirty;
mod dyndep;
mod ninja_sync;

pub use dirty::DirtyReason;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cache::{Executed, Ran, Siblings};
use crate::graph::{FileId, Graph, StepId};
use crate::hash::{Hash, Observed};
use crate::ninja::DepsKind;
use crate::run::jobs::{JobLimit, TokenPump};
use crate::run::process::{Event, ExitStatus, Finished, JobResult, ProcessPool, ShellRunner};
use crate::run::status::StatusPrinter;
use crate::run::{depfile, showincludes};
use crate::state::ninja_files::LazyNinjaFiles;
use crate::state::ninja_log::{self, LogEntry};
use crate::state::{BuildState, Recorded, StepRecord, step_command_hash};

/// Flags that shape one build, from the command line.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub parallelism: usize,
    /// Stop starting new steps after this many failures (`-k`); ninja's
    /// `-k 0` means never stop, stored as `usize::MAX`.
    pub failures_allowed: usize,
    pub max_load: Option<f64>,
    pub dry_run: bool,
    pub explain: bool,
    pub keep_depfile: bool,
    pub keep_rsp: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            parallelism: 1,
            failures_allowed: 1,
            max_load: None,
            dry_run: false,
            explain: false,
            keep_depfile: false,
            keep_rsp: false,
        }
    }
}

/// Everything the build reads and updates besides the graph.
pub struct BuildContext<'a> {
    pub state: &'a mut BuildState,
    pub ninja: &'a mut LazyNinjaFiles,
    /// `.ninja_log` and `.ninja_deps` are as zccache last saved them.
    pub ninja_in_sync: bool,
    pub status: &'a mut StatusPrinter,
    pub jobs: &'a JobLimit,
    /// Where compile, archive and link steps are restored from and stored.
    pub cache: &'a crate::cache::CacheSlot,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    /// Steps that ran (or would run, with `-n`).
    pub ran: usize,
    /// Of the steps that ran, those restored from the compiler cache.
    pub restored: usize,
    pub failed: usize,
    /// The steps that failed, in the order they finished.
    pub failed_steps: Vec<StepId>,
    /// The code of the step that failed last, which ninja 1.13 exits with
    /// (see [`crate::run::process::ExitStatus::code`]); 0 when none failed.
    pub failure_code: i32,
    pub interrupted: bool,
    /// Outputs of the steps that ran, so the driver can tell whether the
    /// manifest itself was rebuilt.
    pub rebuilt: Vec<FileId>,
    /// How long each phase took, for `-d stats`.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

impl BuildOutcome {
    pub fn succeeded(&self) -> bool {
        self.failed == 0 && !self.interrupted
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepProgress {
    NotWanted,
    Waiting,
    Queued,
    Running,
    Done,
}

/// Runs the steps needed for `targets`.
pub fn build(
    graph: &mut Graph,
    targets: &[FileId],
    ctx: &mut BuildContext,
    opts: &BuildOptions,
) -> anyhow::Result<BuildOutcome> {
    let mut timings = Vec::new();
    let mut phase = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, std::time::Duration)>| {
        timings.push((name, phase.elapsed()));
        phase = Instant::now();
    };
    let mut builder = Builder::new(graph, ctx, opts);
    builder.preload_dyndeps();
    builder.plan(targets)?;
    lap("plan", &mut timings);
    builder.observe_files()?;
    lap("stat and hash", &mut timings);
    builder.check_missing_inputs()?;
    builder.estimate_work();
    lap("estimate", &mut timings);
    let mut outcome = builder.run()?;
    lap("run", &mut timings);
    outcome.timings = timings;
    Ok(outcome)
}

/// What a build of some targets would find to do, decided as the build
/// decides it but without running anything (`zccache warm`).
#[derive(Debug)]
pub struct Forecast {
    /// The wanted steps in dependency order, phony ones included.
    pub order: Vec<StepId>,
    /// Per step (by index): `Some` when the step will run, with its own
    /// reason, or `None` inside when it runs only because a step upstream
    /// does. Steps not wanted or clean are `None`.
    pub dirty: Vec<Option<Option<DirtyReason>>>,
    /// Every file the check looked at (by index), as it is now.
    pub observed: Vec<Option<Observed>>,
}

/// Decides, as [`build`] would before its first step, which wanted steps
/// are dirty, assuming every dirty step changes its outputs. Nothing runs
/// and no step is recorded; the file hashes computed stay in
/// `ctx.state.hashes` for the build that follows.
pub fn forecast(
    graph: &mut Graph,
    targets: &[FileId],
    ctx: &mut BuildContext,
) -> anyhow::Result<Forecast> {
    // A dry run's checks record nothing (adopting ninja's steps included).
    let opts = BuildOptions {
        dry_run: true,
        ..BuildOptions::default()
    };
    let mut builder = Builder::new(graph, ctx, &opts);
    builder.preload_dyndeps();
    builder.plan(targets)?;
    builder.observe_files()?;
    builder.check_missing_inputs()?;
    let mut dirty = vec![None; builder.graph.steps.len()];
    let mut changes = vec![false; builder.graph.steps.len()];
    for i in 0..builder.order.len() {
        let step = builder.order[i];
        let upstream = builder.upstream_changes(step, &changes);
        let s = &builder.graph.steps[step.index()];
        if s.is_phony() {
            changes[step.index()] =
                upstream || (s.ins.is_empty() && s.outs.iter().any(|&o| !builder.exists(o)));
            continue;
        }
        let has_dyndep = s.dyndep.is_some();
        let verdict = match builder.check(step) {
            Some(reason) => Some(Some(reason)),
            None if upstream => Some(None),
            None => None,
        };
        changes[step.index()] = verdict.is_some() || has_dyndep;
        dirty[step.index()] = verdict;
    }
    Ok(Forecast {
        order: std::mem::take(&mut builder.order),
        dirty,
        observed: std::mem::take(&mut builder.observed),
    })
}

struct Builder<'g, 'c, 'a> {
    graph: &'g mut Graph,
    ctx: &'c mut BuildContext<'a>,
    opts: &'c BuildOptions,
    /// Dependencies the last run of each step reported, as graph files.
    discovered: Vec<Vec<FileId>>,
    progress: Vec<StepProgress>,
    /// Unfinished producer steps each waiting step still needs.
    pending: Vec<u32>,
    /// Steps waiting on each step (deduplicated per pair).
    dependents: Vec<Vec<StepId>>,
    /// The content of every file as of now (after the steps that ran).
    observed: Vec<Option<Observed>>,
    /// Hashes standing in for files that are not files: phony outputs and,
    /// with `-n`, outputs of steps that would run.
    virtual_hash: HashMap<FileId, Hash>,
    ready: VecDeque<StepId>,
    /// Dirty steps ready to start, lowest manifest position first, as
    /// ninja 1.11 starts them.
    runnable: BinaryHeap<Reverse<StepId>>,
    pool_use: HashMap<String, usize>,
    /// Wanted steps in dependency order.
    order: Vec<StepId>,
    /// Steps counted in the status total: those that look dirty before the
    /// build starts, assuming every dirty step changes its outputs.
    counted: Vec<bool>,
    /// Steps that ran in this build (with `-n`, that would run).
    ran: Vec<bool>,
    /// Steps the up-front estimate found clean with nothing upstream to
    /// run: their check when ready would give the same answer.
    known_clean: Vec<bool>,
    /// Dyndep files already applied to the graph.
    dyndeps_loaded: Vec<FileId>,
    total: usize,
    outcome: BuildOutcome,
    /// When each running step started: monotonic, and wall clock to
    /// compare with file times.
    started_at: HashMap<StepId, (Instant, i64)>,
    build_start: Instant,
    /// See [`Builder::find_compile_groups`].
    compile_groups: std::cell::OnceCell<std::collections::HashSet<StepId>>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl<'g, 'c, 'a> Builder<'g, 'c, 'a> {
    fn new(graph: &'g mut Graph, ctx: &'c mut BuildContext<'a>, opts: &'c BuildOptions) -> Self {
        let step_count = graph.steps.len();
        // Dependencies reported by each step's last run.
        let discovered: Vec<Vec<FileId>> = graph
            .steps
            .iter()
            .map(|step| {
                step.outs
                    .first()
                    .filter(|_| !step.is_phony())
                    .and_then(|first| ctx.state.steps.get(first))
                    .map(|record| record.discovered_inputs().iter().map(|r| r.file).collect())
                    .unwrap_or_default()
            })
            .collect();
        Builder {
            progress: vec![StepProgress::NotWanted; step_count],
            pending: vec![0; step_count],
            dependents: vec![Vec::new(); step_count],
            observed: vec![None; graph.files.len()],
            graph,
            ctx,
            opts,
            discovered,
            virtual_hash: HashMap::new(),
            ready: VecDeque::new(),
            runnable: BinaryHeap::new(),
            pool_use: HashMap::new(),
            order: Vec::new(),
            counted: vec![false; step_count],
            ran: vec![false; step_count],
            known_clean: vec![false; step_count],
            dyndeps_loaded: Vec::new(),
            total: 0,
            outcome: BuildOutcome::default(),
            started_at: HashMap::new(),
            build_start: Instant::now(),
            compile_groups: std::cell::OnceCell::new(),
        }
    }

    fn plan(&mut self, targets: &[FileId]) -> anyhow::Result<()> {
        let discovered = &self.discovered;
        let order = self
            .graph
            .plan_order(targets, &|step: StepId| discovered[step.index()].as_slice())?;
        for &step in &order {
            self.progress[step.index()] = StepProgress::Waiting;
        }
        // Position in the order: a step waits only on producers placed
        // before it. Manifest inputs always are; a depfile dependency from
        // an old build may point downstream (a cycle ninja would report),
        // and waiting on it would never end.
        let mut position = vec![usize::MAX; self.graph.steps.len()];
        for (at, &step) in order.iter().enumerate() {
            position[step.index()] = at;
        }
        for &step in &order {
            let s = &self.graph.steps[step.index()];
            let producers: Vec<StepId> = s
                .ins
                .iter()
                .chain(self.discovered[step.index()].iter())
                .filter_map(|&f| self.graph.files[f.index()].producer)
                .filter(|&p| p != step && position[p.index()] < position[step.index()])
                .collect();
            self.wait_for(step, producers);
        }
        for &step in &order {
            if self.pending[step.index()] == 0 {
                self.ready.push_back(step);
            }
        }
        self.order = order;
        Ok(())
    }

    /// Makes `step` wait until each of `producers` (duplicates allowed) has
    /// completed; returns how many distinct steps it now waits on.
    pub(super) fn wait_for(&mut self, step: StepId, mut producers: Vec<StepId>) -> usize {
        producers.sort_unstable();
        producers.dedup();
        self.pending[step.index()] = producers.len() as u32;
        for &producer in &producers {
            self.dependents[producer.index()].push(step);
        }
        producers.len()
    }

    /// Stats every file the wanted steps read or write, hashing in parallel
    /// those whose identity is new.
    fn observe_files(&mut self) -> anyhow::Result<()> {
        let mut wanted_files = vec![false; self.graph.files.len()];
        for (index, progress) in self.progress.iter().enumerate() {
            if *progress == StepProgress::NotWanted {
                continue;
            }
            let step = &self.graph.steps[index];
            for &f in step
                .ins
                .iter()
                .chain(&step.outs)
                .chain(&self.discovered[index])
            {
                wanted_files[f.index()] = true;
            }
        }
        let ids: Vec<usize> = (0..wanted_files.len())
            .filter(|&i| wanted_files[i])
            .collect();
        let files: Vec<(FileId, &str)> = ids
            .iter()
            .map(|&i| (FileId(i as u32), self.graph.path(FileId(i as u32))))
            .collect();
        let results = self.ctx.state.hashes.observe_all(&files);
        for (id, result) in ids.into_iter().zip(results) {
            let observed = result.map_err(|err| {
                anyhow::anyhow!("reading {}: {err}", self.graph.path(FileId(id as u32)))
            })?;
            self.observed[id] = Some(observed);
        }
        Ok(())
    }

    /// Counts the steps that will probably run, for the `[%f/%t]` total:
    /// dirty now, or downstream of a dirty step. Early cutoff later takes
    /// steps off this count, as ninja's restat does.
    fn estimate_work(&mut self) {
        let mut changes = vec![false; self.graph.steps.len()];
        for i in 0..self.order.len() {
            let step = self.order[i];
            let upstream_changes = self.upstream_changes(step, &changes);
            let s = &self.graph.steps[step.index()];
            if s.is_phony() {
                changes[step.index()] = upstream_changes
                    || (s.ins.is_empty() && s.outs.iter().any(|&o| !self.exists(o)));
                continue;
            }
            let has_dyndep = s.dyndep.is_some();
            let dirty = upstream_changes || self.dirty_reason(step).is_some();
            // A dyndep file may add inputs the estimate cannot see: such a
            // step is checked when ready, once the file is loaded, and is
            // assumed to change what depends on it.
            changes[step.index()] = dirty || has_dyndep;
            self.known_clean[step.index()] = !dirty && !has_dyndep;
            self.counted[step.index()] = dirty;
            self.total += usize::from(dirty);
        }
    }

    /// Whether a producer of one of the step's dirtying inputs is marked in
    /// `changes` (by step index).
    fn upstream_changes(&self, step: StepId, changes: &[bool]) -> bool {
        let s = &self.graph.steps[step.index()];
        s.ins
            .iter()
            .take(s.explicit_ins + s.implicit_ins)
            .chain(&self.discovered[step.index()])
            .filter_map(|&f| self.graph.files[f.index()].producer)
            .any(|p| changes[p.index()])
    }

    /// Ninja refuses to start when an input is missing and nothing makes it.
    fn check_missing_inputs(&self) -> anyhow::Result<()> {
        for (index, progress) in self.progress.iter().enumerate() {
            if *progress == StepProgress::NotWanted {
                continue;
            }
            let step = &self.graph.steps[index];
            for &input in &step.ins {
                let file = &self.graph.files[input.index()];
                if file.producer.is_none()
                    && !matches!(self.observed[input.index()], Some(Observed::Present { .. }))
                {
                    let needed_by = step.outs.first().map(|&o| self.graph.path(o)).unwrap_or("");
                    anyhow::bail!(
                        "'{}', needed by '{}', missing and no known rule to make it",
                        self.graph.path(input),
                        needed_by
                    );
                }
            }
        }
        Ok(())
    }

    fn current_hash(&mut self, file: FileId) -> Hash {
        if let Some(hash) = self.virtual_hash.get(&file) {
            return *hash;
        }
        self.ensure_observed(file).hash()
    }

    fn exists(&self, file: FileId) -> bool {
        matches!(
            self.observed.get(file.index()),
            Some(Some(Observed::Present { .. }))
        )
    }

    /// Records are kept under the step's first output.
    fn record_key(&self, step: StepId) -> Option<FileId> {
        self.graph.steps[step.index()].outs.first().copied()
    }

    fn run(mut self) -> anyhow::Result<BuildOutcome> {
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

    fn run_steps(&mut self, pool: &mut ProcessPool, slots: &mut Slots) -> anyhow::Result<()> {
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
    fn check_everything_finished(&self) -> anyhow::Result<()> {
        let stuck = self
            .progress
            .iter()
            .position(|p| !matches!(p, StepProgress::NotWanted | StepProgress::Done));
        if let Some(index) = stuck {
            let step = &self.graph.steps[index];
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
    fn check_ready_steps(&mut self) -> anyhow::Result<()> {
        while let Some(step) = self.ready.pop_front() {
            if self.graph.steps[step.index()].is_phony() {
                self.finish_phony(step);
                continue;
            }
            if self.graph.steps[step.index()].dyndep.is_some() && self.apply_dyndep(step)? {
                // New inputs from the dyndep file must be built first.
                continue;
            }
            // The estimate's verdict stands unless something upstream ran
            // after all (a safety net: the estimate assumes otherwise).
            if self.known_clean[step.index()] && !self.any_producer_ran(step) {
                self.finish_clean(step);
                continue;
            }
            match self.check(step) {
                None => self.finish_clean(step),
                Some(reason) => {
                    if self.opts.explain {
                        self.ctx.status.explain(&reason.to_string());
                    }
                    if !self.counted[step.index()] {
                        self.counted[step.index()] = true;
                        self.total += 1;
                        self.ctx.status.set_total(self.total);
                    }
                    self.progress[step.index()] = StepProgress::Queued;
                    self.runnable.push(Reverse(step));
                }
            }
        }
        Ok(())
    }

    fn any_producer_ran(&self, step: StepId) -> bool {
        let s = &self.graph.steps[step.index()];
        s.dirtying_ins()
            .iter()
            .chain(&self.discovered[step.index()])
            .any(|&f| self.upstream_ran(f))
    }

    /// An interrupted step may have left partial outputs; ninja deletes
    /// outputs the step had touched so the next build redoes them.
    fn remove_interrupted_outputs(&mut self, step: StepId) {
        let outs = self.graph.steps[step.index()].outs.clone();
        for out in outs {
            let path = self.graph.path(out);
            let was = self.observed.get(out.index()).copied().flatten();
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

    fn start_runnable(&mut self, pool: &mut ProcessPool, slots: &mut Slots) {
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
            let pool_name = &self.graph.steps[step.index()].pool;
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

    fn start_step(&mut self, pool: &mut ProcessPool, step: StepId, slots: &mut Slots) {
        let s = &self.graph.steps[step.index()];
        let description = if s.description.is_empty() {
            s.command.clone()
        } else {
            s.description.clone()
        };
        let command = s.command.clone();
        let console = s.uses_console();
        let pool_name = s.pool.clone();
        self.progress[step.index()] = StepProgress::Running;
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

    /// Steps of this build that compile the same source as another with
    /// arguments differing only in preprocessor flags. Found once, among
    /// the steps expected to run, so a build with nothing like that pays
    /// only for classifying its dirty steps.
    fn find_compile_groups(
        &self,
        cache: &crate::cache::Cache,
        cwd: &Path,
    ) -> std::collections::HashSet<StepId> {
        let mut by_group: HashMap<crate::cache::store::Digest, Vec<StepId>> = HashMap::new();
        for &step in &self.order {
            if !self.counted[step.index()] {
                continue;
            }
            let s = &self.graph.steps[step.index()];
            if s.is_phony() || s.generator {
                continue;
            }
            if let Some(group) = cache.compile_group(&s.command, cwd) {
                by_group.entry(group).or_default().push(step);
            }
        }
        by_group
            .into_values()
            .filter(|members| members.len() > 1)
            .flatten()
            .collect()
    }

    /// A job that restores the step from the cache, or runs it and stores
    /// its outputs; `None` for steps the cache does not handle.
    fn cache_job(
        &self,
        step: StepId,
        command: &str,
        console: bool,
    ) -> Option<crate::run::process::Job> {
        let s = &self.graph.steps[step.index()];
        if console || s.generator || self.opts.dry_run {
            return None;
        }
        let cache = Arc::clone(self.ctx.cache.get()?);
        let cwd = crate::cache::working_dir().ok()?;
        let declared: Vec<PathBuf> = s
            .outs
            .iter()
            .map(|&out| cwd.join(self.graph.path(out)))
            .collect();
        let invocation = cache.prepare(command, &cwd, &declared)?;
        let siblings = if self
            .compile_groups
            .get_or_init(|| self.find_compile_groups(&cache, &cwd))
            .contains(&step)
        {
            Siblings::InGraph
        } else {
            Siblings::None
        };
        let command = command.to_string();
        Some(Box::new(move |runner: &mut ShellRunner| {
            let executed = cache.execute(&invocation, &command, siblings, |cmdline| {
                let ran = runner.run(cmdline);
                Ran {
                    success: ran.status.success(),
                    status: ran.status,
                    stdout: ran.stdout,
                    stderr: ran.stderr,
                }
            });
            match executed {
                Executed::Restored { mut stdout, stderr } => {
                    stdout.extend_from_slice(&stderr);
                    JobResult {
                        status: ExitStatus::Exited(0),
                        output: stdout,
                        restored: true,
                        note: None,
                    }
                }
                Executed::Ran { mut ran, note } => {
                    ran.stdout.extend_from_slice(&ran.stderr);
                    JobResult {
                        status: ran.status,
                        output: ran.stdout,
                        restored: false,
                        note,
                    }
                }
            }
        }))
    }

    /// Creates output directories and writes the rspfile.
    fn prepare_step(&mut self, step: StepId) -> anyhow::Result<()> {
        let s = &self.graph.steps[step.index()];
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

    fn step_finished(&mut self, finished: Finished) -> anyhow::Result<()> {
        let step = StepId(finished.token as u32);
        let s = &self.graph.steps[step.index()];
        let pool_name = s.pool.clone();
        if let Some(used) = self.pool_use.get_mut(&pool_name) {
            *used = used.saturating_sub(1);
        }
        if finished.status.is_interruption() {
            // A step dying of SIGINT or SIGTERM means the user interrupted
            // the build (the terminal signals the whole group): ninja then
            // prints no FAILED block, only that the build stopped.
            self.outcome.interrupted = true;
            self.progress[step.index()] = StepProgress::Done;
            self.remove_interrupted_outputs(step);
            return Ok(());
        }
        let description = if s.description.is_empty() {
            s.command.clone()
        } else {
            s.description.clone()
        };
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
        if let Some(rspfile) = &self.graph.steps[step.index()].rspfile
            && success
            && !self.opts.keep_rsp
        {
            let _ = fs::remove_file(rspfile);
        }
        let console = self.graph.steps[step.index()].uses_console();
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
            self.progress[step.index()] = StepProgress::Done;
            return Ok(());
        }
        self.ran[step.index()] = true;
        self.outcome.restored += usize::from(finished.restored);
        self.outcome
            .rebuilt
            .extend_from_slice(&self.graph.steps[step.index()].outs);
        self.record_success(step, deps_paths, finished.duration, finished.restored)?;
        self.forget_rebuilt_dyndeps(step);
        self.complete(step);
        Ok(())
    }

    /// Reads the depfile or /showIncludes lines of a finished step. Returns
    /// canonical paths; an unparsable depfile fails the step like ninja.
    fn read_discovered_deps(
        &mut self,
        step: StepId,
        output: &mut Vec<u8>,
    ) -> Result<Vec<String>, String> {
        let s = &self.graph.steps[step.index()];
        match s.deps {
            DepsKind::Msvc => {
                let prefix = s
                    .msvc_deps_prefix
                    .as_deref()
                    .unwrap_or(showincludes::DEFAULT_PREFIX);
                let text = String::from_utf8_lossy(output).into_owned();
                let filtered = showincludes::filter(&text, prefix);
                *output = filtered.output.into_bytes();
                Ok(filtered
                    .includes
                    .iter()
                    .map(|p| crate::ninja::canon::canonicalize_path(p))
                    .collect())
            }
            DepsKind::Gcc | DepsKind::None => {
                let Some(depfile) = s.depfile.clone() else {
                    return Ok(Vec::new());
                };
                let content = match fs::read(&depfile) {
                    Ok(content) => content,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(err) => return Err(format!("loading '{depfile}': {err}")),
                };
                let text = String::from_utf8_lossy(&content);
                let deps = depfile::parse(&text)
                    .map_err(|err| format!("{depfile}: {err}"))?
                    .inputs;
                if s.deps == DepsKind::Gcc && !self.opts.keep_depfile {
                    let _ = fs::remove_file(&depfile);
                }
                Ok(deps
                    .iter()
                    .map(|p| crate::ninja::canon::canonicalize_path(p))
                    .collect())
            }
        }
    }

    fn record_success(
        &mut self,
        step: StepId,
        deps_paths: Vec<String>,
        duration: std::time::Duration,
        restored: bool,
    ) -> anyhow::Result<()> {
        let out_ids = self.graph.steps[step.index()].outs.clone();
        let mut outputs = Vec::with_capacity(out_ids.len());
        let mut max_mtime = 0i64;
        for &out in &out_ids {
            let observed = self.observe_now(out);
            max_mtime = max_mtime.max(observed.mtime_ns().unwrap_or(0));
            self.set_observed(out, observed);
            outputs.push(Recorded {
                file: out,
                hash: observed.hash(),
            });
        }
        let manifest_inputs: Vec<FileId> = self.graph.steps[step.index()].dirtying_ins().to_vec();
        let mut discovered: Vec<FileId> = Vec::new();
        for path in &deps_paths {
            let id = self.graph.file_id(path);
            if !manifest_inputs.contains(&id) && !discovered.contains(&id) {
                discovered.push(id);
            }
        }
        let started = self.started_at.remove(&step);
        let started_ns = started.map_or(i64::MAX, |(_, wall)| wall);
        let rewrites_own_inputs = {
            let s = &self.graph.steps[step.index()];
            s.generator || s.restat
        };
        let mut inputs = Vec::with_capacity(manifest_inputs.len() + discovered.len());
        let mut newest_input_mtime = 0i64;
        for &file in manifest_inputs.iter().chain(&discovered) {
            let before = self.observed.get(file.index()).copied().flatten();
            let mut hash = self.current_hash(file);
            let changed_during_step = match before {
                // Seen before the step ran: the step read that content
                // only if the file still has the same identity now.
                // A step restored from the cache read nothing: its outputs
                // match the content the cache checked after the step began,
                // so an input changed since it was seen here makes the
                // record older than the outputs, and the next build reruns
                // the step. No need to stat every header again.
                Some(Observed::Present { .. }) if restored => false,
                Some(Observed::Present { stat, .. }) if !self.is_virtual(file) => {
                    let now = crate::hash::stat(self.graph.path(file)).ok().flatten();
                    if let Some(now) = now {
                        newest_input_mtime = newest_input_mtime.max(now.mtime_ns);
                    }
                    now != Some(stat)
                }
                // First seen in this step's depfile, hashed after the step
                // ran: changed while it ran if its times say so.
                None => match self.observed.get(file.index()).copied().flatten() {
                    Some(Observed::Present { stat, .. }) => {
                        newest_input_mtime = newest_input_mtime.max(stat.mtime_ns);
                        stat.mtime_ns.max(stat.ctime_ns) >= started_ns
                    }
                    _ => false,
                },
                _ => false,
            };
            if changed_during_step && rewrites_own_inputs {
                // Like ninja, which logs such steps with their outputs'
                // time, not their start: a generator that rewrites one of
                // its inputs is up to date with what it left behind.
                hash = self.observe_now(file).hash();
            } else if changed_during_step {
                // The step may have read other content than the one
                // recorded: make sure it runs again next time.
                hash = changed_during_step_hash();
            }
            inputs.push(Recorded { file, hash });
        }
        let s = &self.graph.steps[step.index()];
        let command = s.command_for_hash();
        let first_out_mtime = out_ids
            .first()
            .and_then(|&o| self.observed[o.index()])
            .and_then(|o| o.mtime_ns())
            .unwrap_or(0);
        let record = StepRecord {
            command_hash: step_command_hash(&self.graph.steps[step.index()]),
            inputs,
            discovered: discovered.len(),
            outputs,
            output_mtime_ns: first_out_mtime,
            inputs_mtime_ns: newest_input_mtime,
        };
        let start_ms = started
            .map(|(t, _)| t.duration_since(self.build_start).as_millis() as u32)
            .unwrap_or(0);
        let end_ms = start_ms + duration.as_millis() as u32;
        let hash = ninja_log::hash_command(&command);
        for &out in &out_ids {
            self.ctx.ninja.get().record_log(
                self.graph.path(out),
                LogEntry {
                    start_ms,
                    end_ms,
                    mtime_ns: max_mtime,
                    command_hash: hash,
                },
            )?;
        }
        if s.deps != DepsKind::None
            && let Some(&first) = out_ids.first()
        {
            let inputs: Vec<&str> = deps_paths.iter().map(String::as_str).collect();
            self.ctx
                .ninja
                .get()
                .record_deps(self.graph.path(first), first_out_mtime, &inputs)?;
        }
        self.ctx.ninja.get().flush_log()?;
        if let Some(&first) = out_ids.first() {
            self.ctx.state.insert(first, record);
        }
        self.discovered[step.index()] = discovered;
        Ok(())
    }

    /// The file as this build has seen it, observing it on first use.
    pub(super) fn ensure_observed(&mut self, file: FileId) -> Observed {
        if self.observed.len() <= file.index() {
            self.observed.resize(self.graph.files.len(), None);
        }
        match self.observed[file.index()] {
            Some(observed) => observed,
            None => self.observe_now(file),
        }
    }

    /// Stats (and, when new, hashes) the file as it is now; an unreadable
    /// file counts as missing.
    pub(super) fn observe_now(&mut self, file: FileId) -> Observed {
        let observed = self
            .ctx
            .state
            .hashes
            .observe_one(file, self.graph.path(file))
            .unwrap_or(Observed::Missing);
        self.set_observed(file, observed);
        observed
    }

    /// Phony outputs that are not files, and outputs of steps a dry run
    /// pretends to have run, have a hash but no content on disk.
    fn is_virtual(&self, file: FileId) -> bool {
        self.virtual_hash.contains_key(&file)
    }

    fn set_observed(&mut self, file: FileId, observed: Observed) {
        if self.observed.len() <= file.index() {
            self.observed.resize(self.graph.files.len(), None);
        }
        self.observed[file.index()] = Some(observed);
    }

    /// A clean step: its outputs are what its record says.
    fn finish_clean(&mut self, step: StepId) {
        if self.counted[step.index()] {
            self.counted[step.index()] = false;
            self.total -= 1;
            self.ctx.status.set_total(self.total);
        }
        self.keep_ninja_in_sync(step);
        self.complete(step);
    }

    /// With `-n`, a step that would run counts as having changed its
    /// outputs, so everything after it is shown too, as ninja does.
    fn finish_dry_run(&mut self, step: StepId) {
        let outs = self.graph.steps[step.index()].outs.clone();
        for out in outs {
            let mut hasher = blake3::Hasher::new();
            hasher.update(b"dry-run\0");
            hasher.update(self.graph.path(out).as_bytes());
            self.virtual_hash.insert(out, *hasher.finalize().as_bytes());
        }
        // Its dependents must not be adopted from ninja's log either.
        self.ran[step.index()] = true;
        self.complete(step);
    }

    /// Phony steps never run; their outputs, when not real files, stand for
    /// the content of their inputs. A phony with no inputs and no file is
    /// always out of date, as in ninja.
    fn finish_phony(&mut self, step: StepId) {
        let s = &self.graph.steps[step.index()];
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

    /// Marks a step done and readies the steps that were waiting on it.
    fn complete(&mut self, step: StepId) {
        self.progress[step.index()] = StepProgress::Done;
        let dependents = std::mem::take(&mut self.dependents[step.index()]);
        for dependent in dependents {
            let pending = &mut self.pending[dependent.index()];
            *pending -= 1;
            if *pending == 0 && self.progress[dependent.index()] == StepProgress::Waiting {
                self.ready.push_back(dependent);
            }
        }
    }
}

/// Stands for an input that changed while the step reading it ran: equal
/// to no content, so the step runs again next time.
fn changed_during_step_hash() -> Hash {
    *blake3::hash(b"zccache: input changed while the step ran").as_bytes()
}

/// Creates the directory holding `path` when it is missing. Checked for
/// every step (a step may remove a directory another one writes into), with
/// one stat when it exists, as ninja does.
fn create_parent_dir(path: &str) -> anyhow::Result<()> {
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        fs::create_dir_all(parent)
            .map_err(|err| anyhow::anyhow!("creating directory {}: {err}", parent.display()))?;
    }
    Ok(())
}

/// Who may start a step now: the implicit slot every build has, plus
/// jobserver tokens when a jobserver is in use (ours, shared with make or
/// cargo children, or a parent make's).
struct Slots {
    pump: Option<TokenPump>,
    implicit_free: bool,
    /// Tokens acquired and not yet given to a step.
    spare: Vec<jobserver::Acquired>,
    /// Which step holds the implicit slot or which token.
    implicit_holder: Option<usize>,
    held: HashMap<usize, jobserver::Acquired>,
}

impl Slots {
    fn new(jobs: &JobLimit, pool: &ProcessPool) -> Slots {
        // Our own steps draw tokens only from a parent's jobserver. When we
        // serve the jobserver, `-j` already bounds our steps and the tokens
        // are left to make or cargo children: taking them through the
        // helper thread costs a round trip per step, doubling the
        // scheduling overhead of large builds.
        let pump = match jobs {
            JobLimit::JobserverClient(_) => jobs.token_pump(pool.event_sender()).ok().flatten(),
            _ => None,
        };
        Slots {
            pump,
            implicit_free: true,
            spare: Vec::new(),
            implicit_holder: None,
            held: HashMap::new(),
        }
    }

    fn available(&self) -> bool {
        self.pump.is_none() || self.implicit_free || !self.spare.is_empty()
    }

    /// Asks for enough tokens to start `steps` more steps.
    fn want(&mut self, steps: usize) {
        if let Some(pump) = &mut self.pump {
            while pump.pending() < steps {
                pump.request();
            }
        }
    }

    fn take(&mut self, token: usize) {
        if self.pump.is_none() {
            return;
        }
        if self.implicit_free {
            self.implicit_free = false;
            self.implicit_holder = Some(token);
        } else if let Some(acquired) = self.spare.pop() {
            self.held.insert(token, acquired);
        }
    }

    fn release(&mut self, token: usize) {
        if self.implicit_holder == Some(token) {
            self.implicit_holder = None;
            self.implicit_free = true;
        }
        // Dropping the token gives it back to the jobserver.
        self.held.remove(&token);
    }

    fn token_arrived(&mut self, token: std::io::Result<jobserver::Acquired>) {
        if let Some(pump) = &mut self.pump {
            pump.received();
        }
        if let Ok(acquired) = token {
            self.spare.push(acquired);
        }
    }
}
