//! End-to-end: launcher mode (`zccache gcc ...`, CMake's compiler launcher)
//! and masquerade (symlinks named like compilers) against real gcc, cmake,
//! make and ninja, each test with its own cache dir and a cleaned
//! environment.

use crate::harness::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Exit code, stdout and stderr as raw bytes, for exact comparisons.
#[derive(Debug, PartialEq)]
struct Raw {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }

    fn assert_success(&self, what: &str) -> &Self {
        assert_eq!(self.code, Some(0), "{what} failed:\n{}", self.text());
        self
    }
}

/// Runs compared byte for byte, in a test's [`Env`].
trait RawRuns {
    /// Runs `program args...` in `cwd`, `stdin` fed to it.
    fn run_with_stdin(
        &self,
        cwd: &Path,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        stdin: &[u8],
    ) -> Raw;
    fn run_raw(&self, cwd: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Raw;
    fn zccache_raw(&self, cwd: &Path, args: &[&str]) -> Raw {
        self.run_raw(cwd, zccache_bin(), args)
    }
}

impl RawRuns for Env {
    fn run_with_stdin(
        &self,
        cwd: &Path,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        stdin: &[u8],
    ) -> Raw {
        let mut child = self
            .command(cwd, program, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin).expect("write stdin");
        drop(input);
        let output = child.wait_with_output().expect("wait");
        Raw {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: output.stderr,
        }
    }

    fn run_raw(&self, cwd: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Raw {
        let output = self
            .command(cwd, program, args)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        Raw {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: output.stderr,
        }
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Objects, archives, shared libraries and executables under `dir`, outside
/// CMake's own configure checks.
fn build_products(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot_tree(dir)
        .into_iter()
        .filter(|(path, _)| {
            let checks = path.starts_with("CMakeFiles/")
                && path["CMakeFiles/".len()..].starts_with(|c: char| c.is_ascii_digit())
                || path.contains("CMakeScratch");
            if checks {
                return false;
            }
            let name = path.rsplit('/').next().unwrap_or(path);
            name.ends_with(".o")
                || name.ends_with(".a")
                || name.contains(".so")
                || fs::metadata(dir.join(path)).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        })
        .collect()
}

fn count_objects(products: &BTreeMap<String, Vec<u8>>) -> i64 {
    products.keys().filter(|p| p.ends_with(".o")).count() as i64
}

/// Configures examples/cmake-project in `build` with `generator` and the
/// launcher set, then builds it with `builder` (make or ninja).
fn configure_and_build(env: &Env, source: &Path, build: &Path, generator: &str, builder: &str) {
    let launcher = format!("-DCMAKE_C_COMPILER_LAUNCHER={}", s(&zccache_bin()));
    let cxx_launcher = format!("-DCMAKE_CXX_COMPILER_LAUNCHER={}", s(&zccache_bin()));
    env.run_raw(
        source.parent().expect("parent"),
        "cmake",
        &[
            "-G",
            generator,
            "-S",
            s(source),
            "-B",
            s(build),
            "-DCMAKE_BUILD_TYPE=Release",
            &launcher,
            &cxx_launcher,
        ],
    )
    .assert_success("cmake configure");
    let jobs = "-j2";
    env.run_raw(build, builder, &[jobs])
        .assert_success(&format!("{builder} build"));
}

/// A build dir hits every compile through CMake's compiler launcher, and
/// its products equal those of an uncached build.
fn launcher_build_hits_everywhere(generator: &str, builder: &str) {
    let root = tempfile::tempdir().expect("temp dir");
    let source = copy_example_project(root.path());
    let env = Env::new(root.path().join("cache"));
    configure_and_build(&env, &source, &root.path().join("A"), generator, builder);

    let b = root.path().join("B");
    let ((), delta) = env.counted(|| configure_and_build(&env, &source, &b, generator, builder));
    let products_b = build_products(&b);
    let compiles = count_objects(&products_b);
    assert!(compiles >= 6, "too few objects: {:?}", products_b.keys());
    assert_eq!(delta.get("compile_hits"), compiles, "every compile hits");
    assert_eq!(delta.get("compile_misses"), 0, "no compile misses");

    let uncached_env = Env::new(root.path().join("cache")).with("ZCCACHE_DISABLE", "1");
    let u = root.path().join("U");
    configure_and_build(&uncached_env, &source, &u, generator, builder);
    assert_same_files("cached B", &products_b, "uncached U", &build_products(&u));
}

#[test]
fn unix_makefiles_with_the_launcher_hit_and_equal_an_uncached_build() {
    launcher_build_hits_everywhere("Unix Makefiles", "make");
}

#[test]
fn ninja_with_the_launcher_hits_and_equals_an_uncached_build() {
    launcher_build_hits_everywhere("Ninja", "ninja");
}

const MAIN_C: &str = "#include <stdio.h>\nint twice(int x);\nint main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n";
const TWICE_C: &str = "int twice(int x) { return 2 * x; }\n";

fn small_project(dir: &Path) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(dir.join("main.c"), MAIN_C).expect("write");
    fs::write(dir.join("twice.c"), TWICE_C).expect("write");
}

#[test]
fn build_mode_and_launcher_share_entries_both_ways() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let manifest = "rule cc\n  command = gcc -c $in -o $out\nbuild main.o: cc main.c\n";

    // Launcher first, then build mode.
    let one = root.path().join("one");
    small_project(&one);
    fs::write(one.join("build.ninja"), manifest).expect("write");
    let ((), first) = env.counted(|| {
        env.zccache_raw(&one, &["gcc", "-c", "main.c", "-o", "main.o"])
            .assert_success("launcher compile");
    });
    assert_eq!(first.get("compile_misses"), 1);
    let object = fs::read(one.join("main.o")).expect("object");
    fs::remove_file(one.join("main.o")).expect("rm");
    let ((), second) = env.counted(|| {
        env.zccache_raw(&one, &["build", "-C", s(&one)])
            .assert_success("zccache build");
    });
    assert_eq!(
        second.get("compile_hits"),
        1,
        "build mode hits the launcher's entry"
    );
    assert_eq!(fs::read(one.join("main.o")).expect("object"), object);

    // Build mode first, then the launcher (another source, so a new entry).
    let two = root.path().join("two");
    small_project(&two);
    fs::write(two.join("main.c"), MAIN_C.replace("21", "22")).expect("write");
    fs::write(two.join("build.ninja"), manifest).expect("write");
    let ((), third) = env.counted(|| {
        env.zccache_raw(&two, &["build", "-C", s(&two)])
            .assert_success("zccache build");
    });
    assert_eq!(third.get("compile_misses"), 1);
    let object = fs::read(two.join("main.o")).expect("object");
    fs::remove_file(two.join("main.o")).expect("rm");
    let ((), fourth) = env.counted(|| {
        env.zccache_raw(&two, &["gcc", "-c", "main.c", "-o", "main.o"])
            .assert_success("launcher compile");
    });
    assert_eq!(
        fourth.get("compile_hits"),
        1,
        "the launcher hits build mode's entry"
    );
    assert_eq!(fs::read(two.join("main.o")).expect("object"), object);
}

#[test]
fn archives_and_links_through_the_launcher_are_cached() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let dir = root.path().join("p");
    small_project(&dir);
    let steps = |env: &Env| {
        for (source, object) in [("main.c", "main.o"), ("twice.c", "twice.o")] {
            env.zccache_raw(&dir, &["gcc", "-c", source, "-o", object])
                .assert_success("compile");
        }
        env.zccache_raw(&dir, &["ar", "qc", "libtwice.a", "twice.o"])
            .assert_success("archive");
        env.zccache_raw(&dir, &["gcc", "-o", "app", "main.o", "libtwice.a"])
            .assert_success("link");
    };
    steps(&env);
    let app = fs::read(dir.join("app")).expect("app");
    for name in ["main.o", "twice.o", "libtwice.a", "app"] {
        fs::remove_file(dir.join(name)).expect("rm");
    }
    let ((), delta) = env.counted(|| steps(&env));
    assert_eq!(delta.get("compile_hits"), 2);
    assert_eq!(delta.get("archive_hits"), 1);
    assert_eq!(delta.get("link_hits"), 1);
    assert_eq!(fs::read(dir.join("app")).expect("app"), app);
    let out = env.run_raw(&dir, dir.join("app"), &[]);
    out.assert_success("app");
    assert_eq!(out.stdout, b"42\n");
}

/// A dir of symlinks named `names` pointing at zccache.
fn masquerade_dir(dir: &Path, names: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).expect("mkdir");
    for name in names {
        std::os::unix::fs::symlink(zccache_bin(), dir.join(name)).expect("symlink");
    }
    dir.to_path_buf()
}

#[test]
fn masquerade_symlinks_cache_and_never_recurse() {
    let root = tempfile::tempdir().expect("temp dir");
    let first = masquerade_dir(&root.path().join("m1"), &["gcc", "cc"]);
    let second = masquerade_dir(&root.path().join("m2"), &["gcc", "cc"]);
    let dir = root.path().join("p");
    small_project(&dir);

    for (label, dirs) in [
        ("one dir", vec![first.as_path()]),
        ("two dirs", vec![&first, &second]),
    ] {
        let env =
            Env::new(root.path().join(format!("cache-{}", dirs.len()))).with_path_first(&dirs);
        let ((), miss) = env.counted(|| {
            env.run_raw(&dir, "gcc", &["-c", "twice.c", "-o", "twice.o"])
                .assert_success(label);
        });
        assert_eq!(miss.get("compile_misses"), 1, "{label}");
        fs::remove_file(dir.join("twice.o")).expect("rm");
        let ((), hit) = env.counted(|| {
            env.run_raw(&dir, "gcc", &["-c", "twice.c", "-o", "twice.o"])
                .assert_success(label);
            env.run_raw(&dir, "cc", &["-c", "twice.c", "-o", "twice.o"])
                .assert_success(label);
        });
        assert_eq!(hit.get("compile_hits"), 2, "{label}");
        // The launcher's PATH search also passes over the symlinks.
        let ((), launched) = env.counted(|| {
            env.zccache_raw(&dir, &["gcc", "-c", "twice.c", "-o", "twice.o"])
                .assert_success(label);
        });
        assert_eq!(launched.get("compile_hits"), 1, "{label}");
        // Uncacheable calls reach the real compiler too.
        let version = env.run_raw(&dir, "gcc", &["--version"]);
        version.assert_success(label);
        assert_eq!(
            version.stdout,
            env.run_raw(&dir, "/usr/bin/gcc", &["--version"]).stdout
        );
    }

    // Only masquerade dirs in PATH: a clear error, not a loop.
    let env = Env::new(root.path().join("cache-alone"))
        .with("PATH", format!("{}:{}", s(&first), s(&second)));
    let out = env.run_raw(&dir, first.join("gcc"), &["-c", "twice.c"]);
    assert_eq!(out.code, Some(127), "{}", out.text());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no real gcc found in PATH after the zccache masquerade"),
        "{}",
        out.text()
    );
}

#[test]
fn the_launcher_never_launches_itself() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let dir = root.path().join("p");
    small_project(&dir);
    let me = zccache_bin();
    env.zccache_raw(&dir, &[s(&me), "gcc", "-c", "twice.c", "-o", "twice.o"])
        .assert_success("zccache zccache gcc");
    env.zccache_raw(&dir, &["--", s(&me), "--", "gcc", "-c", "twice.c"])
        .assert_success("zccache -- zccache -- gcc");
    assert!(dir.join("twice.o").is_file());
}

#[test]
fn uncacheable_calls_behave_exactly_like_the_compiler() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let dir = root.path().join("p");
    small_project(&dir);
    let zccache = zccache_bin();
    for args in [
        vec!["-E", "main.c"],
        vec!["--version"],
        vec!["-c", "missing.c", "-o", "missing.o"],
        vec!["-c"],
    ] {
        let mut launched = vec!["gcc"];
        launched.extend_from_slice(&args);
        let ours = env.zccache_raw(&dir, &launched);
        let real = env.run_raw(&dir, "gcc", &args);
        assert_eq!(
            ours,
            real,
            "gcc {args:?}:\n{}\nvs\n{}",
            ours.text(),
            real.text()
        );
    }
    let args = ["-x", "c", "-c", "-", "-o", "s.o"];
    let ours = env.run_with_stdin(&dir, &zccache, &[&["gcc"][..], &args].concat(), b"int x;\n");
    ours.assert_success("stdin compile");
    let ours_object = fs::read(dir.join("s.o")).expect("s.o");
    let real = env.run_with_stdin(&dir, "gcc", &args, b"int x;\n");
    assert_eq!(ours, real);
    assert_eq!(ours_object, fs::read(dir.join("s.o")).expect("s.o"));
}

#[test]
fn a_failing_compile_prints_the_error_and_exits_1() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let dir = root.path().join("p");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("bad.c"), "int f(void) { return nope; }\n").expect("write");
    let ours = env.zccache_raw(&dir, &["gcc", "-c", "bad.c", "-o", "bad.o"]);
    let real = env.run_raw(&dir, "gcc", &["-c", "bad.c", "-o", "bad.o"]);
    assert_eq!(ours.code, Some(1), "{}", ours.text());
    assert!(
        String::from_utf8_lossy(&ours.stderr).contains("error: 'nope' undeclared")
            || String::from_utf8_lossy(&ours.stderr).contains("nope"),
        "{}",
        ours.text()
    );
    assert_eq!(ours, real, "{}\nvs\n{}", ours.text(), real.text());
    assert!(!dir.join("bad.o").exists());
}

#[test]
fn a_program_that_does_not_exist_is_exit_127() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let out = env.zccache_raw(root.path(), &["no-such-compiler-here", "-c", "x.c"]);
    assert_eq!(out.code, Some(127), "{}", out.text());
}

#[test]
fn clang_by_absolute_path_is_cached() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let dir = root.path().join("p");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(
        dir.join("a.cpp"),
        "#include <string>\nstd::string f() { return \"hi\"; }\n",
    )
    .expect("write");
    let compile = ["/usr/bin/clang++", "-O1", "-c", "a.cpp", "-o", "a.o"];
    let ((), miss) = env.counted(|| {
        env.zccache_raw(&dir, &compile)
            .assert_success("clang++ miss");
    });
    assert_eq!(miss.get("compile_misses"), 1);
    let object = fs::read(dir.join("a.o")).expect("object");
    fs::remove_file(dir.join("a.o")).expect("rm");
    let ((), hit) = env.counted(|| {
        env.zccache_raw(&dir, &compile)
            .assert_success("clang++ hit");
    });
    assert_eq!(hit.get("compile_hits"), 1);
    assert_eq!(fs::read(dir.join("a.o")).expect("object"), object);
}

#[test]
fn make_with_cc_set_to_the_launcher_hits_from_clean() {
    let root = tempfile::tempdir().expect("temp dir");
    let env = Env::new(root.path().join("cache"));
    let dir = root.path().join("p");
    small_project(&dir);
    fs::write(
        dir.join("Makefile"),
        "app: main.o libtwice.a\n\t$(CC) -o $@ main.o libtwice.a\n\
         libtwice.a: twice.o\n\t$(AR) qc $@ twice.o\n\
         %.o: %.c\n\t$(CC) -O2 -c $< -o $@\n\
         clean:\n\trm -f app *.o *.a\n",
    )
    .expect("write");
    let cc = format!("CC={} gcc", s(&zccache_bin()));
    let ar = format!("AR={} ar", s(&zccache_bin()));
    env.run_raw(&dir, "make", &[&cc, &ar])
        .assert_success("make");
    let app = fs::read(dir.join("app")).expect("app");
    env.run_raw(&dir, "make", &["clean"])
        .assert_success("make clean");
    let ((), delta) = env.counted(|| {
        env.run_raw(&dir, "make", &[&cc, &ar])
            .assert_success("make again");
    });
    assert_eq!(delta.get("compile_hits"), 2);
    assert_eq!(delta.get("compile_misses"), 0);
    assert_eq!(delta.get("archive_hits"), 1);
    assert_eq!(delta.get("link_hits"), 1);
    assert_eq!(fs::read(dir.join("app")).expect("app"), app);
}

#[test]
fn masquerade_by_hardlink_works_and_by_copies_stops_with_an_error() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("p");
    small_project(&dir);

    // Hardlinks (same file, another name) are recognized as zccache itself.
    let linked = root.path().join("linked");
    fs::create_dir_all(&linked).expect("mkdir");
    let bin = root.path().join("bin");
    fs::create_dir_all(&bin).expect("mkdir");
    fs::copy(zccache_bin(), bin.join("zccache")).expect("copy");
    if fs::hard_link(bin.join("zccache"), linked.join("gcc")).is_ok() {
        let env = Env::new(root.path().join("cache-h")).with_path_first(&[&linked, &linked]);
        env.run_raw(&dir, "gcc", &["-c", "twice.c", "-o", "twice.o"])
            .assert_success("hardlink masquerade");
    }

    // Two dirs holding copies launch each other: a clear error, no loop.
    let m1 = root.path().join("c1");
    let m2 = root.path().join("c2");
    for m in [&m1, &m2] {
        fs::create_dir_all(m).expect("mkdir");
        fs::copy(zccache_bin(), m.join("gcc")).expect("copy");
    }
    let env = Env::new(root.path().join("cache-c")).with_path_first(&[&m1, &m2]);
    let out = env.run_raw(&dir, "gcc", &["-c", "twice.c", "-o", "twice.o"]);
    assert_eq!(out.code, Some(127), "{}", out.text());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another copy of zccache"),
        "{}",
        out.text()
    );
}
