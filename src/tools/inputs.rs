//! `-t inputs [targets]`: every input needed to build the targets, sorted
//! and deduplicated, shell-quoted like in commands.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::options::{self, Spec};
use super::{ToolContext, collect_targets};
use crate::graph::{Graph, StepId};
use crate::ninja::eval::shell_escape_into;

const SPEC: Spec = Spec {
    letters: "h",
    long_help: true,
};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let parsed = match options::parse(ctx.tool, args, &SPEC) {
        Some(parsed) if !parsed.has('h') => parsed,
        _ => {
            print_usage(ctx.out)?;
            return Ok(1);
        }
    };
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let targets = match collect_targets(&graph, &parsed.operands) {
        Ok(targets) => targets,
        Err(message) => {
            ctx.error(&message);
            return Ok(1);
        }
    };
    let mut visited = vec![false; graph.steps.len()];
    let mut inputs = BTreeSet::new();
    for target in targets {
        if let Some(step) = graph.producer(target) {
            collect_inputs(&graph, step, &mut visited, &mut inputs);
        }
    }
    for input in inputs {
        writeln!(ctx.out, "{input}")?;
    }
    Ok(0)
}

fn print_usage(out: &mut dyn Write) -> io::Result<()> {
    // Ninja 1.11.1 prints this text with the unbalanced quote.
    write!(
        out,
        "Usage '-t inputs [options] [targets]\n\
         \n\
         List all inputs used for a set of targets. Note that this includes\n\
         explicit, implicit and order-only inputs, but not validation ones.\n\
         \n\
         Options:\n  \
         -h, --help   Print this message.\n"
    )
}

/// Adds the inputs of every non-phony step reachable from `root`; phony
/// steps are walked through but their own inputs are not listed.
fn collect_inputs(
    graph: &Graph,
    root: StepId,
    visited: &mut [bool],
    inputs: &mut BTreeSet<String>,
) {
    let mut pending = vec![root];
    visited[root.index()] = true;
    while let Some(step_id) = pending.pop() {
        let step = graph.step(step_id);
        for &input in &step.ins {
            if let Some(producer) = graph.producer(input)
                && !std::mem::replace(&mut visited[producer.index()], true)
            {
                pending.push(producer);
            }
            if !step.is_phony() {
                let mut quoted = String::new();
                shell_escape_into(graph.path(input), &mut quoted);
                inputs.insert(quoted);
            }
        }
    }
}
