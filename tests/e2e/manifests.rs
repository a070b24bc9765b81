//! Small hand-written build.ninja files run by real ninja and by
//! `zccache build` in twin directories; both must agree on exit status,
//! printed steps, error text and the files left behind.
//!
//! Commands are plain shell tools (cp, cat, printf, touch, sh -c), never
//! compiler mocks. Step lines are compared sorted (see
//! [`crate::harness::step_descriptions`]) so a different but valid schedule is not a
//! failure; ordering that matters is checked through the files written.

use crate::harness::twin::Twin;
use crate::harness::*;
use std::fs;

fn step(description: &str) -> String {
    description.to_string()
}

#[test]
fn variables_scoping_and_shadowing() {
    let twin = Twin::new(&[(
        "build.ninja",
        "greeting = hello\n\
         captured = $greeting\n\
         greeting = hey\n\
         rule say\n  \
           command = printf '%s %s %s %s\\n' $greeting $who $captured $bracketed > $out\n\
         build a.txt: say\n  \
           who = a\n  \
           bracketed = [$who]\n\
         build b.txt: say\n  \
           greeting = hi\n  \
           who = b\n  \
           bracketed = [$who]\n",
    )]);
    twin.run_same(&["-j1"]).ninja.assert_success();
    // A top-level binding is expanded where it is written (`captured`); a
    // build's own bindings are expanded in the file scope, so `bracketed`
    // cannot see the build's `who`; the command sees them all.
    assert_eq!(twin.read_both("a.txt"), "hey a hello []\n");
    assert_eq!(twin.read_both("b.txt"), "hi b hello []\n");
    twin.run_same(&[]).zccache.assert_no_work();
}

#[test]
fn in_out_and_in_newline() {
    let twin = Twin::new(&[
        ("x", "x\n"),
        ("y", "y\n"),
        (
            "build.ninja",
            "rule join\n  \
               command = cat $in > $out && printf '[%s]\\n' $out >> $out && cp $out.rsp $out.list\n  \
               rspfile = $out.rsp\n  \
               rspfile_content = $in_newline\n\
             build joined: join x y\n",
        ),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    assert_eq!(twin.read_both("joined"), "x\ny\n[joined]\n");
    assert_eq!(twin.read_both("joined.list"), "x\ny");
}

#[test]
fn implicit_and_order_only_inputs() {
    let twin = Twin::new(&[
        ("main", "main\n"),
        ("implicit", "implicit\n"),
        (
            "build.ninja",
            "rule cat\n  command = cat $in > $out\n\
             rule stamp\n  command = touch $out\n\
             build out: cat main | implicit || order\n\
             build order: stamp\n",
        ),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    // $in holds only the explicit input.
    assert_eq!(twin.read_both("out"), "main\n");

    twin.each(|dir| append_line(&dir.join("implicit"), "changed"));
    assert_eq!(twin.run_same(&[]).steps(), vec![step("cat main > out")]);

    // A newer order-only input does not make the output dirty.
    twin.each(|dir| touch(&dir.join("order")));
    twin.run_same(&[]).zccache.assert_no_work();
}

#[test]
fn implicit_outputs_are_tracked() {
    let twin = Twin::new(&[
        ("in", "in\n"),
        (
            "build.ninja",
            "rule two\n  command = cp $in $out && cp $in side\n\
             build out | side: two in\n",
        ),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    assert_eq!(twin.read_both("side"), "in\n");
    twin.each(|dir| fs::remove_file(dir.join("side")).expect("remove side"));
    assert_eq!(
        twin.run_same(&[]).steps(),
        vec![step("cp in out && cp in side")]
    );
    twin.run_same(&["side"]).zccache.assert_no_work();
}

#[test]
fn validations_are_built_with_their_target() {
    let twin = Twin::new(&[
        ("in", "in\n"),
        (
            "build.ninja",
            "rule cp\n  command = cp $in $out\n\
             build out: cp in |@ checked\n\
             build checked: cp in\n\
             build other: cp in\n",
        ),
    ]);
    twin.run_same(&["out"]).ninja.assert_success();
    assert!(twin.exists_in_both("checked"));
    assert!(!twin.exists_in_both("other"));
}

#[test]
fn defaults_are_cumulative() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule touch\n  command = touch $out\n\
         build a: touch\n\
         build b: touch\n\
         build c: touch\n\
         build ab: phony a b\n\
         default a\n\
         default b\n",
    )]);
    twin.run_same(&[]).ninja.assert_success();
    assert!(twin.exists_in_both("a") && twin.exists_in_both("b"));
    assert!(!twin.exists_in_both("c"));
}

#[test]
fn without_default_every_root_output_is_built() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule touch\n  command = touch $out\n\
         rule cat\n  command = cat $in > $out\n\
         build leaf: touch\n\
         build root1: cat leaf\n\
         build root2: touch\n",
    )]);
    let runs = twin.run_same(&[]);
    assert_eq!(runs.steps().len(), 3);
    assert!(twin.exists_in_both("root1") && twin.exists_in_both("root2"));
}

#[test]
fn include_shares_scope_and_subninja_does_not() {
    let twin = Twin::new(&[
        (
            "build.ninja",
            "who = top\n\
             rule write\n  command = printf '%s\\n' $who > $out\n\
             include included.ninja\n\
             subninja sub/build.ninja\n\
             build top.txt: write\n",
        ),
        // Changes `who` for the including file too.
        (
            "included.ninja",
            "who = from-include\nbuild included.txt: write\n",
        ),
        // Sees the parent's rule and variables; its own `who` stays local.
        // Commands are expanded after parsing, so even the step declared
        // before the rebinding sees the subninja's final `who`.
        (
            "sub/build.ninja",
            "build sub-before.txt: write\nwho = from-subninja\nbuild sub-after.txt: write\n",
        ),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    assert_eq!(twin.read_both("top.txt"), "from-include\n");
    assert_eq!(twin.read_both("included.txt"), "from-include\n");
    assert_eq!(twin.read_both("sub-before.txt"), "from-subninja\n");
    assert_eq!(twin.read_both("sub-after.txt"), "from-subninja\n");
}

#[test]
fn escapes() {
    let twin = Twin::new(&[(
        "build.ninja",
        "name = world\n\
         rule write\n  \
           command = printf '%s\\n' 'dollar $$ ${name}ly long $\n      line' > $out\n\
         build with$ space.txt: write\n\
         build with$:colon.txt: write\n",
    )]);
    twin.run_same(&[]).ninja.assert_success();
    assert_eq!(
        twin.read_both("with space.txt"),
        "dollar $ worldly long line\n"
    );
    assert!(twin.exists_in_both("with:colon.txt"));
}

#[test]
fn pool_depth_limits_parallelism() {
    // Each step logs start and end around a short sleep; with depth 1 the log
    // must strictly alternate even under -j4.
    let twin = Twin::new(&[(
        "build.ninja",
        "pool serial\n  depth = 1\n\
         rule slow\n  \
           command = sh -c 'echo start >> log; sleep 0.05; echo end >> log; touch $out'\n  \
           pool = serial\n\
         build a: slow\nbuild b: slow\nbuild c: slow\nbuild d: slow\n",
    )]);
    twin.run_same(&["-j4"]).ninja.assert_success();
    let log = twin.read_both("log");
    assert_eq!(log, "start\nend\n".repeat(4));
}

#[test]
fn console_pool_step_output_reaches_stdout() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule loud\n  command = echo console-says-hi && touch $out\n  pool = console\n\
         build out: loud\n",
    )]);
    let runs = twin.run_same(&[]);
    assert!(runs.zccache.stdout.contains("console-says-hi"));
}

#[test]
fn rspfile_is_removed_unless_keeprsp() {
    let manifest = "rule list\n  \
                      command = cp $out.rsp $out\n  \
                      rspfile = $out.rsp\n  \
                      rspfile_content = $in and more\n\
                    build listed: list a b\n\
                    build a: phony\nbuild b: phony\n";
    let twin = Twin::new(&[("build.ninja", manifest)]);
    twin.run_same(&[]).ninja.assert_success();
    assert_eq!(twin.read_both("listed"), "a b and more");
    assert!(!twin.exists_in_both("listed.rsp"));

    twin.each(|dir| fs::remove_file(dir.join("listed")).expect("remove listed"));
    twin.run_same(&["-d", "keeprsp"]).ninja.assert_success();
    assert_eq!(twin.read_both("listed.rsp"), "a b and more");
}

const DEPFILE_MANIFEST: &str = "rule cc\n  \
       command = cat $in > $out && printf '%s: %s h.h\\n' $out $in > $out.d\n  \
       depfile = $out.d\n  \
       deps = gcc\n\
     build o: cc i\n";

#[test]
fn gcc_deps_track_headers_and_remove_the_depfile() {
    let twin = Twin::new(&[
        ("build.ninja", DEPFILE_MANIFEST),
        ("i", "i\n"),
        ("h.h", "h\n"),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    assert!(!twin.exists_in_both("o.d"));
    twin.run_same(&[]).zccache.assert_no_work();

    twin.each(|dir| append_line(&dir.join("h.h"), "changed"));
    assert_eq!(twin.run_same(&[]).steps().len(), 1);
    twin.run_same(&[]).zccache.assert_no_work();
}

#[test]
fn keepdepfile_keeps_the_depfile() {
    let twin = Twin::new(&[
        ("build.ninja", DEPFILE_MANIFEST),
        ("i", "i\n"),
        ("h.h", "h\n"),
    ]);
    twin.run_same(&["-d", "keepdepfile"]).ninja.assert_success();
    assert_eq!(twin.read_both("o.d"), "o: i h.h\n");
}

#[test]
fn restat_stops_propagation_when_output_is_unchanged() {
    // `first` keeps only the first line of `in` and leaves its output
    // untouched when that line did not change.
    let twin = Twin::new(&[
        ("in", "one\ntwo\n"),
        (
            "build.ninja",
            "rule first\n  \
               command = head -n1 $in > $out.tmp && (cmp -s $out.tmp $out || cp $out.tmp $out) && rm $out.tmp\n  \
               restat = 1\n  \
               description = FIRST $out\n\
             rule cp\n  command = cp $in $out\n  description = CP $out\n\
             build head: first in\n\
             build copy: cp head\n",
        ),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    twin.each(|dir| append_line(&dir.join("in"), "three"));
    assert_eq!(twin.run_same(&[]).steps(), vec![step("FIRST head")]);
    twin.run_same(&[]).zccache.assert_no_work();
    assert_eq!(twin.read_both("copy"), "one\n");
}

#[test]
fn generator_steps_ignore_command_changes() {
    let manifest = |flag: &str| {
        format!(
            "rule gen\n  command = printf 'generated\\n' > $out {flag}\n  generator = 1\n\
             build gen.txt: gen\n\
             rule cp\n  command = cp gen.txt $out {flag}\n\
             build plain.txt: cp gen.txt\n"
        )
    };
    let twin = Twin::new(&[("build.ninja", &manifest(""))]);
    twin.run_same(&[]).ninja.assert_success();
    twin.each(|dir| write_files(dir, &[("build.ninja", &manifest("# changed"))]));
    // Only the non-generator step sees its new command.
    assert_eq!(
        twin.run_same(&[]).steps(),
        vec![step("cp gen.txt plain.txt # changed")]
    );
}

const FAILING_MANIFEST: &str = "rule run\n  command = $cmd\n\
     build ok1: run\n  cmd = touch ok1\n\
     build bad1: run\n  cmd = sh -c 'echo bad1 broke; exit 3'\n\
     build bad2: run\n  cmd = sh -c 'echo bad2 broke; exit 4'\n\
     build after: run bad1\n  cmd = touch after\n";

#[test]
fn failing_step_reports_failed_and_exits_with_its_code() {
    let twin = Twin::new(&[("build.ninja", FAILING_MANIFEST)]);
    let runs = twin.run_same_as_1_13(&["-j1", "bad1"]);
    runs.ninja.assert_failure();
    // ninja 1.13 exits with the step's code (1.11 exited 1).
    assert_eq!(runs.ninja.code, Some(3));
    // ninja prints a trailing space after the output list.
    assert!(
        runs.zccache
            .stdout
            .lines()
            .any(|line| line.trim_end() == "FAILED: [code=3] bad1"),
        "{}",
        runs.zccache.describe()
    );
    assert!(runs.zccache.stdout.contains("bad1 broke"));
}

#[test]
fn keep_going_zero_runs_everything_possible() {
    let twin = Twin::new(&[("build.ninja", FAILING_MANIFEST)]);
    let runs = twin.run_same_as_1_13(&["-k", "0", "-j1"]);
    runs.ninja.assert_failure();
    for failed in ["FAILED: [code=3] bad1", "FAILED: [code=4] bad2"] {
        assert!(
            runs.zccache.stdout.contains(failed),
            "{}",
            runs.zccache.describe()
        );
    }
    assert!(twin.exists_in_both("ok1"));
    assert!(!twin.exists_in_both("after"));
}

#[test]
fn dry_run_writes_nothing() {
    let twin = Twin::new(&[(
        "build.ninja",
        "rule touch\n  command = touch $out\nbuild a: touch\nbuild b: touch\n",
    )]);
    let runs = twin.run_same(&["-n"]);
    assert_eq!(runs.steps(), vec![step("touch a"), step("touch b")]);
    assert!(!twin.exists_in_both("a"));
}

#[test]
fn targets_by_path_caret_and_phony_name() {
    let twin = Twin::new(&[
        ("src/x.c", "x\n"),
        (
            "build.ninja",
            "rule cp\n  command = cp $in $out\n\
             build out/x.o: cp src/x.c\n\
             build out/y.o: cp src/x.c\n\
             build everything: phony out/x.o out/y.o\n",
        ),
    ]);
    // `src/x.c^` names the first output built from src/x.c.
    assert_eq!(
        twin.run_same(&["src/x.c^"]).steps(),
        vec![step("cp src/x.c out/x.o")]
    );
    // Paths are canonicalized.
    assert_eq!(twin.run_same(&["./out/../out/y.o"]).steps().len(), 1);
    twin.each(|dir| fs::remove_dir_all(dir.join("out")).expect("remove out"));
    assert_eq!(twin.run_same(&["everything"]).steps().len(), 2);
}

fn error_of(manifest: &str, args: &[&str]) -> String {
    let twin = Twin::new(&[("build.ninja", manifest)]);
    let runs = twin.run(args);
    runs.ninja.assert_failure();
    runs.zccache.assert_failure();
    runs.error_text()
}

#[test]
fn error_parse_error_with_location_and_caret() {
    let text = error_of("rule cp\n  command = cp $in $out\nbuild out cp in\n", &[]);
    assert_eq!(
        text,
        "build.ninja:3: expected ':', got newline ($ also escapes ':')\n\
         build out cp in\n\
         \x20              ^ near here"
    );
}

#[test]
fn error_unknown_rule() {
    let text = error_of("build out: nosuchrule in\n", &[]);
    assert!(text.contains("unknown build rule 'nosuchrule'"), "{text}");
    assert!(text.contains("^ near here"), "{text}");
}

#[test]
fn error_unknown_pool() {
    let text = error_of(
        "rule cp\n  command = cp $in $out\n  pool = nopool\nbuild out: cp in\n",
        &[],
    );
    assert!(text.contains("unknown pool name 'nopool'"), "{text}");
}

#[test]
fn error_duplicate_outputs() {
    let text = error_of(
        "rule touch\n  command = touch $out\nbuild out: touch\nbuild out: touch\n",
        &[],
    );
    assert!(text.contains("multiple rules generate out"), "{text}");
}

#[test]
fn error_dependency_cycle() {
    let text = error_of(
        "rule cat\n  command = cat $in > $out\nbuild a: cat b\nbuild b: cat a\n",
        &["a"],
    );
    assert_eq!(text, "dependency cycle: a -> b -> a");
}

#[test]
fn error_missing_input() {
    let text = error_of(
        "rule cat\n  command = cat $in > $out\nbuild y: cat x\n",
        &[],
    );
    assert_eq!(
        text,
        "'x', needed by 'y', missing and no known rule to make it"
    );
}

#[test]
fn error_unknown_target() {
    let text = error_of(
        "rule touch\n  command = touch $out\nbuild a: touch\n",
        &["nope"],
    );
    assert!(text.starts_with("unknown target 'nope'"), "{text}");
}

/// A built twin for the `-t` tool tests.
fn built_tool_twin() -> Twin {
    let twin = Twin::new(&[
        ("i", "i\n"),
        ("h.h", "h\n"),
        (
            "build.ninja",
            &format!(
                "{DEPFILE_MANIFEST}\
                 rule cp\n  command = cp $in $out\n  description = CP $out\n\
                 build copy: cp o\n\
                 build all: phony copy\n\
                 default all\n"
            ),
        ),
    ]);
    twin.run_same(&[]).ninja.assert_success();
    twin
}

#[test]
fn tools_that_only_read_match_ninja() {
    let twin = built_tool_twin();
    for tool in [
        &["-t", "targets", "all"][..],
        &["-t", "targets"],
        &["-t", "commands"],
        &["-t", "commands", "copy"],
        &["-t", "compdb"],
        &["-t", "query", "o"],
        &["-t", "inputs", "copy"],
        &["-t", "rules"],
    ] {
        let runs = twin.run_same(tool);
        runs.ninja.assert_success();
    }
}

#[test]
fn tool_deps_lists_recorded_dependencies() {
    let twin = built_tool_twin();
    let runs = twin.run(&["-t", "deps"]);
    runs.ninja.assert_success();
    runs.zccache.assert_success();
    // The recorded mtime differs between the two dirs; everything else not.
    let without_mtimes = |output: &Output| -> Vec<String> {
        output
            .stdout
            .lines()
            .map(|line| match line.split_once(", deps mtime ") {
                Some((head, tail)) => {
                    format!("{head} {}", tail.split_once(' ').map_or("", |(_, v)| v))
                }
                None => line.to_string(),
            })
            .collect()
    };
    assert_eq!(without_mtimes(&runs.zccache), without_mtimes(&runs.ninja));
    assert!(runs.ninja.stdout.contains("o: #deps 2"));
}

#[test]
fn tool_clean_removes_outputs() {
    let twin = built_tool_twin();
    twin.run_same(&["-t", "clean"]).ninja.assert_success();
    assert!(!twin.exists_in_both("copy") && !twin.exists_in_both("o"));
    assert!(twin.exists_in_both("i"));
}

#[test]
fn tools_restat_recompact_and_cleandead_succeed() {
    let twin = built_tool_twin();
    for tool in ["restat", "recompact", "cleandead"] {
        twin.run_same(&["-t", tool]).ninja.assert_success();
    }
    twin.run_same(&[]).zccache.assert_no_work();

    // In a directory that was never built they still succeed.
    let fresh = Twin::new(&[("build.ninja", DEPFILE_MANIFEST)]);
    for tool in ["restat", "recompact", "cleandead"] {
        fresh.run_same(&["-t", tool]).ninja.assert_success();
    }
}

/// `-w`: `dupbuild` and `phonycycle` decide what the parser accepts; `list`
/// and an unknown flag stop before anything is read, with exit 1.
#[test]
fn warning_flags_behave_as_in_ninja() {
    let manifest = "rule cp\n  command = cp $in $out\n\
         build a: cp x\n\
         build a b: cp y\n\
         build c: phony c\n";
    let twin = Twin::new(&[("build.ninja", manifest), ("x", "x\n"), ("y", "y\n")]);
    let cases: &[&[&str]] = &[
        &["-w", "list"],
        &["-w", "bogus"],
        &["-w", "dupbuild=bogus", "-w", "list"],
        &["-w", "phonycyle=err"],
        &["-w", "dupbuild=err"],
        &["-w", "dupbuild=warn", "-w", "phonycycle=err", "c"],
        &["-w", "dupbuild=warn", "-w", "phonycycle=warn"],
    ];
    for args in cases {
        twin.run_same(args);
    }
    assert_eq!(twin.read_both("a"), "x\n");
    assert_eq!(twin.read_both("b"), "y\n");
}
