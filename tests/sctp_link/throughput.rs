//! Bulk throughput over a simulated path, shared by the throughput test and example.

use super::{LinkConfig, Pair};
use kaon::sctp::{Association, Config, Error, Event, SendOptions};
use std::time::Duration;

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub rtt: Duration,
    /// Application bytes delivered per second during the measured interval, in Mbit/s.
    pub mbps: f64,
    pub wall: Duration,
    pub retransmissions: u64,
    pub fast_recoveries: u64,
    pub timeouts: u64,
    pub final_cwnd: usize,
}

/// A 1 Gbit/s-class path: `rate` bits/s, `rtt`, random `loss` each way, and a bottleneck queue
/// of one bandwidth-delay product (the classic buffer size), at least 64 packets.
pub fn path(rate: u64, rtt: Duration, loss: f64) -> LinkConfig {
    let bdp = (rate as f64 / 8.0 * rtt.as_secs_f64()) as usize;
    LinkConfig {
        loss,
        bandwidth: Some(rate),
        queue: bdp.max(64 * 1200),
        ..LinkConfig::rtt(rtt)
    }
}

/// Runs a reliable ordered bulk transfer for `warmup + measure` of virtual time and reports
/// the goodput over `measure`.
pub fn bulk(link: LinkConfig, cfg: Config, warmup: Duration, measure: Duration, seed: u64) -> Run {
    let wall = std::time::Instant::now();
    let rtt = link.latency * 2;
    let mk = |s| {
        Association::new(Config {
            seed: Some(s),
            ..cfg.clone()
        })
    };
    let mut p = Pair::new(mk(seed), mk(seed + 1), link.clone(), link, seed);
    let now = p.now;
    p.a.connect(now);
    p.b.connect(now);
    assert!(p.run(Duration::from_secs(30), |p| p.a.is_established()
        && p.b.is_established()));
    let msg = bytes::Bytes::from(vec![0x5a; 64 * 1024]);
    let start = p.now;
    let mut received = 0usize;
    let mut at_warmup = None;
    p.run(warmup + measure, |p| {
        loop {
            match p.a.send(p.now, 0, 53, msg.clone(), SendOptions::default()) {
                Ok(()) => {}
                Err(Error::SendBufferFull { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        while let Some(e) = p.b.poll_event() {
            if let Event::Message(m) = e {
                received += m.data.len();
            }
        }
        if at_warmup.is_none() && p.now >= start + warmup {
            at_warmup = Some(received);
        }
        false
    });
    let measured = received - at_warmup.unwrap_or(0);
    let s = p.a.stats();
    Run {
        rtt,
        mbps: measured as f64 * 8.0 / measure.as_secs_f64() / 1e6,
        wall: wall.elapsed(),
        retransmissions: s.retransmissions,
        fast_recoveries: s.fast_recoveries,
        timeouts: s.timeouts,
        final_cwnd: p.a.congestion().0,
    }
}
