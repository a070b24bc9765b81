//! The build loop: decide which wanted steps are dirty, by content, and run
//! them in dependency order within the job and pool limits.
//!
//! A step is checked only once every step producing one of its inputs has
//! finished, against the content those inputs have *now*. So a step whose
//! outputs come out byte-identical leaves its dependents clean (early
//! cutoff), for every rule, without relying on mtimes.

mod cache_job;
mod dirty;
mod dyndep;
mod finish;
mod forecast;
mod ninja_sync;
mod observe;
mod plan;
mod record;
mod runner;
mod schedule;
mod slots;

pub use dirty::DirtyReason;
pub use forecast::{Forecast, forecast};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::graph::{DenseMap, FileId, Graph, StepId};
use crate::hash::{Digest, Observed};
use crate::run::jobs::JobLimit;
use crate::run::status::StatusPrinter;
use crate::state::BuildState;
use crate::state::ninja_files::LazyNinjaFiles;

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

/// What a build knows of one step besides the graph's description of it.
#[derive(Debug, Clone)]
struct StepState {
    progress: StepProgress,
    /// Dependencies the step's last run reported, as graph files.
    discovered: Vec<FileId>,
    /// Unfinished producer steps the step, waiting, still needs.
    pending: u32,
    /// Steps waiting on this one (deduplicated per pair).
    dependents: Vec<StepId>,
    /// Counted in the status total: it looked dirty before the build
    /// started, assuming every dirty step changes its outputs.
    counted: bool,
    /// Ran in this build (with `-n`, would run).
    ran: bool,
    /// The up-front estimate found it clean with nothing upstream to run:
    /// its check when ready would give the same answer.
    known_clean: bool,
}

struct Builder<'g, 'c, 'a> {
    graph: &'g mut Graph,
    ctx: &'c mut BuildContext<'a>,
    opts: &'c BuildOptions,
    /// What this build knows of each step.
    steps: DenseMap<StepId, StepState>,
    /// The content of every file as of now (after the steps that ran).
    observed: DenseMap<FileId, Option<Observed>>,
    /// Hashes standing in for files that are not files: phony outputs and,
    /// with `-n`, outputs of steps that would run.
    virtual_hash: HashMap<FileId, Digest>,
    ready: VecDeque<StepId>,
    /// Dirty steps ready to start, lowest manifest position first, as
    /// ninja 1.11 starts them.
    runnable: BinaryHeap<Reverse<StepId>>,
    pool_use: HashMap<String, usize>,
    /// Wanted steps in dependency order.
    order: Vec<StepId>,
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

pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl<'g, 'c, 'a> Builder<'g, 'c, 'a> {
    fn new(graph: &'g mut Graph, ctx: &'c mut BuildContext<'a>, opts: &'c BuildOptions) -> Self {
        let mut steps = DenseMap::with_len(
            graph.steps.len(),
            StepState {
                progress: StepProgress::NotWanted,
                discovered: Vec::new(),
                pending: 0,
                dependents: Vec::new(),
                counted: false,
                ran: false,
                known_clean: false,
            },
        );
        // Dependencies reported by each step's last run.
        for (index, step) in graph.steps.iter().enumerate() {
            steps[StepId(index as u32)].discovered = step
                .outs
                .first()
                .filter(|_| !step.is_phony())
                .and_then(|first| ctx.state.steps.get(first))
                .map(|record| record.discovered_inputs().iter().map(|r| r.file).collect())
                .unwrap_or_default();
        }
        Builder {
            steps,
            observed: DenseMap::with_len(graph.files.len(), None),
            graph,
            ctx,
            opts,
            virtual_hash: HashMap::new(),
            ready: VecDeque::new(),
            runnable: BinaryHeap::new(),
            pool_use: HashMap::new(),
            order: Vec::new(),
            dyndeps_loaded: Vec::new(),
            total: 0,
            outcome: BuildOutcome::default(),
            started_at: HashMap::new(),
            build_start: Instant::now(),
            compile_groups: std::cell::OnceCell::new(),
        }
    }
}
