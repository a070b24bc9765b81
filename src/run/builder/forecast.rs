//! `zccache warm`'s question: what a build of some targets would find to
//! do, decided as the build decides it but without running anything.

use super::{BuildContext, BuildOptions, Builder, DirtyReason};
use crate::graph::{DenseMap, FileId, Graph, StepId};
use crate::hash::Observed;

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
    let mut dirty = DenseMap::with_len(builder.graph.steps.len(), None);
    let mut changes = DenseMap::with_len(builder.graph.steps.len(), false);
    for i in 0..builder.order.len() {
        let step = builder.order[i];
        let upstream = builder.upstream_changes(step, &changes);
        let s = &builder.graph.step(step);
        if s.is_phony() {
            changes[step] =
                upstream || (s.ins.is_empty() && s.outs.iter().any(|&o| !builder.exists(o)));
            continue;
        }
        let has_dyndep = s.dyndep.is_some();
        let verdict = match builder.check(step) {
            Some(reason) => Some(Some(reason)),
            None if upstream => Some(None),
            None => None,
        };
        changes[step] = verdict.is_some() || has_dyndep;
        dirty[step] = verdict;
    }
    Ok(Forecast {
        order: std::mem::take(&mut builder.order),
        dirty: dirty.into_vec(),
        observed: std::mem::take(&mut builder.observed).into_vec(),
    })
}
