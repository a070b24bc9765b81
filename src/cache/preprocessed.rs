//! The second key of a compile, by its preprocessed text, which a
//! comment-only edit or a sibling compile with other preprocessor flags
//! still finds; and the preprocessor runs that check time macros and list
//! every header.

use std::collections::HashSet;
use std::fs;

use super::key::COMPILE_ENV;
use super::key::KeyedStep;
use crate::cache::Cache;
use crate::cache::command::{Detail, Invocation};
use crate::cache::records::{KeyHasher, ManifestEntry, ResultRecord, group_absent};
use crate::cache::store::{Namespace, StoreError};
use crate::cache::time_macros;
use crate::hash::Digest;

/// The options a compile's preprocessor sees: its arguments, with
/// `-Wp,A,B` and `-Xpreprocessor A` opened.
pub(super) fn preprocessor_options(invocation: &Invocation) -> Vec<&str> {
    let mut options: Vec<&str> = Vec::new();
    let mut expanded = invocation.expanded_args.iter();
    while let Some(arg) = expanded.next() {
        if let Some(list) = arg.strip_prefix("-Wp,") {
            options.extend(list.split(','));
        } else if arg == "-Xpreprocessor" {
            options.extend(expanded.next().map(String::as_str));
        } else {
            options.push(arg);
        }
    }
    options
}

/// Whether a C compile with these preprocessor `options` is strict C90,
/// where `//` is not a comment: the last `-std` wins, `-ansi` is C90.
pub(super) fn strict_c90(options: &[&str]) -> bool {
    options.iter().rev().find_map(|&option| match option {
        "-std=c89" | "-std=c90" | "-std=iso9899:1990" | "-std=iso9899:199409" | "-ansi" => {
            Some(true)
        }
        _ if option.starts_with("-std=") => Some(false),
        _ => None,
    }) == Some(true)
}

/// The files named by the line markers of preprocessed text (`# 1 "a.h" 1`),
/// each once, in order, without the compiler's own (`<built-in>`,
/// `<command-line>`). `None` when a name cannot be read back.
fn line_marker_files(text: &[u8]) -> Option<Vec<String>> {
    let mut files: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"# ") else {
            continue;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(quoted) = rest[digits..].strip_prefix(b" \"") else {
            continue;
        };
        if digits == 0 {
            continue;
        }
        let mut name = Vec::new();
        let mut bytes = quoted.iter().copied();
        loop {
            match bytes.next()? {
                b'"' => break,
                b'\\' => {
                    let first = bytes.next()?;
                    if (b'0'..=b'7').contains(&first) {
                        // Other bytes are written as three octal digits.
                        let mut value = u32::from(first - b'0');
                        for _ in 0..2 {
                            let digit = bytes.next()?;
                            if !(b'0'..=b'7').contains(&digit) {
                                return None;
                            }
                            value = value * 8 + u32::from(digit - b'0');
                        }
                        name.push(u8::try_from(value).ok()?);
                    } else {
                        name.push(first);
                    }
                }
                other => name.push(other),
            }
        }
        if name.starts_with(b"<") {
            continue;
        }
        let name = String::from_utf8(name).ok()?;
        if seen.insert(name.clone()) {
            files.push(name);
        }
    }
    Some(files)
}

impl Cache {
    /// The compile's arguments for a preprocessor run that writes nothing
    /// but its output: no `-c`, output or dependency options (also taken
    /// out of `-Wp,` lists, whose other items stay).
    fn preprocessor_args(invocation: &Invocation) -> Option<Vec<String>> {
        let expanded = &invocation.expanded_args;
        let keyed = &invocation.key_args;
        if expanded.len() != keyed.len() {
            return None;
        }
        let is_placeholder = |k: &str| {
            k.contains("<output>") || k.contains("<depfile>") || k.contains("<deptarget>")
        };
        let mut cpp_args = Vec::with_capacity(expanded.len());
        let mut skip_next = false;
        for (index, arg) in expanded.iter().enumerate() {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            let next_is_placeholder = keyed.get(index + 1).is_some_and(|k| is_placeholder(k));
            if next_is_placeholder && matches!(arg.as_str(), "-o" | "-MF" | "-MT" | "-MQ") {
                skip_next = true;
                continue;
            }
            if let Some(items) = arg.strip_prefix("-Wp,") {
                let mut kept = Vec::new();
                let mut items = items.split(',');
                while let Some(item) = items.next() {
                    match item {
                        "-MD" | "-MMD" | "-MF" | "-MT" | "-MQ" => {
                            items.next();
                        }
                        "-M" | "-MM" | "-MP" | "-MG" => {}
                        _ => kept.push(item),
                    }
                }
                if !kept.is_empty() {
                    cpp_args.push(format!("-Wp,{}", kept.join(",")));
                }
                continue;
            }
            // `-w` would silence the date-time check, and a warning made an
            // error (one in a system header, reported for the check) would
            // stop it; neither changes the text.
            if is_placeholder(&keyed[index])
                || matches!(
                    arg.as_str(),
                    "-c" | "-MD" | "-MMD" | "-MP" | "-w" | "-pedantic-errors"
                )
                || arg.starts_with("-Werror")
            {
                continue;
            }
            cpp_args.push(arg.clone());
        }
        Some(cpp_args)
    }

    /// Runs the compile's preprocessor with `extra` arguments, in its dir.
    fn preprocess(
        invocation: &Invocation,
        keyed: &KeyedStep,
        extra: &[&str],
    ) -> Option<std::process::Output> {
        let cpp_args = Self::preprocessor_args(invocation)?;
        std::process::Command::new(&keyed.tool.invoked)
            .args(&cpp_args)
            .args(&keyed.remap_args)
            .arg("-E")
            .args(extra)
            .current_dir(&keyed.cwd)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
    }

    /// Whether the compile expands a date or time macro, however spelled
    /// (see [`crate::cache::time_macros`]): from the preprocessor run of
    /// the text key when there was one, else from a run of its own. `Err`
    /// when that run fails: never cached then.
    pub(super) fn time_macros(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
    ) -> Result<time_macros::Seen, &'static str> {
        if let Some(seen) = keyed.time_macros {
            return Ok(seen);
        }
        let mut extra = time_macros::CHECK_ARGS.to_vec();
        extra.extend(["-o", "/dev/null"]);
        match Self::preprocess(invocation, keyed, &extra) {
            Some(output) if output.status.success() => Ok(time_macros::seen(&output.stderr)),
            _ => Err("time_macro_check_failed"),
        }
    }

    /// The key of a compile by its preprocessed text: arguments that only
    /// steer the preprocessor are left out, as their effect is in the text.
    /// With debug info, which holds columns (and, with clang, each source's
    /// MD5), the exact content of every file the text came from is keyed
    /// too: the text alone does not keep spacing or comments. `None` when
    /// the preprocessor cannot be run. Also says whether the text expands
    /// a date or time macro.
    pub(super) fn preprocessed_key(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
    ) -> Option<(Digest, time_macros::Seen)> {
        let Detail::Compile(args) = &invocation.detail else {
            return None;
        };
        if args.macro_debug {
            return None;
        }
        let output = Self::preprocess(invocation, keyed, time_macros::CHECK_ARGS)?;
        if !output.status.success() {
            return None;
        }
        let seen = time_macros::seen(&output.stderr);
        let key_args = &invocation.key_args;
        let mut key = KeyHasher::new("preprocessed");
        key.field(&keyed.tool.digest)
            .text(args.language.as_x_arg())
            .text(&self.roots.normalize(&keyed.cwd.to_string_lossy()));
        for (arg, preprocessor_only) in key_args.iter().zip(&invocation.preprocessor_only) {
            if !preprocessor_only {
                key.text(&self.roots.normalize(arg));
            }
        }
        for arg in &keyed.remap_args {
            key.text(&self.roots.normalize(arg));
        }
        if args.debug {
            key.text("exact sources");
            for file in line_marker_files(&output.stdout)? {
                let path = keyed.cwd.join(&file);
                let facts = self.files.facts(&path).ok()??;
                key.text(&self.roots.normalize(&file)).field(&facts.hash);
            }
        }
        let text = self
            .roots
            .normalize_bytes(&output.stdout)
            .unwrap_or(output.stdout);
        key.field(blake3::hash(&text).as_bytes())
            .field(&output.stderr)
            .field(&Self::env_digest(COMPILE_ENV))
            .field(&keyed.read_files);
        Some((key.finish(), seen))
    }

    /// Every file a compile reads, as a depfile's text, from a run of its
    /// preprocessor with `-M` (which, unlike `-MMD`, names system headers).
    pub(super) fn all_dependencies(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
    ) -> Option<String> {
        let output = Self::preprocess(invocation, keyed, &["-M"])?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8(output.stdout).ok()
    }

    /// Restores a compile found by its preprocessed text, and remembers it
    /// under its direct key so the next lookup needs no preprocessor.
    pub(super) fn restore_preprocessed(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
        cpp_key: &Digest,
    ) -> Option<ResultRecord> {
        let record = match self.get_record::<ResultRecord>(Namespace::Result, cpp_key) {
            Ok(Some(record)) if record.fits(keyed.outputs.len()) => record,
            _ => return None,
        };
        match self.restore(keyed, &record) {
            Ok(()) => {}
            Err(StoreError::NotFound { .. }) => return None,
            Err(err) => {
                self.note_store_error("restore", &err);
                return None;
            }
        }
        let leaves_out = invocation
            .kind()
            .rules()
            .depfile_leaves_out_inputs(invocation);
        let text = match &keyed.depfile {
            Some(_) if leaves_out => self.all_dependencies(invocation, keyed),
            Some((depfile, _)) => fs::read_to_string(depfile).ok(),
            None => None,
        };
        if let Some(text) = text
            && let Ok(dependencies) = self.read_dependencies(invocation, keyed, &text, i64::MAX)
        {
            let entry = ManifestEntry {
                files: dependencies.files,
                identities: dependencies.identities,
                absent: group_absent(dependencies.absent),
                roots: None,
                result: *cpp_key,
            };
            let _ = self.add_manifest_entry(keyed, entry);
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_markers_name_each_source_once() {
        let text = b"# 0 \"a.c\"\n# 0 \"<built-in>\"\n# 1 \"<command-line>\"\n\
                     # 1 \"inc/x y.h\" 1\nint x;\n# 2 \"a.c\" 2\n\
                     # 1 \"q\\\"\\\\\\303\\251.h\" 1\n#pragma once\n";
        assert_eq!(
            line_marker_files(text).unwrap(),
            ["a.c", "inc/x y.h", "q\"\\\u{e9}.h"]
        );
        assert_eq!(line_marker_files(b"# 1 \"a.c\\").as_deref(), None);
    }
}
