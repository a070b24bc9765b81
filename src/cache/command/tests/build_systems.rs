use super::*;
use std::path::PathBuf;
use std::process::Command;

// ---- exactly what CMake 3.25 + Ninja writes (copied from `ninja -t commands`) ----

#[test]
fn cmake_c_compile() {
    let cmd = r#"/usr/bin/cc -DFOO -DSTR="\"a b\"" -I/tmp/cmk/src/../inc -O3 -DNDEBUG -MD -MT CMakeFiles/foo.dir/a.c.o -MF CMakeFiles/foo.dir/a.c.o.d -o CMakeFiles/foo.dir/a.c.o -c /tmp/cmk/src/a.c"#;
    let (inv, c) = compile(cmd);
    assert_eq!(inv.program, "/usr/bin/cc");
    assert_eq!(inv.cwd, build_dir());
    assert_eq!(inv.args[1], r#"-DSTR="a b""#);
    assert_eq!(inv.expanded_args, inv.args);
    assert_eq!(inv.segments, vec![cmd.to_string()]);
    assert_eq!(inv.tool_segment, 0);
    assert_eq!(inv.ranlib, None);
    assert_eq!(c.language, Language::C);
    assert_eq!(c.source, "/tmp/cmk/src/a.c");
    assert_eq!(c.output, "CMakeFiles/foo.dir/a.c.o");
    assert_eq!(c.depfile.as_deref(), Some("CMakeFiles/foo.dir/a.c.o.d"));
    assert_eq!(c.dep_target.as_deref(), Some("CMakeFiles/foo.dir/a.c.o"));
    assert_eq!(
        c.include_dirs,
        vec![IncludeDir {
            path: "/tmp/cmk/src/../inc".into(),
            quote_only: false,
            system: false,
            after: false
        }]
    );
    assert!(!c.debug && !c.nostdinc);
    assert_eq!(
        inv.key_args,
        strings(&[
            "-DFOO",
            r#"-DSTR="a b""#,
            "-I/tmp/cmk/src/../inc",
            "-O3",
            "-DNDEBUG",
            "-MD",
            "-MT",
            "<deptarget>",
            "-MF",
            "<depfile>",
            "-o",
            "<output>",
            "-c",
            "/tmp/cmk/src/a.c",
        ])
    );
    assert_eq!(
        inv.preprocessor_only,
        vec![
            true, true, true, false, true, true, true, true, true, true, false, false, false, false
        ]
    );
}

#[test]
fn cmake_static_library() {
    let cmd = ": && /usr/bin/cmake -E rm -f libfoo.a && /usr/bin/ar qc libfoo.a  CMakeFiles/foo.dir/a.c.o && /usr/bin/ranlib libfoo.a && :";
    let (inv, a) = archive(cmd);
    assert_eq!(
        inv.segments,
        strings(&[
            ":",
            "/usr/bin/cmake -E rm -f libfoo.a",
            "/usr/bin/ar qc libfoo.a  CMakeFiles/foo.dir/a.c.o",
            "/usr/bin/ranlib libfoo.a",
            ":",
        ])
    );
    assert_eq!(inv.tool_segment, 2);
    assert_eq!(inv.program, "/usr/bin/ar");
    assert_eq!(inv.ranlib, Some(strings(&["/usr/bin/ranlib", "libfoo.a"])));
    assert_eq!(a.archive, "libfoo.a");
    assert_eq!(a.members, strings(&["CMakeFiles/foo.dir/a.c.o"]));
    assert_eq!(a.operation, 'q');
    assert_eq!(a.modifiers, "c");
    assert!(!a.reads_existing, "cmake removed the archive first");
    assert!(!a.thin);
    assert_eq!(
        inv.key_args,
        strings(&["qc", "<output>", "CMakeFiles/foo.dir/a.c.o"])
    );
    assert_eq!(inv.preprocessor_only, vec![false; 3]);
}

#[test]
fn cmake_executable_and_shared_library() {
    let (inv, l) = link(
        ": && /usr/bin/cc -O3 -DNDEBUG  CMakeFiles/app.dir/main.c.o -o app  -Wl,-rpath,/tmp/cmk/build  libfoo.a  libbar.so.1.0 && :",
    );
    assert_eq!(inv.tool_segment, 1);
    assert_eq!(l.output, "app");
    assert_eq!(
        l.inputs,
        strings(&["CMakeFiles/app.dir/main.c.o", "libfoo.a", "libbar.so.1.0"])
    );
    assert!(!l.shared && l.driver && l.dependency_file_ok);
    assert!(inv.key_args.contains(&"<output>".to_string()));
    assert!(!inv.key_args.contains(&"app".to_string()));

    let (_, l) = link(
        ": && /usr/bin/cc -fPIC -O3 -DNDEBUG   -shared -Wl,-soname,libbar.so.1 -o libbar.so.1.0 CMakeFiles/bar.dir/b.c.o   && :",
    );
    assert!(l.shared);
    assert_eq!(l.output, "libbar.so.1.0");
    assert_eq!(l.inputs, strings(&["CMakeFiles/bar.dir/b.c.o"]));

    let (_, l) =
        link(": && /usr/bin/c++ -O3 -DNDEBUG  sub/CMakeFiles/cx.dir/x.cpp.o -o sub/cx   && :");
    assert_eq!(l.output, "sub/cx");
}

#[test]
fn cmake_cd_into_a_subdirectory() {
    let (inv, c) = compile(
        "cd /abs/build/sub && /usr/bin/c++ -DFOO -O3 -MD -MT x.cpp.o -MF x.cpp.o.d -o x.cpp.o -c /abs/src/sub/x.cpp",
    );
    assert_eq!(inv.cwd, PathBuf::from("/abs/build/sub"));
    assert_eq!(inv.tool_segment, 1);
    assert_eq!(c.language, Language::Cxx);
    let (inv, _) = compile("cd sub && cc -c ../a.c");
    assert_eq!(inv.cwd, PathBuf::from("/abs/build/sub"));
}

#[test]
fn cmake_helpers_are_not_tools() {
    for cmd in [
        "/usr/bin/cmake -E cmake_symlink_library libbar.so.1.0  libbar.so.1 libbar.so && :",
        "cd /tmp/cmk/build && /usr/bin/cmake --regenerate-during-build -S/tmp/cmk/src -B/tmp/cmk/build",
        "/usr/bin/ccache /usr/bin/cc -c a.c",
        "sccache gcc -c a.c",
        "distcc gcc -c a.c",
        "python3 gen.py",
        "touch stamp",
        "clang-tidy a.c -- -c",
        "gcc-nm a.o",
        "cmake -E rm -f libfoo.a",
        ": && :",
        "",
    ] {
        assert_eq!(
            classify(cmd, &build_dir()),
            Classification::NotATool,
            "{cmd}"
        );
    }
}

/// Runs a real CMake + Ninja configure and checks every command it would run.
#[test]
fn real_cmake_project() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let build = dir.path().join("build");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::create_dir_all(&build).unwrap();
    std::fs::write(
        src.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.20)\nproject(t C CXX)\n\
         add_library(foo STATIC a.c)\nadd_library(bar SHARED b.c)\n\
         set_target_properties(bar PROPERTIES VERSION 1.0 SOVERSION 1)\n\
         add_executable(app main.c)\ntarget_link_libraries(app foo bar)\nadd_subdirectory(sub)\n",
    )
    .unwrap();
    std::fs::write(src.join("sub/CMakeLists.txt"), "add_executable(cx x.cpp)\n").unwrap();
    std::fs::write(src.join("a.c"), "int a(void){return 1;}\n").unwrap();
    std::fs::write(src.join("b.c"), "int b(void){return 2;}\n").unwrap();
    std::fs::write(
        src.join("main.c"),
        "int a(void);\nint main(void){return a();}\n",
    )
    .unwrap();
    std::fs::write(src.join("sub/x.cpp"), "int main(){}\n").unwrap();
    let ok = Command::new("cmake")
        .args(["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"])
        .arg(&src)
        .current_dir(&build)
        .output()
        .expect("cmake is installed");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = Command::new("ninja")
        .args(["-t", "commands", "all"])
        .current_dir(&build)
        .output()
        .expect("ninja is installed");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut kinds = Vec::new();
    for line in text.lines() {
        let c = classify(line, &build);
        kinds.push(c.kind());
        match c {
            Classification::Cacheable(inv) => {
                if let Detail::Compile(c) = &inv.detail {
                    assert!(c.depfile.is_some(), "{line}");
                }
            }
            Classification::NotATool => assert!(line.contains("cmake_symlink_library"), "{line}"),
            other => panic!("`{line}`: {other:?}"),
        }
    }
    use ToolKind::*;
    for kind in [Compile, Archive, Link] {
        assert!(kinds.contains(&Some(kind)), "{kind:?} missing in {text}");
    }
    // Run the real build to show the classified outputs are the files the tools write.
    let built = Command::new("ninja").current_dir(&build).output().unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stdout)
    );
    for line in text.lines() {
        if let Classification::Cacheable(inv) = classify(line, &build) {
            let outputs = match &inv.detail {
                // Ninja reads and deletes depfiles (deps = gcc), so only the object is left.
                Detail::Compile(c) => vec![c.output.clone()],
                Detail::Archive(a) => vec![a.archive.clone()],
                Detail::Link(l) => vec![l.output.clone()],
            };
            for o in outputs {
                assert!(inv.cwd.join(&o).exists(), "{o} of `{line}`");
            }
        }
    }
}

// ---- Meson ----

#[test]
fn meson_compile_and_archives() {
    let (inv, c) = compile(
        "cc -Ifoo -fdiagnostics-color=always -D_FILE_OFFSET_BITS=64 -Wall -O0 -g -MD -MQ foo.p/a.c.o -MF foo.p/a.c.o.d -o foo.p/a.c.o -c ../a.c",
    );
    assert_eq!(c.source, "../a.c");
    assert_eq!(c.output, "foo.p/a.c.o");
    assert_eq!(c.depfile.as_deref(), Some("foo.p/a.c.o.d"));
    assert_eq!(c.dep_target.as_deref(), Some("foo.p/a.c.o"));
    assert!(c.debug);
    assert_eq!(c.include_dirs[0].path, "foo");
    assert_eq!(&inv.key_args[7..9], &strings(&["-MQ", "<deptarget>"]));

    assert_eq!(
        refused("rm -f libx.a && gcc-ar csrDT libx.a foo.p/a.c.o"),
        (Some(ToolKind::Archive), "thin_archive")
    );
    let (_, a) = archive("rm -f libx.a && gcc-ar csrD libx.a foo.p/a.c.o foo.p/b.c.o");
    assert_eq!(a.operation, 'r');
    assert_eq!(a.modifiers, "csD");
    assert!(!a.reads_existing);
    assert_eq!(a.members, strings(&["foo.p/a.c.o", "foo.p/b.c.o"]));
}
