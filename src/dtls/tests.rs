//! Endpoint tests that need the crate's internals: forged protected records (renegotiation
//! attempts) and exact control over datagram order.

use std::net::SocketAddr;
use std::time::Instant;

use super::handshake::{HandshakeHeader, HandshakeType};
use super::record::{ContentType, records};
use super::*;
use crate::{Datagram, Protocol};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pair(now: Instant, mtu: usize) -> (Endpoint, Endpoint) {
    let (ci, si) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let client = Config {
        role: Role::Client,
        local_addr: Some(addr("10.0.0.1:1")),
        remote_addr: Some(addr("10.0.0.2:2")),
        remote_fingerprints: vec![si.fingerprint(HashAlgorithm::Sha256)],
        mtu,
        ..Config::default()
    };
    let server = Config {
        role: Role::Server,
        local_addr: Some(addr("10.0.0.2:2")),
        remote_fingerprints: vec![ci.fingerprint(HashAlgorithm::Sha256)],
        hello_verify: false,
        mtu,
        ..Config::default()
    };
    (
        Endpoint::new(client, ci, now).unwrap(),
        Endpoint::new(server, si, now).unwrap(),
    )
}

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
        Role::Client => (addr("10.0.0.2:2"), addr("10.0.0.1:1")),
        Role::Server => (addr("10.0.0.1:1"), addr("10.0.0.2:2")),
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

fn connect(c: &mut Endpoint, s: &mut Endpoint, now: Instant) {
    for _ in 0..4 {
        let d = take(c, now);
        give(s, now, &d);
        let d = take(s, now);
        give(c, now, &d);
    }
    assert!(c.is_connected() && s.is_connected());
    while c.poll_event().is_some() | s.poll_event().is_some() {}
}

/// A protected handshake record from `from` carrying the start of a `msg_type` message.
fn forged_hello(from: &mut Endpoint, msg_type: HandshakeType) -> Vec<u8> {
    // A new handshake starts again at message_seq 0 (RFC 6347 §4.2.2).
    let header = HandshakeHeader::whole(msg_type, 0, 0);
    let mut buf = [0u8; 128];
    let n = from
        .records
        .seal(1, ContentType::Handshake, &[&header.to_bytes()], &mut buf)
        .unwrap();
    buf[..n].to_vec()
}

/// The alerts in `datagrams`, opened with `reader`'s keys.
fn alerts(reader: &mut Endpoint, datagrams: &[Vec<u8>]) -> Vec<Alert> {
    let mut out = Vec::new();
    for d in datagrams {
        for rec in records(d).flatten() {
            if rec.header.content_type == ContentType::Alert {
                let mut scratch = Vec::new();
                let plain = reader.records.open(&rec, &mut scratch).unwrap();
                out.push(Alert::parse(plain).unwrap());
            }
        }
    }
    out
}

#[test]
fn renegotiation_is_refused_with_a_warning_both_before_and_after_data() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now, 1200);
    connect(&mut c, &mut s, now);
    // While the server still keeps its handshake state (no data from the client yet).
    let hello = forged_hello(&mut c, HandshakeType::ClientHello);
    give(&mut s, now, &[hello]);
    let out = take(&mut s, now);
    assert_eq!(
        alerts(&mut c, &out),
        vec![Alert::warning(AlertDescription::NoRenegotiation)]
    );
    // After data has flowed and the handshake state is gone.
    c.send(b"x").unwrap();
    let d = take(&mut c, now);
    give(&mut s, now, &d);
    assert!(s.hs.is_none());
    let hello = forged_hello(&mut c, HandshakeType::ClientHello);
    give(&mut s, now, &[hello]);
    let out = take(&mut s, now);
    assert_eq!(
        alerts(&mut c, &out),
        vec![Alert::warning(AlertDescription::NoRenegotiation)]
    );
    // A server's HelloRequest gets the same answer from the client.
    let request = forged_hello(&mut s, HandshakeType::HelloRequest);
    give(&mut c, now, &[request]);
    let out = take(&mut c, now);
    assert_eq!(
        alerts(&mut s, &out),
        vec![Alert::warning(AlertDescription::NoRenegotiation)]
    );
    assert!(c.is_connected() && s.is_connected());
}

#[test]
fn protected_records_before_their_keys_are_kept_until_the_keys_exist() {
    let now = Instant::now();
    // A small MTU spreads the client's second flight over several datagrams.
    let (mut c, mut s) = pair(now, 200);
    let d = take(&mut c, now);
    give(&mut s, now, &d);
    let d = take(&mut s, now);
    give(&mut c, now, &d);
    let mut flight = take(&mut c, now);
    assert!(flight.len() > 2);
    // Finished (epoch 1) first, key exchange last.
    flight.reverse();
    give(&mut s, now, &flight);
    assert!(s.is_connected(), "the early Finished was not kept");
    assert_eq!(s.stats().retransmissions, 0);
}

#[test]
fn tiny_mtu_is_refused() {
    let config = Config {
        remote_addr: Some(addr("10.0.0.2:2")),
        mtu: 64,
        ..Config::default()
    };
    assert!(matches!(
        Endpoint::new(config, Identity::generate().unwrap(), Instant::now()),
        Err(Error::InvalidConfig(_))
    ));
}
