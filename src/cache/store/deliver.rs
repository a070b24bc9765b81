//! Delivery of a blob to a step's output: verified before it takes the
//! output's name, by hardlink, reflink, copy or decompression, with the
//! mode asked and a fresh mtime; refreshes the blob's last use for gc.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::time::SystemTime;

use filetime::FileTime;

use super::codec::{COPY_BUF, CopyFail, copy_hashing, decompress, small_frame_content};
use super::write::{persist_replacing, set_mode};
use super::{
    Digest, IN_MEMORY_LIMIT, Store, StoreError, TMP_PREFIX, TOUCH_GRANULARITY, hex, io_err, touch,
};
use crate::cache::nofollow;

/// The largest zstd window a streamed restore accepts (16 MiB): level 1
/// frames use 512 KiB, and a crafted frame asking for more is damage, not
/// a reason to allocate its window.
pub(super) const WINDOW_LOG_MAX: u32 = 24;

/// How a compressed blob came out of [`Store::decode_to_temp`].
enum Decoded {
    /// Small: verified in memory and written to the output already.
    Delivered(u64),
    /// Decompressed into a temp file beside the output, verified.
    Staged(tempfile::NamedTempFile, u64),
}

/// The dir an output is delivered into (its temp files go there too).
fn dest_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
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

/// A temp file beside an output, to be renamed over it.
pub(super) fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile, StoreError> {
    tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io_err(format!(
            "cannot create a temp file in {}",
            dir.display()
        )))
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

impl Store {
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
        let dest_dir = dest_dir(dest);
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

        let (tmp, size) = if compressed {
            match self.decode_to_temp(
                &mut blob,
                &blob_path,
                blob_meta.as_ref(),
                digest,
                dest,
                mode,
            )? {
                Decoded::Delivered(size) => {
                    note_use(&blob_path, blob_meta.as_ref());
                    return Ok(size);
                }
                Decoded::Staged(tmp, size) => (tmp, size),
            }
        } else {
            self.copy_to_temp(&mut blob, &blob_path, digest, dest)?
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

    /// A compressed blob, verified: delivered straight from memory when
    /// small, else decompressed into a temp file beside `dest` to be
    /// renamed over it.
    fn decode_to_temp(
        &self,
        blob: &mut File,
        blob_path: &Path,
        blob_meta: Option<&fs::Metadata>,
        digest: &Digest,
        dest: &Path,
        mode: u32,
    ) -> Result<Decoded, StoreError> {
        let dest_dir = dest_dir(dest);
        let blob_read_err = |e| io_err(format!("cannot read {}", blob_path.display()))(e);
        let dest_write_err = |e| io_err(format!("cannot write {}", dest.display()))(e);
        let small = blob_meta.is_some_and(|meta| meta.len() <= IN_MEMORY_LIMIT);
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
                        return Err(self.corrupt(blob_path, format!("bad zstd data: {e}")));
                    }
                };
                if *blake3::hash(&content).as_bytes() != *digest {
                    return Err(self.corrupt(blob_path, "content does not match its digest"));
                }
                self.deliver(&content, dest, dest_dir, mode)?;
                return Ok(Decoded::Delivered(content.len() as u64));
            }
        }
        // Too big to hold: decompressed into a temp file beside the
        // output while hashing, and renamed over it only once the
        // digest matches; a mismatch deletes the temp file.
        let frames: Box<dyn io::BufRead + '_> = if small {
            Box::new(io::Cursor::new(stored))
        } else {
            Box::new(io::BufReader::with_capacity(COPY_BUF, blob))
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
                return Err(self.corrupt(blob_path, format!("bad zstd data: {e}")));
            }
            Err(CopyFail::Write(e)) => return Err(dest_write_err(e)),
        };
        drop(decoder);
        if actual != *digest {
            return Err(self.corrupt(blob_path, "content does not match its digest"));
        }
        Ok(Decoded::Staged(tmp, size))
    }

    /// An uncompressed blob, verified, reflinked or copied into a temp
    /// file beside `dest` to be renamed over it.
    fn copy_to_temp(
        &self,
        blob: &mut File,
        blob_path: &Path,
        digest: &Digest,
        dest: &Path,
    ) -> Result<(tempfile::NamedTempFile, u64), StoreError> {
        let dest_dir = dest_dir(dest);
        let blob_read_err = |e| io_err(format!("cannot read {}", blob_path.display()))(e);
        let dest_write_err = |e| io_err(format!("cannot write {}", dest.display()))(e);
        let mut tmp = temp_file_in(dest_dir)?;
        let (actual, size) = if reflink(blob, tmp.as_file()) {
            match copy_hashing(blob, None) {
                Ok(done) => done,
                Err(CopyFail::Read(e) | CopyFail::Write(e)) => return Err(blob_read_err(e)),
            }
        } else {
            match copy_hashing(blob, Some(tmp.as_file_mut())) {
                Ok(done) => done,
                Err(CopyFail::Read(e)) => return Err(blob_read_err(e)),
                Err(CopyFail::Write(e)) => return Err(dest_write_err(e)),
            }
        };
        if actual != *digest {
            return Err(self.corrupt(blob_path, "content does not match its digest"));
        }
        Ok((tmp, size))
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
}
