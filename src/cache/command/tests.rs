use super::*;
use proptest::strategy::Strategy;
use std::path::PathBuf;
use std::process::Command;

fn build_dir() -> PathBuf {
    PathBuf::from("/abs/build")
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn cacheable_in(command: &str, cwd: &Path) -> Invocation {
    match classify(command, cwd) {
        Classification::Cacheable(inv) => inv,
        other => panic!("`{command}` should be cacheable, got {other:?}"),
    }
}

fn cacheable(command: &str) -> Invocation {
    cacheable_in(command, &build_dir())
}

fn compile(command: &str) -> (Invocation, CompileArgs) {
    let inv = cacheable(command);
    assert_eq!(inv.kind, ToolKind::Compile, "{command}");
    match inv.detail.clone() {
        Detail::Compile(c) => (inv, c),
        other => panic!("`{command}`: {other:?}"),
    }
}

fn archive(command: &str) -> (Invocation, ArchiveArgs) {
    let inv = cacheable(command);
    assert_eq!(inv.kind, ToolKind::Archive, "{command}");
    match inv.detail.clone() {
        Detail::Archive(a) => (inv, a),
        other => panic!("`{command}`: {other:?}"),
    }
}

fn link(command: &str) -> (Invocation, LinkArgs) {
    let inv = cacheable(command);
    assert_eq!(inv.kind, ToolKind::Link, "{command}");
    match inv.detail.clone() {
        Detail::Link(l) => (inv, l),
        other => panic!("`{command}`: {other:?}"),
    }
}

fn refused_in(command: &str, cwd: &Path) -> (Option<ToolKind>, &'static str) {
    match classify(command, cwd) {
        Classification::Uncacheable {
            kind,
            reason,
            detail,
        } => {
            assert!(!detail.is_empty(), "`{command}`: empty detail");
            (kind, reason)
        }
        other => panic!("`{command}` should be uncacheable, got {other:?}"),
    }
}

fn refused(command: &str) -> (Option<ToolKind>, &'static str) {
    refused_in(command, &build_dir())
}

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

// ---- archives ----

#[test]
fn archive_forms() {
    let (inv, a) = archive("ar rcs libx.a a.o b.o");
    assert!(a.reads_existing, "nothing removed the old archive");
    assert_eq!((a.operation, a.modifiers.as_str()), ('r', "cs"));
    assert_eq!(inv.ranlib, None);
    let (_, a) = archive("x86_64-linux-gnu-ar -rcs libx.a a.o");
    assert_eq!((a.operation, a.modifiers.as_str()), ('r', "cs"));
    assert_eq!(a.archive, "libx.a");
    let (_, a) = archive("llvm-ar-14 crs libx.a a.o");
    assert_eq!((a.operation, a.modifiers.as_str()), ('r', "cs"));
    let (inv, a) = archive("ar --plugin /usr/lib/gcc/liblto_plugin.so qc libx.a a.o");
    assert_eq!(a.operation, 'q');
    assert_eq!(inv.key_args[3], "<output>");
    let (_, a) = archive("ar qc libempty.a");
    assert!(a.members.is_empty());
    // Removal and archive compared as paths in the directory they run in.
    let (_, a) = archive("cd lib && rm -f ./libx.a && ar qc libx.a a.o");
    assert!(!a.reads_existing);
    let (_, a) = archive("/usr/bin/cmake -E remove -f libx.a && ar qc libx.a a.o");
    assert!(!a.reads_existing);

    for (cmd, reason) in [
        ("ar x libx.a", "archive_operation"),
        ("ar t libx.a", "archive_operation"),
        ("ar d libx.a a.o", "archive_operation"),
        ("ar p libx.a a.o", "archive_operation"),
        ("ar m libx.a a.o", "archive_operation"),
        ("ar s libx.a", "archive_operation"),
        ("ar rx libx.a", "archive_operation"),
        ("ar rc", "archive_operation"),
        ("ranlib libx.a", "archive_operation"),
        ("ar --thin rc libx.a a.o", "thin_archive"),
        ("ar rcT libx.a a.o", "thin_archive"),
        ("rm -f other.a && ar qc libx.a a.o", "other_commands"),
        ("ar qc libx.a a.o && ranlib liby.a", "other_commands"),
        ("ar qc libx.a a.o && touch libx.a", "other_commands"),
    ] {
        assert_eq!(refused(cmd), (Some(ToolKind::Archive), reason), "{cmd}");
    }
}

// ---- compile details ----

#[test]
fn languages() {
    for (cmd, lang) in [
        ("gcc -c a.c", Language::C),
        ("g++ -c a.c", Language::Cxx),
        ("clang++ -c a.i", Language::PreprocessedCxx),
        ("gcc -c a.i", Language::PreprocessedC),
        ("gcc -c a.ii", Language::PreprocessedCxx),
        ("gcc -c a.cc", Language::Cxx),
        ("gcc -c a.cpp", Language::Cxx),
        ("gcc -c a.cxx", Language::Cxx),
        ("gcc -c a.c++", Language::Cxx),
        ("gcc -c a.C", Language::Cxx),
        ("clang -c a.m", Language::ObjC),
        ("clang -c a.mm", Language::ObjCxx),
        ("gcc -c a.s", Language::Asm),
        ("gcc -c a.S", Language::AsmWithCpp),
        ("gcc -c a.sx", Language::AsmWithCpp),
        ("gcc -x c++ -c a.c", Language::Cxx),
        ("gcc -xc -c a.txt", Language::C),
        ("gcc -x assembler-with-cpp -c a.asm", Language::AsmWithCpp),
        ("gcc -x c++ -x none -c a.c", Language::C),
        // -x only affects inputs after it.
        ("gcc -c a.c -x c++", Language::C),
    ] {
        assert_eq!(compile(cmd).1.language, lang, "{cmd}");
    }
    assert_eq!(Language::Cxx.as_x_arg(), "c++");
    assert_eq!(Language::PreprocessedC.as_x_arg(), "cpp-output");
    assert_eq!(Language::AsmWithCpp.as_x_arg(), "assembler-with-cpp");
}

#[test]
fn option_values_are_not_sources() {
    let cmd = "gcc -c -o out.o -D X -U Y -I inc -iquote q -isystem s -idirafter d -include pre.h \
               -imacros m.h -MF d.d -MT t -MQ q2 -Xclang -ferror-limit -Xclang x.c -Xpreprocessor p.c \
               -Xassembler x.s -Xlinker l.o -target x86_64-linux-gnu -arch x86_64 -L lib -l m \
               -T script.ld -u sym -z now -e entry --param max-inline-insns-single=10 \
               -dumpbase db -dumpdir dd -B bin -G 8 -isysroot /sr --sysroot /sr2 -mllvm -x86-asm a.c";
    let (_, c) = compile(cmd);
    assert_eq!(c.source, "a.c");
    assert_eq!(c.output, "out.o");
    assert_eq!(c.target.as_deref(), Some("x86_64-linux-gnu"));
    assert_eq!(c.sysroot.as_deref(), Some("/sr2"));
    assert_eq!(c.dep_target.as_deref(), Some("t"));
}

#[test]
fn long_spellings_and_clang_only_options() {
    let (inv, c) = compile(
        "gcc --output out.o --include-directory=inc --define-macro X --language=c++ -c a.c \
         -isystem-after sa -iwithsysroot ws -cxx-isystem cs -specs x.specs",
    );
    assert_eq!(c.output, "out.o");
    assert_eq!(c.language, Language::Cxx);
    assert_eq!(c.source, "a.c");
    assert_eq!(c.include_dirs[0].path, "inc");
    assert_eq!(
        &inv.key_args[..3],
        &strings(&["--output", "<output>", "--include-directory=inc"])
    );
    assert_eq!(
        &inv.preprocessor_only[..5],
        &[false, false, true, true, true]
    );
    let (inv, _) = compile("gcc --output=x.o -c a.c");
    assert_eq!(inv.key_args[0], "--output=<output>");
}

#[test]
fn include_dirs_in_search_order() {
    let (inv, c) =
        compile("gcc -Ia -iquote q -isystem s -I b -idirafter d -isystemt -iquoteq2 -c x.c");
    let dirs: Vec<(&str, bool, bool)> = c
        .include_dirs
        .iter()
        .map(|d| (d.path.as_str(), d.quote_only, d.system))
        .collect();
    assert_eq!(
        dirs,
        vec![
            ("q", true, false),
            ("q2", true, false),
            ("a", false, false),
            ("b", false, false),
            ("s", false, true),
            ("t", false, true),
            ("d", false, true),
        ]
    );
    assert_eq!(
        inv.preprocessor_only,
        vec![
            true, true, true, true, true, true, true, true, true, true, true, false, false
        ]
    );
}

#[test]
fn joined_forms_in_key() {
    let (inv, c) = compile("gcc -c a.c -oout/a.o -MMD -MFout/a.d -MTtarget -MQquoted");
    assert_eq!(c.output, "out/a.o");
    assert_eq!(c.depfile.as_deref(), Some("out/a.d"));
    assert_eq!(c.dep_target.as_deref(), Some("target"));
    assert_eq!(
        inv.key_args,
        strings(&[
            "-c",
            "a.c",
            "-o<output>",
            "-MMD",
            "-MF<depfile>",
            "-MT<deptarget>",
            "-MQ<deptarget>"
        ])
    );
    assert_eq!(
        inv.preprocessor_only,
        vec![false, false, false, true, true, true, true]
    );
    let (inv, c) = compile("gcc -Wp,-MD,.a.o.d -c a.c -o a.o");
    assert_eq!(c.depfile.as_deref(), Some(".a.o.d"));
    assert_eq!(inv.key_args[0], "-Wp,-MD,<depfile>");
    assert!(inv.preprocessor_only[0]);
}

#[test]
fn output_and_depfile_defaults() {
    let (_, c) = compile("gcc -MD -c sub/a.c");
    assert_eq!(c.output, "a.o");
    assert_eq!(c.depfile.as_deref(), Some("a.d"));
    let (_, c) = compile("gcc -MMD -c a.c -o x/y.o");
    assert_eq!(c.depfile.as_deref(), Some("x/y.d"));
    let (_, c) = compile("gcc -MD -c a.c -o x.dir/noext");
    assert_eq!(c.depfile.as_deref(), Some("x.dir/noext.d"));
    let (_, c) = compile("gcc -c a.c -o x/y.o");
    assert_eq!(c.depfile, None);
    let (_, c) = compile("gcc -c a.b.cpp");
    assert_eq!(c.output, "a.b.o");
}

/// The defaults above are what gcc and clang really write.
#[test]
fn defaults_match_real_gcc() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::create_dir_all(dir.path().join("x.dir")).unwrap();
    std::fs::write(dir.path().join("sub/a.c"), "int a;\n").unwrap();
    let commands = [
        "-MD -c sub/a.c",
        "-MMD -c sub/a.c -o x.dir/y.o",
        "-MD -c sub/a.c -o x.dir/noext",
        "-MD -c sub/a.c -ox.dir/joined.o",
    ];
    for cmd in ["gcc", "clang"]
        .iter()
        .flat_map(|cc| commands.iter().map(move |args| format!("{cc} {args}")))
    {
        let cmd = cmd.as_str();
        let inv = cacheable_in(cmd, dir.path());
        let Detail::Compile(c) = &inv.detail else {
            panic!("{cmd}")
        };
        let status = Command::new("/bin/sh")
            .args(["-c", cmd])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "{cmd}");
        for f in [&c.output, c.depfile.as_ref().unwrap()] {
            let path = inv.cwd.join(f);
            assert!(path.exists(), "`{cmd}` should have written {f}");
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn debug_prefix_maps_sysroot_target() {
    let (_, c) = compile(
        "clang -g -ffile-prefix-map=/src=. -fdebug-prefix-map=/a=b=c -fmacro-prefix-map=/m= \
         --sysroot=/opt/sr --target=aarch64-linux-gnu -nostdinc -c a.c",
    );
    assert!(c.debug && c.nostdinc);
    assert_eq!(c.sysroot.as_deref(), Some("/opt/sr"));
    assert_eq!(c.target.as_deref(), Some("aarch64-linux-gnu"));
    assert_eq!(
        c.prefix_maps,
        vec![
            PrefixMap {
                old: "/src".into(),
                new: ".".into(),
                debug: true,
                macros: true
            },
            PrefixMap {
                old: "/a".into(),
                new: "b=c".into(),
                debug: true,
                macros: false
            },
            PrefixMap {
                old: "/m".into(),
                new: "".into(),
                debug: false,
                macros: true
            },
        ]
    );
    for (cmd, debug) in [
        ("gcc -c a.c", false),
        ("gcc -g3 -c a.c", true),
        ("gcc -ggdb -c a.c", true),
        ("gcc -gdwarf-4 -c a.c", true),
        ("gcc -g -g0 -c a.c", false),
        ("gcc -gz -c a.c", false),
        ("gcc -gno-column-info -c a.c", false),
    ] {
        assert_eq!(compile(cmd).1.debug, debug, "{cmd}");
    }
    for (cmd, macros) in [
        ("gcc -g -c a.c", false),
        ("gcc -g3 -c a.c", true),
        ("gcc -ggdb3 -c a.c", true),
        ("gcc -gdwarf-3 -c a.c", false),
        ("gcc -g3 -g0 -c a.c", false),
        ("clang -g -fdebug-macro -c a.c", true),
    ] {
        assert_eq!(compile(cmd).1.macro_debug, macros, "{cmd}");
    }
}

#[test]
fn report_files_are_refused() {
    for cmd in [
        "clang -fsave-optimization-record -c a.c",
        "clang -fsave-optimization-record=bitstream -c a.c",
        "clang -foptimization-record-file=r.yaml -c a.c",
        "clang -save-stats=obj -c a.c",
        "gcc -fdiagnostics-format=sarif-file -c a.c",
        "gcc -fdiagnostics-add-output=sarif -c a.c",
        "gcc -fopt-info-vec-missed=vec.txt -c a.c",
    ] {
        assert_eq!(refused(cmd).1, "report_file", "{cmd}");
    }
    for cmd in [
        "gcc -fdiagnostics-format=json -c a.c",
        "gcc -fopt-info-vec -c a.c",
        "gcc -fopt-info=stderr -c a.c",
    ] {
        compile(cmd);
    }
}

#[test]
fn the_last_command_line_recording_option_wins() {
    for (cmd, records) in [
        ("clang -c a.c", false),
        ("clang -frecord-command-line -c a.c", true),
        ("clang -g -grecord-command-line -c a.c", true),
        ("clang -frecord-gcc-switches -c a.c", true),
        (
            "clang -frecord-command-line -fno-record-command-line -c a.c",
            false,
        ),
        (
            "gcc -g -grecord-gcc-switches -gno-record-gcc-switches -c a.c",
            false,
        ),
    ] {
        assert_eq!(compile(cmd).1.records_command_line, records, "{cmd}");
    }
}

#[test]
fn every_compile_reason() {
    for (cmd, reason) in [
        ("gcc -E a.c", "preprocess_only"),
        ("gcc -E -c a.c -o a.i", "preprocess_only"),
        ("gcc -M a.c", "dependency_only"),
        ("gcc -MM -c a.c", "dependency_only"),
        ("gcc -c a.c b.c", "multiple_sources"),
        ("gcc -c a.c b.o", "multiple_sources"),
        ("gcc -c -o a.o", "no_source"),
        ("gcc -c a.c -o -", "output_to_stdout"),
        ("gcc -x c -c -", "stdin_source"),
        ("gcc -c a.f90", "unknown_language"),
        ("gcc -c a.h", "unknown_language"),
        ("gcc -x c-header -c a.h", "unknown_language"),
        ("clang -ftime-trace -c a.c", "time_trace"),
        ("clang -ftime-trace-granularity=10 -c a.c", "time_trace"),
        ("gcc -save-temps -c a.c", "save_temps"),
        ("gcc -save-temps=obj -c a.c", "save_temps"),
        ("gcc --save-temps -c a.c", "save_temps"),
        ("gcc -fprofile-arcs -c a.c", "profiling"),
        ("gcc -ftest-coverage -c a.c", "profiling"),
        ("gcc --coverage -c a.c", "profiling"),
        ("gcc -fprofile-generate -c a.c", "profiling"),
        ("gcc -fprofile-use=x.prof -c a.c", "profiling"),
        ("clang -fprofile-instr-generate -c a.c", "profiling"),
        ("gcc -fauto-profile -c a.c", "profiling"),
        ("gcc -pg -c a.c", "profiling"),
        ("gcc -fbranch-probabilities -c a.c", "profiling"),
        ("clang -fcs-profile-generate -c a.c", "profiling"),
        ("gcc -gsplit-dwarf -c a.c", "split_dwarf"),
        ("gcc -Wa,-adhln=a.lst -c a.c", "assembler_listing"),
        ("gcc -Wa,--noexecstack,-al -c a.c", "assembler_listing"),
        ("gcc -S a.c", "compile_to_asm"),
        ("gcc -S -c a.c", "compile_to_asm"),
        ("clang -arch x86_64 -arch arm64 -c a.c", "multiple_arch"),
        ("gcc -fstack-usage -c a.c", "stack_usage"),
        ("gcc -fdump-tree-all -c a.c", "stack_usage"),
        ("gcc -fcallgraph-info=su -c a.c", "stack_usage"),
        ("gcc -c a.c @/nonexistent/rsp", "unreadable_at_file"),
        ("gcc --version -c a.c", "query"),
        ("gcc -c a.c -o", "missing_argument"),
    ] {
        assert_eq!(refused(cmd), (Some(ToolKind::Compile), reason), "{cmd}");
    }
    // Ordinary options that look similar stay cacheable.
    for cmd in [
        "gcc -Wa,--noexecstack -c a.c",
        "gcc -fno-profile-arcs -c a.c",
        "gcc -fstack-protector -c a.c",
        "gcc -arch x86_64 -c a.c",
        "gcc -v -c a.c",
        "gcc -c a.c -MD",
    ] {
        cacheable(cmd);
    }
}

#[test]
fn every_link_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.rsp"), "--as-needed -soname libx.so").unwrap();
    std::fs::write(dir.path().join("map.rsp"), "-Map=x.map").unwrap();
    for (cmd, reason) in [
        ("gcc a.o -o app -Wl,-Map=app.map", "map_file"),
        ("gcc a.o -o app -Wl,-Map,app.map", "map_file"),
        ("gcc a.o -o app -Xlinker -Map -Xlinker app.map", "map_file"),
        ("gcc a.o -o app -Wl,--print-map", "map_file"),
        ("gcc a.o -o app -Wl,@map.rsp", "map_file"),
        ("ld -Map app.map a.o -o app", "map_file"),
        (
            "gcc a.o -o app.dll -Wl,--out-implib,libapp.a",
            "extra_link_outputs",
        ),
        (
            "gcc a.o -o app -Wl,--dependency-file=app.d",
            "extra_link_outputs",
        ),
        ("gcc a.o -o app -v", "verbose"),
        ("gcc a.o -o app --verbose", "verbose"),
        ("gcc a.o -o app -Wl,--verbose", "verbose"),
        ("ld --verbose a.o -o app", "verbose"),
        ("gcc a.o -o app -fuse-ld=gold", "unsupported_linker"),
        ("gcc a.o -o app -fuse-ld=mold", "unsupported_linker"),
        ("ld.gold a.o -o app", "unsupported_linker"),
        ("x86_64-linux-gnu-ld.gold a.o -o app", "unsupported_linker"),
        ("gcc main.c -o app", "link_with_sources"),
        ("g++ a.o b.cpp -o app", "link_with_sources"),
        ("gcc -x c a.o -o app", "link_with_sources"),
        ("gcc a.o -o app -Wl,@missing.rsp", "unreadable_at_file"),
        ("gcc a.o -o app @missing.rsp", "unreadable_at_file"),
        ("gcc a.o -o app -save-temps", "save_temps"),
        ("gcc -o app", "no_inputs"),
        ("gcc -print-search-dirs", "query"),
    ] {
        assert_eq!(
            refused_in(cmd, dir.path()),
            (Some(ToolKind::Link), reason),
            "{cmd}"
        );
    }
    for cmd in [
        "gcc a.o -o out/app -Wl,@ok.rsp",
        "gcc a.o -o app -flto -flto-partition=one",
        "gcc a.o -o app -fuse-ld=lld",
        "gcc a.o -o app -fuse-ld=bfd",
        "gcc a.o -Wl,-soname,libx.so -shared -o libx.so",
    ] {
        let inv = cacheable_in(cmd, dir.path());
        assert_eq!(inv.kind, ToolKind::Link, "{cmd}");
    }
}

#[test]
fn link_details() {
    let (_, l) = link("gcc a.o -lm -l pthread -L lib -T script.ld b.a c.so.1 -o app");
    assert_eq!(l.inputs, strings(&["a.o", "b.a", "c.so.1"]));
    let (_, l) = link("gcc a.o x.ld");
    assert_eq!(l.output, "a.out");
    assert_eq!(l.inputs, strings(&["a.o", "x.ld"]));
    let (inv, l) = link(
        "/usr/bin/ld -o out/libx.so -shared -soname libx.so -L/usr/lib -lc a.o b.o --hash-style=gnu -z now",
    );
    assert!(!l.driver && l.shared && l.dependency_file_ok);
    assert_eq!(l.output, "out/libx.so");
    assert_eq!(l.inputs, strings(&["a.o", "b.o"]));
    assert_eq!(inv.key_args[1], "<output>");
    let (inv, l) = link("ld.lld --output=app a.o");
    assert_eq!(l.output, "app");
    assert_eq!(inv.key_args[0], "--output=<output>");
    let (inv, l) = link("arm-none-eabi-ld -oapp a.o");
    assert_eq!(l.output, "app");
    assert_eq!(inv.key_args[0], "-o<output>");
}

// ---- the shell layer ----

#[test]
fn shell_syntax_around_a_tool() {
    for (cmd, kind) in [
        ("FOO=1 gcc -c a.c", ToolKind::Compile),
        ("CCACHE_DISABLE=1 gcc a.o -o app", ToolKind::Link),
        ("gcc -c a.c > log", ToolKind::Compile),
        ("gcc -c a.c 2>&1", ToolKind::Compile),
        ("gcc -c a.c < /dev/null", ToolKind::Compile),
        ("gcc -c $SRC", ToolKind::Compile),
        ("gcc -c \"$SRC\"", ToolKind::Compile),
        ("gcc -c `echo a.c`", ToolKind::Compile),
        ("gcc -c *.c", ToolKind::Compile),
        ("gcc -c a?.c", ToolKind::Compile),
        ("gcc -c [ab].c", ToolKind::Compile),
        ("gcc -c {a,b}.c", ToolKind::Compile),
        ("gcc -c ~/a.c", ToolKind::Compile),
        ("gcc -c a.c # comment", ToolKind::Compile),
        ("gcc -c a.c; touch stamp", ToolKind::Compile),
        ("touch stamp; gcc -c a.c", ToolKind::Compile),
        ("gcc -c a.c | tee log", ToolKind::Compile),
        ("gcc -c a.c || true", ToolKind::Compile),
        ("gcc -c a.c &", ToolKind::Compile),
        ("(gcc -c a.c)", ToolKind::Compile),
        ("gcc -c a.c\ntouch x", ToolKind::Compile),
        ("gcc -c 'a.c", ToolKind::Compile),
        ("ar qc lib.a *.o", ToolKind::Archive),
        ("cd sub && ld -o app a.o > log", ToolKind::Link),
    ] {
        assert_eq!(refused(cmd), (Some(kind), "shell_syntax"), "{cmd:?}");
    }
    for cmd in [
        "python3 gen.py > out.c",
        "echo $PATH",
        "cmake -E touch a; cmake -E touch b",
        "FOO=1 python3 x.py",
    ] {
        assert_eq!(
            classify(cmd, &build_dir()),
            Classification::NotATool,
            "{cmd}"
        );
    }
}

#[test]
fn quoting_is_respected() {
    let (inv, c) = compile("gcc '-DX=a&&b' -c a.c");
    assert_eq!(inv.segments.len(), 1);
    assert_eq!(inv.args[0], "-DX=a&&b");
    assert_eq!(c.source, "a.c");
    let (inv, _) = compile("gcc -DSTR=\"a b\" \"-DT=c d\" -DU='$x;*' -c a.c");
    assert_eq!(
        inv.args[..3],
        strings(&["-DSTR=a b", "-DT=c d", "-DU=$x;*"])
    );
    let (inv, _) = compile(r"gcc -DP=\$x -I'dir with space' -c a.c");
    assert_eq!(inv.args[..2], strings(&["-DP=$x", "-Idir with space"]));
    let (_, c) = compile("gcc -c 'my file.c'");
    assert_eq!(c.source, "my file.c");
    assert_eq!(c.output, "my file.o");
}

#[test]
fn other_commands_in_the_chain() {
    for (cmd, kind) in [
        ("python3 gen.py && gcc -c a.c", ToolKind::Compile),
        ("gcc -c a.c && touch stamp", ToolKind::Compile),
        ("gcc -c a.c && gcc -c b.c", ToolKind::Compile),
        ("gcc -c a.c && cd x", ToolKind::Compile),
        ("rm -f a.o && gcc -c a.c", ToolKind::Compile),
        ("cd && gcc -c a.c", ToolKind::Compile),
        ("gcc a.o -o app && ranlib app", ToolKind::Link),
        (
            ": && gcc a.o -o app && /usr/bin/cmake -E echo done && :",
            ToolKind::Link,
        ),
    ] {
        assert_eq!(refused(cmd), (Some(kind), "other_commands"), "{cmd}");
    }
    let inv = cacheable("true && gcc -c a.c && :");
    assert_eq!(inv.tool_segment, 1);
    assert_eq!(inv.segments, strings(&["true", "gcc -c a.c", ":"]));
}

#[test]
fn response_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flags.rsp"),
        "-DA=1 \"-DB=two words\" -Iinc\\ dir\n'-DC=\"q\"' @more.rsp\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("more.rsp"), "-o out.o -MD").unwrap();
    let inv = cacheable_in("gcc @flags.rsp -c a.c", dir.path());
    assert_eq!(inv.args, strings(&["@flags.rsp", "-c", "a.c"]));
    assert_eq!(
        inv.expanded_args,
        strings(&[
            "-DA=1",
            "-DB=two words",
            "-Iinc dir",
            "-DC=\"q\"",
            "-o",
            "out.o",
            "-MD",
            "-c",
            "a.c"
        ])
    );
    assert_eq!(inv.key_args[5], "<output>");
    assert_eq!(inv.key_args.len(), inv.expanded_args.len());
    assert_eq!(inv.preprocessor_only.len(), inv.expanded_args.len());
    let Detail::Compile(c) = &inv.detail else {
        panic!()
    };
    assert_eq!(c.output, "out.o");
    assert_eq!(c.depfile.as_deref(), Some("out.d"));
    assert_eq!(c.include_dirs[0].path, "inc dir");

    // Object lists in response files, as CMake writes for long links.
    std::fs::write(dir.path().join("objs.rsp"), "a.o b.o libx.a").unwrap();
    let inv = cacheable_in("g++ @objs.rsp -o app", dir.path());
    let Detail::Link(l) = &inv.detail else {
        panic!()
    };
    assert_eq!(l.inputs, strings(&["a.o", "b.o", "libx.a"]));
    let inv = cacheable_in("ar qc libx.a @objs.rsp", dir.path());
    let Detail::Archive(a) = &inv.detail else {
        panic!()
    };
    assert_eq!(a.members, strings(&["a.o", "b.o", "libx.a"]));

    // A response file that includes itself never ends.
    std::fs::write(dir.path().join("loop.rsp"), "@loop.rsp").unwrap();
    assert_eq!(
        refused_in("gcc @loop.rsp -c a.c", dir.path()),
        (Some(ToolKind::Compile), "unreadable_at_file")
    );
    assert_eq!(
        refused_in("gcc @missing.rsp -c a.c", dir.path()),
        (Some(ToolKind::Compile), "unreadable_at_file")
    );
    assert_eq!(
        refused_in("ar qc libx.a @missing.rsp", dir.path()),
        (Some(ToolKind::Archive), "unreadable_at_file")
    );
}

#[test]
fn build_argv_follows_libiberty() {
    assert_eq!(
        build_argv("  a 'b c' \"d\\\"e\" f\\ g 'h\\'i' \"\"\n"),
        strings(&["a", "b c", "d\"e", "f g", "h'i", ""])
    );
    assert!(build_argv(" \n\t ").is_empty());
}

#[test]
fn classify_argv_is_one_segment() {
    let argv = strings(&["/usr/bin/gcc", "-DX=a b", "-c", "a.c", "-o", "a.o"]);
    let Classification::Cacheable(inv) = classify_argv(&argv, &build_dir()) else {
        panic!()
    };
    assert_eq!(inv.kind, ToolKind::Compile);
    assert_eq!(inv.segments.len(), 1);
    assert_eq!(shlex::split(&inv.segments[0]), Some(argv.clone()));
    assert_eq!(inv.tool_segment, 0);
    assert_eq!(inv.args, argv[1..].to_vec());
    let cmake = strings(&["cmake", "-E", "touch", "x"]);
    assert_eq!(
        classify_argv(&cmake, &build_dir()),
        Classification::NotATool
    );
    assert_eq!(classify_argv(&[], &build_dir()), Classification::NotATool);
    let ar = strings(&["ar", "qc", "lib.a", "a.o"]);
    let Classification::Cacheable(inv) = classify_argv(&ar, &build_dir()) else {
        panic!()
    };
    let Detail::Archive(a) = inv.detail else {
        panic!()
    };
    assert!(a.reads_existing);
}

#[test]
fn tool_names() {
    let compiler = |cxx| Some(Tool::Compiler { cxx });
    for (name, tool) in [
        ("gcc", compiler(false)),
        ("/usr/bin/cc", compiler(false)),
        ("x86_64-linux-gnu-gcc-12", compiler(false)),
        ("gcc-12", compiler(false)),
        ("clang", compiler(false)),
        ("clang-14", compiler(false)),
        ("clang++-14", compiler(true)),
        ("arm-none-eabi-g++", compiler(true)),
        ("c++", compiler(true)),
        ("g++-12.2", compiler(true)),
        ("ar", Some(Tool::Archiver)),
        ("gcc-ar", Some(Tool::Archiver)),
        ("gcc-ar-12", Some(Tool::Archiver)),
        ("llvm-ar-14", Some(Tool::Archiver)),
        ("x86_64-linux-gnu-ar", Some(Tool::Archiver)),
        ("ranlib", Some(Tool::Ranlib)),
        ("gcc-ranlib", Some(Tool::Ranlib)),
        ("llvm-ranlib-14", Some(Tool::Ranlib)),
        ("ld", Some(Tool::Linker(Linker::Bfd))),
        ("ld.bfd", Some(Tool::Linker(Linker::Bfd))),
        ("x86_64-linux-gnu-ld", Some(Tool::Linker(Linker::Bfd))),
        ("ld.lld", Some(Tool::Linker(Linker::Lld))),
        ("ld.lld-14", Some(Tool::Linker(Linker::Lld))),
        ("lld", Some(Tool::Linker(Linker::Lld))),
        ("ld.gold", Some(Tool::Linker(Linker::Gold))),
        ("ccache", None),
        ("sccache", None),
        ("distcc", None),
        ("gcc-nm", None),
        ("clang-tidy", None),
        ("clang-format-14", None),
        ("clang-cl", None),
        ("cpp", None),
        ("c++filt", None),
        ("cmake", None),
        ("-gcc", None),
        ("12", None),
        ("", None),
    ] {
        assert_eq!(recognize(name), tool, "{name}");
    }
}

proptest::proptest! {
    /// Whatever the command, classification returns (never panics) and the key
    /// vectors line up with the expanded arguments.
    #[test]
    fn any_command_classifies(words in proptest::collection::vec(
        proptest::prop_oneof![
            proptest::sample::select(vec![
                "gcc", "g++", "ar", "ld", "ranlib", "cd", "rm", "-f", "cmake", "-E", ":", "&&",
                "-c", "-o", "-MF", "-MT", "-MD", "-x", "c", "-I", "-D", "-Wp,-MD", "-Wl,-Map",
                "-Xlinker", "a.c", "a.o", "lib.a", "qc", "rcs", "-", "'", "\"", "\\", "@", "--output",
                "-shared", "-S", "-E", "-M", ";", "$", "=",
            ]).prop_map(str::to_string),
            "[ -~]{0,6}",
        ],
        0..12,
    )) {
        let command = words.join(" ");
        if let Classification::Cacheable(inv) = classify(&command, &build_dir()) {
            proptest::prop_assert_eq!(inv.key_args.len(), inv.expanded_args.len());
            proptest::prop_assert_eq!(inv.preprocessor_only.len(), inv.expanded_args.len());
            proptest::prop_assert!(inv.tool_segment < inv.segments.len());
        }
    }
}

#[test]
fn files_named_by_options_are_listed_for_the_key() {
    let cases: &[(&str, &[&str])] = &[
        ("gcc -specs=my.specs -c a.c", &["my.specs"]),
        ("gcc --specs my.specs -c a.c", &["my.specs"]),
        (
            "clang -fsanitize=address -fsanitize-ignorelist=ig.txt -c a.c",
            &["ig.txt"],
        ),
        (
            "clang -fsanitize-blacklist=/abs/bl.txt -c a.c",
            &["/abs/bl.txt"],
        ),
        ("clang -include-pch p.pch -c a.c", &["p.pch"]),
        (
            "clang -Xclang -include-pch -Xclang p.pch -c a.c",
            &["p.pch"],
        ),
        ("clang -fmodule-file=m=m.pcm -c a.cc", &["m=m.pcm", "m.pcm"]),
        ("clang --config=x.cfg -c a.c", &["x.cfg"]),
        ("clang --config x.cfg -c a.c", &["x.cfg"]),
        ("clang -ivfsoverlay o.yaml -c a.c", &["o.yaml"]),
        ("gcc -O2 -c a.c", &[]),
    ];
    for (command, files) in cases {
        let (_, args) = compile(command);
        assert_eq!(
            args.source,
            if command.ends_with(".cc") {
                "a.cc"
            } else {
                "a.c"
            }
        );
        assert_eq!(args.read_files, strings(files), "{command}");
    }
}

#[test]
fn options_that_load_code_or_search_module_caches_are_refused() {
    for (command, reason) in [
        ("gcc -fplugin=./p.so -c a.c", "compiler_plugin"),
        ("clang -fpass-plugin=p.so -c a.c", "compiler_plugin"),
        ("clang -Xclang -load -Xclang p.so -c a.c", "compiler_plugin"),
        ("gcc -wrapper gdb,--args -c a.c", "wrapper"),
        ("clang -fmodules -c a.m", "modules"),
        ("clang -fprebuilt-module-path=pcms -c a.cc", "modules"),
        ("g++ -fmodules-ts -c a.cc", "modules"),
        ("gcc -fprofile-use=prof -c a.c", "profiling"),
    ] {
        assert_eq!(
            refused(command),
            (Some(ToolKind::Compile), reason),
            "{command}"
        );
    }
}

#[test]
fn every_spelling_of_debug_info_is_debug() {
    for flag in [
        "-g",
        "-ggdb",
        "-gdwarf-5",
        "-gline-tables-only",
        "-gmlt",
        "-gctf",
        "-g1",
    ] {
        let (_, c) = compile(&format!("clang {flag} -c a.c"));
        assert!(c.debug, "{flag}");
    }
    let (_, c) = compile("clang -g -g0 -c a.c");
    assert!(!c.debug);
}
