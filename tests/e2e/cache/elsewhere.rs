//! Hits in a fresh build dir at another path, and what keeps an object
//! from being restored there.

use super::*;

#[test]
fn a_fresh_build_dir_at_another_path_is_restored_entirely_from_the_cache() {
    let project = Example::new();
    let a = project.cold_build("a", &[]);

    // Same source and configuration, a build dir at a path of another
    // length (so nothing can match by accident of equal-length paths).
    let b = project.configure("second-build-dir", &[]);
    let steps = StepCounts::of(&b);
    let output = expect_counts(
        "build in a second dir",
        project.env.build_explained(&b, &[]),
        &steps.all(true),
    );
    let misses = cache_misses(&output, &b);
    assert!(
        misses.is_empty(),
        "misses explained on an all-hit build: {misses:?}\n{}",
        output.describe()
    );

    // The restored files are exactly what the compiler and linker produce:
    // compare with a plain ninja build of the same configuration.
    let c = project.configure("plain-ninja-build", &[]);
    ninja(&c, &["-C", path_str(&c)]).assert_success();
    let from_cache = build_products(&b);
    let uncached = build_products(&c);
    assert_same_files("cache-restored B", &from_cache, "plain ninja C", &uncached);
    assert_same_files("cold A", &build_products(&a), "plain ninja C", &uncached);

    // The restored tree is up to date for ninja and for zccache, and works,
    // even with A gone: nothing restored (depfiles included) points into A.
    fs::remove_dir_all(&a).expect("remove A");
    let deps = ninja(&b, &["-C", path_str(&b), "-t", "deps"]);
    deps.assert_success();
    assert!(
        !deps.stdout.contains(path_str(&a)),
        "B's dependency log names files of A: {}",
        deps.describe()
    );
    assert!(
        deps.stdout
            .contains(&format!("{}/generated/greetings_table.h", path_str(&b))),
        "B's dependency log lacks B's generated header: {}",
        deps.describe()
    );
    let ninja_again = ninja(&b, &["-C", path_str(&b), "-d", "explain"]);
    ninja_again.assert_no_work();
    project.env.build(&b, &[]).assert_no_work();
    assert_demo_runs(&b);
}

#[test]
fn an_object_embedding_its_dir_through_file_is_not_restored_in_another_dir() {
    // __FILE__ of a source named by absolute path is that path: the object
    // of the same source text compiled in another dir is different.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let first = temp.path().join("first");
    let second = temp.path().join("another-dir");
    for dir in [&first, &second] {
        let manifest = format!(
            "rule cc\n  command = gcc -O2 -MD -MF $out.d -c $root/where.c -o $out\n  \
             deps = gcc\n  depfile = $out.d\n\nroot = {}\nbuild where.o: cc $root/where.c\n",
            path_str(dir)
        );
        write_files(
            dir,
            &[
                ("build.ninja", &manifest),
                ("where.c", "const char *compiled_from = __FILE__;\n"),
            ],
        );
    }
    expect_counts(
        "first",
        cache.build_counted(&first, &[]),
        &[("compile_misses", 1)],
    );

    expect_counts(
        "another dir",
        cache.build_counted(&second, &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    let object = read(&second.join("where.o"));
    assert!(
        contains(&object, format!("{}/where.c", path_str(&second)).as_bytes())
            && !contains(&object, path_str(&first).as_bytes()),
        "where.o in {} does not name its own source",
        second.display()
    );
}
