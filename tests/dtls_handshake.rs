//! Our client against our server in process: every suite, SRTP keying, HelloVerifyRequest on
//! and off, loss, duplication and reordering, fingerprints, timeouts and closing. These are
//! DTLS 1.2's (its suites, flights and timer schedule), so both ends are pinned to 1.2; the
//! default policy, 1.3 or 1.2, is covered by `dtls13_sim` and the 1.3 unit tests.
//!
//! The pair driver below is deliberately small and deterministic: a seeded `kaon::Rng`
//! decides the fate of every datagram, and virtual time jumps to the next deadline or
//! delivery. (Key material comes from aws-lc-rs and differs between runs by design, so a
//! trace records times, directions, sizes-independent fates and events, not bytes.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::dtls::{
    AlertDescription, CipherSuite, Config, Endpoint, Error, Event, HashAlgorithm, Identity, Role,
    SrtpProfile, VersionPolicy,
};
use kaon::{Datagram, Protocol, Rng};

const CLIENT: &str = "10.0.0.1:5000";
const SERVER: &str = "10.0.0.2:5000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What the link does to datagrams.
#[derive(Clone, Copy, Debug)]
struct Link {
    loss: f64,
    duplicate: f64,
    /// Probability that a datagram is held back by up to `jitter` (so later ones overtake it).
    reorder: f64,
    latency: Duration,
    jitter: Duration,
}

impl Link {
    fn perfect() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
        }
    }

    fn lossy(loss: f64) -> Self {
        Self {
            loss,
            duplicate: 0.1,
            reorder: 0.2,
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(30),
        }
    }
}

struct Pair {
    client: Endpoint,
    server: Endpoint,
    start: Instant,
    now: Instant,
    rng: Rng,
    link: Link,
    /// (delivery time, order) -> (to client?, bytes)
    wire: BTreeMap<(Instant, u64), (bool, Vec<u8>)>,
    order: u64,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    trace: Vec<String>,
}

struct Ids {
    client: Identity,
    server: Identity,
}

fn ids() -> Ids {
    Ids {
        client: Identity::generate().unwrap(),
        server: Identity::generate().unwrap(),
    }
}

fn configs(ids: &Ids) -> (Config, Config) {
    let client = Config {
        role: Role::Client,
        local_addr: Some(addr(CLIENT)),
        remote_addr: Some(addr(SERVER)),
        remote_fingerprints: vec![ids.server.fingerprint(HashAlgorithm::Sha256)],
        seed: Some(1),
        versions: VersionPolicy::Dtls12,
        ..Config::default()
    };
    let server = Config {
        role: Role::Server,
        local_addr: Some(addr(SERVER)),
        remote_fingerprints: vec![ids.client.fingerprint(HashAlgorithm::Sha256)],
        seed: Some(2),
        versions: VersionPolicy::Dtls12,
        ..Config::default()
    };
    (client, server)
}

impl Pair {
    fn new(ids: &Ids, client: Config, server: Config, link: Link, seed: u64) -> Self {
        let start = Instant::now();
        Self {
            client: Endpoint::new(client, ids.client.clone(), start).unwrap(),
            server: Endpoint::new(server, ids.server.clone(), start).unwrap(),
            start,
            now: start,
            rng: Rng::from_seed(seed),
            link,
            wire: BTreeMap::new(),
            order: 0,
            client_events: Vec::new(),
            server_events: Vec::new(),
            trace: Vec::new(),
        }
    }

    fn default_pair(link: Link, seed: u64) -> Self {
        let ids = ids();
        let (c, s) = configs(&ids);
        Self::new(&ids, c, s, link, seed)
    }

    fn t(&self) -> u128 {
        (self.now - self.start).as_millis()
    }

    fn transmit(&mut self) {
        let mut buf = [0u8; 2048];
        for from_client in [true, false] {
            loop {
                let ep = if from_client {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let Some(tx) = ep.poll_transmit(self.now, &mut buf) else {
                    break;
                };
                assert!(tx.len <= 1200, "datagram above the MTU");
                let bytes = buf[..tx.len].to_vec();
                let types: Vec<u8> = records_types(&bytes);
                let dir = if from_client { "c>s" } else { "s>c" };
                if self.rng.chance(self.link.loss) {
                    self.trace
                        .push(format!("{} {dir} {types:?} lost", self.t()));
                    continue;
                }
                let copies = if self.rng.chance(self.link.duplicate) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let mut at = self.now + self.link.latency;
                    if self.rng.chance(self.link.reorder) {
                        at += Duration::from_micros(
                            self.rng.range(0, self.link.jitter.as_micros() as u64 + 1),
                        );
                    }
                    self.order += 1;
                    self.wire
                        .insert((at, self.order), (!from_client, bytes.clone()));
                }
                self.trace
                    .push(format!("{} {dir} {types:?} x{copies}", self.t()));
            }
        }
    }

    fn deliver_due(&mut self) {
        while let Some((&(at, order), _)) = self.wire.iter().next() {
            if at > self.now {
                break;
            }
            let (to_client, bytes) = self.wire.remove(&(at, order)).unwrap();
            let (ep, source, destination) = if to_client {
                (&mut self.client, addr(SERVER), addr(CLIENT))
            } else {
                (&mut self.server, addr(CLIENT), addr(SERVER))
            };
            ep.handle_datagram(
                self.now,
                Datagram {
                    source,
                    destination,
                    contents: &bytes,
                },
            );
            self.transmit();
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.trace
                .push(format!("{} client {}", self.t(), summary(&e)));
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.trace
                .push(format!("{} server {}", self.t(), summary(&e)));
            self.server_events.push(e);
        }
    }

    /// Runs until `done` holds or nothing is left to happen or `limit` of virtual time passed.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) {
        loop {
            self.transmit();
            self.deliver_due();
            self.collect_events();
            if done(self) {
                return;
            }
            let next = [
                self.wire.keys().next().map(|k| k.0),
                self.client.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return };
            if next - self.start > limit {
                return;
            }
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
    }

    fn connect(&mut self) {
        self.run_until(Duration::from_secs(120), |p| {
            p.client.is_connected() && p.server.is_connected()
        });
    }
}

fn records_types(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 13 <= bytes.len() {
        out.push(bytes[at]);
        at += 13 + u16::from_be_bytes([bytes[at + 11], bytes[at + 12]]) as usize;
    }
    out
}

fn summary(e: &Event) -> String {
    match e {
        Event::Connected(c) => format!("connected {}", c.cipher_suite),
        Event::Data(d) => format!("data {}", d.len()),
        other => format!("{other:?}"),
    }
}

fn connected(events: &[Event]) -> &kaon::dtls::Connected {
    events
        .iter()
        .find_map(|e| match e {
            Event::Connected(c) => Some(c),
            _ => None,
        })
        .expect("no Connected event")
}

#[test]
fn client_and_server_connect_and_exchange_data() {
    let ids = ids();
    let (cc, sc) = configs(&ids);
    let mut p = Pair::new(&ids, cc, sc, Link::perfect(), 1);
    p.client.send(b"early from client").unwrap(); // queued before the handshake ends
    p.connect();
    let c = connected(&p.client_events).clone();
    let s = connected(&p.server_events).clone();
    assert_eq!(c.cipher_suite, CipherSuite::EcdheEcdsaAes128GcmSha256);
    assert_eq!(s.cipher_suite, c.cipher_suite);
    // SRTP: same profile, same material, mirrored halves.
    let (cs, ss) = (c.srtp.unwrap(), s.srtp.unwrap());
    assert_eq!(cs.profile, SrtpProfile::AeadAes128Gcm);
    assert_eq!(cs.material, ss.material);
    assert_eq!(cs.material.len(), 56);
    assert_eq!(cs.local(), ss.remote());
    assert_eq!(cs.remote(), ss.local());
    assert_ne!(cs.local().0, cs.remote().0);
    // Each side saw the other's certificate.
    assert_eq!(c.peer_certificate, ids.server.certificate_der());
    assert_eq!(s.peer_certificate, ids.client.certificate_der());
    p.server.send(b"hello from server").unwrap();
    p.run_until(Duration::from_secs(1), |p| {
        p.client_events.iter().any(|e| matches!(e, Event::Data(_)))
            && p.server_events.iter().any(|e| matches!(e, Event::Data(_)))
    });
    assert!(
        p.client_events
            .contains(&Event::Data(b"hello from server".to_vec()))
    );
    assert!(
        p.server_events
            .contains(&Event::Data(b"early from client".to_vec()))
    );
    // The exporter agrees on both sides.
    assert_eq!(
        p.client
            .export_keying_material(b"EXPERIMENTAL-kaon", None, 32)
            .unwrap(),
        p.server
            .export_keying_material(b"EXPERIMENTAL-kaon", None, 32)
            .unwrap()
    );
    assert_eq!(p.client.stats().records_dropped, 0);
    assert_eq!(p.server.stats().records_dropped, 0);
}

#[test]
fn every_ecdsa_suite_and_group_connects() {
    for suite in [
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
    ] {
        for group in [
            kaon::dtls::NamedGroup::X25519,
            kaon::dtls::NamedGroup::Secp256r1,
            kaon::dtls::NamedGroup::Secp384r1,
        ] {
            let ids = ids();
            let (mut c, s) = configs(&ids);
            c.cipher_suites = vec![suite];
            c.groups = vec![group];
            let mut p = Pair::new(&ids, c, s, Link::perfect(), 3);
            p.connect();
            assert_eq!(
                connected(&p.client_events).cipher_suite,
                suite,
                "{suite} {group:?}"
            );
            p.client.send(&[7; 1000]).unwrap();
            p.run_until(Duration::from_secs(1), |p| p.server_events.len() > 1);
            assert_eq!(p.server_events.last(), Some(&Event::Data(vec![7; 1000])));
        }
    }
}

#[test]
fn srtp_profile_follows_server_preference_and_can_be_absent() {
    let ids = ids();
    let (mut c, mut s) = configs(&ids);
    c.srtp_profiles = vec![SrtpProfile::Aes128CmHmacSha1_80, SrtpProfile::AeadAes256Gcm];
    s.srtp_profiles = vec![SrtpProfile::AeadAes256Gcm, SrtpProfile::Aes128CmHmacSha1_80];
    let mut p = Pair::new(&ids, c.clone(), s, Link::perfect(), 4);
    p.connect();
    let srtp = connected(&p.client_events).srtp.clone().unwrap();
    assert_eq!(srtp.profile, SrtpProfile::AeadAes256Gcm);
    assert_eq!(srtp.material.len(), 88);
    let (_, mut s) = configs(&ids);
    s.srtp_profiles.clear();
    let mut p = Pair::new(&ids, c, s, Link::perfect(), 4);
    p.connect();
    assert_eq!(connected(&p.client_events).srtp, None);
}

#[test]
fn without_hello_verify_the_handshake_saves_a_round_trip() {
    let ids = ids();
    let (c, mut s) = configs(&ids);
    s.hello_verify = false;
    let mut p = Pair::new(&ids, c, s, Link::perfect(), 5);
    p.connect();
    let with = {
        let mut q = Pair::default_pair(Link::perfect(), 5);
        q.connect();
        q.now - q.start
    };
    assert_eq!((p.now - p.start) + Duration::from_millis(20), with);
}

#[test]
fn handshake_survives_loss_duplication_and_reordering() {
    for (loss, seeds) in [(0.0, 0..10u64), (0.1, 0..20), (0.3, 0..20)] {
        for seed in seeds {
            let mut p = Pair::default_pair(Link::lossy(loss), seed);
            p.connect();
            assert!(
                p.client.is_connected() && p.server.is_connected(),
                "loss {loss} seed {seed} did not connect:\n{}",
                p.trace.join("\n")
            );
            assert!(
                !p.client_events
                    .iter()
                    .chain(&p.server_events)
                    .any(|e| matches!(e, Event::Failed(_)))
            );
            let (c, s) = (connected(&p.client_events), connected(&p.server_events));
            assert_eq!(
                c.srtp.as_ref().unwrap().material,
                s.srtp.as_ref().unwrap().material
            );
        }
    }
}

#[test]
fn same_seed_gives_the_same_trace() {
    let run = |seed| {
        let mut p = Pair::default_pair(Link::lossy(0.3), seed);
        p.connect();
        p.trace
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn wrong_fingerprint_fails_with_bad_certificate() {
    let ids = ids();
    let stranger = Identity::generate().unwrap();
    // The client expects someone else: it rejects the server's certificate.
    let (mut c, s) = configs(&ids);
    c.remote_fingerprints = vec![stranger.fingerprint(HashAlgorithm::Sha256)];
    let mut p = Pair::new(&ids, c, s, Link::perfect(), 6);
    p.run_until(Duration::from_secs(60), |p| {
        !p.server_events.is_empty() && !p.client_events.is_empty()
    });
    assert_eq!(
        p.client_events,
        vec![Event::Failed(Error::PeerMisbehaved(
            kaon::dtls::PeerMisbehaved::FingerprintMismatch
        ))]
    );
    assert_eq!(
        p.server_events,
        vec![Event::Failed(Error::Alert(
            AlertDescription::BadCertificate
        ))]
    );
    // The server expects someone else.
    let (c, mut s) = configs(&ids);
    s.remote_fingerprints = vec![stranger.fingerprint(HashAlgorithm::Sha256)];
    let mut p = Pair::new(&ids, c, s, Link::perfect(), 6);
    p.run_until(Duration::from_secs(60), |p| {
        !p.server_events.is_empty() && !p.client_events.is_empty()
    });
    assert_eq!(
        p.server_events,
        vec![Event::Failed(Error::PeerMisbehaved(
            kaon::dtls::PeerMisbehaved::FingerprintMismatch
        ))]
    );
    assert_eq!(
        p.client_events,
        vec![Event::Failed(Error::Alert(
            AlertDescription::BadCertificate
        ))]
    );
    // Errors are sticky.
    assert_eq!(
        p.server.send(b"x"),
        Err(Error::PeerMisbehaved(
            kaon::dtls::PeerMisbehaved::FingerprintMismatch
        ))
    );
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn other_fingerprint_hashes_are_understood() {
    for alg in [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let ids = ids();
        let (mut c, mut s) = configs(&ids);
        c.remote_fingerprints = vec![ids.server.fingerprint(alg)];
        s.remote_fingerprints = vec![
            ids.server.fingerprint(HashAlgorithm::Sha256), // not the client's: ignored
            ids.client.fingerprint(alg),
        ];
        let mut p = Pair::new(&ids, c, s, Link::perfect(), 7);
        p.connect();
        assert!(
            p.client.is_connected() && p.server.is_connected(),
            "{alg:?}"
        );
    }
}

#[test]
fn fingerprints_may_arrive_after_the_handshake() {
    let ids = ids();
    let (mut c, s) = configs(&ids);
    c.remote_fingerprints.clear();
    let mut p = Pair::new(&ids, c, s, Link::perfect(), 8);
    p.run_until(Duration::from_secs(5), |p| p.server.is_connected());
    assert!(p.server.is_connected());
    assert!(!p.client.is_connected());
    assert!(p.client_events.is_empty());
    p.server.send(b"held back").unwrap();
    p.run_until(Duration::from_secs(1), |_| false);
    assert!(
        p.client_events.is_empty(),
        "data before verification must not be delivered"
    );
    p.client
        .set_remote_fingerprints(vec![ids.server.fingerprint(HashAlgorithm::Sha256)]);
    p.collect_events();
    assert!(matches!(p.client_events.as_slice(), [Event::Connected(_)]));
    p.server.send(b"now it flows").unwrap();
    p.run_until(Duration::from_secs(1), |p| p.client_events.len() > 1);
    assert_eq!(p.client_events[1], Event::Data(b"now it flows".to_vec()));
}

#[test]
fn silent_server_ends_in_handshake_timeout() {
    let ids = ids();
    let (c, _) = configs(&ids);
    let start = Instant::now();
    let mut client = Endpoint::new(c, ids.client, start).unwrap();
    let mut now = start;
    let mut buf = [0u8; 1500];
    let mut sent = Vec::new();
    loop {
        while client.poll_transmit(now, &mut buf).is_some() {
            sent.push((now - start).as_millis());
        }
        if let Some(e) = client.poll_event() {
            assert_eq!(e, Event::Failed(Error::HandshakeTimeout));
            break;
        }
        now = client
            .poll_timeout()
            .expect("a timer must run until the timeout");
        client.handle_timeout(now);
    }
    assert_eq!(now - start, Duration::from_secs(20));
    // 100 ms doubling, capped at 3 s.
    assert_eq!(&sent[..7], &[0, 100, 300, 700, 1500, 3100, 6100]);
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.poll_transmit(now, &mut buf), None);
}

#[test]
fn close_notify_closes_both_sides() {
    let mut p = Pair::default_pair(Link::perfect(), 9);
    p.connect();
    p.client.close();
    p.run_until(Duration::from_secs(1), |p| {
        p.server_events.contains(&Event::Closed)
    });
    assert!(p.client_events.contains(&Event::Closed));
    assert!(p.server_events.contains(&Event::Closed));
    assert_eq!(p.client.send(b"x"), Err(Error::Closed));
}

#[test]
fn data_queued_before_close_arrives_before_close_notify() {
    let mut p = Pair::default_pair(Link::perfect(), 11);
    p.connect();
    for i in 0..20u8 {
        p.client.send(&[i; 900]).unwrap();
    }
    p.client.close();
    p.run_until(Duration::from_secs(1), |p| {
        p.server_events.contains(&Event::Closed)
    });
    let received: Vec<u8> = p
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::Data(d) => Some(d[0]),
            _ => None,
        })
        .collect();
    assert_eq!(received, (0..20).collect::<Vec<u8>>());
    let closed_at = p.server_events.iter().position(|e| *e == Event::Closed);
    let last_data = p
        .server_events
        .iter()
        .rposition(|e| matches!(e, Event::Data(_)));
    assert!(last_data < closed_at, "close_notify overtook the data");
}

#[test]
fn garbage_and_forged_datagrams_are_dropped_without_harm() {
    let mut p = Pair::default_pair(Link::perfect(), 10);
    p.connect();
    let junk: [&[u8]; 5] = [
        // A plaintext (epoch 0) fatal alert: unauthenticated, so ignored once established.
        &[21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 50, 0, 2, 2, 40],
        &[],
        &[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 99, 0, 30, 1, 2, 3],
        &[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 99, 0, 3, 1, 2, 3],
        &[22; 40],
    ];
    for j in junk {
        p.server.handle_datagram(
            p.now,
            Datagram {
                source: addr(CLIENT),
                destination: addr(SERVER),
                contents: j,
            },
        );
        // From a stranger: ignored.
        p.server.handle_datagram(
            p.now,
            Datagram {
                source: addr("10.9.9.9:1"),
                destination: addr(SERVER),
                contents: j,
            },
        );
    }
    assert!(p.server.stats().records_dropped >= 4);
    assert!(p.server.is_connected());
    p.client.send(b"still fine").unwrap();
    p.run_until(Duration::from_secs(1), |p| p.server_events.len() > 1);
    assert_eq!(
        p.server_events.last(),
        Some(&Event::Data(b"still fine".to_vec()))
    );
}

/// Manual shuttling for exact control of datagram order.
fn take(ep: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

fn give(ep: &mut Endpoint, now: Instant, datagrams: &[Vec<u8>]) {
    let (source, destination) = match ep.role() {
        Role::Client => (addr(SERVER), addr(CLIENT)),
        Role::Server => (addr(CLIENT), addr(SERVER)),
    };
    for d in datagrams {
        ep.handle_datagram(
            now,
            Datagram {
                source,
                destination,
                contents: d,
            },
        );
    }
}

#[test]
fn protected_records_before_their_keys_are_kept_until_the_keys_exist() {
    let ids = ids();
    let (mut c, mut s) = configs(&ids);
    // A small MTU spreads the client's second flight over several datagrams.
    c.mtu = 200;
    s.mtu = 200;
    s.hello_verify = false;
    let now = Instant::now();
    let mut client = Endpoint::new(c, ids.client.clone(), now).unwrap();
    let mut server = Endpoint::new(s, ids.server.clone(), now).unwrap();
    let d = take(&mut client, now);
    give(&mut server, now, &d);
    let d = take(&mut server, now);
    give(&mut client, now, &d);
    let mut flight = take(&mut client, now);
    assert!(flight.len() > 2, "{}", flight.len());
    // Finished (epoch 1) first, the key exchange last.
    flight.reverse();
    give(&mut server, now, &flight);
    assert!(server.is_connected(), "the early Finished was not kept");
    assert_eq!(server.stats().retransmissions, 0);
    let d = take(&mut server, now);
    give(&mut client, now, &d);
    assert!(client.is_connected());
}

#[test]
fn tiny_mtu_is_refused() {
    let config = Config {
        remote_addr: Some(addr(SERVER)),
        mtu: 64,
        ..Config::default()
    };
    assert!(matches!(
        Endpoint::new(config, Identity::generate().unwrap(), Instant::now()),
        Err(Error::Misuse(kaon::dtls::Misuse::InvalidConfig(_)))
    ));
}

#[test]
fn unusable_configurations_are_refused_and_huge_timers_do_not_overflow() {
    let base = Config {
        remote_addr: Some(addr(SERVER)),
        ..Config::default()
    };
    let id = Identity::generate().unwrap();
    let now = Instant::now();
    let no_suites = Config {
        cipher_suites: vec![CipherSuite::Unknown(0x1301)],
        ..base.clone()
    };
    assert!(matches!(
        Endpoint::new(no_suites, id.clone(), now),
        Err(Error::Misuse(kaon::dtls::Misuse::InvalidConfig(_)))
    ));
    let no_groups = Config {
        groups: vec![],
        ..base.clone()
    };
    assert!(matches!(
        Endpoint::new(no_groups, id.clone(), now),
        Err(Error::Misuse(kaon::dtls::Misuse::InvalidConfig(_)))
    ));
    let huge = Config {
        retransmit_initial: Duration::MAX,
        retransmit_max: Duration::MAX,
        handshake_timeout: Duration::MAX,
        ..base
    };
    let mut ep = Endpoint::new(huge, id, now).unwrap();
    let mut buf = [0u8; 1500];
    assert!(ep.poll_transmit(now, &mut buf).is_some());
    // Both clamped to a day: the timeout fires then, without overflowing on the way.
    let t = ep.poll_timeout().unwrap();
    assert_eq!(t - now, Duration::from_secs(24 * 3600));
    ep.handle_timeout(t);
    assert_eq!(
        ep.poll_event(),
        Some(Event::Failed(Error::HandshakeTimeout))
    );
}

#[test]
fn a_buffer_too_small_for_the_flight_does_not_lose_it() {
    let ids = ids();
    let (c, _) = configs(&ids);
    let now = Instant::now();
    let mut ep = Endpoint::new(c, ids.client.clone(), now).unwrap();
    assert!(ep.poll_transmit(now, &mut [0u8; 20]).is_none());
    assert_eq!(ep.stats().transmit_dropped, 1);
    let t = ep.poll_timeout().unwrap();
    ep.handle_timeout(t);
    assert!(
        ep.poll_transmit(t, &mut [0u8; 1500]).is_some(),
        "the flight was lost"
    );
}
