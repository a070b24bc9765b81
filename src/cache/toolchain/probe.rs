//! Running the tool to ask it about itself: C locale, no stdin, PATH as
//! given; each `-print-*` question in a process of its own, in parallel.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use super::*;

impl Toolchains {
    /// Runs each probe (`prefix` and one argument each) in parallel: the
    /// gcc driver answers only the first `-print-*` option of a command line.
    pub(super) fn probe_each<S: AsRef<str> + Sync>(
        &self,
        tool: &Path,
        prefix: &[String],
        args: &[S],
        path_value: &OsStr,
    ) -> Result<Vec<String>, ToolchainError> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = args
                .iter()
                .map(|arg| {
                    scope.spawn(move || {
                        let mut all: Vec<&str> = prefix.iter().map(String::as_str).collect();
                        all.push(arg.as_ref());
                        self.probe(tool, &all, path_value)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ToolchainError::Probe {
                            tool: tool.to_path_buf(),
                            args: String::new(),
                            detail: "probe thread panicked".into(),
                        })
                    })
                })
                .collect()
        })
    }

    /// The standard output of one successful probe.
    fn probe(
        &self,
        tool: &Path,
        args: &[&str],
        path_value: &OsStr,
    ) -> Result<String, ToolchainError> {
        let output = self.run(tool, args, path_value)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    pub(super) fn run<S: AsRef<OsStr>>(
        &self,
        tool: &Path,
        args: &[S],
        path_value: &OsStr,
    ) -> Result<std::process::Output, ToolchainError> {
        self.run_in(tool, args, path_value, None)
    }

    /// Runs the tool with no stdin and the C locale (so its messages are
    /// the ones we parse); a non-zero exit is an error.
    pub(super) fn run_in<S: AsRef<OsStr>>(
        &self,
        tool: &Path,
        args: &[S],
        path_value: &OsStr,
        cwd: Option<&Path>,
    ) -> Result<std::process::Output, ToolchainError> {
        self.probes_run.fetch_add(1, Ordering::Relaxed);
        let shown = || {
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut command = Command::new(tool);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let output = command
            .args(args)
            .env("LC_ALL", "C")
            .env("PATH", path_value)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| ToolchainError::Probe {
                tool: tool.to_path_buf(),
                args: shown(),
                detail: format!("cannot run: {err}"),
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let excerpt: String = stderr.trim().chars().take(300).collect();
            return Err(ToolchainError::Probe {
                tool: tool.to_path_buf(),
                args: shown(),
                detail: format!("{}: {excerpt}", output.status),
            });
        }
        Ok(output)
    }
}
