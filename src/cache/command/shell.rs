//! The shell layer: which `&&` segment of a `/bin/sh -c` string is the tool,
//! and whether the rest is harmless plumbing the cache may ignore or replay.
//!
//! Only plain words joined by `&&` are understood. Any other shell syntax
//! (redirections, expansions, globs, other list operators) could change what
//! the tool reads or writes behind the cache's back, so it makes the step
//! uncacheable rather than guessed at.

use std::path::{Path, PathBuf};

use super::{
    ArchiveArgs, Classification, Detail, Program, Refusal, ToolKind, analyze, classify_argv,
    recognize,
};

/// Classify a build step's command as `/bin/sh -c` would run it in `cwd`.
pub fn classify(command: &str, cwd: &Path) -> Classification {
    let scan = scan(command);
    if let Some(syntax) = scan.syntax {
        return match tool_anywhere(&scan.pieces, cwd) {
            Some(kind) => Refusal {
                kind,
                reason: "shell_syntax",
                detail: format!("the command uses shell syntax ({syntax}) beyond `&&`"),
            }
            .into(),
            None => Classification::NotATool,
        };
    }
    classify_segments(&scan.segments, cwd)
}

fn classify_segments(segments: &[String], cwd: &Path) -> Classification {
    let mut dir = cwd.to_path_buf();
    let mut removed: Vec<PathBuf> = Vec::new();
    let mut tool: Option<(usize, Program, Vec<String>, PathBuf)> = None;
    let mut ranlib: Option<Vec<String>> = None;
    let mut other: Option<&str> = None;
    for (index, segment) in segments.iter().enumerate() {
        let words = shlex::split(segment).unwrap_or_default();
        let Some(first) = words.first() else {
            other.get_or_insert(segment);
            continue;
        };
        if words.len() == 1 && (first == ":" || first == "true") {
            continue;
        }
        match &tool {
            None => {
                if first == "cd" && words.len() == 2 {
                    dir = dir.join(&words[1]);
                } else if let Some(files) = removal(&words) {
                    removed.extend(files.iter().map(|f| dir.join(f)));
                } else if let Some(t) = recognize(first) {
                    tool = Some((index, t, words, dir.clone()));
                } else {
                    other.get_or_insert(segment);
                }
            }
            Some((_, Program::Archiver, _, _))
                if ranlib.is_none() && recognize(first) == Some(Program::Ranlib) =>
            {
                ranlib = Some(words);
            }
            Some(_) => {
                other.get_or_insert(segment);
            }
        }
    }
    let Some((tool_segment, tool, argv, dir)) = tool else {
        return Classification::NotATool;
    };
    let result = analyze(tool, &argv, &dir, segments.to_vec(), tool_segment);
    let kind = result.kind();
    let other_commands = |detail: String| -> Classification {
        Refusal {
            kind,
            reason: "other_commands",
            detail,
        }
        .into()
    };
    if let Some(segment) = other {
        return other_commands(format!("`{segment}` runs beside the tool"));
    }
    let Classification::Cacheable(mut inv) = result else {
        return result;
    };
    let removes_own_archive = match &mut inv.detail {
        Detail::Archive(ArchiveArgs {
            archive,
            reads_existing,
            ..
        }) => {
            let target = dir.join(&*archive);
            if let Some(words) = &ranlib {
                let flags_then_archive = match words.as_slice() {
                    [_, flags @ .., last] => {
                        dir.join(last) == target && flags.iter().all(|w| w.starts_with('-'))
                    }
                    _ => false,
                };
                if !flags_then_archive {
                    return other_commands(format!(
                        "`{}` does not index the archive {archive}",
                        words.join(" ")
                    ));
                }
            }
            let gone = removed.contains(&target);
            *reads_existing = !gone;
            gone
        }
        _ => false,
    };
    if !removed.is_empty() && !removes_own_archive {
        return other_commands("files are removed besides the tool's own archive".to_string());
    }
    inv.ranlib = ranlib;
    Classification::Cacheable(inv)
}

/// The files of `rm -f FILES`, `cmake -E rm -f FILES` or `cmake -E remove -f FILES`.
fn removal(words: &[String]) -> Option<&[String]> {
    let program = Path::new(words.first()?).file_name()?.to_str()?;
    let rest = match program {
        "rm" => &words[1..],
        "cmake" => match words.get(1..3)? {
            [e, verb] if e == "-E" && (verb == "rm" || verb == "remove") => &words[3..],
            _ => return None,
        },
        _ => return None,
    };
    match rest.split_first() {
        Some((flag, files)) if flag == "-f" && !files.is_empty() => Some(files),
        _ => None,
    }
}

/// With unsupported syntax the step stays uncacheable either way; this only
/// decides whether it is counted as a tool run.
fn tool_anywhere(pieces: &[String], cwd: &Path) -> Option<Option<ToolKind>> {
    for piece in pieces {
        // An unterminated quote is already refused; plain words still show the tool.
        let words = shlex::split(piece)
            .unwrap_or_else(|| piece.split_whitespace().map(str::to_string).collect());
        let argv: Vec<String> = words.into_iter().skip_while(|w| is_assignment(w)).collect();
        if argv.first().is_some_and(|p| recognize(p).is_some()) {
            return Some(classify_argv(&argv, cwd).kind());
        }
    }
    None
}

/// `NAME=value` as the shell's leading variable assignment.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

struct Scan {
    /// The text between `&&`s, trimmed.
    segments: Vec<String>,
    /// The text between any control operators, for finding a tool when `syntax` is set.
    pieces: Vec<String>,
    /// The first unsupported construct seen.
    syntax: Option<String>,
}

fn scan(command: &str) -> Scan {
    let chars: Vec<char> = command.chars().collect();
    let mut segments = Vec::new();
    let mut pieces = Vec::new();
    let mut syntax: Option<String> = None;
    let mut flag = |what: String| {
        syntax.get_or_insert(what);
    };
    let (mut segment, mut piece) = (String::new(), String::new());
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut quote = Quote::None;
    let mut word_start = true;
    let mut command_start = true;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut take = 1;
        let mut split_segment = false;
        let mut split_piece = false;
        match quote {
            Quote::Single => {
                if c == '\'' {
                    quote = Quote::None;
                }
            }
            Quote::Double => match c {
                '"' => quote = Quote::None,
                '\\' => take = 2,
                '$' | '`' => flag(format!("`{c}` inside double quotes")),
                _ => {}
            },
            Quote::None => match c {
                '\\' => {
                    take = 2;
                    if chars.get(i + 1) == Some(&'\n') {
                        flag("a line continuation".to_string());
                    }
                }
                '\'' => quote = Quote::Single,
                '"' => quote = Quote::Double,
                '&' if chars.get(i + 1) == Some(&'&') => {
                    take = 2;
                    split_segment = true;
                    split_piece = true;
                }
                '&' | ';' | '|' | '(' | ')' | '\n' | '<' | '>' => {
                    flag(format!("`{}`", c.escape_default()));
                    split_piece = true;
                }
                '`' | '$' | '*' | '?' | '[' | '{' => flag(format!("`{c}`")),
                '~' | '#' | '!' if word_start => flag(format!("`{c}` at the start of a word")),
                _ => {}
            },
        }
        if split_segment {
            segments.push(std::mem::take(&mut segment).trim().to_string());
        }
        if split_piece {
            pieces.push(std::mem::take(&mut piece));
        }
        let text: String = chars[i..(i + take).min(chars.len())].iter().collect();
        if !split_segment {
            segment.push_str(&text);
        }
        if !split_piece {
            piece.push_str(&text);
        }
        let blank = quote == Quote::None && (c == ' ' || c == '\t');
        if command_start && !blank && !split_piece {
            // The first word of each command: a `NAME=value` there is an assignment.
            let word: String = chars[i..]
                .iter()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if is_assignment(&word) {
                flag(format!("the variable assignment `{word}`"));
            }
            command_start = false;
        }
        if split_piece {
            command_start = true;
        }
        word_start = blank || split_piece;
        i += take;
    }
    if quote != Quote::None {
        flag("an unterminated quote".to_string());
    }
    segments.push(segment.trim().to_string());
    pieces.push(piece);
    Scan {
        segments,
        pieces,
        syntax,
    }
}
