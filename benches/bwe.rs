//! The estimator's cost per feedback packet: a controller fed a steady 2.5 Mbit/s stream
//! (1200-byte packets, one report per 50 ms, as the recorder sends by default), per packet
//! sent and reported; the receive side's recorder per packet; and the pacer per packet
//! (enqueued, then sent at its slot), also printed as wall and CPU time per packet.
//!
//! `cargo bench --bench bwe -- --warm-up-time 1 --measurement-time 2`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaon::bwe::{
    Class, Config, Controller, FeedbackRecorder, Paced, Pacer, PacerConfig, PacketKind,
    PacketResult,
};
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

    // A 2.5 Mbit/s video stream through a pacer at 6.25 Mbit/s (2.5 times the target), with a
    // packet of audio every 20 ms: each call enqueues 13 packets and sends them at their slots.
    let mut pacer: Pacer<u32> = Pacer::new(PacerConfig::default());
    pacer.set_rates(6_250_000, 0);
    let mut pnow = t0;
    let mut pace = move || {
        let mut sent = 0;
        for i in 0..PER_REPORT as u32 {
            let class = if i == 0 { Class::Audio } else { Class::Video };
            pacer.enqueue(pnow, i, 1200, class);
        }
        while sent < PER_REPORT {
            while let Some(p) = pacer.poll_send(pnow) {
                if let Paced::Packet { item, .. } = p {
                    black_box(item);
                    sent += 1;
                }
            }
            pnow = pacer.poll_timeout().map_or(pnow, |t| t.max(pnow));
        }
        pnow += Duration::from_millis(50);
    };
    g.bench_function("pacer: 13 packets enqueued + sent at their slots", |b| {
        b.iter(&mut pace)
    });
    g.finish();

    // Wall beside CPU time (this thread's, from the kernel), in one run.
    let rounds = 20_000u32;
    let (w0, c0) = (Instant::now(), cpu());
    for _ in 0..rounds {
        pace();
    }
    let packets = f64::from(rounds) * PER_REPORT as f64;
    let wall = w0.elapsed().as_nanos() as f64 / packets;
    let cpu = (cpu() - c0).as_nanos() as f64 / packets;
    println!("pacer per packet: {wall:.0} ns wall, {cpu:.0} ns CPU");
}

/// This thread's CPU time so far (Linux), or zero elsewhere.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

criterion_group!(bwe, benches);
criterion_main!(bwe);
