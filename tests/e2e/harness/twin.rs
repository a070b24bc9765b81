//! The same files in two directories, one built by real ninja and one by
//! `zccache build`, for tests that compare the two.

use std::fs;
use std::path::{Path, PathBuf};

use super::{
    Output, assert_same_files, ninja, ninja_1_13, run_in, snapshot_tree, temp_dir, write_files,
    zccache_build,
};

pub struct Twin {
    _temp: tempfile::TempDir,
    pub ninja_dir: PathBuf,
    pub zccache_dir: PathBuf,
}

/// Both runs of one invocation.
pub struct Runs {
    pub zccache: Output,
    pub ninja: Output,
}

impl Twin {
    pub fn new(files: &[(&str, &str)]) -> Self {
        Self::new_in(temp_dir(), files)
    }

    /// Twin directories under `temp`, each holding `files`.
    pub fn new_in(temp: tempfile::TempDir, files: &[(&str, &str)]) -> Self {
        let ninja_dir = temp.path().join("ninja");
        let zccache_dir = temp.path().join("zccache");
        write_files(&ninja_dir, files);
        write_files(&zccache_dir, files);
        Twin {
            _temp: temp,
            ninja_dir,
            zccache_dir,
        }
    }

    /// Runs ninja and `zccache build` with the same ninja-style arguments,
    /// each in its own directory, without comparing anything.
    pub fn run(&self, args: &[&str]) -> Runs {
        Runs {
            ninja: ninja(&self.ninja_dir, args),
            zccache: zccache_build(&self.zccache_dir, args),
        }
    }

    /// Like [`Twin::run`] with real ninja 1.13 in place of ninja 1.11, for
    /// what 1.13 changed (exit codes, `FAILED: [code=N]`).
    pub fn run_with_ninja_1_13(&self, args: &[&str]) -> Runs {
        Runs {
            ninja: run_in(&self.ninja_dir, ninja_1_13(), args),
            zccache: zccache_build(&self.zccache_dir, args),
        }
    }

    pub fn assert_same_trees(&self) {
        assert_same_files(
            "ninja's dir",
            &snapshot_tree(&self.ninja_dir),
            "zccache's dir",
            &snapshot_tree(&self.zccache_dir),
        );
    }

    /// Applies the same change to both directories.
    pub fn each(&self, change: impl Fn(&Path)) {
        change(&self.ninja_dir);
        change(&self.zccache_dir);
    }

    /// The file's text, which must be the same in both directories.
    pub fn read_both(&self, relative: &str) -> String {
        let read = |dir: &Path| {
            fs::read_to_string(dir.join(relative))
                .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(relative).display()))
        };
        let from_ninja = read(&self.ninja_dir);
        assert_eq!(from_ninja, read(&self.zccache_dir), "{relative} differs");
        from_ninja
    }

    /// Whether the file exists, which must be the same in both directories.
    pub fn exists_in_both(&self, relative: &str) -> bool {
        let in_ninja = self.ninja_dir.join(relative).exists();
        assert_eq!(
            in_ninja,
            self.zccache_dir.join(relative).exists(),
            "{relative} exists in only one dir"
        );
        in_ninja
    }
}

impl Runs {
    pub fn context(&self) -> String {
        format!(
            "--- ninja ---\n{}\n--- zccache ---\n{}",
            self.ninja.describe(),
            self.zccache.describe()
        )
    }

    /// The sorted step descriptions, equal for both.
    pub fn steps(&self) -> Vec<String> {
        let steps = self.ninja.step_descriptions();
        assert_eq!(
            self.zccache.step_descriptions(),
            steps,
            "steps differ\n{}",
            self.context()
        );
        steps
    }
}
