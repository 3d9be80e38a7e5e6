//! DTLS 1.3 on the deterministic network simulator (feature `sim`): our 1.3 client against
//! our 1.3 server through lossy, duplicating and reordering links, with the stateless
//! HelloRetryRequest, KeyUpdate under loss, and version negotiation against 1.2-only peers.
#![cfg(feature = "sim")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::dtls::record::Version;
use kaon::dtls::{
    Config, Endpoint, Event, HashAlgorithm, Identity, NamedGroup, Role, VersionPolicy,
};
use kaon::sim::{Direction, EndpointId, InterfaceId, LinkConfig, Sim, SimConfig};

const CLIENT: &str = "192.0.2.10:5000";
const SERVER: &str = "198.51.100.7:4433";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Setup {
    sim: Sim,
    client: EndpointId,
    server: EndpointId,
    server_iface: InterfaceId,
}

/// Both ends' configurations, tweaked by the test before the endpoints are made.
struct Configs {
    client: Config,
    server: Config,
}

fn configs(
    seed: u64,
    client: VersionPolicy,
    server: VersionPolicy,
) -> (Configs, Identity, Identity) {
    let (cid, sid) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let c = Configs {
        client: Config {
            role: Role::Client,
            local_addr: Some(addr(CLIENT)),
            remote_addr: Some(addr(SERVER)),
            remote_fingerprints: vec![sid.fingerprint(HashAlgorithm::Sha256)],
            versions: client,
            seed: Some(seed),
            ..Config::default()
        },
        server: Config {
            role: Role::Server,
            local_addr: Some(addr(SERVER)),
            remote_fingerprints: vec![cid.fingerprint(HashAlgorithm::Sha256)],
            versions: server,
            seed: Some(seed + 1),
            ..Config::default()
        },
    };
    (c, cid, sid)
}

fn setup_with(seed: u64, link: LinkConfig, c: Configs, cid: Identity, sid: Identity) -> Setup {
    let start = Instant::now();
    let mut sim = Sim::with_config(seed, start, SimConfig::default());
    let net = sim.add_network("internet");
    let clean = LinkConfig::with_latency(link.latency);
    let server_host = sim.add_host("server");
    let si = sim.add_interface(server_host, net, addr(SERVER).ip(), clean);
    sim.set_link(si, Direction::Up, link);
    let client_host = sim.add_host("client");
    let ci = sim.add_interface(client_host, net, addr(CLIENT).ip(), clean);
    sim.set_link(ci, Direction::Up, link);
    let client = Endpoint::new(c.client, cid, start).unwrap();
    let server = Endpoint::new(c.server, sid, start).unwrap();
    let server = sim.add_endpoint(server_host, &[addr(SERVER)], server);
    let client = sim.add_endpoint(client_host, &[addr(CLIENT)], client);
    Setup {
        sim,
        client,
        server,
        server_iface: si,
    }
}

fn setup(seed: u64, link: LinkConfig, client: VersionPolicy, server: VersionPolicy) -> Setup {
    let (c, cid, sid) = configs(seed, client, server);
    setup_with(seed, link, c, cid, sid)
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

fn connect(s: &mut Setup) -> bool {
    let deadline = s.sim.now() + Duration::from_secs(60);
    let (client, server) = (s.client, s.server);
    let ok = s
        .sim
        .run_until_cond(deadline, |sim| {
            sim.endpoint::<Endpoint>(client).is_connected()
                && sim.endpoint::<Endpoint>(server).is_connected()
        })
        .unwrap();
    if !ok {
        eprintln!(
            "client {:?} {:?}\nserver {:?} {:?}",
            s.sim.events::<Endpoint>(client),
            ep(s, client).stats(),
            s.sim.events::<Endpoint>(server),
            ep(s, server).stats()
        );
    }
    ok
}

fn ep(s: &Setup, id: EndpointId) -> &Endpoint {
    s.sim.endpoint::<Endpoint>(id)
}

fn data_count(s: &Setup, id: EndpointId) -> usize {
    s.sim
        .events::<Endpoint>(id)
        .iter()
        .filter(|e| matches!(e, Event::Data(_)))
        .count()
}

fn connected_event(s: &Setup, id: EndpointId) -> kaon::dtls::Connected {
    s.sim
        .events::<Endpoint>(id)
        .iter()
        .find_map(|e| match e {
            Event::Connected(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a Connected event")
}

fn failures(s: &Setup, id: EndpointId) -> Vec<Event> {
    s.sim
        .events::<Endpoint>(id)
        .iter()
        .filter(|e| matches!(e, Event::Failed(_)))
        .cloned()
        .collect()
}

/// Both ends derive the same exporter output and the same SRTP keys, mirrored.
fn assert_keys_agree(s: &Setup) {
    let label = b"EXTRACTOR-dtls_srtp";
    let a = ep(s, s.client)
        .export_keying_material(label, None, 60)
        .unwrap();
    let b = ep(s, s.server)
        .export_keying_material(label, None, 60)
        .unwrap();
    assert_eq!(a, b);
    let (c, sv) = (connected_event(s, s.client), connected_event(s, s.server));
    let (c, sv) = (c.srtp.unwrap(), sv.srtp.unwrap());
    assert_eq!(c.profile, sv.profile);
    assert_eq!(c.local(), sv.remote());
    assert_eq!(c.remote(), sv.local());
    // RFC 5764 §4.2: the SRTP keys are the exporter's output under that label (at their own
    // length: the TLS 1.3 exporter's output depends on it, RFC 8446 §7.5).
    let len = c.material.len();
    let direct = ep(s, s.client)
        .export_keying_material(label, None, len)
        .unwrap();
    assert_eq!(c.material, direct);
}

#[test]
fn dtls13_handshake_completes_under_0_10_and_30_percent_loss() {
    let both = VersionPolicy::Dtls13OrDtls12;
    for (loss, seeds) in [(0.0, 0..3u64), (0.1, 0..8), (0.3, 0..8)] {
        for seed in seeds {
            let mut s = setup(seed, lossy(loss), both, both);
            assert!(
                connect(&mut s),
                "loss {loss} seed {seed}: no connection after 60 s"
            );
            assert_eq!(ep(&s, s.client).version(), Some(Version::Dtls13));
            assert_eq!(ep(&s, s.server).version(), Some(Version::Dtls13));
            assert_keys_agree(&s);
            let id = s.client;
            s.sim
                .endpoint_mut::<Endpoint>(id)
                .send(b"from client")
                .unwrap();
            let id = s.server;
            s.sim
                .endpoint_mut::<Endpoint>(id)
                .send(b"from server")
                .unwrap();
            s.sim.run_for(Duration::from_secs(5)).unwrap();
            if loss == 0.0 {
                assert_eq!((data_count(&s, s.client), data_count(&s, s.server)), (1, 1));
            }
            assert!(failures(&s, s.client).is_empty() && failures(&s, s.server).is_empty());
        }
    }
}

#[test]
fn the_client_flight_is_acknowledged_and_retransmission_stops() {
    let both = VersionPolicy::Dtls13OrDtls12;
    let mut s = setup(5, lossy(0.0), both, both);
    assert!(connect(&mut s));
    s.sim.run_for(Duration::from_secs(2)).unwrap();
    // The server's ACK ended the client's timer. The server keeps the client's handshake
    // epoch readable for the handshake timeout (a repeat of the client's flight whose ACK
    // was lost is answered), then lets it go: nothing is pending on either side.
    use kaon::Protocol;
    assert_eq!(ep(&s, s.client).poll_timeout(), None);
    assert!(ep(&s, s.server).poll_timeout().is_some());
    s.sim.run_for(Duration::from_secs(20)).unwrap();
    assert_eq!(ep(&s, s.client).poll_timeout(), None);
    assert_eq!(ep(&s, s.server).poll_timeout(), None);
    assert_eq!(ep(&s, s.client).stats().retransmissions, 0);
}

#[test]
fn hello_retry_request_for_a_group_without_a_share() {
    let both = VersionPolicy::Dtls13OrDtls12;
    for (loss, seed) in [(0.0, 1u64), (0.1, 2), (0.3, 3)] {
        let (mut c, cid, sid) = configs(seed, both, both);
        // The client's first hello carries X25519MLKEM768 and X25519 shares; a server with
        // P-256 only must ask for a P-256 share.
        c.server.groups = vec![NamedGroup::Secp256r1];
        c.server.hello_verify = false;
        let mut s = setup_with(seed, lossy(loss), c, cid, sid);
        assert!(connect(&mut s), "loss {loss}");
        assert_eq!(ep(&s, s.client).version(), Some(Version::Dtls13));
        assert_keys_agree(&s);
    }
}

#[test]
fn without_cookie_exchange_the_handshake_takes_one_round_trip_less() {
    let both = VersionPolicy::Dtls13OrDtls12;
    let time = |hello_verify| {
        let (mut c, cid, sid) = configs(9, both, both);
        c.server.hello_verify = hello_verify;
        let mut s = setup_with(
            9,
            LinkConfig::with_latency(Duration::from_millis(15)),
            c,
            cid,
            sid,
        );
        let start = s.sim.now();
        assert!(connect(&mut s));
        s.sim.now() - start
    };
    let (with, without) = (time(true), time(false));
    assert!(
        without + Duration::from_millis(25) < with,
        "{without:?} vs {with:?}"
    );
}

#[test]
fn key_update_under_loss_moves_both_directions_to_new_keys() {
    let both = VersionPolicy::Dtls13OrDtls12;
    for (loss, seed) in [(0.0, 1u64), (0.1, 2), (0.3, 3), (0.3, 4)] {
        let mut s = setup(seed, lossy(loss), both, both);
        assert!(connect(&mut s), "loss {loss}");
        // Let the client's last flight be acknowledged first.
        s.sim.run_for(Duration::from_secs(10)).unwrap();
        let now = s.sim.now();
        let id = s.client;
        s.sim.endpoint_mut::<Endpoint>(id).update_keys(now).unwrap();
        let (client, server) = (s.client, s.server);
        let done = s
            .sim
            .run_until_cond(now + Duration::from_secs(60), |sim| {
                sim.endpoint::<Endpoint>(client).key_updates() >= 2
                    && sim.endpoint::<Endpoint>(server).key_updates() >= 2
            })
            .unwrap();
        assert!(done, "loss {loss} seed {seed}: KeyUpdate did not complete");
        // Data still flows both ways under the new keys.
        let before = (data_count(&s, s.client), data_count(&s, s.server));
        for _ in 0..10 {
            let id = s.client;
            s.sim.endpoint_mut::<Endpoint>(id).send(b"c").unwrap();
            let id = s.server;
            s.sim.endpoint_mut::<Endpoint>(id).send(b"s").unwrap();
            s.sim.run_for(Duration::from_millis(50)).unwrap();
        }
        s.sim.run_for(Duration::from_secs(1)).unwrap();
        assert!(data_count(&s, s.client) > before.0);
        assert!(data_count(&s, s.server) > before.1);
        assert!(failures(&s, s.client).is_empty() && failures(&s, s.server).is_empty());
    }
}

#[test]
fn a_13_client_and_a_12_only_server_settle_on_12() {
    for loss in [0.0, 0.1] {
        let mut s = setup(
            21,
            lossy(loss),
            VersionPolicy::Dtls13OrDtls12,
            VersionPolicy::Dtls12,
        );
        assert!(connect(&mut s));
        assert_eq!(ep(&s, s.client).version(), Some(Version::Dtls12));
        assert_eq!(ep(&s, s.server).version(), Some(Version::Dtls12));
        assert_keys_agree(&s);
    }
}

#[test]
fn a_12_only_client_and_a_13_server_settle_on_12() {
    for loss in [0.0, 0.1] {
        let mut s = setup(
            22,
            lossy(loss),
            VersionPolicy::Dtls12,
            VersionPolicy::Dtls13OrDtls12,
        );
        assert!(connect(&mut s));
        assert_eq!(ep(&s, s.client).version(), Some(Version::Dtls12));
        assert_eq!(ep(&s, s.server).version(), Some(Version::Dtls12));
        assert_keys_agree(&s);
    }
}

#[test]
fn a_13_only_client_refuses_a_12_only_server() {
    let mut s = setup(23, lossy(0.0), VersionPolicy::Dtls13, VersionPolicy::Dtls12);
    s.sim.run_for(Duration::from_secs(30)).unwrap();
    assert!(!ep(&s, s.client).is_connected() && !ep(&s, s.server).is_connected());
    // The 1.2 server finds no suite in a 1.3-only hello and says so.
    assert_eq!(
        failures(&s, s.client),
        [Event::Failed(kaon::dtls::Error::Alert(
            kaon::dtls::AlertDescription::HandshakeFailure
        ))]
    );
}

#[test]
fn dtls13_fingerprint_mismatch_fails_the_client() {
    let both = VersionPolicy::Dtls13OrDtls12;
    let (mut c, cid, sid) = configs(31, both, both);
    c.client.remote_fingerprints = vec![
        Identity::generate()
            .unwrap()
            .fingerprint(HashAlgorithm::Sha256),
    ];
    let mut s = setup_with(31, lossy(0.0), c, cid, sid);
    s.sim.run_for(Duration::from_secs(30)).unwrap();
    assert_eq!(
        failures(&s, s.client),
        [Event::Failed(kaon::dtls::Error::PeerMisbehaved(
            kaon::dtls::PeerMisbehaved::FingerprintMismatch
        ))]
    );
    assert!(!ep(&s, s.server).is_connected());
}

#[test]
fn a_client_whose_last_flight_is_never_acknowledged_stops_resending_it() {
    let both = VersionPolicy::Dtls13OrDtls12;
    let (mut c, cid, sid) = configs(41, both, both);
    c.client.handshake_timeout = Duration::from_secs(5);
    let mut s = setup_with(
        41,
        LinkConfig::with_latency(Duration::from_millis(15)),
        c,
        cid,
        sid,
    );
    let client = s.client;
    assert!(
        s.sim
            .run_until_cond(s.sim.now() + Duration::from_secs(10), |sim| {
                sim.endpoint::<Endpoint>(client).is_connected()
            })
            .unwrap()
    );
    // The server's ACK (and everything else from it) never arrives.
    s.sim.cut_interface(s.server_iface);
    s.sim.run_for(Duration::from_secs(30)).unwrap();
    use kaon::Protocol;
    assert!(ep(&s, s.client).is_connected());
    assert_eq!(ep(&s, s.client).poll_timeout(), None);
    let resent = ep(&s, s.client).stats().retransmissions;
    assert!((1..=10).contains(&resent), "{resent} retransmissions");
}
