//! The receive-side estimator behind REMB (draft-alvestrand-rmcat-remb-03), as libwebrtc's
//! `RemoteBitrateEstimatorAbsSendTime` runs it: packets group by their abs-send-time, the same
//! trendline filter, overuse detector and AIMD rate control as the send-side [`Controller`]
//! run on the receiver, with the incoming bitrate in place of the acknowledged one, and the
//! estimate goes back to the sender as REMB about once a second, and at once when it drops by
//! more than 3%.
//!
//! It is what a peer gets that negotiated `goog-remb` but neither transport-wide congestion
//! control feedback nor RFC 8888: the sender learns a rate, not per-packet arrival times.
//!
//! [`Controller`]: super::Controller

use super::acked::AckedBitrate;
use super::aimd::Aimd;
use super::arrival::InterArrival;
use super::detector::{OveruseDetector, Usage};
use super::trendline::Trendline;
use smallvec::SmallVec;
use std::time::{Duration, Instant};

/// abs-send-time is 24 bits of 6.18 fixed-point seconds.
const ABS_BITS: u32 = 24;
const ABS_MASK: u32 = (1 << ABS_BITS) - 1;
/// Units of abs-send-time per second.
const ABS_PER_SECOND: i128 = 1 << 18;
/// libwebrtc's `kSendThresholdPercent`: a fall below 97% of the last REMB is sent at once.
const DROP_SHARE: f64 = 0.97;
/// The incoming rate must have been measured this long before the first estimate (libwebrtc
/// waits 5 s; the rate window here is 500 ms, so one second of it is already steady).
const INIT_US: i64 = 1_000_000;
/// The AIMD steps at most this often while the delay is steady (libwebrtc's feedback interval
/// is 200 ms at least): each step moves the last change forward, and an overuse is answered
/// only a reduction interval (the RTT, at most 200 ms) after the last change.
const UPDATE_US: i64 = 200_000;
/// A stream silent this long is left out of REMB (libwebrtc's `kStreamTimeOutMs`).
const STREAM_TIMEOUT_US: i64 = 2_000_000;
/// At most this many SSRCs are named in one REMB; more streams than that evict the oldest.
pub const MAX_REMB_SSRCS: usize = 8;

/// The receive-side estimator's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RembConfig {
    /// The estimate never goes below this, in bits per second.
    pub min_bitrate: u64,
    /// The estimate never goes above this.
    pub max_bitrate: u64,
    /// A REMB goes out at least this often while packets arrive (libwebrtc: 1 s).
    pub interval: Duration,
}

impl Default for RembConfig {
    fn default() -> Self {
        Self {
            min_bitrate: 30_000,
            max_bitrate: 10_000_000,
            interval: Duration::from_secs(1),
        }
    }
}

/// A REMB to send: the estimate and the media SSRCs it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RembReport {
    /// The estimate, in bits per second.
    pub bitrate: u64,
    /// The SSRCs heard from in the last two seconds, oldest first.
    pub ssrcs: SmallVec<[u32; 4]>,
}

/// The receive-side bandwidth estimator: feed it every received packet that carries
/// abs-send-time, send what [`poll_remb`](Self::poll_remb) returns as an RTCP REMB.
///
/// ```
/// use kaon::bwe::{RemoteEstimator, RembConfig};
/// use std::time::{Duration, Instant};
///
/// let t0 = Instant::now();
/// let mut est = RemoteEstimator::new(RembConfig::default());
/// // 1200-byte packets every 10 ms (960 kbit/s) over a path that does not queue.
/// for i in 0..300u64 {
///     let sent_us = i * 10_000;
///     let abs = ((sent_us << 18) / 1_000_000) as u32;
///     est.on_packet(t0 + Duration::from_micros(sent_us + 20_000), abs, 1200, 0x1234);
/// }
/// let now = t0 + Duration::from_secs(4);
/// let remb = est.poll_remb(now).expect("an estimate after a second");
/// assert_eq!(&remb.ssrcs[..], &[0x1234]);
/// assert!(remb.bitrate >= 900_000);
/// ```
#[derive(Debug)]
pub struct RemoteEstimator {
    /// [`RembConfig::interval`] in microseconds (at least 10 ms), kept so that the deadline
    /// read per packet costs no 128-bit conversion.
    interval_us: i64,
    epoch: Option<Instant>,
    latest_us: i64,
    /// The last arrival instant and its microseconds since the epoch.
    last_now: Option<(Instant, i64)>,
    /// The instant and stream of the last packet, when after it the detector was steady and
    /// the update at that instant done: more of that batch skips what it already did (see
    /// [`on_packet`](Self::on_packet)).
    settled: Option<(Instant, u32)>,
    first_us: Option<i64>,
    /// The last abs-send-time seen and its unwrapped value, in abs-send-time units.
    last_abs: Option<(u32, i64)>,
    inter_arrival: InterArrival,
    trendline: Trendline,
    detector: OveruseDetector,
    aimd: Aimd,
    incoming: AckedBitrate,
    /// (SSRC, last arrival), oldest first.
    ssrcs: SmallVec<[(u32, i64); 4]>,
    initialized: bool,
    last_update_us: Option<i64>,
    /// The last REMB: when and what.
    sent: Option<(i64, u64)>,
    /// When the next periodic REMB is due, from the last one: kept so that the deadline every
    /// received packet folds in costs no time arithmetic.
    next_at: Option<Instant>,
    /// A drop waits to be sent.
    due: bool,
}

impl RemoteEstimator {
    /// An estimator with no estimate yet: the first comes after a second of packets.
    pub fn new(config: RembConfig) -> Self {
        let min = config.min_bitrate.min(config.max_bitrate);
        let max = config.max_bitrate.max(min);
        let interval = config.interval.max(Duration::from_millis(10));
        Self {
            interval_us: i64::try_from(interval.as_micros()).unwrap_or(i64::MAX),
            epoch: None,
            latest_us: 0,
            last_now: None,
            settled: None,
            first_us: None,
            last_abs: None,
            inter_arrival: InterArrival::default(),
            trendline: Trendline::default(),
            detector: OveruseDetector::default(),
            aimd: Aimd::new(min, min, max),
            incoming: AckedBitrate::default(),
            ssrcs: SmallVec::new(),
            initialized: false,
            last_update_us: None,
            sent: None,
            next_at: None,
            due: false,
        }
    }

    /// The round-trip time, when the receiver knows it (from RTCP); it paces decreases.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.settled = None;
        self.aimd
            .set_rtt(i64::try_from(rtt.as_micros()).unwrap_or(i64::MAX));
    }

    /// One received packet: when it arrived, its 24-bit abs-send-time, its size in bytes and
    /// its SSRC. Arrival times that go back are taken as the latest one.
    ///
    /// Returns whether [`poll_timeout`](Self::poll_timeout) may have moved: `false` for more
    /// of a receive batch (the instant and stream of the packet before, no group completed,
    /// the detector steady), which changes nothing a deadline depends on.
    #[inline]
    pub fn on_packet(&mut self, now: Instant, abs_send_time: u32, size: usize, ssrc: u32) -> bool {
        // More of the same batch: its arrival is converted, its stream noted, and the update
        // at its instant done (a steady update is one per instant: its gates stay shut).
        let settled = self.settled.is_some_and(|(at, s)| at == now && s == ssrc);
        let us = if settled {
            self.latest_us
        } else {
            self.arrival_us(now)
        };

        let abs = abs_send_time & ABS_MASK;
        let unwrapped = match self.last_abs {
            None => i64::from(abs),
            Some((last, base)) => {
                // The shortest way round the 64 s circle.
                let mut d = i64::from(abs.wrapping_sub(last) & ABS_MASK);
                if d >= 1 << (ABS_BITS - 1) {
                    d -= 1 << ABS_BITS;
                }
                base.saturating_add(d)
            }
        };
        self.last_abs = Some((abs, unwrapped));
        // In 64 bits while the product fits (for over a year of abs-send-time): the same
        // quotient, rounded toward zero, as in 128.
        let send_us = match unwrapped.checked_mul(1_000_000) {
            Some(v) => v / ABS_PER_SECOND as i64,
            None => (i128::from(unwrapped) * 1_000_000 / ABS_PER_SECOND) as i64,
        };

        // No datagram is larger; a bigger claim must not overflow the rate.
        let size = size.min(65_535) as u64;
        self.incoming.on_acked(us, size);
        let grouped = self.inter_arrival.push(send_us, us, size);
        if settled && grouped.is_none() {
            return false;
        }
        if let Some(d) = grouped {
            self.on_group(&d);
        }
        self.note_ssrc(ssrc, us);
        let first = *self.first_us.get_or_insert(us);
        self.update(us, first);
        self.settled = (self.detector.usage() != Usage::Overusing).then_some((now, ssrc));
        true
    }

    /// `now` in microseconds since the first packet, never before the latest: converted once
    /// per instant, and kept as the latest.
    #[inline]
    fn arrival_us(&mut self, now: Instant) -> i64 {
        let epoch = *self.epoch.get_or_insert(now);
        let us = match self.last_now {
            // A receive batch shares its instant: converted once.
            Some((at, us)) if at == now => us,
            _ => {
                let us = i64::try_from(now.saturating_duration_since(epoch).as_micros())
                    .unwrap_or(i64::MAX);
                self.last_now = Some((now, us));
                us
            }
        };
        let us = us.max(self.latest_us);
        self.latest_us = us;
        us
    }

    /// A completed group through the trendline and detector: once per group, not per packet,
    /// so kept out of the per-packet path.
    #[inline(never)]
    fn on_group(&mut self, d: &super::arrival::GroupDelta) {
        self.detector
            .on_delta(&mut self.trendline, d, d.arrival_us as f64 / 1000.0);
    }

    fn note_ssrc(&mut self, ssrc: u32, us: i64) {
        // The common case: the same stream as the packet before.
        if let Some(last) = self.ssrcs.last_mut()
            && last.0 == ssrc
        {
            last.1 = us;
            return;
        }
        self.other_ssrc(ssrc, us);
    }

    /// [`note_ssrc`](Self::note_ssrc) for a stream other than the last packet's.
    #[inline(never)]
    fn other_ssrc(&mut self, ssrc: u32, us: i64) {
        if let Some(i) = self.ssrcs.iter().position(|(s, _)| *s == ssrc) {
            self.ssrcs.remove(i);
        } else if self.ssrcs.len() >= MAX_REMB_SSRCS {
            self.ssrcs.remove(0);
        }
        self.ssrcs.push((ssrc, us));
    }

    #[inline]
    fn update(&mut self, us: i64, first: i64) {
        // Between steps nothing changes: leave before measuring the incoming rate.
        let steady = self.detector.usage() != Usage::Overusing;
        if steady && !self.initialized && us - first < INIT_US {
            return;
        }
        if steady && self.initialized && self.last_update_us.is_some_and(|t| us - t < UPDATE_US) {
            return;
        }
        self.step(us, steady);
    }

    /// An update past [`update`](Self::update)'s gates: at most every 200 ms while steady,
    /// so kept out of the per-packet path.
    #[inline(never)]
    fn step(&mut self, us: i64, steady: bool) {
        let usage = self.detector.usage();
        let Some(incoming) = self.incoming.rate() else {
            return;
        };
        if !self.initialized {
            // The first estimate is what arrives (an overuse before then starts from it too).
            self.aimd.set_estimate(incoming, us);
            self.initialized = true;
            self.last_update_us = Some(us);
            self.due = true;
            if steady {
                return;
            }
        }
        let before = self.aimd.rate();
        // (A steady update too soon after the last step has left above.)
        if !steady && !self.aimd.time_to_reduce(us, Some(incoming)) {
            return;
        }
        self.aimd.update(usage, Some(incoming), us);
        self.last_update_us = Some(us);
        let after = self.aimd.rate();
        let told = self.sent.map_or(before, |(_, b)| b);
        if (after as f64) < DROP_SHARE * told as f64 {
            self.due = true;
        }
    }

    /// The current estimate in bits per second, once there is one.
    pub fn estimate(&self) -> Option<u64> {
        self.initialized.then(|| self.aimd.rate())
    }

    /// The delay detector's last verdict.
    pub fn usage(&self) -> Usage {
        self.detector.usage()
    }

    /// A REMB to send now, if one is due: at once after the estimate fell by more than 3%,
    /// else once per [`RembConfig::interval`]; none once every stream has been silent for 2 s.
    pub fn poll_remb(&mut self, now: Instant) -> Option<RembReport> {
        let at = self.poll_timeout()?;
        if now < at {
            return None;
        }
        let us = self.micros(now).max(self.latest_us);
        let bitrate = self.aimd.rate();
        self.sent = Some((us, bitrate));
        self.next_at = self.at(us.saturating_add(self.interval_us()));
        self.due = false;
        let ssrcs = self
            .ssrcs
            .iter()
            .filter(|(_, t)| self.latest_us - t < STREAM_TIMEOUT_US)
            .map(|(s, _)| *s)
            .collect();
        Some(RembReport { bitrate, ssrcs })
    }

    /// When the next REMB is due, if one will be without further packets.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.initialized {
            return None;
        }
        match self.sent {
            Some((t, _)) if !self.due => {
                // Past the stream timeout nothing arrives that a REMB could speak for.
                let at_us = t.saturating_add(self.interval_us());
                (at_us - self.latest_us < STREAM_TIMEOUT_US)
                    .then_some(self.next_at)
                    .flatten()
            }
            _ => self.at(self.latest_us),
        }
    }

    fn interval_us(&self) -> i64 {
        self.interval_us
    }

    /// The instant `us` microseconds after the epoch.
    fn at(&self, us: i64) -> Option<Instant> {
        self.epoch?
            .checked_add(Duration::from_micros(us.max(0) as u64))
    }

    fn micros(&self, now: Instant) -> i64 {
        self.epoch.map_or(0, |e| {
            i64::try_from(now.saturating_duration_since(e).as_micros()).unwrap_or(i64::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn abs_of(sent_us: u64) -> u32 {
        ((u128::from(sent_us) << 18) / 1_000_000) as u32 & ABS_MASK
    }

    /// A sender at `send_bps` (capped by the last REMB when `follow`) through a drop-tail
    /// bottleneck of `link_bps` with a 300 ms buffer and 20 ms propagation, for `secs`.
    /// Returns the estimator, the REMBs sent (time in ms, bitrate) and the estimates per 100 ms.
    fn bottleneck(
        send_bps: u64,
        link_bps: u64,
        secs: u64,
        start_abs_us: u64,
        follow: bool,
    ) -> (RemoteEstimator, Vec<(u64, u64)>, Vec<u64>) {
        let t0 = crate::test_clock::t0();
        let mut est = RemoteEstimator::new(RembConfig::default());
        let mut rate = send_bps;
        let mut rembs = Vec::new();
        let mut trace = Vec::new();
        let mut queue_free_us = 0u64;
        let mut queue: VecDeque<u64> = VecDeque::new();
        let mut next_send_us = 0u64;
        let mut arrivals: VecDeque<(u64, u64)> = VecDeque::new();
        for tick in 0..secs * 1000 {
            let now_us = tick * 1000;
            while next_send_us <= now_us {
                let size = 1200u64;
                // Drop-tail: a packet that would wait over 300 ms is lost.
                queue.retain(|&t| t > next_send_us);
                let start = queue_free_us.max(next_send_us);
                if start - next_send_us <= 300_000 {
                    queue_free_us = start + size * 8 * 1_000_000 / link_bps;
                    queue.push_back(queue_free_us);
                    arrivals.push_back((queue_free_us + 20_000, next_send_us));
                }
                next_send_us += size * 8 * 1_000_000 / rate;
            }
            while arrivals.front().is_some_and(|&(a, _)| a <= now_us) {
                let (a, s) = arrivals.pop_front().unwrap();
                est.on_packet(
                    t0 + Duration::from_micros(a),
                    abs_of(s + start_abs_us),
                    1200,
                    7,
                );
            }
            let now = t0 + Duration::from_micros(now_us);
            if let Some(r) = est.poll_remb(now) {
                rembs.push((tick, r.bitrate));
                if follow {
                    rate = r.bitrate.min(send_bps).max(10_000);
                }
            }
            if tick % 100 == 0 {
                trace.push(est.estimate().unwrap_or(0));
            }
        }
        (est, rembs, trace)
    }

    /// Packets that arrive in batches (each batch at one instant, as a receive loop hands
    /// them over) through a bottleneck half the send rate, from two streams taking turns in
    /// runs: the estimator that skips what a batch already did (`settled`) says at every
    /// packet what one doing all of it for each packet says (usage, estimate, deadline, and
    /// every REMB), through overuse and back.
    #[test]
    fn a_batch_at_one_instant_estimates_as_packet_by_packet() {
        let t0 = crate::test_clock::t0();
        let mut fast = RemoteEstimator::new(RembConfig::default());
        let mut full = RemoteEstimator::new(RembConfig::default());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut free_us = 0u64;
        let (mut moved, mut kept) = (0, 0);
        for i in 0..60_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 2 Mbit/s of 1,200-byte packets (4.8 ms apart, stamped up to 12 ms late, so some
            // out of order: groups then end inside a batch) into 1.5 Mbit/s with 20 ms of
            // propagation; after 4,000 packets the sender halves its rate.
            let sent_us = if i < 4_000 {
                i * 4_800
            } else {
                4_000 * 4_800 + (i - 4_000) * 9_600
            } + x % 12_000;
            free_us = free_us.max(sent_us) + 6_400;
            // Handed over every 50 ms (a slow receive loop's turn): a batch per instant.
            let arrival_us = (free_us + 20_000).div_ceil(50_000) * 50_000;
            let at = t0 + Duration::from_micros(arrival_us);
            let ssrc = if (i / 16) % 3 == 0 { 7 } else { 9 };
            let size = 1_100 + (x >> 40) as usize % 200;
            let abs = abs_of(sent_us);
            full.settled = None;
            full.on_packet(at, abs, size, ssrc);
            if fast.on_packet(at, abs, size, ssrc) {
                moved += 1;
            } else {
                kept += 1;
            }
            assert_eq!(fast.usage(), full.usage(), "packet {i}");
            assert_eq!(fast.estimate(), full.estimate(), "packet {i}");
            assert_eq!(fast.poll_timeout(), full.poll_timeout(), "packet {i}");
            if x.is_multiple_of(5) {
                assert_eq!(fast.poll_remb(at), full.poll_remb(at), "packet {i}");
            }
        }
        assert!(full.estimate().is_some());
        assert!(
            kept > 10_000 && moved > 10_000,
            "{kept} kept, {moved} moved"
        );
    }

    #[test]
    fn the_estimate_falls_to_the_bottleneck_and_rembs_go_out() {
        let (est, rembs, _) = bottleneck(1_000_000, 500_000, 6, 0, false);
        let e = est.estimate().expect("an estimate");
        assert!(e < 1_000_000, "fell below what was sent: {e}");
        let low = rembs.iter().map(|r| r.1).min().unwrap();
        assert!(
            (400_000..=600_000).contains(&low),
            "lowest REMB {low}: {rembs:?}"
        );
        assert!(rembs.len() >= 4, "about one a second or more: {rembs:?}");
    }

    #[test]
    fn a_sender_following_remb_settles_within_20_percent_of_the_bottleneck() {
        let (_, rembs, trace) = bottleneck(1_000_000, 500_000, 30, 0, true);
        let tail = &trace[trace.len() - 150..];
        let mean = tail.iter().sum::<u64>() / tail.len() as u64;
        assert!(
            (400_000..=600_000).contains(&mean),
            "mean {mean}: {trace:?}"
        );
        // Drops are told at once, between the periodic ones.
        let gaps = rembs.windows(2).filter(|w| w[1].0 - w[0].0 < 900).count();
        assert!(gaps > 0, "{rembs:?}");
    }

    #[test]
    fn abs_send_time_wraps_every_64_seconds_without_a_jump() {
        // Start 2 s before the wrap and run through it.
        let (est, _, trace) = bottleneck(400_000, 2_000_000, 6, 62_000_000, false);
        let e = est.estimate().unwrap();
        assert!(
            e >= 380_000,
            "no false overuse across the wrap: {e} {trace:?}"
        );
        assert_eq!(est.usage(), Usage::Normal);
    }

    #[test]
    fn a_drop_is_sent_at_once_and_a_steady_estimate_once_a_second() {
        let t0 = crate::test_clock::t0();
        let mut est = RemoteEstimator::new(RembConfig::default());
        for i in 0..150u64 {
            est.on_packet(
                t0 + Duration::from_millis(i * 10),
                abs_of(i * 10_000),
                1000,
                1,
            );
        }
        let first = est.poll_remb(t0 + Duration::from_millis(1500)).unwrap();
        assert!(est.poll_remb(t0 + Duration::from_millis(1600)).is_none());
        let at = est.poll_timeout().unwrap();
        assert_eq!(at, t0 + Duration::from_millis(2500));
        assert!(first.bitrate > 700_000);
        // Silence: past two seconds nothing more is due.
        assert!(est.poll_remb(t0 + Duration::from_millis(2500)).is_some());
        assert_eq!(est.poll_timeout(), None, "every stream timed out");
    }

    #[test]
    fn ssrcs_are_bounded_and_stale_ones_left_out() {
        let t0 = crate::test_clock::t0();
        let mut est = RemoteEstimator::new(RembConfig::default());
        for i in 0..400u64 {
            let ssrc = if i < 100 { i as u32 } else { 1000 };
            est.on_packet(
                t0 + Duration::from_millis(i * 10),
                abs_of(i * 10_000),
                1000,
                ssrc,
            );
        }
        let r = est.poll_remb(t0 + Duration::from_secs(4)).unwrap();
        assert_eq!(&r.ssrcs[..], &[1000]);
        assert!(est.ssrcs.len() <= MAX_REMB_SSRCS);
    }

    #[test]
    fn garbage_input_never_panics_and_stays_within_limits() {
        let t0 = crate::test_clock::t0();
        let config = RembConfig {
            min_bitrate: 50_000,
            max_bitrate: 2_000_000,
            ..RembConfig::default()
        };
        let mut est = RemoteEstimator::new(config);
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..50_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let back = x.is_multiple_of(7);
            let at = if back {
                t0
            } else {
                t0 + Duration::from_micros(i * 300 + (x % 5000))
            };
            est.on_packet(at, x as u32, (x >> 32) as usize % 70_000, (x >> 40) as u32);
            if let Some(r) = est.poll_remb(at) {
                assert!((50_000..=2_000_000).contains(&r.bitrate), "{}", r.bitrate);
                assert!(r.ssrcs.len() <= MAX_REMB_SSRCS);
            }
        }
        est.set_rtt(Duration::MAX);
        est.on_packet(t0 + Duration::from_secs(1 << 40), u32::MAX, usize::MAX, 0);
        let _ = est.poll_remb(t0 + Duration::from_secs(1 << 41));
    }
}
