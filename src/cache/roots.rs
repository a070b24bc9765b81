//! The two directories whose absolute paths make cache entries differ
//! between build dirs of one project: the build dir and the source root.
//!
//! Keys and stored text (diagnostics, depfiles) name them by placeholders,
//! so two build dirs of one source tree, or two checkouts, share entries.
//! Binary outputs are never rewritten: an output that embeds a root's path
//! is stored as tied to that root (see [`Roots::appearing_in`]), so it
//! serves only builds with the same one.

use std::path::{Path, PathBuf};

use memchr::memmem;

use crate::cache::records::TiedRoots;

/// Marks a placeholder; text that already holds this byte is never
/// normalized, so restoring it cannot invent a path.
const MARK: u8 = 0x01;
const BUILD_PLACEHOLDER: &str = "\u{1}B\u{1}";
const SOURCE_PLACEHOLDER: &str = "\u{1}S\u{1}";

/// Which roots a stored result depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ties {
    pub build: bool,
    pub source: bool,
}

impl Ties {
    pub const BOTH: Ties = Ties {
        build: true,
        source: true,
    };

    pub fn union(self, other: Ties) -> Ties {
        Ties {
            build: self.build || other.build,
            source: self.source || other.source,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    build: String,
    source: Option<String>,
}

/// The build dir a launcher call in `cwd` belongs to (the dir the cache
/// normalizes paths against): the nearest ancestor of `cwd` holding
/// CMakeCache.txt, else `cwd`.
pub fn build_dir_around(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|dir| dir.join("CMakeCache.txt").is_file())
        .unwrap_or(cwd)
        .to_path_buf()
}

impl Roots {
    pub fn new(build: &Path, source: Option<&Path>) -> Roots {
        let clean = |p: &Path| {
            let text = p.to_string_lossy().to_string();
            let trimmed = text.trim_end_matches('/');
            if trimmed.is_empty() {
                "/".to_string()
            } else {
                trimmed.to_string()
            }
        };
        let build = clean(build);
        let source = source.map(clean).filter(|s| *s != build && s != "/");
        Roots { build, source }
    }

    /// The roots of the build in `build_dir` (absolute): CMake's source dir
    /// from CMakeCache.txt, or Meson's from meson-info.
    pub fn detect(build_dir: &Path) -> Roots {
        let source = cmake_home_directory(build_dir).or_else(|| meson_source_dir(build_dir));
        Roots::new(build_dir, source.as_deref())
    }

    pub fn build(&self) -> &str {
        &self.build
    }

    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Longest first, so a build dir inside the source tree is named as
    /// the build dir.
    fn ordered(&self) -> Vec<(&str, &'static str)> {
        let mut roots = vec![(self.build.as_str(), BUILD_PLACEHOLDER)];
        if let Some(source) = &self.source {
            roots.push((source.as_str(), SOURCE_PLACEHOLDER));
        }
        roots.sort_by_key(|(root, _)| std::cmp::Reverse(root.len()));
        roots
    }

    /// Whether both roots can stand in text without escaping: depfiles and
    /// shell words would write other characters differently.
    pub fn plain(&self) -> bool {
        self.ordered().iter().all(|(root, _)| {
            root.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+@%,".contains(&b))
        })
    }

    /// `text` with each root replaced by its placeholder, where it is a
    /// whole path component prefix.
    pub fn normalize(&self, text: &str) -> String {
        // Most paths and arguments name neither root: for such short text
        // a plain search costs less than building `replace_prefixes`'s
        // memmem searcher.
        let names_a_root = text.contains(self.build.as_str())
            || self
                .source
                .as_deref()
                .is_some_and(|source| text.contains(source));
        if !names_a_root || text.as_bytes().contains(&MARK) {
            return text.to_string();
        }
        match self.normalize_bytes(text.as_bytes()) {
            Some(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| text.to_string()),
            None => text.to_string(),
        }
    }

    /// Like [`Roots::normalize`] for bytes; `None` when the bytes already
    /// hold the placeholder mark and so cannot be restored faithfully.
    pub fn normalize_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if bytes.contains(&MARK) {
            return None;
        }
        let mut current = bytes.to_vec();
        for (root, placeholder) in self.ordered() {
            current = replace_prefixes(&current, root.as_bytes(), placeholder.as_bytes());
        }
        Some(current)
    }

    /// Undoes [`Roots::normalize_bytes`] with this build's roots. A
    /// placeholder for a root this build lacks stays, which only makes a
    /// lookup miss.
    pub fn restore_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        if !bytes.contains(&MARK) {
            return bytes.to_vec();
        }
        let mut current = replace_all(bytes, BUILD_PLACEHOLDER.as_bytes(), self.build.as_bytes());
        if let Some(source) = &self.source {
            current = replace_all(&current, SOURCE_PLACEHOLDER.as_bytes(), source.as_bytes());
        }
        current
    }

    pub fn restore(&self, text: &str) -> String {
        String::from_utf8(self.restore_bytes(text.as_bytes())).unwrap_or_else(|_| text.to_string())
    }

    /// Which roots' paths occur in `content` (an object file, an
    /// executable): such an output belongs to builds with those roots only.
    pub fn appearing_in(&self, content: &[u8]) -> Ties {
        let appears =
            |root: &str| root.len() > 1 && memmem::find(content, root.as_bytes()).is_some();
        Ties {
            build: appears(&self.build),
            source: self.source.as_deref().is_some_and(appears),
        }
    }

    /// The roots `ties` names, as an entry records them; `None` for none.
    pub fn tied(&self, ties: Ties) -> Option<TiedRoots> {
        let build = ties.build.then(|| self.build.clone());
        let source = self.source.clone().filter(|_| ties.source);
        (build.is_some() || source.is_some()).then_some((build, source))
    }

    /// Whether a build with these roots may use an entry tied to `tied`.
    pub fn serve(&self, tied: &TiedRoots) -> bool {
        let (build, source) = tied;
        build.as_deref().is_none_or(|build| build == self.build)
            && source
                .as_deref()
                .is_none_or(|source| Some(source) == self.source())
    }

    /// [`Roots::appearing_in`] for content read piece by piece.
    pub fn seen_in_pieces(&self) -> RootsSeen<'_> {
        let roots: Vec<(&[u8], bool)> = [Some(self.build.as_str()), self.source.as_deref()]
            .into_iter()
            .zip([true, false])
            .filter_map(|(root, is_build)| Some((root?.as_bytes(), is_build)))
            .filter(|(root, _)| root.len() > 1)
            .collect();
        let keep = roots
            .iter()
            .map(|(root, _)| root.len() - 1)
            .max()
            .unwrap_or(0);
        RootsSeen {
            roots,
            keep,
            tail: Vec::new(),
            found: Ties::default(),
        }
    }

    /// The source root as seen from the build dir, for prefix maps: ".."
    /// for `src/build`, "../src" for siblings.
    pub fn source_from_build(&self) -> Option<String> {
        let source = self.source.as_deref()?;
        Some(relative_path(&self.build, source))
    }
}

/// Which roots occur in content shown piece by piece, across the pieces'
/// bounds too (see [`Roots::seen_in_pieces`]).
pub struct RootsSeen<'r> {
    /// Each root, and whether it is the build dir (else the source root).
    roots: Vec<(&'r [u8], bool)>,
    /// The longest root but one byte: what of the content so far a root
    /// may start in and end in the next piece.
    keep: usize,
    tail: Vec<u8>,
    found: Ties,
}

impl RootsSeen<'_> {
    pub fn feed(&mut self, piece: &[u8]) {
        if self.roots.is_empty() || self.found == Ties::BOTH {
            return;
        }
        let head = &piece[..piece.len().min(self.keep)];
        self.tail.extend_from_slice(head);
        for (root, is_build) in &self.roots {
            let found = if *is_build {
                &mut self.found.build
            } else {
                &mut self.found.source
            };
            *found = *found
                || memmem::find(&self.tail, root).is_some()
                || memmem::find(piece, root).is_some();
        }
        if piece.len() >= self.keep {
            self.tail.clear();
            self.tail
                .extend_from_slice(&piece[piece.len() - self.keep..]);
        } else {
            let excess = self.tail.len().saturating_sub(self.keep);
            self.tail.drain(..excess);
        }
    }

    /// Which roots occurred in what was shown.
    pub fn found(&self) -> Ties {
        self.found
    }
}

/// Replaces `needle` where it starts a path: followed by `/`, the end, or a
/// character that cannot continue a file name component.
fn replace_prefixes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = 0;
    for at in memmem::find_iter(haystack, needle) {
        if at < rest {
            continue;
        }
        let end = at + needle.len();
        let continues_name = haystack
            .get(end)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b"._-+@%,~".contains(&b));
        if continues_name {
            continue;
        }
        out.extend_from_slice(&haystack[rest..at]);
        out.extend_from_slice(with);
        rest = end;
    }
    out.extend_from_slice(&haystack[rest..]);
    out
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = 0;
    for at in memmem::find_iter(haystack, needle) {
        out.extend_from_slice(&haystack[rest..at]);
        out.extend_from_slice(with);
        rest = at + needle.len();
    }
    out.extend_from_slice(&haystack[rest..]);
    out
}

fn relative_path(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|c| !c.is_empty()).collect();
    let to: Vec<&str> = to.split('/').filter(|c| !c.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend_from_slice(&to[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn cmake_home_directory(build_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(build_dir.join("CMakeCache.txt")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("CMAKE_HOME_DIRECTORY:INTERNAL="))
        .map(|dir| PathBuf::from(dir.trim()))
        .filter(|dir| dir.is_absolute())
}

fn meson_source_dir(build_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(build_dir.join("meson-info/meson-info.json")).ok()?;
    let info: serde_json::Value = serde_json::from_str(&text).ok()?;
    info.get("directories")?
        .get("source")?
        .as_str()
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Roots {
        Roots::new(Path::new("/p/src/build"), Some(Path::new("/p/src")))
    }

    #[test]
    fn normalizes_longest_root_first_and_restores_elsewhere() {
        let text = "-I/p/src/include -I/p/src/build/gen /p/src/buildx /p/srcs";
        let normal = roots().normalize(text);
        assert_eq!(
            normal,
            "-I\u{1}S\u{1}/include -I\u{1}B\u{1}/gen \u{1}S\u{1}/buildx /p/srcs"
        );
        let other = Roots::new(Path::new("/q/b"), Some(Path::new("/q/s")));
        assert_eq!(
            other.restore(&normal),
            "-I/q/s/include -I/q/b/gen /q/s/buildx /p/srcs"
        );
    }

    #[test]
    fn text_with_the_mark_is_left_alone() {
        assert_eq!(roots().normalize_bytes(b"a\x01/p/src"), None);
        assert_eq!(roots().normalize("a\u{1}/p/src"), "a\u{1}/p/src");
    }

    #[test]
    fn finds_roots_in_binary_content() {
        let roots = roots();
        let source_only = Ties {
            build: false,
            source: true,
        };
        assert_eq!(roots.appearing_in(b"\0\0/p/src/a.c\0"), source_only);
        assert_eq!(roots.appearing_in(b"/p/src/build/a.o"), Ties::BOTH);
        assert_eq!(roots.appearing_in(b"\0\0/p/sr\0"), Ties::default());
    }

    #[test]
    fn an_entry_tied_to_one_root_serves_any_other_build_dir() {
        let tied = roots().tied(Ties {
            build: false,
            source: true,
        });
        assert_eq!(tied, Some((None, Some("/p/src".to_owned()))));
        let tied = tied.unwrap();
        let other_build = Roots::new(Path::new("/p/src/build2"), Some(Path::new("/p/src")));
        assert!(other_build.serve(&tied));
        let other_source = Roots::new(Path::new("/p/src/build"), Some(Path::new("/q/src")));
        assert!(!other_source.serve(&tied));
        let no_source = Roots::new(Path::new("/p/src/build"), None);
        assert!(!no_source.serve(&tied));
        assert_eq!(roots().tied(Ties::default()), None);
    }

    #[test]
    fn finds_roots_across_the_pieces_content_is_read_in() {
        let roots = roots();
        for content in [
            &b"\0\0/p/src/a.c\0"[..],
            b"/p/src",
            b"xx/p/sr\0c/p/sr",
            b"\0\0/p/sr\0",
        ] {
            for piece in 1..=content.len() {
                let mut seen = roots.seen_in_pieces();
                content.chunks(piece).for_each(|chunk| seen.feed(chunk));
                assert_eq!(
                    seen.found(),
                    roots.appearing_in(content),
                    "{content:?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn relative_source_paths() {
        assert_eq!(roots().source_from_build().as_deref(), Some(".."));
        let siblings = Roots::new(Path::new("/p/build"), Some(Path::new("/p/src")));
        assert_eq!(siblings.source_from_build().as_deref(), Some("../src"));
    }

    #[test]
    fn detects_cmake_source_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("CMakeCache.txt"),
            "# x\nCMAKE_HOME_DIRECTORY:INTERNAL=/some/src\n",
        )
        .unwrap();
        let roots = Roots::detect(dir.path());
        assert_eq!(roots.source(), Some("/some/src"));
        assert!(roots.plain());
    }

    #[test]
    fn a_launcher_calls_build_dir_is_the_cmake_build_dir_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("x/y");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(build_dir_around(&sub), sub);
        std::fs::write(dir.path().join("x/CMakeCache.txt"), "").unwrap();
        assert_eq!(build_dir_around(&sub), dir.path().join("x"));
    }
}
