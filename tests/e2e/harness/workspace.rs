//! A work dir with a private cache and an `XDG_RUNTIME_DIR` of its own, for
//! tests of the launcher's helper: the helpers its calls start, and their
//! sockets, are its own, found through their lock files and killed when it
//! is dropped.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::env::Env;
use super::temp_dir;

pub struct Workspace {
    _root: tempfile::TempDir,
    /// Where its calls run (empty at first).
    pub work: PathBuf,
    pub runtime: PathBuf,
    pub env: Env,
}

impl Workspace {
    pub fn new() -> Workspace {
        let root = temp_dir();
        let work = root.path().join("work");
        let runtime = root.path().join("run");
        let env = Env::new(root.path().join("cache")).with_runtime_dir(&runtime);
        fs::create_dir_all(&work).unwrap_or_else(|e| panic!("mkdir {}: {e}", work.display()));
        Workspace {
            _root: root,
            work,
            runtime,
            env,
        }
    }

    /// The same workspace, with `name=value` in every call's environment.
    pub fn with(mut self, name: &str, value: &str) -> Workspace {
        self.env = self.env.with(name, value);
        self
    }

    /// `program args...` in the work dir, not yet run.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        self.env.command(&self.work, program, args)
    }

    /// The helpers' sockets, locks and private depfiles.
    pub fn socket_dir(&self) -> PathBuf {
        // SAFETY: getuid has no preconditions.
        self.runtime
            .join(format!("zccache-{}", unsafe { libc::getuid() }))
    }

    /// Files of one kind (`sock`, `lock`) in the socket dir.
    pub fn socket_files(&self, extension: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.socket_dir()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect()
    }

    /// Pids of live helpers, from their lock files.
    pub fn helper_pids(&self) -> Vec<i32> {
        self.socket_files("lock")
            .iter()
            .filter_map(|lock| fs::read_to_string(lock).ok()?.trim().parse().ok())
            .filter(|pid| alive(*pid))
            .collect()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        for pid in self.helper_pids() {
            // SAFETY: a pid read from the lock file of a helper this
            // workspace's calls started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Whether process `pid` exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}
