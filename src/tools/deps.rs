//! `-t deps [targets]`: the dependencies recorded for outputs, from
//! `.ninja_deps`, or from zccache's own state when ninja's log has no
//! record (a build dir only zccache has built with an older version).

use std::io;

use super::{ToolContext, collect_targets};
use crate::graph::{FileId, Graph};
use crate::ninja::DepsKind;
use crate::ninja::canon::canonicalize_path;
use crate::state::BuildState;
use crate::state::ninja_files::NinjaFiles;
use crate::state::ninja_log::mtime_ns_or_zero;

/// One output's recorded dependencies, wherever they were found.
struct Record {
    mtime_ns: i64,
    inputs: Vec<String>,
}

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some((mut graph, dir)) = ctx.load_graph_and_build_dir() else {
        return Ok(1);
    };
    let files = ctx.load_ninja_files(&dir);
    let (state, problem) = BuildState::load(&BuildState::path_in(&dir), &mut graph);
    if let Some(problem) = problem {
        ctx.warning(&problem.to_string());
    }
    let lookup = |path: &str| -> Option<Record> {
        if let Some(deps) = files.deps_of(path) {
            return Some(Record {
                mtime_ns: deps.mtime_ns,
                inputs: deps.inputs.iter().map(|s| s.to_string()).collect(),
            });
        }
        zccache_record(&graph, &state, path)
    };

    let paths: Vec<String> = if args.is_empty() {
        live_outputs(&graph, &files, &state)
    } else {
        let mut paths = Vec::new();
        for name in args {
            // Ninja also knows outputs that only the deps log still names.
            let known_to_deps_log = canonicalize_path(name);
            match collect_targets(&graph, std::slice::from_ref(name)) {
                Ok(targets) => paths.extend(targets.iter().map(|&f| graph.path(f).to_string())),
                Err(_) if files.deps_of(&known_to_deps_log).is_some() => {
                    paths.push(known_to_deps_log)
                }
                Err(message) => {
                    ctx.error(&message);
                    return Ok(1);
                }
            }
        }
        paths
    };
    for path in paths {
        let Some(record) = lookup(&path) else {
            writeln!(ctx.out, "{path}: deps not found")?;
            continue;
        };
        let mtime = match mtime_ns_or_zero(std::path::Path::new(&path)) {
            Ok(mtime) => mtime,
            Err(err) => {
                // Like ninja: report, then treat the output as missing.
                ctx.error(&format!("stat({path}): {err}"));
                0
            }
        };
        let freshness = if mtime == 0 || mtime > record.mtime_ns {
            "STALE"
        } else {
            "VALID"
        };
        writeln!(
            ctx.out,
            "{path}: #deps {}, deps mtime {} ({freshness})",
            record.inputs.len(),
            record.mtime_ns
        )?;
        for input in &record.inputs {
            writeln!(ctx.out, "    {input}")?;
        }
        writeln!(ctx.out)?;
    }
    Ok(0)
}

/// Without targets: every output with recorded deps whose step still
/// uses `deps`; ninja's records first, in their file order, then those only
/// zccache's state has, in manifest order.
fn live_outputs(graph: &Graph, files: &NinjaFiles, state: &BuildState) -> Vec<String> {
    let uses_deps = |file: FileId| {
        graph
            .producer(file)
            .is_some_and(|step| graph.step(step).deps != DepsKind::None)
    };
    let mut paths: Vec<String> = files
        .deps
        .outputs()
        .into_iter()
        .filter(|path| graph.lookup(path).is_some_and(uses_deps))
        .map(str::to_string)
        .collect();
    for step in &graph.steps {
        let Some(&first) = step.outs.first() else {
            continue;
        };
        let path = graph.path(first);
        if step.deps != DepsKind::None
            && files.deps_of(path).is_none()
            && zccache_record(graph, state, path).is_some()
        {
            paths.push(path.to_string());
        }
    }
    paths
}

/// The discovered dependencies zccache recorded for the step producing
/// `path` (its state is keyed by a step's first output).
fn zccache_record(graph: &Graph, state: &BuildState, path: &str) -> Option<Record> {
    let step = graph.producer(graph.lookup(path)?)?;
    let first = *graph.step(step).outs.first()?;
    let record = state.steps.get(&first)?;
    if record.discovered == 0 {
        return None;
    }
    Some(Record {
        mtime_ns: record.output_mtime_ns,
        inputs: record
            .discovered_inputs()
            .iter()
            .map(|input| graph.path(input.file).to_string())
            .collect(),
    })
}
