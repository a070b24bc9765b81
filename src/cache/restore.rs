//! A hit's delivery: the stored outputs and depfile written where the
//! build expects them, and the tool's output to print.

use std::fs;

use super::key::KeyedStep;
use super::step::Begun;
use crate::cache::Cache;
use crate::cache::records::ResultRecord;
use crate::cache::store::StoreError;

impl Cache {
    pub(super) fn restored(&self, kind: &str, record: &ResultRecord) -> Begun<'_> {
        self.count(&format!("{kind}_hits"), 1);
        self.count("time_saved_ms", record.duration_ms);
        let text = |bytes: &[u8]| {
            if record.normalized_text {
                self.roots.restore_bytes(bytes)
            } else {
                bytes.to_vec()
            }
        };
        Begun::Restored {
            stdout: text(&record.stdout),
            stderr: text(&record.stderr),
        }
    }

    pub(super) fn restore(
        &self,
        keyed: &KeyedStep,
        record: &ResultRecord,
    ) -> Result<(), StoreError> {
        for (stored, dest) in record.outputs.iter().zip(&keyed.outputs) {
            let mode = if stored.mode & 0o111 != 0 {
                0o777
            } else {
                0o666
            } & !self.umask;
            // A hardlinked output changed in place would change the
            // stored copy too.
            let allow_hardlink = keyed.kind.rules().may_hardlink_outputs();
            let written = self
                .store
                .restore_blob(&stored.blob, dest, mode, allow_hardlink)?;
            self.count("bytes_restored", written);
        }
        if let (Some((path, target)), Some(depfile)) = (&keyed.depfile, &record.depfile) {
            let mut text = self.roots.restore_bytes(&depfile.text);
            let stored_target = self.roots.restore(&depfile.target);
            if stored_target != *target
                && let Some(rest) = text.strip_prefix(stored_target.as_bytes())
            {
                let mut renamed = target.as_bytes().to_vec();
                renamed.extend_from_slice(rest);
                text = renamed;
            }
            // In place, as the compiler writes it: the build reads it only
            // after the step.
            fs::write(path, &text).map_err(|source| StoreError::Io {
                context: format!("writing {}", path.display()),
                source,
            })?;
        }
        Ok(())
    }
}
