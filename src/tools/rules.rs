//! `-t rules [-d]`: the top-level rules, sorted, with `phony`; `-d` adds
//! each description as written in the manifest.

use std::collections::BTreeMap;
use std::io;

use super::ToolContext;
use super::options::Spec;

const SPEC: Spec = Spec {
    letters: "hd",
    long_help: false,
};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(parsed) = ctx.parse_options(args, &SPEC, |ctx| {
        write!(
            ctx.out,
            "usage: {} -t rules [options]\n\
             \n\
             options:\n  \
             -d     also print the description of the rule\n  \
             -h     print this message\n",
            ctx.program
        )
    })?
    else {
        return Ok(1);
    };
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    // `phony` is built in; it has no description.
    let mut rules: BTreeMap<&str, Option<&str>> = BTreeMap::from([("phony", None)]);
    for (name, description) in &graph.rules {
        rules.insert(name, description.as_deref());
    }
    let with_description = parsed.has('d');
    for (name, description) in rules {
        match description {
            Some(description) if with_description => writeln!(ctx.out, "{name}: {description}")?,
            _ => writeln!(ctx.out, "{name}")?,
        }
    }
    Ok(0)
}
