//! Throughput of one reliable ordered SCTP stream over a simulated 1 Gbit/s path with 0.1%
//! random loss each way, at several round-trip times, beside Pion's published figures.
//!
//! Run in release: `cargo run --release --example sctp_throughput [seconds]` (default 60 s of
//! simulated transfer after a 5 s warm-up).

#[path = "../tests/sctp_link/mod.rs"]
mod sctp_link;

use kaon::sctp::Config;
use sctp_link::throughput;
use std::time::Duration;

fn main() {
    let secs: u64 = match std::env::args().nth(1) {
        None => 60,
        Some(s) => s.parse().unwrap_or_else(|e| {
            eprintln!("sctp_throughput: seconds {s:?}: {e}\nusage: sctp_throughput [SECONDS]");
            std::process::exit(2);
        }),
    };
    let pion = [
        (2, "~850"),
        (20, "~200"),
        (50, "~85"),
        (100, "-"),
        (300, "~17"),
    ];
    println!(
        "1 Gbit/s link, 0.1% loss each way, queue = 1 BDP; {secs} s measured after 5 s warm-up"
    );
    println!(
        "{:>8} {:>12} {:>8} {:>14} {:>10} {:>8} {:>8}",
        "RTT", "kaon Mbit/s", "% link", "Pion Mbit/s", "retransm.", "T3", "wall s"
    );
    for (rtt_ms, pion) in pion {
        // Progress: each row is a whole simulated transfer, seconds of wall time in release.
        eprint!("{rtt_ms:>6}ms: simulating {} s...\r", secs + 5);
        let rtt = Duration::from_millis(rtt_ms);
        let link = throughput::path(1_000_000_000, rtt, 0.001);
        // A receive window big enough for the path. During loss recovery the receiver holds
        // what arrived after the hole for about a round trip and a half on top of what is in
        // flight, so four BDPs of 1 Gbit/s (16 MiB at least, the default).
        let window = ((125_000_000.0 * rtt.as_secs_f64() * 4.0) as usize).max(16 << 20);
        let cfg = Config {
            receive_window: window,
            send_buffer: window,
            max_inflight: window,
            ..Config::default()
        };
        let r = throughput::bulk(
            link,
            cfg,
            Duration::from_secs(5),
            Duration::from_secs(secs),
            7,
        );
        println!(
            "{:>6}ms {:>12.0} {:>7.0}% {:>14} {:>10} {:>8} {:>8.1}",
            rtt_ms,
            r.mbps,
            r.mbps / 10.0,
            pion,
            r.retransmissions,
            r.timeouts,
            r.wall.as_secs_f64()
        );
    }
}
