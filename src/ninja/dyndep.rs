//! Dyndep files (`ninja_dyndep_version = 1`): extra implicit inputs and
//! outputs for steps, discovered at build time.

use super::ManifestError;
use super::canon::canonicalize_path;
use super::eval::{EvalString, ROOT_SCOPE, ScopeEnv, Scopes};
use super::lexer::{EvalMode, Lexer, Token};
use std::collections::HashSet;
use std::path::Path;

/// One `build OUT | IMPLICIT_OUTS : dyndep | IMPLICIT_INS` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DyndepEntry {
    /// Canonical path of an explicit output of the step this entry extends.
    pub out: String,
    pub implicit_outs: Vec<String>,
    pub implicit_ins: Vec<String>,
    /// `restat = 1` bound on the entry.
    pub restat: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DyndepFile {
    pub entries: Vec<DyndepEntry>,
}

/// Parses a dyndep file. `has_build(out)` tells whether the manifest has a
/// build statement producing `out` (pass `|_| true` to skip that check);
/// errors match ninja 1.11.1's, pointing into the dyndep file at `path`.
pub fn parse_dyndep(
    path: &Path,
    contents: &[u8],
    has_build: &mut dyn FnMut(&str) -> bool,
) -> Result<DyndepFile, ManifestError> {
    let filename = path.to_string_lossy();
    // Ninja stops at a NUL byte and treats paths as bytes.
    let contents = match contents.iter().position(|&b| b == 0) {
        Some(nul) => &contents[..nul],
        None => contents,
    };
    let text = String::from_utf8_lossy(contents);
    let mut parser = DyndepParser {
        lexer: Lexer::new(&filename, &text),
        scopes: Scopes::new(),
        file: DyndepFile::default(),
        seen: HashSet::new(),
        path: EvalString::default(),
        has_build,
    };
    parser.parse()?;
    Ok(parser.file)
}

struct DyndepParser<'a, 'h> {
    lexer: Lexer<'a>,
    /// Holds `ninja_dyndep_version`, the only variable a dyndep file has.
    scopes: Scopes,
    file: DyndepFile,
    seen: HashSet<String>,
    path: EvalString,
    has_build: &'h mut dyn FnMut(&str) -> bool,
}

type DyndepResult<T = ()> = Result<T, ManifestError>;

impl DyndepParser<'_, '_> {
    fn error(&self, message: &str) -> ManifestError {
        ManifestError(self.lexer.error(message))
    }

    fn parse(&mut self) -> DyndepResult {
        let mut have_version = false;
        loop {
            let token = self.lexer.next_token();
            match token {
                Token::Newline => {}
                Token::Eof if have_version => return Ok(()),
                Token::Ident if !have_version => {
                    self.lexer.unread();
                    self.parse_version()?;
                    have_version = true;
                }
                _ if !have_version => {
                    return Err(self.error(EXPECTED_VERSION));
                }
                Token::Build => self.parse_build()?,
                Token::Error => return Err(self.error(self.lexer.describe_last_error())),
                other => return Err(self.error(&format!("unexpected {}", other.name()))),
            }
        }
    }

    fn parse_version(&mut self) -> DyndepResult {
        let mut value = EvalString::default();
        let name = self.parse_let(&mut value)?;
        if name != "ninja_dyndep_version" {
            return Err(self.error(EXPECTED_VERSION));
        }
        let version = self.evaluate(&value)?;
        let mut parts = version.split('.');
        let major = parts.next().map_or(0, leading_number);
        let minor = parts.next().map_or(0, leading_number);
        if major != 1 || minor != 0 {
            return Err(self.error(&format!("unsupported 'ninja_dyndep_version = {version}'")));
        }
        self.scopes.set_var(ROOT_SCOPE, &name, version);
        Ok(())
    }

    fn parse_let(&mut self, value: &mut EvalString) -> DyndepResult<String> {
        let Some(name) = self.lexer.read_ident() else {
            return Err(self.error("expected variable name"));
        };
        let name = name.to_string();
        self.expect(Token::Equals)?;
        self.lexer
            .read_eval(EvalMode::Value, value)
            .map_err(ManifestError)?;
        Ok(name)
    }

    fn expect(&mut self, expected: Token) -> DyndepResult {
        let got = self.lexer.next_token();
        if got == expected {
            return Ok(());
        }
        Err(self.error(&format!(
            "expected {}, got {}{}",
            expected.name(),
            got.name(),
            expected.error_hint()
        )))
    }

    fn evaluate(&self, eval: &EvalString) -> DyndepResult<String> {
        let mut out = String::new();
        let mut env = ScopeEnv {
            scopes: &self.scopes,
            scope: ROOT_SCOPE,
        };
        eval.evaluate_into(&mut env, &mut out)
            .map_err(ManifestError)?;
        Ok(out)
    }

    /// Reads one path; `None` when there is none here.
    fn read_path(&mut self) -> DyndepResult<Option<String>> {
        let mut path = std::mem::take(&mut self.path);
        let result = self.lexer.read_eval(EvalMode::Path, &mut path);
        let value = match result {
            Ok(()) if path.is_empty() => Ok(None),
            Ok(()) => self.evaluate(&path).and_then(|value| {
                if value.is_empty() {
                    Err(self.error("empty path"))
                } else {
                    Ok(Some(canonicalize_path(&value)))
                }
            }),
            Err(message) => Err(ManifestError(message)),
        };
        self.path = path;
        value
    }

    fn read_path_list(&mut self) -> DyndepResult<Vec<String>> {
        let mut paths = Vec::new();
        while let Some(path) = self.read_path()? {
            paths.push(path);
        }
        Ok(paths)
    }

    fn parse_build(&mut self) -> DyndepResult {
        let Some(out) = self.read_path()? else {
            return Err(self.error("expected path"));
        };
        if !(self.has_build)(&out) {
            return Err(self.error(&format!("no build statement exists for '{out}'")));
        }
        if !self.seen.insert(out.clone()) {
            return Err(self.error(&format!("multiple statements for '{out}'")));
        }
        if self.read_path()?.is_some() {
            return Err(self.error("explicit outputs not supported"));
        }
        let mut entry = DyndepEntry {
            out,
            ..DyndepEntry::default()
        };
        if self.lexer.peek_token(Token::Pipe) {
            entry.implicit_outs = self.read_path_list()?;
        }
        self.expect(Token::Colon)?;
        if self.lexer.read_ident() != Some("dyndep") {
            return Err(self.error("expected build command name 'dyndep'"));
        }
        if self.read_path()?.is_some() {
            return Err(self.error("explicit inputs not supported"));
        }
        if self.lexer.peek_token(Token::Pipe) {
            entry.implicit_ins = self.read_path_list()?;
        }
        if self.lexer.peek_token(Token::Pipe2) {
            return Err(self.error("order-only inputs not supported"));
        }
        self.expect(Token::Newline)?;
        if self.lexer.peek_token(Token::Indent) {
            let mut value = EvalString::default();
            let name = self.parse_let(&mut value)?;
            if name != "restat" {
                return Err(self.error("binding is not 'restat'"));
            }
            entry.restat = !self.evaluate(&value)?.is_empty();
        }
        self.file.entries.push(entry);
        Ok(())
    }
}

const EXPECTED_VERSION: &str = "expected 'ninja_dyndep_version = ...'";

/// The leading decimal digits of `text` as a number (0 when none).
fn leading_number(text: &str) -> u64 {
    text.bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u64, |acc, b| {
            acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILDS: [&str; 2] = ["out", "out2"];

    fn parse(text: &str) -> Result<DyndepFile, String> {
        parse_dyndep(Path::new("dd"), text.as_bytes(), &mut |out: &str| {
            BUILDS.contains(&out)
        })
        .map_err(|e| e.0)
    }

    #[test]
    fn entries() {
        let file = parse(
            "ninja_dyndep_version = 1.0\nbuild out | ./x: dyndep | y z\n  restat = 1\n\
             # c\nbuild out2: dyndep\n",
        )
        .unwrap();
        assert_eq!(
            file.entries,
            vec![
                DyndepEntry {
                    out: "out".into(),
                    implicit_outs: vec!["x".into()],
                    implicit_ins: vec!["y".into(), "z".into()],
                    restat: true,
                },
                DyndepEntry {
                    out: "out2".into(),
                    ..DyndepEntry::default()
                }
            ]
        );
    }

    /// Expected strings observed from ninja 1.11.1.
    #[test]
    fn errors_match_ninja() {
        let v = "ninja_dyndep_version = 1\n";
        let cases = [
            (
                "build out: dyndep\n".to_string(),
                "dd:1: expected 'ninja_dyndep_version = ...'\n",
            ),
            (
                "".to_string(),
                "dd:1: expected 'ninja_dyndep_version = ...'\n",
            ),
            (
                "x = 1\nninja_dyndep_version = 1\n".to_string(),
                "dd:1: expected 'ninja_dyndep_version = ...'\nx = 1\n     ^ near here",
            ),
            (
                "ninja_dyndep_version = 2\nbuild out: dyndep\n".to_string(),
                "dd:1: unsupported 'ninja_dyndep_version = 2'\nninja_dyndep_version = 2\n                        ^ near here",
            ),
            (
                format!("{v}build out: foo\n"),
                "dd:2: expected build command name 'dyndep'\nbuild out: foo\n           ^ near here",
            ),
            (
                format!("{v}build out out2: dyndep\n"),
                "dd:2: explicit outputs not supported\nbuild out out2: dyndep\n              ^ near here",
            ),
            (
                format!("{v}build out: dyndep a\n"),
                "dd:2: explicit inputs not supported\nbuild out: dyndep a\n                   ^ near here",
            ),
            (
                format!("{v}build out: dyndep || a\n"),
                "dd:2: order-only inputs not supported\nbuild out: dyndep || a\n                  ^ near here",
            ),
            (
                format!("{v}build out: dyndep\n  foo = 1\n"),
                "dd:3: binding is not 'restat'\n  foo = 1\n         ^ near here",
            ),
            (
                format!("{v}build zz: dyndep\n"),
                "dd:2: no build statement exists for 'zz'\nbuild zz: dyndep\n        ^ near here",
            ),
            (
                format!("{v}build out: dyndep\nbuild out: dyndep\n"),
                "dd:3: multiple statements for 'out'\nbuild out: dyndep\n         ^ near here",
            ),
            (format!("{v}rule x\n"), "dd:2: unexpected 'rule'\n"),
            (
                format!("{v}x = 1\nbuild out: dyndep\n"),
                "dd:2: unexpected identifier\n",
            ),
            (
                format!("{v}build : dyndep\n"),
                "dd:2: expected path\nbuild : dyndep\n      ^ near here",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(&input).unwrap_err(), expected, "input:\n{input}");
        }
    }
}
