//! The estimator's cost per feedback packet: a controller fed a steady 2.5 Mbit/s stream
//! (1200-byte packets, one report per 50 ms, as the recorder sends by default), per packet
//! sent and reported; and the receive side's recorder per packet.
//!
//! `cargo bench --bench bwe -- --warm-up-time 1 --measurement-time 2`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaon::bwe::{Config, Controller, FeedbackRecorder, PacketKind, PacketResult};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Packets per report at 2.5 Mbit/s of 1200-byte packets every 50 ms.
const PER_REPORT: u64 = 13;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("bwe");
    g.throughput(Throughput::Elements(PER_REPORT));

    let t0 = Instant::now();
    let mut bwe = Controller::new(Config::default());
    let mut seq = 0u64;
    let mut now = t0;
    let mut results = Vec::with_capacity(PER_REPORT as usize);
    g.bench_function("controller: 13 packets sent + one report of them", |b| {
        b.iter(|| {
            results.clear();
            for _ in 0..PER_REPORT {
                now += Duration::from_micros(3_840);
                bwe.on_packet_sent(now, seq, 1200, PacketKind::Video);
                // 50 ms one way, a steady path: arrival on the receiver's own clock.
                let arrival = now.duration_since(t0) + Duration::from_millis(50);
                results.push(PacketResult {
                    seq,
                    arrival: Some(arrival),
                });
                seq += 1;
            }
            bwe.on_feedback(now + Duration::from_millis(100), black_box(&results));
            bwe.handle_timeout(now);
            while bwe.poll_event().is_some() {}
            while bwe.poll_probe().is_some() {}
        })
    });

    let mut rec = FeedbackRecorder::default();
    let mut rseq = 0u16;
    let mut rnow = t0;
    g.bench_function("recorder: 13 packets recorded + one report", |b| {
        b.iter(|| {
            for _ in 0..PER_REPORT {
                rnow += Duration::from_micros(3_840);
                rec.on_packet(rnow, rseq);
                rseq = rseq.wrapping_add(1);
            }
            rec.request();
            black_box(rec.poll_feedback(rnow))
        })
    });
    g.finish();
}

criterion_group!(bwe, benches);
criterion_main!(bwe);
