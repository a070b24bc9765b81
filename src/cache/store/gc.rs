//! Size and eviction: usage, least-recently-used gc down to 90% of the
//! limit, removal of temp files left by dead processes, and `clear`.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Store, StoreError, TMP_PREFIX, io_err};
use crate::cache::nofollow;

/// Old enough that no live writer can still own the temp file.
const STALE_TMP_AGE: Duration = Duration::from_secs(3600);
const GC_LOCK: &str = "gc.lock";

/// Files and bytes under `v1/` (apparent sizes, temp files included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
}

/// What one gc did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Cache entries (blobs and records) evicted.
    pub files_removed: u64,
    pub bytes_removed: u64,
    /// Temp files left by dead processes, removed because over an hour old.
    pub stale_temps_removed: u64,
    pub files_remaining: u64,
    pub bytes_remaining: u64,
}

pub(super) fn is_tmp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TMP_PREFIX))
}

fn is_stale(meta: &fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_TMP_AGE)
}

/// Calls `f` for every file below `dir`; entries vanishing mid-walk (a
/// concurrent gc or clear) are skipped, a missing `dir` is empty.
pub(super) fn walk(dir: &Path, f: &mut dyn FnMut(PathBuf, fs::Metadata)) -> Result<(), StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("cannot list {}", dir.display()))(e)),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("cannot list {}", dir.display()))(e)),
        };
        let path = entry.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("cannot stat {}", path.display()))(e)),
        };
        if meta.is_dir() {
            walk(&path, f)?;
        } else {
            f(path, meta);
        }
    }
    Ok(())
}

impl Store {
    /// Walks `v1/`, so it costs a stat per file.
    pub fn usage(&self) -> Result<Usage, StoreError> {
        let mut usage = Usage::default();
        walk(&self.v1, &mut |_, meta| {
            usage.files += 1;
            usage.bytes += meta.len();
        })?;
        Ok(usage)
    }

    fn lock_gc(&self, blocking: bool) -> Result<Option<File>, StoreError> {
        let path = self.root.join(GC_LOCK);
        // flock needs no write access: an existing lock file in a read-only
        // cache still serialises the gcs that then fail to delete anything.
        let file = nofollow::open_or_create(&path, 0o666)
            .or_else(|_| nofollow::open_regular(&path))
            .map_err(io_err(format!("cannot open {}", path.display())))?;
        if blocking {
            file.lock()
                .map_err(io_err(format!("cannot lock {}", path.display())))?;
            return Ok(Some(file));
        }
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(io_err(format!("cannot lock {}", path.display()))(e))
            }
        }
    }

    /// Evicts least recently used blobs and records until the total is at
    /// most 90% of `max_size`, so the next gc is not due right away. Temp
    /// files over an hour old go too. Blocks while another gc runs.
    pub fn gc(&self, max_size: u64) -> Result<GcReport, StoreError> {
        self.gc_locked(max_size, true)
            .map(|report| report.unwrap_or_default())
    }

    /// Like `gc`, but Ok(None) at once if another process is already
    /// collecting: used after a compile, which must not wait for it.
    pub(crate) fn gc_if_idle(&self, max_size: u64) -> Result<Option<GcReport>, StoreError> {
        self.gc_locked(max_size, false)
    }

    fn gc_locked(&self, max_size: u64, blocking: bool) -> Result<Option<GcReport>, StoreError> {
        if !self.root.exists() {
            return Ok(Some(GcReport::default()));
        }
        let Some(_lock) = self.lock_gc(blocking)? else {
            return Ok(None);
        };
        let mut report = GcReport {
            stale_temps_removed: self.remove_stale_root_temps()?,
            ..GcReport::default()
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let mut total = 0u64;
        let mut files = 0u64;
        let mut stale = Vec::new();
        walk(&self.v1, &mut |path, meta| {
            if is_tmp(&path) {
                if is_stale(&meta) {
                    stale.push(path);
                    return;
                }
            } else {
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push((used, meta.len(), path));
            }
            total += meta.len();
            files += 1;
        })?;
        for path in stale {
            if fs::remove_file(&path).is_ok() {
                report.stale_temps_removed += 1;
            }
        }
        let target = (u128::from(max_size) * 9 / 10) as u64;
        entries.sort();
        for (_, len, path) in entries {
            if total <= target {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.files_removed += 1;
                    report.bytes_removed += len;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("cannot remove {}", path.display()))(e)),
            }
            total -= len;
            files -= 1;
        }
        report.files_remaining = files;
        report.bytes_remaining = total;
        Ok(Some(report))
    }

    /// Leftovers of an interrupted `clear` or stats write at the root.
    fn remove_stale_root_temps(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Ok(0);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !is_tmp(&path) || !is_stale(&meta) {
                continue;
            }
            let gone = if meta.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if gone.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes every blob and record (settings and stats stay). The layout
    /// dir is first renamed away, so concurrent readers see either the old
    /// cache or an empty one, and writers recreate their dirs.
    pub fn clear(&self) -> Result<(), StoreError> {
        if !self.v1.exists() {
            return Ok(());
        }
        let _lock = self.lock_gc(true)?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let doomed = self
            .root
            .join(format!("{TMP_PREFIX}clear-{}-{nanos}", std::process::id()));
        match fs::rename(&self.v1, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(format!("cannot move {} away", self.v1.display()))(e)),
        }
        fs::remove_dir_all(&doomed).map_err(io_err(format!("cannot remove {}", doomed.display())))
    }
}
