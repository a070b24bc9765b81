//! The key of a step: the tool's identity, every argument in order (only
//! the output and depfile names abstracted, and the build dir and source
//! root named by placeholders), the content of every input, and the
//! environment variables that change the result. [`KeyedStep`] is what lookup
//! and record of one step share.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::probe::Expected;
use super::probe::INPUT_PENDING;
use super::probe::Overlay;
use super::probe::no_overlay;
use crate::cache::Cache;
use crate::cache::command::{Invocation, ToolKind};
use crate::cache::records::{KeyHasher, LastSeen};
use crate::cache::time_macros;
use crate::cache::toolchain::ToolIdentity;
use crate::hash::Digest;

/// Variables that change what a compiler produces or prints.
pub(super) const COMPILE_ENV: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "COMPILER_PATH",
    "GCC_EXEC_PREFIX",
    "GCC_COMPARE_DEBUG",
    "SOURCE_DATE_EPOCH",
    "CCC_OVERRIDE_OPTIONS",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "GCC_COLORS",
];

/// Variables that change what an archiver or linker produces or prints.
const LINK_ENV: &[&str] = &[
    "LIBRARY_PATH",
    "LD_RUN_PATH",
    "COMPILER_PATH",
    "GCC_EXEC_PREFIX",
    "SOURCE_DATE_EPOCH",
    "ZERO_AR_DATE",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
];

/// A compile whose assembler may read a file no depfile lists (`.incbin`).
pub(super) const ASSEMBLER_READS: &str = "incbin";

/// A step as the cache sees it once keyed: the key, and what lookup,
/// restore and record of the step share (outputs, depfile, the inputs the
/// key holds, the arguments the cache adds, the tool's identity).
pub(super) struct KeyedStep {
    pub(super) kind: ToolKind,
    /// Where the tool runs; relative paths in records are relative to it.
    pub(super) cwd: PathBuf,
    /// Manifest key (compile, link) or result key (archive).
    pub(super) key: Digest,
    pub(super) two_level: bool,
    /// Absolute paths, in the order of the result's outputs.
    pub(super) outputs: Vec<PathBuf>,
    /// The depfile the build asked for, and the target it names.
    pub(super) depfile: Option<(PathBuf, String)>,
    /// Files named in the key already; not repeated in manifest entries.
    pub(super) keyed_inputs: HashSet<PathBuf>,
    /// Added to the tool's arguments when it runs (prefix maps, a private
    /// depfile or linker dependency file).
    pub(super) extra_args: Vec<String>,
    /// The dependency file zccache asks the tool for when the build asked
    /// for none (see `StepKind::needs_private_depfile`):
    /// requested only when the tool really runs.
    pub(super) private_deps: Option<tempfile::TempPath>,
    pub(super) last_seen: Option<(Digest, LastSeen)>,
    /// Facts of the compile's source, for the time and place macros.
    pub(super) source_facts: Option<crate::cache::files::FileFacts>,
    /// When the key holds the source's comment-blind hash: its path and raw
    /// hash, which entries with diagnostics also require.
    pub(super) raw_source: Option<(String, Digest)>,
    pub(super) tool: Arc<ToolIdentity>,
    /// Prefix maps zccache adds (`path_remap`), also given to the
    /// preprocessor.
    pub(super) remap_args: Vec<String>,
    /// The compile's key by preprocessed text, when it was computed.
    pub(super) cpp_key: Option<Digest>,
    /// The content of files options name for the compiler to read.
    pub(super) read_files: Digest,
    /// Whether the compile expands a date or time macro, when a
    /// preprocessor run has told already.
    pub(super) time_macros: Option<time_macros::Seen>,
}

/// What an archive's or link's arguments list (see
/// [`Cache::key_listed_inputs`]).
pub(super) struct Listed<'a> {
    /// Archive members, link inputs.
    pub(super) inputs: &'a [String],
    pub(super) output: &'a str,
    /// Whether the files the tool read besides these are found in a depfile
    /// (a link) or there are none (an archive).
    pub(super) two_level: bool,
}

impl Cache {
    pub(super) fn key_step(&self, invocation: &Invocation) -> Result<KeyedStep, &'static str> {
        self.key_step_with(invocation, &no_overlay)
    }

    pub(super) fn key_step_with(
        &self,
        invocation: &Invocation,
        overlay: &Overlay<'_>,
    ) -> Result<KeyedStep, &'static str> {
        let choosing = crate::cache::toolchain::program_choosing_args(
            &invocation.expanded_args,
            &invocation.cwd,
        );
        let tool = self
            .toolchains
            .identify_with(
                &invocation.program,
                &invocation.cwd,
                self.path_env.as_deref(),
                &choosing,
            )
            .map_err(|err| {
                self.warn("toolchain", &err);
                "tool_not_identified"
            })?;
        invocation
            .kind()
            .rules()
            .key(self, invocation, tool, overlay)
    }

    pub(super) fn args_digest(&self, invocation: &Invocation, extra: &[String]) -> Digest {
        let mut key = KeyHasher::new("args");
        key.text(&self.roots.normalize(&invocation.cwd.to_string_lossy()));
        for arg in invocation.key_args.iter().chain(extra) {
            key.text(&self.roots.normalize(arg));
        }
        key.finish()
    }

    pub(super) fn env_digest(names: &[&str]) -> Digest {
        let mut key = KeyHasher::new("env");
        for name in names {
            key.text(name);
            match std::env::var_os(name) {
                Some(value) => key.field(b"=").field(value.as_encoded_bytes()),
                None => key.field(b"unset"),
            };
        }
        key.finish()
    }

    /// The key of an archive or link so far: its kind, the tool, the
    /// arguments and the environment that changes what it makes.
    pub(super) fn listed_inputs_key(
        &self,
        invocation: &Invocation,
        tool: &ToolIdentity,
    ) -> KeyHasher {
        let mut key = KeyHasher::new(invocation.kind().name());
        key.field(&tool.digest)
            .field(&self.args_digest(invocation, &[]))
            .field(&Self::env_digest(LINK_ENV));
        key
    }

    /// A step keyed by `key` and the content of the files its arguments
    /// list: an archive or a link.
    pub(super) fn key_listed_inputs(
        &self,
        invocation: &Invocation,
        tool: Arc<ToolIdentity>,
        mut key: KeyHasher,
        listed: Listed<'_>,
        overlay: &Overlay<'_>,
    ) -> Result<KeyedStep, &'static str> {
        let Listed {
            inputs,
            output,
            two_level,
        } = listed;
        let cwd = &invocation.cwd;
        let mut keyed_inputs = HashSet::new();
        for input in inputs {
            let path = cwd.join(input);
            match overlay(&path) {
                Some(Expected::Content(hash)) => {
                    key.field(&hash);
                    keyed_inputs.insert(path);
                    continue;
                }
                Some(Expected::Pending) => return Err(INPUT_PENDING),
                None => {}
            }
            match self.files.facts(&path) {
                Ok(Some(facts)) => key.field(&facts.hash),
                _ => return Err("unreadable_input"),
            };
            keyed_inputs.insert(path);
        }
        Ok(KeyedStep {
            kind: invocation.kind(),
            cwd: cwd.clone(),
            key: key.finish(),
            two_level,
            outputs: vec![cwd.join(output)],
            depfile: None,
            keyed_inputs,
            extra_args: Vec::new(),
            private_deps: None,
            last_seen: None,
            source_facts: None,
            raw_source: None,
            tool,
            remap_args: Vec::new(),
            cpp_key: None,
            read_files: [0; 32],
            time_macros: None,
        })
    }
}
