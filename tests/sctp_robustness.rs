//! Any packet into an established association: never a panic, memory stays bounded, and the
//! association keeps working for the real peer afterwards.

use kaon::sctp::chunk::{Chunk, Data, ForwardTsn, GapBlock, Sack, SkippedStream};
use kaon::sctp::{Association, Config, Event, SendOptions};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn established() -> (Association, Association, u32, Instant) {
    let now = Instant::now();
    let cfg = |seed| Config {
        seed: Some(seed),
        zero_checksum: true,
        receive_window: 256 * 1024,
        ..Config::default()
    };
    let (mut a, mut b) = (Association::new(cfg(1)), Association::new(cfg(2)));
    a.connect(now);
    let mut buf = [0u8; 1500];
    let mut vtag = 0;
    for _ in 0..4 {
        while let Some(n) = a.poll_packet(now, &mut buf) {
            vtag = u32::from_be_bytes(buf[4..8].try_into().unwrap());
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
        }
    }
    assert!(a.is_established() && b.is_established());
    while b.poll_event().is_some() {}
    (a, b, vtag, now)
}

fn packet(vtag: u32, chunks: &[u8]) -> Vec<u8> {
    let mut p = vec![0x13, 0x88, 0x13, 0x88];
    p.extend_from_slice(&vtag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(chunks);
    p
}

fn arb_chunk() -> impl Strategy<Value = Vec<u8>> {
    let data = (
        any::<u32>(),
        0u16..4,
        any::<u16>(),
        any::<[bool; 3]>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(tsn, stream, ssn, [u, b, e], payload)| {
            encode(&Chunk::Data(Data {
                tsn,
                stream,
                ssn_or_mid: u32::from(ssn),
                ppid: 53,
                fsn: 0,
                unordered: u,
                begin: b,
                end: e,
                immediate: false,
                payload: &payload,
            }))
        });
    let sack = (
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<(u16, u16)>(), 0..6),
    )
        .prop_map(|(c, w, g)| {
            encode(&Chunk::Sack(Sack {
                cum_tsn: c,
                a_rwnd: w,
                gaps: g
                    .into_iter()
                    .map(|(start, end)| GapBlock { start, end })
                    .collect(),
                dups: Default::default(),
            }))
        });
    let fwd = (
        any::<u32>(),
        proptest::collection::vec((0u16..4, any::<u16>()), 0..4),
    )
        .prop_map(|(c, s)| {
            encode(&Chunk::IForwardTsn(ForwardTsn {
                new_cum_tsn: c,
                streams: s
                    .into_iter()
                    .map(|(stream, mid)| SkippedStream {
                        stream,
                        ssn_or_mid: u32::from(mid),
                        unordered: false,
                    })
                    .collect(),
            }))
        });
    prop_oneof![
        data,
        sack,
        fwd,
        proptest::collection::vec(any::<u8>(), 0..80)
    ]
}

fn encode(c: &Chunk<'_>) -> Vec<u8> {
    let mut v = vec![0u8; c.encoded_len()];
    c.write(&mut kaon::wire::Writer::new(&mut v)).unwrap();
    v
}

proptest! {
    // PROPTEST_CASES wins; 200 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
    ))]
    #[test]
    fn arbitrary_chunks_never_break_an_established_association(
        packets in proptest::collection::vec(proptest::collection::vec(arb_chunk(), 1..4), 1..20),
        steps in proptest::collection::vec(0u64..500, 20),
    ) {
        let (mut a, mut b, vtag, mut now) = established();
        let mut buf = [0u8; 1500];
        for (i, chunks) in packets.iter().enumerate() {
            b.handle_packet(now, &packet(vtag, &chunks.concat()));
            now += Duration::from_millis(steps[i % steps.len()]);
            b.handle_timeout(now);
            while b.poll_packet(now, &mut buf).is_some() {}
            let m = b.memory();
            prop_assert!(m.reassembly + m.undelivered <= 2 * 256 * 1024);
        }
        while b.poll_event().is_some() {}
        // Garbage with a valid tag can break an association (RFC 9260's security model
        // trusts the tag); the sender side stays usable for its own API either way.
        let _ = a.send(now, 0, 51, &b"still there"[..], SendOptions::default());
        while a.poll_packet(now, &mut buf).is_some() {}
    }

    #[test]
    fn any_bytes_at_all_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (_, mut b, vtag, now) = established();
        b.handle_packet(now, &data);
        b.handle_packet(now, &packet(vtag, &data));
        let mut buf = [0u8; 1500];
        while b.poll_packet(now, &mut buf).is_some() {}
        while let Some(e) = b.poll_event() {
            let _: Event = e;
        }
    }
}

/// A peer that gap-acks everything, never acknowledges cumulatively and advertises an endless
/// window: the sender keeps at most `max_inflight` bytes for retransmission.
#[test]
fn a_peer_that_never_acks_cumulatively_cannot_grow_our_retransmission_queue() {
    use kaon::sctp::packet::{Header, Packet, PacketWriter};
    let cfg = |seed| Config {
        seed: Some(seed),
        max_inflight: 4 << 20,
        ..Config::default()
    };
    let (mut a, mut b) = (Association::new(cfg(1)), Association::new(cfg(2)));
    let mut now = Instant::now();
    a.connect(now);
    let mut buf = [0u8; 1500];
    let mut a_tag = 0;
    for _ in 0..4 {
        while let Some(n) = a.poll_packet(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a_tag = u32::from_be_bytes(buf[4..8].try_into().unwrap());
            a.handle_packet(now, &buf[..n]);
        }
    }
    assert!(a.is_established());
    let msg = bytes::Bytes::from(vec![1u8; 60_000]);
    let (mut first, mut last) = (None::<u32>, 0u32);
    for _ in 0..2000 {
        while a
            .send(now, 0, 53, msg.clone(), SendOptions::default())
            .is_ok()
        {}
        while let Some(n) = a.poll_packet(now, &mut buf) {
            for c in Packet::parse(&buf[..n]).unwrap().chunks() {
                if let Ok(Chunk::Data(d) | Chunk::IData(d)) = c {
                    first.get_or_insert(d.tsn);
                    last = d.tsn;
                }
            }
        }
        let Some(first) = first else { continue };
        let span = last.wrapping_sub(first);
        if span < 1 {
            continue;
        }
        let sack = Chunk::Sack(Sack {
            cum_tsn: first.wrapping_sub(1),
            a_rwnd: u32::MAX,
            gaps: [GapBlock {
                start: 2,
                end: (span + 1).min(65535) as u16,
            }]
            .into_iter()
            .collect(),
            dups: Default::default(),
        });
        let mut pkt = [0u8; 1200];
        let mut pw = PacketWriter::new(
            &mut pkt,
            Header {
                src_port: 5000,
                dst_port: 5000,
                vtag: a_tag,
            },
        )
        .unwrap();
        assert!(pw.push(&sack));
        let n = pw.finish(false);
        a.handle_packet(now, &pkt[..n]);
        now += Duration::from_millis(5);
        a.handle_timeout(now);
    }
    let m = a.memory();
    eprintln!(
        "after 2000 rounds of gap-only SACKs: {m:?}, {:?}",
        a.stats()
    );
    assert!(m.inflight_bytes <= (4 << 20) + 1200, "{m:?}");
    assert!(
        m.inflight_bytes > 3 << 20,
        "the cap, not something else, stopped it: {m:?}"
    );
}
