//! Lexical path canonicalization, matching ninja's `CanonicalizePath` on
//! POSIX: two spellings of one file must map to one graph node, without
//! touching the file system (symlinks are deliberately not resolved).

/// Canonicalizes `path` lexically:
/// - repeated slashes collapse (`a//b` -> `a/b`), trailing slashes go;
/// - `.` components are dropped;
/// - `x/..` cancels out, but `..` that cannot cancel is kept (`../a`,
///   `/..`);
/// - a relative path that cancels out entirely becomes `.`.
///
/// Ninja quirk kept on purpose: an absolute path that cancels out entirely
/// (`/`, `/a/..`) becomes the empty string, because ninja's graph would
/// otherwise disagree with ours about which node such a path names.
pub fn canonicalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    canonicalize_into(path, &mut out);
    out
}

/// Like [`canonicalize_path`], appending to `out` (which is cleared first),
/// so hot loops can reuse one buffer.
pub fn canonicalize_into(path: &str, out: &mut String) {
    out.clear();
    let absolute = path.starts_with('/');
    if absolute {
        out.push('/');
    }
    let root_len = out.len();
    // Byte offsets in `out` where each kept component starts, so `..` can
    // pop the previous component without re-scanning.
    let mut starts: Vec<usize> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                let can_cancel = starts
                    .last()
                    .is_some_and(|&start| out.get(start..) != Some(".."));
                if can_cancel {
                    if let Some(start) = starts.pop() {
                        // Drop the component and the slash that joined it.
                        out.truncate(start.saturating_sub(1).max(root_len));
                    }
                } else {
                    push_component(out, &mut starts, root_len, "..");
                }
            }
            name => push_component(out, &mut starts, root_len, name),
        }
    }
    if out.is_empty() {
        out.push('.');
    } else if absolute && out.len() == root_len {
        out.clear();
    }
}

fn push_component(out: &mut String, starts: &mut Vec<usize>, root_len: usize, name: &str) {
    if out.len() > root_len {
        out.push('/');
    }
    starts.push(out.len());
    out.push_str(name);
}

/// True when `path` is already in canonical form, to skip re-allocating the
/// common case.
pub fn is_canonical(path: &str) -> bool {
    if path.is_empty() || path == "." {
        return path == ".";
    }
    if path.ends_with('/') || path.contains("//") {
        return false;
    }
    // Any `.` component, or a `..` after a normal component, needs work.
    let mut seen_normal = false;
    for component in path.split('/').skip(usize::from(path.starts_with('/'))) {
        match component {
            "." => return false,
            ".." if seen_normal => return false,
            ".." => {}
            _ => seen_normal = true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values observed from ninja 1.11.1 (`ninja -t targets all`
    /// on `build PATH: phony`).
    const CASES: &[(&str, &str)] = &[
        ("a", "a"),
        ("./a", "a"),
        ("a/./b", "a/b"),
        ("a//b", "a/b"),
        ("a/../b", "b"),
        ("../a", "../a"),
        ("../../a/b", "../../a/b"),
        ("a/../../b", "../b"),
        ("a/b/../..", "."),
        ("a/..", "."),
        ("./", "."),
        (".", "."),
        ("..", ".."),
        ("./..", ".."),
        ("/", ""),
        ("//", ""),
        ("/a", "/a"),
        ("//a", "/a"),
        ("///a", "/a"),
        ("/..", "/.."),
        ("/../a", "/../a"),
        ("/a/../..", "/.."),
        ("a/", "a"),
        ("a/b/", "a/b"),
        ("a/./", "a"),
        ("./a/./b/.", "a/b"),
        ("a/b/c/../../d", "a/d"),
        ("...", "..."),
        (".a", ".a"),
        ("a/.b/..c", "a/.b/..c"),
        ("foo/../../", ".."),
        ("../..", "../.."),
        ("a/../..", ".."),
        ("/./a", "/a"),
        ("x/./../y", "y"),
        ("a\\b", "a\\b"),
        ("/a/..", ""),
        ("/a/b/../..", ""),
        ("//a/..", ""),
        ("/./", ""),
        ("/.", ""),
        ("a/../b/../c/..", "."),
        ("./../a/./../b", "../b"),
        ("../a/..", ".."),
        ("../../x/../..", "../../.."),
        ("é/./ü", "é/ü"),
    ];

    #[test]
    fn matches_ninja() {
        for &(input, expected) in CASES {
            assert_eq!(canonicalize_path(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn is_canonical_agrees_with_canonicalize() {
        for &(input, _) in CASES {
            let canonical = canonicalize_path(input);
            assert_eq!(is_canonical(input), canonical == input, "input {input:?}");
        }
    }

    #[test]
    fn canonical_is_idempotent() {
        for &(input, _) in CASES {
            let once = canonicalize_path(input);
            if once.is_empty() {
                continue;
            }
            assert_eq!(canonicalize_path(&once), once, "input {input:?}");
        }
    }
}
