//! `zccache watch`: build, then stay up and rebuild whenever a source the
//! build reads changes.
//!
//! The graph, the build state and the hash cache stay in memory between
//! rounds. A watcher on the directories of the graph's source inputs
//! ([`sources`]) reports changes; after a burst of them ([`debounce`]) the
//! changed files are forgotten by the hash cache, so they are hashed again,
//! and a round runs the same sequence as `zccache build`: bring the manifest
//! up to date (CMake's re-run, reloading the graph when it changed), then
//! build the targets and save the state. Unchanged files keep their
//! remembered hashes, so a round costs one stat per file of the graph plus
//! the work the change causes.
//!
//! Ctrl-C, SIGTERM or SIGHUP while waiting ends watch with exit status 0;
//! during a round it interrupts the round like a build (state saved, exit
//! status 2, as `zccache build` and ninja).

mod debounce;
mod notifier;
mod sources;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use crate::build_args::{BuildArgs, DebugFlags};
use crate::graph::FileId;
use crate::run::process::{self, EXIT_INTERRUPTED};
use crate::run::status::{StatusOptions, StatusPrinter};
use crate::session::{ManifestUpdate, Session};

use debounce::Debounce;
use notifier::{Message, Notifier};
use sources::{WatchSet, Watched};

/// The `zccache watch` command line, as parsed by clap in main.rs.
#[derive(Debug, Clone, Default)]
pub struct WatchArgs {
    pub dir: Option<PathBuf>,
    pub file: PathBuf,
    pub jobs: Option<usize>,
    pub verbose: bool,
    pub quiet: bool,
    pub targets: Vec<String>,
}

/// Runs watch until interrupted; returns the process exit code.
pub fn main(args: WatchArgs) -> i32 {
    if let Some(dir) = &args.dir {
        println!("zccache: Entering directory `{}'", dir.display());
        if let Err(err) = std::env::set_current_dir(dir) {
            eprintln!("zccache: fatal: chdir to '{}' - {err}", dir.display());
            return 1;
        }
    }
    let mut options = StatusOptions::new("zccache", args.verbose, args.quiet);
    if let Some(jobs) = args.jobs.filter(|&j| j > 0) {
        options.parallelism = jobs;
    }
    let mut status = match StatusPrinter::new(options) {
        Ok(status) => status,
        Err(err) => {
            eprintln!("zccache: fatal: {err}");
            return 1;
        }
    };
    match run(&args, &mut status) {
        Ok(code) => code,
        Err(err) => {
            status.error(&format!("{err:#}"));
            1
        }
    }
}

fn run(args: &WatchArgs, status: &mut StatusPrinter) -> anyhow::Result<i32> {
    let build_args = BuildArgs {
        file: args.file.clone(),
        jobs: args.jobs,
        keep_going: 1,
        verbose: args.verbose,
        quiet: args.quiet,
        targets: args.targets.clone(),
        ..BuildArgs::default()
    };
    // Opened before any thread starts: it exports the jobserver.
    let mut session = Session::open(&build_args, DebugFlags::default(), status)?;
    if let Err(err) = process::install_interrupt_handler() {
        status.warning(&format!("cannot handle Ctrl-C: {err}"));
    }
    let base = std::env::current_dir()?;
    let (sender, messages) = mpsc::channel();
    forward_interrupts(sender.clone());

    let manifest = args.file.to_string_lossy().to_string();
    let mut notifier = Notifier::new(sender, &mut |text| status.warning(text))?;
    let mut watched = WatchSet::of_graph(base.clone(), &session.graph, &manifest);
    let mut generation = session.generation;
    let dirs: Vec<PathBuf> = watched.dirs().map(PathBuf::from).collect();
    notifier.watch_dirs(&dirs, &mut |text| status.warning(text))?;

    let mut trigger = String::from("start");
    loop {
        if let RoundEnd::Exit(code) = round(&mut session, args, status, &trigger) {
            return Ok(code);
        }
        // Keep the watches in step with the graph: all new after a
        // reload, else only the directories of newly found headers.
        let new_dirs = if session.generation != generation {
            generation = session.generation;
            notifier.unwatch_all();
            watched = WatchSet::of_graph(base.clone(), &session.graph, &manifest);
            watched.dirs().map(PathBuf::from).collect()
        } else {
            watched.extend_from(&session.graph)
        };
        notifier.watch_dirs(&new_dirs, &mut |text| status.warning(text))?;
        say(&format!(
            "[watch] waiting for changes ({} files{})...",
            watched.file_count(),
            if notifier.is_polling() {
                ", polling"
            } else {
                ""
            }
        ));
        match wait_for_changes(&messages, &watched, &mut session, status) {
            Some(next) => trigger = next,
            None => {
                session.memory.save(&session.graph)?;
                say("[watch] stopped");
                return Ok(0);
            }
        }
    }
}

/// Makes Ctrl-C wake the watch loop while it waits for file events.
fn forward_interrupts(sender: mpsc::Sender<Message>) {
    let (waker, interrupts) = mpsc::channel();
    process::register_waker(waker);
    std::thread::spawn(move || {
        for event in interrupts {
            if matches!(event, process::Event::Interrupted)
                && sender.send(Message::Interrupted).is_err()
            {
                return;
            }
        }
    });
}

/// Blocks until watched files changed and the burst is over; then makes
/// the session see them and returns what changed, for the summary line.
/// `None` when interrupted.
fn wait_for_changes(
    messages: &mpsc::Receiver<Message>,
    watched: &WatchSet,
    session: &mut Session,
    status: &mut StatusPrinter,
) -> Option<String> {
    let mut debounce = Debounce::default();
    let mut changed: BTreeSet<FileId> = BTreeSet::new();
    let mut manifest_changed = false;
    let mut lost_events = false;
    let mut warned = false;
    // Changed files not yet closed or renamed into place.
    let mut unsettled: BTreeSet<PathBuf> = BTreeSet::new();
    loop {
        if process::interrupted() {
            return None;
        }
        let message = match debounce.deadline() {
            None => messages.recv().ok()?,
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                match messages.recv_timeout(wait) {
                    Ok(message) => message,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if !debounce.fire(Instant::now()) {
                            continue;
                        }
                        if let Some(trigger) =
                            apply_changes(session, &changed, manifest_changed, lost_events, status)
                        {
                            return Some(trigger);
                        }
                        // Only files the last round already saw (its own
                        // writes, a save of identical content by identity).
                        changed.clear();
                        unsettled.clear();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            }
        };
        match message {
            Message::Interrupted => return None,
            Message::Fs(Ok(event)) => {
                let Some(settles) = settles(&event.kind) else {
                    continue;
                };
                let mut relevant = event.need_rescan();
                lost_events |= event.need_rescan();
                for path in &event.paths {
                    let file = match watched.lookup(path) {
                        Some(Watched::Input(file)) => Some(file),
                        Some(Watched::Manifest) => None,
                        None => continue,
                    };
                    relevant = true;
                    match file {
                        Some(file) => {
                            changed.insert(file);
                        }
                        None => manifest_changed = true,
                    }
                    if settles {
                        unsettled.remove(path);
                    } else {
                        unsettled.insert(path.clone());
                    }
                }
                if relevant {
                    let quiet = if unsettled.is_empty() {
                        debounce::SETTLED_QUIET
                    } else {
                        debounce::QUIET
                    };
                    debounce.note(Instant::now(), quiet);
                }
            }
            Message::Fs(Err(err)) => {
                // Events may have been lost: a round re-stats every file
                // of the graph anyway, so it finds what changed.
                if !warned {
                    status.warning(&format!("file watcher: {err}"));
                    warned = true;
                }
                lost_events = true;
                debounce.note(Instant::now(), debounce::QUIET);
            }
        }
    }
}

/// Whether an event leaves the file complete (closed after writing,
/// renamed into place, touched, removed) rather than possibly half
/// written; `None` for events that change nothing (opening, reading).
fn settles(kind: &notify::EventKind) -> Option<bool> {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(true),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
        | EventKind::Modify(ModifyKind::Metadata(_))
        | EventKind::Remove(_) => Some(true),
        _ => Some(false),
    }
}

/// Makes the session see the changed files: forgets their hashes (so they
/// are hashed again whatever their stat says) and reloads a changed
/// manifest. Returns the summary's trigger text, or `None` when nothing
/// really changed since the last round looked.
fn apply_changes(
    session: &mut Session,
    changed: &BTreeSet<FileId>,
    manifest_changed: bool,
    lost_events: bool,
    status: &mut StatusPrinter,
) -> Option<String> {
    let hashes = &mut session.memory.state.hashes;
    let mut really_changed: Vec<FileId> = Vec::new();
    for &file in changed {
        let path = session.graph.path(file);
        let known = match crate::hash::stat(path) {
            Ok(Some(stat)) => hashes.lookup(file, &stat).is_some(),
            _ => false,
        };
        if !known {
            hashes.forget(file);
            really_changed.push(file);
        }
    }
    if manifest_changed && let Err(err) = session.reload(status) {
        // The round's manifest check reports it again if it persists.
        status.error(&format!("{err:#}"));
    }
    let trigger = match really_changed.as_slice() {
        [] if manifest_changed => "manifest changed".to_string(),
        [] if lost_events => "events lost, checking everything".to_string(),
        [] => return None,
        [one] => format!("{} changed", session.graph.path(*one)),
        [first, rest @ ..] => format!(
            "{} and {} more changed",
            session.graph.path(*first),
            rest.len()
        ),
    };
    Some(trigger)
}

enum RoundEnd {
    Continue,
    Exit(i32),
}

/// A round that could not build: the error, its summary line, and watch
/// waits for the next change.
fn failed(
    status: &mut StatusPrinter,
    err: &anyhow::Error,
    start: Instant,
    trigger: &str,
) -> RoundEnd {
    status.error(&format!("{err:#}"));
    say(&format!(
        "[watch] FAILED, {:.2} s ({trigger})",
        seconds(start)
    ));
    RoundEnd::Continue
}

fn seconds(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// One build: the manifest, then the targets; prints the summary line.
fn round(
    session: &mut Session,
    args: &WatchArgs,
    status: &mut StatusPrinter,
    trigger: &str,
) -> RoundEnd {
    let start = Instant::now();
    match session.update_manifest(status) {
        Ok(ManifestUpdate::Current { .. }) => {}
        Ok(ManifestUpdate::Stopped(_)) => {
            // A build exits 1 when its manifest's rebuild was interrupted,
            // as ninja does; watch ends as it does on Ctrl-C elsewhere.
            if process::interrupted() {
                return RoundEnd::Exit(EXIT_INTERRUPTED);
            }
            say(&format!(
                "[watch] FAILED: regenerating {}, {:.2} s ({trigger})",
                args.file.display(),
                seconds(start)
            ));
            return RoundEnd::Continue;
        }
        Err(err) => return failed(status, &err, start, trigger),
    }
    let outcome = session
        .resolve_targets(&args.targets)
        .and_then(|targets| session.build_targets(&targets, status));
    let outcome = match outcome {
        Ok((outcome, _)) => outcome,
        // A missing source, a cycle after an edit: the next save may fix it.
        Err(err) => return failed(status, &err, start, trigger),
    };
    if outcome.interrupted {
        status.info("build stopped: interrupted by user.");
        return RoundEnd::Exit(EXIT_INTERRUPTED);
    }
    if let Some(&step) = outcome.failed_steps.first() {
        let what = session.graph.steps[step.index()]
            .outs
            .first()
            .map(|&out| session.graph.path(out).to_string())
            .unwrap_or_default();
        say(&format!(
            "[watch] FAILED: {what}, {:.2} s ({trigger})",
            seconds(start)
        ));
        return RoundEnd::Continue;
    }
    if outcome.ran == 0 {
        say(&format!(
            "[watch] no work to do, {:.2} s ({trigger})",
            seconds(start)
        ));
    } else {
        say(&format!(
            "[watch] {} run, {} from cache, {:.2} s ({trigger})",
            outcome.ran.saturating_sub(outcome.restored),
            outcome.restored,
            seconds(start)
        ));
    }
    RoundEnd::Continue
}

/// Prints a line of watch's own at once: the output usually goes to a
/// terminal or a log someone is tailing.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::settles;
    use notify::EventKind;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode,
    };

    #[test]
    fn closes_and_renames_settle_writes_do_not_reads_do_not_count() {
        let close_write = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert_eq!(settles(&close_write), Some(true));
        let renamed_in = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(settles(&renamed_in), Some(true));
        assert_eq!(settles(&EventKind::Remove(RemoveKind::File)), Some(true));
        let written = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(settles(&written), Some(false));
        assert_eq!(settles(&EventKind::Create(CreateKind::File)), Some(false));
        let renamed_away = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        assert_eq!(settles(&renamed_away), Some(false));
        assert_eq!(
            settles(&EventKind::Access(AccessKind::Open(AccessMode::Read))),
            None
        );
    }
}
