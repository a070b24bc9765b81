//! A comment-only edit: the compile runs and changes nothing downstream.

use super::*;

#[test]
fn a_comment_only_edit_reruns_the_compile_as_a_hit_and_relinks_nothing() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    // The source's content changed, so its compile runs; gcc without -g
    // cannot see comments, so the comment-blind key finds the old entry
    // (README: "a comment-only edit can hit"). The object is the same, so
    // nothing downstream runs.
    append_line(
        &project.source.join("src/geom/stats.c"),
        "/* a comment added by the e2e test */",
    );
    let (output, delta) = project.env.build_explained(&dir, &[]);
    output.assert_success();
    assert_eq!(
        output.step_descriptions(),
        vec![COMPILE_STATS.to_string()],
        "only the edited file's compile should run\n{}",
        output.describe()
    );
    assert_counts(
        "comment added",
        &delta,
        &[
            ("compile_hits", 1),
            ("compile_misses", 0),
            ("archive_hits", 0),
            ("archive_misses", 0),
            ("link_hits", 0),
            ("link_misses", 0),
            ("errors", 0),
        ],
        &output,
    );
    assert_compile_misses(&output, &dir, &[], "none", |_| false);
    assert_same_files(
        "before the comment",
        &original,
        "after it",
        &build_products(&dir),
    );
    project.env.build(&dir, &[]).assert_no_work();
}

/// With `hardlink` on, a restored object shares its bytes with the store;
/// the next real compile of it must not write through the link into the
/// stored copy, so a later restore of the old content is still exact.
#[test]
fn hardlinked_objects_never_let_a_recompile_change_the_stored_copy() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"))
        .with("ZCCACHE_HARDLINK", "1")
        .with("ZCCACHE_COMPRESSION", "0");
    let dir = temp.path().join("p");
    write_files(
        &dir,
        &[
            ("a.c", "int f(void) { return 1; }\n"),
            (
                "build.ninja",
                "rule cc\n  command = gcc -O2 -c $in -o $out\nbuild a.o: cc a.c\n",
            ),
        ],
    );
    cache.build(&dir, &[]).assert_success();
    let one = read(&dir.join("a.o"));
    std::fs::remove_file(dir.join("a.o")).unwrap();
    let (output, delta) = cache.build_counted(&dir, &[]);
    assert_counts("restore", &delta, &[("compile_hits", 1)], &output);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(dir.join("a.o")).unwrap().nlink(),
        2,
        "restored object is not a hardlink into the store"
    );
    edit_file(&dir.join("a.c"), |_| "int f(void) { return 2; }\n".into());
    let (output, delta) = cache.build_counted(&dir, &[]);
    assert_counts("recompile", &delta, &[("compile_misses", 1)], &output);
    assert_ne!(read(&dir.join("a.o")), one);
    edit_file(&dir.join("a.c"), |_| "int f(void) { return 1; }\n".into());
    std::fs::remove_file(dir.join("a.o")).unwrap();
    let (output, delta) = cache.build_counted(&dir, &[]);
    assert_counts(
        "restore of the first content",
        &delta,
        &[("compile_hits", 1), ("corrupt", 0), ("errors", 0)],
        &output,
    );
    assert_eq!(read(&dir.join("a.o")), one);
}

/// A library newly put in a `-L` dir searched before the one the linker
/// used shadows it: the link must run again, not restore the old program.
#[test]
fn a_new_library_shadowing_one_in_a_later_lib_dir_misses() {
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let dir = temp.path().join("p");
    write_files(
        &dir,
        &[
            ("la/foo.c", "int foo(void) { return 1; }\n"),
            ("lb/foo.c", "int foo(void) { return 2; }\n"),
            ("m.c", "int foo(void);\nint main(void) { return foo(); }\n"),
            (
                "build.ninja",
                "rule cc\n  command = gcc -c $in -o $out\n\
                 rule ar\n  command = ar rcs $out $in\n\
                 rule ld\n  command = gcc $in -o $out -Llb -Lla -lfoo\n\
                 build m.o: cc m.c\n\
                 build la/foo.o: cc la/foo.c\n\
                 build la/libfoo.a: ar la/foo.o\n\
                 build app: ld m.o | la/libfoo.a\n\
                 build lb/foo.o: cc lb/foo.c\n\
                 build lb/libfoo.a: ar lb/foo.o\n",
            ),
        ],
    );
    cache.build(&dir, &["app"]).assert_success();
    let status = |dir: &Path| {
        Command::new(dir.join("app"))
            .status()
            .expect("run app")
            .code()
    };
    assert_eq!(status(&dir), Some(1));
    std::fs::remove_file(dir.join("app")).unwrap();
    let (output, delta) = cache.build_counted(&dir, &["app"]);
    assert_counts(
        "relink from the cache",
        &delta,
        &[("link_hits", 1)],
        &output,
    );
    // Now lb/libfoo.a exists, earlier in the search than la/libfoo.a.
    cache.build(&dir, &["lb/libfoo.a"]).assert_success();
    std::fs::remove_file(dir.join("app")).unwrap();
    let (output, delta) = cache.build_explained(&dir, &["app"]);
    assert_counts(
        "link with a shadowing library",
        &delta,
        &[("link_hits", 0), ("link_misses", 1)],
        &output,
    );
    assert!(
        output.combined().contains("lb/libfoo.a appeared"),
        "{}",
        output.describe()
    );
    assert_eq!(status(&dir), Some(2), "the program links the new library");
}
