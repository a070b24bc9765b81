//! The ninja manifest language: lexing, parsing, variable scopes, and
//! evaluation into a flat [`Manifest`] of fully expanded build statements.
//!
//! Data flows one way: `load` reads build.ninja (and its includes and
//! subninjas) and returns a [`Manifest`]; `crate::graph` turns that into the
//! step graph. Nothing here touches the file system except to read manifests.

pub mod canon;
pub mod dyndep;
pub mod eval;
pub mod fast_hash;
pub mod lexer;
pub mod parser;
pub mod warning_flags;

#[cfg(test)]
mod fuzz_tests;

use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;
#[cfg(test)]
use std::sync::Arc;

/// Where a statement came from, for error messages (`FILE:LINE: message`).
/// The file name is shared by every statement of the file.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: usize,
}

/// How a step reports the headers it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DepsKind {
    /// No `deps` binding: the depfile (if any) is read but kept on disk.
    #[default]
    None,
    /// `deps = gcc`: Makefile-syntax depfile, read then deleted.
    Gcc,
    /// `deps = msvc`: `/showIncludes` lines filtered out of stdout.
    Msvc,
}

/// One `build` statement with every binding the executor needs already
/// expanded, as ninja would expand them when it runs the edge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg(test)]
pub struct Build {
    pub loc: Option<Loc>,
    /// Rule name; `phony` for phony edges.
    pub rule: String,
    /// Canonical output paths: the first `explicit_outs` are explicit, the
    /// rest implicit (`|`).
    pub outs: Vec<String>,
    pub explicit_outs: usize,
    /// Canonical input paths: `explicit_ins` explicit, then `implicit_ins`
    /// implicit (`|`), then the rest order-only (`||`).
    pub ins: Vec<String>,
    pub explicit_ins: usize,
    pub implicit_ins: usize,
    /// Validation inputs (`|@`).
    pub validations: Vec<String>,
    pub command: String,
    pub description: String,
    pub depfile: Option<String>,
    pub deps: DepsKind,
    pub msvc_deps_prefix: Option<String>,
    /// Canonical path of the dyndep file, when `dyndep` is bound.
    pub dyndep: Option<String>,
    pub generator: bool,
    pub restat: bool,
    pub rspfile: Option<String>,
    pub rspfile_content: String,
    /// Pool name; empty for the default (unlimited) pool.
    pub pool: String,
}

#[cfg(test)]
impl Build {
    pub fn is_phony(&self) -> bool {
        self.rule == "phony"
    }
    pub fn explicit_outs(&self) -> &[String] {
        &self.outs[..self.explicit_outs]
    }
    pub fn implicit_outs(&self) -> &[String] {
        &self.outs[self.explicit_outs..]
    }
    pub fn explicit_ins(&self) -> &[String] {
        &self.ins[..self.explicit_ins]
    }
    pub fn implicit_ins(&self) -> &[String] {
        &self.ins[self.explicit_ins..self.explicit_ins + self.implicit_ins]
    }
    pub fn order_only_ins(&self) -> &[String] {
        &self.ins[self.explicit_ins + self.implicit_ins..]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub depth: usize,
}

/// A whole manifest, evaluated.
#[derive(Debug, Clone, Default)]
#[cfg(test)]
pub struct Manifest {
    pub builds: Vec<Build>,
    /// Canonical paths named by `default` statements, in order; empty when
    /// there were none.
    pub defaults: Vec<String>,
    /// Pools declared with `pool`; `console` (depth 1) is implicit and not
    /// listed here.
    pub pools: Vec<Pool>,
    /// Top-level `builddir`, if set.
    pub builddir: Option<String>,
    /// Every manifest file read (build.ninja, includes, subninjas).
    pub files_read: Vec<PathBuf>,
    /// Rules declared at the top level (not in subninjas), in declaration
    /// order, each with its `description` as written (`$var` shown as
    /// `${var}`), for `-t rules`.
    pub rules: Vec<(String, Option<String>)>,
    /// Warnings ninja would print while loading (without the
    /// `ninja: warning: ` prefix), e.g. the phony self-reference warning.
    pub warnings: Vec<String>,
}

/// A manifest error, already formatted like ninja's:
/// `build.ninja:3: message\n<line>\n    ^ near here`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

/// Like [`load`], building the step graph directly as the manifest is read
/// (no intermediate [`Manifest`]).
pub fn load_graph(path: &Path) -> Result<crate::graph::Graph, ManifestError> {
    parser::load_graph(path)
}
