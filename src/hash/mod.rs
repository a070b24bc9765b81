//! File content hashing (blake3), remembered by stat identity so an
//! unchanged file is never read twice.
//!
//! A file's identity is (device, inode, size, mtime_ns, ctime_ns): any write,
//! rename-over or `touch` changes at least one of them. A file modified
//! within one timestamp tick of being hashed is hashed but not remembered
//! ("racy", as git calls it), because a later write inside the same tick
//! could leave the identity unchanged. [`HashCache::settle`] hashes such
//! files again once the tick has passed, at the end of a build, so the next
//! build does not have to.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::graph::FileId;

/// A blake3 digest: of a file's content, a stored blob, a cache key,
/// a tool's identity. The one name for `[u8; 32]` in the crate.
pub type Digest = [u8; 32];

/// How long after its last change a file's identity may still be shared by
/// a later write. Linux file systems keep sub-second timestamps advanced at
/// each clock tick (a few ms); a file whose timestamps are whole seconds is
/// on a coarse one (FAT keeps 2 s).
const RACY_WINDOW_FINE_NS: i64 = 50_000_000;
const RACY_WINDOW_COARSE_NS: i64 = 2_000_000_000;

fn is_racy(stat: &FileStat, now_ns: i64) -> bool {
    let changed = stat.mtime_ns.max(stat.ctime_ns);
    let window = if stat.mtime_ns % 1_000_000_000 == 0 && stat.ctime_ns % 1_000_000_000 == 0 {
        RACY_WINDOW_COARSE_NS
    } else {
        RACY_WINDOW_FINE_NS
    };
    now_ns - changed < window
}

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    /// A directory, FIFO, socket or device: known by identity, not content.
    pub not_regular: bool,
}

impl FileStat {
    /// Whether a write inside the same timestamp tick could still leave
    /// this stat unchanged: the file's identity cannot be trusted yet.
    pub fn is_racy_now(&self) -> bool {
        is_racy(self, now_ns())
    }

    pub fn from_metadata(meta: &fs::Metadata) -> FileStat {
        FileStat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            not_regular: !meta.is_file(),
        }
    }
}

/// Stats `path`, following symlinks as ninja does. `Ok(None)` when it does
/// not exist.
pub fn stat(path: &str) -> io::Result<Option<FileStat>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(FileStat::from_metadata(&meta))),
        Err(err)
            if err.kind() == io::ErrorKind::NotFound
                || err.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Hashes the content of a regular file. Anything else hashes to its
/// mtime: ninja treats directories by mtime, their "content" is a listing
/// we must not walk, and reading a FIFO or a device could block forever.
pub fn hash_file(path: &str, stat: &FileStat) -> io::Result<Digest> {
    if stat.not_regular {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"not a regular file\0");
        hasher.update(&stat.mtime_ns.to_le_bytes());
        return Ok(*hasher.finalize().as_bytes());
    }
    let mut file = fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    if stat.size <= 64 * 1024 {
        let mut buf = Vec::with_capacity(stat.size as usize + 1);
        file.read_to_end(&mut buf)?;
        hasher.update(&buf);
    } else {
        hasher.update_reader(&mut file)?;
    }
    Ok(*hasher.finalize().as_bytes())
}

/// The hash of a file that does not exist: distinct from every content hash
/// in practice, and stable across runs.
pub fn missing_hash() -> Digest {
    *blake3::hash(b"zccache: file does not exist").as_bytes()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The current state of one file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Missing,
    Present { stat: FileStat, hash: Digest },
}

impl Observed {
    pub fn hash(&self) -> Digest {
        match self {
            Observed::Missing => missing_hash(),
            Observed::Present { hash, .. } => *hash,
        }
    }
    pub fn mtime_ns(&self) -> Option<i64> {
        match self {
            Observed::Missing => None,
            Observed::Present { stat, .. } => Some(stat.mtime_ns),
        }
    }
}

/// Content hashes remembered by file and stat identity, indexed by the
/// graph's [`FileId`]s.
#[derive(Debug, Default, Clone)]
pub struct HashCache {
    entries: Vec<Option<(FileStat, Digest)>>,
    changed: bool,
    /// Files hashed while racy, to hash again by [`HashCache::settle`].
    racy: Vec<FileId>,
}

impl HashCache {
    pub fn with_files(count: usize) -> HashCache {
        HashCache {
            entries: vec![None; count],
            changed: false,
            racy: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a hash was remembered or forgotten since loading or saving.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    pub fn mark_saved(&mut self) {
        self.changed = false;
    }

    fn slot(&mut self, file: FileId) -> &mut Option<(FileStat, Digest)> {
        if self.entries.len() <= file.index() {
            self.entries.resize(file.index() + 1, None);
        }
        &mut self.entries[file.index()]
    }

    /// Puts back an entry read from the state file.
    pub fn restore(&mut self, file: FileId, stat: FileStat, hash: Digest) {
        *self.slot(file) = Some((stat, hash));
    }

    pub fn entries(&self) -> impl Iterator<Item = (FileId, FileStat, Digest)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|(stat, hash)| (FileId(i as u32), stat, hash)))
    }

    pub fn lookup(&self, file: FileId, stat: &FileStat) -> Option<Digest> {
        match self.entries.get(file.index()) {
            Some(Some((known, hash))) if known == stat => Some(*hash),
            _ => None,
        }
    }

    /// Drops what is known about `file`, so the next observation hashes
    /// it again whatever its stat says (a watcher saw it change).
    pub fn forget(&mut self, file: FileId) {
        if let Some(slot) = self.entries.get_mut(file.index())
            && slot.take().is_some()
        {
            self.changed = true;
        }
    }

    /// Remembers a hash unless the file changed too recently to trust its
    /// identity.
    pub fn remember(&mut self, file: FileId, stat: FileStat, hash: Digest, now_ns: i64) {
        let racy = is_racy(&stat, now_ns);
        if racy {
            self.racy.push(file);
        }
        let slot = self.slot(file);
        let new = if racy { None } else { Some((stat, hash)) };
        if *slot != new {
            *slot = new;
            self.changed = true;
        }
    }

    /// Observes one file: stat, then hash unless the identity is known.
    /// The flag says whether the file was read.
    pub fn observe(&self, file: FileId, path: &str) -> io::Result<(Observed, bool)> {
        let Some(stat) = stat(path)? else {
            return Ok((Observed::Missing, false));
        };
        if let Some(hash) = self.lookup(file, &stat) {
            return Ok((Observed::Present { stat, hash }, false));
        }
        match hash_file(path, &stat) {
            Ok(hash) => Ok((Observed::Present { stat, hash }, true)),
            // Ninja only stats inputs, so an unreadable one must not stop
            // the build: it counts as changed, and the step that reads it
            // reports the error itself.
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                let mut hasher = blake3::Hasher::new();
                hasher.update(b"unreadable\0");
                hasher.update(&now_ns().to_le_bytes());
                let hash = *hasher.finalize().as_bytes();
                Ok((Observed::Present { stat, hash }, false))
            }
            Err(err) => Err(err),
        }
    }

    /// Observes many files in parallel, then remembers the new hashes.
    /// Errors (unreadable files) are returned per file.
    pub fn observe_all(&mut self, files: &[(FileId, &str)]) -> Vec<io::Result<Observed>> {
        // Starting rayon's threads costs more than stat-ing a small
        // project's files one by one.
        const PARALLEL_FROM: usize = 2048;
        let results: Vec<io::Result<(Observed, bool)>> = if files.len() < PARALLEL_FROM {
            files
                .iter()
                .map(|&(file, path)| self.observe(file, path))
                .collect()
        } else {
            files
                .par_iter()
                .with_min_len(256)
                .map(|&(file, path)| self.observe(file, path))
                .collect()
        };
        let now = now_ns();
        results
            .into_iter()
            .zip(files)
            .map(|(result, &(file, _))| {
                result.map(|(observed, fresh)| {
                    if let (true, Observed::Present { stat, hash }) = (fresh, observed) {
                        self.remember(file, stat, hash, now);
                    }
                    observed
                })
            })
            .collect()
    }

    /// Hashes again, in parallel, the files that were too recently changed
    /// to remember when they were hashed and no longer are, so the next
    /// build finds them remembered. Files still racy stay unremembered.
    pub fn settle<'p>(&mut self, path_of: impl Fn(FileId) -> &'p str + Sync) {
        let mut racy = std::mem::take(&mut self.racy);
        racy.sort_unstable();
        racy.dedup();
        let now = now_ns();
        let settled: Vec<(FileId, FileStat, Digest)> = racy
            .par_iter()
            .filter_map(|&file| {
                let path = path_of(file);
                let stat = stat(path).ok()??;
                if is_racy(&stat, now) {
                    return None;
                }
                let hash = hash_file(path, &stat).ok()?;
                // A write during hashing would show in the identity.
                (self::stat(path).ok()?? == stat).then_some((file, stat, hash))
            })
            .collect();
        for (file, stat, hash) in settled {
            self.remember(file, stat, hash, now);
        }
    }

    /// Observes one file and remembers its hash.
    pub fn observe_one(&mut self, file: FileId, path: &str) -> io::Result<Observed> {
        let (observed, fresh) = self.observe(file, path)?;
        if let (true, Observed::Present { stat, hash }) = (fresh, observed) {
            self.remember(file, stat, hash, now_ns());
        }
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_file_is_not_rehashed_and_edit_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "one").unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        filetime::set_file_mtime(&path, filetime::FileTime::from_system_time(old)).unwrap();
        let path = path.to_str().unwrap();

        let mut cache = HashCache::default();
        let file = FileId(0);
        let first = cache.observe_one(file, path).unwrap();
        assert_eq!(first.hash(), *blake3::hash(b"one").as_bytes());
        // ctime is fresh after the write, so it is too racy to remember.
        assert!(cache.is_empty() || cache.len() == 1);

        fs::write(path, "two").unwrap();
        let second = cache.observe_one(file, path).unwrap();
        assert_eq!(second.hash(), *blake3::hash(b"two").as_bytes());
    }

    #[test]
    fn missing_file_is_observed_as_missing() {
        let cache = HashCache::default();
        let (observed, _) = cache
            .observe(FileId(0), "/nonexistent/zccache/file")
            .unwrap();
        assert_eq!(observed, Observed::Missing);
        assert_eq!(observed.hash(), missing_hash());
    }

    #[test]
    fn remembered_hash_is_reused_for_same_identity() {
        let mut cache = HashCache::default();
        let stat = FileStat {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 10,
            ctime_ns: 10,
            not_regular: false,
        };
        let x = FileId(3);
        cache.remember(x, stat, [7; 32], 10 + RACY_WINDOW_FINE_NS);
        assert_eq!(cache.lookup(x, &stat), Some([7; 32]));
        assert!(cache.is_changed());
        let touched = FileStat {
            mtime_ns: 11,
            ..stat
        };
        assert_eq!(cache.lookup(x, &touched), None);
        // A racy entry is dropped rather than trusted.
        cache.remember(x, stat, [8; 32], 11);
        assert_eq!(cache.lookup(x, &stat), None);
    }
}
