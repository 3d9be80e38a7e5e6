//! "Any bytes never panic" for both roles' receive paths: real handshake datagrams, mutated
//! (bit flips, truncation, splicing, duplication), replayed into fresh endpoints; and pure
//! noise. The fuzz targets (`fuzz/fuzz_targets/dtls_*.rs`) do the same at scale.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, HashAlgorithm, Identity, Role};
use kaon::{Datagram, Protocol};
use proptest::prelude::*;

const CLIENT: &str = "10.0.0.1:5000";
const SERVER: &str = "10.0.0.2:5000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ids() -> &'static (Identity, Identity) {
    static IDS: OnceLock<(Identity, Identity)> = OnceLock::new();
    IDS.get_or_init(|| (Identity::generate().unwrap(), Identity::generate().unwrap()))
}

fn endpoint(role: Role, hello_verify: bool, now: Instant) -> Endpoint {
    let (client, server) = ids();
    let config = Config {
        role,
        local_addr: Some(addr(if role == Role::Client { CLIENT } else { SERVER })),
        remote_addr: (role == Role::Client).then(|| addr(SERVER)),
        remote_fingerprints: vec![
            if role == Role::Client { server } else { client }.fingerprint(HashAlgorithm::Sha256),
        ],
        hello_verify,
        seed: Some(3),
        ..Config::default()
    };
    let id = if role == Role::Client { client } else { server };
    Endpoint::new(config, id.clone(), now).unwrap()
}

/// The datagrams of one real handshake plus a little data: (sent by the client?, bytes).
fn transcript() -> &'static Vec<(bool, Vec<u8>)> {
    static T: OnceLock<Vec<(bool, Vec<u8>)>> = OnceLock::new();
    T.get_or_init(|| {
        let now = Instant::now();
        let mut c = endpoint(Role::Client, true, now);
        let mut s = endpoint(Role::Server, true, now);
        c.send(b"data").unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        for _ in 0..10 {
            while let Some(t) = c.poll_transmit(now, &mut buf) {
                out.push((true, buf[..t.len].to_vec()));
                s.handle_datagram(
                    now,
                    Datagram {
                        source: addr(CLIENT),
                        destination: addr(SERVER),
                        contents: &buf[..t.len],
                    },
                );
            }
            while let Some(t) = s.poll_transmit(now, &mut buf) {
                out.push((false, buf[..t.len].to_vec()));
                c.handle_datagram(
                    now,
                    Datagram {
                        source: addr(SERVER),
                        destination: addr(CLIENT),
                        contents: &buf[..t.len],
                    },
                );
            }
        }
        assert!(c.is_connected() && s.is_connected());
        out
    })
}

/// Feeds `datagrams` to a fresh endpoint of `role`, draining it after each.
fn feed(role: Role, hello_verify: bool, datagrams: &[Vec<u8>]) {
    let start = Instant::now();
    let mut ep = endpoint(role, hello_verify, start);
    let source = addr(if role == Role::Client { SERVER } else { CLIENT });
    let destination = addr(if role == Role::Client { CLIENT } else { SERVER });
    let mut buf = [0u8; 1500];
    for (i, d) in datagrams.iter().enumerate() {
        let now = start + Duration::from_millis(i as u64 * 50);
        ep.handle_datagram(
            now,
            Datagram {
                source,
                destination,
                contents: d,
            },
        );
        ep.handle_timeout(now);
        while let Some(t) = ep.poll_transmit(now, &mut buf) {
            assert!(t.len <= 1200);
        }
        while ep.poll_event().is_some() {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Splice(usize, usize),
    Duplicate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Splice(a, b)),
        any::<usize>().prop_map(Mutation::Duplicate),
    ]
}

fn mutate(mut datagrams: Vec<Vec<u8>>, mutations: &[(usize, Mutation)]) -> Vec<Vec<u8>> {
    for (which, m) in mutations {
        if datagrams.is_empty() {
            break;
        }
        let n = datagrams.len();
        let d = &mut datagrams[which % n];
        match *m {
            Mutation::Flip(i, b) if !d.is_empty() => {
                let len = d.len();
                d[i % len] ^= b;
            }
            Mutation::Truncate(i) => {
                let len = d.len();
                d.truncate(i % (len + 1));
            }
            Mutation::Splice(a, b) => {
                let other = datagrams[b % n].clone();
                let d = &mut datagrams[which % n];
                let cut = a % (d.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[a % (other.len() + 1)..]);
            }
            Mutation::Duplicate(i) => {
                let copy = datagrams[i % n].clone();
                datagrams.insert(which % n, copy);
            }
            _ => {}
        }
    }
    datagrams
}

proptest! {
    // PROPTEST_CASES wins; 200 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
    ))]

    #[test]
    fn server_survives_mutated_client_flights(muts in prop::collection::vec((any::<usize>(), mutation()), 0..6), hvr: bool) {
        let ds: Vec<Vec<u8>> = transcript().iter().filter(|(c, _)| *c).map(|(_, d)| d.clone()).collect();
        feed(Role::Server, hvr, &mutate(ds, &muts));
    }

    #[test]
    fn client_survives_mutated_server_flights(muts in prop::collection::vec((any::<usize>(), mutation()), 0..6)) {
        let ds: Vec<Vec<u8>> = transcript().iter().filter(|(c, _)| !*c).map(|(_, d)| d.clone()).collect();
        feed(Role::Client, true, &mutate(ds, &muts));
    }

    #[test]
    fn both_roles_survive_noise(noise in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8), hvr: bool) {
        feed(Role::Server, hvr, &noise);
        feed(Role::Client, hvr, &noise);
    }

    #[test]
    fn noise_with_a_valid_record_header_never_panics(bodies in prop::collection::vec((20u8..26, 0u16..3, prop::collection::vec(any::<u8>(), 0..200)), 1..8)) {
        let ds: Vec<Vec<u8>> = bodies.into_iter().map(|(ct, epoch, body)| {
            let mut d = vec![ct, 0xfe, 0xfd];
            d.extend_from_slice(&epoch.to_be_bytes());
            d.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
            d.extend_from_slice(&(body.len() as u16).to_be_bytes());
            d.extend_from_slice(&body);
            d
        }).collect();
        feed(Role::Server, false, &ds);
        feed(Role::Client, false, &ds);
    }
}
