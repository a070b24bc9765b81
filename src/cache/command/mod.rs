//! Recognizing the real tool inside a build step's command line.
//!
//! The cache may only reuse a result when it knows exactly what a step does:
//! which compiler, archiver or linker runs, on which inputs, writing which
//! outputs. Anything it cannot account for (extra outputs, shell plumbing,
//! reads of state it does not hash) makes the step uncacheable with a stable
//! reason slug, so that statistics and `-d explain` can say why.
//!
//! Recognizing is a pure function of the command text and the files named
//! by `@rspfile` arguments; nothing is spawned. Each kind of step (one
//! module each: [`compile`], [`archive`], [`link`]) also says, through the
//! [`kind::StepKind`] interface, how the cache keys, records and restores
//! it.

mod archive;
mod compile;
mod driver;
mod kind;
mod link;
mod shell;

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use kind::StepKind;
pub use shell::classify;

/// What the cache makes of one build step.
// One value per step, consumed right away: boxing the invocation would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification {
    Cacheable(Invocation),
    /// A recognized tool used in a way whose result cannot be cached. `reason` is a short stable slug
    /// used in statistics, e.g. "preprocess_only"; `detail` is human text for `-d explain`.
    Uncacheable {
        kind: Option<ToolKind>,
        reason: &'static str,
        detail: String,
    },
    /// Not a compiler/archiver/linker at all (cmake -E, python, touch, ccache wrappers, ...): run as usual, not counted.
    NotATool,
}

impl Classification {
    /// The kind of tool recognized, if any; statistics are counted per kind.
    pub fn kind(&self) -> Option<ToolKind> {
        match self {
            Classification::Cacheable(inv) => Some(inv.kind()),
            Classification::Uncacheable { kind, .. } => *kind,
            Classification::NotATool => None,
        }
    }
}

/// The kinds of step the cache serves: the one list of them. What each
/// kind does is its [`StepKind`], in its own module ([`ToolKind::rules`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ToolKind {
    Compile,
    Archive,
    Link,
}

impl ToolKind {
    /// Every kind, in the order reports list them.
    pub(crate) const ALL: [ToolKind; 3] = [ToolKind::Compile, ToolKind::Archive, ToolKind::Link];

    pub(in crate::cache) fn rules(self) -> &'static dyn StepKind {
        match self {
            ToolKind::Compile => &compile::Compile,
            ToolKind::Archive => &archive::Archive,
            ToolKind::Link => &link::Link,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.rules().name()
    }

    /// See [`StepKind::may_add_colour_flag`].
    pub(crate) fn may_add_colour_flag(self) -> bool {
        self.rules().may_add_colour_flag()
    }
}

impl Invocation {
    /// The kind of step, as its [`Detail`] says.
    pub(crate) fn kind(&self) -> ToolKind {
        self.detail.kind()
    }

    /// The file a report names the step by, when not its output.
    pub(crate) fn source(&self) -> Option<&str> {
        self.kind().rules().source(self)
    }
}

/// A cacheable tool run, with its arguments understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// Absolute dir the tool runs in (cwd, or the target of a leading `cd DIR &&`).
    pub cwd: PathBuf,
    /// `argv[0]` as written.
    pub program: String,
    /// argv[1..] as written.
    pub args: Vec<String>,
    /// argv[1..] with @file arguments expanded (as gcc's libiberty reads them); equal to `args` when there are none.
    pub expanded_args: Vec<String>,
    /// expanded_args for the cache key: the output file, depfile and depfile-target values replaced by the
    /// fixed strings `"<output>"`, `"<depfile>"`, `"<deptarget>"` (both `-o x` and `-ox` forms; `-MF`, `-MT`, `-MQ`),
    /// everything else unchanged and in order. (Other code relativizes paths afterwards.)
    pub key_args: Vec<String>,
    /// For each element of key_args: true when it only affects preprocessing, so a key built from
    /// preprocessed output may leave it out.
    pub preprocessor_only: Vec<bool>,
    /// Shell text of every `&&` segment of the command, and which one is the tool. For classify_argv: one segment.
    pub segments: Vec<String>,
    pub tool_segment: usize,
    /// argv of a `ranlib ARCHIVE` segment following `ar` (CMake writes `ar qc lib.a objs && ranlib lib.a`).
    pub ranlib: Option<Vec<String>>,
    pub detail: Detail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    Compile(CompileArgs),
    Archive(ArchiveArgs),
    Link(LinkArgs),
}

impl Detail {
    fn kind(&self) -> ToolKind {
        match self {
            Detail::Compile(_) => ToolKind::Compile,
            Detail::Archive(_) => ToolKind::Archive,
            Detail::Link(_) => ToolKind::Link,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileArgs {
    /// From -x, else the source extension.
    pub language: Language,
    /// As written.
    pub source: String,
    /// -o value, or gcc's default (source stem + ".o" in cwd).
    pub output: String,
    /// The depfile the compiler writes: -MF value (or `-Wp,-MD,FILE`), or gcc's default for -MD/-MMD
    /// without -MF (output with its extension replaced by .d); None if none is written.
    pub depfile: Option<String>,
    /// First -MT/-MQ value if given.
    pub dep_target: Option<String>,
    /// In search order as the compiler uses them: -iquote (quote only), then -I, then -isystem,
    /// then -idirafter; values as written (relative to cwd).
    pub include_dirs: Vec<IncludeDir>,
    /// -nostdinc / -nostdinc++.
    pub nostdinc: bool,
    /// -MMD (last of -MD/-MMD): the depfile names no system header.
    pub user_deps_only: bool,
    /// Any -g/-ggdb/-gdwarf* not cancelled by a later -g0: debug info embeds paths.
    pub debug: bool,
    /// Debug info that records macro definitions (`-g3`, `-fdebug-macro`):
    /// the `-D`s then reach the object, not only the preprocessed text.
    pub macro_debug: bool,
    /// A command-line recording option is in force. clang then writes
    /// its whole argv into the object (gcc leaves out the options that
    /// name files), so the object differs with `-o`, and with the
    /// private depfile options the cache would add.
    pub records_command_line: bool,
    pub prefix_maps: Vec<PrefixMap>,
    pub sysroot: Option<String>,
    /// --target= / -target for clang.
    pub target: Option<String>,
    /// Files options name for the compiler to read that no depfile lists
    /// (`-specs=`, sanitizer lists, `-include-pch`...), as written: their
    /// content is part of the key.
    pub read_files: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncludeDir {
    pub path: String,
    pub quote_only: bool,
    pub system: bool,
    /// -idirafter: searched after the compiler's own system dirs.
    pub after: bool,
}

/// -ffile-prefix-map (debug and macros), -fdebug-prefix-map (debug), -fmacro-prefix-map (macros).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixMap {
    pub old: String,
    pub new: String,
    pub debug: bool,
    pub macros: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Language {
    C,
    Cxx,
    ObjC,
    ObjCxx,
    Asm,
    AsmWithCpp,
    PreprocessedC,
    PreprocessedCxx,
}

impl Language {
    /// The `-x` name, so preprocessed output can be compiled with the right front end.
    pub fn as_x_arg(&self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cxx => "c++",
            Language::ObjC => "objective-c",
            Language::ObjCxx => "objective-c++",
            Language::Asm => "assembler",
            Language::AsmWithCpp => "assembler-with-cpp",
            Language::PreprocessedC => "cpp-output",
            Language::PreprocessedCxx => "c++-cpp-output",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveArgs {
    pub archive: String,
    /// Input files in order.
    pub members: Vec<String>,
    /// q or r (only these are cacheable).
    pub operation: char,
    /// The other letters of the operation word, in order (c, s, D, U, u ...).
    pub modifiers: String,
    /// The archive's old content matters: q/r onto an archive that no earlier segment removed.
    pub reads_existing: bool,
    /// Always false: thin archives are Uncacheable("thin_archive").
    pub thin: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkArgs {
    /// -o value (a.out default).
    pub output: String,
    /// Positional input files (objects, archives, shared libs, linker scripts) in order.
    pub inputs: Vec<String>,
    /// -shared.
    pub shared: bool,
    /// Linked through the compiler driver (gcc/clang…) rather than ld directly.
    pub driver: bool,
    /// The command can take `-Wl,--dependency-file=F` (driver) / `--dependency-file=F` (ld): GNU ld (bfd) or lld.
    pub dependency_file_ok: bool,
}

/// Classify one tool run given as argv (the launcher mode: no shell involved).
pub fn classify_argv(argv: &[String], cwd: &Path) -> Classification {
    let Some(program) = argv.first() else {
        return Classification::NotATool;
    };
    let Some(tool) = recognize(program) else {
        return Classification::NotATool;
    };
    let segment =
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "));
    analyze(tool, argv, cwd, vec![segment], 0)
}

/// Which family a program belongs to, judged by its basename alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Program {
    /// `cxx`: a C++ driver (g++, c++, clang++), which compiles `.c` and `.i` files as C++.
    Compiler {
        cxx: bool,
    },
    Archiver,
    Ranlib,
    Linker(Linker),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Linker {
    Bfd,
    Lld,
    Gold,
    Mold,
}

/// Recognize `[TRIPLE-]NAME[-VERSION]` program names; wrappers such as ccache or
/// distcc and look-alikes such as gcc-nm or clang-tidy are not tools.
pub(crate) fn recognize(program: &str) -> Option<Program> {
    let base = Path::new(program).file_name()?.to_str()?;
    let base = match base.rsplit_once('-') {
        Some((head, version))
            if !head.is_empty()
                && version.starts_with(|c: char| c.is_ascii_digit())
                && version.chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            head
        }
        _ => base,
    };
    let is = |name: &str| {
        base == name
            || base
                .strip_suffix(name)
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('-'))
    };
    const TABLE: &[(&str, Program)] = &[
        ("ld", Program::Linker(Linker::Bfd)),
        ("ld.bfd", Program::Linker(Linker::Bfd)),
        ("ld.lld", Program::Linker(Linker::Lld)),
        ("lld", Program::Linker(Linker::Lld)),
        ("ld.gold", Program::Linker(Linker::Gold)),
        ("ld.mold", Program::Linker(Linker::Mold)),
        ("ranlib", Program::Ranlib),
        ("ar", Program::Archiver),
        ("gcc", Program::Compiler { cxx: false }),
        ("cc", Program::Compiler { cxx: false }),
        ("clang", Program::Compiler { cxx: false }),
        ("g++", Program::Compiler { cxx: true }),
        ("c++", Program::Compiler { cxx: true }),
        ("clang++", Program::Compiler { cxx: true }),
    ];
    TABLE
        .iter()
        .find(|(name, _)| is(name))
        .map(|&(_, tool)| tool)
}

/// Why a recognized tool run cannot be cached; becomes `Classification::Uncacheable`.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub kind: Option<ToolKind>,
    pub reason: &'static str,
    pub detail: String,
}

impl Refusal {
    pub fn new(kind: ToolKind, reason: &'static str, detail: impl Into<String>) -> Self {
        Refusal {
            kind: Some(kind),
            reason,
            detail: detail.into(),
        }
    }
}

impl From<Refusal> for Classification {
    fn from(r: Refusal) -> Self {
        Classification::Uncacheable {
            kind: r.kind,
            reason: r.reason,
            detail: r.detail,
        }
    }
}

/// What a tool-specific parser understood about its arguments.
pub(crate) struct Parsed {
    pub detail: Detail,
    pub key_args: Vec<String>,
    pub preprocessor_only: Vec<bool>,
}

/// Understand one tool's argv (`argv[0]` already recognized as `tool`).
pub(crate) fn analyze(
    tool: Program,
    argv: &[String],
    cwd: &Path,
    segments: Vec<String>,
    tool_segment: usize,
) -> Classification {
    let program = argv.first().cloned().unwrap_or_default();
    let args: Vec<String> = argv.iter().skip(1).cloned().collect();
    let guessed_kind = match tool {
        Program::Compiler { .. } if args.iter().any(|a| a == "-c" || a == "-S" || a == "-E") => {
            ToolKind::Compile
        }
        Program::Compiler { .. } | Program::Linker(_) => ToolKind::Link,
        Program::Archiver | Program::Ranlib => ToolKind::Archive,
    };
    let expanded_args = match expand_response_files(&args, cwd) {
        Ok(expanded) => expanded,
        Err(e) => return Refusal::new(guessed_kind, "unreadable_at_file", e.to_string()).into(),
    };
    let parsed = match tool {
        Program::Compiler { cxx } => compile::analyze(cxx, &expanded_args, cwd),
        Program::Archiver => archive::analyze(&expanded_args),
        Program::Linker(linker) => link::analyze_ld(linker, &expanded_args, cwd),
        Program::Ranlib => Err(Refusal::new(
            ToolKind::Archive,
            "archive_operation",
            "ranlib alone rewrites an existing archive in place",
        )),
    };
    match parsed {
        Ok(p) => Classification::Cacheable(Invocation {
            cwd: cwd.to_path_buf(),
            program,
            args,
            expanded_args,
            key_args: p.key_args,
            preprocessor_only: p.preprocessor_only,
            segments,
            tool_segment,
            ranlib: None,
            detail: p.detail,
        }),
        Err(r) => r.into(),
    }
}

/// gcc and binutils give up on response files nested this deep; so do we.
const MAX_RESPONSE_DEPTH: usize = 16;

#[derive(Debug, Error)]
pub(crate) enum ResponseFileError {
    #[error("cannot read response file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("response file {path} nests @files deeper than {MAX_RESPONSE_DEPTH} levels")]
    TooDeep { path: PathBuf },
}

/// Expand `@file` arguments the way gcc and binutils do (libiberty's
/// `expandargv`), recursively. gcc silently keeps an unreadable `@file` as a
/// literal argument; we refuse instead, since the result would then depend on
/// a file we cannot hash.
pub(crate) fn expand_response_files(
    args: &[String],
    cwd: &Path,
) -> Result<Vec<String>, ResponseFileError> {
    fn go(
        args: &[String],
        cwd: &Path,
        depth: usize,
        out: &mut Vec<String>,
    ) -> Result<(), ResponseFileError> {
        for arg in args {
            match arg.strip_prefix('@') {
                Some(name) if !name.is_empty() => {
                    let path = cwd.join(name);
                    if depth >= MAX_RESPONSE_DEPTH {
                        return Err(ResponseFileError::TooDeep { path });
                    }
                    let text = std::fs::read_to_string(&path)
                        .map_err(|source| ResponseFileError::Read { path, source })?;
                    go(&build_argv(&text), cwd, depth + 1, out)?;
                }
                _ => out.push(arg.clone()),
            }
        }
        Ok(())
    }
    let mut out = Vec::with_capacity(args.len());
    go(args, cwd, 0, &mut out)?;
    Ok(out)
}

/// libiberty's `buildargv`: whitespace separates, single and double quotes
/// group, and a backslash escapes any character, even inside quotes.
pub(crate) fn build_argv(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut arg = String::new();
        let (mut squote, mut dquote) = (false, false);
        while let Some(c) = chars.next() {
            if c.is_whitespace() && !squote && !dquote {
                break;
            }
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        arg.push(next);
                    }
                }
                '\'' if !dquote => squote = !squote,
                '"' if !squote => dquote = !dquote,
                _ => arg.push(c),
            }
        }
        out.push(arg);
    }
}

/// The value of `--name=value` / `-name=value` style joined options.
pub(crate) fn joined<'a>(arg: &'a str, name: &str) -> Option<&'a str> {
    arg.strip_prefix(name)?.strip_prefix('=')
}

#[cfg(test)]
mod tests;
