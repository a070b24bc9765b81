//! Keeping ninja's view of the build dir in step with zccache's: a step
//! zccache found clean by content may look dirty to ninja's mtime rules
//! (early cutoff, or a touched input), so its outputs are touched and
//! logged again, and a later plain `ninja` finds no work.

use super::Builder;
use crate::graph::StepId;
use crate::hash::Observed;
use crate::ninja::DepsKind;
use crate::state::ninja_log::{self, LogEntry};

impl Builder<'_, '_, '_> {
    /// Keeps a plain `ninja` run in this dir from redoing a step zccache
    /// found clean by content: when an input is newer than what ninja's log
    /// remembers (early cutoff, or a dir adopted from ninja), touch the
    /// outputs and log them again.
    pub(super) fn keep_ninja_in_sync(&mut self, step: StepId) {
        if self.opts.dry_run {
            return;
        }
        let s = &self.graph.step(step);
        let Some(&first) = s.outs.first() else {
            return;
        };
        let newest_input = self.newest_step_input_mtime(step);
        // Nothing ninja looks at moved since zccache last recorded or synced
        // the step: ninja's view is still the one zccache left.
        if self.ctx.ninja_in_sync
            && let Some(record) = self.ctx.state.steps.get(&first)
            && newest_input <= record.inputs_mtime_ns
            && self.ninja_mtime(first) == record.output_mtime_ns
        {
            return;
        }
        let command = s.command_for_hash();
        let hash = ninja_log::hash_command(&command);
        let first_path = self.graph.path(first).to_string();
        let entry = self.ctx.ninja.get().log_entry(&first_path).copied();
        let oldest_output = s
            .outs
            .iter()
            .filter_map(|&o| self.observed[o].and_then(|o| o.mtime_ns()))
            .min()
            .unwrap_or(0);
        let log_ok = entry
            .is_some_and(|e| (s.generator || e.command_hash == hash) && e.mtime_ns >= newest_input);
        let deps_ok = s.deps == DepsKind::None
            || self
                .ctx
                .ninja
                .get()
                .deps_of(&first_path)
                .map(|deps| deps.mtime_ns)
                .is_some_and(|mtime| {
                    mtime >= self.observed[first].and_then(|o| o.mtime_ns()).unwrap_or(0)
                });
        if log_ok && deps_ok && oldest_output >= newest_input {
            return;
        }
        let outs = s.outs.clone();
        let deps = s.deps;
        let now = filetime::FileTime::now();
        let mut max_mtime = 0;
        // Best effort throughout: failing to sync only makes a later plain
        // ninja run redo work, never zccache build anything wrongly.
        for &out in &outs {
            let path = self.graph.path(out).to_string();
            let known = self.observed[out];
            let observed = match known {
                Some(Observed::Present { hash, .. })
                    if oldest_output < newest_input
                        && filetime::set_file_mtime(&path, now).is_ok() =>
                {
                    // Touching changes the identity, not the content: keep
                    // the hash rather than reading the file again.
                    match crate::hash::stat(&path) {
                        Ok(Some(stat)) => Observed::Present { stat, hash },
                        _ => Observed::Missing,
                    }
                }
                _ => self.observe_now(out),
            };
            max_mtime = max_mtime.max(observed.mtime_ns().unwrap_or(0));
            self.set_observed(out, observed);
        }
        for &out in &outs {
            let path = self.graph.path(out).to_string();
            let _ = self.ctx.ninja.get().record_log(
                &path,
                LogEntry {
                    start_ms: 0,
                    end_ms: 0,
                    mtime_ns: max_mtime,
                    command_hash: hash,
                },
            );
        }
        if deps != DepsKind::None {
            let deps_paths: Vec<String> = self.steps[step]
                .discovered
                .iter()
                .map(|&f| self.graph.path(f).to_string())
                .collect();
            let first_mtime = self.observed[first].and_then(|o| o.mtime_ns()).unwrap_or(0);
            let inputs: Vec<&str> = deps_paths.iter().map(String::as_str).collect();
            let _ = self
                .ctx
                .ninja
                .get()
                .record_deps(&first_path, first_mtime, &inputs);
        }
        let output_mtime = self.observed[first].and_then(|o| o.mtime_ns()).unwrap_or(0);
        if let Some(record) = self.ctx.state.steps.get_mut(&first) {
            record.output_mtime_ns = output_mtime;
            record.inputs_mtime_ns = newest_input;
            self.ctx.state.mark_changed();
        }
    }
}
