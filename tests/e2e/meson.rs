//! End-to-end: the Meson project in tests/fixtures/meson-project
//! (configure_file, a custom_target, vcs_tag and a generated header),
//! configured by real meson in twin build dirs, one built by real ninja and
//! one by zccache as `ninja` (found through `PATH`, as meson finds it), and
//! compared: the steps each build runs and what they produce, in a dir
//! ninja built first, after a header edit, a `meson.build` touch and under
//! `meson test`.
//!
//! The build dirs have names of the same length and the project is built
//! in release mode (no `-g`), so the executables do not embed their dir.

use crate::harness::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct MesonTwin {
    _temp: tempfile::TempDir,
    source: PathBuf,
    /// Built by real ninja.
    by_ninja: PathBuf,
    /// Built by zccache.
    by_zccache: PathBuf,
    /// A symlink named `ninja` to zccache.
    zccache_as_ninja: PathBuf,
    /// `PATH` with that `ninja` first.
    zccache_path: OsString,
}

impl MesonTwin {
    fn configure() -> Self {
        let temp = temp_dir();
        let source = temp.path().join("src");
        copy_dir_recursive(&repo_root().join("tests/fixtures/meson-project"), &source);
        let bin = temp.path().join("bin");
        fs::create_dir_all(&bin).expect("create bin dir");
        let zccache_as_ninja = bin.join("ninja");
        std::os::unix::fs::symlink(zccache_bin(), &zccache_as_ninja).expect("symlink zccache");
        let mut zccache_path = bin.into_os_string();
        zccache_path.push(":");
        zccache_path.push(std::env::var_os("PATH").unwrap_or_default());
        let twin = MesonTwin {
            by_ninja: temp.path().join("bn"),
            by_zccache: temp.path().join("bz"),
            _temp: temp,
            source,
            zccache_as_ninja,
            zccache_path,
        };
        for dir in [&twin.by_ninja, &twin.by_zccache] {
            twin.meson(dir, &["setup", "--buildtype=release"], Some(&twin.source))
                .assert_success();
        }
        twin
    }

    /// `meson ARGS DIR [SOURCE]`, with zccache as ninja for its build dir.
    fn meson(&self, dir: &Path, args: &[&str], source: Option<&Path>) -> Output {
        let mut command = Command::new("meson");
        command.args(args).arg(dir).args(source).env_remove("NINJA");
        if dir == self.by_zccache {
            command.env("PATH", &self.zccache_path);
        }
        command.env("ZCCACHE_DIR", shared_cache_dir());
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run meson: {e} (scripts/test.sh installs it)"));
        Output::captured(
            output,
            format!("meson {} {}", args.join(" "), dir.display()),
        )
    }

    /// Builds both dirs; asserts both succeed and ran the same steps.
    fn build_both(&self) -> Vec<String> {
        let by_ninja = ninja(&self.by_ninja, &[]);
        let by_zccache = run_in(&self.by_zccache, &self.zccache_as_ninja, &[]);
        by_ninja.assert_success();
        by_zccache.assert_success();
        let steps = by_ninja.step_descriptions();
        assert_eq!(
            by_zccache.step_descriptions(),
            steps,
            "--- ninja ---\n{}\n--- zccache ---\n{}",
            by_ninja.describe(),
            by_zccache.describe()
        );
        self.assert_same_products();
        steps
    }

    fn assert_same_products(&self) {
        for file in ["app", "answer.h", "version.h", "config.h"] {
            let read = |dir: &Path| {
                fs::read(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
            };
            assert!(
                read(&self.by_ninja) == read(&self.by_zccache),
                "{file} differs"
            );
        }
        let ran = run_in(&self.by_zccache, self.by_zccache.join("app"), &[]);
        ran.assert_success();
    }
}

fn steps(descriptions: &[&str]) -> Vec<String> {
    let mut steps: Vec<String> = descriptions.iter().map(|s| s.to_string()).collect();
    steps.sort();
    steps
}

const VCS_TAG: &str = "Generating version.h with a custom command";

#[test]
fn meson_project_builds_as_with_ninja() {
    let twin = MesonTwin::configure();
    // zccache takes over a dir ninja built, as a user switching would; its
    // own first builds are compared with ninja's in e2e_cmake.
    for dir in [&twin.by_ninja, &twin.by_zccache] {
        let first = ninja(dir, &[]);
        assert_eq!(first.step_descriptions().len(), 4, "{}", first.describe());
    }
    // vcs_tag runs on every build, also the first zccache build there.
    assert_eq!(twin.build_both(), steps(&[VCS_TAG]));
    assert_eq!(twin.build_both(), steps(&[VCS_TAG]));

    edit_file(&twin.source.join("util.h"), |_| "#define OFFSET 1\n".into());
    assert_eq!(
        twin.build_both(),
        steps(&[
            VCS_TAG,
            "Compiling C object app.p/main.c.o",
            "Linking target app"
        ])
    );
    let printed = run_in(&twin.by_zccache, twin.by_zccache.join("app"), &[]);
    assert_eq!(printed.stdout, "hello 1.2.3 43\n");

    touch(&twin.source.join("meson.build"));
    let regenerated = twin.build_both();
    assert!(
        regenerated.contains(&"Regenerating build files.".to_string()),
        "{regenerated:?}"
    );

    for dir in [&twin.by_ninja, &twin.by_zccache] {
        twin.meson(dir, &["test", "-C"], None).assert_success();
    }
}
