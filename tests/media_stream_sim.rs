//! A sender and a receiver stream over seeded lossy links in both directions (loss, delay
//! jitter, reordering and duplication), driven on virtual time: NACK/RTX repairs what it can,
//! the receiver reports' loss and jitter match what the link did, and the RTT from SR/RR
//! matches the configured delay. Each scenario prints its figures.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use kaon::Rng;
use kaon::media::{NtpEpoch, Rtx, RxVerdict, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig};
use kaon::rtp::rtcp::{Compound, RtcpPacket};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};

const MEDIA_SSRC: u32 = 0x1111_2222;
const RTX_SSRC: u32 = 0x3333_4444;
const RECEIVER_SSRC: u32 = 0x5555_6666;
const RTX: Rtx = Rtx {
    ssrc: RTX_SSRC,
    payload_type: 97,
    associated_payload_type: 96,
};

#[derive(Clone, Copy, Debug)]
struct LinkConfig {
    delay: Duration,
    /// Extra delay, uniform in [0, jitter).
    jitter: Duration,
    loss: f64,
    duplicate: f64,
    /// Share of packets held back an extra `reorder_delay`, overtaken by later ones.
    reorder: f64,
    reorder_delay: Duration,
}

/// One direction: a seeded queue of datagrams ordered by arrival time.
struct Link {
    config: LinkConfig,
    rng: Rng,
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    order: u64,
}

impl Link {
    fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Rng::from_seed(seed),
            queue: BinaryHeap::new(),
            order: 0,
        }
    }

    /// Sends a datagram; returns how many copies will arrive (0 when lost).
    fn send(&mut self, now: Instant, bytes: &[u8]) -> usize {
        if self.rng.chance(self.config.loss) {
            return 0;
        }
        let copies = if self.rng.chance(self.config.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.rng.range(0, self.config.jitter.as_nanos() as u64);
            let mut at = now + self.config.delay + Duration::from_nanos(jitter);
            if self.rng.chance(self.config.reorder) {
                at += self.config.reorder_delay;
            }
            self.order += 1;
            self.queue.push(Reverse((at, self.order, bytes.to_vec())));
        }
        copies
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? <= now {
            self.queue.pop().map(|Reverse((_, _, b))| b)
        } else {
            None
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    sent: usize,
    lost_on_link: usize,
    repaired: usize,
    never_received: usize,
    /// Of those, the ones before the last packet received: a receiver cannot know of a loss
    /// at the tail, so this is what its cumulative loss must say.
    never_received_before_last: usize,
    duplicates: u64,
    /// Mean of the fraction lost over the receiver reports the sender got.
    mean_fraction_lost: f64,
    final_cumulative_lost: i64,
    rx_jitter_ms: f64,
    /// RFC 3550 A.8 run in floating point over the true transit times of the packets that
    /// arrived in order: what the link's jitter is, measured independently.
    link_jitter_ms: f64,
    mean_rtt: Duration,
    rtt_measurements: u64,
    nacks_sent: u64,
    retransmissions: u64,
}

/// What the sender sends: its clock rate and packet interval.
#[derive(Clone, Copy)]
enum Media {
    /// 90 kHz, 100 packets a second.
    Video,
    /// Opus-like: 48 kHz, a packet every 20 ms.
    Audio,
}

fn run(link: LinkConfig, nack: bool, seed: u64, secs: u64) -> Outcome {
    run_media(Media::Video, link, nack, seed, secs)
}

/// Packets for `secs` seconds across a sequence number wrap, then a drain.
fn run_media(media: Media, link: LinkConfig, nack: bool, seed: u64, secs: u64) -> Outcome {
    let (clock_rate, ms) = match media {
        Media::Video => (90_000, 10),
        Media::Audio => (48_000, 20),
    };
    let t0 = Instant::now(); // the one clock read: everything after is virtual time
    let epoch = NtpEpoch {
        at: t0,
        ntp: 0xe8e0_0000_0000_0000,
    };
    let mut txc = StreamTxConfig::new(MEDIA_SSRC, clock_rate, epoch);
    txc.rtx = nack.then_some(RTX);
    txc.cname = "sender".into();
    txc.seed = Some(seed);
    let mut tx = StreamTx::new(txc);
    let mut rxc = StreamRxConfig::new(MEDIA_SSRC, clock_rate);
    rxc.rtx = nack.then_some(RTX);
    rxc.nack = nack;
    rxc.cname = "receiver".into();
    rxc.seed = Some(seed + 1);
    let mut rx = StreamRx::new(rxc);
    let mut forward = Link::new(link, seed + 2);
    let mut back = Link::new(link, seed + 3);

    let interval = Duration::from_millis(ms);
    let count = (secs * 1000 / ms) as usize;
    let seq0: u16 = 65_535 - 700; // wraps during the run
    let mut delivered_original = vec![false; count];
    let mut received = vec![false; count];
    let mut fractions = Vec::new();
    // Float A.8 over true transits of in-order first arrivals: (transit s, jitter s).
    let mut a8: Option<(f64, f64)> = None;
    let mut highest: Option<usize> = None;
    let mut send_times = vec![t0; count];

    let mut buf = [0u8; 1500];
    let mut now = t0;
    let end = t0 + interval * count as u32 + Duration::from_secs(3);
    let mut next_send = 0usize;
    while now < end {
        // Media out.
        while next_send < count && t0 + interval * next_send as u32 <= now {
            let i = next_send;
            let header = RtpHeader {
                payload_type: 96,
                sequence_number: seq0.wrapping_add(i as u16),
                timestamp: 1_000 + (clock_rate / 1000 * ms as u32) * i as u32,
                ssrc: MEDIA_SSRC,
                marker: true,
            };
            let payload = [i as u8; 200];
            let n = RtpBuilder::new(header)
                .payload(&payload)
                .write(&mut buf)
                .unwrap();
            tx.on_send(now, &buf[..n]);
            send_times[i] = now;
            if forward.send(now, &buf[..n]) > 0 {
                delivered_original[i] = true;
            }
            next_send += 1;
        }
        while let Some(n) = tx.poll_retransmit(now, &mut buf) {
            forward.send(now, &buf[..n]);
        }
        // Sender reports share the forward link with the media.
        while let Some(n) = tx.poll_rtcp(now, &mut buf) {
            forward.send(now, &buf[..n]);
        }
        // Arrivals at the receiver.
        while let Some(mut d) = forward.pop_due(now) {
            if is_rtcp(&d) {
                for p in Compound::new(&d).packets().flatten() {
                    rx.handle_rtcp(now, &p);
                }
                continue;
            }
            let ssrc = RtpPacket::new_checked(&d[..]).unwrap().ssrc();
            let len = d.len();
            let (packet, verdict) = if ssrc == RTX_SSRC {
                let Some((n, v)) = rx.unwrap_rtx(now, &mut d, len) else {
                    continue;
                };
                (&d[..n], v)
            } else {
                let v = rx.on_packet(now, &d);
                (&d[..], v)
            };
            let p = RtpPacket::new_checked(packet).unwrap();
            let i = usize::from(p.sequence_number().wrapping_sub(seq0));
            assert_eq!(
                p.payload(),
                &[i as u8; 200][..],
                "packet {i} restored whole"
            );
            if matches!(
                verdict,
                RxVerdict::New | RxVerdict::Late | RxVerdict::Repaired
            ) {
                assert!(!received[i], "packet {i} accepted twice ({verdict:?})");
                received[i] = true;
            }
            if verdict == RxVerdict::New && ssrc == MEDIA_SSRC && highest.is_none_or(|h| i > h) {
                highest = Some(i);
                let transit = (now - send_times[i]).as_secs_f64();
                a8 = Some(match a8 {
                    None => (transit, 0.0),
                    Some((last, j)) => (transit, j + ((transit - last).abs() - j) / 16.0),
                });
            }
        }
        // The receiver knows the RTT from its own sender on the same connection; here the
        // sender stream's measurement stands in for it.
        if let Some(rtt) = tx.stats().round_trip_time {
            rx.set_rtt(rtt);
        }
        while let Some(n) = rx.poll_rtcp(now, RECEIVER_SSRC, &mut buf) {
            back.send(now, &buf[..n]);
        }
        // Feedback at the sender.
        while let Some(d) = back.pop_due(now) {
            for p in Compound::new(&d).packets().flatten() {
                if let RtcpPacket::ReceiverReport(rr) = &p {
                    fractions.extend(rr.reports.iter().map(|b| b.fraction_lost));
                }
                tx.handle_rtcp(now, &p);
            }
        }
        // Next event.
        let next_media = (next_send < count).then(|| t0 + interval * next_send as u32);
        let next = [
            next_media,
            forward.next_arrival(),
            back.next_arrival(),
            tx.poll_timeout(),
            rx.poll_timeout(),
            Some(end),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap();
        // Never stand still: a deadline already past was just polled.
        now = next.max(now + Duration::from_micros(100));
    }

    let tx_stats = tx.stats();
    let rx_stats = rx.stats();
    let lost_on_link = delivered_original.iter().filter(|d| !**d).count();
    let never_received = received.iter().filter(|r| !**r).count();
    let last = received.iter().rposition(|r| *r).unwrap_or(0);
    let never_received_before_last = received[..last].iter().filter(|r| !**r).count();
    Outcome {
        sent: count,
        lost_on_link,
        repaired: lost_on_link - never_received,
        never_received,
        never_received_before_last,
        duplicates: rx_stats.packets_duplicated,
        mean_fraction_lost: fractions.iter().map(|f| f64::from(*f) / 256.0).sum::<f64>()
            / fractions.len().max(1) as f64,
        final_cumulative_lost: rx_stats.packets_lost,
        rx_jitter_ms: rx_stats.jitter * 1e3,
        link_jitter_ms: a8.map_or(0.0, |(_, j)| j * 1e3),
        mean_rtt: tx_stats.total_round_trip_time
            / tx_stats.round_trip_time_measurements.max(1) as u32,
        rtt_measurements: tx_stats.round_trip_time_measurements,
        nacks_sent: rx_stats.nack_count,
        retransmissions: tx_stats.retransmitted_packets_sent,
    }
}

/// RFC 5761 §4: RTCP packet types 200..=207 fall where RTP payload types 72..=79 would.
fn is_rtcp(d: &[u8]) -> bool {
    d.len() > 1 && (200..=207).contains(&d[1])
}

fn link(loss: f64) -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(8),
        loss,
        duplicate: 0.02,
        reorder: 0.02,
        reorder_delay: Duration::from_millis(25),
    }
}

fn report(name: &str, o: &Outcome) {
    println!(
        "{name}: sent {}, lost on link {}, repaired {} ({:.1}%), never received {}, \
         duplicates {}, NACKs {}, retransmissions {}, mean RR fraction lost {:.3}, \
         cumulative lost {}, jitter {:.2} ms (link {:.2} ms), RTT {:?} over {} reports",
        o.sent,
        o.lost_on_link,
        o.repaired,
        100.0 * o.repaired as f64 / o.lost_on_link.max(1) as f64,
        o.never_received,
        o.duplicates,
        o.nacks_sent,
        o.retransmissions,
        o.mean_fraction_lost,
        o.final_cumulative_lost,
        o.rx_jitter_ms,
        o.link_jitter_ms,
        o.mean_rtt,
        o.rtt_measurements,
    );
}

fn assert_link_figures(o: &Outcome) {
    // The RTT: 2 x 40 ms, plus the mean jitter each way (4 ms) and a few reordered reports.
    let rtt = o.mean_rtt.as_secs_f64() * 1e3;
    assert!(o.rtt_measurements > 20, "{o:?}");
    assert!(
        (80.0..=95.0).contains(&rtt),
        "RTT {rtt} ms, configured 80 ms + jitter"
    );
    // RFC 3550 A.8 over the same arrivals, computed independently in floating point.
    assert!(
        (o.rx_jitter_ms - o.link_jitter_ms).abs() <= 0.15 * o.link_jitter_ms + 0.1,
        "jitter {} ms, link {} ms",
        o.rx_jitter_ms,
        o.link_jitter_ms
    );
    // Uniform delay variation in [0, 8 ms): E|D| = 8/3 ms.
    assert!((1.8..=3.6).contains(&o.rx_jitter_ms), "{o:?}");
}

#[test]
fn without_nack_rr_loss_matches_a_5pct_link() {
    let o = run(link(0.05), false, 11, 30);
    report("5% loss, no NACK", &o);
    assert_eq!(o.repaired, 0);
    // Every sequence number the link dropped, and no other, is lost; duplicates do not
    // offset losses.
    assert_eq!(o.final_cumulative_lost, o.never_received_before_last as i64);
    assert!(o.lost_on_link - o.never_received_before_last <= 3, "{o:?}");
    let measured = o.lost_on_link as f64 / o.sent as f64;
    assert!((o.mean_fraction_lost - measured).abs() < 0.015, "{o:?}");
    assert!((measured - 0.05).abs() < 0.015, "{o:?}");
    assert_link_figures(&o);
}

#[test]
fn without_nack_rr_loss_matches_a_20pct_link() {
    let o = run(link(0.20), false, 12, 30);
    report("20% loss, no NACK", &o);
    assert_eq!(o.final_cumulative_lost, o.never_received_before_last as i64);
    assert!(o.lost_on_link - o.never_received_before_last <= 3, "{o:?}");
    let measured = o.lost_on_link as f64 / o.sent as f64;
    assert!((o.mean_fraction_lost - measured).abs() < 0.03, "{o:?}");
    assert!((measured - 0.20).abs() < 0.03, "{o:?}");
    assert_link_figures(&o);
}

#[test]
fn nack_rtx_repairs_a_5pct_link() {
    let o = run(link(0.05), true, 13, 30);
    report("5% loss, NACK/RTX", &o);
    let share = o.repaired as f64 / o.lost_on_link as f64;
    assert!(share >= 0.98, "repaired {:.1}%", share * 100.0);
    // What the receiver still misses is what its reports count as lost.
    assert_eq!(o.final_cumulative_lost, o.never_received_before_last as i64);
    assert!(o.mean_fraction_lost < 0.01, "{o:?}");
    assert_link_figures(&o);
}

#[test]
fn nack_rtx_repairs_most_of_a_20pct_link() {
    let o = run(link(0.20), true, 14, 30);
    report("20% loss, NACK/RTX", &o);
    let share = o.repaired as f64 / o.lost_on_link as f64;
    assert!(share >= 0.95, "repaired {:.1}%", share * 100.0);
    assert_eq!(o.final_cumulative_lost, o.never_received_before_last as i64);
    assert_link_figures(&o);
}

#[test]
fn audio_rr_loss_and_jitter_match_a_20pct_link_and_nack_repairs_it() {
    let o = run_media(Media::Audio, link(0.20), false, 15, 40);
    report("audio, 20% loss, no NACK", &o);
    assert_eq!(o.final_cumulative_lost, o.never_received_before_last as i64);
    let measured = o.lost_on_link as f64 / o.sent as f64;
    assert!((o.mean_fraction_lost - measured).abs() < 0.03, "{o:?}");
    assert_link_figures(&o);
    let o = run_media(Media::Audio, link(0.20), true, 16, 40);
    report("audio, 20% loss, NACK/RTX", &o);
    assert!(o.repaired as f64 >= 0.95 * o.lost_on_link as f64, "{o:?}");
    assert_link_figures(&o);
}
