//! zccache: a ninja-compatible build executor with content-based dirty
//! checking, growing into a local-first compiler cache.
//!
//! Data flows one way: [`ninja`] parses the manifest, [`graph`] turns it into
//! a petgraph of files and steps, [`hash`] hashes file contents, [`state`]
//! remembers what each step last ran with (and keeps ninja's own `.ninja_log`
//! and `.ninja_deps` valid), [`run`] plans and executes, [`tools`] implements
//! `-t TOOL`; [`launcher`] runs one compiler, archiver or linker through
//! the cache (`zccache gcc ...`), with [`daemon`] serving its hits from a
//! long-lived helper; [`watch`] keeps a build dir up to date as files change
//! (`zccache watch`).

mod build_args;
mod build_dir;
mod cache;
mod compdb;
mod daemon;
mod depfile;
mod graph;
mod hash;
mod launcher;
mod make;
mod ninja;
mod run;
mod session;
mod state;
mod tools;
pub mod umask;
mod unset_env;
mod warm;
mod watch;

// The surface main.rs and the tests use; every other item is private to the
// crate, so the compiler reports what nothing uses.
pub use cache::cli::{Admin, run as admin};
pub use cache::config::anchor_cache_dir;
pub use cache::records;
pub use cache::toolchain::STEERING_ENV;
pub use ninja::parser::NINJA_VERSION;
pub use session::{BuildArgs, Flavor, main as build};
pub use unset_env::apply as apply_unset_env;
pub use warm::{WarmArgs, main as warm};
pub use watch::{WatchArgs, main as watch};

/// The launcher's entry points (`zccache gcc ...`) and its helper's.
pub mod launch {
    pub use crate::daemon::SERVE_ARG;
    pub use crate::daemon::client::flush_all as flush_helpers;
    pub use crate::daemon::server::main as serve;
    pub use crate::launcher::{request, run};
}
