//! TURN in the simulator: ICE agents that can only meet through kaon's TURN server (two
//! symmetric NATs, relay-only policy, an IPv4-only and an IPv6-only host through a
//! dual-stack relay), an hour of refreshes, and the server under a flood of unauthenticated
//! Allocates while real clients allocate beside it.
#![cfg(feature = "sim")]

mod ice_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_support::{MS, SEC, Session, Side, addr, ip, natted, stun_server};
use kaon::ice::{AgentConfig, CandidateKind, IceEvent, IceTransportPolicy, TurnServer};
use kaon::sim::{LinkConfig, NatConfig, NetworkId, Sim};
use kaon::stun::{Attribute, Class, Message, Method, TransactionId};
use kaon::turn::{RelayFamily, Server, ServerConfig};
use kaon::{Datagram, Protocol, Transmit};

const TURN: &str = "198.51.100.50:3478";
const TURN6: &str = "[2001:db8::50]:3478";

/// kaon's TURN server on `internet`, dual-stack, with `relays` addresses per family.
fn turn_server(sim: &mut Sim, internet: NetworkId, relays: u16) -> kaon::sim::EndpointId {
    let h = sim.add_host("turn");
    let iface = sim.add_interface(
        h,
        internet,
        ip("198.51.100.50"),
        LinkConfig::with_latency(5 * MS),
    );
    sim.add_address(iface, ip("2001:db8::50"));
    let mut relay_addrs = Vec::new();
    for i in 0..relays {
        relay_addrs.push(SocketAddr::new(ip("198.51.100.50"), 49152 + i));
        relay_addrs.push(SocketAddr::new(ip("2001:db8::50"), 49152 + i));
    }
    let mut cfg = ServerConfig::new(
        "kaon.test",
        vec![addr(TURN), addr(TURN6)],
        relay_addrs.clone(),
    );
    cfg.users.push(("alice".into(), "secret".into()));
    cfg.seed = Some(5);
    let now = sim.now();
    let mut bound = vec![addr(TURN), addr(TURN6)];
    bound.extend(relay_addrs);
    sim.add_endpoint(h, &bound, Server::new(cfg, now, 1_700_000_000))
}

fn config(controlling: bool, seed: u64, turn: Vec<TurnServer>, relay_only: bool) -> AgentConfig {
    AgentConfig {
        controlling,
        seed: Some(seed),
        turn_servers: turn,
        transport_policy: if relay_only {
            IceTransportPolicy::Relay
        } else {
            IceTransportPolicy::All
        },
        ..AgentConfig::default()
    }
}

/// Two agents behind symmetric NATs, both given the TURN server.
fn symmetric_session(seed: u64, relay_only: bool) -> (Session, kaon::sim::EndpointId, NetworkId) {
    let t0 = Instant::now();
    let mut sim = Sim::new(seed, t0);
    let internet = sim.add_network("internet");
    let stun = stun_server(&mut sim, internet, "198.51.100.1:3478");
    let server = turn_server(&mut sim, internet, 4);
    let home_a = natted(
        &mut sim,
        "home-a",
        internet,
        "203.0.113.1",
        NatConfig::symmetric(),
    );
    let home_b = natted(
        &mut sim,
        "home-b",
        internet,
        "203.0.113.2",
        NatConfig::symmetric(),
    );
    let turn = vec![TurnServer::new(addr(TURN), "alice", "secret")];
    let mut ca = config(true, seed * 2, turn.clone(), relay_only);
    let mut cb = config(false, seed * 2 + 1, turn, relay_only);
    ca.stun_servers = vec![stun];
    cb.stun_servers = vec![stun];
    let a = Side::new(&mut sim, "a", &[(home_a, "192.168.1.2")], 20 * MS, ca);
    let b = Side::new(&mut sim, "b", &[(home_b, "192.168.2.2")], 20 * MS, cb);
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    (s, server, internet)
}

fn local_kinds(s: &Session, a_side: bool) -> Vec<CandidateKind> {
    let log = if a_side { &s.log_a } else { &s.log_b };
    log.events
        .iter()
        .filter_map(|(_, e)| match e {
            IceEvent::LocalCandidate(c) => Some(c.kind),
            _ => None,
        })
        .collect()
}

#[test]
fn two_symmetric_nats_connect_through_kaons_turn_server() {
    let (mut s, server, _) = symmetric_session(21, false);
    let t = s
        .connect("symmetric NATs via TURN", 20 * SEC)
        .expect("connects");
    assert!(t < 5 * SEC, "{t:?}");
    // Each side may send from its host address to the other's relayed address (the
    // server's permission admits the NAT's mapping): either way the path is the relay.
    for side in [true, false] {
        let (local, remote) = s.agent_ref(side).selected_candidates().unwrap();
        assert!(
            local.kind == CandidateKind::Relayed || remote.kind == CandidateKind::Relayed,
            "{local:?} {remote:?}"
        );
    }
    s.send_data_every(20 * MS);
    s.run_for(2 * SEC);
    assert!(s.log_a.data.len() > 80 && s.log_b.data.len() > 80);
    assert_eq!(s.sim.endpoint::<Server>(server).allocations(), 2);
}

#[test]
fn relay_only_policy_signals_and_pairs_relayed_candidates_only() {
    let (mut s, _, _) = symmetric_session(22, true);
    s.connect("relay only", 20 * SEC).expect("connects");
    for side in [true, false] {
        let kinds = local_kinds(&s, side);
        assert!(!kinds.is_empty());
        assert!(
            kinds.iter().all(|k| *k == CandidateKind::Relayed),
            "{kinds:?}"
        );
        assert!(s.agent_ref(side).selected_pair().unwrap().relayed);
    }
    s.send_data_every(20 * MS);
    s.run_for(SEC);
    assert!(s.log_a.data.len() > 30 && s.log_b.data.len() > 30);
}

#[test]
fn ipv4_only_and_ipv6_only_hosts_connect_through_a_dual_stack_relay() {
    let t0 = Instant::now();
    let mut sim = Sim::new(23, t0);
    let internet = sim.add_network("internet");
    turn_server(&mut sim, internet, 2);
    // The IPv4-only host asks its (IPv4) TURN server for an IPv6 relayed address.
    let mut turn = TurnServer::new(addr(TURN), "alice", "secret");
    turn.family = RelayFamily::V6;
    let a = Side::new(
        &mut sim,
        "a",
        &[(internet, "192.0.2.10")],
        20 * MS,
        config(true, 46, vec![turn], false),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(internet, "2001:db8::b")],
        20 * MS,
        config(false, 47, vec![], false),
    );
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    s.connect("v4-only to v6-only", 20 * SEC).expect("connects");
    let pair = s.agent_ref(true).selected_pair().unwrap();
    assert!(pair.relayed);
    assert!(pair.remote.is_ipv6());
    s.send_data_every(20 * MS);
    s.run_for(SEC);
    assert!(s.log_a.data.len() > 30 && s.log_b.data.len() > 30);
}

#[test]
fn permission_and_channel_refreshes_survive_an_hour() {
    let (mut s, server, _) = symmetric_session(24, true);
    s.sim.set_max_steps(u64::MAX);
    s.connect("relay only, an hour", 20 * SEC)
        .expect("connects");
    s.send_data_every(SEC);
    s.run_for(3600 * SEC);
    let end = s.elapsed();
    for log in [&s.log_a, &s.log_b] {
        let recent = log.data.iter().filter(|(t, _)| *t + 60 * SEC > end).count();
        assert!(recent >= 55, "only {recent} datagrams in the last minute");
        let failed = log.events.iter().any(|(_, e)| {
            matches!(
                e,
                IceEvent::StateChanged(
                    kaon::ice::IceState::Failed | kaon::ice::IceState::Disconnected
                )
            )
        });
        assert!(!failed);
    }
    assert_eq!(s.sim.endpoint::<Server>(server).allocations(), 2);
}

/// Sends `per_tick` unauthenticated Allocates every `tick` from one address, each with a new
/// transaction id, and counts the answers.
#[derive(Debug)]
struct Flooder {
    local: SocketAddr,
    server: SocketAddr,
    per_tick: u32,
    tick: Duration,
    next: Option<Instant>,
    queued: u32,
    sent: u64,
    answers: u64,
}

impl Protocol for Flooder {
    type Event = ();
    fn handle_datagram(&mut self, _now: Instant, _d: Datagram<'_>) {
        self.answers += 1;
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.next.is_none_or(|t| t <= now) {
            self.queued += self.per_tick;
            self.next = Some(now + self.tick);
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.next.is_none() {
            self.handle_timeout(now);
        }
        if self.queued == 0 {
            return None;
        }
        self.queued -= 1;
        self.sent += 1;
        let mut id = [0u8; 12];
        id[..8].copy_from_slice(&self.sent.to_be_bytes());
        let m = Message::new(Class::Request, Method::Allocate, TransactionId(id))
            .with(Attribute::RequestedTransport(17));
        let len = m.write(buf, None, false).ok()?;
        Some(Transmit::new(self.local, self.server, len))
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

#[test]
fn flood_of_unauthenticated_allocates_leaves_server_memory_flat() {
    let (mut s, server, internet) = symmetric_session(25, true);
    let before = s.sim.endpoint::<Server>(server).memory();
    // The flooder sits on the internet next to the server.
    let h = s.sim.add_host("flooder");
    s.sim.add_interface(
        h,
        internet,
        ip("198.51.100.66"),
        LinkConfig::with_latency(MS),
    );
    let flooder = s.sim.add_endpoint(
        h,
        &[addr("198.51.100.66:9999")],
        Flooder {
            local: addr("198.51.100.66:9999"),
            server: addr(TURN),
            per_tick: 20,
            tick: MS,
            next: None,
            queued: 0,
            sent: 0,
            answers: 0,
        },
    );
    s.sim.set_max_steps(u64::MAX);
    // The real clients still allocate and connect during the flood.
    s.connect("relay only under a flood", 20 * SEC)
        .expect("connects");
    s.run_for(5 * SEC);
    let f = s.sim.endpoint::<Flooder>(flooder);
    assert!(f.sent > 100_000, "{}", f.sent);
    let srv = s.sim.endpoint::<Server>(server);
    assert_eq!(srv.allocations(), 2);
    assert!(srv.stats().unauthenticated >= 100_000);
    // Two allocations' worth of growth at most, whatever the flood.
    assert!(
        srv.memory() <= before + 4096,
        "{} -> {}",
        before,
        srv.memory()
    );
}

#[test]
fn bad_turn_credentials_surface_through_the_agent() {
    let t0 = Instant::now();
    let mut sim = Sim::new(26, t0);
    let internet = sim.add_network("internet");
    turn_server(&mut sim, internet, 2);
    let turn = vec![TurnServer::new(addr(TURN), "alice", "wrong")];
    let a = Side::new(
        &mut sim,
        "a",
        &[(internet, "192.0.2.10")],
        20 * MS,
        config(true, 52, turn, true),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(internet, "192.0.2.11")],
        20 * MS,
        config(false, 53, vec![], false),
    );
    let mut s = Session::new(sim, t0, a, b);
    let done = s.run_until(5 * SEC, |s| {
        s.log_a
            .events
            .iter()
            .any(|(_, e)| matches!(e, IceEvent::GatheringComplete))
    });
    assert!(done, "gathering never completed");
    let failures = s.agent_ref(true).relay_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, addr(TURN));
    assert!(failures[0].1.contains("credentials"), "{failures:?}");
    assert!(local_kinds(&s, true).is_empty());
}

#[test]
fn a_dual_allocation_gives_two_relayed_candidates_and_reaches_an_ipv6_only_peer() {
    let t0 = Instant::now();
    let mut sim = Sim::new(25, t0);
    let internet = sim.add_network("internet");
    let server = turn_server(&mut sim, internet, 2);
    // RFC 8656 §7.2: ADDITIONAL-ADDRESS-FAMILY asks for an IPv6 relayed address besides the
    // IPv4 one; both become candidates of the one allocation.
    let mut turn = TurnServer::new(addr(TURN), "alice", "secret");
    turn.family = RelayFamily::Dual;
    let a = Side::new(
        &mut sim,
        "a",
        &[(internet, "192.0.2.10")],
        20 * MS,
        config(true, 50, vec![turn], true),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(internet, "2001:db8::b")],
        20 * MS,
        config(false, 51, vec![], false),
    );
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    s.connect("dual allocation to v6-only", 20 * SEC)
        .expect("connects");
    let relayed: Vec<SocketAddr> = s
        .log_a
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            IceEvent::LocalCandidate(c) if c.kind == CandidateKind::Relayed => c.socket_addr(),
            _ => None,
        })
        .collect();
    assert_eq!(relayed.len(), 2, "{relayed:?}");
    assert!(relayed[0].is_ipv4() && relayed[1].is_ipv6(), "{relayed:?}");
    let pair = s.agent_ref(true).selected_pair().unwrap();
    assert!(pair.relayed);
    assert!(pair.remote.is_ipv6());
    s.send_data_every(20 * MS);
    s.run_for(SEC);
    assert!(s.log_a.data.len() > 30 && s.log_b.data.len() > 30);
    assert_eq!(s.sim.endpoint::<Server>(server).allocations(), 1);
}
