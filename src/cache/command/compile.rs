//! gcc/clang driver command lines: a single-source compile the cache can key,
//! or a link through the driver (handed to [`super::link`]). The arguments
//! are scanned by [`super::driver`], which knows every option.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::driver::{
    DriverArgs, PREPROCESSOR_ONLY, joined_option, language_from_name, language_from_x,
    separate_option,
};
use super::kind::StepKind;
use super::{CompileArgs, Detail, IncludeDir, Invocation, Parsed, Refusal, ToolKind, link};
use crate::cache::Cache;
use crate::cache::files::FileFacts;
use crate::cache::key::KeyedStep;
use crate::cache::probe::{Expected, INPUT_PENDING, Overlay};
use crate::cache::record::Dependencies;
use crate::cache::toolchain::ToolIdentity;

pub(super) fn analyze(cxx_driver: bool, args: &[String], cwd: &Path) -> Result<Parsed, Refusal> {
    let mut d = DriverArgs::default();
    let mut key = args.to_vec();
    let mut pp = vec![false; args.len()];
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "-" || !arg.starts_with('-') {
            d.inputs.push((arg.to_string(), d.inputs_language.clone()));
            i += 1;
            continue;
        }
        if let Some(name) = separate_option(arg) {
            let Some(value) = args.get(i + 1) else {
                let kind = if d.c {
                    ToolKind::Compile
                } else {
                    ToolKind::Link
                };
                return Err(Refusal::new(
                    kind,
                    "missing_argument",
                    format!("`{arg}` is missing its value"),
                ));
            };
            if let Some(p) = d.option(name, value) {
                key[i + 1] = p.text().to_string();
            }
            let only_pp = PREPROCESSOR_ONLY.contains(&name);
            pp[i] = only_pp;
            pp[i + 1] = only_pp;
            i += 2;
            continue;
        }
        if let Some((name, value)) = joined_option(arg) {
            if let Some(p) = d.option(name, value) {
                key[i] = format!("{}{}", &arg[..arg.len() - value.len()], p.text());
            }
            pp[i] = PREPROCESSOR_ONLY.contains(&name);
        } else if let Some(items) = arg.strip_prefix("-Wp,") {
            pp[i] = true;
            let mut items: Vec<String> = items.split(',').map(str::to_string).collect();
            for j in 1..items.len() {
                if matches!(items[j - 1].as_str(), "-MD" | "-MMD") {
                    d.user_deps_only = items[j - 1] == "-MMD";
                }
                if matches!(items[j - 1].as_str(), "-MD" | "-MMD" | "-MF") {
                    d.wp_depfile = Some(std::mem::replace(&mut items[j], "<depfile>".into()));
                }
            }
            key[i] = format!("-Wp,{}", items.join(","));
        } else {
            d.flag(arg);
            pp[i] = matches!(
                arg,
                "-MD" | "-MMD" | "-MP" | "-MG" | "-nostdinc" | "-nostdinc++"
            );
        }
        i += 1;
    }
    decide(cxx_driver, d, key, pp, cwd)
}

/// Refuses the driver's modes that make no object: queries, `-E`, `-M`
/// alone, `-S`.
fn refuse_other_modes(d: &DriverArgs) -> Result<(), Refusal> {
    use ToolKind::Compile;
    let compiling = d.c || d.asm_only || d.preprocess;
    if let Some(q) = &d.query {
        let kind = if compiling { Compile } else { ToolKind::Link };
        return Err(Refusal::new(
            kind,
            "query",
            format!("`{q}` makes the driver report instead of build"),
        ));
    }
    if d.preprocess {
        return Err(Refusal::new(
            Compile,
            "preprocess_only",
            "-E only preprocesses",
        ));
    }
    if d.deps_only && !d.deps_too {
        return Err(Refusal::new(
            Compile,
            "dependency_only",
            "-M/-MM without -MD/-MMD only writes dependencies",
        ));
    }
    if d.asm_only {
        return Err(Refusal::new(
            Compile,
            "compile_to_asm",
            "-S writes assembly",
        ));
    }
    Ok(())
}

/// The include dirs in search order: -iquote, -I, -isystem, -idirafter.
fn include_dirs([quote, plain, system, after]: [Vec<String>; 4]) -> Vec<IncludeDir> {
    let dirs = |paths: Vec<String>, quote_only: bool, system: bool, after: bool| {
        paths.into_iter().map(move |path| IncludeDir {
            path,
            quote_only,
            system,
            after,
        })
    };
    dirs(quote, true, false, false)
        .chain(dirs(plain, false, false, false))
        .chain(dirs(system, false, true, false))
        .chain(dirs(after, false, true, true))
        .collect()
}

fn decide(
    cxx_driver: bool,
    d: DriverArgs,
    key_args: Vec<String>,
    preprocessor_only: Vec<bool>,
    cwd: &Path,
) -> Result<Parsed, Refusal> {
    use ToolKind::Compile;
    refuse_other_modes(&d)?;
    if !d.c {
        return link::driver_link(cxx_driver, &d, key_args, cwd);
    }
    if let Some((reason, detail)) = d.compile_refusal {
        return Err(Refusal::new(Compile, reason, detail));
    }
    if d.arch_count > 1 {
        return Err(Refusal::new(
            Compile,
            "multiple_arch",
            "several -arch values build a universal object in several passes",
        ));
    }
    let (source, x) = match d.inputs.as_slice() {
        [] => {
            return Err(Refusal::new(
                Compile,
                "no_source",
                "-c without a source file",
            ));
        }
        [one] => one.clone(),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Refusal::new(
                Compile,
                "multiple_sources",
                format!("-c with several inputs: {}", names.join(" ")),
            ));
        }
    };
    if source == "-" {
        return Err(Refusal::new(
            Compile,
            "stdin_source",
            "the source is read from stdin",
        ));
    }
    if d.output.as_deref() == Some("-") {
        return Err(Refusal::new(
            Compile,
            "output_to_stdout",
            "-o - writes the object to stdout",
        ));
    }
    let language = match &x {
        Some(x) => language_from_x(x),
        None => language_from_name(&source, cxx_driver),
    };
    let Some(language) = language else {
        let why = match &x {
            Some(x) => format!("-x {x} is not a language the cache handles"),
            None => format!("the language of {source} is not known from its extension"),
        };
        return Err(Refusal::new(Compile, "unknown_language", why));
    };
    let output = d.output.unwrap_or_else(|| {
        let stem = Path::new(&source)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{stem}.o")
    });
    let depfile = d.mf.or(d.wp_depfile).or_else(|| {
        d.deps_too.then(|| {
            Path::new(&output)
                .with_extension("d")
                .to_string_lossy()
                .into_owned()
        })
    });
    let include_dirs = include_dirs(d.include);
    Ok(Parsed {
        kind: Compile,
        detail: Detail::Compile(CompileArgs {
            language,
            source,
            output,
            depfile,
            dep_target: d.dep_target,
            include_dirs,
            nostdinc: d.nostdinc,
            user_deps_only: d.user_deps_only,
            debug: d.debug,
            macro_debug: d.macro_debug,
            records_command_line: d.records_command_line,
            prefix_maps: d.prefix_maps,
            sysroot: d.sysroot,
            target: d.target,
            read_files: d.read_files,
        }),
        key_args,
        preprocessor_only,
    })
}

/// A compile of one C, C++, Objective-C or assembler source.
pub(super) struct Compile;

impl StepKind for Compile {
    fn name(&self) -> &'static str {
        "compile"
    }

    fn outputs(&self, invocation: &Invocation) -> Vec<PathBuf> {
        let Detail::Compile(args) = &invocation.detail else {
            return Vec::new();
        };
        let cwd = &invocation.cwd;
        let mut outputs = vec![cwd.join(&args.output)];
        if let Some(depfile) = &args.depfile {
            outputs.push(cwd.join(depfile));
        }
        outputs
    }

    fn source<'a>(&self, invocation: &'a Invocation) -> Option<&'a str> {
        match &invocation.detail {
            Detail::Compile(args) => Some(&args.source),
            _ => None,
        }
    }

    fn key(
        &self,
        cache: &Cache,
        invocation: &Invocation,
        tool: Arc<ToolIdentity>,
        overlay: &Overlay<'_>,
    ) -> Result<KeyedStep, &'static str> {
        let Detail::Compile(args) = &invocation.detail else {
            return Err("other_outputs");
        };
        if matches!(
            overlay(&invocation.cwd.join(&args.source)),
            Some(Expected::Pending)
        ) {
            // A source another step writes: its comment-blind hash
            // and macro facts are known only once it exists.
            return Err(INPUT_PENDING);
        }
        cache.key_compile(invocation, args, tool)
    }

    fn needs_private_depfile(&self, invocation: &Invocation) -> bool {
        matches!(&invocation.detail, Detail::Compile(args) if args.depfile.is_none())
    }

    fn private_depfile_args(&self, _invocation: &Invocation, path: &str) -> Vec<String> {
        vec!["-MD".to_string(), "-MF".to_string(), path.to_string()]
    }

    fn absent_places(
        &self,
        cache: &Cache,
        invocation: &Invocation,
        keyed: &KeyedStep,
        read: &[(String, FileFacts)],
        _deps: &[String],
        found: &mut Dependencies,
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        match &invocation.detail {
            Detail::Compile(args) => cache.absent_headers(invocation, args, keyed, read, found),
            _ => Ok(Vec::new()),
        }
    }

    fn preprocesses_inputs(&self) -> bool {
        true
    }

    /// Objects are only ever read by later steps (archives and executables
    /// may be changed in place: ar q, strip, patchelf).
    fn may_hardlink_outputs(&self) -> bool {
        true
    }

    fn has_text_key(&self) -> bool {
        true
    }
}
