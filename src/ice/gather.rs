//! Gathering server-reflexive candidates (RFC 8445 §5.1.1.2): a Binding request from each
//! local address to each configured STUN server of its family, paced at Ta; the mapped
//! address, when it differs from the base, becomes a server-reflexive candidate.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::agent::{Agent, IceEvent};
use super::candidate::{Candidate, CandidateKind, Transport, foundation, priority};
use super::checklist::Local;
use super::config::AgentConfig;
use crate::stun::Message;

/// Gathering progress.
#[derive(Debug, Default)]
pub(crate) struct Gathering {
    /// Requests not sent yet: (local index, server index).
    queued: VecDeque<(usize, usize)>,
    /// Requests queued or in flight.
    pending: usize,
    /// Requests started this round, for the §14.3 gathering RTO.
    requests: usize,
    /// A local address was added since GatheringComplete was last reported.
    open: bool,
}

impl Gathering {
    pub fn queue_host(&mut self, local: usize, addr: SocketAddr, servers: &[SocketAddr]) {
        self.open = true;
        for (i, s) in servers.iter().enumerate() {
            if s.is_ipv4() == addr.is_ipv4() {
                self.queued.push_back((local, i));
                self.pending += 1;
                self.requests += 1;
            }
        }
    }

    /// A local address was added: report the end of gathering again once it is done.
    pub fn reopen(&mut self) {
        self.open = true;
    }

    pub fn next(&mut self) -> Option<(usize, usize)> {
        self.queued.pop_front()
    }

    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    pub fn done(&mut self) {
        self.pending = self.pending.saturating_sub(1);
    }

    /// RFC 8445 §14.3: `RTO = MAX(500 ms, Ta * Num-Of-Cands)`.
    pub fn rto(&self, cfg: &AgentConfig) -> Duration {
        let n = u32::try_from(self.requests).unwrap_or(u32::MAX);
        cfg.ta.saturating_mul(n).max(cfg.rto_min)
    }
}

impl Agent {
    pub(crate) fn on_gathered(&mut self, local: usize, server: usize, msg: &Message) {
        let (Some(mapped), Some(&server)) =
            (msg.mapped_address(), self.cfg.stun_servers.get(server))
        else {
            return;
        };
        let Some(l) = self.list.locals.get(local) else {
            return;
        };
        let base = l.base;
        // §5.1.3: a reflexive address equal to the base, or already known, is redundant.
        if mapped == base || self.list.local_by_addr(mapped, base).is_some() {
            return;
        }
        let local_pref = ((l.cand.priority >> 8) & 0xffff) as u16;
        let cand = Candidate::new(
            CandidateKind::ServerReflexive,
            mapped,
            priority(CandidateKind::ServerReflexive, local_pref, l.cand.component),
            &foundation(
                CandidateKind::ServerReflexive,
                base.ip(),
                Some(server.ip()),
                &Transport::Udp,
            ),
        )
        .with_related(base);
        self.push_local(Local {
            cand,
            addr: mapped,
            base,
            relay: None,
            removed: false,
        });
    }

    /// Whether local gathering has finished: no STUN request pending and every relay either
    /// allocated or failed.
    pub(crate) fn gathering_done(&self) -> bool {
        self.gathering.pending == 0
            && self
                .relays
                .iter()
                .all(|r| r.candidate.is_some() || r.relay.failed())
    }

    /// Whether `poll_event` has anything to give: queued events, or a gathering round that
    /// may be reported complete. A connection polling for its own events skips the agent
    /// when not.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty() || self.gathering.open
    }

    /// Reports [`IceEvent::GatheringComplete`] once per gathering round.
    pub(crate) fn gathering_complete_check(&mut self) {
        if self.gathering.open && self.gathering_done() {
            self.gathering.open = false;
            self.gathering.requests = 0;
            self.push_event(IceEvent::GatheringComplete);
        }
    }
}
