//! Deciding whether a ready step must run: outputs, command and the
//! content of every input against the step's record, and, for steps that
//! another tool built, ninja's own mtime rules (adoption), so a build dir
//! switches between ninja and zccache without rebuilding.

use std::collections::HashMap;
use std::path::Path;

use super::Builder;
use crate::depfile;
use crate::graph::{FileId, StepId};
use crate::hash::{Digest, Observed};
use crate::ninja::DepsKind;
use crate::state::ninja_log;
use crate::state::{Recorded, StepRecord, step_command_hash};

/// Why a step has to run, for `-d explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirtyReason {
    OutputMissing(String),
    NoRecord(String),
    CommandChanged(String),
    InputsChanged(String),
    GeneratorInputTouched(String),
    OutputRewritten(String),
    InputChanged { input: String, output: String },
    DryRunInput { input: String, output: String },
}

impl std::fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirtyReason::OutputMissing(out) => write!(f, "output {out} doesn't exist"),
            DirtyReason::NoRecord(out) => write!(f, "no record of a previous build of {out}"),
            DirtyReason::CommandChanged(out) => write!(f, "command line changed for {out}"),
            DirtyReason::OutputRewritten(out) => {
                write!(f, "{out} was rewritten since zccache last built it")
            }
            DirtyReason::GeneratorInputTouched(out) => {
                write!(f, "an input of generator step {out} was touched")
            }
            DirtyReason::InputsChanged(out) => {
                write!(f, "an input newer than {out} was added to its step")
            }
            DirtyReason::InputChanged { input, output } => {
                write!(f, "content of {input} changed since {output} was built")
            }
            DirtyReason::DryRunInput { input, output } => {
                write!(f, "{input} would be rebuilt before {output} (dry run)")
            }
        }
    }
}

impl Builder<'_, '_, '_> {
    /// Decides whether a step must run, accepting ninja's word for steps
    /// that ninja built since zccache last did (or ever did): users switch
    /// tools in one build dir without rebuilding.
    pub(super) fn check(&mut self, step: StepId) -> Option<DirtyReason> {
        let reason = self.dirty_reason(step)?;
        let rebuilt_elsewhere = match &reason {
            DirtyReason::OutputMissing(_) | DirtyReason::DryRunInput { .. } => return Some(reason),
            DirtyReason::NoRecord(_) | DirtyReason::OutputRewritten(_) => true,
            _ => false,
        };
        if rebuilt_elsewhere && self.adopt_from_ninja(step) {
            return None;
        }
        Some(reason)
    }

    /// The mtime ninja would use for an input: its own, or for a phony
    /// output that is not a file, none (ninja's 0).
    pub(super) fn ninja_mtime(&self, file: FileId) -> i64 {
        self.observed
            .get(file)
            .copied()
            .flatten()
            .and_then(|o| o.mtime_ns())
            .unwrap_or(0)
    }

    /// If ninja's `.ninja_log` and `.ninja_deps` say the step is up to date
    /// (ninja's mtime rules), records it as built with the current content
    /// and returns true.
    pub(super) fn adopt_from_ninja(&mut self, step: StepId) -> bool {
        let s = &self.graph.step(step);
        let first = s.outs[0];
        let first_path = self.graph.path(first).to_string();
        let hash = ninja_log::hash_command(&s.command_for_hash());
        let mut entry_mtime = i64::MAX;
        for &out in &s.outs {
            match self.ctx.ninja.get().log_entry(self.graph.path(out)) {
                Some(entry) if s.generator || entry.command_hash == hash => {
                    entry_mtime = entry_mtime.min(entry.mtime_ns);
                }
                // Ninja lets a generator step (CMake's re-run) without a log
                // entry stand when its outputs are newer than its inputs.
                None if s.generator => {}
                _ => return false,
            }
        }
        let first_mtime = self.ninja_mtime(first);
        let discovered: Vec<String> = match s.deps {
            DepsKind::Gcc | DepsKind::Msvc => match self.ctx.ninja.get().deps_of(&first_path) {
                Some(deps) if deps.mtime_ns >= first_mtime => {
                    deps.inputs.iter().map(|p| p.to_string()).collect()
                }
                _ => return false,
            },
            DepsKind::None => match &s.depfile {
                None => Vec::new(),
                Some(depfile) => match depfile::parse_file(Path::new(depfile)) {
                    Ok(parsed) => parsed
                        .inputs
                        .iter()
                        .map(|p| crate::ninja::canon::canonicalize_path(p))
                        .collect(),
                    Err(_) => return false,
                },
            },
        };
        let manifest_inputs: Vec<FileId> = s.dirtying_ins().to_vec();
        let mut discovered_ids = Vec::new();
        for path in &discovered {
            let id = self.graph.file_id(path);
            if !manifest_inputs.contains(&id) && !discovered_ids.contains(&id) {
                discovered_ids.push(id);
            }
        }
        let mut newest_input = 0i64;
        for &input in manifest_inputs.iter().chain(&discovered_ids) {
            if self.upstream_changed_for_ninja(input) || self.always_dirty(input) {
                return false;
            }
            // Files named only by ninja's deps log are not observed yet.
            self.current_hash(input);
            let producer_is_phony = self
                .graph
                .file(input)
                .producer
                .is_some_and(|p| self.graph.step(p).is_phony());
            if !producer_is_phony && !self.exists(input) {
                return false;
            }
            newest_input = newest_input.max(self.ninja_mtime(input));
        }
        let s = &self.graph.step(step);
        if entry_mtime != i64::MAX && entry_mtime < newest_input {
            return false;
        }
        if !s.restat && s.outs.iter().any(|&o| self.ninja_mtime(o) < newest_input) {
            return false;
        }
        if self.opts.dry_run {
            // `-n` shows what a real run would do, and a real run would
            // adopt this step; it just records nothing.
            return true;
        }
        let outs = s.outs.clone();
        let inputs: Vec<Recorded> = manifest_inputs
            .iter()
            .chain(&discovered_ids)
            .map(|&f| Recorded {
                file: f,
                hash: self.current_hash(f),
            })
            .collect();
        let outputs: Vec<Recorded> = outs
            .iter()
            .map(|&f| Recorded {
                file: f,
                hash: self.current_hash(f),
            })
            .collect();
        let record = StepRecord {
            command_hash: step_command_hash(self.graph.step(step)),
            inputs,
            discovered: discovered_ids.len(),
            outputs,
            output_mtime_ns: self.ninja_mtime(first),
            inputs_mtime_ns: self.newest_input_mtime(manifest_inputs.iter().chain(&discovered_ids)),
        };
        self.ctx.state.insert(first, record);
        self.steps[step].discovered = discovered_ids;
        true
    }

    /// The newest mtime among `inputs`, as ninja compares them.
    pub(super) fn newest_input_mtime<'f>(&self, inputs: impl Iterator<Item = &'f FileId>) -> i64 {
        inputs.map(|&f| self.ninja_mtime(f)).max().unwrap_or(0)
    }

    /// The newest mtime among a step's inputs, discovered ones included.
    pub(super) fn newest_step_input_mtime(&self, step: StepId) -> i64 {
        let s = &self.graph.step(step);
        self.newest_input_mtime(s.dirtying_ins().iter().chain(&self.steps[step].discovered))
    }

    /// Whether the step producing `file` (seeing through phony steps) ran
    /// in this build; ninja would then consider every consumer dirty.
    pub(super) fn upstream_ran(&self, file: FileId) -> bool {
        let mut stack = vec![file];
        let mut seen = 0;
        while let Some(file) = stack.pop() {
            seen += 1;
            if seen > 10_000 {
                return true;
            }
            let Some(producer) = self.graph.producer(file) else {
                continue;
            };
            if self.steps[producer].ran {
                return true;
            }
            let p = &self.graph.step(producer);
            if p.is_phony() {
                stack.extend_from_slice(p.dirtying_ins());
            }
        }
        false
    }

    /// Whether ninja would rebuild a reader of `file` because the step
    /// producing it (seeing through phony steps) ran in this build. A
    /// `restat` step that ran counts only if it rewrote its output, which
    /// the mtime checks that follow see (ninja's restat cleans the readers
    /// of outputs left untouched, such as Meson's vcs_tag header); a dry
    /// run cannot know, so there it counts.
    fn upstream_changed_for_ninja(&self, file: FileId) -> bool {
        let mut stack = vec![file];
        let mut seen = 0;
        while let Some(file) = stack.pop() {
            seen += 1;
            if seen > 10_000 {
                return true;
            }
            let Some(producer) = self.graph.producer(file) else {
                continue;
            };
            let p = &self.graph.step(producer);
            if self.steps[producer].ran && (!p.restat || self.opts.dry_run) {
                return true;
            }
            if p.is_phony() {
                stack.extend_from_slice(p.dirtying_ins());
            }
        }
        false
    }

    /// Whether ninja finds `file` dirty on every run: a phony output with
    /// no inputs that is not a file (Meson's `vcs_tag`, CMake's always-run
    /// custom targets), or a phony output reading one.
    pub(super) fn always_dirty(&mut self, file: FileId) -> bool {
        let mut stack = vec![file];
        let mut seen = 0;
        while let Some(file) = stack.pop() {
            seen += 1;
            if seen > 10_000 {
                return true;
            }
            let Some(producer) = self.graph.producer(file) else {
                continue;
            };
            let p = &self.graph.step(producer);
            if !p.is_phony() {
                continue;
            }
            // Ninja counts order-only inputs here too.
            if p.ins.is_empty() {
                if !matches!(self.ensure_observed(file), Observed::Present { .. }) {
                    return true;
                }
                continue;
            }
            stack.extend_from_slice(p.dirtying_ins());
        }
        false
    }

    /// Decides whether a step whose inputs are all up to date must run.
    pub(super) fn dirty_reason(&mut self, step: StepId) -> Option<DirtyReason> {
        let s = &self.graph.step(step);
        for &out in &s.outs {
            if !self.exists(out) {
                return Some(DirtyReason::OutputMissing(self.graph.path(out).to_string()));
            }
        }
        let first = self.record_key(step)?;
        let key = self.graph.path(first).to_string();
        let Some(record) = self.ctx.state.steps.get(&first) else {
            return Some(DirtyReason::NoRecord(key));
        };
        // Something else (ninja, or a person) rewrote the output since
        // zccache recorded it: the record says nothing about its content.
        if self.ninja_mtime(first) != record.output_mtime_ns {
            return Some(DirtyReason::OutputRewritten(key));
        }
        let s = &self.graph.step(step);
        if !s.generator && record.command_hash != step_command_hash(s) {
            return Some(DirtyReason::CommandChanged(key));
        }
        if s.generator && self.newest_step_input_mtime(step) > record.inputs_mtime_ns {
            return Some(DirtyReason::GeneratorInputTouched(key));
        }
        let manifest_inputs = s.dirtying_ins();
        let recorded_manifest = record.manifest_inputs();
        let same_list = manifest_inputs.len() == recorded_manifest.len()
            && manifest_inputs
                .iter()
                .zip(recorded_manifest)
                .all(|(&f, r)| f == r.file);
        let mut to_compare: Vec<(FileId, Digest)> = Vec::with_capacity(record.inputs.len());
        let mut added: Vec<FileId> = Vec::new();
        if same_list {
            to_compare.extend(
                manifest_inputs
                    .iter()
                    .copied()
                    .zip(recorded_manifest.iter().map(|r| r.hash)),
            );
        } else {
            // The manifest now declares other inputs (CMake's re-run lists
            // fewer files than its first configure). Inputs seen before are
            // compared by content; an input new to the step counts when it
            // is newer than the outputs, as it would for ninja.
            let previous: HashMap<FileId, Digest> =
                recorded_manifest.iter().map(|r| (r.file, r.hash)).collect();
            for &file in manifest_inputs {
                match previous.get(&file) {
                    Some(&hash) => to_compare.push((file, hash)),
                    None => added.push(file),
                }
            }
        }
        to_compare.extend(record.discovered_inputs().iter().map(|r| (r.file, r.hash)));
        for (file, hash) in to_compare {
            if self.current_hash(file) != hash {
                let input = self.graph.path(file).to_string();
                if self.opts.dry_run && self.virtual_hash.contains_key(&file) {
                    return Some(DirtyReason::DryRunInput { input, output: key });
                }
                return Some(DirtyReason::InputChanged { input, output: key });
            }
        }
        if !added.is_empty() {
            let s = &self.graph.step(step);
            let oldest_output = s
                .outs
                .iter()
                .map(|&o| self.ninja_mtime(o))
                .min()
                .unwrap_or(0);
            for file in added {
                if self.upstream_ran(file) || self.ninja_mtime(file) > oldest_output {
                    return Some(DirtyReason::InputsChanged(key));
                }
            }
        }
        None
    }
}
