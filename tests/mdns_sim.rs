//! mDNS candidates in the simulator: ICE agents that hide their host addresses behind
//! `.local` names, each host with one mDNS responder and resolver on port 5353, on a link where
//! multicast reaches every host.
#![cfg(feature = "sim")]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kaon::ice::{Address, Agent, AgentConfig, Candidate, IceEvent, IceState, MdnsMode};
use kaon::mdns::{Mdns, MdnsConfig, MdnsEvent};
use kaon::sim::{EndpointId, LinkConfig, Sim};
use kaon::{Datagram, Protocol, Transmit};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// One host's ICE agent and mDNS instance behind one `Protocol`, wired the way a
/// PeerConnection wires them: datagrams to port 5353 go to mDNS, the rest to ICE; the agent's
/// names are registered and its unresolved remote names resolved, and the answers go back.
struct Node {
    agent: Agent,
    mdns: Mdns,
    events: VecDeque<NodeEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a test harness; IceEvent is what it is
enum NodeEvent {
    Ice(IceEvent),
    Mdns(MdnsEvent),
}

impl Node {
    fn new(config: AgentConfig, mdns_socket: SocketAddr, seed: u64) -> Self {
        Self {
            agent: Agent::new(config),
            mdns: Mdns::new(MdnsConfig::new(vec![mdns_socket]).with_seed(seed)),
            events: VecDeque::new(),
        }
    }

    /// Passes names between the agent and mDNS (both calls are idempotent), and mDNS's
    /// answers to the agent.
    fn sync(&mut self, now: Instant) {
        while let Some(e) = self.mdns.poll_event() {
            match &e {
                MdnsEvent::Resolved { name, ip } => {
                    self.agent.resolve_remote_name(name, *ip);
                }
                MdnsEvent::Failed { name } => {
                    self.agent.remote_name_failed(name);
                }
            }
            self.events.push_back(NodeEvent::Mdns(e));
        }
        for (name, ip) in self.agent.local_mdns_names() {
            self.mdns.register_name(name, ip).unwrap();
        }
        for name in self.agent.unresolved_remote_names() {
            self.mdns.resolve(now, &name).unwrap();
        }
    }
}

impl Protocol for Node {
    type Event = NodeEvent;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        if d.destination.port() == kaon::mdns::PORT {
            self.mdns.handle_datagram(now, d);
        } else {
            self.agent.handle_datagram(now, d);
        }
        self.sync(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.mdns.handle_timeout(now);
        self.agent.handle_timeout(now);
        self.sync(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.mdns
            .poll_transmit(now, buf)
            .or_else(|| self.agent.poll_transmit(now, buf))
    }

    fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events
            .pop_front()
            .or_else(|| self.agent.poll_event().map(NodeEvent::Ice))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.mdns.poll_timeout(), self.agent.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A host on `lan` at `ip` with an agent on port 5000 and mDNS on 5353.
fn host(
    sim: &mut Sim,
    lan: kaon::sim::NetworkId,
    name: &str,
    ip: &str,
    cfg: AgentConfig,
    seed: u64,
) -> EndpointId {
    let ip: IpAddr = ip.parse().unwrap();
    let h = sim.add_host(name);
    sim.add_interface(h, lan, ip, LinkConfig::with_latency(5 * MS));
    let ice = SocketAddr::new(ip, 5000);
    let mdns = SocketAddr::new(ip, 5353);
    let mut node = Node::new(cfg, mdns, seed);
    node.agent.add_local_interface(ice).unwrap();
    sim.add_endpoint(h, &[ice, mdns], node)
}

fn cfg(controlling: bool, seed: u64) -> AgentConfig {
    AgentConfig {
        controlling,
        seed: Some(seed),
        mdns_mode: MdnsMode::HideHostAddresses,
        ..AgentConfig::default()
    }
}

fn node(sim: &mut Sim, id: EndpointId) -> &mut Node {
    sim.endpoint_mut::<Node>(id)
}

/// Signals credentials and the candidates each side would send (hidden names) to the other.
fn signal(sim: &mut Sim, a: EndpointId, b: EndpointId) -> (Vec<Candidate>, Vec<Candidate>) {
    let (ua, pa) = {
        let (u, p) = node(sim, a).agent.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    let (ub, pb) = {
        let (u, p) = node(sim, b).agent.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    node(sim, a).agent.set_remote_credentials(&ub, &pb).unwrap();
    node(sim, b).agent.set_remote_credentials(&ua, &pa).unwrap();
    let ca = node(sim, a).agent.signalled_candidates();
    let cb = node(sim, b).agent.signalled_candidates();
    (ca, cb)
}

fn state(sim: &mut Sim, id: EndpointId) -> IceState {
    node(sim, id).agent.state()
}

#[test]
fn peers_known_only_by_local_names_connect() {
    let t0 = Instant::now();
    let mut sim = Sim::new(11, t0);
    let lan = sim.add_network("lan");
    let a = host(&mut sim, lan, "a", "10.0.0.1", cfg(true, 1), 101);
    let b = host(&mut sim, lan, "b", "10.0.0.2", cfg(false, 2), 102);
    let (ca, cb) = signal(&mut sim, a, b);
    // What crosses signalling names no address: only `.local` names.
    for c in ca.iter().chain(&cb) {
        let Address::Mdns(n) = &c.address else {
            panic!("host address leaked: {c}");
        };
        assert!(n.ends_with(".local") && n.len() == 42, "{n}");
        assert!(!c.to_string().contains("10.0.0."), "{c}");
    }
    for c in cb {
        node(&mut sim, a).agent.add_remote_candidate(c).unwrap();
    }
    for c in ca {
        node(&mut sim, b).agent.add_remote_candidate(c).unwrap();
    }
    for id in [a, b] {
        node(&mut sim, id).sync(t0);
    }
    let connected = sim
        .run_until_cond(t0 + 5 * SEC, |s| {
            let ok = |id| {
                matches!(
                    s.endpoint::<Node>(id).agent.state(),
                    IceState::Connected | IceState::Completed
                )
            };
            ok(a) && ok(b)
        })
        .unwrap();
    assert!(connected);
    let took = sim.now() - t0;
    println!("connected by .local names in {took:?}");
    assert!(took < SEC, "{took:?}");
    for (id, peer) in [(a, "10.0.0.2"), (b, "10.0.0.1")] {
        let pair = node(&mut sim, id).agent.selected_pair().expect("a pair");
        assert_eq!(pair.remote.ip(), peer.parse::<IpAddr>().unwrap());
    }
    // A resolved B's name through B's responder: the first query was answered (QM, multicast).
    let resolved_a = sim
        .events::<Node>(a)
        .iter()
        .filter(|e| matches!(e, NodeEvent::Mdns(MdnsEvent::Resolved { .. })))
        .count();
    assert_eq!(resolved_a, 1);
    assert!(node(&mut sim, a).agent.unresolved_remote_names().is_empty());
    assert!(node(&mut sim, b).mdns.stats().answered >= 1);
    // Data flows.
    node(&mut sim, a).agent.send(b"over mdns").unwrap();
    sim.run_for(100 * MS).unwrap();
    let got = sim.events::<Node>(b).iter().any(|e| {
        matches!(e, NodeEvent::Ice(IceEvent::Data { contents, .. }) if contents == b"over mdns")
    });
    assert!(got);
}

#[test]
fn name_that_never_resolves_fails_cleanly() {
    let t0 = Instant::now();
    let mut sim = Sim::new(12, t0);
    let lan = sim.add_network("lan");
    let a = host(&mut sim, lan, "a", "10.0.0.1", cfg(true, 3), 103);
    // B exists but its responder does not know the name A is given.
    let b = host(&mut sim, lan, "b", "10.0.0.2", cfg(false, 4), 104);
    let (_, cb) = signal(&mut sim, a, b);
    let mut bogus = cb[0].clone();
    bogus.address = Address::Mdns("0b4ec28b-8f4b-4cbe-a1b5-1bd4b79fae03.local".into());
    node(&mut sim, a).agent.add_remote_candidate(bogus).unwrap();
    node(&mut sim, a).sync(t0);
    let failed = sim
        .run_until_cond(t0 + 20 * SEC, |s| {
            s.events::<Node>(a)
                .iter()
                .any(|e| matches!(e, NodeEvent::Mdns(MdnsEvent::Failed { .. })))
        })
        .unwrap();
    assert!(failed);
    // Three queries (0, 1, 3 s), then the 5 s timeout.
    assert_eq!(sim.now() - t0, 5 * SEC);
    assert_eq!(node(&mut sim, a).mdns.stats().queries_sent, 3);
    assert!(node(&mut sim, a).agent.unresolved_remote_names().is_empty());
    assert_ne!(state(&mut sim, a), IceState::Connected);
    // With nothing left pending and the peer's end-of-candidates, the agent fails once the
    // peer has been quiet for the end-of-candidates timeout (10 s since its last candidate):
    // until then its own checks could still bring a peer-reflexive pair.
    node(&mut sim, a).agent.end_of_remote_candidates();
    sim.run_for(SEC).unwrap();
    assert_ne!(state(&mut sim, a), IceState::Failed);
    sim.run_until_cond(t0 + 11 * SEC, |s| {
        s.endpoint::<Node>(a).agent.state() == IceState::Failed
    })
    .unwrap();
    assert_eq!(state(&mut sim, a), IceState::Failed);
    assert!(
        sim.now() - t0 <= 10 * SEC + 100 * MS,
        "{:?}",
        sim.now() - t0
    );
}

#[test]
fn multicast_stays_on_its_link() {
    // Two LANs: a query on one never reaches the other, so a name there does not resolve.
    let t0 = Instant::now();
    let mut sim = Sim::new(13, t0);
    let lan1 = sim.add_network("lan1");
    let lan2 = sim.add_network("lan2");
    let a = host(&mut sim, lan1, "a", "10.0.0.1", cfg(true, 5), 105);
    let b = host(&mut sim, lan2, "b", "10.0.1.2", cfg(false, 6), 106);
    let (_, cb) = signal(&mut sim, a, b);
    for c in cb {
        node(&mut sim, a).agent.add_remote_candidate(c).unwrap();
    }
    node(&mut sim, a).sync(t0);
    sim.run_for(6 * SEC).unwrap();
    assert!(
        sim.events::<Node>(a)
            .iter()
            .any(|e| matches!(e, NodeEvent::Mdns(MdnsEvent::Failed { .. })))
    );
    assert_eq!(node(&mut sim, b).mdns.stats().received, 0);
}

#[test]
fn a_query_reaches_every_other_host_on_the_link() {
    let t0 = Instant::now();
    let mut sim = Sim::new(14, t0);
    let lan = sim.add_network("lan");
    let ids: Vec<EndpointId> = (1..=4)
        .map(|i| {
            host(
                &mut sim,
                lan,
                &format!("h{i}"),
                &format!("10.0.0.{i}"),
                cfg(i == 1, i),
                200 + i,
            )
        })
        .collect();
    node(&mut sim, ids[0])
        .mdns
        .resolve(t0, "anyone.local")
        .unwrap();
    sim.run_for(100 * MS).unwrap();
    let received: Vec<u64> = ids
        .iter()
        .map(|&id| node(&mut sim, id).mdns.stats().received)
        .collect();
    assert_eq!(received, [0, 1, 1, 1]);
}

#[test]
fn hidden_agent_blanks_the_related_address_of_its_reflexive_candidate() {
    // draft-ietf-mmusic-mdns-ice-candidates §3.1.2.2: a srflx candidate's raddr would reveal
    // the host address the name hides.
    use kaon::ice::CandidateKind;
    use kaon::stun::{Server, ServerConfig};
    let t0 = Instant::now();
    let mut sim = Sim::new(15, t0);
    let lan = sim.add_network("lan");
    let internet = sim.add_network("internet");
    sim.add_nat(
        "nat",
        lan,
        internet,
        &["203.0.113.1".parse().unwrap()],
        kaon::sim::NatConfig::port_restricted_cone(),
    );
    let stun: SocketAddr = "198.51.100.1:3478".parse().unwrap();
    let sh = sim.add_host("stun");
    sim.add_interface(sh, internet, stun.ip(), LinkConfig::with_latency(5 * MS));
    sim.add_endpoint(sh, &[stun], Server::new(ServerConfig::new(vec![stun])));
    let mut c = cfg(true, 7);
    c.stun_servers = vec![stun];
    let a = host(&mut sim, lan, "a", "10.0.0.1", c, 107);
    sim.run_for(SEC).unwrap();
    let announced: Vec<Candidate> = sim
        .events::<Node>(a)
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Ice(IceEvent::LocalCandidate(c)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let srflx = announced
        .iter()
        .find(|c| c.kind == CandidateKind::ServerReflexive)
        .expect("a srflx candidate");
    assert_eq!(srflx.related(), Some("0.0.0.0:0".parse().unwrap()));
    assert!(!srflx.to_string().contains("10.0.0.1 "));
    let host = announced
        .iter()
        .find(|c| c.kind == CandidateKind::Host)
        .unwrap();
    assert!(matches!(host.address, Address::Mdns(_)));
}

#[test]
fn ipv6_only_peers_known_by_local_names_connect_through_ff02_fb() {
    let t0 = Instant::now();
    let mut sim = Sim::new(16, t0);
    let lan = sim.add_network("lan6");
    let a = host(&mut sim, lan, "a", "fd00::1", cfg(true, 8), 108);
    let b = host(&mut sim, lan, "b", "fd00::2", cfg(false, 9), 109);
    let (ca, cb) = signal(&mut sim, a, b);
    for c in cb {
        node(&mut sim, a).agent.add_remote_candidate(c).unwrap();
    }
    for c in ca {
        node(&mut sim, b).agent.add_remote_candidate(c).unwrap();
    }
    for id in [a, b] {
        node(&mut sim, id).sync(t0);
    }
    let connected = sim
        .run_until_cond(t0 + 5 * SEC, |s| {
            s.endpoint::<Node>(a).agent.selected_pair().is_some()
                && s.endpoint::<Node>(b).agent.selected_pair().is_some()
        })
        .unwrap();
    assert!(connected);
    let pair = node(&mut sim, a).agent.selected_pair().unwrap();
    assert_eq!(pair.remote.ip(), "fd00::2".parse::<IpAddr>().unwrap());
    // The queries went to the IPv6 group.
    assert!(sim.events::<Node>(a).iter().any(|e| matches!(
        e,
        NodeEvent::Mdns(MdnsEvent::Resolved {
            ip: IpAddr::V6(_),
            ..
        })
    )));
}
