//! End-to-end: build examples/cmake-project with `zccache build` and with real
//! ninja in twin build dirs, and check that zccache produces the same files,
//! recognises up-to-date trees (its own and ninja's), and rebuilds the right
//! steps after edits.
//!
//! The twin build dirs `d1` (zccache) and `d2` (ninja) share one source copy
//! and have paths of the same length. Outputs must still not embed their
//! build dir: the project is built in Release (no `-g`, so no debug paths in
//! objects) and links executables with an `$ORIGIN` RPATH instead of the
//! absolute build dir (CMAKE_BUILD_RPATH_USE_ORIGIN in its CMakeLists.txt).
//! Files that cmake itself writes with absolute paths (CMakeCache.txt,
//! build.ninja, ...) are compared by name only, never by content.

use crate::harness::*;
use std::path::{Path, PathBuf};

/// A copied example project with two configured build dirs.
struct TwinBuild {
    _temp: tempfile::TempDir,
    source: PathBuf,
    /// Built by zccache.
    d1: PathBuf,
    /// Built by real ninja.
    d2: PathBuf,
}

impl TwinBuild {
    fn configure() -> Self {
        let temp = temp_dir();
        let source = copy_example_project(temp.path());
        let d1 = temp.path().join("d1");
        let d2 = temp.path().join("d2");
        cmake_configure(&source, &d1, &[]);
        cmake_configure(&source, &d2, &[]);
        TwinBuild {
            _temp: temp,
            source,
            d1,
            d2,
        }
    }

    fn zccache(&self) -> Output {
        zccache_build(&self.d1, &["-C", path_str(&self.d1)])
    }

    fn ninja(&self) -> Output {
        ninja(&self.d2, &["-C", path_str(&self.d2)])
    }

    /// Builds both dirs from scratch, asserting success.
    fn build_both(&self) -> (Output, Output) {
        let zc = self.zccache();
        zc.assert_success();
        let nj = self.ninja();
        nj.assert_success();
        (zc, nj)
    }

    /// Both executors must consider their tree up to date.
    fn assert_both_up_to_date(&self) {
        self.zccache().assert_no_work();
        self.ninja().assert_no_work();
    }

    /// Reconfigures both build dirs with extra cmake arguments.
    fn reconfigure(&self, extra: &[&str]) {
        cmake_configure(&self.source, &self.d1, extra);
        cmake_configure(&self.source, &self.d2, extra);
    }
}

fn compile_steps(steps: &[String]) -> Vec<String> {
    steps
        .iter()
        .filter(|step| step.starts_with("Building "))
        .cloned()
        .collect()
}

/// Checks the steps one incremental build ran in zccache (`zc`) against
/// ninja's (`nj`) for the same change.
///
/// Compiles must match exactly. Other steps (links, archives) may be a
/// subset of ninja's: ninja relinks whenever an input's mtime moved, while
/// zccache's content-based check may skip a link whose inputs came out
/// byte-identical. `expected` must run in zccache; `unexpected` in neither.
fn assert_rebuilt_like_ninja(zc: &Output, nj: &Output, expected: &[&str], unexpected: &[&str]) {
    zc.assert_success();
    nj.assert_success();
    let zc_steps = zc.step_descriptions();
    let nj_steps = nj.step_descriptions();
    let context = || format!("zccache ran {zc_steps:#?}\nninja ran {nj_steps:#?}");
    assert_eq!(
        compile_steps(&zc_steps),
        compile_steps(&nj_steps),
        "compiles differ\n{}",
        context()
    );
    for step in &zc_steps {
        assert!(
            nj_steps.contains(step),
            "zccache ran `{step}`, ninja did not\n{}",
            context()
        );
    }
    for step in expected {
        assert!(
            zc_steps.iter().any(|s| s == step),
            "zccache did not run `{step}`\n{}",
            context()
        );
    }
    for step in unexpected {
        assert!(
            !zc_steps.iter().chain(&nj_steps).any(|s| s == step),
            "`{step}` should not have run\n{}",
            context()
        );
    }
}

fn assert_test_executable_passes(build_dir: &Path) {
    let output = run_in(build_dir, build_dir.join("zcdemo_tests"), &[]);
    output.assert_success();
    assert!(
        output.stdout.contains("all checks passed"),
        "{}",
        output.describe()
    );
}

const COMPILE_STATS: &str = "Building C object CMakeFiles/geom.dir/src/geom/stats.c.o";
const COMPILE_VEC: &str = "Building C object CMakeFiles/geom.dir/src/geom/vec.c.o";
const COMPILE_SHAPES: &str = "Building C object CMakeFiles/geom.dir/src/geom/shapes.c.o";
const COMPILE_GREETER: &str = "Building CXX object CMakeFiles/text.dir/src/text/greeter.cpp.o";
const COMPILE_FORMAT: &str = "Building CXX object CMakeFiles/text.dir/src/text/format.cpp.o";
const COMPILE_MAIN: &str = "Building CXX object CMakeFiles/zcdemo.dir/app/main.cpp.o";
const COMPILE_TEST_MAIN: &str =
    "Building CXX object CMakeFiles/zcdemo_tests.dir/tests/test_main.cpp.o";
const COMPILE_TEST_GEOM: &str = "Building C object CMakeFiles/zcdemo_tests.dir/tests/test_geom.c.o";
const ARCHIVE_GEOM: &str = "Linking C static library libgeom.a";
const LINK_TEXT: &str = "Linking CXX shared library libtext.so";
const LINK_APP: &str = "Linking CXX executable zcdemo";
const LINK_TESTS: &str = "Linking CXX executable zcdemo_tests";

#[test]
fn zccache_build_matches_ninja_byte_for_byte_and_trees_are_interchangeable() {
    let twin = TwinBuild::configure();
    let before_d1 = snapshot_tree(&twin.d1);
    let before_d2 = snapshot_tree(&twin.d2);

    let (zc, nj) = twin.build_both();
    assert_eq!(zc.step_descriptions(), nj.step_descriptions());

    // Same set of files overall (nothing extra outside zccache's .zccache/),
    // and byte-identical contents for everything the builds wrote.
    let after_d1 = snapshot_tree(&twin.d1);
    let after_d2 = snapshot_tree(&twin.d2);
    assert_eq!(
        after_d1.keys().collect::<Vec<_>>(),
        after_d2.keys().collect::<Vec<_>>(),
        "the two build trees hold different files"
    );
    assert_same_files(
        "zccache's d1",
        &written_between(&before_d1, &after_d1),
        "ninja's d2",
        &written_between(&before_d2, &after_d2),
    );
    assert!(example_build_products(&twin.d1).contains_key("generated/greetings_table.h"));
    assert_test_executable_passes(&twin.d1);

    // zccache's own tree is up to date for zccache and for ninja.
    zccache_build(&twin.d1, &["-C", path_str(&twin.d1)]).assert_no_work();
    let ninja_on_d1 = ninja(&twin.d1, &["-C", path_str(&twin.d1), "-n", "-d", "explain"]);
    ninja_on_d1.assert_no_work();
    assert!(
        !ninja_on_d1.stderr.contains("ninja explain:"),
        "ninja finds zccache's tree dirty: {}",
        ninja_on_d1.describe()
    );

    // zccache adopts a tree ninja built without redoing any work.
    twin.ninja().assert_no_work();
    zccache_build(&twin.d2, &["-C", path_str(&twin.d2)]).assert_no_work();
}

/// One change to the project and the steps ninja and zccache must then
/// both run (`rebuilt`) and both leave alone (`kept`).
struct Edit {
    change: fn(&TwinBuild),
    rebuilt: &'static [&'static str],
    kept: &'static [&'static str],
}

/// Edits made one after the other, each followed by a build of both trees.
const EDITS: &[Edit] = &[
    // Editing a .c file recompiles it and relinks everything downstream.
    // The edit adds code, so the object and every library that contains it
    // really change (a comment-only edit could be cut off by content hashing).
    Edit {
        change: |twin| {
            append_line(
                &twin.source.join("src/geom/stats.c"),
                "double stats_edit_marker(void) { return 1.5; }",
            )
        },
        rebuilt: &[COMPILE_STATS, ARCHIVE_GEOM, LINK_TEXT, LINK_APP, LINK_TESTS],
        kept: &[COMPILE_VEC, COMPILE_SHAPES, COMPILE_GREETER, COMPILE_MAIN],
    },
    // Editing a header recompiles exactly the translation units including it
    // (directly or through shapes.h / format.hpp), not stats.c or greeter.cpp.
    Edit {
        change: |twin| {
            append_line(
                &twin.source.join("include/geom/vec.h"),
                "/* vec.h edited by the e2e test */",
            )
        },
        rebuilt: &[
            COMPILE_VEC,
            COMPILE_SHAPES,
            COMPILE_FORMAT,
            COMPILE_MAIN,
            COMPILE_TEST_MAIN,
            COMPILE_TEST_GEOM,
        ],
        kept: &[COMPILE_STATS, COMPILE_GREETER],
    },
    // Editing the generator's input regenerates the header and recompiles
    // only its includers.
    Edit {
        change: |twin| append_line(&twin.source.join("data/greetings.txt"), "hola"),
        rebuilt: &[
            "Generating greetings_table.h",
            COMPILE_GREETER,
            COMPILE_TEST_MAIN,
        ],
        kept: &[COMPILE_FORMAT, COMPILE_MAIN, COMPILE_STATS],
    },
    // A changed C flag (a new command line) rebuilds the C objects only.
    Edit {
        change: |twin| twin.reconfigure(&["-DCMAKE_C_FLAGS=-O1"]),
        rebuilt: &[
            COMPILE_VEC,
            COMPILE_SHAPES,
            COMPILE_STATS,
            COMPILE_TEST_GEOM,
        ],
        kept: &[
            COMPILE_GREETER,
            COMPILE_FORMAT,
            COMPILE_MAIN,
            COMPILE_TEST_MAIN,
        ],
    },
    // Touching CMakeLists.txt runs the regeneration step, then the build
    // goes on from the regenerated manifest.
    Edit {
        change: |twin| touch(&twin.source.join("CMakeLists.txt")),
        rebuilt: &["Re-running CMake..."],
        kept: &[COMPILE_STATS],
    },
    // A deleted output is rebuilt.
    Edit {
        change: |twin| {
            for dir in [&twin.d1, &twin.d2] {
                std::fs::remove_file(dir.join("libgeom.a")).expect("remove libgeom.a");
            }
        },
        rebuilt: &[ARCHIVE_GEOM],
        kept: &[COMPILE_STATS],
    },
];

#[test]
fn incremental_rebuilds_match_ninja() {
    let twin = TwinBuild::configure();
    twin.build_both();
    twin.assert_both_up_to_date();
    for edit in EDITS {
        (edit.change)(&twin);
        let (zc, nj) = twin.build_both();
        assert_rebuilt_like_ninja(&zc, &nj, edit.rebuilt, edit.kept);
        twin.assert_both_up_to_date();
    }
    // libgeom.a, which the last edit deleted, is back.
    assert!(twin.d1.join("libgeom.a").is_file());

    // After all of that both trees still hold identical products.
    assert_same_files(
        "zccache's d1",
        &example_build_products(&twin.d1),
        "ninja's d2",
        &example_build_products(&twin.d2),
    );
    assert_test_executable_passes(&twin.d1);
}

#[test]
fn cmake_drives_zccache_through_a_ninja_symlink() {
    let temp = temp_dir();
    let source = copy_example_project(temp.path());
    // cmake runs CMAKE_MAKE_PROGRAM (`ninja --version` at configure, the
    // build itself under `cmake --build`), so a symlink named `ninja` must
    // behave exactly like ninja.
    let bin = temp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    let ninja_link = bin.join("ninja");
    let target = if reference_mode() {
        which("ninja")
    } else {
        zccache_bin()
    };
    std::os::unix::fs::symlink(target, &ninja_link).expect("symlink ninja");

    let build = temp.path().join("build");
    cmake_configure_with_make_program(&source, &build, &ninja_link, &[]);
    let cache = std::fs::read_to_string(build.join("CMakeCache.txt")).expect("read cache");
    // The cache type is UNINITIALIZED when given on the command line.
    let recorded = format!("={}", ninja_link.display());
    assert!(
        cache
            .lines()
            .any(|line| line.starts_with("CMAKE_MAKE_PROGRAM:") && line.ends_with(&recorded)),
        "CMAKE_MAKE_PROGRAM not recorded in CMakeCache.txt"
    );

    run_in(temp.path(), "cmake", &["--build", path_str(&build)]).assert_success();
    assert_test_executable_passes(&build);
    run_in(temp.path(), &ninja_link, &["-C", path_str(&build)]).assert_no_work();
}

/// Absolute path of `program` on PATH.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| panic!("{program} not found on PATH"))
}

/// CMake's Ninja Multi-Config generator: Debug and Release built
/// alternately in one build dir keep each other's records, so a touched
/// source (same content) rebuilds nothing in either configuration, and
/// ninja agrees that both are up to date.
#[test]
fn ninja_multi_config_builds_keep_both_configurations_records() {
    let temp = temp_dir();
    let source = copy_example_project(temp.path());
    let build = temp.path().join("b");
    run_in(
        temp.path(),
        "cmake",
        &[
            "-G",
            "Ninja Multi-Config",
            "-S",
            path_str(&source),
            "-B",
            path_str(&build),
        ],
    )
    .assert_success();
    let manifest = |config: &str| format!("build-{config}.ninja");
    for config in ["Debug", "Release"] {
        zccache_build(&build, &["-f", &manifest(config)]).assert_success();
    }
    touch(&source.join("src/geom/vec.c"));
    for config in ["Debug", "Release", "Debug"] {
        zccache_build(&build, &["-f", &manifest(config)]).assert_no_work();
    }
    for config in ["Debug", "Release"] {
        let by_ninja = ninja(&build, &["-n", "-f", &manifest(config)]);
        assert!(by_ninja.reports_no_work(), "{}", by_ninja.describe());
    }
}
