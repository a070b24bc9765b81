//! `-t inputs [targets]`: every input needed to build the targets, sorted
//! and deduplicated, shell-quoted like in commands.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::ToolContext;
use super::options::Spec;
use crate::ninja::eval::shell_escape_into;

const SPEC: Spec = Spec {
    letters: "h",
    long_help: true,
};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(parsed) = ctx.parse_options(args, &SPEC, |ctx| print_usage(ctx.out))? else {
        return Ok(1);
    };
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let Some(targets) = ctx.targets(&graph, &parsed.operands) else {
        return Ok(1);
    };
    let mut inputs = BTreeSet::new();
    for step in graph.steps_needed(&targets) {
        let step = graph.step(step);
        // Phony steps are walked through but their own inputs not listed.
        if step.is_phony() {
            continue;
        }
        for &input in &step.ins {
            let mut quoted = String::new();
            shell_escape_into(graph.path(input), &mut quoted);
            inputs.insert(quoted);
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
