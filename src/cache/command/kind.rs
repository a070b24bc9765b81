//! The kinds of step the cache serves, behind one interface: the stages of
//! a cached step (key, record, restore) and the reports (statistics,
//! `-d explain`, `zccache warm`) ask a step's [`StepKind`] rather than
//! matching on kinds themselves.
//!
//! Adding a kind: its module beside `compile`, `archive` and `link`
//! (recognizing its program in [`super::recognize`], parsing its arguments
//! into a [`super::Detail`], and implementing [`StepKind`]), one
//! [`super::ToolKind`] variant, and its line in `ToolKind::ALL` and
//! `ToolKind::rules`.

use std::path::PathBuf;
use std::sync::Arc;

use super::Invocation;
use crate::cache::Cache;
use crate::cache::files::FileFacts;
use crate::cache::key::KeyedStep;
use crate::cache::probe::Overlay;
use crate::cache::record::Dependencies;
use crate::cache::toolchain::ToolIdentity;
use crate::hash::Digest;

/// What the cache needs to know of one kind of step. Methods taking an
/// [`Invocation`] are only given invocations of their own kind.
pub(in crate::cache) trait StepKind: Sync {
    /// The kind's name: in statistics (`<name>_hits`), in `zccache warm`'s
    /// report, and in the key, so kinds never share keys.
    fn name(&self) -> &'static str;

    /// Every file the tool writes, absolute: a step declaring another
    /// output is not cached.
    fn outputs(&self, invocation: &Invocation) -> Vec<PathBuf>;

    /// The file a report names the step by, when not its output (a
    /// compile's source).
    fn source<'a>(&self, _invocation: &'a Invocation) -> Option<&'a str> {
        None
    }

    /// The key of the step and what lookup and record share: the inputs
    /// its arguments name, with their content, and the environment that
    /// changes its result.
    fn key(
        &self,
        cache: &Cache,
        invocation: &Invocation,
        tool: Arc<ToolIdentity>,
        overlay: &Overlay<'_>,
    ) -> Result<KeyedStep, &'static str>;

    /// Whether the tool must be asked for a depfile only zccache reads
    /// (two-level kinds, when the build asked for none).
    fn needs_private_depfile(&self, _invocation: &Invocation) -> bool {
        false
    }

    /// The arguments that make the tool write that depfile at `path`.
    fn private_depfile_args(&self, _invocation: &Invocation, _path: &str) -> Vec<String> {
        Vec::new()
    }

    /// The places that must stay empty for a result to hold: where a file
    /// the tool read (`read`, the depfile's `deps`) would have been found
    /// first, had it existed. May add files it probed to `found`.
    fn absent_places(
        &self,
        _cache: &Cache,
        _invocation: &Invocation,
        _plan: &KeyedStep,
        _read: &[(String, FileFacts)],
        _deps: &[String],
        _found: &mut Dependencies,
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        Ok(Vec::new())
    }

    /// Whether the files it reads go through the C preprocessor, so the
    /// time macros and `.incbin` they hold decide whether it is cached.
    fn preprocesses_inputs(&self) -> bool {
        false
    }

    /// Whether restored outputs may share their bytes with the store (a
    /// hardlink): only when no later step changes them in place.
    fn may_hardlink_outputs(&self) -> bool {
        false
    }

    /// Whether the step has a second key by its preprocessed text (see
    /// [`crate::cache::preprocessed`]), and compiles of one source with
    /// other preprocessor flags may serve it.
    fn has_text_key(&self) -> bool {
        false
    }

    /// Whether that text key holds the exact sources, lines and columns
    /// included (debug info keeps them), so diagnostics, which quote them,
    /// may be served by it.
    fn text_key_is_exact(&self, _invocation: &Invocation) -> bool {
        false
    }

    /// Whether the depfile the build asked for leaves out files the tool
    /// read (`-MMD`: system headers), so a preprocessor run must list them
    /// all for the entry.
    fn depfile_leaves_out_inputs(&self, _invocation: &Invocation) -> bool {
        false
    }

    /// Whether the launcher may add the driver's colour flag when stderr
    /// is a terminal: a compile's diagnostics are what a user reads.
    fn may_add_colour_flag(&self) -> bool {
        false
    }

    /// The group of steps of this kind whose results may serve each other
    /// (see [`crate::cache::siblings`]): equal for compiles of one source
    /// whose arguments differ only in preprocessor flags; `None` for a
    /// step in no group.
    fn sibling_group(&self, _invocation: &Invocation) -> Option<Digest> {
        None
    }
}
