//! The jitter buffer under seeded loss, reordering and duplication: frames come out whole and
//! in order; a repaired loss costs nothing; an unrepaired one gives a gap, `lost_before` and
//! one keyframe request; wraps and restarts are survived; memory stays bounded.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::media::codec::{Codec, PacketInfo, Packetizer, PacketizerConfig};
use kaon::media::jitter::{JitterBuffer, JitterConfig, JitterEvent, Sample};
use proptest::prelude::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Packet {
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Bytes,
}

/// A VP8 frame: keyframes carry a key frame tag, the rest an interframe tag.
fn vp8_frame(i: usize, key: bool, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
    f[0] = if key { 0x10 } else { 0x11 };
    f
}

/// Packetizes `frames` (VP8, 3000 ticks apart) from `seq0`/`ts0`.
fn packets(frames: &[Vec<u8>], seq0: u16, ts0: u32) -> Vec<Packet> {
    let mut p = Packetizer::new(Codec::Vp8, PacketizerConfig::default());
    let mut out = Vec::new();
    let mut seq = seq0;
    let mut buf = [0u8; 500];
    for (i, f) in frames.iter().enumerate() {
        let ts = ts0.wrapping_add(3000 * i as u32);
        let mut pl = p.packetize(f, 500).unwrap();
        while let Some(r) = pl.next_payload(&mut buf) {
            let r = r.unwrap();
            out.push(Packet {
                seq,
                ts,
                marker: r.marker,
                payload: Bytes::copy_from_slice(&buf[..r.len]),
            });
            seq = seq.wrapping_add(1);
        }
    }
    out
}

fn drain(jb: &mut JitterBuffer, out: &mut Vec<Sample>) {
    while let Some(s) = jb.poll_sample() {
        out.push(s);
    }
}

fn frames(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| vp8_frame(i, i == 0, 100 + rng.below(2500) as usize))
        .collect()
}

#[test]
fn in_order_packets_give_every_frame_whole() {
    let frames = frames(50, 1);
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    let mut out = Vec::new();
    for (i, p) in packets(&frames, 100, 5).into_iter().enumerate() {
        jb.insert(
            t0 + Duration::from_millis(i as u64),
            p.seq,
            p.ts,
            p.marker,
            p.payload,
        );
        drain(&mut jb, &mut out);
    }
    assert_eq!(out.len(), 50);
    for (i, s) in out.iter().enumerate() {
        assert_eq!(&s.data[..], &frames[i][..]);
        assert_eq!(s.rtp_timestamp, 5 + 3000 * i as u32);
        assert_eq!(s.duration, if i == 0 { 0 } else { 3000 });
        assert_eq!(s.keyframe, i == 0);
        assert!(!s.lost_before);
    }
    assert_eq!(jb.poll_timeout(), None);
    assert_eq!(jb.buffered_bytes(), 0);
}

/// Sends through a link that reorders (random delay up to 30 ms), duplicates 5% and loses
/// `loss`% of packets; lost ones are repaired (resent) after `repair` if `Some`.
fn run_link(
    seed: u64,
    loss: u64,
    repair: Option<Duration>,
    seq0: u16,
    ts0: u32,
) -> (Vec<Vec<u8>>, Vec<Sample>, JitterBuffer, usize) {
    let mut rng = Rng(seed);
    let frames = frames(200, seed);
    let pkts = packets(&frames, seq0, ts0);
    let t0 = Instant::now();
    let mut arrivals: Vec<(Instant, usize)> = Vec::new();
    let mut lost = 0;
    for (i, _) in pkts.iter().enumerate() {
        let sent = t0 + Duration::from_millis(i as u64 * 2);
        let delay = Duration::from_millis(10 + rng.below(30));
        if rng.below(100) < loss {
            lost += 1;
            if let Some(r) = repair {
                arrivals.push((sent + delay + r, i));
            }
        } else {
            arrivals.push((sent + delay, i));
        }
        if rng.below(100) < 5 {
            arrivals.push((sent + delay + Duration::from_millis(rng.below(20)), i));
        }
    }
    arrivals.sort();
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    jb.set_rtt(Duration::from_millis(100));
    let mut out = Vec::new();
    for (at, i) in arrivals {
        while let Some(d) = jb.poll_timeout().filter(|d| *d <= at) {
            jb.handle_timeout(d);
        }
        let p = &pkts[i];
        jb.insert(at, p.seq, p.ts, p.marker, p.payload.clone());
        drain(&mut jb, &mut out);
    }
    while let Some(d) = jb.poll_timeout() {
        jb.handle_timeout(d);
        if jb.poll_timeout() == Some(d) {
            break;
        }
        drain(&mut jb, &mut out);
        if out.len() >= 200 || d > t0 + Duration::from_secs(30) {
            break;
        }
    }
    drain(&mut jb, &mut out);
    (frames, out, jb, lost)
}

#[test]
fn reordered_duplicated_and_repaired_packets_give_every_frame_in_order() {
    for seed in [3, 17, 99, 12345] {
        // Repaired 60 ms after the loss: within the 150 ms (1.5 RTT) wait.
        let (frames, out, jb, lost) = run_link(seed, 5, Some(Duration::from_millis(60)), 1000, 0);
        assert!(lost > 0);
        assert_eq!(out.len(), frames.len(), "seed {seed}");
        for (i, s) in out.iter().enumerate() {
            assert_eq!(&s.data[..], &frames[i][..], "seed {seed} frame {i}");
            assert!(!s.lost_before);
        }
        assert!(jb.stats().duplicates > 0);
        assert_eq!(jb.stats().keyframe_requests, 0);
        assert_eq!(jb.missing().count(), 0);
    }
}

#[test]
fn sequence_and_timestamp_wrap_are_survived() {
    let (frames, out, _, _) = run_link(
        7,
        3,
        Some(Duration::from_millis(50)),
        65_000,
        u32::MAX - 200_000,
    );
    assert_eq!(out.len(), frames.len());
    let mut last = None;
    for (i, s) in out.iter().enumerate() {
        assert_eq!(&s.data[..], &frames[i][..]);
        if let Some(l) = last {
            assert_eq!(s.rtp_timestamp.wrapping_sub(l), 3000);
        }
        last = Some(s.rtp_timestamp);
    }
}

#[test]
fn unrepaired_loss_gives_a_gap_lost_before_and_one_keyframe_request() {
    let frames = frames(10, 5);
    let pkts = packets(&frames, 10, 0);
    // Lose the first packet of frame 3.
    let first_of_3 = pkts.iter().position(|p| p.ts == 9000).unwrap();
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    jb.set_rtt(Duration::from_millis(40));
    let mut out = Vec::new();
    let mut requests = 0;
    for (i, p) in pkts.iter().enumerate() {
        if i == first_of_3 {
            continue;
        }
        let at = t0 + Duration::from_millis(i as u64);
        jb.insert(at, p.seq, p.ts, p.marker, p.payload.clone());
        drain(&mut jb, &mut out);
    }
    assert_eq!(out.len(), 3, "frames before the loss come out");
    assert_eq!(jb.missing().collect::<Vec<_>>(), vec![pkts[first_of_3].seq]);
    let deadline = jb.poll_timeout().unwrap();
    // The wait is 1.5 RTT (60 ms) from when the loss was seen (the next packet arrived).
    assert_eq!(
        deadline,
        t0 + Duration::from_millis(first_of_3 as u64 + 1 + 60)
    );
    jb.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(jb.poll_event(), None, "nothing before the deadline");
    jb.handle_timeout(deadline);
    while let Some(e) = jb.poll_event() {
        assert_eq!(e, JitterEvent::KeyframeRequest);
        requests += 1;
    }
    drain(&mut jb, &mut out);
    assert_eq!(requests, 1);
    assert_eq!(
        out.len(),
        3,
        "interframes after the loss are dropped until a keyframe"
    );
    assert_eq!(jb.missing().count(), 0);
    // Still no keyframe: the request repeats after the throttle interval, not before.
    let next = jb.poll_timeout().unwrap();
    assert_eq!(next, deadline + Duration::from_millis(500));
    jb.handle_timeout(next);
    assert_eq!(jb.poll_event(), Some(JitterEvent::KeyframeRequest));
    // A keyframe arrives: it comes out, marked as following a loss.
    let key = packets(
        &[vp8_frame(99, true, 800)],
        pkts.last().unwrap().seq.wrapping_add(1),
        90_000,
    );
    for p in key {
        jb.insert(next, p.seq, p.ts, p.marker, p.payload);
    }
    let s = jb.poll_sample().unwrap();
    assert!(s.keyframe && s.lost_before);
    assert_eq!(jb.poll_timeout(), None);
    // The late packet is dropped, not handed out.
    let p = &pkts[first_of_3];
    jb.insert(next, p.seq, p.ts, p.marker, p.payload.clone());
    assert_eq!(jb.poll_sample(), None);
    assert_eq!(jb.stats().late, 1);
}

#[test]
fn a_sender_restart_is_survived() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    let mut out = Vec::new();
    for p in packets(&frames(5, 2), 100, 0) {
        jb.insert(t0, p.seq, p.ts, p.marker, p.payload);
    }
    // New random sequence number and timestamp, starting with a keyframe.
    for p in packets(&frames(5, 3), 40_000, 123_456_789) {
        jb.insert(t0, p.seq, p.ts, p.marker, p.payload);
    }
    drain(&mut jb, &mut out);
    assert_eq!(out.len(), 10);
    assert_eq!(out[5].rtp_timestamp, 123_456_789);
    assert!(out[5].keyframe);
    assert_eq!(jb.stats().resets, 1);
}

#[test]
fn audio_packets_are_frames_and_losses_need_no_keyframe() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(Codec::Opus, JitterConfig::default());
    for seq in [1u16, 2, 4, 3, 6] {
        jb.insert(
            t0,
            seq,
            u32::from(seq) * 960,
            false,
            Bytes::from(vec![seq as u8; 10]),
        );
    }
    let mut out = Vec::new();
    drain(&mut jb, &mut out);
    assert_eq!(
        out.iter().map(|s| s.seq_range.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    jb.handle_timeout(jb.poll_timeout().unwrap());
    drain(&mut jb, &mut out);
    assert_eq!(out[4].seq_range, (6, 6));
    assert!(out[4].lost_before);
    assert_eq!(jb.poll_event(), None);
}

proptest! {
    #[test]
    fn a_flood_of_random_packets_stays_bounded(ops in prop::collection::vec((any::<u16>(), any::<u32>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..600), 0u64..50), 1..150), codec in prop::sample::select(Codec::ALL.to_vec())) {
        let config = JitterConfig { capacity: 64, max_bytes: 20_000, max_ready: 8, ..Default::default() };
        let mut jb = JitterBuffer::new(codec, config);
        let t0 = Instant::now();
        let mut now = t0;
        for (seq, ts, marker, payload, dt) in ops {
            now += Duration::from_millis(dt);
            if let Some(d) = jb.poll_timeout() {
                prop_assert!(d >= t0);
                if d <= now {
                    jb.handle_timeout(now);
                }
            }
            jb.insert(now, seq, ts, marker, Bytes::from(payload));
            prop_assert!(jb.buffered_bytes() <= 20_000);
            prop_assert!(jb.missing().count() <= 64);
            while jb.poll_event().is_some() {}
            let mut n = 0;
            while jb.poll_sample().is_some() { n += 1; }
            prop_assert!(n <= 8);
        }
    }

    #[test]
    fn depacketized_samples_match_a_direct_depacketization(seed: u64) {
        // Whatever the link does, a sample handed out is exactly the frame that was sent.
        let (frames, out, _, _) = run_link(seed | 1, 10, None, seed as u16, seed as u32);
        let mut last_ts = None;
        for s in &out {
            let i = s.rtp_timestamp.wrapping_sub(seed as u32) / 3000;
            prop_assert_eq!(&s.data[..], &frames[i as usize][..]);
            if let Some(l) = last_ts {
                prop_assert!(s.rtp_timestamp.wrapping_sub(l) < u32::MAX / 2, "in order");
            }
            last_ts = Some(s.rtp_timestamp);
        }
        let _ = PacketInfo { seq: 0, timestamp: 0, marker: false };
    }
}

/// Until its first keyframe comes out, a stream repeats a keyframe request after two round
/// trips (at least 100 ms) instead of the 500 ms interval, which returns once it decodes; a
/// keyframe whose packets are still arriving (one is being repaired) holds the repeat back.
#[test]
fn a_stream_that_never_decoded_repeats_its_keyframe_request_sooner() {
    let ms = Duration::from_millis;
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    jb.set_rtt(ms(20));
    // The first keyframe was lost: the stream starts with interframes.
    let inter: Vec<Vec<u8>> = (1..4).map(|i| vp8_frame(i, false, 300)).collect();
    let pkts = packets(&inter, 500, 3000);
    for p in &pkts {
        jb.insert(t0, p.seq, p.ts, p.marker, p.payload.clone());
    }
    assert_eq!(jb.poll_event(), Some(JitterEvent::KeyframeRequest));
    assert_eq!(jb.keyframe_interval(), ms(100), "at least 100 ms");
    let next = jb.poll_timeout().unwrap();
    assert_eq!(next, t0 + ms(100));
    jb.handle_timeout(next);
    assert_eq!(jb.poll_event(), Some(JitterEvent::KeyframeRequest));
    // Over a longer path: two round trips.
    jb.set_rtt(ms(80));
    assert_eq!(jb.keyframe_interval(), ms(160));
    assert_eq!(jb.poll_timeout(), Some(next + ms(160)));
    // A keyframe's first and last packets arrive; the middle one is being repaired.
    let seq = pkts.last().unwrap().seq.wrapping_add(1);
    let key = packets(&[vp8_frame(9, true, 1200)], seq, 12_000);
    assert_eq!(key.len(), 3);
    for (p, at) in [(&key[0], next + ms(10)), (&key[2], next + ms(150))] {
        jb.insert(at, p.seq, p.ts, p.marker, p.payload.clone());
    }
    jb.handle_timeout(next + ms(160));
    assert_eq!(jb.poll_event(), None, "no repeat while a keyframe arrives");
    jb.insert(
        next + ms(170),
        key[1].seq,
        key[1].ts,
        key[1].marker,
        key[1].payload.clone(),
    );
    let s = jb.poll_sample().unwrap();
    assert!(s.keyframe && s.lost_before);
    // The stream decodes: a later loss keeps the steady interval.
    assert_eq!(jb.keyframe_interval(), ms(500));
    assert_eq!(jb.stats().keyframe_requests, 2);
}

/// The stream's first packet continues a frame: the one before it is missing, and listed for
/// a NACK (receive statistics start at the first packet and cannot know it); its repair
/// completes the frame, with no keyframe request.
#[test]
fn a_first_packet_that_continues_a_frame_lists_its_predecessor_for_nack() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    let frames = [vp8_frame(0, true, 1200), vp8_frame(1, false, 300)];
    let pkts = packets(&frames, 1000, 0);
    for p in &pkts[1..] {
        jb.insert(t0, p.seq, p.ts, p.marker, p.payload.clone());
    }
    assert_eq!(jb.missing_before_first(), Some(1000));
    let p = &pkts[0];
    jb.insert(
        t0 + Duration::from_millis(20),
        p.seq,
        p.ts,
        p.marker,
        p.payload.clone(),
    );
    assert_eq!(jb.missing_before_first(), None);
    let mut out = Vec::new();
    drain(&mut jb, &mut out);
    assert_eq!(out.len(), 2);
    assert!(out[0].keyframe && !out[0].lost_before);
    assert_eq!(jb.stats().keyframe_requests, 0);
    // A stream whose first packet starts a frame has nothing before it to ask for.
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    jb.insert(t0, p.seq, p.ts, p.marker, p.payload.clone());
    assert_eq!(jb.missing_before_first(), None);
}
