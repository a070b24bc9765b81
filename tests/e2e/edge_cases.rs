//! Edge cases of `zccache build` compared with real ninja 1.11.1: damaged
//! bookkeeping, switching between the two executors in one build dir,
//! content-based dirty checking, failures, interruption, the jobserver,
//! pools, response files, dyndep, very large graphs, unusual paths, tools
//! and exit codes. Exit codes and interruption, which ninja 1.13 changed,
//! are compared with real ninja 1.13 ([`ninja_1_13`]).
//!
//! Where ninja and zccache may legitimately differ (zccache skips steps whose
//! inputs only got a new timestamp), the test checks zccache alone and then
//! asks ninja whether it agrees that the tree is up to date, because
//! zccache promises to keep ninja's view of the build dir in sync.
//!
//! Tests that expose a zccache bug stay here, correct against ninja, marked
//! `#[ignore = "bug: ..."]`.

use crate::harness::twin::{Runs, Twin};
use crate::harness::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Twin directories in /dev/shm when it exists: creating thousands of
/// files costs seconds on this machine's disk and milliseconds in memory.
fn twin_in_memory(files: &[(&str, &str)]) -> Twin {
    let shm = Path::new("/dev/shm");
    let temp = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("zccache-e2e-")
            .tempdir_in(shm)
            .expect("create temp dir in /dev/shm")
    } else {
        temp_dir()
    };
    Twin::new_in(temp, files)
}

fn steps(descriptions: &[&str]) -> Vec<String> {
    let mut steps: Vec<String> = descriptions.iter().map(|s| s.to_string()).collect();
    steps.sort();
    steps
}

/// Lines of a run's output that are warnings (either program's prefix).
fn warnings(output: &Output) -> Vec<String> {
    normalized_lines(&output.combined())
        .into_iter()
        .filter(|line| line.starts_with("warning: "))
        .collect()
}

/// Asserts that real ninja, run in `dir`, agrees there is nothing to do:
/// zccache must leave ninja's logs describing what it built.
fn assert_ninja_agrees_up_to_date(dir: &Path) {
    let output = ninja(dir, &["-n"]);
    assert!(
        output.reports_no_work() && warnings(&output).is_empty(),
        "ninja disagrees that zccache's tree is up to date: {}",
        output.describe()
    );
}

/// Deterministic junk (xorshift), so a failure reproduces byte for byte.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Overwrites `path` with `content` without the helper's mtime wait: the
/// files damaged here are bookkeeping, never inputs.
fn clobber(path: &Path, content: &[u8]) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Deletes zccache's own state (there is none when reference mode ran
/// ninja instead).
fn remove_zccache_state(dir: &Path) {
    let path = dir.join(".zccache_state");
    if !reference_mode() || path.exists() {
        fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }
}

fn write_after_tick(path: &Path, content: &str) {
    edit_file(path, |_| content.to_string());
}

const COPY_CHAIN: &str = "rule cp\n  command = cp $in $out\n\
     build mid: cp in\n\
     build out: cp mid\n";

// ---------------------------------------------------------------------------
// 1. Damaged bookkeeping
// ---------------------------------------------------------------------------

/// Builds COPY_CHAIN with zccache, damages one bookkeeping file, edits the
/// input and checks that the next build is correct, warns exactly once and
/// leaves bookkeeping that neither zccache nor ninja complains about.
fn damaged_bookkeeping_is_recovered(file: &str, damage: impl Fn(&Path)) {
    if reference_mode() && file == ".zccache_state" {
        return; // ninja has no such file
    }
    let temp = temp_dir();
    let dir = temp.path();
    write_files(dir, &[("build.ninja", COPY_CHAIN), ("in", "one\n")]);
    zccache_build(dir, &[]).assert_success();

    damage(&dir.join(file));
    write_after_tick(&dir.join("in"), "two\n");
    let recovering = zccache_build(dir, &[]);
    recovering.assert_success();
    assert_eq!(
        warnings(&recovering).len(),
        1,
        "expected one warning about {file}: {}",
        recovering.describe()
    );
    assert_eq!(fs::read_to_string(dir.join("out")).unwrap(), "two\n");

    let again = zccache_build(dir, &[]);
    again.assert_no_work();
    assert!(
        warnings(&again).is_empty(),
        "the damaged {file} was not repaired: {}",
        again.describe()
    );
    assert_ninja_agrees_up_to_date(dir);
}

#[test]
fn zccache_state_of_random_bytes_is_replaced_with_one_warning() {
    damaged_bookkeeping_is_recovered(".zccache_state", |path| clobber(path, &garbage(4096)));
}

#[test]
fn truncated_zccache_state_is_replaced_with_one_warning() {
    damaged_bookkeeping_is_recovered(".zccache_state", |path| {
        let content = fs::read(path).expect("read state");
        clobber(path, &content[..content.len() / 2]);
    });
}

#[test]
fn ninja_log_of_random_bytes_is_replaced_with_one_warning() {
    damaged_bookkeeping_is_recovered(".ninja_log", |path| clobber(path, &garbage(4096)));
}

#[test]
fn truncated_ninja_log_still_builds_correctly() {
    // A log cut mid-line is what a crash leaves behind; ninja reads it
    // without a warning.
    let temp = temp_dir();
    let dir = temp.path();
    write_files(dir, &[("build.ninja", COPY_CHAIN), ("in", "one\n")]);
    zccache_build(dir, &[]).assert_success();
    let log = fs::read(dir.join(".ninja_log")).expect("read log");
    clobber(&dir.join(".ninja_log"), &log[..log.len() - 7]);
    write_after_tick(&dir.join("in"), "two\n");
    zccache_build(dir, &[]).assert_success();
    assert_eq!(fs::read_to_string(dir.join("out")).unwrap(), "two\n");
    // ninja itself appends its next entry to the cut line, loses it and
    // reruns that step once more; zccache must not inherit that.
    if !reference_mode() {
        zccache_build(dir, &[]).assert_no_work();
        assert_ninja_agrees_up_to_date(dir);
    }
}

const GCC_DEPS_STEP: &str = "rule cc\n  \
       command = cat $in > $out && printf '%s: %s h.h\\n' $out $in > $out.d\n  \
       depfile = $out.d\n  \
       deps = gcc\n\
     build o: cc i\n";

#[test]
fn ninja_deps_of_random_bytes_is_replaced_with_one_warning() {
    // ninja deletes a .ninja_deps it cannot read ("starting over"), so it
    // warns once, even when no step has deps to record.
    damaged_bookkeeping_is_recovered(".ninja_deps", |path| clobber(path, &garbage(4096)));
}

/// Builds GCC_DEPS_STEP, damages .ninja_deps and checks that the header is
/// still known as a dependency afterwards, with a single warning.
fn damaged_deps_log_keeps_header_tracking(damage: impl Fn(&Path)) {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[("build.ninja", GCC_DEPS_STEP), ("i", "i\n"), ("h.h", "h\n")],
    );
    zccache_build(dir, &[]).assert_success();
    damage(&dir.join(".ninja_deps"));

    // ninja rebuilds `o` here because its deps are missing.
    let recovering = zccache_build(dir, &[]);
    recovering.assert_success();
    assert!(
        warnings(&recovering).len() <= 1,
        "{}",
        recovering.describe()
    );
    let again = zccache_build(dir, &[]);
    assert!(warnings(&again).is_empty(), "{}", again.describe());
    again.assert_no_work();
    assert_ninja_agrees_up_to_date(dir);

    append_line(&dir.join("h.h"), "changed");
    assert_eq!(
        zccache_build(dir, &[]).step_descriptions(),
        steps(&["cat i > o && printf '%s: %s h.h\\n' o i > o.d"])
    );
}

#[test]
fn ninja_deps_of_random_bytes_is_relearnt_for_a_gcc_deps_step() {
    damaged_deps_log_keeps_header_tracking(|path| clobber(path, &garbage(4096)));
}

#[test]
fn truncated_ninja_deps_is_relearnt_for_a_gcc_deps_step() {
    damaged_deps_log_keeps_header_tracking(|path| {
        let content = fs::read(path).expect("read deps log");
        clobber(path, &content[..content.len() - 5]);
    });
}

// ---------------------------------------------------------------------------
// 2. Switching between ninja and zccache in one build dir
// ---------------------------------------------------------------------------

const FAN_MANIFEST: &str = "rule cp\n  command = cp $in $out\n\
     rule cat\n  command = cat $in > $out\n\
     build a.out: cp a\n\
     build b.out: cp b\n\
     build all.out: cat a.out b.out\n";

#[test]
fn after_ninja_builds_zccache_rebuilds_only_what_ninja_would() {
    let twin = Twin::new(&[("build.ninja", FAN_MANIFEST), ("a", "a\n"), ("b", "b\n")]);
    // Both dirs are built by ninja; zccache takes over in its own.
    for dir in [&twin.ninja_dir, &twin.zccache_dir] {
        ninja(dir, &[]).assert_success();
    }
    twin.each(|dir| append_line(&dir.join("a"), "edited"));
    let runs = twin.run_same_steps(&[]);
    assert_eq!(
        runs.steps(),
        steps(&["cp a a.out", "cat a.out b.out > all.out"])
    );
    twin.run_same_steps(&[]).zccache.assert_no_work();
}

#[test]
fn after_zccache_builds_and_ninja_rebuilds_zccache_finds_no_work() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[("build.ninja", FAN_MANIFEST), ("a", "a\n"), ("b", "b\n")],
    );
    zccache_build(dir, &[]).assert_success();
    append_line(&dir.join("b"), "edited");
    let by_ninja = ninja(dir, &[]);
    assert_eq!(
        by_ninja.step_descriptions(),
        steps(&["cp b b.out", "cat a.out b.out > all.out"]),
        "{}",
        by_ninja.describe()
    );
    zccache_build(dir, &[]).assert_no_work();
}

/// zccache follows ninja 1.13's exit codes but keeps writing the v6
/// `.ninja_log` (MurmurHash command hashes) that ninja 1.11 and 1.12 read
/// with every record: 1.13's v7 would make 1.11 rerun every step (its
/// hashes differ), as 1.13 starts over on a v6 log.
#[test]
fn ninja_log_stays_v6_which_ninja_1_11_reads_whole() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[("build.ninja", FAN_MANIFEST), ("a", "a\n"), ("b", "b\n")],
    );
    zccache_build(dir, &[]).assert_success();
    let log = fs::read_to_string(dir.join(".ninja_log")).expect("read .ninja_log");
    assert!(log.starts_with("# ninja log v6\n"), "{log}");
    let by_ninja = ninja(dir, &["-d", "explain"]);
    by_ninja.assert_no_work();
    assert!(warnings(&by_ninja).is_empty(), "{}", by_ninja.describe());
}

#[test]
fn without_its_state_zccache_adopts_ninjas_view() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[("build.ninja", FAN_MANIFEST), ("a", "a\n"), ("b", "b\n")],
    );
    zccache_build(dir, &[]).assert_success();
    remove_zccache_state(dir);
    zccache_build(dir, &[]).assert_no_work();
    append_line(&dir.join("b"), "edited");
    assert_eq!(
        zccache_build(dir, &[]).step_descriptions(),
        steps(&["cp b b.out", "cat a.out b.out > all.out"])
    );
}

/// Meson's `vcs_tag` and CMake's always-run custom targets: a step reading
/// a phony output with no inputs runs on every build, the first one in a
/// dir ninja built included.
#[test]
fn always_run_step_runs_in_a_dir_ninja_built() {
    let manifest = "rule gen\n  command = echo x > $out\n  description = GEN $out\n\
         build FORCE: phony\n\
         build out.h: gen FORCE\n";
    let twin = Twin::new(&[("build.ninja", manifest)]);
    for dir in [&twin.ninja_dir, &twin.zccache_dir] {
        ninja(dir, &[]).assert_success();
    }
    assert_eq!(twin.run_same_steps(&["-n"]).steps(), steps(&["GEN out.h"]));
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["GEN out.h"]));
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["GEN out.h"]));
}

/// A dry run assumes every step it would run changes its outputs, so it
/// lists their dependents too, also those zccache has no record of.
#[test]
fn dry_run_lists_dependents_of_steps_only_ninja_built() {
    let manifest = "rule cp\n  command = cp $in $out\n  description = CP $out\n\
         build b: cp a\n\
         build c: cp b\n";
    let twin = Twin::new(&[("build.ninja", manifest), ("a", "a\n")]);
    for dir in [&twin.ninja_dir, &twin.zccache_dir] {
        ninja(dir, &[]).assert_success();
    }
    twin.each(|dir| append_line(&dir.join("a"), "edited"));
    assert_eq!(
        twin.run_same_steps(&["-n"]).steps(),
        steps(&["CP b", "CP c"])
    );
}

/// CMake runs `-t recompact` and `-t restat` after configuring: the
/// rewritten `.ninja_log` and `.ninja_deps` keep the mode new files get
/// (0644 under umask 022), as ninja's do.
#[test]
fn rewritten_ninja_logs_keep_ninjas_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let manifest = "rule cp\n  command = printf '%s: %s\\n' $out $in > $out.d && cp $in $out\n  \
           depfile = $out.d\n  deps = gcc\n\
         build b: cp a\n";
    let twin = Twin::new(&[("build.ninja", manifest), ("a", "a\n")]);
    twin.run_same_steps(&[]);
    twin.run_same_steps(&["-t", "recompact"]);
    twin.run_same_steps(&["-t", "restat"]);
    let mode = |path: std::path::PathBuf| {
        fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for file in [".ninja_log", ".ninja_deps"] {
        assert_eq!(
            mode(twin.zccache_dir.join(file)),
            mode(twin.ninja_dir.join(file)),
            "mode of {file}"
        );
    }
}

/// CMake's Ninja Multi-Config: one build dir, one manifest per
/// configuration. Building one keeps the records of the other, so a
/// touched input with the same content rebuilds neither.
#[test]
fn switching_manifests_in_one_build_dir_keeps_every_record() {
    let temp = temp_dir();
    let dir = temp.path();
    let manifest =
        |config: &str| format!("rule cp\n  command = cp $in $out\nbuild {config}/out: cp src\n");
    write_files(
        dir,
        &[
            ("build-Debug.ninja", &manifest("Debug")),
            ("build-Release.ninja", &manifest("Release")),
            ("src", "src\n"),
        ],
    );
    for config in ["Debug", "Release"] {
        zccache_build(dir, &["-f", &format!("build-{config}.ninja")]).assert_success();
    }
    touch(&dir.join("src"));
    for config in ["Debug", "Release", "Debug"] {
        let file = format!("build-{config}.ninja");
        zccache_build(dir, &["-f", &file]).assert_no_work();
        let by_ninja = ninja(dir, &["-n", "-f", &file]);
        assert!(by_ninja.reports_no_work(), "{}", by_ninja.describe());
    }
}

/// `FORCE_COLOR` colours the output like `CLICOLOR_FORCE` does in ninja;
/// `NO_COLOR` turns `CLICOLOR_FORCE` off (ninja after 1.13.2). Compared
/// with ninja 1.13, whose FAILED line zccache prints.
#[test]
fn colour_variables_colour_failures_as_ninja_does() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule fail\n  command = printf '\\033[1mbold\\033[0m\\n'; exit 1\nbuild out: fail\n",
    )]);
    let real_ninja = ninja_1_13();
    let run = |program: &Path, dir: &Path, vars: &[(&str, &str)]| {
        let mut command = Command::new(program);
        if program != real_ninja {
            command.arg("build");
        }
        command
            .current_dir(dir)
            .env("ZCCACHE_DIR", shared_cache_dir());
        for var in ["NINJA_STATUS", "CLICOLOR_FORCE", "NO_COLOR", "FORCE_COLOR"] {
            command.env_remove(var);
        }
        command.envs(vars.iter().copied());
        let output = command.output().expect("run the build");
        String::from_utf8_lossy(&output.stdout).replace("ninja: ", "zccache: ")
    };
    let zccache = zccache_bin();
    let zccache = zccache.as_path();
    let coloured = run(&real_ninja, &twin.ninja_dir, &[("CLICOLOR_FORCE", "1")]);
    assert!(coloured.contains("\x1b[31mFAILED"), "{coloured}");
    let plain = run(&real_ninja, &twin.ninja_dir, &[]);
    assert_eq!(
        run(zccache, &twin.zccache_dir, &[("FORCE_COLOR", "1")]),
        coloured
    );
    assert_eq!(
        run(
            zccache,
            &twin.zccache_dir,
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
        ),
        plain
    );
    assert_eq!(
        run(
            zccache,
            &twin.zccache_dir,
            &[("NO_COLOR", "1"), ("FORCE_COLOR", "1")]
        ),
        coloured
    );
}

const GCC_PROJECT: &[(&str, &str)] = &[
    (
        "build.ninja",
        "rule cc\n  \
           command = gcc -MD -MF $out.d -c $in -o $out\n  \
           depfile = $out.d\n  \
           deps = gcc\n  \
           description = CC $out\n\
         rule link\n  command = gcc $in -o $out\n  description = LINK $out\n\
         build main.o: cc main.c\n\
         build util.o: cc util.c\n\
         build app: link main.o util.o\n",
    ),
    (
        "main.c",
        "#include \"answer.h\"\nint util(void);\nint main(void) { return ANSWER + util(); }\n",
    ),
    ("answer.h", "#define ANSWER 0\n"),
    ("util.c", "int util(void) { return 0; }\n"),
];

#[test]
fn gcc_header_dependencies_survive_switching_executors() {
    let twin = Twin::new(GCC_PROJECT);
    twin.run_same_steps(&[]).ninja.assert_success();
    // Without its own state zccache must find the header in ninja's deps log.
    remove_zccache_state(&twin.zccache_dir);
    twin.run_same_steps(&[]).zccache.assert_no_work();

    twin.each(|dir| write_after_tick(&dir.join("answer.h"), "#define ANSWER 1\n"));
    assert_eq!(
        twin.run_same_steps(&[]).steps(),
        steps(&["CC main.o", "LINK app"])
    );
    twin.run_same_steps(&[]).zccache.assert_no_work();
    assert_ninja_agrees_up_to_date(&twin.zccache_dir);
}

#[test]
fn zccache_adopts_a_gcc_tree_that_only_ninja_built() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(dir, GCC_PROJECT);
    ninja(dir, &[]).assert_success();
    zccache_build(dir, &[]).assert_no_work();
    write_after_tick(&dir.join("answer.h"), "#define ANSWER 1\n");
    assert_eq!(
        zccache_build(dir, &[]).step_descriptions(),
        steps(&["CC main.o", "LINK app"])
    );
    ninja(dir, &[]).assert_no_work();
}

// ---------------------------------------------------------------------------
// 3. Content-based dirty checking
// ---------------------------------------------------------------------------

#[test]
fn touching_an_input_runs_nothing_and_ninja_stays_in_sync() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(dir, &[("build.ninja", COPY_CHAIN), ("in", "one\n")]);
    zccache_build(dir, &[]).assert_success();
    touch(&dir.join("in"));
    // ninja would rerun `cp in mid` here; zccache sees the same content.
    if !reference_mode() {
        zccache_build(dir, &[]).assert_no_work();
        assert_ninja_agrees_up_to_date(dir);
    }
}

#[test]
fn editing_back_and_forth_rebuilds_whenever_content_differs_from_last_build() {
    let temp = temp_dir();
    let dir = temp.path();
    write_files(dir, &[("build.ninja", COPY_CHAIN), ("in", "A\n")]);
    zccache_build(dir, &[]).assert_success();
    for content in ["B\n", "A\n", "B\n"] {
        write_after_tick(&dir.join("in"), content);
        let run = zccache_build(dir, &[]);
        assert_eq!(
            run.step_descriptions(),
            steps(&["cp in mid", "cp mid out"]),
            "{}",
            run.describe()
        );
        assert_eq!(fs::read_to_string(dir.join("out")).unwrap(), content);
        assert_ninja_agrees_up_to_date(dir);
    }
    if !reference_mode() {
        // Rewriting the same content is only a new timestamp.
        write_after_tick(&dir.join("in"), "B\n");
        zccache_build(dir, &[]).assert_no_work();
        assert_ninja_agrees_up_to_date(dir);
    }
}

// ---------------------------------------------------------------------------
// 4. Early cutoff
// ---------------------------------------------------------------------------

#[test]
fn byte_identical_output_does_not_rerun_dependents() {
    // `head` always rewrites its output (no restat), but only the first line
    // of `in` reaches it; editing the second line changes nothing below.
    let temp = temp_dir();
    let dir = temp.path();
    write_files(
        dir,
        &[
            (
                "build.ninja",
                "rule head\n  command = head -n1 $in > $out\n\
                 rule cp\n  command = cp $in $out\n\
                 build first: head in\n\
                 build copy: cp first\n\
                 build copy2: cp copy\n",
            ),
            ("in", "one\ntwo\n"),
        ],
    );
    zccache_build(dir, &[]).assert_success();
    append_line(&dir.join("in"), "three");
    let run = zccache_build(dir, &[]);
    if !reference_mode() {
        assert_eq!(
            run.step_descriptions(),
            steps(&["head -n1 in > first"]),
            "{}",
            run.describe()
        );
        assert_ninja_agrees_up_to_date(dir);
    }
    zccache_build(dir, &[]).assert_no_work();
}

// ---------------------------------------------------------------------------
// 5. Failed steps
// ---------------------------------------------------------------------------

const PARTIAL_FAILURE: &str = "rule check\n  \
       command = cp $in $out && grep -q good $in\n  \
       description = CHECK $out\n\
     rule cp\n  command = cp $in $out\n  description = CP $out\n\
     build checked: check in\n\
     build copy: cp checked\n";

#[test]
fn failed_step_is_retried_even_when_its_input_is_reverted() {
    let twin = Twin::new(&[("build.ninja", PARTIAL_FAILURE), ("in", "good\n")]);
    twin.run_same_steps(&[]).ninja.assert_success();

    // The failing run leaves a written output behind.
    twin.each(|dir| write_after_tick(&dir.join("in"), "bad\n"));
    assert_eq!(twin.run_same_steps(&[]).ninja.code, Some(1));
    assert_eq!(twin.read_both("checked"), "bad\n");

    // Back to the content of the last successful build: the stale output
    // must still be replaced.
    twin.each(|dir| write_after_tick(&dir.join("in"), "good\n"));
    let runs = twin.run(&[]);
    runs.ninja.assert_success();
    runs.zccache.assert_success();
    // ninja also reruns `copy` (its input got a new mtime); zccache may skip
    // it because `checked` is byte-identical to what `copy` was built from.
    assert!(
        runs.zccache
            .step_descriptions()
            .contains(&"CHECK checked".to_string()),
        "{}",
        runs.context()
    );
    twin.assert_same_trees();
    assert_eq!(twin.read_both("checked"), "good\n");
    twin.run_same_steps(&[]).zccache.assert_no_work();
}

#[test]
fn failed_step_is_retried_without_any_edit() {
    let twin = Twin::new(&[("build.ninja", PARTIAL_FAILURE), ("in", "good\n")]);
    twin.run_same_steps(&[]).ninja.assert_success();
    twin.each(|dir| write_after_tick(&dir.join("in"), "bad\n"));
    twin.run_same_steps(&[]).ninja.assert_failure();
    let retry = twin.run_same_steps(&[]);
    retry.ninja.assert_failure();
    assert_eq!(retry.steps(), steps(&["CHECK checked"]));
}

// ---------------------------------------------------------------------------
// 6. Ctrl-C
// ---------------------------------------------------------------------------

/// A string no other process on the machine has in its command line, used
/// as a `sleep` duration so `pgrep -f` finds exactly our step's processes.
fn unique_sleep_duration(seconds: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!("{seconds}.{:05}{:09}", std::process::id() % 100_000, nanos)
}

fn processes_matching(pattern: &str) -> String {
    let output = Command::new("pgrep")
        .args(["-a", "-f", pattern])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `condition` every 20 ms for up to `limit`.
fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Starts `program args` in `dir` as the leader of a new process group, the
/// way a shell starts a job, and returns it with piped output.
fn spawn_job(dir: &Path, program: &Path, args: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for var in ["NINJA_STATUS", "CLICOLOR_FORCE", "MAKEFLAGS", "MFLAGS"] {
        command.env_remove(var);
    }
    command.spawn().expect("spawn executor")
}

/// Ctrl-C in a terminal: SIGINT to the whole foreground process group.
fn interrupt_group(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Runs the manifest with a quick and a slow step under `program`, presses
/// Ctrl-C once the quick step is done and the slow one is sleeping, and
/// checks ninja 1.13's interruption contract.
fn ctrl_c_stops_the_build(program: &Path, leading_args: &[&str]) {
    let temp = temp_dir();
    let dir = temp.path();
    let sleep = unique_sleep_duration(5);
    write_files(
        dir,
        &[(
            "build.ninja",
            &format!(
                "rule run\n  command = $cmd\n  description = $desc\n\
                 build quick: run\n  cmd = touch quick\n  desc = QUICK\n\
                 build slow: run\n  cmd = sleep {sleep} && touch slow\n  desc = SLOW\n"
            ),
        )],
    );
    let mut args = leading_args.to_vec();
    args.push("-j2");
    let mut job = spawn_job(dir, program, &args);
    let started = wait_for(Duration::from_secs(3), || {
        dir.join("quick").exists() && processes_matching(&sleep).contains("sleep")
    });
    interrupt_group(&job);
    assert!(started, "the steps never started");
    let finished = wait_for(Duration::from_secs(3), || {
        job.try_wait().expect("wait for job").is_some()
    });
    if !finished {
        job.kill().expect("kill hung executor");
    }
    let output = job.wait_with_output().expect("collect output");
    assert!(finished, "the executor ignored Ctrl-C");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 130 as in ninja 1.13 (1.11 exited 2).
    assert_eq!(output.status.code(), Some(130), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("build stopped: interrupted by user."),
        "{stdout}{stderr}"
    );
    assert_eq!(
        processes_matching(&sleep),
        "",
        "the slow step outlived Ctrl-C"
    );
    assert!(!dir.join("slow").exists());

    // The quick step's completion was recorded before the interruption.
    let mut dry_run = leading_args.to_vec();
    dry_run.push("-n");
    let next = run_in(dir, program, &dry_run);
    assert_eq!(
        next.step_descriptions(),
        steps(&["SLOW"]),
        "{}",
        next.describe()
    );
}

#[test]
fn ctrl_c_under_ninja_1_13_exits_130_and_keeps_finished_steps() {
    ctrl_c_stops_the_build(&ninja_1_13(), &[]);
}

#[test]
fn ctrl_c_under_zccache_exits_130_and_keeps_finished_steps() {
    if reference_mode() {
        return; // the ninja test above is the reference
    }
    ctrl_c_stops_the_build(&zccache_bin(), &["build"]);
}

// ---------------------------------------------------------------------------
// 7. Jobserver
// ---------------------------------------------------------------------------

/// The most steps that were running at once, from a log of `+` (start) and
/// `-` (end) lines.
fn max_concurrency(log: &str) -> usize {
    let mut running = 0usize;
    let mut most = 0usize;
    for line in log.lines() {
        match line {
            "+" => running += 1,
            "-" => running -= 1,
            other => panic!("unexpected log line {other:?}"),
        }
        most = most.max(running);
    }
    assert_eq!(running, 0, "unbalanced log:\n{log}");
    most
}

/// Four targets that each sleep 0.3 s between a start and an end marker,
/// and record the MAKEFLAGS they were given.
const SLEEPY_MAKEFILE: &str = "all: a b c d\n\
     a b c d:\n\
     \t@echo + >> log; echo \"$$MAKEFLAGS\" > flags.$@; sleep 0.3; echo - >> log\n";

#[test]
fn make_inside_a_step_joins_zccaches_jobserver() {
    if reference_mode() {
        return; // ninja 1.11 serves no jobserver
    }
    let temp = temp_dir();
    let dir = temp.path();
    // Plain `make`, not `make -j`: an explicit -j makes GNU make leave any
    // jobserver ("-j forced in submake: resetting jobserver mode").
    write_files(
        dir,
        &[
            ("sub.mk", SLEEPY_MAKEFILE),
            (
                "build.ninja",
                "rule make\n  command = make -s -f sub.mk && touch $out\n\
                 build made: make\n",
            ),
        ],
    );
    zccache_build(dir, &["-j2"]).assert_success();
    let flags = fs::read_to_string(dir.join("flags.a")).expect("read flags");
    assert!(
        flags.contains("--jobserver-auth"),
        "MAKEFLAGS was {flags:?}"
    );
    // Two slots in all: the step's own one and one token.
    let log = fs::read_to_string(dir.join("log")).expect("read log");
    assert_eq!(max_concurrency(&log), 2, "{log}");
}

/// `make -j3` whose only recipe runs the executor on `inner/`, a manifest of
/// four sleepy steps, with or without make's `+` (which hands the
/// jobserver's descriptors to the recipe).
fn executor_under_make(recursive_marker: &str) {
    let temp = temp_dir();
    let dir = temp.path();
    let executor = if reference_mode() {
        "ninja".to_string()
    } else {
        format!("{} build", zccache_bin().display())
    };
    write_files(
        dir,
        &[
            (
                "Makefile",
                &format!("all:\n\t{recursive_marker}{executor} -C inner\n"),
            ),
            (
                "inner/build.ninja",
                "rule slow\n  \
                   command = echo + >> log; sleep 0.2; echo - >> log; touch $out\n\
                 build a: slow\nbuild b: slow\nbuild c: slow\nbuild d: slow\n",
            ),
        ],
    );
    // `timeout` turns a jobserver deadlock into a failure instead of a hang.
    let output = run_in(dir, "timeout", &["20", "make", "-s", "-j3"]);
    output.assert_success();
    for step in ["a", "b", "c", "d"] {
        assert!(
            dir.join("inner").join(step).exists(),
            "{}",
            output.describe()
        );
    }
    let log = fs::read_to_string(dir.join("inner/log")).expect("read log");
    assert!(max_concurrency(&log) <= 4, "{log}");
    if !reference_mode() && recursive_marker == "+" {
        // make -j3: the recipe's own slot plus two tokens.
        assert!(max_concurrency(&log) <= 3, "{log}");
    }
}

#[test]
fn zccache_under_make_j3_shares_makes_jobserver() {
    executor_under_make("+");
}

#[test]
fn zccache_under_make_j3_without_recursive_marker_still_finishes() {
    executor_under_make("");
}

// ---------------------------------------------------------------------------
// 8. Pools
// ---------------------------------------------------------------------------

#[test]
fn pool_of_depth_one_never_overlaps_its_steps() {
    let twin = Twin::new(&[(
        "build.ninja",
        "pool p\n  depth = 1\n\
         rule slow\n  \
           command = echo + >> log; sleep 0.2; echo - >> log; touch $out\n  \
           pool = p\n\
         build a: slow\nbuild b: slow\nbuild c: slow\n",
    )]);
    twin.run_same_steps(&["-j3"]).ninja.assert_success();
    assert_eq!(twin.read_both("log"), "+\n-\n".repeat(3));
}

#[test]
fn pool_of_depth_two_runs_exactly_two_at_a_time() {
    let twin = Twin::new(&[(
        "build.ninja",
        "pool p\n  depth = 2\n\
         rule slow\n  \
           command = echo + >> log; sleep 0.2; echo - >> log; touch $out\n  \
           pool = p\n\
         build a: slow\nbuild b: slow\nbuild c: slow\nbuild d: slow\n",
    )]);
    // The interleaving of the two logs may differ, so only their shape is
    // compared.
    let runs = twin.run(&["-j4"]);
    runs.ninja.assert_success();
    runs.zccache.assert_success();
    runs.steps();
    let [from_ninja, from_zccache] = [&twin.ninja_dir, &twin.zccache_dir]
        .map(|dir| fs::read_to_string(dir.join("log")).unwrap());
    assert_eq!(max_concurrency(&from_ninja), 2, "ninja: {from_ninja}");
    assert_eq!(max_concurrency(&from_zccache), 2, "zccache: {from_zccache}");
}

#[test]
fn console_step_output_follows_its_status_line_unbuffered() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule loud\n  command = echo console-says-hi && touch $out\n  \
           pool = console\n  description = LOUD $out\n\
         build out: loud\n",
    )]);
    let runs = twin.run_same_steps(&[]);
    // ninja prints a console step's status line when it starts, so its
    // counter still shows the step as unfinished.
    assert_eq!(runs.ninja.stdout, "[0/1] LOUD out\nconsole-says-hi\n");
    assert_eq!(runs.zccache.stdout, runs.ninja.stdout);
}

/// Runs `program args` in `dir` with `input` on stdin.
fn run_with_stdin(dir: &Path, program: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in ["NINJA_STATUS", "CLICOLOR_FORCE", "MAKEFLAGS", "MFLAGS"] {
        command.env_remove(var);
    }
    let mut child = command.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        command: format!("{} {}", program.display(), args.join(" ")),
    }
}

#[test]
fn only_console_steps_read_the_executors_stdin() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule read\n  command = cat > $out\n\
         rule read_console\n  command = cat > $out\n  pool = console\n\
         build plain.txt: read\n\
         build console.txt: read_console\n",
    )]);
    let typed = "typed by the user\n";
    let by_ninja = run_with_stdin(&twin.ninja_dir, Path::new("ninja"), &["-j1"], typed);
    by_ninja.assert_success();
    if !reference_mode() {
        run_with_stdin(&twin.zccache_dir, &zccache_bin(), &["build", "-j1"], typed)
            .assert_success();
        twin.assert_same_trees();
    }
    assert_eq!(
        fs::read_to_string(twin.ninja_dir.join("console.txt")).unwrap(),
        typed
    );
    assert_eq!(
        fs::read_to_string(twin.ninja_dir.join("plain.txt")).unwrap(),
        ""
    );
}

// ---------------------------------------------------------------------------
// 9. Response files
// ---------------------------------------------------------------------------

const AWKWARD_NAMES: &[(&str, &str)] = &[
    ("with space", "1\n"),
    ("it's", "2\n"),
    ("dollar$sign", "3\n"),
    ("semi;colon", "4\n"),
    ("back\\slash", "5\n"),
    ("uni-\u{e9}", "6\n"),
];

fn awkward_rsp_twin(rule_extra: &str) -> Twin {
    let mut files = AWKWARD_NAMES.to_vec();
    let manifest = format!(
        "rule list\n  \
           command = cp $rspfile $out{rule_extra}\n  \
           rspfile = $out.rsp\n  \
           rspfile_content = $in_newline\n  \
           description = LIST $out\n\
         build listed: list with$ space it's dollar$$sign semi;colon back\\slash uni-\u{e9}\n"
    );
    files.push(("build.ninja", &manifest));
    Twin::new(&files)
}

#[test]
fn rspfile_quotes_awkward_names_one_per_line() {
    let twin = awkward_rsp_twin("");
    twin.run_same_steps(&[]).ninja.assert_success();
    // $in_newline is shell-quoted like $in.
    assert_eq!(
        twin.read_both("listed"),
        "'with space'\n'it'\\''s'\n'dollar$sign'\n'semi;colon'\n'back\\slash'\n'uni-\u{e9}'"
    );
    assert!(!twin.exists_in_both("listed.rsp"));
}

#[test]
fn keeprsp_keeps_the_response_file() {
    let twin = awkward_rsp_twin("");
    twin.run_same_steps(&["-d", "keeprsp"])
        .ninja
        .assert_success();
    assert_eq!(twin.read_both("listed.rsp"), twin.read_both("listed"));
}

#[test]
fn rspfile_is_kept_when_the_step_fails() {
    let twin = awkward_rsp_twin(" && exit 1");
    twin.run_same_steps(&[]).ninja.assert_failure();
    assert!(twin.exists_in_both("listed.rsp"));
}

// ---------------------------------------------------------------------------
// 10. Dyndep
// ---------------------------------------------------------------------------

const DYNDEP_MANIFEST: &str = "rule gen_dd\n  \
       command = printf 'ninja_dyndep_version = 1\\nbuild out | out.extra: dyndep | dep.txt\\n' > $out\n  \
       description = DD $out\n\
     rule make_out\n  \
       command = cat $in dep.txt > $out && cp dep.txt out.extra\n  \
       description = MAKE $out\n\
     build out.dd: gen_dd\n\
     build out: make_out in || out.dd\n  \
       dyndep = out.dd\n";

fn built_dyndep_twin() -> Twin {
    let twin = Twin::new(&[
        ("build.ninja", DYNDEP_MANIFEST),
        ("in", "in\n"),
        ("dep.txt", "dep\n"),
    ]);
    assert_eq!(
        twin.run_same_steps(&[]).steps(),
        steps(&["DD out.dd", "MAKE out"])
    );
    assert_eq!(twin.read_both("out"), "in\ndep\n");
    twin.run_same_steps(&[]).zccache.assert_no_work();
    twin
}

#[test]
fn dyndep_implicit_output_is_rebuilt_when_missing() {
    let twin = built_dyndep_twin();
    twin.each(|dir| fs::remove_file(dir.join("out.extra")).expect("remove out.extra"));
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["MAKE out"]));
    twin.run_same_steps(&[]).zccache.assert_no_work();
    assert_ninja_agrees_up_to_date(&twin.zccache_dir);
}

#[test]
fn dyndep_implicit_output_is_not_a_target_name() {
    // Surprising but true in ninja 1.11: targets named on the command line
    // are looked up before any dyndep file is loaded.
    let twin = built_dyndep_twin();
    let runs = twin.run_same_steps(&["out.extra"]);
    runs.ninja.assert_failure();
    assert_eq!(
        runs.ninja.error_text().as_deref(),
        Some("unknown target 'out.extra'")
    );
    assert_eq!(runs.zccache.error_text(), runs.ninja.error_text());
}

#[test]
fn dyndep_implicit_input_edit_rebuilds_the_step() {
    let twin = built_dyndep_twin();
    twin.each(|dir| append_line(&dir.join("dep.txt"), "more"));
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["MAKE out"]));
    assert_eq!(twin.read_both("out"), "in\ndep\nmore\n");
    twin.run_same_steps(&[]).zccache.assert_no_work();
    assert_ninja_agrees_up_to_date(&twin.zccache_dir);
}

// ---------------------------------------------------------------------------
// 11. Very deep and very wide graphs
// ---------------------------------------------------------------------------

/// `build s1: cp s0` ... `build sN: cp sN-1`.
fn chain_manifest(length: usize, rule: &str) -> String {
    let mut manifest = String::from("rule cp\n  command = cp $in $out\n");
    for i in 1..=length {
        manifest.push_str(&format!("build s{i}: {rule} s{}\n", i - 1));
    }
    manifest
}

#[test]
fn chain_of_1000_steps_is_planned_without_stack_overflow() {
    // A dry run walks the whole chain without paying for 1,000 processes.
    let twin = Twin::new(&[("build.ninja", &chain_manifest(1000, "cp")), ("s0", "x\n")]);
    let runs = twin.run_same_steps(&["-n"]);
    assert_eq!(runs.steps().len(), 1000);
}

#[test]
fn chain_of_5000_phony_steps_builds_and_then_is_up_to_date() {
    // Real steps at both ends of a deep phony chain: dirtiness has to travel
    // through every level, and so does the no-work check.
    let mut manifest = chain_manifest(5000, "phony");
    manifest.push_str("rule copy_root\n  command = cp s0 $out\nbuild top: copy_root | s5000\n");
    let twin = Twin::new(&[("build.ninja", &manifest), ("s0", "x\n")]);
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["cp s0 top"]));
    twin.run_same_steps(&[]).zccache.assert_no_work();
    twin.each(|dir| append_line(&dir.join("s0"), "y"));
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["cp s0 top"]));
    assert_eq!(twin.read_both("top"), "x\ny\n");
}

#[test]
fn fan_in_of_2000_inputs_through_an_rspfile() {
    let names: Vec<String> = (0..2000).map(|i| format!("in/f{i:04}")).collect();
    let contents: Vec<String> = (0..2000).map(|i| format!("{i}\n")).collect();
    let manifest = format!(
        "rule gather\n  \
           command = xargs cat < $rspfile > $out\n  \
           rspfile = $out.rsp\n  \
           rspfile_content = $in_newline\n  \
           description = GATHER $out\n\
         build all.txt: gather {}\n",
        names.join(" ")
    );
    let mut files: Vec<(&str, &str)> = names
        .iter()
        .zip(&contents)
        .map(|(name, content)| (name.as_str(), content.as_str()))
        .collect();
    files.push(("build.ninja", &manifest));
    let twin = twin_in_memory(&files);
    twin.run_same_steps(&[]).ninja.assert_success();
    assert_eq!(twin.read_both("all.txt"), contents.concat());
    twin.run_same_steps(&[]).zccache.assert_no_work();
    twin.each(|dir| append_line(&dir.join("in/f1999"), "edited"));
    assert_eq!(twin.run_same_steps(&[]).steps(), steps(&["GATHER all.txt"]));
}

// ---------------------------------------------------------------------------
// 12. Unusual paths
// ---------------------------------------------------------------------------

const WEIRD_PATHS: &str = "rule cp\n  command = cp $in $out\n  description = CP $out\n\
     build dir$ with$ space/out$:1.txt: cp src$ dir/in$ put.txt\n\
     build ./a/../b/canon.txt: cp ./src$ dir/../src$ dir/in$ put.txt\n\
     build uni-\u{fc}/\u{df}\u{e9}.txt: cp donn\u{e9}es.txt\n";

fn weird_paths_twin() -> Twin {
    Twin::new(&[
        ("build.ninja", WEIRD_PATHS),
        ("src dir/in put.txt", "spaced\n"),
        ("donn\u{e9}es.txt", "unicode\n"),
    ])
}

#[test]
fn escaped_spaces_colons_and_unicode_paths_build_like_ninja() {
    let twin = weird_paths_twin();
    assert_eq!(
        twin.run_same_steps(&[]).steps(),
        // $out is shell-quoted in descriptions too.
        steps(&[
            "CP 'dir with space/out:1.txt'",
            "CP b/canon.txt",
            "CP 'uni-\u{fc}/\u{df}\u{e9}.txt'"
        ])
    );
    assert_eq!(twin.read_both("dir with space/out:1.txt"), "spaced\n");
    assert_eq!(twin.read_both("uni-\u{fc}/\u{df}\u{e9}.txt"), "unicode\n");
    twin.run_same_steps(&[]).zccache.assert_no_work();
    assert_ninja_agrees_up_to_date(&twin.zccache_dir);

    twin.each(|dir| append_line(&dir.join("src dir/in put.txt"), "edited"));
    assert_eq!(
        twin.run_same_steps(&[]).steps(),
        steps(&["CP 'dir with space/out:1.txt'", "CP b/canon.txt"])
    );
    assert_ninja_agrees_up_to_date(&twin.zccache_dir);
}

#[test]
fn unusual_paths_are_named_as_targets_after_canonicalization() {
    let twin = weird_paths_twin();
    for target in [
        "./x/../b/canon.txt",
        "dir with space/./out:1.txt",
        "uni-\u{fc}/\u{df}\u{e9}.txt",
    ] {
        assert_eq!(twin.run_same_steps(&[target]).steps().len(), 1, "{target}");
    }
    twin.run_same_steps(&[]).zccache.assert_no_work();
}

// ---------------------------------------------------------------------------
// 13. Tools on a real CMake project
// ---------------------------------------------------------------------------

#[test]
fn compdb_and_targets_all_match_ninja_on_the_cmake_example() {
    let temp = temp_dir();
    let source = copy_example_project(temp.path());
    let build = temp.path().join("build");
    cmake_configure(&source, &build, &[]);
    // Read-only tools, so both can run in the same build dir and must print
    // byte-identical output.
    for tool in [&["-t", "compdb"][..], &["-t", "targets", "all"]] {
        let from_ninja = ninja(&build, tool);
        from_ninja.assert_success();
        let from_zccache = zccache_build(&build, tool);
        from_zccache.assert_success();
        assert_eq!(from_zccache.stdout, from_ninja.stdout, "{tool:?}");
        assert_eq!(from_zccache.stderr, from_ninja.stderr, "{tool:?}");
    }
}

// ---------------------------------------------------------------------------
// 14. Exit codes
// ---------------------------------------------------------------------------

fn one_step_twin(command: &str) -> Twin {
    Twin::new(&[(
        "build.ninja",
        &format!("rule run\n  command = {command}\n  description = RUN $out\nbuild out: run\n"),
    )])
}

/// Both executors fail the same way and print the same lines (apart from
/// their program name).
fn assert_same_failure(runs: &Runs) {
    runs.ninja.assert_failure();
    assert_eq!(runs.zccache.code, runs.ninja.code, "{}", runs.context());
    assert_eq!(
        normalized_lines(&runs.zccache.combined()),
        normalized_lines(&runs.ninja.combined()),
        "{}",
        runs.context()
    );
}

/// `ninja --version` names the newest release whose behaviour zccache
/// matches: the one these tests compare the changed behaviour with.
#[test]
fn version_is_that_of_the_ninja_1_13_compared_with() {
    if reference_mode() {
        return; // ninja answers with its own version
    }
    let temp = temp_dir();
    let link = temp.path().join("ninja");
    std::os::unix::fs::symlink(zccache_bin(), &link).expect("symlink zccache");
    let ours = run_in(temp.path(), &link, &["--version"]);
    ours.assert_success();
    let real = run_in(temp.path(), ninja_1_13(), &["--version"]);
    assert_eq!(ours.stdout, "1.13.2\n");
    // PyPI's build appends its own suffix: 1.13.2.git.kitware...
    assert!(
        real.stdout.starts_with(ours.stdout.trim_end()),
        "{}",
        real.describe()
    );
}

/// ninja 1.13 exits with a failed step's own code and prints it in the
/// FAILED line (1.11 exited 1 and printed no code).
#[test]
fn failed_step_exit_code_is_propagated_as_in_ninja_1_13() {
    let twin = one_step_twin("exit 3");
    let runs = twin.run_with_ninja_1_13(&[]);
    assert_eq!(runs.ninja.code, Some(3), "{}", runs.context());
    assert!(
        runs.ninja.stdout.contains("FAILED: [code=3] out \n"),
        "{}",
        runs.context()
    );
    assert_same_failure(&runs);
}

#[test]
fn step_killed_by_sigkill_exits_128_plus_the_signal_as_in_ninja_1_13() {
    let twin = one_step_twin("kill -KILL $$$$");
    let runs = twin.run_with_ninja_1_13(&[]);
    assert_eq!(runs.ninja.code, Some(137), "{}", runs.context());
    assert_same_failure(&runs);
}

/// With `-k 0` the build exits with the code of the step that failed last.
#[test]
fn last_failed_step_gives_the_exit_code_as_in_ninja_1_13() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule run\n  command = $cmd\n  description = RUN $out\n\
         build a: run\n  cmd = exit 3\n\
         build b: run\n  cmd = exit 4\n\
         build c: run\n  cmd = touch c\n",
    )]);
    let runs = twin.run_with_ninja_1_13(&["-j1", "-k", "0", "a", "b", "c"]);
    assert_eq!(runs.ninja.code, Some(4), "{}", runs.context());
    assert_same_failure(&runs);
}

/// A step that exits 0 but leaves a depfile that does not parse fails with
/// code 1.
#[test]
fn step_failing_through_its_depfile_exits_1_as_in_ninja_1_13() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule dep\n  command = echo nocolon > $out.d\n  depfile = $out.d\n  deps = gcc\n\
         build d: dep\n",
    )]);
    let runs = twin.run_with_ninja_1_13(&[]);
    assert_eq!(runs.ninja.code, Some(1), "{}", runs.context());
    assert_eq!(runs.zccache.code, Some(1), "{}", runs.context());
    for output in [&runs.ninja, &runs.zccache] {
        assert!(
            output.stdout.contains("FAILED: [code=1] d \n"),
            "{}",
            runs.context()
        );
    }
}

/// Runs a one-step build whose step runs `command`, with zccache and
/// ninja 1.13: both stop it as interrupted by the user, exiting 130.
fn assert_step_interrupts_the_build(command: &str) {
    let twin = one_step_twin(command);
    let runs = twin.run_with_ninja_1_13(&[]);
    assert_eq!(runs.ninja.code, Some(130), "{}", runs.context());
    assert_eq!(
        normalized_lines(&runs.ninja.combined()),
        vec!["build stopped: interrupted by user."]
    );
    assert_same_failure(&runs);
}

#[test]
fn step_killed_by_sigint_stops_the_build_as_interrupted() {
    // ninja treats a child that died of SIGINT as a Ctrl-C of the build.
    assert_step_interrupts_the_build("kill -INT $$$$");
}

/// ninja 1.13 marks an interruption with the code 130, so a step that
/// exits 130 stops the build as if the user had pressed Ctrl-C.
#[test]
fn step_exiting_130_stops_the_build_as_interrupted_in_ninja_1_13() {
    assert_step_interrupts_the_build("exit 130");
}

/// An interrupted rebuild of the manifest is an error exiting 1 in every
/// ninja version, not an interrupted build.
#[test]
fn interrupted_manifest_rebuild_exits_1() {
    let twin = Twin::new(&[
        (
            "build.ninja",
            "rule gen\n  command = kill -INT $$$$\n  generator = 1\n\
             build build.ninja: gen gen.in\n",
        ),
        ("gen.in", ""),
    ]);
    twin.each(|dir| set_mtime_ago(&dir.join("build.ninja"), 100));
    let runs = twin.run_with_ninja_1_13(&[]);
    assert_eq!(runs.ninja.code, Some(1), "{}", runs.context());
    assert_same_failure(&runs);
    let old = twin.run(&[]);
    assert_eq!(old.ninja.code, Some(1), "ninja 1.11: {}", old.context());
}

#[test]
fn missing_input_exits_1_without_running_anything() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule cp\n  command = cp $in $out\nbuild ok: cp\nbuild y: cp x\n",
    )]);
    let runs = twin.run_same_steps(&[]);
    assert_eq!(runs.ninja.code, Some(1));
    assert_same_failure(&runs);
    assert!(!twin.exists_in_both("y"));
}

#[test]
fn unknown_target_exits_1() {
    let twin = one_step_twin("touch $out");
    let runs = twin.run_same_steps(&["nope"]);
    assert_eq!(runs.ninja.code, Some(1));
    assert_same_failure(&runs);
}

#[test]
fn dry_run_after_a_partial_build_lists_what_is_left() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule run\n  command = $cmd\n  description = $desc\n\
         build ok: run\n  cmd = touch ok\n  desc = OK\n\
         build bad: run\n  cmd = false\n  desc = BAD\n\
         build after: run bad ok\n  cmd = touch after\n  desc = AFTER\n",
    )]);
    assert_eq!(twin.run_same_steps(&["-k", "0"]).ninja.code, Some(1));
    let runs = twin.run_same_steps(&["-n"]);
    runs.ninja.assert_success();
    assert_eq!(runs.steps(), steps(&["BAD", "AFTER"]));
    // A dry run records nothing: asking again gives the same answer.
    assert_eq!(
        twin.run_same_steps(&["-n"]).steps(),
        steps(&["BAD", "AFTER"])
    );
}

/// CMake's `VerifyGlobs` pattern: a restat step forced by a phony with no
/// inputs runs on every build, upstream of build.ninja, but leaves its
/// output alone. The manifest must be reloaded only when it was rebuilt, not
/// whenever something upstream of it ran (that would loop).
#[test]
fn always_running_check_upstream_of_the_manifest_runs_once_per_build() {
    let manifest = "\
rule verify
  command = echo run >> verify.log && (test -f verify.stamp || touch verify.stamp)
  restat = 1
  description = VERIFY
rule regen
  command = touch $out
  generator = 1
rule cp
  command = cp $in $out
build force: phony
build verify.stamp: verify | force
build build.ninja: regen verify.stamp
build out: cp in
default out
";
    let twin = Twin::new(&[("build.ninja", manifest), ("in", "x\n")]);
    let mut last = None;
    for _ in 0..3 {
        let runs = twin.run(&[]);
        runs.ninja.assert_success();
        runs.zccache.assert_success();
        last = Some(runs);
    }
    let runs_of = |dir: &Path| fs::read_to_string(dir.join("verify.log")).unwrap_or_default();
    assert_eq!(
        runs_of(&twin.zccache_dir).lines().count(),
        runs_of(&twin.ninja_dir).lines().count(),
        "{}",
        last.map(|runs| runs.context()).unwrap_or_default()
    );
}

/// A step downstream of a dyndep step must see the dyndep step's new
/// output: the up-front estimate cannot know the inputs a dyndep file adds,
/// so it must not declare the downstream step clean.
#[test]
fn step_after_a_dyndep_step_rebuilds_when_a_dyndep_input_changes() {
    let manifest =
        format!("{DYNDEP_MANIFEST}rule copy\n  command = cp $in $out\nbuild final: copy out\n");
    let twin = Twin::new(&[
        ("build.ninja", manifest.as_str()),
        ("in", "in\n"),
        ("dep.txt", "dep\n"),
    ]);
    twin.run(&[]).zccache.assert_success();
    twin.each(|dir| append_line(&dir.join("dep.txt"), "more"));
    twin.run(&[]).zccache.assert_success();
    assert_eq!(twin.read_both("final"), "in\ndep\nmore\n");
}

/// After ninja rebuilt an output from new input, reverting the input must
/// rebuild it again: zccache's old record matches the reverted input, but
/// the output on disk is ninja's, built from the other content.
#[test]
fn output_rebuilt_by_ninja_then_input_reverted_is_rebuilt() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "build.ninja",
                "rule cp\n  command = cp $in $out\nbuild out: cp in\n",
            ),
            ("in", "A\n"),
        ],
    );
    zccache_build(dir.path(), &[]).assert_success();
    edit_file(&dir.path().join("in"), |_| "B\n".to_string());
    ninja(dir.path(), &[]).assert_success();
    edit_file(&dir.path().join("in"), |_| "A\n".to_string());
    zccache_build(dir.path(), &[]).assert_success();
    assert_eq!(fs::read_to_string(dir.path().join("out")).unwrap(), "A\n");
    ninja(dir.path(), &[]).assert_no_work();
}

/// A depfile dependency that points downstream (a cycle only an old build
/// reported) must neither hang the build nor let it succeed without
/// building. Ninja stops with "dependency cycle" here; zccache treats old
/// depfile entries as ordering hints and builds, so this is the one test
/// that `ZCCACHE_E2E_REFERENCE=ninja` fails, by design.
#[test]
fn depfile_cycle_from_an_old_build_does_not_stall() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "build.ninja",
                "rule cc\n  command = echo \"$out: gen.h\" > $out.d && cat $in > $out\n  depfile = $out.d\n  deps = gcc\n\
                 rule gen\n  command = cat $in > $out\n\
                 build a.o: cc a.c\nbuild gen.h: gen a.o\n",
            ),
            ("a.c", "one\n"),
        ],
    );
    zccache_build(dir.path(), &[]).assert_success();
    append_line(&dir.path().join("a.c"), "two");
    zccache_build(dir.path(), &[]).assert_success();
    assert_eq!(
        fs::read_to_string(dir.path().join("a.o")).unwrap(),
        "one\ntwo\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("gen.h")).unwrap(),
        "one\ntwo\n"
    );
}

/// A generator that rewrites one of its own inputs (Meson rewrites
/// coredata.dat) runs once, as in ninja, not until a retry limit.
#[test]
fn generator_rewriting_its_own_input_runs_once() {
    let manifest = "\
rule regen
  command = echo run >> regen.log && echo c > cfg.dat && touch build.ninja
  generator = 1
build build.ninja: regen cfg.dat | gen.in
";
    let twin = Twin::new(&[
        ("build.ninja", manifest),
        ("cfg.dat", "c\n"),
        ("gen.in", ""),
    ]);
    // Times set, not left to the clock: the manifest is newer than its
    // inputs, so neither program regenerates it at first...
    twin.each(|dir| {
        set_mtime_ago(&dir.join("cfg.dat"), 300);
        set_mtime_ago(&dir.join("gen.in"), 300);
        set_mtime_ago(&dir.join("build.ninja"), 200);
    });
    twin.run(&[]);
    // ...and then an input newer than it (still in the past) makes both
    // regenerate it once, rewriting `cfg.dat` before the manifest.
    twin.each(|dir| set_mtime_ago(&dir.join("gen.in"), 100));
    let runs = twin.run(&[]);
    runs.ninja.assert_success();
    runs.zccache.assert_success();
    let count = |dir: &Path| {
        fs::read_to_string(dir.join("regen.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(count(&twin.ninja_dir), 1, "{}", runs.context());
    assert_eq!(count(&twin.zccache_dir), 1, "{}", runs.context());
}

/// `-n` shows what a real run would do: in a dir ninja built, nothing.
#[test]
fn dry_run_in_a_dir_ninja_built_has_no_work() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "build.ninja",
                "rule cp\n  command = cp $in $out\nbuild out: cp in\nbuild out2: cp out\n",
            ),
            ("in", "A\n"),
        ],
    );
    ninja(dir.path(), &[]).assert_success();
    zccache_build(dir.path(), &["-n"]).assert_no_work();
    zccache_build(dir.path(), &[]).assert_no_work();
}

/// An output declared only in one dyndep file and read through another's:
/// with both files on disk from an earlier build, the reader waits for the
/// writer even when it is checked first, because dyndep files already on
/// disk are applied before planning. (Ninja 1.11 stops here with "missing
/// and no known rule", having loaded the reader's file first.)
#[test]
fn dyndep_output_read_through_another_dyndep_file_is_built_first() {
    let manifest = "\
rule dd
  command = printf '%b' '$content' > $out
rule make_a
  command = sleep 0.3 && echo A > a && echo X > a.extra
rule make_b
  command = cat a.extra > b
build b.dd: dd
  content = ninja_dyndep_version = 1\\nbuild b: dyndep | a.extra\\n
build a.dd: dd
  content = ninja_dyndep_version = 1\\nbuild a | a.extra: dyndep\\n
build b: make_b || b.dd a
  dyndep = b.dd
build a: make_a || a.dd
  dyndep = a.dd
";
    let dir = temp_dir();
    write_files(dir.path(), &[("build.ninja", manifest)]);
    zccache_build(dir.path(), &["-j2"]).assert_success();
    // Both dyndep files exist now. Without the explicit order-only `a`,
    // only the dyndep files order b after a.
    fs::write(
        dir.path().join("build.ninja"),
        manifest.replace("|| b.dd a", "|| b.dd"),
    )
    .unwrap();
    for name in ["a", "a.extra", "b"] {
        fs::remove_file(dir.path().join(name)).unwrap();
    }
    zccache_build(dir.path(), &["-j2"]).assert_success();
    assert_eq!(fs::read_to_string(dir.path().join("b")).unwrap(), "X\n");
}
