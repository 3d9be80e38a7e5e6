//! DTLS on the deterministic network simulator (feature `sim`): lossy, duplicating and
//! reordering links, a NAT between the peers, a cut link, and seed-for-seed reproducibility.
//! (`tests/dtls_handshake.rs` runs the same properties on a minimal in-test driver.)
#![cfg(feature = "sim")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, Error, Event, HashAlgorithm, Identity, Role};
use kaon::sim::{Direction, EndpointId, InterfaceId, LinkConfig, NatConfig, Sim, SimConfig};

const CLIENT: &str = "192.168.1.10:5000";
const SERVER: &str = "198.51.100.7:4433";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Setup {
    sim: Sim,
    client: EndpointId,
    server: EndpointId,
    client_iface: InterfaceId,
}

/// A client behind a home NAT and a server on the internet that learns the client's
/// (translated) address from its first ClientHello. `link` applies to what each host sends
/// (so a datagram meets it once, and "30% loss" is 30% end to end); the way down is clean.
fn setup(seed: u64, link: LinkConfig, client_fp_ok: bool) -> Setup {
    let start = Instant::now();
    let mut sim = Sim::with_config(seed, start, SimConfig::default());
    let internet = sim.add_network("internet");
    let home = sim.add_network("home");
    sim.add_nat(
        "router",
        home,
        internet,
        &["203.0.113.1".parse().unwrap()],
        NatConfig::port_restricted_cone(),
    );
    let server_host = sim.add_host("server");
    let clean = LinkConfig::with_latency(link.latency);
    let server_iface = sim.add_interface(server_host, internet, addr(SERVER).ip(), clean);
    sim.set_link(server_iface, Direction::Up, link);
    let laptop = sim.add_host("laptop");
    let client_iface = sim.add_interface(laptop, home, addr(CLIENT).ip(), clean);
    sim.set_link(client_iface, Direction::Up, link);

    let (cid, sid) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let stranger = Identity::generate().unwrap();
    let client = Endpoint::new(
        Config {
            role: Role::Client,
            local_addr: Some(addr(CLIENT)),
            remote_addr: Some(addr(SERVER)),
            remote_fingerprints: vec![
                if client_fp_ok { &sid } else { &stranger }.fingerprint(HashAlgorithm::Sha256),
            ],
            seed: Some(seed),
            ..Config::default()
        },
        cid.clone(),
        start,
    )
    .unwrap();
    let server = Endpoint::new(
        Config {
            role: Role::Server,
            local_addr: Some(addr(SERVER)),
            remote_fingerprints: vec![cid.fingerprint(HashAlgorithm::Sha256)],
            seed: Some(seed + 1),
            ..Config::default()
        },
        sid,
        start,
    )
    .unwrap();
    let server = sim.add_endpoint(server_host, &[addr(SERVER)], server);
    let client = sim.add_endpoint(laptop, &[addr(CLIENT)], client);
    Setup {
        sim,
        client,
        server,
        client_iface,
    }
}

fn lossy(loss: f64) -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(10),
        loss,
        duplicate: 0.1,
        reorder: 0.2,
        reorder_delay: Duration::from_millis(20),
        ..LinkConfig::default()
    }
}

fn both_connected(sim: &Sim, s: &Setup) -> bool {
    sim.endpoint::<Endpoint>(s.client).is_connected()
        && sim.endpoint::<Endpoint>(s.server).is_connected()
}

fn connect(s: &mut Setup) -> bool {
    let deadline = s.sim.now() + Duration::from_secs(60);
    let (client, server) = (s.client, s.server);
    s.sim
        .run_until_cond(deadline, |sim| {
            sim.endpoint::<Endpoint>(client).is_connected()
                && sim.endpoint::<Endpoint>(server).is_connected()
        })
        .unwrap()
}

#[test]
fn handshake_completes_through_a_nat_under_0_10_and_30_percent_loss() {
    for (loss, seeds) in [(0.0, 0..5u64), (0.1, 0..15), (0.3, 0..15)] {
        for seed in seeds {
            let mut s = setup(seed, lossy(loss), true);
            assert!(
                connect(&mut s),
                "loss {loss} seed {seed}: no connection after 60 s"
            );
            assert!(both_connected(&s.sim, &s));
            // The server bound to the NAT's address, not the client's private one.
            let seen = s.sim.endpoint::<Endpoint>(s.server).remote_addr().unwrap();
            assert_eq!(
                seen.ip(),
                "203.0.113.1".parse::<std::net::IpAddr>().unwrap()
            );
            // Data both ways.
            s.sim
                .endpoint_mut::<Endpoint>(s.client)
                .send(b"from client")
                .unwrap();
            s.sim
                .endpoint_mut::<Endpoint>(s.server)
                .send(b"from server")
                .unwrap();
            s.sim.run_for(Duration::from_millis(200)).unwrap();
            let got = |sim: &Sim, id| {
                sim.events::<Endpoint>(id)
                    .iter()
                    .filter(|e| matches!(e, Event::Data(_)))
                    .count()
            };
            // Loss may eat a data record (DTLS does not retransmit data); with none it must
            // arrive.
            if loss == 0.0 {
                assert_eq!((got(&s.sim, s.client), got(&s.sim, s.server)), (1, 1));
            }
        }
    }
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    let run = |seed| {
        let mut s = setup(seed, lossy(0.3), true);
        assert!(connect(&mut s));
        // Sizes are left out: ECDSA signatures vary in length with the (random) keys.
        s.sim
            .trace()
            .iter()
            .map(|e| format!("{:?} {} {} {} {}", e.at, e.packet, e.from, e.to, e.outcome))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn wrong_fingerprint_fails_both_sides_with_the_right_reason() {
    let mut s = setup(3, lossy(0.0), false);
    s.sim.run_for(Duration::from_secs(30)).unwrap();
    assert_eq!(
        s.sim.events::<Endpoint>(s.client),
        [Event::Failed(Error::PeerMisbehaved(
            kaon::dtls::PeerMisbehaved::FingerprintMismatch
        ))]
    );
    assert_eq!(
        s.sim.events::<Endpoint>(s.server),
        [Event::Failed(Error::Alert(
            kaon::dtls::AlertDescription::BadCertificate
        ))]
    );
}

#[test]
fn a_cut_link_ends_in_a_handshake_timeout() {
    let mut s = setup(4, lossy(0.0), true);
    s.sim.cut_interface(s.client_iface);
    s.sim.run_for(Duration::from_secs(30)).unwrap();
    assert_eq!(
        s.sim.events::<Endpoint>(s.client),
        [Event::Failed(Error::HandshakeTimeout)]
    );
    // The server never heard a ClientHello, so it has no handshake to time out.
    assert!(s.sim.events::<Endpoint>(s.server).is_empty());
}

#[test]
fn a_link_that_comes_back_lets_the_handshake_finish() {
    let mut s = setup(5, lossy(0.0), true);
    let at = s.sim.now() + Duration::from_secs(4);
    s.sim.cut_interface(s.client_iface);
    s.sim.restore_interface_at(at, s.client_iface);
    assert!(connect(&mut s));
    // Retransmissions at 0.1, 0.3, 0.7, 1.5, 3.1 s were lost; the one at 6.1 s got through.
    assert!(
        s.sim.elapsed() > Duration::from_secs(6) && s.sim.elapsed() < Duration::from_secs(7),
        "{:?}",
        s.sim.elapsed()
    );
}
