//! The agent's outgoing STUN transactions: connectivity checks, consent checks and
//! server-reflexive gathering requests, with their retransmission schedule.
//!
//! RFC 8445 §14.3 sets the first retransmission timeout of a connectivity check to
//! `RTO = MAX(500 ms, Ta * N * (Num-Waiting + Num-In-Progress))` (and of a gathering request to
//! `MAX(500 ms, Ta * Num-Of-Cands)`); the transaction then runs the RFC 8489 §6.2.1 schedule:
//! Rc transmissions with the interval doubling each time, then a final wait of Rm * RTO. With
//! the defaults (Rc = 7, Rm = 16, RTO = 500 ms) the sends go out at 0, 0.5, 1.5, 3.5, 7.5,
//! 15.5 and 31.5 s and the transaction fails at 39.5 s.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::stun::{Key, TransactionId};

/// A cap on any wait, so that `Instant` arithmetic cannot overflow whatever the config.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(3600);

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A connectivity check on a pair (§7.2.4), nominating when `nominate`.
    Check { pair: usize, nominate: bool },
    /// A consent freshness (RFC 7675) or liveness check on a pair that is already valid.
    Consent { pair: usize },
    /// A Binding request from a local base to a STUN server (an index into the configured
    /// servers), for a server-reflexive candidate.
    Gather { local: usize, server: usize },
}

/// Retransmission parameters of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub rto: Duration,
    /// Rc: transmissions in total (at least 1).
    pub rc: u32,
    /// Rm: the final wait in units of RTO.
    pub rm: u32,
}

impl Schedule {
    /// When the `k`-th transmission (0-based) goes out, relative to the first.
    fn send_offset(&self, k: u32) -> Duration {
        // 2^k - 1 intervals of RTO: 0, 1, 3, 7, 15, ... (capped well before overflow).
        let units = (1u32 << k.min(20)) - 1;
        self.rto.saturating_mul(units).min(MAX_WAIT)
    }

    /// When the transaction gives up, relative to the first transmission.
    fn lifetime(&self) -> Duration {
        let last = self.send_offset(self.rc.max(1) - 1);
        last.saturating_add(self.rto.saturating_mul(self.rm))
            .min(MAX_WAIT)
    }
}

/// One outstanding request.
#[derive(Debug, Clone)]
pub(crate) struct Tx {
    pub purpose: Purpose,
    /// The local address it leaves from (a socket, or a relayed address).
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// The request as sent, for identical retransmissions.
    pub bytes: Vec<u8>,
    /// Verifies the response: the remote password for checks, none for STUN servers.
    pub key: Option<Key>,
    /// The role the request claimed (ICE-CONTROLLING or ICE-CONTROLLED), for 487 handling.
    pub controlling: bool,
    pub first_sent: Instant,
    pub transmissions: u32,
    pub schedule: Schedule,
    /// The next retransmission, if any is left (cancelled transactions have none).
    pub retransmit_at: Option<Instant>,
    pub deadline: Instant,
}

impl Tx {
    fn timer(&self) -> Instant {
        self.retransmit_at
            .map_or(self.deadline, |r| r.min(self.deadline))
    }
}

/// What a new transaction sends, and how its response is checked.
#[derive(Debug)]
pub(crate) struct Request {
    pub purpose: Purpose,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub bytes: Vec<u8>,
    pub key: Option<Key>,
    pub controlling: bool,
}

/// What came due in [`Transactions::due`].
#[derive(Debug)]
pub(crate) enum Due {
    Retransmit(TransactionId),
    TimedOut(Tx),
}

/// The outstanding transactions, keyed by id, with their timers in one ordered set.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    txs: HashMap<TransactionId, Tx>,
    timers: BTreeSet<(Instant, TransactionId)>,
}

impl Transactions {
    /// Gives back the memory of a burst once every transaction is over.
    pub fn trim(&mut self) {
        if self.txs.is_empty() {
            self.txs.shrink_to_fit();
        }
    }

    /// Starts a transaction whose first transmission is at `now`.
    pub fn start(&mut self, now: Instant, id: TransactionId, r: Request, schedule: Schedule) {
        let tx = Tx {
            purpose: r.purpose,
            source: r.source,
            destination: r.destination,
            bytes: r.bytes,
            key: r.key,
            controlling: r.controlling,
            first_sent: now,
            transmissions: 1,
            schedule,
            retransmit_at: (schedule.rc > 1).then(|| now + schedule.send_offset(1)),
            deadline: now + schedule.lifetime(),
        };
        self.timers.insert((tx.timer(), id));
        if let Some(old) = self.txs.insert(id, tx) {
            self.timers.remove(&(old.timer(), id));
        }
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn get(&self, id: &TransactionId) -> Option<&Tx> {
        self.txs.get(id)
    }

    pub fn remove(&mut self, id: &TransactionId) -> Option<Tx> {
        let tx = self.txs.remove(id)?;
        self.timers.remove(&(tx.timer(), *id));
        Some(tx)
    }

    /// Stops retransmitting a transaction but keeps waiting for its response until its
    /// deadline (RFC 8445 §7.3.1.4's cancellation of an in-progress check).
    pub fn cancel_retransmits(&mut self, id: &TransactionId) {
        if let Some(tx) = self.txs.get_mut(id) {
            self.timers.remove(&(tx.timer(), *id));
            tx.retransmit_at = None;
            self.timers.insert((tx.timer(), *id));
        }
    }

    /// The ids of the transactions `f` selects.
    pub fn ids_where(&self, mut f: impl FnMut(&Tx) -> bool) -> Vec<TransactionId> {
        self.txs
            .iter()
            .filter(|(_, tx)| f(tx))
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn clear(&mut self) {
        self.txs.clear();
        self.timers.clear();
    }

    /// The earliest retransmission or deadline.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Takes the next transaction event due at or before `now`: a retransmission (the
    /// transaction's schedule advances) or a timeout (the transaction is removed).
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        let (tx, id) = loop {
            let &(at, id) = self.timers.first()?;
            if at > now {
                return None;
            }
            self.timers.pop_first();
            if let Some(tx) = self.txs.get_mut(&id) {
                break (tx, id);
            }
        };
        match tx.retransmit_at {
            Some(r) if r <= now && r < tx.deadline => {
                tx.transmissions += 1;
                tx.retransmit_at = (tx.transmissions < tx.schedule.rc)
                    .then(|| tx.first_sent + tx.schedule.send_offset(tx.transmissions));
                self.timers.insert((tx.timer(), id));
                Some(Due::Retransmit(id))
            }
            _ => self.txs.remove(&id).map(Due::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_matches_rfc8489_figures() {
        let s = Schedule {
            rto: Duration::from_millis(500),
            rc: 7,
            rm: 16,
        };
        let offsets: Vec<u64> = (0..7)
            .map(|k| s.send_offset(k).as_millis() as u64)
            .collect();
        assert_eq!(offsets, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(s.lifetime(), Duration::from_millis(39_500));
        let one = Schedule { rc: 1, rm: 4, ..s };
        assert_eq!(one.lifetime(), Duration::from_secs(2));
        let silly = Schedule {
            rto: Duration::MAX,
            rc: u32::MAX,
            rm: u32::MAX,
        };
        let _ = silly.lifetime(); // saturates, never panics
    }
}
