//! What this build has seen of each file: its content as stat and hash
//! found it, or a virtual hash for phony outputs and dry-run outputs.

use super::{Builder, StepProgress};
use crate::graph::{DenseMap, FileId};
use crate::hash::{Digest, Observed};

impl Builder<'_, '_, '_> {
    /// Stats every file the wanted steps read or write, hashing in parallel
    /// those whose identity is new.
    pub(super) fn observe_files(&mut self) -> anyhow::Result<()> {
        let mut wanted_files = DenseMap::with_len(self.graph.files.len(), false);
        for (id, state) in self.steps.iter() {
            if state.progress == StepProgress::NotWanted {
                continue;
            }
            let step = self.graph.step(id);
            for &f in step.ins.iter().chain(&step.outs).chain(&state.discovered) {
                wanted_files[f] = true;
            }
        }
        let ids: Vec<FileId> = wanted_files
            .iter()
            .filter(|&(_, &wanted)| wanted)
            .map(|(id, _)| id)
            .collect();
        let files: Vec<(FileId, &str)> = ids.iter().map(|&id| (id, self.graph.path(id))).collect();
        let results = self.ctx.state.hashes.observe_all(&files);
        for (id, result) in ids.into_iter().zip(results) {
            let observed =
                result.map_err(|err| anyhow::anyhow!("reading {}: {err}", self.graph.path(id)))?;
            self.observed[id] = Some(observed);
        }
        Ok(())
    }

    /// The file as this build has seen it, observing it on first use.
    pub(super) fn ensure_observed(&mut self, file: FileId) -> Observed {
        self.observed.grow(self.graph.files.len(), None);
        match self.observed[file] {
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

    pub(super) fn set_observed(&mut self, file: FileId, observed: Observed) {
        self.observed.grow(self.graph.files.len(), None);
        self.observed[file] = Some(observed);
    }

    /// Phony outputs that are not files, and outputs of steps a dry run
    /// pretends to have run, have a hash but no content on disk.
    pub(super) fn is_virtual(&self, file: FileId) -> bool {
        self.virtual_hash.contains_key(&file)
    }

    pub(super) fn current_hash(&mut self, file: FileId) -> Digest {
        if let Some(hash) = self.virtual_hash.get(&file) {
            return *hash;
        }
        self.ensure_observed(file).hash()
    }

    pub(super) fn exists(&self, file: FileId) -> bool {
        matches!(
            self.observed.get(file),
            Some(Some(Observed::Present { .. }))
        )
    }
}
