//! Consent freshness (RFC 7675) and liveness of the selected pair: periodic consent checks,
//! expiry, probing a silent pair, the disconnected state, and keeping backup pairs validated
//! so failover is fast.
//!
//! - Consent: a check on the selected pair every `consent_interval` (uniformly 0.8 to 1.2
//!   times it, RFC 7675 §5.1). Consent expires `consent_timeout` after the last answered check;
//!   application data never refreshes it.
//! - Liveness: anything received (checks, answers, data) counts. After half the
//!   `disconnected_timeout` of silence the agent probes with a check every quarter of it, so
//!   an idle but healthy pair keeps answering; after the whole timeout it is disconnected, and
//!   every other valid pair is probed so that the controlling agent can move to one that
//!   answers.
//! - Backups: every consent interval the best valid pair of each other local address is
//!   checked, so a working alternative is known before it is needed.

use std::time::{Duration, Instant};

use super::agent::Agent;
use super::check::Purpose;

/// At most this many pairs are probed at once when the selected pair goes silent.
const MAX_PROBES: usize = 8;
/// Unanswered consent checks in a row after which the selected pair counts as down.
const MISSES_DOWN: u32 = 2;

/// Timers of the selected pair.
#[derive(Debug, Default, Clone)]
pub(crate) struct Liveness {
    pub selected_at: Option<Instant>,
    pub last_consent: Option<Instant>,
    pub next_consent: Option<Instant>,
    pub last_probe: Option<Instant>,
    pub next_backup: Option<Instant>,
    pub disconnected: bool,
    /// Consent checks on the selected pair in a row that got no answer.
    pub misses: u32,
    /// Since when the selected pair has not worked, once disconnected: a failover target must
    /// have answered after this.
    pub down_since: Option<Instant>,
}

impl Agent {
    /// A consent interval with RFC 7675's jitter.
    fn jittered(&mut self) -> Duration {
        let factor = 0.8 + 0.4 * self.rng.unit();
        self.cfg.consent_interval.mul_f64(factor)
    }

    pub(crate) fn on_selected(&mut self, now: Instant, pair: usize) {
        let answered = self.list.pairs[pair].last_response;
        let first = self.jittered();
        let backup = match self.live.next_backup {
            Some(t) => t,
            None => now + self.jittered(),
        };
        self.live = Liveness {
            selected_at: Some(now),
            // The check that made the pair valid is its first consent.
            last_consent: Some(answered.unwrap_or(now)),
            next_consent: Some(now + first),
            last_probe: None,
            next_backup: Some(backup),
            disconnected: false,
            misses: 0,
            down_since: None,
        };
    }

    /// The last time anything arrived on the selected pair (or when it was selected).
    fn last_heard(&self, pair: usize) -> Option<Instant> {
        let p = &self.list.pairs[pair];
        match (p.last_received, self.live.selected_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b).or(self.now),
        }
    }

    pub(crate) fn drive_liveness(&mut self, now: Instant) {
        let Some(s) = self.selected else { return };
        let dt = self.cfg.disconnected_timeout;
        let expiry = self.live.last_consent.map(|t| t + self.cfg.consent_timeout);
        if expiry.is_some_and(|e| now >= e) {
            self.consent_lost(now, s);
            return;
        }
        let Some(heard) = self.last_heard(s) else {
            return;
        };
        if self.can_probe() {
            if self.live.next_consent.is_some_and(|t| now >= t) {
                self.start_request(now, Purpose::Consent { pair: s }, false);
                self.live.next_consent = Some(now + self.jittered());
            }
            let probe_due = self.live.last_probe.is_none_or(|t| now >= t + dt / 4);
            if now >= heard + dt / 2 && probe_due {
                self.start_request(now, Purpose::Consent { pair: s }, false);
                self.live.last_probe = Some(now);
            }
        }
        // Down when nothing arrives, or when our checks go unanswered although something
        // still arrives (a path that only works one way).
        let silent = now >= heard + dt;
        let unanswered = self.live.misses >= MISSES_DOWN;
        if (silent || unanswered) && !self.live.disconnected {
            self.live.disconnected = true;
            self.live.down_since = Some(if silent {
                heard
            } else {
                self.live.last_consent.unwrap_or(heard)
            });
            self.probe_others(now, s);
        } else if !silent && !unanswered {
            self.live.disconnected = false;
            self.live.down_since = None;
        }
        if self.live.next_backup.is_some_and(|t| now >= t) {
            self.live.next_backup = Some(now + self.jittered());
            if self.can_probe() {
                self.ping_backups(now, s);
            }
        }
    }

    /// Lite agents send no checks: they watch the peer's.
    fn can_probe(&self) -> bool {
        !self.cfg.lite && self.remote.is_some()
    }

    fn probe_others(&mut self, now: Instant, selected: usize) {
        if !self.can_probe() {
            return;
        }
        let mut others: Vec<usize> = (0..self.list.pairs.len())
            .filter(|&i| i != selected && self.list.pairs[i].usable())
            .collect();
        others.sort_by_key(|&i| std::cmp::Reverse(self.list.pairs[i].valid_priority));
        for i in others.into_iter().take(MAX_PROBES) {
            self.start_request(now, Purpose::Consent { pair: i }, false);
        }
    }

    /// Checks the best valid pair of every other local base.
    fn ping_backups(&mut self, now: Instant, selected: usize) {
        let own = self.list.locals[self.list.pairs[selected].local].base;
        let mut bases: Vec<_> = self
            .list
            .pairs
            .iter()
            .map(|p| self.list.locals[p.local].base)
            .filter(|b| *b != own)
            .collect();
        bases.sort();
        bases.dedup();
        for base in bases.into_iter().take(MAX_PROBES) {
            let best = self
                .list
                .best_usable(|i, p| i != selected && self.list.locals[p.local].base == base);
            if let Some(b) = best {
                self.start_request(now, Purpose::Consent { pair: b }, false);
            }
        }
    }

    /// A consent check on a pair timed out: on the selected pair, count the miss and check
    /// again at once, so that a path that stopped answering is noticed within a few RTOs.
    pub(crate) fn on_consent_timeout(&mut self, pair: usize, sent: Instant) {
        if self.selected != Some(pair) || self.live.last_consent.is_some_and(|t| t > sent) {
            return;
        }
        self.live.misses += 1;
        self.live.next_consent = self.now;
    }

    /// The earliest liveness timer.
    pub(crate) fn liveness_deadline(&self) -> Option<Instant> {
        let s = self.selected?;
        let dt = self.cfg.disconnected_timeout;
        let heard = self.last_heard(s)?;
        let mut d = self.live.last_consent.map(|t| t + self.cfg.consent_timeout);
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        if self.can_probe() {
            at(self.live.next_consent);
            at(self.live.next_backup);
            let probe = heard + dt / 2;
            at(Some(
                self.live
                    .last_probe
                    .map_or(probe, |t| probe.max(t + dt / 4)),
            ));
        }
        if !self.live.disconnected {
            at(Some(heard + dt));
        }
        d
    }
}
