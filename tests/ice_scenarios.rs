//! The ICE agent across simulated networks: each scenario is seeded, deterministic, and
//! prints its time to connected.
#![cfg(feature = "sim")]

mod ice_support;

use std::time::Instant;

use ice_support::{MS, SEC, Session, Side, natted, stun_server};
use kaon::ice::{AgentConfig, IceState};
use kaon::sim::{NatConfig, Sim};

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

#[test]
fn both_behind_symmetric_nats_fail_in_bounded_time() {
    let mut s = two_homes(4, NatConfig::symmetric(), NatConfig::symmetric());
    let failed = s.run_until(120 * SEC, |s| {
        s.state(true) == IceState::Failed && s.state(false) == IceState::Failed
    });
    let t = s
        .log_a
        .first(&[IceState::Failed])
        .max(s.log_b.first(&[IceState::Failed]));
    eprintln!("both symmetric: failed after {t:?}");
    assert!(failed, "{:?} {:?}", s.state(true), s.state(false));
    assert_eq!(s.log_a.connected_at(), None);
    // The last check's schedule ends 39.5 s after it started (Rc = 7, Rm = 16, RTO 500 ms).
    assert!(t.unwrap() < 45 * SEC, "{t:?}");
}
