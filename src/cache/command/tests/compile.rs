use super::*;
use std::process::Command;

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
        assert_eq!(inv.kind(), ToolKind::Link, "{cmd}");
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
