use super::*;
use bytes::Bytes;

fn frag(msg: u64, begin: bool, end: bool, max_rtx: Option<u32>) -> Fragment {
    Fragment {
        stream: 1,
        seq: msg as u32,
        ppid: 53,
        fsn: 0,
        unordered: false,
        begin,
        end,
        slot: 0,
        offset: 0,
        len: 100,
        msg,
        max_retransmits: max_rtx,
        expires: None,
    }
}

/// A reorder window long enough not to matter in these tests.
const R: Duration = Duration::from_secs(10);

fn gap(start: u16, end: u16) -> GapBlock {
    GapBlock { start, end }
}

fn setup(n: u64, max_rtx: Option<u32>) -> (Inflight, Instant) {
    let now = crate::test_clock::t0();
    let mut q = Inflight::new(u32::MAX - 3, false);
    for i in 0..n {
        q.push(frag(i, true, true, max_rtx), now);
    }
    (q, now)
}

#[test]
fn cumulative_ack_pops_and_measures_rtt() {
    let (mut q, now) = setup(10, None);
    assert_eq!(q.flight(), 1000);
    let later = now + Duration::from_millis(50);
    let cum = (q.cum() + 4) as u32; // wraps past u32::MAX
    let s = q.on_sack(later, cum, &[], R).unwrap();
    assert_eq!(s.acked_bytes, 400);
    assert!(s.cum_advanced);
    assert_eq!(s.rtt, Some(Duration::from_millis(50)));
    assert_eq!(q.len(), 6);
    assert_eq!(q.flight(), 600);
    assert!(
        q.on_sack(later, cum.wrapping_sub(1), &[], R).is_none(),
        "stale"
    );
    assert!(
        q.on_sack(later, cum.wrapping_add(7), &[], R).is_none(),
        "acks unsent data"
    );
}

#[test]
fn three_misses_from_later_sends_mark_a_hole_lost_once() {
    let (mut q, now) = setup(10, None);
    let cum = q.cum() as u32;
    // TSN cum+1 is missing; cum+2.. arrive one per SACK.
    for (i, expect_lost) in [(2u16, 0usize), (3, 0), (4, 1), (5, 0)] {
        let s = q.on_sack(now, cum, &[gap(2, i)], R).unwrap();
        assert_eq!(s.newly_lost, expect_lost, "after gap up to {i}");
    }
    assert!(q.has_lost());
    let t = q.peek_retransmit(now).unwrap();
    assert_eq!(t, q.cum() + 1);
    q.retransmitted(t, now);
    assert!(!q.has_lost());
    // The same SACK again (no new data acked) adds no miss.
    assert_eq!(q.on_sack(now, cum, &[gap(2, 5)], R).unwrap().newly_lost, 0);
    // Later sends acked again: the retransmission can be declared lost again.
    let mut lost = 0;
    for i in 6..=9 {
        lost += q.on_sack(now, cum, &[gap(2, i)], R).unwrap().newly_lost;
    }
    assert_eq!(lost, 0, "chunks 6..9 were sent before the retransmission");
}

#[test]
fn gap_acked_bytes_are_counted_once() {
    let (mut q, now) = setup(10, None);
    let cum = q.cum() as u32;
    let a = q.on_sack(now, cum, &[gap(2, 3), gap(6, 6)], R).unwrap();
    assert_eq!(a.acked_bytes, 300);
    let b = q.on_sack(now, cum, &[gap(2, 4), gap(6, 7)], R).unwrap();
    assert_eq!(b.acked_bytes, 200);
    assert_eq!(q.flight(), 500);
    let c = q.on_sack(now, cum.wrapping_add(7), &[], R).unwrap();
    assert_eq!(c.acked_bytes, 200, "only 1 and 5 were still unacked");
    assert_eq!(q.flight(), 300);
}

#[test]
fn reneged_gap_ack_is_retransmitted_only_after_a_timeout() {
    let (mut q, now) = setup(4, None);
    let cum = q.cum() as u32;
    q.on_sack(now, cum, &[gap(2, 3)], R).unwrap();
    q.on_sack(now, cum, &[], R).unwrap();
    assert!(!q.has_lost(), "a SACK missing a gap block may just be old");
    assert_eq!(q.mark_all_lost(now), 2);
    q.retransmitted(q.cum() + 1, now);
    q.retransmitted(q.cum() + 4, now);
    assert_eq!(q.flight(), 200);
    assert_eq!(q.mark_all_lost(now), 2);
}

#[test]
fn zero_retransmits_abandon_on_first_loss_and_forward_tsn_follows() {
    let (mut q, now) = setup(6, Some(0));
    let cum = q.cum() as u32;
    for i in 2..=5 {
        q.on_sack(now, cum, &[gap(2, i)], R).unwrap();
    }
    assert!(!q.has_lost(), "abandoned, not retransmitted");
    assert!(q.abandoned_any);
    let f = q.forward_tsn(1200).unwrap();
    assert_eq!(u64::from(f.new_cum_tsn), (q.cum() + 5) & 0xffff_ffff);
    assert_eq!(
        f.streams.as_slice(),
        &[SkippedStream {
            stream: 1,
            ssn_or_mid: 0,
            unordered: false
        }]
    );
    assert!(q.forward_pending());
    q.on_sack(now, f.new_cum_tsn, &[], R).unwrap();
    assert!(!q.forward_pending());
    assert_eq!(q.len(), 1);
}

#[test]
fn abandoning_a_fragment_abandons_its_whole_message() {
    let now = crate::test_clock::t0();
    let mut q = Inflight::new(0, false);
    q.push(frag(0, true, false, Some(0)), now);
    q.push(frag(0, false, false, Some(0)), now);
    q.push(frag(1, true, true, Some(0)), now);
    q.abandon_message(q.cum() + 2);
    assert_eq!(q.get(q.cum() + 1).unwrap().state, ChunkState::Abandoned);
    assert_eq!(q.get(q.cum() + 3).unwrap().state, ChunkState::InFlight);
    assert_eq!(q.truncated, vec![(1, 0)], "its end was never sent");
    assert_eq!(q.flight(), 100);
}

#[test]
fn timeout_marks_everything_in_flight_lost() {
    let (mut q, now) = setup(5, None);
    let cum = q.cum() as u32;
    q.on_sack(now, cum, &[gap(2, 2)], R).unwrap();
    assert_eq!(q.mark_all_lost(now), 4);
    assert_eq!(q.flight(), 0);
    let mut order = Vec::new();
    while let Some(t) = q.peek_retransmit(now) {
        order.push(t - q.cum());
        q.retransmitted(t, now);
    }
    assert_eq!(order, vec![1, 3, 4, 5]);
}

/// `n` single-fragment messages abandoned after the first send, on `streams` streams in
/// turn: three later chunks are gap-acked one by one, so each was missed three times.
fn abandoned(n: u64, streams: u16, unordered: bool, interleaved: bool) -> Inflight {
    let now = crate::test_clock::t0();
    let mut q = Inflight::new(1000, interleaved);
    for i in 0..n + 3 {
        let mut f = frag(i, true, true, Some(0));
        f.stream = (i % u64::from(streams)) as u16;
        f.unordered = unordered;
        q.push(f, now);
    }
    let cum = q.cum() as u32;
    for i in 0..3 {
        q.on_sack(now, cum, &[gap(n as u16 + 1, n as u16 + 1 + i)], R)
            .unwrap();
    }
    q
}

#[test]
fn a_forward_tsn_names_each_stream_once_with_its_largest_mid() {
    // RFC 8260 §2.3.1. One entry per abandoned message overflowed the packet and the
    // FORWARD-TSN was never sent: the association stalled (found over loopback).
    let mut q = abandoned(500, 1, true, true);
    let f = q.forward_tsn(1200).unwrap();
    assert_eq!(u64::from(f.new_cum_tsn), (q.cum() + 503) & 0xffff_ffff);
    assert_eq!(
        f.streams.as_slice(),
        &[SkippedStream {
            stream: 0,
            ssn_or_mid: 499,
            unordered: true
        }]
    );
}

#[test]
fn a_forward_tsn_too_big_for_the_packet_forwards_part_way_and_the_rest_follows() {
    // 400 ordered streams each skip a message: 400 entries do not fit in 1200 bytes.
    let mut q = abandoned(400, 400, false, false);
    let f = q.forward_tsn(1200).unwrap();
    assert_eq!(f.streams.len(), (1200 - 8) / 4);
    let first_cum = f.new_cum_tsn;
    assert!(q.forward_pending());
    q.on_sack(crate::test_clock::t0(), first_cum, &[], R);
    let f = q.forward_tsn(1200).unwrap();
    assert_eq!(f.streams.len(), 400 - (1200 - 8) / 4);
    assert_eq!(
        u64::from(f.new_cum_tsn),
        (q.cum() + 400 - 298 + 3) & 0xffff_ffff
    );
    // No room at all: nothing now, still pending.
    assert!(q.forward_tsn(8).is_none());
    assert!(q.forward_pending());
}

/// Pushes `n` fragments of `len` bytes of message `msg` (of `data`), as the send path does.
fn push_message(q: &mut Inflight, now: Instant, msg: u64, data: &Bytes, len: usize) {
    let mut slot = None;
    for (i, offset) in (0..data.len()).step_by(len).enumerate() {
        let s = q.hold(msg, &mut data.clone(), offset + len >= data.len(), slot);
        slot = Some(s);
        let f = Fragment {
            slot: s,
            offset,
            len: len.min(data.len() - offset),
            msg,
            begin: i == 0,
            end: offset + len >= data.len(),
            ..frag(msg, false, false, None)
        };
        q.push(f, now);
    }
}

#[test]
fn a_message_is_held_once_for_its_fragments_until_the_last_is_acked_or_abandoned() {
    let now = crate::test_clock::t0();
    let mut q = Inflight::new(7, true);
    let (a, b) = (Bytes::from(vec![1u8; 250]), Bytes::from(vec![2u8; 100]));
    push_message(&mut q, now, 0, &a, 100);
    push_message(&mut q, now, 1, &b, 100);
    assert_eq!(q.held_messages(), 2);
    assert_eq!(q.retained(), 350);
    let tsn = |i: u64| q.cum() + 1 + i;
    let payload = |q: &Inflight, t: u64| q.payload(&q.get(t).unwrap().frag).map(<[u8]>::to_vec);
    assert_eq!(payload(&q, tsn(2)), Some(vec![1; 50]));
    assert_eq!(payload(&q, tsn(3)), Some(vec![2; 100]));
    // Two fragments of the first message acknowledged: its bytes stay for the third.
    let cum = (tsn(1) as u32, tsn(3));
    q.on_sack(now, cum.0, &[], R).unwrap();
    assert_eq!(q.held_messages(), 2);
    assert_eq!(payload(&q, cum.1 - 1), Some(vec![1; 50]));
    // The second message abandoned: its bytes go though the older message's stay.
    q.abandon_message(cum.1);
    assert_eq!(q.held_messages(), 1);
    assert_eq!(payload(&q, cum.1), None);
    assert_eq!(q.retained(), 50);
    q.on_sack(now, cum.1 as u32, &[], R).unwrap();
    assert_eq!((q.held_messages(), q.retained()), (0, 0));
    assert!(q.held.is_empty(), "every slot let go");
}
