//! Writes the fuzz seed corpora (`fuzz/seeds/<target>/`) from real kaon traffic: SCTP
//! packets of a data channel association, the datagrams of a PeerConnection handshake and
//! chat, DTLS flights, ICE checks, SRTP packets. Each file is framed the way its target reads
//! its input (see each target's module doc), so the fuzzers start from inputs that get deep.
//!
//! Regenerate with `cargo test --test sctp_fuzz_seeds -- --ignored`; the always-on test
//! checks that the SCTP seeds still parse, so a wire change that breaks them is noticed.

use kaon::datachannel::{ChannelConfig, Config, DataChannels, Reliability, Role};
use kaon::dtls;
use kaon::peer::{PeerConfig, PeerConnection, SdpType};
use kaon::sctp::chunk::{Chunk, ForwardTsn};
use kaon::sctp::packet::Packet;
use kaon::{Datagram, Protocol};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Seeds by target, then by file name.
type Seeds = BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>;

fn add(seeds: &mut Seeds, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
    seeds.entry(target).or_default().insert(name.into(), bytes);
}

/// `[len: u8][op: u8][bytes]` framing of the SCTP and PeerConnection targets; longer
/// payloads are cut to 255 bytes.
fn frame(op: u8, bytes: &[u8]) -> Vec<u8> {
    let n = bytes.len().min(255);
    let mut v = vec![n as u8, op];
    v.extend_from_slice(&bytes[..n]);
    v
}

/// The association of the `sctp_association` target, built the same way (same seeds, roles,
/// window and channel), so the TSNs and tags in its captures are the ones the harness uses.
fn sctp_pair() -> (DataChannels, DataChannels, Instant) {
    let mut now = Instant::now();
    let cfg = |seed, role| {
        let mut c = Config::new(role);
        c.sctp.seed = Some(seed);
        c.sctp.receive_window = 256 * 1024;
        c
    };
    let mut a = DataChannels::new(cfg(1, Role::Client));
    let mut b = DataChannels::new(cfg(2, Role::Server));
    a.connect(now);
    b.connect(now);
    let _ = a.create_channel(now, ChannelConfig::labelled("f"));
    let mut buf = [0u8; 1500];
    for _ in 0..8 {
        while let Some(n) = a.poll_packet(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        now += Duration::from_millis(1);
    }
    (a, b, now)
}

/// Packets `a` sends (delivered to `b`, whose answers go back) after `act`.
fn capture(
    a: &mut DataChannels,
    b: &mut DataChannels,
    now: Instant,
    act: impl FnOnce(&mut DataChannels, Instant),
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    act(a, now);
    let mut buf = [0u8; 1500];
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        while let Some(n) = a.poll_packet(now, &mut buf) {
            from_a.push(buf[..n].to_vec());
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            from_b.push(buf[..n].to_vec());
            a.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    (from_a, from_b)
}

fn sctp_seeds(seeds: &mut Seeds) {
    // The handshake, as `sctp_packet` sees whole packets.
    {
        let now = Instant::now();
        let mut a = DataChannels::new(Config::new(Role::Client));
        let mut b = DataChannels::new(Config::new(Role::Server));
        a.connect(now);
        b.connect(now);
        let mut buf = [0u8; 1500];
        for round in 0..4 {
            let mut i = 0;
            while let Some(n) = a.poll_packet(now, &mut buf) {
                add(
                    seeds,
                    "sctp_packet",
                    format!("handshake-a-{round}-{i}"),
                    buf[..n].to_vec(),
                );
                b.handle_packet(now, &buf[..n]);
                i += 1;
            }
            while let Some(n) = b.poll_packet(now, &mut buf) {
                add(
                    seeds,
                    "sctp_packet",
                    format!("handshake-b-{round}-{i}"),
                    buf[..n].to_vec(),
                );
                a.handle_packet(now, &buf[..n]);
                i += 1;
            }
        }
    }

    let (mut a, mut b, now) = sctp_pair();
    let f = a.ids().next().expect("the harness channel");
    type Act = Box<dyn FnOnce(&mut DataChannels, Instant)>;
    let acts: Vec<(&str, Act)> = vec![
        (
            "text",
            Box::new(move |a, now| a.send_text(now, f, "hello").unwrap()),
        ),
        (
            "binary",
            Box::new(move |a, now| a.send(now, f, vec![7u8; 64], true).unwrap()),
        ),
        (
            "empty-text",
            Box::new(move |a, now| a.send_text(now, f, "").unwrap()),
        ),
        (
            "fragmented",
            Box::new(move |a, now| a.send(now, f, vec![3u8; 3000], true).unwrap()),
        ),
        (
            "open-unordered-partial",
            Box::new(|a, now| {
                let mut c = ChannelConfig::labelled("u");
                c.ordered = false;
                c.reliability = Reliability::MaxRetransmits(0);
                let id = a.create_channel(now, c).unwrap();
                a.send_text(now, id, "unordered").unwrap();
            }),
        ),
        ("close", Box::new(move |a, _| a.close(f))),
        ("shutdown", Box::new(|a, now| a.shutdown(now))),
    ];
    for (name, act) in acts {
        let (from_a, from_b) = capture(&mut a, &mut b, now, act);
        let mut stream = Vec::new();
        for (i, p) in from_a.iter().enumerate() {
            add(seeds, "sctp_packet", format!("{name}-a-{i}"), p.clone());
            // The chunk-stream targets read the chunks behind the common header.
            stream.extend(frame(0xc0, &p[12..]));
        }
        for (i, p) in from_b.iter().enumerate() {
            add(seeds, "sctp_packet", format!("{name}-b-{i}"), p.clone());
        }
        if !stream.is_empty() {
            add(seeds, "sctp_association", name, stream.clone());
            // Behind DTLS: op 0x40 rewrites the TSN to the one that connection expects.
            let renumbered: Vec<u8> = from_a
                .iter()
                .flat_map(|p| frame(0xc0 | 0x40, &p[12..]))
                .collect();
            add(seeds, "peer_sctp", name, renumbered);
        }
    }
    // A FORWARD-TSN skipping one message, and one skipping far ahead (refused).
    for (name, skip) in [("forward-tsn", 1u32), ("forward-tsn-far", 1 << 20)] {
        let c = Chunk::ForwardTsn(ForwardTsn {
            new_cum_tsn: skip,
            streams: Default::default(),
        });
        let mut v = vec![0u8; c.encoded_len()];
        c.write(&mut kaon::wire::Writer::new(&mut v)).unwrap();
        add(seeds, "sctp_association", name, frame(0xc0, &v));
        add(seeds, "peer_sctp", name, frame(0x80, &v));
    }
}

const A: &str = "192.0.2.1:5000";
const B: &str = "192.0.2.2:5000";

/// The pair of the `peer_connection` target; returns what `a` sends to `b` while they
/// connect and chat.
fn peer_datagrams() -> Vec<Vec<u8>> {
    let now = Instant::now();
    let mut a = PeerConnection::new(PeerConfig::with_seed(1)).unwrap();
    let mut b = PeerConnection::new(PeerConfig::with_seed(2)).unwrap();
    a.add_local_address(A.parse().unwrap()).unwrap();
    b.add_local_address(B.parse().unwrap()).unwrap();
    let id = a
        .create_data_channel(now, "f", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    let mut now = now;
    for step in 0..400 {
        if step == 300 {
            a.send_text(now, id, "hello").unwrap();
        }
        let mut to_b = Vec::new();
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            out.push(buf[..t.len].to_vec());
            to_b.push((t.source, t.destination, buf[..t.len].to_vec()));
        }
        let mut to_a = Vec::new();
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            to_a.push((t.source, t.destination, buf[..t.len].to_vec()));
        }
        now += Duration::from_millis(1);
        for (source, destination, bytes) in to_b {
            b.handle_datagram(
                now,
                Datagram {
                    source,
                    destination,
                    contents: &bytes,
                },
            );
        }
        for (source, destination, bytes) in to_a {
            a.handle_datagram(
                now,
                Datagram {
                    source,
                    destination,
                    contents: &bytes,
                },
            );
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    out
}

fn peer_seeds(seeds: &mut Seeds) {
    let datagrams = peer_datagrams();
    assert!(datagrams.len() > 4, "the pair connected");
    let stun: Vec<_> = datagrams
        .iter()
        .filter(|d| d.first().is_some_and(|&b| b < 2))
        .collect();
    let dtls: Vec<_> = datagrams
        .iter()
        .filter(|d| d.first().is_some_and(|&b| (20..=63).contains(&b)))
        .collect();
    // peer_connection: everything from the peer's address, one step after each.
    let all: Vec<u8> = datagrams.iter().flat_map(|d| frame(0x41, d)).collect();
    add(seeds, "peer_connection", "handshake-and-chat", all);
    for (i, d) in dtls.iter().enumerate().take(8) {
        add(
            seeds,
            "peer_connection",
            format!("dtls-{i}"),
            frame(0x41, d),
        );
        add(seeds, "dtls_record", format!("kaon-{i}"), d.to_vec());
    }
    // peer_router: raw datagrams (shape 2) from the first client, the network running.
    let routed: Vec<u8> = datagrams.iter().flat_map(|d| frame(0x58, d)).collect();
    add(seeds, "peer_router", "handshake-and-chat", routed);
    // ice_agent: `[mode][flags][len: u16][bytes]`, re-signed with the agent's password.
    for (i, d) in stun.iter().enumerate().take(4) {
        let mut v = vec![0x01, 0x08];
        v.extend_from_slice(&(d.len() as u16).to_be_bytes());
        v.extend_from_slice(d);
        add(seeds, "ice_agent", format!("check-{i}"), v);
    }
}

/// A DTLS handshake between two kaon endpoints; each side's datagrams, in order.
fn dtls_flights() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let now = Instant::now();
    let client_id = dtls::Identity::generate().unwrap();
    let server_id = dtls::Identity::generate().unwrap();
    let c_addr: SocketAddr = "192.0.2.1:4444".parse().unwrap();
    let s_addr: SocketAddr = "192.0.2.2:5555".parse().unwrap();
    let cfg = |role, me: SocketAddr, peer: Option<SocketAddr>, fp| dtls::Config {
        role,
        local_addr: Some(me),
        remote_addr: peer,
        remote_fingerprints: vec![fp],
        seed: Some(1),
        ..dtls::Config::default()
    };
    let mut c = dtls::Endpoint::new(
        cfg(
            dtls::Role::Client,
            c_addr,
            Some(s_addr),
            server_id.fingerprint(dtls::HashAlgorithm::Sha256),
        ),
        client_id.clone(),
        now,
    )
    .unwrap();
    let mut s = dtls::Endpoint::new(
        cfg(
            dtls::Role::Server,
            s_addr,
            None,
            client_id.fingerprint(dtls::HashAlgorithm::Sha256),
        ),
        server_id,
        now,
    )
    .unwrap();
    let (mut from_c, mut from_s) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 1500];
    for _ in 0..6 {
        while let Some(t) = c.poll_transmit(now, &mut buf) {
            from_c.push(buf[..t.len].to_vec());
            s.handle_datagram(
                now,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                },
            );
        }
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            from_s.push(buf[..t.len].to_vec());
            c.handle_datagram(
                now,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                },
            );
        }
        let _ = c.send(b"ping");
    }
    (from_c, from_s)
}

fn dtls_seeds(seeds: &mut Seeds) {
    let (from_c, from_s) = dtls_flights();
    assert!(!from_c.is_empty() && !from_s.is_empty());
    // `[control][len: u16][datagram]...`: control 0 = no HelloVerifyRequest, no warm-up.
    let framed = |ds: &[Vec<u8>]| -> Vec<u8> {
        let mut v = vec![0u8];
        for d in ds {
            v.extend_from_slice(&(d.len() as u16).to_be_bytes());
            v.extend_from_slice(d);
        }
        v
    };
    add(seeds, "dtls_server", "client-flights", framed(&from_c));
    add(seeds, "dtls_server", "client-hello", framed(&from_c[..1]));
    add(seeds, "dtls_client", "server-flights", framed(&from_s));
    for (i, d) in from_c.iter().chain(&from_s).enumerate() {
        add(seeds, "dtls_record", format!("handshake-{i}"), d.clone());
    }
}

fn srtp_seeds(seeds: &mut Seeds) {
    // `[selector][packet][0xff][packet]...`; bit 3 protects first, so the seeds reach the
    // paths after authentication. No 0xff inside a packet: it separates them.
    let rtp = |seq: u16| {
        let mut p = vec![0x80, 0x6f];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend((0..40u8).map(|i| i.wrapping_mul(3) & 0x7f));
        p
    };
    for profile in 0..4u8 {
        let mut v = vec![0x08 | profile];
        for seq in [1u16, 2, 4, 3] {
            v.extend(rtp(seq));
            v.push(0xff);
        }
        add(seeds, "srtp_unprotect", format!("rtp-profile-{profile}"), v);
        // An RTCP receiver report: V=2, RC=1, PT=201, length 7.
        let mut rr = vec![0x81, 201, 0, 7];
        rr.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        rr.extend_from_slice(&0x0bad_cafeu32.to_be_bytes());
        rr.extend_from_slice(&[0; 20]);
        let mut v = vec![0x0c | profile];
        v.extend(rr);
        add(
            seeds,
            "srtp_unprotect",
            format!("rtcp-profile-{profile}"),
            v,
        );
    }
}

fn text_seeds(seeds: &mut Seeds) {
    let candidates = [
        "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host",
        "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 192.0.2.1 rport 5000 generation 0 ufrag x9Zq network-cost 999",
        "candidate:3 1 udp 16777215 198.51.100.4 3478 typ relay raddr 203.0.113.7 rport 61234",
        "candidate:4 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active",
        "candidate:5 1 UDP 2122260223 2001:db8::1 5000 typ host",
        "candidate:6 1 udp 2122194687 3c2b1a09-8f7e-4d6c-b5a4-93827160abcd.local 49152 typ host",
    ];
    for (i, c) in candidates.iter().enumerate() {
        add(
            seeds,
            "ice_candidate",
            format!("candidate-{i}"),
            c.as_bytes().to_vec(),
        );
    }
    add(
        seeds,
        "wire_reader",
        "ops",
        vec![0x1b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    add(
        seeds,
        "wire_reader",
        "sub",
        vec![0x05, 4, 0, 0, 0, 1, 2, 3, 4],
    );
}

fn all_seeds() -> Seeds {
    let mut seeds = Seeds::new();
    sctp_seeds(&mut seeds);
    peer_seeds(&mut seeds);
    dtls_seeds(&mut seeds);
    srtp_seeds(&mut seeds);
    text_seeds(&mut seeds);
    seeds
}

#[test]
fn captured_sctp_seeds_are_valid_packets() {
    let mut seeds = Seeds::new();
    sctp_seeds(&mut seeds);
    let packets = &seeds["sctp_packet"];
    assert!(packets.len() > 20, "{}", packets.len());
    let mut scratch = Vec::new();
    for (name, p) in packets {
        let pkt = Packet::parse(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(pkt.chunks().all(|c| c.is_ok()), "{name}");
        assert!(
            pkt.checksum == 0 || kaon::sctp::packet::checksum_ok(p, &mut scratch),
            "{name}"
        );
    }
    assert!(seeds["sctp_association"].len() >= 7);
}

/// Writes every seed corpus under `fuzz/seeds/`. The `.ci/fuzz-smoke` script adds the SDP,
/// RFC 5769 STUN and Chromium ClientHello fixtures beside them.
#[test]
#[ignore = "writes fuzz/seeds; run by hand after a wire format change"]
fn write_fuzz_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (target, files) in all_seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
