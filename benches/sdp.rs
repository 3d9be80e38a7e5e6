//! SDP parse and write of the Chromium 156 audio + video + data offer with simulcast
//! (`tests/fixtures/sdp/chromium_av_simulcast_offer.sdp`, 6.8 KB, about 190 lines).
//!
//! `cargo bench --bench sdp`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaon::sdp::SessionDescription;
use std::fmt::Write;
use std::hint::black_box;

const OFFER: &str = include_str!("../tests/fixtures/sdp/chromium_av_simulcast_offer.sdp");

fn benches(c: &mut Criterion) {
    let sdp = SessionDescription::parse(OFFER).unwrap();
    let mut g = c.benchmark_group("sdp");
    g.throughput(Throughput::Bytes(OFFER.len() as u64));
    g.bench_function("parse chromium av offer", |b| {
        b.iter(|| SessionDescription::parse(black_box(OFFER)).unwrap())
    });
    let mut out = String::with_capacity(OFFER.len());
    g.bench_function("write chromium av offer", |b| {
        b.iter(|| {
            out.clear();
            write!(out, "{}", black_box(&sdp)).unwrap();
            out.len()
        })
    });
    g.finish();
}

criterion_group!(sdp, benches);
criterion_main!(sdp);
