//! What this build has seen of each file: its content as stat and hash
//! found it, or a virtual hash for phony outputs and dry-run outputs.

use super::{Builder, StepProgress};
use crate::graph::FileId;
use crate::hash::{Hash, Observed};

impl Builder<'_, '_, '_> {
    /// Stats every file the wanted steps read or write, hashing in parallel
    /// those whose identity is new.
    pub(super) fn observe_files(&mut self) -> anyhow::Result<()> {
        let mut wanted_files = vec![false; self.graph.files.len()];
        for (index, progress) in self.progress.iter().enumerate() {
            if *progress == StepProgress::NotWanted {
                continue;
            }
            let step = &self.graph.steps[index];
            for &f in step
                .ins
                .iter()
                .chain(&step.outs)
                .chain(&self.discovered[index])
            {
                wanted_files[f.index()] = true;
            }
        }
        let ids: Vec<usize> = (0..wanted_files.len())
            .filter(|&i| wanted_files[i])
            .collect();
        let files: Vec<(FileId, &str)> = ids
            .iter()
            .map(|&i| (FileId(i as u32), self.graph.path(FileId(i as u32))))
            .collect();
        let results = self.ctx.state.hashes.observe_all(&files);
        for (id, result) in ids.into_iter().zip(results) {
            let observed = result.map_err(|err| {
                anyhow::anyhow!("reading {}: {err}", self.graph.path(FileId(id as u32)))
            })?;
            self.observed[id] = Some(observed);
        }
        Ok(())
    }

    /// The file as this build has seen it, observing it on first use.
    pub(super) fn ensure_observed(&mut self, file: FileId) -> Observed {
        if self.observed.len() <= file.index() {
            self.observed.resize(self.graph.files.len(), None);
        }
        match self.observed[file.index()] {
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
        if self.observed.len() <= file.index() {
            self.observed.resize(self.graph.files.len(), None);
        }
        self.observed[file.index()] = Some(observed);
    }

    /// Phony outputs that are not files, and outputs of steps a dry run
    /// pretends to have run, have a hash but no content on disk.
    pub(super) fn is_virtual(&self, file: FileId) -> bool {
        self.virtual_hash.contains_key(&file)
    }

    pub(super) fn current_hash(&mut self, file: FileId) -> Hash {
        if let Some(hash) = self.virtual_hash.get(&file) {
            return *hash;
        }
        self.ensure_observed(file).hash()
    }

    pub(super) fn exists(&self, file: FileId) -> bool {
        matches!(
            self.observed.get(file.index()),
            Some(Some(Observed::Present { .. }))
        )
    }
}
