use super::*;
use proptest::prelude::*;

struct Chunk {
    tsn: u64,
    stream: u16,
    seq: u32,
    fsn: u32,
    unordered: bool,
    begin: bool,
    end: bool,
    ppid: u32,
    payload: Vec<u8>,
}

/// Fragments `msgs` (stream, unordered, body) the way a sender would: consecutive TSNs, per
/// stream sequence numbers for ordered messages (and, with I-DATA, for unordered ones too).
fn fragment(msgs: &[(u16, bool, Vec<u8>)], frag: usize, interleaved: bool) -> Vec<Chunk> {
    let mut seqs = std::collections::HashMap::new();
    let mut tsn = 100;
    let mut out = Vec::new();
    for (i, (stream, unordered, body)) in msgs.iter().enumerate() {
        let seq = if *unordered && !interleaved {
            0
        } else {
            let s = seqs.entry((*stream, *unordered)).or_insert(0u32);
            *s += 1;
            *s - 1
        };
        let pieces: Vec<&[u8]> = if body.is_empty() {
            vec![&[][..]]
        } else {
            body.chunks(frag).collect()
        };
        let n = pieces.len();
        for (k, p) in pieces.into_iter().enumerate() {
            out.push(Chunk {
                tsn,
                stream: *stream,
                seq,
                fsn: k as u32,
                unordered: *unordered,
                begin: k == 0,
                end: k + 1 == n,
                ppid: i as u32,
                payload: p.to_vec(),
            });
            tsn += 1;
        }
    }
    out
}

fn feed(r: &mut Reassembly, c: &Chunk, out: &mut VecDeque<Message>) {
    let d = Data {
        tsn: c.tsn as u32,
        stream: c.stream,
        ssn_or_mid: c.seq,
        ppid: if c.begin { c.ppid } else { 0 },
        fsn: c.fsn,
        unordered: c.unordered,
        begin: c.begin,
        end: c.end,
        immediate: false,
        payload: &c.payload,
    };
    // Odd TSNs come as slices of a packet (a header before the payload), even ones alone: both
    // ways of holding a payload meet in every scenario.
    if c.tsn % 2 == 1 {
        let mut packet = vec![0u8; 16];
        packet.extend_from_slice(&c.payload);
        let owner = Bytes::from(packet);
        let d = Data {
            payload: &owner[16..],
            ..d
        };
        r.insert(c.tsn, &d, Some(&owner), out);
    } else {
        r.insert(c.tsn, &d, None, out);
    }
}

/// Delivers `payload` as a whole unordered message (one chunk) found in `owner`.
fn deliver_whole(payload: &[u8], owner: &Bytes) -> Message {
    let d = Data {
        tsn: 1,
        stream: 0,
        ssn_or_mid: 0,
        ppid: 51,
        fsn: 0,
        unordered: true,
        begin: true,
        end: true,
        immediate: false,
        payload,
    };
    let mut r = Reassembly::new(false);
    let mut out = VecDeque::new();
    r.insert(1, &d, Some(owner), &mut out);
    out.pop_front().unwrap()
}

#[test]
fn message_in_one_chunk_is_a_slice_of_its_packet() {
    let packet = Bytes::from(vec![7u8; 1200]);
    let m = deliver_whole(&packet[28..], &packet);
    assert_eq!(m.data.as_ptr(), packet[28..].as_ptr());
    assert_eq!(m.data.len(), 1172);
}

#[test]
fn tiny_payload_in_a_large_packet_is_copied_not_pinned() {
    let packet = Bytes::from(vec![7u8; 1200]);
    let m = deliver_whole(&packet[28..40], &packet);
    assert_ne!(m.data.as_ptr(), packet[28..].as_ptr());
    assert!(packet.is_unique());
}

#[test]
fn payload_outside_its_owner_is_copied() {
    let packet = Bytes::from(vec![7u8; 64]);
    let elsewhere = vec![1u8; 60];
    assert_eq!(deliver_whole(&elsewhere, &packet).data, elsewhere);
}

fn arb_msgs() -> impl Strategy<Value = Vec<(u16, bool, Vec<u8>)>> {
    proptest::collection::vec(
        (
            0u16..3,
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        ),
        1..30,
    )
}

proptest! {
    #[test]
    fn any_arrival_order_delivers_every_message_once_and_in_stream_order(
        msgs in arb_msgs(),
        interleaved: bool,
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..200),
        frag in 1usize..12,
    ) {
        let chunks = fragment(&msgs, frag, interleaved);
        // Arrival order: any permutation. Duplicates never reach reassembly: the TSN tracker
        // filters them first.
        let mut idx: Vec<usize> = (0..chunks.len()).collect();
        for (i, o) in order.iter().enumerate() {
            let j = o.index(idx.len());
            let k = i % idx.len();
            idx.swap(j, k);
        }
        let mut r = Reassembly::new(interleaved);
        let mut out = VecDeque::new();
        for &i in &idx {
            feed(&mut r, &chunks[i], &mut out);
        }
        prop_assert_eq!(r.bytes(), 0, "nothing held once everything arrived");
        prop_assert_eq!(out.len(), msgs.len());
        let mut got: Vec<_> = out.iter().map(|m| (m.ppid, m.data.to_vec())).collect();
        // Ordered messages of one stream come out in send order.
        for s in 0..3u16 {
            let ids: Vec<u32> = out.iter().filter(|m| m.stream == s && !m.unordered).map(|m| m.ppid).collect();
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "stream {} out of order: {:?}", s, ids);
        }
        got.sort();
        let want: Vec<_> = msgs.iter().enumerate().map(|(i, m)| (i as u32, m.2.clone())).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn forward_tsn_drops_fragments_and_unblocks_the_stream() {
    let msgs = vec![
        (0, false, vec![1; 10]),
        (0, false, vec![2; 10]),
        (0, false, vec![3; 3]),
    ];
    let chunks = fragment(&msgs, 4, false);
    // Message 0 spans TSN 100..=102, message 1 103..=105, message 2 is 106.
    let mut r = Reassembly::new(false);
    let mut out = VecDeque::new();
    feed(&mut r, &chunks[0], &mut out);
    feed(&mut r, &chunks[6], &mut out);
    assert!(out.is_empty());
    assert!(r.bytes() > 0);
    // The sender abandoned messages 0 and 1 (SSN 1 is the last skipped).
    r.forward(
        105,
        &[SkippedStream {
            stream: 0,
            ssn_or_mid: 1,
            unordered: false,
        }],
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data.as_ref(), &[3, 3, 3]);
    assert_eq!(r.bytes(), 0);
}

#[test]
fn ssn_wraps_around() {
    let mut r = Reassembly::new(false);
    let mut out = VecDeque::new();
    for i in 0..70_000u32 {
        let c = Chunk {
            tsn: 1000 + u64::from(i),
            stream: 1,
            seq: i & 0xffff,
            fsn: 0,
            unordered: false,
            begin: true,
            end: true,
            ppid: 0,
            payload: vec![],
        };
        feed(&mut r, &c, &mut out);
    }
    assert_eq!(out.len(), 70_000);
}

#[test]
fn reset_frees_waiting_messages() {
    let mut r = Reassembly::new(true);
    let mut out = VecDeque::new();
    let msgs = vec![(4, false, vec![0; 5]), (4, false, vec![0; 5])];
    let chunks = fragment(&msgs, 100, true);
    feed(&mut r, &chunks[1], &mut out);
    assert!(r.bytes() > 0 && r.stream_count() == 1);
    r.reset_streams(&[4]);
    assert_eq!((r.bytes(), r.stream_count()), (0, 0));
}

#[test]
fn in_order_fragments_go_onto_one_buffer_sized_like_the_last_message() {
    let body: Vec<u8> = (0..=255).cycle().take(5000).collect();
    let msgs = vec![(0, false, body.clone()), (0, false, body.clone())];
    let chunks = fragment(&msgs, 1000, false);
    let mut r = Reassembly::new(false);
    let mut out = VecDeque::new();
    for (i, c) in chunks.iter().enumerate() {
        feed(&mut r, c, &mut out);
        if !c.end {
            let o = r
                .open
                .as_ref()
                .expect("an in-order fragment goes onto the open buffer");
            assert!(r.frags.is_empty(), "nothing held apart at chunk {i}");
            if i >= 5 {
                // The second message's buffer is sized from the first: it never grows.
                assert!(o.data.capacity() >= body.len());
            }
        }
    }
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|m| m.data.as_ref() == &body[..]));
    assert_eq!(r.bytes(), 0);
    assert!(r.open.is_none());
}

#[test]
fn a_fragment_out_of_order_spills_the_open_message_and_it_still_completes() {
    let body: Vec<u8> = (0..40).collect();
    let chunks = fragment(&[(0, false, body.clone())], 10, false);
    // TSNs 100..=103: the first two in order, then the last, then the third.
    let mut r = Reassembly::new(false);
    let mut out = VecDeque::new();
    feed(&mut r, &chunks[0], &mut out);
    feed(&mut r, &chunks[1], &mut out);
    assert!(r.open.is_some());
    let held = r.bytes();
    feed(&mut r, &chunks[3], &mut out);
    assert!(r.open.is_none(), "spilled");
    assert_eq!(
        r.bytes(),
        held + cost(10),
        "the accounting is unchanged by the spill"
    );
    feed(&mut r, &chunks[2], &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data.as_ref(), &body[..]);
    assert_eq!(r.bytes(), 0);
}

#[test]
fn in_order_idata_fragments_go_onto_one_buffer_sized_like_the_last_message() {
    let body: Vec<u8> = (0..=255).cycle().take(5000).collect();
    let msgs = vec![(0, false, body.clone()), (0, false, body.clone())];
    let chunks = fragment(&msgs, 1000, true);
    let mut r = Reassembly::new(true);
    let mut out = VecDeque::new();
    for (i, c) in chunks.iter().enumerate() {
        feed(&mut r, c, &mut out);
        if !c.end {
            let p = r.partials.values().next().expect("a message in progress");
            assert!(p.frags.is_empty(), "nothing held apart at chunk {i}");
            assert_eq!(p.data.len(), (c.fsn as usize + 1) * 1000);
            if i >= 5 {
                // The second message's buffer is sized from the first: it never grows.
                assert_eq!(p.data.capacity(), body.len());
            }
        }
    }
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|m| m.data.as_ref() == &body[..]));
    assert_eq!(r.bytes(), 0);
    assert!(r.partials.is_empty());
}

#[test]
fn idata_fragments_past_a_hole_wait_and_join_when_it_fills() {
    let body: Vec<u8> = (0..40).collect();
    let chunks = fragment(&[(0, false, body.clone())], 10, true);
    let mut r = Reassembly::new(true);
    let mut out = VecDeque::new();
    feed(&mut r, &chunks[0], &mut out);
    feed(&mut r, &chunks[3], &mut out);
    feed(&mut r, &chunks[2], &mut out);
    assert_eq!(r.bytes(), 3 * cost(10));
    let p = r.partials.values().next().unwrap();
    assert_eq!((p.data.len(), p.frags.len()), (10, 2));
    feed(&mut r, &chunks[1], &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data.as_ref(), &body[..]);
    assert_eq!(r.bytes(), 0);
}

#[test]
fn concurrent_partial_idata_messages_get_no_buffer_sized_ahead() {
    // A large message sets the size hint; then many messages are left unfinished at once:
    // only one may get a buffer that large, or a peer could make us hold far more memory
    // than the window charges it for.
    let big: Vec<u8> = vec![1; 64 * 1024];
    let mut r = Reassembly::new(true);
    let mut out = VecDeque::new();
    for c in fragment(&[(0, false, big.clone())], 1000, true) {
        feed(&mut r, &c, &mut out);
    }
    assert_eq!(out.len(), 1);
    let starts: Vec<Chunk> = (1..20u16)
        .map(|s| {
            let mut c = fragment(&[(s, false, vec![2; 20])], 10, true).remove(0);
            c.tsn = 1000 + u64::from(s);
            c
        })
        .collect();
    for c in &starts {
        feed(&mut r, c, &mut out);
    }
    let large = r
        .partials
        .values()
        .filter(|p| p.data.capacity() >= big.len())
        .count();
    assert!(large <= 1, "{large} partial messages hold a 64 KiB buffer");
}
