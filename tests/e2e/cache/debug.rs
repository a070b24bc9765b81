//! Debug builds: with path remapping they hit elsewhere, without they miss.

use super::*;

const DEBUG: &[&str] = &["-DCMAKE_BUILD_TYPE=Debug"];

/// Debug builds of the project in `a`, then `b`, with ZCCACHE_PATH_REMAP=1:
/// `b` is restored entirely, embeds no path of either dir or the source,
/// and equals `b` compiled again into an empty cache.
fn assert_remapped_debug_build_hits_elsewhere(project: &Example, a: &Path, b: &Path) {
    let remap = project.env.with("ZCCACHE_PATH_REMAP", "1");
    cmake_configure(&project.source, a, DEBUG);
    let steps = StepCounts::of(a);
    expect_counts(
        "cold debug build",
        remap.build_counted(a, &[]),
        &steps.all(false),
    );

    cmake_configure(&project.source, b, DEBUG);
    expect_counts(
        "debug build elsewhere",
        remap.build_counted(b, &[]),
        &steps.all(true),
    );
    let from_cache = build_products(b);
    assert_demo_runs(b);

    // Neither build dir nor the source root is embedded in an object.
    let objects: BTreeMap<String, Vec<u8>> = from_cache
        .iter()
        .filter(|(path, _)| path.ends_with(".o"))
        .map(|(path, content)| (path.clone(), content.clone()))
        .collect();
    for dir in [a, b, &project.source] {
        let embedding = products_containing(&objects, dir);
        assert!(
            embedding.is_empty(),
            "with ZCCACHE_PATH_REMAP=1 these objects embed {}: {embedding:?}",
            dir.display()
        );
    }
    assert!(
        products_containing(&from_cache, a).is_empty(),
        "products of B embed A's path"
    );

    // The same dir rebuilt from scratch into an empty cache (same remap
    // setting) produces the very bytes the cache restored.
    remap.clean(b);
    let empty = Env::new(project.path("empty-cache")).with("ZCCACHE_PATH_REMAP", "1");
    expect_counts(
        "uncached rebuild",
        empty.build_counted(b, &[]),
        &steps.all(false),
    );
    assert_same_files(
        "restored from the cache",
        &from_cache,
        "compiled again",
        &build_products(b),
    );
}

#[test]
fn debug_objects_hit_in_another_dir_with_path_remap_and_equal_an_uncached_build() {
    let project = Example::new();
    let a = project.path("a-debug");
    let b = project.path("the-other-debug-dir");
    assert_remapped_debug_build_hits_elsewhere(&project, &a, &b);
}

#[test]
fn an_object_embedding_only_the_source_root_hits_in_another_build_dir() {
    // CMake names sources by absolute path, so __FILE__ is a path in the
    // source tree, the same for every build dir of it: such an object is
    // tied to the source root only (ccache hits it too), while one that
    // embeds its build dir is not shared.
    let temp = temp_dir();
    let cache = Env::new(temp.path().join("cache"));
    let source = temp.path().join("src");
    write_files(
        &source,
        &[
            (
                "CMakeLists.txt",
                "cmake_minimum_required(VERSION 3.13)\nproject(where C)\n\
                 add_library(where STATIC where.c built.c)\n\
                 target_include_directories(where PRIVATE ${CMAKE_CURRENT_BINARY_DIR})\n\
                 file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/here.h \"const char *built_in = __FILE__;\\n\")\n",
            ),
            ("where.c", "const char *compiled_from = __FILE__;\n"),
            ("built.c", "#include \"here.h\"\n"),
        ],
    );
    let first = temp.path().join("b1");
    let second = temp.path().join("second-build");
    let plain = temp.path().join("plain-ninja");
    for dir in [&first, &second, &plain] {
        cmake_configure(&source, dir, &[]);
    }
    expect_counts(
        "first",
        cache.build_counted(&first, &[]),
        &[("compile_misses", 2)],
    );

    let output = expect_counts(
        "second build dir",
        cache.build_counted(&second, &[]),
        &[("compile_hits", 1), ("compile_misses", 1)],
    );
    ninja(&plain, &["-C", path_str(&plain)]).assert_success();
    let object = "CMakeFiles/where.dir/where.c.o";
    assert!(
        read(&second.join(object)) == read(&plain.join(object)),
        "{object} differs from plain ninja's\n{}",
        output.describe()
    );
    let built = read(&second.join("CMakeFiles/where.dir/built.c.o"));
    assert!(
        contains(&built, path_str(&second).as_bytes())
            && !contains(&built, path_str(&first).as_bytes()),
        "built.c.o does not name its own build dir"
    );
}

#[test]
fn debug_build_dirs_inside_the_source_tree_hit_each_other_with_path_remap() {
    // The usual layout: the build dir is under the source root, so the
    // build dir's mapping must win over the source root's for its files.
    let project = Example::new();
    let a = project.source.join("build-a");
    let b = project.source.join("build-debug-2");
    assert_remapped_debug_build_hits_elsewhere(&project, &a, &b);
}

#[test]
fn debug_objects_without_path_remap_miss_in_another_dir_and_never_carry_its_path() {
    let project = Example::new();
    let a = project.cold_build("a-debug", DEBUG);
    assert!(
        !products_containing(&build_products(&a), &a).is_empty(),
        "debug objects should embed their build dir without remapping"
    );

    let b = project.configure("the-other-debug-dir", DEBUG);
    let steps = StepCounts::of(&b);
    let output = expect_counts(
        "debug build elsewhere without remap",
        project.env.build_explained(&b, &[]),
        &steps.all(false),
    );
    assert_compile_misses(
        &output,
        &b,
        ALL_OBJECTS,
        "`built in another directory`",
        |reason| reason == "built in another directory",
    );

    let products = build_products(&b);
    let with_a = products_containing(&products, &a);
    assert!(with_a.is_empty(), "B's files embed A's path: {with_a:?}");
    let with_b = products_containing(&products, &b);
    assert!(
        ALL_OBJECTS.iter().all(|o| with_b.iter().any(|p| p == o)),
        "every debug object in B should embed B's own path, these do: {with_b:?}"
    );
    assert_demo_runs(&b);
}
