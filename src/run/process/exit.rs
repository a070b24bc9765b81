//! How a step ended, and the exit codes of the whole build, as ninja
//! reports them.

use std::os::unix::process::ExitStatusExt;

/// Exit code of the whole build when a step failed without a code of its
/// own: it exited 0 but its depfile could not be read, or it never started.
///
/// Verified against ninja 1.13.2 (where a step's own code is propagated, see
/// [`ExitStatus::code`]); ninja 1.11 and 1.12 exited 1 for every failure.
pub const EXIT_STEP_FAILED: i32 = 1;

/// Exit code of the whole build when it was interrupted.
///
/// Verified against ninja 1.13.2: after Ctrl-C, and also when a step dies from
/// SIGINT, SIGTERM or SIGHUP or exits 130 (which ninja takes to mean the user
/// interrupted it), ninja prints "build stopped: interrupted by user."
/// without a FAILED block and exits 130 (1.11 and 1.12 exited 2).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The exit code a shell reports for a child that ended with `status`:
/// its own code, or 128 + N when signal N killed it.
pub fn shell_exit_code(status: std::process::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

/// How a step's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
    /// `/bin/sh` could not be started at all (or its reader thread could not).
    SpawnFailed(String),
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }

    /// Whether ninja would treat this as the user interrupting the build
    /// rather than the step failing (see [`EXIT_INTERRUPTED`]). ninja 1.13
    /// keeps a step's exit code in the same value it marks an interruption
    /// with (130), so a step exiting 130 counts as one too.
    pub fn is_interruption(&self) -> bool {
        match self {
            ExitStatus::Signaled(sig) => {
                *sig == libc::SIGINT || *sig == libc::SIGTERM || *sig == libc::SIGHUP
            }
            ExitStatus::Exited(code) => *code == EXIT_INTERRUPTED,
            ExitStatus::SpawnFailed(_) => false,
        }
    }

    /// The code ninja 1.13 reports for this step (`FAILED: [code=N]`) and
    /// exits with when it is the build's last failure: the step's own exit
    /// code, 128 + N for signal N, [`EXIT_STEP_FAILED`] when it never ran.
    /// (ninja adds 128 to the raw wait status, which also holds the
    /// core-dump bit; zccache reports the shell's 128 + N either way.)
    pub fn code(&self) -> i32 {
        match self {
            ExitStatus::Exited(code) => *code,
            ExitStatus::Signaled(sig) => 128 + sig,
            ExitStatus::SpawnFailed(_) => EXIT_STEP_FAILED,
        }
    }

    pub(super) fn from_std(status: std::process::ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited(code),
            (None, Some(sig)) => ExitStatus::Signaled(sig),
            // Stopped/continued statuses are never returned by wait().
            (None, None) => ExitStatus::SpawnFailed("unknown wait status".into()),
        }
    }
}
