//! The relay seam: how a TURN client (RFC 8656) plugs into the agent.
//!
//! A [`Relay`] is one allocation on one TURN server, reached from one local socket. The agent
//! drives it like any other sans-IO layer (timeouts in, control datagrams out), and once it
//! has a relayed address the agent adds a relayed candidate whose base is that address. Checks
//! and data on pairs of that candidate are wrapped by the relay (Send indications or
//! ChannelData) and leave from the relay's local socket to its server; datagrams from the
//! server are unwrapped by the relay and processed as if they had arrived on the relayed
//! address from the peer. Permissions are requested for every remote address the relayed
//! candidate is paired with.
//!
//! [`turn::Client`](crate::turn::Client) implements it; the agent makes one per local address
//! and TURN server of the same family from [`AgentConfig::turn_servers`](super::AgentConfig),
//! and applications may add their own with [`Agent::add_relay`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use super::agent::Agent;
use super::candidate::{Candidate, CandidateKind, Transport, foundation, priority};
use super::checklist::Local;
use crate::Transmit;
use crate::turn::TurnTransport;

/// What a relay made of a datagram from its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwrapped<'a> {
    /// The relay's own traffic (Allocate, Refresh, CreatePermission, ChannelBind responses).
    Control,
    /// Data relayed from a peer.
    Data {
        /// The peer's address, as the relay saw it.
        peer: SocketAddr,
        /// The peer's datagram.
        payload: &'a [u8],
    },
    /// Not understood, or not for this relay.
    Invalid,
}

/// One TURN allocation, as the agent sees it. All methods are sans-IO: `now` is an argument,
/// and output goes into the caller's buffer.
///
/// This is a handle the [`Agent`] owns and drives, not a driving contract of its own: an
/// application never drives a `Relay`, it drives the agent (a [`Protocol`](crate::Protocol)),
/// which calls these. Its receive path ([`unwrap`](Self::unwrap)) hands what it unwrapped back
/// to the agent at once instead of queueing events, and [`wrap`](Self::wrap) carries the
/// agent's own traffic; neither has a counterpart in the contract. Where a method means what
/// the contract's does ([`handle_timeout`](Self::handle_timeout),
/// [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout)) it has the
/// same name and the signature of the address-free form,
/// [`PacketProtocol`](crate::PacketProtocol): the addresses are always
/// [`local`](Self::local) to [`server`](Self::server).
pub trait Relay: fmt::Debug + Send {
    /// The local socket address the relay talks to its server from.
    fn local(&self) -> SocketAddr;
    /// The TURN server's address.
    fn server(&self) -> SocketAddr;
    /// How the relay reaches its server. Over TCP and TLS the relay's datagrams (from
    /// [`local`](Self::local) to [`server`](Self::server)) are carried by the driver's
    /// [`StreamLink`](crate::turn::StreamLink), and the relayed candidate ranks lower.
    fn transport(&self) -> TurnTransport {
        TurnTransport::Udp
    }
    /// The relayed transport address, once allocated.
    fn relayed(&self) -> Option<SocketAddr>;
    /// A second relayed address, of the other family, when a dual allocation (RFC 8656 §7.2,
    /// ADDITIONAL-ADDRESS-FAMILY) granted both: it becomes a second relayed candidate.
    fn relayed_second(&self) -> Option<SocketAddr> {
        None
    }
    /// The server-reflexive address the server saw (the Allocate response's
    /// XOR-MAPPED-ADDRESS), used as the relayed candidate's related address.
    fn mapped(&self) -> Option<SocketAddr> {
        None
    }
    /// Whether the allocation failed for good (gathering then completes without it).
    fn failed(&self) -> bool {
        false
    }
    /// Why the allocation failed, for the application (see [`Agent::relay_failures`]).
    fn failure(&self) -> Option<String> {
        None
    }
    /// The driver's TCP or TLS connection to the server closed: the allocation is gone with
    /// it (RFC 8656 §3.1). Does nothing by default (UDP relays).
    fn stream_closed(&mut self, now: Instant) {
        let _ = now;
    }
    /// Asks for a permission (and possibly a channel) towards `peer`. Called once per peer.
    fn permit(&mut self, now: Instant, peer: SocketAddr);
    /// Wraps `payload` for `peer` into `buf`; returns the length, or `None` if it cannot be
    /// sent (no allocation, buffer too small).
    fn wrap(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<usize>;
    /// Processes a datagram from the server.
    fn unwrap<'a>(&mut self, now: Instant, datagram: &'a [u8]) -> Unwrapped<'a>;
    /// Acts on the relay's own timers (retransmissions, refreshes).
    fn handle_timeout(&mut self, now: Instant);
    /// The relay's next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The relay's next control datagram to its server, written into `buf`.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
}

/// A relay and what the agent did with it.
#[derive(Debug)]
pub(crate) struct RelaySlot {
    pub relay: Box<dyn Relay>,
    /// The index of its relayed local candidate, once allocated.
    pub candidate: Option<usize>,
    /// The index of the second relayed candidate of a dual allocation.
    pub second: Option<usize>,
    /// Peers a permission was asked for.
    pub permitted: Vec<SocketAddr>,
}

impl Agent {
    /// Drives relays: timers, relayed candidates once allocated, permissions for new pairs.
    pub(crate) fn drive_relays(&mut self, now: Instant) {
        for r in 0..self.relays.len() {
            self.relays[r].relay.handle_timeout(now);
            if self.relays[r].candidate.is_none()
                && let Some(relayed) = self.relays[r].relay.relayed()
            {
                let index = self.add_relayed(r, relayed, 0);
                self.relays[r].candidate = Some(index);
                // RFC 8656 §7.2: a dual allocation's second address is a candidate too, so
                // peers of either family can be reached through the one allocation.
                if let Some(second) = self.relays[r].relay.relayed_second() {
                    let index = self.add_relayed(r, second, 1);
                    self.relays[r].second = Some(index);
                }
            }
            let Some(c) = self.relays[r].candidate else {
                continue;
            };
            let second = self.relays[r].second;
            let peers: Vec<SocketAddr> = self
                .list
                .pairs
                .iter()
                .filter(|p| p.local == c || Some(p.local) == second)
                .map(|p| self.list.remotes[p.remote].addr)
                .collect();
            let slot = &mut self.relays[r];
            for peer in peers {
                if !slot.permitted.contains(&peer) {
                    slot.permitted.push(peer);
                    slot.relay.permit(now, peer);
                }
            }
        }
    }

    /// The relays that failed for good, as (TURN server, reason): bad credentials, a refused
    /// allocation (486 quota, 508 capacity...), no answer. Gathering completes without them;
    /// with [`IceTransportPolicy::Relay`](super::IceTransportPolicy::Relay) and every relay
    /// failed, there is nothing to pair and the agent fails once its end-of-candidates wait is
    /// over.
    pub fn relay_failures(&self) -> Vec<(SocketAddr, String)> {
        self.relays
            .iter()
            .filter(|s| s.relay.failed())
            .filter_map(|s| Some((s.relay.server(), s.relay.failure()?)))
            .collect()
    }

    /// Tells the relays from `local` to `server` over TCP or TLS that their connection closed
    /// (what [`StreamLink::handle_closed`](crate::turn::StreamLink::handle_closed) returns):
    /// their allocations fail at once ([`relay_failures`](Self::relay_failures) says so)
    /// instead of when a request times out. Returns how many relays it told.
    pub fn relay_stream_closed(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
    ) -> usize {
        let mut told = 0;
        for slot in &mut self.relays {
            let r = &mut slot.relay;
            if r.local() == local && r.server() == server && r.transport().is_stream() {
                r.stream_closed(now);
                told += 1;
            }
        }
        told
    }

    /// Moves `old`'s relays, allocations and all, into this fresh agent (the answerer's
    /// switch to a controlled agent): making new ones from the same sockets would send a
    /// second Allocate on a 5-tuple that may already have an allocation, which servers
    /// refuse with 437 Allocation Mismatch (RFC 8656 §7.2). Call before adding local
    /// addresses, so that no relay is made twice.
    pub(crate) fn take_relays_from(&mut self, old: &mut Agent) {
        for mut slot in old.relays.drain(..) {
            // The relayed candidate is added again, to this agent's list, once allocated.
            slot.candidate = None;
            slot.second = None;
            slot.permitted.clear();
            self.relays.push(slot);
        }
        self.dirty = true;
    }

    /// Starts an allocation from the local address `addr` on each configured TURN server of
    /// its family.
    pub(crate) fn add_turn_relays(&mut self, addr: SocketAddr) {
        let servers: Vec<_> = self
            .cfg
            .turn_servers
            .iter()
            .filter(|s| s.address.is_ipv4() == addr.is_ipv4())
            .filter(|s| {
                // Once per (local address, server), however often the address is added.
                !self
                    .relays
                    .iter()
                    .any(|r| r.relay.local() == addr && r.relay.server() == s.address)
            })
            .cloned()
            .collect();
        for s in servers {
            let config = crate::turn::ClientConfig {
                seed: Some(self.rng.u64()),
                family: s.family,
                transport: s.transport,
                ..crate::turn::ClientConfig::new(addr, s.address, &s.username, &s.credential)
            };
            self.add_relay(Box::new(crate::turn::Client::new(config)));
        }
    }

    /// Adds relayed candidate `nth` (0, or 1 for a dual allocation's second address).
    fn add_relayed(&mut self, r: usize, relayed: SocketAddr, nth: u16) -> usize {
        let relay = &self.relays[r].relay;
        let related = relay.mapped().unwrap_or(relay.local());
        let f = foundation(
            CandidateKind::Relayed,
            relay.local().ip(),
            Some(relay.server().ip()),
            &Transport::Udp,
        );
        // RFC 8445 §5.1.2.2: the local preference ranks candidates of one type. A relay over
        // UDP beats one over TCP, which beats one over TLS (each adds its own head-of-line
        // blocking and overhead), as in browsers.
        let transport_rank = match relay.transport() {
            TurnTransport::Udp => 0,
            TurnTransport::Tcp => 1,
            TurnTransport::Tls => 2,
        };
        let local_pref = 65535 - transport_rank * 2048 - nth * 1024 - r.min(1000) as u16;
        let p = priority(CandidateKind::Relayed, local_pref, 1);
        let cand = Candidate::new(CandidateKind::Relayed, relayed, p, &f).with_related(related);
        self.push_local(Local {
            cand,
            addr: relayed,
            base: relayed,
            relay: Some(r),
            removed: false,
        })
    }

    /// The relays' own control datagrams, after the agent's.
    pub(crate) fn poll_relay_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.relays.iter_mut().find_map(|slot| {
            let len = slot.relay.poll_transmit(now, buf)?;
            Some(Transmit::new(slot.relay.local(), slot.relay.server(), len))
        })
    }
}
