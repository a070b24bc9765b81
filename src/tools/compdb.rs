//! `-t compdb [-x] [rules]`: a JSON compilation database of every step with
//! inputs (or of the named rules' steps), as clangd and IDEs read it.

use std::io;

use super::ToolContext;
use super::options::Spec;
use crate::graph::Step;

const SPEC: Spec = Spec {
    letters: "hx",
    long_help: false,
};

pub fn run(ctx: &mut ToolContext, args: &[String]) -> io::Result<i32> {
    let Some(parsed) = ctx.parse_options(args, &SPEC, |ctx| {
        write!(
            ctx.out,
            "usage: {} -t compdb [options] [rules]\n\
             \n\
             options:\n  \
             -x     expand @rspfile style response file invocations\n",
            ctx.program
        )
    })?
    else {
        return Ok(1);
    };
    let Some(graph) = ctx.load_graph() else {
        return Ok(1);
    };
    let directory = match std::env::current_dir() {
        Ok(dir) => dir.to_string_lossy().into_owned(),
        Err(err) => {
            ctx.error(&format!("cannot determine working directory: {err}"));
            return Ok(1);
        }
    };
    let expand_rspfile = parsed.has('x');
    let rules = &parsed.operands;
    write!(ctx.out, "[")?;
    let mut first = true;
    for step in &graph.steps {
        // Without inputs there is no "file" to name.
        let (Some(&input), Some(&output)) = (step.ins.first(), step.outs.first()) else {
            continue;
        };
        if !rules.is_empty() && !rules.contains(&step.rule) {
            continue;
        }
        if !first {
            write!(ctx.out, ",")?;
        }
        first = false;
        let command = if expand_rspfile {
            command_with_rspfile_inlined(step)
        } else {
            step.command.clone()
        };
        write!(
            ctx.out,
            "\n  {{\n    \"directory\": \"{}\",\n    \"command\": \"{}\",\n    \
             \"file\": \"{}\",\n    \"output\": \"{}\"\n  }}",
            json_escape(&directory),
            json_escape(&command),
            json_escape(graph.path(input)),
            json_escape(graph.path(output)),
        )?;
    }
    writeln!(ctx.out, "\n]")?;
    Ok(0)
}

/// The command with `@RSPFILE` replaced by the rspfile's content (newlines
/// as spaces), for tools that cannot read response files. Only an `@` right
/// before the first mention of the rspfile counts, as in ninja.
fn command_with_rspfile_inlined(step: &Step) -> String {
    let command = step.command.clone();
    let Some(rspfile) = step.rspfile.as_deref().filter(|r| !r.is_empty()) else {
        return command;
    };
    let Some(at) = command.find(rspfile) else {
        return command;
    };
    if at == 0 || command.as_bytes()[at - 1] != b'@' {
        return command;
    }
    let content = step.rspfile_content.replace('\n', " ");
    format!(
        "{}{content}{}",
        &command[..at - 1],
        &command[at + rspfile.len()..]
    )
}

/// JSON string escaping: quotes, backslashes and control characters.
fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\u{8}' => escaped.push_str("\\b"),
            '\u{c}' => escaped.push_str("\\f"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_json() {
        assert_eq!(json_escape("a\"b\\c\td\u{1}"), "a\\\"b\\\\c\\td\\u0001");
    }

    #[test]
    fn inlines_only_an_at_rspfile() {
        let make = |command: &str| Step {
            #[cfg(test)]
            loc: None,
            rule: "link".into(),
            ins: Vec::new(),
            explicit_ins: 0,
            implicit_ins: 0,
            outs: Vec::new(),
            explicit_outs: 0,
            validations: Vec::new(),
            command: command.into(),
            description: String::new(),
            depfile: None,
            deps: Default::default(),
            msvc_deps_prefix: None,
            dyndep: None,
            generator: false,
            restat: false,
            rspfile: Some("out.rsp".into()),
            rspfile_content: "a.o\nb.o".into(),
            pool: String::new(),
            node: Default::default(),
        };
        assert_eq!(
            command_with_rspfile_inlined(&make("ld @out.rsp -o out")),
            "ld a.o b.o -o out"
        );
        assert_eq!(
            command_with_rspfile_inlined(&make("ld out.rsp")),
            "ld out.rsp"
        );
        assert_eq!(command_with_rspfile_inlined(&make("out.rsp")), "out.rsp");
    }
}
