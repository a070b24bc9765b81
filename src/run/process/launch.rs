//! Starting one child in its own process group and collecting its output
//! on a reader thread; the groups let an interruption reach every child.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use super::*;

type ReaderJob = Box<dyn FnOnce() + Send>;

/// A pool of reader threads that grows to the number of steps running at
/// once; idle threads wait for the next job on their own channel.
#[derive(Default)]
pub(super) struct Readers {
    idle: Arc<Mutex<Vec<mpsc::Sender<ReaderJob>>>>,
}

impl Readers {
    pub(super) fn run(&self, job: ReaderJob) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let job = match idle {
            Some(worker) => match worker.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, receiver) = mpsc::channel::<ReaderJob>();
        let idle = Arc::clone(&self.idle);
        let own_sender = sender.clone();
        let spawned = thread::Builder::new()
            .name("step-reader".into())
            // Cached steps hash, compress and probe compilers on this
            // thread; untouched stack pages cost nothing.
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                while let Ok(job) = receiver.recv() {
                    job();
                    idle.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(own_sender.clone());
                }
            });
        match spawned {
            Ok(_) => {
                if let Err(mpsc::SendError(job)) = sender.send(job) {
                    job();
                }
            }
            // No thread to hand the child to: collect it here rather than
            // leave it unreaped (this blocks until the step ends).
            Err(_) => job(),
        }
    }
}

/// A started child and, unless it is a console step, its output pipe.
pub(super) struct Launched {
    child: Child,
    output: Option<io::PipeReader>,
}

impl Launched {
    pub(super) fn collect(mut self, token: usize, groups: &Groups) -> (ExitStatus, Vec<u8>) {
        let mut output = Vec::new();
        let mut read_error = None;
        if let Some(mut pipe) = self.output.take() {
            // Reading to EOF before waiting matters: a child blocked on a
            // full pipe would otherwise never exit.
            if let Err(err) = pipe.read_to_end(&mut output) {
                read_error = Some(err);
            }
        }
        let status = reap(&mut self.child, token, groups);
        if let Some(err) = read_error {
            output.extend_from_slice(format!("\nzccache: reading output: {err}\n").as_bytes());
        }
        (status, output)
    }
}

pub(super) fn launch(
    command: &mut Command,
    console: bool,
    token: usize,
    groups: &Groups,
) -> io::Result<Launched> {
    if console {
        command
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        let child = command.spawn()?;
        return Ok(Launched {
            child,
            output: None,
        });
    }
    // std's pipes are close-on-exec, so children started in parallel never
    // inherit each other's write ends (which would delay EOF).
    let (reader, writer) = io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let child = spawn_in_group(command, token, groups)?;
    Ok(Launched {
        child,
        output: Some(reader),
    })
}

/// A started child whose stdout and stderr are separate pipes.
pub(super) struct LaunchedSeparate {
    child: Child,
    stdout: io::PipeReader,
    stderr: io::PipeReader,
}

impl LaunchedSeparate {
    pub(super) fn collect(mut self, token: usize, groups: &Groups) -> SeparateOutput {
        let drained = drain_both(&mut self.stdout, &mut self.stderr);
        let status = reap(&mut self.child, token, groups);
        let (stdout, stderr) = match drained {
            Ok(both) => both,
            Err(err) => (
                Vec::new(),
                format!("zccache: reading output: {err}\n").into_bytes(),
            ),
        };
        SeparateOutput {
            status,
            stdout,
            stderr,
        }
    }
}

pub(super) fn launch_separate(
    command: &mut Command,
    token: usize,
    groups: &Groups,
) -> io::Result<LaunchedSeparate> {
    let (stdout, stdout_writer) = io::pipe()?;
    let (stderr, stderr_writer) = io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(stdout_writer)
        .stderr(stderr_writer)
        .process_group(0);
    let child = spawn_in_group(command, token, groups)?;
    Ok(LaunchedSeparate {
        child,
        stdout,
        stderr,
    })
}

/// Reads two pipes to EOF without letting either fill up and block the
/// child: poll(2) on both, reading whichever has data.
fn drain_both(
    stdout: &mut io::PipeReader,
    stderr: &mut io::PipeReader,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    use std::os::fd::AsRawFd;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut open = [true, true];
    let mut buf = [0u8; 16 * 1024];
    while open[0] || open[1] {
        let mut fds = [
            libc::pollfd {
                fd: if open[0] { stdout.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if open[1] { stderr.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the duration of
        // the call; negative fds are ignored by poll.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for (index, fd) in fds.iter().enumerate() {
            if !open[index] || fd.revents == 0 {
                continue;
            }
            let (pipe, sink): (&mut io::PipeReader, &mut Vec<u8>) = if index == 0 {
                (&mut *stdout, &mut out)
            } else {
                (&mut *stderr, &mut err)
            };
            match pipe.read(&mut buf) {
                Ok(0) => open[index] = false,
                Ok(n) => sink.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok((out, err))
}

/// Starts a child in its own process group, registered under the lock so
/// interrupt_all cannot miss a child that is being started right now.
fn spawn_in_group(command: &mut Command, token: usize, groups: &Groups) -> io::Result<Child> {
    let mut groups = lock_groups(groups);
    let child = command.spawn()?;
    // Process ids always fit in pid_t; the u32 is only std's representation.
    groups.insert(token, child.id() as libc::pid_t);
    Ok(child)
}

/// Waits for a child started by [`spawn_in_group`], leaving the groups
/// first: once reaped, its pid may be reused and must never be signalled.
pub(super) fn reap(child: &mut Child, token: usize, groups: &Groups) -> ExitStatus {
    lock_groups(groups).remove(&token);
    match child.wait() {
        Ok(status) => ExitStatus::from_std(status),
        Err(err) => ExitStatus::SpawnFailed(format!("cannot wait for child: {err}")),
    }
}

pub(super) fn lock_groups(
    groups: &Groups,
) -> std::sync::MutexGuard<'_, HashMap<usize, libc::pid_t>> {
    // A panicking reader thread cannot leave the map inconsistent (each
    // operation is a single insert/remove), so poisoning is harmless.
    groups
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
