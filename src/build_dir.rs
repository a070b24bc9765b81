//! A build dir, opened: its manifest loaded into a graph, the dir where
//! its state lives (`builddir`), the lock that keeps two builds apart, and
//! the memory of past builds (zccache's state, ninja's log and deps).
//! Build, watch, warm and the tools all open it through here.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::graph::Graph;
use crate::ninja;
use crate::run::builder::BuildContext;
use crate::run::status::StatusPrinter;
use crate::state::ninja_files::{DEPS_FILE_NAME, LOG_FILE_NAME, LazyNinjaFiles};
use crate::state::{BuildState, file_stamp};

/// Where ninja keeps `.ninja_log` and `.ninja_deps`: `builddir`, else the
/// current directory.
pub fn state_dir(graph: &Graph) -> PathBuf {
    graph
        .builddir
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads the manifest into a graph, with errors in ninja's words.
pub fn load_graph(file: &Path) -> anyhow::Result<Graph> {
    ninja::load_graph(file).map_err(|err| anyhow::anyhow!("{err}"))
}

/// The on-disk memory of past builds in one build dir.
pub struct Memory {
    pub dir: PathBuf,
    pub state: BuildState,
    pub ninja: LazyNinjaFiles,
}

impl Memory {
    /// Loads the state of the build dir `dir`, binding it to `graph`.
    pub fn open(
        dir: &Path,
        graph: &mut Graph,
        status: &mut StatusPrinter,
    ) -> anyhow::Result<Memory> {
        let (state, problem) = BuildState::load(&BuildState::path_in(dir), graph);
        if let Some(problem) = problem {
            status.warning(&problem.to_string());
        }
        let ninja = LazyNinjaFiles::new(dir);
        Ok(Memory {
            dir: dir.to_path_buf(),
            state,
            ninja,
        })
    }

    pub fn save(&mut self, graph: &Graph) -> anyhow::Result<()> {
        self.state.hashes.settle(|file| graph.path(file));
        self.ninja
            .recompact_if_needed(graph)
            .context("recompacting ninja's log files")?;
        self.ninja.flush().context("writing ninja's log files")?;
        let stamp = self.ninja_files_stamp();
        if stamp != self.state.ninja_files_stamp {
            self.state.ninja_files_stamp = stamp;
            self.state.mark_changed();
        }
        self.state
            .save(&BuildState::path_in(&self.dir), graph)
            .context("saving build state")?;
        Ok(())
    }

    fn ninja_files_stamp(&self) -> [Option<(u64, i64)>; 2] {
        [
            file_stamp(&self.dir.join(LOG_FILE_NAME)),
            file_stamp(&self.dir.join(DEPS_FILE_NAME)),
        ]
    }

    /// What one build reads and updates.
    pub fn build_context<'a>(
        &'a mut self,
        status: &'a mut StatusPrinter,
        jobs: &'a crate::run::jobs::JobLimit,
        cache: &'a crate::cache::CacheSlot,
    ) -> BuildContext<'a> {
        BuildContext {
            cache,
            ninja_in_sync: self.ninja_files_in_sync(),
            state: &mut self.state,
            ninja: &mut self.ninja,
            status,
            jobs,
        }
    }

    /// Whether ninja's files are as zccache last left them.
    pub fn ninja_files_in_sync(&self) -> bool {
        self.state.ninja_files_stamp == self.ninja_files_stamp()
    }
}

pub const LOCK_FILE_NAME: &str = ".zccache_lock";

/// Holds an exclusive lock on the build dir for the whole build: two
/// zccache builds in one dir would otherwise each save their own view of
/// the state, the last one silently undoing the other's records.
pub fn lock_build_dir(dir: &Path, status: &mut StatusPrinter) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(LOCK_FILE_NAME);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            status.info("waiting for another zccache build in this directory...");
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(err)) => {
            // A file system without locks must not stop the build.
            status.warning(&format!("cannot lock {}: {err}", path.display()));
        }
    }
    Ok(file)
}
