//! `-t commands [-s] [targets]`: the commands that build the targets, each
//! step after the steps producing its inputs.

use std::io::{self, Write};

use super::ToolContext;
use super::options::Spec;
use crate::graph::{Graph, StepId};

const SPEC: Spec = Spec {
    letters: "hs",
    long_help: false,
};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(parsed) = ctx.parse_options(args, &SPEC, print_usage)? else {
        return Ok(1);
    };
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let Some(targets) = ctx.targets(&graph, &parsed.operands) else {
        return Ok(1);
    };
    let final_only = parsed.has('s');
    let mut printed = vec![false; graph.steps.len()];
    for target in targets {
        if let Some(step) = graph.producer(target) {
            print_commands(ctx.out, &graph, step, final_only, &mut printed)?;
        }
    }
    Ok(0)
}

fn print_usage(ctx: &mut ToolContext) -> io::Result<()> {
    write!(
        ctx.out,
        "usage: {} -t commands [options] [targets]\n\
         \n\
         options:\n  \
         -s     only print the final command to build [target], not the whole chain\n",
        ctx.program
    )
}

/// Depth-first over inputs (not validations, which ninja's tool ignores),
/// each step once; phony steps have no command to print.
fn print_commands(
    out: &mut dyn Write,
    graph: &Graph,
    root: StepId,
    final_only: bool,
    printed: &mut [bool],
) -> io::Result<()> {
    if std::mem::replace(&mut printed[root.index()], true) {
        return Ok(());
    }
    // Explicit stack of (step, next input) so deep chains cannot overflow.
    let mut stack = vec![(root, 0usize)];
    while let Some((step, next)) = stack.last_mut() {
        let ins = &graph.step(*step).ins;
        if !final_only && *next < ins.len() {
            let input = ins[*next];
            *next += 1;
            if let Some(producer) = graph.producer(input)
                && !std::mem::replace(&mut printed[producer.index()], true)
            {
                stack.push((producer, 0));
            }
            continue;
        }
        let step = graph.step(*step);
        if !step.is_phony() {
            writeln!(out, "{}", step.command)?;
        }
        stack.pop();
    }
    Ok(())
}
