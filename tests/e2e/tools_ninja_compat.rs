//! `-t TOOL` output compared byte for byte with real ninja (when installed)
//! on the same manifest, each run in its own copy of the build dir.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST: &str = r#"cflags = -O2
rule cc
  command = gcc $cflags -MD -MF $out.d -c $in -o $out
  description = CC $out ($cflags) $$x $in
  depfile = $out.d
  deps = gcc
rule link
  command = gcc @$out.rsp -o $out
  rspfile = $out.rsp
  rspfile_content = $in
  description = LINK $out
rule gen
  command = cp $in $out
  generator = 1
rule touch
  command = touch $out
build gen.h: gen gen.h.in
build a.o: cc a.c | gen.h || order
build b.o: cc b.c
build order: phony
build app: link a.o b.o | extra.txt |@ check
build check: touch a.o
build lib/x.o lib/y.o | lib/imp.o: cc lib/x.c
build all: phony app lib/x.o
build nothing: touch
default all
"#;

/// Real ninja, of the version whose output these tests compare with
/// (scripts/test.sh installs it): missing, the tests fail, never pass.
fn real_ninja() -> PathBuf {
    let path = PathBuf::from("/usr/bin/ninja");
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (scripts/test.sh installs ninja-build)",
                path.display()
            )
        });
    let version = String::from_utf8_lossy(&version.stdout);
    assert_eq!(
        version.trim(),
        "1.11.1",
        "these tests compare with ninja 1.11.1"
    );
    path
}

/// A `ninja` symlink to zccache, so messages carry ninja's program name.
fn zccache_as_ninja(dir: &Path) -> PathBuf {
    let link = dir.join("ninja");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_zccache"), &link).expect("symlink zccache");
    link
}

fn write_build_dir(dir: &Path) {
    fs::create_dir_all(dir.join("lib")).expect("create build dir");
    fs::write(dir.join("build.ninja"), MANIFEST).expect("write manifest");
    for file in ["a.c", "b.c", "gen.h.in", "extra.txt", "lib/x.c"] {
        fs::write(dir.join(file), "").expect("write source");
    }
}

/// stdout, stderr and exit code, with the build dir's path and graphviz
/// node ids (pointers in ninja) replaced by placeholders.
fn run(program: &Path, dir: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tool");
    let text = format!(
        "{}--stderr--\n{}--code {:?}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        output.status.code()
    );
    normalize_ids(&text.replace(&dir.display().to_string(), "DIR"))
}

fn normalize_ids(text: &str) -> String {
    text.split('"')
        .enumerate()
        .map(|(i, piece)| {
            let is_id = i % 2 == 1
                && (piece.starts_with("0x")
                    || (piece.len() > 1
                        && (piece.starts_with('f') || piece.starts_with('s'))
                        && piece[1..].bytes().all(|b| b.is_ascii_digit())));
            if is_id { "ID" } else { piece }
        })
        .collect::<Vec<_>>()
        .join("\"")
}

fn assert_same(cases: &[&[&str]]) {
    let ninja = real_ninja();
    let temp = tempfile::tempdir().expect("temp dir");
    let ours = zccache_as_ninja(temp.path());
    for (index, args) in cases.iter().enumerate() {
        let ninja_dir = temp.path().join(format!("ninja{index}"));
        let our_dir = temp.path().join(format!("ours{index}"));
        write_build_dir(&ninja_dir);
        write_build_dir(&our_dir);
        let expected = run(&ninja, &ninja_dir, args);
        let actual = run(&ours, &our_dir, args);
        assert_eq!(actual, expected, "ninja {}", args.join(" "));
    }
}

#[test]
fn listing_tools_match_ninja() {
    assert_same(&[
        &["-t", "bogus"],
        &["-t", "targets"],
        &["-t", "targets", "depth", "0"],
        &["-t", "targets", "depth", "2"],
        &["-t", "targets", "rule"],
        &["-t", "targets", "rule", "cc"],
        &["-t", "targets", "all"],
        &["-t", "targets", "-h"],
        &["-t", "rules"],
        &["-t", "rules", "-d"],
        &["-t", "rules", "-x"],
    ]);
}

#[test]
fn graph_walking_tools_match_ninja() {
    assert_same(&[
        &["-t", "commands"],
        &["-t", "commands", "-s", "app"],
        &["-t", "commands", "b.o", "a.o"],
        &["-t", "commands", "nope"],
        &["-t", "inputs"],
        &["-t", "inputs", "app"],
        &["-t", "inputs", "--help"],
        &["-t", "query", "app", "a.o", "check"],
        &["-t", "query", "lib/x.c^"],
        &["-t", "query"],
        &["-t", "graph"],
        &["-t", "graph", "app"],
    ]);
}

#[test]
fn compdb_matches_ninja() {
    assert_same(&[
        &["-t", "compdb"],
        &["-t", "compdb", "cc"],
        &["-t", "compdb", "-x", "link"],
        &["-t", "compdb", "nosuch"],
    ]);
}

#[test]
fn log_tools_succeed_in_a_fresh_build_dir_like_ninja() {
    assert_same(&[
        &["-t", "restat"],
        &["-t", "recompact"],
        &["-t", "cleandead"],
        &["-t", "deps"],
        &["-t", "clean"],
        &["-t", "clean", "-r"],
        &["-t", "clean", "-r", "nosuch"],
    ]);
}

#[test]
fn clean_removes_what_ninja_removes() {
    let ninja = real_ninja();
    let temp = tempfile::tempdir().expect("temp dir");
    let ours = zccache_as_ninja(temp.path());
    let cases: &[&[&str]] = &[
        &["-t", "clean"],
        &["-t", "clean", "-g"],
        &["-t", "clean", "app"],
        &["-v", "-t", "clean", "b.o"],
    ];
    let built = [
        "gen.h",
        "a.o",
        "a.o.d",
        "b.o",
        "app",
        "app.rsp",
        "check",
        "lib/x.o",
        "lib/y.o",
        "lib/imp.o",
    ];
    for (index, args) in cases.iter().enumerate() {
        let mut results = Vec::new();
        for program in [&ninja, &ours] {
            let dir = temp.path().join(format!("case{index}-{}", results.len()));
            write_build_dir(&dir);
            // Pretend everything was built, leaving depfiles and rspfiles.
            for file in built {
                fs::write(dir.join(file), "").expect("write output");
            }
            let output = run(program, &dir, args);
            let mut left = walk(&dir, &dir);
            left.sort();
            results.push((output, left));
        }
        assert_eq!(results[1], results[0], "ninja {}", args.join(" "));
    }
}

fn walk(root: &Path, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(root, &path));
        }
        found.push(
            path.strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string(),
        );
    }
    found
}

/// Ninja's list, less `browse`, which needs ninja's own Python server.
#[test]
fn tool_list_is_ninjas_without_browse() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("dir");
    write_build_dir(&dir);
    let expected: String = run(&real_ninja(), &dir, &["-t", "list"])
        .lines()
        .filter(|line| !line.contains("browse"))
        .map(|line| format!("{line}\n"))
        .collect();
    let ours = zccache_as_ninja(temp.path());
    let actual = run(&ours, &dir, &["-t", "list"]) + "\n";
    assert_eq!(actual, expected);
    let browse = run(&ours, &dir, &["-t", "browse"]);
    assert!(browse.ends_with("--code Some(1)"), "{browse}");
}

/// Steps whose recorded dependencies (deps log or depfile) name a
/// generated file the manifest does not order before them.
const MISSINGDEPS_MANIFEST: &str = r#"rule gen
  command = echo gen > gen.h && echo gen > other.h
rule gen1
  command = echo gen > $out
rule cc
  command = printf '%s: %s %s\n' $out $in "$headers" > $out.d && cp $in $out
  depfile = $out.d
  deps = gcc
rule ccd
  command = printf '%s: %s gen.h\n' $out $in > $out.d && cp $in $out
  depfile = $out.d
rule link
  command = cat $in > $out
build gen.h other.h: gen
build unused.h: gen1
build a.o: cc a.c
  headers = gen.h other.h
build b.o: cc b.c || gen.h
  headers = gen.h
build c.o: cc c.c
  headers = gen.h build.ninja
build d.o: ccd d.c
build app: link a.o b.o c.o d.o
build all: phony app
"#;

#[test]
fn missingdeps_matches_ninja() {
    let ninja = real_ninja();
    let temp = tempfile::tempdir().expect("temp dir");
    let ours = zccache_as_ninja(temp.path());
    let cases: &[&[&str]] = &[
        &["-t", "missingdeps"],
        &["-t", "missingdeps", "b.o"],
        &["-t", "missingdeps", "d.o", "a.o"],
        &["-t", "missingdeps", "nonexist"],
    ];
    for (index, args) in cases.iter().enumerate() {
        let mut results = Vec::new();
        for program in [&ninja, &ours] {
            let dir = temp.path().join(format!("case{index}-{}", results.len()));
            fs::create_dir_all(&dir).expect("create build dir");
            fs::write(dir.join("build.ninja"), MISSINGDEPS_MANIFEST).expect("write manifest");
            for source in ["a.c", "b.c", "c.c", "d.c"] {
                fs::write(dir.join(source), "").expect("write source");
            }
            // Both dirs built by ninja: the same deps log and depfiles.
            let built = Command::new(&ninja)
                .current_dir(&dir)
                .output()
                .expect("run ninja");
            assert!(built.status.success(), "{built:?}");
            results.push(run(program, &dir, args));
        }
        assert_eq!(results[1], results[0], "ninja {}", args.join(" "));
    }
}
