//! Packetizing does not allocate per packet (nor per frame once parameter sets are
//! remembered); depacketizing into a reserved buffer does not allocate per packet; the jitter
//! buffer allocates about one buffer per frame handed out, whatever the packet count.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::media::codec::{Codec, Depacketizer, PacketInfo, Packetizer, PacketizerConfig};
use kaon::media::jitter::{JitterBuffer, JitterConfig};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn frame(codec: Codec, len: usize) -> Vec<u8> {
    let body = |i: usize| (i % 250 + 1) as u8;
    match codec {
        Codec::H264 => {
            let mut f = vec![
                0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65,
            ];
            f.extend((0..len).map(body));
            f.extend_from_slice(&[0, 0, 1, 0x41]);
            f.extend((0..200).map(body));
            f
        }
        Codec::H265 => {
            let mut f = vec![
                0, 0, 0, 1, 0x40, 1, 7, 0, 0, 1, 0x42, 1, 7, 0, 0, 1, 0x26, 1,
            ];
            f.extend((0..len).map(body));
            f
        }
        Codec::Av1 => {
            // Temporal delimiter, then one frame OBU with a 2-byte size field.
            let len = len.min(16_000);
            let mut f = vec![0x12, 0, 0x32, (len & 0x7f) as u8 | 0x80, (len >> 7) as u8];
            f.extend((0..len).map(body));
            f
        }
        Codec::Opus => (0..len.min(1000)).map(body).collect(),
        _ => (0..len).map(body).collect(),
    }
}

#[test]
fn packetizing_and_depacketizing_do_not_allocate_per_packet() {
    for codec in Codec::ALL {
        let f = frame(codec, 30_000);
        let mut p = Packetizer::new(codec, PacketizerConfig::default());
        let mut d = Depacketizer::new(codec);
        let mut buf = [0u8; 1200];
        let mut out = Vec::with_capacity(64 * 1024);
        let mut seq = 0u16;
        let mut packets = 0;
        let mut run = |p: &mut Packetizer, d: &mut Depacketizer, out: &mut Vec<u8>, ts: u32| {
            out.clear();
            let mut payloads = p.packetize(&f, 1200).unwrap();
            while let Some(r) = payloads.next_payload(&mut buf) {
                let r = r.unwrap();
                let info = PacketInfo {
                    seq,
                    timestamp: ts,
                    marker: r.marker,
                };
                d.push(&buf[..r.len], info, out).unwrap();
                seq = seq.wrapping_add(1);
                packets += 1;
            }
        };
        // Warm up: parameter sets remembered, the AV1 fragment buffer grown.
        run(&mut p, &mut d, &mut out, 0);
        let before = allocations();
        for ts in 1..20 {
            run(&mut p, &mut d, &mut out, ts);
        }
        assert_eq!(
            allocations() - before,
            0,
            "{codec:?} allocated ({packets} packets)"
        );
    }
}

#[test]
fn the_jitter_buffer_allocates_per_frame_not_per_packet() {
    let f = frame(Codec::Vp8, 30_000);
    // A video stream decodes from a keyframe: the first frame is one (RFC 6386 §9.1: P bit 0,
    // start code, 640x480), the rest are interframes.
    let mut key = f.clone();
    key[0] &= !1;
    key[3..10].copy_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    let mut p = Packetizer::new(Codec::Vp8, PacketizerConfig::default());
    let mut jb = JitterBuffer::new(Codec::Vp8, JitterConfig::default());
    let now = Instant::now();
    let mut buf = [0u8; 1200];
    // The payloads are made up front: their `Bytes` are the caller's allocations.
    let mut packets = Vec::new();
    let mut seq = 0u16;
    for i in 0..40u32 {
        let mut payloads = p.packetize(if i == 0 { &key } else { &f }, 1200).unwrap();
        while let Some(r) = payloads.next_payload(&mut buf) {
            let r = r.unwrap();
            packets.push((
                seq,
                i * 3000,
                r.marker,
                Bytes::copy_from_slice(&buf[..r.len]),
            ));
            seq = seq.wrapping_add(1);
        }
    }
    let per_frame = packets.len() / 40;
    let mut it = packets.into_iter();
    for (s, ts, m, b) in it.by_ref().take(per_frame * 10) {
        jb.insert(now, s, ts, m, b);
        while jb.poll_sample().is_some() {}
    }
    let before = allocations();
    let mut frames = 0;
    for (s, ts, m, b) in it {
        jb.insert(now + Duration::from_millis(1), s, ts, m, b);
        while jb.poll_sample().is_some() {
            frames += 1;
        }
    }
    assert_eq!(frames, 30);
    let n = allocations() - before;
    assert!(
        n <= frames,
        "{n} allocations for {frames} frames of {per_frame} packets"
    );
}
