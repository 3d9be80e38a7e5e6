//! RFC 4787 NAT behaviours as an inside endpoint and outside servers observe them.
#![cfg(feature = "sim")]

mod sim_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::sim::{DropReason, EndpointId, LinkConfig, NatConfig, NatId, NetworkId, Outcome, Sim};
use sim_support::{Peer, addr, ip};

const MS: Duration = Duration::from_millis(1);
const CLIENT: &str = "192.168.1.2:5000";
const S1A: &str = "198.51.100.1:3478";
const S1B: &str = "198.51.100.1:3479";
const S2: &str = "198.51.100.2:3478";

/// A client at 192.168.1.2 behind a NAT (public 203.0.113.1), and two reflecting servers on
/// the internet: S1 (198.51.100.1, ports 3478 and 3479) and S2 (198.51.100.2:3478).
struct Home {
    sim: Sim,
    t0: Instant,
    nat: NatId,
    home: NetworkId,
    client: EndpointId,
    s1: EndpointId,
    s2: EndpointId,
}

fn home(config: NatConfig) -> Home {
    let t0 = Instant::now();
    let mut sim = Sim::new(11, t0);
    let internet = sim.add_network("internet");
    let home = sim.add_network("home");
    let nat = sim.add_nat("router", home, internet, &[ip("203.0.113.1")], config);
    let laptop = sim.add_host("laptop");
    sim.add_interface(
        laptop,
        home,
        ip("192.168.1.2"),
        LinkConfig::with_latency(2 * MS),
    );
    let h1 = sim.add_host("s1");
    sim.add_interface(
        h1,
        internet,
        ip("198.51.100.1"),
        LinkConfig::with_latency(10 * MS),
    );
    let h2 = sim.add_host("s2");
    sim.add_interface(
        h2,
        internet,
        ip("198.51.100.2"),
        LinkConfig::with_latency(10 * MS),
    );
    let client = sim.add_endpoint(laptop, &[addr(CLIENT)], Peer::silent());
    let s1 = sim.add_endpoint(h1, &[addr(S1A), addr(S1B)], Peer::reflect());
    let s2 = sim.add_endpoint(h2, &[addr(S2)], Peer::reflect());
    Home {
        sim,
        t0,
        nat,
        home,
        client,
        s1,
        s2,
    }
}

impl Home {
    /// The client sends to `server` and returns the address the server saw.
    fn mapped_via(&mut self, server: &str) -> SocketAddr {
        self.sim.endpoint_mut::<Peer>(self.client).send(
            addr(CLIENT),
            addr(server),
            b"what is my address?",
        );
        self.sim.run_until_idle().unwrap();
        let got = self.sim.take_events::<Peer>(self.client);
        assert_eq!(got.len(), 1, "one answer from {server}");
        assert_eq!(got[0].source, addr(server));
        got[0].reflected()
    }

    /// `server` (an endpoint bound to `from`) sends a probe to `to`; returns whether the
    /// client got it.
    fn probe(&mut self, server: EndpointId, from: &str, to: SocketAddr) -> bool {
        self.sim
            .endpoint_mut::<Peer>(server)
            .send(addr(from), to, b"probe");
        self.sim.run_until_idle().unwrap();
        let got = self.sim.take_events::<Peer>(self.client);
        assert!(got.len() <= 1);
        got.iter().any(|r| r.source == addr(from))
    }
}

fn mappings_for(config: NatConfig) -> [SocketAddr; 3] {
    let mut h = home(config);
    [h.mapped_via(S1A), h.mapped_via(S1B), h.mapped_via(S2)]
}

#[test]
fn endpoint_independent_mapping_reuses_one_port_for_all_destinations() {
    let [a, b, c] = mappings_for(NatConfig::full_cone());
    assert_eq!(a.ip(), ip("203.0.113.1"));
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn address_dependent_mapping_differs_per_destination_ip() {
    let config = NatConfig {
        mapping: kaon::sim::Behavior::AddressDependent,
        ..NatConfig::full_cone()
    };
    let [a, b, c] = mappings_for(config);
    assert_eq!(a, b, "same server IP, other port: same mapping");
    assert_ne!(a, c, "other server IP: new mapping");
}

#[test]
fn address_and_port_dependent_mapping_differs_per_destination() {
    let [a, b, c] = mappings_for(NatConfig::symmetric());
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_ne!(b, c);
    assert!([a, b, c].iter().all(|m| m.ip() == ip("203.0.113.1")));
}

#[test]
fn trace_shows_the_nat_translation() {
    let mut h = home(NatConfig::port_restricted_cone());
    let mapped = h.mapped_via(S1A);
    let entry = h
        .sim
        .trace()
        .iter()
        .find(|e| matches!(e.outcome, Outcome::Translated { .. }))
        .copied()
        .unwrap();
    assert_eq!((entry.from, entry.to), (addr(CLIENT), addr(S1A)));
    assert_eq!(
        entry.outcome,
        Outcome::Translated {
            nat: h.nat,
            from: mapped,
            to: addr(S1A)
        }
    );
    assert_eq!(
        entry.at,
        2 * MS,
        "translated when it reached the home network"
    );
    assert_eq!(h.sim.nat_mappings(h.nat), [(addr(CLIENT), mapped)]);
    // The answer is translated back on the way in.
    assert!(h.sim.trace().iter().any(|e| e.to == mapped
        && e.outcome
            == Outcome::Translated {
                nat: h.nat,
                from: addr(S1A),
                to: addr(CLIENT)
            }));
    assert_eq!(h.sim.stats().translated, 2);
}

/// The client contacts S1:3478; then S1:3479 (contacted IP, other port) and S2 (never
/// contacted) try to reach the mapping. Returns which got through.
fn filtered(config: NatConfig) -> (bool, bool, Sim) {
    let mut h = home(config);
    let mapped = h.mapped_via(S1A);
    let other_port = h.probe(h.s1, S1B, mapped);
    let other_ip = h.probe(h.s2, S2, mapped);
    // The contacted address itself always gets through.
    assert!(h.probe(h.s1, S1A, mapped));
    (other_port, other_ip, h.sim)
}

#[test]
fn endpoint_independent_filtering_accepts_anyone() {
    let (other_port, other_ip, sim) = filtered(NatConfig::full_cone());
    assert!(other_port && other_ip);
    assert_eq!(sim.stats().dropped(DropReason::NatFiltered), 0);
}

#[test]
fn address_dependent_filtering_accepts_only_contacted_ips() {
    let (other_port, other_ip, sim) = filtered(NatConfig::restricted_cone());
    assert!(other_port, "S1 from another port gets in");
    assert!(!other_ip, "S2 was never contacted");
    assert_eq!(sim.stats().dropped(DropReason::NatFiltered), 1);
}

#[test]
fn address_and_port_dependent_filtering_accepts_only_contacted_addresses() {
    let (other_port, other_ip, sim) = filtered(NatConfig::port_restricted_cone());
    assert!(!other_port && !other_ip);
    assert_eq!(sim.stats().dropped(DropReason::NatFiltered), 2);
}

#[test]
fn unmapped_public_port_is_dropped_as_no_mapping() {
    let mut h = home(NatConfig::full_cone());
    assert!(!h.probe(h.s1, S1A, addr("203.0.113.1:40000")));
    assert_eq!(h.sim.stats().dropped(DropReason::NatNoMapping), 1);
}

#[test]
fn idle_mapping_expires_after_the_timeout() {
    let config = NatConfig {
        mapping_timeout: Duration::from_secs(30),
        ..NatConfig::port_restricted_cone()
    };
    let mut h = home(config);
    let first = h.mapped_via(S1A);
    // Still there just before the timeout (inbound traffic does not refresh it)...
    h.sim.run_until(h.t0 + Duration::from_secs(29)).unwrap();
    assert!(h.probe(h.s1, S1A, first));
    // ...and gone after it.
    h.sim.run_until(h.t0 + Duration::from_secs(31)).unwrap();
    assert!(h.sim.nat_mappings(h.nat).is_empty());
    assert!(!h.probe(h.s1, S1A, first));
    assert_eq!(h.sim.stats().dropped(DropReason::NatNoMapping), 1);
    // Sending again makes a new mapping on another port.
    let second = h.mapped_via(S1A);
    assert_ne!(first, second);
}

#[test]
fn outbound_keepalives_hold_the_mapping() {
    let config = NatConfig {
        mapping_timeout: Duration::from_secs(30),
        ..NatConfig::port_restricted_cone()
    };
    let mut h = home(config);
    let first = h.mapped_via(S1A);
    for n in 1..=5u32 {
        h.sim.run_until(h.t0 + Duration::from_secs(20) * n).unwrap();
        assert_eq!(h.mapped_via(S1A), first);
    }
}

#[test]
fn inbound_traffic_refreshes_only_when_configured() {
    for inbound_refresh in [false, true] {
        let config = NatConfig {
            mapping_timeout: Duration::from_secs(30),
            inbound_refresh,
            ..NatConfig::port_restricted_cone()
        };
        let mut h = home(config);
        let mapped = h.mapped_via(S1A);
        let mut arrived = 0;
        for n in 1..=5u32 {
            h.sim.run_until(h.t0 + Duration::from_secs(20) * n).unwrap();
            arrived += u32::from(h.probe(h.s1, S1A, mapped));
        }
        assert_eq!(arrived, if inbound_refresh { 5 } else { 1 });
    }
}

#[test]
fn port_preservation_keeps_the_internal_port() {
    let config = NatConfig {
        port_preservation: true,
        ..NatConfig::full_cone()
    };
    let mut h = home(config);
    assert_eq!(h.mapped_via(S1A), addr("203.0.113.1:5000"));
}

/// Adds host B (192.168.1.3:6000) to the home network; both clients learn their mappings from
/// S1; then A sends to B's public mapping. Returns the sim, B's endpoint and both mappings.
fn hairpin(hairpinning: bool) -> (Home, EndpointId, SocketAddr, SocketAddr) {
    let config = NatConfig {
        hairpinning,
        ..NatConfig::full_cone()
    };
    let mut h = home(config);
    let desktop = h.sim.add_host("desktop");
    let b_addr = addr("192.168.1.3:6000");
    h.sim
        .add_interface(desktop, h.home, b_addr.ip(), LinkConfig::with_latency(MS));
    let b = h.sim.add_endpoint(desktop, &[b_addr], Peer::silent());
    let mapped_a = h.mapped_via(S1A);
    h.sim
        .endpoint_mut::<Peer>(b)
        .send(b_addr, addr(S1A), b"what is my address?");
    h.sim.run_until_idle().unwrap();
    let mapped_b = h.sim.take_events::<Peer>(b)[0].reflected();
    h.sim
        .endpoint_mut::<Peer>(h.client)
        .send(addr(CLIENT), mapped_b, b"hello neighbour");
    h.sim.run_until_idle().unwrap();
    (h, b, mapped_a, mapped_b)
}

#[test]
fn hairpinning_delivers_inside_with_the_external_source() {
    let (mut h, b, mapped_a, mapped_b) = hairpin(true);
    let got = h.sim.take_events::<Peer>(b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].contents, b"hello neighbour");
    // RFC 4787 REQ-9: B sees A's external address, as an outside host would.
    assert_eq!(got[0].source, mapped_a);
    let entry = h
        .sim
        .trace()
        .iter()
        .find(|e| e.from == addr(CLIENT) && e.to == mapped_b)
        .unwrap();
    assert_eq!(
        entry.outcome,
        Outcome::Translated {
            nat: h.nat,
            from: mapped_a,
            to: addr("192.168.1.3:6000")
        }
    );
}

#[test]
fn without_hairpinning_the_datagram_is_dropped() {
    let (mut h, b, _, _) = hairpin(false);
    assert!(h.sim.take_events::<Peer>(b).is_empty());
    assert_eq!(h.sim.stats().dropped(DropReason::NoHairpin), 1);
}

#[test]
fn nat_behind_nat_translates_twice() {
    let t0 = Instant::now();
    let mut sim = Sim::new(12, t0);
    let internet = sim.add_network("internet");
    let isp = sim.add_network("isp");
    let home = sim.add_network("home");
    let cgn = sim.add_nat(
        "cgn",
        isp,
        internet,
        &[ip("203.0.113.1")],
        NatConfig::symmetric(),
    );
    let router = sim.add_nat(
        "router",
        home,
        isp,
        &[ip("100.64.0.2")],
        NatConfig::port_restricted_cone(),
    );
    let laptop = sim.add_host("laptop");
    sim.add_interface(laptop, home, ip("192.168.1.2"), LinkConfig::default());
    let server = sim.add_host("server");
    sim.add_interface(server, internet, ip("198.51.100.1"), LinkConfig::default());
    let mut client = Peer::silent();
    client.send(addr(CLIENT), addr(S1A), b"hi");
    let client = sim.add_endpoint(laptop, &[addr(CLIENT)], client);
    let s1 = sim.add_endpoint(server, &[addr(S1A)], Peer::reflect());
    sim.run_until_idle().unwrap();

    let seen = sim.events::<Peer>(s1)[0].source;
    assert_eq!(seen.ip(), ip("203.0.113.1"));
    let back = &sim.events::<Peer>(client)[0];
    assert_eq!(back.reflected(), seen);
    assert_eq!(back.source, addr(S1A));
    // Outbound: the home router maps onto the ISP network, then the CGN onto the internet.
    let steps: Vec<_> = sim
        .trace()
        .iter()
        .filter(|e| e.packet == 0)
        .map(|e| e.outcome)
        .collect();
    let [
        Outcome::Translated {
            nat: n1, from: via, ..
        },
        Outcome::Translated {
            nat: n2,
            from: public,
            ..
        },
        Outcome::Delivered,
    ] = steps[..]
    else {
        panic!("unexpected path {steps:?}");
    };
    assert_eq!((n1, n2), (router, cgn));
    assert_eq!(via.ip(), ip("100.64.0.2"));
    assert_eq!(public, seen);
    assert_eq!(sim.stats().translated, 4);
}

#[test]
fn carrier_grade_nat_hairpins_between_two_homes() {
    // Two homes behind one CGN reach each other through the CGN's public mappings.
    let t0 = Instant::now();
    let mut sim = Sim::new(13, t0);
    let internet = sim.add_network("internet");
    let isp = sim.add_network("isp");
    sim.add_nat(
        "cgn",
        isp,
        internet,
        &[ip("203.0.113.1")],
        NatConfig::full_cone(),
    );
    let server = sim.add_host("server");
    sim.add_interface(server, internet, ip("198.51.100.1"), LinkConfig::default());
    sim.add_endpoint(server, &[addr(S1A)], Peer::reflect());
    let mut clients = Vec::new();
    for (n, public) in ["100.64.0.2", "100.64.0.3"].into_iter().enumerate() {
        let lan = sim.add_network(&format!("home{n}"));
        sim.add_nat("router", lan, isp, &[ip(public)], NatConfig::full_cone());
        let host = sim.add_host(&format!("laptop{n}"));
        sim.add_interface(host, lan, ip("192.168.1.2"), LinkConfig::default());
        let mut p = Peer::silent();
        p.send(addr(CLIENT), addr(S1A), b"?");
        clients.push(sim.add_endpoint(host, &[addr(CLIENT)], p));
    }
    sim.run_until_idle().unwrap();
    let mapped: Vec<SocketAddr> = clients
        .iter()
        .map(|&c| sim.take_events::<Peer>(c)[0].reflected())
        .collect();
    sim.endpoint_mut::<Peer>(clients[0])
        .send(addr(CLIENT), mapped[1], b"hello");
    sim.run_until_idle().unwrap();
    let got = sim.take_events::<Peer>(clients[1]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].source, mapped[0]);
}
