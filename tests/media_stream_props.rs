//! Properties of the media streams: any bytes fed as RTP or RTCP never panic and memory stays
//! bounded; RTX wrapping and unwrapping restores any packet byte for byte; loss counting
//! agrees with what was delivered whatever the order and duplication. Case counts follow
//! `PROPTEST_CASES`.

use std::time::{Duration, Instant};

use kaon::media::{
    KeyframeKind, NtpEpoch, Rtx, RxVerdict, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig,
};
use kaon::rtp::rtcp::{Compound, Nack, RtcpPacket};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use proptest::prelude::*;

const SSRC: u32 = 0x0a0b_0c0d;
const RTX: Rtx = Rtx {
    ssrc: 0x0e0f_1011,
    payload_type: 99,
    associated_payload_type: 98,
};

fn streams(t0: Instant, history: usize) -> (StreamTx, StreamRx) {
    let mut txc = StreamTxConfig::new(
        SSRC,
        48_000,
        NtpEpoch {
            at: t0,
            ntp: 99 << 32,
        },
    );
    txc.rtx = Some(RTX);
    txc.history = history;
    txc.history_bytes = 64 * 1024;
    txc.seed = Some(3);
    let mut rxc = StreamRxConfig::new(SSRC, 48_000);
    rxc.rtx = Some(RTX);
    rxc.max_missing = 64;
    rxc.keyframe_request = KeyframeKind::Fir;
    rxc.seed = Some(4);
    (StreamTx::new(txc), StreamRx::new(rxc))
}

/// Bytes that are often RTP of the stream's SSRCs, so the deep paths are reached.
fn rtp_ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            any::<u16>(),
            any::<u32>(),
            any::<bool>(),
            0..3u8,
            proptest::collection::vec(any::<u8>(), 0..100),
            0..4u8,
        )
            .prop_map(|(seq, ts, marker, which, payload, pad)| {
                let (ssrc, pt) = match which {
                    0 => (SSRC, 98),
                    1 => (RTX.ssrc, RTX.payload_type),
                    _ => (RTX.ssrc, 98),
                };
                let h = RtpHeader {
                    payload_type: pt,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc,
                    marker,
                };
                let mut buf = vec![0u8; 400];
                let n = RtpBuilder::new(h)
                    .payload(&payload)
                    .padding(pad)
                    .write(&mut buf)
                    .unwrap();
                buf.truncate(n);
                buf
            }),
    ]
}

/// A valid RTP packet with CSRCs, extensions and padding.
fn full_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        any::<u32>(),
        proptest::collection::vec(any::<u32>(), 0..4),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..9)),
        proptest::collection::vec(any::<u8>(), 0..300),
        0..8u8,
    )
        .prop_map(|(seq, ts, csrcs, ext, payload, pad)| {
            let h = RtpHeader {
                payload_type: 98,
                sequence_number: seq,
                timestamp: ts,
                ssrc: SSRC,
                marker: seq % 2 == 0,
            };
            let exts;
            let mut b = RtpBuilder::new(h)
                .csrcs(&csrcs)
                .payload(&payload)
                .padding(pad);
            if let Some(e) = &ext {
                exts = [(3u8, kaon::rtp::ExtensionValue::Raw(&e[..]))];
                b = b.extensions(&exts);
            }
            let mut buf = vec![0u8; 800];
            let n = b.write(&mut buf).unwrap();
            buf.truncate(n);
            buf
        })
}

#[derive(Debug, Clone)]
enum Op {
    Send(Vec<u8>),
    Receive(Vec<u8>),
    Rtcp(Vec<u8>),
    Nack(Vec<u16>),
    Keyframe,
    Poll,
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        rtp_ish().prop_map(Op::Send),
        rtp_ish().prop_map(Op::Receive),
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(Op::Rtcp),
        proptest::collection::vec(any::<u16>(), 1..20).prop_map(Op::Nack),
        Just(Op::Keyframe),
        Just(Op::Poll),
        any::<u16>().prop_map(Op::Wait),
    ]
}

proptest! {
    #[test]
    fn any_rtp_and_rtcp_bytes_never_panic_and_memory_stays_bounded(
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let (mut tx, mut rx) = streams(t0, 32);
        let tx_heap = tx.heap_bytes();
        let mut buf = [0u8; 1500];
        for op in ops {
            match op {
                Op::Send(p) => tx.on_send(now, &p),
                Op::Receive(mut p) => {
                    let n = p.len();
                    if rx.unwrap_rtx(now, &mut p, n).is_none() {
                        rx.on_packet(now, &p);
                    }
                }
                Op::Rtcp(bytes) => {
                    for p in Compound::new(&bytes).packets().flatten() {
                        tx.handle_rtcp(now, &p);
                        rx.handle_rtcp(now, &p);
                    }
                }
                Op::Nack(lost) => tx.handle_rtcp(now, &RtcpPacket::Nack(Nack::from_lost(1, SSRC, lost))),
                Op::Keyframe => { rx.request_keyframe(now); }
                Op::Poll => {
                    while tx.poll_retransmit(now, &mut buf).is_some() {}
                    let _ = tx.poll_rtcp(now, &mut buf);
                    let _ = rx.poll_rtcp(now, 1, &mut buf);
                    let _ = rx.poll_rtcp(now, 1, &mut buf[..20]); // too small a buffer
                    while tx.poll_event().is_some() {}
                    let _ = rx.report_block(now);
                }
                Op::Wait(ms) => now += Duration::from_millis(u64::from(ms)),
            }
            prop_assert!(tx.history_len() <= 32);
            prop_assert!(rx.missing_len() <= 64);
            prop_assert!(tx.heap_bytes() <= tx_heap + 64 * 1024);
            if let (Some(a), Some(b)) = (tx.poll_timeout(), rx.poll_timeout()) {
                prop_assert!(a >= t0 && b >= t0);
            }
            let s = rx.stats();
            prop_assert!(s.jitter >= 0.0 && s.jitter.is_finite());
        }
    }

    #[test]
    fn rtx_wrap_then_unwrap_restores_any_packet(p in full_packet()) {
        let t0 = Instant::now();
        let (mut tx, mut rx) = streams(t0, 64);
        tx.on_send(t0, &p);
        let seq = RtpPacket::new_checked(&p[..]).unwrap().sequence_number();
        tx.handle_rtcp(t0, &RtcpPacket::Nack(Nack::from_lost(1, SSRC, [seq])));
        let mut buf = [0u8; 1500];
        let n = tx.poll_retransmit(t0, &mut buf).unwrap();
        let (n, verdict) = rx.unwrap_rtx(t0, &mut buf, n).unwrap();
        prop_assert_eq!(verdict, RxVerdict::New);
        // The original without its padding (RTX does not carry it).
        let orig = RtpPacket::new_checked(&p[..]).unwrap();
        let unpadded = p.len() - orig.padding_len();
        let mut expected = p[..unpadded].to_vec();
        expected[0] &= !0x20;
        prop_assert_eq!(&buf[..n], &expected[..]);
    }

    #[test]
    fn cumulative_loss_is_expected_minus_distinct_received(
        base in any::<u16>(),
        picks in proptest::collection::vec(0..500u16, 1..600),
    ) {
        let t0 = Instant::now();
        let (_, mut rx) = streams(t0, 1);
        let mut sent = std::collections::BTreeSet::new();
        let order = std::iter::once(0).chain(picks.iter().copied());
        for (i, k) in order.enumerate() {
            let h = RtpHeader {
                payload_type: 98,
                sequence_number: base.wrapping_add(k),
                ssrc: SSRC,
                ..Default::default()
            };
            let mut buf = [0u8; 100];
            let n = RtpBuilder::new(h).payload(&[1]).write(&mut buf).unwrap();
            let v = rx.on_packet(t0 + Duration::from_millis(i as u64), &buf[..n]);
            prop_assert_eq!(v == RxVerdict::Duplicate, !sent.insert(k));
        }
        let highest = *sent.iter().max().unwrap();
        let b = rx.report_block(t0 + Duration::from_secs(1)).unwrap();
        prop_assert_eq!(b.cumulative_lost as i64, i64::from(highest) + 1 - sent.len() as i64);
        prop_assert_eq!(b.extended_highest_sequence as u64, u64::from(base) + u64::from(highest));
        prop_assert!(rx.missing_len() <= 64);
    }
}
