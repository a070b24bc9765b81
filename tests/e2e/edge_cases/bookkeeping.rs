//! Damaged bookkeeping, and switching between ninja and zccache in one
//! build dir.

use super::*;

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

/// [`FAN_MANIFEST`] and its two sources.
const FAN_FILES: &[(&str, &str)] = &[("build.ninja", FAN_MANIFEST), ("a", "a\n"), ("b", "b\n")];

/// A temp dir holding [`FAN_FILES`], built once by zccache.
fn fan_built_by_zccache() -> tempfile::TempDir {
    let temp = temp_dir();
    write_files(temp.path(), FAN_FILES);
    zccache_build(temp.path(), &[]).assert_success();
    temp
}

#[test]
fn after_ninja_builds_zccache_rebuilds_only_what_ninja_would() {
    let twin = Twin::new(FAN_FILES);
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
    let temp = fan_built_by_zccache();
    let dir = temp.path();
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
    let temp = fan_built_by_zccache();
    let dir = temp.path();
    let log = fs::read_to_string(dir.join(".ninja_log")).expect("read .ninja_log");
    assert!(log.starts_with("# ninja log v6\n"), "{log}");
    let by_ninja = ninja(dir, &["-d", "explain"]);
    by_ninja.assert_no_work();
    assert!(warnings(&by_ninja).is_empty(), "{}", by_ninja.describe());
}

#[test]
fn without_its_state_zccache_adopts_ninjas_view() {
    let temp = fan_built_by_zccache();
    let dir = temp.path();
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
