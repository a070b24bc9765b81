//! Content-based dirty checking, early cutoff, failed steps and Ctrl-C.

use super::*;

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
