//! Probing: short clusters of packets sent faster than the target, whose arrival rate says how
//! much the path can carry, so the estimate jumps to the link rate instead of creeping up
//! 8% per second.

use super::ClusterId;
use std::collections::BTreeMap;

/// A probe cluster's packets are paced over at least this long (libwebrtc: 15 ms). Longer
/// than that: a token bucket lets a probe's excess over its rate through until its burst is
/// spent, and only the arrivals after that say what it carries. Not much longer: a probe above
/// the path's rate builds a queue as long as its excess, which the delay filter then sees (at
/// 50 ms, probes while application-limited cost the RFC 8867 §5.4 flows 117 ms of queue at the
/// 95th percentile instead of 26).
const MIN_PROBE_US: u64 = 30_000;
/// ...and number at least this many.
pub(crate) const MIN_PROBE_PACKETS: u32 = 5;
/// libwebrtc: a probe result needs this share of the cluster's packets and bytes received.
const MIN_RECEIVED_SHARE: f64 = 0.8;
/// A further probe follows when the result reached this share of the probed rate.
const FURTHER_PROBE_SHARE: f64 = 0.7;
/// Results for a cluster stop counting this long after its first packet was sent.
const CLUSTER_TIMEOUT_US: i64 = 1_000_000;
/// With a receive rate this far below the send rate the probe saturated the path: report a
/// little under what arrived.
const SATURATED_RATIO: f64 = 0.9;
const SATURATED_SCALE: f64 = 0.95;
/// libwebrtc: a receive rate over twice the send rate is not a measurement of the path (the
/// arrivals were bunched after it, by a busy receiver or a queue that let go at once).
const MAX_RECV_SEND_RATIO: f64 = 2.0;
/// At most this many packets of a cluster are kept for its estimate.
const MAX_CLUSTER_PACKETS: usize = 256;

/// A burst of packets the pacer must send at `bitrate`, made of queued media or padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCluster {
    /// Names the packets of this cluster ([`PacketKind::Probe`](super::PacketKind::Probe)).
    pub id: ClusterId,
    /// The rate to send at, in bits per second.
    pub bitrate: u64,
    /// Send at least this many packets...
    pub min_packets: u32,
    /// ...and at least this many bytes.
    pub min_bytes: u64,
}

impl ProbeCluster {
    pub(crate) fn new(id: ClusterId, bitrate: u64) -> Self {
        Self {
            id,
            bitrate,
            min_packets: MIN_PROBE_PACKETS,
            min_bytes: bitrate * MIN_PROBE_US / 8 / 1_000_000,
        }
    }
}

/// What a probe cluster measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProbeResult {
    /// The rate the path carried, in bits per second.
    pub bitrate: u64,
    /// When the cluster saturated the path (it arrived slower than it was sent): the rate it
    /// arrived at, the bottleneck's rate.
    pub bottleneck: Option<u64>,
}

#[derive(Debug)]
struct ClusterStats {
    /// What the cluster was asked to send (when the controller created it).
    min_packets: u32,
    min_bytes: u64,
    created_us: i64,
    /// (send time, arrival time, size) of each packet reported received.
    packets: Vec<(i64, i64, u64)>,
}

/// Measures each cluster's rate from the feedback for its packets.
#[derive(Debug, Default)]
pub(crate) struct ProbeEstimator {
    clusters: BTreeMap<ClusterId, ClusterStats>,
}

impl ProbeEstimator {
    fn entry(&mut self, id: ClusterId, now_us: i64) -> &mut ClusterStats {
        // Bounded: a sender never has more than a handful of clusters in flight.
        if !self.clusters.contains_key(&id) && self.clusters.len() >= 16 {
            let oldest = *self.clusters.keys().next().expect("non-empty");
            self.clusters.remove(&oldest);
        }
        self.clusters.entry(id).or_insert(ClusterStats {
            min_packets: MIN_PROBE_PACKETS,
            min_bytes: 0,
            created_us: now_us,
            packets: Vec::new(),
        })
    }

    /// A cluster was created: its results need most of what it was asked to send.
    pub(crate) fn on_cluster(&mut self, c: &ProbeCluster, now_us: i64) {
        let e = self.entry(c.id, now_us);
        e.min_packets = c.min_packets;
        e.min_bytes = c.min_bytes;
    }

    /// One received probe packet.
    pub(crate) fn on_acked(
        &mut self,
        id: ClusterId,
        send_us: i64,
        arrival_us: i64,
        size: u64,
        now_us: i64,
    ) {
        let c = self.entry(id, now_us);
        if c.packets.len() < MAX_CLUSTER_PACKETS {
            c.packets.push((send_us, arrival_us, size));
        }
    }

    /// What cluster `id` measured, once enough of it was reported (libwebrtc's
    /// ProbeBitrateEstimator, with the receive rate taken over the later half of the bytes).
    pub(crate) fn estimate(&mut self, id: ClusterId) -> Option<ProbeResult> {
        let c = self.clusters.get_mut(&id)?;
        let bytes: u64 = c.packets.iter().map(|p| p.2).sum();
        if (c.packets.len() as f64) < f64::from(c.min_packets.max(1)) * MIN_RECEIVED_SHARE
            || (bytes as f64) < c.min_bytes as f64 * MIN_RECEIVED_SHARE
        {
            return None;
        }
        let first_send = c.packets.iter().map(|p| p.0).min()?;
        let last_send = c.packets.iter().map(|p| p.0).max()?;
        c.packets.sort_unstable_by_key(|p| p.1);
        let last_arrival = c.packets.last()?.1;
        // The packets sent at the last send time close the send interval: their bytes were
        // sent after it (padding leaves as several packets at one instant).
        let send_bytes: u64 = c
            .packets
            .iter()
            .filter(|p| p.0 < last_send)
            .map(|p| p.2)
            .sum();
        // The receive rate over the later half of the bytes: a token bucket with tokens to
        // spare lets the first of a cluster through as fast as it was sent (or all at once
        // after a queue), which says nothing of its rate; once the burst is spent, packets
        // leave at the bucket's rate. The packet that opens the interval arrived before it.
        let (mut seen, mut opens) = (0, 0);
        for (i, p) in c.packets.iter().enumerate() {
            seen += p.2;
            if seen * 2 >= bytes {
                opens = i;
                break;
            }
        }
        let recv_bytes: u64 = c.packets[opens + 1..].iter().map(|p| p.2).sum();
        let send_us = last_send - first_send;
        let recv_us = last_arrival - c.packets[opens].1;
        if send_us <= 0 || recv_us <= 0 || send_us > 1_000_000 || recv_us > 1_000_000 {
            return None;
        }
        let send_rate = send_bytes as f64 * 8e6 / send_us as f64;
        let recv_rate = recv_bytes as f64 * 8e6 / recv_us as f64;
        if recv_rate > MAX_RECV_SEND_RATIO * send_rate {
            return None;
        }
        if recv_rate < SATURATED_RATIO * send_rate {
            return Some(ProbeResult {
                bitrate: (SATURATED_SCALE * recv_rate) as u64,
                bottleneck: Some(recv_rate as u64),
            });
        }
        Some(ProbeResult {
            bitrate: send_rate.min(recv_rate) as u64,
            bottleneck: None,
        })
    }

    /// Forgets clusters whose feedback should have arrived long ago.
    pub(crate) fn expire(&mut self, now_us: i64) {
        self.clusters
            .retain(|_, c| now_us - c.created_us < CLUSTER_TIMEOUT_US);
    }
}

/// Probes while application-limited come this often (libwebrtc's ALR probing interval)...
const LIMITED_PROBE_US: i64 = 5_000_000;
/// ...once it has been for this long...
const LIMITED_FOR_US: i64 = 1_000_000;
/// ...at this multiple of the target, unless the target is already this share of the
/// bottleneck a probe measured.
const NEAR_BOTTLENECK: f64 = 0.9;
/// ...at this multiple of the target.
const LIMITED_PROBE_FACTOR: u64 = 2;
/// libwebrtc's RequestProbe: after a large drop, probe back at this share of the rate before
/// it...
const AFTER_DROP_SHARE: f64 = 0.85;
/// ...when the result may be this far below the probe and still be above the target...
const AFTER_DROP_UNCERTAINTY: f64 = 0.05;
/// ...within this long of the drop, once the delay is normal again, and no sooner than this
/// after it.
const AFTER_DROP_WITHIN_US: i64 = 5_000_000;
const AFTER_DROP_WAIT_US: i64 = 500_000;
/// A drop counts as the application's when it was application-limited this recently.
const LIMITED_RECENTLY_US: i64 = 3_000_000;

/// Decides when to probe and how high: initial exponential probing, further probes while
/// results keep up, probes while application-limited and after a large drop, and probes asked
/// for by the app.
#[derive(Debug)]
pub(crate) struct ProbeController {
    next_id: u32,
    max_bps: u64,
    /// While exponential probing: a result above this asks for the next, higher probe.
    probe_further_above: Option<u64>,
    /// When the last cluster was created.
    last_probe_us: Option<i64>,
    /// The rate before the last large drop, and when it dropped.
    before_drop: Option<(u64, i64)>,
    /// When the last probe after a drop was created.
    last_drop_probe_us: Option<i64>,
    /// When the sender was last application-limited.
    limited_us: Option<i64>,
    /// Since when it has been, without a break.
    limited_since_us: Option<i64>,
    /// When the sender last used much less than the target.
    short_us: Option<i64>,
}

impl ProbeController {
    pub(crate) fn new(max_bps: u64) -> Self {
        Self {
            next_id: 0,
            max_bps,
            probe_further_above: None,
            last_probe_us: None,
            before_drop: None,
            last_drop_probe_us: None,
            limited_us: None,
            limited_since_us: None,
            short_us: None,
        }
    }

    pub(crate) fn set_max(&mut self, max_bps: u64) {
        self.max_bps = max_bps;
    }

    fn cluster(&mut self, bps: u64, now_us: Option<i64>) -> ProbeCluster {
        let id = ClusterId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        if now_us.is_some() {
            self.last_probe_us = now_us;
        }
        ProbeCluster::new(id, bps.min(self.max_bps))
    }

    /// At start: 3x then 6x the start rate (libwebrtc's first two clusters).
    pub(crate) fn initial(&mut self, start_bps: u64) -> Vec<ProbeCluster> {
        let mut out = Vec::with_capacity(2);
        for factor in [3, 6] {
            let bps = start_bps.saturating_mul(factor);
            out.push(self.cluster(bps, None));
            if bps >= self.max_bps {
                break;
            }
        }
        let top = out.last().map_or(0, |c| c.bitrate);
        self.probe_further_above =
            (top < self.max_bps).then_some((top as f64 * FURTHER_PROBE_SHARE) as u64);
        out
    }

    /// A new estimate: continue exponential probing while it keeps up with the probes.
    pub(crate) fn on_estimate(&mut self, bps: u64, now_us: i64) -> Option<ProbeCluster> {
        let above = self.probe_further_above?;
        if bps <= above {
            return None;
        }
        if self
            .last_probe_us
            .is_some_and(|t| now_us - t > 2 * CLUSTER_TIMEOUT_US)
        {
            // Probing went quiet; the delay-based controller takes it from here.
            self.probe_further_above = None;
            return None;
        }
        let next = bps.saturating_mul(2).min(self.max_bps);
        if next <= bps {
            self.probe_further_above = None;
            return None;
        }
        self.probe_further_above =
            (next < self.max_bps).then_some((next as f64 * FURTHER_PROBE_SHARE) as u64);
        Some(self.cluster(next, Some(now_us)))
    }

    /// The target fell by more than a third: remember where it was, and whether the sender
    /// used much less than it (`short`) when it fell.
    pub(crate) fn on_drop(&mut self, from_bps: u64, now_us: i64, short: bool) {
        self.before_drop = Some((from_bps, now_us));
        if short {
            self.short_us = Some(now_us);
        }
    }

    /// The periodic check. While `limited` (the application sends too little for feedback to
    /// say how much more the path carries), a probe every 5 s at twice the target, so the
    /// estimate follows the path and the application may step up when it can. After a large
    /// drop while (or within 3 s of being) limited, or `short` (using much less than the
    /// target), once the delay is `normal` again, one probe
    /// back at 85% of the rate before it (libwebrtc's probe after a drop in ALR): a queue the
    /// application's own burst built should not cost the estimate for long, while a real drop
    /// gives a result below the target and changes nothing.
    pub(crate) fn periodic(
        &mut self,
        limited: bool,
        short: bool,
        normal: bool,
        target_bps: u64,
        bottleneck_bps: Option<u64>,
        now_us: i64,
    ) -> Option<ProbeCluster> {
        if short {
            self.short_us = Some(now_us);
        }
        if limited {
            self.limited_us = Some(now_us);
            self.limited_since_us.get_or_insert(now_us);
        } else {
            self.limited_since_us = None;
        }
        if target_bps >= self.max_bps {
            return None;
        }
        let limited_recently = [self.limited_us, self.short_us]
            .into_iter()
            .flatten()
            .any(|t| now_us - t < LIMITED_RECENTLY_US);
        if let Some((before, at)) = self.before_drop
            && normal
            && now_us - at > AFTER_DROP_WAIT_US
        {
            self.before_drop = None;
            let bps = (before as f64 * AFTER_DROP_SHARE) as u64;
            let due = self
                .last_drop_probe_us
                .is_none_or(|t| now_us - t >= LIMITED_PROBE_US);
            if limited_recently
                && due
                && now_us - at < AFTER_DROP_WITHIN_US
                && (1.0 - AFTER_DROP_UNCERTAINTY) * bps as f64 > target_bps as f64
            {
                self.last_drop_probe_us = Some(now_us);
                return Some(self.cluster(bps, Some(now_us)));
            }
        }
        // Limited for a while, not for the moment after a probe lifted the target above what
        // the sender had time to send; and not when the target is already near the bottleneck
        // a probe measured: another probe would only build a queue to say so again.
        let near = bottleneck_bps.is_some_and(|b| target_bps as f64 >= NEAR_BOTTLENECK * b as f64);
        if !near
            && self
                .limited_since_us
                .is_some_and(|t| now_us - t >= LIMITED_FOR_US)
            && self
                .last_probe_us
                .is_none_or(|t| now_us - t >= LIMITED_PROBE_US)
        {
            return Some(self.cluster(
                target_bps.saturating_mul(LIMITED_PROBE_FACTOR),
                Some(now_us),
            ));
        }
        None
    }

    /// The application asked for a probe.
    pub(crate) fn request(&mut self, bps: u64, now_us: i64) -> ProbeCluster {
        self.cluster(bps, Some(now_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(est: &mut ProbeEstimator, id: ClusterId, send_gap_us: i64, recv_gap_us: i64, n: i64) {
        for i in 0..n {
            est.on_acked(id, i * send_gap_us, 50_000 + i * recv_gap_us, 1000, 0);
        }
    }

    #[test]
    fn probe_through_a_wide_path_measures_the_send_rate() {
        let mut est = ProbeEstimator::default();
        // 1000 bytes every 4 ms = 2 Mbit/s, arriving at the same spacing.
        feed(&mut est, ClusterId(1), 4_000, 4_000, 6);
        let r = est.estimate(ClusterId(1)).unwrap();
        assert!((1_990_000..=2_010_000).contains(&r.bitrate), "{r:?}");
        assert_eq!(r.bottleneck, None, "the path carried all of it");
    }

    #[test]
    fn probe_through_a_bottleneck_measures_just_under_the_link() {
        let mut est = ProbeEstimator::default();
        // Sent at 2 Mbit/s, arriving at 1 Mbit/s (8 ms apart).
        feed(&mut est, ClusterId(2), 4_000, 8_000, 6);
        let r = est.estimate(ClusterId(2)).unwrap();
        assert!((940_000..=960_000).contains(&r.bitrate), "{r:?}");
        assert_eq!(r.bottleneck, Some(1_000_000));
        // Sent at 8 times the link: still the link (libwebrtc keeps such results too).
        feed(&mut est, ClusterId(3), 1_000, 8_000, 6);
        let r = est.estimate(ClusterId(3)).unwrap();
        assert!((940_000..=960_000).contains(&r.bitrate), "{r:?}");
    }

    #[test]
    fn probe_with_too_few_packets_or_bytes_says_nothing() {
        let mut est = ProbeEstimator::default();
        feed(&mut est, ClusterId(3), 4_000, 4_000, 3);
        assert_eq!(est.estimate(ClusterId(3)), None);
        // Asked for 20 ms at 2 Mbit/s (5000 bytes); 3000 arrived.
        let c = ProbeCluster::new(ClusterId(4), 2_000_000);
        est.on_cluster(&c, 0);
        for i in 0..6 {
            est.on_acked(c.id, i * 2_000, 50_000 + i * 2_000, 500, 0);
        }
        assert_eq!(est.estimate(c.id), None);
    }

    #[test]
    fn probe_arriving_bunched_does_not_read_above_the_link() {
        let mut est = ProbeEstimator::default();
        // Sent at 3.2 Mbit/s (1000 bytes every 2.5 ms) into a 1.5 Mbit/s link; a receiver
        // that read the socket late stamped them all within 4 ms: not a measurement.
        for i in 0..8 {
            est.on_acked(ClusterId(5), i * 2_500, 90_000 + i * 500, 1000, 0);
        }
        assert_eq!(est.estimate(ClusterId(5)), None);
        // A token bucket with 4 KB to spare lets the first four through at once, then the
        // rest at its 1.5 Mbit/s (5.33 ms a packet): the burst does not count.
        for i in 0..10 {
            let arrival = if i < 4 {
                50_000 + i * 10
            } else {
                50_030 + (i - 3) * 5_333
            };
            est.on_acked(ClusterId(6), i * 2_500, arrival, 1000, 0);
        }
        let r = est.estimate(ClusterId(6)).unwrap();
        assert!(r.bitrate <= 1_500_000, "{r:?}");
        assert!(r.bitrate >= 1_350_000, "{r:?}");
        // Padding leaves as several packets at one instant: the last instant's bytes were
        // sent after the send interval closed.
        for i in 0..12 {
            est.on_acked(ClusterId(7), (i / 3) * 3_000, 50_000 + i * 1_000, 1000, 0);
        }
        let r = est.estimate(ClusterId(7)).unwrap();
        assert!(r.bitrate <= 8_100_000, "3000 bytes every 3 ms: {r:?}");
    }

    #[test]
    fn initial_probes_are_three_and_six_times_the_start_and_continue_exponentially() {
        let mut p = ProbeController::new(10_000_000);
        let c = p.initial(300_000);
        assert_eq!(
            c.iter().map(|c| c.bitrate).collect::<Vec<_>>(),
            [900_000, 1_800_000]
        );
        assert_eq!(c[1].min_bytes, 1_800_000 * 3 / 8 / 100);
        // A result of 1.7 Mbit/s is above 70% of 1.8: probe at 3.4.
        let next = p.on_estimate(1_700_000, 100_000).unwrap();
        assert_eq!(next.bitrate, 3_400_000);
        // 2.0 Mbit/s is below 70% of 3.4: stop.
        assert!(p.on_estimate(2_000_000, 200_000).is_none());
    }

    #[test]
    fn probing_stops_at_the_maximum() {
        let mut p = ProbeController::new(2_000_000);
        let c = p.initial(500_000);
        assert_eq!(
            c.iter().map(|c| c.bitrate).collect::<Vec<_>>(),
            [1_500_000, 2_000_000]
        );
        assert!(p.on_estimate(1_900_000, 0).is_none());
    }

    #[test]
    fn application_limited_probes_every_five_seconds_and_after_a_drop() {
        let mut p = ProbeController::new(10_000_000);
        assert!(p.periodic(false, false, true, 500_000, None, 0).is_none());
        assert!(
            p.periodic(true, false, true, 500_000, None, 0).is_none(),
            "limited for a while"
        );
        assert_eq!(
            p.periodic(true, false, true, 500_000, None, 1_000_000)
                .unwrap()
                .bitrate,
            1_000_000
        );
        assert!(
            p.periodic(true, false, true, 500_000, None, 1_000_000)
                .is_none()
        );
        // A drop while limited: once the delay is normal again, back at 85% of before.
        p.on_drop(2_000_000, 1_000_000, false);
        assert!(
            p.periodic(false, false, true, 500_000, None, 1_200_000)
                .is_none(),
            "too soon"
        );
        assert!(
            p.periodic(false, false, false, 500_000, None, 1_600_000)
                .is_none(),
            "overusing"
        );
        assert_eq!(
            p.periodic(false, false, true, 500_000, None, 1_700_000)
                .unwrap()
                .bitrate,
            1_700_000
        );
        assert!(
            p.periodic(false, false, true, 500_000, None, 3_000_000)
                .is_none()
        );
        assert!(
            p.periodic(true, false, true, 500_000, None, 5_700_000)
                .is_none()
        );
        assert!(
            p.periodic(true, false, true, 500_000, None, 6_700_000)
                .is_some()
        );
        // A drop long after the sender was last limited is the path's: no probe...
        p.on_drop(2_000_000, 10_000_000, false);
        assert!(
            p.periodic(false, false, true, 500_000, None, 11_000_000)
                .is_none()
        );
        // ...unless it used much less than the target when it fell.
        p.on_drop(2_000_000, 20_000_000, true);
        assert!(
            p.periodic(false, false, true, 500_000, None, 21_000_000)
                .is_some()
        );
        // Near a bottleneck a probe measured, limited or not, no periodic probe.
        let near = Some(1_000_000);
        assert!(
            p.periodic(true, false, true, 950_000, near, 29_000_000)
                .is_none()
        );
        assert!(
            p.periodic(true, false, true, 950_000, near, 30_000_000)
                .is_none()
        );
        assert!(
            p.periodic(true, false, true, 850_000, near, 30_100_000)
                .is_some()
        );
    }
}
