//! `-t targets [depth [N] | rule [NAME] | all]`: lists targets as a tree
//! from the roots, by rule, or all of them.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::ToolContext;
use crate::graph::{FileId, Graph, edit_distance};

const MODES: [&str; 3] = ["rule", "depth", "all"];

/// Ninja suggests a mode within this many edits.
const MAX_SUGGESTION_DISTANCE: usize = 3;

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let mut depth = 1;
    if let Some(mode) = args.first() {
        match mode.as_str() {
            "rule" => {
                return match args.get(1).filter(|rule| !rule.is_empty()) {
                    Some(rule) => print_outputs_of_rule(ctx.out, &graph, rule),
                    None => print_sources(ctx.out, &graph),
                };
            }
            "depth" => depth = args.get(1).map_or(1, |n| parse_leading_int(n)),
            "all" => return print_all_outputs(ctx.out, &graph),
            other => {
                let message = match suggest_mode(other) {
                    Some(suggestion) => {
                        format!("unknown target tool mode '{other}', did you mean '{suggestion}'?")
                    }
                    None => format!("unknown target tool mode '{other}'"),
                };
                ctx.error(&message);
                return Ok(1);
            }
        }
    }
    let roots = graph.roots();
    if roots.is_empty() && !graph.steps.is_empty() {
        ctx.error("could not determine root nodes of build graph");
        return Ok(1);
    }
    print_tree(ctx.out, &graph, &roots, depth, 0)?;
    Ok(0)
}

/// C's `atoi`: the leading decimal number, 0 when there is none. A depth
/// of 0 or less means unlimited, so `depth x` prints the whole tree as in
/// ninja.
fn parse_leading_int(text: &str) -> i64 {
    let text = text.trim_start();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

fn suggest_mode(wanted: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for mode in MODES {
        let distance = edit_distance(wanted, mode, MAX_SUGGESTION_DISTANCE);
        if distance <= MAX_SUGGESTION_DISTANCE && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, mode));
        }
    }
    best.map(|(_, mode)| mode)
}

/// Each node with its rule, then (while `depth` allows) its inputs one
/// level deeper. Shared subtrees are printed again wherever they occur.
fn print_tree(
    out: &mut dyn Write,
    graph: &Graph,
    nodes: &[FileId],
    depth: i64,
    indent: usize,
) -> io::Result<()> {
    for &node in nodes {
        write!(out, "{}", "  ".repeat(indent))?;
        let path = graph.path(node);
        match graph.producer(node) {
            Some(step) => {
                let step = graph.step(step);
                writeln!(out, "{path}: {}", step.rule)?;
                if depth != 1 {
                    print_tree(out, graph, &step.ins, depth - 1, indent + 1)?;
                }
            }
            None => writeln!(out, "{path}")?,
        }
    }
    Ok(())
}

/// `rule` without a name: every input no step produces, once per use.
fn print_sources(out: &mut dyn Write, graph: &Graph) -> io::Result<i32> {
    for step in &graph.steps {
        for &input in &step.ins {
            if graph.producer(input).is_none() {
                writeln!(out, "{}", graph.path(input))?;
            }
        }
    }
    Ok(0)
}

/// `rule NAME`: the outputs of that rule's steps, sorted and deduplicated.
fn print_outputs_of_rule(out: &mut dyn Write, graph: &Graph, rule: &str) -> io::Result<i32> {
    let outputs: BTreeSet<&str> = graph
        .steps
        .iter()
        .filter(|step| step.rule == rule)
        .flat_map(|step| step.outs.iter().map(|&file| graph.path(file)))
        .collect();
    for output in outputs {
        writeln!(out, "{output}")?;
    }
    Ok(0)
}

/// `all`: every output with its rule, in manifest order.
fn print_all_outputs(out: &mut dyn Write, graph: &Graph) -> io::Result<i32> {
    for step in &graph.steps {
        for &file in &step.outs {
            writeln!(out, "{}: {}", graph.path(file), step.rule)?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_argument_parses_like_atoi() {
        assert_eq!(parse_leading_int("3"), 3);
        assert_eq!(parse_leading_int("x"), 0);
        assert_eq!(parse_leading_int("2x"), 2);
        assert_eq!(parse_leading_int("-1"), -1);
    }

    #[test]
    fn suggests_the_nearest_mode() {
        assert_eq!(suggest_mode("-h"), Some("all"));
        assert_eq!(suggest_mode("dept"), Some("depth"));
        assert_eq!(suggest_mode("bogusbogus"), None);
    }
}
