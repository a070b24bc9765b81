//! MSVC `/showIncludes`: cl.exe reports each header it opens as a line of
//! its normal output, `Note: including file:` followed by indentation (one
//! space per nesting level) and the path. Those lines are the step's
//! dependencies, not output for the user, so they are split off here.

/// The prefix English-language cl.exe uses; localized compilers print a
/// translation, which manifests give as `msvc_deps_prefix`.
pub const DEFAULT_PREFIX: &str = "Note: including file:";

/// Compiler output with the include notes taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShowIncludes {
    /// Everything else the compiler printed, line ends preserved.
    pub output: String,
    /// Included paths in order of first mention, without the nesting
    /// indentation, each once.
    pub includes: Vec<String>,
}

/// Splits `stdout` into ordinary output and the paths of the lines that
/// start with `prefix` (see [`DEFAULT_PREFIX`]).
pub fn filter(stdout: &str, prefix: &str) -> ShowIncludes {
    let mut result = ShowIncludes::default();
    for line in stdout.split_inclusive('\n') {
        let Some(rest) = line.strip_prefix(prefix) else {
            result.output.push_str(line);
            continue;
        };
        let path = rest.trim_start_matches(' ').trim_end_matches(['\r', '\n']);
        if !path.is_empty() && !result.includes.iter().any(|seen| seen == path) {
            result.includes.push(path.to_owned());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_notes_from_output_and_keeps_crlf() {
        let stdout = "main.cc\r\n\
            Note: including file: C:\\src\\a b.h\r\n\
            Note: including file:  C:\\src\\nested.h\r\n\
            main.cc(3): warning C4101: unused\r\n\
            Note: including file: C:\\src\\a b.h\r\n";
        let filtered = filter(stdout, DEFAULT_PREFIX);
        assert_eq!(
            filtered.output,
            "main.cc\r\nmain.cc(3): warning C4101: unused\r\n"
        );
        assert_eq!(filtered.includes, ["C:\\src\\a b.h", "C:\\src\\nested.h"]);
    }

    #[test]
    fn custom_prefix_and_unterminated_last_line() {
        let filtered = filter(
            "Hinweis: Einlesen der Datei: x.h\nerror\nHinweis: Einlesen der Datei: y.h",
            "Hinweis: Einlesen der Datei:",
        );
        assert_eq!(filtered.output, "error\n");
        assert_eq!(filtered.includes, ["x.h", "y.h"]);
    }

    #[test]
    fn prefix_must_start_the_line() {
        let filtered = filter("  Note: including file: x.h\n", DEFAULT_PREFIX);
        assert_eq!(filtered.output, "  Note: including file: x.h\n");
        assert!(filtered.includes.is_empty());
    }
}
