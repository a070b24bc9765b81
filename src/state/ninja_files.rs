//! Ninja's `.ninja_log` and `.ninja_deps` of one build dir, kept in step
//! with what zccache builds so a plain `ninja` finds no work afterwards.
//! The files are opened for appending only when the first record arrives,
//! so a no-op build writes nothing.

use std::path::{Path, PathBuf};

use crate::graph::Graph;
use crate::ninja::DepsKind;
use crate::state::ninja_deps::{Deps, NinjaDeps, NinjaDepsError};
use crate::state::ninja_log::{LogEntry, NinjaLog, NinjaLogError, NinjaLogWriter};

pub const LOG_FILE_NAME: &str = ".ninja_log";
pub const DEPS_FILE_NAME: &str = ".ninja_deps";

pub struct NinjaFiles {
    log_path: PathBuf,
    deps_path: PathBuf,
    pub log: NinjaLog,
    log_writer: Option<NinjaLogWriter>,
    pub deps: NinjaDeps,
    deps_open: bool,
}

/// Ninja creates `builddir` when it first writes its logs there.
fn create_parent(path: &Path) -> Result<(), NinjaFilesError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| NinjaFilesError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NinjaFilesError {
    #[error("creating {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] NinjaLogError),
    #[error(transparent)]
    Deps(#[from] NinjaDepsError),
}

impl NinjaFiles {
    /// Loads both files from `dir`. Unusable files load as empty; their
    /// warnings are returned for the caller to print once.
    pub fn load(dir: &Path) -> (NinjaFiles, Vec<String>) {
        let log_path = dir.join(LOG_FILE_NAME);
        let deps_path = dir.join(DEPS_FILE_NAME);
        let mut warnings = Vec::new();
        let log = match NinjaLog::load(&log_path) {
            Ok(log) => log,
            Err(err) => {
                warnings.push(err.to_string());
                NinjaLog::default()
            }
        };
        warnings.extend(log.load_warning().map(str::to_string));
        let deps = match NinjaDeps::load(&deps_path) {
            Ok(deps) => deps,
            Err(err) => {
                warnings.push(err.to_string());
                NinjaDeps::default()
            }
        };
        warnings.extend(deps.load_warning().map(str::to_string));
        let files = NinjaFiles {
            log_path,
            deps_path,
            log,
            log_writer: None,
            deps,
            deps_open: false,
        };
        (files, warnings)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn log_entry(&self, output: &str) -> Option<&LogEntry> {
        self.log.get(output)
    }

    pub fn deps_of(&self, output: &str) -> Option<Deps<'_>> {
        self.deps.get(output)
    }

    pub fn record_log(&mut self, output: &str, entry: LogEntry) -> Result<(), NinjaFilesError> {
        if self.log_writer.is_none() {
            create_parent(&self.log_path)?;
            self.log_writer = Some(self.log.open_writer(&self.log_path)?);
        }
        if let Some(writer) = self.log_writer.as_mut() {
            self.log.record(writer, output, entry)?;
        }
        Ok(())
    }

    /// Pushes the log lines written so far to the file, as ninja does after
    /// every step: a build killed midway keeps the steps it finished.
    pub fn flush_log(&mut self) -> Result<(), NinjaFilesError> {
        if let Some(writer) = self.log_writer.as_mut() {
            writer.flush()?;
        }
        Ok(())
    }

    pub fn record_deps(
        &mut self,
        output: &str,
        mtime_ns: i64,
        inputs: &[&str],
    ) -> Result<(), NinjaFilesError> {
        if !self.deps_open {
            create_parent(&self.deps_path)?;
            self.deps.open_for_append(&self.deps_path)?;
            self.deps_open = true;
        }
        self.deps.record(output, mtime_ns, inputs)?;
        Ok(())
    }

    /// Rewrites a file that failed to load, as ninja does when it opens its
    /// logs: otherwise every later run (of either tool) warns again.
    pub fn repair(&mut self) -> Result<(), NinjaFilesError> {
        if self.log.load_warning().is_some() && self.log_writer.is_none() {
            create_parent(&self.log_path)?;
            self.log_writer = Some(self.log.open_writer(&self.log_path)?);
        }
        if self.deps.load_warning().is_some() && !self.deps_open {
            create_parent(&self.deps_path)?;
            self.deps.open_for_append(&self.deps_path)?;
            self.deps_open = true;
        }
        Ok(())
    }

    /// Rewrites a file this run appended to without its superseded
    /// records once it holds as many as ninja recompacts at, so a
    /// long-lived build dir's files stop growing. (Ninja checks when it
    /// opens them for a build; zccache opens them only to write.)
    pub fn recompact_if_needed(&mut self, graph: &Graph) -> Result<(), NinjaFilesError> {
        if self.log_writer.is_some() && self.log.needs_recompaction() {
            self.flush_log()?;
            // The next entry goes to the new file, not the renamed-over one.
            self.log_writer = None;
            self.log
                .recompact(&self.log_path, |output| log_entry_is_live(graph, output))?;
        }
        if self.deps_open && self.deps.needs_recompaction() {
            self.deps
                .recompact(&self.deps_path, |output| deps_entry_is_live(graph, output))?;
        }
        Ok(())
    }

    /// Flushes what was appended; called when the build ends.
    pub fn flush(&mut self) -> Result<(), NinjaFilesError> {
        if let Some(writer) = self.log_writer.as_mut() {
            writer.flush()?;
        }
        if self.deps_open {
            self.deps.close()?;
            self.deps_open = false;
        }
        Ok(())
    }
}

/// Whether recompacting `.ninja_log` keeps the entry of `output`, as
/// ninja's does: a current output, or an old one still on disk (another
/// Ninja Multi-Config manifest's, or one `-t cleandead` removes later).
/// Paths are relative to the current directory, the manifest's.
pub fn log_entry_is_live(graph: &Graph, output: &str) -> bool {
    is_output(graph, output) || Path::new(output).symlink_metadata().is_ok()
}

/// Whether recompacting `.ninja_deps` keeps the deps of `output`, as
/// ninja's does: its step still records deps.
pub fn deps_entry_is_live(graph: &Graph, output: &str) -> bool {
    graph
        .lookup(output)
        .and_then(|file| graph.producer(file))
        .is_some_and(|step| graph.step(step).deps != DepsKind::None)
}

fn is_output(graph: &Graph, path: &str) -> bool {
    graph
        .lookup(path)
        .is_some_and(|file| graph.producer(file).is_some())
}

/// [`NinjaFiles`] read only when first needed: a build with nothing to do
/// and nothing that ninja would see differently never parses them.
pub struct LazyNinjaFiles {
    dir: PathBuf,
    files: Option<NinjaFiles>,
    warnings: Vec<String>,
}

impl LazyNinjaFiles {
    pub fn new(dir: &Path) -> LazyNinjaFiles {
        LazyNinjaFiles {
            dir: dir.to_path_buf(),
            files: None,
            warnings: Vec::new(),
        }
    }

    pub fn get(&mut self) -> &mut NinjaFiles {
        self.files.get_or_insert_with(|| {
            let (files, warnings) = NinjaFiles::load(&self.dir);
            self.warnings.extend(warnings);
            files
        })
    }

    /// Warnings from loading, each returned once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    pub fn flush(&mut self) -> Result<(), NinjaFilesError> {
        match self.files.as_mut() {
            Some(files) => files.flush(),
            None => Ok(()),
        }
    }

    /// See [`NinjaFiles::recompact_if_needed`]; nothing when not loaded.
    pub fn recompact_if_needed(&mut self, graph: &Graph) -> Result<(), NinjaFilesError> {
        match self.files.as_mut() {
            Some(files) => files.recompact_if_needed(graph),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// `a.o` compiled from `a.c` with gcc deps.
    fn graph() -> Graph {
        crate::state::tests::compile_graph(DepsKind::Gcc)
    }

    fn entry(mtime_ns: i64) -> LogEntry {
        LogEntry {
            start_ms: 0,
            end_ms: 1,
            mtime_ns,
            command_hash: 7,
        }
    }

    /// Records `a.o` `times` times in both files, then once `gone.o`, an
    /// output neither in the graph nor on disk; returns the files after
    /// the end of that build.
    fn build_repeatedly(dir: &Path, times: i64) -> NinjaFiles {
        let (mut files, warnings) = NinjaFiles::load(dir);
        assert!(warnings.is_empty(), "{warnings:?}");
        for mtime in 0..times {
            files.record_log("a.o", entry(mtime)).unwrap();
            files.record_deps("a.o", mtime, &["a.c", "a.h"]).unwrap();
        }
        files.record_log("gone.o", entry(1)).unwrap();
        files.recompact_if_needed(&graph()).unwrap();
        files.flush().unwrap();
        files
    }

    fn line_count(path: &Path) -> usize {
        fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn files_are_recompacted_past_ninjas_thresholds_and_keep_the_umask_mode() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = build_repeatedly(dir.path(), 1001);
        // One line per live output, and one deps record.
        assert_eq!(line_count(&files.log_path), 2);
        let deps = NinjaDeps::load(&files.deps_path).unwrap();
        assert!(!deps.needs_recompaction());
        assert_eq!(deps.get("a.o").unwrap().mtime_ns, 1000);
        // Both stay usable for the rest of the build.
        files.record_log("a.o", entry(5000)).unwrap();
        files.record_deps("a.o", 5000, &["a.c"]).unwrap();
        files.flush().unwrap();
        let log = NinjaLog::load(&files.log_path).unwrap();
        assert_eq!(log.get("a.o").unwrap().mtime_ns, 5000);
        assert_eq!(log.get("gone.o"), None);
        let deps = NinjaDeps::load(&files.deps_path).unwrap();
        assert_eq!(deps.get("a.o").unwrap().inputs, ["a.c"]);

        // The mode any new file gets here, as ninja's logs have.
        let probe = dir.path().join("probe");
        fs::write(&probe, "").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.log_path), mode(&probe));
        assert_eq!(mode(&files.deps_path), mode(&probe));
    }

    #[test]
    fn files_below_ninjas_thresholds_are_left_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        // Ninja recompacts its log past 100 lines, its deps past 1000.
        let files = build_repeatedly(dir.path(), 99);
        // The header and every line appended.
        assert_eq!(line_count(&files.log_path), 101);
        assert!(fs::metadata(&files.deps_path).unwrap().len() > 99 * 16);
    }
}
