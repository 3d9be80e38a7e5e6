//! The ICE agent when things go wrong after connecting: an interface dies (failover without
//! restart), the address changes (ICE restart), the peer vanishes (consent), and how fast it
//! connects on a 100 ms RTT path.
#![cfg(feature = "sim")]

mod ice_support;

use std::time::{Duration, Instant};

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

/// The longest time between two data datagrams received in `[from, to)`.
fn max_gap(data: &[(Duration, Vec<u8>)], from: Duration, to: Duration) -> Duration {
    let times: Vec<Duration> = data
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= from && *t < to)
        .collect();
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(to - from)
}

/// A (two interfaces: "wifi" and "cellular") and B (one) on the internet, 20 ms links.
fn wifi_on_fire(seed: u64, renomination: bool) -> (Session, Duration, Duration) {
    let t0 = Instant::now();
    let mut sim = Sim::new(seed, t0);
    let net = sim.add_network("internet");
    let mut ca = cfg(true, seed * 10 + 1);
    let mut cb = cfg(false, seed * 10 + 2);
    ca.renomination = renomination;
    cb.renomination = renomination;
    let a = Side::new(
        &mut sim,
        "a",
        &[(net, "192.0.2.1"), (net, "192.0.2.11")],
        20 * MS,
        ca,
    );
    let b = Side::new(&mut sim, "b", &[(net, "198.51.100.2")], 20 * MS, cb);
    let mut s = Session::new(sim, t0, a, b);
    s.connect("wifi on fire", 5 * SEC).expect("connects");
    s.send_data_every(20 * MS);
    s.run_until(10 * SEC, |_| false);
    // Cut the interface the selected pair uses.
    let used = s.agent_ref(true).selected_pair().unwrap().local;
    let i = s.addrs_a.iter().position(|a| *a == used).unwrap();
    let iface = s.ifaces_a[i];
    s.sim.cut_interface(iface);
    s.run_until(20 * SEC, |_| false);
    let gap_a = max_gap(&s.log_a.data, 9 * SEC, 20 * SEC);
    let gap_b = max_gap(&s.log_b.data, 9 * SEC, 20 * SEC);
    let after = s.agent_ref(true).selected_pair().unwrap().local;
    assert_ne!(after, used, "moved to the other interface");
    (s, gap_a, gap_b)
}

#[test]
fn wifi_on_fire_fails_over_within_3_seconds_without_restart() {
    let (s, gap_a, gap_b) = wifi_on_fire(1, false);
    eprintln!("wifi on fire (regular nomination): data gap A {gap_a:?}, B {gap_b:?}");
    assert!(gap_a < 3 * SEC && gap_b < 3 * SEC);
    for side in [true, false] {
        assert!(matches!(
            s.state(side),
            IceState::Connected | IceState::Completed
        ));
    }
    // No restart: the credentials never changed, so no second round of candidates.
    let hosts = s
        .log_a
        .events
        .iter()
        .filter(|(_, e)| matches!(e, kaon::ice::IceEvent::LocalCandidate(_)))
        .count();
    assert_eq!(hosts, 2);
    // A backup answered after the selected pair went silent, so A moved the moment it noticed.
    assert!(s.log_a.selected_changes() >= 2);
}

#[test]
fn wifi_on_fire_fails_over_with_renomination() {
    let (s, gap_a, gap_b) = wifi_on_fire(2, true);
    eprintln!("wifi on fire (renomination): data gap A {gap_a:?}, B {gap_b:?}");
    assert!(gap_a < 3 * SEC && gap_b < 3 * SEC);
    assert!(matches!(
        s.state(false),
        IceState::Connected | IceState::Completed
    ));
}

#[test]
fn peer_vanishes_disconnected_then_failed_on_consent_schedule() {
    let t0 = Instant::now();
    let mut sim = Sim::new(3, t0);
    let net = sim.add_network("internet");
    let a = Side::new(&mut sim, "a", &[(net, "192.0.2.1")], 20 * MS, cfg(true, 31));
    let b = Side::new(
        &mut sim,
        "b",
        &[(net, "198.51.100.2")],
        20 * MS,
        cfg(false, 32),
    );
    let mut s = Session::new(sim, t0, a, b);
    s.connect("peer vanishes", 5 * SEC).expect("connects");
    s.send_data_every(100 * MS);
    s.run_until(10 * SEC, |_| false);
    let vanish = s.elapsed();
    let b_iface = s.ifaces_b[0];
    s.sim.cut_interface(b_iface);
    s.run_until(60 * SEC, |s| s.state(true) == IceState::Failed);
    let disconnected = s.log_a.first(&[IceState::Disconnected]).unwrap() - vanish;
    let failed = s.log_a.first(&[IceState::Failed]).unwrap() - vanish;
    eprintln!("peer vanished: disconnected after {disconnected:?}, failed after {failed:?}");
    assert!(
        disconnected >= 19 * SEC / 10 && disconnected <= 21 * SEC / 10,
        "{disconnected:?}"
    );
    // Consent expires 30 s after the last answered check; checks go out about every 5 s
    // (and every 0.5 s once the pair is quiet), so the last answer came shortly before the
    // peer vanished (or was on the wire then).
    assert!(
        failed > 25 * SEC && failed <= 30 * SEC + 50 * MS,
        "{failed:?}"
    );
    // Consent lost: nothing more goes out to the peer.
    assert!(s.agent(true).send(b"x").is_err());
    let a_addr = s.addrs_a[0];
    let last_sent = s
        .sim
        .trace()
        .iter()
        .filter(|e| e.from == a_addr)
        .map(|e| e.at)
        .max();
    s.run_for(10 * SEC);
    let last_sent_after = s
        .sim
        .trace()
        .iter()
        .filter(|e| e.from == a_addr)
        .map(|e| e.at)
        .max();
    assert_eq!(
        last_sent, last_sent_after,
        "nothing sent after consent was lost"
    );
}

#[test]
fn ice_restart_after_address_change_reconnects_and_resent_data_arrives() {
    let t0 = Instant::now();
    let mut sim = Sim::new(4, t0);
    let internet = sim.add_network("internet");
    let stun = stun_server(&mut sim, internet, "198.51.100.1:3478");
    let home = natted(
        &mut sim,
        "home",
        internet,
        "203.0.113.1",
        NatConfig::port_restricted_cone(),
    );
    let office = natted(
        &mut sim,
        "office",
        internet,
        "203.0.113.77",
        NatConfig::port_restricted_cone(),
    );
    let mut ca = cfg(true, 41);
    ca.stun_servers = vec![stun];
    let mut cb = cfg(false, 42);
    cb.stun_servers = vec![stun];
    // A moves from home to the office: both addresses bound, only the first known at first.
    let mut a = Side::new(
        &mut sim,
        "a",
        &[(home, "192.168.1.2"), (office, "10.1.0.2")],
        20 * MS,
        ca,
    );
    a.announce = 1;
    let b_net = natted(
        &mut sim,
        "b-home",
        internet,
        "203.0.113.2",
        NatConfig::port_restricted_cone(),
    );
    let b = Side::new(&mut sim, "b", &[(b_net, "192.168.2.2")], 20 * MS, cb);
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    s.connect("before the move", 5 * SEC).expect("connects");
    s.send_data_every(50 * MS);
    s.run_until(10 * SEC, |_| false);

    // The move: the old interface dies, the app notices half a second later and restarts.
    let (old, new) = (s.addrs_a[0], s.addrs_a[1]);
    let old_iface = s.ifaces_a[0];
    s.sim.cut_interface(old_iface);
    s.run_for(500 * MS);
    let restart_at = s.elapsed();
    {
        let a = s.agent(true);
        a.remove_local_interface(old);
        a.add_local_interface(new).unwrap();
        a.restart();
    }
    s.agent(false).restart();
    s.exchange_credentials();
    let reconnected = s.run_until(30 * SEC, |s| {
        let on_new = s
            .agent_ref(true)
            .selected_pair()
            .is_some_and(|p| p.local == new);
        on_new && matches!(s.state(false), IceState::Connected | IceState::Completed)
    });
    let took = s.elapsed() - restart_at;
    eprintln!("ICE restart after address change: connected again {took:?} after the restart");
    assert!(reconnected);
    assert!(took < 2 * SEC, "{took:?}");

    // The application re-sends what the peer did not get; all of it arrives.
    s.data_interval = None;
    s.run_for(SEC);
    for a_side in [true, false] {
        let sent = if a_side { s.sent.0 } else { s.sent.1 };
        let log = if a_side { &s.log_b } else { &s.log_a };
        let got: std::collections::BTreeSet<u32> = log
            .data
            .iter()
            .map(|(_, d)| u32::from_be_bytes(d[..4].try_into().unwrap()))
            .collect();
        let missing: Vec<u32> = (0..sent).filter(|n| !got.contains(n)).collect();
        assert!(!missing.is_empty(), "the outage lost something to re-send");
        for n in &missing {
            s.agent(a_side).send(&n.to_be_bytes()).unwrap();
        }
    }
    s.run_for(SEC);
    for a_side in [true, false] {
        let sent = if a_side { s.sent.0 } else { s.sent.1 };
        let log = if a_side { &s.log_b } else { &s.log_a };
        let got: std::collections::BTreeSet<u32> = log
            .data
            .iter()
            .map(|(_, d)| u32::from_be_bytes(d[..4].try_into().unwrap()))
            .collect();
        assert!(
            (0..sent).all(|n| got.contains(&n)),
            "side {a_side}: everything arrived"
        );
    }
}

/// Both sides dual-stack: IPv4 behind an EIM NAT (host + srflx) and public IPv6 (host), so
/// two host and one server-reflexive candidate each; 100 ms RTT between them.
#[test]
fn connects_within_3_rtt_of_having_the_candidates() {
    let t0 = Instant::now();
    let mut sim = Sim::new(5, t0);
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
    let mut ca = cfg(true, 51);
    ca.stun_servers = vec![stun];
    let mut cb = cfg(false, 52);
    cb.stun_servers = vec![stun];
    // 25 ms per link: 50 ms one way, 100 ms RTT.
    let a = Side::new(
        &mut sim,
        "a",
        &[(home_a, "192.168.1.2"), (home_a, "2001:db8:a::2")],
        25 * MS,
        ca,
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(home_b, "192.168.2.2"), (home_b, "2001:db8:b::2")],
        25 * MS,
        cb,
    );
    let mut s = Session::new(sim, t0, a, b);
    let have_all = |log: &ice_support::Log| {
        log.events
            .iter()
            .filter(|(_, e)| matches!(e, kaon::ice::IceEvent::LocalCandidate(_)))
            .nth(2)
            .map(|(t, _)| *t)
    };
    s.connect("100 ms RTT, 2 host + 1 srflx each", 5 * SEC)
        .expect("connects");
    let candidates_at = have_all(&s.log_a).unwrap().max(have_all(&s.log_b).unwrap());
    let connected = s
        .log_a
        .connected_at()
        .unwrap()
        .max(s.log_b.connected_at().unwrap());
    let took = connected.saturating_sub(candidates_at);
    eprintln!(
        "100 ms RTT: candidates complete at {candidates_at:?}, connected at {connected:?} ({took:?} later)"
    );
    assert!(took <= 300 * MS, "{took:?}");
}

#[test]
fn data_keeps_flowing_on_the_old_pair_during_an_ice_restart() {
    let t0 = Instant::now();
    let mut sim = Sim::new(6, t0);
    let internet = sim.add_network("internet");
    let home_a = natted(
        &mut sim,
        "home-a",
        internet,
        "203.0.113.1",
        NatConfig::port_restricted_cone(),
    );
    let a = Side::new(
        &mut sim,
        "a",
        &[(home_a, "192.168.1.2")],
        20 * MS,
        cfg(true, 61),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(internet, "198.51.100.2")],
        20 * MS,
        cfg(false, 62),
    );
    let mut s = Session::new(sim, t0, a, b);
    // Slow signalling: the restart's candidates take a second to arrive.
    s.signal_delay = SEC;
    s.connect("before restart", 5 * SEC).expect("connects");
    s.send_data_every(20 * MS);
    s.run_until(5 * SEC, |_| false);
    s.agent(true).restart();
    s.agent(false).restart();
    s.exchange_credentials();
    s.run_until(10 * SEC, |_| false);
    let gap_a = max_gap(&s.log_a.data, 4 * SEC, 10 * SEC);
    let gap_b = max_gap(&s.log_b.data, 4 * SEC, 10 * SEC);
    eprintln!("restart without moving: data gap A {gap_a:?}, B {gap_b:?}");
    assert!(gap_a <= 40 * MS && gap_b <= 40 * MS, "{gap_a:?} {gap_b:?}");
    // The new generation was selected in the end.
    assert!(s.log_a.selected_changes() >= 2 && s.log_b.selected_changes() >= 2);
    for side in [true, false] {
        assert!(matches!(
            s.state(side),
            IceState::Connected | IceState::Completed
        ));
    }
}

/// IPv4 only: each side has a home address behind an EIM NAT (host + srflx) and a second
/// host address on a network that leads nowhere (a VPN, a docker bridge), 100 ms RTT. The
/// srflx pairs come last in priority order, so pacing (4 Ta) adds to the connect time.
///
/// The links are 20 and 30 ms: with exactly equal ones, both sides' first checks reach the
/// other's NAT at the same simulated instant as that side's own outgoing check, a tie no real
/// network produces, and the first hole-punching round is lost (one more RTT).
#[test]
fn ipv4_only_connect_time_with_a_dead_interface() {
    let t0 = Instant::now();
    let mut sim = Sim::new(7, t0);
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
    let vpn_a = sim.add_network("vpn-a");
    let vpn_b = sim.add_network("vpn-b");
    let mut ca = cfg(true, 71);
    ca.stun_servers = vec![stun];
    let mut cb = cfg(false, 72);
    cb.stun_servers = vec![stun];
    let a = Side::new(
        &mut sim,
        "a",
        &[(home_a, "192.168.1.2"), (vpn_a, "10.8.0.2")],
        20 * MS,
        ca,
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(home_b, "192.168.2.2"), (vpn_b, "10.9.0.2")],
        30 * MS,
        cb,
    );
    let mut s = Session::new(sim, t0, a, b);
    s.connect("IPv4 only, 2 host + 1 srflx each, 100 ms RTT", 10 * SEC)
        .expect("connects");
    let have_all = |log: &ice_support::Log| {
        log.events
            .iter()
            .filter(|(_, e)| matches!(e, kaon::ice::IceEvent::LocalCandidate(_)))
            .nth(2)
            .map(|(t, _)| *t)
    };
    let candidates_at = have_all(&s.log_a).unwrap().max(have_all(&s.log_b).unwrap());
    let connected = s
        .log_a
        .connected_at()
        .unwrap()
        .max(s.log_b.connected_at().unwrap());
    eprintln!(
        "IPv4 only: candidates complete at {candidates_at:?}, connected at {connected:?} ({:?} later)",
        connected - candidates_at
    );
    assert!(connected - candidates_at <= 300 * MS);
}

#[test]
fn one_way_failure_is_noticed_by_unanswered_checks_and_fails_over() {
    // A's selected interface can still receive but no longer send: A keeps hearing B's data,
    // so only its unanswered consent checks tell it the pair is down.
    let t0 = Instant::now();
    let mut sim = Sim::new(8, t0);
    let net = sim.add_network("internet");
    let a = Side::new(
        &mut sim,
        "a",
        &[(net, "192.0.2.1"), (net, "192.0.2.11")],
        20 * MS,
        cfg(true, 81),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(net, "198.51.100.2")],
        20 * MS,
        cfg(false, 82),
    );
    let mut s = Session::new(sim, t0, a, b);
    s.connect("one-way failure", 5 * SEC).expect("connects");
    s.send_data_every(20 * MS);
    s.run_until(10 * SEC, |_| false);
    let used = s.agent_ref(true).selected_pair().unwrap().local;
    let i = s.addrs_a.iter().position(|a| *a == used).unwrap();
    let dead = kaon::sim::LinkConfig {
        loss: 1.0,
        ..kaon::sim::LinkConfig::with_latency(20 * MS)
    };
    s.sim
        .set_link(s.ifaces_a[i], kaon::sim::Direction::Up, dead);
    s.run_until(40 * SEC, |_| false);
    let gap_b = max_gap(&s.log_b.data, 9 * SEC, 40 * SEC);
    let gap_a = max_gap(&s.log_a.data, 9 * SEC, 40 * SEC);
    eprintln!("one-way failure: data gap A {gap_a:?}, B {gap_b:?}");
    assert_ne!(s.agent_ref(true).selected_pair().unwrap().local, used);
    // A consent check is due within 6 s, and two of them must go unanswered (2 s each).
    assert!(gap_b < 12 * SEC, "{gap_b:?}");
}
