//! Output and exit status of cached and failed compiles.

use super::*;

const WARN_AND_FAIL_MANIFEST: &str = "\
rule cc
  command = gcc -Wall -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
  description = CC $out

build warn.o: cc warn.c
build bad.o: cc bad.c
";

const WARN_C: &str = "\
int answer(void) {
  int unused_by_design = 1;
  return 42;
}
";

const BAD_C: &str = "\
int broken(void) {
  return undeclared_identifier_for_the_test;
}
";

fn warn_and_fail_project(dir: &Path) {
    write_files(
        dir,
        &[
            ("build.ninja", WARN_AND_FAIL_MANIFEST),
            ("warn.c", WARN_C),
            ("bad.c", BAD_C),
        ],
    );
}

#[test]
fn warnings_are_replayed_identically_on_a_hit_in_another_dir() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("elsewhere");
    warn_and_fail_project(&first);
    warn_and_fail_project(&second);

    let (cold, delta) = cache.build_counted(&first, &["warn.o"]);
    cold.assert_success();
    assert_counts(
        "cold",
        &delta,
        &[("compile_hits", 0), ("compile_misses", 1)],
        &cold,
    );
    assert!(
        cold.combined().contains("warning: unused variable")
            && cold.combined().contains("unused_by_design"),
        "no warning on the cold build: {}",
        cold.describe()
    );

    let (hit, delta) = cache.build_counted(&second, &["warn.o"]);
    hit.assert_success();
    assert_counts(
        "hit",
        &delta,
        &[("compile_hits", 1), ("compile_misses", 0)],
        &hit,
    );
    assert_eq!(
        normalized_lines(&hit.stdout),
        normalized_lines(&cold.stdout),
        "stdout of the hit differs from the real compile's\n--- cold ---\n{}\n--- hit ---\n{}",
        cold.describe(),
        hit.describe()
    );
    assert_eq!(
        normalized_lines(&hit.stderr),
        normalized_lines(&cold.stderr),
        "stderr of the hit differs from the real compile's\n--- cold ---\n{}\n--- hit ---\n{}",
        cold.describe(),
        hit.describe()
    );
    assert_eq!(read(&second.join("warn.o")), read(&first.join("warn.o")));
}

#[test]
fn the_locale_is_part_of_the_key_so_replayed_warnings_are_in_its_language() {
    // gcc quotes names with ‘’ under a UTF-8 locale and with '' under C: a
    // warning replayed from a run in the other locale would not be what
    // this compile prints.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let utf8 = cache.with("LC_ALL", "C.UTF-8");
    let plain = cache.with("LC_ALL", "C");
    let dirs: Vec<PathBuf> = ["first", "second", "third"]
        .iter()
        .map(|name| temp.path().join(name))
        .collect();
    for dir in &dirs {
        warn_and_fail_project(dir);
    }

    let output = expect_counts(
        "C.UTF-8, cold",
        utf8.build_counted(&dirs[0], &["warn.o"]),
        &[("compile_misses", 1)],
    );
    assert!(
        output.stdout.contains("\u{2018}unused_by_design\u{2019}"),
        "gcc did not use UTF-8 quotes under C.UTF-8: {}",
        output.describe()
    );

    let output = expect_counts(
        "LC_ALL=C after C.UTF-8",
        plain.build_explained(&dirs[1], &["warn.o"]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    assert_compile_misses(
        &output,
        &dirs[1],
        &["warn.o"],
        "`environment changed`",
        |reason| reason == "environment changed",
    );
    assert!(
        output.stdout.contains("'unused_by_design'"),
        "the warning is not the one gcc prints under LC_ALL=C: {}",
        output.describe()
    );

    let output = expect_counts(
        "C.UTF-8 again",
        utf8.build_counted(&dirs[2], &["warn.o"]),
        &[("compile_hits", 1), ("compile_misses", 0)],
    );
    assert!(
        output.stdout.contains("\u{2018}unused_by_design\u{2019}"),
        "{}",
        output.describe()
    );
}

#[test]
fn a_failed_compile_is_not_cached() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("elsewhere");
    warn_and_fail_project(&first);
    warn_and_fail_project(&second);

    let mut runs = Vec::new();
    for dir in [&first, &first, &second] {
        let (output, delta) = cache.build_counted(dir, &["bad.o"]);
        output.assert_failure();
        assert!(
            output.combined().contains("error: ")
                && output
                    .combined()
                    .contains("undeclared_identifier_for_the_test"),
            "no compiler error: {}",
            output.describe()
        );
        assert!(
            output.combined().contains("FAILED: [code=1] bad.o"),
            "{}",
            output.describe()
        );
        // Each run compiled for real: a lookup that missed, never a hit.
        assert_counts(
            "failing compile",
            &delta,
            &[("compile_hits", 0), ("compile_misses", 1)],
            &output,
        );
        assert!(!dir.join("bad.o").exists(), "bad.o exists after a failure");
        runs.push(output);
    }
    let error_lines = |output: &Output| -> Vec<String> {
        normalized_lines(&output.combined())
            .into_iter()
            .filter(|line| line.contains("bad.c"))
            .collect()
    };
    assert_eq!(error_lines(&runs[0]), error_lines(&runs[1]));
    assert_eq!(error_lines(&runs[0]), error_lines(&runs[2]));
}

/// Compiles stamp.c, whose object records when (or as of when) it was
/// compiled.
const STAMP_MANIFEST: &str = "\
rule cc
  command = gcc -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
  description = CC $out

build stamp.o: cc stamp.c
";

#[test]
fn a_source_using_time_macros_is_never_restored() {
    // __TIME__ expands to the time of the compile: a restored object would
    // carry another compile's time.
    let files = [
        ("build.ninja", STAMP_MANIFEST),
        (
            "stamp.c",
            "const char *build_stamp = __DATE__ \" \" __TIME__;\n",
        ),
    ];
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("elsewhere");
    write_files(&first, &files);
    write_files(&second, &files);
    for (what, dir) in [("first", &first), ("another dir", &second)] {
        expect_counts(
            what,
            cache.build_counted(dir, &[]),
            &[("compile_hits", 0), ("uncacheable", 1)],
        );
    }
    cache.clean(&first);
    expect_counts(
        "same dir again",
        cache.build_counted(&first, &[]),
        &[("compile_hits", 0), ("uncacheable", 1)],
    );
}

#[test]
fn an_edited_source_misses_down_to_the_links_and_reverting_it_hits_all_of_them() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    // New code in stats.c: its object, libgeom.a, libtext.so (which links
    // libgeom.a) and both executables change or must be checked again.
    let source = project.source.join("src/geom/stats.c");
    let before = fs::read_to_string(&source).expect("read stats.c");
    append_line(&source, "double stats_edit_marker(void) { return 1.5; }");
    let output = expect_counts(
        "stats.c edited",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", 1),
            ("archive_hits", 0),
            ("archive_misses", 1),
            ("link_hits", 0),
            ("link_misses", 3),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &[OBJ_STATS], "`source changed`", |reason| {
        reason == "source changed"
    });
    let edited = build_products(&dir);
    for product in ["libgeom.a", "libtext.so", "zcdemo_tests"] {
        assert!(
            contains(&edited[product], b"stats_edit_marker"),
            "{product} was not rebuilt from the edited source"
        );
    }
    assert_demo_runs(&dir);

    // Back to the original text: every step hits its first entry.
    edit_file(&source, |_| before.clone());
    expect_counts(
        "stats.c reverted",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 1),
            ("compile_misses", 0),
            ("archive_hits", 1),
            ("archive_misses", 0),
            ("link_hits", 3),
            ("link_misses", 0),
            ("errors", 0),
        ],
    );
    assert_round_trip(&original, &dir);
}

/// A C file and a C++ file compiled by a hand-written manifest with gcc
/// and g++ -O2 (no -g: the compilers cannot see comments).
const LITERALS_MANIFEST: &str = "\
rule cc
  command = gcc -O2 -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
rule cxx
  command = g++ -O2 -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d

build s.o: cc s.c
build t.o: cxx t.cpp
";

/// Compiles `source` for real with `compiler -O2` in `dir` and asserts that
/// `object` there holds exactly the same bytes.
fn assert_object_is_real(dir: &Path, compiler: &str, source: &str, object: &str) {
    run_in(dir, compiler, &["-O2", "-c", source, "-o", "reference.o"]).assert_success();
    assert!(
        read(&dir.join("reference.o")) == read(&dir.join(object)),
        "{object} differs from what `{compiler} -O2 -c {source}` produces"
    );
}

#[test]
fn comment_like_text_that_is_not_a_comment_is_never_ignored() {
    // Each edit changes only text that a naive comment stripper would drop,
    // but the compiler does not: every one must miss and give the real
    // object. A genuine comment edit may hit, and must give it too.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let dir = temp.path().join("build");
    write_files(
        &dir,
        &[
            ("build.ninja", LITERALS_MANIFEST),
            (
                "s.c",
                "int line_no = __LINE__;\n\
                 const char *escaped = \"a\\\" /* X */ b\";\n\
                 int x = 1; // continued \\\n\
                 int y = 2;\n",
            ),
            ("t.cpp", "const char *raw = R\"x(a)\" /* X */ )x\";\n"),
        ],
    );
    expect_counts(
        "cold",
        cache.build_counted(&dir, &[]),
        &[("compile_misses", 2)],
    );

    let edits: &[(&str, &str, &str)] = &[
        // A comment line on top moves __LINE__.
        ("s.c", "int line_no", "// new first line\nint line_no"),
        // Inside a string after an escaped quote.
        ("s.c", "/* X */", "/* Y */"),
        // The line after a `//` comment ending in a backslash is comment:
        // dropping the backslash makes `int y = 2;` code.
        ("s.c", "// continued \\\n", "// continued\n"),
        // Inside a raw string literal, after a `)"` that does not end it.
        ("t.cpp", "/* X */", "/* Y */"),
    ];
    for (file, from, to) in edits {
        let path = dir.join(file);
        edit_file(&path, |text| {
            assert!(text.contains(from), "{file} lacks {from:?}");
            text.replacen(from, to, 1)
        });
        let (output, delta) = cache.build_counted(&dir, &[]);
        let what = format!("{file}: {from:?} -> {to:?}");
        output.assert_success();
        assert_counts(
            &what,
            &delta,
            &[("compile_hits", 0), ("compile_misses", 1)],
            &output,
        );
        assert_object_is_real(&dir, "gcc", "s.c", "s.o");
        assert_object_is_real(&dir, "g++", "t.cpp", "t.o");
    }

    // A real comment edit next to a quote character in a char literal.
    write_files(
        &dir,
        &[("s.c", "int q = '\"'; /* first */ const char *e = \"e\";\n")],
    );
    expect_counts(
        "char literal",
        cache.build_counted(&dir, &[]),
        &[("compile_misses", 1)],
    );
    edit_file(&dir.join("s.c"), |text| text.replace("first", "second"));
    let (output, delta) = cache.build_counted(&dir, &[]);
    output.assert_success();
    assert_eq!(
        delta.get("compile_hits") + delta.get("compile_misses"),
        1,
        "the comment edit was not looked up once: {delta:?}",
    );
    assert_object_is_real(&dir, "gcc", "s.c", "s.o");
}

/// Builds `int a = 4 //**/ 2\n;` with `gcc <std_flags> -O2`, edits the 2
/// into a 3 and builds again: in C90 `//` is no comment, so `a` goes from
/// 2 to 1 and the compile must miss and give the real object.
fn assert_c90_division_is_not_a_comment(std_flags: &str) {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let dir = temp.path().join("build");
    let manifest = format!(
        "rule cc\n  command = gcc {std_flags} -O2 -MD -MF $out.d -c $in -o $out\n  \
         deps = gcc\n  depfile = $out.d\n\nbuild s.o: cc s.c\n"
    );
    write_files(
        &dir,
        &[
            ("build.ninja", &manifest),
            ("s.c", "int a = 4 //**/ 2\n;\n"),
        ],
    );
    cache.build(&dir, &[]).assert_success();
    edit_file(&dir.join("s.c"), |text| text.replace("2\n", "3\n"));
    expect_counts(
        &format!("C90 code edit under {std_flags}"),
        cache.build_counted(&dir, &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    let mut reference = vec!["-O2", "-c", "s.c", "-o", "reference.o"];
    reference.splice(0..0, std_flags.split_whitespace());
    run_in(&dir, "gcc", &reference).assert_success();
    assert!(
        read(&dir.join("reference.o")) == read(&dir.join("s.o")),
        "s.o differs from what `gcc {std_flags}` produces"
    );
}

#[test]
fn in_c90_a_double_slash_is_not_a_comment() {
    for flags in [
        "-std=c90",
        "-ansi",
        "-std=gnu11 -ansi",
        "-Xpreprocessor -std=c90",
    ] {
        assert_c90_division_is_not_a_comment(flags);
    }
}

#[test]
fn in_c90_selected_through_wp_a_double_slash_is_not_a_comment() {
    assert_c90_division_is_not_a_comment("-Wp,-std=c90");
}

#[test]
fn time_macros_are_cached_under_source_date_epoch_and_keyed_by_it() {
    // With SOURCE_DATE_EPOCH set gcc expands __DATE__ from it, so the
    // object is reproducible and cacheable; another value is another key.
    let files = [
        ("build.ninja", STAMP_MANIFEST),
        ("stamp.c", "const char *build_date = __DATE__;\n"),
    ];
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let epoch_0 = cache.with("SOURCE_DATE_EPOCH", "0");
    // 2001-09-09T01:46:40Z.
    let epoch_1e9 = cache.with("SOURCE_DATE_EPOCH", "1000000000");
    let dirs: Vec<PathBuf> = ["first", "second", "third"]
        .iter()
        .map(|name| temp.path().join(name))
        .collect();
    for dir in &dirs {
        write_files(dir, &files);
    }
    let date_in = |dir: &Path, date: &str| contains(&read(&dir.join("stamp.o")), date.as_bytes());

    let output = expect_counts(
        "epoch 0",
        epoch_0.build_counted(&dirs[0], &[]),
        &[("compile_misses", 1), ("uncacheable", 0)],
    );
    assert!(date_in(&dirs[0], "Jan  1 1970"), "{}", output.describe());

    let output = expect_counts(
        "epoch 0 elsewhere",
        epoch_0.build_counted(&dirs[1], &[]),
        &[("compile_hits", 1)],
    );
    assert!(date_in(&dirs[1], "Jan  1 1970"), "{}", output.describe());

    let output = expect_counts(
        "another epoch",
        epoch_1e9.build_explained(&dirs[2], &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    assert!(
        date_in(&dirs[2], "Sep  9 2001") && !date_in(&dirs[2], "Jan  1 1970"),
        "stamp.o does not carry SOURCE_DATE_EPOCH's date\n{}",
        output.describe()
    );
}
