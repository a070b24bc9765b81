//! `ZCCACHE_UNSET_ENV`: variables zccache removes from its own environment
//! before anything else, so neither the cache nor any tool it runs sees them.
//!
//! A launcher call's helper serves only calls with the same environment
//! (src/daemon/), so a variable that a harness or a CI runner sets
//! to a new value for every call would start a helper per call. Ignoring
//! such a variable only when picking a helper would let a helper started
//! with one value answer for a call with another; removing it makes what
//! the cache keys and what the tools read the same environment, whichever
//! process runs them.

/// The setting: names separated by commas or whitespace.
pub const UNSET_ENV: &str = "ZCCACHE_UNSET_ENV";

/// Removes the variables the setting names. Call first thing in `main`,
/// while the process has one thread (changing the environment is unsound
/// once another thread may read it).
pub fn apply() {
    let Some(names) = std::env::var_os(UNSET_ENV) else {
        return;
    };
    for name in names_in(&names.to_string_lossy()) {
        // SAFETY: called from `main` before any thread is started.
        unsafe { std::env::remove_var(name) };
    }
}

/// The names a setting value lists; a name that no variable can have
/// (empty, or with `=` or NUL) is skipped rather than passed to
/// `remove_var`, which would panic on it.
fn names_in(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty() && !name.contains(['=', '\0']))
}

#[cfg(test)]
mod tests {
    use super::names_in;

    #[test]
    fn names_are_split_on_commas_and_spaces_and_impossible_ones_skipped() {
        let names: Vec<&str> = names_in(" A,B  C,,D=1,\tE ").collect();
        assert_eq!(names, ["A", "B", "C", "E"]);
    }
}
