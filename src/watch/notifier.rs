//! The file system watcher behind `zccache watch`: the platform's native one
//! (inotify on Linux), or, where that cannot watch everything (inotify's
//! per-user limit reached, a file system without notifications), polling.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use notify::{PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};

/// How often the polling fallback looks at the watched directories.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Setting this variable (to anything but `0` or empty) makes watch poll
/// from the start, for file systems whose notifications are unreliable
/// (network file systems, some container mounts).
pub const FORCE_POLL_VARIABLE: &str = "ZCCACHE_WATCH_POLL";

/// Something the watch loop must react to.
#[derive(Debug)]
pub enum Message {
    Fs(notify::Result<notify::Event>),
    /// Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
}

enum Backend {
    Native(RecommendedWatcher),
    Poll(PollWatcher),
}

/// Watches directories (non-recursively), sending what happens in them.
pub struct Notifier {
    backend: Backend,
    sender: Sender<Message>,
    watched: Vec<PathBuf>,
}

impl Notifier {
    /// A native watcher unless [`FORCE_POLL_VARIABLE`] asks for polling or
    /// none can be created; the fallback is reported through `warn`.
    pub fn new(sender: Sender<Message>, warn: &mut dyn FnMut(&str)) -> anyhow::Result<Notifier> {
        let force_poll = std::env::var_os(FORCE_POLL_VARIABLE)
            .is_some_and(|value| !value.is_empty() && value != "0");
        let backend = if force_poll {
            Backend::Poll(poll_watcher(&sender)?)
        } else {
            let handler = sender.clone();
            match notify::recommended_watcher(move |event| {
                let _ = handler.send(Message::Fs(event));
            }) {
                Ok(watcher) => Backend::Native(watcher),
                Err(err) => {
                    warn(&format!(
                        "cannot watch files for changes ({err}); polling every {} ms instead",
                        POLL_INTERVAL.as_millis()
                    ));
                    Backend::Poll(poll_watcher(&sender)?)
                }
            }
        };
        Ok(Notifier {
            backend,
            sender,
            watched: Vec::new(),
        })
    }

    pub fn is_polling(&self) -> bool {
        matches!(self.backend, Backend::Poll(_))
    }

    /// Starts watching `dirs`. A directory that does not exist is skipped
    /// (an input that is missing now is reported by the build). Any other
    /// failure of the native watcher switches everything to polling,
    /// reported once through `warn`.
    pub fn watch_dirs(
        &mut self,
        dirs: &[PathBuf],
        warn: &mut dyn FnMut(&str),
    ) -> anyhow::Result<()> {
        for dir in dirs {
            match self.add(dir) {
                Ok(()) => self.watched.push(dir.clone()),
                Err(err) if is_missing(&err) => {}
                Err(err) => {
                    if self.is_polling() {
                        // Polling a directory cannot fail but for it
                        // missing; nothing better to fall back to.
                        warn(&format!("cannot watch {}: {err}", dir.display()));
                        continue;
                    }
                    warn(&format!(
                        "cannot watch {} ({err}); polling every {} ms instead",
                        dir.display(),
                        POLL_INTERVAL.as_millis()
                    ));
                    self.switch_to_polling()?;
                    if self.add(dir).is_ok() {
                        self.watched.push(dir.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Stops watching everything (the graph was reloaded).
    pub fn unwatch_all(&mut self) {
        for dir in std::mem::take(&mut self.watched) {
            let _ = match &mut self.backend {
                Backend::Native(watcher) => watcher.unwatch(&dir),
                Backend::Poll(watcher) => watcher.unwatch(&dir),
            };
        }
    }

    fn add(&mut self, dir: &Path) -> notify::Result<()> {
        match &mut self.backend {
            Backend::Native(watcher) => watcher.watch(dir, RecursiveMode::NonRecursive),
            Backend::Poll(watcher) => watcher.watch(dir, RecursiveMode::NonRecursive),
        }
    }

    fn switch_to_polling(&mut self) -> anyhow::Result<()> {
        self.backend = Backend::Poll(poll_watcher(&self.sender)?);
        let watched = std::mem::take(&mut self.watched);
        for dir in watched {
            if self.add(&dir).is_ok() {
                self.watched.push(dir);
            }
        }
        Ok(())
    }
}

fn poll_watcher(sender: &Sender<Message>) -> anyhow::Result<PollWatcher> {
    let handler = sender.clone();
    PollWatcher::new(
        move |event| {
            let _ = handler.send(Message::Fs(event));
        },
        notify::Config::default().with_poll_interval(POLL_INTERVAL),
    )
    .map_err(|err| anyhow::anyhow!("cannot poll files for changes: {err}"))
}

fn is_missing(err: &notify::Error) -> bool {
    match &err.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}
