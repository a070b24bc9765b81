//! `-t graph [targets]`: the graph below the targets in graphviz dot.
//! Node ids are `f<file>` and `s<step>` where ninja prints pointers; the
//! structure and order of statements are ninja's.

use std::io::{self, Write};

use super::ToolContext;
use crate::graph::{FileId, Graph};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let Some(targets) = ctx.targets(&graph, args) else {
        return Ok(1);
    };
    write_dot(ctx.out, &graph, &targets)?;
    Ok(0)
}

fn write_dot(out: &mut dyn Write, graph: &Graph, targets: &[FileId]) -> io::Result<()> {
    writeln!(out, "digraph ninja {{")?;
    writeln!(out, "rankdir=\"LR\"")?;
    writeln!(out, "node [fontsize=10, shape=box, height=0.25]")?;
    writeln!(out, "edge [fontsize=10]")?;
    let mut file_seen = vec![false; graph.files.len()];
    let mut step_seen = vec![false; graph.steps.len()];
    // Pre-order depth-first walk; inputs are pushed in reverse so they are
    // visited in manifest order.
    let mut pending: Vec<FileId> = targets.iter().rev().copied().collect();
    while let Some(file) = pending.pop() {
        if std::mem::replace(&mut file_seen[file.index()], true) {
            continue;
        }
        // Backslashes would be escapes in dot; ninja shows them as slashes.
        let label = graph.path(file).replace('\\', "/");
        writeln!(out, "\"f{}\" [label=\"{label}\"]", file.0)?;
        let Some(step_id) = graph.writer(file) else {
            continue;
        };
        if std::mem::replace(&mut step_seen[step_id.index()], true) {
            continue;
        }
        let step = graph.step(step_id);
        if let ([input], [output]) = (step.ins.as_slice(), step.outs.as_slice()) {
            // One in, one out: a labelled arrow instead of a rule node.
            writeln!(
                out,
                "\"f{}\" -> \"f{}\" [label=\" {}\"]",
                input.0, output.0, step.rule
            )?;
        } else {
            writeln!(
                out,
                "\"s{}\" [label=\"{}\", shape=ellipse]",
                step_id.0, step.rule
            )?;
            for output in &step.outs {
                writeln!(out, "\"s{}\" -> \"f{}\"", step_id.0, output.0)?;
            }
            let order_only_start = step.explicit_ins + step.implicit_ins;
            for (index, input) in step.ins.iter().enumerate() {
                let style = if index >= order_only_start {
                    " style=dotted"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "\"f{}\" -> \"s{}\" [arrowhead=none{style}]",
                    input.0, step_id.0
                )?;
            }
        }
        pending.extend(step.ins.iter().rev().copied());
    }
    writeln!(out, "}}")
}
