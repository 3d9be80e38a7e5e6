//! Throughput over distance: one reliable ordered stream on a simulated 1 Gbit/s path with
//! 0.1% random loss each way must sustain at least 80% of the link at 50 ms RTT over 60 s.
//!
//! Release only (about half a minute of wall time): `cargo test --release --test
//! sctp_throughput -- --nocapture`. The full table is `cargo run --release --example
//! sctp_throughput`.

mod sctp_link;

use kaon::sctp::Config;
use sctp_link::throughput;
use std::time::Duration;

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "release only: cargo test --release --test sctp_throughput"
)]
fn reliable_stream_fills_80pct_of_1gbps_at_50ms_rtt_with_0_1pct_loss_over_60s() {
    let rtt = Duration::from_millis(50);
    let link = throughput::path(1_000_000_000, rtt, 0.001);
    let r = throughput::bulk(
        link,
        Config::default(),
        Duration::from_secs(5),
        Duration::from_secs(60),
        7,
    );
    eprintln!(
        "50 ms RTT, 1 Gbit/s, 0.1% loss: {:.0} Mbit/s over 60 s ({:?})",
        r.mbps, r
    );
    assert!(r.mbps >= 800.0, "{r:?}");
}

#[test]
fn long_path_throughput_smoke_test() {
    // Debug builds run a short version so the path is exercised by the default test run.
    let rtt = Duration::from_millis(50);
    let link = throughput::path(100_000_000, rtt, 0.001);
    let r = throughput::bulk(
        link,
        Config::default(),
        Duration::from_secs(2),
        Duration::from_secs(3),
        9,
    );
    eprintln!(
        "50 ms RTT, 100 Mbit/s, 0.1% loss, 3 s: {:.0} Mbit/s",
        r.mbps
    );
    assert!(r.mbps >= 60.0, "{r:?}");
}
