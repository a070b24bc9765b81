//! `zccache build -C DIR` in a Make project: a dir with a Makefile and no
//! build.ninja. zccache cannot see make's graph, so make runs the build and
//! zccache sits in front of the compilers as a launcher
//! (`zccache COMPILER ARGS...`):
//!
//! * a CMake "Unix Makefiles" build dir already names its launcher in
//!   CMakeCache.txt; when that is not zccache we say which cmake command
//!   turns it on, and build anyway with plain make;
//! * a plain Makefile gets `CC="zccache <cc>" CXX="zccache <c++>"`, where
//!   `<cc>`/`<c++>` are what make would have used (`$CC`/`$CXX` from the
//!   environment, else `cc`/`c++`).
//!
//! Parallelism: zccache's `-j N` (default: [`default_parallelism`]) becomes
//! make's `-j N`, so make serves the jobserver its children share. Without
//! `-j`, when zccache itself runs under a make jobserver, make is started
//! without `-j` and joins that jobserver.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::build_args::BuildArgs;
use crate::run::jobs::default_parallelism;

/// The names GNU make looks for, in its order.
pub const MAKEFILE_NAMES: &[&str] = &["GNUmakefile", "makefile", "Makefile"];

/// The makefile make would read in `dir`, if any.
pub fn makefile_in(dir: &Path) -> Option<PathBuf> {
    MAKEFILE_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Whether `zccache build` should hand the current directory to make: the
/// manifest is the default `build.ninja`, which does not exist, and a
/// makefile does.
pub fn applies(args: &BuildArgs) -> bool {
    args.file == Path::new("build.ninja")
        && !args.file.exists()
        && makefile_in(Path::new(".")).is_some()
}

/// What kind of Make project a dir is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Project {
    /// A CMake build dir for a Makefile generator.
    Cmake {
        /// Whether the compiler launchers in CMakeCache.txt are zccache.
        launcher_on: bool,
        /// CMAKE_MAKE_PROGRAM, when it names an existing file.
        make_program: Option<PathBuf>,
    },
    Plain,
}

/// Builds the Make project in the current directory; returns make's exit
/// code.
pub fn build(args: &BuildArgs) -> anyhow::Result<i32> {
    let dir = std::env::current_dir().context("finding the current directory")?;
    check_compile_commands(&dir);
    // Without our own path there is nothing to put in front of the
    // compilers; make still builds.
    let zccache = std::env::current_exe()
        .inspect_err(|err| {
            eprintln!(
                "zccache: warning: compiler cache is off: cannot find the zccache executable: {err}"
            );
        })
        .ok();
    let project = detect(&dir);
    let makeflags = std::env::var("MAKEFLAGS").ok();
    let plan = Plan {
        project: &project,
        args,
        zccache: zccache.as_deref(),
        makeflags: makeflags.as_deref(),
        cc: std::env::var_os("CC"),
        cxx: std::env::var_os("CXX"),
    };
    if let (
        Project::Cmake {
            launcher_on: false, ..
        },
        Some(zccache),
    ) = (&project, &zccache)
    {
        println!("zccache: {}", cmake_hint(zccache, &dir));
    }
    let (program, make_args, warnings) = plan.command();
    for warning in warnings {
        eprintln!("zccache: warning: {warning}");
    }
    if args.verbose {
        println!(
            "zccache: {} {}",
            program.display(),
            shlex::try_join(make_args.iter().map(String::as_str))
                .unwrap_or_else(|_| make_args.join(" "))
        );
    }
    let mut child = Command::new(&program)
        .args(&make_args)
        .spawn()
        .with_context(|| format!("running {}", program.display()))?;
    forward_termination(child.id());
    let status = child
        .wait()
        .with_context(|| format!("waiting for {}", program.display()))?;
    Ok(crate::run::process::shell_exit_code(status))
}

/// Reads compile_commands.json when the dir has one, warning about a bad
/// one (the build goes on either way).
fn check_compile_commands(dir: &Path) {
    let path = dir.join("compile_commands.json");
    if !path.is_file() {
        return;
    }
    // The keys of its compiles, computed in parallel before make starts
    // (`zccache warm`): the compilers' identities are then on disk for
    // every launcher make starts, and the entries they will read are fresh.
    match crate::warm::forecast_compdb(&path, dir) {
        Ok(report) => tracing::debug!("{}: {}", path.display(), report.summary()),
        Err(err) => eprintln!("zccache: warning: {err}"),
    }
}

/// Ctrl-C reaches make too (same process group): zccache waits for make
/// to clean up and reports its status instead of dying first. A SIGTERM or
/// SIGHUP sent to zccache alone is passed on to make as SIGTERM. (A handled
/// signal is reset to the default in make, unlike an ignored one.)
fn forward_termination(make_pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(make_pid) else {
        return;
    };
    let handler = move || {
        // SAFETY: kill only sends a signal. The pid is our child's: it is
        // not reaped (so not reused) until `wait` returns, and zccache
        // exits right after that.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    };
    if let Err(err) = ctrlc::set_handler(handler) {
        tracing::debug!("cannot install the Ctrl-C handler: {err}");
    }
}

fn detect(dir: &Path) -> Project {
    let Ok(text) = std::fs::read_to_string(dir.join("CMakeCache.txt")) else {
        return Project::Plain;
    };
    let cache = parse_cmake_cache(&text);
    let is_makefiles = cache
        .get("CMAKE_GENERATOR")
        .is_some_and(|generator| generator.ends_with("Makefiles"));
    if !is_makefiles {
        return Project::Plain;
    }
    Project::Cmake {
        launcher_on: cmake_launcher_on(&cache),
        make_program: cache
            .get("CMAKE_MAKE_PROGRAM")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute() && path.is_file()),
    }
}

/// `NAME:TYPE=VALUE` lines of CMakeCache.txt (comments and blank lines
/// skipped), by name.
fn parse_cmake_cache(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("//"))
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let name = key.split_once(':').map_or(key, |(name, _)| name);
            Some((name.trim_matches('"'), value))
        })
        .collect()
}

/// Whether every compiled language (C, C++; both when neither is known)
/// has a launcher that is zccache.
fn cmake_launcher_on(cache: &HashMap<&str, &str>) -> bool {
    let languages: Vec<&str> = ["C", "CXX"]
        .into_iter()
        .filter(|lang| cache.contains_key(format!("CMAKE_{lang}_COMPILER").as_str()))
        .collect();
    let languages = if languages.is_empty() {
        vec!["C", "CXX"]
    } else {
        languages
    };
    languages.iter().all(|lang| {
        cache
            .get(format!("CMAKE_{lang}_COMPILER_LAUNCHER").as_str())
            .is_some_and(|value| names_zccache(value))
    })
}

/// Whether a launcher value (a CMake list or a command line) runs zccache.
fn names_zccache(value: &str) -> bool {
    let first = value.split([';', ' ']).find(|word| !word.is_empty());
    first.is_some_and(|word| {
        Path::new(word)
            .file_name()
            .is_some_and(|name| name == "zccache")
    })
}

/// The one line telling how to turn the cache on in a CMake build dir.
fn cmake_hint(zccache: &Path, dir: &Path) -> String {
    let zccache = quote(&zccache.to_string_lossy());
    format!(
        "compiler cache is off here; turn it on with: cmake \
         -DCMAKE_C_COMPILER_LAUNCHER={zccache} -DCMAKE_CXX_COMPILER_LAUNCHER={zccache} {}",
        quote(&dir.to_string_lossy())
    )
}

fn quote(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| word.to_string(), |q| q.into_owned())
}

/// Everything that decides make's command line.
struct Plan<'a> {
    project: &'a Project,
    args: &'a BuildArgs,
    /// zccache's own path, when known.
    zccache: Option<&'a Path>,
    makeflags: Option<&'a str>,
    cc: Option<OsString>,
    cxx: Option<OsString>,
}

impl Plan<'_> {
    /// The program, its arguments, and warnings to print first.
    fn command(&self) -> (PathBuf, Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let program = match self.project {
            Project::Cmake {
                make_program: Some(program),
                ..
            } => program.clone(),
            _ => PathBuf::from("make"),
        };
        let mut args = Vec::new();
        if let Some(jobs) = jobs_flag(self.args.jobs, self.makeflags) {
            args.push(jobs);
        }
        // zccache's -k N stops after N failures; make can only stop at the
        // first (default) or keep going.
        if self.args.keep_going != 1 {
            args.push("-k".to_string());
        }
        if let Some(load) = self.args.load.filter(|load| *load > 0.0) {
            args.push(format!("-l{load}"));
        }
        if self.args.dry_run {
            args.push("-n".to_string());
        }
        // ninja's --quiet: no status lines, only the steps' output.
        if self.args.quiet {
            args.push("-s".to_string());
        }
        // ninja's -v: every command line; CMake's makefiles hide them
        // unless VERBOSE is set.
        if self.args.verbose && matches!(self.project, Project::Cmake { .. }) {
            args.push("VERBOSE=1".to_string());
        }
        if *self.project == Project::Plain {
            match self.zccache.map(|path| (path, path.to_str())) {
                None => {}
                Some((_, Some(zccache))) => {
                    args.push(compiler_override("CC", self.cc.as_deref(), "cc", zccache));
                    args.push(compiler_override(
                        "CXX",
                        self.cxx.as_deref(),
                        "c++",
                        zccache,
                    ));
                }
                Some((path, None)) => warnings.push(format!(
                    "compiler cache is off: the path of zccache is not UTF-8 ({})",
                    path.display()
                )),
            }
        }
        args.extend(self.args.targets.iter().cloned());
        (program, args, warnings)
    }
}

/// make's `-j` for zccache's: `-jN`, `-j` for unlimited; none when zccache
/// runs under a jobserver and was given no `-j`, so make joins it.
fn jobs_flag(jobs: Option<usize>, makeflags: Option<&str>) -> Option<String> {
    match jobs {
        Some(0) => Some("-j".to_string()),
        Some(n) => Some(format!("-j{n}")),
        None if makeflags.is_some_and(has_usable_jobserver) => None,
        None => Some(format!("-j{}", default_parallelism())),
    }
}

/// Whether MAKEFLAGS names a jobserver we can reach: a fifo
/// (`--jobserver-auth=fifo:PATH`, make 4.4) that exists, or inherited
/// descriptors (`--jobserver-auth=R,W`, older `--jobserver-fds=R,W`) that
/// are open. make does not pass its descriptors to recipes it does not
/// consider recursive, so they may be closed.
fn has_usable_jobserver(makeflags: &str) -> bool {
    // Variable assignments follow ` -- `; the last flag wins when a
    // sub-make appended its own.
    let flags = makeflags.split(" -- ").next().unwrap_or(makeflags);
    let Some(auth) = flags.split_whitespace().rev().find_map(|word| {
        word.strip_prefix("--jobserver-auth=")
            .or_else(|| word.strip_prefix("--jobserver-fds="))
    }) else {
        return false;
    };
    if let Some(fifo) = auth.strip_prefix("fifo:") {
        return Path::new(fifo).exists();
    }
    let Some((read, write)) = auth.split_once(',') else {
        return false;
    };
    [read, write]
        .iter()
        .all(|fd| fd.parse::<i32>().is_ok_and(|fd| fd >= 0 && fd_is_open(fd)))
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// `VAR=<zccache> <compiler>`: the compiler from the environment (else
/// `default`), unless it already starts with zccache.
fn compiler_override(
    var: &str,
    from_env: Option<&std::ffi::OsStr>,
    default: &str,
    zccache: &str,
) -> String {
    let compiler = from_env
        .and_then(|value| value.to_str())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(default);
    if names_zccache(compiler) {
        return format!("{var}={compiler}");
    }
    format!("{var}={} {compiler}", quote(zccache))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_args(project: &Project, args: &BuildArgs, makeflags: Option<&str>) -> Vec<String> {
        let plan = Plan {
            project,
            args,
            zccache: Some(Path::new("/opt/z cache/zccache")),
            makeflags,
            cc: Some("gcc-12 -m64".into()),
            cxx: None,
        };
        plan.command().1
    }

    #[test]
    fn plain_makefile_gets_compiler_overrides_and_jobs() {
        let args = BuildArgs {
            file: "build.ninja".into(),
            jobs: Some(2),
            keep_going: 1,
            targets: vec!["all".into(), "app/app".into()],
            ..BuildArgs::default()
        };
        assert_eq!(
            plan_args(&Project::Plain, &args, None),
            [
                "-j2",
                "CC='/opt/z cache/zccache' gcc-12 -m64",
                "CXX='/opt/z cache/zccache' c++",
                "all",
                "app/app"
            ]
        );
    }

    #[test]
    fn cmake_dir_gets_no_overrides() {
        let args = BuildArgs {
            jobs: Some(0),
            keep_going: 0,
            dry_run: true,
            quiet: true,
            verbose: true,
            load: Some(3.5),
            ..BuildArgs::default()
        };
        let project = Project::Cmake {
            launcher_on: false,
            make_program: None,
        };
        assert_eq!(
            plan_args(&project, &args, None),
            ["-j", "-k", "-l3.5", "-n", "-s", "VERBOSE=1"]
        );
    }

    #[test]
    fn default_jobs_unless_under_a_jobserver() {
        assert_eq!(
            jobs_flag(None, None),
            Some(format!("-j{}", default_parallelism()))
        );
        assert_eq!(
            jobs_flag(None, Some(" -j2 --jobserver-auth=fifo:/")),
            None,
            "an existing fifo is joined"
        );
        assert_eq!(
            jobs_flag(None, Some(" -j2 --jobserver-auth=fifo:/nonexistent/fifo")),
            Some(format!("-j{}", default_parallelism()))
        );
        // Descriptors 0 and 1 are open in the test process.
        assert_eq!(jobs_flag(None, Some("-j --jobserver-fds=0,1")), None);
        assert_eq!(
            jobs_flag(None, Some("s -- X=--jobserver-auth=0,1")),
            Some(format!("-j{}", default_parallelism()))
        );
        assert_eq!(
            jobs_flag(None, Some("-j --jobserver-auth=9999,9998")),
            Some(format!("-j{}", default_parallelism()))
        );
        assert_eq!(
            jobs_flag(None, Some("s -- CC=gcc")).as_deref(),
            Some(format!("-j{}", default_parallelism())).as_deref()
        );
        assert_eq!(
            jobs_flag(Some(4), Some("--jobserver-auth=0,1")),
            Some("-j4".into())
        );
    }

    #[test]
    fn compiler_already_behind_zccache_is_kept() {
        assert_eq!(
            compiler_override(
                "CC",
                Some("/usr/bin/zccache gcc".as_ref()),
                "cc",
                "/z/zccache"
            ),
            "CC=/usr/bin/zccache gcc"
        );
        assert_eq!(
            compiler_override("CC", Some("  ".as_ref()), "cc", "/z/zccache"),
            "CC=/z/zccache cc"
        );
    }

    #[test]
    fn reads_cmake_cache() {
        let text = "# comment\n//help\nCMAKE_GENERATOR:INTERNAL=Unix Makefiles\n\
                    CMAKE_C_COMPILER:FILEPATH=/usr/bin/cc\n\
                    CMAKE_CXX_COMPILER:STRING=/usr/bin/c++\n\
                    CMAKE_C_COMPILER_LAUNCHER:UNINITIALIZED=/x/zccache\n\
                    \"QUOTED:NAME\":STRING=a=b\n";
        let cache = parse_cmake_cache(text);
        assert_eq!(cache.get("CMAKE_GENERATOR"), Some(&"Unix Makefiles"));
        assert_eq!(cache.get("CMAKE_C_COMPILER"), Some(&"/usr/bin/cc"));
        assert!(!cmake_launcher_on(&cache), "C++ has no launcher");
        let with_cxx = format!("{text}CMAKE_CXX_COMPILER_LAUNCHER:STRING=zccache;--\n");
        assert!(cmake_launcher_on(&parse_cmake_cache(&with_cxx)));
        let c_only = "CMAKE_C_COMPILER:FILEPATH=/usr/bin/cc\n\
                      CMAKE_C_COMPILER_LAUNCHER:STRING=/x/zccache\n";
        assert!(cmake_launcher_on(&parse_cmake_cache(c_only)));
        let ccache = "CMAKE_C_COMPILER:FILEPATH=/usr/bin/cc\n\
                      CMAKE_C_COMPILER_LAUNCHER:STRING=/usr/bin/ccache\n";
        assert!(!cmake_launcher_on(&parse_cmake_cache(ccache)));
        assert!(!cmake_launcher_on(&parse_cmake_cache("")));
    }

    #[test]
    fn hint_is_one_cmake_command() {
        assert_eq!(
            cmake_hint(Path::new("/usr/bin/zccache"), Path::new("/b/my build")),
            "compiler cache is off here; turn it on with: cmake \
             -DCMAKE_C_COMPILER_LAUNCHER=/usr/bin/zccache \
             -DCMAKE_CXX_COMPILER_LAUNCHER=/usr/bin/zccache '/b/my build'"
        );
    }

    #[test]
    fn detects_projects() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        assert_eq!(makefile_in(dir), None);
        std::fs::write(dir.join("Makefile"), "all:\n").expect("write");
        assert_eq!(makefile_in(dir), Some(dir.join("Makefile")));
        assert_eq!(detect(dir), Project::Plain);
        std::fs::write(
            dir.join("CMakeCache.txt"),
            "CMAKE_GENERATOR:INTERNAL=Unix Makefiles\nCMAKE_MAKE_PROGRAM:FILEPATH=/nonexistent/make\n",
        )
        .expect("write");
        assert_eq!(
            detect(dir),
            Project::Cmake {
                launcher_on: false,
                make_program: None
            }
        );
        std::fs::write(
            dir.join("CMakeCache.txt"),
            "CMAKE_GENERATOR:INTERNAL=Ninja\n",
        )
        .expect("write");
        assert_eq!(detect(dir), Project::Plain);
    }
}
