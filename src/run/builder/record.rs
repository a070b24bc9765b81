//! What a step that succeeded leaves behind: the dependencies it reported,
//! its record in the state (every input's content as the step read it),
//! and its `.ninja_log` and `.ninja_deps` entries.

use std::fs;
use std::io;

use super::Builder;
use crate::depfile;
use crate::graph::{FileId, StepId};
use crate::hash::{Digest, Observed};
use crate::ninja::DepsKind;
use crate::run::showincludes;
use crate::state::ninja_log::{self, LogEntry};
use crate::state::{Recorded, StepRecord, step_command_hash};

impl Builder<'_, '_, '_> {
    /// Reads the depfile or /showIncludes lines of a finished step. Returns
    /// canonical paths; an unparsable depfile fails the step like ninja.
    pub(super) fn read_discovered_deps(
        &mut self,
        step: StepId,
        output: &mut Vec<u8>,
    ) -> Result<Vec<String>, String> {
        let s = &self.graph.step(step);
        match s.deps {
            DepsKind::Msvc => {
                let prefix = s
                    .msvc_deps_prefix
                    .as_deref()
                    .unwrap_or(showincludes::DEFAULT_PREFIX);
                let text = String::from_utf8_lossy(output).into_owned();
                let filtered = showincludes::filter(&text, prefix);
                *output = filtered.output.into_bytes();
                Ok(filtered
                    .includes
                    .iter()
                    .map(|p| crate::ninja::canon::canonicalize_path(p))
                    .collect())
            }
            DepsKind::Gcc | DepsKind::None => {
                let Some(depfile) = s.depfile.clone() else {
                    return Ok(Vec::new());
                };
                let content = match fs::read(&depfile) {
                    Ok(content) => content,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(err) => return Err(format!("loading '{depfile}': {err}")),
                };
                let text = String::from_utf8_lossy(&content);
                let deps = depfile::parse(&text)
                    .map_err(|err| format!("{depfile}: {err}"))?
                    .inputs;
                if s.deps == DepsKind::Gcc && !self.opts.keep_depfile {
                    let _ = fs::remove_file(&depfile);
                }
                Ok(deps
                    .iter()
                    .map(|p| crate::ninja::canon::canonicalize_path(p))
                    .collect())
            }
        }
    }

    pub(super) fn record_success(
        &mut self,
        step: StepId,
        deps_paths: Vec<String>,
        duration: std::time::Duration,
        restored: bool,
    ) -> anyhow::Result<()> {
        let out_ids = self.graph.step(step).outs.clone();
        let mut outputs = Vec::with_capacity(out_ids.len());
        let mut max_mtime = 0i64;
        for &out in &out_ids {
            let observed = self.observe_now(out);
            max_mtime = max_mtime.max(observed.mtime_ns().unwrap_or(0));
            self.set_observed(out, observed);
            outputs.push(Recorded {
                file: out,
                hash: observed.hash(),
            });
        }
        let manifest_inputs: Vec<FileId> = self.graph.step(step).dirtying_ins().to_vec();
        let mut discovered: Vec<FileId> = Vec::new();
        for path in &deps_paths {
            let id = self.graph.file_id(path);
            if !manifest_inputs.contains(&id) && !discovered.contains(&id) {
                discovered.push(id);
            }
        }
        let started = self.started_at.remove(&step);
        let started_ns = started.map_or(i64::MAX, |(_, wall)| wall);
        let read: Vec<FileId> = manifest_inputs.iter().chain(&discovered).copied().collect();
        let (inputs, newest_input_mtime) = self.recorded_inputs(step, &read, restored, started_ns);
        let s = &self.graph.step(step);
        let command = s.command_for_hash();
        let first_out_mtime = out_ids
            .first()
            .and_then(|&o| self.observed[o])
            .and_then(|o| o.mtime_ns())
            .unwrap_or(0);
        let record = StepRecord {
            command_hash: step_command_hash(self.graph.step(step)),
            inputs,
            discovered: discovered.len(),
            outputs,
            output_mtime_ns: first_out_mtime,
            inputs_mtime_ns: newest_input_mtime,
        };
        let start_ms = started
            .map(|(t, _)| t.duration_since(self.build_start).as_millis() as u32)
            .unwrap_or(0);
        let end_ms = start_ms + duration.as_millis() as u32;
        let hash = ninja_log::hash_command(&command);
        for &out in &out_ids {
            self.ctx.ninja.get().record_log(
                self.graph.path(out),
                LogEntry {
                    start_ms,
                    end_ms,
                    mtime_ns: max_mtime,
                    command_hash: hash,
                },
            )?;
        }
        if s.deps != DepsKind::None
            && let Some(&first) = out_ids.first()
        {
            let inputs: Vec<&str> = deps_paths.iter().map(String::as_str).collect();
            self.ctx
                .ninja
                .get()
                .record_deps(self.graph.path(first), first_out_mtime, &inputs)?;
        }
        self.ctx.ninja.get().flush_log()?;
        if let Some(&first) = out_ids.first() {
            self.ctx.state.insert(first, record);
        }
        self.steps[step].discovered = discovered;
        Ok(())
    }

    /// Each input the step read with its content as the step read it, and
    /// the newest input mtime seen. An input that changed while the step
    /// ran is recorded so that the step runs again, or for a generator or
    /// restat step, as it is now.
    fn recorded_inputs(
        &mut self,
        step: StepId,
        read: &[FileId],
        restored: bool,
        started_ns: i64,
    ) -> (Vec<Recorded>, i64) {
        let rewrites_own_inputs = {
            let s = &self.graph.step(step);
            s.generator || s.restat
        };
        let mut inputs = Vec::with_capacity(read.len());
        let mut newest_input_mtime = 0i64;
        for &file in read {
            let before = self.observed.get(file).copied().flatten();
            let mut hash = self.current_hash(file);
            let changed_during_step = match before {
                // Seen before the step ran: the step read that content
                // only if the file still has the same identity now.
                // A step restored from the cache read nothing: its outputs
                // match the content the cache checked after the step began,
                // so an input changed since it was seen here makes the
                // record older than the outputs, and the next build reruns
                // the step. No need to stat every header again.
                Some(Observed::Present { .. }) if restored => false,
                Some(Observed::Present { stat, .. }) if !self.is_virtual(file) => {
                    let now = crate::hash::stat(self.graph.path(file)).ok().flatten();
                    if let Some(now) = now {
                        newest_input_mtime = newest_input_mtime.max(now.mtime_ns);
                    }
                    now != Some(stat)
                }
                // First seen in this step's depfile, hashed after the step
                // ran: changed while it ran if its times say so.
                None => match self.observed.get(file).copied().flatten() {
                    Some(Observed::Present { stat, .. }) => {
                        newest_input_mtime = newest_input_mtime.max(stat.mtime_ns);
                        stat.mtime_ns.max(stat.ctime_ns) >= started_ns
                    }
                    _ => false,
                },
                _ => false,
            };
            if changed_during_step && rewrites_own_inputs {
                // Like ninja, which logs such steps with their outputs'
                // time, not their start: a generator that rewrites one of
                // its inputs is up to date with what it left behind.
                hash = self.observe_now(file).hash();
            } else if changed_during_step {
                // The step may have read other content than the one
                // recorded: make sure it runs again next time.
                hash = changed_during_step_hash();
            }
            inputs.push(Recorded { file, hash });
        }
        (inputs, newest_input_mtime)
    }
}

/// Stands for an input that changed while the step reading it ran: equal
/// to no content, so the step runs again next time.
pub(super) fn changed_during_step_hash() -> Digest {
    *blake3::hash(b"zccache: input changed while the step ran").as_bytes()
}
