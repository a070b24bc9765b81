//! Whether a compile expands `__DATE__`, `__TIME__` or `__TIMESTAMP__`,
//! however the name is spelled. A text scan of the files sees the plain
//! names (also split by a line splice); `X(__TI,ME__)` with
//! `#define X(a,b) a##b` builds one the scan cannot see. gcc's and
//! clang's `-Wdate-time` warns at every expansion, so a preprocessor run
//! with it (never the compile the user sees, whose diagnostics must stay
//! as they are) tells for sure. That run adds a whole preprocessing to a
//! miss, so it is made only when a paste could build a name:
//!
//! - a paste joins the spellings of tokens into one token, so a name built
//!   by pastes is joined from two or more tokens, each spelled as a
//!   substring of the name ([`PIECES`]): only capitals and underscores, so
//!   an identifier. Each comes from a file's text (literals included: a
//!   `_Pragma` string is read again as tokens), an argument, or a paste of
//!   such pieces; the other built-in macros expand to strings and numbers,
//!   the predefined ones to no piece (a test checks gcc's and clang's).
//!   So a `##` (or `%:%:`) and pieces from which a name can be joined must
//!   be in the files or arguments ([`may_build_a_name`]);
//! - a comment is whitespace to the preprocessor: its words are no tokens
//!   and reach no paste. A file's pieces are counted outside its comments
//!   when [`crate::cache::source_text`]'s lexer (the one whose comments a
//!   comment-blind hash ignores) is sure where they are, else in the whole
//!   text. Comments hold most pieces (single capitals, `TIME`, `__`): with
//!   them, every compile of glibc's or libstdc++'s headers could paste a
//!   name; without them, none can. Where comments read otherwise (strict
//!   C90's `//` is code, `-traditional-cpp` pastes across `/**/`,
//!   assembly), see [`Reading`];
//! - what the scan reads must be what the compilers read: a line splice is
//!   a backslash, blanks, then `\n`, `\r\n` or a lone `\r` (both
//!   compilers); `$` may or may not be in identifiers
//!   (`-fno-dollars-in-identifiers`), so it splits them, which only finds
//!   more; a trigraph spelling `#` or `\` (`??=`, `??/`, under
//!   `-trigraphs` or a strict `-std`) or a NUL byte (blank to gcc inside a
//!   splice, not to clang) lets the text read more than one way: such a
//!   file counts as holding every piece and a paste.

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

/// Every piece: what a text whose pieces cannot be told holds.
const ALL_PIECES: u128 = (1 << 122) - 1;

/// What a file's text holds toward building a time macro's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// The [`PIECES`] found as whole identifiers anywhere in the text,
    /// comments and literals included, as a bit mask.
    pub pieces: u128,
    /// Those found outside comments, the only ones a paste can reach; all
    /// of `pieces` when the comments cannot be told for sure.
    pub code_pieces: u128,
    /// A paste operator (`##`, `%:%:`), comments included.
    pub pastes: bool,
    /// `__DATE__`/`__TIME__`, `__TIMESTAMP__` as whole identifiers, also
    /// when split by a line splice.
    pub date_time: bool,
    pub timestamp: bool,
}

/// How a compile reads its files' comments, which decides the pieces it
/// may paste (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// `//` and `/* */` are comments: [`Tokens::code_pieces`].
    Code,
    /// Comments may be code (strict C90's `//`, assembly): [`Tokens::pieces`].
    WholeText,
    /// Comments paste (`-traditional-cpp`, `a/**/b`): always checked.
    Unknown,
}

impl Reading {
    /// The reading of a compile in `language` with the options its
    /// preprocessor sees (`-Wp,` and `-Xpreprocessor` lists opened).
    pub fn of(language: crate::cache::command::Language, options: &[&str]) -> Reading {
        use crate::cache::command::Language;
        if options
            .iter()
            .any(|o| matches!(*o, "-traditional" | "-traditional-cpp"))
        {
            return Reading::Unknown;
        }
        match language {
            Language::Cxx | Language::ObjCxx => Reading::Code,
            Language::C | Language::ObjC if !crate::cache::preprocessed::strict_c90(options) => {
                Reading::Code
            }
            _ => Reading::WholeText,
        }
    }

    /// The pieces a compile reading this way may paste, of those found
    /// anywhere (`pieces`) and outside comments (`code_pieces`); `None`
    /// when it may paste without a paste operator.
    pub fn pieces(self, pieces: u128, code_pieces: u128) -> Option<u128> {
        match self {
            Reading::Code => Some(code_pieces),
            Reading::WholeText => Some(pieces),
            Reading::Unknown => None,
        }
    }
}

/// The identifiers and paste operators of `content`, read as the
/// preprocessor's first phases do (line splices join lines), with where
/// its comments are (see the module doc).
pub fn tokens(content: &[u8]) -> Tokens {
    let obscure = memchr::memchr(0, content).is_some()
        || memchr::memmem::find_iter(content, b"??")
            .any(|i| matches!(content.get(i + 2), Some(b'=' | b'/')));
    let comments = if obscure {
        None
    } else {
        crate::cache::source_text::comment_spans(content)
    };
    let mut found = scan(content, comments.as_deref());
    if comments.is_none() {
        found.code_pieces = found.pieces;
    }
    if obscure {
        found.pieces = ALL_PIECES;
        found.code_pieces = ALL_PIECES;
        found.pastes = true;
    }
    found
}

/// The length of the line splice at `i` (a backslash, blanks, a line
/// end), if there is one.
fn splice_len(content: &[u8], i: usize) -> Option<usize> {
    if content[i] != b'\\' {
        return None;
    }
    let blanks = content[i + 1..]
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c'))
        .count();
    match &content[i + 1 + blanks..] {
        [b'\r', b'\n', ..] => Some(blanks + 3),
        [b'\n' | b'\r', ..] => Some(blanks + 2),
        _ => None,
    }
}

/// [`tokens`] of one reading of `content`, with `comments` (sorted spans)
/// if known.
fn scan(content: &[u8], comments: Option<&[std::ops::Range<usize>]>) -> Tokens {
    let comments = comments.unwrap_or_default();
    let mut found = Tokens::default();
    let mut run: Vec<u8> = Vec::new();
    let mut run_start = 0;
    // The first comment not ending before the current run.
    let mut next_comment = 0;
    // The last three bytes outside splices, for `##` and `%:%:`.
    let mut last = [0u8; 3];
    let mut i = 0;
    let mut finish = |run: &mut Vec<u8>, start: usize, found: &mut Tokens| {
        if !run.is_empty() && run.len() <= 13 && !run[0].is_ascii_digit() {
            while comments.get(next_comment).is_some_and(|c| c.end <= start) {
                next_comment += 1;
            }
            let in_comment = comments.get(next_comment).is_some_and(|c| c.start <= start);
            note_identifier(run, in_comment, found);
        }
        run.clear();
    };
    while i < content.len() {
        if let Some(len) = splice_len(content, i) {
            i += len;
            continue;
        }
        let byte = content[i];
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            if run.is_empty() {
                run_start = i;
            }
            run.push(byte);
        } else {
            finish(&mut run, run_start, &mut found);
        }
        if (byte == b'#' && last[2] == b'#') || (byte == b':' && last == *b"%:%") {
            found.pastes = true;
        }
        last = [last[1], last[2], byte];
        i += 1;
    }
    finish(&mut run, run_start, &mut found);
    found
}

fn note_identifier(run: &[u8], in_comment: bool, found: &mut Tokens) {
    if !run.iter().all(|b| b"_DATEIMSP".contains(b)) {
        return;
    }
    let Ok(text) = std::str::from_utf8(run) else {
        return;
    };
    if let Ok(index) = PIECES.binary_search(&text) {
        found.pieces |= 1 << index;
        if !in_comment {
            found.code_pieces |= 1 << index;
        }
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

    /// Runs `compiler -E` with the check on `source`, as C.
    fn check(compiler: &str, source: &str) -> Seen {
        check_as(compiler, "a.c", &[], source)
    }

    /// Runs `compiler -E ARGS` with the check on `source` in a file named `name`.
    fn check_as(compiler: &str, name: &str, args: &[&str], source: &str) -> Seen {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, source).unwrap();
        let output = std::process::Command::new(compiler)
            .args(["-E", "-Werror"])
            .args(args)
            .args(CHECK_ARGS)
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        seen(&output.stderr)
    }

    /// Whether a compile reading `tokens` the [`Reading::Code`] way gets
    /// the check.
    fn checked(tokens: &Tokens) -> bool {
        tokens.date_time
            || tokens.timestamp
            || (tokens.pastes && may_build_a_name(tokens.code_pieces))
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
        // `$` may not be in an identifier (-fno-dollars-in-identifiers).
        assert!(may_build_a_name(tokens(b"a$__TI ME__").pieces));
    }

    #[test]
    fn pieces_in_comments_reach_no_paste() {
        let text = b"#define X(a,b) a##b /* __TI, ME__ */\n// _ _ T I M E\nint TIME;\n";
        let found = tokens(text);
        assert!(found.pastes && may_build_a_name(found.pieces));
        assert!(!may_build_a_name(found.code_pieces));
        assert!(!checked(&found));
        let whole = Reading::WholeText.pieces(found.pieces, found.code_pieces);
        assert!(may_build_a_name(whole.expect("pieces")));
        assert_eq!(
            Reading::Unknown.pieces(found.pieces, found.code_pieces),
            None
        );
        // What the lexer refuses (an unterminated quote) counts whole.
        let found = tokens(b"#error don't\n#define X(a,b) a##b /* __TI, ME__ */\n");
        assert_eq!(found.code_pieces, found.pieces);
        assert!(checked(&found));
    }

    #[test]
    fn splices_join_names_as_the_compilers_do() {
        for text in [
            &b"const char *t = __TI\\\nME__;\n"[..],
            b"const char *t = __TI\\ \t\nME__;\n",
            b"const char *t = __TI\\\r\nME__;\n",
            b"const char *t = __TI\\\rME__;\n",
        ] {
            let found = tokens(text);
            assert!(found.date_time && !found.timestamp, "{text:?}");
        }
        // Read one way or another: always checked.
        for text in [&b"const char *t = __TI??/\nME__;\n"[..], b"__TI\\ \0\nME__"] {
            let found = tokens(text);
            assert!(found.pastes && found.code_pieces == ALL_PIECES, "{text:?}");
            assert!(checked(&found));
        }
        assert!(!checked(&tokens(b"/* what?? */ int x;")));
    }

    #[test]
    fn a_paste_the_scan_rules_out_never_expands_a_time_macro() {
        // (file name, extra args, text, whether the scan calls for the
        // check): whenever it does not, neither compiler sees a time macro.
        let paste = "#define X(a,b) a##b\n";
        let cases: &[(&str, &[&str], String, bool)] = &[
            (
                "a.c",
                &[],
                format!("{paste}/* X(__TI,ME__) */ int x;\n"),
                false,
            ),
            (
                "a.c",
                &[],
                format!("{paste}// X(__TI,ME__)\nint x;\n"),
                false,
            ),
            (
                "a.c",
                &[],
                format!("{paste}// a comment \\\nconst char *t = X(__TI,ME__);\n"),
                false,
            ),
            (
                "a.c",
                &[],
                format!("{paste}const char *s = \"/*\"; const char *t = X(__TI,ME__); /* */\n"),
                true,
            ),
            (
                "a.c",
                &[],
                format!("{paste}char c = '\"'; const char *t = X(__TI,ME__); // \"\n"),
                true,
            ),
            (
                "a.c",
                &[],
                format!("{paste}/* a */ const char *t = X(__TI,ME__); /* b */\n"),
                true,
            ),
            (
                "a.cpp",
                &["-std=c++17"],
                format!("{paste}int n = 1'0; const char *t = X(__TI,ME__); // '\n"),
                true,
            ),
            (
                "a.cpp",
                &["-std=c++17"],
                format!("{paste}auto r = R\"(/*)\"; const char *t = X(__TI,ME__); /* */\n"),
                true,
            ),
            (
                "a.c",
                &["-Wno-comment"],
                format!("{paste}/* *\\\n/ const char *t = X(__TI,ME__); /* */\n"),
                true,
            ),
        ];
        for (name, args, text, expect_checked) in cases {
            let found = tokens(text.as_bytes());
            assert_eq!(checked(&found), *expect_checked, "{text}");
            for compiler in ["gcc", "clang"] {
                let seen = check_as(compiler, name, args, text);
                assert!(
                    *expect_checked || seen == Seen::Nothing,
                    "{compiler} sees a time macro the scan rules out: {text}"
                );
            }
        }
    }

    #[test]
    fn predefined_macros_expand_to_no_piece() {
        for (compiler, language) in [
            ("gcc", "c"),
            ("g++", "c++"),
            ("clang", "c"),
            ("clang++", "c++"),
        ] {
            let output = std::process::Command::new(compiler)
                .args(["-dM", "-E", "-x", language, "/dev/null"])
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            let text = String::from_utf8_lossy(&output.stdout);
            let bodies: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("#define "))
                .filter_map(|line| line.split_once(' ').map(|(_, body)| body))
                .collect();
            assert!(bodies.len() > 100, "{compiler}: {text}");
            assert_eq!(tokens(bodies.join("\n").as_bytes()).pieces, 0, "{compiler}");
        }
    }

    #[test]
    fn the_reading_follows_the_dialect() {
        use crate::cache::command::Language;
        assert_eq!(Reading::of(Language::C, &["-O2"]), Reading::Code);
        assert_eq!(Reading::of(Language::C, &["-std=gnu89"]), Reading::Code);
        assert_eq!(Reading::of(Language::C, &["-ansi"]), Reading::WholeText);
        assert_eq!(
            Reading::of(Language::C, &["-std=c89", "-std=c11"]),
            Reading::Code
        );
        assert_eq!(Reading::of(Language::Cxx, &["-ansi"]), Reading::Code);
        assert_eq!(Reading::of(Language::AsmWithCpp, &[]), Reading::WholeText);
        assert_eq!(
            Reading::of(Language::Cxx, &["-traditional-cpp"]),
            Reading::Unknown
        );
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
