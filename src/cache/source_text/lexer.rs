//! The small C/C++/ObjC lexer behind the comment-blind hash: finds the
//! comments (code, strings, chars, `//` and `/* */`, splices, directives)
//! and says which must stay verbatim; refuses (`None`) whatever it cannot
//! be sure of. `lex_text` is one state machine over the bytes and is kept
//! whole: its states share the per-line bookkeeping, and cutting it into
//! pieces would hand that state around instead of making it easier to read.

use super::is_space;

/// One comment found by the lexer: `start..end` in bytes, delimiters
/// included, and whether it must stay verbatim.
pub(super) struct Comment {
    pub(super) start: usize,
    pub(super) end: usize,
    /// Index of the first and last physical line it touches.
    pub(super) first_line: usize,
    pub(super) last_line: usize,
    pub(super) verbatim: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Str,
    Char,
    LineComment,
    BlockComment,
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
pub(super) fn lex(text: &[u8], line_comments: bool) -> Option<Vec<Comment>> {
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
pub(super) struct Lexed {
    pub(super) comments: Vec<Comment>,
    /// Per physical line: whether it is (part of) a preprocessor directive.
    pub(super) directive_lines: Vec<bool>,
    /// The code and string text, to look for words that read files.
    pub(super) code_text: Vec<u8>,
}

/// Lexes the text: its comments (`verbatim` only where a splice continues
/// one), or `None` for anything the lexer refuses.
pub(super) fn lex_text(text: &[u8], line_comments: bool) -> Option<Lexed> {
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
