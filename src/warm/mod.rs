//! `zccache warm`: what the next build will do, computed before it runs.
//!
//! Every input is hashed (in parallel) and the cache key of every
//! cacheable step computed, without running any tool: compiles from their
//! source and the header sets the cache recorded for them, archives and
//! links from their inputs, taking the content of objects not built yet
//! from the cache entries of the steps that make them (see [`plan`]). The
//! hashes stay in the build dir's state, so the build that follows does not
//! hash again. Nothing is built and no step's output is written.
//!
//! Computing keys ([`crate::cache::Cache::probe`]) is kept apart from
//! looking them up in a store, so a remote cache can later fetch what the
//! local store lacks at that one place.

pub mod plan;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;

use crate::build_dir;
use crate::cache::Cache;
use crate::cache::probe::Probe;
use crate::graph::FileId;
use crate::run::status::{StatusOptions, StatusPrinter};
use crate::state::BuildState;
use report::{Outcome, Report, StepForecast};

pub const COMPDB_NAME: &str = "compile_commands.json";

/// The `warm` command line, as parsed by clap in main.rs.
#[derive(Debug, Clone)]
pub struct WarmArgs {
    pub dir: Option<PathBuf>,
    pub file: PathBuf,
    pub json: bool,
    pub targets: Vec<String>,
}

/// Runs `zccache warm`; returns the process exit code (0 unless the build
/// description cannot be read).
pub fn main(args: &WarmArgs) -> i32 {
    if let Some(dir) = &args.dir
        && let Err(err) = std::env::set_current_dir(dir)
    {
        eprintln!("zccache: fatal: chdir to '{}' - {err}", dir.display());
        return 1;
    }
    match forecast(args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(err) => {
                        eprintln!("zccache: error: {err}");
                        return 1;
                    }
                }
            } else {
                print!("{}", report.text());
            }
            0
        }
        Err(err) => {
            eprintln!("zccache: error: {err:#}");
            1
        }
    }
}

/// The forecast for the current directory: from the manifest, else from
/// compile_commands.json.
pub fn forecast(args: &WarmArgs) -> anyhow::Result<Report> {
    if args.file.exists() {
        return forecast_manifest(args);
    }
    if !Path::new(COMPDB_NAME).exists() {
        anyhow::bail!(
            "neither '{}' nor {COMPDB_NAME} found here",
            args.file.display()
        );
    }
    if !args.targets.is_empty() {
        anyhow::bail!("targets need a build.ninja; {COMPDB_NAME} has none");
    }
    let cwd = crate::cache::working_dir().context("finding the current directory")?;
    forecast_compdb(&cwd.join(COMPDB_NAME), &cwd)
}

fn forecast_manifest(args: &WarmArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut graph = build_dir::load_graph(&args.file)?;
    let mut status = StatusPrinter::new(StatusOptions::new("zccache", false, true))
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    for warning in &graph.warnings {
        status.warning(warning);
    }
    let state_dir = build_dir::state_dir(&graph);
    let _lock = build_dir::lock_build_dir(&state_dir, &mut status)?;
    let mut memory = build_dir::Memory::open(&state_dir, &mut graph, &mut status)?;
    let targets: Vec<FileId> = if args.targets.is_empty() {
        graph.default_targets()
    } else {
        args.targets
            .iter()
            .map(|name| graph.resolve_target(name).map_err(|e| anyhow::anyhow!(e)))
            .collect::<anyhow::Result<_>>()?
    };
    // Warm never runs a step, so it needs neither jobs nor the cache here.
    let jobs = crate::run::jobs::JobLimit::Local;
    let no_cache = crate::cache::CacheSlot::default();
    let forecast = {
        let mut ctx = memory.build_context(&mut status, &jobs, &no_cache);
        crate::run::builder::forecast(&mut graph, &targets, &mut ctx)?
    };
    // Only the hashes are saved: ninja's files and the step records are as
    // the last build left them.
    memory.state.hashes.settle(|file| graph.path(file));
    memory
        .state
        .save(&BuildState::path_in(&state_dir), &graph)
        .context("saving build state")?;
    let cwd = crate::cache::working_dir().context("finding the current directory")?;
    // The cache's counters are never flushed (no `finish`): a forecast is
    // neither a hit nor a miss.
    let cache = Cache::open(&cwd);
    if let Some(cache) = &cache {
        cache.remember_files_in(&cwd);
    }
    let steps = plan::classify(&graph, &forecast, cache.as_deref(), &cwd);
    if let Some(cache) = &cache {
        cache.save_files_memo();
    }
    Ok(Report::new(
        &args.file.to_string_lossy(),
        &steps,
        started.elapsed(),
    ))
}

/// The forecast for a compilation database: each entry is one compile,
/// probed in parallel. The compiles' own dir (where CMake's cache is) is
/// the build dir the keys are relative to; `cwd` when they have none.
pub fn forecast_compdb(path: &Path, cwd: &Path) -> anyhow::Result<Report> {
    let started = Instant::now();
    let entries = crate::compdb::load(path)?;
    let build_dir = entries
        .first()
        .map(|entry| entry.directory.as_path())
        .filter(|dir| dir.is_dir())
        .unwrap_or(cwd);
    let cache = Cache::open(build_dir);
    if let Some(cache) = &cache {
        cache.remember_outside_files();
    }
    let no_overlay = |_: &Path| None;
    let steps: Vec<StepForecast> = entries
        .par_iter()
        .map(|entry| {
            let output = entry
                .output
                .as_ref()
                .unwrap_or(&entry.file)
                .to_string_lossy()
                .to_string();
            let other = |reason: &str| StepForecast {
                output: output.clone(),
                kind: "other",
                source: Some(entry.file.to_string_lossy().to_string()),
                outcome: Outcome::Other {
                    reason: reason.to_string(),
                },
            };
            let Some(cache) = cache.as_deref() else {
                return other("cache_disabled");
            };
            let Ok(command) = shlex::try_join(entry.arguments.iter().map(String::as_str)) else {
                return other("unquotable_command");
            };
            let declared: Vec<PathBuf> = entry.output_path().into_iter().collect();
            let Some(invocation) = cache.prepare(&command, &entry.directory, &declared) else {
                return other("not_a_cached_tool");
            };
            let outcome = match cache.probe(&invocation, &no_overlay) {
                Probe::Hit { assumed, .. } => Outcome::FromCache {
                    assumed: assumed.len(),
                },
                Probe::Miss { reason, .. } => Outcome::ToRun { reason },
                Probe::Uncacheable { reason } => Outcome::Other {
                    reason: reason.to_string(),
                },
            };
            plan::described(output.clone(), &invocation, outcome)
        })
        .collect();
    if let Some(cache) = &cache {
        cache.save_files_memo();
    }
    Ok(Report::new(COMPDB_NAME, &steps, started.elapsed()))
}
