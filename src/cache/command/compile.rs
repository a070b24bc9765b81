//! The compile kind: a gcc/clang command line that compiles one source (a
//! link through the driver is handed to [`super::link`]; the arguments are
//! scanned by [`super::driver`], which knows every option), its key (the
//! source's content, comment-blind when nothing can see comments, the
//! files options name, the prefix maps the cache adds) and the places a
//! header would have shadowed the ones it read.

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
use crate::hash::Digest;
use std::collections::{HashMap, HashSet};
use std::fs;

use super::Language;
use crate::cache::absent::{Names, system_search_args};
use crate::cache::files::CommentDialect;
use crate::cache::key::{ASSEMBLER_READS, COMPILE_ENV};
use crate::cache::paths::is_under;
use crate::cache::preprocessed::{preprocessor_options, strict_c90};
use crate::cache::records::{FileIdentity, KeyHasher, LastSeen};
use crate::cache::shadows::HeaderSearch;
use crate::cache::toolchain::Family;

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

    fn text_key_is_exact(&self, invocation: &Invocation) -> bool {
        matches!(&invocation.detail, Detail::Compile(args) if args.debug)
    }

    fn depfile_leaves_out_inputs(&self, invocation: &Invocation) -> bool {
        matches!(&invocation.detail, Detail::Compile(args) if args.user_deps_only)
    }

    fn may_add_colour_flag(&self) -> bool {
        true
    }

    fn sibling_group(&self, invocation: &Invocation) -> Option<Digest> {
        group_of(invocation)
    }
}

/// See [`StepKind::sibling_group`]: the program, dir, source and the
/// arguments that are not only the preprocessor's; none under macro debug
/// info, which puts the `-D`s in the object.
fn group_of(invocation: &Invocation) -> Option<Digest> {
    let Detail::Compile(args) = &invocation.detail else {
        return None;
    };
    if args.macro_debug {
        return None;
    }
    let mut key = KeyHasher::new("group");
    key.text(&invocation.program)
        .text(&invocation.cwd.to_string_lossy())
        .text(&args.source);
    for (arg, preprocessor_only) in invocation
        .key_args
        .iter()
        .zip(&invocation.preprocessor_only)
    {
        if !preprocessor_only {
            key.text(arg);
        }
    }
    Some(key.finish())
}

/// How comments can be told apart from code for this compile, or `None`
/// when its outputs may depend on what comments say (see
/// [`crate::cache::source_text::comment_blind_hash`] for the cases).
fn comment_dialect(
    invocation: &Invocation,
    args: &CompileArgs,
    tool: &ToolIdentity,
) -> Option<CommentDialect> {
    let c_family = matches!(
        args.language,
        Language::C | Language::Cxx | Language::ObjC | Language::ObjCxx
    );
    let plain_c = matches!(args.language, Language::C | Language::ObjC);
    let options = preprocessor_options(invocation);
    let sees_comments = options.iter().any(|&option| {
        matches!(
            option,
            "-traditional" | "-traditional-cpp" | "-fparse-all-comments" | "-C" | "-CC"
        )
    });
    if !c_family || sees_comments || (tool.family == Family::Clang && args.debug) {
        return None;
    }
    Some(if plain_c && strict_c90(&options) {
        CommentDialect::BlockOnly
    } else {
        CommentDialect::BlockAndLine
    })
}

impl Cache {
    pub(super) fn key_compile(
        &self,
        invocation: &Invocation,
        args: &CompileArgs,
        tool: Arc<ToolIdentity>,
    ) -> Result<KeyedStep, &'static str> {
        let cwd = &invocation.cwd;
        // These make gcc write one more dependency file, which a hit would
        // not restore.
        if ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"]
            .iter()
            .any(|name| std::env::var_os(name).is_some())
        {
            return Err("dependency_env");
        }
        if args.records_command_line && tool.family != Family::Gcc {
            return Err("records_command_line");
        }
        if crate::cache::shadows::unmodelled_include_option(&invocation.expanded_args).is_some() {
            return Err("unmodelled_include_option");
        }
        let source = cwd.join(&args.source);
        // A comment-only edit keeps the key when nothing the compiler makes
        // can see comments; the raw content then still decides for results
        // with diagnostics (they quote source lines).
        let dialect = comment_dialect(invocation, args, &tool);
        let (facts, blind) = match self.files.source_facts(&source, dialect) {
            Ok(Some(found)) => found,
            _ => return Err("unreadable_source"),
        };
        if facts.timestamp {
            return Err("timestamp_macro");
        }
        if facts.assembler_reads {
            return Err(ASSEMBLER_READS);
        }
        let remap_args = if self.settings.path_remap {
            self.prefix_map_args(args)
        } else {
            Vec::new()
        };
        let extra_args = remap_args.clone();
        let args_digest = self.args_digest(invocation, &extra_args);
        let env_digest = Self::env_digest(COMPILE_ENV);
        let mut keyed_inputs = HashSet::from([source.clone()]);
        let read_files = self.read_files_digest(cwd, &args.read_files, &mut keyed_inputs)?;
        let mut key = KeyHasher::new("compile");
        key.field(&tool.digest)
            .text(args.language.as_x_arg())
            .field(&args_digest)
            .field(&blind.unwrap_or(facts.hash))
            .field(&env_digest)
            .field(&read_files);
        let key = key.finish();
        let output = cwd.join(&args.output);
        let depfile = args.depfile.as_ref().map(|d| {
            let target = args
                .dep_target
                .clone()
                .unwrap_or_else(|| args.output.clone());
            (cwd.join(d), target)
        });
        let mut seen_key = KeyHasher::new("last-seen");
        seen_key
            .text(&self.roots.normalize(&source.to_string_lossy()))
            .text(&self.roots.normalize(&output.to_string_lossy()));
        let last_seen = LastSeen {
            tool: tool.digest,
            args: args_digest,
            source: facts.hash,
            env: env_digest,
        };
        Ok(KeyedStep {
            kind: ToolKind::Compile,
            cwd: cwd.clone(),
            key,
            two_level: true,
            outputs: vec![output],
            depfile,
            keyed_inputs,
            extra_args,
            private_deps: None,
            last_seen: Some((seen_key.finish(), last_seen)),
            source_facts: Some(facts),
            raw_source: blind.map(|_| (self.roots.normalize(&args.source), facts.hash)),
            tool,
            remap_args,
            cpp_key: None,
            read_files,
            time_macros: None,
        })
    }

    /// The content of the files options name for the compiler to read
    /// (`-specs=`, sanitizer lists...; see [`CompileArgs::read_files`]),
    /// which join `keyed`. A spec file may `%include` another, which is
    /// not followed: such a compile is not cached.
    fn read_files_digest(
        &self,
        cwd: &Path,
        files: &[String],
        keyed: &mut HashSet<PathBuf>,
    ) -> Result<Digest, &'static str> {
        let mut key = KeyHasher::new("read-files");
        for file in files {
            let path = cwd.join(file);
            key.text(&self.roots.normalize(file));
            match fs::read(&path) {
                Ok(content) if memchr::memmem::find(&content, b"%include").is_some() => {
                    return Err("specs_include");
                }
                Ok(content) => {
                    key.field(blake3::hash(&content).as_bytes());
                    keyed.insert(path);
                }
                // Searched elsewhere (a spec file in the toolchain's dirs)
                // or an error the compile reports.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    key.field(b"absent");
                }
                Err(_) => return Err("unreadable_input"),
            }
        }
        Ok(key.finish())
    }

    /// `-ffile-prefix-map` for the build dir and the source root (when the
    /// build does not map them already), so `-g` objects do not embed them.
    fn prefix_map_args(&self, args: &CompileArgs) -> Vec<String> {
        let mapped = |root: &str| {
            args.prefix_maps
                .iter()
                .any(|map| map.debug && map.macros && is_under(root, &map.old))
        };
        let mut extra = Vec::new();
        if let (Some(source), Some(relative)) =
            (self.roots.source(), self.roots.source_from_build())
            && !mapped(source)
        {
            extra.push(format!("-ffile-prefix-map={source}={relative}"));
        }
        if !mapped(self.roots.build()) {
            extra.push(format!("-ffile-prefix-map={}=.", self.roots.build()));
        }
        extra
    }

    /// The places where a header would have been found before the one the
    /// compile read, had it existed (see [`crate::cache::shadows`]), and
    /// those `__has_include` probed: the absent ones, and the files found
    /// there (with their hashes, added to `files`).
    pub(super) fn absent_headers(
        &self,
        invocation: &Invocation,
        args: &CompileArgs,
        keyed: &KeyedStep,
        read: &[(String, crate::cache::files::FileFacts)],
        files: &mut Dependencies,
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        let cwd = &invocation.cwd;
        let system = if args.nostdinc {
            None
        } else {
            let relevant = system_search_args(&invocation.expanded_args);
            // Without the compiler's own dirs, a header from one would
            // seem found outside every search dir.
            Some(
                self.toolchains
                    .system_include_dirs(&keyed.tool, args.language.as_x_arg(), &relevant)
                    .map_err(|_| Some("include_dirs_unknown"))?,
            )
        };
        let env_steers = crate::cache::toolchain::STEERING_ENV
            .iter()
            .any(|name| name.ends_with("PATH") && std::env::var_os(name).is_some());
        let search = HeaderSearch::new(cwd, args, system.as_deref(), env_steers);
        let dir_of = |full: &str| full.rsplit_once('/').map(|(dir, _)| dir.to_string());
        let mut includers: Vec<String> = Vec::new();
        for (full, facts) in read {
            if facts.quote_include
                && let Some(dir) = dir_of(full)
                && !includers.contains(&dir)
            {
                includers.push(dir);
            }
        }
        let mut absent: HashSet<(String, String)> = HashSet::new();
        // Each dir is listed (or its listing checked by stat) once per call.
        let mut listings: HashMap<String, Option<Names>> = HashMap::new();
        let mut is_absent = |dir: &str, name: &str| {
            let first = name.split('/').next().unwrap_or(name);
            let may_exist = listings
                .entry(dir.to_string())
                .or_insert_with(|| self.listings.listing(Path::new(dir)))
                .as_ref()
                .is_none_or(|names| names.contains(first));
            !may_exist || fs::symlink_metadata(Path::new(dir).join(name)).is_err()
        };
        // The source (first) is named, not searched for.
        for (full, _) in read.iter().skip(1) {
            for (dir, name) in search.places_before(full, &includers) {
                let place = (dir.to_string(), name.to_string());
                if !absent.contains(&place) && is_absent(dir, name) {
                    absent.insert(place);
                }
            }
        }
        for (full, facts) in read {
            if !facts.has_include {
                continue;
            }
            let text = fs::read(full).map_err(|_| Some("input_vanished"))?;
            let probes = crate::cache::shadows::has_include_probes(&text)
                .ok_or(Some("has_include_macro"))?;
            let own_dir = dir_of(full).unwrap_or_default();
            for probe in probes {
                let beside = probe.quoted.then_some(&own_dir);
                for dir in beside.into_iter().chain(search.dirs()) {
                    let path = Path::new(dir).join(&probe.name);
                    if is_absent(dir, &probe.name) {
                        absent.insert((dir.clone(), probe.name.clone()));
                        continue;
                    }
                    let Ok(Some(stat)) = crate::hash::stat(&path.to_string_lossy()) else {
                        return Err(Some("input_vanished"));
                    };
                    let normal = self.roots.normalize(&path.to_string_lossy());
                    if stat.not_regular || files.files.iter().any(|(p, _)| *p == normal) {
                        continue;
                    }
                    let facts = self
                        .files
                        .facts_at(&path, stat)
                        .map_err(|_| Some("input_vanished"))?;
                    let settled = !crate::cache::files::is_racy(&stat);
                    files.files.push((normal, facts.hash));
                    files
                        .identities
                        .push(settled.then(|| FileIdentity::of(&stat)));
                }
            }
        }
        let mut normalized_dirs: HashMap<String, String> = HashMap::new();
        let mut absent: Vec<(String, String)> = absent
            .into_iter()
            .map(|(dir, name)| {
                let dir = normalized_dirs
                    .entry(dir)
                    .or_insert_with_key(|dir| self.roots.normalize(dir));
                (dir.clone(), name)
            })
            .collect();
        absent.sort();
        Ok(absent)
    }
}
