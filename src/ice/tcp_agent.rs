//! The agent's side of ICE-TCP (RFC 6544): TCP host candidates, their priorities, the tcptype
//! pairing rules and connection failures. The framing and connections are in `tcp.rs`.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::Error;
use super::agent::Agent;
use super::candidate::{
    COMPONENT_RTP, Candidate, CandidateKind, TcpType, Transport, foundation, local_preference,
};
use super::checklist::{Local, PairState};
use super::tcp::ACTIVE_PORT;

/// The type preference of TCP candidates: below every UDP candidate but relayed ones (RFC 6544
/// §4.2 recommends that UDP be preferred when both work), keeping the RFC 8445 order among
/// TCP kinds.
pub(crate) fn tcp_type_preference(kind: CandidateKind) -> u32 {
    match kind {
        CandidateKind::Host => 90,
        CandidateKind::PeerReflexive => 80,
        CandidateKind::ServerReflexive => 70,
        CandidateKind::Relayed => 0,
    }
}

/// RFC 6544 §4.2: `local preference = 2^13 * direction-pref + other-pref`. For candidates
/// that are not behind a NAT (host), active is preferred (6) over passive (4) over
/// simultaneous-open (2). `other-pref` (13 bits) orders interfaces: here the RFC 8421
/// interleaving of [`local_preference`], scaled down.
pub fn tcp_local_preference(tcp_type: TcpType, ip: IpAddr, rank: usize) -> u16 {
    let direction: u16 = match tcp_type {
        TcpType::Active => 6,
        TcpType::Passive => 4,
        TcpType::SimultaneousOpen => 2,
    };
    (direction << 13) | (local_preference(ip, rank) >> 3)
}

/// The RFC 8445 §5.1.2.1 priority of a TCP candidate, with [`tcp_local_preference`]'s local
/// preference and a type preference below UDP's.
pub fn tcp_priority(kind: CandidateKind, tcp_type: TcpType, ip: IpAddr, rank: usize) -> u32 {
    let local = tcp_local_preference(tcp_type, ip, rank);
    (tcp_type_preference(kind) << 24) + (u32::from(local) << 8) + (256 - u32::from(COMPONENT_RTP))
}

/// RFC 6544 §6.2: a local candidate pairs with a remote one of the same transport, and over
/// TCP "local active with remote passive, local passive with remote active, and local S-O
/// with remote S-O". A pair with a passive local candidate is never checked from here (no
/// connection can be opened to an active candidate's discard port): it exists only once the
/// peer connected and checked it, which makes the remote a peer-reflexive candidate.
pub(crate) fn compatible(local: &Candidate, remote: &Candidate) -> bool {
    match (&local.transport, &remote.transport) {
        (Transport::Udp, Transport::Udp) => true,
        (Transport::Tcp, Transport::Tcp) => matches!(
            (local.tcp_type, remote.tcp_type, remote.kind),
            (Some(TcpType::Active), Some(TcpType::Passive), _)
                | (
                    Some(TcpType::Passive),
                    Some(TcpType::Active),
                    CandidateKind::PeerReflexive
                )
                | (
                    Some(TcpType::SimultaneousOpen),
                    Some(TcpType::SimultaneousOpen),
                    _
                )
        ),
        _ => false,
    }
}

/// The tcptype of a peer-reflexive remote candidate learned from a check that reached a local
/// TCP candidate: the peer connected to our passive candidate from an active one (RFC 6544
/// §7.2.1), or S-O met S-O.
pub(crate) fn peer_tcp_type(local: TcpType) -> TcpType {
    match local {
        TcpType::Passive => TcpType::Active,
        TcpType::Active => TcpType::Passive,
        TcpType::SimultaneousOpen => TcpType::SimultaneousOpen,
    }
}

impl Agent {
    /// Adds a passive TCP host candidate (RFC 6544 §4.1) on the listening socket `listener`
    /// that the driver owns: it accepts connections there and hands them to an
    /// [`IceTcpLink`](super::IceTcpLink) (register the address with
    /// [`add_local`](super::IceTcpLink::add_local)). The address must not be one of the
    /// agent's UDP addresses: the agent names its candidates by address.
    pub fn add_tcp_passive(&mut self, listener: SocketAddr) -> Result<(), Error> {
        self.add_tcp_host(listener, TcpType::Passive)
    }

    /// Adds an active TCP host candidate (RFC 6544 §4.1) on the interface `ip`: it opens a
    /// connection to each passive remote candidate it is paired with. Its address is `ip:9`
    /// (§4.5: active candidates are signalled with the discard port), which is returned: the
    /// [`IceTcpLink`](super::IceTcpLink) must know it
    /// ([`add_local`](super::IceTcpLink::add_local)).
    pub fn add_tcp_active(&mut self, ip: IpAddr) -> Result<SocketAddr, Error> {
        let addr = SocketAddr::new(ip, ACTIVE_PORT);
        self.add_tcp_host(addr, TcpType::Active)?;
        Ok(addr)
    }

    fn add_tcp_host(&mut self, addr: SocketAddr, tcp_type: TcpType) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(Error::BadLocalAddress(addr));
        }
        if let Some(l) = self
            .list
            .locals
            .iter()
            .find(|l| l.base == addr && !l.removed)
        {
            return if l.cand.tcp_type == Some(tcp_type) {
                Ok(())
            } else {
                Err(Error::BadLocalAddress(addr))
            };
        }
        let hosts = self
            .list
            .locals
            .iter()
            .filter(|l| l.cand.kind == CandidateKind::Host && !l.removed);
        if hosts.clone().count() >= self.cfg.max_local_addresses {
            return Err(Error::TooManyLocalAddresses);
        }
        let rank = hosts
            .filter(|l| l.base.is_ipv4() == addr.is_ipv4() && l.cand.tcp_type == Some(tcp_type))
            .count();
        let f = foundation(CandidateKind::Host, addr.ip(), None, &Transport::Tcp);
        let mut cand = Candidate::new(
            CandidateKind::Host,
            addr,
            tcp_priority(CandidateKind::Host, tcp_type, addr.ip(), rank),
            &f,
        );
        cand.transport = Transport::Tcp;
        cand.tcp_type = Some(tcp_type);
        self.push_local(Local {
            cand,
            addr,
            base: addr,
            relay: None,
            removed: false,
        });
        // TCP host candidates gather nothing more, but the end of gathering is announced again.
        self.gathering.reopen();
        Ok(())
    }

    /// The local TCP host candidates, as (address, tcptype), to re-create them after a restart
    /// or a role change.
    pub fn local_tcp_candidates(&self) -> Vec<(SocketAddr, TcpType)> {
        self.list
            .locals
            .iter()
            .filter(|l| l.cand.kind == CandidateKind::Host && !l.removed)
            .filter_map(|l| Some((l.base, l.cand.tcp_type?)))
            .collect()
    }

    /// The driver's TCP connection between the local TCP candidate `local` and `remote`
    /// closed, or could not be opened ([`IceTcpLink::handle_closed`](super::IceTcpLink::handle_closed)
    /// gives the addresses). RFC 6544 §7.1: a connection that cannot be opened fails its
    /// pair's check; a pair whose connection is gone can carry nothing more, so it fails too.
    /// If it was the selected pair, another pair with fresh consent is selected at once (and
    /// nominated, when this agent controls), as after consent loss; with none, the next
    /// evaluation decides.
    pub fn tcp_stream_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        let Some(pair) = self.list.pair_by_addrs(local, remote) else {
            return;
        };
        if self.list.locals[self.list.pairs[pair].local].cand.transport != Transport::Tcp {
            return;
        }
        for id in self
            .txs
            .ids_where(|t| t.source == local && t.destination == remote)
        {
            if let Some(tx) = self.txs.remove(&id) {
                self.recycle(tx.bytes);
            }
        }
        self.list.triggered.retain(|t| t.pair != pair);
        self.fail_pair(pair);
        let p = &mut self.list.pairs[pair];
        p.nominated = false;
        p.nominate_on_success = false;
        p.inbound_ok = false;
        debug_assert_eq!(p.state, PairState::Failed);
        if self.selected == Some(pair) {
            self.move_on(now);
        }
        self.stats.tcp_streams_closed += 1;
        self.dirty = true;
    }

    /// Whether a passive TCP candidate of ours waits for the peer's active candidate to connect:
    /// the peer signalled an active TCP candidate (or one under a name) and no check has come
    /// in over TCP yet. Failure then waits for the end-of-candidates timeout, as for mDNS
    /// names, rather than for the peer's end-of-candidates.
    pub(crate) fn awaiting_tcp_peer(&self) -> bool {
        let passive = self.list.locals.iter().any(|l| {
            !l.removed
                && l.cand.transport == Transport::Tcp
                && l.cand.tcp_type == Some(TcpType::Passive)
        });
        let is_active =
            |c: &Candidate| c.transport == Transport::Tcp && c.tcp_type == Some(TcpType::Active);
        let peer_active = self.list.remotes.iter().any(|r| is_active(&r.cand))
            || self.list.unresolved.iter().any(is_active);
        let inbound =
            self.list.pairs.iter().any(|p| {
                self.list.locals[p.local].cand.transport == Transport::Tcp && p.inbound_ok
            });
        passive && peer_active && !inbound
    }

    /// Whether the local candidate a check leaves from is a TCP one: its requests are not
    /// retransmitted (RFC 6544 §7.1 after RFC 8489 §6.2.2: TCP is reliable).
    pub(crate) fn is_tcp_local(&self, local: usize) -> bool {
        self.list
            .locals
            .get(local)
            .is_some_and(|l| l.cand.transport == Transport::Tcp)
    }

    /// A peer-reflexive remote candidate for a check from `source` that reached the local TCP
    /// candidate `local`.
    pub(crate) fn tcp_prflx(
        &self,
        local: usize,
        source: SocketAddr,
        priority: u32,
    ) -> Option<Candidate> {
        let l = self.list.locals.get(local)?;
        let tcp_type = l.cand.tcp_type?;
        let f = foundation(
            CandidateKind::PeerReflexive,
            source.ip(),
            None,
            &Transport::Tcp,
        );
        let mut cand = Candidate::new(CandidateKind::PeerReflexive, source, priority, &f);
        cand.transport = Transport::Tcp;
        cand.tcp_type = Some(peer_tcp_type(tcp_type));
        Some(cand)
    }

    /// The TCP candidates announced so far (for tests).
    #[cfg(test)]
    pub(crate) fn tcp_events(&mut self) -> Vec<Candidate> {
        std::iter::from_fn(|| self.events.pop_front())
            .filter_map(|e| match e {
                super::IceEvent::LocalCandidate(c) if c.transport == Transport::Tcp => Some(c),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ice::AgentConfig;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_priorities_follow_rfc6544_and_stay_below_udp() {
        let v4 = ip("192.0.2.1");
        let active = tcp_priority(CandidateKind::Host, TcpType::Active, v4, 0);
        let passive = tcp_priority(CandidateKind::Host, TcpType::Passive, v4, 0);
        let so = tcp_priority(CandidateKind::Host, TcpType::SimultaneousOpen, v4, 0);
        assert!(active > passive && passive > so);
        // §4.2: direction-pref in the top three bits of the local preference.
        assert_eq!(tcp_local_preference(TcpType::Active, v4, 0) >> 13, 6);
        assert_eq!(tcp_local_preference(TcpType::Passive, v4, 0) >> 13, 4);
        let udp_srflx = crate::ice::priority(CandidateKind::ServerReflexive, 0, 1);
        assert!(
            active < udp_srflx,
            "every TCP host candidate ranks below UDP"
        );
        let relay = crate::ice::priority(CandidateKind::Relayed, 65535, 1);
        assert!(so > relay);
    }

    #[test]
    fn tcptype_pairing_rules_of_rfc6544() {
        let tcp = |t: TcpType, kind: CandidateKind| {
            let mut c = Candidate::new(kind, "192.0.2.1:9".parse().unwrap(), 1, "1");
            c.transport = Transport::Tcp;
            c.tcp_type = Some(t);
            c
        };
        let udp = Candidate::new(CandidateKind::Host, "192.0.2.1:9".parse().unwrap(), 1, "1");
        use CandidateKind::{Host, PeerReflexive};
        use TcpType::{Active, Passive, SimultaneousOpen as So};
        assert!(compatible(&tcp(Active, Host), &tcp(Passive, Host)));
        assert!(!compatible(&tcp(Active, Host), &tcp(Active, Host)));
        assert!(!compatible(&tcp(Passive, Host), &tcp(Passive, Host)));
        assert!(
            !compatible(&tcp(Passive, Host), &tcp(Active, Host)),
            "a signalled active candidate is never connected to"
        );
        assert!(compatible(&tcp(Passive, Host), &tcp(Active, PeerReflexive)));
        assert!(compatible(&tcp(So, Host), &tcp(So, Host)));
        assert!(!compatible(&tcp(So, Host), &tcp(Passive, Host)));
        assert!(!compatible(&udp, &tcp(Passive, Host)));
        assert!(!compatible(&tcp(Active, Host), &udp));
        assert!(compatible(&udp, &udp));
    }

    #[test]
    fn tcp_remote_candidates_pair_only_with_tcp_locals_of_the_matching_tcptype() {
        let mut a = Agent::new(AgentConfig::controlling().with_seed(1));
        a.add_local_interface("192.0.2.1:5000".parse().unwrap())
            .unwrap();
        a.add_tcp_active(ip("192.0.2.1")).unwrap();
        a.add_tcp_passive("192.0.2.1:7000".parse().unwrap())
            .unwrap();
        a.set_remote_credentials("rmte", "remotepasswordremotepass")
            .unwrap();
        let tcp = |port: u16, t: TcpType| {
            let mut c = Candidate::new(
                CandidateKind::Host,
                SocketAddr::new(ip("192.0.2.2"), port),
                tcp_priority(CandidateKind::Host, t, ip("192.0.2.2"), 0),
                "7",
            );
            c.transport = Transport::Tcp;
            c.tcp_type = Some(t);
            c
        };
        a.add_remote_candidate(tcp(8000, TcpType::Passive)).unwrap();
        a.add_remote_candidate(tcp(9, TcpType::Active)).unwrap();
        let pairs: Vec<(SocketAddr, SocketAddr)> = a
            .list
            .pairs
            .iter()
            .map(|p| (a.list.locals[p.local].base, a.list.remotes[p.remote].addr))
            .collect();
        // Only our active candidate with their passive one: never UDP with TCP, and a passive
        // local waits for the peer's active candidate to connect.
        assert_eq!(
            pairs,
            vec![(
                "192.0.2.1:9".parse().unwrap(),
                "192.0.2.2:8000".parse().unwrap()
            )]
        );
        assert!(a.awaiting_tcp_peer());
    }

    #[test]
    fn tcp_host_candidates_are_announced_with_their_tcptype() {
        let mut a = Agent::new(AgentConfig::controlled().with_seed(1));
        a.add_tcp_passive("192.0.2.1:7000".parse().unwrap())
            .unwrap();
        let active = a.add_tcp_active(ip("192.0.2.1")).unwrap();
        assert_eq!(active, "192.0.2.1:9".parse().unwrap());
        let cands = a.tcp_events();
        assert_eq!(cands.len(), 2);
        assert_eq!(cands[0].tcp_type, Some(TcpType::Passive));
        assert_eq!(cands[0].port, 7000);
        assert_eq!(cands[1].tcp_type, Some(TcpType::Active));
        assert_eq!(cands[1].port, 9);
        let line = cands[0].to_string();
        assert!(
            line.contains(" tcp ") && line.ends_with("tcptype passive"),
            "{line}"
        );
        // A restart re-announces them with their tcptype.
        a.restart();
        let again = a.tcp_events();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].tcp_type, Some(TcpType::Passive));
        assert_eq!(again[1].tcp_type, Some(TcpType::Active));
        // The same address as a UDP socket would be ambiguous.
        a.add_local_interface("192.0.2.1:5000".parse().unwrap())
            .unwrap();
        assert_eq!(
            a.add_tcp_passive("192.0.2.1:5000".parse().unwrap()),
            Err(Error::BadLocalAddress("192.0.2.1:5000".parse().unwrap()))
        );
    }
}
