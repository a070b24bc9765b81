//! What a build invocation was asked on its command line: the flags of
//! `zccache build` or of zccache as `ninja`, and the `-d` debug modes.

use std::path::PathBuf;

/// Which command line the user spoke: zccache's own or ninja's (through a
/// symlink named `ninja`). Only the program name in messages differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Zccache,
    Ninja,
}

impl Flavor {
    pub fn program(self) -> &'static str {
        match self {
            Flavor::Zccache => "zccache",
            Flavor::Ninja => "ninja",
        }
    }
}

/// The build command line, as parsed by clap in main.rs.
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    pub dir: Option<PathBuf>,
    pub file: PathBuf,
    pub jobs: Option<usize>,
    pub keep_going: usize,
    pub load: Option<f64>,
    pub dry_run: bool,
    pub verbose: bool,
    pub quiet: bool,
    pub debug: Vec<String>,
    /// `-w` flags, as ninja spells them.
    pub warnings: Vec<String>,
    pub tool: Option<String>,
    pub tool_args: Vec<String>,
    pub targets: Vec<String>,
}

const DEBUG_MODES: &[(&str, &str)] = &[
    ("stats", "print operation counts/timing info"),
    ("explain", "explain what caused a command to execute"),
    (
        "keepdepfile",
        "don't delete depfiles after they're read by ninja",
    ),
    ("keeprsp", "don't delete @response files on success"),
];

/// Debug switches from `-d`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DebugFlags {
    pub(crate) stats: bool,
    pub(crate) explain: bool,
    pub(crate) keep_depfile: bool,
    pub(crate) keep_rsp: bool,
}

pub(crate) fn parse_debug(modes: &[String], program: &str) -> Result<Option<DebugFlags>, String> {
    let mut flags = DebugFlags::default();
    for mode in modes {
        match mode.as_str() {
            "stats" => flags.stats = true,
            "explain" => flags.explain = true,
            "keepdepfile" => flags.keep_depfile = true,
            "keeprsp" => flags.keep_rsp = true,
            "list" => {
                println!("debugging modes:");
                for (name, text) in DEBUG_MODES {
                    println!("  {name:<11} {text}");
                }
                println!("multiple modes can be enabled via -d FOO -d BAR");
                return Ok(None);
            }
            other => return Err(format!("{program}: error: unknown debug setting '{other}'")),
        }
    }
    Ok(Some(flags))
}
