//! Very deep and very wide graphs, unusual paths, tools on a real CMake
//! project, and exit codes.

use super::*;

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
