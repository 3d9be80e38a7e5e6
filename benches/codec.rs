//! Payload format and jitter buffer costs.
//!
//! - Packetize and depacketize one 30 KB VP8 and H.264 frame at a 1200-byte MTU, beside a plain
//!   copy of the same 30 KB in the same run (criterion reports per frame and, with the byte
//!   throughput, per byte).
//! - The jitter buffer per packet with 10 and 1000 packets buffered behind a gap.
//!
//! `cargo bench --bench codec -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use kaon::media::codec::{Codec, Depacketizer, PacketInfo, Packetizer, PacketizerConfig};
use kaon::media::jitter::{JitterBuffer, JitterConfig};

const FRAME: usize = 30_000;
const MTU: usize = 1200;

fn frame(codec: Codec) -> Vec<u8> {
    let body = (0..FRAME).map(|i| (i % 250 + 1) as u8);
    match codec {
        Codec::H264 => {
            // An IDR of three slices, like an encoder's output.
            let mut f = Vec::new();
            for _ in 0..3 {
                f.extend_from_slice(&[0, 0, 0, 1, 0x65]);
                f.extend(body.clone().take(FRAME / 3 - 5));
            }
            f
        }
        _ => body.collect(),
    }
}

fn payloads(codec: Codec, f: &[u8]) -> Vec<Vec<u8>> {
    let mut p = Packetizer::new(codec, PacketizerConfig::default());
    let mut it = p.packetize(f, MTU).unwrap();
    let mut buf = [0u8; MTU];
    let mut out = Vec::new();
    while let Some(r) = it.next_payload(&mut buf) {
        out.push(buf[..r.unwrap().len].to_vec());
    }
    out
}

fn codec_groups(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_30k");
    g.throughput(Throughput::Bytes(FRAME as u64));
    let plain = frame(Codec::Vp8);
    let mut dst = vec![0u8; FRAME];
    g.bench_function("copy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&plain));
            black_box(&dst);
        })
    });
    for codec in [Codec::Vp8, Codec::H264] {
        let f = frame(codec);
        let mut p = Packetizer::new(codec, PacketizerConfig::default());
        let mut buf = [0u8; MTU];
        g.bench_function(format!("{codec:?}_packetize"), |b| {
            b.iter(|| {
                let mut it = p.packetize(black_box(&f), MTU).unwrap();
                let mut n = 0;
                while let Some(r) = it.next_payload(&mut buf) {
                    n += r.unwrap().len;
                }
                black_box(n)
            })
        });
        let pl = payloads(codec, &f);
        let mut d = Depacketizer::new(codec);
        let mut out = Vec::with_capacity(2 * FRAME);
        let mut ts = 0u32;
        g.bench_function(format!("{codec:?}_depacketize"), |b| {
            b.iter(|| {
                out.clear();
                ts = ts.wrapping_add(3000);
                for (i, p) in pl.iter().enumerate() {
                    let info = PacketInfo {
                        seq: i as u16,
                        timestamp: ts,
                        marker: i + 1 == pl.len(),
                    };
                    d.push(black_box(p), info, &mut out).unwrap();
                }
                black_box(out.len())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("jitter_per_packet");
    static PAYLOAD: [u8; 160] = [0xfc; 160];
    for depth in [10u64, 1000] {
        g.throughput(Throughput::Elements(depth + 1));
        let config = JitterConfig {
            capacity: 2048,
            max_ready: 4096,
            ..Default::default()
        };
        let mut jb = JitterBuffer::new(Codec::Opus, config);
        let now = Instant::now();
        // Audio goes out as it comes: start the stream in order, so the first gap is a gap.
        jb.insert(now, 0, 0, false, Bytes::from_static(&PAYLOAD));
        while jb.poll_sample().is_some() {}
        let mut seq = 1u16;
        g.bench_function(format!("depth_{depth}"), |b| {
            b.iter(|| {
                // `depth` packets wait behind a missing one, then it arrives and all go out.
                let gap = seq;
                for k in 1..=depth as u16 {
                    let s = gap.wrapping_add(k);
                    jb.insert(
                        now,
                        s,
                        u32::from(s) * 960,
                        false,
                        Bytes::from_static(&PAYLOAD),
                    );
                }
                jb.insert(
                    now,
                    gap,
                    u32::from(gap) * 960,
                    false,
                    Bytes::from_static(&PAYLOAD),
                );
                seq = gap.wrapping_add(depth as u16 + 1);
                let mut n = 0;
                while let Some(s) = jb.poll_sample() {
                    n += s.data.len();
                }
                black_box(n)
            })
        });
        assert_eq!(jb.stats().late + jb.stats().resets, 0, "{:?}", jb.stats());
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    codec_groups(&mut c);
    c.final_summary();
}
