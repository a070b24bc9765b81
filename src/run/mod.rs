pub mod jobs;
pub mod process;
pub mod status;
