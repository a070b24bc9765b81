//! How many steps may run at once: ninja's default `-j`, the load average for
//! `-l`, and the GNU make jobserver that lets `make`/`cargo` steps share our
//! budget (or lets us share the budget of a `make` that runs us).
//!
//! Token protocol for the scheduler when [`JobLimit::uses_tokens`]:
//! * The first running step needs no token: like every jobserver client we
//!   own one implicit token. This is what guarantees progress (no deadlock).
//! * Every further running step holds one [`jobserver::Acquired`], dropped
//!   when the step finishes (dropping returns it).
//! * Tokens are asked for with [`TokenPump::request`] and handed to the
//!   pump's callback, which the scheduler makes an event of its process
//!   pool (`ProcessPool::wait_any`, the one place the scheduler blocks);
//!   nothing ever polls. Request at most one token per
//!   ready step not yet covered by a pending request; a token that arrives
//!   when nothing is ready is simply dropped.

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;

/// ninja's default parallelism: a few more jobs than CPUs so that steps
/// blocked on I/O do not leave CPUs idle (0 or 1 CPU → 2, 2 → 3, n → n + 2).
pub fn default_parallelism() -> usize {
    match available_cpus() {
        0 | 1 => 2,
        2 => 3,
        n => n + 2,
    }
}

/// CPUs this process may actually use: the affinity mask, further limited
/// by a cgroup CPU quota (containers often see all host CPUs but may only
/// use a fraction of them).
pub fn available_cpus() -> usize {
    let affinity = affinity_cpus()
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    match cgroup_cpu_quota() {
        // A quota below one CPU still lets one job run at a time.
        Some(quota) => affinity.min((quota.floor() as usize).max(1)),
        None => affinity,
    }
}

fn affinity_cpus() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        usize::try_from(libc::CPU_COUNT(&set))
            .ok()
            .filter(|&n| n > 0)
    }
}

/// The CPU quota (in CPUs) of our cgroup, if one is set (v2 `cpu.max`, or
/// v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`).
fn cgroup_cpu_quota() -> Option<f64> {
    let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounted = |path: &str| fs::read_to_string(path).ok();
    for line in membership.lines() {
        let Some((controllers, path)) = cgroup_line(line) else {
            continue;
        };
        if controllers.is_empty() {
            // cgroup v2 unified hierarchy.
            if let Some(quota) = mounted(&format!("/sys/fs/cgroup{path}/cpu.max"))
                .and_then(|text| parse_cpu_max(&text))
            {
                return Some(quota);
            }
        } else if controllers.split(',').any(|name| name == "cpu") {
            for root in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
                let quota = mounted(&format!("{root}{path}/cpu.cfs_quota_us"));
                let period = mounted(&format!("{root}{path}/cpu.cfs_period_us"));
                if let (Some(quota), Some(period)) = (quota, period)
                    && let Some(cpus) = parse_cfs_quota(&quota, &period)
                {
                    return Some(cpus);
                }
            }
        }
    }
    None
}

/// Splits a `/proc/self/cgroup` line `ID:CONTROLLERS:PATH`.
fn cgroup_line(line: &str) -> Option<(&str, &str)> {
    let mut fields = line.splitn(3, ':');
    let _id = fields.next()?;
    Some((fields.next()?, fields.next()?))
}

/// `cpu.max` holds `QUOTA PERIOD` or `max PERIOD`.
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut fields = text.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// v1 uses -1 for "no quota".
fn parse_cfs_quota(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.trim().parse().ok()?;
    let period: f64 = period.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// One-minute load average, for `-l`; `None` where the system cannot say.
pub fn load_average() -> Option<f64> {
    let mut loads = [0.0f64; 3];
    // SAFETY: the buffer has room for the one sample requested.
    let got = unsafe { libc::getloadavg(loads.as_mut_ptr(), 1) };
    (got == 1).then_some(loads[0])
}

/// The budget the scheduler works within.
#[derive(Debug)]
pub enum JobLimit {
    /// We count running steps ourselves and share nothing: `-j0` (no limit)
    /// or no jobserver pipe could be created.
    Local,
    /// We serve a jobserver with `parallelism - 1` tokens (the implicit token
    /// is the first step), so `make`/`cargo` steps share the `-j` budget.
    JobserverServer {
        /// The pipe's two ends, kept open for the children to share.
        _pipe: (OwnedFd, OwnedFd),
        /// `MAKEFLAGS` for children: `-j --jobserver-auth=R,W`.
        makeflags: String,
    },
    /// We were started by a `make` (or cargo) jobserver and draw from its
    /// tokens; the parent decides the parallelism.
    JobserverClient(jobserver::Client),
}

impl JobLimit {
    /// Decides the budget from `-j` and the environment.
    ///
    /// Without `-j`, a jobserver advertised in `CARGO_MAKEFLAGS`/`MAKEFLAGS`
    /// (`--jobserver-auth=fifo:PATH` or the older `R,W` descriptor form) is
    /// joined. Otherwise we serve our own jobserver of `-j` (or the default)
    /// tokens. An explicit `-j` wins over an inherited jobserver, as in make.
    ///
    /// Call this at program start, before any file is opened: the `R,W` form
    /// names inherited descriptor numbers, and the jobserver crate can only
    /// trust them (its `from_env` is `unsafe` for this reason) while nothing
    /// else in the process could have reused those numbers.
    pub fn from_env_and_flags(j_flag: Option<usize>) -> JobLimit {
        if j_flag.is_none() {
            // SAFETY: see above; at startup the only descriptors we own are
            // stdio, and `check_pipe` rejects numbers that are not pipes/fifos.
            let inherited = unsafe { jobserver::Client::from_env_ext(true) };
            match inherited.client {
                Ok(client) => return JobLimit::JobserverClient(client),
                Err(err) if inherited.var.is_some() => {
                    if !matches!(err.kind(), jobserver::FromEnvErrorKind::NoJobserver) {
                        // make does the same: warn and fall back to our own budget.
                        tracing::warn!(
                            "jobserver unavailable ({err}); using -j{}",
                            default_parallelism()
                        );
                    }
                }
                Err(_) => {}
            }
        }
        Self::serve(j_flag.unwrap_or_else(default_parallelism))
    }

    /// Puts our jobserver's MAKEFLAGS into this process's environment, so
    /// every step inherits it without a per-command environment.
    ///
    /// # Safety
    /// Changes the process environment: call it before any other thread
    /// exists (at program start), as `std::env::set_var` requires.
    pub unsafe fn export_to_environment(&self) {
        if let JobLimit::JobserverServer { makeflags, .. } = self {
            for name in ["MAKEFLAGS", "MFLAGS", "CARGO_MAKEFLAGS"] {
                // SAFETY: the caller guarantees no other thread runs.
                unsafe { std::env::set_var(name, makeflags) };
            }
        }
    }

    /// Our own budget of `parallelism` concurrent steps (0 = unlimited).
    pub fn serve(parallelism: usize) -> JobLimit {
        if parallelism == 0 {
            return JobLimit::Local;
        }
        match inheritable_jobserver(parallelism - 1) {
            Ok((pipe, makeflags)) => JobLimit::JobserverServer {
                _pipe: pipe,
                makeflags,
            },
            Err(err) => {
                tracing::warn!("cannot create jobserver: {err}");
                JobLimit::Local
            }
        }
    }

    /// Lets a step's process join the jobserver.
    pub fn configure_child(&self, command: &mut Command) {
        match self {
            JobLimit::Local => {}
            // Our MAKEFLAGS must reach `make` children: they would otherwise
            // run with -j1 or their own unrelated -j.
            // Our pipe is inheritable and MAKEFLAGS is in our own
            // environment (see `serve`), so there is nothing to do per
            // step: no pre-exec hook, which would make std fork rather than
            // posix_spawn, and no per-command environment to rebuild.
            JobLimit::JobserverServer { .. } => {}
            // The parent's MAKEFLAGS (possibly carrying -k or variable
            // overrides) is already in our environment; keep it intact and
            // only make sure the descriptors survive exec.
            JobLimit::JobserverClient(client) => client.configure(command),
        }
    }

    /// Starts the helper thread that turns [`TokenPump::request`] calls into
    /// tokens handed to `deliver` (on that thread). `Ok(None)` when this
    /// limit does not use tokens.
    pub fn token_pump(
        &self,
        deliver: impl FnMut(io::Result<jobserver::Acquired>) + Send + 'static,
    ) -> io::Result<Option<TokenPump>> {
        let client = match self {
            JobLimit::Local => return Ok(None),
            // Our own steps are bounded by `-j` directly; the tokens are
            // for make or cargo children.
            JobLimit::JobserverServer { .. } => return Ok(None),
            JobLimit::JobserverClient(client) => client.clone(),
        };
        let helper = client.into_helper_thread(deliver)?;
        Ok(Some(TokenPump { helper, pending: 0 }))
    }
}

/// Creates the jobserver pipe holding `tokens` tokens. Unlike
/// `jobserver::Client::new`, its descriptors are left inheritable (no
/// close-on-exec), as make's are, so every step inherits them without a
/// per-spawn hook. Returns the pipe and the `MAKEFLAGS` naming it.
fn inheritable_jobserver(tokens: usize) -> io::Result<((OwnedFd, OwnedFd), String)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read, write] = fds;
    let token = [b'+'];
    for _ in 0..tokens {
        // SAFETY: writing one byte from a valid buffer to our own pipe.
        if unsafe { libc::write(write, token.as_ptr().cast(), 1) } != 1 {
            let err = io::Error::last_os_error();
            // SAFETY: both descriptors are ours and not yet shared.
            unsafe {
                libc::close(read);
                libc::close(write);
            }
            return Err(err);
        }
    }
    let makeflags = format!("-j --jobserver-fds={read},{write} --jobserver-auth={read},{write}");
    // SAFETY: the descriptors are a freshly created pipe that nothing else
    // owns.
    let pipe = unsafe { (OwnedFd::from_raw_fd(read), OwnedFd::from_raw_fd(write)) };
    Ok((pipe, makeflags))
}

/// Acquires jobserver tokens on a helper thread, because reading the
/// jobserver pipe blocks and a pipe we created cannot be read non-blockingly
/// by the jobserver crate. Dropping it stops the thread.
#[derive(Debug)]
pub struct TokenPump {
    helper: jobserver::HelperThread,
    pending: usize,
}

impl TokenPump {
    /// Asks for one more token; it arrives later through the callback.
    pub fn request(&mut self) {
        self.pending += 1;
        self.helper.request_token();
    }

    /// Records that a token arrived, so [`TokenPump::pending`]
    /// stays accurate.
    pub fn received(&mut self) {
        self.pending = self.pending.saturating_sub(1);
    }

    /// Requests made whose token has not arrived yet.
    pub fn pending(&self) -> usize {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::process::{Event, ExitStatus, ProcessPool};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    #[test]
    fn parallelism_is_cpus_plus_two() {
        let cpus = available_cpus();
        assert!(cpus >= 1);
        assert_eq!(
            default_parallelism(),
            if cpus <= 2 { cpus + 1 } else { cpus + 2 }.max(2)
        );
    }

    #[test]
    fn parses_cgroup_quotas() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs_quota("200000\n", "100000\n"), Some(2.0));
        assert_eq!(cgroup_line("0::/user.slice"), Some(("", "/user.slice")));
        assert_eq!(
            cgroup_line("4:cpu,cpuacct:/a:b"),
            Some(("cpu,cpuacct", "/a:b"))
        );
    }

    #[test]
    fn load_average_is_available_on_linux() {
        assert!(load_average().is_some_and(|load| load >= 0.0));
    }

    #[test]
    fn unlimited_is_local() {
        assert!(matches!(JobLimit::serve(0), JobLimit::Local));
    }

    #[test]
    fn served_pipe_holds_one_token_less_than_the_budget() {
        let limit = JobLimit::serve(3);
        let JobLimit::JobserverServer {
            _pipe: pipe,
            makeflags,
        } = &limit
        else {
            panic!("expected our own jobserver, got {limit:?}");
        };
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through a valid pointer.
        let rc = unsafe { libc::ioctl(pipe.0.as_raw_fd(), libc::FIONREAD, &mut queued) };
        assert_eq!(rc, 0);
        assert_eq!(queued, 2, "the implicit token is ours");
        assert!(makeflags.contains("--jobserver-auth="));
    }

    /// `make -j` as a step shares our budget: four 0.4 s targets under a
    /// budget of 2 take two rounds, under a budget of 4 one round.
    #[test]
    fn make_child_shares_the_budget() {
        if !std::path::Path::new("/usr/bin/make").exists() {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let makefile = dir.path().join("Makefile");
        fs::write(
            &makefile,
            "all: a b c d\na b c d:\n\t@sleep 0.4\n.PHONY: all a b c d\n",
        )
        .expect("write Makefile");
        let run = |parallelism: usize| {
            let limit = JobLimit::serve(parallelism);
            let mut pool = ProcessPool::new();
            let started = Instant::now();
            // The driver exports MAKEFLAGS to its own environment; a test
            // must not, so it hands make the same value directly.
            let JobLimit::JobserverServer { makeflags, .. } = &limit else {
                panic!("expected our own jobserver");
            };
            let cmdline = format!("MAKEFLAGS='{makeflags}' make -s -f {}", makefile.display());
            pool.spawn(0, &cmdline, false, Some(&limit));
            match pool.wait_any() {
                Some(Event::Finished(done)) => {
                    assert_eq!(
                        done.status,
                        ExitStatus::Exited(0),
                        "{:?}",
                        String::from_utf8_lossy(&done.output)
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
            started.elapsed()
        };
        let two = run(2);
        let four = run(4);
        assert!(two >= Duration::from_millis(800), "budget 2 took {two:?}");
        assert!(four < Duration::from_millis(800), "budget 4 took {four:?}");
    }
}
