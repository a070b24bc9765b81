//! `ar` command lines: only creating or appending (`q`, `r`) produces an
//! archive that is a function of the named members; every other operation
//! reads, prints or edits an archive in place.

use std::path::PathBuf;
use std::sync::Arc;

use super::kind::StepKind;
use super::{ArchiveArgs, Detail, Invocation, Parsed, Refusal, ToolKind};
use crate::cache::Cache;
use crate::cache::key::{KeyedStep, Listed};
use crate::cache::probe::Overlay;
use crate::cache::toolchain::ToolIdentity;

const ARCHIVE: ToolKind = ToolKind::Archive;

pub(super) fn analyze(args: &[String]) -> Result<Parsed, Refusal> {
    let refuse = |reason, detail: String| Err(Refusal::new(ARCHIVE, reason, detail));
    let mut letters = String::new();
    let mut thin = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "--plugin" | "--target" => i += 2,
            "--thin" => {
                thin = true;
                i += 1;
            }
            _ if arg.starts_with("--plugin=")
                || arg.starts_with("--target=")
                || arg.starts_with("-X") =>
            {
                i += 1
            }
            _ if arg.starts_with("--") => {
                return refuse("archive_operation", format!("ar option `{arg}`"));
            }
            _ if arg.starts_with('-') => {
                letters.push_str(&arg[1..]);
                i += 1;
            }
            _ if letters.is_empty() => {
                letters.push_str(arg);
                i += 1;
                break;
            }
            _ => break,
        }
    }
    const OPERATIONS: &str = "dmpqrtx";
    let mut ops: Vec<char> = letters
        .chars()
        .filter(|c| OPERATIONS.contains(*c))
        .collect();
    ops.sort_unstable();
    ops.dedup();
    let operation = match ops.as_slice() {
        [op] => *op,
        [] if letters.contains('s') => 's',
        [] => return refuse("archive_operation", "ar without an operation".to_string()),
        _ => {
            return refuse(
                "archive_operation",
                format!("ar with several operations `{letters}`"),
            );
        }
    };
    if operation != 'q' && operation != 'r' {
        return refuse(
            "archive_operation",
            format!("ar operation `{operation}` does not create an archive from members"),
        );
    }
    let modifiers: String = letters.chars().filter(|c| *c != operation).collect();
    if thin || modifiers.contains('T') {
        return refuse(
            "thin_archive",
            "a thin archive refers to its members by path instead of holding them".to_string(),
        );
    }
    // Positioning (`a`/`b`/`i` MEMBER) and count (`N` COUNT) arguments come before the archive.
    i += modifiers.chars().filter(|c| "abiN".contains(*c)).count();
    let Some(archive) = args.get(i) else {
        return refuse(
            "archive_operation",
            "ar without an archive name".to_string(),
        );
    };
    let mut key_args = args.to_vec();
    key_args[i] = "<output>".to_string();
    Ok(Parsed {
        detail: Detail::Archive(ArchiveArgs {
            archive: archive.clone(),
            members: args[i + 1..].to_vec(),
            operation,
            modifiers,
            reads_existing: true,
            thin: false,
        }),
        preprocessor_only: vec![false; args.len()],
        key_args,
    })
}

/// An archive made by `ar` (and the `ranlib` CMake runs after it).
pub(super) struct Archive;

impl StepKind for Archive {
    fn name(&self) -> &'static str {
        "archive"
    }

    fn outputs(&self, invocation: &Invocation) -> Vec<PathBuf> {
        match &invocation.detail {
            Detail::Archive(archive) => vec![invocation.cwd.join(&archive.archive)],
            _ => Vec::new(),
        }
    }

    fn key(
        &self,
        cache: &Cache,
        invocation: &Invocation,
        tool: Arc<ToolIdentity>,
        overlay: &Overlay<'_>,
    ) -> Result<KeyedStep, &'static str> {
        let Detail::Archive(archive) = &invocation.detail else {
            return Err("other_outputs");
        };
        let cwd = &invocation.cwd;
        let mut key = cache.listed_inputs_key(invocation, &tool);
        if archive.reads_existing {
            match cache.files.facts(&cwd.join(&archive.archive)) {
                Ok(Some(facts)) => key.field(&facts.hash),
                Ok(None) => key.field(b"no existing archive"),
                Err(_) => return Err("unreadable_input"),
            };
        }
        if let Some(ranlib) = &invocation.ranlib {
            let program = ranlib.first().ok_or("other_commands")?;
            let identity = cache
                .toolchains
                .identify(program, cwd, cache.path_env.as_deref())
                .map_err(|_| "tool_not_identified")?;
            key.field(&identity.digest);
            for arg in &ranlib[1..] {
                key.text(&cache.roots.normalize(arg));
            }
        }
        cache.key_listed_inputs(
            invocation,
            tool,
            key,
            Listed {
                inputs: &archive.members,
                output: &archive.archive,
                two_level: false,
            },
            overlay,
        )
    }
}
