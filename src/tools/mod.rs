//! `-t TOOL`: ninja's subtools.

use std::path::Path;

use crate::driver::Flavor;
use crate::run::status::StatusPrinter;

/// Runs `-t TOOL ARGS...`; returns the exit code.
pub fn run(
    tool: &str,
    _args: &[String],
    _file: &Path,
    flavor: Flavor,
    status: &mut StatusPrinter,
) -> i32 {
    status.error(&format!("unknown tool '{tool}'"));
    let _ = flavor;
    1
}
