//! Planning: the wanted steps in dependency order, what each one waits
//! on, and the up-front estimate of which will run (the status total and
//! the steps known clean before the build starts).

use super::{Builder, StepProgress};
use crate::graph::{DenseMap, FileId, StepId};
use crate::hash::Observed;

impl Builder<'_, '_, '_> {
    pub(super) fn plan(&mut self, targets: &[FileId]) -> anyhow::Result<()> {
        let steps = &self.steps;
        let order = self
            .graph
            .plan_order(targets, &|step: StepId| steps[step].discovered.as_slice())?;
        for &step in &order {
            self.steps[step].progress = StepProgress::Waiting;
        }
        // Position in the order: a step waits only on producers placed
        // before it. Manifest inputs always are; a depfile dependency from
        // an old build may point downstream (a cycle ninja would report),
        // and waiting on it would never end.
        let mut position = DenseMap::with_len(self.graph.steps.len(), usize::MAX);
        for (at, &step) in order.iter().enumerate() {
            position[step] = at;
        }
        for &step in &order {
            let s = &self.graph.step(step);
            let producers: Vec<StepId> = s
                .ins
                .iter()
                .chain(self.steps[step].discovered.iter())
                .filter_map(|&f| self.graph.producer(f))
                .filter(|&p| p != step && position[p] < position[step])
                .collect();
            self.wait_for(step, producers);
        }
        for &step in &order {
            if self.steps[step].pending == 0 {
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
        self.steps[step].pending = producers.len() as u32;
        for &producer in &producers {
            self.steps[producer].dependents.push(step);
        }
        producers.len()
    }

    /// Marks a step done and readies the steps that were waiting on it.
    pub(super) fn complete(&mut self, step: StepId) {
        self.steps[step].progress = StepProgress::Done;
        let dependents = std::mem::take(&mut self.steps[step].dependents);
        for dependent in dependents {
            let pending = &mut self.steps[dependent].pending;
            *pending -= 1;
            if *pending == 0 && self.steps[dependent].progress == StepProgress::Waiting {
                self.ready.push_back(dependent);
            }
        }
    }

    /// Counts the steps that will probably run, for the `[%f/%t]` total:
    /// dirty now, or downstream of a dirty step. Early cutoff later takes
    /// steps off this count, as ninja's restat does.
    pub(super) fn estimate_work(&mut self) {
        let mut changes = DenseMap::with_len(self.graph.steps.len(), false);
        for i in 0..self.order.len() {
            let step = self.order[i];
            let upstream_changes = self.upstream_changes(step, &changes);
            let s = &self.graph.step(step);
            if s.is_phony() {
                changes[step] = upstream_changes
                    || (s.ins.is_empty() && s.outs.iter().any(|&o| !self.exists(o)));
                continue;
            }
            let has_dyndep = s.dyndep.is_some();
            let dirty = upstream_changes || self.dirty_reason(step).is_some();
            // A dyndep file may add inputs the estimate cannot see: such a
            // step is checked when ready, once the file is loaded, and is
            // assumed to change what depends on it.
            changes[step] = dirty || has_dyndep;
            self.steps[step].known_clean = !dirty && !has_dyndep;
            self.steps[step].counted = dirty;
            self.total += usize::from(dirty);
        }
    }

    /// Whether a producer of one of the step's dirtying inputs is marked in
    /// `changes`.
    pub(super) fn upstream_changes(&self, step: StepId, changes: &DenseMap<StepId, bool>) -> bool {
        let s = &self.graph.step(step);
        s.ins
            .iter()
            .take(s.explicit_ins + s.implicit_ins)
            .chain(&self.steps[step].discovered)
            .filter_map(|&f| self.graph.producer(f))
            .any(|p| changes[p])
    }

    /// Ninja refuses to start when an input is missing and nothing makes it.
    pub(super) fn check_missing_inputs(&self) -> anyhow::Result<()> {
        for (id, state) in self.steps.iter() {
            if state.progress == StepProgress::NotWanted {
                continue;
            }
            let step = self.graph.step(id);
            for &input in &step.ins {
                let file = &self.graph.file(input);
                if file.producer.is_none()
                    && !matches!(self.observed[input], Some(Observed::Present { .. }))
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
}
