//! A content hash of a C/C++/ObjC source that ignores what its comments
//! say, so that a comment-only edit can keep the compile's cache key.
//!
//! The text is lexed (code, "string", 'char', `//` and `/* */` comments)
//! and every non-whitespace byte inside an ordinary ASCII comment, except
//! its delimiters, is replaced by one fixed marker byte (NUL, which the
//! input may not contain). Whitespace is kept, so every token keeps its
//! line, byte column and display column; the delimiters and the marker are
//! kept, so a comment is never confused with whitespace or with a comment
//! of the other kind (GCC's `-Wtrailing-whitespace`,
//! `-Wleading-whitespace` and `-Wimplicit-fallthrough=1` see the
//! difference). After the last code byte, a tail of comments and newlines
//! is dropped when it ends with a newline and holds nothing a compiler
//! could report (no leading or trailing whitespace on its lines), so a
//! comment appended at the end keeps the hash.
//!
//! Comments that a compiler or tool reads stay verbatim, and anything the
//! small lexer might get wrong makes [`comment_blind_hash`] return `None`.
//!
//! What the compiler does with the text must also be comment-blind; the
//! caller gates on that (see [`comment_blind_hash`]).

/// Replaces the non-whitespace bytes of a blanked comment. The input may
/// not contain it, so a blanked comment never reads as code.
const MARK: u8 = 0;

/// Domain separation from raw content hashes.
const TAG: &[u8] = b"zccache comment-blind C source text v1\0";

/// A hash of a C/C++/ObjC source's text that ignores what its ordinary
/// ASCII comments say, or `None` when the text cannot be proven safe to
/// treat that way (the caller then hashes the raw bytes).
///
/// Two texts get the same hash only when they differ in nothing but
/// (a) the non-whitespace bytes of ordinary ASCII comments, each replaced
/// by another non-whitespace ASCII byte in place, and (b) a tail of
/// comments and blank lines after the last token, when both texts end with
/// the same newline kind and the tail has no leading or trailing
/// whitespace on its lines.
///
/// The caller must only use it when the compiler's output cannot depend on
/// comment text, which the source alone cannot tell. Known cases where it
/// can, to be gated on by the caller:
/// - diagnostics: a caret display quotes the source line, comment
///   included, and a diagnostic at end of input (`-Wpedantic`'s empty
///   translation unit, clang's "expected '}'") moves with a dropped tail.
///   Reuse a result found through this hash only when its stderr is
///   empty: whether a diagnostic exists does not depend on what hashes
///   equal here, only its quoted text and end-of-input position do;
/// - clang's DWARF 5 line table holds an MD5 of each source file: not with
///   clang and any `-g` (GCC holds no source checksum);
/// - `//` is not a comment in strict C90 (`-std=c89`, `-std=c90`,
///   `-std=iso9899:199409`, `-ansi` for C) nor with `-traditional-cpp`;
/// - `-E` with `-C`/`-CC` keeps comments; clang's `-fparse-all-comments`
///   reads every comment as documentation.
pub fn comment_blind_hash(content: &[u8]) -> Option<[u8; 32]> {
    hash_normalized(content, true)
}

/// [`comment_blind_hash`] for strict C90 (`-std=c89`, `-ansi`, ...),
/// where only `/* */` is a comment and `//` is two slashes of code.
pub fn comment_blind_hash_c90(content: &[u8]) -> Option<[u8; 32]> {
    hash_normalized(content, false)
}

/// Where the comments of a C-family text are (delimiters included), as
/// gcc and clang read it outside strict C90 and `-traditional-cpp`, or
/// `None` when the lexer refuses the text (see [`comment_blind_hash`]).
/// The same lexer decides what a comment-blind hash may ignore, so a span
/// here is a comment to the compiler, never code.
pub fn comment_spans(content: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let lexed = lex_text(content, true)?;
    Some(lexed.comments.iter().map(|c| c.start..c.end).collect())
}

fn hash_normalized(content: &[u8], line_comments: bool) -> Option<[u8; 32]> {
    let (body, tail) = normalize_with(content, line_comments)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(TAG);
    hasher.update(&[u8::from(line_comments)]);
    hasher.update(&body);
    hasher.update(&[tail as u8]);
    Some(*hasher.finalize().as_bytes())
}

/// What follows the normalized body: the last byte hashed, after the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// The whole text is in the body.
    Kept = 1,
    /// The tail after the last code byte was dropped; the text ended "\n".
    DroppedLf = 2,
    /// The tail after the last code byte was dropped; the text ended "\r\n".
    DroppedCrLf = 3,
}

/// One comment found by the lexer: `start..end` in bytes, delimiters
/// included, and whether it must stay verbatim.
struct Comment {
    start: usize,
    end: usize,
    /// Index of the first and last physical line it touches.
    first_line: usize,
    last_line: usize,
    verbatim: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Str,
    Char,
    LineComment,
    BlockComment,
}

/// The normalized text and how its tail was treated, or `None` to refuse.
#[cfg(test)]
pub(crate) fn normalize(content: &[u8]) -> Option<(Vec<u8>, Tail)> {
    normalize_with(content, true)
}

fn normalize_with(content: &[u8], line_comments: bool) -> Option<(Vec<u8>, Tail)> {
    let comments = lex(content, line_comments)?;
    let mut out = content.to_vec();
    for comment in &comments {
        if comment.verbatim {
            continue;
        }
        // Delimiters stay: `//` is 2 bytes; `/*` and `*/` are 2 bytes each.
        let inner_end = if content[comment.start + 1] == b'*' {
            comment.end - 2
        } else {
            comment.end
        };
        for byte in &mut out[comment.start + 2..inner_end] {
            if !is_space(*byte) {
                *byte = MARK;
            }
        }
    }
    // The tail: everything after the last byte outside comments and
    // whitespace.
    let mut in_comment = vec![false; content.len()];
    for comment in &comments {
        in_comment[comment.start..comment.end].fill(true);
    }
    let tail_start = (0..content.len())
        .rev()
        .find(|&i| !in_comment[i] && !is_space(content[i]))
        .map_or(0, |i| i + 1);
    let tail_verbatim = comments.iter().any(|c| c.end > tail_start && c.verbatim);
    if !tail_verbatim {
        let at_line_start = matches!(&content[..tail_start], b"" | b"\xef\xbb\xbf");
        if let Some(kind) = droppable_tail(&content[tail_start..], at_line_start) {
            out.truncate(tail_start);
            return Some((out, kind));
        }
    }
    Some((out, Tail::Kept))
}

/// Whether the tail (comments, blank space) after the last code byte can
/// be dropped: it ends with a newline, and no line in it has whitespace a
/// compiler could warn about (leading or trailing, form feed, vertical
/// tab). `at_line_start`: the tail starts a line (the text has no code).
fn droppable_tail(tail: &[u8], at_line_start: bool) -> Option<Tail> {
    let kind = if tail.ends_with(b"\r\n") {
        Tail::DroppedCrLf
    } else if tail.ends_with(b"\n") {
        Tail::DroppedLf
    } else {
        return None;
    };
    if tail.iter().any(|&b| b == b'\x0c' || b == b'\x0b') {
        return None;
    }
    let mut first = true;
    for line in tail.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let leading = (!first || at_line_start) && line.first().is_some_and(|&b| is_space(b));
        let trailing = line.last().is_some_and(|&b| is_space(b));
        if leading || trailing || line.contains(&b'\r') {
            return None;
        }
        first = false;
    }
    Some(kind)
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// The length of a line splice (backslash, optional horizontal whitespace,
/// newline) starting at `i`, which holds a backslash.
fn splice_len(text: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < text.len() && matches!(text[j], b' ' | b'\t' | b'\x0b' | b'\x0c') {
        j += 1;
    }
    match text.get(j..) {
        Some([b'\n', ..]) => Some(j + 1 - i),
        Some([b'\r', b'\n', ..]) => Some(j + 2 - i),
        _ => None,
    }
}

/// Lexes the text and returns its comments, with which must stay
/// verbatim; `None` for anything the lexer refuses.
fn lex(text: &[u8], line_comments: bool) -> Option<Vec<Comment>> {
    let Lexed {
        mut comments,
        directive_lines,
        code_text,
    } = lex_text(text, line_comments)?;
    // `.incbin` in inline assembly may read this very file into the output.
    if contains(&code_text, b"incbin") {
        return None;
    }

    for comment in &mut comments {
        let body = &text[comment.start..comment.end];
        comment.verbatim = comment.verbatim
            || (comment.first_line..=comment.last_line).any(|l| directive_lines[l])
            || read_by_tools(body);
    }
    Some(comments)
}

/// What [`lex_text`] found.
struct Lexed {
    comments: Vec<Comment>,
    /// Per physical line: whether it is (part of) a preprocessor directive.
    directive_lines: Vec<bool>,
    /// The code and string text, to look for words that read files.
    code_text: Vec<u8>,
}

/// Lexes the text: its comments (`verbatim` only where a splice continues
/// one), or `None` for anything the lexer refuses.
fn lex_text(text: &[u8], line_comments: bool) -> Option<Lexed> {
    std::str::from_utf8(text).ok()?;
    if text.contains(&0) {
        return None;
    }
    // A carriage return only as part of "\r\n": compilers differ on a lone
    // one.
    if memchr::memchr_iter(b'\r', text).any(|i| text.get(i + 1) != Some(&b'\n')) {
        return None;
    }
    // Trigraphs (-trigraphs, -std=c89/c++98 and friends).
    if memchr::memmem::find_iter(text, b"??")
        .any(|i| text.get(i + 2).is_some_and(|c| b"=/'()!<>-".contains(c)))
    {
        return None;
    }

    let mut comments: Vec<Comment> = Vec::new();
    let mut directive_lines: Vec<bool> = vec![false];
    // Whether the directive of the current line names a file (#include,
    // #import, __has_include): then `<` opens a header name, where `//`
    // and `/*` are no comments.
    let mut names_file = false;
    let mut angle_open = false;
    let mut in_directive = false;
    // No code byte yet on the current physical line.
    let mut line_fresh = true;
    let mut line = 0usize;
    let mut state = State::Code;
    let mut comment_start = 0usize;
    let mut comment_line = 0usize;
    let mut comment_verbatim = false;
    let mut code_text: Vec<u8> = Vec::with_capacity(text.len());

    let mut i = if text.starts_with("\u{feff}".as_bytes()) {
        3
    } else {
        0
    };
    while i < text.len() {
        let byte = text[i];
        if byte == b'\n' {
            match state {
                State::Str | State::Char => return None,
                State::LineComment => {
                    comments.push(Comment {
                        start: comment_start,
                        end: if i > 0 && text[i - 1] == b'\r' {
                            i - 1
                        } else {
                            i
                        },
                        first_line: comment_line,
                        last_line: line,
                        verbatim: comment_verbatim,
                    });
                    state = State::Code;
                    in_directive = false;
                }
                State::Code => in_directive = false,
                State::BlockComment => {}
            }
            if !in_directive {
                angle_open = false;
                names_file = false;
            }
            line += 1;
            directive_lines.push(in_directive);
            line_fresh = true;
            i += 1;
            continue;
        }
        match state {
            State::Code => {
                if is_space(byte) {
                    i += 1;
                    continue;
                }
                let starts_comment = byte == b'/'
                    && match text.get(i + 1) {
                        Some(b'*') => true,
                        Some(b'/') => line_comments,
                        _ => false,
                    };
                if line_fresh && !starts_comment {
                    line_fresh = false;
                    if byte == b'#' || text[i..].starts_with(b"%:") {
                        in_directive = true;
                        directive_lines[line] = true;
                        let end = text[i..]
                            .iter()
                            .position(|&b| b == b'\n')
                            .map_or(text.len(), |n| i + n);
                        let rest = &text[i..end];
                        // `#embed` may read this very file into the output.
                        if contains(rest, b"embed") {
                            return None;
                        }
                        names_file = contains(rest, b"include") || contains(rest, b"import");
                    }
                }
                match byte {
                    b'/' if starts_comment => {
                        if in_directive && names_file && angle_open {
                            return None;
                        }
                        state = if text[i + 1] == b'/' {
                            State::LineComment
                        } else {
                            State::BlockComment
                        };
                        comment_start = i;
                        comment_line = line;
                        comment_verbatim = false;
                        i += 2;
                    }
                    b'"' | b'\'' => {
                        if in_directive && names_file && angle_open {
                            return None;
                        }
                        // A digit separator, or a quote glued to a word
                        // other than a literal prefix, was refused when
                        // lexing the number or word before it.
                        state = if byte == b'"' {
                            State::Str
                        } else {
                            State::Char
                        };
                        code_text.push(byte);
                        i += 1;
                    }
                    b'\\' => {
                        if let Some(len) = splice_len(text, i) {
                            // A line splice, common in multi-line macros:
                            // the directive (if any) goes on over the next
                            // line. Refused where it could join the halves
                            // of a comment delimiter.
                            let before = i.checked_sub(1).map(|p| text[p]);
                            let after = text.get(i + len).copied();
                            if before == Some(b'/') || matches!(after, Some(b'/' | b'*')) {
                                return None;
                            }
                            code_text.extend_from_slice(&text[i..i + len]);
                            line += 1;
                            directive_lines.push(in_directive);
                            i += len;
                        } else {
                            // A stray backslash or a UCN.
                            code_text.push(byte);
                            i += 1;
                        }
                    }
                    b'<' => {
                        angle_open = true;
                        code_text.push(byte);
                        i += 1;
                    }
                    b'>' => {
                        angle_open = false;
                        code_text.push(byte);
                        i += 1;
                    }
                    b'0'..=b'9' | b'.'
                        if byte != b'.' || text.get(i + 1).is_some_and(u8::is_ascii_digit) =>
                    {
                        // A pp-number.
                        let start = i;
                        while i < text.len() {
                            let b = text[i];
                            if matches!(b, b'e' | b'E' | b'p' | b'P')
                                && matches!(text.get(i + 1), Some(b'+') | Some(b'-'))
                            {
                                i += 2;
                            } else if is_ident_byte(b) || b == b'.' {
                                i += 1;
                            } else if b == b'\''
                                && text.get(i + 1).is_some_and(|&n| is_ident_byte(n))
                            {
                                // A C++14 / C23 digit separator.
                                return None;
                            } else {
                                break;
                            }
                        }
                        code_text.extend_from_slice(&text[start..i]);
                    }
                    _ if is_ident_byte(byte) => {
                        let start = i;
                        while i < text.len() && is_ident_byte(text[i]) {
                            i += 1;
                        }
                        let word = &text[start..i];
                        match text.get(i) {
                            // R"delim( ... )delim" and its prefixed forms.
                            Some(b'"') if word.ends_with(b"R") => return None,
                            Some(b'\'') if !matches!(word, b"L" | b"u" | b"U" | b"u8") => {
                                return None;
                            }
                            _ => {}
                        }
                        code_text.extend_from_slice(word);
                    }
                    _ => {
                        code_text.push(byte);
                        i += 1;
                    }
                }
            }
            State::Str | State::Char => {
                code_text.push(byte);
                let close = if state == State::Str { b'"' } else { b'\'' };
                if byte == b'\\' {
                    if splice_len(text, i).is_some() {
                        return None;
                    }
                    if in_directive && names_file {
                        // `#include "a\"`: a header name has no escapes.
                        return None;
                    }
                    if let Some(&next) = text.get(i + 1) {
                        code_text.push(next);
                    }
                    i += 2;
                } else {
                    if byte == close {
                        state = State::Code;
                    }
                    i += 1;
                }
            }
            State::LineComment => {
                if let Some(len) = (byte == b'\\').then(|| splice_len(text, i)).flatten() {
                    // The comment goes on over the next line.
                    comment_verbatim = true;
                    line += 1;
                    directive_lines.push(in_directive);
                    i += len;
                    continue;
                }
                i += 1;
            }
            State::BlockComment => {
                if byte == b'*' && text.get(i + 1) == Some(&b'/') {
                    comments.push(Comment {
                        start: comment_start,
                        end: i + 2,
                        first_line: comment_line,
                        last_line: line,
                        verbatim: comment_verbatim,
                    });
                    state = State::Code;
                    i += 2;
                    continue;
                }
                if byte == b'\\' && splice_len(text, i).is_some() {
                    // `*\` newline `/` ends the comment: refused.
                    if text[i - 1] == b'*' {
                        return None;
                    }
                    comment_verbatim = true;
                }
                i += 1;
            }
        }
    }
    match state {
        State::Code => {}
        State::LineComment => comments.push(Comment {
            start: comment_start,
            end: text.len(),
            first_line: comment_line,
            last_line: line,
            verbatim: comment_verbatim,
        }),
        State::Str | State::Char | State::BlockComment => return None,
    }
    Some(Lexed {
        comments,
        directive_lines,
        code_text,
    })
}

/// Whether a comment (delimiters included) may be read by a compiler or a
/// tool, so its text must stay.
fn read_by_tools(comment: &[u8]) -> bool {
    if !comment.is_ascii() {
        // Display columns, -Wbidi-chars, -Winvalid-utf8.
        return true;
    }
    // Doc comments (clang -Wdocumentation), including `/**<`, `//!<`.
    if [&b"/**"[..], b"/*!", b"///", b"//!"]
        .iter()
        .any(|p| comment.starts_with(p))
    {
        return true;
    }
    // A nested comment start: -Wcomment.
    if contains(&comment[2..], b"/*") {
        return true;
    }
    let lower = comment.to_ascii_lowercase();
    // fallthrough markers (-Wimplicit-fallthrough), lint and tool
    // annotations, clang -verify expectations.
    [
        &b"fall"[..],
        b"thru",
        b"lint",
        b"notreached",
        b"argsused",
        b"varargs",
        b"printflike",
        b"scanflike",
        b"clang-format",
        b"expected-",
        b"iwyu",
    ]
    .iter()
    .any(|word| contains(&lower, word))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> [u8; 32] {
        comment_blind_hash(text.as_bytes()).unwrap_or_else(|| panic!("refused: {text:?}"))
    }

    fn same(a: &str, b: &str) {
        assert_eq!(h(a), h(b), "should hash equal:\n{a:?}\n{b:?}");
    }

    fn differ(a: &str, b: &str) {
        assert_ne!(h(a), h(b), "should hash differently:\n{a:?}\n{b:?}");
    }

    fn refused(text: &str) {
        assert_eq!(
            comment_blind_hash(text.as_bytes()),
            None,
            "should refuse {text:?}"
        );
    }

    /// The normalized text with the marker shown as `#`.
    fn shown(text: &str) -> String {
        let (mut body, tail) = normalize(text.as_bytes()).expect("refused");
        match tail {
            Tail::Kept => {}
            Tail::DroppedLf => body.extend_from_slice(b"\n"),
            Tail::DroppedCrLf => body.extend_from_slice(b"\r\n"),
        }
        let body = body.iter().map(|&b| if b == MARK { b'#' } else { b });
        String::from_utf8(body.collect()).unwrap()
    }

    const PROGRAM: &str = "int add(int a, int b)\n{\n    return a + b; // the sum\n}\n";

    #[test]
    fn appending_a_comment_at_the_end_keeps_the_hash() {
        same(PROGRAM, &format!("{PROGRAM}\n/* edited */\n"));
        same(PROGRAM, &format!("{PROGRAM}// edited\n"));
        same(PROGRAM, &format!("{PROGRAM}/* a\nb */\n\n// c\n"));
    }

    #[test]
    fn appending_to_a_crlf_file_keeps_the_hash() {
        let crlf = PROGRAM.replace('\n', "\r\n");
        same(&crlf, &format!("{crlf}\r\n/* edited */\r\n"));
        // The last newline's kind is kept.
        differ(&crlf, &format!("{crlf}\n/* edited */\n"));
    }

    #[test]
    fn crlf_comments_are_blanked() {
        same("int x; // one\r\nint y;\r\n", "int x; // two\r\nint y;\r\n");
        assert_eq!(
            shown("int x; // one\r\nint y;\r\n"),
            "int x; // ###\r\nint y;\r\n"
        );
    }

    #[test]
    fn changing_comment_words_in_place_keeps_hash_and_columns() {
        let a = "int x; /* first note */ int y;\nint z; // old words\nint w;\n";
        let b = "int x; /* other text */ int y;\nint z; // new stuff\nint w;\n";
        same(a, b);
        assert_eq!(shown(a).len(), a.len());
        assert_eq!(
            shown(a),
            "int x; /* ##### #### */ int y;\nint z; // ### #####\nint w;\n"
        );
    }

    #[test]
    fn moving_words_or_whitespace_inside_a_comment_changes_the_hash() {
        // Whitespace stays, so trailing whitespace inside a comment
        // (GCC's -Wtrailing-whitespace) is seen.
        differ("int x; // ab cd\nint y;\n", "int x; // abcd \nint y;\n");
        differ("int x; // ab\nint y;\n", "int x; // abc\nint y;\n");
    }

    #[test]
    fn a_comment_is_not_whitespace() {
        differ("int x; /*a*/\nint y;\n", "int x;      \nint y;\n");
        differ("/*a*/int x;\n", "     int x;\n");
        // Nor a comment of the other kind.
        differ("int x; //abc\nint y;\n", "int x; /*a*/\nint y;\n");
    }

    #[test]
    fn adding_a_comment_line_in_the_middle_changes_the_hash() {
        differ(
            PROGRAM,
            "int add(int a, int b)\n// new line\n{\n    return a + b; // the sum\n}\n",
        );
        differ(
            PROGRAM,
            "int add(int a, int b)\n{\n    return a + b; /* the\n sum */\n}\n",
        );
    }

    #[test]
    fn code_edits_change_the_hash() {
        differ(PROGRAM, &PROGRAM.replace("a + b", "a - b"));
        differ(PROGRAM, &PROGRAM.replace("a + b", "a +b "));
        differ(PROGRAM, &PROGRAM.replace("    return", "\treturn"));
        differ("int x;\n", "int y;\n");
    }

    #[test]
    fn final_newline_matters() {
        differ(PROGRAM, PROGRAM.trim_end_matches('\n'));
        differ("int x;\n", "int x;");
        // A comment at the end of a file without a final newline moves the
        // end of file (clang -Wnewline-eof): kept.
        differ("int x;", "int x; // c");
        same("int x; // a", "int x; // b");
    }

    #[test]
    fn trailing_whitespace_at_the_end_is_kept() {
        // GCC's -Wtrailing-whitespace reports these lines.
        differ("int x;\n", "int x;   \n");
        differ("int x;\n", "int x;\n/* a  \n */\n");
        differ("int x;\n", "int x;\n  // indented\n");
        differ("int x;\n", "int x;\n\x0c\n");
        // Kept, the tail is still blind to comment words.
        same("int x;   \n// one\n", "int x;   \n// two\n");
    }

    #[test]
    fn blank_lines_at_the_end_are_dropped() {
        same("int x;\n", "int x;\n\n\n");
        same("int x; // a\n", "int x;\n");
    }

    #[test]
    fn comment_only_and_empty_files() {
        same("", "");
        same("// one\n", "// two\n");
        same("// one\n", "\n");
        differ("", "\n");
        refused("/* open");
    }

    #[test]
    fn non_ascii_comments_stay_verbatim() {
        differ(
            "int x; // café\nint y;\n",
            "int x; // cafe\u{301}\nint y;\n",
        );
        differ("int x; // é\nint y;\n", "int x; // è\nint y;\n");
        assert_eq!(shown("int x; // é\n"), "int x; // é\n");
        // Non-ASCII code and strings are fine; the other comments are blind.
        same(
            "const char *s = \"é\"; // a\nint y;\n",
            "const char *s = \"é\"; // b\nint y;\n",
        );
    }

    #[test]
    fn fallthrough_comments_stay_verbatim() {
        for comment in [
            "/* FALLTHRU */",
            "// fall through",
            "// falls through",
            "/* FALL-THROUGH */",
            "// Fallthrough",
            "/* else fall thru */",
        ] {
            let a = format!("switch (x) {{ case 1: f(); {comment}\ncase 2: g(); }}\n");
            let b = a.replace(comment, &"x".repeat(comment.len()));
            differ(&a, &b);
            assert_eq!(shown(&a), a, "{comment}");
        }
        // -Wimplicit-fallthrough=1 takes any comment: presence is kept.
        differ(
            "switch (x) { case 1: f(); /* xx */\ncase 2: g(); }\n",
            "switch (x) { case 1: f();         \ncase 2: g(); }\n",
        );
    }

    #[test]
    fn doc_comments_stay_verbatim() {
        for (a, b) in [
            ("/** a */\nint x;\n", "/** b */\nint x;\n"),
            ("/*! a */\nint x;\n", "/*! b */\nint x;\n"),
            ("/// a\nint x;\n", "/// b\nint x;\n"),
            ("//! a\nint x;\n", "//! b\nint x;\n"),
            ("int x; ///< a\n", "int x; ///< b\n"),
        ] {
            differ(a, b);
        }
    }

    #[test]
    fn tool_comments_stay_verbatim() {
        for word in [
            "NOLINT",
            "NOLINTNEXTLINE(foo)",
            "lint",
            "NOTREACHED",
            "ARGSUSED",
            "VARARGS1",
            "PRINTFLIKE1",
            "clang-format off",
            "expected-warning {{unused}}",
            "expected-no-diagnostics",
            "IWYU pragma: keep",
        ] {
            let a = format!("int x; // {word}\nint y;\n");
            let b = format!("int x; // {}\nint y;\n", "z".repeat(word.len()));
            differ(&a, &b);
        }
    }

    #[test]
    fn nested_comment_start_stays_verbatim() {
        differ("/* a /* b */\nint x;\n", "/* a /* c */\nint x;\n");
        differ("// a /* b\nint x;\n", "// a /* c\nint x;\n");
        // `*/` in a line comment is harmless.
        same("// a */ b\nint x;\n", "// c */ d\nint x;\n");
    }

    #[test]
    fn comment_delimiters_in_strings_and_chars_are_code() {
        let a = "const char *s = \"// not a comment\";\nint y;\n";
        assert_eq!(shown(a), a);
        differ(a, &a.replace("not a", "NOT A"));
        let a = "int c = '/*'; int d = 1; /* x */\nint y;\n";
        assert_eq!(shown(a), "int c = '/*'; int d = 1; /* # */\nint y;\n");
        same(a, &a.replace("/* x */", "/* y */"));
        differ(a, &a.replace("d = 1", "d = 2"));
    }

    #[test]
    fn escapes_in_strings() {
        let a = "const char *s = \"a\\\" // b\"; int y;\n";
        assert_eq!(shown(a), a);
        let a = "const char *s = \"\\\\\"; // b\nint y;\n";
        assert_eq!(shown(a), "const char *s = \"\\\\\"; // #\nint y;\n");
        let a = "int q = '\\''; // b\nint c = '\"'; // c\nint y;\n";
        assert_eq!(
            shown(a),
            "int q = '\\''; // #\nint c = '\"'; // #\nint y;\n"
        );
        same("char c = L'x'; // a\n", "char c = L'x'; // b\n");
        same("char c = u8'x'; // a\n", "char c = u8'x'; // b\n");
    }

    #[test]
    fn raw_strings_are_refused() {
        refused("const char *s = R\"(/* x */)\";\n");
        refused("auto s = LR\"x(a)x\";\n");
        refused("auto s = uR\"(a)\";\n");
        refused("auto s = UR\"(a)\";\n");
        refused("auto s = u8R\"(a)\";\n");
        // R" in a string or comment is not a raw string.
        h("const char *s = \"R\\\"\"; // R\"(\n");
    }

    #[test]
    fn digit_separators_are_refused() {
        refused("int x = 1'000; // a\n");
        refused("int x = 0x1'ff;\n");
        refused("double d = 1.5'0;\n");
        refused("int x = 0b1'0;\n");
        // A quote glued to another word.
        refused("switch (c) { case'a': break; }\n");
        h("int x = 1000; char c = 'a';\n");
        h("int x = 1e+5; char c = '1';\n");
    }

    #[test]
    fn trigraphs_are_refused() {
        for t in [
            "??=", "??/", "??'", "??(", "??)", "??!", "??<", "??>", "??-",
        ] {
            refused(&format!("int x; // {t}\n"));
        }
        h("int x; // ?? what\n");
    }

    #[test]
    fn bad_bytes_are_refused() {
        assert_eq!(comment_blind_hash(b"int x; // \xff\n"), None);
        assert_eq!(comment_blind_hash(b"int x;\0\n"), None);
        refused("int x;\rint y;\n");
    }

    #[test]
    fn unterminated_literals_and_comments_are_refused() {
        refused("const char *s = \"abc;\n");
        refused("const char *s = \"abc");
        refused("char c = 'a;\n");
        refused("int x; /* open\n");
        refused("#if 0\nThis doesn't build\n#endif\n");
    }

    #[test]
    fn splices_in_code_keep_comments_blind_and_directives_verbatim() {
        same(
            "#define X 1 \\\n  + 2\nint x = X; /* a */\n",
            "#define X 1 \\\n  + 2\nint x = X; /* b */\n",
        );
        same(
            "int x = 1 \\  \n + 2; // a\n",
            "int x = 1 \\  \n + 2; // b\n",
        );
        // A comment on a directive's continuation line is the directive's.
        differ(
            "#define X 1 \\\n /* a */ + 2\nint x = X;\n",
            "#define X 1 \\\n /* b */ + 2\nint x = X;\n",
        );
        differ("int x = 1 \\\n + 2;\n", "int x = 1 \\\n + 3;\n");
    }

    #[test]
    fn in_c90_only_block_comments_are_blind() {
        let c90 = |text: &str| comment_blind_hash_c90(text.as_bytes());
        assert_eq!(c90("int a; /* one */\n"), c90("int a; /* two */\n"));
        assert!(c90("int a; /* one */\n").is_some());
        // `//` is code: 4 / (comment) 2, so the digits after it count.
        assert_ne!(c90("int a = 4 //**/ 2\n;\n"), c90("int a = 4 //**/ 3\n;\n"));
        assert_ne!(c90("int a = 4 // x\n;\n"), c90("int a = 4 // y\n;\n"));
        // An apostrophe after `//` opens a character literal in C90.
        assert_eq!(c90("int a; // don't\n"), None);
        // Never equal to the same text hashed with line comments.
        assert_ne!(c90("int a;\n"), comment_blind_hash(b"int a;\n"));
    }

    #[test]
    fn splices_that_could_join_comment_delimiters_or_split_strings_are_refused() {
        refused("int x = 4 /\\\n/ 2;\n");
        refused("int x = 4 \\\n/* c */ 2;\n");
        refused("int x = 4 \\\n// c\n;\n");
        refused("const char *s = \"a\\\nb\";\n");
        refused("const char *s = \"a\\\r\nb\";\n");
        refused("int x = 1; /\\\n* c */\n");
    }

    #[test]
    fn splices_in_comments_keep_them_verbatim() {
        // The splice continues the line comment over the next line.
        let a = "// a \\\nint x;\nint y;\n";
        assert_eq!(shown(a), a);
        differ(a, "// b \\\nint x;\nint y;\n");
        let a = "/* a \\\n b */ int x;\n";
        assert_eq!(shown(a), a);
        // `*` splice `/` ends a block comment.
        refused("/* a *\\\n/ int x;\n");
    }

    #[test]
    fn directive_comments_stay_verbatim() {
        differ("#include \"a.h\" // a\n", "#include \"a.h\" // b\n");
        differ("#include <a.h> /* a */\n", "#include <a.h> /* b */\n");
        differ(
            "#define X 1 /* a */\nint x;\n",
            "#define X 1 /* b */\nint x;\n",
        );
        differ("#pragma once // a\n", "#pragma once // b\n");
        differ("#error a // b\n", "#error a // c\n");
        differ("#endif // A\n", "#endif // B\n");
        differ("  # if 1 // a\n#endif\n", "  # if 1 // b\n#endif\n");
        differ("%:define X 1 // a\n", "%:define X 1 // b\n");
        // A comment before the `#` or spanning into its line.
        differ("/* a */ #define X 1\n", "/* b */ #define X 1\n");
        differ("/* a\n */ #define X 1\n", "/* b\n */ #define X 1\n");
        // A directive continued by a comment over two lines.
        differ("#define X 1 /*\n a */ + 2\n", "#define X 1 /*\n b */ + 2\n");
        // Other lines stay blind.
        same("#define X 1\nint x; // a\n", "#define X 1\nint x; // b\n");
        assert_eq!(shown("#define X 1 // a\n"), "#define X 1 // a\n");
    }

    #[test]
    fn comments_in_header_names_are_refused() {
        refused("#include <a//b.h>\n");
        refused("#include <a/*b.h>\nint x; /* c */\n");
        refused("#import <a//b.h>\n");
        refused("#include_next <a//b.h>\n");
        refused("#if __has_include(<a//b.h>)\n#endif\n");
        refused("#include \"a\\\" /* \"\n*/\n");
        // `<` in other directives opens no header name.
        differ("#if A < B // a\n#endif\n", "#if A < B // b\n#endif\n");
    }

    #[test]
    fn reading_files_into_the_output_is_refused() {
        refused("const char s[] = {\n#embed __FILE__\n};\n");
        refused("__asm__(\".incbin \\\"x.c\\\"\");\n");
    }

    #[test]
    fn byte_order_mark() {
        same("\u{feff}int x; // a\n", "\u{feff}int x; // b\n");
        differ("\u{feff}int x;\n", "int x;\n");
        refused("\u{feff}#include <a//b.h>\n");
    }

    #[test]
    fn domain_separated_from_raw_hash() {
        let text = b"int x;\n";
        assert_ne!(
            comment_blind_hash(text),
            Some(*blake3::hash(text).as_bytes())
        );
    }

    #[test]
    fn normalized_text_keeps_every_byte_position() {
        for text in [
            PROGRAM,
            "int x; /* a\n\t b */ int y; // c\r\nint z;\n",
            "#define X 1\n/* a */ int y;   \n",
        ] {
            let (body, tail) = normalize(text.as_bytes()).unwrap();
            if tail == Tail::Kept {
                assert_eq!(body.len(), text.len());
            }
            for (n, o) in body.iter().zip(text.bytes()) {
                assert!(*n == o || (*n == MARK && !is_space(o)));
            }
        }
    }

    /// Compiles `text` as `dir/t.c` and returns the object and stderr.
    fn gcc(dir: &std::path::Path, text: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        std::fs::write(dir.join("t.c"), text).unwrap();
        let out = std::process::Command::new("gcc")
            .args(["-c", "-g", "-O2", "-Wall", "-Wextra", "t.c", "-o", "t.o"])
            .current_dir(dir)
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some((std::fs::read(dir.join("t.o")).unwrap(), out.stderr))
    }

    const C_FILE: &str = "\
/* A small file. */
#include <stdio.h> // for printf

static int unused_fn(int x) { return x; } // warned about

int f(int a, int b) /* sum */
{
    int r = a + b; /* keep */
    switch (a) {
    case 1:
        r++;
        /* fall through */
    case 2:
        r += printf(\"%d // not a comment\\n\", r); // a note
        break;
    }
    return r;
}
";

    #[test]
    fn gcc_output_is_the_same_after_a_comment_only_edit() {
        let dir = tempfile::tempdir().unwrap();
        let edited = C_FILE
            .replace("/* A small file. */", "/* A short file. */")
            .replace("/* sum */", "/* add */")
            .replace("/* keep */", "/* left */")
            .replace("// a note", "// b text")
            + "\n/* edited */\n";
        assert_eq!(h(C_FILE), h(&edited));
        let Some((obj_a, err_a)) = gcc(dir.path(), C_FILE) else {
            eprintln!("gcc not found; skipped");
            return;
        };
        let (obj_b, err_b) = gcc(dir.path(), &edited).unwrap();
        assert!(!err_a.is_empty(), "the file should get a warning");
        assert!(obj_a == obj_b, "objects differ");
        assert_eq!(
            String::from_utf8_lossy(&err_a),
            String::from_utf8_lossy(&err_b)
        );
    }

    /// The caller's caveat: GCC's caret display quotes the source line of a
    /// diagnostic, comment included.
    #[test]
    fn gcc_quotes_the_comment_on_a_warned_line() {
        let dir = tempfile::tempdir().unwrap();
        let edited = C_FILE.replace("// warned about", "// warned ABOUT");
        assert_eq!(h(C_FILE), h(&edited));
        let Some((obj_a, err_a)) = gcc(dir.path(), C_FILE) else {
            return;
        };
        let (obj_b, err_b) = gcc(dir.path(), &edited).unwrap();
        assert!(obj_a == obj_b);
        assert_ne!(err_a, err_b);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = comment_blind_hash(&bytes);
        }

        #[test]
        fn c_like_text_never_panics_and_keeps_positions(
            text in "[ \t\r\n/*\"'\\\\#<>a-zR0-9_.'?=é%:+-]{0,120}"
        ) {
            if let Some((body, tail)) = normalize(text.as_bytes()) {
                if tail == Tail::Kept {
                    proptest::prop_assert_eq!(body.len(), text.len());
                }
                for (n, o) in body.iter().zip(text.bytes()) {
                    proptest::prop_assert!(*n == o || (*n == MARK && !is_space(o)));
                }
            }
        }
    }
}
