//! `-t restat` and `-t recompact`: rewrite the build's memory files in
//! place (atomically). CMake runs both right after configuring, so both
//! succeed quietly in a build dir that has no log yet.

use std::io;
use std::path::Path;

use super::ToolContext;
use super::options::Spec;
use crate::graph::Graph;
use crate::state::BuildState;
use crate::state::ninja_deps::NinjaDeps;
use crate::state::ninja_files::{
    DEPS_FILE_NAME, LOG_FILE_NAME, deps_entry_is_live, log_entry_is_live,
};
use crate::state::ninja_log::NinjaLog;

const RESTAT_SPEC: Spec = Spec {
    letters: "h",
    long_help: false,
};

/// Re-reads the mtime of the outputs in `.ninja_log` (all, or those named).
/// Like ninja 1.11 this reads no manifest, so it uses the log in the
/// current directory even when the manifest sets `builddir`.
pub fn run_restat(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(parsed) = ctx.parse_options(args, &RESTAT_SPEC, |ctx| {
        writeln!(ctx.out, "usage: {} -t restat [outputs]", ctx.program)
    })?
    else {
        return Ok(1);
    };
    let log_path = Path::new(LOG_FILE_NAME);
    if log_path.symlink_metadata().is_err() {
        // Nothing built yet, nothing to restat.
        return Ok(0);
    }
    let mut log = match NinjaLog::load(log_path) {
        Ok(log) => log,
        Err(err) => {
            ctx.error(&format!("loading build log {LOG_FILE_NAME}: {err}"));
            return Ok(1);
        }
    };
    if let Some(warning) = log.load_warning() {
        let warning = warning.to_string();
        ctx.warning(&warning);
    }
    let only: Vec<&str> = parsed.operands.iter().map(String::as_str).collect();
    let only = (!only.is_empty()).then_some(only.as_slice());
    if let Err(err) = log.restat(log_path, Path::new("."), only) {
        ctx.error(&format!("failed recompaction: {err}"));
        return Ok(1);
    }
    Ok(0)
}

/// Rewrites `.ninja_log`, `.ninja_deps` and `.zccache_state` without
/// superseded records and without outputs the manifest no longer has.
pub fn run_recompact(ctx: &mut ToolContext, _args: &[String]) -> io::Result<i32> {
    let Some((graph, dir)) = ctx.load_graph_and_build_dir() else {
        return Ok(1);
    };
    let mut code = 0;
    if let Err(message) = recompact_log(&graph, &dir.join(LOG_FILE_NAME), ctx) {
        ctx.error(&message);
        code = 1;
    }
    if let Err(message) = recompact_deps(&graph, &dir.join(DEPS_FILE_NAME), ctx) {
        ctx.error(&message);
        code = 1;
    }
    if let Err(message) = recompact_state(&graph, &BuildState::path_in(&dir), ctx) {
        ctx.error(&message);
        code = 1;
    }
    Ok(code)
}

/// Keeps log entries of current outputs, and of old outputs still on disk
/// (so `-t cleandead` can find them later).
fn recompact_log(graph: &Graph, path: &Path, ctx: &mut ToolContext) -> Result<(), String> {
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    let mut log = NinjaLog::load(path).map_err(|err| format!("loading build log: {err}"))?;
    if let Some(warning) = log.load_warning() {
        let warning = warning.to_string();
        ctx.warning(&warning);
    }
    log.recompact(path, |output| log_entry_is_live(graph, output))
        .map_err(|err| format!("failed recompaction: {err}"))
}

/// Keeps deps of outputs whose step still records deps.
fn recompact_deps(graph: &Graph, path: &Path, ctx: &mut ToolContext) -> Result<(), String> {
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    let mut deps = NinjaDeps::load(path).map_err(|err| format!("loading deps log: {err}"))?;
    if let Some(warning) = deps.load_warning() {
        let warning = warning.to_string();
        ctx.warning(&warning);
    }
    deps.recompact(path, |output| deps_entry_is_live(graph, output))
        .map_err(|err| format!("failed recompaction: {err}"))
}

/// Keeps zccache's records of steps whose first output is still an output.
fn recompact_state(graph: &Graph, path: &Path, ctx: &mut ToolContext) -> Result<(), String> {
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    // Binding may add old paths to the graph; keep the caller's intact.
    let mut graph = graph.clone();
    let (mut state, problem) = BuildState::load(path, &mut graph);
    if let Some(problem) = problem {
        // An unusable state is ignored by builds too; leave it for the next
        // build to replace rather than destroying evidence here.
        ctx.warning(&problem.to_string());
        return Ok(());
    }
    state.mark_changed();
    state
        .save(path, &graph)
        .map_err(|err| format!("rewriting zccache state: {err}"))
}
