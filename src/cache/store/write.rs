//! Writing into the cache: dirs made beneath the root through no planted
//! symlink, temp files made through their dir's descriptor, and the
//! atomic rename that puts a finished file under its name.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use std::sync::atomic::Ordering;

use super::{Store, StoreError, TMP_PREFIX, io_err};
use crate::cache::nofollow;

/// A temp file made through its dir's descriptor; the dir is held open
/// for as long as the file's name goes through it.
pub(super) struct TempBeneath {
    // Dropped (unlinked by name) before the dir is closed.
    pub(super) file: tempfile::NamedTempFile,
    pub(super) dir: Option<nofollow::OpenDir>,
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

pub(super) fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
}

impl Store {
    /// Makes `dir` and its missing parents; in a shared cache each dir
    /// made is group-writable with setgid, whatever the umask.
    pub(crate) fn make_dirs(&self, dir: &Path) -> io::Result<()> {
        // Below the root, through no symlink another writer of the cache
        // planted: nothing is made outside it.
        if dir != self.root.as_path() && dir.starts_with(&self.root) {
            self.make_dirs(&self.root)?;
            let (mode, exact) = if self.shared {
                (crate::cache::owner::SHARED_DIR_MODE, true)
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
                let mode = fs::Permissions::from_mode(crate::cache::owner::SHARED_DIR_MODE);
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
            set_mode(file, crate::cache::owner::SHARED_FILE_MODE)
        } else {
            Ok(())
        }
    }

    /// A temp file in `real_dir` (below the root), created through the
    /// dir's descriptor, reached through no symlink in the cache; missing
    /// dirs (a fresh cache, a concurrent clear) are made.
    pub(super) fn temp_beneath(&self, real_dir: &Path) -> Result<TempBeneath, StoreError> {
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
    pub(super) fn write_atomic(
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
    pub(super) fn finish_temp(&self, file: &File) -> Result<u64, StoreError> {
        self.share(file)
            .map_err(io_err("cannot set the mode of a temp file in the cache"))?;
        Ok(file
            .metadata()
            .map_err(io_err("cannot stat a temp file in the cache"))?
            .len())
    }

    pub(super) fn note_written(&self, len: u64) {
        self.bytes_written.fetch_add(len, Ordering::Relaxed);
        self.bytes_unflushed.fetch_add(len, Ordering::Relaxed);
    }
}
