//! Topology: cutting and restoring interfaces, multi-homed hosts, IPv6, routing failures.
#![cfg(feature = "sim")]

mod sim_support;

use std::time::{Duration, Instant};

use kaon::sim::{DropReason, LinkConfig, NatConfig, Outcome, Sim};
use sim_support::{Peer, addr, ip};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

#[test]
fn cut_and_restore_interface_at_given_times() {
    let t0 = Instant::now();
    let mut sim = Sim::new(21, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    sim.add_interface(ha, lan, ip("10.0.0.1"), LinkConfig::with_latency(5 * MS));
    let b_if = sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::with_latency(5 * MS));
    let (a_addr, b_addr) = (addr("10.0.0.1:1000"), addr("10.0.0.2:2000"));
    let mut pinger = Peer::silent();
    pinger.send_every(t0, 10 * MS, 300, 0, a_addr, b_addr, 100);
    let a = sim.add_endpoint(ha, &[a_addr], pinger);
    sim.add_endpoint(hb, &[b_addr], Peer::echo());
    sim.cut_interface_at(t0 + SEC, b_if);
    sim.restore_interface_at(t0 + 2 * SEC, b_if);

    sim.run_until(t0 + 1500 * MS).unwrap();
    assert!(!sim.interface_is_up(b_if));
    sim.run_until_idle().unwrap();
    assert!(sim.interface_is_up(b_if));

    let replies: Vec<u32> = sim.take_events::<Peer>(a).iter().map(|r| r.seq()).collect();
    for seq in 0..300u32 {
        let sent = 10 * MS * seq;
        let answered = replies.contains(&seq);
        if sent <= 970 * MS || sent >= 2 * SEC {
            assert!(answered, "ping {seq} sent at {sent:?} should be answered");
        } else if sent >= SEC {
            assert!(!answered, "ping {seq} sent at {sent:?} hit the cut link");
        }
    }
    let down: Vec<_> = sim
        .trace()
        .iter()
        .filter(|e| e.outcome == Outcome::Dropped(DropReason::LinkDown))
        .collect();
    assert!(down.len() >= 99, "{} dropped", down.len());
    assert!(down.iter().all(|e| e.at >= SEC && e.at < 2 * SEC));
}

#[test]
fn immediate_cut_drops_until_restored() {
    let t0 = Instant::now();
    let mut sim = Sim::new(22, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    let a_if = sim.add_interface(ha, lan, ip("10.0.0.1"), LinkConfig::default());
    sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::default());
    let (a_addr, b_addr) = (addr("10.0.0.1:1000"), addr("10.0.0.2:2000"));
    let a = sim.add_endpoint(ha, &[a_addr], Peer::silent());
    let b = sim.add_endpoint(hb, &[b_addr], Peer::silent());
    sim.cut_interface(a_if);
    sim.endpoint_mut::<Peer>(a).send(a_addr, b_addr, b"lost");
    sim.run_until_idle().unwrap();
    assert_eq!(sim.stats().dropped(DropReason::LinkDown), 1);
    sim.restore_interface(a_if);
    sim.endpoint_mut::<Peer>(a).send(a_addr, b_addr, b"found");
    sim.run_until_idle().unwrap();
    let got = sim.take_events::<Peer>(b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].contents, b"found");
}

#[test]
fn traffic_continues_on_the_second_interface_when_one_is_cut() {
    // A phone on Wi-Fi (behind a home router) and LTE (behind a carrier NAT) talks to a
    // reflecting server. Wi-Fi is cut at 0.5 s; from 1 s the app sends over LTE.
    let t0 = Instant::now();
    let mut sim = Sim::new(23, t0);
    let internet = sim.add_network("internet");
    let wifi = sim.add_network("wifi");
    let lte = sim.add_network("lte");
    let nat = NatConfig::port_restricted_cone();
    sim.add_nat("home", wifi, internet, &[ip("203.0.113.1")], nat);
    sim.add_nat("carrier", lte, internet, &[ip("203.0.113.200")], nat);
    let server = sim.add_host("server");
    sim.add_interface(server, internet, ip("198.51.100.1"), LinkConfig::default());
    let srv = addr("198.51.100.1:3478");
    sim.add_endpoint(server, &[srv], Peer::reflect());
    let phone = sim.add_host("phone");
    let wifi_if = sim.add_interface(
        phone,
        wifi,
        ip("192.168.1.2"),
        LinkConfig::with_latency(3 * MS),
    );
    sim.add_interface(
        phone,
        lte,
        ip("10.20.0.2"),
        LinkConfig::with_latency(30 * MS),
    );
    let (on_wifi, on_lte) = (addr("192.168.1.2:5000"), addr("10.20.0.2:5000"));
    let mut app = Peer::silent();
    app.send_every(t0, 10 * MS, 100, 0, on_wifi, srv, 50);
    let app = sim.add_endpoint(phone, &[on_wifi, on_lte], app);
    sim.cut_interface_at(t0 + 500 * MS, wifi_if);

    sim.run_until(t0 + SEC).unwrap();
    let before = sim.take_events::<Peer>(app);
    assert!(before.len() >= 48 && before.len() <= 50, "{}", before.len());
    assert!(before.iter().all(|r| r.destination == on_wifi));
    assert!(
        before
            .iter()
            .all(|r| r.reflected().ip() == ip("203.0.113.1"))
    );
    assert!(sim.stats().dropped(DropReason::LinkDown) >= 50);

    // The app notices and moves to LTE.
    let peer = sim.endpoint_mut::<Peer>(app);
    peer.cancel_scheduled();
    peer.send_every(t0 + SEC, 10 * MS, 100, 100, on_lte, srv, 50);
    sim.run_until_idle().unwrap();
    let after = sim.take_events::<Peer>(app);
    assert_eq!(after.len(), 100);
    assert!(after.iter().all(|r| r.destination == on_lte));
    assert!(
        after
            .iter()
            .all(|r| r.reflected().ip() == ip("203.0.113.200"))
    );
    // 30 ms each way over LTE, for each of the two LTE-side link crossings per direction.
    assert_eq!(after[0].at - (t0 + SEC), 60 * MS);
}

#[test]
fn ipv6_end_to_end() {
    let t0 = Instant::now();
    let mut sim = Sim::new(24, t0);
    let internet = sim.add_network("internet");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    sim.add_interface(
        ha,
        internet,
        ip("2001:db8::1"),
        LinkConfig::with_latency(5 * MS),
    );
    sim.add_interface(
        hb,
        internet,
        ip("2001:db8::2"),
        LinkConfig::with_latency(5 * MS),
    );
    let (a_addr, b_addr) = (addr("[2001:db8::1]:1000"), addr("[2001:db8::2]:2000"));
    let mut a = Peer::silent();
    // 1500-byte MTU minus 48 bytes of IPv6 + UDP header.
    a.send(a_addr, b_addr, &[6; 1452]);
    a.send(a_addr, b_addr, &[6; 1453]);
    let a = sim.add_endpoint(ha, &[a_addr], a);
    let b = sim.add_endpoint(hb, &[b_addr], Peer::echo());
    sim.run_until_idle().unwrap();
    let at_b = sim.take_events::<Peer>(b);
    assert_eq!(at_b.len(), 1);
    assert_eq!(at_b[0].source, a_addr);
    assert_eq!(at_b[0].destination, b_addr);
    let at_a = sim.take_events::<Peer>(a);
    assert_eq!(at_a.len(), 1);
    assert_eq!(at_a[0].at - t0, 20 * MS);
    assert_eq!(sim.stats().dropped(DropReason::TooBig), 1);
}

#[test]
fn ipv6_crosses_a_nat_box_untranslated_through_its_firewall() {
    let t0 = Instant::now();
    let mut sim = Sim::new(25, t0);
    let internet = sim.add_network("internet");
    let home = sim.add_network("home");
    sim.add_nat(
        "router",
        home,
        internet,
        &[ip("203.0.113.1")],
        NatConfig::default(),
    );
    let laptop = sim.add_host("laptop");
    let lan_if = sim.add_interface(laptop, home, ip("192.168.1.2"), LinkConfig::default());
    sim.add_address(lan_if, ip("2001:db8:1::2"));
    let server = sim.add_host("server");
    let wan_if = sim.add_interface(server, internet, ip("198.51.100.1"), LinkConfig::default());
    sim.add_address(wan_if, ip("2001:db8::1"));
    let stranger = sim.add_host("stranger");
    sim.add_interface(
        stranger,
        internet,
        ip("2001:db8::99"),
        LinkConfig::default(),
    );

    let (v4, v6) = (addr("192.168.1.2:5000"), addr("[2001:db8:1::2]:5000"));
    let (srv4, srv6) = (addr("198.51.100.1:3478"), addr("[2001:db8::1]:3478"));
    let mut client = Peer::silent();
    client.send(v4, srv4, b"?");
    client.send(v6, srv6, b"?");
    let client = sim.add_endpoint(laptop, &[v4, v6], client);
    sim.add_endpoint(server, &[srv4, srv6], Peer::reflect());
    let odd = addr("[2001:db8::99]:9");
    let mut probe = Peer::silent();
    probe.send_at(t0 + SEC, odd, v6, b"let me in");
    probe.send_at(t0 + SEC, odd, addr("[2001:db8:1::2]:6000"), b"or here");
    sim.add_endpoint(stranger, &[odd], probe);
    sim.run_until_idle().unwrap();

    let got = sim.take_events::<Peer>(client);
    assert_eq!(got.len(), 2, "{got:?}");
    let seen_v4 = got.iter().find(|r| r.source == srv4).unwrap().reflected();
    let seen_v6 = got.iter().find(|r| r.source == srv6).unwrap().reflected();
    assert_eq!(seen_v4.ip(), ip("203.0.113.1"), "IPv4 is translated");
    assert_eq!(seen_v6, v6, "IPv6 is not");
    // The stateful firewall filters like the NAT (port-restricted by default).
    assert_eq!(sim.stats().dropped(DropReason::NatFiltered), 1);
    assert_eq!(sim.stats().dropped(DropReason::NatNoMapping), 1);
}

#[test]
fn undeliverable_datagrams_say_why() {
    let t0 = Instant::now();
    let mut sim = Sim::new(26, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    sim.add_interface(ha, lan, ip("10.0.0.1"), LinkConfig::default());
    sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::default());
    let a_addr = addr("10.0.0.1:1000");
    let mut a = Peer::silent();
    a.send(a_addr, addr("172.16.0.1:1"), b"nowhere");
    a.send(a_addr, addr("10.0.0.2:9"), b"nobody home");
    a.send(addr("10.0.0.1:1001"), addr("10.0.0.2:9"), b"not my address");
    a.send(a_addr, addr("[2001:db8::2]:9"), b"wrong family");
    sim.add_endpoint(ha, &[a_addr], a);
    sim.run_until_idle().unwrap();
    let outcomes: Vec<_> = sim.trace().iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Dropped(DropReason::BadSource),
            Outcome::Dropped(DropReason::NoRoute),
            Outcome::Dropped(DropReason::NoRoute),
            Outcome::Dropped(DropReason::NoListener),
        ]
    );
    assert_eq!(sim.stats().sent, 4);
    assert_eq!(sim.stats().dropped_total(), 4);
}

#[test]
fn datagrams_on_the_wire_during_a_short_cut_are_lost() {
    let t0 = Instant::now();
    let mut sim = Sim::new(27, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    sim.add_interface(ha, lan, ip("10.0.0.1"), LinkConfig::default());
    let b_if = sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::with_latency(100 * MS));
    let (a_addr, b_addr) = (addr("10.0.0.1:1000"), addr("10.0.0.2:2000"));
    let mut a = Peer::silent();
    a.send_at(t0, a_addr, b_addr, b"on the wire when the link drops");
    a.send_at(t0 + 70 * MS, a_addr, b_addr, b"sent after it came back");
    sim.add_endpoint(ha, &[a_addr], a);
    let b = sim.add_endpoint(hb, &[b_addr], Peer::silent());
    sim.cut_interface_at(t0 + 50 * MS, b_if);
    sim.restore_interface_at(t0 + 60 * MS, b_if);
    sim.run_until_idle().unwrap();
    let got = sim.take_events::<Peer>(b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].contents, b"sent after it came back");
    let lost = sim.trace()[0];
    assert_eq!(lost.outcome, Outcome::Dropped(DropReason::LinkDown));
    assert_eq!(lost.at, 100 * MS, "noticed when it would have arrived");
}
