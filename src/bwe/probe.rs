//! Probing: short clusters of packets sent faster than the target, whose arrival rate says how
//! much the path can carry, so the estimate jumps to the link rate instead of creeping up
//! 8% per second.

use super::ClusterId;
use std::collections::BTreeMap;

/// A probe cluster's packets are paced over at least this long...
const MIN_PROBE_US: u64 = 20_000;
/// ...and number at least this many.
pub(crate) const MIN_PROBE_PACKETS: u32 = 5;
/// A probe result needs this share of the cluster's packets reported received.
const MIN_RECEIVED_SHARE: f64 = 0.8;
/// A further probe follows when the result reached this share of the probed rate.
const FURTHER_PROBE_SHARE: f64 = 0.7;
/// Results for a cluster stop counting this long after its first packet was sent.
const CLUSTER_TIMEOUT_US: i64 = 1_000_000;
/// With a receive rate this far below the send rate the probe saturated the path: report a
/// little under what arrived.
const SATURATED_RATIO: f64 = 0.9;
const SATURATED_SCALE: f64 = 0.95;
/// A send rate over twice the receive rate is not a usable measurement.
const MAX_SEND_RECV_RATIO: f64 = 2.0;

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

#[derive(Debug, Clone, Copy)]
struct ClusterStats {
    first_send_us: i64,
    last_send_us: i64,
    last_send_size: u64,
    first_arrival_us: i64,
    first_arrival_size: u64,
    last_arrival_us: i64,
    bytes: u64,
    received: u32,
    created_us: i64,
}

/// Measures each cluster's rate from the feedback for its packets.
#[derive(Debug, Default)]
pub(crate) struct ProbeEstimator {
    clusters: BTreeMap<ClusterId, ClusterStats>,
}

impl ProbeEstimator {
    /// One received probe packet.
    pub(crate) fn on_acked(
        &mut self,
        id: ClusterId,
        send_us: i64,
        arrival_us: i64,
        size: u64,
        now_us: i64,
    ) {
        // Bounded: a sender never has more than a handful of clusters in flight.
        if !self.clusters.contains_key(&id) && self.clusters.len() >= 16 {
            let oldest = *self.clusters.keys().next().expect("non-empty");
            self.clusters.remove(&oldest);
        }
        let c = self.clusters.entry(id).or_insert(ClusterStats {
            first_send_us: send_us,
            last_send_us: send_us,
            last_send_size: size,
            first_arrival_us: arrival_us,
            first_arrival_size: size,
            last_arrival_us: arrival_us,
            bytes: 0,
            received: 0,
            created_us: now_us,
        });
        if send_us < c.first_send_us {
            c.first_send_us = send_us;
        }
        if send_us >= c.last_send_us {
            c.last_send_us = send_us;
            c.last_send_size = size;
        }
        if arrival_us < c.first_arrival_us {
            c.first_arrival_us = arrival_us;
            c.first_arrival_size = size;
        }
        c.last_arrival_us = c.last_arrival_us.max(arrival_us);
        c.bytes += size;
        c.received += 1;
    }

    /// The rate cluster `id` measured, once enough of it was reported.
    pub(crate) fn estimate(&self, id: ClusterId) -> Option<u64> {
        let c = self.clusters.get(&id)?;
        if f64::from(c.received) < f64::from(MIN_PROBE_PACKETS) * MIN_RECEIVED_SHARE {
            return None;
        }
        let send_us = c.last_send_us - c.first_send_us;
        let recv_us = c.last_arrival_us - c.first_arrival_us;
        if send_us <= 0 || recv_us <= 0 || send_us > 1_000_000 || recv_us > 1_000_000 {
            return None;
        }
        // The last packet sent and the first received bound the intervals; their own bytes
        // fall outside them.
        let send_rate = (c.bytes - c.last_send_size) as f64 * 8e6 / send_us as f64;
        let recv_rate = (c.bytes - c.first_arrival_size) as f64 * 8e6 / recv_us as f64;
        if send_rate / recv_rate > MAX_SEND_RECV_RATIO {
            return None;
        }
        let mut rate = send_rate.min(recv_rate);
        if recv_rate < SATURATED_RATIO * send_rate {
            rate = SATURATED_SCALE * recv_rate;
        }
        Some(rate as u64)
    }

    /// Forgets clusters whose feedback should have arrived long ago.
    pub(crate) fn expire(&mut self, now_us: i64) {
        self.clusters
            .retain(|_, c| now_us - c.created_us < CLUSTER_TIMEOUT_US);
    }
}

/// Decides when to probe and how high: initial exponential probing, further probes while
/// results keep up, probes in ALR and after a large drop, and probes asked for by the app.
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
}

impl ProbeController {
    pub(crate) fn new(max_bps: u64) -> Self {
        Self {
            next_id: 0,
            max_bps,
            probe_further_above: None,
            last_probe_us: None,
            before_drop: None,
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

    /// The target fell by more than a third: remember where it was.
    pub(crate) fn on_drop(&mut self, from_bps: u64, now_us: i64) {
        self.before_drop = Some((from_bps, now_us));
    }

    /// Periodic probes while application-limited: every 5 s at twice the target, or, within
    /// 5 s of a large drop, back at 85% of the rate before it.
    pub(crate) fn periodic(
        &mut self,
        in_alr: bool,
        target_bps: u64,
        now_us: i64,
    ) -> Option<ProbeCluster> {
        if !in_alr || target_bps >= self.max_bps {
            return None;
        }
        if let Some((before, at)) = self.before_drop
            && now_us - at < 5_000_000
            && now_us - at > 1_000_000
        {
            self.before_drop = None;
            let bps = (before as f64 * 0.85) as u64;
            if bps > target_bps {
                return Some(self.cluster(bps, Some(now_us)));
            }
        }
        if self.last_probe_us.is_none_or(|t| now_us - t >= 5_000_000) {
            return Some(self.cluster(target_bps.saturating_mul(2), Some(now_us)));
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
        assert!((1_990_000..=2_010_000).contains(&r), "{r}");
    }

    #[test]
    fn probe_through_a_bottleneck_measures_just_under_the_link() {
        let mut est = ProbeEstimator::default();
        // Sent at 2 Mbit/s, arriving at 1 Mbit/s (8 ms apart).
        feed(&mut est, ClusterId(2), 4_000, 8_000, 6);
        let r = est.estimate(ClusterId(2)).unwrap();
        assert!((940_000..=960_000).contains(&r), "{r}");
    }

    #[test]
    fn probe_with_too_few_packets_or_far_too_slow_arrival_says_nothing() {
        let mut est = ProbeEstimator::default();
        feed(&mut est, ClusterId(3), 4_000, 4_000, 3);
        assert_eq!(est.estimate(ClusterId(3)), None);
        feed(&mut est, ClusterId(4), 1_000, 8_000, 6);
        assert_eq!(est.estimate(ClusterId(4)), None, "send/receive ratio 8");
    }

    #[test]
    fn initial_probes_are_three_and_six_times_the_start_and_continue_exponentially() {
        let mut p = ProbeController::new(10_000_000);
        let c = p.initial(300_000);
        assert_eq!(
            c.iter().map(|c| c.bitrate).collect::<Vec<_>>(),
            [900_000, 1_800_000]
        );
        assert_eq!(c[1].min_bytes, 1_800_000 / 8 / 50);
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
    fn alr_probes_every_five_seconds_and_after_a_drop() {
        let mut p = ProbeController::new(10_000_000);
        assert!(p.periodic(false, 500_000, 0).is_none());
        assert_eq!(p.periodic(true, 500_000, 0).unwrap().bitrate, 1_000_000);
        assert!(p.periodic(true, 500_000, 1_000_000).is_none());
        p.on_drop(2_000_000, 1_000_000);
        assert_eq!(
            p.periodic(true, 500_000, 2_500_000).unwrap().bitrate,
            1_700_000
        );
        assert!(p.periodic(true, 500_000, 3_000_000).is_none());
        assert!(p.periodic(true, 500_000, 7_500_000).is_some());
    }
}
