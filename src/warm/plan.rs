//! The forecast of one build: each wanted step is up to date (the build
//! dir's own state says so), restored from the cache, run for a reason, or
//! not the cache's business.
//!
//! Steps are probed in waves by depth in the graph, each wave in parallel:
//! a step's inputs written by earlier steps are known by then, either by
//! the content the cache will restore (the stored blob's hash) or as
//! pending (their producer will run).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::Cache;
use crate::cache::command::Invocation;
use crate::cache::paths::lexical_normalize;
use crate::cache::probe::{Expected, Probe};
use crate::graph::{Graph, StepId};
use crate::hash::Observed;
use crate::run::builder::Forecast;
use crate::warm::report::{Outcome, StepForecast};

/// Classifies every non-phony wanted step of `forecast`, in build order.
/// `cwd` is the build dir (where the steps run); `cache` is `None` when
/// the cache is disabled or cannot be opened (every dirty step then runs).
pub fn classify(
    graph: &Graph,
    forecast: &Forecast,
    cache: Option<&Cache>,
    cwd: &Path,
) -> Vec<StepForecast> {
    // Files already hashed by the dirty check need no second read.
    let mut overlay: HashMap<PathBuf, Expected> = HashMap::new();
    for (index, observed) in forecast.observed.iter().enumerate() {
        if let Some(Observed::Present { hash, .. }) = observed {
            let path = graph.path(crate::graph::FileId(index as u32));
            overlay.insert(absolute(cwd, path), Expected::Content(*hash));
        }
    }
    let mut outcomes: HashMap<StepId, StepForecast> = HashMap::new();
    for wave in graph.waves(&forecast.order) {
        let mut to_probe: Vec<(StepId, Invocation)> = Vec::new();
        for step in wave {
            let s = &graph.steps[step.index()];
            if s.is_phony() {
                continue;
            }
            let output = first_output(graph, step);
            if forecast.dirty[step.index()].is_none() {
                outcomes.insert(step, other_step(output, Outcome::UpToDate));
                continue;
            }
            let invocation = match cache {
                Some(cache) if !s.generator && !s.uses_console() => {
                    let declared: Vec<PathBuf> =
                        s.outs.iter().map(|&o| cwd.join(graph.path(o))).collect();
                    cache.prepare(&s.command, cwd, &declared)
                }
                _ => None,
            };
            match invocation {
                Some(invocation) => to_probe.push((step, invocation)),
                None => {
                    let reason = if cache.is_none() {
                        "cache_disabled"
                    } else if s.generator {
                        "generator"
                    } else {
                        "not_a_cached_tool"
                    };
                    mark_pending(&mut overlay, graph, cwd, step);
                    let outcome = Outcome::Other {
                        reason: reason.to_string(),
                    };
                    outcomes.insert(step, other_step(output, outcome));
                }
            }
        }
        let Some(cache) = cache else {
            continue;
        };
        let probed: Vec<(StepId, &Invocation, Probe)> = {
            let known = |path: &Path| overlay.get(&lexical_normalize(path)).copied();
            to_probe
                .par_iter()
                .map(|(step, invocation)| (*step, invocation, cache.probe(invocation, &known)))
                .collect()
        };
        for (step, invocation, probe) in probed {
            let output = first_output(graph, step);
            let outcome = match probe {
                Probe::Hit {
                    outputs, assumed, ..
                } => {
                    // Outputs the entry does not hold (none, for a step the
                    // cache accepted) would be left as they are.
                    for (path, hash) in outputs {
                        overlay.insert(lexical_normalize(&path), Expected::Content(hash));
                    }
                    Outcome::FromCache {
                        assumed: assumed.len(),
                    }
                }
                Probe::Miss { reason, .. } => {
                    mark_pending(&mut overlay, graph, cwd, step);
                    Outcome::ToRun { reason }
                }
                Probe::Uncacheable { reason } => {
                    mark_pending(&mut overlay, graph, cwd, step);
                    Outcome::Other {
                        reason: reason.to_string(),
                    }
                }
            };
            outcomes.insert(step, described(output, invocation, outcome));
        }
    }
    forecast
        .order
        .iter()
        .filter_map(|step| outcomes.remove(step))
        .collect()
}

/// Every output of `step` will be written by a run of its tool: its content
/// is unknown until then.
fn mark_pending(overlay: &mut HashMap<PathBuf, Expected>, graph: &Graph, cwd: &Path, step: StepId) {
    for &out in &graph.steps[step.index()].outs {
        overlay.insert(absolute(cwd, graph.path(out)), Expected::Pending);
    }
}

/// The output a report names `step` by (its first; empty for none).
fn first_output(graph: &Graph, step: StepId) -> String {
    graph.steps[step.index()]
        .outs
        .first()
        .map(|&o| graph.path(o).to_string())
        .unwrap_or_default()
}

fn absolute(cwd: &Path, path: &str) -> PathBuf {
    lexical_normalize(&cwd.join(path))
}

fn other_step(output: String, outcome: Outcome) -> StepForecast {
    StepForecast {
        output,
        kind: "other",
        source: None,
        outcome,
    }
}

/// A forecast named after the tool the step runs.
pub fn described(output: String, invocation: &Invocation, outcome: Outcome) -> StepForecast {
    StepForecast {
        output,
        kind: invocation.kind().name(),
        source: invocation.source().map(str::to_string),
        outcome,
    }
}
