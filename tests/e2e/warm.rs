//! End-to-end: `zccache warm` forecasts what the next build does, and the
//! build then does exactly that. Uses examples/cmake-project (copied to a
//! temp dir, configured with real cmake + ninja generator) and a private
//! cache per test; counts come from `warm --json` and from `zccache stats
//! --json` deltas over the build that follows.

use crate::harness::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

impl Example {
    /// `zccache build -C dir`, which must succeed.
    fn built(&self, dir: &Path) -> Output {
        let output = self.env.build(dir, &[]);
        output.assert_success();
        output
    }

    /// `zccache warm -C dir --json`, parsed.
    fn warm_json(&self, dir: &Path) -> (Output, serde_json::Value) {
        let output = self
            .env
            .zccache(dir, &["warm", "-C", path_str(dir), "--json"]);
        output.assert_success();
        let json = serde_json::from_str(&output.stdout)
            .unwrap_or_else(|error| panic!("warm --json: {error}\n{}", output.describe()));
        (output, json)
    }

    /// The hit and miss counters of `zccache stats --json` (one run).
    fn counters(&self) -> [i64; 6] {
        let stats = self.env.stats();
        stats::STEP_COUNTERS.map(|name| stats.get(name))
    }
}

fn count(json: &serde_json::Value, field: &str) -> u64 {
    json[field]
        .as_u64()
        .unwrap_or_else(|| panic!("`{field}` is not a count in {json:#}"))
}

/// Files under `dir` whose name ends in `.o`.
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "o") {
                found.push(path);
            }
        }
    }
    found
}

/// The example's cacheable steps: 8 compiles, 1 archive, 3 links.
const CACHEABLE_STEPS: u64 = 12;

#[test]
fn a_fresh_build_dir_is_forecast_entirely_from_cache_and_the_build_restores_it() {
    let project = Example::new();
    let a = project.configure("a", &[]);
    project.built(&a);
    let b = project.configure("b", &[]);

    let (output, json) = project.warm_json(&b);
    assert_eq!(count(&json, "from_cache"), CACHEABLE_STEPS, "{json:#}");
    assert_eq!(count(&json, "to_run"), 0, "{json:#}");
    assert_eq!(count(&json, "up_to_date"), 0, "{json:#}");
    // The generated header's custom command: not the cache's.
    assert_eq!(count(&json, "other"), 1, "{json:#}");
    assert_eq!(
        count(&json, "steps"),
        CACHEABLE_STEPS + 1,
        "{}",
        output.describe()
    );
    let run = json["run"].as_array().expect("run is a list");
    assert_eq!(run.len(), 1, "{json:#}");
    assert_eq!(run[0]["kind"], "other", "{json:#}");
    assert!(
        run[0]["output"]
            .as_str()
            .is_some_and(|o| o.ends_with("greetings_table.h")),
        "{json:#}"
    );

    // greeter.cpp and test_main.cpp read the header the custom command
    // writes: their hits assume it comes out as before.
    assert_eq!(count(&json, "assumed"), 2, "{json:#}");

    // Named targets: only what they need (geom: three compiles, one archive).
    let only_geom = project
        .env
        .zccache(&b, &["warm", "-C", path_str(&b), "--json", "geom"]);
    only_geom.assert_success();
    let geom: serde_json::Value = serde_json::from_str(&only_geom.stdout).expect("json");
    assert_eq!(count(&geom, "steps"), 4, "{geom:#}");
    assert_eq!(count(&geom, "from_cache"), 4, "{geom:#}");

    // Warm builds nothing and leaves the statistics alone.
    assert!(objects(&b).is_empty(), "warm wrote {:?}", objects(&b));
    assert!(!b.join("zcdemo").exists());
    // What it hashed is kept for the build.
    assert!(b.join(".zccache_state").is_file(), "no state saved");
    let before = project.counters();
    let text = project.env.zccache(&b, &["warm", "-C", path_str(&b)]);
    text.assert_success();
    assert!(
        text.stdout
            .contains("13 steps: 12 from cache, 0 to run, 1 other, 0 up to date"),
        "{}",
        text.describe()
    );
    assert_eq!(project.counters(), before, "warm changed the statistics");

    // The build restores every cacheable step and compiles nothing.
    project.built(&b);
    let after = project.counters();
    let delta: Vec<i64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, [8, 0, 1, 0, 3, 0], "hits and misses per kind");
    run_in(&b, b.join("zcdemo_tests"), &[]).assert_success();

    // Built: everything is up to date now.
    let (_, json) = project.warm_json(&b);
    assert_eq!(count(&json, "up_to_date"), CACHEABLE_STEPS + 1, "{json:#}");
    assert_eq!(count(&json, "from_cache") + count(&json, "to_run"), 0);
}

#[test]
fn after_a_header_edit_warm_lists_exactly_its_includers_and_the_build_compiles_those() {
    let project = Example::new();
    let dir = project.configure("build", &[]);
    project.built(&dir);

    // vec.h is included by vec.c and, through shapes.h and format.hpp, by
    // every translation unit but stats.c and greeter.cpp.
    let header = project.source.join("include/geom/vec.h");
    append_line(&header, "double vec2_cross_warm(double a, double b);");
    let (output, json) = project.warm_json(&dir);
    let run = json["run"].as_array().expect("run is a list");
    let compiles: BTreeSet<String> = run
        .iter()
        .filter(|step| step["kind"] == "compile")
        .map(|step| {
            assert_eq!(step["reason"], "header_changed", "{step:#}");
            assert!(
                step["detail"].as_str().is_some_and(|d| d.contains("vec.h")),
                "{step:#}"
            );
            let source = step["source"].as_str().expect("a compile names its source");
            Path::new(source)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        })
        .collect();
    let expected: BTreeSet<String> = [
        "vec.c",
        "shapes.c",
        "format.cpp",
        "main.cpp",
        "test_main.cpp",
        "test_geom.c",
    ]
    .map(String::from)
    .into();
    assert_eq!(compiles, expected, "{}", output.describe());
    assert_eq!(json["reasons"]["header_changed"], 6, "{json:#}");
    // The other two compiles and the header's generator stay as they are.
    assert_eq!(count(&json, "up_to_date"), 3, "{json:#}");
    assert_eq!(count(&json, "from_cache"), 0, "{json:#}");
    // Steps that take a rebuilt object are to run too.
    for step in run.iter().filter(|step| step["kind"] != "compile") {
        assert_eq!(step["reason"], "input_rebuilt", "{step:#}");
    }

    let before = project.counters();
    let build = project.built(&dir);
    let after = project.counters();
    assert_eq!(
        after[1] - before[1],
        6,
        "compile misses: {}",
        build.describe()
    );
    assert_eq!(
        after[0] - before[0],
        0,
        "compile hits: {}",
        build.describe()
    );
}

#[test]
fn warm_reads_compile_commands_json_where_there_is_no_build_ninja() {
    let project = Example::new();
    let configured = project.configure("configured", &["-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"]);
    let only_compdb = project.root().join("compdb-only");
    fs::create_dir_all(&only_compdb).expect("mkdir");
    fs::copy(
        configured.join("compile_commands.json"),
        only_compdb.join("compile_commands.json"),
    )
    .expect("copy compile_commands.json");

    let (output, json) = project.warm_json(&only_compdb);
    assert_eq!(json["source"], "compile_commands.json", "{json:#}");
    assert_eq!(count(&json, "steps"), 8, "{}", output.describe());
    assert_eq!(
        count(&json, "from_cache") + count(&json, "to_run") + count(&json, "other"),
        8,
        "{json:#}"
    );
    // An empty cache: every compile is new.
    assert_eq!(json["reasons"]["new_source"], 8, "{json:#}");
    assert!(objects(&only_compdb).is_empty());
    assert!(objects(&configured).is_empty(), "warm compiled something");

    let text = project.env.zccache(&only_compdb, &["warm"]);
    text.assert_success();
    assert!(
        text.stdout
            .contains("8 steps: 0 from cache, 8 to run (8 new sources)"),
        "{}",
        text.describe()
    );

    // Neither a manifest nor a database: a clear error.
    let empty = project.root().join("empty");
    fs::create_dir_all(&empty).expect("mkdir");
    let none = project.env.zccache(&empty, &["warm"]);
    none.assert_failure();
    assert!(
        none.stderr.contains("compile_commands.json"),
        "{}",
        none.describe()
    );
}
