//! Launcher mode: `zccache COMPILER ARGS...` (also `CMAKE_<LANG>_COMPILER_LAUNCHER=zccache`,
//! `CC="zccache gcc"`) and masquerade (a symlink named gcc, cc, clang++, ...
//! pointing at zccache, early in PATH) run one tool through the compiler
//! cache: the same keys, store and statistics as `zccache build`.
//!
//! A cacheable compile, archive or link is looked up and either restored or
//! run directly (no shell) with its output captured and stored. Anything
//! else replaces this process with the real tool (`exec`), so stdin,
//! stdout, stderr and the exit status are exactly the tool's.
//!
//! zccache never launches itself: every program that is the running
//! executable (the same file, by device and inode) is skipped, both in the
//! PATH search and as a leading argument (`zccache zccache gcc ...`).

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cache::command::{Classification, Program, classify_argv, recognize};
use crate::cache::roots::build_dir_around;
use crate::cache::{Cache, Executed, Ran, Siblings};

/// The first arguments that name a subcommand. Anything else that does not
/// start with `-` is a program to launch.
pub const SUBCOMMANDS: &[&str] = &["build", "stats", "gc", "clear", "help", "warm", "watch"];

/// Counts masquerade launches nested in one another (see [`run`]).
const MASQUERADE_DEPTH: &str = "ZCCACHE_MASQUERADE_DEPTH";
const MAX_MASQUERADE_DEPTH: u32 = 4;

fn masquerade_depth() -> u32 {
    std::env::var(MASQUERADE_DEPTH)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// An environment variable set for the tool.
type EnvVar = (&'static str, String);

/// Exit code when the program to launch cannot be found (as a shell's).
const NOT_FOUND: i32 = 127;

/// A request to run one tool through the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Set in masquerade mode: the compiler name zccache was invoked as; the
    /// real one is searched in PATH and `argv` holds only its arguments.
    pub masquerade: Option<OsString>,
    /// The program (unless masquerading) and its arguments.
    pub argv: Vec<OsString>,
}

/// Decides from the whole command line (`argv[0]` included) whether this is
/// launcher mode. `None`: a subcommand or option for the ordinary CLI.
pub fn request(args: &[OsString]) -> Option<Launch> {
    let argv0 = args.first()?;
    if let Some(name) = masquerade_name(argv0) {
        return Some(Launch {
            masquerade: Some(name),
            argv: args[1..].to_vec(),
        });
    }
    let first = args.get(1)?;
    if first == "--" {
        return Some(Launch {
            masquerade: None,
            argv: args[2..].to_vec(),
        });
    }
    let bytes = first.as_bytes();
    if bytes.is_empty() || bytes.starts_with(b"-") {
        return None;
    }
    if SUBCOMMANDS.iter().any(|s| s.as_bytes() == bytes) {
        return None;
    }
    Some(Launch {
        masquerade: None,
        argv: args[1..].to_vec(),
    })
}

/// The compiler name `argv[0]` stands for, when zccache runs under one (gcc,
/// g++, cc, c++, clang, clang++, also prefixed or versioned).
fn masquerade_name(argv0: &OsStr) -> Option<OsString> {
    let name = Path::new(argv0).file_name()?;
    let text = name.to_str()?;
    match recognize(text) {
        Some(Program::Compiler { .. }) => Some(name.to_os_string()),
        _ => None,
    }
}

/// Runs the launch and returns the exit code to exit with (when it did not
/// replace the process with the tool).
pub fn run(launch: Launch) -> i32 {
    let myself = FileId::of_running_exe();
    let path_env = std::env::var_os("PATH");
    let mut argv = launch.argv;
    let mut env = None;
    let program = match launch.masquerade {
        // Copies of zccache (not symlinks or hardlinks) in two masquerade
        // dirs would launch each other forever: count the nesting.
        Some(name) if masquerade_depth() >= MAX_MASQUERADE_DEPTH => {
            eprintln!(
                "zccache: error: the {} found in PATH after the zccache masquerade is another \
                 copy of zccache (use symlinks to zccache for masquerade)",
                name.to_string_lossy()
            );
            return NOT_FOUND;
        }
        Some(name) => match search_path(&name, path_env.as_deref(), myself) {
            Some(found) => {
                env = Some((MASQUERADE_DEPTH, (masquerade_depth() + 1).to_string()));
                found
            }
            None => {
                eprintln!(
                    "zccache: error: no real {} found in PATH after the zccache masquerade",
                    name.to_string_lossy()
                );
                return NOT_FOUND;
            }
        },
        None => loop {
            let Some(first) = argv.first().cloned() else {
                eprintln!("zccache: error: no compiler given (usage: zccache COMPILER ARGS...)");
                return 2;
            };
            match resolve(&first, path_env.as_deref(), myself) {
                Resolved::Program(found) => {
                    argv.remove(0);
                    break found;
                }
                // `zccache zccache gcc ...`: drop the repeated launcher.
                Resolved::Myself => {
                    argv.remove(0);
                    if argv.first().is_some_and(|a| a == "--") {
                        argv.remove(0);
                    }
                }
                Resolved::NotFound => {
                    eprintln!(
                        "zccache: error: {}: program not found",
                        first.to_string_lossy()
                    );
                    return NOT_FOUND;
                }
            }
        },
    };
    // The tool's argv[0] is the path it was found at: gcc finds its own
    // programs (cc1, collect2) relative to argv[0], searching PATH for a
    // bare name, where it would find the masquerade symlink instead. Its
    // basename is still the name it was invoked by (gcc prints diagnostics
    // under it, clang picks its mode by it).
    run_resolved(&program, &argv, env.as_ref())
}

enum Resolved {
    Program(PathBuf),
    Myself,
    NotFound,
}

/// Finds `program` as a shell would: a name with a '/' as is, a bare name in
/// PATH, skipping zccache itself (reported when nothing else is found for
/// a name with a '/', or for a bare name found only as zccache).
fn resolve(program: &OsStr, path_env: Option<&OsStr>, myself: Option<FileId>) -> Resolved {
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        if is_myself(&path, myself) {
            return Resolved::Myself;
        }
        return Resolved::Program(path);
    }
    if let Some(found) = search_path(program, path_env, myself) {
        return Resolved::Program(found);
    }
    // `CC=zccache` with zccache not in PATH: still only the launcher.
    if program == "zccache" || search_path(program, path_env, None).is_some() {
        return Resolved::Myself;
    }
    Resolved::NotFound
}

/// A file by device and inode: every path to the running zccache (a
/// symlink, a hardlink, another spelling) names the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt as _;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// The executable this process runs (one stat through /proc, where
    /// resolving its path would take a readlink per path component).
    fn of_running_exe() -> Option<FileId> {
        std::fs::metadata("/proc/self/exe")
            .or_else(|_| std::env::current_exe().and_then(std::fs::metadata))
            .ok()
            .map(|meta| FileId::of(&meta))
    }
}

/// Whether `candidate` is the running zccache.
fn is_myself(candidate: &Path, myself: Option<FileId>) -> bool {
    myself.is_some_and(|me| std::fs::metadata(candidate).is_ok_and(|meta| FileId::of(&meta) == me))
}

/// The first executable file named `name` in PATH that is not zccache.
fn search_path(name: &OsStr, path_env: Option<&OsStr>, myself: Option<FileId>) -> Option<PathBuf> {
    let path_env = path_env.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(path_env)
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            }
        })
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|meta| {
                meta.is_file()
                    && meta.permissions().mode() & 0o111 != 0
                    && myself.is_none_or(|me| FileId::of(&meta) != me)
            })
        })
}

/// Runs the resolved tool through the cache when it is a cacheable call,
/// else replaces this process with it.
fn run_resolved(program: &Path, args: &[OsString], env: Option<&EnvVar>) -> i32 {
    let (cache, invocation, argv) = match prepare(program, args) {
        Prepare::Uncached => return exec(program, args, env),
        Prepare::Restored { stdout, stderr } => {
            print_tool_text(&stdout, &stderr);
            return 0;
        }
        Prepare::Run { argv, run } => {
            let mut argv = argv;
            argv.extend(run.extra_args.iter().cloned());
            let started = std::time::Instant::now();
            let ran = run_argv(&argv, env);
            print_tool_text(&ran.stdout, &ran.stderr);
            run.report(ran.success, &ran.stdout, &ran.stderr, started.elapsed());
            return ran.status;
        }
        Prepare::Cacheable(prepared) => *prepared,
    };
    let Ok(shell_cmd) = shlex::try_join(argv.iter().map(String::as_str)) else {
        return exec(program, args, env);
    };
    let executed = cache.execute(&invocation, &shell_cmd, Siblings::AskCache, |cmdline| {
        run_captured(cmdline, env)
    });
    let (stdout, stderr, code) = match executed {
        Executed::Restored { stdout, stderr } => (stdout, stderr, 0),
        Executed::Ran { ran, .. } => (ran.stdout, ran.stderr, ran.status),
    };
    print_tool_text(&stdout, &stderr);
    finish(&cache);
    code
}

/// Adds the call's statistics: through the helper when one is listening
/// (it writes them in batches), else to the statistics file here.
fn finish(cache: &Cache) {
    if crate::daemon::enabled() {
        let (counts, bytes_stored) = cache.take_counts();
        if counts.is_empty() && bytes_stored == 0 {
            return;
        }
        let cwd = crate::cache::working_dir().unwrap_or_default();
        if !crate::daemon::client::count(&cwd, &counts, bytes_stored) {
            cache.add_counts(&counts, bytes_stored);
        }
    }
    cache.finish();
}

type Prepared = (
    std::sync::Arc<Cache>,
    crate::cache::command::Invocation,
    Vec<String>,
);

/// What the cache makes of a call.
enum Prepare {
    /// Not cacheable, or the cache is unusable: run the tool as is.
    Uncached,
    /// The helper restored the outputs; print this text and exit 0.
    Restored { stdout: Vec<u8>, stderr: Vec<u8> },
    /// A miss the helper stores: run `argv` (resolved program first) with
    /// the arguments it adds, and report the run to it.
    Run {
        argv: Vec<String>,
        run: crate::daemon::client::ToolRun,
    },
    /// The open cache, the invocation and its argv (resolved program first).
    Cacheable(Box<Prepared>),
}

fn prepare(program: &Path, args: &[OsString]) -> Prepare {
    let mut argv = Vec::with_capacity(args.len() + 1);
    let Some(program) = program.to_str() else {
        return Prepare::Uncached;
    };
    argv.push(program.to_string());
    for arg in args {
        let Some(arg) = arg.to_str() else {
            return Prepare::Uncached;
        };
        argv.push(arg.to_string());
    }
    let Ok(cwd) = crate::cache::working_dir() else {
        return Prepare::Uncached;
    };
    let invocation = match classify_argv(&argv, &cwd) {
        Classification::Cacheable(invocation) => invocation,
        Classification::Uncacheable { reason, .. } => {
            // Counted only through a helper: opening the statistics here
            // would slow every configure check down.
            if crate::daemon::enabled() {
                let mut counts = crate::cache::stats::Stats::default();
                counts.add("uncacheable", 1);
                counts.add(&format!("uncacheable.{reason}"), 1);
                crate::daemon::client::count(&cwd, &counts, 0);
            }
            return Prepare::Uncached;
        }
        Classification::NotATool => return Prepare::Uncached,
    };
    let (invocation, argv) = with_colour(invocation, argv, &cwd);
    if crate::daemon::enabled() {
        use crate::daemon::client::Outcome;
        match crate::daemon::client::lookup(&argv, &cwd) {
            Outcome::Hit { stdout, stderr } => return Prepare::Restored { stdout, stderr },
            Outcome::Uncacheable => return Prepare::Uncached,
            Outcome::Run(run) => return Prepare::Run { argv, run },
            Outcome::Alone => {}
        }
    }
    match Cache::open(&build_dir_around(&cwd)) {
        Some(cache) => {
            cache.remember_outside_files();
            Prepare::Cacheable(Box::new((cache, invocation, argv)))
        }
        None => Prepare::Uncached,
    }
}

/// The flag that keeps gcc's and clang's diagnostics coloured when their
/// stderr is a pipe to zccache rather than the terminal.
const COLOUR_FLAG: &str = "-fdiagnostics-color=always";

/// A compile whose diagnostics would reach a terminal gets [`COLOUR_FLAG`]
/// (as the compiler would colour them itself), unless it chose its colours
/// already. The flag is part of the key, so text stored with colour codes
/// is only ever replayed to calls that asked for colour too.
fn with_colour(
    invocation: crate::cache::command::Invocation,
    argv: Vec<String>,
    cwd: &Path,
) -> (crate::cache::command::Invocation, Vec<String>) {
    let chose_already = argv.iter().any(|arg| {
        [
            "-fdiagnostics-color",
            "-fno-diagnostics-color",
            "-fcolor-diagnostics",
            "-fno-color-diagnostics",
        ]
        .iter()
        .any(|flag| arg.starts_with(flag))
    });
    // SAFETY: isatty only inspects the descriptor.
    let terminal = unsafe { libc::isatty(2) } == 1;
    let compiler = argv
        .first()
        .is_some_and(|program| matches!(recognize(program), Some(Program::Compiler { .. })));
    if chose_already || !terminal || !compiler || !invocation.kind().may_add_colour_flag() {
        return (invocation, argv);
    }
    let mut coloured = argv.clone();
    coloured.push(COLOUR_FLAG.to_string());
    match classify_argv(&coloured, cwd) {
        Classification::Cacheable(with_flag) => (with_flag, coloured),
        _ => (invocation, argv),
    }
}

fn print_tool_text(stdout: &[u8], stderr: &[u8]) {
    let _ = std::io::stdout().write_all(stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(stderr);
    let _ = std::io::stderr().flush();
}

/// Runs one command line (as the cache hands it back, possibly with extra
/// arguments) directly, stdin inherited, stdout and stderr captured.
fn run_captured(cmdline: &str, env: Option<&EnvVar>) -> Ran<i32> {
    match shlex::split(cmdline) {
        Some(argv) => run_argv(&argv, env),
        None => failed_to_run(format!("zccache: error: cannot split command: {cmdline}\n")),
    }
}

/// Runs `argv` (program first) directly, stdin inherited, stdout and stderr
/// captured.
fn run_argv(argv: &[String], env: Option<&EnvVar>) -> Ran<i32> {
    let Some((program, args)) = argv.split_first() else {
        return failed_to_run("zccache: error: empty command\n".to_string());
    };
    let mut command = Command::new(program);
    if let Some((name, value)) = env {
        command.env(name, value);
    }
    let output = command
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    match output {
        Ok(output) => Ran {
            status: crate::run::process::shell_exit_code(output.status),
            success: output.status.success(),
            stdout: output.stdout,
            stderr: output.stderr,
        },
        Err(err) => failed_to_run(format!("zccache: error: cannot run {program}: {err}\n")),
    }
}

fn failed_to_run(message: String) -> Ran<i32> {
    Ran {
        status: NOT_FOUND,
        success: false,
        stdout: Vec::new(),
        stderr: message.into_bytes(),
    }
}

/// Replaces this process with the tool; returns only when that fails.
fn exec(program: &Path, args: &[OsString], env: Option<&EnvVar>) -> i32 {
    let mut command = Command::new(program);
    if let Some((name, value)) = env {
        command.env(name, value);
    }
    let err = command.args(args).exec();
    eprintln!("zccache: error: cannot run {}: {err}", program.display());
    if err.kind() == std::io::ErrorKind::NotFound {
        NOT_FOUND
    } else {
        126
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn subcommands_and_options_are_not_launches() {
        for first in ["build", "stats", "gc", "clear", "help", "warm", "watch"] {
            assert_eq!(request(&os(&["zccache", first, "x"])), None, "{first}");
        }
        assert_eq!(request(&os(&["zccache", "--help"])), None);
        assert_eq!(request(&os(&["zccache", "-V"])), None);
        assert_eq!(request(&os(&["zccache"])), None);
        assert_eq!(request(&os(&["/usr/bin/zccache", ""])), None);
    }

    #[test]
    fn anything_else_is_a_program() {
        let launch = request(&os(&["zccache", "gcc", "-c", "a.c"])).unwrap();
        assert_eq!(launch.masquerade, None);
        assert_eq!(launch.argv, os(&["gcc", "-c", "a.c"]));
        let launch = request(&os(&["zccache", "builder", "x"])).unwrap();
        assert_eq!(launch.argv, os(&["builder", "x"]));
        let launch = request(&os(&["zccache", "/usr/bin/cc", "-c"])).unwrap();
        assert_eq!(launch.argv, os(&["/usr/bin/cc", "-c"]));
    }

    #[test]
    fn double_dash_always_launches() {
        let launch = request(&os(&["zccache", "--", "build", "-c"])).unwrap();
        assert_eq!(launch.argv, os(&["build", "-c"]));
        let launch = request(&os(&["zccache", "--"])).unwrap();
        assert!(launch.argv.is_empty());
    }

    #[test]
    fn compiler_names_masquerade() {
        for name in [
            "gcc",
            "g++",
            "cc",
            "c++",
            "clang",
            "clang++",
            "gcc-12",
            "x86_64-linux-gnu-gcc",
            "/tmp/x/clang++-17",
        ] {
            let launch = request(&os(&[name, "-c", "a.c"])).unwrap();
            let base = Path::new(name).file_name().unwrap();
            assert_eq!(launch.masquerade.as_deref(), Some(base), "{name}");
            assert_eq!(launch.argv, os(&["-c", "a.c"]));
        }
        for name in [
            "zccache",
            "ninja",
            "ar",
            "ld",
            "gcc-nm",
            "clang-tidy",
            "ccache",
        ] {
            assert_eq!(masquerade_name(OsStr::new(name)), None, "{name}");
        }
    }

    #[test]
    fn path_search_skips_myself() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a");
        let second = dir.path().join("b");
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        let me = dir.path().join("me");
        std::fs::write(&me, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&me, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&me, first.join("tool")).unwrap();
        let real = second.join("tool");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A hardlink is the same file under another name.
        let third = dir.path().join("c");
        std::fs::create_dir_all(&third).unwrap();
        std::fs::hard_link(&me, third.join("tool")).unwrap();
        let path = std::env::join_paths([&first, &third, &first, &second]).unwrap();
        let me = FileId::of(&std::fs::metadata(&me).unwrap());
        assert_eq!(
            search_path(OsStr::new("tool"), Some(&path), Some(me)),
            Some(real.clone())
        );
        let only_me = std::env::join_paths([&first]).unwrap();
        assert_eq!(
            search_path(OsStr::new("tool"), Some(&only_me), Some(me)),
            None
        );
        assert!(matches!(
            resolve(OsStr::new("tool"), Some(&only_me), Some(me)),
            Resolved::Myself
        ));
        assert!(matches!(
            resolve(first.join("tool").as_os_str(), Some(&path), Some(me)),
            Resolved::Myself
        ));
        assert!(matches!(
            resolve(OsStr::new("nonesuch"), Some(&path), Some(me)),
            Resolved::NotFound
        ));
    }

    #[test]
    fn non_executable_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool"), "x").unwrap();
        let path = dir.path().as_os_str().to_os_string();
        assert_eq!(search_path(OsStr::new("tool"), Some(&path), None), None);
    }
}
