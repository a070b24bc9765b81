//! Paths joined and normalized lexically, without touching the disk.

use std::path::{Path, PathBuf};

/// `a/./b/../c` → `a/c`, without touching the filesystem.
pub fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved
/// lexically, so an include dir a compiler prints as `/usr/bin/../include`
/// matches the header paths its depfile names.
pub(crate) fn join_text(cwd: &Path, path: &str) -> String {
    lexical_normalize(&cwd.join(path))
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string()
}

/// The path of `full` below `dir` ("bits/types.h" of
/// "/usr/include/bits/types.h" in "/usr/include"); `None` when `full` is
/// not strictly inside `dir`.
pub(crate) fn name_in<'a>(full: &'a str, dir: &str) -> Option<&'a str> {
    full.strip_prefix(dir)?
        .strip_prefix('/')
        .filter(|name| !name.is_empty())
}

pub(super) fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    !prefix.is_empty()
        && (path == prefix
            || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_and_resolved_lexically() {
        let cwd = Path::new("/b/build");
        assert_eq!(join_text(cwd, "../src/a.h"), "/b/src/a.h");
        assert_eq!(
            join_text(cwd, "/usr/bin/../lib/gcc/x/12/../../../../include/c++/12/"),
            "/usr/include/c++/12"
        );
        assert_eq!(join_text(cwd, "./gen/t.h"), "/b/build/gen/t.h");
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(is_under("/p/src/a.c", "/p/src"));
        assert!(is_under("/p/src", "/p/src/"));
        assert!(!is_under("/p/srcx/a.c", "/p/src"));
        assert!(!is_under("/p/src", ""));
        assert_eq!(
            name_in("/usr/include/bits/a.h", "/usr/include"),
            Some("bits/a.h")
        );
        assert_eq!(name_in("/usr/includex/a.h", "/usr/include"), None);
        assert_eq!(name_in("/usr/include/", "/usr/include"), None);
        assert_eq!(name_in("/usr/include", "/usr/include"), None);
    }
}
