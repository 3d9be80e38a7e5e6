//! The media streams' behaviours, with the RTCP going through its wire form between a
//! receiver and a sender: keyframe requests (one event per request, FIR repetitions spotted,
//! PLI throttled), sequence number wraps, sender restarts and probation, the bounded RTX
//! history, plain resends without RTX, and NACK give-up.

use std::time::{Duration, Instant};

use kaon::media::{
    KeyframeKind, NtpEpoch, Rtx, RxVerdict, StreamEvent, StreamRx, StreamRxConfig, StreamTx,
    StreamTxConfig,
};
use kaon::rtp::rtcp::{Compound, Nack, RtcpPacket};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};

const SSRC: u32 = 0xabcd;
const RTX: Rtx = Rtx {
    ssrc: 0xbeef,
    payload_type: 97,
    associated_payload_type: 96,
};

fn tx(t0: Instant, rtx: bool, history: usize) -> StreamTx {
    let mut c = StreamTxConfig::new(
        SSRC,
        90_000,
        NtpEpoch {
            at: t0,
            ntp: 1 << 60,
        },
    );
    c.rtx = rtx.then_some(RTX);
    c.history = history;
    c.seed = Some(7);
    StreamTx::new(c)
}

fn rx(config: impl FnOnce(&mut StreamRxConfig)) -> StreamRx {
    let mut c = StreamRxConfig::new(SSRC, 90_000);
    c.rtx = Some(RTX);
    c.seed = Some(8);
    c.report_interval = Duration::from_secs(3600); // keep reports out of these tests
    config(&mut c);
    StreamRx::new(c)
}

fn packet(seq: u16) -> Vec<u8> {
    let h = RtpHeader {
        payload_type: 96,
        sequence_number: seq,
        timestamp: u32::from(seq) * 3000,
        ssrc: SSRC,
        ..Default::default()
    };
    let mut buf = [0u8; 100];
    let n = RtpBuilder::new(h)
        .payload(&seq.to_be_bytes())
        .write(&mut buf)
        .unwrap();
    buf[..n].to_vec()
}

/// Whatever feedback the receiver has now, fed to the sender through its bytes.
fn feedback(now: Instant, rx: &mut StreamRx, tx: &mut StreamTx) -> Vec<RtcpPacket> {
    let mut buf = [0u8; 1500];
    let mut seen = Vec::new();
    while let Some(n) = rx.poll_rtcp(now, 0x1234, &mut buf) {
        for p in Compound::new(&buf[..n]).packets() {
            let p = p.unwrap();
            tx.handle_rtcp(now, &p);
            seen.push(p);
        }
    }
    seen
}

fn events(tx: &mut StreamTx) -> Vec<StreamEvent> {
    std::iter::from_fn(|| tx.poll_event()).collect()
}

#[test]
fn pli_gives_one_keyframe_request_per_request_and_is_throttled() {
    let t0 = Instant::now();
    let (mut tx, mut rx) = (tx(t0, true, 64), rx(|_| {}));
    assert!(rx.request_keyframe(t0));
    feedback(t0, &mut rx, &mut tx);
    let pli = StreamEvent::KeyframeRequest {
        kind: KeyframeKind::Pli,
    };
    assert_eq!(events(&mut tx), vec![pli]);
    // A decoder asking again at once is throttled: nothing goes out.
    let soon = t0 + Duration::from_millis(100);
    assert!(!rx.request_keyframe(soon));
    assert!(feedback(soon, &mut rx, &mut tx).is_empty());
    assert!(events(&mut tx).is_empty());
    let later = t0 + Duration::from_millis(500);
    assert!(rx.request_keyframe(later));
    feedback(later, &mut rx, &mut tx);
    assert_eq!(events(&mut tx), vec![pli]);
    assert_eq!(tx.stats().pli_count, 2);
    assert_eq!(rx.stats().pli_count, 2);
    assert_eq!(rx.stats().keyframe_requests_throttled, 1);
}

#[test]
fn plis_arriving_before_the_event_is_read_merge_into_one() {
    let t0 = Instant::now();
    let mut tx = tx(t0, true, 64);
    let pli = RtcpPacket::Pli(kaon::rtp::rtcp::Pli {
        sender_ssrc: 1,
        media_ssrc: SSRC,
    });
    for _ in 0..5 {
        tx.handle_rtcp(t0, &pli);
    }
    assert_eq!(events(&mut tx).len(), 1);
    assert_eq!(tx.stats().pli_count, 5);
}

#[test]
fn a_repeated_fir_triggers_one_keyframe_and_a_new_one_another() {
    let t0 = Instant::now();
    let (mut tx, mut rx) = (
        tx(t0, true, 64),
        rx(|c| c.keyframe_request = KeyframeKind::Fir),
    );
    assert!(rx.request_keyframe(t0));
    let mut buf = [0u8; 100];
    let n = rx.poll_rtcp(t0, 0x1234, &mut buf).unwrap();
    let fir = RtcpPacket::parse(&buf[..n]).unwrap();
    // The same request twice (a retransmitted FIR): RFC 5104 §4.3.1.2, one refresh.
    tx.handle_rtcp(t0, &fir);
    tx.handle_rtcp(t0, &fir);
    let fir_event = StreamEvent::KeyframeRequest {
        kind: KeyframeKind::Fir,
    };
    assert_eq!(events(&mut tx), vec![fir_event]);
    let later = t0 + Duration::from_secs(1);
    assert!(rx.request_keyframe(later));
    feedback(later, &mut rx, &mut tx);
    assert_eq!(events(&mut tx), vec![fir_event]);
    assert_eq!((tx.stats().fir_count, rx.stats().fir_count), (2, 2));
}

#[test]
fn a_loss_across_the_sequence_wrap_is_nacked_and_repaired_by_rtx() {
    let t0 = Instant::now();
    let (mut tx, mut rx) = (tx(t0, true, 64), rx(|_| {}));
    let seqs: Vec<u16> = (65_530..=65_535).chain(0..5).collect();
    for &seq in &seqs {
        let p = packet(seq);
        tx.on_send(t0, &p);
        if seq != 65_535 && seq != 0 {
            assert_eq!(rx.on_packet(t0, &p), RxVerdict::New);
        }
    }
    let fb = feedback(t0, &mut rx, &mut tx);
    let RtcpPacket::Nack(nack) = &fb[0] else {
        panic!("{fb:?}")
    };
    assert_eq!(nack.lost().collect::<Vec<_>>(), vec![65_535, 0]);
    let mut buf = [0u8; 1500];
    let mut repaired = Vec::new();
    while let Some(n) = tx.poll_retransmit(t0, &mut buf) {
        let rtx = RtpPacket::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            (rtx.ssrc(), rtx.payload_type()),
            (RTX.ssrc, RTX.payload_type)
        );
        let (n, verdict) = rx.unwrap_rtx(t0, &mut buf, n).unwrap();
        assert_eq!(verdict, RxVerdict::Repaired);
        let p = RtpPacket::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            &buf[..n],
            &packet(p.sequence_number())[..],
            "restored byte for byte"
        );
        repaired.push(p.sequence_number());
    }
    assert_eq!(repaired, vec![65_535, 0]);
    let b = rx.report_block(t0).unwrap();
    assert_eq!(
        (b.extended_highest_sequence, b.cumulative_lost),
        (65_536 + 4, 0)
    );
}

#[test]
fn a_sender_restart_with_a_new_random_sequence_resynchronizes_without_a_nack_storm() {
    let t0 = Instant::now();
    let mut rx = rx(|_| {});
    for seq in 100..200 {
        rx.on_packet(t0, &packet(seq));
    }
    // The sender restarts at a random sequence number far away.
    assert_eq!(rx.on_packet(t0, &packet(31_000)), RxVerdict::Jump);
    assert_eq!(rx.on_packet(t0, &packet(31_001)), RxVerdict::New);
    for seq in 31_002..31_010 {
        assert_eq!(rx.on_packet(t0, &packet(seq)), RxVerdict::New);
    }
    assert_eq!(rx.missing_len(), 0);
    let b = rx.report_block(t0).unwrap();
    assert_eq!(
        (b.extended_highest_sequence, b.cumulative_lost),
        (31_009, 0)
    );
    let s = rx.stats();
    assert_eq!((s.restarts, s.packets_discarded), (1, 1));
    // A stray packet far away on its own does not restart anything.
    assert_eq!(rx.on_packet(t0, &packet(5)), RxVerdict::Jump);
    assert_eq!(rx.on_packet(t0, &packet(31_010)), RxVerdict::New);
}

#[test]
fn probation_validates_a_source_after_two_sequential_packets() {
    let t0 = Instant::now();
    let mut rx = rx(|c| c.probation = 2);
    assert_eq!(rx.on_packet(t0, &packet(10)), RxVerdict::Probation);
    assert!(
        rx.report_block(t0).is_none(),
        "no report on an unvalidated source"
    );
    assert_eq!(rx.on_packet(t0, &packet(12)), RxVerdict::Probation);
    assert_eq!(rx.on_packet(t0, &packet(13)), RxVerdict::New);
    assert_eq!(rx.on_packet(t0, &packet(15)), RxVerdict::New);
    let b = rx.report_block(t0).unwrap();
    assert_eq!((b.extended_highest_sequence, b.cumulative_lost), (15, 1));
}

#[test]
fn rtx_history_is_bounded_and_a_nack_for_a_forgotten_packet_is_counted_and_ignored() {
    let t0 = Instant::now();
    let mut tx = tx(t0, true, 64);
    for seq in 0..1000 {
        tx.on_send(t0, &packet(seq));
    }
    assert_eq!(tx.history_len(), 64);
    let before = tx.heap_bytes();
    for seq in 1000..5000 {
        tx.on_send(t0, &packet(seq));
    }
    assert_eq!(tx.heap_bytes(), before, "the history does not grow");
    tx.handle_rtcp(t0, &RtcpPacket::Nack(Nack::from_lost(1, SSRC, [10, 4990])));
    let mut buf = [0u8; 1500];
    let n = tx.poll_retransmit(t0, &mut buf).unwrap();
    let (n, _) = rx(|_| {}).unwrap_rtx(t0, &mut buf, n).unwrap();
    assert_eq!(&buf[..n], &packet(4990)[..]);
    assert!(tx.poll_retransmit(t0, &mut buf).is_none());
    assert_eq!(tx.stats().nack_unavailable, 1);
    assert_eq!(tx.stats().retransmitted_packets_sent, 1);
}

#[test]
fn without_rtx_a_nacked_packet_is_sent_again_as_it_was() {
    let t0 = Instant::now();
    let mut tx = tx(t0, false, 64);
    for seq in 0..10 {
        tx.on_send(t0, &packet(seq));
    }
    tx.handle_rtcp(t0, &RtcpPacket::Nack(Nack::from_lost(1, SSRC, [3, 3, 5])));
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(n) = tx.poll_retransmit(t0, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    assert_eq!(out, vec![packet(3), packet(5)]);
}

#[test]
fn nack_gives_up_after_its_tries() {
    let t0 = Instant::now();
    let mut rx = rx(|c| c.nack_max_tries = 3);
    rx.set_rtt(Duration::from_millis(20));
    rx.on_packet(t0, &packet(1));
    rx.on_packet(t0, &packet(3));
    let mut buf = [0u8; 1500];
    let mut now = t0;
    let mut nacks = 0;
    while let Some(at) = rx.poll_timeout() {
        if at > t0 + Duration::from_secs(5) {
            break;
        }
        now = now.max(at);
        while rx.poll_rtcp(now, 1, &mut buf).is_some() {
            nacks += 1;
        }
        now += Duration::from_millis(1);
    }
    assert_eq!(nacks, 3);
    let s = rx.stats();
    assert_eq!((s.nack_count, s.nack_gave_up), (3, 1));
    assert_eq!(rx.missing_len(), 0);
}

#[test]
fn a_padding_only_rtx_probe_is_not_a_packet() {
    let t0 = Instant::now();
    let mut rx = rx(|_| {});
    let h = RtpHeader {
        payload_type: RTX.payload_type,
        sequence_number: 1,
        ssrc: RTX.ssrc,
        ..Default::default()
    };
    let mut buf = [0u8; 300];
    let n = RtpBuilder::new(h).padding(200).write(&mut buf).unwrap();
    assert!(rx.unwrap_rtx(t0, &mut buf, n).is_none());
    assert_eq!(rx.stats().packets_received, 0);
}

#[test]
fn polling_in_a_loop_ends_even_with_zero_intervals() {
    let t0 = Instant::now();
    let mut c = StreamTxConfig::new(
        SSRC,
        90_000,
        NtpEpoch {
            at: t0,
            ntp: 1 << 60,
        },
    );
    c.report_interval = Duration::ZERO;
    let mut tx = StreamTx::new(c);
    let mut rx = rx(|c| {
        c.report_interval = Duration::ZERO;
        c.min_nack_interval = Duration::ZERO;
    });
    rx.set_rtt(Duration::ZERO);
    let mut buf = [0u8; 1500];
    for seq in [1, 5, 9] {
        tx.on_send(t0, &packet(seq));
        rx.on_packet(t0, &packet(seq));
    }
    let now = t0 + Duration::from_millis(1);
    let written = std::iter::from_fn(|| tx.poll_rtcp(now, &mut buf))
        .take(100)
        .count();
    assert_eq!(written, 1);
    let written = std::iter::from_fn(|| rx.poll_rtcp(now, 1, &mut buf))
        .take(100)
        .count();
    assert_eq!(written, 1);
}
