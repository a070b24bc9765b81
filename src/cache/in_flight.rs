//! Keys being worked on by a thread of this process, so another thread
//! that needs the same result waits for it rather than doing it twice.

use crate::hash::Digest;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

/// Keys being computed by a thread of this process right now.
#[derive(Default)]
pub struct InFlight {
    keys: Mutex<HashSet<Digest>>,
    done: std::sync::Condvar,
}

/// Holds a key of [`InFlight`]; dropping it wakes the waiters.
pub struct Claim<'a> {
    in_flight: &'a InFlight,
    key: Digest,
}

impl InFlight {
    /// Waits until no other thread holds `key`, then holds it; `None` when
    /// another still holds it after `limit` (the caller then goes ahead
    /// without waiting any longer).
    pub fn claim(&self, key: Digest, limit: std::time::Duration) -> Option<Claim<'_>> {
        let mut keys = self.wait_until_free(&key, limit)?;
        keys.insert(key);
        Some(Claim {
            in_flight: self,
            key,
        })
    }

    /// Waits (at most `limit`) until no thread holds `key`; false when one
    /// still does.
    pub fn wait_done(&self, key: &Digest, limit: std::time::Duration) -> bool {
        self.wait_until_free(key, limit).is_some()
    }

    /// Waits (at most `limit`) until no thread holds `key`.
    pub fn wait_free(&self, key: &Digest, limit: std::time::Duration) {
        let _ = self.wait_until_free(key, limit);
    }

    /// The held keys once `key` is not among them; `None` after `limit`.
    fn wait_until_free(
        &self,
        key: &Digest,
        limit: std::time::Duration,
    ) -> Option<std::sync::MutexGuard<'_, HashSet<Digest>>> {
        let deadline = Instant::now() + limit;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        while keys.contains(key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            keys = self
                .done
                .wait_timeout(keys, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(keys)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.in_flight
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        self.in_flight.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_claim_waits_for_the_holder() {
        let in_flight = Arc::new(InFlight::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let forever = std::time::Duration::from_secs(600);
        let first = in_flight.claim([1; 32], forever);
        let waiter = {
            let in_flight = Arc::clone(&in_flight);
            let order = Arc::clone(&order);
            std::thread::spawn(move || {
                let _second = in_flight.claim([1; 32], forever);
                order.lock().unwrap().push("second");
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        order.lock().unwrap().push("first");
        drop(first);
        waiter.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["first", "second"]);
        // Another key never waits.
        let _other = in_flight.claim([2; 32], forever);
        // A holder that never lets go is given up on.
        let _held = in_flight.claim([3; 32], forever);
        let short = std::time::Duration::from_millis(20);
        assert!(in_flight.claim([3; 32], short).is_none());
    }
}
