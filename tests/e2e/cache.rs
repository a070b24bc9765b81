//! End-to-end: the compiler cache restores exactly what it should, and only
//! that. Builds examples/cmake-project (and a few hand-written manifests)
//! with `zccache build` against private caches, and checks hits and misses
//! through `zccache stats --json` deltas and `-d explain`'s
//! `cache miss for OUTPUT: REASON` lines, and the restored files against
//! real, uncached builds byte for byte.
//!
//! Every zccache run gets its own `ZCCACHE_DIR` and a cleaned environment
//! (no inherited `ZCCACHE_*` settings or compiler-steering variables such
//! as `CPATH`), so the counts depend only on what the test did.

use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `cache miss for OUTPUT: REASON` line of a `-d explain` run in
/// `build_dir`, keyed by OUTPUT relative to `build_dir` (the lines may name
/// it either way).
fn cache_misses(output: &Output, build_dir: &Path) -> BTreeMap<String, String> {
    const MARKER: &str = "cache miss for ";
    let prefix = format!("{}/", path_str(build_dir));
    output
        .combined()
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find(MARKER)? + MARKER.len()..];
            let (target, reason) = rest.split_once(": ")?;
            let target = target.strip_prefix(&prefix).unwrap_or(target);
            Some((target.to_string(), reason.trim().to_string()))
        })
        .collect()
}

/// Asserts that `output` explains a cache miss for exactly the objects
/// `targets` (archive and link misses are not looked at), each with a
/// reason `reason_ok` accepts.
fn assert_compile_misses(
    output: &Output,
    build_dir: &Path,
    targets: &[&str],
    reason_wanted: &str,
    reason_ok: impl Fn(&str) -> bool,
) {
    let misses: BTreeMap<String, String> = cache_misses(output, build_dir)
        .into_iter()
        .filter(|(target, _)| target.ends_with(".o"))
        .collect();
    let missed: BTreeSet<&str> = misses.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = targets.iter().copied().collect();
    assert_eq!(
        missed,
        expected,
        "`cache miss for` lines name the wrong objects\n{}",
        output.describe()
    );
    for (target, reason) in &misses {
        assert!(
            reason_ok(reason),
            "miss for {target} gives reason `{reason}`, expected {reason_wanted}\n{}",
            output.describe()
        );
    }
}

#[test]
fn stats_json_has_every_documented_counter_even_on_an_empty_cache() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let output = cache.zccache(temp.path(), &["stats", "--json"]);
    output.assert_success();
    let value: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    for name in stats::main_counters() {
        assert_eq!(
            value.get(name).and_then(serde_json::Value::as_i64),
            Some(0),
            "`{name}` should be 0 on an empty cache\n{}",
            output.describe()
        );
    }
}

// ---------------------------------------------------------------------------
// The example project.
// ---------------------------------------------------------------------------

const OBJ_VEC: &str = "CMakeFiles/geom.dir/src/geom/vec.c.o";
const OBJ_SHAPES: &str = "CMakeFiles/geom.dir/src/geom/shapes.c.o";
const OBJ_STATS: &str = "CMakeFiles/geom.dir/src/geom/stats.c.o";
const OBJ_GREETER: &str = "CMakeFiles/text.dir/src/text/greeter.cpp.o";
const OBJ_FORMAT: &str = "CMakeFiles/text.dir/src/text/format.cpp.o";
const OBJ_MAIN: &str = "CMakeFiles/zcdemo.dir/app/main.cpp.o";
const OBJ_TEST_MAIN: &str = "CMakeFiles/zcdemo_tests.dir/tests/test_main.cpp.o";
const OBJ_TEST_GEOM: &str = "CMakeFiles/zcdemo_tests.dir/tests/test_geom.c.o";
const C_OBJECTS: &[&str] = &[OBJ_VEC, OBJ_SHAPES, OBJ_STATS, OBJ_TEST_GEOM];
const ALL_OBJECTS: &[&str] = &[
    OBJ_VEC,
    OBJ_SHAPES,
    OBJ_STATS,
    OBJ_GREETER,
    OBJ_FORMAT,
    OBJ_MAIN,
    OBJ_TEST_MAIN,
    OBJ_TEST_GEOM,
];
const COMPILE_STATS: &str = "Building C object CMakeFiles/geom.dir/src/geom/stats.c.o";

/// How many compile, archive and link steps a CMake build.ninja holds,
/// counted from the rules CMake names them by.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StepCounts {
    compiles: i64,
    archives: i64,
    links: i64,
}

impl StepCounts {
    fn of(build_dir: &Path) -> Self {
        let manifest = fs::read_to_string(build_dir.join("build.ninja")).expect("read build.ninja");
        let mut counts = StepCounts {
            compiles: 0,
            archives: 0,
            links: 0,
        };
        for line in manifest.lines() {
            let Some(rest) = line.strip_prefix("build ") else {
                continue;
            };
            let Some((_, after)) = rest.split_once(": ") else {
                continue;
            };
            let rule = after.split_whitespace().next().unwrap_or("");
            if rule.contains("_COMPILER__") {
                counts.compiles += 1;
            } else if rule.contains("_STATIC_LIBRARY_LINKER__") {
                counts.archives += 1;
            } else if rule.contains("_SHARED_LIBRARY_LINKER__")
                || rule.contains("_MODULE_LIBRARY_LINKER__")
                || rule.contains("_EXECUTABLE_LINKER__")
            {
                counts.links += 1;
            }
        }
        // The example's shape, so a changed project is noticed here rather
        // than as puzzling counts below.
        assert_eq!(
            counts,
            StepCounts {
                compiles: ALL_OBJECTS.len() as i64,
                archives: 1,
                links: 3,
            },
            "unexpected steps in {}/build.ninja",
            build_dir.display()
        );
        counts
    }

    /// Counter expectations for a build that ran every step and looked each
    /// one up: all hits, or all misses.
    fn all(self, hits: bool) -> Vec<(&'static str, i64)> {
        let (hit, miss) = if hits { (1, 0) } else { (0, 1) };
        vec![
            ("compile_hits", hit * self.compiles),
            ("compile_misses", miss * self.compiles),
            ("archive_hits", hit * self.archives),
            ("archive_misses", miss * self.archives),
            ("link_hits", hit * self.links),
            ("link_misses", miss * self.links),
            ("errors", 0),
        ]
    }
}

impl Example {
    /// Configures `name` and builds it into an empty cache, asserting that
    /// every step missed. Returns the build dir.
    fn cold_build(&self, name: &str, extra: &[&str]) -> PathBuf {
        let dir = self.configure(name, extra);
        let steps = StepCounts::of(&dir);
        expect_counts(
            "cold build",
            self.env.build_counted(&dir, &[]),
            &steps.all(false),
        );
        dir
    }
}

/// What the build (not cmake's configure step) produces: objects, archives,
/// shared libraries, executables and the generated header.
fn build_products(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let products = example_build_products(dir);
    for object in ALL_OBJECTS {
        assert!(
            products.contains_key(*object),
            "{object} missing in {}",
            dir.display()
        );
    }
    products
}

/// Asserts that `dir`, after an edit and its reverting, holds the products
/// of the build before them.
fn assert_round_trip(original: &BTreeMap<String, Vec<u8>>, dir: &Path) {
    assert_same_files(
        "original build",
        original,
        "after the round trip",
        &build_products(dir),
    );
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The products whose bytes contain `needle` (a path), for messages.
fn products_containing(products: &BTreeMap<String, Vec<u8>>, needle: &Path) -> Vec<String> {
    let needle = path_str(needle).as_bytes();
    products
        .iter()
        .filter(|(_, content)| contains(content, needle))
        .map(|(path, _)| path.clone())
        .collect()
}

fn assert_demo_runs(build_dir: &Path) {
    let output = run_in(build_dir, build_dir.join("zcdemo"), &["cache"]);
    output.assert_success();
    assert!(
        output.stdout.contains("zcdemo 1.2.3") && output.stdout.contains(", cache!"),
        "{}",
        output.describe()
    );
    let tests = run_in(build_dir, build_dir.join("zcdemo_tests"), &[]);
    tests.assert_success();
    assert!(
        tests.stdout.contains("all checks passed"),
        "{}",
        tests.describe()
    );
}

// ---------------------------------------------------------------------------
// 1. Hits in a fresh build dir elsewhere.
// ---------------------------------------------------------------------------

#[test]
fn a_fresh_build_dir_at_another_path_is_restored_entirely_from_the_cache() {
    let project = Example::new();
    let a = project.cold_build("a", &[]);

    // Same source and configuration, a build dir at a path of another
    // length (so nothing can match by accident of equal-length paths).
    let b = project.configure("second-build-dir", &[]);
    let steps = StepCounts::of(&b);
    let output = expect_counts(
        "build in a second dir",
        project.env.build_explained(&b, &[]),
        &steps.all(true),
    );
    let misses = cache_misses(&output, &b);
    assert!(
        misses.is_empty(),
        "misses explained on an all-hit build: {misses:?}\n{}",
        output.describe()
    );

    // The restored files are exactly what the compiler and linker produce:
    // compare with a plain ninja build of the same configuration.
    let c = project.configure("plain-ninja-build", &[]);
    ninja(&c, &["-C", path_str(&c)]).assert_success();
    let from_cache = build_products(&b);
    let uncached = build_products(&c);
    assert_same_files("cache-restored B", &from_cache, "plain ninja C", &uncached);
    assert_same_files("cold A", &build_products(&a), "plain ninja C", &uncached);

    // The restored tree is up to date for ninja and for zccache, and works,
    // even with A gone: nothing restored (depfiles included) points into A.
    fs::remove_dir_all(&a).expect("remove A");
    let deps = ninja(&b, &["-C", path_str(&b), "-t", "deps"]);
    deps.assert_success();
    assert!(
        !deps.stdout.contains(path_str(&a)),
        "B's dependency log names files of A: {}",
        deps.describe()
    );
    assert!(
        deps.stdout
            .contains(&format!("{}/generated/greetings_table.h", path_str(&b))),
        "B's dependency log lacks B's generated header: {}",
        deps.describe()
    );
    let ninja_again = ninja(&b, &["-C", path_str(&b), "-d", "explain"]);
    ninja_again.assert_no_work();
    project.env.build(&b, &[]).assert_no_work();
    assert_demo_runs(&b);
}

#[test]
fn an_object_embedding_its_dir_through_file_is_not_restored_in_another_dir() {
    // __FILE__ of a source named by absolute path is that path: the object
    // of the same source text compiled in another dir is different.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("another-dir");
    for dir in [&first, &second] {
        let manifest = format!(
            "rule cc\n  command = gcc -O2 -MD -MF $out.d -c $root/where.c -o $out\n  \
             deps = gcc\n  depfile = $out.d\n\nroot = {}\nbuild where.o: cc $root/where.c\n",
            path_str(dir)
        );
        write_files(
            dir,
            &[
                ("build.ninja", &manifest),
                ("where.c", "const char *compiled_from = __FILE__;\n"),
            ],
        );
    }
    expect_counts(
        "first",
        cache.build_counted(&first, &[]),
        &[("compile_misses", 1)],
    );

    expect_counts(
        "another dir",
        cache.build_counted(&second, &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    let object = read(&second.join("where.o"));
    assert!(
        contains(&object, format!("{}/where.c", path_str(&second)).as_bytes())
            && !contains(&object, path_str(&first).as_bytes()),
        "where.o in {} does not name its own source",
        second.display()
    );
}

// ---------------------------------------------------------------------------
// 2. Debug builds: with path remapping they hit elsewhere, without they miss.
// ---------------------------------------------------------------------------

const DEBUG: &[&str] = &["-DCMAKE_BUILD_TYPE=Debug"];

/// Debug builds of the project in `a`, then `b`, with ZCCACHE_PATH_REMAP=1:
/// `b` is restored entirely, embeds no path of either dir or the source,
/// and equals `b` compiled again into an empty cache.
fn assert_remapped_debug_build_hits_elsewhere(project: &Example, a: &Path, b: &Path) {
    let remap = project.env.with("ZCCACHE_PATH_REMAP", "1");
    cmake_configure(&project.source, a, DEBUG);
    let steps = StepCounts::of(a);
    expect_counts(
        "cold debug build",
        remap.build_counted(a, &[]),
        &steps.all(false),
    );

    cmake_configure(&project.source, b, DEBUG);
    expect_counts(
        "debug build elsewhere",
        remap.build_counted(b, &[]),
        &steps.all(true),
    );
    let from_cache = build_products(b);
    assert_demo_runs(b);

    // Neither build dir nor the source root is embedded in an object.
    let objects: BTreeMap<String, Vec<u8>> = from_cache
        .iter()
        .filter(|(path, _)| path.ends_with(".o"))
        .map(|(path, content)| (path.clone(), content.clone()))
        .collect();
    for dir in [a, b, &project.source] {
        let embedding = products_containing(&objects, dir);
        assert!(
            embedding.is_empty(),
            "with ZCCACHE_PATH_REMAP=1 these objects embed {}: {embedding:?}",
            dir.display()
        );
    }
    assert!(
        products_containing(&from_cache, a).is_empty(),
        "products of B embed A's path"
    );

    // The same dir rebuilt from scratch into an empty cache (same remap
    // setting) produces the very bytes the cache restored.
    remap.clean(b);
    let empty = Env::new(project.path("empty-cache")).with("ZCCACHE_PATH_REMAP", "1");
    expect_counts(
        "uncached rebuild",
        empty.build_counted(b, &[]),
        &steps.all(false),
    );
    assert_same_files(
        "restored from the cache",
        &from_cache,
        "compiled again",
        &build_products(b),
    );
}

#[test]
fn debug_objects_hit_in_another_dir_with_path_remap_and_equal_an_uncached_build() {
    let project = Example::new();
    let a = project.path("a-debug");
    let b = project.path("the-other-debug-dir");
    assert_remapped_debug_build_hits_elsewhere(&project, &a, &b);
}

#[test]
fn an_object_embedding_only_the_source_root_hits_in_another_build_dir() {
    // CMake names sources by absolute path, so __FILE__ is a path in the
    // source tree, the same for every build dir of it: such an object is
    // tied to the source root only (ccache hits it too), while one that
    // embeds its build dir is not shared.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let source = temp.path().join("src");
    write_files(
        &source,
        &[
            (
                "CMakeLists.txt",
                "cmake_minimum_required(VERSION 3.13)\nproject(where C)\n\
                 add_library(where STATIC where.c built.c)\n\
                 target_include_directories(where PRIVATE ${CMAKE_CURRENT_BINARY_DIR})\n\
                 file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/here.h \"const char *built_in = __FILE__;\\n\")\n",
            ),
            ("where.c", "const char *compiled_from = __FILE__;\n"),
            ("built.c", "#include \"here.h\"\n"),
        ],
    );
    let first = temp.path().join("b1");
    let second = temp.path().join("second-build");
    let plain = temp.path().join("plain-ninja");
    for dir in [&first, &second, &plain] {
        cmake_configure(&source, dir, &[]);
    }
    expect_counts(
        "first",
        cache.build_counted(&first, &[]),
        &[("compile_misses", 2)],
    );

    let output = expect_counts(
        "second build dir",
        cache.build_counted(&second, &[]),
        &[("compile_hits", 1), ("compile_misses", 1)],
    );
    ninja(&plain, &["-C", path_str(&plain)]).assert_success();
    let object = "CMakeFiles/where.dir/where.c.o";
    assert!(
        read(&second.join(object)) == read(&plain.join(object)),
        "{object} differs from plain ninja's\n{}",
        output.describe()
    );
    let built = read(&second.join("CMakeFiles/where.dir/built.c.o"));
    assert!(
        contains(&built, path_str(&second).as_bytes())
            && !contains(&built, path_str(&first).as_bytes()),
        "built.c.o does not name its own build dir"
    );
}

#[test]
fn debug_build_dirs_inside_the_source_tree_hit_each_other_with_path_remap() {
    // The usual layout: the build dir is under the source root, so the
    // build dir's mapping must win over the source root's for its files.
    let project = Example::new();
    let a = project.source.join("build-a");
    let b = project.source.join("build-debug-2");
    assert_remapped_debug_build_hits_elsewhere(&project, &a, &b);
}

#[test]
fn debug_objects_without_path_remap_miss_in_another_dir_and_never_carry_its_path() {
    let project = Example::new();
    let a = project.cold_build("a-debug", DEBUG);
    assert!(
        !products_containing(&build_products(&a), &a).is_empty(),
        "debug objects should embed their build dir without remapping"
    );

    let b = project.configure("the-other-debug-dir", DEBUG);
    let steps = StepCounts::of(&b);
    let output = expect_counts(
        "debug build elsewhere without remap",
        project.env.build_explained(&b, &[]),
        &steps.all(false),
    );
    assert_compile_misses(
        &output,
        &b,
        ALL_OBJECTS,
        "`built in another directory`",
        |reason| reason == "built in another directory",
    );

    let products = build_products(&b);
    let with_a = products_containing(&products, &a);
    assert!(with_a.is_empty(), "B's files embed A's path: {with_a:?}");
    let with_b = products_containing(&products, &b);
    assert!(
        ALL_OBJECTS.iter().all(|o| with_b.iter().any(|p| p == o)),
        "every debug object in B should embed B's own path, these do: {with_b:?}"
    );
    assert_demo_runs(&b);
}

// ---------------------------------------------------------------------------
// 3. What makes a step miss, and going back hits again.
// ---------------------------------------------------------------------------

#[test]
fn editing_a_header_misses_exactly_its_includers_and_reverting_it_hits() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    // vec.h is included by vec.c and, through shapes.h and format.hpp, by
    // every translation unit but stats.c and greeter.cpp.
    let header = project.source.join("include/geom/vec.h");
    let before = fs::read_to_string(&header).expect("read vec.h");
    append_line(&header, "double vec2_cross(vec2 a, vec2 b);");
    let includers = [
        OBJ_VEC,
        OBJ_SHAPES,
        OBJ_FORMAT,
        OBJ_MAIN,
        OBJ_TEST_MAIN,
        OBJ_TEST_GEOM,
    ];
    let output = expect_counts(
        "after editing vec.h",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", includers.len() as i64),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &includers, "`.../vec.h changed`", |reason| {
        reason.contains("vec.h") && reason.ends_with("changed")
    });

    // The original header again: the original entries are still there.
    edit_file(&header, |_| before.clone());
    let output = expect_counts(
        "after reverting vec.h",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", includers.len() as i64),
            ("compile_misses", 0),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &[], "none", |_| false);
    assert_round_trip(&original, &dir);
}

/// In the built `dir`, creates `shadow` holding `shadow_text`, a header
/// that the compile of `object_name` now finds before the one it used. Nothing the step depended on changed, so
/// the object is deleted to make it run; the lookup must miss with
/// `PATH appeared`, and the object must contain `marker`. With the shadow
/// gone again the original entry hits.
fn assert_shadowing_header_misses(
    project: &Example,
    dir: &Path,
    object_name: &str,
    shadow: &Path,
    shadow_text: &str,
    marker: &str,
) {
    let object = dir.join(object_name);
    let original = read(&object);

    // Control: the object deleted, nothing else changed, is a hit.
    fs::remove_file(&object).expect("remove object");
    expect_counts(
        "object deleted",
        project.env.build_explained(dir, &[]),
        &[("compile_hits", 1), ("compile_misses", 0)],
    );
    assert_eq!(read(&object), original, "restored object differs");

    fs::create_dir_all(shadow.parent().expect("parent")).expect("mkdir");
    fs::write(shadow, shadow_text).expect("write shadow");
    fs::remove_file(&object).expect("remove object");
    let output = expect_counts(
        "shadowing header",
        project.env.build_explained(dir, &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    let wanted = format!("{} appeared", path_str(shadow));
    assert_compile_misses(
        &output,
        dir,
        &[object_name],
        &format!("`{wanted}`"),
        |reason| reason == wanted,
    );
    let shadowed = read(&object);
    assert_ne!(shadowed, original, "the shadowed object was not recompiled");
    assert!(
        contains(&shadowed, marker.as_bytes()),
        "the object was not compiled with the shadowing header"
    );

    // The shadow removed: the original entry hits again.
    fs::remove_file(shadow).expect("remove shadow");
    fs::remove_file(&object).expect("remove object");
    expect_counts(
        "shadow removed",
        project.env.build_counted(dir, &[]),
        &[("compile_hits", 1), ("compile_misses", 0)],
    );
    assert_eq!(read(&object), original, "restored object differs");
}

#[test]
fn a_new_header_shadowing_one_in_a_later_include_dir_misses() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    // test_geom.c is compiled with -I<build>/generated before
    // -I<source>/include: a geom/stats.h created in the first one now wins
    // over include/geom/stats.h.
    let marker = "shadow header from the e2e test";
    let mut shadow_text =
        fs::read_to_string(project.source.join("include/geom/stats.h")).expect("read stats.h");
    shadow_text.push_str(&format!(
        "__attribute__((used)) static const char zcdemo_shadow_marker[] = \"{marker}\";\n"
    ));
    assert_shadowing_header_misses(
        &project,
        &dir,
        OBJ_TEST_GEOM,
        &dir.join("generated/geom/stats.h"),
        &shadow_text,
        marker,
    );
}

#[test]
fn a_new_header_beside_the_source_shadowing_an_include_dir_misses() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    // greeter.cpp includes "greetings_table.h", found in <build>/generated;
    // the including file's own dir is searched first for quoted includes.
    let marker = "hello from a shadowing header";
    let shadow_text = fs::read_to_string(dir.join("generated/greetings_table.h"))
        .expect("read the generated header")
        .replacen("\"hello\"", &format!("\"{marker}\""), 1);
    assert!(shadow_text.contains(marker), "no \"hello\" in the table");
    assert_shadowing_header_misses(
        &project,
        &dir,
        OBJ_GREETER,
        &project.source.join("src/text/greetings_table.h"),
        &shadow_text,
        marker,
    );
}

#[test]
fn changed_flags_miss_and_the_original_flags_hit_again() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    cmake_configure(&project.source, &dir, &["-DCMAKE_C_FLAGS=-DEXTRA=1"]);
    let output = expect_counts(
        "C flags changed",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", C_OBJECTS.len() as i64),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, C_OBJECTS, "`flags changed`", |reason| {
        reason == "flags changed"
    });

    cmake_configure(&project.source, &dir, &["-DCMAKE_C_FLAGS="]);
    let output = expect_counts(
        "C flags restored",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", C_OBJECTS.len() as i64),
            ("compile_misses", 0),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &[], "none", |_| false);
    assert_round_trip(&original, &dir);
}

#[test]
fn switching_gcc_to_clang_misses_and_back_to_gcc_hits() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let steps = StepCounts::of(&dir);
    let original = build_products(&dir);

    // CMake cannot switch compilers in place: configure the same path anew.
    let clang = &["-DCMAKE_C_COMPILER=clang", "-DCMAKE_CXX_COMPILER=clang++"];
    fs::remove_dir_all(&dir).expect("remove build dir");
    cmake_configure(&project.source, &dir, clang);
    let output = expect_counts(
        "clang",
        project.env.build_explained(&dir, &[]),
        &steps.all(false),
    );
    assert_compile_misses(&output, &dir, ALL_OBJECTS, "`compiler changed`", |reason| {
        reason == "compiler changed"
    });
    assert_ne!(
        build_products(&dir)[OBJ_VEC],
        original[OBJ_VEC],
        "clang and gcc produced the same object"
    );

    fs::remove_dir_all(&dir).expect("remove build dir");
    cmake_configure(&project.source, &dir, &[]);
    expect_counts(
        "gcc again",
        project.env.build_counted(&dir, &[]),
        &steps.all(true),
    );
    assert_same_files(
        "first gcc build",
        &original,
        "gcc again",
        &build_products(&dir),
    );
}

#[test]
fn a_compiler_steering_environment_variable_misses_and_unsetting_it_hits() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let steps = StepCounts::of(&dir);
    let original = build_products(&dir);

    // CPATH adds include dirs to every compile (a missing one is ignored,
    // so the objects stay the same); the cache cannot know that.
    let with_cpath = project.env.with("CPATH", "/nonexistent");
    with_cpath.clean(&dir);
    let output = expect_counts(
        "CPATH set",
        with_cpath.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", steps.compiles),
            ("errors", 0),
        ],
    );
    assert_compile_misses(
        &output,
        &dir,
        ALL_OBJECTS,
        "`environment changed`",
        |reason| reason == "environment changed",
    );

    project.env.clean(&dir);
    expect_counts(
        "CPATH unset again",
        project.env.build_counted(&dir, &[]),
        &[
            ("compile_hits", steps.compiles),
            ("compile_misses", 0),
            ("errors", 0),
        ],
    );
    assert_round_trip(&original, &dir);
}

// ---------------------------------------------------------------------------
// 4. Output and exit status of cached and failed compiles.
// ---------------------------------------------------------------------------

const WARN_AND_FAIL_MANIFEST: &str = "\
rule cc
  command = gcc -Wall -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
  description = CC $out

build warn.o: cc warn.c
build bad.o: cc bad.c
";

const WARN_C: &str = "\
int answer(void) {
  int unused_by_design = 1;
  return 42;
}
";

const BAD_C: &str = "\
int broken(void) {
  return undeclared_identifier_for_the_test;
}
";

fn warn_and_fail_project(dir: &Path) {
    write_files(
        dir,
        &[
            ("build.ninja", WARN_AND_FAIL_MANIFEST),
            ("warn.c", WARN_C),
            ("bad.c", BAD_C),
        ],
    );
}

#[test]
fn warnings_are_replayed_identically_on_a_hit_in_another_dir() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("elsewhere");
    warn_and_fail_project(&first);
    warn_and_fail_project(&second);

    let (cold, delta) = cache.build_counted(&first, &["warn.o"]);
    cold.assert_success();
    assert_counts(
        "cold",
        &delta,
        &[("compile_hits", 0), ("compile_misses", 1)],
        &cold,
    );
    assert!(
        cold.combined().contains("warning: unused variable")
            && cold.combined().contains("unused_by_design"),
        "no warning on the cold build: {}",
        cold.describe()
    );

    let (hit, delta) = cache.build_counted(&second, &["warn.o"]);
    hit.assert_success();
    assert_counts(
        "hit",
        &delta,
        &[("compile_hits", 1), ("compile_misses", 0)],
        &hit,
    );
    assert_eq!(
        normalized_lines(&hit.stdout),
        normalized_lines(&cold.stdout),
        "stdout of the hit differs from the real compile's\n--- cold ---\n{}\n--- hit ---\n{}",
        cold.describe(),
        hit.describe()
    );
    assert_eq!(
        normalized_lines(&hit.stderr),
        normalized_lines(&cold.stderr),
        "stderr of the hit differs from the real compile's\n--- cold ---\n{}\n--- hit ---\n{}",
        cold.describe(),
        hit.describe()
    );
    assert_eq!(read(&second.join("warn.o")), read(&first.join("warn.o")));
}

#[test]
fn the_locale_is_part_of_the_key_so_replayed_warnings_are_in_its_language() {
    // gcc quotes names with ‘’ under a UTF-8 locale and with '' under C: a
    // warning replayed from a run in the other locale would not be what
    // this compile prints.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let utf8 = cache.with("LC_ALL", "C.UTF-8");
    let plain = cache.with("LC_ALL", "C");
    let dirs: Vec<PathBuf> = ["first", "second", "third"]
        .iter()
        .map(|name| temp.path().join(name))
        .collect();
    for dir in &dirs {
        warn_and_fail_project(dir);
    }

    let output = expect_counts(
        "C.UTF-8, cold",
        utf8.build_counted(&dirs[0], &["warn.o"]),
        &[("compile_misses", 1)],
    );
    assert!(
        output.stdout.contains("\u{2018}unused_by_design\u{2019}"),
        "gcc did not use UTF-8 quotes under C.UTF-8: {}",
        output.describe()
    );

    let output = expect_counts(
        "LC_ALL=C after C.UTF-8",
        plain.build_explained(&dirs[1], &["warn.o"]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    assert_compile_misses(
        &output,
        &dirs[1],
        &["warn.o"],
        "`environment changed`",
        |reason| reason == "environment changed",
    );
    assert!(
        output.stdout.contains("'unused_by_design'"),
        "the warning is not the one gcc prints under LC_ALL=C: {}",
        output.describe()
    );

    let output = expect_counts(
        "C.UTF-8 again",
        utf8.build_counted(&dirs[2], &["warn.o"]),
        &[("compile_hits", 1), ("compile_misses", 0)],
    );
    assert!(
        output.stdout.contains("\u{2018}unused_by_design\u{2019}"),
        "{}",
        output.describe()
    );
}

#[test]
fn a_failed_compile_is_not_cached() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("elsewhere");
    warn_and_fail_project(&first);
    warn_and_fail_project(&second);

    let mut runs = Vec::new();
    for dir in [&first, &first, &second] {
        let (output, delta) = cache.build_counted(dir, &["bad.o"]);
        output.assert_failure();
        assert!(
            output.combined().contains("error: ")
                && output
                    .combined()
                    .contains("undeclared_identifier_for_the_test"),
            "no compiler error: {}",
            output.describe()
        );
        assert!(
            output.combined().contains("FAILED: [code=1] bad.o"),
            "{}",
            output.describe()
        );
        // Each run compiled for real: a lookup that missed, never a hit.
        assert_counts(
            "failing compile",
            &delta,
            &[("compile_hits", 0), ("compile_misses", 1)],
            &output,
        );
        assert!(!dir.join("bad.o").exists(), "bad.o exists after a failure");
        runs.push(output);
    }
    let error_lines = |output: &Output| -> Vec<String> {
        normalized_lines(&output.combined())
            .into_iter()
            .filter(|line| line.contains("bad.c"))
            .collect()
    };
    assert_eq!(error_lines(&runs[0]), error_lines(&runs[1]));
    assert_eq!(error_lines(&runs[0]), error_lines(&runs[2]));
}

#[test]
fn a_source_using_time_macros_is_never_restored() {
    // __TIME__ expands to the time of the compile: a restored object would
    // carry another compile's time.
    let manifest = "\
rule cc
  command = gcc -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
  description = CC $out

build stamp.o: cc stamp.c
";
    let files = [
        ("build.ninja", manifest),
        (
            "stamp.c",
            "const char *build_stamp = __DATE__ \" \" __TIME__;\n",
        ),
    ];
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("elsewhere");
    write_files(&first, &files);
    write_files(&second, &files);
    for (what, dir) in [("first", &first), ("another dir", &second)] {
        expect_counts(
            what,
            cache.build_counted(dir, &[]),
            &[("compile_hits", 0), ("uncacheable", 1)],
        );
    }
    cache.clean(&first);
    expect_counts(
        "same dir again",
        cache.build_counted(&first, &[]),
        &[("compile_hits", 0), ("uncacheable", 1)],
    );
}

#[test]
fn an_edited_source_misses_down_to_the_links_and_reverting_it_hits_all_of_them() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    // New code in stats.c: its object, libgeom.a, libtext.so (which links
    // libgeom.a) and both executables change or must be checked again.
    let source = project.source.join("src/geom/stats.c");
    let before = fs::read_to_string(&source).expect("read stats.c");
    append_line(&source, "double stats_edit_marker(void) { return 1.5; }");
    let output = expect_counts(
        "stats.c edited",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", 1),
            ("archive_hits", 0),
            ("archive_misses", 1),
            ("link_hits", 0),
            ("link_misses", 3),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &[OBJ_STATS], "`source changed`", |reason| {
        reason == "source changed"
    });
    let edited = build_products(&dir);
    for product in ["libgeom.a", "libtext.so", "zcdemo_tests"] {
        assert!(
            contains(&edited[product], b"stats_edit_marker"),
            "{product} was not rebuilt from the edited source"
        );
    }
    assert_demo_runs(&dir);

    // Back to the original text: every step hits its first entry.
    edit_file(&source, |_| before.clone());
    expect_counts(
        "stats.c reverted",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 1),
            ("compile_misses", 0),
            ("archive_hits", 1),
            ("archive_misses", 0),
            ("link_hits", 3),
            ("link_misses", 0),
            ("errors", 0),
        ],
    );
    assert_round_trip(&original, &dir);
}

/// A C file and a C++ file compiled by a hand-written manifest with gcc
/// and g++ -O2 (no -g: the compilers cannot see comments).
const LITERALS_MANIFEST: &str = "\
rule cc
  command = gcc -O2 -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
rule cxx
  command = g++ -O2 -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d

build s.o: cc s.c
build t.o: cxx t.cpp
";

/// Compiles `source` for real with `compiler -O2` in `dir` and asserts that
/// `object` there holds exactly the same bytes.
fn assert_object_is_real(dir: &Path, compiler: &str, source: &str, object: &str) {
    run_in(dir, compiler, &["-O2", "-c", source, "-o", "reference.o"]).assert_success();
    assert!(
        read(&dir.join("reference.o")) == read(&dir.join(object)),
        "{object} differs from what `{compiler} -O2 -c {source}` produces"
    );
}

#[test]
fn comment_like_text_that_is_not_a_comment_is_never_ignored() {
    // Each edit changes only text that a naive comment stripper would drop,
    // but the compiler does not: every one must miss and give the real
    // object. A genuine comment edit may hit, and must give it too.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let dir = temp.path().join("build");
    write_files(
        &dir,
        &[
            ("build.ninja", LITERALS_MANIFEST),
            (
                "s.c",
                "int line_no = __LINE__;\n\
                 const char *escaped = \"a\\\" /* X */ b\";\n\
                 int x = 1; // continued \\\n\
                 int y = 2;\n",
            ),
            ("t.cpp", "const char *raw = R\"x(a)\" /* X */ )x\";\n"),
        ],
    );
    expect_counts(
        "cold",
        cache.build_counted(&dir, &[]),
        &[("compile_misses", 2)],
    );

    let edits: &[(&str, &str, &str)] = &[
        // A comment line on top moves __LINE__.
        ("s.c", "int line_no", "// new first line\nint line_no"),
        // Inside a string after an escaped quote.
        ("s.c", "/* X */", "/* Y */"),
        // The line after a `//` comment ending in a backslash is comment:
        // dropping the backslash makes `int y = 2;` code.
        ("s.c", "// continued \\\n", "// continued\n"),
        // Inside a raw string literal, after a `)"` that does not end it.
        ("t.cpp", "/* X */", "/* Y */"),
    ];
    for (file, from, to) in edits {
        let path = dir.join(file);
        edit_file(&path, |text| {
            assert!(text.contains(from), "{file} lacks {from:?}");
            text.replacen(from, to, 1)
        });
        let (output, delta) = cache.build_counted(&dir, &[]);
        let what = format!("{file}: {from:?} -> {to:?}");
        output.assert_success();
        assert_counts(
            &what,
            &delta,
            &[("compile_hits", 0), ("compile_misses", 1)],
            &output,
        );
        assert_object_is_real(&dir, "gcc", "s.c", "s.o");
        assert_object_is_real(&dir, "g++", "t.cpp", "t.o");
    }

    // A real comment edit next to a quote character in a char literal.
    write_files(
        &dir,
        &[("s.c", "int q = '\"'; /* first */ const char *e = \"e\";\n")],
    );
    expect_counts(
        "char literal",
        cache.build_counted(&dir, &[]),
        &[("compile_misses", 1)],
    );
    edit_file(&dir.join("s.c"), |text| text.replace("first", "second"));
    let (output, delta) = cache.build_counted(&dir, &[]);
    output.assert_success();
    assert_eq!(
        delta.get("compile_hits") + delta.get("compile_misses"),
        1,
        "the comment edit was not looked up once: {delta:?}",
    );
    assert_object_is_real(&dir, "gcc", "s.c", "s.o");
}

/// Builds `int a = 4 //**/ 2\n;` with `gcc <std_flags> -O2`, edits the 2
/// into a 3 and builds again: in C90 `//` is no comment, so `a` goes from
/// 2 to 1 and the compile must miss and give the real object.
fn assert_c90_division_is_not_a_comment(std_flags: &str) {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let dir = temp.path().join("build");
    let manifest = format!(
        "rule cc\n  command = gcc {std_flags} -O2 -MD -MF $out.d -c $in -o $out\n  \
         deps = gcc\n  depfile = $out.d\n\nbuild s.o: cc s.c\n"
    );
    write_files(
        &dir,
        &[
            ("build.ninja", &manifest),
            ("s.c", "int a = 4 //**/ 2\n;\n"),
        ],
    );
    cache.build(&dir, &[]).assert_success();
    edit_file(&dir.join("s.c"), |text| text.replace("2\n", "3\n"));
    expect_counts(
        &format!("C90 code edit under {std_flags}"),
        cache.build_counted(&dir, &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    let mut reference = vec!["-O2", "-c", "s.c", "-o", "reference.o"];
    reference.splice(0..0, std_flags.split_whitespace());
    run_in(&dir, "gcc", &reference).assert_success();
    assert!(
        read(&dir.join("reference.o")) == read(&dir.join("s.o")),
        "s.o differs from what `gcc {std_flags}` produces"
    );
}

#[test]
fn in_c90_a_double_slash_is_not_a_comment() {
    for flags in [
        "-std=c90",
        "-ansi",
        "-std=gnu11 -ansi",
        "-Xpreprocessor -std=c90",
    ] {
        assert_c90_division_is_not_a_comment(flags);
    }
}

#[test]
fn in_c90_selected_through_wp_a_double_slash_is_not_a_comment() {
    assert_c90_division_is_not_a_comment("-Wp,-std=c90");
}

#[test]
fn time_macros_are_cached_under_source_date_epoch_and_keyed_by_it() {
    // With SOURCE_DATE_EPOCH set gcc expands __DATE__ from it, so the
    // object is reproducible and cacheable; another value is another key.
    let manifest = "\
rule cc
  command = gcc -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
  description = CC $out

build stamp.o: cc stamp.c
";
    let files = [
        ("build.ninja", manifest),
        ("stamp.c", "const char *build_date = __DATE__;\n"),
    ];
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let epoch_0 = cache.with("SOURCE_DATE_EPOCH", "0");
    // 2001-09-09T01:46:40Z.
    let epoch_1e9 = cache.with("SOURCE_DATE_EPOCH", "1000000000");
    let dirs: Vec<PathBuf> = ["first", "second", "third"]
        .iter()
        .map(|name| temp.path().join(name))
        .collect();
    for dir in &dirs {
        write_files(dir, &files);
    }
    let date_in = |dir: &Path, date: &str| contains(&read(&dir.join("stamp.o")), date.as_bytes());

    let output = expect_counts(
        "epoch 0",
        epoch_0.build_counted(&dirs[0], &[]),
        &[("compile_misses", 1), ("uncacheable", 0)],
    );
    assert!(date_in(&dirs[0], "Jan  1 1970"), "{}", output.describe());

    let output = expect_counts(
        "epoch 0 elsewhere",
        epoch_0.build_counted(&dirs[1], &[]),
        &[("compile_hits", 1)],
    );
    assert!(date_in(&dirs[1], "Jan  1 1970"), "{}", output.describe());

    let output = expect_counts(
        "another epoch",
        epoch_1e9.build_explained(&dirs[2], &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    assert!(
        date_in(&dirs[2], "Sep  9 2001") && !date_in(&dirs[2], "Jan  1 1970"),
        "stamp.o does not carry SOURCE_DATE_EPOCH's date\n{}",
        output.describe()
    );
}

// ---------------------------------------------------------------------------
// 5. A comment-only edit: the compile runs and changes nothing downstream.
// ---------------------------------------------------------------------------

#[test]
fn a_comment_only_edit_reruns_the_compile_as_a_hit_and_relinks_nothing() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    // The source's content changed, so its compile runs; gcc without -g
    // cannot see comments, so the comment-blind key finds the old entry
    // (README: "a comment-only edit can hit"). The object is the same, so
    // nothing downstream runs.
    append_line(
        &project.source.join("src/geom/stats.c"),
        "/* a comment added by the e2e test */",
    );
    let (output, delta) = project.env.build_explained(&dir, &[]);
    output.assert_success();
    assert_eq!(
        output.step_descriptions(),
        vec![COMPILE_STATS.to_string()],
        "only the edited file's compile should run\n{}",
        output.describe()
    );
    assert_counts(
        "comment added",
        &delta,
        &[
            ("compile_hits", 1),
            ("compile_misses", 0),
            ("archive_hits", 0),
            ("archive_misses", 0),
            ("link_hits", 0),
            ("link_misses", 0),
            ("errors", 0),
        ],
        &output,
    );
    assert_compile_misses(&output, &dir, &[], "none", |_| false);
    assert_same_files(
        "before the comment",
        &original,
        "after it",
        &build_products(&dir),
    );
    project.env.build(&dir, &[]).assert_no_work();
}

/// With `hardlink` on, a restored object shares its bytes with the store;
/// the next real compile of it must not write through the link into the
/// stored copy, so a later restore of the old content is still exact.
#[test]
fn hardlinked_objects_never_let_a_recompile_change_the_stored_copy() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"))
        .with("ZCCACHE_HARDLINK", "1")
        .with("ZCCACHE_COMPRESSION", "0");
    let dir = temp.path().join("p");
    write_files(
        &dir,
        &[
            ("a.c", "int f(void) { return 1; }\n"),
            (
                "build.ninja",
                "rule cc\n  command = gcc -O2 -c $in -o $out\nbuild a.o: cc a.c\n",
            ),
        ],
    );
    cache.build(&dir, &[]).assert_success();
    let one = read(&dir.join("a.o"));
    std::fs::remove_file(dir.join("a.o")).unwrap();
    let (output, delta) = cache.build_counted(&dir, &[]);
    assert_counts("restore", &delta, &[("compile_hits", 1)], &output);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(dir.join("a.o")).unwrap().nlink(),
        2,
        "restored object is not a hardlink into the store"
    );
    edit_file(&dir.join("a.c"), |_| "int f(void) { return 2; }\n".into());
    let (output, delta) = cache.build_counted(&dir, &[]);
    assert_counts("recompile", &delta, &[("compile_misses", 1)], &output);
    assert_ne!(read(&dir.join("a.o")), one);
    edit_file(&dir.join("a.c"), |_| "int f(void) { return 1; }\n".into());
    std::fs::remove_file(dir.join("a.o")).unwrap();
    let (output, delta) = cache.build_counted(&dir, &[]);
    assert_counts(
        "restore of the first content",
        &delta,
        &[("compile_hits", 1), ("corrupt", 0), ("errors", 0)],
        &output,
    );
    assert_eq!(read(&dir.join("a.o")), one);
}

/// A library newly put in a `-L` dir searched before the one the linker
/// used shadows it: the link must run again, not restore the old program.
#[test]
fn a_new_library_shadowing_one_in_a_later_lib_dir_misses() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let dir = temp.path().join("p");
    write_files(
        &dir,
        &[
            ("la/foo.c", "int foo(void) { return 1; }\n"),
            ("lb/foo.c", "int foo(void) { return 2; }\n"),
            ("m.c", "int foo(void);\nint main(void) { return foo(); }\n"),
            (
                "build.ninja",
                "rule cc\n  command = gcc -c $in -o $out\n\
                 rule ar\n  command = ar rcs $out $in\n\
                 rule ld\n  command = gcc $in -o $out -Llb -Lla -lfoo\n\
                 build m.o: cc m.c\n\
                 build la/foo.o: cc la/foo.c\n\
                 build la/libfoo.a: ar la/foo.o\n\
                 build app: ld m.o | la/libfoo.a\n\
                 build lb/foo.o: cc lb/foo.c\n\
                 build lb/libfoo.a: ar lb/foo.o\n",
            ),
        ],
    );
    cache.build(&dir, &["app"]).assert_success();
    let status = |dir: &Path| {
        Command::new(dir.join("app"))
            .status()
            .expect("run app")
            .code()
    };
    assert_eq!(status(&dir), Some(1));
    std::fs::remove_file(dir.join("app")).unwrap();
    let (output, delta) = cache.build_counted(&dir, &["app"]);
    assert_counts(
        "relink from the cache",
        &delta,
        &[("link_hits", 1)],
        &output,
    );
    // Now lb/libfoo.a exists, earlier in the search than la/libfoo.a.
    cache.build(&dir, &["lb/libfoo.a"]).assert_success();
    std::fs::remove_file(dir.join("app")).unwrap();
    let (output, delta) = cache.build_explained(&dir, &["app"]);
    assert_counts(
        "link with a shadowing library",
        &delta,
        &[("link_hits", 0), ("link_misses", 1)],
        &output,
    );
    assert!(
        output.combined().contains("lb/libfoo.a appeared"),
        "{}",
        output.describe()
    );
    assert_eq!(status(&dir), Some(2), "the program links the new library");
}
