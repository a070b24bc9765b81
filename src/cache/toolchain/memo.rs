//! The tools' memo on disk: one JSON entry per key under the memo dir,
//! read and written through the dir's descriptor when it is below the
//! cache dir (see `nofollow`), and the length-prefixed hasher of the keys.
//! An entry that is absent, damaged or of another format is a miss.

use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
    fn entry_name(key: &Digest) -> String {
        format!("{}.json", blake3::Hash::from(*key).to_hex())
    }

    /// Where entries are read and written: the disk dir, through its
    /// descriptor when below the cache dir (made there when `make`).
    fn entry_dir(
        &self,
        make: bool,
    ) -> Option<io::Result<(PathBuf, Option<crate::cache::nofollow::OpenDir>)>> {
        let dir = self.disk_dir.as_ref()?;
        let Some(root) = &self.disk_root else {
            if make && let Err(err) = fs::create_dir_all(dir) {
                return Some(Err(err));
            }
            return Some(Ok((dir.clone(), None)));
        };
        let opened = if make {
            crate::cache::nofollow::make_dir_beneath(root, dir, 0o777, false)
        } else {
            crate::cache::nofollow::dir_beneath(root, dir)
        }?;
        Some(opened.map(|held| (held.path(), Some(held))))
    }

    fn entry_path(&self, key: &Digest) -> Option<PathBuf> {
        let dir = self.disk_dir.as_ref()?;
        Some(dir.join(Self::entry_name(key)))
    }

    /// A disk entry, or None when absent, unreadable, damaged or from
    /// another format (it will be rewritten).
    pub(super) fn read_entry<T: for<'de> Deserialize<'de> + Versioned>(
        &self,
        key: &Digest,
    ) -> Option<T> {
        let (dir, _held) = self.entry_dir(false)?.ok()?;
        let mut file =
            crate::cache::nofollow::open_regular(&dir.join(Self::entry_name(key))).ok()?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).ok()?;
        let entry: T = serde_json::from_slice(&text).ok()?;
        (entry.format() == FORMAT).then_some(entry)
    }

    /// Writes atomically (temp file + rename in the same dir) so a
    /// concurrent reader sees the old entry or the new one. Failing to
    /// write only costs a probe next time, so it is logged, not returned.
    pub(super) fn write_entry<T: Serialize>(&self, key: &Digest, entry: &T) {
        let Some(path) = self.entry_path(key) else {
            return;
        };
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            let text = serde_json::to_vec(entry)?;
            let Some(opened) = self.entry_dir(true) else {
                return Ok(());
            };
            let (dir, _held) = opened?;
            let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
            io::Write::write_all(&mut tmp, &text)?;
            // Readable by the group of a shared cache (temp files are 0600);
            // a private cache dir is closed to others anyway.
            tmp.as_file()
                .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(
                    crate::cache::owner::SHARED_FILE_MODE,
                ))?;
            tmp.persist(dir.join(Self::entry_name(key)))?;
            Ok(())
        })();
        if let Err(err) = result {
            tracing::debug!("not caching toolchain entry {}: {err}", path.display());
        }
    }
}
