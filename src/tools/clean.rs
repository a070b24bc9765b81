//! `-t clean` (outputs of all steps, of some targets, or of some rules) and
//! `-t cleandead` (outputs the log remembers but the manifest no longer
//! has). Both report "Cleaning... N files." like ninja, and with `-v` or
//! `-n` list each file instead.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use super::ToolContext;
use super::options::Spec;
use crate::graph::{FileId, Graph, Step};
use crate::ninja::canon::canonicalize_path;

const SPEC: Spec = Spec {
    letters: "hgr",
    long_help: false,
};

pub fn run_clean(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(parsed) = ctx.parse_options(args, &SPEC, |ctx| {
        write!(
            ctx.out,
            "usage: {} -t clean [options] [targets]\n\
             \n\
             options:\n  \
             -g     also clean files marked as ninja generator output\n  \
             -r     interpret targets as a list of rules to clean instead\n",
            ctx.program
        )
    })?
    else {
        return Ok(1);
    };
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let by_rules = parsed.has('r');
    if by_rules && parsed.operands.is_empty() {
        ctx.error("expected a rule to clean");
        return Ok(1);
    }
    let mut cleaner = Cleaner::new(ctx);
    cleaner.header()?;
    if by_rules {
        cleaner.clean_rules(&graph, &parsed.operands)?;
    } else if parsed.operands.is_empty() {
        cleaner.clean_all(&graph, parsed.has('g'))?;
    } else {
        cleaner.clean_targets(&graph, &parsed.operands)?;
    }
    cleaner.footer()
}

pub fn run_cleandead(ctx: &mut ToolContext, _args: &[String]) -> io::Result<i32> {
    let Some((graph, dir)) = ctx.load_graph_and_build_dir() else {
        return Ok(1);
    };
    let mut files = ctx.load_ninja_files(&dir);
    let is_output = |path: &str| {
        graph
            .lookup(path)
            .is_some_and(|f| graph.producer(f).is_some())
    };
    let dead: Vec<String> = files
        .log
        .entries()
        .into_iter()
        .map(|(output, _)| output)
        .filter(|output| !is_output(output))
        .map(str::to_string)
        .collect();
    let mut cleaner = Cleaner::new(ctx);
    cleaner.header()?;
    for output in &dead {
        cleaner.remove(output)?;
    }
    let mut code = cleaner.footer()?;
    // Forget removed outputs so the log stops naming them; one that could
    // not be removed stays, to be cleaned next time.
    let gone = |path: &str| Path::new(path).symlink_metadata().is_err();
    if !ctx.dry_run && dead.iter().any(|output| gone(output)) {
        let log_path = files.log_path().to_path_buf();
        let keep = |output: &str| is_output(output) || !gone(output);
        if let Err(err) = files.log.recompact(&log_path, keep) {
            ctx.error(&format!(
                "dropping cleaned outputs from the build log: {err}"
            ));
            code = 1;
        }
    }
    Ok(code)
}

/// Removes files once each, counting those that existed.
struct Cleaner<'c, 'a> {
    ctx: &'c mut ToolContext<'a>,
    /// Lists each file; ninja does so with `-v`, and with `-n` since
    /// nothing is removed.
    verbose: bool,
    removed: HashSet<String>,
    /// Targets whose inputs were already walked.
    cleaned_targets: HashSet<FileId>,
    count: usize,
    failed: bool,
}

impl<'c, 'a> Cleaner<'c, 'a> {
    fn new(ctx: &'c mut ToolContext<'a>) -> Self {
        let verbose = ctx.verbose || ctx.dry_run;
        Cleaner {
            ctx,
            verbose,
            removed: HashSet::new(),
            cleaned_targets: HashSet::new(),
            count: 0,
            failed: false,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        let separator = if self.verbose { "\n" } else { " " };
        write!(self.ctx.out, "Cleaning...{separator}")?;
        // Errors go to stderr; ninja shows the header before them.
        self.ctx.out.flush()
    }

    fn footer(&mut self) -> io::Result<i32> {
        writeln!(self.ctx.out, "{} files.", self.count)?;
        Ok(if self.failed { 1 } else { 0 })
    }

    /// Every output of every step except phony ones and, unless
    /// `generator`, those of generator steps (the manifest itself).
    fn clean_all(&mut self, graph: &Graph, generator: bool) -> io::Result<()> {
        for step in &graph.steps {
            if step.is_phony() || (step.generator && !generator) {
                continue;
            }
            self.remove_step_files(graph, step)?;
        }
        Ok(())
    }

    /// Each target (not its siblings) and, recursively, what it is built
    /// from; generator outputs too, since they were asked for by name.
    fn clean_targets(&mut self, graph: &Graph, names: &[String]) -> io::Result<()> {
        for name in names {
            let path = canonicalize_path(name);
            let Some(target) = graph.lookup(&path) else {
                self.ctx.error(&format!("unknown target '{path}'"));
                self.failed = true;
                continue;
            };
            if self.verbose {
                writeln!(self.ctx.out, "Target {path}")?;
            }
            self.clean_target(graph, target)?;
        }
        Ok(())
    }

    fn clean_target(&mut self, graph: &Graph, root: FileId) -> io::Result<()> {
        let mut pending = vec![root];
        while let Some(target) = pending.pop() {
            if !self.cleaned_targets.insert(target) {
                continue;
            }
            let Some(step_id) = graph.producer(target) else {
                continue;
            };
            let step = graph.step(step_id);
            if !step.is_phony() {
                self.remove(graph.path(target))?;
                self.remove_side_files(step)?;
            }
            // Reversed so inputs are cleaned in manifest order.
            pending.extend(step.ins.iter().rev().copied());
        }
        Ok(())
    }

    fn clean_rules(&mut self, graph: &Graph, rules: &[String]) -> io::Result<()> {
        for rule in rules {
            let known = rule == "phony" || graph.rules.iter().any(|(name, _)| name == rule);
            if !known {
                self.ctx.error(&format!("unknown rule '{rule}'"));
                self.failed = true;
                continue;
            }
            if self.verbose {
                writeln!(self.ctx.out, "Rule {rule}")?;
            }
            for step in graph.steps.iter().filter(|step| step.rule == *rule) {
                self.remove_step_files(graph, step)?;
            }
        }
        Ok(())
    }

    fn remove_step_files(&mut self, graph: &Graph, step: &Step) -> io::Result<()> {
        for &output in &step.outs {
            self.remove(graph.path(output))?;
        }
        self.remove_side_files(step)
    }

    /// The depfile and rspfile a step leaves behind.
    fn remove_side_files(&mut self, step: &Step) -> io::Result<()> {
        for path in [&step.depfile, &step.rspfile].into_iter().flatten() {
            if !path.is_empty() {
                self.remove(path)?;
            }
        }
        Ok(())
    }

    /// Removes `path` once; counts it when it existed. A directory is
    /// removed only when empty, like C's `remove`.
    fn remove(&mut self, path: &str) -> io::Result<()> {
        if !self.removed.insert(path.to_string()) {
            return Ok(());
        }
        let existed = if self.ctx.dry_run {
            Path::new(path).symlink_metadata().is_ok()
        } else {
            let is_dir = Path::new(path).symlink_metadata().is_ok_and(|m| m.is_dir());
            let result = if is_dir {
                std::fs::remove_dir(path)
            } else {
                std::fs::remove_file(path)
            };
            match result {
                Ok(()) => true,
                Err(err) if err.kind() == io::ErrorKind::NotFound => false,
                Err(err) => {
                    self.ctx
                        .error(&format!("remove({path}): {}", describe_io_error(&err)));
                    self.failed = true;
                    false
                }
            }
        };
        if existed {
            self.count += 1;
            if self.verbose {
                writeln!(self.ctx.out, "Remove {path}")?;
            }
        }
        Ok(())
    }
}

/// `strerror` text without Rust's " (os error N)" suffix, as ninja prints.
fn describe_io_error(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}
