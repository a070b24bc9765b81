//! Byte-level lexer for the ninja language.
//!
//! The lexer only knows about tokens and eval strings; it never allocates
//! per character. It remembers where the last token started so the parser
//! can point error messages at it exactly the way ninja does.

use super::eval::EvalString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Build,
    Rule,
    Pool,
    Default,
    Include,
    Subninja,
    Ident,
    Equals,
    Colon,
    Pipe,
    Pipe2,
    PipeAt,
    Newline,
    Indent,
    Eof,
    Error,
}

impl Token {
    /// The token as ninja names it in "expected X, got Y" messages.
    pub fn name(self) -> &'static str {
        match self {
            Token::Build => "'build'",
            Token::Rule => "'rule'",
            Token::Pool => "'pool'",
            Token::Default => "'default'",
            Token::Include => "'include'",
            Token::Subninja => "'subninja'",
            Token::Ident => "identifier",
            Token::Equals => "'='",
            Token::Colon => "':'",
            Token::Pipe => "'|'",
            Token::Pipe2 => "'||'",
            Token::PipeAt => "'|@'",
            Token::Newline => "newline",
            Token::Indent => "indent",
            Token::Eof => "eof",
            Token::Error => "lexing error",
        }
    }

    /// Extra hint appended when this token was expected but missing.
    pub fn error_hint(self) -> &'static str {
        match self {
            Token::Colon => " ($ also escapes ':')",
            _ => "",
        }
    }
}

/// Whether an eval string is a path (ends at space, `:` or `|`) or a
/// variable value (ends at the newline, which it consumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMode {
    Path,
    Value,
}

/// Characters allowed in identifiers, rule names and `${...}` references.
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Characters allowed in a bare `$name` reference (no `.`, so that
/// `$out.d` means `${out}.d`).
fn is_simple_var_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

pub struct Lexer<'a> {
    filename: &'a str,
    input: &'a str,
    pos: usize,
    /// Start of the last token (or eval-string piece): where errors point.
    last_token: usize,
    /// Cache for `line_of`, which the parser calls once per statement.
    #[cfg(test)]
    line_cache: (usize, usize),
}

impl<'a> Lexer<'a> {
    /// `input` must already be cut at its first NUL byte: ninja treats NUL
    /// as end of input.
    pub fn new(filename: &'a str, input: &'a str) -> Self {
        Lexer {
            filename,
            input,
            pos: 0,
            last_token: 0,
            #[cfg(test)]
            line_cache: (0, 1),
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.input.as_bytes().get(at).copied()
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        // Callers only cut next to ASCII bytes, so this never fails; the
        // fallback keeps user input from ever causing a panic regardless.
        self.input.get(start..end).unwrap_or("")
    }

    /// Byte offset where the last token started.
    #[cfg(test)]
    pub fn last_token_start(&self) -> usize {
        self.last_token
    }

    /// 1-based line number of byte offset `pos`.
    #[cfg(test)]
    pub fn line_of(&mut self, pos: usize) -> usize {
        let (cached_pos, cached_line) = self.line_cache;
        let (from, base) = if pos >= cached_pos {
            (cached_pos, cached_line)
        } else {
            (0, 1)
        };
        let end = pos.min(self.input.len());
        let newlines = self.input.as_bytes()[from.min(end)..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line_cache = (end, base + newlines);
        base + newlines
    }

    /// Reads the next token, skipping comments. After any token other than
    /// a newline, trailing spaces and `$\n` continuations are skipped, so an
    /// `Indent` can only be produced at the start of a line.
    pub fn next_token(&mut self) -> Token {
        let bytes = self.input.as_bytes();
        loop {
            let start = self.pos;
            self.last_token = start;
            let mut after_spaces = start;
            while bytes.get(after_spaces) == Some(&b' ') {
                after_spaces += 1;
            }
            let had_spaces = after_spaces > start;
            match bytes.get(after_spaces) {
                Some(b'#') => {
                    // A comment only counts as one when its line ends; an
                    // unterminated comment at EOF is a lexing error in ninja.
                    if let Some(nl) = bytes[after_spaces..].iter().position(|&b| b == b'\n') {
                        self.pos = after_spaces + nl + 1;
                        continue;
                    }
                    if had_spaces {
                        self.pos = after_spaces;
                        return Token::Indent;
                    }
                    return Token::Error;
                }
                Some(b'\n') => {
                    self.pos = after_spaces + 1;
                    return Token::Newline;
                }
                Some(b'\r') if bytes.get(after_spaces + 1) == Some(&b'\n') => {
                    self.pos = after_spaces + 2;
                    return Token::Newline;
                }
                _ if had_spaces => {
                    self.pos = after_spaces;
                    return Token::Indent;
                }
                None => return Token::Eof,
                Some(_) => {}
            }
            let token = self.scan_token(start);
            if token != Token::Error {
                self.eat_whitespace();
            }
            return token;
        }
    }

    fn scan_token(&mut self, start: usize) -> Token {
        let bytes = self.input.as_bytes();
        let Some(&first) = bytes.get(start) else {
            return Token::Eof;
        };
        let (token, len) = match first {
            b'=' => (Token::Equals, 1),
            b':' => (Token::Colon, 1),
            b'|' => match bytes.get(start + 1) {
                Some(b'|') => (Token::Pipe2, 2),
                Some(b'@') => (Token::PipeAt, 2),
                _ => (Token::Pipe, 1),
            },
            b if is_ident_byte(b) => {
                let len = bytes[start..]
                    .iter()
                    .take_while(|&&b| is_ident_byte(b))
                    .count();
                let token = match &bytes[start..start + len] {
                    b"build" => Token::Build,
                    b"rule" => Token::Rule,
                    b"pool" => Token::Pool,
                    b"default" => Token::Default,
                    b"include" => Token::Include,
                    b"subninja" => Token::Subninja,
                    _ => Token::Ident,
                };
                (token, len)
            }
            _ => return Token::Error,
        };
        self.pos = start + len;
        token
    }

    /// Puts the last token back, so it can be re-read another way (a
    /// top-level identifier is re-read with `read_ident`).
    pub fn unread(&mut self) {
        self.pos = self.last_token;
    }

    /// Reads `token` if it is next; otherwise leaves the input untouched.
    pub fn peek_token(&mut self, token: Token) -> bool {
        let saved = self.pos;
        if self.next_token() == token {
            return true;
        }
        self.pos = saved;
        false
    }

    /// Skips spaces and `$`-newline continuations between tokens.
    fn eat_whitespace(&mut self) {
        let bytes = self.input.as_bytes();
        loop {
            match bytes.get(self.pos) {
                Some(b' ') => self.pos += 1,
                Some(b'$') if bytes.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                Some(b'$')
                    if bytes.get(self.pos + 1) == Some(&b'\r')
                        && bytes.get(self.pos + 2) == Some(&b'\n') =>
                {
                    self.pos += 3
                }
                _ => return,
            }
        }
    }

    /// Reads an identifier (variable, rule or pool name), or `None` when
    /// the next character cannot start one.
    pub fn read_ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        self.last_token = start;
        let len = self.input.as_bytes()[start.min(self.input.len())..]
            .iter()
            .take_while(|&&b| is_ident_byte(b))
            .count();
        if len == 0 {
            return None;
        }
        self.pos = start + len;
        let ident = self.slice(start, start + len);
        self.eat_whitespace();
        Some(ident)
    }

    /// Reads an eval string into `out` (cleared first). A path that is
    /// empty means "no more paths here". On error, returns ninja's message.
    pub fn read_eval(&mut self, mode: EvalMode, out: &mut EvalString) -> Result<(), String> {
        out.clear();
        let bytes = self.input.as_bytes();
        loop {
            let start = self.pos;
            self.last_token = start;
            let Some(&b) = bytes.get(start) else {
                return Err(self.error("unexpected EOF"));
            };
            match b {
                b'\n' => {
                    if mode == EvalMode::Value {
                        self.pos = start + 1;
                    }
                    break;
                }
                b'\r' if bytes.get(start + 1) == Some(&b'\n') => {
                    if mode == EvalMode::Value {
                        self.pos = start + 2;
                    }
                    break;
                }
                b'\r' => return Err(self.error("lexing error")),
                b' ' | b':' | b'|' if mode == EvalMode::Path => break,
                b'$' => self.read_escape(out)?,
                _ => {
                    let ends_literal = |b: u8| match mode {
                        EvalMode::Path => matches!(b, b'$' | b' ' | b':' | b'|' | b'\r' | b'\n'),
                        EvalMode::Value => matches!(b, b'$' | b'\r' | b'\n'),
                    };
                    let len = bytes[start..]
                        .iter()
                        .take_while(|&&b| !ends_literal(b))
                        .count()
                        .max(1);
                    out.push_literal(self.slice(start, start + len));
                    self.pos = start + len;
                }
            }
        }
        if mode == EvalMode::Path {
            self.eat_whitespace();
        }
        Ok(())
    }

    /// Handles one `$` escape at `self.pos`.
    fn read_escape(&mut self, out: &mut EvalString) -> Result<(), String> {
        let bytes = self.input.as_bytes();
        let dollar = self.pos;
        match bytes.get(dollar + 1) {
            Some(b'$' | b' ' | b':') => {
                out.push_literal(self.slice(dollar + 1, dollar + 2));
                self.pos = dollar + 2;
            }
            Some(b'\n') => self.skip_continuation(dollar + 2),
            Some(b'\r') if bytes.get(dollar + 2) == Some(&b'\n') => {
                self.skip_continuation(dollar + 3)
            }
            Some(b'{') => {
                let name_start = dollar + 2;
                let len = bytes[name_start..]
                    .iter()
                    .take_while(|&&b| is_ident_byte(b))
                    .count();
                if len == 0 || bytes.get(name_start + len) != Some(&b'}') {
                    return Err(self.error(BAD_ESCAPE));
                }
                out.push_var(self.slice(name_start, name_start + len));
                self.pos = name_start + len + 1;
            }
            Some(&b) if is_simple_var_byte(b) => {
                let name_start = dollar + 1;
                let len = bytes[name_start..]
                    .iter()
                    .take_while(|&&b| is_simple_var_byte(b))
                    .count();
                out.push_var(self.slice(name_start, name_start + len));
                self.pos = name_start + len;
            }
            _ => return Err(self.error(BAD_ESCAPE)),
        }
        Ok(())
    }

    /// A `$` at end of line joins the next line, minus its indentation.
    fn skip_continuation(&mut self, next_line: usize) {
        let spaces = self.input.as_bytes()[next_line.min(self.input.len())..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
        self.pos = next_line + spaces;
    }

    /// Describes an `Error` token the way ninja does.
    pub fn describe_last_error(&self) -> &'static str {
        match self.byte(self.last_token) {
            Some(b'\t') => "tabs are not allowed, use spaces",
            _ => "lexing error",
        }
    }

    /// Formats `message` as ninja does: `FILE:LINE: message`, then, when the
    /// last token is not at the start of its line, the line and a caret.
    pub fn error(&self, message: &str) -> String {
        format_error(self.filename, self.input, self.last_token, message)
    }
}

const BAD_ESCAPE: &str = "bad $-escape (literal $ must be written as $$)";

/// Ninja truncates the quoted line at this many bytes.
const TRUNCATE_COLUMN: usize = 72;

/// Builds a ninja-style error message pointing at byte offset `at`.
pub fn format_error(filename: &str, input: &str, at: usize, message: &str) -> String {
    let bytes = input.as_bytes();
    let at = at.min(bytes.len());
    let line_start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |nl| nl + 1);
    let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    let col = at - line_start;
    let mut text = format!("{filename}:{line}: {message}\n");
    if col > 0 && col < TRUNCATE_COLUMN {
        let rest = &bytes[line_start..];
        let line_len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let shown = line_len.min(TRUNCATE_COLUMN);
        text.push_str(&String::from_utf8_lossy(&rest[..shown]));
        if line_len >= TRUNCATE_COLUMN {
            text.push_str("...");
        }
        text.push('\n');
        text.extend(std::iter::repeat_n(' ', col));
        text.push_str("^ near here");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ninja::eval::Part;

    fn tokens(input: &str) -> Vec<Token> {
        let mut lexer = Lexer::new("t", input);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token();
            out.push(token);
            if matches!(token, Token::Eof | Token::Error) || out.len() > 100 {
                return out;
            }
        }
    }

    #[test]
    fn keywords_and_punctuation() {
        use Token::*;
        assert_eq!(
            tokens("build rule pool default include subninja builder = : | || |@\n"),
            vec![
                Build, Rule, Pool, Default, Include, Subninja, Ident, Equals, Colon, Pipe, Pipe2,
                PipeAt, Newline, Eof
            ]
        );
    }

    #[test]
    fn indent_comments_and_blank_lines() {
        use Token::*;
        assert_eq!(
            tokens("a\n  b\n# c\n   # d\n\n   \r\nx"),
            vec![
                Ident, Newline, Indent, Ident, Newline, Newline, Newline, Ident, Eof
            ]
        );
        assert_eq!(tokens("# no newline"), vec![Error]);
        assert_eq!(tokens("a $\n   b"), vec![Ident, Ident, Eof]);
    }

    fn eval(input: &str, mode: EvalMode) -> Result<Vec<(bool, String)>, String> {
        let mut lexer = Lexer::new("t", input);
        let mut out = EvalString::default();
        lexer.read_eval(mode, &mut out)?;
        Ok(out
            .parts()
            .map(|part| match part {
                Part::Literal(s) => (false, s.to_string()),
                Part::Var(s) => (true, s.to_string()),
            })
            .collect())
    }

    #[test]
    fn eval_escapes() {
        let parts = eval("a$$b$ c$:d$\n   e ${x.y}$z.w\n", EvalMode::Value).unwrap();
        assert_eq!(
            parts,
            vec![
                (false, "a$b c:de ".to_string()),
                (true, "x.y".to_string()),
                (true, "z".to_string()),
                (false, ".w".to_string())
            ]
        );
        let parts = eval("a$ b:c", EvalMode::Path).unwrap();
        assert_eq!(parts, vec![(false, "a b".to_string())]);
    }

    #[test]
    fn eval_errors_match_ninja() {
        let mut lexer = Lexer::new("build.ninja", "x = ${foo\n");
        lexer.pos = 4;
        let mut out = EvalString::default();
        assert_eq!(
            lexer.read_eval(EvalMode::Value, &mut out),
            Err(
                "build.ninja:1: bad $-escape (literal $ must be written as $$)\n\
                 x = ${foo\n    ^ near here"
                    .to_string()
            )
        );
        let mut lexer = Lexer::new("build.ninja", "x = 1");
        lexer.pos = 4;
        assert_eq!(
            lexer.read_eval(EvalMode::Value, &mut out),
            Err("build.ninja:1: unexpected EOF\nx = 1\n     ^ near here".to_string())
        );
    }

    #[test]
    fn error_context_is_truncated() {
        let line = "x".repeat(100);
        let text = format_error("f", &line, 10, "m");
        assert_eq!(
            text,
            format!(
                "f:1: m\n{}...\n{}^ near here",
                "x".repeat(72),
                " ".repeat(10)
            )
        );
        assert_eq!(format_error("f", "a\nb", 2, "m"), "f:2: m\n");
    }
}
