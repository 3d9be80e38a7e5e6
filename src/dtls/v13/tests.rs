//! The DTLS 1.3 handshake inside the crate: round trips of the messages it writes, the first
//! hello's offer, and "any bytes never panic" for the 1.3 receive path in every state (as
//! datagrams, and as the opened content of handshake, ACK and alert records).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::super::config::{Config, Role, VersionPolicy};
use super::super::extensions::tests::any_extensions;
use super::super::extensions::{Extension, SrtpProfile, types};
use super::super::handshake::{ClientHello, HandshakeType, Reassembler, ServerHello, fragments};
use super::super::record::Version;
use super::super::{Endpoint, HashAlgorithm, Identity};
use super::common::{
    ext_data, inner_extensions, parse_encrypted_extensions, parse_inner_extensions,
    write_encrypted_extensions,
};
use super::conn::{Transcript, tls_message};
use super::cookie::CookieState;
use super::kx13::Group13;
use super::messages::{self, HRR_RANDOM, parse_client_shares, parse_cookie, parse_selected_group};
use super::record::{AnyRecord, records};
use super::server13::{hello_retry_body, offers_13};
use super::suite::Suite13;
use crate::{Datagram, Protocol};

fn addr(role: Role) -> SocketAddr {
    match role {
        Role::Client => "192.0.2.1:4444".parse().unwrap(),
        Role::Server => "192.0.2.2:5555".parse().unwrap(),
    }
}

fn identities() -> &'static (Identity, Identity) {
    static IDS: std::sync::OnceLock<(Identity, Identity)> = std::sync::OnceLock::new();
    IDS.get_or_init(|| (Identity::generate().unwrap(), Identity::generate().unwrap()))
}

fn endpoint(role: Role, hello_verify: bool, now: Instant) -> Endpoint {
    let (client, server) = identities();
    let (me, peer) = match role {
        Role::Client => (client, server),
        Role::Server => (server, client),
    };
    Endpoint::new(
        Config {
            role,
            local_addr: Some(addr(role)),
            remote_addr: (role == Role::Client).then(|| addr(Role::Server)),
            remote_fingerprints: vec![peer.fingerprint(HashAlgorithm::Sha256)],
            hello_verify,
            versions: VersionPolicy::Dtls13OrDtls12,
            seed: Some(7),
            ..Config::default()
        },
        me.clone(),
        now,
    )
    .unwrap()
}

fn shuttle(from: &mut Endpoint, to: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 1500];
    let mut sent = Vec::new();
    while let Some(t) = from.poll_transmit(now, &mut buf) {
        sent.push(buf[..t.len].to_vec());
        to.handle_datagram(
            now,
            Datagram {
                source: t.source,
                destination: t.destination,
                contents: &buf[..t.len],
            },
        );
    }
    sent
}

/// The first hello a 1.3 client sends, reassembled.
fn first_hello() -> ClientHello {
    let now = crate::test_clock::t0();
    let mut client = endpoint(Role::Client, false, now);
    let mut server = endpoint(Role::Server, false, now);
    let mut r = Reassembler::new();
    for d in shuttle(&mut client, &mut server, now) {
        for rec in records(&d) {
            let Ok(AnyRecord::Plaintext(rec)) = rec else {
                continue;
            };
            for f in fragments(rec.fragment) {
                let (h, data) = f.unwrap();
                r.insert(0, &h, data);
            }
        }
    }
    let m = r.pop().expect("a whole ClientHello");
    assert_eq!(m.msg_type, HandshakeType::ClientHello);
    ClientHello::parse(&m.body).unwrap()
}

#[test]
fn the_first_hello_offers_13_and_12_with_hybrid_and_x25519_shares() {
    let ch = first_hello();
    assert!(offers_13(&ch));
    let versions = messages::parse_versions_list(ext_data(&ch.extensions, 43).unwrap()).unwrap();
    assert_eq!(versions, [Version::Dtls13, Version::Dtls12]);
    // RFC 9147 §5.3: legacy_version DTLS 1.2, an empty legacy_cookie.
    assert_eq!(ch.client_version, Version::Dtls12);
    assert!(ch.cookie.is_empty());
    let shares = parse_client_shares(ext_data(&ch.extensions, 51).unwrap()).unwrap();
    let groups: Vec<_> = shares
        .iter()
        .map(|s| (s.group, s.key_exchange.len()))
        .collect();
    assert_eq!(
        groups,
        [(Group13::X25519MlKem768, 1184 + 32), (Group13::X25519, 32)]
    );
    assert_eq!(ch.cipher_suites[0].to_u16(), 0x1301);
    let groups = ch.extensions.supported_groups().unwrap();
    assert!(groups.iter().any(|g| g.to_u16() == 0x11ec));
    assert!(groups.iter().any(|g| g.to_u16() == 0x0017));
    assert!(ch.extensions.srtp_profiles().is_some());
}

#[test]
fn transcript_messages_have_the_four_byte_tls_header() {
    // RFC 9147 §5.2: no message_seq or fragment fields in the transcript.
    assert_eq!(
        tls_message(HandshakeType::Finished, &[9; 3]),
        [20, 0, 0, 3, 9, 9, 9]
    );
    let mut t = Transcript::default();
    t.add(HandshakeType::ClientHello, b"ab");
    t.add_raw(&[254, 0, 0, 0]);
    let whole = [1, 0, 0, 2, b'a', b'b', 254, 0, 0, 0];
    assert_eq!(
        t.hash(crate::dtls::crypto::PrfHash::Sha256),
        crate::dtls::crypto::PrfHash::Sha256.hash(&whole).as_ref()
    );
}

#[test]
fn a_running_transcript_hash_matches_hashing_the_whole_transcript() {
    use crate::dtls::crypto::PrfHash;
    let messages: [(HandshakeType, &[u8]); 3] = [
        (HandshakeType::ClientHello, &[1; 1300]),
        (HandshakeType::ServerHello, &[2; 1200]),
        (HandshakeType::Finished, &[3; 32]),
    ];
    for hash in [PrfHash::Sha256, PrfHash::Sha384] {
        // Kept from the start, from midway (the client learns the suite from the second
        // message) or never, asked for twice; each hash along the way matches a one-shot one.
        for keep_at in [0, 1, 2, 3] {
            let (mut t, mut whole) = (Transcript::default(), Vec::new());
            for (i, (kind, body)) in messages.iter().enumerate() {
                if i == keep_at {
                    t.keep_hash(hash);
                    t.keep_hash(hash);
                }
                t.add(*kind, body);
                whole.extend_from_slice(&tls_message(*kind, body));
                t.add_raw(&[254, 0, 0, 0]);
                whole.extend_from_slice(&[254, 0, 0, 0]);
                assert_eq!(t.hash(hash), hash.hash(&whole).as_ref(), "{hash:?} {i}");
            }
        }
    }
}

#[test]
fn a_pair_connects_and_every_message_after_it_is_acknowledged() {
    let now = crate::test_clock::t0();
    let mut client = endpoint(Role::Client, true, now);
    let mut server = endpoint(Role::Server, true, now);
    for _ in 0..4 {
        shuttle(&mut client, &mut server, now);
        shuttle(&mut server, &mut client, now);
    }
    assert!(client.is_connected() && server.is_connected());
    assert_eq!(client.version(), Some(Version::Dtls13));
    assert_eq!(
        client.poll_timeout(),
        None,
        "the client's flight was acknowledged"
    );
    assert!(client.v13.as_ref().unwrap().flight.is_acked());
}

fn any_choice() -> impl Strategy<Value = (usize, u16, bool, Vec<u8>, Vec<u8>)> {
    (
        0usize..3,
        any::<u16>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..=32),
        prop::collection::vec(any::<u8>(), 1..100),
    )
}

proptest! {
    #[test]
    fn encrypted_extensions_round_trip(profile in any::<Option<u16>>()) {
        let srtp = profile.map(SrtpProfile::from_u16);
        let body = write_encrypted_extensions(srtp).unwrap();
        let exts = parse_encrypted_extensions(&body).unwrap();
        match srtp {
            Some(p) => {
                let want = Extension::UseSrtp { profiles: vec![p], mki: vec![] };
                prop_assert_eq!(exts.get(types::USE_SRTP), Some(&want));
            }
            None => prop_assert!(exts.0.is_empty()),
        }
    }

    #[test]
    fn certificate_request_extensions_round_trip(exts in any_extensions()) {
        let inner = inner_extensions(exts.0.clone()).unwrap();
        if exts.0.is_empty() {
            prop_assert!(inner.is_empty());
        } else {
            prop_assert_eq!(parse_inner_extensions(&inner).unwrap(), exts);
        }
    }

    #[test]
    fn hello_retry_request_round_trips((suite, group, retry, sid, cookie) in any_choice()) {
        let suite = Suite13::ALL[suite];
        let ch = ClientHello {
            client_version: Version::Dtls12,
            random: [1; 32],
            session_id: sid.clone(),
            cookie: Vec::new(),
            cipher_suites: Vec::new(),
            compression_methods: vec![0],
            extensions: Default::default(),
        };
        let state = CookieState {
            suite,
            group: Group13::from_u16(group),
            group_retry: retry,
            ch1_hash: vec![0; suite.hash().len()],
        };
        let body = hello_retry_body(&ch, &state, &cookie).unwrap();
        let hrr = ServerHello::parse(&body).unwrap();
        prop_assert_eq!(hrr.random, HRR_RANDOM);
        prop_assert_eq!(hrr.session_id, sid);
        prop_assert_eq!(hrr.cipher_suite.to_u16(), suite.to_u16());
        prop_assert_eq!(
            messages::parse_selected_version(ext_data(&hrr.extensions, 43).unwrap()).unwrap(),
            Version::Dtls13
        );
        prop_assert_eq!(parse_cookie(ext_data(&hrr.extensions, 44).unwrap()).unwrap(), cookie);
        let selected = ext_data(&hrr.extensions, 51).map(|d| parse_selected_group(d).unwrap());
        prop_assert_eq!(selected, retry.then_some(Group13::from_u16(group)));
    }

    /// Any bytes, in any state of either role, as datagrams or as the opened content of
    /// handshake, ACK and alert records: nothing panics, and memory stays bounded.
    #[test]
    fn any_input_never_panics_the_13_receive_path(
        server_role: bool,
        hello_verify: bool,
        rounds in 0usize..6,
        chunks in prop::collection::vec((0u8..5, prop::collection::vec(any::<u8>(), 0..300)), 0..12),
    ) {
        let start = crate::test_clock::t0();
        let mut client = endpoint(Role::Client, hello_verify, start);
        let mut server = endpoint(Role::Server, hello_verify, start);
        for _ in 0..rounds {
            shuttle(&mut client, &mut server, start);
            shuttle(&mut server, &mut client, start);
        }
        let (target, role) = if server_role {
            (&mut server, Role::Server)
        } else {
            (&mut client, Role::Client)
        };
        let other = if role == Role::Client { Role::Server } else { Role::Client };
        let mut now = start;
        let mut buf = [0u8; 1500];
        for (kind, bytes) in chunks {
            match kind {
                0 => target.handle_datagram(now, Datagram {
                    source: addr(other),
                    destination: addr(role),
                    contents: &bytes,
                }),
                1 => target.inject13(now, 22, &bytes),
                2 => target.inject13(now, 26, &bytes),
                3 => target.inject13(now, 21, &bytes),
                _ => {
                    now += Duration::from_millis(250);
                    target.handle_timeout(now);
                    let _ = target.update_keys(now);
                }
            }
            while target.poll_transmit(now, &mut buf).is_some() {}
            while target.poll_event().is_some() {}
            let _ = target.send(b"x");
        }
        if let Some(c) = &target.v13 {
            prop_assert!(c.reassembler.buffered() <= 64 * 1024);
        }
    }
}
