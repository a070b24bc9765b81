//! Ninja's `-w FLAG` switches: whether two build statements naming one
//! output (`dupbuild`) and a phony naming itself as an input
//! (`phonycycle`) are errors or warnings when the manifest is read.
//!
//! They hold for the whole process, as in ninja, so every place that reads
//! a manifest (the build, its re-reads after regeneration, the tools) reads
//! it the same way.

use std::sync::OnceLock;

/// How the manifest parser treats the two diagnostics ninja lets `-w` turn
/// down. Ninja 1.11's defaults: `dupbuild=err`, `phonycycle=warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarningFlags {
    pub dupbuild_err: bool,
    pub phonycycle_err: bool,
}

impl Default for WarningFlags {
    fn default() -> Self {
        WarningFlags {
            dupbuild_err: true,
            phonycycle_err: false,
        }
    }
}

/// What `-w list` prints (ninja 1.11 lists only this one).
pub const LIST: &str =
    "warning flags:\n  phonycycle={err,warn}  phony build statement references itself\n";

/// What the `-w` flags of a command line ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Flags(WarningFlags),
    /// `-w list`: print [`LIST`] and exit 1, as ninja does.
    List,
    /// The first flag ninja does not know, with a known one spelt alike.
    Unknown {
        flag: String,
        suggestion: Option<&'static str>,
    },
}

/// The flags that set something, for spelling suggestions.
const KNOWN: &[&str] = &[
    "dupbuild=err",
    "dupbuild=warn",
    "phonycycle=err",
    "phonycycle=warn",
];

/// How far a misspelt flag may be from a known one to be suggested.
const MAX_SUGGESTION_DISTANCE: usize = 3;

impl Parsed {
    /// Ninja's message for an unknown flag; `None` for the others.
    pub fn unknown_message(&self) -> Option<String> {
        let Parsed::Unknown { flag, suggestion } = self else {
            return None;
        };
        Some(match suggestion {
            Some(known) => format!("unknown warning flag '{flag}', did you mean '{known}'?"),
            None => format!("unknown warning flag '{flag}'"),
        })
    }
}

/// Reads `-w` values in order, as ninja does: the first `list` or unknown
/// one ends the parse.
pub fn parse(values: &[String]) -> Parsed {
    let mut flags = WarningFlags::default();
    for value in values {
        match value.as_str() {
            "list" => return Parsed::List,
            "dupbuild=err" => flags.dupbuild_err = true,
            "dupbuild=warn" => flags.dupbuild_err = false,
            "phonycycle=err" => flags.phonycycle_err = true,
            "phonycycle=warn" => flags.phonycycle_err = false,
            // Deprecated in ninja, which warns and goes on; nothing to do.
            "depfilemulti=err" | "depfilemulti=warn" => {}
            other => {
                let mut best: Option<(usize, &'static str)> = None;
                for known in KNOWN {
                    let distance =
                        crate::graph::edit_distance(other, known, MAX_SUGGESTION_DISTANCE);
                    if distance <= MAX_SUGGESTION_DISTANCE && best.is_none_or(|(d, _)| distance < d)
                    {
                        best = Some((distance, known));
                    }
                }
                return Parsed::Unknown {
                    flag: other.to_string(),
                    suggestion: best.map(|(_, known)| known),
                };
            }
        }
    }
    Parsed::Flags(flags)
}

static CURRENT: OnceLock<WarningFlags> = OnceLock::new();

/// Sets the flags for the rest of the process (the first call wins).
pub fn set(flags: WarningFlags) {
    let _ = CURRENT.set(flags);
}

/// The flags in force: those [`set`], else ninja's defaults.
pub fn current() -> WarningFlags {
    CURRENT.get().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn later_flags_override_earlier_ones() {
        assert_eq!(
            parse(&strings(&[
                "dupbuild=warn",
                "phonycycle=err",
                "dupbuild=err"
            ])),
            Parsed::Flags(WarningFlags {
                dupbuild_err: true,
                phonycycle_err: true
            })
        );
    }

    #[test]
    fn list_and_unknown_flags_end_the_parse() {
        assert_eq!(parse(&strings(&["list", "bogus"])), Parsed::List);
        let unknown = parse(&strings(&["dupbuild=bogus", "list"]));
        assert_eq!(
            unknown.unknown_message().as_deref(),
            Some("unknown warning flag 'dupbuild=bogus'")
        );
        assert_eq!(
            parse(&strings(&["dupbuild=wanr"]))
                .unknown_message()
                .as_deref(),
            Some("unknown warning flag 'dupbuild=wanr', did you mean 'dupbuild=warn'?")
        );
    }
}
