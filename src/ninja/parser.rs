//! Parses build.ninja (with its includes and subninjas) into a
//! [`Manifest`], evaluating every build statement as it is read.
//!
//! Error messages and the positions they point at follow ninja 1.11.1 so
//! that users see the same diagnostics with either tool.

use super::canon::{canonicalize_into, is_canonical};
use super::eval::{
    BindingStore, BuildEnv, BuildPathEnv, EvalString, InOutEscape, PHONY, PathList, ROOT_SCOPE,
    Rule, ScopeEnv, ScopeId, Scopes, rule_var_index,
};
use super::lexer::{EvalMode, Lexer, Token};
use super::warning_flags::WarningFlags;
#[cfg(test)]
use super::{Build, Loc, Manifest};
use super::{DepsKind, ManifestError, Pool};
use crate::graph::{FileId, Graph, Step, StepId};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// The newest ninja version whose behaviour zccache matches: answered to
/// `ninja --version` (CMake and Meson pick features by it) and compared
/// with `ninja_required_version`. README lists what of 1.12 and 1.13 is
/// matched.
pub const NINJA_VERSION: &str = "1.13.2";

/// Includes nest at most this deep. Ninja itself overflows its stack on a
/// self-including manifest; we report an error instead.
const MAX_INCLUDE_DEPTH: usize = 64;

/// Reads the manifest at `path` from the file system straight into a
/// build graph.
pub fn load_graph(path: &Path) -> Result<Graph, ManifestError> {
    load_graph_with(path, &mut |p: &Path| std::fs::read(p)).map(|(graph, _)| graph)
}

/// Reads the manifest at `path`, getting every file's bytes from `read`,
/// so tests and fuzzers need no file system.
#[cfg(test)]
pub fn load_with(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
) -> Result<Manifest, ManifestError> {
    let (graph, pools) = load_graph_with(path, read)?;
    Ok(manifest_from_graph(graph, pools))
}

/// Parses into a graph; also returns the declared pools in order.
fn load_graph_with(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
) -> Result<(Graph, Vec<Pool>), ManifestError> {
    let mut graph = Graph::default();
    graph.pools.insert("console".to_string(), 1);
    let mut parser = Parser {
        read,
        scopes: Scopes::new(),
        graph,
        pools: Vec::new(),
        deferred: Vec::new(),
        bindings: BindingStore::default(),
        scratch: BuildScratch::default(),
        depth: 0,
        current_file: Arc::from(path),
        warning_flags: super::warning_flags::current(),
    };
    let name = path.to_string_lossy().into_owned();
    let text = parser
        .read_file(path)
        .map_err(|err| ManifestError(format!("loading '{name}': {}", describe_io_error(&err))))?;
    parser.reserve_for(&text);
    parser.parse_file(&name, &text, ROOT_SCOPE)?;
    drop(text);
    parser.evaluate_deferred()?;
    parser.graph.builddir = parser
        .scopes
        .lookup_var(ROOT_SCOPE, "builddir")
        .filter(|dir| !dir.is_empty())
        .map(str::to_string);
    Ok((parser.graph, parser.pools))
}

/// The graph as plain build statements, for tests and tools that want
/// paths spelled out.
#[cfg(test)]
fn manifest_from_graph(graph: Graph, pools: Vec<Pool>) -> Manifest {
    let path = |file: &FileId| graph.path(*file).to_string();
    let builds = graph
        .steps
        .iter()
        .map(|step| Build {
            loc: step.loc.clone(),
            rule: step.rule.clone(),
            outs: step.outs.iter().map(path).collect(),
            explicit_outs: step.explicit_outs,
            ins: step.ins.iter().map(path).collect(),
            explicit_ins: step.explicit_ins,
            implicit_ins: step.implicit_ins,
            validations: step.validations.iter().map(path).collect(),
            command: step.command.clone(),
            description: step.description.clone(),
            depfile: step.depfile.clone(),
            deps: step.deps,
            msvc_deps_prefix: step.msvc_deps_prefix.clone(),
            dyndep: step.dyndep.as_ref().map(path),
            generator: step.generator,
            restat: step.restat,
            rspfile: step.rspfile.clone(),
            rspfile_content: step.rspfile_content.clone(),
            pool: step.pool.clone(),
        })
        .collect();
    Manifest {
        builds,
        defaults: graph.defaults.iter().map(path).collect(),
        pools,
        builddir: graph.builddir.clone(),
        files_read: graph.manifest_files.clone(),
        rules: graph.rules.clone(),
        warnings: graph.warnings.clone(),
    }
}

/// `strerror`-style text, without Rust's " (os error N)" suffix, to match
/// ninja's "loading 'x': No such file or directory".
fn describe_io_error(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// What a build needs to expand its remaining bindings after parsing.
struct DeferredEval {
    rule: Rc<Rule>,
    scope: ScopeId,
    /// Build-level bindings, expanded when the statement was read: a
    /// range of [`Parser::bindings`].
    bindings: (usize, usize),
}

/// Buffers reused across build statements so that the common case
/// allocates only the strings that end up in the [`Build`].
#[derive(Default)]
struct BuildScratch {
    /// Unevaluated paths of the current build, in statement order.
    paths: Vec<EvalString>,
    value: EvalString,
    /// Evaluated, canonical paths of the current build.
    values: Vec<String>,
    expanded: String,
}

struct Parser<'r> {
    read: &'r mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    scopes: Scopes,
    /// Built as the manifest is read; its `pools` hold the declared pools
    /// (including the built-in `console`), which are global.
    graph: Graph,
    /// Declared pools in order.
    pools: Vec<Pool>,
    /// Parallel to `graph.steps`.
    deferred: Vec<DeferredEval>,
    bindings: BindingStore,
    scratch: BuildScratch,
    depth: usize,
    /// Name of the file being parsed, shared by its statements' [`Loc`]s.
    current_file: Arc<Path>,
    /// `-w dupbuild` and `-w phonycycle`.
    warning_flags: WarningFlags,
}

type ParseResult<T = ()> = Result<T, ManifestError>;

impl Parser<'_> {
    /// Reads a manifest file as text. Ninja stops reading at a NUL byte, and
    /// paths are bytes to ninja; invalid UTF-8 is replaced rather than
    /// rejected.
    fn read_file(&mut self, path: &Path) -> io::Result<String> {
        let mut bytes = (self.read)(path)?;
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        self.graph.manifest_files.push(path.to_path_buf());
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    /// Sizes the graph for the build statements of `text` up front, so it
    /// is not copied over and over while growing.
    fn reserve_for(&mut self, text: &str) {
        let builds = text.matches("\nbuild ").count() + 1;
        self.graph.reserve(builds, text.len() / 4);
        self.deferred.reserve(builds);
    }

    fn parse_file(&mut self, filename: &str, text: &str, scope: ScopeId) -> ParseResult {
        let outer = std::mem::replace(&mut self.current_file, Arc::from(Path::new(filename)));
        let result = self.parse_statements(filename, text, scope);
        self.current_file = outer;
        result
    }

    fn parse_statements(&mut self, filename: &str, text: &str, scope: ScopeId) -> ParseResult {
        let mut lexer = Lexer::new(filename, text);
        loop {
            let token = lexer.next_token();
            match token {
                Token::Eof => return Ok(()),
                Token::Newline => {}
                Token::Build => self.parse_build(&mut lexer, scope)?,
                Token::Rule => self.parse_rule(&mut lexer, scope)?,
                Token::Pool => self.parse_pool(&mut lexer, scope)?,
                Token::Default => self.parse_default(&mut lexer, scope)?,
                Token::Include => self.parse_include(&mut lexer, scope, false)?,
                Token::Subninja => self.parse_include(&mut lexer, scope, true)?,
                Token::Ident => {
                    lexer.unread();
                    self.parse_top_level_let(&mut lexer, scope)?;
                }
                Token::Error => return Err(err(&lexer, lexer.describe_last_error())),
                other => return Err(err(&lexer, &format!("unexpected {}", other.name()))),
            }
        }
    }

    /// `name = value` at file level: expanded immediately, so later
    /// redefinitions can refer to the previous value.
    fn parse_top_level_let(&mut self, lexer: &mut Lexer, scope: ScopeId) -> ParseResult {
        let mut value = std::mem::take(&mut self.scratch.value);
        let name = parse_let(lexer, &mut value)?;
        let mut expanded = String::new();
        evaluate_in_scope(&self.scopes, scope, &value, &mut expanded)?;
        self.scratch.value = value;
        if name == "ninja_required_version" {
            self.check_required_version(&expanded)?;
        }
        self.scopes.set_var(scope, name, expanded);
        Ok(())
    }

    /// Ninja compares only major and minor versions.
    fn check_required_version(&mut self, required: &str) -> ParseResult {
        let (ours_major, ours_minor) = parse_version(NINJA_VERSION);
        let (major, minor) = parse_version(required);
        if ours_major < major || (ours_major == major && ours_minor < minor) {
            return Err(ManifestError(format!(
                "ninja version ({NINJA_VERSION}) incompatible with build file \
                 ninja_required_version version ({required})."
            )));
        }
        if ours_major > major {
            self.graph.warnings.push(format!(
                "ninja executable version ({NINJA_VERSION}) greater than build file \
                 ninja_required_version ({required}); versions may be incompatible."
            ));
        }
        Ok(())
    }

    fn parse_rule(&mut self, lexer: &mut Lexer, scope: ScopeId) -> ParseResult {
        let Some(name) = lexer.read_ident() else {
            return Err(err(lexer, "expected rule name"));
        };
        expect_token(lexer, Token::Newline)?;
        if self.scopes.has_local_rule(scope, name) {
            return Err(err(lexer, &format!("duplicate rule '{name}'")));
        }
        let mut rule = Rule::new(name.to_string());
        while lexer.peek_token(Token::Indent) {
            let mut value = EvalString::default();
            let key = parse_let(lexer, &mut value)?;
            let Some(index) = rule_var_index(key) else {
                return Err(err(lexer, &format!("unexpected variable '{key}'")));
            };
            rule.bindings[index] = Some(value);
        }
        if rule.has_binding("rspfile") != rule.has_binding("rspfile_content") {
            return Err(err(
                lexer,
                "rspfile and rspfile_content need to be both specified",
            ));
        }
        if !rule.has_binding("command") {
            return Err(err(lexer, "expected 'command =' line"));
        }
        if scope == ROOT_SCOPE {
            let description = rule.binding("description").map(EvalString::unparse);
            self.graph.rules.push((rule.name.clone(), description));
        }
        self.scopes.add_rule(scope, rule);
        Ok(())
    }

    fn parse_pool(&mut self, lexer: &mut Lexer, scope: ScopeId) -> ParseResult {
        let Some(name) = lexer.read_ident() else {
            return Err(err(lexer, "expected pool name"));
        };
        expect_token(lexer, Token::Newline)?;
        if self.graph.pools.contains_key(name) {
            return Err(err(lexer, &format!("duplicate pool '{name}'")));
        }
        let mut depth = None;
        let mut value = std::mem::take(&mut self.scratch.value);
        while lexer.peek_token(Token::Indent) {
            let key = parse_let(lexer, &mut value)?;
            if key != "depth" {
                return Err(err(lexer, &format!("unexpected variable '{key}'")));
            }
            let mut expanded = String::new();
            evaluate_in_scope(&self.scopes, scope, &value, &mut expanded)?;
            let parsed = parse_c_long(&expanded);
            if parsed < 0 {
                return Err(err(lexer, "invalid pool depth"));
            }
            depth = Some(usize::try_from(parsed).unwrap_or(usize::MAX));
        }
        self.scratch.value = value;
        let Some(depth) = depth else {
            return Err(err(lexer, "expected 'depth =' line"));
        };
        self.graph.pools.insert(name.to_string(), depth);
        self.pools.push(Pool {
            name: name.to_string(),
            depth,
        });
        Ok(())
    }

    fn parse_default(&mut self, lexer: &mut Lexer, scope: ScopeId) -> ParseResult {
        let mut path = std::mem::take(&mut self.scratch.value);
        lexer
            .read_eval(EvalMode::Path, &mut path)
            .map_err(ManifestError)?;
        if path.is_empty() {
            return Err(err(lexer, "expected target name"));
        }
        let mut expanded = String::new();
        let mut canonical = String::new();
        while !path.is_empty() {
            expanded.clear();
            evaluate_in_scope(&self.scopes, scope, &path, &mut expanded)?;
            if expanded.is_empty() {
                return Err(err(lexer, "empty path"));
            }
            canonicalize_into(&expanded, &mut canonical);
            let Some(file) = self.graph.lookup(&canonical) else {
                return Err(err(lexer, &format!("unknown target '{canonical}'")));
            };
            self.graph.defaults.push(file);
            lexer
                .read_eval(EvalMode::Path, &mut path)
                .map_err(ManifestError)?;
        }
        self.scratch.value = path;
        expect_token(lexer, Token::Newline)
    }

    fn parse_include(&mut self, lexer: &mut Lexer, scope: ScopeId, subninja: bool) -> ParseResult {
        let mut path = EvalString::default();
        lexer
            .read_eval(EvalMode::Path, &mut path)
            .map_err(ManifestError)?;
        let mut name = String::new();
        evaluate_in_scope(&self.scopes, scope, &path, &mut name)?;
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(err(
                lexer,
                &format!("loading '{name}': includes nested too deeply"),
            ));
        }
        let text = self.read_file(Path::new(&name)).map_err(|io_err| {
            err(
                lexer,
                &format!("loading '{name}': {}", describe_io_error(&io_err)),
            )
        })?;
        let file_scope = if subninja {
            self.scopes.new_child(scope)
        } else {
            scope
        };
        self.depth += 1;
        let result = self.parse_file(&name, &text, file_scope);
        self.depth -= 1;
        result?;
        expect_token(lexer, Token::Newline)
    }

    /// Reads paths into `scratch.paths` starting at `first`, until an empty
    /// one; returns how many were read.
    fn read_paths(&mut self, lexer: &mut Lexer, first: usize) -> ParseResult<usize> {
        let paths = &mut self.scratch.paths;
        let mut count = 0;
        loop {
            let slot = first + count;
            if paths.len() <= slot {
                paths.push(EvalString::default());
            }
            lexer
                .read_eval(EvalMode::Path, &mut paths[slot])
                .map_err(ManifestError)?;
            if paths[slot].is_empty() {
                return Ok(count);
            }
            count += 1;
        }
    }

    fn parse_build(&mut self, lexer: &mut Lexer, scope: ScopeId) -> ParseResult {
        #[cfg(test)]
        let line = lexer.line_of(lexer.last_token_start());

        let explicit_outs = self.read_paths(lexer, 0)?;
        if explicit_outs == 0 {
            return Err(err(lexer, "expected path"));
        }
        let mut implicit_outs = 0;
        if lexer.peek_token(Token::Pipe) {
            implicit_outs = self.read_paths(lexer, explicit_outs)?;
        }
        let outs_len = explicit_outs + implicit_outs;
        expect_token(lexer, Token::Colon)?;

        let Some(rule_name) = lexer.read_ident() else {
            return Err(err(lexer, "expected build command name"));
        };
        let Some(rule) = self.scopes.lookup_rule(scope, rule_name) else {
            return Err(err(lexer, &format!("unknown build rule '{rule_name}'")));
        };

        let explicit_ins = self.read_paths(lexer, outs_len)?;
        let mut next = outs_len + explicit_ins;
        let mut implicit_ins = 0;
        if lexer.peek_token(Token::Pipe) {
            implicit_ins = self.read_paths(lexer, next)?;
            next += implicit_ins;
        }
        let mut order_only_ins = 0;
        if lexer.peek_token(Token::Pipe2) {
            order_only_ins = self.read_paths(lexer, next)?;
            next += order_only_ins;
        }
        if lexer.peek_token(Token::PipeAt) {
            next += self.read_paths(lexer, next)?;
        }
        expect_token(lexer, Token::Newline)?;
        let ins_end = outs_len + explicit_ins + implicit_ins + order_only_ins;

        // Build-level bindings see the file scope as it is now, not each
        // other.
        let bindings_start = self.bindings.mark();
        let mut value = std::mem::take(&mut self.scratch.value);
        while lexer.peek_token(Token::Indent) {
            let key = parse_let(lexer, &mut value)?;
            let text_start = self.bindings.text_len();
            evaluate_in_scope(&self.scopes, scope, &value, self.bindings.text_mut())?;
            self.bindings.push(key, text_start);
        }
        self.scratch.value = value;
        let bindings_end = self.bindings.mark();
        let bindings = self.bindings.slice(bindings_start, bindings_end);

        // Paths may use the build's own bindings. Ninja rejects empty paths
        // only after the pool check, so remember where the first one was.
        let mut first_empty = None;
        let mut path_env = BuildPathEnv {
            scopes: &self.scopes,
            scope,
            bindings,
        };
        let scratch = &mut self.scratch;
        if scratch.values.len() < next {
            scratch.values.resize_with(next, String::new);
        }
        for (i, (path, value)) in scratch.paths[..next]
            .iter()
            .zip(&mut scratch.values)
            .enumerate()
        {
            value.clear();
            path.evaluate_into(&mut path_env, value)
                .map_err(ManifestError)?;
            if value.is_empty() {
                first_empty.get_or_insert(i);
            }
            canonicalize_in_place(value, &mut scratch.expanded);
        }
        let values = &scratch.values[..next];

        // Ninja resolves the pool and dyndep file while parsing; everything
        // else is expanded when the step runs, i.e. with the final values of
        // file-level variables (see `evaluate_deferred`).
        let mut env = BuildEnv::new(
            &self.scopes,
            scope,
            &rule,
            bindings,
            PathList::Strings(&values[outs_len..outs_len + explicit_ins]),
            PathList::Strings(&values[..explicit_outs]),
        );
        let pool = env
            .evaluate("pool", InOutEscape::Shell)
            .map_err(ManifestError)?;
        let dyndep = env
            .evaluate("dyndep", InOutEscape::None)
            .map_err(ManifestError)?;
        let dyndep = (!dyndep.is_empty()).then(|| canonicalize_owned(dyndep));

        if !pool.is_empty() && !self.graph.pools.contains_key(&pool) {
            return Err(err(lexer, &format!("unknown pool name '{pool}'")));
        }
        let step_id = StepId(self.graph.steps.len() as u32);
        let graph = &mut self.graph;
        let mut outs = Vec::with_capacity(outs_len);
        let mut dropped_explicit_outs = 0;
        for (i, out) in values[..outs_len].iter().enumerate() {
            if first_empty == Some(i) {
                return Err(err(lexer, "empty path"));
            }
            let file = graph.file_id(out);
            let producer = &mut graph.files[file.index()].producer;
            if producer.is_some() {
                if self.warning_flags.dupbuild_err {
                    return Err(err(lexer, &format!("multiple rules generate {out}")));
                }
                // `-w dupbuild=warn`: the first statement keeps the output.
                graph.warnings.push(format!(
                    "multiple rules generate {out}. builds involving this target \
                     will not be correct; continuing anyway"
                ));
                if i < explicit_outs {
                    dropped_explicit_outs += 1;
                }
                continue;
            }
            *producer = Some(step_id);
            outs.push(file);
        }
        let explicit_outs = explicit_outs - dropped_explicit_outs;
        if outs.is_empty() {
            // Every output is another statement's: ninja drops this one.
            return Ok(());
        }
        if first_empty.is_some_and(|i| i < ins_end) {
            return Err(err(lexer, "empty path"));
        }
        let mut ins: Vec<FileId> = values[outs_len..ins_end]
            .iter()
            .map(|path| graph.file_id(path))
            .collect();
        let mut explicit_ins = explicit_ins;

        // Old CMake wrote `build a: phony a`; ninja drops the self-reference
        // with a warning rather than reporting a cycle.
        if rule.name == PHONY
            && outs.len() == 1
            && implicit_ins == 0
            && !self.warning_flags.phonycycle_err
        {
            let out = outs[0];
            let explicit_removed = ins[..explicit_ins]
                .iter()
                .filter(|&&file| file == out)
                .count();
            let before = ins.len();
            ins.retain(|&file| file != out);
            if ins.len() < before {
                explicit_ins -= explicit_removed;
                graph.warnings.push(format!(
                    "phony target '{}' names itself as an input; ignoring [-w phonycycle=warn]",
                    values[0]
                ));
            }
        }

        if first_empty.is_some() {
            return Err(err(lexer, "empty path"));
        }
        let validations: Vec<FileId> = values[ins_end..next]
            .iter()
            .map(|path| graph.file_id(path))
            .collect();

        let dyndep = match dyndep {
            Some(path) => match graph.lookup(&path).filter(|file| ins.contains(file)) {
                Some(file) => Some(file),
                None => return Err(err(lexer, &format!("dyndep '{path}' is not an input"))),
            },
            None => None,
        };

        graph.push_step(Step {
            #[cfg(test)]
            loc: Some(Loc {
                file: Arc::clone(&self.current_file),
                line,
            }),
            rule: rule.name.clone(),
            ins,
            explicit_ins,
            implicit_ins,
            outs,
            explicit_outs,
            validations,
            command: String::new(),
            description: String::new(),
            depfile: None,
            deps: DepsKind::None,
            msvc_deps_prefix: None,
            dyndep,
            generator: false,
            restat: false,
            rspfile: None,
            rspfile_content: String::new(),
            pool,
            node: Default::default(),
        });
        self.deferred.push(DeferredEval {
            rule,
            scope,
            bindings: (bindings_start, bindings_end),
        });
        Ok(())
    }

    /// Expands the bindings ninja evaluates only when a step runs, now
    /// that every file-level variable has its final value.
    fn evaluate_deferred(&mut self) -> ParseResult {
        let deferred = std::mem::take(&mut self.deferred);
        let graph = &mut self.graph;
        // Each value is expanded here and then copied at its final size:
        // expanding into a new string grew it allocation by allocation.
        let mut scratch = String::new();
        for (step, pending) in graph.steps.iter_mut().zip(&deferred) {
            let mut env = BuildEnv::new(
                &self.scopes,
                pending.scope,
                &pending.rule,
                self.bindings.slice(pending.bindings.0, pending.bindings.1),
                PathList::Interned(&step.ins[..step.explicit_ins], &graph.paths),
                PathList::Interned(&step.outs[..step.explicit_outs], &graph.paths),
            );
            let mut get = |name: &str, escape: InOutEscape| {
                scratch.clear();
                env.evaluate_into(name, escape, &mut scratch)
                    .map_err(ManifestError)?;
                Ok::<_, ManifestError>(scratch.as_str().to_owned())
            };
            let non_empty = |value: String| (!value.is_empty()).then_some(value);
            let command = if pending.rule.name == PHONY {
                String::new()
            } else {
                get("command", InOutEscape::Shell)?
            };
            let description = get("description", InOutEscape::Shell)?;
            let depfile = non_empty(get("depfile", InOutEscape::None)?);
            let deps = get("deps", InOutEscape::Shell)?;
            let msvc_deps_prefix = non_empty(get("msvc_deps_prefix", InOutEscape::Shell)?);
            let generator = !get("generator", InOutEscape::Shell)?.is_empty();
            let restat = !get("restat", InOutEscape::Shell)?.is_empty();
            let rspfile = non_empty(get("rspfile", InOutEscape::None)?);
            let rspfile_content = get("rspfile_content", InOutEscape::Shell)?;
            step.deps = match deps.as_str() {
                "gcc" => DepsKind::Gcc,
                "msvc" => DepsKind::Msvc,
                "" => DepsKind::None,
                other => {
                    // Ninja only fails when such a step runs ("unknown deps
                    // type"); we cannot represent it, so warn at load time.
                    graph.warnings.push(format!("unknown deps type '{other}'"));
                    DepsKind::None
                }
            };
            step.command = command;
            step.description = description;
            step.depfile = depfile;
            step.msvc_deps_prefix = msvc_deps_prefix;
            step.generator = generator;
            step.restat = restat;
            step.rspfile = rspfile;
            step.rspfile_content = rspfile_content;
        }
        Ok(())
    }
}

fn canonicalize_in_place(path: &mut String, buffer: &mut String) {
    if !is_canonical(path) {
        canonicalize_into(path, buffer);
        std::mem::swap(path, buffer);
    }
}

fn canonicalize_owned(path: String) -> String {
    if is_canonical(&path) {
        path
    } else {
        super::canon::canonicalize_path(&path)
    }
}

/// Reads `name = value` after an indent or at file level; returns the name.
fn parse_let<'a>(lexer: &mut Lexer<'a>, value: &mut EvalString) -> ParseResult<&'a str> {
    let Some(name) = lexer.read_ident() else {
        return Err(err(lexer, "expected variable name"));
    };
    expect_token(lexer, Token::Equals)?;
    lexer
        .read_eval(EvalMode::Value, value)
        .map_err(ManifestError)?;
    Ok(name)
}

/// Expands `value` in a file scope, appending to `out`.
fn evaluate_in_scope(
    scopes: &Scopes,
    scope: ScopeId,
    value: &EvalString,
    out: &mut String,
) -> ParseResult {
    let mut env = ScopeEnv { scopes, scope };
    value.evaluate_into(&mut env, out).map_err(ManifestError)
}

fn expect_token(lexer: &mut Lexer, expected: Token) -> ParseResult {
    let got = lexer.next_token();
    if got == expected {
        return Ok(());
    }
    Err(err(
        lexer,
        &format!(
            "expected {}, got {}{}",
            expected.name(),
            got.name(),
            expected.error_hint()
        ),
    ))
}

fn err(lexer: &Lexer, message: &str) -> ManifestError {
    ManifestError(lexer.error(message))
}

/// `major.minor` as ninja reads it: missing or non-numeric parts are 0.
fn parse_version(version: &str) -> (i64, i64) {
    let mut parts = version.split('.');
    let major = parts.next().map_or(0, parse_c_long);
    let minor = parts.next().map_or(0, parse_c_long);
    (major, minor)
}

/// C's `atol`: optional leading whitespace and sign, then as many digits as
/// there are; anything else yields 0. Saturates instead of overflowing.
fn parse_c_long(text: &str) -> i64 {
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative { -value } else { value }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
