//! TODO

pub mod depfile;
