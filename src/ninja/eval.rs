//! Variable evaluation: eval strings, file scopes, rules, and the per-build
//! environment that gives rule bindings their `$in` / `$out` context.

use super::fast_hash::FastMap;
use crate::graph::{FileId, PathTable};
use std::rc::Rc;

/// One piece of an [`EvalString`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Literal(&'a str),
    Var(&'a str),
}

/// An unevaluated string: literal text interleaved with `$var` references.
///
/// All pieces share one text buffer so that parsing a path costs no
/// allocation once the buffers have grown; the parser reuses instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalString {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    is_var: bool,
    end: usize,
}

impl EvalString {
    pub fn clear(&mut self) {
        self.text.clear();
        self.pieces.clear();
    }

    /// True when nothing at all was read (an empty path ends a path list).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    pub fn push_literal(&mut self, literal: &str) {
        self.text.push_str(literal);
        match self.pieces.last_mut() {
            Some(last) if !last.is_var => last.end = self.text.len(),
            _ => self.pieces.push(Piece {
                is_var: false,
                end: self.text.len(),
            }),
        }
    }

    pub fn push_var(&mut self, name: &str) {
        self.text.push_str(name);
        self.pieces.push(Piece {
            is_var: true,
            end: self.text.len(),
        });
    }

    pub fn parts(&self) -> impl Iterator<Item = Part<'_>> {
        let mut start = 0;
        self.pieces.iter().map(move |piece| {
            let text = self.text.get(start..piece.end).unwrap_or("");
            start = piece.end;
            if piece.is_var {
                Part::Var(text)
            } else {
                Part::Literal(text)
            }
        })
    }

    /// The string as written, variables spelled `${name}` (ninja's form
    /// when it shows a rule's bindings back to the user).
    pub fn unparse(&self) -> String {
        let mut text = String::new();
        for part in self.parts() {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Var(name) => {
                    text.push_str("${");
                    text.push_str(name);
                    text.push('}');
                }
            }
        }
        text
    }

    /// Appends the expansion of this string to `out`.
    pub fn evaluate_into<E: Env + ?Sized>(
        &self,
        env: &mut E,
        out: &mut String,
    ) -> Result<(), String> {
        for part in self.parts() {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(name) => env.append_var(name, out)?,
            }
        }
        Ok(())
    }
}

/// Something that can expand `$name`. Only rule-binding cycles can fail.
pub trait Env {
    fn append_var(&mut self, name: &str, out: &mut String) -> Result<(), String>;
}

/// Index of a file scope in [`Scopes`].
pub type ScopeId = usize;

/// Variables and rules of one file scope: the top-level file (shared by its
/// `include`s) or a `subninja`, which sees its parent's names but whose own
/// definitions stay local.
#[derive(Debug, Default)]
struct Scope {
    parent: Option<ScopeId>,
    vars: FastMap<String, String>,
    rules: FastMap<String, Rc<Rule>>,
}

/// All file scopes of one manifest load.
#[derive(Debug)]
pub struct Scopes {
    scopes: Vec<Scope>,
}

pub const ROOT_SCOPE: ScopeId = 0;

impl Default for Scopes {
    fn default() -> Self {
        Self::new()
    }
}

impl Scopes {
    /// A root scope that knows only the built-in `phony` rule.
    pub fn new() -> Self {
        let mut root = Scope::default();
        root.rules.insert(
            PHONY.to_string(),
            Rc::new(Rule {
                name: PHONY.to_string(),
                bindings: Default::default(),
            }),
        );
        Scopes { scopes: vec![root] }
    }

    pub fn new_child(&mut self, parent: ScopeId) -> ScopeId {
        self.scopes.push(Scope {
            parent: Some(parent),
            ..Scope::default()
        });
        self.scopes.len() - 1
    }

    pub fn set_var(&mut self, scope: ScopeId, name: &str, value: String) {
        if let Some(scope) = self.scopes.get_mut(scope) {
            scope.vars.insert(name.to_string(), value);
        }
    }

    /// Looks `name` up in `scope`, then its ancestors.
    pub fn lookup_var(&self, scope: ScopeId, name: &str) -> Option<&str> {
        let mut current = Some(scope);
        while let Some(id) = current {
            let scope = self.scopes.get(id)?;
            if let Some(value) = scope.vars.get(name) {
                return Some(value);
            }
            current = scope.parent;
        }
        None
    }

    /// True when `scope` itself (not an ancestor) defines rule `name`.
    pub fn has_local_rule(&self, scope: ScopeId, name: &str) -> bool {
        self.scopes
            .get(scope)
            .is_some_and(|scope| scope.rules.contains_key(name))
    }

    pub fn add_rule(&mut self, scope: ScopeId, rule: Rule) {
        if let Some(scope) = self.scopes.get_mut(scope) {
            scope.rules.insert(rule.name.clone(), Rc::new(rule));
        }
    }

    pub fn lookup_rule(&self, scope: ScopeId, name: &str) -> Option<Rc<Rule>> {
        let mut current = Some(scope);
        while let Some(id) = current {
            let scope = self.scopes.get(id)?;
            if let Some(rule) = scope.rules.get(name) {
                return Some(Rc::clone(rule));
            }
            current = scope.parent;
        }
        None
    }
}

/// Expands `$name` against a file scope and its ancestors; unknown names
/// expand to nothing, as in ninja.
pub struct ScopeEnv<'a> {
    pub scopes: &'a Scopes,
    pub scope: ScopeId,
}

impl Env for ScopeEnv<'_> {
    fn append_var(&mut self, name: &str, out: &mut String) -> Result<(), String> {
        if let Some(value) = self.scopes.lookup_var(self.scope, name) {
            out.push_str(value);
        }
        Ok(())
    }
}

pub const PHONY: &str = "phony";

/// The bindings a rule may define; anything else is an error in ninja.
pub const RULE_VARS: [&str; 11] = [
    "command",
    "depfile",
    "dyndep",
    "description",
    "deps",
    "generator",
    "pool",
    "restat",
    "rspfile",
    "rspfile_content",
    "msvc_deps_prefix",
];

/// Position of `name` in [`RULE_VARS`].
pub fn rule_var_index(name: &str) -> Option<usize> {
    RULE_VARS.iter().position(|&var| var == name)
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Indexed like [`RULE_VARS`].
    pub bindings: [Option<EvalString>; RULE_VARS.len()],
}

impl Rule {
    pub fn new(name: String) -> Self {
        Rule {
            name,
            bindings: Default::default(),
        }
    }

    pub fn binding(&self, name: &str) -> Option<&EvalString> {
        self.bindings.get(rule_var_index(name)?)?.as_ref()
    }

    /// True when `name` is bound to something other than nothing: ninja
    /// treats `command =` like a missing `command`.
    pub fn has_binding(&self, name: &str) -> bool {
        self.binding(name).is_some_and(|eval| !eval.is_empty())
    }
}

/// Whether `$in` / `$out` are shell-quoted in the value being evaluated:
/// ninja quotes them in `command` and friends, but not in file names such
/// as `depfile`, `rspfile` and `dyndep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InOutEscape {
    Shell,
    None,
}

/// Build-level bindings of every build statement, already expanded, kept
/// in shared buffers so that a build's bindings cost no allocation.
#[derive(Debug, Default)]
pub struct BindingStore {
    names: FastMap<String, u32>,
    /// Indexed by name id.
    name_list: Vec<Box<str>>,
    /// Values back to back.
    text: String,
    /// (name, start, end) into `text`.
    entries: Vec<(u32, usize, usize)>,
}

impl BindingStore {
    /// Where the next build's bindings start.
    pub fn mark(&self) -> usize {
        self.entries.len()
    }

    /// The buffer a value is expanded into, before [`Self::push`].
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// Records `name` as bound to the text appended since `start`.
    pub fn push(&mut self, name: &str, start: usize) {
        let next = self.names.len() as u32;
        let id = match self.names.get(name) {
            Some(&id) => id,
            None => {
                self.names.insert(name.to_string(), next);
                self.name_list.push(name.into());
                next
            }
        };
        self.entries.push((id, start, self.text.len()));
    }

    /// The bindings recorded from `mark` up to now (or `end`).
    pub fn slice(&self, start: usize, end: usize) -> Bindings<'_> {
        Bindings {
            store: self,
            start,
            end,
        }
    }
}

/// One build's bindings; later entries win.
#[derive(Clone, Copy)]
pub struct Bindings<'a> {
    store: &'a BindingStore,
    start: usize,
    end: usize,
}

impl<'a> Bindings<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        if self.start == self.end {
            return None;
        }
        // Builds bind few names: comparing them beats hashing `name`.
        let store = self.store;
        store.entries[self.start..self.end]
            .iter()
            .rev()
            .find(|entry| &*store.name_list[entry.0 as usize] == name)
            .map(|&(_, start, end)| &store.text[start..end])
    }
}

/// A build's explicit inputs or outputs, for `$in` and `$out`: plain
/// strings while the statement is being parsed, graph paths afterwards.
#[derive(Clone, Copy)]
pub enum PathList<'a> {
    Strings(&'a [String]),
    Interned(&'a [FileId], &'a PathTable),
}

impl<'a> PathList<'a> {
    fn len(&self) -> usize {
        match self {
            PathList::Strings(paths) => paths.len(),
            PathList::Interned(ids, _) => ids.len(),
        }
    }

    fn get(&self, i: usize) -> &'a str {
        match *self {
            PathList::Strings(paths) => &paths[i],
            PathList::Interned(ids, table) => table.get(ids[i].0),
        }
    }
}

/// Expands `$name` for one build statement: `$in`/`$out`, then the build's
/// own bindings, then the rule's bindings (expanded in this same context),
/// then the build's file scope and its ancestors.
pub struct BuildEnv<'a> {
    pub scopes: &'a Scopes,
    pub scope: ScopeId,
    pub rule: &'a Rule,
    /// Build-level bindings, already expanded; later entries win.
    pub bindings: Bindings<'a>,
    pub explicit_ins: PathList<'a>,
    pub explicit_outs: PathList<'a>,
    pub escape: InOutEscape,
    /// Rule bindings currently being expanded, to report cycles instead of
    /// recursing forever. Each name appears at most once, so recursion
    /// depth is bounded by the number of rule variables.
    expanding: Vec<&'static str>,
    /// Ninja does not record the outermost lookup in its cycle chain; we
    /// copy that so cycle messages read the same.
    nested: bool,
}

impl<'a> BuildEnv<'a> {
    pub fn new(
        scopes: &'a Scopes,
        scope: ScopeId,
        rule: &'a Rule,
        bindings: Bindings<'a>,
        explicit_ins: PathList<'a>,
        explicit_outs: PathList<'a>,
    ) -> Self {
        BuildEnv {
            scopes,
            scope,
            rule,
            bindings,
            explicit_ins,
            explicit_outs,
            escape: InOutEscape::Shell,
            expanding: Vec::new(),
            nested: false,
        }
    }

    /// The value of `name` as the build sees it (e.g. `command`).
    pub fn evaluate(&mut self, name: &str, escape: InOutEscape) -> Result<String, String> {
        let mut out = String::new();
        self.evaluate_into(name, escape, &mut out)?;
        Ok(out)
    }

    /// Like [`Self::evaluate`], appending to `out`.
    pub fn evaluate_into(
        &mut self,
        name: &str,
        escape: InOutEscape,
        out: &mut String,
    ) -> Result<(), String> {
        self.escape = escape;
        self.expanding.clear();
        self.nested = false;
        self.append_var(name, out)
    }

    fn append_paths(&self, paths: PathList<'_>, separator: char, out: &mut String) {
        for i in 0..paths.len() {
            if i > 0 {
                out.push(separator);
            }
            let path = paths.get(i);
            match self.escape {
                InOutEscape::Shell => shell_escape_into(path, out),
                InOutEscape::None => out.push_str(path),
            }
        }
    }
}

impl Env for BuildEnv<'_> {
    fn append_var(&mut self, name: &str, out: &mut String) -> Result<(), String> {
        match name {
            "in" => {
                self.append_paths(self.explicit_ins, ' ', out);
                return Ok(());
            }
            "in_newline" => {
                self.append_paths(self.explicit_ins, '\n', out);
                return Ok(());
            }
            "out" => {
                self.append_paths(self.explicit_outs, ' ', out);
                return Ok(());
            }
            _ => {}
        }
        let rule_binding = rule_var_index(name).and_then(|index| {
            let eval = self.rule.bindings.get(index)?.as_ref()?;
            Some((RULE_VARS[index], eval))
        });
        if let Some((static_name, _)) = rule_binding
            && let Some(first) = self.expanding.iter().position(|&n| n == static_name)
        {
            let mut chain = String::from("cycle in rule variables: ");
            for var in &self.expanding[first..] {
                chain.push_str(var);
                chain.push_str(" -> ");
            }
            chain.push_str(name);
            return Err(chain);
        }
        if let Some(value) = self.bindings.get(name) {
            out.push_str(value);
            return Ok(());
        }
        if let Some((static_name, eval)) = rule_binding {
            let record = self.nested;
            self.nested = true;
            if record {
                self.expanding.push(static_name);
            }
            let result = eval.evaluate_into(self, out);
            if record {
                self.expanding.pop();
            }
            return result;
        }
        if let Some(value) = self.scopes.lookup_var(self.scope, name) {
            out.push_str(value);
        }
        Ok(())
    }
}

/// Expands a build's paths: build bindings first, then the file scope
/// (rule bindings and `$in`/`$out` are not visible in paths).
pub struct BuildPathEnv<'a> {
    pub scopes: &'a Scopes,
    pub scope: ScopeId,
    pub bindings: Bindings<'a>,
}

impl Env for BuildPathEnv<'_> {
    fn append_var(&mut self, name: &str, out: &mut String) -> Result<(), String> {
        if let Some(value) = self.bindings.get(name) {
            out.push_str(value);
        } else if let Some(value) = self.scopes.lookup_var(self.scope, name) {
            out.push_str(value);
        }
        Ok(())
    }
}

/// Characters a POSIX shell never treats specially.
fn is_shell_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.' | b'/')
}

/// Appends `path` quoted for a POSIX shell when it needs quoting, exactly
/// as ninja quotes `$in` and `$out`.
pub fn shell_escape_into(path: &str, out: &mut String) {
    if path.bytes().all(is_shell_safe) {
        out.push_str(path);
        return;
    }
    out.push('\'');
    for (i, piece) in path.split('\'').enumerate() {
        if i > 0 {
            out.push_str("'\\''");
        }
        out.push_str(piece);
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal_then_var(lit: &str, var: &str) -> EvalString {
        let mut eval = EvalString::default();
        eval.push_literal(lit);
        eval.push_var(var);
        eval
    }

    #[test]
    fn shell_escaping() {
        let cases = [
            ("a/b.c+d-e_f", "a/b.c+d-e_f"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("\"q\"", "'\"q\"'"),
            ("", ""),
        ];
        for (input, expected) in cases {
            let mut out = String::new();
            shell_escape_into(input, &mut out);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn scope_chain_lookup() {
        let mut scopes = Scopes::new();
        scopes.set_var(ROOT_SCOPE, "a", "root".into());
        let child = scopes.new_child(ROOT_SCOPE);
        assert_eq!(scopes.lookup_var(child, "a"), Some("root"));
        scopes.set_var(child, "a", "child".into());
        assert_eq!(scopes.lookup_var(child, "a"), Some("child"));
        assert_eq!(scopes.lookup_var(ROOT_SCOPE, "a"), Some("root"));
        assert!(scopes.lookup_rule(child, "phony").is_some());
        assert!(!scopes.has_local_rule(child, "phony"));
    }

    #[test]
    fn build_env_order_and_cycles() {
        let mut scopes = Scopes::new();
        scopes.set_var(ROOT_SCOPE, "flags", "-O2".into());
        let mut rule = Rule::new("cc".into());
        rule.bindings[0] = Some(literal_then_var("cc ", "description"));
        rule.bindings[3] = Some(literal_then_var("x ", "command"));
        let ins = vec!["a b".to_string()];
        let outs = vec!["o".to_string()];
        let (ins, outs) = (PathList::Strings(&ins), PathList::Strings(&outs));
        let mut store = BindingStore::default();
        let none = store.slice(0, 0);
        let mut env = BuildEnv::new(&scopes, ROOT_SCOPE, &rule, none, ins, outs);
        assert_eq!(
            env.evaluate("command", InOutEscape::Shell),
            Err("cycle in rule variables: description -> command -> description".into())
        );
        store.text_mut().push_str("$in");
        store.push("description", 0);
        let bindings = store.slice(0, store.mark());
        let mut env = BuildEnv::new(&scopes, ROOT_SCOPE, &rule, bindings, ins, outs);
        assert_eq!(
            env.evaluate("command", InOutEscape::Shell),
            Ok("cc $in".into())
        );
        assert_eq!(env.evaluate("flags", InOutEscape::Shell), Ok("-O2".into()));
        assert_eq!(env.evaluate("in", InOutEscape::Shell), Ok("'a b'".into()));
        assert_eq!(env.evaluate("in", InOutEscape::None), Ok("a b".into()));
    }
}
