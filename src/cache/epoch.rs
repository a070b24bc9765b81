//! Whether a compiler pins `__DATE__` and `__TIME__` to
//! `SOURCE_DATE_EPOCH`. gcc does (since 7); clang only from a later
//! release than some in use (14 ignores it), so a compile using those
//! macros is cacheable under `SOURCE_DATE_EPOCH` only when its compiler
//! was seen to honour it: asked once per tool identity, the answer kept in
//! the cache.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::cache::toolchain::{Family, ToolIdentity};

/// What the probe preprocesses, and what an honouring compiler makes of
/// it under `SOURCE_DATE_EPOCH=0`.
const PROBE: &[u8] = b"__DATE__ __TIME__\n";
const PINNED: &str = "\"Jan  1 1970\" \"00:00:00\"";

/// The answers known to this process, by tool digest.
#[derive(Default)]
pub struct EpochAnswers {
    known: Mutex<HashMap<crate::hash::Digest, bool>>,
}

impl EpochAnswers {
    /// This process's answer for `tool`, if asked before.
    pub fn known(&self, tool: &ToolIdentity) -> Option<bool> {
        self.lock().get(&tool.digest).copied()
    }

    pub fn remember(&self, tool: &ToolIdentity, honours: bool) {
        self.lock().insert(tool.digest, honours);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<crate::hash::Digest, bool>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `tool`'s preprocessor on the time macros under
/// `SOURCE_DATE_EPOCH=0`; false for anything but a gcc or clang that
/// printed the epoch's date and time.
pub fn probe(tool: &ToolIdentity) -> bool {
    if !matches!(tool.family, Family::Gcc | Family::Clang) {
        return false;
    }
    let child = Command::new(&tool.invoked)
        .args(["-E", "-P", "-x", "c", "-"])
        .env("SOURCE_DATE_EPOCH", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take()
        && stdin.write_all(PROBE).is_err()
    {
        let _ = child.kill();
        let _ = child.wait();
        return false;
    }
    match child.wait_with_output() {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).contains(PINNED)
        }
        _ => false,
    }
}
