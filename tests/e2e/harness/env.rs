//! A private cache and the environment every run against it gets: none of
//! the caller's zccache settings, compiler-steering variables or make flags
//! ([`isolated_command`]), plus the variables a test chooses, such as a
//! `PATH` with its own dirs first or an `XDG_RUNTIME_DIR` of its own for
//! the launcher's helper. Tests that count hits and misses, damage a cache
//! or start helpers use one, so nothing they see comes from another test.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::stats::Stats;
use super::{Output, isolated_command, path_str, zccache_bin};

#[derive(Clone)]
pub struct Env {
    /// The cache dir (`ZCCACHE_DIR`), which need not exist yet.
    pub cache: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    pub fn new(cache: impl Into<PathBuf>) -> Env {
        Env {
            cache: cache.into(),
            vars: Vec::new(),
        }
    }

    /// The same cache, with `name=value` added to every run's environment.
    pub fn with(&self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Env {
        let mut env = self.clone();
        let value = value.as_ref().to_string_lossy().into_owned();
        env.vars.push((name.to_string(), value));
        env
    }

    /// The same cache, with `dirs` searched first for programs.
    pub fn with_path_first(&self, dirs: &[&Path]) -> Env {
        let mut parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        parts.push(std::env::var("PATH").unwrap_or_default());
        self.with("PATH", parts.join(":"))
    }

    /// The same cache, with `dir` (created, mode 0700 as the helper wants
    /// it) as `XDG_RUNTIME_DIR`: the launcher's helpers and their sockets
    /// are then this environment's own.
    pub fn with_runtime_dir(&self, dir: &Path) -> Env {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        self.with("XDG_RUNTIME_DIR", dir)
    }

    /// `program args...` in `cwd` in this environment, not yet run.
    pub fn command(
        &self,
        cwd: &Path,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
    ) -> Command {
        let mut command = isolated_command(program, args, cwd, &self.cache);
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        command
    }

    /// Runs `program args...` in `cwd` in this environment.
    pub fn run(&self, cwd: &Path, program: impl AsRef<Path>, args: &[&str]) -> Output {
        let program = program.as_ref();
        let output = self
            .command(cwd, program, args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
        let mut described_env = format!("ZCCACHE_DIR={}", self.cache.display());
        for (name, value) in &self.vars {
            described_env.push_str(&format!(" {name}={value}"));
        }
        Output::captured(
            output,
            format!(
                "(cd {} && {described_env} {} {})",
                cwd.display(),
                program.display(),
                args.join(" ")
            ),
        )
    }

    /// Runs `zccache args...` in `cwd` in this environment.
    pub fn zccache(&self, cwd: &Path, args: &[&str]) -> Output {
        self.run(cwd, zccache_bin(), args)
    }

    /// `zccache build -C dir extra...`.
    pub fn build(&self, dir: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["build", "-C", path_str(dir)];
        args.extend_from_slice(extra);
        self.zccache(dir, &args)
    }

    /// `zccache build -C dir extra...` and the change in the cache's
    /// counters over that build.
    pub fn build_counted(&self, dir: &Path, extra: &[&str]) -> (Output, Stats) {
        self.counted(|| self.build(dir, extra))
    }

    /// `zccache build -C dir -d explain extra...` and the change in the
    /// cache's counters over that build.
    pub fn build_explained(&self, dir: &Path, extra: &[&str]) -> (Output, Stats) {
        let mut args = vec!["-d", "explain"];
        args.extend_from_slice(extra);
        self.build_counted(dir, &args)
    }

    /// `zccache build -t clean` in `dir`: every output removed, so the next
    /// build runs (and looks up) every step again.
    pub fn clean(&self, dir: &Path) {
        self.build(dir, &["-t", "clean"]).assert_success();
    }

    /// What `run` returns, and the change in the cache's counters over it.
    pub fn counted<T>(&self, run: impl FnOnce() -> T) -> (T, Stats) {
        let before = self.stats();
        let result = run();
        (result, self.stats().since(&before))
    }

    /// The cache's counters from `zccache stats --json`.
    pub fn stats(&self) -> Stats {
        Stats::of(&self.zccache(Path::new("/"), &["stats", "--json"]))
    }
}
