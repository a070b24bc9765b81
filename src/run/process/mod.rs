//! Running step commands the way ninja does on POSIX.
//!
//! Every command runs as `/bin/sh -c CMD`. Ordinary steps get stdin from
//! `/dev/null` and one pipe shared by stdout and stderr, so the captured
//! output interleaves exactly as the user would have seen it; each runs in its
//! own process group so a terminal Ctrl-C reaches only us and we decide how
//! to stop the children. Console-pool steps inherit our stdin/stdout/stderr
//! and stay in our process group: they own the terminal while they run.
//!
//! Each child gets a thread that drains its pipe to EOF, reaps it, and sends
//! one [`Event::Finished`] over the pool's channel. The same channel carries
//! [`Event::Interrupted`] (from the Ctrl-C handler) and [`Event::Token`]
//! (jobserver tokens, see [`crate::run::jobs::TokenPump`]), so the scheduler
//! blocks in exactly one place: [`ProcessPool::wait_any`].

use std::collections::HashMap;
use std::io;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::run::jobs::JobLimit;

mod exit;
mod interrupt;
mod launch;

pub use exit::{EXIT_INTERRUPTED, EXIT_STEP_FAILED, ExitStatus, shell_exit_code};
pub use interrupt::{install_interrupt_handler, interrupted, register_waker};
use launch::{Readers, launch, launch_separate, lock_groups};

/// One step's process has ended and its output pipe is drained.
#[derive(Debug)]
pub struct Finished {
    /// The caller's identifier for the step, as passed to [`ProcessPool::spawn`].
    pub token: usize,
    pub status: ExitStatus,
    /// stdout and stderr, interleaved; empty for console-pool steps.
    pub output: Vec<u8>,
    pub duration: Duration,
    /// The step's outputs came from the cache; its command did not run.
    pub restored: bool,
    /// Why a job chose what it did (a cache miss's reason), for `-d explain`.
    pub note: Option<String>,
}

/// Work for a reader thread that may run one command (see
/// [`ProcessPool::spawn_job`]).
pub type Job = Box<dyn FnOnce(&mut ShellRunner) -> JobResult + Send>;

/// What a job started with [`ProcessPool::spawn_job`] reports back.
#[derive(Debug)]
pub struct JobResult {
    pub status: ExitStatus,
    pub output: Vec<u8>,
    pub restored: bool,
    pub note: Option<String>,
}

/// A command's result with stdout and stderr kept apart.
#[derive(Debug)]
pub struct SeparateOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs shell commands for a job on its reader thread, registered for
/// interruption like [`ProcessPool::spawn`]'s children.
pub struct ShellRunner {
    token: usize,
    groups: Groups,
    command: Option<Command>,
}

impl ShellRunner {
    /// Runs `cmdline` with `/bin/sh -c`, stdin from `/dev/null`, and
    /// returns stdout and stderr separately. A job may run one command.
    pub fn run(&mut self, cmdline: &str) -> SeparateOutput {
        let Some(mut command) = self.command.take() else {
            return SeparateOutput {
                status: ExitStatus::SpawnFailed("a job may run only one command".into()),
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
        };
        command.arg("-c").arg(cmdline);
        match launch_separate(&mut command, self.token, &self.groups) {
            Ok(child) => {
                drop(command);
                child.collect(self.token, &self.groups)
            }
            Err(err) => SeparateOutput {
                status: ExitStatus::SpawnFailed(err.to_string()),
                stdout: Vec::new(),
                stderr: Vec::new(),
            },
        }
    }
}

/// Something the scheduler must react to.
#[derive(Debug)]
pub enum Event {
    Finished(Finished),
    /// Ctrl-C, SIGTERM or SIGHUP arrived; [`interrupted`] is now true.
    Interrupted,
    /// A jobserver token requested through [`crate::run::jobs::TokenPump`].
    /// Dropping the `Acquired` gives the token back.
    Token(io::Result<jobserver::Acquired>),
}

/// How long [`ProcessPool::interrupt_all`] lets children clean up after
/// SIGINT before it kills them; compilers exit at once, but a step that
/// ignores SIGINT must not keep the build hanging forever.
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);

/// Process-group leaders of running non-console children, keyed by token.
///
/// A reader thread removes its entry *before* reaping the child, and signals
/// are sent while holding the same lock, so we never signal a pid that has
/// been reaped and possibly reused.
type Groups = Arc<Mutex<HashMap<usize, libc::pid_t>>>;

pub struct ProcessPool {
    /// Threads that drain a child's output and reap it, reused across
    /// steps: creating a thread per step cost a measurable share of a large
    /// build's system time.
    readers: Readers,
    sender: Sender<Event>,
    receiver: Receiver<Event>,
    running: usize,
    groups: Groups,
}

impl Default for ProcessPool {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessPool {
    /// Creates an empty pool and makes sure the interrupt handler is installed
    /// so Ctrl-C wakes [`ProcessPool::wait_any`].
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::channel();
        register_waker(sender.clone());
        ProcessPool {
            sender,
            receiver,
            readers: Readers::default(),
            running: 0,
            groups: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A handle for other producers of [`Event`]s (the jobserver token pump).
    pub fn event_sender(&self) -> Sender<Event> {
        self.sender.clone()
    }

    /// Number of spawned steps whose [`Event::Finished`] has not been returned
    /// by [`ProcessPool::wait_any`] yet.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Starts `cmdline` for the step identified by `token`.
    ///
    /// Never fails synchronously: every call produces exactly one
    /// [`Event::Finished`], with [`ExitStatus::SpawnFailed`] if the process
    /// could not be started, so the scheduler has a single completion path.
    /// Completes `token` as a failed start without running anything, e.g.
    /// when its rspfile could not be written, so the scheduler keeps one
    /// completion path.
    pub fn fail_without_running(&mut self, token: usize, message: String) {
        self.running += 1;
        let _ = self.sender.send(Event::Finished(Finished {
            token,
            status: ExitStatus::SpawnFailed(message),
            output: Vec::new(),
            duration: Duration::ZERO,
            restored: false,
            note: None,
        }));
    }

    pub fn spawn(&mut self, token: usize, cmdline: &str, console: bool, jobs: Option<&JobLimit>) {
        // Installed with the first step rather than with the pool: a build
        // with nothing to run should not pay for the handler's thread.
        if let Err(err) = install_interrupt_handler() {
            tracing::warn!("cannot install Ctrl-C handler: {err}");
        }
        self.running += 1;
        let started = Instant::now();
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(cmdline);
        if let Some(jobs) = jobs {
            jobs.configure_child(&mut command);
        }
        let launched = launch(&mut command, console, token, &self.groups);
        // Dropping `command` closes our copies of the pipe's write end; the
        // reader would otherwise never see EOF.
        drop(command);
        let events = self.sender.clone();
        let groups = Arc::clone(&self.groups);
        let collect = move || {
            let (status, output) = match launched {
                Ok(launched) => launched.collect(token, &groups),
                Err(err) => (ExitStatus::SpawnFailed(err.to_string()), Vec::new()),
            };
            let finished = Finished {
                token,
                status,
                output,
                duration: started.elapsed(),
                restored: false,
                note: None,
            };
            // The receiver only disappears when the pool is dropped, and
            // then nobody is interested in the result.
            let _ = events.send(Event::Finished(finished));
        };
        self.readers.run(Box::new(collect));
    }

    /// Runs `job` on a reader thread; it may run one shell command through
    /// the [`ShellRunner`] it is given (or none, when it can produce the
    /// step's outputs otherwise). Like [`ProcessPool::spawn`], every call
    /// produces exactly one [`Event::Finished`].
    pub fn spawn_job(&mut self, token: usize, jobs: Option<&JobLimit>, job: Job) {
        if let Err(err) = install_interrupt_handler() {
            tracing::warn!("cannot install Ctrl-C handler: {err}");
        }
        self.running += 1;
        let started = Instant::now();
        let mut command = Command::new("/bin/sh");
        if let Some(jobs) = jobs {
            jobs.configure_child(&mut command);
        }
        let mut runner = ShellRunner {
            token,
            groups: Arc::clone(&self.groups),
            command: Some(command),
        };
        let events = self.sender.clone();
        let work = move || {
            let result = job(&mut runner);
            let finished = Finished {
                token,
                status: result.status,
                output: result.output,
                duration: started.elapsed(),
                restored: result.restored,
                note: result.note,
            };
            let _ = events.send(Event::Finished(finished));
        };
        self.readers.run(Box::new(work));
    }

    /// Blocks until something happens. Returns `None` only when no step is
    /// running and no event is queued, i.e. waiting could never end.
    pub fn wait_any(&mut self) -> Option<Event> {
        let event = match self.receiver.try_recv() {
            Ok(event) => event,
            Err(_) if self.running == 0 => return None,
            // We hold a sender ourselves, so the channel cannot disconnect.
            Err(_) => self.receiver.recv().ok()?,
        };
        if matches!(event, Event::Finished(_)) {
            self.running -= 1;
        }
        Some(event)
    }

    /// Stops every running step: SIGINT to each child's process group (what
    /// the terminal would have sent them had they not been in their own
    /// groups), SIGKILL to those still alive after a grace period, then reaps
    /// them all. Returns their results so the scheduler can clean up their
    /// outputs. Console-pool steps already got the terminal's SIGINT and are
    /// only waited for. Token events that arrive meanwhile are dropped, which
    /// returns the tokens.
    pub fn interrupt_all(&mut self) -> Vec<Finished> {
        self.signal_groups(libc::SIGINT);
        let deadline = Instant::now() + INTERRUPT_GRACE;
        let mut finished = Vec::new();
        let mut killed = false;
        while self.running > 0 {
            let timeout = deadline.saturating_duration_since(Instant::now());
            let event = if killed {
                self.receiver
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.receiver.recv_timeout(timeout)
            };
            match event {
                Ok(Event::Finished(done)) => {
                    self.running -= 1;
                    finished.push(done);
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.signal_groups(libc::SIGKILL);
                    killed = true;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        finished
    }

    fn signal_groups(&self, signal: libc::c_int) {
        let groups = lock_groups(&self.groups);
        for &pgid in groups.values() {
            // SAFETY: kill() has no memory-safety preconditions; the group
            // leader is unreaped (see `Groups`), so the id is still ours.
            unsafe {
                libc::kill(-pgid, signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn run_one(cmdline: &str) -> Finished {
        let mut pool = ProcessPool::new();
        pool.spawn(7, cmdline, false, None);
        match pool.wait_any() {
            Some(Event::Finished(done)) => done,
            other => panic!("unexpected event {other:?}"),
        }
    }

    #[test]
    fn captures_stdout_and_stderr_interleaved() {
        let done = run_one("echo one; echo two >&2; echo three");
        assert_eq!(done.token, 7);
        assert_eq!(done.status, ExitStatus::Exited(0));
        assert_eq!(done.output, b"one\ntwo\nthree\n");
    }

    #[test]
    fn reports_exit_code_and_signal() {
        assert_eq!(run_one("exit 3").status, ExitStatus::Exited(3));
        let killed = run_one("kill -KILL $$").status;
        assert_eq!(killed, ExitStatus::Signaled(libc::SIGKILL));
        assert!(!killed.is_interruption());
        assert_eq!(killed.code(), 128 + libc::SIGKILL);
        let terminated = run_one("kill -TERM $$").status;
        assert!(terminated.is_interruption());
        let exited_130 = run_one("exit 130").status;
        assert!(exited_130.is_interruption());
    }

    #[test]
    fn stdin_is_dev_null() {
        let done = run_one("cat; echo done");
        assert_eq!(done.output, b"done\n");
    }

    #[test]
    fn child_runs_in_its_own_process_group() {
        let done = run_one("ps -o pgid= -p $$; echo $$");
        let text = String::from_utf8_lossy(&done.output);
        let mut lines = text.split_whitespace();
        assert_eq!(lines.next(), lines.next(), "pgid equals the shell's pid");
    }

    #[test]
    fn wait_any_returns_none_when_idle() {
        let mut pool = ProcessPool::new();
        assert!(pool.wait_any().is_none());
    }

    #[test]
    fn runs_several_in_parallel() {
        let mut pool = ProcessPool::new();
        let started = Instant::now();
        for token in 0..4 {
            pool.spawn(token, "sleep 0.3", false, None);
        }
        assert_eq!(pool.running(), 4);
        let mut tokens = Vec::new();
        while let Some(event) = pool.wait_any() {
            if let Event::Finished(done) = event {
                tokens.push(done.token);
            }
        }
        tokens.sort();
        assert_eq!(tokens, vec![0, 1, 2, 3]);
        assert!(started.elapsed() < Duration::from_millis(1200));
    }

    #[test]
    fn interrupt_all_stops_children_and_their_descendants() {
        let mut pool = ProcessPool::new();
        // The inner sleep is a grandchild: only a process-group signal reaches it
        // (otherwise the pipe stays open and the reader would wait 30s).
        pool.spawn(1, "sleep 30; echo never", false, None);
        pool.spawn(2, "sh -c 'sleep 30'", false, None);
        thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let finished = pool.interrupt_all();
        assert_eq!(finished.len(), 2);
        assert!(finished.iter().all(|done| done.status.is_interruption()));
        assert!(started.elapsed() < INTERRUPT_GRACE);
        assert_eq!(pool.running(), 0);
    }

    #[test]
    fn interrupt_all_kills_children_ignoring_sigint() {
        let mut pool = ProcessPool::new();
        pool.spawn(1, "trap '' INT; sleep 30", false, None);
        thread::sleep(Duration::from_millis(200));
        let finished = pool.interrupt_all();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].status, ExitStatus::Signaled(libc::SIGKILL));
    }

    #[test]
    fn job_runs_a_command_with_separate_streams() {
        let mut pool = ProcessPool::new();
        pool.spawn_job(
            3,
            None,
            Box::new(|runner| {
                let ran =
                    runner.run("echo out; echo err >&2; head -c 200000 /dev/zero >&2; exit 4");
                let mut output = ran.stdout.clone();
                output.extend_from_slice(&ran.stderr[..4]);
                output.extend_from_slice(format!("{}", ran.stderr.len()).as_bytes());
                JobResult {
                    status: ran.status,
                    output,
                    restored: false,
                    note: Some("ran".into()),
                }
            }),
        );
        match pool.wait_any() {
            Some(Event::Finished(done)) => {
                assert_eq!(done.token, 3);
                assert_eq!(done.status, ExitStatus::Exited(4));
                assert_eq!(done.output, b"out\nerr\n200004");
                assert_eq!(done.note.as_deref(), Some("ran"));
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    #[test]
    fn large_output_does_not_deadlock() {
        let done = run_one("head -c 1000000 /dev/zero");
        assert_eq!(done.output.len(), 1_000_000);
    }
}
