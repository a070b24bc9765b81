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

mod comment_edits;
mod debug;
mod elsewhere;
mod misses;
mod output;

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
