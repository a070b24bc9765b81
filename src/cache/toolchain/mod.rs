//! The identity of the compiler, archiver or linker behind a build step.
//!
//! A cached result may only be reused by the same tool, and "the same
//! tool" is more than the driver binary: gcc runs `cc1`, `as`, `collect2`
//! and `ld` found through its own search dirs and PATH, clang keeps its
//! code in shared libraries and picks its driver mode from its name, and
//! any of these can be upgraded alone. So an identity is a blake3 digest
//! over every file and probe answer that defines the behaviour.
//!
//! Computing it means running the tool a dozen times and hashing tens of
//! megabytes, and launcher mode starts one zccache process per compiler
//! call, so identities are remembered twice: in memory for the life of
//! this process, and on disk across processes. A disk entry lists the
//! stat identity (device, inode, size, mtime, ctime) of every file that
//! went into the digest and is trusted only while all of them still stat
//! the same, so replacing `cc1` alone invalidates it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::store::{Namespace, Store};
use crate::hash::Digest;

mod identity;
mod includes;
mod libraries;
mod memo;
mod probe;
mod resolve;
#[cfg(test)]
mod tests;

use identity::Checked;
pub use identity::program_choosing_args;
use includes::IncludeEntry;

/// What kind of tool a binary is; decides which probes define it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    Gcc,
    Clang,
    Ar,
    Ranlib,
    Ld,
    Unknown,
}

/// One identified tool.
#[derive(Debug, Clone)]
pub struct ToolIdentity {
    /// Absolute path of the binary with every symlink resolved (e.g.
    /// `/usr/bin/cc` → `/usr/bin/gcc-12`): the file whose content is hashed.
    #[cfg(test)]
    pub resolved: PathBuf,
    /// Absolute path where the PATH search found the program, symlinks
    /// kept. Probes run this path, not `resolved`, because gcc finds its
    /// install prefix from argv[0], and clang and llvm-ar take their driver
    /// mode and target from the name they were called by.
    pub invoked: PathBuf,
    pub family: Family,
    /// blake3 over everything that defines the tool's behaviour. Equal
    /// digests ⇒ same tool.
    pub digest: Digest,
    /// First line of `--version`, for messages.
    #[cfg(test)]
    pub version: String,
}

/// A compiler's default include search list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncludeSearch {
    /// Searched for `#include "…"` only (after the including file's dir).
    pub quote: Vec<PathBuf>,
    /// Searched for both `#include <…>` and `#include "…"`.
    pub bracket: Vec<PathBuf>,
}

/// Why a tool could not be identified; the caller then runs the step
/// uncached.
#[derive(thiserror::Error, Debug)]
pub enum ToolchainError {
    #[error("{program}: not found ({detail})")]
    NotFound { program: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("probing `{} {args}`: {detail}", tool.display())]
    Probe {
        tool: PathBuf,
        args: String,
        detail: String,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ToolchainError {
    let context = context.into();
    move |source| ToolchainError::Io { context, source }
}

/// Bump when the digest recipe or an entry's layout changes, so entries
/// written by an older zccache are never trusted.
const FORMAT: u32 = 1;

/// The search path `/bin/sh` (dash) uses when PATH is unset.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Environment variables that change which programs the gcc driver runs or
/// which include dirs it lists. Probes inherit this process's environment,
/// so disk entries are keyed by these values too.
pub const STEERING_ENV: &[&str] = &[
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "SDKROOT",
];

#[derive(Hash, PartialEq, Eq)]
struct MemoKey {
    program: String,
    /// Only when the resolution depends on it.
    cwd: Option<PathBuf>,
    path_env: Option<OsString>,
    /// See [`program_choosing_args`].
    choosing: Vec<String>,
}

#[derive(Hash, PartialEq, Eq)]
struct IncludeKey {
    digest: Digest,
    invoked: PathBuf,
    x_lang: String,
    args: Vec<String>,
}

/// A tool's digest, the arguments that move its library dirs, and its dir.
type LibraryKey = (Digest, Vec<String>, PathBuf);

/// Identities and include lists, memoized in memory and optionally on disk.
pub struct Toolchains {
    /// Where identities and include lists are kept across processes: the
    /// store's `Toolchain` records. A store of its own over the cache dir
    /// (opening one costs no I/O): its writes stay out of the size the
    /// build's store counts, as they always have.
    memo: Option<Store>,
    tools: Mutex<HashMap<MemoKey, Arc<ToolIdentity>>>,
    includes: Mutex<HashMap<IncludeKey, Arc<IncludeSearch>>>,
    /// Identities checked in this process, by disk key; kept by
    /// [`Toolchains::forget`], as each use checks them by stat. Only a
    /// process that forgets (the launcher's helper) keeps them: what makes
    /// the next check cheap costs a one-shot process more than it saves.
    checked: Mutex<HashMap<Digest, Arc<Checked>>>,
    /// Include lists read in this process, by disk key, kept the same way:
    /// each use checks their dirs by stat rather than reading the entry.
    checked_includes: Mutex<HashMap<Digest, Arc<IncludeEntry>>>,
    /// Library search lists, by tool digest, arguments and dir. The
    /// environment that steers them is one per process (the helper serves
    /// one environment), and the digest follows the tool's files.
    library_dirs: Mutex<HashMap<LibraryKey, Arc<Vec<PathBuf>>>>,
    forgets: std::sync::atomic::AtomicBool,
    /// How many tool processes this instance started: lets tests tell a
    /// disk hit from a fresh probe.
    probes_run: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a HashMap of finished
    // answers inconsistent, so a poisoned memo is still good.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Toolchains {
    /// `memo`: the store identities and include lists are kept in across
    /// processes, or None to keep them in memory only.
    pub fn new(memo: Option<Store>) -> Toolchains {
        Toolchains {
            memo,
            tools: Mutex::new(HashMap::new()),
            includes: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashMap::new()),
            checked_includes: Mutex::new(HashMap::new()),
            library_dirs: Mutex::new(HashMap::new()),
            forgets: std::sync::atomic::AtomicBool::new(false),
            probes_run: AtomicUsize::new(0),
        }
    }

    /// Drops what is memoized in memory (the disk cache stays and is
    /// revalidated on its next read; identities already checked here are
    /// checked again by stat).
    pub fn forget(&self) {
        self.forgets.store(true, Ordering::Relaxed);
        lock(&self.tools).clear();
        lock(&self.includes).clear();
    }

    #[cfg(test)]
    fn probes_run(&self) -> usize {
        self.probes_run.load(Ordering::Relaxed)
    }
}
