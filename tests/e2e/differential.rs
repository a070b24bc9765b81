//! Differential: a seeded random sequence of edits to a real CMake project
//! (tests/fixtures/diff-project, a C project with include dirs of every
//! kind, and examples/cmake-project, C and C++ with a shared library and a
//! generated header), each followed by a plain ninja build with no cache
//! and by two cached builds of the same source at the same path
//! (`zccache build`, and ninja with zccache as the compiler launcher), with
//! every object, archive, shared library and executable compared byte for
//! byte. The cache is shared by every build of the run, so a reverted edit,
//! a fresh build dir or a clean rebuild is served from entries an earlier
//! state stored: exactly where a stale restore would show.
//!
//! The three build trees of one location take turns at the same path (each
//! is renamed into place for its build), so paths the tools embed (debug
//! info, rpaths) are the same in all three and nothing is normalized.
//!
//! `ZCCACHE_DIFF_STEPS` (default 40 for the first project, a third of
//! that for the second, whose C++ builds take longer) and `ZCCACHE_DIFF_SEED` (default a
//! fixed seed) set the run; `scripts/differential.sh --steps N --seed S`
//! runs a longer one by hand. `ZCCACHE_DIFF_UNCACHED=1` runs every zccache
//! with the cache off, which checks the harness's own expectations (any
//! difference then is the harness's fault, not the cache's).

use crate::harness::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const DEFAULT_STEPS: usize = 40;
const DEFAULT_SEED: u64 = 0x5eed_0001;

/// A file whose content the harness switches between a few versions; the
/// first is the fixture's own.
struct Variants {
    path: &'static str,
    versions: Vec<String>,
}

/// What the harness needs to know of a project: where it is, what it may
/// edit, where a header may appear, and which files are its products.
struct Project {
    fixture: &'static str,
    /// Alternative endings of files; each edit picks one.
    edits: &'static [(&'static str, &'static [&'static str])],
    /// Files that no depfile lists (read by `.incbin`).
    untracked_files: &'static [&'static str],
    /// Headers that, when present, shadow one found later in the search
    /// order (or are probed by `__has_include`).
    shadows: &'static [(&'static str, &'static str)],
    cxx: bool,
    products: fn(&str) -> bool,
}

const DIFF_PROJECT: Project = Project {
    fixture: "tests/fixtures/diff-project",
    edits: &[
        (
            "src/core/a.c",
            &["int a_extra(void) { return 7; }", "/* a comment */"],
        ),
        ("src/core/b.c", &["int b_extra = 3;", "int   b_extra = 3;"]),
        (
            "src/util/u.c",
            &["int u_extra(void) { return util_value() + 1; }"],
        ),
        ("app/main.c", &["int main_extra = 1;"]),
        ("include/proj/cfg.h", &["#define CFG_EXTRA 1"]),
        (
            "src/core/local.h",
            &["#undef LOCAL_VALUE\n#define LOCAL_VALUE 101"],
        ),
        (
            "sysinc/sys_like.h",
            &["#undef SYS_VALUE\n#define SYS_VALUE 22"],
        ),
        (
            "after/after.h",
            &["#undef AFTER_VALUE\n#define AFTER_VALUE 303"],
        ),
        (
            "envinc/envonly.h",
            &["#undef ENV_VALUE\n#define ENV_VALUE 4001"],
        ),
        ("data/blob.bin", &["B"]),
    ],
    untracked_files: &["data/blob.bin"],
    shadows: DIFF_PROJECT_SHADOWS,
    cxx: false,
    products: |path| {
        path.ends_with(".o") || path.ends_with(".a") || path.ends_with(".so") || path == "app"
    },
};

const DIFF_PROJECT_SHADOWS: &[(&str, &str)] = &[
    // `-I src -I src/include`: found in the second, shadowed by the first.
    (
        "proj/api.h",
        "#include \"proj/cfg.h\"\n#define API_LEVEL 2\nint core_a(void);\nint core_b(void);\nint core_blob(void);\nint util_value(void);\n",
    ),
    // `#include "proj/cfg.h"` from include/proj/api.h: the includer's dir first.
    ("include/proj/proj/cfg.h", "#define CFG_VALUE 11\n"),
    ("proj/cfg.h", "#define CFG_VALUE 12\n"),
    // `#include "quoted.h"` from src/util/u.c: its dir before -iquote.
    ("src/util/quoted.h", "#define QUOTED_VALUE 2\n"),
    // Not a shadow: -iquote comes before -I for quoted includes.
    ("include/quoted.h", "#define QUOTED_VALUE 3\n"),
    // `<sys_like.h>`: -I before -isystem.
    ("include/sys_like.h", "#define SYS_VALUE 21\n"),
    // `<after.h>`: -I and -isystem before -idirafter.
    ("include/after.h", "#define AFTER_VALUE 301\n"),
    ("sysinc/after.h", "#define AFTER_VALUE 302\n"),
    // `__has_include("opt.h")` in src/core/b.c.
    ("src/core/opt.h", "#define OPT_VALUE 5\n"),
    ("include/opt.h", "#define OPT_VALUE 6\n"),
];

const EXAMPLE_PROJECT: Project = Project {
    fixture: "examples/cmake-project",
    edits: &[
        (
            "src/geom/vec.c",
            &["int vec_extra(void) { return 7; }", "/* a comment */"],
        ),
        ("src/text/format.cpp", &["int format_extra() { return 2; }"]),
        (
            "app/main.cpp",
            &["int main_extra = 1;", "int  main_extra = 1;"],
        ),
        (
            "include/common/config.h",
            &["#undef ZCDEMO_MAX_NAME\n#define ZCDEMO_MAX_NAME 80"],
        ),
        (
            "include/geom/vec.h",
            &["double vec2_cross(vec2 a, vec2 b);"],
        ),
        ("data/greetings.txt", &["zc=harness"]),
    ],
    untracked_files: &[],
    shadows: &[
        // `#include "common/config.h"` from include/geom/shapes.h and from
        // src/text/greeter.cpp: the includer's dir comes first.
        (
            "include/geom/common/config.h",
            "#define ZCDEMO_MAX_NAME 65\n",
        ),
        ("src/text/common/config.h", "#define ZCDEMO_MAX_NAME 66\n"),
        // `#include "geom/vec.h"` from src/geom/vec.c, fields swapped.
        (
            "src/geom/geom/vec.h",
            "#ifdef __cplusplus\nextern \"C\" {\n#endif\ntypedef struct vec2 { double y; double x; } vec2;\n\
             vec2 vec2_add(vec2 a, vec2 b);\nvec2 vec2_scale(vec2 v, double factor);\n\
             double vec2_dot(vec2 a, vec2 b);\n#ifdef __cplusplus\n}\n#endif\n",
        ),
    ],
    cxx: true,
    products: is_example_product,
};

/// Flag sets a reconfiguration picks from (`CMAKE_<LANG>_FLAGS`).
const FLAG_SETS: &[&str] = &["", "-DEXTRA=1", "-g", "-g -O0", "-gz -g", "-O1 -Wall"];
/// C and C++ compilers a reconfiguration picks from.
const COMPILERS: &[(&str, &str)] = &[("gcc", "g++"), ("clang", "clang++")];
const BUILD_TYPES: &[&str] = &["Release", "Debug"];
/// Environments a step may switch to; each reaches `<envonly.h>`.
const ENVIRONMENTS: &[&[(&str, &str)]] =
    &[&[], &[("CPATH", "envinc")], &[("C_INCLUDE_PATH", "envinc")]];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    Plain,
    Build,
    Launch,
}

const VARIANTS: [Variant; 3] = [Variant::Plain, Variant::Build, Variant::Launch];

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Build => "build",
            Variant::Launch => "launch",
        }
    }
}

/// Where a build dir lives: `run_path` is what the build is run as (a
/// symlink for some), `real_path` where the trees take turns.
struct Location {
    run_path: PathBuf,
    real_path: PathBuf,
    configured: bool,
    /// `Harness::untracked` when its trees were last built.
    built_at: usize,
}

impl Location {
    fn stored(&self, variant: Variant) -> PathBuf {
        let mut name = self.real_path.file_name().expect("named").to_os_string();
        name.push(format!(".{}", variant.suffix()));
        self.real_path.with_file_name(name)
    }
}

struct Harness {
    project: &'static Project,
    _temp: tempfile::TempDir,
    source: PathBuf,
    cache: PathBuf,
    locations: Vec<Location>,
    current: usize,
    environment: usize,
    /// Counts changes no depfile records (a new or removed header, the
    /// environment, an `.incbin`'d file): neither ninja nor zccache reruns
    /// a step for them, and ninja reruns one later for an unrelated mtime
    /// while zccache, seeing the same content, need not, so the trees of a
    /// location are rebuilt clean after each such change.
    untracked: usize,
    rng: fastrand::Rng,
    /// What each step did, printed when a comparison fails.
    log: Vec<String>,
    compared: usize,
    /// Every zccache run with the cache off, to check the harness itself.
    uncached: bool,
}

impl Harness {
    fn new(project: &'static Project, seed: u64) -> Self {
        let temp = temp_dir();
        let root = temp.path().to_path_buf();
        let source = root.join("src");
        copy_dir_recursive(&repo_root().join(project.fixture), &source);
        let mut locations = vec![
            real_location(root.join("b")),
            real_location(root.join("a-much-longer-directory-name-for-a-build/tree")),
        ];
        for name in ["one", "two"] {
            let real_path = root.join(format!("real-{name}"));
            let run_path = root.join(format!("link-{name}"));
            fs::create_dir_all(&real_path).expect("mkdir");
            std::os::unix::fs::symlink(&real_path, &run_path).expect("symlink");
            fs::remove_dir(&real_path).expect("rmdir");
            locations.push(Location {
                run_path,
                real_path,
                configured: false,
                built_at: 0,
            });
        }
        Harness {
            project,
            cache: root.join("cache"),
            _temp: temp,
            source,
            locations,
            current: 0,
            environment: 0,
            untracked: 0,
            rng: fastrand::Rng::with_seed(seed),
            log: vec![format!("seed {seed:#x}")],
            compared: 0,
            uncached: std::env::var_os("ZCCACHE_DIFF_UNCACHED").is_some(),
        }
    }

    fn note(&mut self, what: String) {
        self.log.push(what);
    }

    fn env(&self) -> Vec<(String, String)> {
        ENVIRONMENTS[self.environment]
            .iter()
            .map(|(name, dir)| {
                let value = self.source.join(dir).to_string_lossy().into_owned();
                (name.to_string(), value)
            })
            .collect()
    }

    /// Runs `program args` in the current location as the build would
    /// (cwd and `PWD` are its run path, symlink or not).
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        let location = &self.locations[self.current];
        let mut command = isolated_command(program, args, &location.run_path, &self.cache);
        command.env("PWD", &location.run_path);
        for (name, value) in self.env() {
            command.env(name, value);
        }
        if self.uncached {
            command.env("ZCCACHE_DISABLE", "1");
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        Output::captured(
            output,
            format!(
                "{} {} in {}",
                program.display(),
                args.join(" "),
                location.run_path.display()
            ),
        )
    }

    /// Renames `variant`'s tree into the current location, runs `body`,
    /// and renames it back.
    fn with_tree<T>(&self, variant: Variant, body: impl FnOnce(&Self) -> T) -> T {
        let location = &self.locations[self.current];
        fs::rename(location.stored(variant), &location.real_path).expect("tree into place");
        let result = body(self);
        fs::rename(&location.real_path, location.stored(variant)).expect("tree back");
        result
    }

    /// Wipes the current location's trees and configures all three.
    fn configure(&mut self) {
        let (compiler, cxx_compiler) = COMPILERS[self.rng.usize(..COMPILERS.len())];
        let build_type = BUILD_TYPES[self.rng.usize(..BUILD_TYPES.len())];
        let flags = FLAG_SETS[self.rng.usize(..FLAG_SETS.len())];
        self.note(format!(
            "configure location {} with {compiler}, {build_type}, flags {flags:?}",
            self.current
        ));
        let location = &self.locations[self.current];
        for variant in VARIANTS {
            let stored = location.stored(variant);
            if stored.exists() {
                fs::remove_dir_all(&stored).expect("wipe tree");
            }
            fs::create_dir_all(&stored).expect("mkdir tree");
        }
        let zccache = zccache_bin();
        for variant in VARIANTS {
            let source = self.source.to_string_lossy().into_owned();
            let run_path = self.locations[self.current]
                .run_path
                .to_string_lossy()
                .into_owned();
            let mut args = vec![
                "-G".to_string(),
                "Ninja".to_string(),
                "-S".to_string(),
                source,
                "-B".to_string(),
                run_path,
                format!("-DCMAKE_C_COMPILER={compiler}"),
                format!("-DCMAKE_BUILD_TYPE={build_type}"),
                format!("-DCMAKE_C_FLAGS={flags}"),
            ];
            if self.project.cxx {
                args.push(format!("-DCMAKE_CXX_COMPILER={cxx_compiler}"));
                args.push(format!("-DCMAKE_CXX_FLAGS={flags}"));
            }
            if variant == Variant::Launch {
                args.push(format!("-DCMAKE_C_COMPILER_LAUNCHER={}", zccache.display()));
                if self.project.cxx {
                    args.push(format!(
                        "-DCMAKE_CXX_COMPILER_LAUNCHER={}",
                        zccache.display()
                    ));
                }
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.with_tree(variant, |harness| {
                harness.run(Path::new("cmake"), &args).assert_success();
            });
        }
        self.locations[self.current].configured = true;
    }

    /// Builds all three trees (after `ninja -t clean` when `clean`) and
    /// compares every product with the plain build's.
    fn build_and_compare(&mut self, clean: bool) {
        let clean = clean || self.locations[self.current].built_at != self.untracked;
        self.locations[self.current].built_at = self.untracked;
        if clean {
            self.note("  clean rebuild".to_string());
        }
        let mut products = Vec::new();
        for variant in VARIANTS {
            let output = self.with_tree(variant, |harness| {
                let executor = match variant {
                    Variant::Build => vec!["build"],
                    Variant::Plain | Variant::Launch => vec![],
                };
                let program = match variant {
                    Variant::Build => zccache_bin(),
                    Variant::Plain | Variant::Launch => PathBuf::from("ninja"),
                };
                if clean {
                    let mut args = executor.clone();
                    args.extend(["-t", "clean"]);
                    harness.run(&program, &args).assert_success();
                }
                let output = harness.run(&program, &executor);
                let location = &harness.locations[harness.current];
                let products = snapshot_tree(&location.real_path)
                    .into_iter()
                    .filter(|(path, _)| (harness.project.products)(path))
                    .collect::<BTreeMap<_, _>>();
                (output, products)
            });
            if !output.0.success() {
                self.fail(&format!(
                    "{variant:?} build failed: {}",
                    output.0.describe()
                ));
            }
            products.push((variant, output));
        }
        let (_, (_, plain)) = &products[0];
        for (variant, (output, built)) in &products[1..] {
            if let Some(difference) = difference(plain, built) {
                self.fail(&format!(
                    "{variant:?} differs from the plain build: {difference}\n{}",
                    output.describe()
                ));
            }
        }
        self.compared += 1;
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "differential harness: {what}\nsteps so far:\n  {}",
            self.log.join("\n  ")
        );
    }

    /// One random step: an edit or a change of place, then the builds.
    fn step(&mut self, number: usize, files: &[Variants], state: &mut [usize]) {
        let clean = self.rng.u8(..10) < 2;
        match self.rng.u8(..20) {
            0..=7 => {
                let which = self.rng.usize(..files.len());
                let version = self.rng.usize(..files[which].versions.len());
                if version != state[which] {
                    state[which] = version;
                    if self.project.untracked_files.contains(&files[which].path) {
                        self.untracked += 1;
                    }
                    fs::write(
                        self.source.join(files[which].path),
                        &files[which].versions[version],
                    )
                    .expect("edit");
                }
                self.note(format!("{number}: {} version {version}", files[which].path));
            }
            8..=12 => {
                let shadows = self.project.shadows;
                let (path, content) = shadows[self.rng.usize(..shadows.len())];
                let full = self.source.join(path);
                if full.exists() {
                    fs::remove_file(&full).expect("remove shadow");
                    self.note(format!("{number}: remove {path}"));
                } else {
                    fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                    fs::write(&full, content).expect("add shadow");
                    self.note(format!("{number}: add {path}"));
                }
                self.untracked += 1;
            }
            13..=14 => {
                self.environment = self.rng.usize(..ENVIRONMENTS.len());
                self.note(format!("{number}: environment {:?}", self.env()));
                self.untracked += 1;
            }
            15..=16 => {
                self.current = self.rng.usize(..self.locations.len());
                self.note(format!("{number}: move to location {}", self.current));
            }
            _ => {
                self.configure();
            }
        }
        if !self.locations[self.current].configured {
            self.configure();
        }
        self.build_and_compare(clean);
    }
}

fn real_location(path: PathBuf) -> Location {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    Location {
        run_path: path.clone(),
        real_path: path,
        configured: false,
        built_at: 0,
    }
}

/// The files the harness edits, each with its alternative contents (the
/// first is the fixture's own).
fn edited_files(project: &Project, source: &Path) -> Vec<Variants> {
    project
        .edits
        .iter()
        .map(|(path, endings)| {
            let base = fs::read_to_string(source.join(path))
                .unwrap_or_else(|e| panic!("read {path}: {e}"));
            let mut versions = vec![base.clone()];
            versions.extend(endings.iter().map(|line| format!("{base}{line}\n")));
            Variants { path, versions }
        })
        .collect()
}

/// The first difference between two sets of products, if any.
fn difference(
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) -> Option<String> {
    for (path, content) in expected {
        match actual.get(path) {
            None => return Some(format!("{path} is missing")),
            Some(other) if other != content => return Some(format!("{path} has other content")),
            Some(_) => {}
        }
    }
    actual
        .keys()
        .find(|path| !expected.contains_key(*path))
        .map(|path| format!("{path} exists only in the cached build"))
}

fn setting(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={value}: {e}")))
}

/// Runs the harness on `project` and checks that it restored something.
fn run_harness(project: &'static Project, default_steps: usize) {
    let steps = setting("ZCCACHE_DIFF_STEPS").map_or(default_steps, |n| n as usize);
    let seed = setting("ZCCACHE_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let mut harness = Harness::new(project, seed);
    let files = edited_files(project, &harness.source);
    let mut state = vec![0; files.len()];
    harness.configure();
    harness.build_and_compare(false);
    for number in 1..=steps {
        harness.step(number, &files, &mut state);
    }
    let stats = Env::new(&harness.cache).stats();
    let hits = stats.compile_hits();
    eprintln!(
        "differential harness: {}, seed {seed:#x}, {steps} steps, {} comparisons, \
         {hits} compile hits",
        project.fixture, harness.compared
    );
    // A run that never restored anything compared nothing of the cache.
    assert!(
        harness.uncached || hits > 0,
        "no compile hit in the whole run: {stats:?}"
    );
}

#[test]
fn random_edits_never_make_a_cached_build_differ_from_a_plain_one() {
    run_harness(&DIFF_PROJECT, DEFAULT_STEPS);
}

#[test]
fn random_edits_of_the_example_project_never_make_a_cached_build_differ() {
    run_harness(&EXAMPLE_PROJECT, DEFAULT_STEPS / 3);
}
