//! The pacer on a PeerConnection in the simulator: with transport-wide congestion control
//! negotiated, RTP leaves spread at the pacing rate (2.5 times the estimate, or held near the
//! bottleneck a probe measured), audio and
//! retransmissions go ahead of queued video, the queue is bounded with its drops counted and
//! told, and the pacer's next send time is part of `poll_timeout`.
#![cfg(feature = "sim")]

mod peer_support;

use std::time::Duration;

use kaon::Protocol;
use kaon::peer::{ConnectionState, Diagnostic, LocalTrack, PeerEvent, TrackKind};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use kaon::sim::{Direction as SimDirection, LinkConfig};

use peer_support::{MS, Pair, SEC};

/// Payload bytes of each video packet written.
const VIDEO: usize = 1000;

fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let b = RtpBuilder::new(RtpHeader {
        marker: false,
        payload_type: pt,
        sequence_number: seq,
        timestamp: ts,
        ssrc: 1,
    })
    .payload(payload);
    let mut buf = vec![0; b.len()];
    b.write(&mut buf).unwrap();
    buf
}

fn connected(p: &Pair) -> bool {
    p.state(true) == ConnectionState::Connected && p.state(false) == ConnectionState::Connected
}

/// The estimate's ceiling: the pacing rate is at most 2.5 times this.
const MAX_BITRATE: u64 = 400_000;

/// `a` sends audio (mid 0) and video (mid 1) to `b` over a LAN (10 ms on each side's link,
/// 20 ms one way), with transport-wide congestion control (the default media engine
/// negotiates it) and an estimate of at most [`MAX_BITRATE`]; the start-up probes are over
/// once this returns.
fn pair(seed: u64) -> Pair {
    let mut p = Pair::lan_with(seed, 10 * MS, 0.0, |c| c.max_bitrate = MAX_BITRATE);
    let now = p.now();
    let a = p.pc(true);
    a.set_diagnostics(true);
    a.add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"]))
        .unwrap();
    a.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    p.negotiate();
    assert!(p.run_until(10 * SEC, connected), "peers connect");
    // A trickle of video starts the estimate and its start-up probes; let them finish.
    for seq in 0..100 {
        let now = p.now();
        p.pc(true)
            .write_rtp(now, "1", &rtp(96, seq, 0, &[1; 300]))
            .unwrap();
        p.run_for(20 * MS);
    }
    p
}

/// Writes `n` video packets at once, sequence numbers from `seq`.
fn burst(p: &mut Pair, seq: u16, n: u16) {
    let now = p.now();
    for i in 0..n {
        let s = seq.wrapping_add(i);
        p.pc(true)
            .write_rtp(now, "1", &rtp(96, s, 9000, &[s as u8; VIDEO]))
            .unwrap();
    }
}

/// When `b` received each RTP packet of `mid`, with its sequence number.
fn arrivals(p: &Pair, mid: &str) -> Vec<(Duration, u16)> {
    p.log(false)
        .iter()
        .filter_map(|(t, e)| match e {
            PeerEvent::Rtp { mid: m, packet } if *m == mid => Some((
                *t,
                RtpPacket::new_checked(&packet[..]).ok()?.sequence_number(),
            )),
            _ => None,
        })
        .collect()
}

/// The estimate `a` reports (W3C `availableOutgoingBitrate`).
fn target(p: &Pair) -> u64 {
    let stats = p.pc_ref(true).get_stats(p.now());
    let pair = stats.candidate_pairs.iter().find(|c| c.selected).unwrap();
    pair.available_outgoing_bitrate.expect("an estimate")
}

#[test]
fn paced_video_leaves_spread_at_the_pacing_rate() {
    let mut p = pair(1);
    let pacing = 2.5 * target(&p) as f64;
    let start = p.now() - p.t0;
    burst(&mut p, 1000, 60);
    p.run_for(2 * SEC);
    let got: Vec<_> = arrivals(&p, "1")
        .into_iter()
        .filter(|&(t, s)| t >= start && (1000..1060).contains(&s))
        .collect();
    assert_eq!(got.len(), 60, "every packet of the burst arrived");
    let span = got.last().unwrap().0 - got[0].0;
    // Each packet is its payload plus RTP header, extensions and SRTP tag (about 40 bytes).
    let bits = 59.0 * (VIDEO + 40) as f64 * 8.0;
    let rate = bits / span.as_secs_f64();
    println!(
        "60 packets over {span:?}: {:.0} kbit/s, pacing rate {:.0} kbit/s",
        rate / 1000.0,
        pacing / 1000.0
    );
    // Once a probe measured the bottleneck the pacer drains no faster than it or 1.1 times the
    // target, whichever is more (`bwe::Controller::pacing_rate`); this link's start-up probes
    // measure the 400 kbit/s ceiling, so the burst leaves between that strict rate and the
    // factor's.
    let strict = 1.1 * target(&p) as f64;
    assert!(
        rate >= 0.6 * strict && rate <= 1.6 * pacing,
        "the burst leaves between the strict and the full pacing rate: {rate:.0} vs {strict:.0}..{pacing:.0}"
    );
    // Spread, not bunched: no 100 ms of the burst carries more than twice its share.
    let per_100ms = (pacing * 0.1 / 8.0 / (VIDEO + 40) as f64).ceil() as usize;
    for w in got.windows(2 * per_100ms + 2) {
        assert!(
            w.last().unwrap().0 - w[0].0 >= 100 * MS,
            "a bunch at {:?}",
            w[0].0
        );
    }
}

#[test]
fn audio_is_not_delayed_behind_a_queued_keyframe_burst() {
    let mut p = pair(2);
    // A keyframe of 150 packets: about 1.2 s of queue at the pacing rate.
    burst(&mut p, 1000, 150);
    p.run_for(50 * MS);
    let written = p.now() - p.t0;
    let now = p.now();
    p.pc(true)
        .write_rtp(now, "0", &rtp(111, 7, 960, &[7; 80]))
        .unwrap();
    p.run_for(2 * SEC);
    let audio = arrivals(&p, "0");
    let (at, _) = audio.iter().find(|(_, s)| *s == 7).expect("audio arrived");
    let video = arrivals(&p, "1");
    let last_video = video.iter().map(|(t, _)| *t).max().unwrap();
    println!("audio written at {written:?}, arrived {at:?}; last of the burst at {last_video:?}");
    assert!(
        *at - written <= 25 * MS,
        "audio goes ahead of the queued video: {:?} after it was written",
        *at - written
    );
    assert!(
        last_video > *at + 200 * MS,
        "the video burst was still queued"
    );
}

#[test]
fn retransmissions_go_ahead_of_new_video() {
    let mut p = pair(3);
    let a_iface = p.ifaces[0];
    let alive = LinkConfig::with_latency(10 * MS);
    let dead = LinkConfig { loss: 1.0, ..alive };
    // b has seen video up to 99 (from `pair`); 100..103 are lost...
    p.sim.set_link(a_iface, SimDirection::Up, dead);
    burst(&mut p, 100, 3);
    p.run_for(100 * MS);
    p.sim.set_link(a_iface, SimDirection::Up, alive);
    // ...and a burst of 200 follows: the first of it shows b the gap, and the NACK's repairs
    // must not wait behind the rest.
    burst(&mut p, 103, 200);
    p.run_for(4 * SEC);
    let video = arrivals(&p, "1");
    let repaired: Vec<Duration> = video
        .iter()
        .filter(|(_, s)| (100..103).contains(s))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(repaired.len(), 3, "the lost packets were repaired");
    let last_repair = *repaired.iter().max().unwrap();
    let after = video
        .iter()
        .filter(|(t, s)| (103..303).contains(s) && *t > last_repair)
        .count();
    println!("repaired by {last_repair:?}; {after} of the burst arrived after the repairs");
    assert!(
        after >= 100,
        "retransmissions overtook the queued video: only {after} arrived after them"
    );
    assert!(p.pc_ref(false).media_counters().rtx_received >= 3);
}

#[test]
fn the_queue_stays_bounded_and_its_drops_are_counted_and_told() {
    let mut p = pair(4);
    let start = p.now() - p.t0;
    // 3000 packets at once: past the queue's 1024 packets, oldest video dropped first.
    burst(&mut p, 1000, 3000);
    p.run_for(5 * SEC);
    let counters = p.pc_ref(true).media_counters();
    let got: Vec<u16> = arrivals(&p, "1")
        .into_iter()
        .filter(|&(t, s)| t >= start && s >= 1000)
        .map(|(_, s)| s)
        .collect();
    println!(
        "3000 written: {} arrived, {} dropped by the pacer",
        got.len(),
        counters.pacer_dropped
    );
    assert!(counters.pacer_dropped >= 3000 - 1024, "{counters:?}");
    assert_eq!(
        got.len() as u64 + counters.pacer_dropped,
        3000,
        "every packet written either left or was counted as dropped: {counters:?}"
    );
    // The oldest went: what left is from the newest 1024 (the last may still time out).
    assert!(
        got.iter().all(|&s| s >= 4000 - 1024),
        "oldest dropped first"
    );
    let stats = p.pc_ref(true).get_stats(p.now());
    assert_eq!(stats.transport.pacer_dropped, counters.pacer_dropped);
    assert!(stats.to_json().contains("\"pacerDropped\""));
    let told = p
        .log(true)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Diagnostic(Diagnostic::PacerDropped { total }) => Some(*total),
            _ => None,
        })
        .max();
    assert!(told.is_some_and(|t| t >= 1024), "told: {told:?}");
}

/// Whether a protected datagram is RTP (not RTCP, RFC 5761 §4: payload types 64-95 with the
/// marker are RTCP's 192-223).
fn is_rtp(b: &[u8]) -> bool {
    b.len() > 12 && b[0] >> 6 == 2 && !(192..=223).contains(&b[1])
}

#[test]
fn poll_timeout_includes_the_pacer_wakeups_and_a_past_one_makes_progress() {
    let mut p = pair(5);
    burst(&mut p, 1000, 40);
    // Drive `a` by hand from here (what it sends goes nowhere: only its timing is looked at).
    let mut now = p.now();
    let pc = p.pc(true);
    let mut buf = vec![0; 2048];
    let mut sent = 0;
    let mut wakeups = 0;
    let mut idle_wakeups = 0;
    while sent < 40 {
        let mut progressed = false;
        while let Some(t) = pc.poll_transmit(now, &mut buf) {
            if is_rtp(&buf[..t.len]) {
                sent += 1;
                progressed = true;
            }
        }
        if sent == 40 {
            break;
        }
        let at = pc
            .poll_timeout()
            .expect("the pacer has a deadline while video waits");
        assert!(
            at > now,
            "nothing more to send at {now:?}, yet the deadline is now"
        );
        // One 1 kB packet at 2.5 times an estimate of at least 30 kbit/s: within 110 ms.
        assert!(at - now <= 110 * MS, "next pacer slot {:?} away", at - now);
        wakeups += 1;
        if !progressed {
            idle_wakeups += 1;
        }
        // Every other time, handle the deadline late: a timeout in the past still makes
        // progress.
        now = if wakeups % 2 == 0 { at + 30 * MS } else { at };
        pc.handle_timeout(now);
        assert!(
            wakeups < 400,
            "no busy loop: {wakeups} wakeups for 40 packets"
        );
    }
    println!("40 packets in {wakeups} wakeups ({idle_wakeups} without an RTP packet)");
    assert!(idle_wakeups <= wakeups / 2 + 2, "most wakeups sent media");
}
