//! Compilation databases (`compile_commands.json`, as CMake, Meson, Bear
//! and others write it): one entry per compile, with the directory it runs
//! in, the source file, the command line and optionally the output.
//!
//! Both forms of the command are accepted: `arguments` (an array of
//! strings, used as is) and `command` (one shell-quoted string, split with
//! POSIX shell rules by the shlex crate). When both are present,
//! `arguments` wins, as in clang's tooling.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One compile from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The working directory of the compile; always absolute.
    pub directory: PathBuf,
    /// The main source file, as given (possibly relative to `directory`).
    pub file: PathBuf,
    /// The full command line, the compiler first.
    pub arguments: Vec<String>,
    /// The main output, as given, when the database names it.
    pub output: Option<PathBuf>,
}

impl Entry {
    /// The source file as a path usable from anywhere: `file` resolved
    /// against `directory` (unchanged when already absolute).
    #[cfg(test)]
    pub fn source_path(&self) -> PathBuf {
        self.directory.join(&self.file)
    }

    /// The output resolved against `directory`, when given.
    pub fn output_path(&self) -> Option<PathBuf> {
        self.output
            .as_ref()
            .map(|output| self.directory.join(output))
    }
}

/// Why a database could not be read. Every message names the file and,
/// for a bad entry, its 0-based index.
#[derive(Debug, thiserror::Error)]
pub enum CompdbError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}: not valid JSON: {message}")]
    Json {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: not a JSON array of entries (found {found})")]
    NotArray {
        source_name: String,
        found: &'static str,
    },
    #[error("{source_name}: entry {index}: {problem}")]
    Entry {
        source_name: String,
        index: usize,
        problem: String,
    },
}

/// Reads and validates the database at `path`.
pub fn load(path: &Path) -> Result<Vec<Entry>, CompdbError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CompdbError::Read {
        path: name.clone(),
        source,
    })?;
    parse(&text, &name)
}

/// Parses and validates database text; `source_name` names it in errors.
pub fn parse(text: &str, source_name: &str) -> Result<Vec<Entry>, CompdbError> {
    let value: Value = serde_json::from_str(text).map_err(|err| CompdbError::Json {
        source_name: source_name.to_string(),
        message: err.to_string(),
    })?;
    let Value::Array(items) = value else {
        return Err(CompdbError::NotArray {
            source_name: source_name.to_string(),
            found: json_kind(&value),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse_entry(item).map_err(|problem| CompdbError::Entry {
                source_name: source_name.to_string(),
                index,
                problem,
            })
        })
        .collect()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_entry(item: &Value) -> Result<Entry, String> {
    let Value::Object(fields) = item else {
        return Err(format!("not an object (found {})", json_kind(item)));
    };
    let directory = match fields.get("directory") {
        None => return Err("missing \"directory\"".to_string()),
        Some(Value::String(dir)) if dir.is_empty() => {
            return Err("empty \"directory\"".to_string());
        }
        Some(Value::String(dir)) => PathBuf::from(dir),
        Some(other) => {
            return Err(format!(
                "\"directory\" is not a string (found {})",
                json_kind(other)
            ));
        }
    };
    if !directory.is_absolute() {
        return Err(format!(
            "\"directory\" is relative ({}); it must be absolute",
            directory.display()
        ));
    }
    let file = match fields.get("file") {
        None => return Err("missing \"file\"".to_string()),
        Some(Value::String(file)) if file.is_empty() => return Err("empty \"file\"".to_string()),
        Some(Value::String(file)) => PathBuf::from(file),
        Some(other) => {
            return Err(format!(
                "\"file\" is not a string (found {})",
                json_kind(other)
            ));
        }
    };
    let output = match fields.get("output") {
        None | Some(Value::Null) => None,
        Some(Value::String(output)) if output.is_empty() => None,
        Some(Value::String(output)) => Some(PathBuf::from(output)),
        Some(other) => {
            return Err(format!(
                "\"output\" is not a string (found {})",
                json_kind(other)
            ));
        }
    };
    let arguments = match (fields.get("arguments"), fields.get("command")) {
        (None, None) => return Err("neither \"arguments\" nor \"command\"".to_string()),
        (Some(Value::Array(args)), _) => string_arguments(args)?,
        (Some(_), Some(Value::String(command))) | (None, Some(Value::String(command))) => {
            split_command(command)?
        }
        (Some(args), None) => {
            return Err(format!(
                "\"arguments\" is not an array of strings (found {})",
                json_kind(args)
            ));
        }
        (None, Some(command)) => {
            return Err(format!(
                "\"command\" is not a string (found {})",
                json_kind(command)
            ));
        }
        (Some(args), Some(command)) => {
            return Err(format!(
                "\"arguments\" is not an array (found {}) and \"command\" is not a string \
                 (found {})",
                json_kind(args),
                json_kind(command)
            ));
        }
    };
    if arguments.is_empty() {
        return Err("empty command line".to_string());
    }
    Ok(Entry {
        directory,
        file,
        arguments,
        output,
    })
}

fn string_arguments(args: &[Value]) -> Result<Vec<String>, String> {
    args.iter()
        .enumerate()
        .map(|(i, arg)| match arg {
            Value::String(arg) => Ok(arg.clone()),
            other => Err(format!(
                "\"arguments\"[{i}] is not a string (found {})",
                json_kind(other)
            )),
        })
        .collect()
}

fn split_command(command: &str) -> Result<Vec<String>, String> {
    shlex::split(command).ok_or_else(|| {
        format!("\"command\" cannot be split into arguments (unbalanced quotes or trailing backslash): {command}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_error(text: &str) -> String {
        match parse(text, "db.json") {
            Ok(entries) => panic!("expected an error, got {entries:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn arguments_form() {
        let entries = parse(
            r#"[{"directory": "/b", "file": "../src/a.c",
                 "arguments": ["cc", "-c", "../src/a.c", "-o", "a.o"], "output": "a.o"}]"#,
            "db.json",
        )
        .expect("valid");
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry.directory, Path::new("/b"));
        assert_eq!(entry.file, Path::new("../src/a.c"));
        assert_eq!(entry.source_path(), Path::new("/b/../src/a.c"));
        assert_eq!(entry.arguments, ["cc", "-c", "../src/a.c", "-o", "a.o"]);
        assert_eq!(entry.output.as_deref(), Some(Path::new("a.o")));
        assert_eq!(entry.output_path(), Some(PathBuf::from("/b/a.o")));
    }

    #[test]
    fn command_form_with_quoting() {
        let entries = parse(
            r#"[{"directory": "/b", "file": "/s/my file.c",
                 "command": "gcc -DNAME=\"a b\" -DX='q\"r' -I/s/inc\\ dir -c '/s/my file.c' -o x.o"}]"#,
            "db.json",
        )
        .expect("valid");
        let entry = &entries[0];
        assert_eq!(
            entry.arguments,
            [
                "gcc",
                "-DNAME=a b",
                "-DX=q\"r",
                "-I/s/inc dir",
                "-c",
                "/s/my file.c",
                "-o",
                "x.o"
            ]
        );
        assert_eq!(entry.source_path(), Path::new("/s/my file.c"));
        assert_eq!(entry.output, None);
    }

    #[test]
    fn arguments_win_over_command() {
        let entries = parse(
            r#"[{"directory": "/b", "file": "a.c", "arguments": ["cc", "a.c"], "command": "gcc 'unbalanced"}]"#,
            "db.json",
        )
        .expect("valid");
        assert_eq!(entries[0].arguments, ["cc", "a.c"]);
    }

    #[test]
    fn empty_array_is_fine() {
        assert!(parse("[]", "db.json").expect("valid").is_empty());
    }

    #[test]
    fn invalid_json() {
        let message = entry_error("[{");
        assert!(message.starts_with("db.json: not valid JSON"), "{message}");
    }

    #[test]
    fn not_an_array() {
        assert_eq!(
            entry_error(r#"{"directory": "/b"}"#),
            "db.json: not a JSON array of entries (found an object)"
        );
    }

    #[test]
    fn entry_not_an_object() {
        assert_eq!(
            entry_error(r#"[{"directory": "/b", "file": "a.c", "command": "cc a.c"}, 3]"#),
            "db.json: entry 1: not an object (found a number)"
        );
    }

    #[test]
    fn missing_directory() {
        assert_eq!(
            entry_error(r#"[{"file": "a.c", "command": "cc a.c"}]"#),
            "db.json: entry 0: missing \"directory\""
        );
    }

    #[test]
    fn empty_directory() {
        assert_eq!(
            entry_error(r#"[{"directory": "", "file": "a.c", "command": "cc a.c"}]"#),
            "db.json: entry 0: empty \"directory\""
        );
    }

    #[test]
    fn relative_directory() {
        assert_eq!(
            entry_error(r#"[{"directory": "build", "file": "a.c", "command": "cc a.c"}]"#),
            "db.json: entry 0: \"directory\" is relative (build); it must be absolute"
        );
    }

    #[test]
    fn missing_file() {
        assert_eq!(
            entry_error(r#"[{"directory": "/b", "command": "cc a.c"}]"#),
            "db.json: entry 0: missing \"file\""
        );
    }

    #[test]
    fn neither_arguments_nor_command() {
        let good = r#"{"directory": "/b", "file": "a.c", "command": "cc a.c"}"#;
        let mut entries = String::from("[");
        for _ in 0..12 {
            entries.push_str(good);
            entries.push(',');
        }
        entries.push_str(r#"{"directory": "/b", "file": "a.c"}]"#);
        assert_eq!(
            entry_error(&entries),
            "db.json: entry 12: neither \"arguments\" nor \"command\""
        );
    }

    #[test]
    fn both_of_wrong_type() {
        assert_eq!(
            entry_error(
                r#"[{"directory": "/b", "file": "a.c", "arguments": "cc a.c", "command": ["cc"]}]"#
            ),
            "db.json: entry 0: \"arguments\" is not an array (found a string) and \"command\" is \
             not a string (found an array)"
        );
    }

    #[test]
    fn wrong_type_alone() {
        assert_eq!(
            entry_error(r#"[{"directory": "/b", "file": "a.c", "arguments": "cc a.c"}]"#),
            "db.json: entry 0: \"arguments\" is not an array of strings (found a string)"
        );
        assert_eq!(
            entry_error(r#"[{"directory": "/b", "file": "a.c", "command": 7}]"#),
            "db.json: entry 0: \"command\" is not a string (found a number)"
        );
    }

    #[test]
    fn non_string_argument() {
        assert_eq!(
            entry_error(r#"[{"directory": "/b", "file": "a.c", "arguments": ["cc", 1]}]"#),
            "db.json: entry 0: \"arguments\"[1] is not a string (found a number)"
        );
    }

    #[test]
    fn command_that_does_not_split() {
        let message = entry_error(r#"[{"directory": "/b", "file": "a.c", "command": "cc 'a.c"}]"#);
        assert!(
            message.starts_with("db.json: entry 0: \"command\" cannot be split"),
            "{message}"
        );
    }

    #[test]
    fn empty_command_line() {
        assert_eq!(
            entry_error(r#"[{"directory": "/b", "file": "a.c", "arguments": []}]"#),
            "db.json: entry 0: empty command line"
        );
    }

    #[test]
    fn load_names_a_missing_file() {
        let err = load(Path::new("/nonexistent/compile_commands.json")).expect_err("missing");
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/compile_commands.json:"),
            "{err}"
        );
    }

    /// What CMake really writes, for examples/cmake-project.
    #[test]
    fn loads_real_cmake_output() {
        let temp = tempfile::tempdir().expect("temp dir");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cmake-project");
        let build = temp.path().join("build");
        let status = std::process::Command::new("cmake")
            .arg("-S")
            .arg(&source)
            .arg("-B")
            .arg(&build)
            .args(["-G", "Unix Makefiles", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("cmake runs");
        assert!(status.success());
        let entries = load(&build.join("compile_commands.json")).expect("valid database");
        assert!(entries.len() >= 3, "{entries:?}");
        for entry in &entries {
            assert!(entry.directory.is_absolute());
            assert!(entry.source_path().is_file(), "{entry:?}");
            assert!(entry.source_path().starts_with(&source), "{entry:?}");
            assert!(entry.arguments.iter().any(|a| a == "-c"), "{entry:?}");
            // The Makefile generator writes the `command` form and no
            // `output` (Ninja adds it); the object is after -o.
            let object = entry.arguments.iter().skip_while(|a| *a != "-o").nth(1);
            assert!(object.is_some_and(|o| o.ends_with(".o")), "{entry:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the text, parsing returns (never panics).
        #[test]
        fn never_panics_on_text(text in r#"[\[\]{}",:0-9a-z \\'"]{0,200}"#) {
            let _ = parse(&text, "db.json");
        }

        /// Nor on structurally plausible entries with arbitrary values.
        #[test]
        fn never_panics_on_entries(
            directory in r#"[/a-z"\\ ]{0,10}"#,
            file in r#"[a-z./ ]{0,10}"#,
            command in r#"[a-z '"\\-]{0,30}"#,
            argument_kind in 0u8..4,
        ) {
            let arguments = match argument_kind {
                0 => String::new(),
                1 => r#", "arguments": ["cc", 1]"#.to_string(),
                2 => r#", "arguments": null"#.to_string(),
                _ => format!(r#", "arguments": [{}]"#, serde_json::Value::String(command.clone())),
            };
            let text = format!(
                r#"[{{"directory": {}, "file": {}, "command": {}{arguments}}}]"#,
                serde_json::Value::String(directory),
                serde_json::Value::String(file),
                serde_json::Value::String(command),
            );
            let _ = parse(&text, "db.json");
        }
    }
}
