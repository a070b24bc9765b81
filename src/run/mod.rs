//! TODO

pub mod depfile;
pub mod showincludes;
