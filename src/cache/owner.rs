//! Whose the cache dir is. A cache another user can write is a cache that
//! user steers (they can plant records, blobs, settings and symlinks), so
//! a private cache must be this user's and closed to writes by anyone else;
//! a cache shared between users is used only when the user opted in
//! (`ZCCACHE_SHARED=1`, or `shared = true` in their own settings file), and
//! then is group-writable (setgid, so its files keep the cache's group) and
//! never writable by others. See SECURITY.md.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

/// The mode of a private cache dir made by zccache.
const PRIVATE_MODE: u32 = 0o700;
/// The mode of a shared cache dir (and every dir in it) made by zccache.
pub const SHARED_DIR_MODE: u32 = 0o2770;
/// The mode of files in a shared cache: the group reads them.
pub const SHARED_FILE_MODE: u32 = 0o640;

/// Makes the cache dir when it is missing (parents as usual, the dir itself
/// closed to others, or shared with the group), then checks that this user
/// may trust it. The error says why not, for a warning.
pub fn prepare(dir: &Path, shared: bool) -> Result<(), String> {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            create(dir, shared).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
            fs::metadata(dir).map_err(|err| format!("cannot stat {}: {err}", dir.display()))?
        }
        Err(err) => return Err(format!("cannot stat {}: {err}", dir.display())),
    };
    check(dir, &meta, shared)
}

/// Checks an existing cache dir as [`prepare`] does, creating nothing: a
/// missing dir holds nothing to trust or to remove.
pub fn verify_existing(dir: &Path, shared: bool) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(meta) => check(dir, &meta, shared),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(format!("cannot stat {}: {err}", dir.display())),
    }
}

fn create(dir: &Path, shared: bool) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    let mode = if shared {
        SHARED_DIR_MODE
    } else {
        PRIVATE_MODE
    };
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        // Made by a concurrent call: checked like any existing dir.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(err) => return Err(err),
    }
    if shared {
        // Not narrowed by the umask.
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Whether a cache dir with `meta` may be used (followed if a symlink: the
/// dir it leads to is what is checked).
fn check(dir: &Path, meta: &fs::Metadata, shared: bool) -> Result<(), String> {
    let shown = dir.display();
    if !meta.is_dir() {
        return Err(format!("{shown} is not a directory"));
    }
    let mode = meta.mode() & 0o7777;
    if shared {
        if mode & 0o002 != 0 {
            return Err(format!(
                "shared cache dir {shown} is writable by every user (mode {mode:04o}); \
                 make it group-writable only (chmod o-w)"
            ));
        }
        return Ok(());
    }
    // SAFETY: geteuid cannot fail and has no side effects.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "cache dir {shown} belongs to uid {}, not to this user (uid {me}); \
             set ZCCACHE_SHARED=1 to share a cache between users (see SECURITY.md)",
            meta.uid()
        ));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "cache dir {shown} is writable by other users (mode {mode:04o}); \
             chmod go-w it, or set ZCCACHE_SHARED=1 to share it (see SECURITY.md)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_missing_cache_is_made_private_or_shared() {
        let base = tempfile::tempdir().unwrap();
        let private = base.path().join("a/private");
        prepare(&private, false).unwrap();
        assert_eq!(mode(&private), 0o700);
        let shared = base.path().join("shared");
        prepare(&shared, true).unwrap();
        assert_eq!(mode(&shared), SHARED_DIR_MODE);
    }

    #[test]
    fn a_cache_others_can_write_is_refused_unless_shared() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("c");
        fs::create_dir(&dir).unwrap();
        for (bits, private_ok, shared_ok) in [
            (0o755, true, true),
            (0o775, false, true),
            (0o757, false, false),
            (0o2770, false, true),
        ] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(bits)).unwrap();
            assert_eq!(prepare(&dir, false).is_ok(), private_ok, "{bits:o}");
            assert_eq!(prepare(&dir, true).is_ok(), shared_ok, "{bits:o}");
        }
        let file = base.path().join("f");
        fs::write(&file, "").unwrap();
        assert!(prepare(&file, false).is_err());
    }
}
