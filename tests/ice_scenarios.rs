//! The ICE agent across simulated networks: each scenario is seeded, deterministic, and
//! prints its time to connected.
#![cfg(feature = "sim")]

mod ice_support;

use std::time::{Duration, Instant};

use ice_support::{MS, SEC, Session, Side, natted, stun_server};
use kaon::ice::{AgentConfig, IceState};
use kaon::sim::{Direction, LinkConfig, NatConfig, Sim};

fn cfg(controlling: bool, seed: u64) -> AgentConfig {
    AgentConfig {
        controlling,
        seed: Some(seed),
        ..AgentConfig::default()
    }
}

#[test]
fn same_lan_host_to_host_connects() {
    let t0 = Instant::now();
    let mut sim = Sim::new(1, t0);
    let lan = sim.add_network("lan");
    let a = Side::new(&mut sim, "a", &[(lan, "10.0.0.1")], 5 * MS, cfg(true, 1));
    let b = Side::new(&mut sim, "b", &[(lan, "10.0.0.2")], 5 * MS, cfg(false, 2));
    let mut s = Session::new(sim, t0, a, b);
    let t = s.connect("same LAN", 5 * SEC).expect("connects");
    // 20 ms RTT: the first check answers at 20 ms.
    assert!(t <= 60 * MS, "{t:?}");
    s.send_data_every(20 * MS);
    s.run_for(2 * SEC);
    assert!(s.log_a.data.len() > 80 && s.log_b.data.len() > 80);
    assert_eq!(s.state(true), IceState::Completed);
    assert_eq!(s.state(false), IceState::Completed);
    assert_eq!(s.log_a.selected_changes(), 1);
}

#[test]
fn both_behind_eim_nats_connect() {
    let t0 = Instant::now();
    let mut sim = Sim::new(2, t0);
    let internet = sim.add_network("internet");
    let stun = stun_server(&mut sim, internet, "198.51.100.1:3478");
    let home_a = natted(
        &mut sim,
        "home-a",
        internet,
        "203.0.113.1",
        NatConfig::port_restricted_cone(),
    );
    let home_b = natted(
        &mut sim,
        "home-b",
        internet,
        "203.0.113.2",
        NatConfig::port_restricted_cone(),
    );
    let mut ca = cfg(true, 3);
    ca.stun_servers = vec![stun];
    let mut cb = cfg(false, 4);
    cb.stun_servers = vec![stun];
    let a = Side::new(&mut sim, "a", &[(home_a, "192.168.1.2")], 20 * MS, ca);
    let b = Side::new(&mut sim, "b", &[(home_b, "192.168.2.2")], 20 * MS, cb);
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    let t = s
        .connect("both behind EIM NATs", 10 * SEC)
        .expect("connects");
    assert!(t < 2 * SEC, "{t:?}");
    s.send_data_every(20 * MS);
    s.run_for(SEC);
    assert!(s.log_a.data.len() > 40 && s.log_b.data.len() > 40);
}

/// Two homes behind NATs of the given kinds, one STUN server, 20 ms links: (session, a, b).
fn two_homes(seed: u64, nat_a: NatConfig, nat_b: NatConfig) -> Session {
    let t0 = Instant::now();
    let mut sim = Sim::new(seed, t0);
    let internet = sim.add_network("internet");
    let stun = stun_server(&mut sim, internet, "198.51.100.1:3478");
    let home_a = natted(&mut sim, "home-a", internet, "203.0.113.1", nat_a);
    let home_b = natted(&mut sim, "home-b", internet, "203.0.113.2", nat_b);
    let mut ca = cfg(true, seed * 10 + 1);
    ca.stun_servers = vec![stun];
    let mut cb = cfg(false, seed * 10 + 2);
    cb.stun_servers = vec![stun];
    let a = Side::new(&mut sim, "a", &[(home_a, "192.168.1.2")], 20 * MS, ca);
    let b = Side::new(&mut sim, "b", &[(home_b, "192.168.2.2")], 20 * MS, cb);
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    s
}

#[test]
fn symmetric_nat_against_eim_nat_connects_via_peer_reflexive() {
    // B's NAT maps independently of the endpoint and filters by address only, so A's checks
    // from its fresh per-destination mappings get through once B has sent to A's IP. (Against
    // address-and-port-dependent filtering a symmetric NAT needs TURN.)
    let mut s = two_homes(3, NatConfig::symmetric(), NatConfig::restricted_cone());
    let t = s
        .connect("symmetric vs EIM NAT", 10 * SEC)
        .expect("connects");
    assert!(t < 3 * SEC, "{t:?}");
    // B sees A from a mapping A's STUN server never saw: a peer-reflexive remote candidate.
    let (_, remote) = s.agent_ref(false).selected_candidates().unwrap();
    assert_eq!(remote.kind, kaon::ice::CandidateKind::PeerReflexive);
    s.send_data_every(20 * MS);
    s.run_for(SEC);
    assert!(s.log_a.data.len() > 40 && s.log_b.data.len() > 40);
}

/// Two agents behind symmetric NATs (no pair can work), with or without end-of-candidates;
/// returns the session and when the later of the two failed.
fn both_symmetric(end_of_candidates: bool) -> (Session, Option<Duration>) {
    let mut s = two_homes(4, NatConfig::symmetric(), NatConfig::symmetric());
    s.end_of_candidates = end_of_candidates;
    let failed = s.run_until(120 * SEC, |s| {
        s.state(true) == IceState::Failed && s.state(false) == IceState::Failed
    });
    let t = s
        .log_a
        .first(&[IceState::Failed])
        .max(s.log_b.first(&[IceState::Failed]));
    eprintln!("both symmetric, end-of-candidates {end_of_candidates}: failed after {t:?}");
    assert!(failed, "{:?} {:?}", s.state(true), s.state(false));
    (s, t)
}

#[test]
fn both_behind_symmetric_nats_fail_in_bounded_time() {
    let (s, t) = both_symmetric(true);
    assert_eq!(s.log_a.connected_at(), None);
    // The last check's schedule ends 39.5 s after it started (Rc = 7, Rm = 16, RTO 500 ms).
    assert!(t.unwrap() < 45 * SEC, "{t:?}");
}

#[test]
fn failure_is_declared_even_when_the_peer_never_signals_end_of_candidates() {
    // Many applications never forward the browser's end-of-candidates; once every pair has
    // failed and no candidate came for 10 s (the default timeout), the agents fail anyway
    // instead of checking forever.
    let (_, t) = both_symmetric(false);
    assert!(t.unwrap() < 55 * SEC, "{t:?}");
}

#[test]
fn ipv4_only_against_ipv6_only_fails() {
    let t0 = Instant::now();
    let mut sim = Sim::new(5, t0);
    let net = sim.add_network("internet");
    let a = Side::new(&mut sim, "a", &[(net, "192.0.2.1")], 10 * MS, cfg(true, 51));
    let b = Side::new(
        &mut sim,
        "b",
        &[(net, "2001:db8::2")],
        10 * MS,
        cfg(false, 52),
    );
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    let failed = s.run_until(5 * SEC, |s| {
        s.state(true) == IceState::Failed && s.state(false) == IceState::Failed
    });
    eprintln!(
        "IPv4-only vs IPv6-only: failed after {:?}",
        s.log_a.first(&[IceState::Failed])
    );
    assert!(failed);
    // No pair can be formed across families: the failure is known once both sides have
    // signalled end-of-candidates.
    assert!(s.log_a.first(&[IceState::Failed]).unwrap() <= 100 * MS);
}

#[test]
fn dual_stack_peers_connect_over_ipv6_first() {
    let t0 = Instant::now();
    let mut sim = Sim::new(6, t0);
    let net = sim.add_network("internet");
    let a = Side::new(&mut sim, "a", &[(net, "192.0.2.1")], 10 * MS, cfg(true, 61));
    let b = Side::new(
        &mut sim,
        "b",
        &[(net, "192.0.2.2")],
        10 * MS,
        cfg(false, 62),
    );
    // A second address on the same interfaces: dual stack.
    sim.add_address(a.ifaces[0], ice_support::ip("2001:db8::1"));
    sim.add_address(b.ifaces[0], ice_support::ip("2001:db8::2"));
    let (mut a, mut b) = (a, b);
    a.addrs.push(ice_support::addr("[2001:db8::1]:5000"));
    b.addrs.push(ice_support::addr("[2001:db8::2]:5000"));
    (a.announce, b.announce) = (2, 2);
    let mut s = Session::new(sim, t0, a, b);
    s.connect("dual stack", 5 * SEC).expect("connects");
    s.run_for(2 * SEC);
    for side in [true, false] {
        let sel = s.agent_ref(side).selected_pair().unwrap();
        assert!(sel.local.is_ipv6() && sel.remote.is_ipv6(), "{sel:?}");
        assert_eq!(s.state(side), IceState::Completed);
    }
}

#[test]
fn both_controlling_resolve_the_conflict_and_connect() {
    let t0 = Instant::now();
    let mut sim = Sim::new(7, t0);
    let lan = sim.add_network("lan");
    let a = Side::new(&mut sim, "a", &[(lan, "10.0.0.1")], 10 * MS, cfg(true, 71));
    let b = Side::new(&mut sim, "b", &[(lan, "10.0.0.2")], 10 * MS, cfg(true, 72));
    let mut s = Session::new(sim, t0, a, b);
    s.connect("both controlling", 5 * SEC).expect("connects");
    s.run_for(2 * SEC);
    let (ca, cb) = (
        s.agent_ref(true).is_controlling(),
        s.agent_ref(false).is_controlling(),
    );
    assert_ne!(ca, cb, "exactly one side ends up controlling");
    // The larger tie-breaker keeps the controlling role (RFC 8445 §7.3.1.1).
    let a_wins = s.agent_ref(true).tie_breaker() > s.agent_ref(false).tie_breaker();
    assert_eq!(ca, a_wins);
    assert!(
        s.agent_ref(true).stats().role_conflicts + s.agent_ref(false).stats().role_conflicts > 0
    );
    assert_eq!(s.state(true), IceState::Completed);
    assert_eq!(s.state(false), IceState::Completed);
    assert_eq!(
        s.agent_ref(true)
            .selected_pair()
            .map(|p| (p.local, p.remote)),
        s.agent_ref(false)
            .selected_pair()
            .map(|p| (p.remote, p.local))
    );
}

#[test]
fn lite_server_and_full_client_behind_nat_connect() {
    let t0 = Instant::now();
    let mut sim = Sim::new(8, t0);
    let internet = sim.add_network("internet");
    let home = natted(
        &mut sim,
        "home",
        internet,
        "203.0.113.1",
        NatConfig::port_restricted_cone(),
    );
    // The full agent starts controlled; learning that the peer is lite makes it controlling.
    let a = Side::new(
        &mut sim,
        "client",
        &[(home, "192.168.1.2")],
        20 * MS,
        cfg(false, 81),
    );
    let lite = AgentConfig::lite().with_seed(82);
    let b = Side::new(
        &mut sim,
        "server",
        &[(internet, "198.51.100.9")],
        20 * MS,
        lite,
    );
    let mut s = Session::new(sim, t0, a, b);
    s.agent(true).set_remote_lite(true);
    let t = s
        .connect("lite server, full client behind NAT", 5 * SEC)
        .expect("connects");
    assert!(t < SEC, "{t:?}");
    assert!(s.agent_ref(true).is_controlling());
    assert!(!s.agent_ref(false).is_controlling());
    // The lite side never sends a check of its own.
    assert_eq!(s.agent_ref(false).stats().checks_sent, 0);
    s.send_data_every(20 * MS);
    s.run_for(10 * SEC);
    assert!(s.log_a.data.len() > 400 && s.log_b.data.len() > 400);
    assert_eq!(s.agent_ref(false).stats().checks_sent, 0);
    assert_eq!(s.agent_ref(false).stats().consent_checks_sent, 0);
    assert_eq!(s.state(true), IceState::Completed);
    assert_eq!(s.state(false), IceState::Completed);
}

#[test]
fn connects_through_20_percent_loss() {
    let mut s = two_homes(
        9,
        NatConfig::port_restricted_cone(),
        NatConfig::port_restricted_cone(),
    );
    // 20% loss on both homes' links, both ways (the STUN server's link is clean).
    let lossy = LinkConfig {
        loss: 0.2,
        ..LinkConfig::with_latency(20 * MS)
    };
    s.sim.set_link(s.ifaces_a[0], Direction::Both, lossy);
    s.sim.set_link(s.ifaces_b[0], Direction::Both, lossy);
    let t = s.connect("20% loss", 30 * SEC).expect("connects");
    assert!(t < 10 * SEC, "{t:?}");
    let retx =
        s.agent_ref(true).stats().retransmissions + s.agent_ref(false).stats().retransmissions;
    assert!(retx > 0, "the loss must have cost retransmissions");
}

#[test]
fn idle_connection_stays_up_for_ten_minutes_with_modest_keepalive_traffic() {
    let t0 = Instant::now();
    let mut sim = Sim::new(10, t0);
    let internet = sim.add_network("internet");
    let home = natted(
        &mut sim,
        "home",
        internet,
        "203.0.113.1",
        NatConfig::port_restricted_cone(),
    );
    let a = Side::new(
        &mut sim,
        "a",
        &[(home, "192.168.1.2")],
        20 * MS,
        cfg(true, 101),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(internet, "198.51.100.2")],
        20 * MS,
        cfg(false, 102),
    );
    let mut s = Session::new(sim, t0, a, b);
    let t = s
        .connect("idle for ten minutes", 5 * SEC)
        .expect("connects");
    let before = s.sim.stats().sent;
    s.run_until(t + 600 * SEC, |_| false);
    let per_minute = (s.sim.stats().sent - before) / 10;
    eprintln!("idle: {per_minute} datagrams per minute, both sides together");
    for log in [&s.log_a, &s.log_b] {
        let states = log.states();
        assert!(!states.contains(&IceState::Disconnected), "{states:?}");
        assert_eq!(states.last(), Some(&IceState::Completed));
    }
    // Consent every ~5 s each way plus liveness probes when a side hears nothing for 1 s:
    // a few requests and answers per second in all, far below any data rate.
    assert!(per_minute < 400, "{per_minute}");
}

#[test]
fn connects_over_a_messy_link() {
    let mut s = two_homes(
        12,
        NatConfig::port_restricted_cone(),
        NatConfig::port_restricted_cone(),
    );
    let messy = LinkConfig {
        jitter: 15 * MS,
        duplicate: 0.1,
        reorder: 0.1,
        reorder_delay: 30 * MS,
        loss: 0.05,
        ..LinkConfig::with_latency(20 * MS)
    };
    s.sim.set_link(s.ifaces_a[0], Direction::Both, messy);
    s.sim.set_link(s.ifaces_b[0], Direction::Both, messy);
    s.connect("jitter, duplication, reordering, 5% loss", 20 * SEC)
        .expect("connects");
    s.send_data_every(20 * MS);
    s.run_for(10 * SEC);
    assert!(s.log_a.data.len() > 400 && s.log_b.data.len() > 400);
    for side in [true, false] {
        assert!(matches!(
            s.state(side),
            IceState::Connected | IceState::Completed
        ));
    }
}
