//! Dyndep files: the implicit inputs and outputs they declare join the
//! graph and, when those inputs still have to be built, the plan. As in
//! ninja, files already on disk are applied before planning, so steps that
//! read outputs only a dyndep file declares are ordered after their
//! producers; a dyndep file rebuilt during the build is loaded again when
//! the first step naming it is ready.

use std::fs;
use std::path::Path;

use super::{Builder, StepProgress};
use crate::graph::{FileId, StepId};

impl Builder<'_, '_, '_> {
    /// Applies every dyndep file that already exists. One that does not
    /// load now (stale, about to be rebuilt) is loaded when it is ready.
    pub(super) fn preload_dyndeps(&mut self) {
        let mut files: Vec<FileId> = self.graph.steps.iter().filter_map(|s| s.dyndep).collect();
        files.sort_unstable();
        files.dedup();
        for file in files {
            if Path::new(self.graph.path(file)).is_file() && self.load_dyndep(file).is_ok() {
                self.dyndeps_loaded.push(file);
            }
        }
    }

    /// A dyndep file a step just rewrote must be read again.
    pub(super) fn forget_rebuilt_dyndeps(&mut self, step: StepId) {
        let outs = &self.graph.step(step).outs;
        self.dyndeps_loaded.retain(|file| !outs.contains(file));
    }

    /// Loads the dyndep file of a ready step (once per file), adding the
    /// implicit inputs and outputs it declares to every step that names it.
    /// Returns true when the step now waits for inputs still to be built.
    pub(super) fn apply_dyndep(&mut self, step: StepId) -> anyhow::Result<bool> {
        let Some(dyndep) = self.graph.step(step).dyndep else {
            return Ok(false);
        };
        if !self.dyndeps_loaded.contains(&dyndep) {
            self.dyndeps_loaded.push(dyndep);
            self.load_dyndep(dyndep)?;
        }
        let s = &self.graph.step(step);
        let producers: Vec<StepId> = s
            .ins
            .iter()
            .filter_map(|&f| self.graph.producer(f))
            .filter(|&p| p != step && self.steps[p].progress != StepProgress::Done)
            .collect();
        for &producer in &producers {
            if self.steps[producer].progress == StepProgress::NotWanted {
                self.plan_more(producer)?;
            }
        }
        if self.wait_for(step, producers) == 0 {
            return Ok(false);
        }
        self.steps[step].progress = StepProgress::Waiting;
        Ok(true)
    }

    pub(super) fn load_dyndep(&mut self, dyndep: FileId) -> anyhow::Result<()> {
        let path = self.graph.path(dyndep).to_string();
        let contents = fs::read(&path).map_err(|err| anyhow::anyhow!("loading '{path}': {err}"))?;
        let graph = &*self.graph;
        let mut has_build = |out: &str| graph.lookup(out).and_then(|f| graph.producer(f)).is_some();
        let parsed =
            crate::ninja::dyndep::parse_dyndep(Path::new(&path), &contents, &mut has_build)
                .map_err(|err| anyhow::anyhow!("{err}"))?;
        for entry in parsed.entries {
            let Some(target) = self
                .graph
                .lookup(&entry.out)
                .and_then(|f| self.graph.producer(f))
            else {
                continue;
            };
            if self.graph.step(target).dyndep != Some(dyndep) {
                anyhow::bail!(
                    "dyndep file '{path}' mentions output '{}' whose build statement does not have a dyndep binding for the file",
                    entry.out
                );
            }
            for out in &entry.implicit_outs {
                if let Some(other) = self.graph.lookup(out).and_then(|f| self.graph.producer(f))
                    && other != target
                {
                    anyhow::bail!("multiple rules generate {out}");
                }
            }
            self.graph.add_dyndep(
                target,
                &entry.implicit_ins,
                &entry.implicit_outs,
                entry.restat,
            );
            self.grow_to_graph();
            let s = &self.graph.step(target);
            let new_files: Vec<FileId> = s.ins.iter().chain(&s.outs).copied().collect();
            for file in new_files {
                self.ensure_observed(file);
            }
        }
        // Other steps naming this file wait for their new inputs when they
        // become ready themselves (see `apply_dyndep`).
        Ok(())
    }

    /// Brings a step that was not wanted (an input only a dyndep file
    /// names) and what it needs into the build.
    pub(super) fn plan_more(&mut self, step: StepId) -> anyhow::Result<()> {
        let target = self.graph.step(step).outs[0];
        let steps = &self.steps;
        let order = self
            .graph
            .plan_order(&[target], &|s: StepId| steps[s].discovered.as_slice())?;
        let new: Vec<StepId> = order
            .into_iter()
            .filter(|s| self.steps[*s].progress == StepProgress::NotWanted)
            .collect();
        for &s in &new {
            self.steps[s].progress = StepProgress::Waiting;
        }
        for &s in &new {
            let st = &self.graph.step(s);
            let files: Vec<FileId> = st.ins.iter().chain(&st.outs).copied().collect();
            for file in files {
                self.ensure_observed(file);
            }
            let st = &self.graph.step(s);
            let producers: Vec<StepId> = st
                .ins
                .iter()
                .chain(self.steps[s].discovered.iter())
                .filter_map(|&f| self.graph.producer(f))
                .filter(|&p| {
                    p != s
                        && !matches!(
                            self.steps[p].progress,
                            StepProgress::NotWanted | StepProgress::Done
                        )
                })
                .collect();
            if self.wait_for(s, producers) == 0 {
                self.ready.push_back(s);
            }
            if !self.graph.step(s).is_phony() {
                self.steps[s].counted = true;
                self.total += 1;
            }
        }
        self.ctx.status.set_total(self.total);
        Ok(())
    }

    /// Extends the per-file and per-step tables after the graph grew.
    pub(super) fn grow_to_graph(&mut self) {
        self.observed.grow(self.graph.files.len(), None);
    }
}
