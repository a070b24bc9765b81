//! Unit tests of identities and include lists, against the real gcc and
//! clang and scripts that pose as them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::identity::{driver_programs, family_from_name};
use super::includes::{include_affecting_args, parse_include_search};
use super::*;
use std::time::Duration;

/// Toolchains whose memo is kept in a store over the cache dir `dir`.
fn on_disk(dir: &Path) -> Toolchains {
    let settings = crate::cache::config::Settings {
        dir: dir.to_path_buf(),
        max_size: crate::cache::config::DEFAULT_MAX_SIZE,
        compression: true,
        path_remap: false,
        disable: false,
        hardlink: false,
        shared: false,
        config_file: None,
    };
    Toolchains::new(Some(Store::open(&settings).unwrap()))
}

/// The memo entries in the cache dir `dir`.
fn memo_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.join("v1/records/toolchains")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

fn system_path() -> OsString {
    OsString::from("/usr/local/bin:/usr/bin:/bin")
}

fn identify(tc: &Toolchains, program: &str) -> Arc<ToolIdentity> {
    match tc.identify(program, Path::new("/"), Some(&system_path())) {
        Ok(identity) => identity,
        Err(err) => panic!("identify {program}: {err}"),
    }
}

/// Waits until files just written are no longer "racy", so their
/// identities may be written to disk.
fn settle() {
    std::thread::sleep(Duration::from_millis(80));
}

fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A gcc look-alike whose cc1 and as are files in `dir`, so a test can
/// change one of them.
fn fake_gcc(dir: &Path) -> PathBuf {
    let d = dir.display();
    write_script(&dir.join("cc1"), "#!/bin/sh\necho cc1 v1\n");
    write_script(&dir.join("as"), "#!/bin/sh\necho as v1\n");
    let gcc = dir.join("gcc");
    write_script(
        &gcc,
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             --version) echo 'gcc (Fake) 1.0'; echo 'Copyright (C) Free Software Foundation';;\n\
             -dumpversion) echo 1;;\n\
             -dumpmachine) echo x86_64-fake-linux;;\n\
             -print-prog-name=cc1) echo {d}/cc1;;\n\
             -print-prog-name=*) echo \"${{1#-print-prog-name=}}\";;\n\
             -print-search-dirs) echo 'install: {d}/'; echo 'programs: ={d}/';;\n\
             *) exit 1;;\nesac\n"
        ),
    );
    gcc
}

#[test]
fn gcc_gxx_and_clang_differ() {
    let tc = Toolchains::new(None);
    let gcc = identify(&tc, "gcc");
    let gxx = identify(&tc, "g++");
    let clang = identify(&tc, "clang");
    let clangxx = identify(&tc, "clang++");
    assert_eq!(gcc.family, Family::Gcc);
    assert_eq!(gxx.family, Family::Gcc);
    assert_eq!(clang.family, Family::Clang);
    assert_eq!(clangxx.family, Family::Clang);
    assert!(gcc.version.contains("gcc"), "{}", gcc.version);
    let digests = [gcc.digest, gxx.digest, clang.digest, clangxx.digest];
    for (i, a) in digests.iter().enumerate() {
        for b in &digests[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // clang++ is the same binary as clang: only the name differs.
    assert_eq!(clang.resolved, clangxx.resolved);
}

#[test]
fn cc_and_gcc_are_the_same_tool() {
    let tc = Toolchains::new(None);
    let cc = identify(&tc, "cc");
    let gcc = identify(&tc, "gcc");
    assert_eq!(cc.invoked, Path::new("/usr/bin/cc"));
    assert_eq!(gcc.invoked, Path::new("/usr/bin/gcc"));
    assert_eq!(cc.resolved, gcc.resolved);
    assert_eq!(cc.resolved, fs::canonicalize("/usr/bin/gcc").unwrap());
    assert_ne!(cc.resolved, cc.invoked, "cc is a symlink here");
    assert_eq!(cc.digest, gcc.digest);
    // Spelled as a path, it is still the same tool.
    let by_path = tc
        .identify("../usr/bin/gcc", Path::new("/etc"), None)
        .unwrap();
    assert_eq!(by_path.digest, gcc.digest);
}

#[test]
fn binutils_are_identified() {
    let tc = Toolchains::new(None);
    let ar = identify(&tc, "ar");
    let ranlib = identify(&tc, "ranlib");
    let ld = identify(&tc, "ld");
    assert_eq!(ar.family, Family::Ar);
    assert_eq!(ranlib.family, Family::Ranlib);
    assert_eq!(ld.family, Family::Ld);
    assert!(ar.version.starts_with("GNU ar"), "{}", ar.version);
    assert_ne!(ar.digest, ranlib.digest);
    assert_ne!(ar.digest, ld.digest);
}

#[test]
fn memo_returns_the_same_identity_without_probing() {
    let tc = Toolchains::new(None);
    let first = identify(&tc, "ar");
    let probes = tc.probes_run();
    assert!(probes > 0);
    let second = identify(&tc, "ar");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(tc.probes_run(), probes);
}

#[test]
fn modified_copy_changes_digest_also_through_disk_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let disk = tmp.path().join("toolchains");
    fs::create_dir(&bin).unwrap();
    let tool = bin.join("ar");
    fs::copy("/usr/bin/ar", &tool).unwrap();
    let path = OsString::from(bin.as_os_str());
    settle();

    let first = on_disk(&disk);
    let original = first.identify("ar", tmp.path(), Some(&path)).unwrap();
    assert_eq!(original.resolved, tool);
    assert_eq!(memo_files(&disk).len(), 1, "entry written");
    let real = identify(&first, "ar");
    assert_eq!(real.digest, original.digest, "same content, same name");

    let fresh = on_disk(&disk);
    let from_disk = fresh.identify("ar", tmp.path(), Some(&path)).unwrap();
    assert_eq!(fresh.probes_run(), 0, "answered from disk");
    assert_eq!(from_disk.digest, original.digest);
    assert_eq!(from_disk.version, original.version);

    fs::OpenOptions::new()
        .append(true)
        .open(&tool)
        .unwrap()
        .write_all(b"\0")
        .unwrap();
    let fresh = on_disk(&disk);
    let modified = fresh.identify("ar", tmp.path(), Some(&path)).unwrap();
    assert!(fresh.probes_run() > 0, "stale entry not trusted");
    assert_ne!(modified.digest, original.digest);
}

#[test]
fn changing_a_program_gcc_runs_invalidates_the_disk_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("toolchains");
    let gcc = fake_gcc(tmp.path());
    let program = gcc.to_str().unwrap();
    let path = OsString::from("/nonexistent");
    settle();

    let original = on_disk(&disk)
        .identify(program, tmp.path(), Some(&path))
        .unwrap();
    assert_eq!(original.family, Family::Gcc);

    let fresh = on_disk(&disk);
    let again = fresh.identify(program, tmp.path(), Some(&path)).unwrap();
    assert_eq!(fresh.probes_run(), 0);
    assert_eq!(again.digest, original.digest);

    // Upgrading cc1 alone changes the tool.
    write_script(&tmp.path().join("cc1"), "#!/bin/sh\necho cc1 v2\n");
    let fresh = on_disk(&disk);
    let new_cc1 = fresh.identify(program, tmp.path(), Some(&path)).unwrap();
    assert!(fresh.probes_run() > 0);
    assert_ne!(new_cc1.digest, original.digest);

    // `as` is a bare name: found in gcc's program dir. Another `as`
    // there changes the tool; so does one appearing earlier in PATH
    // once the program dir has none.
    settle();
    let base = on_disk(&disk)
        .identify(program, tmp.path(), Some(&path))
        .unwrap();
    fs::remove_file(tmp.path().join("as")).unwrap();
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    write_script(&other.join("as"), "#!/bin/sh\necho other as\n");
    let no_as = on_disk(&disk)
        .identify(program, tmp.path(), Some(&path))
        .unwrap();
    assert_ne!(no_as.digest, base.digest);
    let other_path = other.into_os_string();
    let fresh = on_disk(&disk);
    let other_as = fresh
        .identify(program, tmp.path(), Some(&other_path))
        .unwrap();
    assert_ne!(other_as.digest, no_as.digest);
    assert_ne!(other_as.digest, base.digest);

    // Every file still stats the same, but the search for `as` now
    // ends earlier: the entry must not be trusted.
    settle();
    let stored = on_disk(&disk)
        .identify(program, tmp.path(), Some(&other_path))
        .unwrap();
    write_script(&tmp.path().join("as"), "#!/bin/sh\necho as v3\n");
    let fresh = on_disk(&disk);
    let shadowed = fresh
        .identify(program, tmp.path(), Some(&other_path))
        .unwrap();
    assert!(fresh.probes_run() > 0);
    assert_ne!(shadowed.digest, stored.digest);
}

#[test]
fn a_checked_identity_is_rechecked_by_stat_after_forget() {
    let tmp = tempfile::tempdir().unwrap();
    let gcc = fake_gcc(tmp.path());
    let program = gcc.to_str().unwrap();
    // `as` is found in PATH, after gcc's program dir.
    fs::remove_file(tmp.path().join("as")).unwrap();
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    write_script(&other.join("as"), "#!/bin/sh\necho other as\n");
    let path = other.into_os_string();
    settle();
    let tc = Toolchains::new(None);
    // As the launcher's helper does before every call.
    tc.forget();
    let first = tc.identify(program, tmp.path(), Some(&path)).unwrap();
    let probes = tc.probes_run();
    tc.forget();
    let again = tc.identify(program, tmp.path(), Some(&path)).unwrap();
    assert_eq!(tc.probes_run(), probes, "checked by stat, not probed");
    assert_eq!(again.digest, first.digest);

    // A file named `as` appears in gcc's program dir, not executable:
    // the search result stays, but the dir changed, so it is checked.
    let shadow = tmp.path().join("as");
    fs::write(&shadow, "#!/bin/sh\necho as v2\n").unwrap();
    tc.forget();
    let not_executable = tc.identify(program, tmp.path(), Some(&path)).unwrap();
    assert_eq!(not_executable.digest, first.digest);
    // Made executable, it shadows PATH's `as`: the dir's stat is the
    // same, the file's is not.
    settle();
    tc.forget();
    tc.identify(program, tmp.path(), Some(&path)).unwrap();
    fs::set_permissions(&shadow, fs::Permissions::from_mode(0o755)).unwrap();
    tc.forget();
    let shadowed = tc.identify(program, tmp.path(), Some(&path)).unwrap();
    assert_ne!(shadowed.digest, first.digest);
}

#[test]
fn damaged_disk_entry_is_ignored_and_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("toolchains");
    let original = identify(&on_disk(&disk), "ar");
    let entries = memo_files(&disk);
    assert_eq!(entries.len(), 1);
    let good = fs::read(&entries[0]).unwrap();
    fs::write(&entries[0], &good[..good.len() / 2]).unwrap();

    let fresh = on_disk(&disk);
    assert_eq!(identify(&fresh, "ar").digest, original.digest);
    assert!(fresh.probes_run() > 0);
    assert_eq!(fs::read(&entries[0]).unwrap(), good, "rewritten");
    let after = on_disk(&disk);
    identify(&after, "ar");
    assert_eq!(after.probes_run(), 0);
}

#[test]
fn earlier_path_entry_changes_resolution() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("gcc");
    fake_gcc(tmp.path());
    let tc = Toolchains::new(None);
    let real = identify(&tc, "gcc");
    let mut path = OsString::from(tmp.path().as_os_str());
    path.push(":");
    path.push(system_path());
    let shadowed = tc.identify("gcc", Path::new("/"), Some(&path)).unwrap();
    assert_eq!(shadowed.invoked, fake);
    assert_ne!(shadowed.digest, real.digest);

    // A relative PATH entry is relative to the step's directory.
    let relative = OsString::from(".:/usr/bin");
    let here = tc.identify("gcc", tmp.path(), Some(&relative)).unwrap();
    assert_eq!(here.invoked, fake);
    let elsewhere = tc.identify("gcc", Path::new("/"), Some(&relative)).unwrap();
    assert_eq!(elsewhere.digest, real.digest);
}

#[test]
fn not_found_is_an_error() {
    let tc = Toolchains::new(None);
    let tmp = tempfile::tempdir().unwrap();
    let err = tc
        .identify("no-such-compiler-zz", tmp.path(), Some(&system_path()))
        .unwrap_err();
    assert!(matches!(err, ToolchainError::NotFound { .. }), "{err}");
    let err = tc.identify("./missing/gcc", tmp.path(), None).unwrap_err();
    assert!(matches!(err, ToolchainError::NotFound { .. }), "{err}");
    // Present but not executable.
    fs::write(tmp.path().join("gcc"), "not a program").unwrap();
    let err = tc.identify("./gcc", tmp.path(), None).unwrap_err();
    assert!(matches!(err, ToolchainError::NotFound { .. }), "{err}");
    assert!(tc.identify("", tmp.path(), None).is_err());
}

#[test]
fn failing_probe_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let tool = tmp.path().join("gcc");
    write_script(&tool, "#!/bin/sh\necho broken >&2\nexit 3\n");
    let err = Toolchains::new(None)
        .identify("./gcc", tmp.path(), None)
        .unwrap_err();
    match err {
        ToolchainError::Probe { detail, .. } => assert!(detail.contains("broken"), "{detail}"),
        other => panic!("expected a probe error, got {other}"),
    }
}

#[test]
fn system_include_dirs_for_c_and_cxx() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("toolchains");
    for compiler in ["gcc", "clang"] {
        let tc = on_disk(&disk);
        let tool = identify(&tc, compiler);
        let c = tc.system_include_dirs(&tool, "c", &[]).unwrap();
        let cxx = tc.system_include_dirs(&tool, "c++", &[]).unwrap();
        assert!(c.bracket.contains(&PathBuf::from("/usr/include")), "{c:?}");
        assert!(
            cxx.bracket.contains(&PathBuf::from("/usr/include")),
            "{cxx:?}"
        );
        assert_ne!(c, cxx, "{compiler}");
        assert!(cxx.bracket.len() > c.bracket.len());
        assert!(c.quote.is_empty());

        let probes = tc.probes_run();
        let again = tc.system_include_dirs(&tool, "c", &[]).unwrap();
        assert!(Arc::ptr_eq(&c, &again));
        // Unrelated arguments do not matter; -nostdinc does.
        let args: Vec<String> = ["-O2", "-Ifoo", "-DX", "-c", "a.c"]
            .map(String::from)
            .into();
        let same = tc.system_include_dirs(&tool, "c", &args).unwrap();
        assert!(Arc::ptr_eq(&c, &same));
        assert_eq!(tc.probes_run(), probes);
        let bare = tc
            .system_include_dirs(&tool, "c", &["-nostdinc".to_owned()])
            .unwrap();
        assert!(
            !bare.bracket.contains(&PathBuf::from("/usr/include")),
            "{bare:?}"
        );

        let fresh = on_disk(&disk);
        let from_disk = fresh.system_include_dirs(&tool, "c++", &[]).unwrap();
        assert_eq!(fresh.probes_run(), 0);
        assert_eq!(from_disk, cxx);
    }
}

#[test]
fn an_include_list_kept_after_forget_is_rechecked_by_stat() {
    let tmp = tempfile::tempdir().unwrap();
    let sysroot = tmp.path().join("root");
    fs::create_dir_all(sysroot.join("usr/include")).unwrap();
    let args = [format!("--sysroot={}", sysroot.display())];
    let tc = Toolchains::new(None);
    // As the launcher's helper does before every call.
    tc.forget();
    let gcc = identify(&tc, "gcc");
    let first = tc.system_include_dirs(&gcc, "c", &args).unwrap();
    let local = sysroot.join("usr/local/include");
    assert!(!first.bracket.contains(&local), "{first:?}");
    let probes = tc.probes_run();
    tc.forget();
    let kept = tc.system_include_dirs(&gcc, "c", &args).unwrap();
    assert_eq!(kept, first);
    assert_eq!(tc.probes_run(), probes, "kept, checked by stat");
    // A dir gcc skipped as missing now exists: it is searched.
    fs::create_dir_all(&local).unwrap();
    tc.forget();
    let again = tc.system_include_dirs(&gcc, "c", &args).unwrap();
    assert!(tc.probes_run() > probes, "probed again");
    assert!(again.bracket.contains(&local), "{again:?}");
}

#[test]
fn include_probe_errors() {
    let tc = Toolchains::new(None);
    let gcc = identify(&tc, "gcc");
    let err = tc
        .system_include_dirs(&gcc, "no-such-language", &[])
        .unwrap_err();
    assert!(matches!(err, ToolchainError::Probe { .. }), "{err}");
    let err = tc
        .system_include_dirs(&gcc, "c", &["--sysroot=rel/dir".to_owned()])
        .unwrap_err();
    assert!(matches!(err, ToolchainError::Probe { .. }), "{err}");
}

#[test]
fn include_affecting_args_keeps_only_what_matters() {
    let args: Vec<String> = [
        "-O2",
        "--sysroot",
        "/sr",
        "-I/x",
        "-target",
        "arm-none-eabi",
        "-m32",
        "-o",
        "a.o",
        "-stdlib=libc++",
        "-B/opt/b",
        "-isysroot/sdk",
        "-nostdinc++",
        "--target=x",
        "--gcc-toolchain=/gt",
        "-mavx",
    ]
    .map(String::from)
    .into();
    let kept = include_affecting_args(&args).unwrap();
    assert_eq!(
        kept,
        [
            "--sysroot",
            "/sr",
            "-target",
            "arm-none-eabi",
            "-m32",
            "-stdlib=libc++",
            "-B/opt/b",
            "-isysroot/sdk",
            "-nostdinc++",
            "--target=x",
            "--gcc-toolchain=/gt",
        ]
    );
    assert!(include_affecting_args(&["-B".to_owned(), "rel".to_owned()]).is_err());
}

#[test]
fn program_choosing_args_are_normalized_and_absolute() {
    let args: Vec<String> = [
        "-O2",
        "-B",
        "tools/",
        "--prefix=/p/",
        "-Bx-",
        "-target",
        "arm-none-eabi",
        "--gcc-toolchain",
        "gcc",
        "-fuse-ld=lld",
        "-fuse-ld=bin/ld",
        "--ld-path=/l",
        "-I",
        "inc",
        "-c",
        "a.c",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        program_choosing_args(&args, Path::new("/w")),
        [
            "-B",
            "/w/tools/",
            "-B",
            "/p/",
            "-B",
            "/w/x-",
            "--target=arm-none-eabi",
            "--gcc-toolchain=/w/gcc",
            "-fuse-ld=lld",
            "-fuse-ld=/w/bin/ld",
            "--ld-path=/l",
        ]
    );
    assert!(program_choosing_args(&["-O2".to_owned()], Path::new("/w")).is_empty());
    assert_eq!(
        driver_programs(
            &["as"],
            &["-fuse-ld=lld".to_owned(), "--ld-path=/l".to_owned()]
        ),
        ["as", "ld.lld", "/l"]
    );
}

#[test]
fn parses_search_list() {
    let text = b"ignoring nonexistent directory \"/no/such\"\n\
        #include \"...\" search starts here:\n /q\n\
        #include <...> search starts here:\n /a\n /b/Frameworks (framework directory)\n\
        End of search list.\n";
    let (search, missing) = parse_include_search(text).unwrap();
    assert_eq!(search.quote, [PathBuf::from("/q")]);
    assert_eq!(
        search.bracket,
        [PathBuf::from("/a"), PathBuf::from("/b/Frameworks")]
    );
    assert_eq!(missing, [PathBuf::from("/no/such")]);
    assert!(parse_include_search(b"#include <...> search starts here:\n /a\n").is_none());
    assert!(parse_include_search(b"clang -cc1 version 14\nEnd of search list.\n").is_none());
    let (only_quote, _) =
        parse_include_search(b"#include \"...\" search starts here:\nEnd of search list.\n")
            .unwrap();
    assert!(only_quote.quote.is_empty() && only_quote.bracket.is_empty());
}

#[test]
fn family_from_names() {
    assert_eq!(family_from_name("x86_64-linux-gnu-gcc-12"), Family::Gcc);
    assert_eq!(family_from_name("clang++-14"), Family::Clang);
    assert_eq!(family_from_name("cc"), Family::Gcc);
    assert_eq!(family_from_name("gcc-ar-12"), Family::Ar);
    assert_eq!(family_from_name("llvm-ar"), Family::Ar);
    assert_eq!(family_from_name("ld.lld"), Family::Ld);
    assert_eq!(family_from_name("arm-none-eabi-ranlib"), Family::Ranlib);
    assert_eq!(family_from_name("python3"), Family::Unknown);
    assert_eq!(family_from_name("cpp"), Family::Unknown);
}

/// Prints what identification costs; run by hand with
/// `cargo test --lib cache::toolchain::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing() {
    use std::time::Instant;
    let path = system_path();
    for program in ["gcc", "clang", "ar"] {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("toolchains");
        let tc = on_disk(&disk);
        let start = Instant::now();
        tc.identify(program, Path::new("/"), Some(&path)).unwrap();
        let cold = start.elapsed();
        let start = Instant::now();
        for _ in 0..1000 {
            tc.identify(program, Path::new("/"), Some(&path)).unwrap();
        }
        let memo = start.elapsed() / 1000;
        let start = Instant::now();
        for _ in 0..100 {
            on_disk(&disk)
                .identify(program, Path::new("/"), Some(&path))
                .unwrap();
        }
        let warm_disk = start.elapsed() / 100;
        println!("{program}: cold {cold:?}, warm disk {warm_disk:?}, warm memo {memo:?}");
    }
}
