//! The same files in two directories, one built by real ninja and one by
//! `zccache build`, for tests that compare the two, and the comparisons:
//! [`Twin::run_same`] (exit code, every printed line, files left behind)
//! and [`Twin::run_same_steps`] (exit code, steps run, files left behind,
//! for runs whose other output may differ).

use std::fs;
use std::path::{Path, PathBuf};

use super::{
    Output, assert_same_files, ninja, ninja_1_13, normalized_lines, run_in, snapshot_tree,
    step_descriptions, temp_dir, write_files, zccache_build,
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

    /// Runs both and asserts the same exit code, the same steps and the
    /// same resulting files (other output may differ).
    pub fn run_same_steps(&self, args: &[&str]) -> Runs {
        let runs = self.run(args);
        assert_eq!(
            runs.zccache.code,
            runs.ninja.code,
            "exit codes differ\n{}",
            runs.context()
        );
        runs.steps();
        self.assert_same_trees();
        runs
    }

    /// Runs both and asserts they agree: exit status, printed lines and the
    /// resulting file trees.
    pub fn run_same(&self, args: &[&str]) -> Runs {
        let runs = self.run(args);
        runs.assert_same_output(self);
        self.assert_same_trees();
        runs
    }

    /// [`Twin::run_same`] against ninja 1.13, whose exit codes and FAILED
    /// lines zccache follows.
    pub fn run_same_as_1_13(&self, args: &[&str]) -> Runs {
        let runs = self.run_with_ninja_1_13(args);
        runs.assert_same_output(self);
        self.assert_same_trees();
        runs
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

    /// Same exit code and the same (sorted, normalized) lines of output, with
    /// each directory's absolute path replaced by `<DIR>`.
    pub fn assert_same_output(&self, twin: &Twin) {
        let context = || self.context();
        assert_eq!(
            self.zccache.code,
            self.ninja.code,
            "exit codes differ\n{}",
            context()
        );
        assert_eq!(
            sorted_lines(&self.zccache.combined(), &twin.zccache_dir),
            sorted_lines(&self.ninja.combined(), &twin.ninja_dir),
            "output differs\n{}",
            context()
        );
    }

    /// The error text after `ninja: error: ` / `zccache: error: `, equal for both.
    pub fn error_text(&self) -> String {
        let from_ninja = self
            .ninja
            .error_text()
            .unwrap_or_else(|| panic!("ninja printed no error: {}", self.ninja.describe()));
        assert_eq!(
            self.zccache.error_text().as_deref(),
            Some(from_ninja.as_str()),
            "error text differs: {}",
            self.zccache.describe()
        );
        from_ninja
    }
}

fn sorted_lines(text: &str, dir: &Path) -> Vec<String> {
    let dir = dir.to_str().expect("utf-8 path");
    // ninja's own step order varies from run to run (its ready set is
    // ordered by pointer), so the `[N/M] ` counters are dropped before sorting.
    let mut lines: Vec<String> = normalized_lines(text)
        .into_iter()
        .map(|line| {
            let description = step_descriptions(&line);
            let line = description.into_iter().next().unwrap_or(line);
            line.replace(dir, "<DIR>")
        })
        .collect();
    lines.sort();
    lines
}
