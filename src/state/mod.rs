//! TODO

pub mod ninja_deps;
pub mod ninja_log;
