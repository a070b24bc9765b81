//! Ctrl-C, SIGTERM and SIGHUP: recorded once for the whole process, and
//! sent as [`Event::Interrupted`] to every pool waiting for events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, OnceLock};

use super::*;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static WAKERS: Mutex<Vec<Sender<Event>>> = Mutex::new(Vec::new());
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Whether Ctrl-C (or SIGTERM/SIGHUP) has been received.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs the process-wide handler for SIGINT, SIGTERM and SIGHUP; calling
/// it again is a no-op returning the first result. The handler only records
/// the interruption and wakes every pool; the scheduler does the rest
/// (stop starting steps, [`ProcessPool::interrupt_all`], save state, print
/// "zccache: build stopped: interrupted by user.", exit [`EXIT_INTERRUPTED`]).
pub fn install_interrupt_handler() -> Result<(), String> {
    HANDLER
        .get_or_init(|| ctrlc::set_handler(note_interruption).map_err(|err| err.to_string()))
        .clone()
}

fn note_interruption() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let mut wakers = WAKERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Pools that were dropped have closed receivers; forget them.
    wakers.retain(|waker| waker.send(Event::Interrupted).is_ok());
}

/// Makes the interrupt handler also send [`Event::Interrupted`] to
/// `sender` (`zccache watch` waits on it while idle).
pub fn register_waker(sender: Sender<Event>) {
    let mut wakers = WAKERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    wakers.push(sender);
}
