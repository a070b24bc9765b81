//! `-t TOOL`: ninja's subtools, each in its own module, with ninja 1.11.1's
//! output so scripts (CMake, Meson, IDE integrations) see no difference.
//!
//! This module holds the tool table, the dispatch, and what tools share:
//! the invocation context, loading the graph, and collecting targets.

mod clean;
mod commands;
mod compdb;
mod deps;
mod graphviz;
mod inputs;
mod logs;
mod missingdeps;
mod options;
mod query;
mod rules;
mod targets;

use std::io::{self, Write};
use std::path::PathBuf;

use self::options::{Spec, ToolArgs};
use crate::build_args::{BuildArgs, Flavor};
use crate::graph::{FileId, Graph};
use crate::run::status::StatusPrinter;

/// What a tool needs from the command line and the terminal.
pub struct ToolContext<'a> {
    /// How the user invoked us (`ninja` or `zccache build`), for usage texts.
    pub program: &'static str,
    /// The tool's name, which getopt-style messages start with.
    pub tool: &'static str,
    pub manifest: PathBuf,
    pub verbose: bool,
    pub dry_run: bool,
    pub status: &'a mut StatusPrinter,
    pub out: &'a mut dyn Write,
}

impl ToolContext<'_> {
    /// The bare program name (`ninja` or `zccache`).
    pub fn status_program(&self) -> &'static str {
        self.program.split(' ').next().unwrap_or(self.program)
    }

    /// Loads the manifest, reporting a parse error the way a build would.
    pub fn load_graph(&mut self) -> Option<Graph> {
        match crate::build_dir::load_graph(&self.manifest) {
            Ok(graph) => Some(graph),
            Err(err) => {
                self.error(&format!("{err:#}"));
                None
            }
        }
    }

    /// Loads the manifest and creates its build dir (`builddir`, where the
    /// logs live), as the tools that read or rewrite the logs need.
    pub fn load_graph_and_build_dir(&mut self) -> Option<(Graph, std::path::PathBuf)> {
        let graph = self.load_graph()?;
        let dir = crate::build_dir::state_dir(&graph);
        if let Err(err) = std::fs::create_dir_all(&dir) {
            self.error(&format!(
                "creating build directory {}: {err}",
                dir.display()
            ));
            return None;
        }
        Some((graph, dir))
    }

    /// Loads `.ninja_log` and `.ninja_deps` from `dir`, printing their
    /// load warnings.
    pub fn load_ninja_files(
        &mut self,
        dir: &std::path::Path,
    ) -> crate::state::ninja_files::NinjaFiles {
        let (files, warnings) = crate::state::ninja_files::NinjaFiles::load(dir);
        for warning in warnings {
            self.warning(&warning);
        }
        files
    }

    /// Prints an error after flushing stdout, so a partial line such as
    /// "Cleaning..." appears before the message as it does with ninja.
    pub fn error(&mut self, message: &str) {
        let _ = self.out.flush();
        self.status.error(message);
    }

    pub fn warning(&mut self, message: &str) {
        let _ = self.out.flush();
        self.status.warning(message);
    }

    /// Parses the tool's flags; on `-h` or a bad flag prints the tool's
    /// usage and gives `None`, as ninja then exits 1.
    fn parse_options(
        &mut self,
        args: &[String],
        spec: &Spec,
        print_usage: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<Option<ToolArgs>> {
        match options::parse(self.tool, args, spec) {
            Some(parsed) if !parsed.has('h') => Ok(Some(parsed)),
            _ => {
                print_usage(self)?;
                Ok(None)
            }
        }
    }

    /// [`collect_targets`], printing ninja's message for a bad name.
    fn targets(&mut self, graph: &Graph, names: &[String]) -> Option<Vec<FileId>> {
        match collect_targets(graph, names) {
            Ok(targets) => Some(targets),
            Err(message) => {
                self.error(&message);
                None
            }
        }
    }
}

type ToolFn = fn(&mut ToolContext, &[String]) -> io::Result<i32>;

struct Tool {
    name: &'static str,
    /// `None` for tools ninja has but does not list.
    help: Option<&'static str>,
    run: ToolFn,
}

/// In ninja's `-t list` order.
const TOOLS: &[Tool] = &[
    Tool {
        name: "clean",
        help: Some("clean built files"),
        run: clean::run_clean,
    },
    Tool {
        name: "commands",
        help: Some("list all commands required to rebuild given targets"),
        run: commands::run,
    },
    Tool {
        name: "inputs",
        help: Some("list all inputs required to rebuild given targets"),
        run: inputs::run,
    },
    Tool {
        name: "deps",
        help: Some("show dependencies stored in the deps log"),
        run: deps::run,
    },
    Tool {
        name: "missingdeps",
        help: Some("check deps log dependencies on generated files"),
        run: missingdeps::run,
    },
    Tool {
        name: "graph",
        help: Some("output graphviz dot file for targets"),
        run: graphviz::run,
    },
    Tool {
        name: "query",
        help: Some("show inputs/outputs for a path"),
        run: query::run,
    },
    Tool {
        name: "targets",
        help: Some("list targets by their rule or depth in the DAG"),
        run: targets::run,
    },
    Tool {
        name: "compdb",
        help: Some("dump JSON compilation database to stdout"),
        run: compdb::run,
    },
    Tool {
        name: "recompact",
        help: Some("recompacts ninja-internal data structures"),
        run: logs::run_recompact,
    },
    Tool {
        name: "restat",
        help: Some("restats all outputs in the build log"),
        run: logs::run_restat,
    },
    Tool {
        name: "rules",
        help: Some("list all rules"),
        run: rules::run,
    },
    Tool {
        name: "cleandead",
        help: Some("clean built files that are no longer produced by the manifest"),
        run: clean::run_cleandead,
    },
    Tool {
        name: "list",
        help: None,
        run: list,
    },
    // Ninja serves the graph to a browser through a Python script of its
    // own; zccache has none, so, unlisted, it says so.
    Tool {
        name: "browse",
        help: None,
        run: unsupported,
    },
];

/// Whether `name` is a tool; ninja rejects others before changing directory.
/// `msvc` and `wincmdline` exist only in ninja's Windows build, so like
/// ninja on this platform they are unknown.
pub fn is_known(name: &str) -> bool {
    TOOLS.iter().any(|tool| tool.name == name)
}

/// Runs `-t TOOL ARGS...` (after `-C`); returns the exit code.
pub fn run(tool: &str, args: &BuildArgs, flavor: Flavor, status: &mut StatusPrinter) -> i32 {
    let Some(entry) = TOOLS.iter().find(|entry| entry.name == tool) else {
        eprintln!("{}: fatal: unknown tool '{tool}'", flavor.program());
        return 1;
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut ctx = ToolContext {
        program: match flavor {
            Flavor::Ninja => "ninja",
            Flavor::Zccache => "zccache build",
        },
        tool: entry.name,
        manifest: args.file.clone(),
        verbose: args.verbose,
        dry_run: args.dry_run,
        status,
        out: &mut out,
    };
    let result = (entry.run)(&mut ctx, &args.tool_args).and_then(|code| {
        ctx.out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        // A closed pipe (`-t targets | head`) is not worth a message.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(err) => {
            ctx.status.error(&format!("writing tool output: {err}"));
            1
        }
    }
}

fn list(ctx: &mut ToolContext, _args: &[String]) -> io::Result<i32> {
    writeln!(ctx.out, "{} subtools:", ctx.status_program())?;
    for tool in TOOLS {
        if let Some(help) = tool.help {
            writeln!(ctx.out, "{:>11}  {help}", tool.name)?;
        }
    }
    Ok(0)
}

/// Tools ninja has that need its Python server (`browse`).
fn unsupported(ctx: &mut ToolContext, _args: &[String]) -> io::Result<i32> {
    let message = format!(
        "tool '{}' is not supported by zccache (it needs ninja's Python server); \
         `-t graph` prints the graph for graphviz",
        ctx.tool
    );
    ctx.error(&message);
    Ok(1)
}

/// The nodes named on a tool's command line, or the default targets when
/// none are named; `Err` carries ninja's message for the first bad name.
pub fn collect_targets(graph: &Graph, names: &[String]) -> Result<Vec<FileId>, String> {
    if names.is_empty() {
        let targets = graph.default_targets();
        if targets.is_empty() && !graph.steps.is_empty() {
            return Err("could not determine root nodes of build graph".to_string());
        }
        return Ok(targets);
    }
    names
        .iter()
        .map(|name| graph.resolve_target(name))
        .collect()
}
