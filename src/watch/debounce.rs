//! When a burst of file events is over: editors and code generators write
//! several files (or one file several times) in quick succession, and one
//! rebuild after the last write beats one per write.
//!
//! How long to wait depends on what the last events said. A file closed
//! after writing, or renamed into place, is complete: only a short pause
//! remains, for the other files of a "save all". A file still being
//! written (no close seen yet, or a watcher that reports no closes, like
//! polling) gets the longer pause.

use std::time::{Duration, Instant};

/// Quiet time after the last event before a round starts, while a changed
/// file may still be being written.
pub const QUIET: Duration = Duration::from_millis(75);
/// Quiet time once every changed file was closed or renamed into place.
pub const SETTLED_QUIET: Duration = Duration::from_millis(3);
/// A round starts at the latest this long after the first event of a
/// burst, so a file rewritten without pause still gets built.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// The pending burst of events, if any.
#[derive(Debug, Clone)]
pub struct Debounce {
    max_delay: Duration,
    /// First event, and the end of the quiet time after the last one.
    burst: Option<(Instant, Instant)>,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce::new(MAX_DELAY)
    }
}

impl Debounce {
    pub fn new(max_delay: Duration) -> Debounce {
        Debounce {
            max_delay,
            burst: None,
        }
    }

    /// Notes an event seen at `now`, after which `quiet` must pass.
    pub fn note(&mut self, now: Instant, quiet: Duration) {
        self.burst = Some(match self.burst {
            Some((first, _)) => (first, now + quiet),
            None => (now, now + quiet),
        });
    }

    /// When the pending burst is over; `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.burst
            .map(|(first, quiet_end)| quiet_end.min(first + self.max_delay))
    }

    /// Whether the pending burst is over at `now`; if so, forgets it.
    pub fn fire(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(deadline) if now >= deadline => {
                self.burst = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_pending_never_fires() {
        let mut debounce = Debounce::new(ms(1000));
        assert_eq!(debounce.deadline(), None);
        assert!(!debounce.fire(Instant::now()));
    }

    #[test]
    fn fires_after_the_quiet_time_following_the_last_event() {
        let start = Instant::now();
        let mut debounce = Debounce::new(ms(1000));
        debounce.note(start, ms(50));
        debounce.note(start + ms(30), ms(50));
        assert_eq!(debounce.deadline(), Some(start + ms(80)));
        assert!(!debounce.fire(start + ms(79)));
        assert!(debounce.fire(start + ms(80)));
        // Fired once: the burst is forgotten.
        assert_eq!(debounce.deadline(), None);
        assert!(!debounce.fire(start + ms(200)));
    }

    #[test]
    fn the_last_event_decides_the_quiet_time() {
        let start = Instant::now();
        let mut debounce = Debounce::new(ms(1000));
        debounce.note(start, ms(75));
        assert_eq!(debounce.deadline(), Some(start + ms(75)));
        // The file was closed: a short pause is enough.
        debounce.note(start + ms(5), ms(10));
        assert_eq!(debounce.deadline(), Some(start + ms(15)));
        // Another file started changing: back to the long one.
        debounce.note(start + ms(8), ms(75));
        assert_eq!(debounce.deadline(), Some(start + ms(83)));
    }

    #[test]
    fn an_endless_burst_fires_at_the_maximum_delay() {
        let start = Instant::now();
        let mut debounce = Debounce::new(ms(200));
        for step in 0..10 {
            debounce.note(start + ms(step * 40), ms(50));
        }
        assert_eq!(debounce.deadline(), Some(start + ms(200)));
        assert!(debounce.fire(start + ms(360)));
    }
}
