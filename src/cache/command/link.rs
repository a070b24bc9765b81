//! The link kind: links through the compiler driver or by running ld
//! directly, and the places a library the link read could have been found
//! first.
//!
//! A link is cacheable when its only output is the `-o` file and the linker
//! can report what it read (`--dependency-file`, GNU ld and lld), so map
//! files, import libraries and verbose modes are refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::driver::{DriverArgs, is_source};
use super::kind::StepKind;
use super::{Detail, Invocation, LinkArgs, Linker, Parsed, Refusal, ToolKind, build_argv, joined};
use crate::cache::Cache;
use crate::cache::files::FileFacts;
use crate::cache::key::{KeyedStep, Listed};
use crate::cache::probe::Overlay;
use crate::cache::record::Dependencies;
use crate::cache::toolchain::ToolIdentity;
use std::collections::{HashMap, HashSet};

use crate::cache::absent::system_search_args;
use crate::cache::paths::join_text;

const LINK: ToolKind = ToolKind::Link;

/// A link through gcc/clang: `d` has already been through the driver's option parser.
pub(super) fn driver_link(
    cxx_driver: bool,
    d: &DriverArgs,
    key_args: Vec<String>,
    cwd: &Path,
) -> Result<Parsed, Refusal> {
    if let Some(v) = &d.verbose {
        return Err(Refusal::new(
            LINK,
            "verbose",
            format!("`{v}` prints the link's details"),
        ));
    }
    if let Some(s) = &d.save_temps {
        return Err(Refusal::new(
            LINK,
            "save_temps",
            format!("`{s}` keeps intermediate files"),
        ));
    }
    if let Some((name, _)) = d
        .inputs
        .iter()
        .find(|(name, x)| is_source(name, x.as_deref(), cxx_driver))
    {
        return Err(Refusal::new(
            LINK,
            "link_with_sources",
            format!("{name} is compiled and linked in one step"),
        ));
    }
    if d.inputs.is_empty() {
        return Err(Refusal::new(
            LINK,
            "no_inputs",
            "the link names no input files",
        ));
    }
    let dependency_file_ok = match d.fuse_ld.as_deref() {
        None => true,
        Some(ld) => {
            let name = Path::new(ld)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(ld);
            matches!(name, "bfd" | "lld" | "ld" | "ld.bfd" | "ld.lld")
        }
    };
    if !dependency_file_ok {
        return Err(Refusal::new(
            LINK,
            "unsupported_linker",
            format!(
                "linker {} cannot write --dependency-file",
                d.fuse_ld.as_deref().unwrap_or_default()
            ),
        ));
    }
    check_linker_args(&d.linker_args, cwd, 0)?;
    let n = key_args.len();
    Ok(Parsed {
        detail: Detail::Link(LinkArgs {
            output: d.output.clone().unwrap_or_else(|| "a.out".to_string()),
            inputs: d.inputs.iter().map(|(name, _)| name.clone()).collect(),
            shared: d.shared,
            driver: true,
            dependency_file_ok,
        }),
        key_args,
        preprocessor_only: vec![false; n],
    })
}

/// ld options whose value is the next argument, spelled with one dash
/// (GNU ld accepts one or two dashes for long options).
const LD_SEPARATE: &[&str] = &[
    "-o",
    "-l",
    "-L",
    "-T",
    "-e",
    "-u",
    "-y",
    "-Y",
    "-z",
    "-m",
    "-h",
    "-R",
    "-A",
    "-b",
    "-c",
    "-f",
    "-F",
    "-G",
    "-O",
    "-a",
    "-Map",
    "-output",
    "-library",
    "-library-path",
    "-script",
    "-entry",
    "-undefined",
    "-soname",
    "-rpath",
    "-rpath-link",
    "-dynamic-linker",
    "-version-script",
    "-dynamic-list",
    "-defsym",
    "-exclude-libs",
    "-plugin",
    "-plugin-opt",
    "-architecture",
    "-format",
    "-mri-script",
    "-auxiliary",
    "-filter",
    "-gpsize",
    "-just-symbols",
    "-trace-symbol",
    "-wrap",
    "-retain-symbols-file",
    "-section-start",
    "-Ttext",
    "-Tbss",
    "-Tdata",
    "-Ttext-segment",
    "-init",
    "-fini",
    "-image-base",
    "-flavor",
    "-assert",
    "-dependency-file",
    "-out-implib",
    "-hash-style",
    "-sysroot",
    "-emulation",
];

/// ld run directly (or lld).
pub(super) fn analyze_ld(linker: Linker, args: &[String], cwd: &Path) -> Result<Parsed, Refusal> {
    if matches!(linker, Linker::Gold | Linker::Mold) {
        return Err(Refusal::new(
            LINK,
            "unsupported_linker",
            "gold and mold cannot write --dependency-file",
        ));
    }
    check_linker_args(args, cwd, 0)?;
    let mut key = args.to_vec();
    let mut output = None;
    let mut inputs = Vec::new();
    let mut shared = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let name = arg
            .strip_prefix('-')
            .filter(|a| a.starts_with('-'))
            .unwrap_or(arg);
        if !arg.starts_with('-') {
            inputs.push(arg.to_string());
        } else if LD_SEPARATE.contains(&name) {
            let Some(value) = args.get(i + 1) else {
                return Err(Refusal::new(
                    LINK,
                    "missing_argument",
                    format!("`{arg}` is missing its value"),
                ));
            };
            if name == "-o" || name == "-output" {
                output = Some(value.clone());
                key[i + 1] = "<output>".to_string();
            }
            i += 1;
        } else if let Some(value) = joined(name, "-output") {
            output = Some(value.to_string());
            key[i] = format!("{}<output>", &arg[..arg.len() - value.len()]);
        } else if let Some(value) = arg.strip_prefix("-o").filter(|_| !arg.starts_with("--")) {
            output = Some(value.to_string());
            key[i] = "-o<output>".to_string();
        } else if matches!(name, "-shared" | "-Bshareable") {
            shared = true;
        }
        i += 1;
    }
    if inputs.is_empty() {
        return Err(Refusal::new(
            LINK,
            "no_inputs",
            "the link names no input files",
        ));
    }
    let n = key.len();
    Ok(Parsed {
        detail: Detail::Link(LinkArgs {
            output: output.unwrap_or_else(|| "a.out".to_string()),
            inputs,
            shared,
            driver: false,
            dependency_file_ok: true,
        }),
        key_args: key,
        preprocessor_only: vec![false; n],
    })
}

/// Refuse linker options that write files besides the output or change what
/// is printed; read `@file`s (the linker expands them itself) to check those too.
pub(super) fn check_linker_args(args: &[String], cwd: &Path, depth: usize) -> Result<(), Refusal> {
    for arg in args {
        let name = arg
            .strip_prefix('-')
            .filter(|a| a.starts_with('-'))
            .unwrap_or(arg);
        let refuse =
            |reason, what: &str| Err(Refusal::new(LINK, reason, format!("`{arg}` {what}")));
        if name.starts_with("-Map") || name == "-M" || name == "-print-map" || name == "-cref" {
            return refuse("map_file", "writes a link map");
        }
        if name.starts_with("-out-implib") || name.starts_with("-dependency-file") {
            return refuse("extra_link_outputs", "writes a second output");
        }
        if matches!(name, "-v" | "-V" | "-verbose" | "-version" | "-help")
            || name.starts_with("-verbose=")
        {
            return refuse("verbose", "prints the link's details");
        }
        if let Some(file) = arg.strip_prefix('@') {
            let path = cwd.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Refusal::new(
                    LINK,
                    "unreadable_at_file",
                    format!("cannot read linker response file {}: {e}", path.display()),
                )
            })?;
            if depth >= super::MAX_RESPONSE_DEPTH {
                return refuse("unreadable_at_file", "nests response files too deep");
            }
            check_linker_args(&build_argv(&text), cwd, depth + 1)?;
        }
    }
    Ok(())
}

/// A link, through the compiler driver or by the linker itself.
pub(super) struct Link;

impl StepKind for Link {
    fn name(&self) -> &'static str {
        "link"
    }

    fn outputs(&self, invocation: &Invocation) -> Vec<PathBuf> {
        match &invocation.detail {
            Detail::Link(link) => vec![invocation.cwd.join(&link.output)],
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
        let Detail::Link(link) = &invocation.detail else {
            return Err("other_outputs");
        };
        let key = cache.listed_inputs_key(invocation, &tool);
        if !link.dependency_file_ok {
            return Err("unsupported_linker");
        }
        cache.key_listed_inputs(
            invocation,
            tool,
            key,
            Listed {
                inputs: &link.inputs,
                output: &link.output,
                two_level: true,
            },
            overlay,
        )
    }

    /// What a link read is known only from the linker's own list.
    fn needs_private_depfile(&self, _invocation: &Invocation) -> bool {
        true
    }

    fn private_depfile_args(&self, invocation: &Invocation, path: &str) -> Vec<String> {
        match &invocation.detail {
            Detail::Link(link) if link.driver => vec![format!("-Wl,--dependency-file={path}")],
            _ => vec![format!("--dependency-file={path}")],
        }
    }

    fn absent_places(
        &self,
        cache: &Cache,
        invocation: &Invocation,
        keyed: &KeyedStep,
        _read: &[(String, FileFacts)],
        deps: &[String],
        _found: &mut Dependencies,
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        match &invocation.detail {
            Detail::Link(link) => cache.absent_libraries(invocation, keyed, link.driver, deps),
            _ => Ok(Vec::new()),
        }
    }
}

impl Cache {
    /// The places where a library or startfile the link read would have
    /// been found first, had it existed: the dirs searched before the one
    /// it came from, in the order the linker searches them (`-L` dirs,
    /// then, through a compiler driver, `LIBRARY_PATH` and the driver's
    /// own dirs, then the linker's built-in ones; see
    /// [`crate::cache::toolchain::Toolchains::library_search_dirs`]).
    pub(super) fn absent_libraries(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
        driver: bool,
        deps: &[String],
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        let cwd = &invocation.cwd;
        let mut search: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut linker_args: Vec<&str> = Vec::new();
        let mut args = invocation.expanded_args.iter();
        while let Some(arg) = args.next() {
            match arg.strip_prefix("-Wl,") {
                Some(list) => linker_args.extend(list.split(',')),
                None if arg == "-Xlinker" => linker_args.extend(args.next().map(String::as_str)),
                None => linker_args.push(arg),
            }
        }
        let mut args = linker_args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-L" || arg == "--library-path" {
                search.extend(args.next().map(|dir| join_text(cwd, dir)));
            } else if let Some(dir) = arg
                .strip_prefix("--library-path=")
                .or_else(|| arg.strip_prefix("-L"))
            {
                search.push(join_text(cwd, dir));
            } else if arg == "-l" || arg == "--library" {
                names.extend(args.next().map(str::to_string));
            } else if let Some(name) = arg
                .strip_prefix("--library=")
                .or_else(|| arg.strip_prefix("-l"))
            {
                names.push(name.to_string());
            }
        }
        let relevant = system_search_args(&invocation.expanded_args);
        let builtin = self
            .toolchains
            .library_search_dirs(&keyed.tool, driver, &relevant, cwd)
            .map_err(|_| Some("library_dirs_unknown"))?;
        search.extend(
            builtin
                .iter()
                .map(|dir| join_text(cwd, &dir.to_string_lossy())),
        );
        let last: HashMap<&str, usize> = search
            .iter()
            .enumerate()
            .map(|(at, dir)| (dir.as_str(), at))
            .collect();
        // What a file of this name may have been looked up as: `-lNAME`
        // tries libNAME.so, then libNAME.a, in each dir.
        let looked_up_as = |file: &str| -> Vec<String> {
            let stem = file
                .strip_prefix("lib")
                .and_then(|rest| rest.strip_suffix(".so").or_else(|| rest.strip_suffix(".a")));
            match stem {
                Some(stem) => vec![format!("lib{stem}.so"), format!("lib{stem}.a")],
                None => vec![file.to_string()],
            }
        };
        let mut absent: HashSet<(String, String)> = HashSet::new();
        let mut note = |dir: &str, candidate: &str| {
            let place = (dir.to_string(), candidate.to_string());
            if !absent.contains(&place) && !Path::new(dir).join(candidate).exists() {
                absent.insert(place);
            }
        };
        let read: Vec<String> = deps
            .iter()
            .filter(|dep| !keyed.keyed_inputs.contains(&cwd.join(dep)))
            .map(|dep| join_text(cwd, dep))
            .collect();
        for full in &read {
            let Some((dir, file)) = full.rsplit_once('/') else {
                continue;
            };
            let Some(&at) = last.get(dir) else {
                continue;
            };
            let candidates = looked_up_as(file);
            for earlier in &search[..at] {
                for candidate in &candidates {
                    note(earlier, candidate);
                }
            }
            // In one dir the shared library wins over the archive.
            if file.ends_with(".a") {
                note(dir, &candidates[0]);
            }
        }
        // A `-l` library found outside every search dir (a sysroot the
        // list spells otherwise): every dir counts as earlier.
        for name in &names {
            let candidates = match name.strip_prefix(':') {
                Some(file) => vec![file.to_string()],
                None => vec![format!("lib{name}.so"), format!("lib{name}.a")],
            };
            let found_outside = read.iter().any(|full| {
                full.rsplit_once('/').is_some_and(|(dir, file)| {
                    candidates.iter().any(|c| c == file) && !last.contains_key(dir)
                })
            });
            if found_outside {
                for dir in &search {
                    for candidate in &candidates {
                        note(dir, candidate);
                    }
                }
            }
        }
        let mut absent: Vec<(String, String)> = absent
            .into_iter()
            .map(|(dir, name)| (self.roots.normalize(&dir), name))
            .collect();
        absent.sort();
        Ok(absent)
    }
}
