//! `-t missingdeps [targets]`: finds steps whose recorded dependencies
//! (from `.ninja_deps`, or the depfile left on disk for steps without
//! `deps`) name a generated file that nothing in the manifest orders
//! before them. Such a step may compile before its header is generated in
//! a clean build dir. Output and exit code (3 when something is missing)
//! as ninja 1.11's.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::Path;

use super::ToolContext;
use crate::depfile;
use crate::graph::{FileId, Graph, StepId};
use crate::ninja::DepsKind;
use crate::ninja::canon::canonicalize_path;
use crate::state::ninja_files::NinjaFiles;

/// What ninja exits with when it found missing dependencies.
const FOUND_MISSING: i32 = 3;

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some((graph, dir)) = ctx.load_graph_and_build_dir() else {
        return Ok(1);
    };
    let Some(targets) = ctx.targets(&graph, args) else {
        return Ok(1);
    };
    let files = ctx.load_ninja_files(&dir);
    let mut scan = Scan::new(&graph, &files);
    for target in targets {
        scan.visit(target, ctx)?;
    }
    scan.print_summary(ctx)?;
    Ok(if scan.missing_paths > 0 {
        FOUND_MISSING
    } else {
        0
    })
}

struct Scan<'g> {
    graph: &'g Graph,
    files: &'g NinjaFiles,
    /// Outputs looked at, each once.
    seen: HashSet<FileId>,
    /// Per step, the steps reading its outputs (manifest inputs of every
    /// kind, as ninja follows them).
    consumers: Vec<Vec<StepId>>,
    /// Per generating step, every step ordered after it.
    downstream: HashMap<StepId, HashSet<StepId>>,
    missing_paths: usize,
    outputs_missing_deps: HashSet<FileId>,
    generated_inputs: HashSet<FileId>,
    generator_rules: HashSet<String>,
}

impl<'g> Scan<'g> {
    fn new(graph: &'g Graph, files: &'g NinjaFiles) -> Self {
        let mut consumers = vec![Vec::new(); graph.steps.len()];
        for (index, step) in graph.steps.iter().enumerate() {
            for &input in &step.ins {
                if let Some(producer) = graph.producer(input) {
                    consumers[producer.index()].push(StepId(index as u32));
                }
            }
        }
        Scan {
            graph,
            files,
            seen: HashSet::new(),
            consumers,
            downstream: HashMap::new(),
            missing_paths: 0,
            outputs_missing_deps: HashSet::new(),
            generated_inputs: HashSet::new(),
            generator_rules: HashSet::new(),
        }
    }

    /// Checks `target` and, first, every output it is built from (inputs
    /// before the outputs reading them, as ninja reports them).
    fn visit(&mut self, target: FileId, ctx: &mut ToolContext) -> io::Result<()> {
        let mut stack: Vec<(FileId, usize)> = Vec::new();
        if self.enter(target) {
            stack.push((target, 0));
        }
        while let Some(&mut (file, ref mut next)) = stack.last_mut() {
            let Some(step) = self.graph.producer(file) else {
                stack.pop();
                continue;
            };
            let ins = &self.graph.step(step).ins;
            if let Some(&input) = ins.get(*next) {
                *next += 1;
                if self.enter(input) {
                    stack.push((input, 0));
                }
                continue;
            }
            stack.pop();
            let deps = self.recorded_deps(file, step);
            self.check(file, step, &deps, ctx)?;
        }
        Ok(())
    }

    /// Marks an output seen; false for files no step makes and outputs
    /// already seen.
    fn enter(&mut self, file: FileId) -> bool {
        self.graph.producer(file).is_some() && self.seen.insert(file)
    }

    /// The dependencies the last build recorded for `output`: the deps log
    /// for steps with `deps`, else the depfile on disk, if any.
    fn recorded_deps(&self, output: FileId, step: StepId) -> Vec<String> {
        let s = self.graph.step(step);
        if s.deps != DepsKind::None {
            return self
                .files
                .deps_of(self.graph.path(output))
                .map(|deps| deps.inputs.iter().map(|p| p.to_string()).collect())
                .unwrap_or_default();
        }
        let Some(path) = &s.depfile else {
            return Vec::new();
        };
        match depfile::parse_file(Path::new(path)) {
            Ok(parsed) => parsed.inputs.iter().map(|p| canonicalize_path(p)).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn check(
        &mut self,
        output: FileId,
        step: StepId,
        deps: &[String],
        ctx: &mut ToolContext,
    ) -> io::Result<()> {
        let graph = self.graph;
        // A dependency on build.ninja means "rebuild when reconfigured";
        // everything implicitly depends on the generator, as in ninja.
        if deps.iter().any(|d| d == "build.ninja") {
            return Ok(());
        }
        let dep_files: Vec<FileId> = deps.iter().filter_map(|d| graph.lookup(d)).collect();
        let generators: BTreeSet<StepId> = dep_files
            .iter()
            .filter_map(|&f| graph.producer(f))
            .collect();
        let mut missing_rules = BTreeSet::new();
        for generator in generators {
            if self.ordered_after(generator, step) {
                continue;
            }
            let rule = &graph.step(generator).rule;
            for &dep in &dep_files {
                if graph.producer(dep) == Some(generator) {
                    writeln!(
                        ctx.out,
                        "Missing dep: {} uses {} (generated by {rule})",
                        graph.path(output),
                        graph.path(dep)
                    )?;
                    self.generated_inputs.insert(dep);
                }
            }
            self.generator_rules.insert(rule.clone());
            missing_rules.insert(rule.as_str());
        }
        if !missing_rules.is_empty() {
            self.missing_paths += missing_rules.len();
            self.outputs_missing_deps.insert(output);
        }
        Ok(())
    }

    /// Whether the manifest orders `step` after `generator` (through inputs
    /// of any kind).
    fn ordered_after(&mut self, generator: StepId, step: StepId) -> bool {
        let consumers = &self.consumers;
        self.downstream
            .entry(generator)
            .or_insert_with(|| {
                let mut reached = HashSet::new();
                let mut stack = vec![generator];
                while let Some(next) = stack.pop() {
                    for &consumer in &consumers[next.index()] {
                        if reached.insert(consumer) {
                            stack.push(consumer);
                        }
                    }
                }
                reached
            })
            .contains(&step)
    }

    fn print_summary(&self, ctx: &mut ToolContext) -> io::Result<()> {
        writeln!(ctx.out, "Processed {} nodes.", self.seen.len())?;
        if self.missing_paths == 0 {
            return writeln!(ctx.out, "No missing dependencies on generated files found.");
        }
        writeln!(
            ctx.out,
            "Error: There are {} missing dependency paths.",
            self.missing_paths
        )?;
        writeln!(
            ctx.out,
            "{} targets had depfile dependencies on {} distinct generated inputs \
             (from {} rules)  without a non-depfile dep path to the generator.",
            self.outputs_missing_deps.len(),
            self.generated_inputs.len(),
            self.generator_rules.len()
        )?;
        writeln!(
            ctx.out,
            "There might be build flakiness if any of the targets listed above are \
             built alone, or not late enough, in a clean output directory."
        )
    }
}
