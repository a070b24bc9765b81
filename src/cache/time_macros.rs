//! Whether a compile expands `__DATE__`, `__TIME__` or `__TIMESTAMP__`,
//! however the name is spelled. A text scan of the files sees the plain
//! names only; `X(__TI,ME__)` with `#define X(a,b) a##b` builds one the
//! scan cannot see. gcc's and clang's `-Wdate-time` warns at every
//! expansion, so a preprocessor run with it (never the compile the user
//! sees, whose diagnostics must stay as they are) tells for sure.

use std::sync::LazyLock;

/// The names whose expansion depends on when or where the compile runs.
const NAMES: [&str; 3] = ["__DATE__", "__TIME__", "__TIMESTAMP__"];

/// Every substring of [`NAMES`] (122, sorted): the identifiers that could be
/// pasted into one of them. A set of them is a bit mask over this list.
static PIECES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut pieces: Vec<&str> = NAMES
        .iter()
        .flat_map(|name| {
            (0..name.len())
                .flat_map(move |start| (start + 1..=name.len()).map(move |end| &name[start..end]))
        })
        .collect();
    pieces.sort_unstable();
    pieces.dedup();
    pieces
});

/// What a file's text holds toward building a time macro's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// The [`PIECES`] found as whole identifiers, as a bit mask.
    pub pieces: u128,
    /// A paste operator (`##`, `%:%:`).
    pub pastes: bool,
    /// `__DATE__`/`__TIME__`, `__TIMESTAMP__` as whole identifiers, also
    /// when split by a backslash-newline.
    pub date_time: bool,
    pub timestamp: bool,
}

/// The identifiers and paste operators of `content`, read as the
/// preprocessor's first phases do (backslash-newline joins lines), where
/// comments and literals count too (which only finds more).
pub fn tokens(content: &[u8]) -> Tokens {
    let mut found = Tokens::default();
    let mut run: Vec<u8> = Vec::new();
    // The last two bytes outside splices, for `##` and `%:%:`.
    let mut last = [0u8; 3];
    let mut i = 0;
    let finish = |run: &mut Vec<u8>, found: &mut Tokens| {
        if !run.is_empty() && run.len() <= 13 && !run[0].is_ascii_digit() {
            note_identifier(run, found);
        }
        run.clear();
    };
    while i < content.len() {
        let byte = content[i];
        if byte == b'\\' {
            let rest = &content[i + 1..];
            let splice = if rest.starts_with(b"\n") {
                2
            } else if rest.starts_with(b"\r\n") {
                3
            } else {
                0
            };
            if splice > 0 {
                i += splice;
                continue;
            }
        }
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' {
            run.push(byte);
        } else {
            finish(&mut run, &mut found);
        }
        if (byte == b'#' && last[2] == b'#') || (byte == b':' && last == *b"%:%") {
            found.pastes = true;
        }
        last = [last[1], last[2], byte];
        i += 1;
    }
    finish(&mut run, &mut found);
    found
}

fn note_identifier(run: &[u8], found: &mut Tokens) {
    if !run.iter().all(|b| b"_DATEIMSP".contains(b)) {
        return;
    }
    let Ok(text) = std::str::from_utf8(run) else {
        return;
    };
    if let Ok(index) = PIECES.binary_search(&text) {
        found.pieces |= 1 << index;
    }
    match text {
        "__DATE__" | "__TIME__" => found.date_time = true,
        "__TIMESTAMP__" => found.timestamp = true,
        _ => {}
    }
}

/// Whether two or more of `pieces` joined make one of [`NAMES`]: only
/// then can a paste build one.
pub fn may_build_a_name(pieces: u128) -> bool {
    let has = |piece: &str| {
        PIECES
            .binary_search(&piece)
            .is_ok_and(|index| pieces & (1 << index) != 0)
    };
    NAMES.iter().any(|name| {
        // reachable[i]: name[..i] is made of pieces, at least one short of
        // the whole name.
        let mut reachable = vec![false; name.len() + 1];
        reachable[0] = true;
        for start in 0..name.len() {
            if !reachable[start] {
                continue;
            }
            for end in start + 1..=name.len() {
                if (start, end) != (0, name.len()) && has(&name[start..end]) {
                    reachable[end] = true;
                }
            }
        }
        reachable[name.len()]
    })
}

/// Added after the compile's own preprocessor arguments: the warning on,
/// never an error, reported in system headers too, and never silenced by
/// the compile's own `-w` (which the caller drops).
pub const CHECK_ARGS: &[&str] = &[
    "-Wdate-time",
    "-Wno-error=date-time",
    "-Wsystem-headers",
    "-fdiagnostics-color=never",
];

/// What a preprocessor run with [`CHECK_ARGS`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Nothing,
    /// `__DATE__` or `__TIME__`, pinned by SOURCE_DATE_EPOCH where the
    /// compiler honours it.
    DateTime,
    /// `__TIMESTAMP__` (the source's mtime), or a date or time macro the
    /// diagnostics do not name: never cacheable.
    Timestamp,
}

/// Reads the diagnostics of a run with [`CHECK_ARGS`]. gcc names the
/// macro in its warning; clang names it only in the note showing a pasted
/// token, so a clang warning without such a note counts as the worst case
/// unless the text names no `__TIMESTAMP__` at all.
pub fn seen(stderr: &[u8]) -> Seen {
    let text = String::from_utf8_lossy(stderr);
    if !text.contains("-Wdate-time") {
        return Seen::Nothing;
    }
    if text.contains("__TIMESTAMP__") {
        return Seen::Timestamp;
    }
    Seen::DateTime
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `compiler -E` with the check on `source`.
    fn check(compiler: &str, source: &str) -> Seen {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.c");
        std::fs::write(&path, source).unwrap();
        let output = std::process::Command::new(compiler)
            .args(["-E", "-Werror"])
            .args(CHECK_ARGS)
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        seen(&output.stderr)
    }

    #[test]
    fn finds_the_pieces_a_paste_could_join() {
        let found = tokens(b"#define X(a,b) a##b\nconst char *t = X(__TI,ME__);\n");
        assert!(found.pastes && !found.date_time);
        assert!(may_build_a_name(found.pieces));
        let found = tokens(b"template <class T> T id(T x) { return x; } // E _ M\n");
        assert!(!found.pastes && !may_build_a_name(found.pieces));
        assert!(tokens(b"a %:%: b").pastes);
        assert!(tokens(b"a #\\\n# b").pastes);
        assert!(!tokens(b"# define A # x").pastes);
        // A backslash-newline inside a name hides it from a plain search.
        let spliced = tokens(b"const char *t = __TI\\\nME__;\n");
        assert!(spliced.date_time && !spliced.timestamp);
        assert!(tokens(b"x = __TIMESTAMP__;").timestamp);
        // Letters alone build a name too.
        let letters = tokens(b"_ T I M E");
        assert!(may_build_a_name(letters.pieces));
        assert!(!may_build_a_name(tokens(b"_ T I M").pieces));
        assert_eq!(PIECES.len(), 122);
    }

    #[test]
    fn sees_time_macros_through_token_pasting() {
        let paste = "#define X(a,b) a##b\n";
        for compiler in ["gcc", "clang"] {
            assert_eq!(check(compiler, "int x;\n"), Seen::Nothing, "{compiler}");
            assert_eq!(
                check(compiler, &format!("{paste}const char *t = X(__TI,ME__);\n")),
                Seen::DateTime,
                "{compiler}"
            );
            assert_eq!(
                check(compiler, &format!("{paste}const char *t = X(__DA,TE__);\n")),
                Seen::DateTime,
                "{compiler}"
            );
            assert_eq!(
                check(
                    compiler,
                    &format!("{paste}const char *t = X(__TIME,STAMP__);\n")
                ),
                Seen::Timestamp,
                "{compiler}"
            );
        }
    }
}
