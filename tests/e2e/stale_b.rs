//! End-to-end: ways a compile's result depends on something its key did
//! not hold (issue 14, cases 5 to 11, and clang's recorded command line).
//! Each test builds a small manifest with `zccache build` against a
//! private cache, changes what the compile depends on, builds again, and
//! compares the object byte for byte with what the real compiler makes
//! now; the change must be a miss (or not cached, with its reason
//! counted), never a stale restore.

use crate::harness::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A build dir with a manifest, and a private cache.
struct Case {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    env: Env,
}

impl Case {
    /// `files` (relative path, content) in a fresh dir; `build.ninja` among them.
    fn new(files: &[(&str, &str)]) -> Case {
        let temp = temp_dir();
        let dir = temp.path().join("build");
        write_files(&dir, files);
        Case {
            env: Env::new(temp.path().join("cache")),
            dir,
            _temp: temp,
        }
    }

    /// `zccache build -d explain` in the case's dir, which must succeed.
    fn build(&self) -> Output {
        self.build_in(&self.dir)
    }

    fn build_in(&self, dir: &Path) -> Output {
        let output = self.env.zccache(dir, &["build", "-d", "explain"]);
        output.assert_success();
        output
    }

    /// One counter of `zccache stats --json` (0 when absent).
    fn stat(&self, name: &str) -> i64 {
        self.env.stats().get(name)
    }

    /// Removes the objects so the next build runs (and looks up) them again.
    fn remove(&self, objects: &[&str]) {
        for object in objects {
            let _ = fs::remove_file(self.dir.join(object));
        }
    }

    /// Asserts that `object` in `dir` is what `command` (the compile, run
    /// by `sh` in `dir` with the case's environment) makes now.
    fn assert_real(&self, dir: &Path, object: &str, command: &str, context: &Output) {
        let path = dir.join(object);
        let restored = fs::read(&path).unwrap_or_else(|e| panic!("read {object}: {e}"));
        fs::remove_file(&path).expect("remove object");
        let plain = self
            .env
            .command(dir, "sh", &["-c", command])
            .output()
            .expect("run the plain compile");
        assert!(
            plain.status.success(),
            "plain `{command}` failed: {plain:?}"
        );
        let real = fs::read(&path).expect("read plain object");
        assert!(
            restored == real,
            "{object} differs from what `{command}` makes: a stale restore\n{}",
            context.describe()
        );
    }
}

/// `object` in `dir`, read.
fn object_bytes(dir: &Path, object: &str) -> Vec<u8> {
    fs::read(dir.join(object)).unwrap_or_else(|e| panic!("read {object}: {e}"))
}

/// Asserts that an object embedding `__TIME__` was compiled again rather
/// than restored: more than a second after `before` was made, a real
/// compile embeds another time. (A plain compile to compare with would
/// run in yet another second, now and then.)
fn assert_recompiled(before: &[u8], dir: &Path, object: &str, context: &Output) {
    assert!(
        object_bytes(dir, object) != before,
        "{object} is the one compiled a second before: a stale restore\n{}",
        context.describe()
    );
}

/// A manifest compiling each `(object, source)` with `command` (ninja's
/// `$in`/`$out`).
fn manifest(command: &str, objects: &[(&str, &str)]) -> String {
    let mut text = format!("rule cc\n  command = {command}\n\n");
    for (object, source) in objects {
        text.push_str(&format!("build {object}: cc {source}\n"));
    }
    text
}

/// `command` with `$in` and `$out` filled in.
fn expand(command: &str, source: &str, object: &str) -> String {
    command.replace("$in", source).replace("$out", object)
}

/// Waits out the mtime tick, then writes `content` to `path`.
fn rewrite(path: &Path, content: &str) {
    std::thread::sleep(std::time::Duration::from_millis(50));
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn incbin_data_is_never_restored_stale_from_c_or_assembly() {
    // Case 11: the assembler reads blob.bin, which no depfile lists.
    let command = "gcc -c $in -o $out";
    let build = manifest(command, &[("c.o", "c.c"), ("s.o", "s.S")]);
    let case = Case::new(&[
        ("build.ninja", &build),
        (
            "c.c",
            "__asm__(\".section .rodata\\n.incbin \\\"blob.bin\\\"\");\n",
        ),
        ("s.S", "  .section .rodata\n  .INCBIN \"blob.bin\"\n"),
        ("blob.bin", "first blob\n"),
    ]);
    case.build();
    rewrite(&case.dir.join("blob.bin"), "second, longer blob\n");
    case.remove(&["c.o", "s.o"]);
    let output = case.build();
    for (object, source) in [("c.o", "c.c"), ("s.o", "s.S")] {
        case.assert_real(&case.dir, object, &expand(command, source, object), &output);
    }
    assert_eq!(case.stat("uncacheable.incbin"), 4, "{}", output.describe());
    assert_eq!(case.stat("compile_hits"), 0);
}

#[test]
fn an_edited_spec_file_misses() {
    // Case 10: gcc reads my.specs, named by an option, listed by no depfile.
    let command = "gcc -specs=my.specs -c $in -o $out";
    let case = Case::new(&[
        ("build.ninja", &manifest(command, &[("a.o", "a.c")])),
        ("a.c", "int value = V;\n"),
        ("my.specs", "*cpp:\n+ -DV=1\n\n"),
    ]);
    case.build();
    rewrite(&case.dir.join("my.specs"), "*cpp:\n+ -DV=2\n\n");
    case.remove(&["a.o"]);
    let output = case.build();
    case.assert_real(&case.dir, "a.o", &expand(command, "a.c", "a.o"), &output);
    assert_eq!(case.stat("compile_hits"), 0, "{}", output.describe());
    // The same spec content again is a hit.
    rewrite(&case.dir.join("my.specs"), "*cpp:\n+ -DV=1\n\n");
    case.remove(&["a.o"]);
    let output = case.build();
    assert_eq!(case.stat("compile_hits"), 1, "{}", output.describe());
    case.assert_real(&case.dir, "a.o", &expand(command, "a.c", "a.o"), &output);
}

#[test]
fn clang_ignoring_source_date_epoch_never_has_its_time_macros_restored() {
    // Case 8: clang 14 ignores SOURCE_DATE_EPOCH, so __TIME__ is the time
    // of the compile even when it is set.
    let command = "clang -c $in -o $out";
    let mut case = Case::new(&[
        ("build.ninja", &manifest(command, &[("a.o", "a.c")])),
        ("a.c", "const char *stamp = __DATE__ \" \" __TIME__;\n"),
    ]);
    case.env = case.env.with("SOURCE_DATE_EPOCH", "1000000000");
    let honours = std::process::Command::new("sh")
        .arg("-c")
        .arg("echo __TIME__ | SOURCE_DATE_EPOCH=0 clang -E -P -x c -")
        .output()
        .expect("run clang");
    if String::from_utf8_lossy(&honours.stdout).contains("00:00:00") {
        skipped("this clang honours SOURCE_DATE_EPOCH");
        return;
    }
    case.build();
    let first = object_bytes(&case.dir, "a.o");
    // A second later __TIME__ is another string.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    case.remove(&["a.o"]);
    let output = case.build();
    assert_recompiled(&first, &case.dir, "a.o", &output);
    assert_eq!(case.stat("compile_hits"), 0, "{}", output.describe());
    assert_eq!(case.stat("uncacheable.date_time_macros"), 2);
}

/// 40 headers with long names, each defining a function `a.c` calls: the
/// debug line table's strings are then large enough that `-gz`
/// compresses them, build dir included.
fn many_headers() -> Vec<(String, String)> {
    let name = |i: usize| format!("header_with_a_rather_long_name_number_{i:02}.h");
    let mut files: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                name(i),
                format!("static inline int f{i}(void) {{ return {i}; }}\n"),
            )
        })
        .collect();
    let includes: String = (0..40)
        .map(|i| format!("#include \"{}\"\n", name(i)))
        .collect();
    let calls: Vec<String> = (0..40).map(|i| format!("f{i}()")).collect();
    files.push((
        "a.c".into(),
        format!(
            "{includes}int all(void) {{ return {}; }}\n",
            calls.join(" + ")
        ),
    ));
    files
}

#[test]
fn compressed_debug_info_is_never_restored_in_another_dir() {
    // Case 6: with -gz the build dir is in a compressed section, where a
    // plain search of the object cannot see it.
    for command in [
        "gcc -g -gz -c $in -o $out",
        "clang -g -gz=zlib -c $in -o $out",
        "gcc -g -Wa,--compress-debug-sections -c $in -o $out",
    ] {
        let build = manifest(command, &[("a.o", "a.c")]);
        let mut files = many_headers();
        files.push(("build.ninja".into(), build));
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let case = Case::new(&files);
        case.build();
        let other = case.dir.with_file_name("elsewhere");
        write_files(&other, &files);
        let output = case.build_in(&other);
        case.assert_real(&other, "a.o", &expand(command, "a.c", "a.o"), &output);
        assert_eq!(
            case.stat("compile_hits"),
            0,
            "{command}\n{}",
            output.describe()
        );
    }
}

#[test]
fn a_build_dir_reached_through_a_symlink_keeps_its_own_debug_dir() {
    // Case 7: gcc and clang write DW_AT_comp_dir from $PWD when it names
    // the working dir, so a build in /x/link-a (-> real-a) embeds
    // /x/link-a, not the real path.
    for compiler in ["gcc", "clang"] {
        let command = format!("{compiler} -g -c $in -o $out");
        let build = manifest(&command, &[("a.o", "a.c")]);
        let files = [("build.ninja", build.as_str()), ("a.c", "int x;\n")];
        let mut case = Case::new(&files);
        let root = case.dir.parent().expect("parent").to_path_buf();
        let mut built = Vec::new();
        for name in ["a", "b"] {
            let real = root.join(format!("real-{name}"));
            write_files(&real, &files);
            let link = root.join(format!("link-{name}"));
            std::os::unix::fs::symlink(&real, &link).expect("symlink");
            case.env = Env::new(&case.env.cache).with("PWD", &link);
            let output = case.build_in(&link);
            case.assert_real(&link, "a.o", &expand(&command, "a.c", "a.o"), &output);
            built.push(output);
        }
        assert_eq!(
            case.stat("compile_hits"),
            0,
            "{compiler}\n{}",
            built[1].describe()
        );
    }
}

#[test]
fn time_macros_built_by_token_pasting_are_never_restored() {
    // Case 9: no file spells __TIME__, so a text scan cannot see it.
    for compiler in ["gcc", "clang"] {
        let command = format!("{compiler} -Wall -c $in -o $out");
        let source = "#define PASTE(a, b) a##b\n\
                      const char *stamp = PASTE(__TI, ME__);\n\
                      int f(void) { int unused; return 0; }\n";
        let case = Case::new(&[
            ("build.ninja", &manifest(&command, &[("a.o", "a.c")])),
            ("a.c", source),
        ]);
        let first = case.build();
        let first_object = object_bytes(&case.dir, "a.o");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        case.remove(&["a.o"]);
        let output = case.build();
        assert_recompiled(&first_object, &case.dir, "a.o", &output);
        assert_eq!(
            case.stat("compile_hits"),
            0,
            "{compiler}\n{}",
            output.describe()
        );
        assert_eq!(case.stat("uncacheable.date_time_macros"), 2, "{compiler}");
        // The check never shows: the user sees the compile's own warning only.
        for build in [&first, &output] {
            let text = build.combined();
            assert!(text.contains("unused"), "{}", build.describe());
            assert!(!text.contains("date-time"), "{}", build.describe());
        }
    }
}

#[test]
fn time_macros_spelled_across_any_line_splice_are_never_restored() {
    // Case 9's kin: a line splice the compilers accept (a backslash, blanks,
    // then a newline, a "\r\n" or a lone "\r"; a `??/` trigraph under
    // -trigraphs) splits `__TIME__` for a scan that knows only "\\\n".
    let command = "gcc -trigraphs -c $in -o $out";
    let sources = [
        ("blank.c", "const char *t = __TI\\ \nME__;\n"),
        ("cr.c", "const char *t = __TI\\\rME__;\n"),
        ("tri.c", "const char *t = __TI??/\nME__;\n"),
    ];
    let objects = [("blank.o", "blank.c"), ("cr.o", "cr.c"), ("tri.o", "tri.c")];
    let mut files = vec![("build.ninja".to_string(), manifest(command, &objects))];
    files.extend(sources.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let case = Case::new(&files);
    case.build();
    let first: Vec<Vec<u8>> = objects
        .iter()
        .map(|(object, _)| object_bytes(&case.dir, object))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    case.remove(&["blank.o", "cr.o", "tri.o"]);
    let output = case.build();
    for ((object, _), before) in objects.iter().zip(&first) {
        assert_recompiled(before, &case.dir, object, &output);
    }
    assert_eq!(case.stat("compile_hits"), 0, "{}", output.describe());
}

#[test]
fn the_preprocessed_text_fallback_never_hides_a_column_or_source_change_under_debug_info() {
    // Case 5: two sources whose preprocessed text is equal can still make
    // different -g objects: gcc records columns, clang each file's MD5.
    // With ZCCACHE_PATH_REMAP the objects hold no build dir, so the text
    // key may serve them.
    let clang_sources = [
        "int f(void) { return 2; } /* a */\n",
        "int f(void) { return 1; } /* a */\n",
        "int f(void) { return 1; } /* bb */\n",
    ];
    for (compiler, sources) in [
        (
            "gcc -g",
            [
                "int f(void) { return 2; }\n",
                "int   f(void) { return 1; }\n",
                "int f(void) { return 1; }\n",
            ],
        ),
        ("clang -g", clang_sources),
        // Line tables only: still each file's MD5.
        ("clang -gmlt", clang_sources),
    ] {
        let command = format!("{compiler} -c $in -o $out");
        let mut case = Case::new(&[
            ("build.ninja", &manifest(&command, &[("a.o", "a.c")])),
            ("a.c", sources[0]),
        ]);
        case.env = case.env.with("ZCCACHE_PATH_REMAP", "1");
        let plain = format!(
            "{} -ffile-prefix-map={}=.",
            expand(&command, "a.c", "a.o"),
            case.dir.display()
        );
        let mut output = case.build();
        for source in &sources[1..] {
            rewrite(&case.dir.join("a.c"), source);
            case.remove(&["a.o"]);
            output = case.build();
            case.assert_real(&case.dir, "a.o", &plain, &output);
        }
        assert_eq!(
            case.stat("preprocessed_hits"),
            0,
            "{compiler}\n{}",
            output.describe()
        );
    }
}

#[test]
fn a_recorded_command_line_is_never_restored_from_another_command() {
    // clang's -frecord-command-line writes the whole argv into the object:
    // `-o a.o`, and any depfile options the cache would add. Two outputs
    // of one source then differ, and neither may hold the cache's options.
    let command = "clang -frecord-command-line -c $in -o $out";
    let build = manifest(command, &[("a.o", "s.c"), ("b.o", "s.c")]);
    let case = Case::new(&[
        ("build.ninja", &build),
        ("s.c", "int f(void) { return 1; }\n"),
    ]);
    let output = case.build();
    for object in ["a.o", "b.o"] {
        case.assert_real(&case.dir, object, &expand(command, "s.c", object), &output);
    }
    assert_eq!(
        case.stat("uncacheable.records_command_line"),
        2,
        "{}",
        output.describe()
    );
    assert_eq!(case.stat("compile_hits"), 0);
}

#[test]
fn gcc_recording_its_switches_stays_cached() {
    // gcc records only options that name no file, so its objects stay
    // interchangeable across outputs and the cache's depfile options.
    let command = "gcc -g -grecord-gcc-switches -frecord-gcc-switches -c $in -o $out";
    let build = manifest(command, &[("a.o", "s.c"), ("b.o", "s.c")]);
    let case = Case::new(&[
        ("build.ninja", &build),
        ("s.c", "int f(void) { return 1; }\n"),
    ]);
    case.build();
    case.remove(&["a.o", "b.o"]);
    let output = case.build();
    for object in ["a.o", "b.o"] {
        case.assert_real(&case.dir, object, &expand(command, "s.c", object), &output);
    }
    assert_eq!(case.stat("compile_hits"), 2, "{}", output.describe());
}

#[test]
fn an_assembler_found_through_b_is_part_of_the_key() {
    // `-B DIR/` makes gcc run `DIR/as` when there is one: creating it,
    // then editing it, changes the object (each one marks it with another
    // symbol) and must miss.
    let case = Case::new(&[("s.c", "int f(void) { return 1; }\n")]);
    let tools = case.dir.join("tools");
    fs::create_dir_all(&tools).expect("create tools");
    let command = format!("gcc -B {}/ -c $in -o $out", tools.display());
    let build = manifest(&command, &[("s.o", "s.c")]);
    fs::write(case.dir.join("build.ninja"), build).expect("write build.ninja");
    case.build();
    let as_path = case.dir.join("tools/as");
    for marker in ["first_as", "second_as"] {
        let script = format!("#!/bin/sh\nexec as --defsym {marker}=1 \"$@\"\n");
        rewrite(&as_path, &script);
        let mut mode = fs::metadata(&as_path).expect("stat as").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
        fs::set_permissions(&as_path, mode).expect("chmod as");
        case.remove(&["s.o"]);
        let output = case.build();
        case.assert_real(&case.dir, "s.o", &expand(&command, "s.c", "s.o"), &output);
        let object = object_bytes(&case.dir, "s.o");
        assert!(
            object.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "s.o was not assembled by tools/as ({marker})\n{}",
            output.describe()
        );
    }
    assert_eq!(case.stat("compile_hits"), 0);
}

#[test]
fn a_compile_writing_a_report_file_is_never_restored_without_it() {
    // -fsave-optimization-record writes s.opt.yaml beside the object; a
    // hit restores the object only, so such a compile is not cached.
    let command = "clang -O2 -fsave-optimization-record -c $in -o $out";
    let build = manifest(command, &[("s.o", "s.c")]);
    let case = Case::new(&[
        ("build.ninja", &build),
        ("s.c", "int f(int x) { return x * 3; }\n"),
    ]);
    case.build();
    case.remove(&["s.o", "s.opt.yaml"]);
    let output = case.build();
    assert!(
        case.dir.join("s.opt.yaml").is_file(),
        "s.opt.yaml is missing after the second build\n{}",
        output.describe()
    );
    assert_eq!(case.stat("uncacheable.report_file"), 2);
}
