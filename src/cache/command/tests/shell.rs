use super::*;

use proptest::strategy::Strategy;

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
    assert_eq!(inv.kind(), ToolKind::Compile);
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
    let compiler = |cxx| Some(Program::Compiler { cxx });
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
        ("ar", Some(Program::Archiver)),
        ("gcc-ar", Some(Program::Archiver)),
        ("gcc-ar-12", Some(Program::Archiver)),
        ("llvm-ar-14", Some(Program::Archiver)),
        ("x86_64-linux-gnu-ar", Some(Program::Archiver)),
        ("ranlib", Some(Program::Ranlib)),
        ("gcc-ranlib", Some(Program::Ranlib)),
        ("llvm-ranlib-14", Some(Program::Ranlib)),
        ("ld", Some(Program::Linker(Linker::Bfd))),
        ("ld.bfd", Some(Program::Linker(Linker::Bfd))),
        ("x86_64-linux-gnu-ld", Some(Program::Linker(Linker::Bfd))),
        ("ld.lld", Some(Program::Linker(Linker::Lld))),
        ("ld.lld-14", Some(Program::Linker(Linker::Lld))),
        ("lld", Some(Program::Linker(Linker::Lld))),
        ("ld.gold", Some(Program::Linker(Linker::Gold))),
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
