//! The on-disk, content-addressed store shared by every zccache process.
//!
//! Layout under the cache root (`Settings::dir`):
//!
//! ```text
//! v1/                       layout version: a future incompatible layout uses v2/ beside it
//!   blobs/ab/cdef…          file contents, stored as-is
//!   blobs/ab/cdef….zst      file contents, as one zstd frame (level 1)
//!   records/results/ab/cdef…
//!   records/manifests/ab/cdef…
//!   records/toolchains/ab/cdef…   the tools' memo (identities, include lists)
//!   toolchains/*.json       the tools' memo as zccache wrote it before it was
//!                           a record: never read, evicted by gc like any file
//! gc.lock                   flock: one gc or clear at a time
//! stats.json, stats.lock    counters (see `stats`)
//! zccache.toml              optional settings
//! ```
//!
//! Names are the lowercase hex blake3 of the *uncompressed* content (blobs) or
//! the caller's key (records); the first two hex digits are a fan-out dir so
//! no directory grows huge. Whether a blob is compressed is told by its name
//! (`.zst`) rather than a header inside the file, because an uncompressed blob
//! must be byte-identical to the content for reflink and hardlink delivery to
//! work. Both forms are read whatever the current `compression` setting, so
//! turning compression on or off never invalidates a cache; a zstd frame
//! carries its own magic number. Every read re-hashes the content, so damage
//! to either form is detected, and the damaged blob deleted.
//!
//! A record file is a 48-byte header then the payload:
//! `b"ZCRC"`, version (u32 LE, 1), payload length (u64 LE), blake3 of the
//! payload (32 bytes). A record whose header, length or hash does not match is
//! corrupt and deleted, so a torn or truncated record is never handed out.
//!
//! Concurrency: every write goes to a temp file named `.tmp-*` in the
//! destination dir and is renamed into place, so readers never see a torn file
//! and two writers of the same blob both succeed (the content is the same).
//! Temp files left by a killed process (under `v1/`, or at the root: stats
//! writes, an interrupted clear) are removed by gc once an hour old; clear
//! removes everything under `v1/` whatever its age. A missing dir (a fresh cache, or a concurrent `clear`) is
//! created on the first write that needs it, so opening the store costs no
//! system call at all.
//!
//! Memory stays bounded whatever a blob's size: outputs past
//! [`IN_MEMORY_LIMIT`] are staged (hashed, compressed and written to a temp
//! file in one pass over the output, see [`Store::stage_blob`]) and
//! restored by decompressing into a temp file beside the output while
//! hashing, renamed over the output only once the digest matches.
//!
//! The file mtime is the last-use time: reads and re-puts refresh it, and gc
//! evicts least recently used first.
//!
//! Hardlink delivery links the output to the uncompressed blob itself, so the
//! blob takes the output's mode (only while no other output links to it) and
//! an output edited in place damages the blob; the next read detects that.
//! Only a regular file of this user's is linked.
//!
//! Whoever else can write the cache is not trusted: every record, blob and
//! lock is opened without following a symlink and must be a regular file
//! (anything else is damage: deleted, a miss), and nothing read is run.
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::config::Settings;
use super::nofollow;
use crate::hash::Digest;

mod blobs;
mod codec;
mod deliver;
mod gc;
mod records;
#[cfg(test)]
mod tests;
mod write;

pub use blobs::StagedBlob;
pub use gc::Usage;
pub use records::MAX_RECORD_PAYLOAD;
pub(crate) use write::persist_replacing;

const LAYOUT_DIR: &str = "v1";
/// Prefix of every temp file, in the store and beside restored outputs.
pub const TMP_PREFIX: &str = ".tmp-";
/// LRU needs minutes, not microseconds: skip the mtime write for records
/// and blobs used recently, so a hit costs no write.
const TOUCH_GRANULARITY: Duration = Duration::from_secs(60);
/// Outputs up to this size (together, per step) are read whole and
/// compressed in memory, and blobs up to it restored from memory: a small
/// object costs no second pass or temp file. Anything bigger is streamed.
pub const IN_MEMORY_LIMIT: u64 = 8 << 20;

/// Kinds of record; each gets its own directory under `v1/records/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    Result,
    Manifest,
    /// The tools' memo (see `toolchain`).
    Toolchain,
}

impl Namespace {
    pub fn dir_name(self) -> &'static str {
        match self {
            Namespace::Result => "results",
            Namespace::Manifest => "manifests",
            Namespace::Toolchain => "toolchains",
        }
    }
}

/// Everything that can go wrong; the caller warns once and runs the step for
/// real, so none of these may abort a build.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("corrupt cache file {path}: {what} (deleted)")]
    Corrupt { path: PathBuf, what: String },
    #[error("blob {digest} is not in the cache")]
    NotFound { digest: String },
    #[error("{path} changed while it was being stored")]
    Changed { path: PathBuf },
    #[error("a record of {size} bytes is over the {MAX_RECORD_PAYLOAD} a record may hold")]
    RecordTooLarge { size: usize },
}

pub struct Store {
    root: PathBuf,
    v1: PathBuf,
    compression: bool,
    hardlink: bool,
    /// Shared between users: dirs made group-writable, files group-readable.
    shared: bool,
    bytes_written: AtomicU64,
    /// Bytes written but not yet added to the size counter by `stats::flush`.
    bytes_unflushed: AtomicU64,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

fn hex(digest: &Digest) -> String {
    blake3::Hash::from_bytes(*digest).to_hex().to_string()
}

/// Marks a file as just used; a failure only makes LRU less exact.
fn touch(path: &Path) {
    let _ = nofollow::touch(path);
}

impl Store {
    /// Does no I/O: directories are made by the first write that needs them,
    /// because launcher mode opens the store once per compiler call.
    pub fn open(settings: &Settings) -> Result<Store, StoreError> {
        Ok(Store {
            root: settings.dir.clone(),
            v1: settings.dir.join(LAYOUT_DIR),
            compression: settings.compression,
            hardlink: settings.hardlink,
            shared: settings.shared,
            bytes_written: AtomicU64::new(0),
            bytes_unflushed: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// On-disk bytes this process added since `open`, for size accounting.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Bytes written since the last call; each byte is reported once so that
    /// flushing stats twice does not count it twice.
    /// Bytes another process stored in this cache and handed over for
    /// the size estimate (see [`crate::cache::Cache::add_counts`]).
    pub(crate) fn note_unflushed_bytes(&self, bytes: u64) {
        self.bytes_unflushed.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn take_unflushed_bytes(&self) -> u64 {
        self.bytes_unflushed.swap(0, Ordering::Relaxed)
    }

    /// Deletes a damaged file and describes it; deleting is best effort
    /// (a read-only cache keeps the file, and reports it again next time).
    fn corrupt(&self, path: &Path, what: impl Into<String>) -> StoreError {
        let _ = fs::remove_file(path);
        StoreError::Corrupt {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
