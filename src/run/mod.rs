//! Running steps: the build loop, processes, status output, job limits.

pub mod builder;
pub mod jobs;
pub mod process;
pub mod showincludes;
pub mod status;
