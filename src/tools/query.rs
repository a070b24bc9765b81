//! `-t query targets...`: for each target, the step producing it (rule and
//! inputs, marked `|` implicit and `||` order-only), its validations, the
//! outputs of the steps reading it, and the steps it validates.

use std::io::{self, Write};

use super::ToolContext;
use crate::graph::{FileId, Graph};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    if args.is_empty() {
        ctx.error("expected a target to query");
        return Ok(1);
    }
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    for name in args {
        // Ninja reports an unknown target after printing the ones before it.
        match graph.resolve_target(name) {
            Ok(file) => print_query(ctx.out, &graph, file)?,
            Err(message) => {
                ctx.error(&message);
                return Ok(1);
            }
        }
    }
    Ok(0)
}

fn print_query(out: &mut dyn Write, graph: &Graph, file: FileId) -> io::Result<()> {
    writeln!(out, "{}:", graph.path(file))?;
    if let Some(step_id) = graph.producer(file) {
        let step = graph.step(step_id);
        writeln!(out, "  input: {}", step.rule)?;
        let implicit_end = step.explicit_ins + step.implicit_ins;
        for (index, &input) in step.ins.iter().enumerate() {
            let marker = if index < step.explicit_ins {
                ""
            } else if index < implicit_end {
                "| "
            } else {
                "|| "
            };
            writeln!(out, "    {marker}{}", graph.path(input))?;
        }
        if !step.validations.is_empty() {
            writeln!(out, "  validations:")?;
            for &validation in &step.validations {
                writeln!(out, "    {}", graph.path(validation))?;
            }
        }
    }
    writeln!(out, "  outputs:")?;
    let node = graph.file(file);
    for &consumer in &node.consumers {
        for &output in &graph.step(consumer).outs {
            writeln!(out, "    {}", graph.path(output))?;
        }
    }
    if !node.validated_by.is_empty() {
        writeln!(out, "  validation for:")?;
        for &step in &node.validated_by {
            for &output in &graph.step(step).outs {
                writeln!(out, "    {}", graph.path(output))?;
            }
        }
    }
    Ok(())
}
