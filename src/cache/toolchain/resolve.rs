//! Finding programs as `/bin/sh` and the gcc driver do: PATH search,
//! relative entries against the cwd, the driver's program dirs.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::hash::FileStat;

use super::*;

pub(super) fn stat_file(path: &Path) -> io::Result<FileStat> {
    Ok(FileStat::from_metadata(&fs::metadata(path)?))
}

pub(super) fn has_relative_entry(path_env: &OsStr) -> bool {
    path_env
        .as_bytes()
        .split(|&b| b == b':')
        .any(|dir| !dir.starts_with(b"/"))
}

pub(super) fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `program` the way `/bin/sh` does: a name with '/' is a path
/// (relative to `cwd`), any other is looked up in PATH, where an empty or
/// relative entry is relative to `cwd`.
pub(super) fn resolve_program(
    program: &str,
    cwd: &Path,
    path_value: &OsStr,
) -> Result<PathBuf, ToolchainError> {
    if program.is_empty() {
        return Err(ToolchainError::NotFound {
            program: String::new(),
            detail: "empty program name".into(),
        });
    }
    if program.contains('/') {
        let path: PathBuf = cwd.join(program).components().collect();
        if is_executable_file(&path) {
            return Ok(path);
        }
        return Err(ToolchainError::NotFound {
            program: program.to_owned(),
            detail: format!("{} is not an executable file", path.display()),
        });
    }
    for dir in path_value.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        let candidate: PathBuf = cwd.join(dir).join(program).components().collect();
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
    }
    Err(ToolchainError::NotFound {
        program: program.to_owned(),
        detail: format!("not in PATH={}", path_value.to_string_lossy()),
    })
}

/// The first executable `name` in `dirs`, then in PATH (absolute entries
/// only: the driver's cwd is the step's, which a disk entry cannot know).
pub(super) fn search_dirs(name: &str, dirs: &[PathBuf], path_value: &OsStr) -> Option<PathBuf> {
    candidates(name, dirs, path_value).find(|candidate| is_executable_file(candidate))
}

/// Where [`search_dirs`] looks for `name`, in order.
pub(super) fn candidates<'a>(
    name: &'a str,
    dirs: &'a [PathBuf],
    path_value: &'a OsStr,
) -> impl Iterator<Item = PathBuf> + 'a {
    let path_dirs = path_value
        .as_bytes()
        .split(|&b| b == b':')
        .filter(|d| d.starts_with(b"/"))
        .map(|d| Path::new(OsStr::from_bytes(d)));
    dirs.iter()
        .map(PathBuf::as_path)
        .chain(path_dirs)
        .map(move |dir| dir.join(name))
}

/// The `programs:` line of `gcc -print-search-dirs`; a leading '=' marks a
/// sysroot-relative entry and is dropped.
pub(super) fn parse_program_dirs(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .find_map(|line| line.strip_prefix("programs:"))
        .map(|dirs| {
            dirs.trim()
                .split(':')
                .map(|d| d.strip_prefix('=').unwrap_or(d))
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}
