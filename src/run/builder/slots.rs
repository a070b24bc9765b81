//! Job slots: the implicit slot every build has, and jobserver tokens.

use std::collections::HashMap;

use crate::run::jobs::{JobLimit, TokenPump};
use crate::run::process::{Event, ProcessPool};

/// Who may start a step now: the implicit slot every build has, plus
/// jobserver tokens when a jobserver is in use (ours, shared with make or
/// cargo children, or a parent make's).
pub(super) struct Slots {
    pump: Option<TokenPump>,
    implicit_free: bool,
    /// Tokens acquired and not yet given to a step.
    spare: Vec<jobserver::Acquired>,
    /// Which step holds the implicit slot or which token.
    implicit_holder: Option<usize>,
    held: HashMap<usize, jobserver::Acquired>,
}

impl Slots {
    pub(super) fn new(jobs: &JobLimit, pool: &ProcessPool) -> Slots {
        // Our own steps draw tokens only from a parent's jobserver. When we
        // serve the jobserver, `-j` already bounds our steps and the tokens
        // are left to make or cargo children: taking them through the
        // helper thread costs a round trip per step, doubling the
        // scheduling overhead of large builds.
        let pump = match jobs {
            JobLimit::JobserverClient(_) => {
                let events = pool.event_sender();
                jobs.token_pump(move |token| {
                    // If the pool is gone the token is dropped here, i.e.
                    // returned.
                    let _ = events.send(Event::Token(token));
                })
                .ok()
                .flatten()
            }
            _ => None,
        };
        Slots {
            pump,
            implicit_free: true,
            spare: Vec::new(),
            implicit_holder: None,
            held: HashMap::new(),
        }
    }

    pub(super) fn available(&self) -> bool {
        self.pump.is_none() || self.implicit_free || !self.spare.is_empty()
    }

    /// Asks for enough tokens to start `steps` more steps.
    pub(super) fn want(&mut self, steps: usize) {
        if let Some(pump) = &mut self.pump {
            while pump.pending() < steps {
                pump.request();
            }
        }
    }

    pub(super) fn take(&mut self, token: usize) {
        if self.pump.is_none() {
            return;
        }
        if self.implicit_free {
            self.implicit_free = false;
            self.implicit_holder = Some(token);
        } else if let Some(acquired) = self.spare.pop() {
            self.held.insert(token, acquired);
        }
    }

    pub(super) fn release(&mut self, token: usize) {
        if self.implicit_holder == Some(token) {
            self.implicit_holder = None;
            self.implicit_free = true;
        }
        // Dropping the token gives it back to the jobserver.
        self.held.remove(&token);
    }

    pub(super) fn token_arrived(&mut self, token: std::io::Result<jobserver::Acquired>) {
        if let Some(pump) = &mut self.pump {
            pump.received();
        }
        if let Ok(acquired) = token {
            self.spare.push(acquired);
        }
    }
}
