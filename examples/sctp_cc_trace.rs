//! Traces the congestion window of a bulk transfer over a simulated path (a debugging aid):
//! `cargo run --release --example sctp_cc_trace RTT_MS SECONDS [LOSS]`.

#[path = "../tests/sctp_link/mod.rs"]
mod sctp_link;

use kaon::sctp::{Association, Config, Error, SendOptions};
use sctp_link::{Pair, throughput};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    // A value that does not parse is an error, not a silent default.
    fn arg<T: std::str::FromStr>(v: Option<String>, name: &str, default: T) -> T
    where
        T::Err: std::fmt::Display,
    {
        v.map_or(default, |s| {
            s.parse().unwrap_or_else(|e| {
                eprintln!(
                    "sctp_cc_trace: {name} {s:?}: {e}\nusage: sctp_cc_trace RTT_MS SECONDS [LOSS]"
                );
                std::process::exit(2)
            })
        })
    }
    let rtt_ms: u64 = arg(args.next(), "RTT_MS", 50);
    let secs: u64 = arg(args.next(), "SECONDS", 10);
    let loss: f64 = arg(args.next(), "LOSS", 0.001);
    let rtt = Duration::from_millis(rtt_ms);
    let link = throughput::path(1_000_000_000, rtt, loss);
    let window = ((125_000_000.0 * rtt.as_secs_f64() * 4.0) as usize).max(16 << 20);
    let cfg = |s| Config {
        seed: Some(s),
        receive_window: window,
        send_buffer: window,
        max_inflight: window,
        ..Config::default()
    };
    let mut p = Pair::new(
        Association::new(cfg(1)),
        Association::new(cfg(2)),
        link.clone(),
        link,
        3,
    );
    let now = p.now;
    p.a.connect(now);
    p.b.connect(now);
    let start = p.now;
    let msg = bytes::Bytes::from(vec![1u8; 65536]);
    let mut next = start;
    let mut got = 0usize;
    let mut last_got = 0usize;
    p.run(Duration::from_secs(secs), |p| {
        loop {
            match p.a.send(p.now, 0, 53, msg.clone(), SendOptions::default()) {
                Ok(_) => {}
                Err(Error::SendBufferFull { .. }) => break,
                Err(e) => {
                    eprintln!("sctp_cc_trace: send refused: {e}");
                    return true;
                }
            }
        }
        while let Some(e) = p.b.poll_event() {
            if let kaon::sctp::Event::Message(m) = e {
                got += m.data.len();
            }
        }
        if p.now >= next {
            let (cwnd, flight, srtt) = p.a.congestion();
            let s = p.a.stats();
            println!(
                "t={:6.2}s cwnd={:6} pkts flight={:6} srtt={:6.1}ms rate={:5.0}Mbit/s rtx={} fr={} t3={} q_drops={}",
                (p.now - start).as_secs_f64(), cwnd / 1200, flight / 1200,
                srtt.unwrap_or_default().as_secs_f64() * 1e3,
                (got - last_got) as f64 * 8.0 / 1e6 / (std::env::var("TRACE_MS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(250.0) / 1e3), s.retransmissions, s.fast_recoveries, s.timeouts,
                p.stats(0).queue_drops
            );
            last_got = got;
            next += Duration::from_millis(std::env::var("TRACE_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(250));
        }
        false
    });
}
