//! What makes a step miss, and going back hits again.

use super::*;

#[test]
fn editing_a_header_misses_exactly_its_includers_and_reverting_it_hits() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    // vec.h is included by vec.c and, through shapes.h and format.hpp, by
    // every translation unit but stats.c and greeter.cpp.
    let header = project.source.join("include/geom/vec.h");
    let before = fs::read_to_string(&header).expect("read vec.h");
    append_line(&header, "double vec2_cross(vec2 a, vec2 b);");
    let includers = [
        OBJ_VEC,
        OBJ_SHAPES,
        OBJ_FORMAT,
        OBJ_MAIN,
        OBJ_TEST_MAIN,
        OBJ_TEST_GEOM,
    ];
    let output = expect_counts(
        "after editing vec.h",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", includers.len() as i64),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &includers, "`.../vec.h changed`", |reason| {
        reason.contains("vec.h") && reason.ends_with("changed")
    });

    // The original header again: the original entries are still there.
    edit_file(&header, |_| before.clone());
    let output = expect_counts(
        "after reverting vec.h",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", includers.len() as i64),
            ("compile_misses", 0),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &[], "none", |_| false);
    assert_round_trip(&original, &dir);
}

/// In the built `dir`, creates `shadow` holding `shadow_text`, a header
/// that the compile of `object_name` now finds before the one it used. Nothing the step depended on changed, so
/// the object is deleted to make it run; the lookup must miss with
/// `PATH appeared`, and the object must contain `marker`. With the shadow
/// gone again the original entry hits.
fn assert_shadowing_header_misses(
    project: &Example,
    dir: &Path,
    object_name: &str,
    shadow: &Path,
    shadow_text: &str,
    marker: &str,
) {
    let object = dir.join(object_name);
    let original = read(&object);

    // Control: the object deleted, nothing else changed, is a hit.
    fs::remove_file(&object).expect("remove object");
    expect_counts(
        "object deleted",
        project.env.build_explained(dir, &[]),
        &[("compile_hits", 1), ("compile_misses", 0)],
    );
    assert_eq!(read(&object), original, "restored object differs");

    fs::create_dir_all(shadow.parent().expect("parent")).expect("mkdir");
    fs::write(shadow, shadow_text).expect("write shadow");
    fs::remove_file(&object).expect("remove object");
    let output = expect_counts(
        "shadowing header",
        project.env.build_explained(dir, &[]),
        &[("compile_hits", 0), ("compile_misses", 1)],
    );
    let wanted = format!("{} appeared", path_str(shadow));
    assert_compile_misses(
        &output,
        dir,
        &[object_name],
        &format!("`{wanted}`"),
        |reason| reason == wanted,
    );
    let shadowed = read(&object);
    assert_ne!(shadowed, original, "the shadowed object was not recompiled");
    assert!(
        contains(&shadowed, marker.as_bytes()),
        "the object was not compiled with the shadowing header"
    );

    // The shadow removed: the original entry hits again.
    fs::remove_file(shadow).expect("remove shadow");
    fs::remove_file(&object).expect("remove object");
    expect_counts(
        "shadow removed",
        project.env.build_counted(dir, &[]),
        &[("compile_hits", 1), ("compile_misses", 0)],
    );
    assert_eq!(read(&object), original, "restored object differs");
}

#[test]
fn a_new_header_shadowing_one_in_a_later_include_dir_misses() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    // test_geom.c is compiled with -I<build>/generated before
    // -I<source>/include: a geom/stats.h created in the first one now wins
    // over include/geom/stats.h.
    let marker = "shadow header from the e2e test";
    let mut shadow_text =
        fs::read_to_string(project.source.join("include/geom/stats.h")).expect("read stats.h");
    shadow_text.push_str(&format!(
        "__attribute__((used)) static const char zcdemo_shadow_marker[] = \"{marker}\";\n"
    ));
    assert_shadowing_header_misses(
        &project,
        &dir,
        OBJ_TEST_GEOM,
        &dir.join("generated/geom/stats.h"),
        &shadow_text,
        marker,
    );
}

#[test]
fn a_new_header_beside_the_source_shadowing_an_include_dir_misses() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    // greeter.cpp includes "greetings_table.h", found in <build>/generated;
    // the including file's own dir is searched first for quoted includes.
    let marker = "hello from a shadowing header";
    let shadow_text = fs::read_to_string(dir.join("generated/greetings_table.h"))
        .expect("read the generated header")
        .replacen("\"hello\"", &format!("\"{marker}\""), 1);
    assert!(shadow_text.contains(marker), "no \"hello\" in the table");
    assert_shadowing_header_misses(
        &project,
        &dir,
        OBJ_GREETER,
        &project.source.join("src/text/greetings_table.h"),
        &shadow_text,
        marker,
    );
}

#[test]
fn changed_flags_miss_and_the_original_flags_hit_again() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let original = build_products(&dir);

    cmake_configure(&project.source, &dir, &["-DCMAKE_C_FLAGS=-DEXTRA=1"]);
    let output = expect_counts(
        "C flags changed",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", C_OBJECTS.len() as i64),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, C_OBJECTS, "`flags changed`", |reason| {
        reason == "flags changed"
    });

    cmake_configure(&project.source, &dir, &["-DCMAKE_C_FLAGS="]);
    let output = expect_counts(
        "C flags restored",
        project.env.build_explained(&dir, &[]),
        &[
            ("compile_hits", C_OBJECTS.len() as i64),
            ("compile_misses", 0),
            ("errors", 0),
        ],
    );
    assert_compile_misses(&output, &dir, &[], "none", |_| false);
    assert_round_trip(&original, &dir);
}

#[test]
fn switching_gcc_to_clang_misses_and_back_to_gcc_hits() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let steps = StepCounts::of(&dir);
    let original = build_products(&dir);

    // CMake cannot switch compilers in place: configure the same path anew.
    let clang = &["-DCMAKE_C_COMPILER=clang", "-DCMAKE_CXX_COMPILER=clang++"];
    fs::remove_dir_all(&dir).expect("remove build dir");
    cmake_configure(&project.source, &dir, clang);
    let output = expect_counts(
        "clang",
        project.env.build_explained(&dir, &[]),
        &steps.all(false),
    );
    assert_compile_misses(&output, &dir, ALL_OBJECTS, "`compiler changed`", |reason| {
        reason == "compiler changed"
    });
    assert_ne!(
        build_products(&dir)[OBJ_VEC],
        original[OBJ_VEC],
        "clang and gcc produced the same object"
    );

    fs::remove_dir_all(&dir).expect("remove build dir");
    cmake_configure(&project.source, &dir, &[]);
    expect_counts(
        "gcc again",
        project.env.build_counted(&dir, &[]),
        &steps.all(true),
    );
    assert_same_files(
        "first gcc build",
        &original,
        "gcc again",
        &build_products(&dir),
    );
}

#[test]
fn a_compiler_steering_environment_variable_misses_and_unsetting_it_hits() {
    let project = Example::new();
    let dir = project.cold_build("build", &[]);
    let steps = StepCounts::of(&dir);
    let original = build_products(&dir);

    // CPATH adds include dirs to every compile (a missing one is ignored,
    // so the objects stay the same); the cache cannot know that.
    let with_cpath = project.env.with("CPATH", "/nonexistent");
    with_cpath.clean(&dir);
    let output = expect_counts(
        "CPATH set",
        with_cpath.build_explained(&dir, &[]),
        &[
            ("compile_hits", 0),
            ("compile_misses", steps.compiles),
            ("errors", 0),
        ],
    );
    assert_compile_misses(
        &output,
        &dir,
        ALL_OBJECTS,
        "`environment changed`",
        |reason| reason == "environment changed",
    );

    project.env.clean(&dir);
    expect_counts(
        "CPATH unset again",
        project.env.build_counted(&dir, &[]),
        &[
            ("compile_hits", steps.compiles),
            ("compile_misses", 0),
            ("errors", 0),
        ],
    );
    assert_round_trip(&original, &dir);
}
