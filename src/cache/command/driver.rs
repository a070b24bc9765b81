//! The gcc/clang driver's arguments: which options take a value, which
//! name files the compiler reads or writes, and what each means for
//! caching. Scanned once, then read by [`super::compile`] (a compile) or
//! [`super::link`] (a link through the driver).
//!
//! The driver's options decide what is an input: a value after `-o`, `-I`,
//! `-Xlinker` … is never a source, so every option that takes a separate
//! argument must be known here.

use std::path::Path;

use super::{Language, PrefixMap, joined};

/// Options whose value may be joined (`-Ifoo`) or the next argument (`-I foo`).
/// Longer names first where one is a prefix of another.
const JOINED_OR_SEPARATE: &[&str] = &[
    "-iwithprefixbefore",
    "-iwithprefix",
    "-idirafter",
    "-imultilib",
    "-isysroot",
    "-isystem",
    "-imacros",
    "-include",
    "-iprefix",
    "-iquote",
    "-MF",
    "-MT",
    "-MQ",
    "-MJ",
    "-o",
    "-x",
    "-I",
    "-D",
    "-U",
    "-L",
    "-l",
    "-A",
    "-B",
    "-T",
];

/// Options whose value is always the next argument.
const SEPARATE: &[&str] = &[
    "-Xlinker",
    "-Xassembler",
    "-Xpreprocessor",
    "-Xclang",
    "-Xanalyzer",
    "-mllvm",
    "-target",
    "--target",
    "-arch",
    "--param",
    "-aux-info",
    "-dumpbase",
    "-dumpbase-ext",
    "-dumpdir",
    "--sysroot",
    "-include-pch",
    "-ivfsoverlay",
    "-iframework",
    "-gcc-toolchain",
    "-isystem-after",
    "-iwithsysroot",
    "-iframeworkwithsysroot",
    "-cxx-isystem",
    "-specs",
    "--specs",
    "-wrapper",
    "--config",
    "--serialize-diagnostics",
    "-e",
    "-u",
    "-z",
    "-G",
];

/// Options naming a file the compiler reads that no depfile need list:
/// the file's content is keyed. As `-name=FILE`, or (where marked) also
/// `-name FILE`.
const READS_FILE: &[(&str, bool)] = &[
    ("-specs", true),
    ("--specs", true),
    ("-include-pch", true),
    ("-ivfsoverlay", true),
    ("--config", true),
    ("-fsanitize-blacklist", false),
    ("-fsanitize-ignorelist", false),
    ("-fsanitize-system-ignorelist", false),
    ("-fsanitize-coverage-allowlist", false),
    ("-fsanitize-coverage-whitelist", false),
    ("-fsanitize-coverage-blocklist", false),
    ("-fsanitize-coverage-blacklist", false),
    ("-fsanitize-coverage-ignorelist", false),
    ("-fxray-attr-list", false),
    ("-fxray-always-instrument", false),
    ("-fxray-never-instrument", false),
    ("-fmodule-file", false),
    ("-fmodule-map-file", false),
    ("-fthinlto-index", false),
];

/// Options that load code into the compiler or run another program, or
/// read files by search (module caches and mappers): what they read cannot
/// be keyed. Prefixes of the argument.
const RUNS_OR_SEARCHES: &[&str] = &[
    "-fplugin=",
    "-fpass-plugin=",
    "-fmodules",
    "-fprebuilt-module-path",
    "-fmodule-mapper",
    "-fimplicit-modules",
];

/// `-Xclang` values that load a plugin or name a file cc1 reads.
const XCLANG_RUNS: &[&str] = &["-load", "-add-plugin", "-plugin", "-load-pass-plugin"];
const XCLANG_READS: &[&str] = &[
    "-include-pch",
    "-ivfsoverlay",
    "-fmodule-file",
    "-fmodule-map-file",
];

/// gcc's long spellings (`--output FILE`, `--output=FILE`) of short options.
const LONG_ALIASES: &[(&str, &str)] = &[
    ("--output", "-o"),
    ("--language", "-x"),
    ("--include-directory", "-I"),
    ("--include-directory-after", "-idirafter"),
    ("--define-macro", "-D"),
    ("--undefine-macro", "-U"),
    ("--include", "-include"),
    ("--imacros", "-imacros"),
    ("--assert", "-A"),
    ("--include-prefix", "-iprefix"),
    ("--include-with-prefix", "-iwithprefix"),
    ("--include-with-prefix-before", "-iwithprefixbefore"),
    ("--library-directory", "-L"),
    ("--prefix", "-B"),
];

/// Options only written `--name=value` whose value we need.
const EQUALS: &[&str] = &["--sysroot", "--target", "--param"];

/// Preprocessor-only options: removing them changes nothing once the
/// preprocessed text is known.
pub(super) const PREPROCESSOR_ONLY: &[&str] = &[
    "-D",
    "-U",
    "-I",
    "-A",
    "-iquote",
    "-isystem",
    "-idirafter",
    "-include",
    "-imacros",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-MF",
    "-MT",
    "-MQ",
    "-Xpreprocessor",
];

/// What the driver was asked to do, gathered in one pass.
#[derive(Default)]
pub(super) struct DriverArgs {
    pub(super) c: bool,
    pub(super) asm_only: bool,
    pub(super) preprocess: bool,
    pub(super) deps_only: bool,
    pub(super) deps_too: bool,
    /// The last of -MD/-MMD was -MMD: the depfile leaves out system headers.
    pub(super) user_deps_only: bool,
    pub(super) output: Option<String>,
    pub(super) mf: Option<String>,
    pub(super) wp_depfile: Option<String>,
    pub(super) dep_target: Option<String>,
    /// Positional inputs with the `-x` language in force where they appear.
    pub(super) inputs: Vec<(String, Option<String>)>,
    /// The `-x` in force for the next input.
    pub(super) inputs_language: Option<String>,
    pub(super) include: [Vec<String>; 4],
    pub(super) nostdinc: bool,
    pub(super) debug: bool,
    pub(super) macro_debug: bool,
    /// The last of clang's `-[fg][no-]record-{command-line,gcc-switches}`
    /// turns recording on.
    pub(super) records_command_line: bool,
    pub(super) prefix_maps: Vec<PrefixMap>,
    pub(super) sysroot: Option<String>,
    pub(super) target: Option<String>,
    pub(super) arch_count: usize,
    /// First option that makes a compile uncacheable (extra outputs, profiles...).
    pub(super) compile_refusal: Option<(&'static str, String)>,
    /// Options that stop the driver from doing its job at all (`--version`, `-###`).
    pub(super) query: Option<String>,
    pub(super) verbose: Option<String>,
    pub(super) save_temps: Option<String>,
    pub(super) linker_args: Vec<String>,
    pub(super) fuse_ld: Option<String>,
    pub(super) shared: bool,
    /// Files named by [`READS_FILE`] options.
    pub(super) read_files: Vec<String>,
    /// The previous `-Xclang` value, when it takes a file as the next one.
    xclang_file_next: bool,
}

/// Options that make the compiler write a report file beside the object
/// (optimization records, statistics, diagnostics in a file), which a hit
/// would not restore.
fn writes_report_file(arg: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "-fsave-optimization-record",
        "-foptimization-record-file=",
        "-save-stats",
        "-fproc-stat-report",
        "-fdiagnostics-add-output=",
        "-fdiagnostics-set-output=",
    ];
    if PREFIXES.iter().any(|p| arg.starts_with(p)) {
        return true;
    }
    if let Some(format) = arg.strip_prefix("-fdiagnostics-format=") {
        return format.ends_with("-file");
    }
    // -fopt-info[-KIND]=FILE, unless the "file" is a standard stream.
    arg.starts_with("-fopt-info")
        && arg
            .split_once('=')
            .is_some_and(|(_, file)| !matches!(file, "stderr" | "stdout"))
}

/// Debug info with macro definitions (`-g3`, `-ggdb3`, clang's
/// `-fdebug-macro`) records the command line's `-D`s in the object, so two
/// compiles differing only in those are not interchangeable even when their
/// preprocessed text is.
fn is_macro_debug(arg: &str) -> bool {
    if arg == "-fdebug-macro" {
        return true;
    }
    let Some(format) = arg.strip_prefix("-g") else {
        return false;
    };
    // `-gdwarf-3` is a DWARF version, not a level.
    format.ends_with('3') && !format.starts_with("dwarf") && !format.contains('=')
}

pub(super) enum Placeholder {
    Output,
    Depfile,
    DepTarget,
}

impl Placeholder {
    pub(super) fn text(&self) -> &'static str {
        match self {
            Placeholder::Output => "<output>",
            Placeholder::Depfile => "<depfile>",
            Placeholder::DepTarget => "<deptarget>",
        }
    }
}

impl DriverArgs {
    fn refuse(&mut self, reason: &'static str, arg: &str) {
        self.compile_refusal
            .get_or_insert_with(|| (reason, format!("`{arg}` is used")));
    }

    /// An option with its value; returns which placeholder replaces the value in the key.
    pub(super) fn option(&mut self, name: &str, value: &str) -> Option<Placeholder> {
        let include = |slot: &mut Vec<String>| slot.push(value.to_string());
        match name {
            "-o" => {
                self.output = Some(value.to_string());
                return Some(Placeholder::Output);
            }
            "-MF" => {
                self.mf = Some(value.to_string());
                return Some(Placeholder::Depfile);
            }
            "-MT" | "-MQ" => {
                self.dep_target.get_or_insert_with(|| value.to_string());
                return Some(Placeholder::DepTarget);
            }
            "-x" => {
                // `-x none` goes back to guessing from extensions.
                self.inputs_language = (value != "none").then(|| value.to_string());
            }
            "-iquote" => include(&mut self.include[0]),
            "-I" => include(&mut self.include[1]),
            "-isystem" => include(&mut self.include[2]),
            "-idirafter" => include(&mut self.include[3]),
            "--sysroot" => self.sysroot = Some(value.to_string()),
            "-target" | "--target" => self.target = Some(value.to_string()),
            "-arch" => self.arch_count += 1,
            "-Xlinker" => self.linker_args.push(value.to_string()),
            "-Xclang" => self.xclang(value),
            "-wrapper" => self.refuse("wrapper", &format!("-wrapper {value}")),
            _ if READS_FILE
                .iter()
                .any(|(n, separate)| *separate && *n == name) =>
            {
                self.read_files.push(value.to_string())
            }
            "-Xassembler" if value.starts_with("-a") && !value.starts_with("--") => {
                self.refuse("assembler_listing", &format!("-Xassembler {value}"))
            }
            "-aux-info" | "-MJ" | "--serialize-diagnostics" => {
                self.refuse("stack_usage", &format!("{name} {value} (an extra output)"))
            }
            _ => {}
        }
        None
    }

    /// One `-Xclang` value: cc1 options that load code are refused, files
    /// they name are keyed.
    fn xclang(&mut self, value: &str) {
        if std::mem::take(&mut self.xclang_file_next) {
            self.read_files.push(value.to_string());
            return;
        }
        if XCLANG_RUNS.contains(&value) || value.starts_with("-fpass-plugin=") {
            self.refuse("compiler_plugin", &format!("-Xclang {value}"));
        } else if XCLANG_READS.contains(&value) {
            self.xclang_file_next = true;
        } else if let Some(file) = XCLANG_READS
            .iter()
            .find_map(|name| super::joined(value, name))
        {
            self.read_files.extend(file_candidates(file));
        }
    }

    /// A `-name=FILE` option of [`READS_FILE`], or one of
    /// [`RUNS_OR_SEARCHES`]; false for anything else.
    fn file_option(&mut self, arg: &str) -> bool {
        if RUNS_OR_SEARCHES.iter().any(|p| arg.starts_with(p)) {
            let reason = if arg.starts_with("-fplugin") || arg.starts_with("-fpass-plugin") {
                "compiler_plugin"
            } else {
                "modules"
            };
            self.refuse(reason, arg);
            return true;
        }
        match READS_FILE
            .iter()
            .find_map(|(name, _)| super::joined(arg, name))
        {
            Some(file) => {
                self.read_files.extend(file_candidates(file));
                true
            }
            None => false,
        }
    }

    /// An option without a value.
    pub(super) fn flag(&mut self, arg: &str) {
        if self.file_option(arg) {
            return;
        }
        // Every -fprofile-* (generate, use, arcs, instr-*, sample-use...): they write
        // profiles or read ones the key does not cover.
        const PROFILING: &[&str] = &[
            "-fprofile-",
            "-ftest-coverage",
            "--coverage",
            "-fauto-profile",
            "-fbranch-probabilities",
            "-fcs-profile-generate",
        ];
        const DEBUG: &[&str] = &[
            "-ggdb",
            "-gdwarf",
            "-gstabs",
            "-gxcoff",
            "-gvms",
            "-gline-tables-only",
            "-gline-directives-only",
            "-gmlt",
            "-gctf",
            "-gbtf",
            "-gfull",
            "-gused",
            "-glldb",
            "-gsce",
            "-gcodeview",
        ];
        match arg {
            "-c" => self.c = true,
            "-S" => self.asm_only = true,
            "-E" => self.preprocess = true,
            "-M" | "-MM" => self.deps_only = true,
            "-MD" | "-MMD" => {
                self.deps_too = true;
                self.user_deps_only = arg == "-MMD";
            }
            "-nostdinc" | "-nostdinc++" => self.nostdinc = true,
            "-shared" => self.shared = true,
            "-v" | "--verbose" => {
                self.verbose.get_or_insert_with(|| arg.to_string());
            }
            "-###" | "--version" | "--target-help" | "-dumpversion" | "-dumpfullversion"
            | "-dumpmachine" | "-dumpspecs" => {
                self.query.get_or_insert_with(|| arg.to_string());
            }
            "-pg" => self.refuse("profiling", arg),
            "-frecord-command-line"
            | "-grecord-command-line"
            | "-frecord-gcc-switches"
            | "-grecord-gcc-switches" => self.records_command_line = true,
            "-fno-record-command-line"
            | "-gno-record-command-line"
            | "-fno-record-gcc-switches"
            | "-gno-record-gcc-switches" => self.records_command_line = false,
            "-g0" => {
                self.debug = false;
                self.macro_debug = false;
            }
            _ if is_macro_debug(arg) => {
                self.debug = true;
                self.macro_debug = true;
            }
            "-g" | "-g1" | "-g2" => self.debug = true,
            _ if arg.starts_with("-gsplit-dwarf") => self.refuse("split_dwarf", arg),
            _ if DEBUG.iter().any(|p| arg.starts_with(p)) => self.debug = true,
            _ if arg.starts_with("-print-")
                || arg.starts_with("--print-")
                || arg.starts_with("--help") =>
            {
                self.query.get_or_insert_with(|| arg.to_string());
            }
            _ if arg.starts_with("-save-temps") || arg.starts_with("--save-temps") => {
                self.save_temps.get_or_insert_with(|| arg.to_string());
                self.refuse("save_temps", arg);
            }
            _ if arg.starts_with("-ftime-trace") => self.refuse("time_trace", arg),
            _ if PROFILING.iter().any(|p| arg.starts_with(p)) => self.refuse("profiling", arg),
            _ if arg == "-fstack-usage"
                || arg.starts_with("-fdump-")
                || arg.starts_with("-fcallgraph-info") =>
            {
                self.refuse("stack_usage", arg)
            }
            _ if writes_report_file(arg) => self.refuse("report_file", arg),
            _ => {
                if let Some(items) = arg.strip_prefix("-Wa,") {
                    if items
                        .split(',')
                        .any(|i| i.starts_with("-a") && !i.starts_with("--"))
                    {
                        self.refuse("assembler_listing", arg);
                    }
                } else if let Some(items) = arg.strip_prefix("-Wl,") {
                    self.linker_args
                        .extend(items.split(',').map(str::to_string));
                } else if let Some(ld) = arg
                    .strip_prefix("-fuse-ld=")
                    .or_else(|| arg.strip_prefix("--ld-path="))
                {
                    self.fuse_ld = Some(ld.to_string());
                } else if let Some(map) = prefix_map(arg) {
                    self.prefix_maps.push(map);
                }
            }
        }
    }
}

/// The files a `-fmodule-file=[NAME=]FILE` style value may name: the
/// whole value, and what follows its first `=` (a file name may hold `=`).
fn file_candidates(value: &str) -> Vec<String> {
    let mut files = vec![value.to_string()];
    if let Some((_, after)) = value.split_once('=') {
        files.push(after.to_string());
    }
    files
}

fn prefix_map(arg: &str) -> Option<PrefixMap> {
    let (value, debug, macros) = if let Some(v) = arg.strip_prefix("-ffile-prefix-map=") {
        (v, true, true)
    } else if let Some(v) = arg.strip_prefix("-fdebug-prefix-map=") {
        (v, true, false)
    } else if let Some(v) = arg.strip_prefix("-fmacro-prefix-map=") {
        (v, false, true)
    } else {
        return None;
    };
    // gcc and clang both split at the first '='.
    let (old, new) = value.split_once('=')?;
    Some(PrefixMap {
        old: old.to_string(),
        new: new.to_string(),
        debug,
        macros,
    })
}

/// The language gcc picks from a file name; C++ drivers compile `.c`/`.i` as C++.
pub(super) fn language_from_name(name: &str, cxx_driver: bool) -> Option<Language> {
    let ext = Path::new(name).extension()?.to_str()?;
    Some(match ext {
        "c" if cxx_driver => Language::Cxx,
        "c" => Language::C,
        "i" if cxx_driver => Language::PreprocessedCxx,
        "i" => Language::PreprocessedC,
        "ii" => Language::PreprocessedCxx,
        "cc" | "cp" | "cxx" | "cpp" | "CPP" | "c++" | "C" => Language::Cxx,
        "m" => Language::ObjC,
        "mm" | "M" => Language::ObjCxx,
        "s" => Language::Asm,
        "S" | "sx" => Language::AsmWithCpp,
        _ => return None,
    })
}

pub(super) fn language_from_x(x: &str) -> Option<Language> {
    Some(match x {
        "c" => Language::C,
        "c++" => Language::Cxx,
        "objective-c" => Language::ObjC,
        "objective-c++" => Language::ObjCxx,
        "assembler" => Language::Asm,
        "assembler-with-cpp" => Language::AsmWithCpp,
        "cpp-output" => Language::PreprocessedC,
        "c++-cpp-output" => Language::PreprocessedCxx,
        _ => return None,
    })
}

/// Whether the driver would compile this input rather than pass it to the linker.
pub(super) fn is_source(name: &str, x: Option<&str>, cxx_driver: bool) -> bool {
    const OTHER_SOURCES: &[&str] = &[
        "h", "hh", "hpp", "hxx", "H", "tcc", "mi", "mii", "f", "for", "ftn", "f90", "f95", "f03",
        "f08", "F", "FOR", "F90", "F95", "d", "go", "adb", "ads", "cu", "cl",
    ];
    name == "-"
        || x.is_some()
        || language_from_name(name, cxx_driver).is_some()
        || Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| OTHER_SOURCES.contains(&e))
}

/// The canonical name of an option whose value is the next argument.
pub(super) fn separate_option(arg: &str) -> Option<&'static str> {
    if let Some((_, name)) = LONG_ALIASES.iter().find(|(long, _)| *long == arg) {
        return Some(name);
    }
    SEPARATE
        .iter()
        .chain(JOINED_OR_SEPARATE)
        .find(|name| **name == arg)
        .copied()
}

/// The canonical name and value of an option with its value in the same argument.
pub(super) fn joined_option(arg: &str) -> Option<(&'static str, &str)> {
    let aliased = LONG_ALIASES
        .iter()
        .find_map(|(long, name)| Some((*name, joined(arg, long)?)));
    let equals = || EQUALS.iter().find_map(|n| Some((*n, joined(arg, n)?)));
    let prefixed = || {
        JOINED_OR_SEPARATE
            .iter()
            .find_map(|n| Some((*n, arg.strip_prefix(n)?)))
    };
    aliased.or_else(equals).or_else(prefixed)
}
