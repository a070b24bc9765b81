//! The tools' memo on disk: one JSON entry per key, kept as a record of
//! the store's `Toolchain` namespace (so it has the records' header,
//! checksum, size cap, LRU and gc, and is read through its dir's
//! descriptor, see `Store::get_record`), and the length-prefixed hasher of
//! the keys. An entry that is absent, damaged or of another format is a
//! miss. Entries of the layout before (`v1/toolchains/*.json`) are never
//! read: gc removes them as the least recently used.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::*;

pub(super) trait Versioned {
    fn format(&self) -> u32;
}

/// Length-prefixed fields into blake3, so ("ab","c") ≠ ("a","bc").
pub(super) struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    pub(super) fn new(domain: &[u8]) -> KeyHasher {
        let mut h = KeyHasher(blake3::Hasher::new());
        h.bytes(b"zccache toolchain").bytes(domain);
        h
    }
    pub(super) fn bytes(&mut self, bytes: &[u8]) -> &mut KeyHasher {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }
    pub(super) fn path(&mut self, path: &Path) -> &mut KeyHasher {
        self.bytes(path.as_os_str().as_bytes())
    }
    pub(super) fn steering_env(&mut self) -> &mut KeyHasher {
        for name in STEERING_ENV {
            match std::env::var_os(name) {
                Some(value) => self.bytes(b"set").bytes(value.as_bytes()),
                None => self.bytes(b"unset"),
            };
        }
        self
    }
    pub(super) fn finish(&self) -> Digest {
        *self.0.finalize().as_bytes()
    }
}

impl Toolchains {
    /// A memo entry, or None when absent, unreadable, damaged (the store
    /// deletes it) or from another format (it will be rewritten).
    pub(super) fn read_entry<T: for<'de> Deserialize<'de> + Versioned>(
        &self,
        key: &Digest,
    ) -> Option<T> {
        let payload = self
            .memo
            .as_ref()?
            .get_record(Namespace::Toolchain, key)
            .ok()??;
        let entry: T = serde_json::from_slice(&payload).ok()?;
        (entry.format() == FORMAT).then_some(entry)
    }

    /// Stores an entry as a record (written atomically, so a concurrent
    /// reader sees the old entry or the new one). Failing to write only
    /// costs a probe next time, so it is logged, not returned.
    pub(super) fn write_entry<T: Serialize>(&self, key: &Digest, entry: &T) {
        let Some(store) = &self.memo else {
            return;
        };
        let stored = serde_json::to_vec(entry)
            .map_err(|err| err.to_string())
            .and_then(|payload| {
                store
                    .put_record(Namespace::Toolchain, key, &payload)
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = stored {
            tracing::debug!("not caching toolchain entry: {err}");
        }
    }
}
