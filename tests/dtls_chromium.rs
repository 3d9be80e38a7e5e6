//! A real Chromium 156 ClientHello, captured from headless Chromium on loopback
//! (`tests/interop/dtls_chromium_capture.sh`): 1413 bytes in two fragments in two datagrams,
//! offering DTLS 1.3 first (supported_versions fefc, fefd) with an X25519MLKEM768 key share.
//! Our server, pinned to DTLS 1.2 here (the default, 1.3 or 1.2, answers it with 1.3, which
//! `dtls13_chromium` covers), must reassemble it and answer with a DTLS 1.2 ServerHello.

use std::net::SocketAddr;
use std::time::Instant;

use kaon::dtls::{Config, Endpoint, Identity, Role, VersionPolicy};
use kaon::{Datagram, Protocol};

const HELLO_1: &[u8] = include_bytes!("fixtures/dtls/chromium-156-client-hello-1.bin");
const HELLO_2: &[u8] = include_bytes!("fixtures/dtls/chromium-156-client-hello-2.bin");

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn server(hello_verify: bool) -> Endpoint {
    let config = Config {
        role: Role::Server,
        local_addr: Some(addr("127.0.0.1:5000")),
        hello_verify,
        versions: VersionPolicy::Dtls12,
        ..Config::default()
    };
    Endpoint::new(config, Identity::generate().unwrap(), Instant::now()).unwrap()
}

fn feed(ep: &mut Endpoint, datagrams: &[&[u8]]) -> Vec<Vec<u8>> {
    let now = Instant::now();
    for d in datagrams {
        ep.handle_datagram(
            now,
            Datagram {
                source: addr("127.0.0.1:6000"),
                destination: addr("127.0.0.1:5000"),
                contents: d,
            },
        );
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        assert_eq!(t.destination, addr("127.0.0.1:6000"));
        out.push(buf[..t.len].to_vec());
    }
    out
}

/// The handshake messages (type, body) in the first records of a datagram, unfragmented.
fn messages(datagram: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 13 <= datagram.len() {
        let len = u16::from_be_bytes([datagram[at + 11], datagram[at + 12]]) as usize;
        let frag = &datagram[at + 13..at + 13 + len];
        assert_eq!(datagram[at], 22, "handshake record");
        let body_len = u32::from_be_bytes([0, frag[9], frag[10], frag[11]]) as usize;
        out.push((frag[0], frag[12..12 + body_len].to_vec()));
        at += 13 + len;
    }
    out
}

/// Extension types of a ServerHello body, and the fields before them.
fn server_hello(body: &[u8]) -> (u16, u16, Vec<(u16, Vec<u8>)>) {
    let version = u16::from_be_bytes([body[0], body[1]]);
    let sid = body[34] as usize;
    let at = 35 + sid;
    let suite = u16::from_be_bytes([body[at], body[at + 1]]);
    assert_eq!(body[at + 2], 0, "null compression");
    let mut exts = Vec::new();
    let end = at + 5 + u16::from_be_bytes([body[at + 3], body[at + 4]]) as usize;
    let mut i = at + 5;
    while i < end {
        let t = u16::from_be_bytes([body[i], body[i + 1]]);
        let l = u16::from_be_bytes([body[i + 2], body[i + 3]]) as usize;
        exts.push((t, body[i + 4..i + 4 + l].to_vec()));
        i += 4 + l;
    }
    assert_eq!(i, body.len());
    (version, suite, exts)
}

#[test]
fn fixture_is_the_fragmented_dtls13_hello_we_expect() {
    assert_eq!((HELLO_1.len(), HELLO_2.len()), (1200, 263));
    // Both records: handshake, ClientHello, message_seq 0, total length 1413.
    for d in [HELLO_1, HELLO_2] {
        assert_eq!(d[0], 22);
        assert_eq!(d[13], 1);
        assert_eq!(&d[14..17], &[0x00, 0x05, 0x85]);
    }
}

#[test]
fn chromium_hello_is_reassembled_and_answered_with_dtls12() {
    let mut ep = server(false);
    let out = feed(&mut ep, &[HELLO_1, HELLO_2]);
    assert!(!out.is_empty(), "no answer to Chromium's hello");
    let msgs: Vec<(u8, Vec<u8>)> = out.iter().flat_map(|d| messages(d)).collect();
    assert_eq!(msgs[0].0, 2, "ServerHello first");
    let (version, suite, exts) = server_hello(&msgs[0].1);
    assert_eq!(version, 0xfefd, "DTLS 1.2");
    assert_eq!(suite, 0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    let types: Vec<u16> = exts.iter().map(|e| e.0).collect();
    assert!(types.contains(&0x0017), "extended_master_secret");
    assert!(types.contains(&0xff01), "renegotiation_info");
    assert!(
        !types.contains(&0x000a),
        "no supported_groups in a ServerHello"
    );
    assert!(
        !types.contains(&0x002b),
        "no supported_versions: this is 1.2"
    );
    assert!(!types.contains(&0x0033), "no key_share");
    // Chromium offers AES128_CM_SHA1_80, AEAD_AES_256_GCM, AEAD_AES_128_GCM; we prefer
    // AEAD_AES_128_GCM.
    let srtp = exts.iter().find(|e| e.0 == 0x000e).expect("use_srtp");
    assert_eq!(srtp.1, vec![0, 2, 0, 7, 0]);
    let kinds: Vec<u8> = msgs.iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        vec![2, 11, 12, 13, 14],
        "ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone"
    );
    // The key exchange uses X25519 (Chromium's first classical group).
    let ske = &msgs[2].1;
    assert_eq!(&ske[..3], &[3, 0x00, 0x1d]);
}

#[test]
fn chromium_hello_in_any_order_and_duplicated_gets_one_answer() {
    let mut ep = server(false);
    let out = feed(&mut ep, &[HELLO_2, HELLO_2, HELLO_1, HELLO_1]);
    let msgs: Vec<u8> = out.iter().flat_map(|d| messages(d)).map(|m| m.0).collect();
    assert_eq!(msgs, vec![2, 11, 12, 13, 14]);
}

#[test]
fn chromium_hello_without_cookie_gets_a_hello_verify_request() {
    let mut ep = server(true);
    let out = feed(&mut ep, &[HELLO_1, HELLO_2]);
    assert_eq!(out.len(), 1);
    let msgs = messages(&out[0]);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0, 3, "HelloVerifyRequest");
    assert_eq!(
        &msgs[0].1[..2],
        &[0xfe, 0xff],
        "HelloVerifyRequest carries DTLS 1.0"
    );
    assert_eq!(msgs[0].1[2] as usize, msgs[0].1.len() - 3);
    // RFC 6347 §4.2.1: the record sequence number echoes the ClientHello's last record.
    assert_eq!(&out[0][5..11], &HELLO_2[5..11]);
    // Stateless: the server is still not bound to the client.
    assert_eq!(ep.remote_addr(), None);
}
