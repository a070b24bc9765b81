//! What `zccache warm` tells the user: one summary line (or one JSON
//! object) counting what the next build will do, and the steps that will
//! run with their reasons.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cache::lookup::{MissKind, MissReason};

/// What the next build will do with one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Clean in this build dir: the build will not look at the cache.
    UpToDate,
    /// Restored from the cache. `assumed`: generated files the cache entry
    /// read that a step still has to write; the hit holds if they come out
    /// as before.
    FromCache { assumed: usize },
    /// A cacheable step the tool will run for: reported by the short name
    /// the statistics use (`new_source`, `header_changed`, `input_rebuilt`,
    /// ...) and in the words of `-d explain`.
    ToRun { reason: MissReason },
    /// A step the cache does not handle (custom commands, CMake's re-run,
    /// uncacheable compiles) that will run; `reason` says why it is not
    /// cached.
    Other { reason: String },
}

/// One non-phony step of the forecast.
#[derive(Debug, Clone)]
pub struct StepForecast {
    /// The step's first output, as the manifest (or database) names it.
    pub output: String,
    /// `compile`, `archive`, `link` or `other`.
    pub kind: &'static str,
    /// The compiled source, for compiles.
    pub source: Option<String>,
    pub outcome: Outcome,
}

/// A step that will run, in the JSON report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Run {
    pub output: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub reason: String,
    pub detail: String,
}

/// The whole forecast, as `--json` prints it (field names are stable and
/// documented in README.md).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// `build.ninja` (or the `-f` file) or `compile_commands.json`.
    pub source: String,
    /// Steps counted (phony steps are not).
    pub steps: usize,
    pub up_to_date: usize,
    pub from_cache: usize,
    /// Cacheable steps that will run.
    pub to_run: usize,
    /// Steps the cache does not handle that will run.
    pub other: usize,
    /// Hits that rely on generated files coming out as before.
    pub assumed: usize,
    /// `to_run` by reason.
    pub reasons: BTreeMap<String, usize>,
    /// Every step that will run (cacheable or not), in build order.
    pub run: Vec<Run>,
    pub elapsed_ms: u64,
}

impl Report {
    pub fn new(source: &str, steps: &[StepForecast], elapsed: std::time::Duration) -> Report {
        let mut report = Report {
            source: source.to_string(),
            steps: steps.len(),
            up_to_date: 0,
            from_cache: 0,
            to_run: 0,
            other: 0,
            assumed: 0,
            reasons: BTreeMap::new(),
            run: Vec::new(),
            elapsed_ms: elapsed.as_millis() as u64,
        };
        for step in steps {
            let run = |reason: &str, detail: &str| Run {
                output: step.output.clone(),
                kind: step.kind,
                source: step.source.clone(),
                reason: reason.to_string(),
                detail: detail.to_string(),
            };
            match &step.outcome {
                Outcome::UpToDate => report.up_to_date += 1,
                Outcome::FromCache { assumed } => {
                    report.from_cache += 1;
                    report.assumed += usize::from(*assumed > 0);
                }
                Outcome::ToRun { reason } => {
                    report.to_run += 1;
                    *report.reasons.entry(reason.slug().to_string()).or_insert(0) += 1;
                    report.run.push(run(reason.slug(), &reason.to_string()));
                }
                Outcome::Other { reason } => {
                    report.other += 1;
                    report.run.push(run(reason, "not cached"));
                }
            }
        }
        report
    }

    /// `412 steps: 398 from cache, 14 to run (12 new sources, 2 changed
    /// headers), 3 other, 0 up to date`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} steps: {} from cache, {} to run",
            self.steps, self.from_cache, self.to_run
        );
        if !self.reasons.is_empty() {
            let mut by_count: Vec<(&String, &usize)> = self.reasons.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = by_count
                .iter()
                .map(|(reason, count)| format!("{count} {}", reason_words(reason, **count)))
                .collect();
            line.push_str(&format!(" ({})", parts.join(", ")));
        }
        line.push_str(&format!(
            ", {} other, {} up to date",
            self.other, self.up_to_date
        ));
        line
    }

    /// The summary, then one line per step that will run, then a note on
    /// assumed hits.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for run in &self.run {
            let what = run.source.as_deref().unwrap_or(&run.output);
            let reason = run.reason.replace('_', " ");
            if run.kind == "other" {
                text.push_str(&format!("  other:  {what} ({reason})\n"));
            } else if run.detail == reason {
                text.push_str(&format!("  to run: {what} ({reason})\n"));
            } else {
                text.push_str(&format!("  to run: {what} ({reason}: {})\n", run.detail));
            }
        }
        if self.assumed > 0 {
            text.push_str(&format!(
                "  {} of the steps from cache read generated files that a step still \
                 has to write; they hit if those come out as before\n",
                self.assumed
            ));
        }
        text.push_str(&self.summary());
        text.push('\n');
        text
    }
}

/// A reason's short name as a count of things: `2 changed headers`.
fn reason_words(reason: &str, count: usize) -> String {
    match MissKind::from_slug(reason) {
        Some(kind) => kind.counted(count).to_string(),
        None => reason.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(output: &str, outcome: Outcome) -> StepForecast {
        StepForecast {
            output: output.to_string(),
            kind: "compile",
            source: Some(format!("{output}.c")),
            outcome,
        }
    }

    fn to_run(reason: MissReason) -> Outcome {
        Outcome::ToRun { reason }
    }

    #[test]
    fn counts_every_outcome_and_groups_reasons() {
        let steps = vec![
            step("a.o", Outcome::FromCache { assumed: 0 }),
            step("b.o", Outcome::FromCache { assumed: 2 }),
            step("c.o", to_run(MissReason::NewSource)),
            step("d.o", to_run(MissReason::NewSource)),
            step("e.o", to_run(MissReason::FileChanged("a.h".into()))),
            step("f.o", Outcome::UpToDate),
            step(
                "gen.h",
                Outcome::Other {
                    reason: "not_a_tool".into(),
                },
            ),
        ];
        let report = Report::new("build.ninja", &steps, std::time::Duration::ZERO);
        assert_eq!(report.steps, 7);
        assert_eq!(
            (
                report.from_cache,
                report.to_run,
                report.other,
                report.up_to_date
            ),
            (2, 3, 1, 1)
        );
        assert_eq!(report.assumed, 1);
        assert_eq!(report.run.len(), 4);
        assert_eq!(
            report.summary(),
            "7 steps: 2 from cache, 3 to run (2 new sources, 1 changed header), \
             1 other, 1 up to date"
        );
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["reasons"]["new_source"], 2);
        assert_eq!(json["run"][0]["source"], "c.o.c");
    }
}
