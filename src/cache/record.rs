//! After a real run: capture what it left before the build may change it,
//! read what the tool read (its depfile), and store the result with a
//! manifest entry naming those files.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::key::ASSEMBLER_READS;
use super::key::KeyedStep;
use super::paths::join_text;
use super::preprocessed::preprocessor_options;
use super::step::Ran;
use crate::cache::Cache;
use crate::cache::command::{CompileArgs, Detail, Invocation, Language};
use crate::cache::records::{
    FileIdentity, KeyHasher, MAX_MANIFEST_ENTRIES, Manifest, ManifestEntry, ResultRecord,
    StoredDepfile, StoredOutput, encode, group_absent,
};
use crate::cache::roots::Ties;
use crate::cache::store::{Namespace, StoreError};
use crate::cache::time_macros;
use crate::cache::toolchain::ToolIdentity;
use crate::hash::Digest;

/// A run's outputs (content and mode, in the key's order) and dependency
/// texts, as read right after it.
pub(super) struct CapturedFiles {
    outputs: Vec<(CapturedOutput, u32)>,
    /// The depfile listing what the tool read (the build's or zccache's).
    dependencies: Option<String>,
    /// The depfile the build asked for, to restore on a hit.
    depfile: Option<Vec<u8>>,
}

/// One output as read right after the run.
enum CapturedOutput {
    /// Small enough to hold (see [`crate::cache::store::IN_MEMORY_LIMIT`]).
    Read(Vec<u8>),
    /// Too big to hold: already hashed and written in a temp file of the
    /// cache, and whether it names a root or has sections that may hide
    /// one (see [`Cache::store_result`]).
    Staged {
        blob: crate::cache::store::StagedBlob,
        ties: Ties,
    },
}

/// Files read besides the keyed ones, with hashes and identities, and the
/// places that must stay without a header or library.
#[derive(Default)]
pub(super) struct Dependencies {
    pub(super) files: Vec<(String, Digest)>,
    pub(super) identities: Vec<Option<FileIdentity>>,
    pub(super) absent: Vec<(String, String)>,
    /// The pieces of time macro names the files read hold (anywhere, and
    /// outside comments), and whether one pastes (see
    /// [`time_macros::tokens`]).
    pub(super) time_pieces: u128,
    pub(super) time_code_pieces: u128,
    pub(super) pastes: bool,
}

/// Whether a time macro may be expanded that the files' scan did not
/// see: the arguments name one (`-DSTAMP=__TIME__`), or the files and
/// arguments hold a paste and pieces it could join into one (outside the
/// files' comments where the compile reads them as comments).
fn may_hide_time_macro(files: &Dependencies, invocation: &Invocation, args: &CompileArgs) -> bool {
    let in_args = time_macros::tokens(invocation.expanded_args.join("\n").as_bytes());
    let reading = time_macros::Reading::of(args.language, &preprocessor_options(invocation));
    let Some(file_pieces) = reading.pieces(files.time_pieces, files.time_code_pieces) else {
        return true;
    };
    let pastes = files.pastes || in_args.pastes;
    in_args.date_time
        || in_args.timestamp
        || (pastes && time_macros::may_build_a_name(file_pieces | in_args.pieces))
}

/// The key of a two-level step's result: the manifest key, every file the
/// entry names with its hash, the absent places, and the roots it is tied
/// to.
fn result_key(
    manifest_key: &Digest,
    dependencies: &Dependencies,
    roots: &Option<(Option<String>, Option<String>)>,
) -> Digest {
    let mut key = KeyHasher::new("result");
    key.field(manifest_key);
    for (path, hash) in &dependencies.files {
        key.text(path).field(hash);
    }
    for (dir, name) in &dependencies.absent {
        key.text(dir).text(name);
    }
    if let Some((build, source)) = roots {
        for root in [build, source] {
            key.field(&[u8::from(root.is_some())])
                .text(root.as_deref().unwrap_or(""));
        }
    }
    key.finish()
}

/// Whether `path` was written at or after `since_ns` (or is gone).
/// The roots an output ties its entry to: those `seen` in its bytes, or
/// both when compressed sections (`-gz`) may hold them unseen.
fn output_ties(compressed: bool, seen: impl FnOnce() -> Ties) -> Ties {
    if compressed { Ties::BOTH } else { seen() }
}

fn modified_since(path: &Path, since_ns: i64) -> bool {
    match crate::hash::stat(&path.to_string_lossy()) {
        Ok(Some(stat)) => changed_since(&stat, since_ns),
        _ => true,
    }
}

/// Whether a file with `stat` was written at or after `since_ns`. On file
/// systems with whole-second times, a write in the same second counts.
fn changed_since(stat: &crate::hash::FileStat, since_ns: i64) -> bool {
    const SECOND: i64 = 1_000_000_000;
    let newest = stat.mtime_ns.max(stat.ctime_ns);
    let coarse = stat.mtime_ns % SECOND == 0 && stat.ctime_ns % SECOND == 0;
    let threshold = if coarse { since_ns - SECOND } else { since_ns };
    newest >= threshold
}

impl Cache {
    /// What a run left that the build may change or delete as soon as the
    /// step is over (ninja reads and deletes depfiles; a later step may
    /// rewrite an output in place): read before the step is reported done.
    pub(super) fn capture_files(
        &self,
        keyed: &KeyedStep,
    ) -> Result<CapturedFiles, Option<&'static str>> {
        let mut outputs = Vec::with_capacity(keyed.outputs.len());
        let mut budget = crate::cache::store::IN_MEMORY_LIMIT;
        for path in &keyed.outputs {
            let mut file = fs::File::open(path).map_err(|_| Some("output_missing"))?;
            let meta = file.metadata().map_err(|_| Some("output_missing"))?;
            let output = if meta.len() <= budget {
                budget -= meta.len();
                let mut content = Vec::with_capacity(meta.len() as usize);
                std::io::Read::read_to_end(&mut file, &mut content)
                    .map_err(|_| Some("output_missing"))?;
                CapturedOutput::Read(content)
            } else {
                self.stage_output(&file, path)?
            };
            outputs.push((output, meta.permissions().mode()));
        }
        let dependencies = if keyed.two_level {
            let deps_path = match (&keyed.private_deps, &keyed.depfile) {
                (Some(private), _) => private.to_path_buf(),
                (None, Some((depfile, _))) => depfile.clone(),
                (None, None) => return Err(Some("no_dependency_file")),
            };
            Some(fs::read_to_string(deps_path).map_err(|_| Some("no_dependency_file"))?)
        } else {
            None
        };
        let depfile = match &keyed.depfile {
            Some((path, _)) => Some(fs::read(path).map_err(|_| Some("no_dependency_file"))?),
            None => None,
        };
        Ok(CapturedFiles {
            outputs,
            dependencies,
            depfile,
        })
    }

    /// Writes an output too big to hold to a temp file of the cache, in
    /// one pass that also looks for the roots in it.
    fn stage_output(
        &self,
        file: &fs::File,
        path: &Path,
    ) -> Result<CapturedOutput, Option<&'static str>> {
        let mut seen = self.roots.seen_in_pieces();
        match self
            .store
            .stage_blob(file, path, &mut |piece| seen.feed(piece))
        {
            Ok(blob) => Ok(CapturedOutput::Staged {
                blob,
                ties: output_ties(
                    crate::cache::elf::file_has_compressed_sections(file),
                    || seen.found(),
                ),
            }),
            Err(StoreError::Changed { .. }) => Err(Some("output_changed")),
            Err(err) => {
                self.write_failed(&err);
                Err(None)
            }
        }
    }

    /// Stores a successful run from what [`Cache::capture_files`] read.
    /// `Err(Some(reason))`: the result must not be cached (counted as
    /// uncacheable); `Err(None)`: the store failed (already warned).
    pub(super) fn store_result<S>(
        &self,
        invocation: &Invocation,
        keyed: &mut KeyedStep,
        ran: &Ran<S>,
        elapsed: std::time::Duration,
        started_ns: i64,
        captured: CapturedFiles,
    ) -> Result<(), Option<&'static str>> {
        // The key holds the content hashed before the run (or, for files
        // found in the depfile, after it): a file written meanwhile may not
        // be what the tool read.
        if keyed
            .keyed_inputs
            .iter()
            .any(|path| modified_since(path, started_ns))
        {
            return Err(Some("input_changed_during_step"));
        }
        let mut dependencies = Dependencies::default();
        // Roots the stored text cannot name by placeholder tie the entry.
        let mut ties = if self.roots.plain() {
            Ties::default()
        } else {
            Ties::BOTH
        };
        if let Some(text) = &captured.dependencies {
            let full;
            let text = if invocation
                .kind()
                .rules()
                .depfile_leaves_out_inputs(invocation)
            {
                full = self
                    .all_dependencies(invocation, keyed)
                    .ok_or(Some("no_dependency_file"))?;
                &full
            } else {
                text
            };
            dependencies = self.read_dependencies(invocation, keyed, text, started_ns)?;
        }
        self.check_time_macros(invocation, keyed, &dependencies)?;
        let outputs = self.store_outputs(captured.outputs, &mut ties)?;
        let depfile = match (&keyed.depfile, captured.depfile) {
            (Some((_, target)), Some(text)) => match self.roots.normalize_bytes(&text) {
                Some(text) => Some(StoredDepfile {
                    text,
                    target: self.roots.normalize(target),
                }),
                None => {
                    ties = Ties::BOTH;
                    Some(StoredDepfile {
                        text,
                        target: target.clone(),
                    })
                }
            },
            _ => None,
        };
        if let Some(raw_source) = &keyed.raw_source
            && !(ran.stdout.is_empty() && ran.stderr.is_empty())
        {
            dependencies.files.push(raw_source.clone());
            dependencies.identities.push(None);
        }
        let (stdout, stderr, normalized_text) = match (
            self.roots.normalize_bytes(&ran.stdout),
            self.roots.normalize_bytes(&ran.stderr),
        ) {
            (Some(out), Some(err)) => (out, err, true),
            _ => {
                ties = Ties::BOTH;
                (ran.stdout.clone(), ran.stderr.clone(), false)
            }
        };
        let record = ResultRecord {
            outputs,
            depfile,
            stdout,
            stderr,
            normalized_text,
            exit_code: 0,
            duration_ms: elapsed.as_millis() as u64,
        };
        let roots = self.roots.tied(ties);
        let result_key = if keyed.two_level {
            result_key(&keyed.key, &dependencies, &roots)
        } else {
            keyed.key
        };
        let bytes = encode(&record).ok_or(Some("unencodable"))?;
        self.put(Namespace::Result, &result_key, &bytes)?;
        if keyed.two_level {
            self.add_manifest_entry(
                keyed,
                ManifestEntry {
                    files: dependencies.files,
                    identities: dependencies.identities,
                    absent: group_absent(dependencies.absent),
                    roots: roots.clone(),
                    result: result_key,
                },
            )?;
        }
        // Diagnostics quote lines and columns, which the text key keeps
        // only when it holds the exact sources.
        let exact_text_key = invocation.kind().rules().text_key_is_exact(invocation);
        let diagnostics = !(ran.stdout.is_empty() && ran.stderr.is_empty());
        if let (Some(cpp_key), None) = (keyed.cpp_key, &roots)
            && (exact_text_key || !diagnostics)
        {
            self.put(Namespace::Result, &cpp_key, &bytes)?;
        }
        if let Some((seen_key, seen)) = &keyed.last_seen
            && let Some(bytes) = encode(seen)
        {
            self.put(Namespace::Manifest, seen_key, &bytes)?;
        }
        Ok(())
    }

    /// Refuses a compile whose text expands a date or time macro the
    /// files' scan may have missed: only a paste can hide one from it (and
    /// arguments can name one: `-DSTAMP=__TIME__`).
    fn check_time_macros(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
        dependencies: &Dependencies,
    ) -> Result<(), Option<&'static str>> {
        if let Detail::Compile(args) = &invocation.detail
            && !matches!(
                args.language,
                Language::Asm | Language::PreprocessedC | Language::PreprocessedCxx
            )
            && (keyed.time_macros.is_some() || may_hide_time_macro(dependencies, invocation, args))
        {
            match self.time_macros(invocation, keyed).map_err(Some)? {
                time_macros::Seen::Nothing => {}
                time_macros::Seen::DateTime if self.epoch_pins_time_macros(&keyed.tool) => {}
                time_macros::Seen::DateTime => return Err(Some("date_time_macros")),
                time_macros::Seen::Timestamp => return Err(Some("timestamp_macro")),
            }
        }
        Ok(())
    }

    /// Puts the captured outputs in the store as blobs, adding to `ties`
    /// the roots they name.
    fn store_outputs(
        &self,
        captured: Vec<(CapturedOutput, u32)>,
        ties: &mut Ties,
    ) -> Result<Vec<StoredOutput>, Option<&'static str>> {
        let mut outputs = Vec::with_capacity(captured.len());
        for (output, mode) in captured {
            let write_failed = |err| {
                self.write_failed(&err);
                None
            };
            let (blob, size) = match output {
                CapturedOutput::Read(content) => {
                    *ties = ties.union(output_ties(
                        crate::cache::elf::has_compressed_sections(&content),
                        || self.roots.appearing_in(&content),
                    ));
                    let blob = self.store.put_blob(&content).map_err(write_failed)?;
                    (blob, content.len() as u64)
                }
                CapturedOutput::Staged { blob, ties: seen } => {
                    *ties = ties.union(seen);
                    let (digest, size) = (*blob.digest(), blob.size());
                    self.store.commit_staged(blob).map_err(write_failed)?;
                    (digest, size)
                }
            };
            outputs.push(StoredOutput { blob, size, mode });
        }
        Ok(outputs)
    }

    /// The files a compile or link read besides those in its key, with
    /// their hashes, and where a shadowing header would have been found.
    pub(super) fn read_dependencies(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
        text: &str,
        started_ns: i64,
    ) -> Result<Dependencies, Option<&'static str>> {
        let deps = crate::depfile::parse(text)
            .map_err(|_| Some("bad_dependency_file"))?
            .inputs;
        let mut entry_files = Vec::new();
        let mut identities = Vec::new();
        let mut date_time = keyed.source_facts.is_some_and(|f| f.date_time);
        let mut time_pieces = keyed.source_facts.map_or(0, |f| f.time_pieces);
        let mut time_code_pieces = keyed.source_facts.map_or(0, |f| f.time_code_pieces);
        let mut pastes = keyed.source_facts.is_some_and(|f| f.pastes);
        let mut seen = HashSet::new();
        // Every file read, as a full normal path, with its facts: the
        // compile's source first.
        let mut read = Vec::new();
        if let (Some(source), Some(facts)) = (invocation.source(), keyed.source_facts) {
            read.push((join_text(&keyed.cwd, source), facts));
        }
        for dep in &deps {
            let path = keyed.cwd.join(dep);
            if keyed.keyed_inputs.contains(&path) || !seen.insert(path.clone()) {
                continue;
            }
            let stat = crate::hash::stat(&path.to_string_lossy())
                .ok()
                .flatten()
                .ok_or(Some("input_vanished"))?;
            if changed_since(&stat, started_ns) {
                return Err(Some("input_changed_during_step"));
            }
            let facts = match self.files.facts_at(&path, stat) {
                Ok(facts) => facts,
                _ => return Err(Some("input_vanished")),
            };
            if keyed.kind.rules().preprocesses_inputs() {
                if facts.timestamp {
                    return Err(Some("timestamp_macro"));
                }
                if facts.assembler_reads {
                    return Err(Some(ASSEMBLER_READS));
                }
                date_time |= facts.date_time;
                time_pieces |= facts.time_pieces;
                time_code_pieces |= facts.time_code_pieces;
                pastes |= facts.pastes;
            }
            entry_files.push((self.roots.normalize(dep), facts.hash));
            read.push((join_text(&keyed.cwd, dep), facts));
            let settled = !stat.not_regular && !crate::cache::files::is_racy(&stat);
            identities.push(settled.then(|| FileIdentity::of(&stat)));
        }
        if date_time && !self.epoch_pins_time_macros(&keyed.tool) {
            return Err(Some("date_time_macros"));
        }
        let mut dependencies = Dependencies {
            files: entry_files,
            identities,
            absent: Vec::new(),
            time_pieces,
            time_code_pieces,
            pastes,
        };
        dependencies.absent = invocation.kind().rules().absent_places(
            self,
            invocation,
            keyed,
            &read,
            &deps,
            &mut dependencies,
        )?;
        Ok(dependencies)
    }

    /// Whether `__DATE__` and `__TIME__` are pinned for this compile:
    /// SOURCE_DATE_EPOCH is set and the compiler was seen to honour it
    /// (asked once per tool, the answer kept in the cache).
    fn epoch_pins_time_macros(&self, tool: &ToolIdentity) -> bool {
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            return false;
        }
        if let Some(known) = self.epoch_answers.known(tool) {
            return known;
        }
        let mut key = KeyHasher::new("honours-source-date-epoch");
        key.field(&tool.digest);
        let key = key.finish();
        let stored = self
            .get_record::<bool>(Namespace::Manifest, &key)
            .ok()
            .flatten();
        let honours = stored.unwrap_or_else(|| {
            let honours = crate::cache::epoch::probe(tool);
            if let Some(bytes) = encode(&honours) {
                let _ = self.put(Namespace::Manifest, &key, &bytes);
            }
            honours
        });
        self.epoch_answers.remember(tool, honours);
        honours
    }

    pub(super) fn add_manifest_entry(
        &self,
        keyed: &KeyedStep,
        entry: ManifestEntry,
    ) -> Result<(), Option<&'static str>> {
        let mut manifest = self
            .get_record::<Manifest>(Namespace::Manifest, &keyed.key)
            .ok()
            .flatten()
            .unwrap_or_default();
        manifest.entries.retain(|e| e.result != entry.result);
        manifest.entries.insert(0, entry);
        manifest.entries.truncate(MAX_MANIFEST_ENTRIES);
        let bytes = encode(&manifest).ok_or(Some("unencodable"))?;
        self.put(Namespace::Manifest, &keyed.key, &bytes)
    }

    pub(super) fn put(
        &self,
        namespace: Namespace,
        key: &Digest,
        bytes: &[u8],
    ) -> Result<(), Option<&'static str>> {
        self.store
            .put_record(namespace, key, bytes)
            .map_err(|err| match err {
                StoreError::RecordTooLarge { .. } => Some("record_too_large"),
                err => {
                    self.write_failed(&err);
                    None
                }
            })
    }

    fn write_failed(&self, err: &StoreError) {
        self.read_only
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.warn("write", err);
    }
}
