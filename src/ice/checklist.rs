//! The checklist (RFC 8445 §6.1.2): local and remote candidates, the pairs formed from them,
//! pair states with foundation unfreezing, pruning, the pair limit, and the triggered-check
//! queue. One data stream with one component: the only layout kaon uses (BUNDLE + rtcp-mux).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::candidate::{Candidate, CandidateKind, pair_priority};

/// A pair's check state (RFC 8445 §6.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PairState {
    /// Waiting for another pair of its foundation to succeed.
    Frozen,
    /// Ready to be checked.
    Waiting,
    /// A check has been sent and not yet answered.
    InProgress,
    /// A check produced a valid pair.
    Succeeded,
    /// Checks failed (timeout, error, asymmetric response) or consent was lost.
    Failed,
}

/// A local candidate the agent knows: a host or relayed base it sends from, or a reflexive
/// address it learned (which it advertises or reports but never sends from).
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub cand: Candidate,
    /// The candidate's transport address.
    pub addr: SocketAddr,
    /// The address checks and data leave from: the socket for host and reflexive candidates,
    /// the relayed address for relayed ones.
    pub base: SocketAddr,
    /// For a relayed candidate, the index of its relay.
    pub relay: Option<usize>,
    /// Removed by the application: its pairs failed and it takes no new ones.
    pub removed: bool,
}

impl Local {
    /// Whether pairs are formed on this candidate: RFC 8445 §6.1.2.4 replaces a reflexive
    /// local candidate by its base, so only host and relayed candidates are paired.
    pub fn is_pairable(&self) -> bool {
        !self.removed && matches!(self.cand.kind, CandidateKind::Host | CandidateKind::Relayed)
    }
}

/// A remote candidate with a usable address.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    pub cand: Candidate,
    pub addr: SocketAddr,
}

/// A candidate pair and everything the agent tracks about it.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub local: usize,
    pub remote: usize,
    pub priority: u64,
    /// The pair foundation: the local and remote foundations, digested.
    pub foundation: u64,
    pub state: PairState,
    /// In the valid list: a check on it succeeded with a symmetric response.
    pub valid: bool,
    /// The local candidate matching the mapped address of the successful check (a reflexive
    /// one when a NAT is in the way); the pair's valid-list priority uses it.
    pub mapped_local: Option<usize>,
    pub valid_priority: u64,
    /// Nominated (by us when controlling, by the peer when controlled).
    pub nominated: bool,
    /// Controlled: the peer sent USE-CANDIDATE before our own check succeeded (§7.3.1.5).
    pub nominate_on_success: bool,
    /// The peer sent us an authenticated check on this pair, so data from it is accepted.
    pub inbound_ok: bool,
    pub last_response: Option<Instant>,
    pub last_received: Option<Instant>,
    pub rtt: Option<Duration>,
    /// Why its last check failed or was answered with an error (for diagnostics).
    pub failure: Option<super::report::CheckFailure>,
}

impl Pair {
    /// Whether data may be sent on or accepted from the pair.
    pub fn usable(&self) -> bool {
        self.state != PairState::Failed && (self.valid || self.nominated)
    }
}

/// An entry of the triggered-check queue (§6.1.4.1): the pair, and whether the check carries
/// USE-CANDIDATE (the controlling agent's nomination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Triggered {
    pub pair: usize,
    pub nominate: bool,
}

/// Why a remote candidate was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddRemote {
    /// Added at this index.
    Added(usize),
    /// Its address is already known (at this index); updated if the new one was signalled and
    /// the known one was peer-reflexive.
    Known(usize),
    /// Unusable (not UDP, or an unresolved name) or over the limit.
    Refused,
}

/// Candidates, pairs and the triggered queue of the one checklist.
#[derive(Debug, Default)]
pub(crate) struct Checklist {
    pub locals: Vec<Local>,
    pub remotes: Vec<Remote>,
    /// Remote candidates kept but not paired: unresolved mDNS names, TCP.
    pub unresolved: Vec<Candidate>,
    pub pairs: Vec<Pair>,
    pub triggered: VecDeque<Triggered>,
}

fn digest(s: &str) -> u64 {
    u64::from(crate::wire::crc32(s.as_bytes()))
}

impl Checklist {
    pub fn local_by_base(&self, base: SocketAddr) -> Option<usize> {
        self.locals
            .iter()
            .position(|l| l.base == base && l.is_pairable())
    }

    pub fn local_by_addr(&self, addr: SocketAddr, base: SocketAddr) -> Option<usize> {
        self.locals
            .iter()
            .position(|l| l.addr == addr && l.base == base && !l.removed)
    }

    pub fn remote_by_addr(&self, addr: SocketAddr) -> Option<usize> {
        self.remotes.iter().position(|r| r.addr == addr)
    }

    pub fn pair_by_addrs(&self, base: SocketAddr, remote: SocketAddr) -> Option<usize> {
        self.pairs.iter().position(|p| {
            self.locals[p.local].base == base && self.remotes[p.remote].addr == remote
        })
    }

    pub fn pair_of(&self, local: usize, remote: usize) -> Option<usize> {
        self.pairs
            .iter()
            .position(|p| p.local == local && p.remote == remote)
    }

    /// Adds a remote candidate (RFC 8838 §11.4: at any time). Same-address duplicates are not
    /// added twice; a signalled candidate replaces the type, priority and foundation of a
    /// peer-reflexive one learned earlier (the peer's view of it is authoritative).
    pub fn add_remote(&mut self, cand: Candidate, max: usize) -> AddRemote {
        let Some(addr) = cand.socket_addr().filter(|_| cand.is_usable()) else {
            return AddRemote::Refused;
        };
        if let Some(i) = self.remote_by_addr(addr) {
            let known = &mut self.remotes[i].cand;
            if known.kind == CandidateKind::PeerReflexive
                && cand.kind != CandidateKind::PeerReflexive
            {
                *known = cand;
                self.reprioritise_remote(i);
            }
            return AddRemote::Known(i);
        }
        if self.remotes.len() >= max {
            return AddRemote::Refused;
        }
        self.remotes.push(Remote { cand, addr });
        AddRemote::Added(self.remotes.len() - 1)
    }

    fn reprioritise_remote(&mut self, remote: usize) {
        let fd = digest(&self.remotes[remote].cand.foundation);
        for p in self.pairs.iter_mut().filter(|p| p.remote == remote) {
            p.foundation = (p.foundation & !0xffff_ffff) | fd;
        }
        // Priorities depend on the role; the agent recomputes them all.
    }

    /// Forms the pairs of one new local or remote candidate with every counterpart of the same
    /// address family (§6.1.2.2), skipping pairs already present (§6.1.2.4 pruning: local
    /// reflexive candidates are replaced by their bases, so a duplicate can only be the same
    /// base and remote address). Returns the new pairs' indices. `max` is the pair limit of
    /// §6.1.2.5: past it, a new pair replaces the lowest-priority frozen or waiting pair if it
    /// beats it, and is dropped otherwise.
    pub fn pair_up(
        &mut self,
        local: Option<usize>,
        remote: Option<usize>,
        controlling: bool,
        max: usize,
    ) -> Vec<usize> {
        let locals: Vec<usize> = match local {
            Some(l) => vec![l],
            None => (0..self.locals.len()).collect(),
        };
        let remotes: Vec<usize> = match remote {
            Some(r) => vec![r],
            None => (0..self.remotes.len()).collect(),
        };
        let mut added = Vec::new();
        for &l in &locals {
            if !self.locals[l].is_pairable() {
                continue;
            }
            for &r in &remotes {
                let (lb, ra) = (self.locals[l].base, self.remotes[r].addr);
                if !super::candidate::same_scope(lb, ra)
                    || !super::tcp_agent::compatible(&self.locals[l].cand, &self.remotes[r].cand)
                    || self.pair_by_addrs(lb, ra).is_some()
                {
                    continue;
                }
                if let Some(i) = self.insert_pair(l, r, controlling, max) {
                    added.push(i);
                }
            }
        }
        added
    }

    fn insert_pair(&mut self, l: usize, r: usize, controlling: bool, max: usize) -> Option<usize> {
        let (lc, rc) = (&self.locals[l].cand, &self.remotes[r].cand);
        let priority = if controlling {
            pair_priority(lc.priority, rc.priority)
        } else {
            pair_priority(rc.priority, lc.priority)
        };
        let foundation = (digest(&lc.foundation) << 32) | digest(&rc.foundation);
        // §6.1.2.6 and RFC 8838 §10: a new pair waits unless a pair of its foundation is
        // already being checked, in which case it is frozen until that one succeeds.
        let busy = self.pairs.iter().any(|p| {
            p.foundation == foundation
                && matches!(p.state, PairState::Waiting | PairState::InProgress)
        });
        let pair = Pair {
            local: l,
            remote: r,
            priority,
            foundation,
            state: if busy {
                PairState::Frozen
            } else {
                PairState::Waiting
            },
            valid: false,
            mapped_local: None,
            valid_priority: priority,
            nominated: false,
            nominate_on_success: false,
            inbound_ok: false,
            last_response: None,
            last_received: None,
            rtt: None,
            failure: None,
        };
        if self.pairs.len() < max {
            self.pairs.push(pair);
            return Some(self.pairs.len() - 1);
        }
        // §6.1.2.5: keep the highest-priority pairs. Only pairs that were never checked are
        // replaced (a queued triggered check may still have a transaction in flight).
        let victim = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                matches!(p.state, PairState::Frozen | PairState::Waiting)
                    && !p.inbound_ok
                    && !self.triggered.iter().any(|t| t.pair == *i)
            })
            .min_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i)?;
        if self.pairs[victim].priority >= priority {
            return None;
        }
        self.triggered.retain(|t| t.pair != victim);
        self.pairs[victim] = pair;
        Some(victim)
    }

    /// Recomputes every pair priority after a role change (§7.3.1.1: the priorities depend on
    /// who is controlling).
    pub fn reprioritise(&mut self, controlling: bool) {
        for i in 0..self.pairs.len() {
            let p = &self.pairs[i];
            let lc = &self.locals[p.local].cand;
            let vl = &self.locals[p.mapped_local.unwrap_or(p.local)].cand;
            let rc = &self.remotes[p.remote].cand;
            let f = |l: u32| {
                if controlling {
                    pair_priority(l, rc.priority)
                } else {
                    pair_priority(rc.priority, l)
                }
            };
            let (priority, valid_priority) = (f(lc.priority), f(vl.priority));
            let p = &mut self.pairs[i];
            p.priority = priority;
            p.valid_priority = valid_priority;
        }
    }

    /// §7.2.5.3.3: a success unfreezes the frozen pairs of the same foundation.
    pub fn unfreeze_foundation(&mut self, foundation: u64) {
        for p in &mut self.pairs {
            if p.foundation == foundation && p.state == PairState::Frozen {
                p.state = PairState::Waiting;
            }
        }
    }

    /// Puts a pair on the triggered-check queue unless it is already there with the same
    /// nomination flag (a nominating entry supersedes a plain one).
    pub fn trigger(&mut self, pair: usize, nominate: bool) {
        if let Some(t) = self.triggered.iter_mut().find(|t| t.pair == pair) {
            t.nominate |= nominate;
            return;
        }
        self.triggered.push_back(Triggered { pair, nominate });
    }

    /// The next check to send (§6.1.4.2): the head of the triggered queue; else the
    /// highest-priority waiting pair; else the highest-priority frozen pair whose foundation
    /// has no waiting or in-progress pair, unfrozen.
    pub fn next_check(&mut self) -> Option<Triggered> {
        while let Some(t) = self.triggered.pop_front() {
            let Some(p) = self.pairs.get(t.pair) else {
                continue;
            };
            // A plain triggered check on a pair that has succeeded since it was queued would
            // learn nothing new.
            if self.locals[p.local].is_pairable() && (t.nominate || p.state != PairState::Succeeded)
            {
                return Some(t);
            }
        }
        let best = |state: PairState, pairs: &[Pair]| {
            pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| p.state == state)
                .max_by_key(|(_, p)| p.priority)
                .map(|(i, _)| i)
        };
        if let Some(i) = best(PairState::Waiting, &self.pairs) {
            return Some(Triggered {
                pair: i,
                nominate: false,
            });
        }
        let active: Vec<u64> = self
            .pairs
            .iter()
            .filter(|p| matches!(p.state, PairState::Waiting | PairState::InProgress))
            .map(|p| p.foundation)
            .collect();
        let i = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Frozen && !active.contains(&p.foundation))
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i)?;
        self.pairs[i].state = PairState::Waiting;
        Some(Triggered {
            pair: i,
            nominate: false,
        })
    }

    /// Whether [`next_check`](Self::next_check) would find a check to send, so that the pacing
    /// timer only runs when there is one (the pair count is bounded, so this stays cheap).
    pub fn has_work(&self) -> bool {
        if !self.triggered.is_empty() || self.pairs.iter().any(|p| p.state == PairState::Waiting) {
            return true;
        }
        let active: Vec<u64> = self
            .pairs
            .iter()
            .filter(|p| p.state == PairState::InProgress)
            .map(|p| p.foundation)
            .collect();
        self.pairs
            .iter()
            .any(|p| p.state == PairState::Frozen && !active.contains(&p.foundation))
    }

    /// `Num-Waiting + Num-In-Progress` of RFC 8445 §14.3.
    pub fn outstanding(&self) -> usize {
        self.pairs
            .iter()
            .filter(|p| matches!(p.state, PairState::Waiting | PairState::InProgress))
            .count()
    }

    /// Whether any pair may still succeed: frozen, waiting or in progress.
    pub fn pending(&self) -> bool {
        self.pairs.iter().any(|p| {
            matches!(
                p.state,
                PairState::Frozen | PairState::Waiting | PairState::InProgress
            )
        })
    }

    /// The usable pair ranked first by valid-list priority, among those `filter` accepts.
    pub fn best_usable(&self, mut filter: impl FnMut(usize, &Pair) -> bool) -> Option<usize> {
        self.pairs
            .iter()
            .enumerate()
            .filter(|(i, p)| p.usable() && filter(*i, p))
            .max_by_key(|(_, p)| p.valid_priority)
            .map(|(i, _)| i)
    }
}
