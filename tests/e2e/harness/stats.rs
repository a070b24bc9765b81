//! `zccache stats --json` read in one place: the counters as a map with a
//! getter for any counter (per-reason ones such as `miss.no_entry` appear
//! only once counted) and typed getters for the ones every run prints, the
//! growth of the counters over some runs, and the assertion on that growth.

use std::collections::{BTreeMap, BTreeSet};

use super::Output;

/// The integer fields of `zccache stats --json`; a missing field reads 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats(BTreeMap<String, i64>);

/// The hit and miss counters of each kind of step, which every
/// `zccache stats --json` prints, even when zero.
pub const STEP_COUNTERS: [&str; 6] = [
    "compile_hits",
    "compile_misses",
    "archive_hits",
    "archive_misses",
    "link_hits",
    "link_misses",
];

/// The other counters every `zccache stats --json` prints.
const OTHER_MAIN_COUNTERS: [&str; 3] = ["uncacheable", "errors", "cache_size_bytes"];

/// Every counter `zccache stats --json` prints, even when zero.
pub fn main_counters() -> impl Iterator<Item = &'static str> {
    STEP_COUNTERS.into_iter().chain(OTHER_MAIN_COUNTERS)
}

impl Stats {
    /// The counters of one `zccache stats --json` run, which must have
    /// succeeded and printed every [main counter](main_counters).
    pub fn of(output: &Output) -> Stats {
        output.assert_success();
        Stats::parse(&output.stdout)
            .unwrap_or_else(|error| panic!("{error}\n{}", output.describe()))
    }

    pub fn parse(json: &str) -> Result<Stats, String> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("stats are not JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or_else(|| "stats are not a JSON object".to_string())?;
        for name in main_counters() {
            if !object.get(name).is_some_and(serde_json::Value::is_i64) {
                return Err(format!("stats lack the integer field {name}"));
            }
        }
        Ok(Stats(
            object
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_i64()?)))
                .collect(),
        ))
    }

    /// Any counter by its JSON name; 0 when absent.
    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// A counter by its JSON name, `None` when `stats --json` left it out.
    pub fn field(&self, name: &str) -> Option<i64> {
        self.0.get(name).copied()
    }

    pub fn compile_hits(&self) -> i64 {
        self.get("compile_hits")
    }

    pub fn compile_misses(&self) -> i64 {
        self.get("compile_misses")
    }

    pub fn link_hits(&self) -> i64 {
        self.get("link_hits")
    }

    pub fn errors(&self) -> i64 {
        self.get("errors")
    }

    /// Each counter's growth since `before`, none below 0: for tests whose
    /// damage to a cache may reset its counters file.
    pub fn grown_since(&self, before: &Stats) -> Stats {
        Stats(
            self.0
                .iter()
                .map(|(name, value)| (name.clone(), (value - before.get(name)).max(0)))
                .collect(),
        )
    }

    /// Each counter's growth since `before`; counters that did not change
    /// are left out.
    pub fn since(&self, before: &Stats) -> Stats {
        let names: BTreeSet<&String> = self.0.keys().chain(before.0.keys()).collect();
        Stats(
            names
                .into_iter()
                .map(|name| (name.clone(), self.get(name) - before.get(name)))
                .filter(|(_, delta)| *delta != 0)
                .collect(),
        )
    }
}

/// `stats[name]`: a counter that must be there.
impl std::ops::Index<&str> for Stats {
    type Output = i64;

    fn index(&self, name: &str) -> &i64 {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no counter {name} in {self:?}"))
    }
}

/// Asserts each `(counter, value)` of `delta`, showing the whole delta and
/// the build's output on failure.
pub fn assert_counts(what: &str, delta: &Stats, expected: &[(&str, i64)], output: &Output) {
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(name, value)| delta.get(name) != *value)
        .map(|(name, value)| format!("{name}: expected {value}, got {}", delta.get(name)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: wrong cache counters\n  {}\nall changed counters: {:?}\n{}",
        wrong.join("\n  "),
        delta.0,
        output.describe()
    );
}

/// A build's output and the growth of the counters over it (as
/// `Env::build_counted` gives them): asserts that the build succeeded and
/// each `(counter, value)` of `expected`, and gives the output.
pub fn expect_counts(what: &str, build: (Output, Stats), expected: &[(&str, i64)]) -> Output {
    let (output, delta) = build;
    output.assert_success();
    assert_counts(what, &delta, expected, &output);
    output
}
