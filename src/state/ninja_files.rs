//! Ninja's `.ninja_log` and `.ninja_deps` of one build dir, kept in step
//! with what zccache builds so a plain `ninja` finds no work afterwards.
//! The files are opened for appending only when the first record arrives,
//! so a no-op build writes nothing.

use std::path::{Path, PathBuf};

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

    pub fn deps_path(&self) -> &Path {
        &self.deps_path
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
}
