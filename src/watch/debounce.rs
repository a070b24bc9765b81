//! When a burst of file events is over: editors and code generators write
//! several files (or one file several times) in quick succession, and one
//! rebuild after the last write beats one per write.

use std::time::{Duration, Instant};

/// Quiet time after the last event before a round starts.
pub const QUIET: Duration = Duration::from_millis(75);
/// A round starts at the latest this long after the first event of a
/// burst, so a file rewritten without pause still gets built.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// The pending burst of events, if any.
#[derive(Debug, Clone)]
pub struct Debounce {
    quiet: Duration,
    max_delay: Duration,
    burst: Option<(Instant, Instant)>,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce::new(QUIET, MAX_DELAY)
    }
}

impl Debounce {
    pub fn new(quiet: Duration, max_delay: Duration) -> Debounce {
        Debounce {
            quiet,
            max_delay,
            burst: None,
        }
    }

    /// Notes an event seen at `now`.
    pub fn note(&mut self, now: Instant) {
        self.burst = Some(match self.burst {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the pending burst is over; `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.burst
            .map(|(first, last)| (last + self.quiet).min(first + self.max_delay))
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
        let mut debounce = Debounce::new(ms(50), ms(1000));
        assert_eq!(debounce.deadline(), None);
        assert!(!debounce.fire(Instant::now()));
    }

    #[test]
    fn fires_after_the_quiet_time_following_the_last_event() {
        let start = Instant::now();
        let mut debounce = Debounce::new(ms(50), ms(1000));
        debounce.note(start);
        debounce.note(start + ms(30));
        assert_eq!(debounce.deadline(), Some(start + ms(80)));
        assert!(!debounce.fire(start + ms(79)));
        assert!(debounce.fire(start + ms(80)));
        // Fired once: the burst is forgotten.
        assert_eq!(debounce.deadline(), None);
        assert!(!debounce.fire(start + ms(200)));
    }

    #[test]
    fn an_endless_burst_fires_at_the_maximum_delay() {
        let start = Instant::now();
        let mut debounce = Debounce::new(ms(50), ms(200));
        for step in 0..10 {
            debounce.note(start + ms(step * 40));
        }
        assert_eq!(debounce.deadline(), Some(start + ms(200)));
        assert!(debounce.fire(start + ms(360)));
    }
}
