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

pub mod cache;
pub mod compdb;
pub mod daemon;
pub mod driver;
pub mod graph;
pub mod hash;
pub mod launcher;
pub mod make;
pub mod ninja;
pub mod run;
pub mod state;
pub mod tools;
pub mod umask;
pub mod warm;
pub mod watch;
