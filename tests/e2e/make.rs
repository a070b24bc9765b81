//! End-to-end: `zccache build -C DIR` on Make projects (a makefile and no
//! build.ninja): a plain Makefile project (tests/fixtures/make-project), a
//! CMake "Unix Makefiles" build dir of examples/cmake-project, and small
//! test-only Makefiles that show what reaches make (`-j`, the jobserver,
//! the exit code).
//! Compiles go through launcher mode (`zccache COMPILER ARGS`); the command
//! line make gets is also checked on its own through `make -n`.

use crate::harness::*;
use std::path::{Path, PathBuf};

/// Copies tests/fixtures/make-project into `parent` and returns the copy.
fn copy_make_fixture(parent: &Path) -> PathBuf {
    let destination = parent.join("make-project");
    copy_dir_recursive(
        &repo_root().join("tests/fixtures/make-project"),
        &destination,
    );
    destination
}

/// The lines of a recipe's `echo "MAKEFLAGS=$(MAKEFLAGS)"`.
fn makeflags_lines(output: &Output) -> Vec<String> {
    output
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("MAKEFLAGS="))
        .map(str::to_string)
        .collect()
}

const HINT: &str = "compiler cache is off here; turn it on with: cmake";

#[test]
fn plain_makefile_gets_zccache_in_front_of_the_compilers() {
    let temp = temp_dir();
    let project = copy_make_fixture(temp.path());
    let output = zccache_build(&project, &["-C", path_str(&project), "-n"]);
    output.assert_success();
    let zccache = zccache_bin();
    let expected = format!(
        "{} cc -Iinclude -O2 -Wall -c lib/add.c -o lib/add.o",
        zccache.display()
    );
    assert!(
        output.stdout.lines().any(|line| line == expected),
        "no `{expected}` in\n{}",
        output.describe()
    );
    assert!(
        output.stdout.contains(&format!(
            "{} cc -Iinclude -O2 -Wall -c app/main.c",
            zccache.display()
        )),
        "{}",
        output.describe()
    );
    assert!(
        output.stdout.contains("ar rcs lib/libutil.a"),
        "{}",
        output.describe()
    );
    assert!(!project.join("app/app").exists(), "-n ran the build");
}

#[test]
fn compilers_from_the_environment_are_kept() {
    let temp = temp_dir();
    let project = copy_make_fixture(temp.path());
    let output = std::process::Command::new(zccache_bin())
        .args(["build", "-C", path_str(&project), "-n"])
        .env("CC", "gcc -m64")
        .env_remove("MAKEFLAGS")
        .output()
        .expect("run zccache");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{} gcc -m64 -Iinclude -O2 -Wall -c lib/mul.c -o lib/mul.o",
            zccache_bin().display()
        )),
        "{stdout}"
    );
}

#[test]

fn plain_makefile_project_builds_and_runs() {
    let temp = temp_dir();
    let project = copy_make_fixture(temp.path());
    let env = Env::new(temp.path().join("cache"));
    let build = |extra: &[&str]| {
        env.build(&project, extra).assert_success();
    };
    let compile_counts = || {
        let stats = env.stats();
        (stats.compile_hits(), stats.compile_misses())
    };
    build(&[]);
    let run = run_in(&project, project.join("app/app"), &[]);
    run.assert_success();
    assert_eq!(run.stdout, "hello from libutil: 2+3=5 4*5=20\n");
    let first_app = std::fs::read(project.join("app/app")).unwrap();
    assert_eq!(
        compile_counts(),
        (0, 4),
        "a cold build compiles all 4 sources"
    );

    // From clean, every compile is restored and the program is the same.
    run_in(&project, "make", &["clean"]).assert_success();
    assert!(!project.join("app/app").exists());
    build(&["app/app"]);
    assert_eq!(
        compile_counts(),
        (4, 4),
        "the second build hits every compile"
    );
    assert_eq!(std::fs::read(project.join("app/app")).unwrap(), first_app);
}

/// Configures examples/cmake-project with the Unix Makefiles generator.
fn configure_makefiles(temp: &Path, extra: &[&str]) -> PathBuf {
    let source = copy_example_project(temp);
    let build = temp.join("build");
    let mut args = vec![
        "-G",
        "Unix Makefiles",
        "-S",
        path_str(&source),
        "-B",
        path_str(&build),
        "-DCMAKE_BUILD_TYPE=Release",
    ];
    args.extend_from_slice(extra);
    run_in(temp, "cmake", &args).assert_success();
    build
}

#[test]
fn cmake_makefiles_dir_without_launcher_prints_the_hint_and_builds() {
    let temp = temp_dir();
    let build = configure_makefiles(temp.path(), &[]);
    let output = zccache_build(&build, &["-C", path_str(&build), "-j2"]);
    output.assert_success();
    let zccache = zccache_bin();
    let hint = format!(
        "zccache: {HINT} -DCMAKE_C_COMPILER_LAUNCHER={z} -DCMAKE_CXX_COMPILER_LAUNCHER={z} {dir}",
        z = zccache.display(),
        dir = build.display()
    );
    let hints: Vec<&str> = output
        .stdout
        .lines()
        .filter(|line| line.contains(HINT))
        .collect();
    assert_eq!(hints, [hint.as_str()], "{}", output.describe());
    // Something was built by make: CMake's progress lines and an archive.
    assert!(
        output.stdout.contains("Built target"),
        "{}",
        output.describe()
    );
    let archives: Vec<_> = walk(&build)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "a"))
        .collect();
    assert!(!archives.is_empty(), "no archive in {}", build.display());
}

#[test]
fn cmake_makefiles_dir_with_launcher_prints_no_hint() {
    let temp = temp_dir();
    let launcher = format!("-DCMAKE_C_COMPILER_LAUNCHER={}", zccache_bin().display());
    let cxx_launcher = format!("-DCMAKE_CXX_COMPILER_LAUNCHER={}", zccache_bin().display());
    let build = configure_makefiles(temp.path(), &[&launcher, &cxx_launcher]);
    // A target without compiles: without launcher mode the compiles
    // themselves cannot run yet.
    let output = zccache_build(&build, &["-C", path_str(&build), "generate_headers"]);
    output.assert_success();
    assert!(
        output.stdout.contains("Built target generate_headers"),
        "{}",
        output.describe()
    );
    assert!(!output.combined().contains(HINT), "{}", output.describe());
}

#[test]

fn cmake_makefiles_dir_with_launcher_builds() {
    let temp = temp_dir();
    let launcher = format!("-DCMAKE_C_COMPILER_LAUNCHER={}", zccache_bin().display());
    let cxx_launcher = format!("-DCMAKE_CXX_COMPILER_LAUNCHER={}", zccache_bin().display());
    let build = configure_makefiles(temp.path(), &[&launcher, &cxx_launcher]);
    let output = zccache_build(&build, &["-C", path_str(&build)]);
    output.assert_success();
    assert!(!output.combined().contains(HINT), "{}", output.describe());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A Makefile whose default target prints make's MAKEFLAGS.
const ECHO_MAKEFLAGS: &str = "all:\n\t@echo \"MAKEFLAGS=$(MAKEFLAGS)\"\n";

#[test]
fn jobs_reach_make() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(dir, &[("Makefile", ECHO_MAKEFLAGS)]);
    let output = zccache_build(dir, &["-C", path_str(dir), "-j2"]);
    output.assert_success();
    let flags = makeflags_lines(&output);
    assert_eq!(flags.len(), 1, "{}", output.describe());
    assert!(
        flags[0].split_whitespace().any(|word| word == "-j2"),
        "{}",
        output.describe()
    );
    assert!(
        flags[0].contains("--jobserver-auth="),
        "{}",
        output.describe()
    );

    // Without -j: zccache's default parallelism, still a jobserver.
    let output = zccache_build(dir, &["-C", path_str(dir)]);
    output.assert_success();
    let flags = makeflags_lines(&output);
    assert!(
        flags[0]
            .split_whitespace()
            .any(|word| word.starts_with("-j") && word.len() > 2),
        "{}",
        output.describe()
    );
}

#[test]
fn joins_the_jobserver_of_the_make_that_runs_it() {
    let temp = temp_dir();
    let dir = temp.path();
    let outer = format!(
        "all:\n\t@echo \"MAKEFLAGS=$(MAKEFLAGS)\"\n\t+@{} build -C inner\n",
        zccache_bin().display()
    );
    write_files(
        dir,
        &[
            ("Makefile", outer.as_str()),
            ("inner/Makefile", ECHO_MAKEFLAGS),
        ],
    );
    let output = run_in(dir, "make", &["-s", "-j3"]);
    output.assert_success();
    let flags = makeflags_lines(&output);
    assert_eq!(flags.len(), 2, "{}", output.describe());
    let auth = |flags: &str| {
        flags
            .split_whitespace()
            .find(|word| word.starts_with("--jobserver-auth="))
            .map(str::to_string)
    };
    assert!(auth(&flags[0]).is_some(), "{}", output.describe());
    assert_eq!(auth(&flags[0]), auth(&flags[1]), "{}", output.describe());
    assert!(
        flags[1].split_whitespace().any(|word| word == "-j3"),
        "{}",
        output.describe()
    );
}

#[test]
fn targets_dry_run_and_exit_code_reach_make() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[(
            "Makefile",
            "all: one\none:\n\ttouch one\ntwo:\n\ttouch two\nfail:\n\t@false\n",
        )],
    );
    let output = zccache_build(dir, &["-C", path_str(dir), "-n", "two"]);
    output.assert_success();
    assert!(output.stdout.contains("touch two"), "{}", output.describe());
    assert!(!dir.join("two").exists());
    zccache_build(dir, &["-C", path_str(dir), "two"]).assert_success();
    assert!(dir.join("two").exists() && !dir.join("one").exists());
    let output = zccache_build(dir, &["-C", path_str(dir), "fail"]);
    assert_eq!(output.code, Some(2), "{}", output.describe());
}

#[test]
fn build_ninja_wins_over_a_makefile() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[
            ("Makefile", "all:\n\ttouch from-make\n"),
            (
                "build.ninja",
                "rule touch\n  command = touch $out\nbuild from-ninja: touch\n",
            ),
        ],
    );
    zccache_build(dir, &["-C", path_str(dir)]).assert_success();
    assert!(dir.join("from-ninja").exists());
    assert!(!dir.join("from-make").exists());
}

#[test]
fn no_makefile_still_fails_like_ninja() {
    let temp = temp_dir();
    let output = zccache_build(temp.path(), &["-C", path_str(temp.path())]);
    output.assert_failure();
    assert!(
        output.combined().contains("build.ninja"),
        "{}",
        output.describe()
    );
}

#[test]
fn bad_compile_commands_warns_and_builds() {
    let temp = temp_dir();
    let dir = temp.path();
    let dir_json = serde_json_string(path_str(dir));
    let compdb = format!(
        "[{{\"directory\": {dir_json}, \"file\": \"a.c\", \"command\": \"cc -c a.c\"}},\n \
         {{\"directory\": {dir_json}, \"file\": \"b.c\"}}]"
    );
    write_files(
        dir,
        &[
            ("Makefile", "all:\n\ttouch built\n"),
            ("compile_commands.json", compdb.as_str()),
        ],
    );
    let output = zccache_build(dir, &["-C", path_str(dir)]);
    output.assert_success();
    let expected = format!(
        "zccache: warning: {}: entry 1: neither \"arguments\" nor \"command\"",
        dir.join("compile_commands.json").display()
    );
    assert!(
        output.stderr.lines().any(|line| line == expected),
        "no `{expected}` in\n{}",
        output.describe()
    );
    assert!(dir.join("built").exists());
}

/// A JSON string literal (the paths here need no escapes beyond quotes).
fn serde_json_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
