//! Makefile-syntax depfiles, as `gcc -MD`/`clang -MD` write them: which
//! files a compile read, so later builds notice header changes.
//!
//! The accepted syntax follows what compilers emit and what ninja 1.11
//! tolerates:
//!
//! * `target...: prerequisite...` rules, possibly several per file, with `\`
//!   line continuations and LF or CRLF line ends;
//! * `\ ` for a space inside a path (more precisely: `2N+1` backslashes and
//!   a space are `N` backslashes and a space inside the path; `2N`
//!   backslashes and a space are `2N` backslashes ending the path), `\#` for
//!   `#`, `$$` for `$`; other backslashes are literal, so Windows-style
//!   paths survive;
//! * `-MP` rules (`header.h:` with nothing after the colon) name a file that
//!   is already a prerequisite; they only exist to keep make quiet when the
//!   header is deleted, and contribute nothing;
//! * `#` starting a word begins a comment up to the end of the line.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DepfileError {
    #[error("cannot read depfile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("depfile {path} is not valid UTF-8")]
    NotUtf8 { path: PathBuf },
    #[error("expected ':' after {word:?} on line {line} of depfile")]
    MissingColon { word: String, line: usize },
}

/// What a depfile says: the outputs it describes and everything they depend
/// on, each list deduplicated in order of first mention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depfile {
    pub outputs: Vec<String>,
    pub inputs: Vec<String>,
}

impl Depfile {
    /// Whether the depfile describes `output`. Ninja treats a depfile that
    /// does not mention the step's first output as stale.
    #[cfg(test)]
    pub fn mentions(&self, output: &str) -> bool {
        self.outputs.iter().any(|mentioned| mentioned == output)
    }
}

/// Reads and parses the depfile at `path`.
pub fn parse_file(path: &Path) -> Result<Depfile, DepfileError> {
    let bytes = std::fs::read(path).map_err(|source| DepfileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| DepfileError::NotUtf8 {
        path: path.to_owned(),
    })?;
    parse(&text)
}

/// One `targets: prerequisites` rule.
#[derive(Debug, Default)]
struct Rule {
    targets: Vec<String>,
    prerequisites: Vec<String>,
}

/// Parses depfile text.
pub fn parse(text: &str) -> Result<Depfile, DepfileError> {
    let rules = parse_rules(text)?;
    let mut depfile = Depfile::default();
    for rule in &rules {
        let is_phony_header_rule = rule.prerequisites.is_empty()
            && rule
                .targets
                .iter()
                .all(|target| depfile.inputs.contains(target));
        if is_phony_header_rule {
            continue;
        }
        for target in &rule.targets {
            push_unique(&mut depfile.outputs, target);
        }
        for prerequisite in &rule.prerequisites {
            push_unique(&mut depfile.inputs, prerequisite);
        }
    }
    Ok(depfile)
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|existing| existing == item) {
        list.push(item.to_owned());
    }
}

/// Splits the text into rules, undoing the escapes of each word.
fn parse_rules(text: &str) -> Result<Vec<Rule>, DepfileError> {
    let mut rules = Vec::new();
    let mut rule = Rule::default();
    let mut seen_colon = false;
    let mut word = String::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();

    // Ends the word in progress, filing it as a target or prerequisite.
    let finish_word = |word: &mut String, rule: &mut Rule, seen_colon: bool| {
        if word.is_empty() {
            return;
        }
        let word = std::mem::take(word);
        if seen_colon {
            rule.prerequisites.push(word);
        } else {
            rule.targets.push(word);
        }
    };

    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let mut backslashes = 1;
                while chars.next_if_eq(&'\\').is_some() {
                    backslashes += 1;
                }
                match chars.peek() {
                    Some(' ') if backslashes % 2 == 1 => {
                        chars.next();
                        word.extend(std::iter::repeat_n('\\', backslashes / 2));
                        word.push(' ');
                    }
                    Some('#') => {
                        chars.next();
                        word.extend(std::iter::repeat_n('\\', backslashes - 1));
                        word.push('#');
                    }
                    Some('\n') | Some('\r') => {
                        // Line continuation: the last backslash joins the
                        // lines, and acts as a word break.
                        word.extend(std::iter::repeat_n('\\', backslashes - 1));
                        chars.next_if_eq(&'\r');
                        if chars.next_if_eq(&'\n').is_some() {
                            line += 1;
                        }
                        finish_word(&mut word, &mut rule, seen_colon);
                    }
                    _ => word.extend(std::iter::repeat_n('\\', backslashes)),
                }
            }
            '$' => {
                // `$$` is an escaped `$`; a lone `$` is taken literally.
                chars.next_if_eq(&'$');
                word.push('$');
            }
            ' ' | '\t' => finish_word(&mut word, &mut rule, seen_colon),
            '\r' | '\n' => {
                if c == '\r' {
                    chars.next_if_eq(&'\n');
                }
                finish_word(&mut word, &mut rule, seen_colon);
                end_rule(&mut rules, &mut rule, &mut seen_colon, line)?;
                line += 1;
            }
            '#' if word.is_empty() => {
                while chars
                    .next_if(|&next| next != '\n' && next != '\r')
                    .is_some()
                {}
            }
            ':' if !seen_colon && ends_target(&word, chars.peek().copied()) => {
                finish_word(&mut word, &mut rule, seen_colon);
                seen_colon = true;
            }
            _ => word.push(c),
        }
    }
    finish_word(&mut word, &mut rule, seen_colon);
    end_rule(&mut rules, &mut rule, &mut seen_colon, line)?;
    Ok(rules)
}

/// Whether a `:` after `word`, followed by `next`, separates targets from
/// prerequisites rather than being part of a Windows drive (`c:\x`).
fn ends_target(word: &str, next: Option<char>) -> bool {
    let is_drive = word.len() == 1
        && word.chars().all(|c| c.is_ascii_alphabetic())
        && matches!(next, Some('\\') | Some('/'));
    !is_drive
}

fn end_rule(
    rules: &mut Vec<Rule>,
    rule: &mut Rule,
    seen_colon: &mut bool,
    line: usize,
) -> Result<(), DepfileError> {
    let finished = std::mem::take(rule);
    let had_colon = std::mem::replace(seen_colon, false);
    if finished.targets.is_empty() && finished.prerequisites.is_empty() {
        return Ok(());
    }
    if !had_colon {
        return Err(DepfileError::MissingColon {
            word: finished.targets.join(" "),
            line,
        });
    }
    rules.push(finished);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    /// `gcc -MD -MP` for "my main.c" including "sub dir/we ird#$h.h".
    const GCC_MP: &str = "my\\ main.o: my\\ main.c /usr/include/stdc-predef.h \
        sub\\ dir/we\\ ird\\#$$h.h \\\n plain.h\n/usr/include/stdc-predef.h:\n\
        sub\\ dir/we\\ ird\\#$$h.h:\nplain.h:\n";
    /// `clang -MD -MP` for the same file.
    const CLANG_MP: &str = "out\\ dir.o: my\\ main.c sub\\ dir/we\\ ird\\#$$h.h plain.h\n\n\
        sub\\ dir/we\\ ird\\#$$h.h:\n\nplain.h:\n";

    #[test]
    fn gcc_with_phony_headers_and_escapes() {
        let depfile = parse(GCC_MP).unwrap();
        assert_eq!(depfile.outputs, strings(&["my main.o"]));
        assert_eq!(
            depfile.inputs,
            strings(&[
                "my main.c",
                "/usr/include/stdc-predef.h",
                "sub dir/we ird#$h.h",
                "plain.h"
            ])
        );
        assert!(depfile.mentions("my main.o"));
    }

    #[test]
    fn clang_with_blank_lines() {
        let depfile = parse(CLANG_MP).unwrap();
        assert_eq!(depfile.outputs, strings(&["out dir.o"]));
        assert_eq!(
            depfile.inputs,
            strings(&["my main.c", "sub dir/we ird#$h.h", "plain.h"])
        );
    }

    #[test]
    fn crlf_continuations_and_multiple_targets() {
        let depfile = parse("a.o b.o: x.c \\\r\n  y.h\r\nb.o: z.h y.h\r\n").unwrap();
        assert_eq!(depfile.outputs, strings(&["a.o", "b.o"]));
        assert_eq!(depfile.inputs, strings(&["x.c", "y.h", "z.h"]));
    }

    #[test]
    fn backslash_runs_follow_ninja() {
        let depfile = parse("out: a\\\\\\ b c\\\\ d\\x e\\\\\\#f\n").unwrap();
        assert_eq!(
            depfile.inputs,
            strings(&["a\\ b", "c\\\\", "d\\x", "e\\\\#f"])
        );
    }

    #[test]
    fn windows_paths_and_no_space_after_colon() {
        let depfile = parse("c:\\out\\a.o: c:\\src\\a.c\nb.o:b.c\n").unwrap();
        assert_eq!(depfile.outputs, strings(&["c:\\out\\a.o", "b.o"]));
        assert_eq!(depfile.inputs, strings(&["c:\\src\\a.c", "b.c"]));
    }

    #[test]
    fn empty_and_comment_only_files_have_no_deps() {
        assert_eq!(parse("").unwrap(), Depfile::default());
        assert_eq!(parse("\n# comment\n\n").unwrap(), Depfile::default());
        let depfile = parse("out.o:\n").unwrap();
        assert_eq!(depfile.outputs, strings(&["out.o"]));
        assert!(depfile.inputs.is_empty());
    }

    #[test]
    fn words_without_a_rule_are_an_error() {
        let error = parse("out.o: a.h\nstray words\n").unwrap_err();
        assert!(matches!(error, DepfileError::MissingColon { line: 2, .. }));
    }

    /// Compiles a file whose name and include contain spaces, `#` and `$`
    /// with each installed compiler and checks the depfile it writes.
    #[test]
    fn real_compiler_depfiles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub dir")).unwrap();
        std::fs::write(dir.path().join("sub dir/we ird#$h.h"), "int a;\n").unwrap();
        std::fs::write(dir.path().join("plain.h"), "int b;\n").unwrap();
        std::fs::write(
            dir.path().join("my main.c"),
            "#include \"sub dir/we ird#$h.h\"\n#include \"plain.h\"\nint main(void){return 0;}\n",
        )
        .unwrap();
        for compiler in ["gcc", "clang"] {
            for extra in [&[][..], &["-MP"][..]] {
                let status = Command::new(compiler)
                    .args(["-MD", "-MF", "out.d"])
                    .args(extra)
                    .args(["-c", "my main.c", "-o", "out dir.o"])
                    .current_dir(dir.path())
                    .status();
                let status = status.unwrap_or_else(|err| {
                    panic!("{compiler}: {err} (scripts/test.sh installs gcc and clang)")
                });
                assert!(status.success());
                let depfile = parse_file(&dir.path().join("out.d")).unwrap();
                assert_eq!(depfile.outputs, strings(&["out dir.o"]), "{compiler}");
                let inputs: Vec<&str> = depfile
                    .inputs
                    .iter()
                    .map(String::as_str)
                    .filter(|input| !input.starts_with('/'))
                    .collect();
                assert_eq!(
                    inputs,
                    ["my main.c", "sub dir/we ird#$h.h", "plain.h"],
                    "{compiler} {extra:?}"
                );
            }
        }
    }
}
