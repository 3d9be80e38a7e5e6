//! REMB between two kaon PeerConnections in the simulator: when only `goog-remb` is negotiated
//! (no transport-wide congestion control, no RFC 8888), the receiver estimates the path from
//! abs-send-time and sends REMB, and a sender that writes at the estimate it takes from those
//! REMBs fills a rate-limited link without burying it: down from a start rate above the link,
//! and up from one below it.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::bwe::Reason;
use kaon::peer::{ConnectionState, LocalTrack, MediaEngine, PeerEvent, TrackKind};
use kaon::sim::{Direction as SimDirection, DropReason, LinkConfig};
use std::sync::Arc;
use std::time::Duration;

use peer_support::{MS, PAYLOAD, Pair, SEC, video_rtp};

/// The sender writes every this often.
const TICK: Duration = Duration::from_millis(10);

/// The last estimate `a` was told, and why.
fn estimate(p: &Pair) -> Option<(u64, Reason)> {
    p.log(true).iter().rev().find_map(|(_, e)| match e {
        PeerEvent::BitrateEstimate {
            bitrate_bps,
            reason,
        } => Some((*bitrate_bps, *reason)),
        _ => None,
    })
}

/// What a run measured over its last 5 s.
struct Tail {
    /// The mean estimate the sender wrote at.
    mean: f64,
    /// The share of the packets written that the link's full queue dropped.
    loss: f64,
    /// Every estimate the sender was told for REMB.
    rembs: Vec<(Duration, u64)>,
}

/// A sends video to B for `secs` through a link of `rate` bits per second with 300 ms of
/// drop-tail queue, writing at its estimate from `start`.
fn remb_only(start: u64, rate: u64, secs: u64) -> Tail {
    let engine = Arc::new(MediaEngine::default().without_twcc());
    let mut p = Pair::lan_with(5, 20 * MS, 0.0, |cfg| {
        cfg.media = engine.clone();
        cfg.start_bitrate = start;
    });
    let now = p.now();
    p.pc(true)
        .add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    let (offer, answer) = p.negotiate_from(true);
    for sdp in [&offer, &answer] {
        assert!(sdp.contains("goog-remb"), "{sdp}");
        assert!(sdp.contains("abs-send-time"), "{sdp}");
        assert!(!sdp.contains("transport-cc"), "{sdp}");
        assert!(!sdp.contains("ccfb"), "{sdp}");
    }
    let connected = |p: &Pair| {
        p.state(true) == ConnectionState::Connected && p.state(false) == ConnectionState::Connected
    };
    assert!(p.run_until(10 * SEC, connected), "peers connect");

    // A drop-tail queue that fills (300 ms at the rate, like a modest home router) hides the
    // queue from a delay-based estimate: the delay stops growing and only loss tells, which
    // REMB does not carry but the receiver reports do.
    let link = LinkConfig {
        rate: Some(rate),
        queue_bytes: (rate as usize / 8) * 3 / 10,
        ..LinkConfig::with_latency(20 * MS)
    };
    let a = p.ifaces[0];
    p.sim.set_link(a, SimDirection::Up, link);

    let mut seq = 0u16;
    let mut credit = 0.0;
    let mut trace = Vec::new();
    let ticks = (secs * 1000) as usize / TICK.as_millis() as usize;
    let tail_ticks = 500;
    let (mut written, mut dropped_before) = (0u64, 0);
    for i in 0..ticks {
        if i == ticks - tail_ticks {
            written = 0;
            dropped_before = p.sim.stats().dropped(DropReason::QueueFull);
        }
        let target = estimate(&p).map_or(start, |e| e.0);
        credit += target as f64 * TICK.as_secs_f64();
        let now = p.now();
        while credit >= (PAYLOAD * 8) as f64 {
            credit -= (PAYLOAD * 8) as f64;
            seq = seq.wrapping_add(1);
            written += 1;
            let ts = 90 * (now - p.t0).as_millis() as u32;
            p.pc(true).write_rtp(now, "0", &video_rtp(seq, ts)).unwrap();
        }
        p.run_for(TICK);
        trace.push(target);
    }
    let rembs: Vec<(Duration, u64)> = p
        .log(true)
        .iter()
        .filter_map(|(t, e)| match e {
            PeerEvent::BitrateEstimate {
                bitrate_bps,
                reason: Reason::Remb,
            } => Some((*t, *bitrate_bps)),
            _ => None,
        })
        .collect();
    // The receiver, which sends nothing, takes no estimate from the sender.
    assert!(
        !p.log(false)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::BitrateEstimate { .. }))
    );
    let dropped = p.sim.stats().dropped(DropReason::QueueFull) - dropped_before;
    let tail = &trace[trace.len() - tail_ticks..];
    Tail {
        mean: tail.iter().sum::<u64>() as f64 / tail.len() as f64,
        loss: dropped as f64 / written.max(1) as f64,
        rembs,
    }
}

/// The figures every run must meet: within 20% of the link, little loss.
fn check(t: &Tail, rate: u64) {
    assert!(
        (t.mean - rate as f64).abs() <= 0.2 * rate as f64,
        "estimate {:.0} within 20% of {rate}",
        t.mean
    );
    assert!(t.loss < 0.03, "loss {:.3} under 3%", t.loss);
}

#[test]
fn a_remb_only_sender_settles_within_20_percent_of_the_link() {
    let rate = 500_000;
    let t = remb_only(1_000_000, rate, 25);
    println!(
        "REMB only, {} kbit/s link, 300 ms queue, from a 1 Mbit/s start: mean estimate {:.0} \
         kbit/s, loss {:.2}% over the last 5 s; estimates told for REMB: {:?}",
        rate / 1000,
        t.mean / 1000.0,
        100.0 * t.loss,
        t.rembs
    );
    assert!(
        !t.rembs.is_empty(),
        "the sender's estimate moved for the receiver's REMB"
    );
    check(&t, rate);
}

#[test]
fn a_remb_only_sender_climbs_from_its_start_to_the_link() {
    let rate = 1_000_000;
    let t = remb_only(300_000, rate, 30);
    println!(
        "REMB only, {} kbit/s link, 300 ms queue, from a 300 kbit/s start: mean estimate \
         {:.0} kbit/s, loss {:.2}% over the last 5 s; estimates told for REMB: {:?}",
        rate / 1000,
        t.mean / 1000.0,
        100.0 * t.loss,
        t.rembs
    );
    check(&t, rate);
}
