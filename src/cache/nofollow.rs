//! Opening files under the cache dir without following a symlink planted
//! there: whoever else can write the cache (a shared cache, a cache dir
//! another user made) could otherwise point a record, blob, lock or
//! statistics file anywhere, and make this process read, link or create
//! files outside the cache with its own rights.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Opens `path` for reading only if it is a regular file: a symlink (as
/// the last component), FIFO, device or directory is an `InvalidData`
/// error, never opened through. Non-blocking open, so a FIFO cannot hang
/// the caller before it is refused.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(refuse_symlink)?;
    require_regular(file)
}

/// Opens (creating it if missing, `mode` less the umask) the file `path`
/// for a lock or for writing in place; a symlink or anything but a regular
/// file there is refused.
pub fn open_or_create(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(refuse_symlink)?;
    require_regular(file)
}

/// `file` if it is a regular file.
pub fn require_regular(file: File) -> io::Result<File> {
    if file.metadata()?.file_type().is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ))
    }
}

/// ELOOP from `O_NOFOLLOW` (a symlink) as the error a non-regular file gives.
fn refuse_symlink(err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(io::ErrorKind::InvalidData, "a symlink, not a regular file")
    } else {
        err
    }
}

/// Whether `err` says the file was there but not a regular file.
pub fn is_not_regular(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::InvalidData
}

/// Sets `path`'s modification time to now, leaving its access time, on the
/// path itself: a symlink there gets the new time, never its target.
pub fn touch(path: &Path) -> io::Result<()> {
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: a NUL-terminated path and two timespecs, only read.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens the directory `dir`, which is below `root`, through no symlink
/// below `root` (each component opened with `O_NOFOLLOW`), and gives the
/// path that reaches it through the open descriptor: whoever can write
/// the cache cannot swap a dir on the way for a symlink to make this
/// process create files elsewhere. The root itself is the user's choice
/// and may be a symlink. `None` when `dir` is not below `root`.
pub fn dir_beneath(root: &Path, dir: &Path) -> Option<io::Result<OpenDir>> {
    walk_beneath(root, dir, None)
}

/// [`dir_beneath`], making each missing dir on the way with `mode`
/// (narrowed by the umask unless `exact`), so no dir is made through a
/// symlink either.
pub fn make_dir_beneath(
    root: &Path,
    dir: &Path,
    mode: u32,
    exact: bool,
) -> Option<io::Result<OpenDir>> {
    walk_beneath(root, dir, Some((mode, exact)))
}

fn walk_beneath(root: &Path, dir: &Path, make: Option<(u32, bool)>) -> Option<io::Result<OpenDir>> {
    use std::os::unix::ffi::OsStrExt as _;
    let rest = dir.strip_prefix(root).ok()?;
    let open = || -> io::Result<OpenDir> {
        let mut current: File = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(root)?;
        for part in rest.components() {
            let std::path::Component::Normal(name) = part else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            let name = std::ffi::CString::new(name.as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let parent = std::os::fd::AsRawFd::as_raw_fd(&current);
            let open_child = || {
                // SAFETY: a NUL-terminated name relative to a dir fd we
                // own; the result is owned right away.
                unsafe {
                    libc::openat(
                        parent,
                        name.as_ptr(),
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    )
                }
            };
            let mut fd = open_child();
            let mut made = false;
            if let Some((mode, _)) = make
                && fd < 0
                && io::Error::last_os_error().kind() == io::ErrorKind::NotFound
            {
                // SAFETY: as above; mkdirat makes a dir in the held parent
                // and follows nothing.
                if unsafe { libc::mkdirat(parent, name.as_ptr(), mode as libc::mode_t) } == 0 {
                    made = true;
                } else if io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
                    return Err(io::Error::last_os_error());
                }
                fd = open_child();
            }
            if fd < 0 {
                return Err(refuse_symlink(io::Error::last_os_error()));
            }
            // SAFETY: a fresh descriptor nobody else owns.
            current = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
            if let Some((mode, true)) = make
                && made
            {
                use std::os::unix::fs::PermissionsExt as _;
                current.set_permissions(fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(OpenDir(current))
    };
    Some(open())
}

/// A directory held open (see [`dir_beneath`]).
pub struct OpenDir(File);

impl OpenDir {
    /// The dir, reached through its descriptor.
    pub fn path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&self.0)
        ))
    }
}

/// Whether `path` is a regular file (not followed if a symlink).
pub fn is_regular(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_fifos_and_dirs_are_refused_regular_files_opened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(open_regular(&file).is_ok());
        assert!(is_not_regular(&open_regular(&link).unwrap_err()));
        assert!(is_not_regular(&open_regular(dir.path()).unwrap_err()));
        let fifo = dir.path().join("p");
        let name = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(is_not_regular(&open_regular(&fifo).unwrap_err()));
        let target = dir.path().join("created-through-link");
        let planted = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        assert!(open_or_create(&planted, 0o600).is_err());
        assert!(!target.exists(), "created through a symlink");
        assert!(open_or_create(&dir.path().join("new"), 0o600).is_ok());
    }

    #[test]
    fn a_dir_beneath_the_root_is_reached_through_no_symlink() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("a/b")).unwrap();
        let dir = dir_beneath(root.path(), &root.path().join("a/b"))
            .unwrap()
            .unwrap();
        fs::write(dir.path().join("f"), b"x").unwrap();
        assert!(root.path().join("a/b/f").is_file());
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join("a/l")).unwrap();
        let through = dir_beneath(root.path(), &root.path().join("a/l"));
        assert!(through.unwrap().is_err(), "opened through a symlink");
        assert!(dir_beneath(root.path(), elsewhere.path()).is_none());
    }

    #[test]
    fn touch_never_changes_a_symlink_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_mtime(&file, old).unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        touch(&link).unwrap();
        let meta = fs::metadata(&file).unwrap();
        assert_eq!(filetime::FileTime::from_last_modification_time(&meta), old);
    }
}
