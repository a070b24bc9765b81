//! End-to-end: compiles of one source whose arguments differ only in
//! preprocessor flags (a library built both static and shared, as zstd
//! does). When their preprocessed text is the same, one compile serves
//! both, in build mode (siblings found in the graph) and in launcher mode
//! (siblings found through the cache); when it is not, or when the object
//! records the macros themselves (-g3), both really compile. Every object
//! is compared with what gcc makes without zccache.

use crate::harness::*;
use std::fs;
use std::path::Path;
use std::process::Stdio;

/// A source whose preprocessed text ignores SHARED_BUILD unless `uses_macro`.
fn write_source(dir: &Path, uses_macro: bool) {
    let body = if uses_macro {
        "#ifdef SHARED_BUILD\nint shared_only = 1;\n#endif\n"
    } else {
        "#ifdef SOMETHING_ELSE\nint never;\n#endif\n"
    };
    fs::write(
        dir.join("lib.c"),
        format!("#include <string.h>\n{body}int lib_len(const char *s) {{ return (int)strlen(s) * 3; }}\n"),
    )
    .unwrap();
}

/// A build.ninja with the static and the shared compile of lib.c.
fn write_manifest(dir: &Path, flags: &str) {
    fs::write(
        dir.join("build.ninja"),
        format!(
            "rule cc\n  command = gcc {flags} $extra -MD -MF $out.d -c $in -o $out\n  \
             depfile = $out.d\n  deps = gcc\n\
             build static/lib.o: cc lib.c\n\
             build shared/lib.o: cc lib.c\n  extra = -DSHARED_BUILD\n"
        ),
    )
    .unwrap();
}

/// What gcc itself writes for `args`, compiled in `dir` to `reference.o`.
fn uncached_object(dir: &Path, args: &[&str]) -> Vec<u8> {
    let status = std::process::Command::new("gcc")
        .args(args)
        .args([
            "-MD",
            "-MF",
            "reference.d",
            "-c",
            "lib.c",
            "-o",
            "reference.o",
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = fs::read(dir.join("reference.o")).unwrap();
    fs::remove_file(dir.join("reference.o")).unwrap();
    bytes
}

fn split(flags: &str) -> Vec<&str> {
    flags.split_whitespace().collect()
}

/// Builds the pair with `zccache build`; returns (compiles run, compiles restored).
fn build_pair(flags: &str, uses_macro: bool) -> (i64, i64) {
    let temp = temp_dir();
    let dir = temp.path().join("proj");
    let env = Env::new(temp.path().join("cache"));
    fs::create_dir_all(&dir).unwrap();
    write_source(&dir, uses_macro);
    write_manifest(&dir, flags);
    let output = env
        .command(&dir, zccache_bin(), &["build", "-j2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let mut shared_flags = split(flags);
    assert_eq!(
        fs::read(dir.join("static/lib.o")).unwrap(),
        uncached_object(&dir, &shared_flags),
        "static object differs from gcc's"
    );
    shared_flags.push("-DSHARED_BUILD");
    assert_eq!(
        fs::read(dir.join("shared/lib.o")).unwrap(),
        uncached_object(&dir, &shared_flags),
        "shared object differs from gcc's"
    );
    let stats = env.stats();
    (stats.compile_misses(), stats.compile_hits())
}

#[test]
fn build_mode_compiles_a_static_and_shared_pair_once_when_the_text_is_the_same() {
    assert_eq!(build_pair("-O1", false), (1, 1));
}

#[test]
fn build_mode_compiles_both_when_the_macro_changes_the_text() {
    assert_eq!(build_pair("-O1", true), (2, 0));
}

#[test]
fn build_mode_compiles_both_when_the_object_records_macros() {
    assert_eq!(build_pair("-O1 -g3", false), (2, 0));
}

/// Starts the launcher's helper for `env` with one compile of another
/// source (a miss) and waits until it listens: siblings are paired by the
/// helper, which remembers the calls it served, never by what the cache
/// holds. Gives the helper's pid.
fn start_helper(dir: &Path, env: &Env, runtime: &Path) -> i32 {
    fs::write(dir.join("warm.c"), "int warm;\n").unwrap();
    let status = env
        .command(dir, zccache_bin(), &["gcc", "-c", "warm.c", "-o", "warm.o"])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let helper = fs::read_dir(runtime.join(format!("zccache-{}", unsafe { libc::getuid() })))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|e| e == "sock"))
            .and_then(|sock| fs::read_to_string(sock.with_extension("lock")).ok())
            .and_then(|pid| pid.trim().parse().ok());
        if let Some(pid) = helper {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the helper did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs the pair through the launcher, one after the other or both at once,
/// served by the helper (the warm-up compile is not counted).
fn launch_pair(flags: &str, uses_macro: bool, at_once: bool) -> (i64, i64) {
    let temp = temp_dir();
    let dir = temp.path().join("proj");
    let runtime = temp.path().join("cache.run");
    let env = Env::new(temp.path().join("cache")).with_runtime_dir(&runtime);
    fs::create_dir_all(&dir).unwrap();
    write_source(&dir, uses_macro);
    let helper = start_helper(&dir, &env, &runtime);
    let static_flags = split(flags);
    let mut shared_flags = static_flags.clone();
    shared_flags.push("-DSHARED_BUILD");
    let launch = |extra: &[&str], name: &str| {
        let mut args = vec!["gcc"];
        args.extend_from_slice(extra);
        let depfile = format!("{name}.d");
        let object = format!("{name}.o");
        args.extend(["-MD", "-MF", &depfile, "-c", "lib.c", "-o", &object]);
        env.command(&dir, zccache_bin(), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let finish = |child: std::process::Child| {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "launcher compile failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.stdout.is_empty() && output.stderr.is_empty());
    };
    if at_once {
        let first = launch(&static_flags, "static");
        let second = launch(&shared_flags, "shared");
        finish(first);
        finish(second);
    } else {
        finish(launch(&static_flags, "static"));
        finish(launch(&shared_flags, "shared"));
    }
    assert_eq!(
        fs::read(dir.join("static.o")).unwrap(),
        uncached_object(&dir, &static_flags),
        "static object differs from gcc's"
    );
    assert_eq!(
        fs::read(dir.join("shared.o")).unwrap(),
        uncached_object(&dir, &shared_flags),
        "shared object differs from gcc's"
    );
    // The restored depfile names the right object.
    let depfile = fs::read_to_string(dir.join("shared.d")).unwrap();
    assert!(depfile.starts_with("shared.o:"), "{depfile}");
    let stats = env.stats();
    // SAFETY: the pid of the helper this test started.
    unsafe { libc::kill(helper, libc::SIGKILL) };
    (stats.compile_misses() - 1, stats.compile_hits())
}

#[test]
fn a_sibling_named_by_the_cache_is_never_run() {
    // Before: the cache remembered the last compile of a group by its
    // arguments, and a later compile of the group ran them with -E. A
    // record planted by whoever can write the cache ran anything: here a
    // preprocessor output file of the planter's choosing. Without the
    // helper every call is alone, so nothing can name a sibling.
    let temp = temp_dir();
    let dir = temp.path().join("proj");
    let env = Env::new(temp.path().join("cache")).with("ZCCACHE_DAEMON", "0");
    fs::create_dir_all(&dir).unwrap();
    write_source(&dir, false);
    let pwned = dir.join("pwned");
    let plant = format!("-Wp,-o,{}", pwned.display());
    let launch = |args: &[&str]| env.command(&dir, zccache_bin(), args).output().unwrap();
    // The planting compile fails, but was remembered as it started.
    launch(&["gcc", "-O1", &plant, "-c", "lib.c", "-o", "lib.o"]);
    let _ = fs::remove_file(&pwned);
    // Every lock of the cache held, as anyone who can read it can.
    let held: Vec<fs::File> = fs::read_dir(env.cache.join("locks"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| fs::File::open(entry.path()).unwrap())
        .collect();
    for file in &held {
        file.lock_shared().unwrap();
    }
    let output = launch(&["gcc", "-O1", "-c", "lib.c", "-o", "lib.o"]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        !pwned.exists(),
        "a compile ran the arguments the cache named"
    );
    assert_eq!(
        fs::read(dir.join("lib.o")).unwrap(),
        uncached_object(&dir, &["-O1"])
    );
}

#[test]
fn the_launcher_restores_the_second_of_a_pair_from_the_first() {
    assert_eq!(launch_pair("-O1", false, false), (1, 1));
}

#[test]
fn the_launcher_compiles_both_when_the_macro_changes_the_text() {
    assert_eq!(launch_pair("-O1", true, false), (2, 0));
}

#[test]
fn the_launcher_compiles_both_when_the_object_records_macros() {
    assert_eq!(launch_pair("-O1 -g3", false, false), (2, 0));
}

#[test]
fn a_pair_launched_at_once_gives_the_objects_gcc_gives() {
    let (misses, hits) = launch_pair("-O1", false, true);
    assert_eq!(misses + hits, 2);
    let (misses, hits) = launch_pair("-O1", true, true);
    assert_eq!((misses, hits), (2, 0));
}
