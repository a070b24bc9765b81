//! One invocation of `zccache build` (or of zccache as `ninja`): load the
//! manifest, bring it up to date, build the targets, save the state. A
//! [`Session`] keeps the opened build dir so `zccache watch` can build
//! round after round. (Named for the session, not "driver", which in this
//! crate means the gcc driver: `cache::command::driver`.)

use std::path::PathBuf;

use anyhow::Context;

pub use crate::build_args::{BuildArgs, Flavor};
use crate::build_args::{DebugFlags, parse_debug};
use crate::build_dir::{Memory, load_graph, lock_build_dir, state_dir};
use crate::graph::{FileId, Graph};
use crate::ninja;
use crate::run::builder::{self, BuildOptions, BuildOutcome};
use crate::run::status::{StatusOptions, StatusPrinter};

/// Runs one invocation; returns the process exit code.
pub fn main(flavor: Flavor, args: BuildArgs) -> i32 {
    let program = flavor.program();
    let debug = match parse_debug(&args.debug, program) {
        Ok(Some(flags)) => flags,
        Ok(None) => return 0,
        Err(message) => {
            eprintln!("{message}");
            return 1;
        }
    };
    for flag in args
        .warnings
        .iter()
        .filter(|f| f.starts_with("depfilemulti="))
    {
        if matches!(flag.as_str(), "depfilemulti=err" | "depfilemulti=warn") {
            eprintln!("{program}: warning: deprecated warning 'depfilemulti'");
        }
    }
    let parsed = ninja::warning_flags::parse(&args.warnings);
    match &parsed {
        ninja::warning_flags::Parsed::Flags(flags) => ninja::warning_flags::set(*flags),
        ninja::warning_flags::Parsed::List => {
            print!("{}", ninja::warning_flags::LIST);
            return 1;
        }
        ninja::warning_flags::Parsed::Unknown { .. } => {
            let message = parsed.unknown_message().unwrap_or_default();
            eprintln!("{program}: error: {message}");
            return 1;
        }
    }
    // Like ninja, reject an unknown tool before doing anything else.
    if let Some(tool) = &args.tool
        && !crate::tools::is_known(tool)
    {
        eprintln!("{program}: fatal: unknown tool '{tool}'");
        return 1;
    }
    if let Some(dir) = &args.dir {
        // Ninja announces the directory change so editors can map paths in
        // compiler messages back to files; not for tools, whose output may
        // be piped into a file.
        if args.tool.is_none() {
            println!("{program}: Entering directory `{}'", dir.display());
        }
        if let Err(err) = std::env::set_current_dir(dir) {
            eprintln!("{program}: fatal: chdir to '{}' - {err}", dir.display());
            return 1;
        }
    }
    // A Make project (a makefile, no build.ninja): make builds, with
    // zccache in front of the compilers.
    if flavor == Flavor::Zccache && args.tool.is_none() && crate::make::applies(&args) {
        return crate::make::build(&args).unwrap_or_else(|err| {
            eprintln!("{program}: error: {err:#}");
            1
        });
    }
    let mut options = StatusOptions::new(program, args.verbose, args.quiet);
    if let Some(jobs) = args.jobs.filter(|&j| j > 0) {
        options.parallelism = jobs;
    }
    let mut status = match StatusPrinter::new(options) {
        Ok(status) => status,
        Err(err) => {
            eprintln!("{program}: fatal: {err}");
            return 1;
        }
    };
    if let Some(tool) = &args.tool {
        return crate::tools::run(tool, &args, flavor, &mut status);
    }
    match build_main(flavor, &args, debug, &mut status) {
        Ok(code) => code,
        Err(err) => {
            status.error(&format!("{err:#}"));
            1
        }
    }
}

/// A build dir opened for building: the graph, the memory of past builds
/// and the lock, kept together so `zccache watch` can build round after
/// round without loading anything again.
pub struct Session {
    pub graph: Graph,
    pub memory: Memory,
    pub opts: BuildOptions,
    /// Held for the session's whole life (see [`lock_build_dir`]).
    _lock: std::fs::File,
    cache: crate::cache::CacheSlot,
    jobs_limit: crate::run::jobs::JobLimit,
    manifest_file: PathBuf,
    manifest_path: String,
    /// How long the first load took, for `-d stats`.
    pub parse_time: std::time::Duration,
    pub state_time: std::time::Duration,
    /// How many times the graph was loaded again: file ids from before a
    /// reload mean nothing after it.
    pub generation: u64,
}

/// What bringing the manifest up to date came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestUpdate {
    /// The manifest is current; `reloaded` says whether it was rebuilt and
    /// the graph loaded again (file ids changed).
    Current { reloaded: bool },
    /// Rebuilding it failed or was interrupted: the build's exit code.
    Stopped(i32),
}

impl Session {
    /// Loads the manifest and the build dir's state and locks the dir.
    /// Must run before any thread starts (it exports the jobserver to the
    /// environment).
    pub fn open(
        args: &BuildArgs,
        debug: DebugFlags,
        status: &mut StatusPrinter,
    ) -> anyhow::Result<Session> {
        let jobs = match args.jobs {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => crate::run::jobs::default_parallelism(),
        };
        let jobs_limit = crate::run::jobs::JobLimit::from_env_and_flags(args.jobs);
        // SAFETY: nothing has started a thread yet: the rayon pool, the
        // Ctrl-C handler and the step threads all start later.
        unsafe { jobs_limit.export_to_environment() };
        // As a jobserver client the parent make decides how many steps run.
        let jobs = match &jobs_limit {
            crate::run::jobs::JobLimit::JobserverClient(_) => usize::MAX,
            _ => jobs,
        };
        let opts = BuildOptions {
            parallelism: jobs,
            failures_allowed: if args.keep_going == 0 {
                usize::MAX
            } else {
                args.keep_going
            },
            max_load: args.load.filter(|l| *l > 0.0),
            dry_run: args.dry_run,
            explain: debug.explain,
            keep_depfile: debug.keep_depfile,
            keep_rsp: debug.keep_rsp,
        };
        let load_start = std::time::Instant::now();
        let mut graph = load_graph(&args.file)?;
        let parse_time = load_start.elapsed();
        for warning in &graph.warnings {
            status.warning(warning);
        }
        let lock = lock_build_dir(&state_dir(&graph), status)?;
        let memory = Memory::open(&state_dir(&graph), &mut graph, status)?;
        let state_time = load_start.elapsed() - parse_time;
        Ok(Session {
            graph,
            memory,
            opts,
            _lock: lock,
            cache: crate::cache::CacheSlot::default(),
            jobs_limit,
            manifest_path: ninja::canon::canonicalize_path(&args.file.to_string_lossy()),
            manifest_file: args.file.clone(),
            parse_time,
            state_time,
            generation: 0,
        })
    }

    /// Like ninja: if the manifest is itself built by a step (CMake's
    /// re-run), brings it up to date and reloads it when it changed.
    pub fn update_manifest(
        &mut self,
        status: &mut StatusPrinter,
    ) -> anyhow::Result<ManifestUpdate> {
        const MAX_MANIFEST_REBUILDS: usize = 100;
        let mut reloaded = false;
        for round in 0.. {
            if round == MAX_MANIFEST_REBUILDS {
                anyhow::bail!(
                    "manifest '{}' still dirty after {MAX_MANIFEST_REBUILDS} tries",
                    self.manifest_file.display()
                );
            }
            let Some(target) = self.graph.lookup(&self.manifest_path) else {
                break;
            };
            if self.graph.producer(target).is_none() {
                break;
            }
            let mut ctx = self
                .memory
                .build_context(status, &self.jobs_limit, &self.cache);
            let outcome = match builder::build(&mut self.graph, &[target], &mut ctx, &self.opts) {
                Ok(outcome) => outcome,
                Err(err) => {
                    // Keep what finished before the error.
                    self.memory.save(&self.graph)?;
                    return Err(err);
                }
            };
            if !outcome.succeeded() {
                self.memory.save(&self.graph)?;
                // ninja (1.11 to 1.13) exits 1 here, interrupted or not.
                let why = if outcome.interrupted {
                    "interrupted by user"
                } else {
                    "subcommand failed"
                };
                status.error(&format!(
                    "rebuilding '{}': {why}",
                    self.manifest_file.display()
                ));
                return Ok(ManifestUpdate::Stopped(1));
            }
            // Steps upstream of the manifest may run every time (CMake's
            // glob check); only a rebuilt manifest is reloaded.
            if !outcome.rebuilt.contains(&target) {
                break;
            }
            self.reload(status)?;
            reloaded = true;
        }
        Ok(ManifestUpdate::Current { reloaded })
    }

    /// Saves the state, then loads the manifest and the state again.
    pub fn reload(&mut self, status: &mut StatusPrinter) -> anyhow::Result<()> {
        self.memory.save(&self.graph)?;
        self.graph = load_graph(&self.manifest_file)?;
        self.memory = Memory::open(&state_dir(&self.graph), &mut self.graph, status)?;
        self.generation += 1;
        Ok(())
    }

    /// The targets named on the command line, or the defaults.
    pub fn resolve_targets(&self, names: &[String]) -> anyhow::Result<Vec<FileId>> {
        if names.is_empty() {
            return Ok(self.graph.default_targets());
        }
        names
            .iter()
            .map(|name| {
                self.graph
                    .resolve_target(name)
                    .map_err(|e| anyhow::anyhow!(e))
            })
            .collect()
    }

    /// Builds `targets`, then saves the state (unless a dry run). The
    /// outcome is an error only for internal errors; failed steps are in
    /// it. Returns the time spent saving too, for `-d stats`.
    pub fn build_targets(
        &mut self,
        targets: &[FileId],
        status: &mut StatusPrinter,
    ) -> anyhow::Result<(BuildOutcome, std::time::Duration)> {
        let ninja_in_sync = self.memory.ninja_files_in_sync();
        let mut ctx = self
            .memory
            .build_context(status, &self.jobs_limit, &self.cache);
        let result = builder::build(&mut self.graph, targets, &mut ctx, &self.opts);
        status.finish();
        self.cache.finish();
        let save_start = std::time::Instant::now();
        if !self.opts.dry_run {
            if !ninja_in_sync {
                self.memory
                    .ninja
                    .get()
                    .repair()
                    .context("rewriting ninja's log files")?;
            }
            self.memory.save(&self.graph)?;
        }
        for warning in self.memory.ninja.take_warnings() {
            status.warning(&warning);
        }
        Ok((result?, save_start.elapsed()))
    }
}

fn build_main(
    flavor: Flavor,
    args: &BuildArgs,
    debug: DebugFlags,
    status: &mut StatusPrinter,
) -> anyhow::Result<i32> {
    let program = flavor.program();
    let load_start = std::time::Instant::now();
    let mut session = Session::open(args, debug, status)?;
    if !args.dry_run
        && let ManifestUpdate::Stopped(code) = session.update_manifest(status)?
    {
        return Ok(code);
    }
    let load_time = load_start.elapsed();
    let targets = session.resolve_targets(&args.targets)?;

    let build_start = std::time::Instant::now();
    let (outcome, save_time) = session.build_targets(&targets, status)?;
    if debug.stats {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        println!(
            "{program}: {} steps, {} files",
            session.graph.steps.len(),
            session.graph.files.len()
        );
        println!("{program}: load manifest {:8.1} ms", ms(session.parse_time));
        println!("{program}: load state    {:8.1} ms", ms(session.state_time));
        println!("{program}: up to date    {:8.1} ms", ms(load_time));
        for (name, time) in &outcome.timings {
            println!("{program}: {name:<13} {:8.1} ms", ms(*time));
        }
        println!("{program}: save state    {:8.1} ms", ms(save_time));
        println!(
            "{program}: total         {:8.1} ms",
            ms(build_start.elapsed() + load_time)
        );
    }
    let failures_allowed = session.opts.failures_allowed;
    // Freeing a large graph and state takes longer than the process exit
    // that follows; let the OS reclaim them.
    let Session {
        graph,
        memory,
        _lock,
        ..
    } = session;
    std::mem::forget(graph);
    std::mem::forget(memory);
    Ok(exit_code_of(&outcome, failures_allowed, status))
}

/// Prints how the build ended, as ninja does, and gives its exit code.
pub fn exit_code_of(
    outcome: &BuildOutcome,
    failures_allowed: usize,
    status: &mut StatusPrinter,
) -> i32 {
    if outcome.interrupted {
        status.info("build stopped: interrupted by user.");
        return crate::run::process::EXIT_INTERRUPTED;
    }
    if outcome.failed > 0 {
        let reason = if outcome.failed < failures_allowed {
            "cannot make progress due to previous errors"
        } else if outcome.failed > 1 {
            "subcommands failed"
        } else {
            "subcommand failed"
        };
        status.info(&format!("build stopped: {reason}."));
        // ninja 1.13 exits with the code of the step that failed last.
        return outcome.failure_code;
    }
    if outcome.ran == 0 {
        status.info("no work to do.");
    }
    0
}
