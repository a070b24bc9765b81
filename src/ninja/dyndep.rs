//! Dyndep files (`ninja_dyndep_version = 1`): extra implicit inputs and
//! outputs for steps, discovered at build time.

/// One `build OUT | IMPLICIT_OUTS : dyndep | IMPLICIT_INS` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DyndepEntry {
    /// Canonical path of an explicit output of the step this entry extends.
    pub out: String,
    pub implicit_outs: Vec<String>,
    pub implicit_ins: Vec<String>,
    /// `restat = 1` bound on the entry.
    pub restat: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DyndepFile {
    pub entries: Vec<DyndepEntry>,
}
