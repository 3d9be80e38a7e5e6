//! Non-fatal ERROR chunks from the peer (RFC 9260 §3.3.10) are surfaced and counted, and the
//! association goes on; a Stale Cookie during setup restarts the handshake (§5.2.6).

use kaon::datachannel::{self, DataChannels, Role};
use kaon::sctp::chunk::{Cause, Chunk, cause};
use kaon::sctp::packet::{Header, Packet, PacketWriter};
use kaon::sctp::param::{Param, Params};
use kaon::sctp::{Association, Config, ErrorCause, Event, PeerError, SendOptions, State};
use kaon::wire::Writer;
use std::time::Instant;

fn cfg(seed: u64) -> Config {
    Config {
        seed: Some(seed),
        ..Config::default()
    }
}

/// Delivers packets both ways until both sides are quiet.
fn shuttle(a: &mut Association, b: &mut Association, now: Instant) {
    let mut buf = [0u8; 1500];
    for _ in 0..50 {
        let mut moved = false;
        while let Some(n) = a.poll_packet(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// A packet from port 5000 to 5000 with tag `vtag` carrying `chunks`, with its CRC32c.
fn packet(vtag: u32, chunks: &[Chunk<'_>]) -> Vec<u8> {
    let mut pkt = vec![0u8; 1200];
    let mut pw = PacketWriter::new(
        &mut pkt,
        Header {
            src_port: 5000,
            dst_port: 5000,
            vtag,
        },
    )
    .unwrap();
    for c in chunks {
        assert!(pw.push(c));
    }
    let n = pw.finish(false);
    pkt.truncate(n);
    pkt
}

/// An ERROR chunk's value holding one cause.
fn causes(code: u16, info: &[u8]) -> Vec<u8> {
    let c = Cause { code, info };
    let mut buf = vec![0u8; c.encoded_len()];
    c.write(&mut Writer::new(&mut buf)).unwrap();
    buf
}

/// The INIT in `pkt`, if any: its initiate tag and parameters.
fn init_in(pkt: &[u8]) -> Option<(u32, Vec<u8>)> {
    let p = Packet::parse(pkt).ok()?;
    p.chunks().find_map(|c| match c {
        Ok(Chunk::Init(i)) => Some((i.initiate_tag, i.params.to_vec())),
        _ => None,
    })
}

fn peer_errors(a: &mut Association) -> Vec<PeerError> {
    let mut out = Vec::new();
    while let Some(e) = a.poll_event() {
        if let Event::PeerError(p) = e {
            out.push(p);
        }
    }
    out
}

fn connected(now: Instant) -> (Association, Association) {
    let (mut a, mut b) = (Association::new(cfg(21)), Association::new(cfg(22)));
    a.connect(now);
    b.connect(now);
    shuttle(&mut a, &mut b, now);
    assert!(a.is_established() && b.is_established());
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b)
}

/// The verification tag `to` expects, read from a packet `from` sends it (a small message,
/// delivered; the events it causes are drained).
fn tag_towards(from: &mut Association, to: &mut Association, now: Instant) -> u32 {
    let mut buf = [0u8; 1500];
    from.send(now, 1, 53, &b"x"[..], SendOptions::default())
        .unwrap();
    let n = from.poll_packet(now, &mut buf).unwrap();
    let tag = u32::from_be_bytes(buf[4..8].try_into().unwrap());
    to.handle_packet(now, &buf[..n]);
    shuttle(from, to, now);
    while from.poll_event().is_some() {}
    while to.poll_event().is_some() {}
    tag
}

#[test]
fn unrecognized_chunk_type_error_is_surfaced_counted_and_the_association_goes_on() {
    let now = Instant::now();
    let (mut a, mut b) = connected(now);
    let b_tag = tag_towards(&mut a, &mut b, now);
    // A chunk b does not know, type 0xc7: the high bits 11 say "skip it and report it in an
    // ERROR chunk" (RFC 9260 §3.2), so b answers a with Unrecognized Chunk Type.
    let unknown = Chunk::Unknown {
        kind: 0xc7,
        flags: 0,
        value: b"ext?",
    };
    b.handle_packet(now, &packet(b_tag, &[unknown]));
    shuttle(&mut a, &mut b, now);
    let errs = peer_errors(&mut a);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].cause, ErrorCause::UnrecognizedChunkType);
    // RFC 9260 §3.3.10.6: the cause carries the unrecognized chunk.
    assert_eq!(errs[0].info, [0xc7, 0, 0, 8, b'e', b'x', b't', b'?']);
    assert_eq!(a.stats().errors_received, 1);
    assert_eq!(a.state(), State::Established);
    // Non-fatal: messages still flow.
    a.send(now, 1, 53, &b"after"[..], SendOptions::default())
        .unwrap();
    shuttle(&mut a, &mut b, now);
    let got: Vec<_> = std::iter::from_fn(|| b.poll_event())
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.data),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![bytes::Bytes::from_static(b"after")]);
}

#[test]
fn stale_cookie_error_restarts_the_handshake_with_a_cookie_preservative() {
    let now = Instant::now();
    let (mut a, mut b) = (Association::new(cfg(41)), Association::new(cfg(42)));
    // Only a connects: INIT to b, INIT ACK back, then a echoes the cookie, which we drop.
    a.connect(now);
    let mut buf = [0u8; 1500];
    let n = a.poll_packet(now, &mut buf).unwrap();
    let (a_tag, first_params) = init_in(&buf[..n]).unwrap();
    assert!(
        !Params::new(&first_params).any(|p| matches!(p, Ok(Param::CookiePreservative(_)))),
        "a first INIT asks for no extension"
    );
    b.handle_packet(now, &buf[..n]);
    let n = b.poll_packet(now, &mut buf).unwrap();
    a.handle_packet(now, &buf[..n]);
    assert_eq!(a.state(), State::CookieEchoed);
    let _lost_cookie_echo = a.poll_packet(now, &mut buf).unwrap();
    // The peer found our cookie 2.5 ms stale (the measure is in microseconds).
    let stale = causes(cause::STALE_COOKIE, &2500u32.to_be_bytes());
    a.handle_packet(now, &packet(a_tag, &[Chunk::Error(&stale)]));
    let errs = peer_errors(&mut a);
    assert_eq!(
        errs,
        vec![PeerError {
            cause: ErrorCause::StaleCookie,
            info: 2500u32.to_be_bytes().to_vec()
        }]
    );
    assert_eq!(a.stats().errors_received, 1);
    // RFC 9260 §5.2.6 alternative 3: a new INIT asking for the cookie to live longer.
    assert_eq!(a.state(), State::CookieWait);
    let n = a.poll_packet(now, &mut buf).unwrap();
    let (tag, params) = init_in(&buf[..n]).expect("a new INIT");
    assert_eq!(tag, a_tag);
    let preservative: Vec<u32> = Params::new(&params)
        .filter_map(|p| match p {
            Ok(Param::CookiePreservative(ms)) => Some(ms),
            _ => None,
        })
        .collect();
    assert_eq!(preservative, vec![4], "2.5 ms rounded up, plus 1");
    b.handle_packet(now, &buf[..n]);
    shuttle(&mut a, &mut b, now);
    assert!(a.is_established() && b.is_established());
}

#[test]
fn stale_cookie_error_once_established_is_reported_but_changes_nothing() {
    let now = Instant::now();
    let (mut a, mut b) = connected(now);
    let mut buf = [0u8; 1500];
    let a_tag = tag_towards(&mut b, &mut a, now);
    let stale = causes(cause::STALE_COOKIE, &1000u32.to_be_bytes());
    a.handle_packet(now, &packet(a_tag, &[Chunk::Error(&stale)]));
    let errs = peer_errors(&mut a);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].cause, ErrorCause::StaleCookie);
    // §5.2.6: outside COOKIE-ECHOED it is not acted on.
    assert_eq!(a.state(), State::Established);
    assert!(
        a.poll_packet(now, &mut buf)
            .is_none_or(|n| init_in(&buf[..n]).is_none())
    );
}

#[test]
fn a_flood_of_error_causes_is_counted_but_holds_at_most_16_events() {
    let now = Instant::now();
    let (mut a, mut b) = connected(now);
    let a_tag = tag_towards(&mut b, &mut a, now);
    let mut many = Vec::new();
    for i in 0..40u16 {
        many.extend(causes(0x100 + i, b"?"));
    }
    for _ in 0..5 {
        a.handle_packet(now, &packet(a_tag, &[Chunk::Error(&many)]));
    }
    assert_eq!(a.stats().errors_received, 200);
    let errs = peer_errors(&mut a);
    assert_eq!(errs.len(), 16);
    assert_eq!(errs[0].cause, ErrorCause::Unknown(0x100));
    // Polled, they make room again.
    a.handle_packet(
        now,
        &packet(a_tag, &[Chunk::Error(&causes(1, &[0, 9, 0, 0]))]),
    );
    assert_eq!(
        peer_errors(&mut a)[0].cause,
        ErrorCause::InvalidStreamIdentifier
    );
    assert_eq!(a.state(), State::Established);
}

#[test]
fn data_channels_pass_peer_errors_up_and_stay_open() {
    let now = Instant::now();
    let mut cfg_a = datachannel::Config::new(Role::Client);
    cfg_a.sctp.seed = Some(51);
    let mut cfg_b = datachannel::Config::new(Role::Server);
    cfg_b.sctp.seed = Some(52);
    let (mut a, mut b) = (DataChannels::new(cfg_a), DataChannels::new(cfg_b));
    a.connect(now);
    b.connect(now);
    let mut buf = [0u8; 1500];
    let mut a_tag = 0;
    for _ in 0..20 {
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = a.poll_packet(now, &mut buf) {
            // a's INIT names the tag a expects on every packet to it.
            if let Some((t, _)) = init_in(&buf[..n]) {
                a_tag = t;
            }
            b.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    assert!(a.association().is_established());
    let oor = causes(cause::OUT_OF_RESOURCE, &[]);
    a.handle_packet(now, &packet(a_tag, &[Chunk::Error(&oor)]));
    let mut got = Vec::new();
    while let Some(e) = a.poll_event() {
        if let datachannel::Event::PeerError(p) = e {
            got.push(p.cause);
        }
    }
    assert_eq!(got, vec![ErrorCause::OutOfResource]);
    assert!(a.association().is_established());
}
