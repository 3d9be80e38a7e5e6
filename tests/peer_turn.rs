//! A PeerConnection configured W3C-style (`ice_servers`, `ice_transport_policy`) reaches its
//! peer through kaon's TURN server when both sit behind symmetric NATs.
#![cfg(feature = "sim")]

mod peer_support;

use std::net::SocketAddr;

use kaon::ice::IceTransportPolicy;
use kaon::peer::{Error, IceServer, PeerConfig, PeerConnection, PeerEvent};
use kaon::sim::{LinkConfig, NatConfig, Sim};
use kaon::turn::{Server, ServerConfig};
use peer_support::{MS, Pair, SEC, connect, ip};

const TURN: &str = "198.51.100.50:3478";

fn peer_config(seed: u64, relay_only: bool) -> PeerConfig {
    PeerConfig {
        ice_servers: vec![IceServer::turn(&format!("turn:{TURN}"), "alice", "secret")],
        ice_transport_policy: if relay_only {
            IceTransportPolicy::Relay
        } else {
            IceTransportPolicy::All
        },
        ..PeerConfig::with_seed(seed)
    }
}

fn behind_symmetric_nats(relay_only: bool) -> Pair {
    let t0 = std::time::Instant::now();
    let mut sim = Sim::new(70, t0);
    let internet = sim.add_network("internet");
    let h = sim.add_host("turn");
    sim.add_interface(
        h,
        internet,
        ip("198.51.100.50"),
        LinkConfig::with_latency(5 * MS),
    );
    let relays: Vec<SocketAddr> = (0..4)
        .map(|i| SocketAddr::new(ip("198.51.100.50"), 49152 + i))
        .collect();
    let turn: SocketAddr = TURN.parse().unwrap();
    let mut cfg = ServerConfig::new("kaon.test", vec![turn], relays.clone());
    cfg.users.push(("alice".into(), "secret".into()));
    cfg.seed = Some(5);
    let mut bound = vec![turn];
    bound.extend(relays);
    sim.add_endpoint(h, &bound, Server::new(cfg, t0, 1_700_000_000));
    let mut ids = Vec::new();
    let mut ifaces = Vec::new();
    for (n, (name, public, inside_ip)) in [
        ("a", "203.0.113.1", "192.168.1.2"),
        ("b", "203.0.113.2", "192.168.2.2"),
    ]
    .into_iter()
    .enumerate()
    {
        let inside = sim.add_network(name);
        sim.add_nat(
            &format!("{name}-nat"),
            inside,
            internet,
            &[ip(public)],
            NatConfig::symmetric(),
        );
        let host = sim.add_host(name);
        ifaces.push(sim.add_interface(
            host,
            inside,
            ip(inside_ip),
            LinkConfig::with_latency(20 * MS),
        ));
        let local = SocketAddr::new(ip(inside_ip), 5000);
        let mut pc = PeerConnection::new(peer_config(80 + n as u64, relay_only)).unwrap();
        pc.add_local_address(local).unwrap();
        ids.push(sim.add_endpoint(host, &[local], pc));
    }
    Pair {
        sim,
        t0,
        a: ids[0],
        b: ids[1],
        log_a: Vec::new(),
        log_b: Vec::new(),
        trickle: true,
        ifaces,
    }
}

#[test]
fn peers_behind_symmetric_nats_open_a_channel_through_turn_from_ice_servers() {
    let mut p = behind_symmetric_nats(false);
    let id = connect(&mut p, "symmetric NATs, TURN from ice_servers");
    let now = p.now();
    p.pc(true).send_text(now, id, "relayed").unwrap();
    assert!(p.run_until(2 * SEC, |p| !p.messages(false, id).is_empty()));
    let (local, _) = p.pc_ref(true).ice().selected_candidates().unwrap();
    assert_eq!(local.kind.as_str(), "relay");
}

#[test]
fn relay_policy_signals_only_relayed_candidates_and_still_connects() {
    let mut p = behind_symmetric_nats(true);
    connect(&mut p, "relay only");
    for side in [true, false] {
        let candidates: Vec<String> = p
            .log(side)
            .iter()
            .filter_map(|(_, e)| match e {
                PeerEvent::LocalCandidate(c) => Some(c.candidate.clone()),
                _ => None,
            })
            .collect();
        assert!(!candidates.is_empty());
        assert!(
            candidates.iter().all(|c| c.contains(" typ relay")),
            "{candidates:?}"
        );
    }
}

#[test]
fn ice_servers_the_core_cannot_use_are_refused_with_the_reason() {
    for (url, why) in [
        ("turn:turn.example.org", "host"),
        ("stuns:198.51.100.50", "TLS"),
        ("http://198.51.100.50", "URL"),
    ] {
        let cfg = PeerConfig {
            ice_servers: vec![IceServer::turn(url, "u", "p")],
            ..PeerConfig::with_seed(1)
        };
        match PeerConnection::new(cfg) {
            Err(e @ Error::UnsupportedIceServer { .. }) => {
                assert!(e.to_string().contains(why), "{url}: {e}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // A STUN URL with an address is taken, and so are TURN over TCP and TLS (the driver
    // carries those on connections).
    for url in [
        "stun:198.51.100.1:3478",
        "turns:198.51.100.50",
        "turn:198.51.100.50?transport=tcp",
    ] {
        let cfg = PeerConfig {
            ice_servers: vec![IceServer::turn(url, "u", "p")],
            ..PeerConfig::with_seed(1)
        };
        assert!(PeerConnection::new(cfg).is_ok(), "{url}");
    }
}
