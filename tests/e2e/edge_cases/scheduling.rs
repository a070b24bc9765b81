//! The jobserver, pools, response files and dyndep.

use super::*;

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
