//! End-to-end: ways a cache hit could hand back a stale product (issue 14).
//! Each scenario runs once per mode, `zccache gcc` (launcher mode) and
//! `zccache build` (build mode), each with its own private cache: after
//! each change it builds one product plainly with gcc and through zccache
//! and compares them byte for byte. A change that gcc would see must be a
//! miss, with its reason in `-d explain` and the statistics.

use crate::harness::*;

use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Launcher,
    Build,
}

/// A private cache, the mode it is used in, and the environment every run
/// against it gets.
struct Lab {
    _temp: tempfile::TempDir,
    root: PathBuf,
    mode: Mode,
    env: Env,
}

/// What the cached run of one product did.
struct Round {
    /// Counter growth over the cached run.
    delta: Stats,
    /// Everything the cached run printed (`-d explain` in build mode).
    explained: String,
}

impl Round {
    fn count(&self, name: &str) -> i64 {
        self.delta.get(name)
    }
}

impl Lab {
    fn new(mode: Mode) -> Lab {
        let temp = temp_dir();
        let root = temp.path().to_path_buf();
        Lab {
            env: Env::new(root.join("cache")),
            root,
            _temp: temp,
            mode,
        }
    }

    fn with_env(mut self, name: &str, value: &str) -> Lab {
        self.env = self.env.with(name, value);
        self
    }

    /// Makes `gcc ARGS -o OUT` in `cwd` plainly and through zccache, and
    /// asserts that the cached product equals the plain one.
    fn round(&self, what: &str, cwd: &Path, args: &[&str]) -> Round {
        let plain = cwd.join("z_plain.out");
        let cached = cwd.join("z_cached.out");
        for path in [&plain, &cached] {
            let _ = fs::remove_file(path);
        }
        let mut argv: Vec<&str> = args.to_vec();
        argv.extend(["-o", "z_plain.out"]);
        self.env.run(cwd, "gcc", &argv).assert_success();

        let before = self.env.stats();
        let output = match self.mode {
            Mode::Launcher => {
                let mut argv: Vec<&str> = vec!["gcc"];
                argv.extend(args);
                argv.extend(["-o", "z_cached.out"]);
                self.env.run(cwd, zccache_bin(), &argv)
            }
            Mode::Build => {
                let words: Vec<String> = args
                    .iter()
                    .map(|arg| shlex::try_quote(arg).expect("quotable").into_owned())
                    .collect();
                fs::write(
                    cwd.join("build.ninja"),
                    format!(
                        "rule make\n  command = gcc {} -o $out\nbuild z_cached.out: make\n",
                        words.join(" ")
                    ),
                )
                .expect("write build.ninja");
                let cwd_text = cwd.to_str().expect("utf-8");
                self.env.run(
                    cwd,
                    zccache_bin(),
                    &["build", "-C", cwd_text, "-d", "explain"],
                )
            }
        };
        output.assert_success();
        let delta = self.env.stats().since(&before);
        let want = fs::read(&plain).expect("plain product");
        let got = fs::read(&cached).expect("cached product");
        assert!(
            got == want,
            "{what}: the {:?}-mode product differs from plain gcc's (a stale restore)\n\
             counters: {delta:?}\n{}",
            self.mode,
            output.describe()
        );
        Round {
            delta,
            explained: output.combined(),
        }
    }

    /// A first round (stored) and a second that must hit, so that a later
    /// miss is the change's doing.
    fn cached(&self, cwd: &Path, args: &[&str], kind: &str) {
        self.round("first build", cwd, args);
        let again = self.round("unchanged rebuild", cwd, args);
        assert_eq!(
            again.count(&format!("{kind}_hits")),
            1,
            "{:?} mode: an unchanged rebuild must hit: {:?}\n{}",
            self.mode,
            again.delta,
            again.explained
        );
    }

    /// After a change: a miss counted as `miss.SLUG`, and build mode's
    /// `-d explain` gives `reason` for it.
    fn assert_misses(&self, what: &str, cwd: &Path, args: &[&str], kind: &str, reason: &str) {
        let round = self.round(what, cwd, args);
        let slug = if reason.ends_with(" appeared") {
            "miss.header_appeared"
        } else {
            "miss.header_changed"
        };
        assert!(
            round.count(&format!("{kind}_misses")) == 1 && round.count(slug) == 1,
            "{what}: {:?} mode must miss ({slug}): {:?}\n{}",
            self.mode,
            round.delta,
            round.explained
        );
        assert!(
            self.mode == Mode::Launcher || round.explained.contains(reason),
            "{what}: no `{reason}` in the explanation:\n{}",
            round.explained
        );
    }
}

/// Runs `scenario` in each mode with a fresh cache.
fn in_both_modes(scenario: impl Fn(&Lab)) {
    for mode in [Mode::Launcher, Mode::Build] {
        scenario(&Lab::new(mode));
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

const USES_API: &str = "#include \"lib/api.h\"\nint f(void) { return API; }\n";

/// Case 1: `-I proj -I proj/include` (CMake's default pair): a header
/// found in the nested dir is shadowed by a new one in the outer dir.
#[test]
fn a_header_in_a_nested_include_dir_is_shadowed_by_the_outer_dir() {
    in_both_modes(|lab| {
        let proj = lab.root.join("proj");
        write(&proj.join("include/lib/api.h"), "#define API 1\n");
        write(&proj.join("src/a.c"), USES_API);
        let args = ["-c", "src/a.c", "-I.", "-Iinclude"];
        lab.cached(&proj, &args, "compile");
        write(&proj.join("lib/api.h"), "#define API 2\n");
        lab.assert_misses(
            "lib/api.h added to the outer dir",
            &proj,
            &args,
            "compile",
            "lib/api.h appeared",
        );
    });
}

/// Case 1: the search order across kinds of include dirs: a header found
/// by `-idirafter` is shadowed by a new one in a system dir (here a
/// `--sysroot`'s), which gcc searches before the `-idirafter` dirs.
#[test]
fn a_header_after_the_system_dirs_is_shadowed_by_a_system_header() {
    in_both_modes(|lab| {
        let proj = lab.root.join("proj");
        let sysroot = lab.root.join("sysroot");
        fs::create_dir_all(sysroot.join("usr/include")).expect("mkdir");
        write(&proj.join("after/api.h"), "#define API 1\n");
        write(
            &proj.join("a.c"),
            "#include <api.h>\nint f(void) { return API; }\n",
        );
        let sysroot_arg = format!("--sysroot={}", sysroot.display());
        let args = ["-c", "a.c", &sysroot_arg, "-idirafter", "after"];
        lab.cached(&proj, &args, "compile");
        write(&sysroot.join("usr/include/api.h"), "#define API 2\n");
        lab.assert_misses(
            "api.h added to a system dir",
            &proj,
            &args,
            "compile",
            "api.h appeared",
        );
    });
}

/// Case 1 and 2: `#include "…"` searches the includer's own dir first,
/// also for a source outside the build dir and a header from an include
/// dir outside it.
#[test]
fn a_header_beside_the_includer_shadows_one_from_an_outside_include_dir() {
    in_both_modes(|lab| {
        let build = lab.root.join("build");
        fs::create_dir_all(&build).expect("mkdir");
        write(&lab.root.join("opt/x/include/x.h"), "#define X 1\n");
        write(
            &lab.root.join("src/a.c"),
            "#include \"x.h\"\nint f(void) { return X; }\n",
        );
        let args = ["-c", "../src/a.c", "-I../opt/x/include"];
        lab.cached(&build, &args, "compile");
        write(&lab.root.join("src/x.h"), "#define X 2\n");
        lab.assert_misses(
            "x.h added beside the source",
            &build,
            &args,
            "compile",
            "x.h appeared",
        );
    });
}

/// Case 2: a system header included with quotes (`#include "zz.h"` found
/// in a system dir) is shadowed by a new one beside the source.
#[test]
fn a_system_header_included_with_quotes_is_shadowed_beside_the_source() {
    in_both_modes(|lab| {
        let proj = lab.root.join("proj");
        let sysroot = lab.root.join("sysroot");
        write(&sysroot.join("usr/include/zz.h"), "#define ZZ 1\n");
        write(
            &proj.join("src/a.c"),
            "#include \"zz.h\"\nint f(void) { return ZZ; }\n",
        );
        let sysroot_arg = format!("--sysroot={}", sysroot.display());
        let args = ["-c", "src/a.c", &sysroot_arg];
        lab.cached(&proj, &args, "compile");
        write(&proj.join("src/zz.h"), "#define ZZ 2\n");
        lab.assert_misses(
            "zz.h added beside the source",
            &proj,
            &args,
            "compile",
            "zz.h appeared",
        );
    });
}

/// Case 2: under `-MMD` the build's depfile names no system header, yet an
/// edit of one (here a `--sysroot`'s) must be a miss.
#[test]
fn a_system_header_edited_under_mmd_misses() {
    in_both_modes(|lab| {
        let proj = lab.root.join("proj");
        let sysroot = lab.root.join("sysroot");
        write(&sysroot.join("usr/include/zz.h"), "#define ZZ 1\n");
        write(
            &proj.join("a.c"),
            "#include <zz.h>\nint f(void) { return ZZ; }\n",
        );
        let sysroot_arg = format!("--sysroot={}", sysroot.display());
        let args = ["-c", "a.c", &sysroot_arg, "-MMD", "-MF", "z.d"];
        lab.cached(&proj, &args, "compile");
        write(&sysroot.join("usr/include/zz.h"), "#define ZZ 2\n");
        lab.assert_misses("zz.h edited", &proj, &args, "compile", "zz.h changed");
    });
}

/// Case 3: `__has_include` of a header that does not exist, then does.
#[test]
fn a_header_probed_by_has_include_appearing_misses() {
    in_both_modes(|lab| {
        let proj = lab.root.join("proj");
        write(
            &proj.join("src/a.c"),
            "#if __has_include(\"opt.h\")\n#define V 2\n#else\n#define V 1\n#endif\n\
             int f(void) { return V; }\n",
        );
        write(
            &proj.join("include/b.h"),
            "#if __has_include_next(<optb.h>)\n#define W 3\n#else\n#define W 4\n#endif\n",
        );
        write(
            &proj.join("src/b.c"),
            "#include <b.h>\nint g(void) { return W; }\n",
        );
        let args = ["-c", "src/a.c", "-Iinclude"];
        lab.cached(&proj, &args, "compile");
        write(&proj.join("src/opt.h"), "\n");
        lab.assert_misses("opt.h added", &proj, &args, "compile", "opt.h appeared");

        let args = ["-c", "src/b.c", "-Iinclude", "-Inext"];
        lab.cached(&proj, &args, "compile");
        write(&proj.join("next/optb.h"), "\n");
        lab.assert_misses(
            "optb.h added to the next dir",
            &proj,
            &args,
            "compile",
            "optb.h appeared",
        );
    });
}

/// Case 4: `LIBRARY_PATH=d0:d1`, the library found in d1, then one appears
/// in d0: the link must run again; likewise for a `-B` dir.
#[test]
fn a_library_appearing_earlier_in_library_path_misses() {
    for mode in [Mode::Launcher, Mode::Build] {
        let lab = Lab::new(mode);
        let proj = lab.root.join("proj");
        let lab = lab.with_env("LIBRARY_PATH", &format!("{0}/d0:{0}/d1", proj.display()));
        write(
            &proj.join("m.c"),
            "int zz(void);\nint main(void) { return zz(); }\n",
        );
        write(&proj.join("zz1.c"), "int zz(void) { return 1; }\n");
        write(&proj.join("zz2.c"), "int zz(void) { return 2; }\n");
        for (source, dir) in [("zz1.c", "d1"), ("zz2.c", "d0")] {
            fs::create_dir_all(proj.join(dir)).expect("mkdir");
            lab.env
                .run(&proj, "gcc", &["-c", source, "-o", &format!("{dir}/zz.o")])
                .assert_success();
        }
        lab.env
            .run(&proj, "ar", &["rcs", "d1/libzz.a", "d1/zz.o"])
            .assert_success();
        lab.env.run(&proj, "gcc", &["-c", "m.c"]).assert_success();
        let args = ["m.o", "-lzz"];
        lab.cached(&proj, &args, "link");
        lab.env
            .run(&proj, "ar", &["rcs", "d0/libzz.a", "d0/zz.o"])
            .assert_success();
        lab.assert_misses(
            "libzz.a added to the first LIBRARY_PATH dir",
            &proj,
            &args,
            "link",
            "libzz.a appeared",
        );
        // A `-B` prefix dir is searched before LIBRARY_PATH's.
        let args = ["m.o", "-lzz", "-Bpre/"];
        lab.cached(&proj, &args, "link");
        fs::create_dir_all(proj.join("pre")).expect("mkdir");
        lab.env
            .run(&proj, "ar", &["rcs", "pre/libzz.a", "d1/zz.o"])
            .assert_success();
        lab.assert_misses(
            "libzz.a added to the -B dir",
            &proj,
            &args,
            "link",
            "libzz.a appeared",
        );
    }
}
