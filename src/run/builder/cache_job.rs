//! The cache's part in a build: a step the cache handles runs as a job
//! that restores its outputs or runs it and stores them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Builder;
use crate::cache::{Executed, Ran, Siblings};
use crate::graph::StepId;
use crate::run::process::{ExitStatus, JobResult, ShellRunner};

impl Builder<'_, '_, '_> {
    /// Steps of this build that compile the same source as another with
    /// arguments differing only in preprocessor flags. Found once, among
    /// the steps expected to run, so a build with nothing like that pays
    /// only for classifying its dirty steps.
    pub(super) fn find_compile_groups(
        &self,
        cache: &crate::cache::Cache,
        cwd: &Path,
    ) -> std::collections::HashSet<StepId> {
        let mut by_group: HashMap<crate::hash::Digest, Vec<StepId>> = HashMap::new();
        for &step in &self.order {
            if !self.steps[step].counted {
                continue;
            }
            let s = &self.graph.step(step);
            if s.is_phony() || s.generator {
                continue;
            }
            if let Some(group) = cache.compile_group(&s.command, cwd) {
                by_group.entry(group).or_default().push(step);
            }
        }
        by_group
            .into_values()
            .filter(|members| members.len() > 1)
            .flatten()
            .collect()
    }

    /// A job that restores the step from the cache, or runs it and stores
    /// its outputs; `None` for steps the cache does not handle.
    pub(super) fn cache_job(
        &self,
        step: StepId,
        command: &str,
        console: bool,
    ) -> Option<crate::run::process::Job> {
        let s = &self.graph.step(step);
        if console || s.generator {
            return None;
        }
        let cache = Arc::clone(self.ctx.cache.get()?);
        let cwd = crate::cache::working_dir().ok()?;
        let declared: Vec<PathBuf> = s
            .outs
            .iter()
            .map(|&out| cwd.join(self.graph.path(out)))
            .collect();
        let invocation = cache.prepare(command, &cwd, &declared)?;
        let siblings = if self
            .compile_groups
            .get_or_init(|| self.find_compile_groups(&cache, &cwd))
            .contains(&step)
        {
            Siblings::InGraph
        } else {
            Siblings::None
        };
        let command = command.to_string();
        Some(Box::new(move |runner: &mut ShellRunner| {
            let executed = cache.execute(&invocation, &command, siblings, |cmdline| {
                let ran = runner.run(cmdline);
                Ran {
                    success: ran.status.success(),
                    status: ran.status,
                    stdout: ran.stdout,
                    stderr: ran.stderr,
                }
            });
            match executed {
                Executed::Restored { mut stdout, stderr } => {
                    stdout.extend_from_slice(&stderr);
                    JobResult {
                        status: ExitStatus::Exited(0),
                        output: stdout,
                        restored: true,
                        note: None,
                    }
                }
                Executed::Ran { mut ran, note } => {
                    ran.stdout.extend_from_slice(&ran.stderr);
                    JobResult {
                        status: ran.status,
                        output: ran.stdout,
                        restored: false,
                        note,
                    }
                }
            }
        }))
    }
}
