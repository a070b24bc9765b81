//! TODO

pub mod ninja_log;
