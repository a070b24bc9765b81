//! Where a compile would have found a header first, had one existed there:
//! the places a stored result needs to stay empty (see
//! [`crate::cache::records::ManifestEntry::absent`]).
//!
//! A depfile names the headers read, not how each was named or by which
//! file, so every reading consistent with it counts: a header inside
//! several search dirs (`-I proj -I proj/include`) may have been found
//! through any of them, and a header included with quotes may have been
//! searched first beside any file that has such an include. Dirs listed
//! twice count at their last place (gcc drops a `-I` that repeats a system
//! dir). Over-counting only adds places to check, never a wrong hit.

use std::collections::HashMap;
use std::path::Path;

use crate::cache::command::CompileArgs;
use crate::cache::paths::{join_text, name_in};
use crate::cache::toolchain::IncludeSearch;

/// One compile's include search path, in the compiler's order, as
/// absolute, lexically normal dirs.
pub struct HeaderSearch {
    dirs: Vec<String>,
    /// Each dir's last place in `dirs`.
    last: HashMap<String, usize>,
}

impl HeaderSearch {
    /// gcc's order (clang's is the same): `-iquote`, `-I` (`-I-` only
    /// narrows it, so it is left out), `-isystem`, the compiler's own
    /// dirs, `-idirafter`. `CPATH` and its kin put dirs among the
    /// compiler's own ones before and after `-isystem`: with
    /// `env_steers`, those are counted in both places.
    pub fn new(
        cwd: &Path,
        args: &CompileArgs,
        system: Option<&IncludeSearch>,
        env_steers: bool,
    ) -> HeaderSearch {
        let given = |keep: fn(&crate::cache::command::IncludeDir) -> bool| {
            args.include_dirs
                .iter()
                .filter(move |dir| keep(dir) && dir.path != "-")
                .map(|dir| join_text(cwd, &dir.path))
        };
        let own: Vec<String> = system
            .map(|system| {
                system
                    .quote
                    .iter()
                    .chain(&system.bracket)
                    .map(|dir| join_text(cwd, &dir.to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        let mut dirs: Vec<String> = given(|d| d.quote_only).collect();
        dirs.extend(given(|d| !d.quote_only && !d.system));
        if env_steers {
            dirs.extend(own.iter().cloned());
        }
        dirs.extend(given(|d| d.system && !d.after));
        dirs.extend(own);
        dirs.extend(given(|d| d.after));
        HeaderSearch::from_dirs(dirs)
    }

    fn from_dirs(dirs: Vec<String>) -> HeaderSearch {
        let last = dirs
            .iter()
            .enumerate()
            .map(|(at, dir)| (dir.clone(), at))
            .collect();
        HeaderSearch { dirs, last }
    }

    pub fn dirs(&self) -> &[String] {
        &self.dirs
    }

    /// The (dir, name) places searched before the header at `full` under
    /// every reading of how it was found: through each search dir holding
    /// it, the dirs before that one and the `includers` (dirs of files
    /// with `#include "…"`) with the name below that dir.
    pub fn places_before<'a>(
        &'a self,
        full: &'a str,
        includers: &'a [String],
    ) -> Vec<(&'a str, &'a str)> {
        let mut places = Vec::new();
        for (at, dir) in self.dirs.iter().enumerate() {
            if self.last.get(dir) != Some(&at) {
                continue;
            }
            let Some(name) = name_in(full, dir) else {
                continue;
            };
            for earlier in includers.iter().chain(&self.dirs[..at]) {
                if earlier != dir {
                    places.push((earlier.as_str(), name));
                }
            }
        }
        places
    }
}

/// A name probed by `__has_include` or `__has_include_next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// `"name"` rather than `<name>`: searched beside the file first.
    pub quoted: bool,
    pub name: String,
}

/// The names `text` probes with `__has_include(…)` and
/// `__has_include_next(…)`; `None` when one is not a literal name (a macro
/// names it) and so cannot be known without preprocessing. A mention not
/// followed by `(` (`#ifdef __has_include`) probes nothing.
pub fn has_include_probes(text: &[u8]) -> Option<Vec<Probed>> {
    const WORD: &[u8] = b"__has_include";
    let mut probes = Vec::new();
    for at in memchr::memmem::find_iter(text, WORD) {
        let continues = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        if at > 0 && continues(&text[at - 1]) {
            continue;
        }
        let rest = &text[at + WORD.len()..];
        let suffix_len = rest.iter().take_while(|b| continues(b)).count();
        // gcc before 10 spelled it `__has_include__`.
        if !matches!(&rest[..suffix_len], b"" | b"_next" | b"__" | b"_next__") {
            continue;
        }
        let blank = |b: &u8| b.is_ascii_whitespace() || *b == b'\\';
        let mut rest = &rest[suffix_len..];
        rest = &rest[rest.iter().take_while(|b| blank(b)).count()..];
        let Some(rest) = rest.strip_prefix(b"(") else {
            continue;
        };
        let rest = &rest[rest.iter().take_while(|b| blank(b)).count()..];
        let (quoted, close) = match rest.first() {
            Some(b'"') => (true, b'"'),
            Some(b'<') => (false, b'>'),
            _ => return None,
        };
        let name = &rest[1..];
        let end = name.iter().position(|&b| b == close || b == b'\n')?;
        if name[end] != close || end == 0 {
            return None;
        }
        probes.push(Probed {
            quoted,
            name: String::from_utf8_lossy(&name[..end]).into_owned(),
        });
    }
    Some(probes)
}

/// Include options whose dirs [`HeaderSearch`] does not know: a compile
/// using one cannot tell where a new header would be found first.
pub fn unmodelled_include_option(expanded_args: &[String]) -> Option<&str> {
    const SEPARATE_OR_JOINED: &[&str] = &[
        "-iwithprefix",
        "-iwithprefixbefore",
        "-iwithsysroot",
        "-iframeworkwithsysroot",
        "-iframework",
        "-isystem-after",
        "-cxx-isystem",
        "-F",
        "--include-with-prefix",
        "--include-with-prefix-before",
    ];
    const PASSED_ON: &[&str] = &[
        "-I",
        "-iquote",
        "-isystem",
        "-idirafter",
        "-iwith",
        "-nostdinc",
    ];
    let mut args = expanded_args.iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_str();
        if SEPARATE_OR_JOINED
            .iter()
            .any(|option| arg.starts_with(option))
        {
            return Some(arg);
        }
        let passed: Vec<&str> = if let Some(list) = arg.strip_prefix("-Wp,") {
            list.split(',').collect()
        } else if matches!(arg, "-Xpreprocessor" | "-Xclang") {
            args.next().map(String::as_str).into_iter().collect()
        } else {
            Vec::new()
        };
        if passed
            .iter()
            .any(|option| PASSED_ON.iter().any(|known| option.starts_with(known)))
        {
            return Some(arg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(dirs: &[&str]) -> HeaderSearch {
        HeaderSearch::from_dirs(dirs.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn a_header_in_nested_dirs_counts_as_found_through_either() {
        let search = search(&["/p", "/p/include", "/usr/include"]);
        let mut places = search.places_before("/p/include/lib/api.h", &[]);
        places.sort();
        assert_eq!(places, [("/p", "lib/api.h")]);
        let includers = ["/p/src".to_string()];
        let mut places = search.places_before("/usr/include/zz.h", &includers);
        places.sort();
        assert_eq!(
            places,
            [("/p", "zz.h"), ("/p/include", "zz.h"), ("/p/src", "zz.h")]
        );
    }

    #[test]
    fn a_dir_listed_twice_counts_at_its_last_place() {
        let search = search(&["/usr/include", "/p/inc", "/usr/include"]);
        let places = search.places_before("/usr/include/a.h", &[]);
        assert_eq!(places, [("/p/inc", "a.h")]);
        // Not found through any search dir: nothing searched before it.
        assert!(search.places_before("/elsewhere/a.h", &[]).is_empty());
    }

    #[test]
    fn has_include_probes_are_literal_names_or_unknown() {
        let text = b"#if defined __has_include && __has_include(\"a.h\")\n\
                     #elif __has_include_next ( <sys/b.h> ) || __has_include__(<c.h>)\n\
                     #ifdef __has_include\n#endif\n int my__has_include(x);";
        let probes = has_include_probes(text).expect("literal names");
        let names: Vec<(bool, &str)> = probes.iter().map(|p| (p.quoted, p.name.as_str())).collect();
        assert_eq!(names, [(true, "a.h"), (false, "sys/b.h"), (false, "c.h")]);
        assert_eq!(has_include_probes(b"#if __has_include(HEADER)\n"), None);
        assert_eq!(has_include_probes(b"__has_include(\"a.h\n\")"), None);
    }

    #[test]
    fn include_options_passed_through_are_unmodelled() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            unmodelled_include_option(&args(&["-Iinc", "-isystem", "s"])),
            None
        );
        assert_eq!(
            unmodelled_include_option(&args(&["-Wp,-MD,x.d", "-Wp,-Iinc"])),
            Some("-Wp,-Iinc")
        );
        assert_eq!(
            unmodelled_include_option(&args(&["-Xpreprocessor", "-isystem/x"])),
            Some("-Xpreprocessor")
        );
        assert_eq!(
            unmodelled_include_option(&args(&["-iwithprefix", "x"])),
            Some("-iwithprefix")
        );
    }
}
