//! The build graph: a petgraph of files and steps.
//!
//! Files and steps are both nodes; an edge runs from an input file to the
//! step that reads it (labelled with how it is read) and from a step to each
//! file it writes. Step and file data live in dense vectors indexed by
//! [`StepId`] / [`FileId`] so the hot paths (dirty checking, scheduling) walk
//! plain slices, while the petgraph answers whole-graph questions
//! (reachability, waves, `-t graph`: see `walk`).

mod densemap;
mod paths;
mod walk;

use std::collections::HashMap;

pub(crate) use densemap::{DenseId, DenseMap};
pub use paths::PathTable;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::ninja::DepsKind;
#[cfg(test)]
use crate::ninja::{Build, Loc, Manifest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub u32);

impl FileId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl StepId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl DenseId for FileId {
    fn index(self) -> usize {
        self.0 as usize
    }
    fn from_index(index: usize) -> Self {
        FileId(index as u32)
    }
}

impl DenseId for StepId {
    fn index(self) -> usize {
        self.0 as usize
    }
    fn from_index(index: usize) -> Self {
        StepId(index as u32)
    }
}

/// How a step depends on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Explicit,
    Implicit,
    OrderOnly,
    Validation,
    /// A step writes this file (explicit or implicit output).
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    File(FileId),
    Step(StepId),
}

#[derive(Debug, Clone)]
pub struct File {
    /// The step that writes this file, if any.
    pub producer: Option<StepId>,
    /// Steps that read this file as an explicit, implicit or order-only input.
    pub consumers: Vec<StepId>,
    /// Steps that name this file as a validation.
    pub validated_by: Vec<StepId>,
    pub node: NodeIndex,
}

#[derive(Debug, Clone)]
pub struct Step {
    #[cfg(test)]
    pub loc: Option<Loc>,
    pub rule: String,
    /// Explicit inputs, then implicit, then order-only.
    pub ins: Vec<FileId>,
    pub explicit_ins: usize,
    pub implicit_ins: usize,
    /// Explicit outputs, then implicit.
    pub outs: Vec<FileId>,
    pub explicit_outs: usize,
    pub validations: Vec<FileId>,
    pub command: String,
    pub description: String,
    pub depfile: Option<String>,
    pub deps: DepsKind,
    pub msvc_deps_prefix: Option<String>,
    pub dyndep: Option<FileId>,
    pub generator: bool,
    pub restat: bool,
    pub rspfile: Option<String>,
    pub rspfile_content: String,
    pub pool: String,
    pub node: NodeIndex,
}

impl Step {
    pub fn is_phony(&self) -> bool {
        self.rule == "phony"
    }
    /// Inputs whose content matters: explicit and implicit, not order-only.
    pub fn dirtying_ins(&self) -> &[FileId] {
        &self.ins[..self.explicit_ins + self.implicit_ins]
    }
    /// The command as ninja hashes it into `.ninja_log`: with the rspfile
    /// content appended when there is an rspfile.
    pub fn command_for_hash(&self) -> String {
        if self.rspfile.is_some() {
            format!("{};rspfile={}", self.command, self.rspfile_content)
        } else {
            self.command.clone()
        }
    }
    /// What the status line shows for the step: its description, else its
    /// command.
    pub fn display_name(&self) -> &str {
        if self.description.is_empty() {
            &self.command
        } else {
            &self.description
        }
    }
    pub fn uses_console(&self) -> bool {
        self.pool == "console"
    }
}

/// A cycle found while ordering steps: the file paths along it, first
/// repeated at the end (`a -> b -> a`).
#[derive(Debug, thiserror::Error)]
#[error("dependency cycle: {}{}", .path.join(" -> "), if *.phony_self_reference { " [-w phonycycle=err]" } else { "" })]
pub struct CycleError {
    pub path: Vec<String>,
    /// A phony naming itself, kept by `-w phonycycle=err`: ninja says which
    /// flag made it an error.
    pub phony_self_reference: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Graph {
    pub files: Vec<File>,
    pub steps: Vec<Step>,
    /// Canonical paths, indexed by [`FileId`].
    pub paths: PathTable,
    pub topology: DiGraph<Node, EdgeKind>,
    /// `default` targets, or empty when the manifest named none.
    pub defaults: Vec<FileId>,
    /// Pool depths by name; `console` is always present with depth 1.
    pub pools: HashMap<String, usize>,
    pub builddir: Option<String>,
    pub manifest_files: Vec<std::path::PathBuf>,
    /// Warnings from loading the manifest, for the caller to print.
    pub warnings: Vec<String>,
    /// Top-level rules with their unevaluated descriptions (`-t rules`).
    pub rules: Vec<(String, Option<String>)>,
}

impl Graph {
    #[cfg(test)]
    pub fn from_manifest(manifest: Manifest) -> Graph {
        let mut graph = Graph {
            files: Vec::new(),
            steps: Vec::with_capacity(manifest.builds.len()),
            paths: PathTable::default(),
            topology: DiGraph::with_capacity(manifest.builds.len() * 4, manifest.builds.len() * 4),
            defaults: Vec::new(),
            pools: manifest
                .pools
                .iter()
                .map(|pool| (pool.name.clone(), pool.depth))
                .collect(),
            builddir: manifest.builddir,
            manifest_files: manifest.files_read,
            warnings: manifest.warnings,
            rules: manifest.rules,
        };
        graph.pools.insert("console".to_string(), 1);
        for build in manifest.builds {
            graph.add_build(build);
        }
        graph.defaults = manifest
            .defaults
            .iter()
            .map(|path| graph.file_id(path))
            .collect();
        graph
    }

    /// Room for about `steps` more steps and their files, whose paths take
    /// about `path_bytes` bytes.
    pub fn reserve(&mut self, steps: usize, path_bytes: usize) {
        let files = steps * 2;
        self.steps.reserve(steps);
        self.files.reserve(files);
        self.paths.reserve(files, path_bytes);
        self.topology.reserve_nodes(steps + files);
        self.topology.reserve_edges(steps * 3);
    }

    /// The file at `path`, creating its node if it is new.
    pub fn file_id(&mut self, path: &str) -> FileId {
        let (index, new) = self.paths.intern(path);
        let id = FileId(index);
        if new {
            let node = self.topology.add_node(Node::File(id));
            self.files.push(File {
                producer: None,
                consumers: Vec::new(),
                validated_by: Vec::new(),
                node,
            });
        }
        id
    }

    pub fn lookup(&self, path: &str) -> Option<FileId> {
        self.paths.lookup(path).map(FileId)
    }

    pub fn file(&self, id: FileId) -> &File {
        &self.files[id.index()]
    }

    pub fn step(&self, id: StepId) -> &Step {
        &self.steps[id.index()]
    }

    pub fn path(&self, id: FileId) -> &str {
        self.paths.get(id.0)
    }

    #[cfg(test)]
    fn add_build(&mut self, build: Build) {
        let ins: Vec<FileId> = build.ins.iter().map(|p| self.file_id(p)).collect();
        let outs: Vec<FileId> = build.outs.iter().map(|p| self.file_id(p)).collect();
        let validations: Vec<FileId> = build.validations.iter().map(|p| self.file_id(p)).collect();
        let dyndep = build.dyndep.as_deref().map(|p| self.file_id(p));
        self.push_step(Step {
            loc: build.loc,
            rule: build.rule,
            ins,
            explicit_ins: build.explicit_ins,
            implicit_ins: build.implicit_ins,
            outs,
            explicit_outs: build.explicit_outs,
            validations,
            command: build.command,
            description: build.description,
            depfile: build.depfile,
            deps: build.deps,
            msvc_deps_prefix: build.msvc_deps_prefix,
            dyndep,
            generator: build.generator,
            restat: build.restat,
            rspfile: build.rspfile,
            rspfile_content: build.rspfile_content,
            pool: build.pool,
            node: NodeIndex::default(),
        });
    }

    /// Adds `step` (whose files already exist) with its edges; `step.node`
    /// is filled in. An output that already has a producer keeps it.
    pub fn push_step(&mut self, mut step: Step) -> StepId {
        let id = StepId(self.steps.len() as u32);
        let node = self.topology.add_node(Node::Step(id));
        step.node = node;
        let dirtying = step.explicit_ins + step.implicit_ins;
        for (i, &file) in step.ins.iter().enumerate() {
            let kind = if i < step.explicit_ins {
                EdgeKind::Explicit
            } else if i < dirtying {
                EdgeKind::Implicit
            } else {
                EdgeKind::OrderOnly
            };
            let file = &mut self.files[file.index()];
            self.topology.add_edge(file.node, node, kind);
            file.consumers.push(id);
        }
        for &file in &step.outs {
            let file = &mut self.files[file.index()];
            self.topology.add_edge(node, file.node, EdgeKind::Output);
            // The parser rejects duplicate outputs, so the first writer is the
            // only writer.
            file.producer.get_or_insert(id);
        }
        for &file in &step.validations {
            let file = &mut self.files[file.index()];
            self.topology
                .add_edge(file.node, node, EdgeKind::Validation);
            file.validated_by.push(id);
        }
        self.steps.push(step);
        id
    }

    /// Adds inputs and outputs discovered from a dyndep file to a step.
    pub fn add_dyndep(
        &mut self,
        step: StepId,
        implicit_ins: &[String],
        implicit_outs: &[String],
        restat: bool,
    ) {
        let node = self.steps[step.index()].node;
        for path in implicit_ins {
            let file = self.file_id(path);
            if self.steps[step.index()].ins.contains(&file) {
                continue;
            }
            let s = &mut self.steps[step.index()];
            let at = s.explicit_ins + s.implicit_ins;
            s.ins.insert(at, file);
            s.implicit_ins += 1;
            let file_node = self.files[file.index()].node;
            self.topology.add_edge(file_node, node, EdgeKind::Implicit);
            self.files[file.index()].consumers.push(step);
        }
        for path in implicit_outs {
            let file = self.file_id(path);
            if self.steps[step.index()].outs.contains(&file) {
                continue;
            }
            self.steps[step.index()].outs.push(file);
            let file_node = self.files[file.index()].node;
            self.topology.add_edge(node, file_node, EdgeKind::Output);
            self.files[file.index()].producer.get_or_insert(step);
        }
        if restat {
            self.steps[step.index()].restat = true;
        }
    }

    /// Root outputs: every output that no step reads. Ninja builds these
    /// when the manifest has no `default`.
    pub fn roots(&self) -> Vec<FileId> {
        let mut roots = Vec::new();
        for step in &self.steps {
            for &out in &step.outs {
                if self.files[out.index()].consumers.is_empty() {
                    roots.push(out);
                }
            }
        }
        roots
    }

    /// Default targets: the `default` statements, else the roots.
    pub fn default_targets(&self) -> Vec<FileId> {
        if self.defaults.is_empty() {
            self.roots()
        } else {
            self.defaults.clone()
        }
    }

    /// Resolves a target named on the command line: a path (canonicalized),
    /// or `path^` for the first output of the first step reading `path`.
    pub fn resolve_target(&self, name: &str) -> Result<FileId, String> {
        if let Some(source) = name.strip_suffix('^') {
            let path = crate::ninja::canon::canonicalize_path(source);
            let Some(id) = self.lookup(&path) else {
                return Err(format!("unknown target '{path}'"));
            };
            let file = self.file(id);
            let Some(&step) = file.consumers.first() else {
                return Err(format!("'{path}' has no out edge"));
            };
            return match self.step(step).outs.first() {
                Some(&out) => Ok(out),
                None => Err(format!("'{path}' has no out edge")),
            };
        }
        let path = crate::ninja::canon::canonicalize_path(name);
        match self.lookup(&path).filter(|&id| self.in_manifest(id)) {
            Some(id) => Ok(id),
            None => {
                let mut message = format!("unknown target '{path}'");
                if let Some(suggestion) = self.spelling_suggestion(&path) {
                    message.push_str(&format!(", did you mean '{suggestion}'?"));
                }
                Err(message)
            }
        }
    }

    fn spelling_suggestion(&self, wanted: &str) -> Option<&str> {
        const MAX_DISTANCE: usize = 3;
        let mut best: Option<(usize, &str)> = None;
        for (index, file) in self.files.iter().enumerate() {
            if file.producer.is_none() {
                continue;
            }
            let path = self.paths.get(index as u32);
            let distance = edit_distance(wanted, path, MAX_DISTANCE);
            if distance <= MAX_DISTANCE && best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, path));
            }
        }
        best.map(|(_, path)| path)
    }

    /// Steps needed to build `targets`, in an order where every step comes
    /// after the steps producing its inputs (including validations, which
    /// ninja adds to the wanted set). `discovered` gives each step's extra
    /// inputs from earlier depfiles; they order steps but, being hints from
    /// an older build, never make a cycle. Reports the first cycle found.
    ///
    /// A hand-written walk, not petgraph's `toposort`: it follows the
    /// depfile dependencies (not in the petgraph), visits only what the
    /// targets need, in manifest order, which the cycle message (ninja's,
    /// byte for byte) and the order of `-d explain` show. Not for speed:
    /// on the 100,000-edge synthetic manifest (scripts/bench.sh) petgraph's
    /// `toposort` of the whole graph took 5-10 ms and `tarjan_scc` 11-22 ms,
    /// against 125 ms for this plan phase with its bookkeeping.
    pub fn plan_order<'a>(
        &self,
        targets: &[FileId],
        discovered: &dyn Fn(StepId) -> &'a [FileId],
    ) -> Result<Vec<StepId>, CycleError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            None,
            Visiting,
            Done,
        }
        let mut marks = vec![Mark::None; self.steps.len()];
        let mut order = Vec::new();
        // Explicit stack of (step, next input index) to survive deep graphs.
        let mut stack: Vec<(StepId, usize)> = Vec::new();
        let mut pending_validations: Vec<FileId> = Vec::new();
        let mut roots: Vec<FileId> = targets.to_vec();
        roots.reverse();
        while let Some(target) = roots.pop().or_else(|| pending_validations.pop()) {
            let Some(first) = self.files[target.index()].producer else {
                continue;
            };
            if marks[first.index()] != Mark::None {
                continue;
            }
            marks[first.index()] = Mark::Visiting;
            stack.push((first, 0));
            while let Some(&mut (step, ref mut next)) = stack.last_mut() {
                let s = &self.steps[step.index()];
                let extra = discovered(step);
                if *next < s.ins.len() + extra.len() {
                    let from_manifest = *next < s.ins.len();
                    let input = if from_manifest {
                        s.ins[*next]
                    } else {
                        extra[*next - s.ins.len()]
                    };
                    *next += 1;
                    let Some(producer) = self.files[input.index()].producer else {
                        continue;
                    };
                    match marks[producer.index()] {
                        Mark::Done => {}
                        Mark::Visiting if !from_manifest => {}
                        Mark::Visiting => {
                            return Err(self.describe_cycle(&stack, producer, input, discovered));
                        }
                        Mark::None => {
                            marks[producer.index()] = Mark::Visiting;
                            stack.push((producer, 0));
                        }
                    }
                } else {
                    marks[step.index()] = Mark::Done;
                    order.push(step);
                    pending_validations.extend(s.validations.iter().copied());
                    stack.pop();
                }
            }
        }
        Ok(order)
    }

    /// Builds ninja's cycle message from the DFS stack. Each stack entry
    /// `(step, next)` was left through its input `ins[next - 1]`, which the
    /// entry above it produces; the top entry's input `via` is produced by
    /// `repeated`, closing the loop. Printed from consumer to dependency,
    /// starting and ending at `via`: `a -> b -> a`.
    fn describe_cycle<'a>(
        &self,
        stack: &[(StepId, usize)],
        repeated: StepId,
        via: FileId,
        discovered: &dyn Fn(StepId) -> &'a [FileId],
    ) -> CycleError {
        let start = stack
            .iter()
            .position(|&(step, _)| step == repeated)
            .unwrap_or(0);
        let mut cycle = vec![self.path(via).to_string()];
        for &(step, next) in &stack[start..stack.len() - 1] {
            let ins = &self.steps[step.index()].ins;
            let input = match ins.get(next - 1) {
                Some(&input) => input,
                None => discovered(step)[next - 1 - ins.len()],
            };
            cycle.push(self.path(input).to_string());
        }
        cycle.push(self.path(via).to_string());
        let closing = &self.steps[repeated.index()];
        let phony_self_reference = cycle.len() == 2
            && closing.is_phony()
            && closing.outs.len() == 1
            && closing.explicit_outs == 1
            && closing.implicit_ins == 0;
        CycleError {
            path: cycle,
            phony_self_reference,
        }
    }

    /// Whether the manifest mentions `file`; files known only from a
    /// previous build's state (old depfile entries, dyndep outputs) are
    /// not targets, as in ninja.
    pub fn in_manifest(&self, file: FileId) -> bool {
        let f = &self.files[file.index()];
        f.producer.is_some() || !f.consumers.is_empty() || !f.validated_by.is_empty()
    }

    /// The step writing `file`, if any.
    pub fn producer(&self, file: FileId) -> Option<StepId> {
        self.files[file.index()].producer
    }
}

/// Levenshtein distance, giving up above `limit` (ninja's spellcheck).
pub fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        let mut row_min = current[0];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            row_min = row_min.min(current[j + 1]);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}
