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

mod lexer;
#[cfg(test)]
mod tests;

use lexer::{lex, lex_text};

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
pub fn comment_blind_hash(content: &[u8]) -> Option<crate::hash::Digest> {
    hash_normalized(content, true)
}

/// [`comment_blind_hash`] for strict C90 (`-std=c89`, `-ansi`, ...),
/// where only `/* */` is a comment and `//` is two slashes of code.
pub fn comment_blind_hash_c90(content: &[u8]) -> Option<crate::hash::Digest> {
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

fn hash_normalized(content: &[u8], line_comments: bool) -> Option<crate::hash::Digest> {
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
