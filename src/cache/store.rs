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
//!   records/toolchains/ab/cdef…
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

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use filetime::FileTime;

use super::config::Settings;
use super::nofollow;

/// blake3 of a blob's uncompressed content, or a record's key.
pub type Digest = [u8; 32];

/// Kinds of record; each gets its own directory under `v1/records/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    Result,
    Manifest,
}

impl Namespace {
    pub fn dir_name(self) -> &'static str {
        match self {
            Namespace::Result => "results",
            Namespace::Manifest => "manifests",
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

/// The most a record's payload may hold. Records are read whole, so one
/// planted in the cache must not make a lookup read gigabytes; no real
/// record (diagnostics, depfile text, a manifest's file lists) comes near.
pub const MAX_RECORD_PAYLOAD: usize = 64 << 20;

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

const LAYOUT_DIR: &str = "v1";
const ZSTD_SUFFIX: &str = ".zst";
const ZSTD_LEVEL: i32 = 1;
/// Prefix of every temp file, in the store and beside restored outputs.
pub const TMP_PREFIX: &str = ".tmp-";
/// Old enough that no live writer can still own the temp file.
const STALE_TMP_AGE: Duration = Duration::from_secs(3600);
const RECORD_MAGIC: &[u8; 4] = b"ZCRC";
const RECORD_VERSION: u32 = 1;
const RECORD_HEADER_LEN: usize = 48;
/// LRU needs minutes, not microseconds: skip the mtime write for records
/// and blobs used recently, so a hit costs no write.
const TOUCH_GRANULARITY: Duration = Duration::from_secs(60);
const GC_LOCK: &str = "gc.lock";
const COPY_BUF: usize = 128 * 1024;
/// Outputs up to this size (together, per step) are read whole and
/// compressed in memory, and blobs up to it restored from memory: a small
/// object costs no second pass or temp file. Anything bigger is streamed.
pub const IN_MEMORY_LIMIT: u64 = 8 << 20;
/// The largest zstd window a streamed restore accepts (16 MiB): level 1
/// frames use 512 KiB, and a crafted frame asking for more is damage, not
/// a reason to allocate its window.
const WINDOW_LOG_MAX: u32 = 24;

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

/// Why a streaming copy stopped: the caller decides whether a read failure
/// means corruption (decoding a blob) or plain I/O trouble.
enum CopyFail {
    Read(io::Error),
    Write(io::Error),
}

/// Streams `reader` into `writer` (if any), hashing what passes through.
fn copy_hashing(
    reader: &mut dyn Read,
    mut writer: Option<&mut dyn Write>,
) -> Result<(Digest, u64), CopyFail> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyFail::Read(e)),
        };
        hasher.update(&buf[..n]);
        if let Some(w) = writer.as_mut() {
            w.write_all(&buf[..n]).map_err(CopyFail::Write)?;
        }
        total += n as u64;
    }
    Ok((*hasher.finalize().as_bytes(), total))
}

/// A writer that shows what passes through to `scan` first.
struct Scanning<'a, W: Write> {
    inner: W,
    scan: &'a mut dyn FnMut(&[u8]),
}

impl<W: Write> Write for Scanning<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        (self.scan)(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A temp file made through its dir's descriptor; the dir is held open
/// for as long as the file's name goes through it.
struct TempBeneath {
    // Dropped (unlinked by name) before the dir is closed.
    file: tempfile::NamedTempFile,
    dir: Option<nofollow::OpenDir>,
}

/// A blob written to a temp file in the cache in the form the store
/// keeps, not yet under its name: [`Store::commit_staged`] puts it there,
/// dropping it deletes it.
pub struct StagedBlob {
    temp: TempBeneath,
    digest: Digest,
    size: u64,
}

impl StagedBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The uncompressed size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Copy-on-write clone of a whole file; false where the fs cannot.
fn reflink(src: &File, dst: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: both descriptors are open for the duration of the call and
        // FICLONE reads no memory from us, only the source fd number.
        unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (src, dst);
        false
    }
}

/// Marks a file as just used; a failure only makes LRU less exact.
fn touch(path: &Path) {
    let _ = nofollow::touch(path);
}

/// A temp file beside an output, to be renamed over it.
fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile, StoreError> {
    tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io_err(format!(
            "cannot create a temp file in {}",
            dir.display()
        )))
}

/// Moves the finished temp file at `tmp` to `dest`, atomically replacing a
/// file already there. ext4 (auto_da_alloc, the default) writes a file's
/// data to disk synchronously when it is renamed over an existing file,
/// which costs 0.2-3 ms per replaced file on a busy disk: a launcher hit
/// replacing its object and the statistics file paid that twice. Swapping
/// the two names (`RENAME_EXCHANGE`) and deleting the old content under the
/// temp name gives readers the same atomic replacement without the flush.
/// Anything else (no file at `dest`, a directory, a file system without
/// exchange) is a plain rename, with its usual errors.
pub(crate) fn persist_replacing(
    tmp: tempfile::NamedTempFile,
    dest: &Path,
) -> Result<(), tempfile::PersistError> {
    use std::os::unix::ffi::OsStrExt as _;
    let is_file = fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_file());
    if is_file
        && let (Ok(from), Ok(to)) = (
            std::ffi::CString::new(tmp.path().as_os_str().as_bytes()),
            std::ffi::CString::new(dest.as_os_str().as_bytes()),
        )
    {
        // The system call itself: the musl that Rust's musl target links
        // has no renameat2 wrapper.
        // SAFETY: two valid NUL-terminated paths; renameat2 only reads them.
        let swapped = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        } == 0;
        if swapped {
            // The temp name now holds the old content: dropping it deletes that.
            drop(tmp);
            return Ok(());
        }
    }
    tmp.persist(dest).map(drop)
}

/// Records a use of the blob at `path` for LRU eviction.
fn note_use(path: &Path, meta: Option<&fs::Metadata>) {
    match meta {
        Some(meta) => touch_if_stale(path, meta),
        None => touch(path),
    }
}

/// Refreshes `path`'s last use unless it is recent already.
fn touch_if_stale(path: &Path, meta: &fs::Metadata) {
    let recent = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age < TOUCH_GRANULARITY);
    if !recent {
        touch(path);
    }
}

/// Compresses `content` as one zstd frame, with a context from a pool
/// shared by all threads (the launcher's helper stores each result on a
/// thread of its own): a new context costs its allocation and the page
/// faults of its workspace, more than compressing a small object.
fn compress(content: &[u8]) -> io::Result<Vec<u8>> {
    const POOLED: usize = 8;
    static POOL: Mutex<Vec<zstd::bulk::Compressor<'static>>> = Mutex::new(Vec::new());
    let pooled = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut compressor = match pooled {
        Some(compressor) => compressor,
        None => zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
    };
    let frame = compressor.compress(content);
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < POOLED {
        pool.push(compressor);
    }
    frame
}

/// The content size a frame's header states, if it states one of at most
/// [`IN_MEMORY_LIMIT`]: such a frame is decompressed in memory.
fn small_frame_content(frame: &[u8]) -> Option<usize> {
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= IN_MEMORY_LIMIT => usize::try_from(size).ok(),
        _ => None,
    }
}

/// Decompresses a zstd frame of at most `capacity` bytes with a
/// decompression context reused by the thread: making one per blob cost
/// more than restoring a small object.
fn decompress(frame: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(frame, capacity)
    })
}

fn is_tmp(path: &Path) -> bool {
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
fn walk(dir: &Path, f: &mut dyn FnMut(PathBuf, fs::Metadata)) -> Result<(), StoreError> {
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

    /// Makes `dir` and its missing parents; in a shared cache each dir
    /// made is group-writable with setgid, whatever the umask.
    pub(crate) fn make_dirs(&self, dir: &Path) -> io::Result<()> {
        // Below the root, through no symlink another writer of the cache
        // planted: nothing is made outside it.
        if dir != self.root.as_path() && dir.starts_with(&self.root) {
            self.make_dirs(&self.root)?;
            let (mode, exact) = if self.shared {
                (super::owner::SHARED_DIR_MODE, true)
            } else {
                (0o777, false)
            };
            if let Some(made) = nofollow::make_dir_beneath(&self.root, dir, mode, exact) {
                return made.map(drop);
            }
        }
        if !self.shared {
            return fs::create_dir_all(dir);
        }
        if fs::symlink_metadata(dir).is_ok() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.make_dirs(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = fs::Permissions::from_mode(super::owner::SHARED_DIR_MODE);
                fs::set_permissions(dir, mode)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes a new file of the cache readable by the group of a shared
    /// cache (temp files are made 0600).
    pub(crate) fn share(&self, file: &File) -> io::Result<()> {
        if self.shared {
            set_mode(file, super::owner::SHARED_FILE_MODE)
        } else {
            Ok(())
        }
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

    fn record_path(&self, ns: Namespace, key: &Digest) -> PathBuf {
        let h = hex(key);
        self.v1
            .join("records")
            .join(ns.dir_name())
            .join(&h[..2])
            .join(&h[2..])
    }

    /// (uncompressed path, compressed path)
    fn blob_paths(&self, digest: &Digest) -> (PathBuf, PathBuf) {
        let h = hex(digest);
        let dir = self.v1.join("blobs").join(&h[..2]);
        (
            dir.join(&h[2..]),
            dir.join(format!("{}{ZSTD_SUFFIX}", &h[2..])),
        )
    }

    /// The stored form of a blob, if any: (path, compressed). The form this
    /// store writes is tried first.
    fn find_blob(&self, digest: &Digest) -> Option<(PathBuf, bool)> {
        let (raw, zst) = self.blob_paths(digest);
        let order = if self.compression {
            [(zst, true), (raw, false)]
        } else {
            [(raw, false), (zst, true)]
        };
        order
            .into_iter()
            .find(|(path, _)| nofollow::is_regular(path))
    }

    /// A temp file in `real_dir` (below the root), created through the
    /// dir's descriptor, reached through no symlink in the cache; missing
    /// dirs (a fresh cache, a concurrent clear) are made.
    fn temp_beneath(&self, real_dir: &Path) -> Result<TempBeneath, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retry = attempt < 3;
            let make_dirs = || {
                self.make_dirs(real_dir)
                    .map_err(io_err(format!("cannot create {}", real_dir.display())))
            };
            let dir = match nofollow::dir_beneath(&self.root, real_dir) {
                Some(Ok(opened)) => Some(opened),
                Some(Err(e)) if e.kind() == io::ErrorKind::NotFound && retry => {
                    make_dirs()?;
                    continue;
                }
                Some(Err(e)) => {
                    return Err(io_err(format!("cannot open {}", real_dir.display()))(e));
                }
                None => None,
            };
            let held = dir.as_ref().map(nofollow::OpenDir::path);
            let made = tempfile::Builder::new()
                .prefix(TMP_PREFIX)
                .tempfile_in(held.as_deref().unwrap_or(real_dir));
            match made {
                Ok(file) => return Ok(TempBeneath { file, dir }),
                Err(e) if e.kind() == io::ErrorKind::NotFound && retry => make_dirs()?,
                Err(e) => {
                    return Err(io_err(format!(
                        "cannot create a temp file in {}",
                        real_dir.display()
                    ))(e));
                }
            }
        }
    }

    /// Writes a file at `dest` via a temp file in its dir and a rename.
    /// `fill` may be called again if the dir vanished (concurrent clear).
    fn write_atomic(
        &self,
        dest: &Path,
        fill: &mut dyn FnMut(&mut File) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let real_dir = dest.parent().unwrap_or(&self.v1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retry = attempt < 3;
            let TempBeneath { mut file, dir } = self.temp_beneath(real_dir)?;
            // Renamed through the same descriptor.
            let target = match (&dir, dest.file_name()) {
                (Some(dir), Some(name)) => dir.path().join(name),
                _ => dest.to_path_buf(),
            };
            fill(file.as_file_mut())?;
            let len = self.finish_temp(file.as_file())?;
            match persist_replacing(file, &target) {
                Ok(()) => {
                    self.note_written(len);
                    return Ok(len);
                }
                Err(e) if e.error.kind() == io::ErrorKind::NotFound && retry => continue,
                Err(e) => {
                    return Err(io_err(format!("cannot rename into {}", dest.display()))(
                        e.error,
                    ));
                }
            }
        }
    }

    /// Gives a written temp file of the cache its mode; its size.
    fn finish_temp(&self, file: &File) -> Result<u64, StoreError> {
        self.share(file)
            .map_err(io_err("cannot set the mode of a temp file in the cache"))?;
        Ok(file
            .metadata()
            .map_err(io_err("cannot stat a temp file in the cache"))?
            .len())
    }

    fn note_written(&self, len: u64) {
        self.bytes_written.fetch_add(len, Ordering::Relaxed);
        self.bytes_unflushed.fetch_add(len, Ordering::Relaxed);
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

    /// Ok(None) if absent; a damaged record is deleted and reported as Corrupt.
    pub fn get_record(&self, ns: Namespace, key: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.record_path(ns, key);
        let mut file = match nofollow::open_regular(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if nofollow::is_not_regular(&e) => {
                return Err(self.corrupt(&path, "not a regular file"));
            }
            Err(e) => return Err(io_err(format!("cannot open {}", path.display()))(e)),
        };
        let mut bytes = Vec::new();
        let limit = (RECORD_HEADER_LEN + MAX_RECORD_PAYLOAD) as u64;
        (&mut file)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        if bytes.len() as u64 > limit {
            return Err(self.corrupt(&path, "larger than a record may be"));
        }
        if bytes.len() < RECORD_HEADER_LEN {
            return Err(self.corrupt(&path, "truncated header"));
        }
        let (header, payload) = bytes.split_at(RECORD_HEADER_LEN);
        if &header[..4] != RECORD_MAGIC {
            return Err(self.corrupt(&path, "bad magic"));
        }
        let version = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if version != RECORD_VERSION {
            return Err(self.corrupt(&path, format!("unknown record version {version}")));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&header[8..16]);
        let len = u64::from_le_bytes(len);
        if len != payload.len() as u64 {
            return Err(self.corrupt(
                &path,
                format!("payload is {} bytes, header says {len}", payload.len()),
            ));
        }
        if blake3::hash(payload).as_bytes() != &header[16..48] {
            return Err(self.corrupt(&path, "checksum mismatch"));
        }
        let fresh = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < TOUCH_GRANULARITY);
        if !fresh {
            touch(&path);
        }
        Ok(Some(payload.to_vec()))
    }

    pub fn put_record(
        &self,
        ns: Namespace,
        key: &Digest,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        if payload.len() > MAX_RECORD_PAYLOAD {
            return Err(StoreError::RecordTooLarge {
                size: payload.len(),
            });
        }
        let path = self.record_path(ns, key);
        let mut bytes = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
        bytes.extend_from_slice(RECORD_MAGIC);
        bytes.extend_from_slice(&RECORD_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(blake3::hash(payload).as_bytes());
        bytes.extend_from_slice(payload);
        self.write_atomic(&path, &mut |file| {
            file.write_all(&bytes)
                .map_err(io_err(format!("cannot write record {}", path.display())))
        })?;
        Ok(())
    }

    /// If the blob is already stored, refreshes its last use and says so.
    /// A blob that a concurrent gc removes between the check and the touch
    /// counts as absent, so the caller stores it again instead of recording
    /// a reference to nothing.
    fn reuse_existing(&self, digest: &Digest) -> bool {
        match self.find_blob(digest) {
            Some((path, _)) => match nofollow::touch(&path) {
                Ok(()) => true,
                Err(e) => e.kind() != io::ErrorKind::NotFound,
            },
            None => false,
        }
    }

    fn blob_dest(&self, digest: &Digest) -> PathBuf {
        let (raw, zst) = self.blob_paths(digest);
        if self.compression { zst } else { raw }
    }

    pub fn put_blob(&self, content: &[u8]) -> Result<Digest, StoreError> {
        let digest = *blake3::hash(content).as_bytes();
        if self.reuse_existing(&digest) {
            return Ok(digest);
        }
        let dest = self.blob_dest(&digest);
        let compressed;
        let bytes = if self.compression {
            compressed = compress(content).map_err(io_err("cannot compress a blob"))?;
            &compressed[..]
        } else {
            content
        };
        self.write_atomic(&dest, &mut |file| {
            file.write_all(bytes)
                .map_err(io_err(format!("cannot write blob {}", dest.display())))
        })?;
        Ok(digest)
    }

    /// Reads `source` (from where it stands) once, hashing it, showing
    /// each piece to `scan`, and writing it in the stored form to a temp
    /// file in the cache; memory stays bounded whatever its size. Err
    /// `Changed` if the file's size changed meanwhile.
    pub fn stage_blob(
        &self,
        source: &File,
        path: &Path,
        scan: &mut dyn FnMut(&[u8]),
    ) -> Result<StagedBlob, StoreError> {
        let read_err = |e| io_err(format!("cannot read {}", path.display()))(e);
        let expected = source.metadata().map_err(read_err)?.len();
        let mut temp = self.temp_beneath(&self.v1.join("blobs"))?;
        let write_err = io_err("cannot write a blob to a temp file in the cache");
        let mut reader = source;
        let copied = if self.compression {
            let mut encoder = zstd::Encoder::new(temp.file.as_file_mut(), ZSTD_LEVEL)
                .map_err(io_err("cannot start zstd"))?;
            // The frame then says its size, which tells a restore whether
            // to decompress in memory.
            encoder
                .set_pledged_src_size(Some(expected))
                .map_err(io_err("cannot start zstd"))?;
            let mut scanning = Scanning {
                inner: &mut encoder,
                scan,
            };
            let copied = copy_hashing(&mut reader, Some(&mut scanning));
            if matches!(copied, Ok((_, size)) if size == expected) {
                encoder.finish().map_err(write_err)?;
            }
            copied
        } else {
            let mut scanning = Scanning {
                inner: temp.file.as_file_mut(),
                scan,
            };
            copy_hashing(&mut reader, Some(&mut scanning))
        };
        // A file that grew past the size zstd was promised fails the
        // write: that is a change too, not a cache failure.
        let changed = || source.metadata().map(|meta| meta.len()).ok() != Some(expected);
        match copied {
            Ok((digest, size)) if size == expected => Ok(StagedBlob { temp, digest, size }),
            Err(CopyFail::Write(_)) if changed() => Err(StoreError::Changed {
                path: path.to_path_buf(),
            }),
            Ok(_) => Err(StoreError::Changed {
                path: path.to_path_buf(),
            }),
            Err(CopyFail::Read(e)) => Err(read_err(e)),
            Err(CopyFail::Write(e)) => {
                Err(io_err("cannot write a blob to a temp file in the cache")(e))
            }
        }
    }

    /// Puts a staged blob under its name (or drops it, when that blob is
    /// stored already).
    pub fn commit_staged(&self, staged: StagedBlob) -> Result<(), StoreError> {
        if self.reuse_existing(&staged.digest) {
            return Ok(());
        }
        let dest = self.blob_dest(&staged.digest);
        let real_dir = dest.parent().unwrap_or(&self.v1);
        let StagedBlob {
            temp: TempBeneath { mut file, dir },
            ..
        } = staged;
        let len = self.finish_temp(file.as_file())?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let opened = match nofollow::dir_beneath(&self.root, real_dir) {
                Some(Ok(opened)) => Some(opened),
                Some(Err(e)) if e.kind() == io::ErrorKind::NotFound && attempt < 3 => {
                    self.make_dirs(real_dir)
                        .map_err(io_err(format!("cannot create {}", real_dir.display())))?;
                    continue;
                }
                Some(Err(e)) => {
                    return Err(io_err(format!("cannot open {}", real_dir.display()))(e));
                }
                None => None,
            };
            let target = match (&opened, dest.file_name()) {
                (Some(opened), Some(name)) => opened.path().join(name),
                _ => dest.clone(),
            };
            match file.persist(&target) {
                Ok(_) => {
                    drop(dir);
                    self.note_written(len);
                    return Ok(());
                }
                Err(e) if e.error.kind() == io::ErrorKind::NotFound && attempt < 3 => {
                    file = e.file;
                }
                Err(e) => {
                    return Err(io_err(format!("cannot rename into {}", dest.display()))(
                        e.error,
                    ));
                }
            }
        }
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.find_blob(digest).is_some()
    }

    /// The content, verified against the digest (a mismatch deletes the blob).
    #[cfg(test)]
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let (path, compressed) = self.find_blob(digest).ok_or_else(|| StoreError::NotFound {
            digest: hex(digest),
        })?;
        let read = nofollow::open_regular(&path).and_then(|mut file| {
            let mut stored = Vec::new();
            file.read_to_end(&mut stored).map(|_| stored)
        });
        let stored = match read {
            Ok(stored) => stored,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    digest: hex(digest),
                });
            }
            Err(e) if nofollow::is_not_regular(&e) => {
                return Err(self.corrupt(&path, "not a regular file"));
            }
            Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
        };
        let content = if compressed {
            zstd::decode_all(&stored[..])
                .map_err(|e| self.corrupt(&path, format!("bad zstd data: {e}")))?
        } else {
            stored
        };
        if blake3::hash(&content).as_bytes() != digest {
            return Err(self.corrupt(&path, "content does not match its digest"));
        }
        touch(&path);
        Ok(content)
    }

    /// Writes the blob to `dest` (atomically: temp file in dest's dir +
    /// rename, so a reader never sees half a file and an existing dest is
    /// replaced), with permission bits `mode` and a fresh mtime, verified: a
    /// blob whose content does not hash to its digest is deleted and
    /// Err(Corrupt) returned, dest untouched. Reflinks when the blob is stored
    /// uncompressed and the fs supports it, else copies; hardlinks only when
    /// `allow_hardlink` and the `hardlink` setting are both on (the caller
    /// knows whether the output may be edited in place). Returns bytes delivered.
    pub fn restore_blob(
        &self,
        digest: &Digest,
        dest: &Path,
        mode: u32,
        allow_hardlink: bool,
    ) -> Result<u64, StoreError> {
        let not_found = || StoreError::NotFound {
            digest: hex(digest),
        };
        let (blob_path, compressed) = self.find_blob(digest).ok_or_else(not_found)?;
        let mut blob = match nofollow::open_regular(&blob_path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) if nofollow::is_not_regular(&e) => {
                return Err(self.corrupt(&blob_path, "not a regular file"));
            }
            Err(e) => return Err(io_err(format!("cannot open {}", blob_path.display()))(e)),
        };
        let blob_meta = blob.metadata().ok();
        let dest_dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let blob_read_err = |e| io_err(format!("cannot read {}", blob_path.display()))(e);

        if !compressed && allow_hardlink && self.hardlink {
            let (actual, size) = match copy_hashing(&mut blob, None) {
                Ok(done) => done,
                Err(CopyFail::Read(e) | CopyFail::Write(e)) => return Err(blob_read_err(e)),
            };
            if actual != *digest {
                return Err(self.corrupt(&blob_path, "content does not match its digest"));
            }
            if self.hardlink_to(&blob, &blob_path, dest, dest_dir, mode)? {
                return Ok(size);
            }
            // Could not link (other fs, modes differ, ...): copy below, from the start.
            blob.seek(io::SeekFrom::Start(0)).map_err(blob_read_err)?;
        }

        let dest_write_err = |e| io_err(format!("cannot write {}", dest.display()))(e);
        let (tmp, size) = if compressed {
            let small = blob_meta
                .as_ref()
                .is_some_and(|meta| meta.len() <= IN_MEMORY_LIMIT);
            let mut stored = Vec::new();
            if small {
                blob.read_to_end(&mut stored).map_err(blob_read_err)?;
                if let Some(capacity) = small_frame_content(&stored) {
                    // Verified in memory before anything is written, so a
                    // new output can be created in place, as the tool
                    // itself would (a rename per file costs a directory
                    // update); an existing one is still replaced through a
                    // temp file and a rename.
                    let content = match decompress(&stored, capacity) {
                        Ok(content) => content,
                        Err(e) => {
                            return Err(self.corrupt(&blob_path, format!("bad zstd data: {e}")));
                        }
                    };
                    if *blake3::hash(&content).as_bytes() != *digest {
                        return Err(self.corrupt(&blob_path, "content does not match its digest"));
                    }
                    self.deliver(&content, dest, dest_dir, mode)?;
                    note_use(&blob_path, blob_meta.as_ref());
                    return Ok(content.len() as u64);
                }
            }
            // Too big to hold: decompressed into a temp file beside the
            // output while hashing, and renamed over it only once the
            // digest matches; a mismatch deletes the temp file.
            let frames: Box<dyn io::BufRead + '_> = if small {
                Box::new(io::Cursor::new(stored))
            } else {
                Box::new(io::BufReader::with_capacity(COPY_BUF, &mut blob))
            };
            let mut decoder = zstd::Decoder::with_buffer(frames)
                .and_then(|mut decoder| decoder.window_log_max(WINDOW_LOG_MAX).map(|()| decoder))
                .map_err(io_err("cannot start zstd"))?;
            let mut tmp = temp_file_in(dest_dir)?;
            let (actual, size) = match copy_hashing(&mut decoder, Some(tmp.as_file_mut())) {
                Ok(done) => done,
                // Undecodable, or unreadable: either way the blob is no use.
                Err(CopyFail::Read(e)) => {
                    drop(decoder);
                    return Err(self.corrupt(&blob_path, format!("bad zstd data: {e}")));
                }
                Err(CopyFail::Write(e)) => return Err(dest_write_err(e)),
            };
            drop(decoder);
            if actual != *digest {
                return Err(self.corrupt(&blob_path, "content does not match its digest"));
            }
            (tmp, size)
        } else {
            let mut tmp = temp_file_in(dest_dir)?;
            let (actual, size) = if reflink(&blob, tmp.as_file()) {
                match copy_hashing(&mut blob, None) {
                    Ok(done) => done,
                    Err(CopyFail::Read(e) | CopyFail::Write(e)) => return Err(blob_read_err(e)),
                }
            } else {
                match copy_hashing(&mut blob, Some(tmp.as_file_mut())) {
                    Ok(done) => done,
                    Err(CopyFail::Read(e)) => return Err(blob_read_err(e)),
                    Err(CopyFail::Write(e)) => return Err(dest_write_err(e)),
                }
            };
            if actual != *digest {
                return Err(self.corrupt(&blob_path, "content does not match its digest"));
            }
            (tmp, size)
        };
        set_mode(tmp.as_file(), mode).map_err(io_err(format!(
            "cannot set the mode of {}",
            tmp.path().display()
        )))?;
        // Whatever the copy method, the output must look newer than its inputs.
        filetime::set_file_handle_times(tmp.as_file(), None, Some(FileTime::now())).map_err(
            io_err(format!("cannot set the mtime of {}", tmp.path().display())),
        )?;
        persist_replacing(tmp, dest)
            .map_err(|e| io_err(format!("cannot rename into {}", dest.display()))(e.error))?;
        note_use(&blob_path, blob_meta.as_ref());
        Ok(size)
    }

    /// Writes verified `content` to `dest` with `mode` and a fresh mtime:
    /// created in place when `dest` does not exist, else through a temp
    /// file renamed over it.
    fn deliver(
        &self,
        content: &[u8],
        dest: &Path,
        dest_dir: &Path,
        mode: u32,
    ) -> Result<(), StoreError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let dest_write_err = |e| io_err(format!("cannot write {}", dest.display()))(e);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(dest)
        {
            Ok(mut file) => {
                // Created with `mode` less the umask, which the caller's
                // mode already excludes: what the tool itself would give.
                if let Err(e) = file.write_all(content) {
                    drop(file);
                    let _ = fs::remove_file(dest);
                    return Err(dest_write_err(e));
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut tmp = temp_file_in(dest_dir)?;
                tmp.as_file_mut()
                    .write_all(content)
                    .map_err(dest_write_err)?;
                set_mode(tmp.as_file(), mode).map_err(dest_write_err)?;
                persist_replacing(tmp, dest).map_err(|e| {
                    io_err(format!("cannot rename into {}", dest.display()))(e.error)
                })?;
                Ok(())
            }
            Err(e) => Err(dest_write_err(e)),
        }
    }

    /// Ok(false) when a link cannot be made and the caller should copy.
    fn hardlink_to(
        &self,
        blob: &File,
        blob_path: &Path,
        dest: &Path,
        dest_dir: &Path,
        mode: u32,
    ) -> Result<bool, StoreError> {
        use std::os::unix::fs::MetadataExt;
        let meta = blob
            .metadata()
            .map_err(io_err(format!("cannot stat {}", blob_path.display())))?;
        if let Ok(existing) = fs::symlink_metadata(dest)
            && existing.dev() == meta.dev()
            && existing.ino() == meta.ino()
        {
            // Already delivered: rename onto itself would leave the temp behind.
            if meta.mode() & 0o7777 != mode & 0o7777 && set_mode(blob, mode).is_err() {
                return Ok(false);
            }
            touch(dest);
            return Ok(true);
        }
        // Linked only to a blob of this user's: another's could be changed
        // under the output by its owner.
        // SAFETY: geteuid cannot fail and has no side effects.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Ok(false);
        }
        if meta.mode() & 0o7777 != mode & 0o7777 {
            // The mode is shared by every link: only change it if no output uses the blob.
            if meta.nlink() > 1 || set_mode(blob, mode).is_err() {
                return Ok(false);
            }
        }
        let linked = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .make_in(dest_dir, |tmp| fs::hard_link(blob_path, tmp));
        let Ok(linked) = linked else {
            return Ok(false);
        };
        // Linked by name: the name must still be the verified blob (a
        // symlink swapped in since would make the output a symlink).
        let same = fs::symlink_metadata(linked.path()).is_ok_and(|link| {
            link.file_type().is_file() && link.dev() == meta.dev() && link.ino() == meta.ino()
        });
        if !same {
            return Ok(false);
        }
        linked
            .persist(dest)
            .map_err(|e| io_err(format!("cannot rename into {}", dest.display()))(e.error))?;
        touch(dest);
        Ok(true)
    }

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

fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::sync::Arc;

    #[test]
    fn persist_replacing_replaces_creates_and_refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        let temp_with = |text: &str| {
            let mut tmp = temp_file_in(dir.path()).unwrap();
            tmp.write_all(text.as_bytes()).unwrap();
            tmp
        };
        let dest = dir.path().join("out.o");
        persist_replacing(temp_with("first"), &dest).unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "first");
        let old_inode = fs::metadata(&dest).unwrap().ino();
        persist_replacing(temp_with("second"), &dest).unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "second");
        assert_ne!(fs::metadata(&dest).unwrap().ino(), old_inode);
        let subdir = dir.path().join("sub");
        fs::create_dir(&subdir).unwrap();
        assert!(persist_replacing(temp_with("third"), &subdir).is_err());
        assert!(subdir.is_dir());
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["out.o", "sub"], "no temp file is left behind");
    }

    fn settings(dir: &Path, compression: bool, hardlink: bool) -> Settings {
        Settings {
            dir: dir.to_path_buf(),
            max_size: super::super::config::DEFAULT_MAX_SIZE,
            compression,
            path_remap: false,
            disable: false,
            hardlink,
            shared: false,
            config_file: None,
        }
    }

    fn store(dir: &Path, compression: bool) -> Store {
        Store::open(&settings(dir, compression, false)).unwrap()
    }

    fn blob_files(root: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        walk(&root.join("v1/blobs"), &mut |p, _| files.push(p)).unwrap();
        files
    }

    fn flip_byte(path: &Path, at: usize) {
        let mut bytes = fs::read(path).unwrap();
        let at = at.min(bytes.len() - 1);
        bytes[at] ^= 0x55;
        fs::write(path, bytes).unwrap();
    }

    /// Root ignores permission bits, so a read-only dir only stops non-root users.
    fn writes_blocked(dir: &Path) -> bool {
        fs::write(dir.join("probe"), b"x").is_err()
    }

    fn set_age(path: &Path, secs_ago: i64) {
        let t = FileTime::from_unix_time(FileTime::now().unix_seconds() - secs_ago, 0);
        filetime::set_file_mtime(path, t).unwrap();
    }

    #[test]
    fn open_costs_nothing_and_an_absent_cache_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("not/yet");
        let s = store(&root, true);
        assert!(!root.exists(), "open must not create anything");
        assert_eq!(s.usage().unwrap(), Usage::default());
        assert!(!s.has_blob(&[1; 32]));
        assert_eq!(s.get_record(Namespace::Result, &[1; 32]).unwrap(), None);
        assert!(matches!(
            s.read_blob(&[1; 32]),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.gc(0).unwrap(), GcReport::default());
        s.clear().unwrap();
        assert!(!root.exists());
    }

    #[test]
    fn record_round_trip_per_namespace() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        let key = [7u8; 32];
        s.put_record(Namespace::Result, &key, b"result payload")
            .unwrap();
        s.put_record(Namespace::Manifest, &key, b"").unwrap();
        assert_eq!(
            s.get_record(Namespace::Result, &key).unwrap().as_deref(),
            Some(&b"result payload"[..])
        );
        assert_eq!(
            s.get_record(Namespace::Manifest, &key).unwrap().as_deref(),
            Some(&b""[..])
        );
        let path = tmp
            .path()
            .join("v1/records/results/07")
            .join(&hex(&key)[2..]);
        assert!(path.is_file(), "layout must match the module doc");
        // Overwrite replaces.
        s.put_record(Namespace::Result, &key, b"second").unwrap();
        assert_eq!(
            s.get_record(Namespace::Result, &key).unwrap().as_deref(),
            Some(&b"second"[..])
        );
    }

    #[test]
    fn truncated_or_flipped_record_is_corrupt_and_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        let key = [9u8; 32];
        let path = s.record_path(Namespace::Result, &key);
        let payload = vec![42u8; 300];

        s.put_record(Namespace::Result, &key, &payload).unwrap();
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 10]).unwrap();
        let err = s.get_record(Namespace::Result, &key).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(!path.exists());
        assert_eq!(s.get_record(Namespace::Result, &key).unwrap(), None);

        s.put_record(Namespace::Result, &key, &payload).unwrap();
        fs::write(&path, &full[..20]).unwrap();
        assert!(matches!(
            s.get_record(Namespace::Result, &key),
            Err(StoreError::Corrupt { .. })
        ));

        s.put_record(Namespace::Result, &key, &payload).unwrap();
        flip_byte(&path, 100);
        let err = s.get_record(Namespace::Result, &key).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn an_oversized_record_is_neither_read_whole_nor_written() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        let key = [7u8; 32];
        let path = s.record_path(Namespace::Result, &key);
        s.put_record(Namespace::Result, &key, b"small").unwrap();
        // Grown sparse far past the limit, as a planted file could be.
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(16 << 30).unwrap();
        let err = s.get_record(Namespace::Result, &key).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(!path.exists());
        let huge = vec![0u8; MAX_RECORD_PAYLOAD + 1];
        assert!(matches!(
            s.put_record(Namespace::Result, &key, &huge),
            Err(StoreError::RecordTooLarge { .. })
        ));
        assert!(!path.exists());
    }

    #[test]
    fn get_record_refreshes_last_use() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        s.put_record(Namespace::Result, &[1; 32], b"x").unwrap();
        let path = s.record_path(Namespace::Result, &[1; 32]);
        set_age(&path, 10_000);
        s.get_record(Namespace::Result, &[1; 32]).unwrap();
        let age = FileTime::now().unix_seconds()
            - FileTime::from_last_modification_time(&fs::metadata(&path).unwrap()).unix_seconds();
        assert!(age < 100, "mtime not refreshed: {age}s old");
    }

    #[test]
    fn blobs_round_trip_and_read_across_compression_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let packed = store(tmp.path(), true);
        let plain = store(tmp.path(), false);

        let d1 = packed.put_blob(&content).unwrap();
        assert_eq!(d1, *blake3::hash(&content).as_bytes());
        let files = blob_files(tmp.path());
        assert_eq!(files.len(), 1);
        assert!(files[0].to_str().unwrap().ends_with(".zst"));
        assert!(fs::metadata(&files[0]).unwrap().len() < content.len() as u64 / 4);
        assert_eq!(
            packed.bytes_written(),
            fs::metadata(&files[0]).unwrap().len()
        );
        assert_eq!(plain.read_blob(&d1).unwrap(), content);

        let other = b"stored without compression".to_vec();
        let d2 = plain.put_blob(&other).unwrap();
        let (raw, _) = plain.blob_paths(&d2);
        assert_eq!(fs::read(&raw).unwrap(), other, "raw blobs are the bytes");
        assert!(packed.has_blob(&d2));
        assert_eq!(packed.read_blob(&d2).unwrap(), other);
    }

    #[test]
    fn staged_blobs_are_stored_in_one_pass_and_existing_ones_not_rewritten() {
        for compression in [false, true] {
            staged_case(compression);
        }
    }

    /// Temp files anywhere under `dir`.
    fn temps_under(dir: &Path) -> Vec<PathBuf> {
        let mut temps = Vec::new();
        walk(dir, &mut |path, _| {
            if is_tmp(&path) {
                temps.push(path);
            }
        })
        .unwrap();
        temps
    }

    fn stage(s: &Store, path: &Path) -> (StagedBlob, Vec<u8>) {
        let mut scanned = Vec::new();
        let file = File::open(path).unwrap();
        let staged = s
            .stage_blob(&file, path, &mut |piece| scanned.extend_from_slice(piece))
            .unwrap();
        (staged, scanned)
    }

    fn staged_case(compression: bool) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        let s = store(&root, compression);
        let src = tmp.path().join("a.o");
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &content).unwrap();
        let (staged, scanned) = stage(&s, &src);
        assert_eq!(scanned, content, "every piece is shown to the scan");
        assert_eq!(staged.size(), 300_000);
        let digest = *staged.digest();
        assert_eq!(digest, *blake3::hash(&content).as_bytes());
        assert_eq!(s.bytes_written(), 0, "nothing is stored before the commit");
        s.commit_staged(staged).unwrap();
        let written = s.bytes_written();
        assert!(written > 0);
        let (path, compressed) = s.find_blob(&digest).unwrap();
        assert_eq!(compressed, compression);
        assert_eq!(s.read_blob(&digest).unwrap(), content);
        let dest = tmp.path().join("restored.o");
        s.restore_blob(&digest, &dest, 0o644, false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), content);

        set_age(&path, 10_000);
        let (again, _) = stage(&s, &src);
        s.commit_staged(again).unwrap();
        assert_eq!(
            s.bytes_written(),
            written,
            "an existing blob is not rewritten"
        );
        let mtime = FileTime::from_last_modification_time(&fs::metadata(&path).unwrap());
        assert!(FileTime::now().unix_seconds() - mtime.unix_seconds() < 100);

        // A staged blob never committed leaves nothing behind.
        fs::write(&src, b"other").unwrap();
        let (dropped, _) = stage(&s, &src);
        let other = *dropped.digest();
        drop(dropped);
        assert!(!s.has_blob(&other));
        assert_eq!(temps_under(&root), Vec::<PathBuf>::new());
    }

    /// `len` bytes no compressor shrinks.
    fn incompressible(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn big_blobs_are_restored_in_a_stream_and_a_damaged_one_leaves_the_output_alone() {
        let big = IN_MEMORY_LIMIT as usize + 4096;
        // Compressed to a small file, to a big one, and not compressed.
        for (compression, content) in [
            (true, vec![7u8; big]),
            (true, incompressible(big)),
            (false, incompressible(big)),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let s = store(&tmp.path().join("cache"), compression);
            let src = tmp.path().join("big.o");
            fs::write(&src, &content).unwrap();
            let (staged, _) = stage(&s, &src);
            let digest = *staged.digest();
            s.commit_staged(staged).unwrap();
            let dest = tmp.path().join("out.o");
            fs::write(&dest, b"old").unwrap();
            assert_eq!(
                s.restore_blob(&digest, &dest, 0o644, false).unwrap(),
                big as u64
            );
            assert!(fs::read(&dest).unwrap() == content);

            let path = s.find_blob(&digest).unwrap().0;
            let len = fs::metadata(&path).unwrap().len() as usize;
            flip_byte(&path, len - 2);
            fs::write(&dest, b"old").unwrap();
            let err = s.restore_blob(&digest, &dest, 0o644, false).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
            assert!(!path.exists(), "a damaged blob is deleted");
            assert_eq!(fs::read(&dest).unwrap(), b"old");
            assert_eq!(temps_under(tmp.path()), Vec::<PathBuf>::new());
        }
    }

    #[test]
    fn a_frame_without_its_size_is_streamed_and_one_asking_a_huge_window_is_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(&tmp.path().join("cache"), true);
        let content = b"int x;\n".repeat(1000);
        let digest = *blake3::hash(&content).as_bytes();
        let frame = |window_log: u32| {
            let mut encoder = zstd::Encoder::new(Vec::new(), ZSTD_LEVEL).unwrap();
            encoder.include_contentsize(false).unwrap();
            encoder.window_log(window_log).unwrap();
            encoder.write_all(&content).unwrap();
            encoder.finish().unwrap()
        };
        let (_, path) = s.blob_paths(&digest);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let dest = tmp.path().join("out.o");
        fs::write(&path, frame(20)).unwrap();
        s.restore_blob(&digest, &dest, 0o644, false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), content);

        fs::write(&path, frame(WINDOW_LOG_MAX + 2)).unwrap();
        fs::write(&dest, b"old").unwrap();
        let err = s.restore_blob(&digest, &dest, 0o644, false).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(fs::read(&dest).unwrap(), b"old");
    }

    #[test]
    fn corrupt_blob_is_detected_and_deleted() {
        for compression in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let s = store(&tmp.path().join("cache"), compression);
            let content = b"int main(void) { return 0; }\n".repeat(100);
            let digest = s.put_blob(&content).unwrap();
            let path = s.find_blob(&digest).unwrap().0;
            flip_byte(&path, 40);
            let err = s.read_blob(&digest).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
            assert!(!path.exists(), "corrupt blob must be deleted");
            assert!(!s.has_blob(&digest));

            // restore_blob: same, and dest keeps its old content.
            s.put_blob(&content).unwrap();
            flip_byte(&path, 40);
            let dest = tmp.path().join("out.o");
            fs::write(&dest, b"old").unwrap();
            let err = s.restore_blob(&digest, &dest, 0o644, false).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
            assert!(!path.exists());
            assert_eq!(fs::read(&dest).unwrap(), b"old");
            let leftovers: Vec<_> = fs::read_dir(tmp.path())
                .unwrap()
                .flatten()
                .filter(|e| is_tmp(&e.path()))
                .collect();
            assert!(leftovers.is_empty(), "temp file left: {leftovers:?}");
        }
    }

    #[test]
    fn restore_replaces_dest_with_mode_and_fresh_mtime() {
        for compression in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let s = store(&tmp.path().join("cache"), compression);
            let content = vec![0xabu8; 200_000];
            let digest = s.put_blob(&content).unwrap();
            let dest = tmp.path().join("prog");
            fs::write(&dest, b"previous").unwrap();
            set_age(&dest, 10_000);
            let n = s.restore_blob(&digest, &dest, 0o755, true).unwrap();
            assert_eq!(n, 200_000);
            assert_eq!(fs::read(&dest).unwrap(), content);
            let meta = fs::metadata(&dest).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
            assert!(FileTime::now().unix_seconds() - meta.mtime() < 100);
            // The hardlink setting is off: never the blob's inode.
            let blob = fs::metadata(s.find_blob(&digest).unwrap().0).unwrap();
            assert_ne!(blob.ino(), meta.ino());

            assert!(matches!(
                s.restore_blob(&[0; 32], &dest, 0o644, false),
                Err(StoreError::NotFound { .. })
            ));
            assert_eq!(fs::read(&dest).unwrap(), content);
        }
    }

    #[test]
    fn hardlink_only_when_both_allowed() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(&settings(&tmp.path().join("cache"), false, true)).unwrap();
        let digest = s.put_blob(b"linked content").unwrap();
        let blob = s.find_blob(&digest).unwrap().0;

        let copied = tmp.path().join("copied");
        s.restore_blob(&digest, &copied, 0o644, false).unwrap();
        assert_ne!(
            fs::metadata(&copied).unwrap().ino(),
            fs::metadata(&blob).unwrap().ino()
        );

        let linked = tmp.path().join("linked");
        s.restore_blob(&digest, &linked, 0o644, true).unwrap();
        let meta = fs::metadata(&linked).unwrap();
        assert_eq!(meta.ino(), fs::metadata(&blob).unwrap().ino());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
        assert_eq!(fs::read(&linked).unwrap(), b"linked content");
        // Restoring onto itself works and leaves no temp behind.
        s.restore_blob(&digest, &linked, 0o644, true).unwrap();
        // A second link with another mode cannot share the inode: copied.
        let exe = tmp.path().join("exe");
        s.restore_blob(&digest, &exe, 0o755, true).unwrap();
        let exe_meta = fs::metadata(&exe).unwrap();
        assert_ne!(exe_meta.ino(), meta.ino());
        assert_eq!(exe_meta.permissions().mode() & 0o7777, 0o755);
        let temps = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| is_tmp(&e.path()))
            .count();
        assert_eq!(temps, 0);
    }

    #[test]
    fn concurrent_writers_of_same_and_different_blobs() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Arc::new(store(tmp.path(), true));
        let shared = vec![5u8; 300_000];
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let s = Arc::clone(&s);
                let shared = shared.clone();
                std::thread::spawn(move || {
                    for round in 0..20u8 {
                        let d = s.put_blob(&shared).unwrap();
                        assert_eq!(s.read_blob(&d).unwrap(), shared);
                        let own = vec![t, round, 1, 2, 3];
                        let d = s.put_blob(&own).unwrap();
                        assert_eq!(s.read_blob(&d).unwrap(), own);
                        s.put_record(Namespace::Result, &[round; 32], &[t; 64])
                            .unwrap();
                        let rec = s.get_record(Namespace::Result, &[round; 32]).unwrap();
                        assert_eq!(rec.map(|r| r.len()), Some(64));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(blob_files(tmp.path()).len(), 1 + 8 * 20);
        let usage = s.usage().unwrap();
        assert_eq!(usage.files, 1 + 8 * 20 + 20, "no temp file left behind");
    }

    #[test]
    fn a_dir_deleted_mid_use_is_recreated() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        s.put_blob(b"one").unwrap();
        fs::remove_dir_all(tmp.path().join("v1")).unwrap();
        let d = s.put_blob(b"two").unwrap();
        assert_eq!(s.read_blob(&d).unwrap(), b"two");
    }

    #[test]
    fn read_only_root_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o555)).unwrap();
        let s = store(&root, true);
        let blocked = writes_blocked(&root);
        let put = s.put_blob(b"content");
        let rec = s.put_record(Namespace::Result, &[0; 32], b"r");
        if blocked {
            assert!(matches!(put, Err(StoreError::Io { .. })), "{put:?}");
            assert!(matches!(rec, Err(StoreError::Io { .. })), "{rec:?}");
        }
        // else: running as root, where 0555 does not stop writes; the calls
        // above still must not panic, which is all that can be checked.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn restore_into_a_missing_dir_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(&tmp.path().join("cache"), false);
        let d = s.put_blob(b"x").unwrap();
        let err = s
            .restore_blob(&d, &tmp.path().join("no/such/dir/out.o"), 0o644, false)
            .unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err}");
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }

    #[test]
    fn gc_evicts_least_recently_used_first_down_to_90_percent() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), false);
        // Ten 1000-byte blobs, blob i last used i*100 s after blob 0.
        let digests: Vec<Digest> = (0..10u8)
            .map(|i| {
                let d = s.put_blob(&[i; 1000]).unwrap();
                set_age(&s.find_blob(&d).unwrap().0, 5000 - i64::from(i) * 100);
                d
            })
            .collect();
        // Using blob 0 makes it the most recent.
        s.read_blob(&digests[0]).unwrap();
        let stale = tmp
            .path()
            .join("v1/blobs")
            .join(format!("{TMP_PREFIX}dead"));
        fs::write(&stale, b"left by a killed process").unwrap();
        set_age(&stale, 7200);
        let fresh = tmp
            .path()
            .join("v1/blobs")
            .join(format!("{TMP_PREFIX}live"));
        fs::write(&fresh, b"").unwrap();

        let report = s.gc(6000).unwrap();
        assert_eq!(report.stale_temps_removed, 1);
        assert!(!stale.exists() && fresh.exists());
        assert_eq!(report.files_removed, 5);
        assert_eq!(report.bytes_removed, 5000);
        assert_eq!(report.bytes_remaining, 5000);
        assert!(s.usage().unwrap().bytes <= 5400);
        for (i, d) in digests.iter().enumerate() {
            let kept = s.has_blob(d);
            let expected = i == 0 || i >= 6;
            assert_eq!(kept, expected, "blob {i}");
        }
        // Under the limit: nothing more to do.
        assert_eq!(s.gc(6000).unwrap().files_removed, 0);
        assert_eq!(
            s.gc(0).unwrap().files_remaining,
            1,
            "only the live temp stays"
        );
    }

    #[test]
    fn gc_removes_an_interrupted_clear_left_at_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        let dead = tmp.path().join(format!("{TMP_PREFIX}clear-1-2"));
        fs::create_dir_all(dead.join("blobs/ab")).unwrap();
        fs::write(dead.join("blobs/ab/cd"), b"x").unwrap();
        set_age(&dead, 7200);
        let young = tmp.path().join(format!("{TMP_PREFIX}clear-3-4"));
        fs::create_dir(&young).unwrap();
        let report = s.gc(1000).unwrap();
        assert_eq!(report.stale_temps_removed, 1);
        assert!(!dead.exists() && young.exists());
    }

    #[test]
    fn clear_keeps_settings_file_and_store_stays_usable() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), true);
        fs::write(tmp.path().join("zccache.toml"), "compression = true\n").unwrap();
        let d = s.put_blob(b"soon gone").unwrap();
        s.put_record(Namespace::Manifest, &[3; 32], b"m").unwrap();
        s.clear().unwrap();
        assert!(!s.has_blob(&d));
        assert_eq!(s.get_record(Namespace::Manifest, &[3; 32]).unwrap(), None);
        assert_eq!(s.usage().unwrap(), Usage::default());
        assert!(tmp.path().join("zccache.toml").exists());
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(TMP_PREFIX))
            .collect();
        assert!(names.is_empty(), "{names:?}");
        s.put_blob(b"after").unwrap();
    }
}
