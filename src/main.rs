//! The `zccache` command line. Parsing only; the work is in the library.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use zccache::{Admin, BuildArgs, Flavor, launch};

/// The static musl build is the fast one for launcher calls: it reaches
/// `main` about 0.25 ms sooner than a static glibc one (no CPU and cache
/// probing at start-up, each `cpuid` trapping to the hypervisor in a VM).
/// With musl's own allocator, `zccache build` took 25-35% longer than the
/// glibc build to find 10,000 steps up to date; dlmalloc costs nothing at
/// start-up and brings that to 2-8% (and loading the manifest to 15%).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[derive(Parser)]
#[command(
    name = "zccache",
    version,
    about = "A build executor that replaces ninja, with a compiler cache shared by every build dir",
    long_about = "zccache reads build.ninja (CMake, Meson or hand-written) and builds it like \
                  ninja, deciding what is out of date by the content of inputs rather than their \
                  mtimes. A build dir can be switched between ninja and zccache at any time.\n\n\
                  Compile, archive and link steps go through a compiler cache: when the same \
                  step (same tool, arguments and content of everything it reads) was built \
                  before, in any build dir, its outputs are restored instead of running the \
                  tool. See `zccache stats` for what it did and README.md for its settings.\n\n\
                  A symlink named `ninja` pointing at zccache behaves as ninja's command line, \
                  so CMake can use it through CMAKE_MAKE_PROGRAM.",
    after_help = "Launcher mode:\n  \
        zccache COMPILER ARGS...      run one compile, archive or link through the cache\n  \
        zccache -- COMPILER ARGS...   the same, for a program named like a subcommand\n\n\
        The first argument is a subcommand only when it is exactly one of build, stats, gc, \
        clear, help, warm or watch; any other word is a program to run through the cache \
        (`zccache gcc -c a.c -o a.o`, `zccache /usr/bin/clang++ ...`, `zccache ar qc libx.a a.o`). \
        Use it as CMAKE_C_COMPILER_LAUNCHER=zccache / CMAKE_CXX_COMPILER_LAUNCHER=zccache, or \
        CC=\"zccache gcc\" CXX=\"zccache g++\" for Make. Calls the cache cannot serve \
        (-E, --version, stdin sources, ...) become the real tool, with its exact output and \
        exit status.\n\n\
        Masquerade: a symlink named gcc, g++, cc, c++, clang or clang++ (also prefixed or \
        versioned, e.g. x86_64-linux-gnu-gcc-12) pointing at zccache, early in PATH, runs the \
        real compiler of that name found later in PATH through the cache."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build targets from build.ninja, like `ninja` (see `zccache build --help`)
    Build(NinjaFlags),
    /// Build, then rebuild whenever a source, header or CMakeLists.txt changes
    #[command(
        long_about = "Build like `zccache build`, then stay up: every file the build reads that \
                      no step writes (sources, the headers the compiler reported, CMakeLists.txt \
                      and the other inputs of CMake's re-run, a hand-written build.ninja) is \
                      watched, and after each burst of changes only what they affect is rebuilt. \
                      Each round ends with one line: `[watch] 3 run, 1 from cache, 0.42 s (...)`, \
                      or `[watch] FAILED: <output>` after the failing step's output. A failing \
                      build keeps watch running; the next save retries.\n\n\
                      The graph and file hashes stay in memory between rounds, and the build \
                      dir stays locked (a `zccache build` in it waits). Where a directory \
                      cannot be watched (inotify's limit reached) watch says so and polls every \
                      500 ms; ZCCACHE_WATCH_POLL=1 forces polling (network file systems, whose \
                      remote changes inotify does not see).\n\n\
                      Ctrl-C, SIGTERM or SIGHUP while waiting stops watch with the state saved \
                      and exit status 0; during a round they interrupt it as they would a build \
                      (state saved, exit status 130).",
        after_help = "Examples:\n  \
            zccache watch -C build/            rebuild the default targets on every change\n  \
            zccache watch -C build/ app tests  keep only these targets up to date"
    )]
    Watch(WatchFlags),
    /// Show compiler cache statistics: hits, misses and why, size used
    #[command(
        long_about = "Show compiler cache statistics: hits and misses per kind of step (compile, \
                      archive, link) with the hit rate, misses and uncacheable calls by reason, \
                      errors, the size used against the limit, and the bytes and time saved. \
                      Counters accumulate across builds until reset with --zero.\n\n\
                      The cache dir is $ZCCACHE_DIR, else $XDG_CACHE_HOME/zccache, else \
                      ~/.cache/zccache; settings come from zccache.toml in the cache dir, else \
                      ~/.config/zccache/zccache.toml, overridden by ZCCACHE_* variables."
    )]
    Stats {
        /// Print one flat JSON object of integer counters, for scripts
        #[arg(long)]
        json: bool,
        /// Reset the counters to zero (the cache contents stay)
        #[arg(long)]
        zero: bool,
    },
    /// Evict least recently used cache entries until the cache fits its size limit
    #[command(
        long_about = "Evict least recently used cache entries (by last use) until the cache \
                      takes at most 90% of max_size (zccache.toml or ZCCACHE_MAX_SIZE, default \
                      10 GiB), and remove temp files left by killed processes. This also happens \
                      automatically after builds; run it by hand after lowering the limit."
    )]
    Gc,
    /// Remove every entry from the compiler cache (settings and counters stay)
    #[command(
        long_about = "Remove every entry from the compiler cache: the next build compiles \
                      everything for real. zccache.toml and the statistics counters are kept \
                      (reset counters with `zccache stats --zero`)."
    )]
    Clear,
    /// Say what the next build will do, computing every cache key without building
    #[command(
        long_about = "Say what the next `zccache build` will do, without building anything: \
                      every input is hashed (in parallel) and the cache key of every compile, \
                      archive and link step computed, then looked up in the cache. Compiles are \
                      keyed from their source and the headers the cache recorded for them, so \
                      this works in a fresh build dir; archives and links take the content of \
                      objects not built yet from the cache entries of the steps that make them.\n\n\
                      Prints the steps that will run with their reasons and a summary such as \
                      `412 steps: 398 from cache, 14 to run (12 new sources, 2 changed headers), \
                      3 other, 0 up to date`: `other` are steps the cache does not handle \
                      (custom commands, CMake's re-run) that will run; `up to date` are steps \
                      this build dir already has. The hashes stay in the build dir's state, so \
                      the build that follows does not hash again. No step runs and nothing is \
                      compiled or preprocessed (a compiler new to the cache is asked once for \
                      its identity, as a build would), no output is written, the cache \
                      statistics do not change; the exit status is 0.\n\n\
                      Reads build.ninja (or -f FILE); in a dir with only compile_commands.json, \
                      each of its entries is one compile.",
        after_help = "Examples:\n  \
            zccache warm -C build/          summary and the steps that will run\n  \
            zccache warm -C build/ --json   the same as one JSON object (fields in README.md)"
    )]
    Warm {
        /// Change to DIR before doing anything else
        #[arg(short = 'C', value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Build file to read
        #[arg(short = 'f', value_name = "FILE", default_value = "build.ninja")]
        file: PathBuf,
        /// Print one JSON object with the counts and the steps to run
        #[arg(long)]
        json: bool,
        /// Targets the build would build (default: the manifest's defaults)
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,
    },
}

#[derive(Args, Debug)]
#[command(
    disable_version_flag = true,
    after_help = "Examples:\n  \
        zccache build -C build/               build the default targets in build/\n  \
        zccache build -C build/ -d explain    also say why each step runs\n  \
        zccache build -C build/ ../src/a.c^   build the object made from ../src/a.c\n  \
        zccache build -C build/ -t compdb     print a compilation database\n\n\
        State lives in .zccache_state next to .ninja_log (under `builddir`); \
        .ninja_log and .ninja_deps stay valid, so plain ninja finds no work after zccache."
)]
struct NinjaFlags {
    #[command(flatten)]
    manifest: ManifestFlags,
    /// Keep going until N jobs fail (0 means infinity)
    #[arg(short = 'k', value_name = "N", default_value_t = 1)]
    keep_going: usize,
    /// Do not start new jobs while the load average is at least N
    #[arg(short = 'l', value_name = "N")]
    load: Option<f64>,
    /// Dry run: show what would run, without running it
    #[arg(short = 'n')]
    dry_run: bool,
    /// Show every command line while building
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Show no status lines, only step output and errors
    #[arg(long = "quiet")]
    quiet: bool,
    /// Debugging: explain (why each step runs), stats, keepdepfile, keeprsp; `-d list` lists them
    #[arg(short = 'd', value_name = "MODE")]
    debug: Vec<String>,
    /// Warning flags as in ninja: dupbuild=err|warn, phonycycle=err|warn; `-w list` lists them
    #[arg(short = 'w', value_name = "FLAG")]
    warnings: Vec<String>,
    /// Run a subtool (`-t list` lists them); arguments after it go to the tool
    #[arg(short = 't', value_name = "TOOL")]
    tool: Option<String>,
    /// Targets to build (default: the manifest's defaults, else every root output)
    #[arg(value_name = "TARGET", allow_hyphen_values = false)]
    targets: Vec<String>,
}

/// The manifest to read and how many jobs to run, for build and watch.
#[derive(Args, Debug)]
struct ManifestFlags {
    /// Change to DIR before doing anything else
    #[arg(short = 'C', value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Build file to read
    #[arg(short = 'f', value_name = "FILE", default_value = "build.ninja")]
    file: PathBuf,
    /// Run N jobs in parallel (0 means unlimited) [default: CPUs + 2]
    #[arg(short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

#[derive(Args, Debug)]
struct WatchFlags {
    #[command(flatten)]
    manifest: ManifestFlags,
    /// Show every command line while building
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Show no status lines, only step output, errors and watch's summaries
    #[arg(long = "quiet")]
    quiet: bool,
    /// Targets to keep up to date (default: the manifest's defaults, else every root output)
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
}

/// Ninja passes everything after `-t TOOL` to the tool, including
/// flags of its own (`-t clean -g`), so split those off before clap sees them.
fn split_tool_args(args: Vec<OsString>) -> (Vec<OsString>, Vec<String>) {
    let mut front = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy().to_string();
        if text == "-t" {
            front.push(arg);
            if let Some(tool) = iter.next() {
                front.push(tool);
            }
            return (
                front,
                iter.map(|a| a.to_string_lossy().to_string()).collect(),
            );
        }
        if text.starts_with("-t") && text.len() > 2 {
            front.push(arg);
            return (
                front,
                iter.map(|a| a.to_string_lossy().to_string()).collect(),
            );
        }
        if text == "--" {
            front.push(arg);
            front.extend(iter);
            return (front, Vec::new());
        }
        front.push(arg);
    }
    (front, Vec::new())
}

fn to_build_args(flags: NinjaFlags, tool_args: Vec<String>) -> BuildArgs {
    BuildArgs {
        dir: flags.manifest.dir,
        file: flags.manifest.file,
        jobs: flags.manifest.jobs,
        keep_going: flags.keep_going,
        load: flags.load,
        dry_run: flags.dry_run,
        verbose: flags.verbose,
        quiet: flags.quiet,
        debug: flags.debug,
        warnings: flags.warnings,
        tool: flags.tool,
        tool_args,
        targets: flags.targets,
    }
}

/// In ninja mode the command line is ninja's: no `build` word.
#[derive(Parser)]
#[command(name = "ninja", disable_version_flag = true)]
struct NinjaCli {
    /// Print the ninja version this build tool is compatible with
    #[arg(long = "version")]
    version: bool,
    #[command(flatten)]
    flags: NinjaFlags,
}

fn invoked_as_ninja() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .is_some_and(|name| name == "ninja" || name == "ninja.exe")
}

fn main() -> ExitCode {
    zccache::apply_unset_env();
    zccache::umask::init();
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() == 2 && args[1] == launch::SERVE_ARG {
        return exit_code(launch::serve());
    }
    zccache::anchor_cache_dir();
    if !invoked_as_ninja()
        && let Some(launch) = launch::request(&args)
    {
        return exit_code(launch::run(launch));
    }
    let (front, tool_args) = split_tool_args(args);
    if invoked_as_ninja() {
        let cli = NinjaCli::parse_from(front);
        if cli.version {
            println!("{}", zccache::NINJA_VERSION);
            return ExitCode::SUCCESS;
        }
        let build_args = to_build_args(cli.flags, tool_args);
        return exit_code(zccache::build(Flavor::Ninja, build_args));
    }
    let code = match Cli::parse_from(front).command {
        Command::Build(flags) => zccache::build(Flavor::Zccache, to_build_args(flags, tool_args)),
        Command::Watch(flags) => zccache::watch(zccache::WatchArgs {
            dir: flags.manifest.dir,
            file: flags.manifest.file,
            jobs: flags.manifest.jobs,
            verbose: flags.verbose,
            quiet: flags.quiet,
            targets: flags.targets,
        }),
        Command::Stats { json, zero } => {
            // Hits served by a helper are counted once it writes them.
            launch::flush_helpers();
            zccache::admin(Admin::Stats { json, zero })
        }
        Command::Gc => zccache::admin(Admin::Gc),
        Command::Clear => zccache::admin(Admin::Clear),
        Command::Warm {
            dir,
            file,
            json,
            targets,
        } => zccache::warm(&zccache::WarmArgs {
            dir,
            file,
            json,
            targets,
        }),
    };
    exit_code(code)
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}
