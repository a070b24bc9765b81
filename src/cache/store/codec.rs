//! The stored form's byte streams: zstd frames (pooled contexts, since a
//! new one costs more than compressing a small object) and copies that
//! hash what passes through, so every read is verified in the same pass.

use std::io::{self, Read, Write};
use std::sync::Mutex;

use super::{Digest, IN_MEMORY_LIMIT};

pub(super) const ZSTD_LEVEL: i32 = 1;
pub(super) const COPY_BUF: usize = 128 * 1024;

/// Why a streaming copy stopped: the caller decides whether a read failure
/// means corruption (decoding a blob) or plain I/O trouble.
pub(super) enum CopyFail {
    Read(io::Error),
    Write(io::Error),
}

/// Streams `reader` into `writer` (if any), hashing what passes through.
pub(super) fn copy_hashing(
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
pub(super) struct Scanning<'a, W: Write> {
    pub(super) inner: W,
    pub(super) scan: &'a mut dyn FnMut(&[u8]),
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

/// Compresses `content` as one zstd frame, with a context from a pool
/// shared by all threads (the launcher's helper stores each result on a
/// thread of its own): a new context costs its allocation and the page
/// faults of its workspace, more than compressing a small object.
pub(super) fn compress(content: &[u8]) -> io::Result<Vec<u8>> {
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
pub(super) fn small_frame_content(frame: &[u8]) -> Option<usize> {
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= IN_MEMORY_LIMIT => usize::try_from(size).ok(),
        _ => None,
    }
}

/// Decompresses a zstd frame of at most `capacity` bytes with a
/// decompression context reused by the thread: making one per blob cost
/// more than restoring a small object.
pub(super) fn decompress(frame: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
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
