//! ninja-compatible progress output.
//!
//! Behaviour verified against ninja 1.11.1:
//! * Smart terminal (stdout is a tty and `TERM` is set and not `dumb`): one
//!   status line rewritten in place (`\r` + text + `\x1b[K`), elided in the
//!   middle to the terminal width, shown when a step starts and again when it
//!   finishes; a step's output goes on a fresh line below it.
//! * Otherwise: one line per finished step, no escape codes, and ANSI escape
//!   sequences are stripped from step output unless `CLICOLOR_FORCE` or
//!   `FORCE_COLOR` is set (and not `0`); `NO_COLOR` turns colours off, also
//!   on a terminal, but not against `FORCE_COLOR` (ninja after 1.13.2). `-v` also disables the in-place line but keeps colours on
//!   a tty.
//! * `-v` shows the command instead of the description; so does an empty
//!   description.
//! * A failed step prints its status line, then `FAILED: [code=N] ` (red
//!   when colours are on; the code is ninja 1.13's, 1.11 printed none)
//!   followed by each output and a space, the command on the next line,
//!   then its output. Output of successful steps is printed too.
//! * `--quiet`: no status lines, only step output and failures.
//! * A console-pool step prints its status line followed by a newline when it
//!   starts, nothing when it finishes, and everything other steps print while
//!   it owns the terminal is held back until it finishes.
//!
//! Deliberate difference: output that does not end in a newline gets one, so
//! the next status line neither sticks to it nor (on a smart terminal)
//! overwrites it, which ninja does.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::Instant;

mod format;
mod terminal;

pub use format::{DEFAULT_STATUS_FORMAT, Progress, StatusFormat, StatusFormatError};
pub use terminal::{Terminal, elide_middle, strip_ansi_escapes};

/// Options that are not about the terminal.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Prefix of info/warning/error lines: "zccache", or "ninja" in
    /// ninja-compatibility mode.
    pub program: String,
    pub verbose: bool,
    pub quiet: bool,
    /// Window of the `%c` current rate (ninja uses the `-j` value).
    pub parallelism: usize,
}

impl StatusOptions {
    pub fn new(program: &str, verbose: bool, quiet: bool) -> Self {
        StatusOptions {
            program: program.to_string(),
            verbose,
            quiet,
            parallelism: crate::run::jobs::default_parallelism(),
        }
    }
}

/// Prints progress, step output and messages.
pub struct StatusPrinter {
    options: StatusOptions,
    format: StatusFormat,
    terminal: Terminal,
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    started_at: Instant,
    progress: Progress,
    recent_finishes: VecDeque<Instant>,
    /// A smart-terminal status line is on screen without a newline after it.
    line_open: bool,
    /// Console steps running; while non-zero they own the terminal.
    console_steps: usize,
    /// stdout text held back while a console step runs.
    held: Vec<u8>,
}

impl StatusPrinter {
    /// For real use: stdout/stderr, the detected terminal and `NINJA_STATUS`.
    pub fn new(options: StatusOptions) -> Result<Self, StatusFormatError> {
        let format =
            std::env::var("NINJA_STATUS").unwrap_or_else(|_| DEFAULT_STATUS_FORMAT.to_string());
        Ok(Self::with_output(
            options,
            StatusFormat::parse(&format)?,
            Terminal::detect(),
            Box::new(io::stdout()),
            Box::new(io::stderr()),
        ))
    }

    /// With explicit destinations, e.g. buffers in tests.
    pub fn with_output(
        options: StatusOptions,
        format: StatusFormat,
        mut terminal: Terminal,
        out: Box<dyn Write>,
        err: Box<dyn Write>,
    ) -> Self {
        // ninja keeps verbose output line-oriented (but keeps colours).
        if options.verbose {
            terminal.smart = false;
        }
        StatusPrinter {
            options,
            format,
            terminal,
            out,
            err,
            started_at: Instant::now(),
            progress: Progress::default(),
            recent_finishes: VecDeque::new(),
            line_open: false,
            console_steps: 0,
            held: Vec::new(),
        }
    }

    /// Starts counting a new build from zero, as ninja does for the main
    /// build after regenerating its manifest.
    pub fn start_build(&mut self) {
        self.progress = Progress::default();
        self.recent_finishes.clear();
    }

    /// Steps planned so far; may grow (dyndeps, restarts).
    pub fn set_total(&mut self, total: usize) {
        self.progress.total = total;
    }

    pub fn step_started(&mut self, description: &str, command: &str, console: bool) {
        self.progress.started += 1;
        self.progress.running += 1;
        if console {
            // Print the line before the console step owns the terminal, and
            // finish it so the step starts writing on a fresh line.
            self.print_status(description, command, true);
            self.console_steps += 1;
        } else if self.terminal.smart {
            self.print_status(description, command, false);
        }
    }

    pub fn step_finished(
        &mut self,
        description: &str,
        command: &str,
        outputs: &[String],
        failure: Option<i32>,
        output: &[u8],
        console: bool,
    ) {
        self.progress.finished += 1;
        self.note_finish_time();
        if console {
            self.console_steps = self.console_steps.saturating_sub(1);
            if self.console_steps == 0 {
                let held = std::mem::take(&mut self.held);
                self.write_out(&held);
            }
        } else {
            self.print_status(description, command, false);
        }
        // ninja reports the finishing step as still running in its own line.
        self.progress.running = self.progress.running.saturating_sub(1);

        if let Some(code) = failure {
            let mut block = Vec::new();
            let failed = format!("FAILED: [code={code}] ");
            if self.terminal.color {
                block.extend_from_slice(b"\x1b[31m");
                block.extend_from_slice(failed.as_bytes());
                block.extend_from_slice(b"\x1b[0m");
            } else {
                block.extend_from_slice(failed.as_bytes());
            }
            for path in outputs {
                block.extend_from_slice(path.as_bytes());
                block.push(b' ');
            }
            block.push(b'\n');
            block.extend_from_slice(command.as_bytes());
            block.push(b'\n');
            self.print_block(&block);
        }
        if !output.is_empty() {
            let mut text = if self.terminal.color {
                output.to_vec()
            } else {
                strip_ansi_escapes(output)
            };
            if !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            self.print_block(&text);
        }
        self.flush_out();
    }

    /// `PROGRAM: msg` on stdout, e.g. "no work to do." or "build stopped: ...".
    pub fn info(&mut self, msg: &str) {
        let line = format!("{}: {msg}\n", self.options.program);
        self.print_block(line.as_bytes());
        self.flush_out();
    }

    /// `PROGRAM: warning: msg` on stderr.
    pub fn warning(&mut self, msg: &str) {
        let line = format!("{}: warning: {msg}\n", self.options.program);
        self.print_stderr(&line);
    }

    /// `PROGRAM: error: msg` on stderr.
    pub fn error(&mut self, msg: &str) {
        let line = format!("{}: error: {msg}\n", self.options.program);
        self.print_stderr(&line);
    }

    /// `PROGRAM explain: msg` on stderr, for `-d explain`.
    pub fn explain(&mut self, msg: &str) {
        let line = format!("{} explain: {msg}\n", self.options.program);
        self.print_stderr(&line);
    }

    /// Ends the status line so the shell prompt starts on its own line.
    pub fn finish(&mut self) {
        if self.line_open {
            self.write_out(b"\n");
            self.line_open = false;
        }
        self.flush_out();
    }

    /// The counters as they are now (for tests and custom displays).
    pub fn progress(&self) -> Progress {
        Progress {
            elapsed: self.started_at.elapsed(),
            ..self.progress.clone()
        }
    }

    fn note_finish_time(&mut self) {
        let now = Instant::now();
        self.recent_finishes.push_back(now);
        while self.recent_finishes.len() > self.options.parallelism.max(1) {
            self.recent_finishes.pop_front();
        }
        let span = self
            .recent_finishes
            .front()
            .map(|oldest| now.duration_since(*oldest).as_secs_f64())
            .unwrap_or(0.0);
        self.progress.current_rate = (span > 0.0).then(|| self.recent_finishes.len() as f64 / span);
    }

    /// Prints the status line for a step, in place on a smart terminal.
    /// `end_line` forces a newline after it (console steps).
    fn print_status(&mut self, description: &str, command: &str, end_line: bool) {
        if self.options.quiet {
            return;
        }
        let what = if self.options.verbose || description.is_empty() {
            command
        } else {
            description
        };
        let mut line = self.format.render(&self.progress()) + what;
        if self.terminal.smart {
            if let Some(width) = self.terminal.width {
                line = elide_middle(&line, width);
            }
            let text = format!("\r{line}\x1b[K");
            self.write_out(text.as_bytes());
            self.line_open = true;
            if end_line {
                self.write_out(b"\n");
                self.line_open = false;
            }
        } else {
            self.write_out(format!("{line}\n").as_bytes());
        }
    }

    /// Prints text that must start on a fresh line (below the status line).
    fn print_block(&mut self, text: &[u8]) {
        if self.line_open {
            self.write_out(b"\n");
            self.line_open = false;
        }
        self.write_out(text);
    }

    fn print_stderr(&mut self, line: &str) {
        if self.line_open {
            self.write_out(b"\n");
            self.line_open = false;
        }
        self.flush_out();
        // Nothing sensible can be done if stderr is gone.
        let _ = self.err.write_all(line.as_bytes());
        let _ = self.err.flush();
    }

    fn write_out(&mut self, bytes: &[u8]) {
        if self.console_steps > 0 {
            self.held.extend_from_slice(bytes);
        } else {
            // A closed stdout (e.g. `| head`) must not abort the build.
            let _ = self.out.write_all(bytes);
        }
    }

    fn flush_out(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.borrow()).into_owned()
        }
    }

    fn printer(terminal: Terminal, verbose: bool, quiet: bool) -> (StatusPrinter, Shared, Shared) {
        let (out, err) = (Shared::default(), Shared::default());
        let options = StatusOptions {
            program: "zccache".into(),
            verbose,
            quiet,
            parallelism: 2,
        };
        let format = StatusFormat::parse(DEFAULT_STATUS_FORMAT).expect("default format");
        let printer = StatusPrinter::with_output(
            options,
            format,
            terminal,
            Box::new(out.clone()),
            Box::new(err.clone()),
        );
        (printer, out, err)
    }

    fn smart(width: Option<usize>) -> Terminal {
        Terminal {
            smart: true,
            color: true,
            width,
        }
    }

    #[test]
    fn plain_output_matches_ninja() {
        let (mut status, out, _) = printer(Terminal::plain(), false, false);
        status.set_total(3);
        status.step_started("MAKE a", "echo out-a", false);
        status.step_finished(
            "MAKE a",
            "echo out-a",
            &["a".into()],
            None,
            b"out-a\n",
            false,
        );
        status.step_started("", "touch n", false);
        status.step_finished("", "touch n", &["n".into()], None, b"", false);
        status.step_started("FAIL c", "exit 3", false);
        status.step_finished(
            "FAIL c",
            "exit 3",
            &["c".into()],
            Some(3),
            b"\x1b[31merr\x1b[0m\n",
            false,
        );
        status.info("build stopped: subcommand failed.");
        status.finish();
        assert_eq!(
            out.text(),
            "[1/3] MAKE a\nout-a\n[2/3] touch n\n[3/3] FAIL c\nFAILED: [code=3] c \nexit 3\nerr\n\
             zccache: build stopped: subcommand failed.\n"
        );
    }

    #[test]
    fn smart_terminal_rewrites_the_line() {
        let (mut status, out, err) = printer(smart(Some(80)), false, false);
        status.set_total(2);
        status.step_started("MAKE a", "x", false);
        status.step_finished("MAKE a", "x", &["a".into()], None, b"out-a\n", false);
        status.step_started("FAIL c", "exit 3", false);
        status.step_finished("FAIL c", "exit 3", &["c".into()], Some(3), b"err\n", false);
        status.warning("careful");
        status.finish();
        assert_eq!(
            out.text(),
            "\r[0/2] MAKE a\x1b[K\r[1/2] MAKE a\x1b[K\nout-a\n\
             \r[1/2] FAIL c\x1b[K\r[2/2] FAIL c\x1b[K\n\x1b[31mFAILED: [code=3] \x1b[0mc \nexit 3\nerr\n"
        );
        assert_eq!(err.text(), "zccache: warning: careful\n");
    }

    #[test]
    fn smart_finish_ends_the_line() {
        let (mut status, out, _) = printer(smart(None), false, false);
        status.set_total(1);
        status.step_started("CC x", "cc", false);
        status.step_finished("CC x", "cc", &[], None, b"", false);
        status.finish();
        assert_eq!(out.text(), "\r[0/1] CC x\x1b[K\r[1/1] CC x\x1b[K\n");
    }

    #[test]
    fn verbose_prints_commands_line_by_line() {
        let (mut status, out, _) = printer(smart(Some(80)), true, false);
        status.set_total(1);
        status.step_started("CC x", "cc -c x.c", false);
        status.step_finished(
            "CC x",
            "cc -c x.c",
            &[],
            None,
            b"\x1b[1mwarn\x1b[0m\n",
            false,
        );
        // Colours survive: -v only disables rewriting the line.
        assert_eq!(out.text(), "[1/1] cc -c x.c\n\x1b[1mwarn\x1b[0m\n");
    }

    #[test]
    fn quiet_prints_only_output_and_failures() {
        let (mut status, out, _) = printer(Terminal::plain(), false, true);
        status.set_total(2);
        status.step_started("A", "a", false);
        status.step_finished("A", "a", &["a".into()], None, b"hello\n", false);
        status.step_started("B", "b", false);
        status.step_finished("B", "b", &["b".into()], Some(1), b"", false);
        assert_eq!(out.text(), "hello\nFAILED: [code=1] b \nb\n");
    }

    #[test]
    fn console_step_holds_back_other_output() {
        let (mut status, out, _) = printer(smart(None), false, false);
        status.set_total(2);
        status.step_started("CONSOLE c1", "c", true);
        status.step_started("QUICK q1", "q", false);
        assert_eq!(out.text(), "\r[0/2] CONSOLE c1\x1b[K\n");
        status.step_finished("CONSOLE c1", "c", &[], None, b"", true);
        status.step_finished("QUICK q1", "q", &[], None, b"quick\n", false);
        status.finish();
        assert_eq!(
            out.text(),
            "\r[0/2] CONSOLE c1\x1b[K\n\r[0/2] QUICK q1\x1b[K\r[2/2] QUICK q1\x1b[K\nquick\n"
        );
    }

    #[test]
    fn missing_trailing_newline_is_added() {
        let (mut status, out, _) = printer(Terminal::plain(), false, false);
        status.set_total(2);
        status.step_started("P", "p", false);
        status.step_finished("P", "p", &[], None, b"no-newline", false);
        assert_eq!(out.text(), "[1/2] P\nno-newline\n");
    }

    /// Real ninja 1.13, which scripts/test.sh installs from PyPI (the same
    /// place tests/e2e/harness looks); missing, the test fails rather than skips.
    fn ninja_1_13() -> std::path::PathBuf {
        let path = std::env::var_os("ZCCACHE_NINJA_1_13")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/tools/ninja-1.13.2/bin/ninja")
            });
        let version = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (scripts/test.sh installs it)",
                    path.display()
                )
            });
        let version = String::from_utf8_lossy(&version.stdout);
        assert!(
            version.starts_with("1.13."),
            "{} is ninja {version}",
            path.display()
        );
        path
    }

    /// A one-at-a-time fake scheduler over the real process pool prints
    /// byte-for-byte what ninja 1.13 prints into a pipe for the same steps.
    #[test]
    fn fake_scheduler_matches_real_ninja_on_a_pipe() {
        use crate::run::process::{Event, ProcessPool};
        let ninja = ninja_1_13();
        let dir = tempfile::tempdir().expect("tempdir");
        let steps = [
            ("MAKE a", "echo out-a; echo err-a >&2", "a"),
            ("", "true", "n"),
            ("COLOR e", "printf '\\033[31mred\\033[0m\\n'", "e"),
            ("FAIL c", "echo err >&2; exit 3", "c"),
        ];
        let mut manifest = String::from("rule r\n  command = $cmd\n  description = $desc\n");
        for (desc, cmd, out) in &steps {
            manifest += &format!("build {out}: r\n  cmd = {cmd}\n  desc = {desc}\n");
        }
        std::fs::write(dir.path().join("build.ninja"), manifest).expect("write manifest");
        let outs: Vec<&str> = steps.iter().map(|step| step.2).collect();
        let expected = std::process::Command::new(ninja)
            .arg("-C")
            .arg(dir.path())
            .args(["-j1", "-k1"])
            .args(&outs)
            .env_remove("NINJA_STATUS")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .expect("run ninja");
        let expected = String::from_utf8_lossy(&expected.stdout).into_owned();

        let (mut status, out, _) = printer(Terminal::plain(), false, false);
        status.options.program = "ninja".into();
        status.set_total(steps.len());
        let mut pool = ProcessPool::new();
        for (token, (desc, cmd, output)) in steps.iter().enumerate() {
            status.step_started(desc, cmd, false);
            pool.spawn(token, cmd, false, None);
            let Some(Event::Finished(done)) = pool.wait_any() else {
                panic!("step did not finish");
            };
            let outputs = [output.to_string()];
            status.step_finished(
                desc,
                cmd,
                &outputs,
                (!done.status.success()).then(|| done.status.code()),
                &done.output,
                false,
            );
        }
        status.info("build stopped: subcommand failed.");
        status.finish();
        let expected = expected
            .lines()
            .skip_while(|line| line.starts_with("ninja: Entering"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        assert_eq!(out.text(), expected);
    }
}
