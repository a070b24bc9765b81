//! Helpers shared by the end-to-end tests: running zccache, real ninja and
//! cmake, copying the example project and snapshotting build trees. Its
//! modules: `env` (a private cache and the environment of every run against
//! it), `stats` (`zccache stats --json`, read once), `example` (the example
//! project with a cache beside it), `twin` (ninja and zccache side by side,
//! `run_same`), `workspace` (a work dir for the launcher's helper).
//!
//! Tools are never skipped when missing: `scripts/test.sh` installs them, so
//! a missing tool is a broken set-up and the test must fail loudly.
//!
//! Reference mode: with `ZCCACHE_E2E_REFERENCE=ninja` in the environment,
//! every "zccache build" invocation runs real ninja instead (and its
//! `ninja: ` message prefix is rewritten to `zccache: `). That checks the
//! tests' own expectations against the reference implementation, which is
//! how they were validated before the executor existed.

pub mod env;
pub mod example;
pub mod stats;
pub mod twin;
pub mod workspace;

pub use env::Env;
pub use example::Example;
pub use stats::{Stats, assert_counts, expect_counts};
pub use workspace::Workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What ninja and zccache print when every target is up to date, after the
/// `ninja: ` / `zccache: ` prefix.
pub const NO_WORK: &str = "no work to do.";

/// Captured result of one finished process.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for failure messages.
    pub command: String,
}

impl Output {
    /// A finished process's output as text, described by `command`.
    pub fn captured(output: std::process::Output, command: String) -> Output {
        Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            command,
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the full output unless the process exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed: {}", self.describe());
        self
    }

    /// Panics with the full output unless the process exited non-zero.
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.success() && self.code.is_some(),
            "command was expected to fail: {}",
            self.describe()
        );
        self
    }

    /// Command line, exit code, stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    /// Stdout followed by stderr: ninja prints some diagnostics on either.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// True when the run reported that every target was already up to date.
    pub fn reports_no_work(&self) -> bool {
        self.combined()
            .lines()
            .any(|line| strip_program_prefix(line) == NO_WORK)
    }

    /// Asserts that the run succeeded and reported `no work to do.`.
    pub fn assert_no_work(&self) -> &Self {
        self.assert_success();
        assert!(
            self.reports_no_work(),
            "expected `{NO_WORK}`: {}",
            self.describe()
        );
        self
    }

    /// The text after `ninja: error: ` or `zccache: error: ` (everything up
    /// to the end of stderr, so multi-line errors such as a parse error's
    /// caret line are included), trimmed of trailing whitespace.
    pub fn error_text(&self) -> Option<String> {
        let combined = self.combined();
        ["ninja: error: ", "zccache: error: "]
            .iter()
            .filter_map(|prefix| combined.find(prefix).map(|at| at + prefix.len()))
            .min()
            .map(|start| combined[start..].trim_end().to_string())
    }

    /// The descriptions of the steps this run executed, from its
    /// `[N/M] description` status lines, sorted so that two executors that
    /// scheduled the same work in a different order compare equal.
    pub fn step_descriptions(&self) -> Vec<String> {
        step_descriptions(&self.stdout)
    }
}

/// Strips a leading `ninja: ` or `zccache: ` from one output line.
pub fn strip_program_prefix(line: &str) -> &str {
    line.strip_prefix("ninja: ")
        .or_else(|| line.strip_prefix("zccache: "))
        .unwrap_or(line)
}

/// Sorted descriptions (or commands, under `-v`) of every `[N/M] ...` status
/// line in `stdout`, without the `[N/M] ` counter.
pub fn step_descriptions(stdout: &str) -> Vec<String> {
    let mut steps: Vec<String> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (counter, description) = rest.split_once("] ")?;
            let (done, total) = counter.split_once('/')?;
            let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            (is_number(done) && is_number(total)).then(|| description.to_string())
        })
        .collect();
    steps.sort();
    steps
}

/// Output lines with the program prefix removed and lines that name the
/// executor's own directory (`Entering directory`) dropped, so runs of ninja
/// and zccache in different directories can be compared line by line.
pub fn normalized_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(strip_program_prefix)
        .filter(|line| !line.starts_with("Entering directory"))
        .map(str::to_string)
        .collect()
}

/// `path` as UTF-8, which every test's path is.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Path of the zccache binary cargo built for this test run.
pub fn zccache_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zccache"))
}

/// Root of the zccache repository (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when `ZCCACHE_E2E_REFERENCE=ninja` asks to run ninja in place of
/// `zccache build` (see the module docs).
pub fn reference_mode() -> bool {
    std::env::var("ZCCACHE_E2E_REFERENCE").is_ok_and(|value| value == "ninja")
}

/// Runs `program args...` in `dir` and captures everything. Panics when the
/// program cannot be started at all (a missing tool is a set-up error).
pub fn run_in(dir: &Path, program: impl AsRef<Path>, args: &[&str]) -> Output {
    let program = program.as_ref();
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    // A custom status format or colour forcing in the caller's environment
    // would change the output we parse and compare.
    for var in ["NINJA_STATUS", "CLICOLOR_FORCE", "MAKEFLAGS", "MFLAGS"] {
        command.env_remove(var);
    }
    // Never the user's own cache: one per test binary unless a test picks
    // its own (tests that count hits and misses do).
    if std::env::var_os("ZCCACHE_DIR").is_none() {
        command.env("ZCCACHE_DIR", shared_cache_dir());
    }
    let output = command.output().unwrap_or_else(|error| {
        panic!(
            "cannot run {}: {error} (scripts/test.sh installs the tools the tests need)",
            program.display()
        )
    });
    Output::captured(
        output,
        format!(
            "(cd {} && {} {})",
            dir.display(),
            program.display(),
            args.join(" ")
        ),
    )
}

/// What the caller's environment must not decide for a test that uses its
/// own cache: make's and ninja's flags, the variables that steer gcc (these
/// and zccache's `STEERING_ENV`), and the compilers a Makefile would use.
/// (Every ZCCACHE_* goes too.)
const ISOLATED_ENV: &[&str] = &[
    "NINJA_STATUS",
    "CLICOLOR_FORCE",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "SOURCE_DATE_EPOCH",
    "CC",
    "CXX",
];

/// `program args...` in `cwd` against the private cache `cache`, with no
/// zccache setting, settings file, compiler-steering variable or make flag
/// of the caller's environment.
pub fn isolated_command(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    cwd: &Path,
    cache: &Path,
) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ZCCACHE_") {
            command.env_remove(&name);
        }
    }
    for name in ISOLATED_ENV.iter().chain(zccache::STEERING_ENV) {
        command.env_remove(name);
    }
    command.env("ZCCACHE_DIR", cache);
    // Launcher calls start a helper per cache; a test's need not outlive it long.
    command.env("ZCCACHE_DAEMON_IDLE_SECS", "20");
    // A zccache.toml in the user's config dir must not leak in either.
    command.env("XDG_CONFIG_HOME", cache.with_extension("no-config"));
    command
}

/// The cache shared by the tests of one binary that do not choose their own.
pub fn shared_cache_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir for the cache"))
        .path()
}

/// Runs `zccache args...` in `dir` (the raw CLI, no `build` added).
pub fn zccache(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, zccache_bin(), args)
}

/// Runs `zccache build args...` in `dir`; the args are ninja's (`-C`, `-n`,
/// `-t tool`, targets...). In reference mode runs ninja instead.
pub fn zccache_build(dir: &Path, args: &[&str]) -> Output {
    if reference_mode() {
        let mut output = ninja(dir, args);
        output.stdout = rename_program_prefix(&output.stdout);
        output.stderr = rename_program_prefix(&output.stderr);
        return output;
    }
    let mut full_args = vec!["build"];
    full_args.extend_from_slice(args);
    zccache(dir, &full_args)
}

fn rename_program_prefix(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("ninja: ") {
            Some(rest) => format!("zccache: {rest}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

/// Runs real ninja with `args` in `dir`.
pub fn ninja(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, "ninja", args)
}

/// Real ninja 1.13, the version whose changed behaviour zccache follows
/// (a failed step's exit code, `FAILED: [code=N]`, 130 when interrupted),
/// while everything else is compared with Debian's ninja 1.11.1 on PATH.
/// scripts/test.sh installs it from PyPI and names it in
/// `ZCCACHE_NINJA_1_13`; without that, the place it installs it to.
/// Missing, the test fails.
pub fn ninja_1_13() -> PathBuf {
    let path = std::env::var_os("ZCCACHE_NINJA_1_13")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/tools/ninja-1.13.2/bin/ninja"));
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run ninja 1.13 at {}: {e} (scripts/test.sh installs it)",
                path.display()
            )
        });
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with("1.13."),
        "{} is ninja {version}, not 1.13",
        path.display()
    );
    path
}

/// `cmake -G Ninja -S source -B build -DCMAKE_BUILD_TYPE=Release extra...`,
/// asserting success. Release has no `-g`, so objects carry no debug paths.
pub fn cmake_configure(source: &Path, build: &Path, extra: &[&str]) -> Output {
    let source = source.to_str().expect("utf-8 path");
    let build_str = build.to_str().expect("utf-8 path");
    let mut args = vec![
        "-G",
        "Ninja",
        "-S",
        source,
        "-B",
        build_str,
        "-DCMAKE_BUILD_TYPE=Release",
    ];
    args.extend_from_slice(extra);
    let parent = build.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).expect("create build parent");
    let output = run_in(parent, "cmake", &args);
    output.assert_success();
    output
}

/// Like [`cmake_configure`], with `-DCMAKE_MAKE_PROGRAM=make_program` so
/// cmake records (and its regeneration step uses) that executor.
pub fn cmake_configure_with_make_program(
    source: &Path,
    build: &Path,
    make_program: &Path,
    extra: &[&str],
) -> Output {
    let flag = format!("-DCMAKE_MAKE_PROGRAM={}", make_program.display());
    let mut args = vec![flag.as_str()];
    args.extend_from_slice(extra);
    cmake_configure(source, build, &args)
}

/// Copies examples/cmake-project to `parent/cmake-project` and returns it.
pub fn copy_example_project(parent: &Path) -> PathBuf {
    let destination = parent.join("cmake-project");
    copy_dir_recursive(&repo_root().join("examples/cmake-project"), &destination);
    destination
}

/// Recursively copies regular files and directories from `from` to `to`.
pub fn copy_dir_recursive(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir_recursive(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// Executor bookkeeping that legitimately differs between ninja and zccache
/// (and between any two runs): logs, dep databases, zccache's own state and
/// cmake's configure logs.
pub fn is_bookkeeping(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    relative == ".zccache"
        || relative.starts_with(".zccache/")
        || name == ".zccache_state"
        || name == ".zccache_lock"
        || name == ".zccache_files"
        || name == ".ninja_log"
        || name == ".ninja_deps"
        || (relative.starts_with("CMakeFiles/") && name.ends_with(".log"))
}

/// What a build of examples/cmake-project produces (not cmake's configure
/// step): objects, archives, shared libraries, executables and the
/// generated header.
pub fn example_build_products(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot_tree(dir)
        .into_iter()
        .filter(|(path, _)| is_example_product(path))
        .collect()
}

/// Whether `path`, relative to a build dir of examples/cmake-project, is
/// one of [its build's products](example_build_products).
pub fn is_example_product(path: &str) -> bool {
    path.ends_with(".o")
        || path.ends_with(".a")
        || path.ends_with(".so")
        || path.starts_with("generated/")
        || path == "zcdemo"
        || path == "zcdemo_tests"
}

/// Every regular file under `dir` except [bookkeeping](is_bookkeeping),
/// keyed by its `/`-separated path relative to `dir`.
pub fn snapshot_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|entry| entry.expect("dir entry"))
            .collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            if is_bookkeeping(&relative) {
                continue;
            }
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                walk(root, &path, files);
            } else if kind.is_file() {
                let content =
                    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                files.insert(relative, content);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// Files of `after` that are new or changed compared with `before`: what a
/// build wrote into a tree snapshotted before it.
pub fn written_between(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    after
        .iter()
        .filter(|(path, content)| before.get(*path) != Some(*content))
        .map(|(path, content)| (path.clone(), content.clone()))
        .collect()
}

/// Panics with a readable list of differences unless both snapshots hold
/// the same paths with byte-identical contents.
pub fn assert_same_files(
    label_a: &str,
    a: &BTreeMap<String, Vec<u8>>,
    label_b: &str,
    b: &BTreeMap<String, Vec<u8>>,
) {
    let paths_a: BTreeSet<&String> = a.keys().collect();
    let paths_b: BTreeSet<&String> = b.keys().collect();
    let only_a: Vec<_> = paths_a.difference(&paths_b).collect();
    let only_b: Vec<_> = paths_b.difference(&paths_a).collect();
    let differing: Vec<_> = paths_a
        .intersection(&paths_b)
        .filter(|path| a[**path] != b[**path])
        .collect();
    assert!(
        only_a.is_empty() && only_b.is_empty() && differing.is_empty(),
        "file trees differ\n only in {label_a}: {only_a:?}\n only in {label_b}: {only_b:?}\n \
         different content: {differing:?}"
    );
}

/// Writes `files` (relative path, content) under `dir`, creating folders.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (relative, content) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Rewrites `path` through `edit`, first waiting long enough that its new
/// mtime is distinguishable from outputs written just before: ninja compares
/// timestamps, and a filesystem tick is a few milliseconds.
pub fn edit_file(path: &Path, edit: impl FnOnce(String) -> String) {
    let content =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    std::thread::sleep(Duration::from_millis(50));
    fs::write(path, edit(content)).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Appends a line to `path` (see [`edit_file`] for the wait).
pub fn append_line(path: &Path, line: &str) {
    edit_file(path, |content| format!("{content}{line}\n"));
}

/// Sets `path`'s mtime to now without changing its content, like `touch`.
pub fn touch(path: &Path) {
    std::thread::sleep(Duration::from_millis(50));
    filetime::set_file_mtime(path, filetime::FileTime::now())
        .unwrap_or_else(|e| panic!("touch {}: {e}", path.display()));
}

/// Sets `path`'s mtime to `seconds` before now: tests that compare with
/// ninja's mtime rules fix the order of their files' times instead of
/// relying on the clock ticking between two writes.
pub fn set_mtime_ago(path: &Path, seconds: u64) {
    let when = std::time::SystemTime::now() - Duration::from_secs(seconds);
    filetime::set_file_mtime(path, filetime::FileTime::from_system_time(when))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// Whether the tests run as root, as they do in CI (`.ci/run`): tests
/// that need it (mounting a tmpfs) run there and are skipped elsewhere.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Says that the calling test checked nothing, and why: on stderr (shown
/// with `--nocapture`), and as a line of the file `ZCCACHE_TEST_SKIPS`
/// names, which scripts/test.sh counts in its summary. The caller returns.
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("SKIPPED {test}: {why}\n");
    eprint!("{line}");
    if let Some(path) = std::env::var_os("ZCCACHE_TEST_SKIPS") {
        use std::io::Write;
        let appended = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(err) = appended {
            panic!(
                "cannot record the skip in {}: {err}",
                path.to_string_lossy()
            );
        }
    }
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("zccache-e2e-")
        .tempdir()
        .expect("create temp dir")
}
