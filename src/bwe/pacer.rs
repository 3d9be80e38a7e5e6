//! The pacer: owns the send order and spreads packets over time so a frame does not leave as
//! one burst that fills the bottleneck queue.

use super::{PacketKind, ProbeCluster};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The largest padding packet the pacer asks for.
const MAX_PADDING: usize = 1200;
/// The smallest padding packet worth its headers.
const MIN_PADDING: usize = 200;
/// Rates below this are treated as this, so a zero rate never stalls the queue forever.
const MIN_RATE_BPS: u64 = 10_000;

/// The pacer's queues, in send priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Audio: small, steady, sent at once (it still counts against the budget).
    Audio,
    /// Retransmissions: before new video, so a frame being repaired completes first.
    Retransmission,
    /// Video.
    Video,
}

/// The pacer's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacerConfig {
    /// The queue drains within this time: the pacer speeds up past the pacing rate when it
    /// would take longer, and drops (counts and hands back) what waited longer still.
    pub max_queue_time: Duration,
    /// At most this many packets wait; past it the oldest video is dropped first (counted,
    /// handed back), then the oldest retransmission, then the oldest audio.
    pub max_queue_packets: usize,
    /// At most this many bytes wait; past it packets are dropped as past `max_queue_packets`.
    pub max_queue_bytes: usize,
    /// The pacing rate before [`Pacer::set_rates`] is called, in bits per second.
    pub initial_rate: u64,
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self {
            max_queue_time: Duration::from_secs(2),
            max_queue_packets: 1024,
            max_queue_bytes: 1 << 21,
            initial_rate: 750_000,
        }
    }
}

/// What to put on the wire next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paced<T> {
    /// A queued packet. Report it to the controller with `kind`, which says
    /// [`PacketKind::Probe`] when it was sent as part of a probe cluster.
    Packet {
        /// The caller's handle, as enqueued.
        item: T,
        /// Its size, as enqueued.
        size: usize,
        /// What to tell [`Controller::on_packet_sent`](super::Controller::on_packet_sent).
        kind: PacketKind,
    },
    /// Nothing queued, but padding (or a probe) is due: send about `size` bytes of padding
    /// (RTP padding or a redundant retransmission) and report it with `kind`.
    Padding {
        /// Bytes to send.
        size: usize,
        /// [`PacketKind::Padding`] or [`PacketKind::Probe`].
        kind: PacketKind,
    },
}

/// Counters, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacerStats {
    /// Queued packets sent.
    pub sent_packets: u64,
    /// Bytes of queued packets sent.
    pub sent_bytes: u64,
    /// Padding bytes asked for.
    pub padding_bytes: u64,
    /// Packets (media or padding) sent as probes.
    pub probe_packets: u64,
    /// Probe clusters completed.
    pub probe_clusters: u64,
    /// Packets dropped: the queue was full or they waited past the time limit.
    pub dropped_packets: u64,
    /// Bytes of those.
    pub dropped_bytes: u64,
}

#[derive(Debug)]
struct Entry<T> {
    item: T,
    size: usize,
    enqueued: Instant,
}

#[derive(Debug, Clone, Copy)]
struct ActiveProbe {
    cluster: ProbeCluster,
    sent_bytes: u64,
    sent_packets: u32,
    next_at: Option<Instant>,
}

/// A leaky-bucket pacer over opaque packet handles `T`.
///
/// Send order: audio first, then an active probe cluster (at the cluster's rate, from queued
/// retransmissions or video, else padding), then retransmissions, then video, each within the
/// pacing budget; padding last, only when nothing waits. [`poll_timeout`](Self::poll_timeout)
/// is the exact instant the next packet may go.
#[derive(Debug)]
pub struct Pacer<T> {
    config: PacerConfig,
    queues: [VecDeque<Entry<T>>; 3],
    queue_bytes: u64,
    pacing_bps: u64,
    padding_bps: u64,
    media_free_at: Option<Instant>,
    padding_free_at: Option<Instant>,
    probes: VecDeque<ProbeCluster>,
    probe: Option<ActiveProbe>,
    dropped: VecDeque<T>,
    stats: PacerStats,
    last_now: Option<Instant>,
    sent_media: bool,
}

impl<T> Pacer<T> {
    /// An empty pacer.
    pub fn new(config: PacerConfig) -> Self {
        let pacing_bps = config.initial_rate.max(MIN_RATE_BPS);
        Self {
            config,
            queues: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            queue_bytes: 0,
            pacing_bps,
            padding_bps: 0,
            media_free_at: None,
            padding_free_at: None,
            probes: VecDeque::new(),
            probe: None,
            dropped: VecDeque::new(),
            stats: PacerStats::default(),
            last_now: None,
            sent_media: false,
        }
    }

    /// Sets the pacing rate (the controller's [`pacing_rate`](super::Controller::pacing_rate))
    /// and the padding rate, in bits per second.
    pub fn set_rates(&mut self, pacing_bps: u64, padding_bps: u64) {
        self.pacing_bps = pacing_bps.max(MIN_RATE_BPS);
        self.padding_bps = padding_bps;
    }

    /// Queues a packet. Past the queue's bounds (packets or bytes) the oldest video waiting is
    /// dropped, then the oldest retransmission, then the oldest audio (the new packet itself
    /// when it is the only one left to drop): what is dropped comes back from
    /// [`poll_dropped`](Self::poll_dropped) and is counted.
    pub fn enqueue(&mut self, now: Instant, item: T, size: usize, class: Class) {
        self.touch(now);
        self.queue_bytes += size as u64;
        self.queues[class as usize].push_back(Entry {
            item,
            size,
            enqueued: now,
        });
        while self.len() > self.config.max_queue_packets
            || self.queue_bytes > self.config.max_queue_bytes as u64
        {
            let Some(e) = [Class::Video, Class::Retransmission, Class::Audio]
                .into_iter()
                .find_map(|c| self.queues[c as usize].pop_front())
            else {
                break;
            };
            self.queue_bytes -= e.size as u64;
            self.drop_entry(e);
        }
    }

    fn drop_entry(&mut self, e: Entry<T>) {
        self.stats.dropped_packets += 1;
        self.stats.dropped_bytes += e.size as u64;
        self.dropped.push_back(e.item);
    }

    /// Queues a probe cluster; clusters run one after another.
    pub fn start_probe(&mut self, cluster: ProbeCluster) {
        if self.probes.len() < 16 {
            self.probes.push_back(cluster);
        }
    }

    fn touch(&mut self, now: Instant) {
        if self.last_now.is_none_or(|t| now > t) {
            self.last_now = Some(now);
        }
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// Bytes waiting.
    pub fn queue_bytes(&self) -> u64 {
        self.queue_bytes
    }

    /// Counters.
    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    /// A packet the pacer dropped (queue full, or waited past the time limit).
    pub fn poll_dropped(&mut self) -> Option<T> {
        self.dropped.pop_front()
    }

    /// The rate the queue drains at: the pacing rate, or faster when the queue would
    /// otherwise not be empty before its oldest packet reaches `max_queue_time`.
    fn drain_rate(&self, now: Instant) -> u64 {
        let oldest = self
            .queues
            .iter()
            .filter_map(|q| q.front())
            .map(|e| e.enqueued)
            .min();
        let Some(oldest) = oldest else {
            return self.pacing_bps;
        };
        let left = self
            .config
            .max_queue_time
            .saturating_sub(now.saturating_duration_since(oldest));
        let secs = left.as_secs_f64().max(0.01);
        self.pacing_bps
            .max((self.queue_bytes as f64 * 8.0 / secs) as u64)
    }

    fn expire(&mut self, now: Instant) {
        // At the limit, not past it: `poll_timeout` names that instant, and a wakeup there
        // must make progress.
        let limit = self.config.max_queue_time;
        for q in &mut self.queues {
            while q
                .front()
                .is_some_and(|e| now.saturating_duration_since(e.enqueued) >= limit)
            {
                let e = q.pop_front().expect("front exists");
                self.queue_bytes -= e.size as u64;
                self.stats.dropped_packets += 1;
                self.stats.dropped_bytes += e.size as u64;
                self.dropped.push_back(e.item);
            }
        }
    }

    fn pop(&mut self, class: Class) -> Option<Entry<T>> {
        let e = self.queues[class as usize].pop_front()?;
        self.queue_bytes -= e.size as u64;
        self.stats.sent_packets += 1;
        self.stats.sent_bytes += e.size as u64;
        self.sent_media = true;
        Some(e)
    }

    fn charge(free_at: &mut Option<Instant>, now: Instant, size: usize, bps: u64) {
        let start = free_at.map_or(now, |t| t.max(now));
        let secs = size as f64 * 8.0 / bps.max(MIN_RATE_BPS) as f64;
        *free_at = Some(start + Duration::from_secs_f64(secs));
    }

    /// Puts back, first in its queue, a packet [`poll_send`](Self::poll_send) gave that could
    /// not be sent after all (the caller's buffer was too small for it).
    pub fn requeue(&mut self, now: Instant, item: T, size: usize, class: Class) {
        self.touch(now);
        self.queue_bytes += size as u64;
        self.stats.sent_packets = self.stats.sent_packets.saturating_sub(1);
        self.stats.sent_bytes = self.stats.sent_bytes.saturating_sub(size as u64);
        self.queues[class as usize].push_front(Entry {
            item,
            size,
            enqueued: now,
        });
    }

    /// A packet of `size` bytes left without waiting in the queue (a retransmission, sent the
    /// moment it is asked for): it uses the budget, so what is queued waits the longer.
    pub fn charge_sent(&mut self, now: Instant, size: usize) {
        self.touch(now);
        let drain = self.drain_rate(now);
        Self::charge(&mut self.media_free_at, now, size, drain);
        self.stats.sent_packets += 1;
        self.stats.sent_bytes += size as u64;
        self.sent_media = true;
    }

    /// The next packet to send now, if any is due. Call until it returns `None`.
    pub fn poll_send(&mut self, now: Instant) -> Option<Paced<T>> {
        self.touch(now);
        self.expire(now);
        let drain = self.drain_rate(now);

        if let Some(e) = self.pop(Class::Audio) {
            Self::charge(&mut self.media_free_at, now, e.size, drain);
            return Some(Paced::Packet {
                item: e.item,
                size: e.size,
                kind: PacketKind::Audio,
            });
        }

        if self.probe.is_none()
            && let Some(cluster) = self.probes.pop_front()
        {
            self.probe = Some(ActiveProbe {
                cluster,
                sent_bytes: 0,
                sent_packets: 0,
                next_at: None,
            });
        }
        if let Some(mut p) = self.probe
            && p.next_at.is_none_or(|t| t <= now)
        {
            let kind = PacketKind::Probe(p.cluster.id);
            let out = if let Some(e) = self
                .pop(Class::Retransmission)
                .or_else(|| self.pop(Class::Video))
            {
                Paced::Packet {
                    item: e.item,
                    size: e.size,
                    kind,
                }
            } else {
                let remaining = p.cluster.min_bytes.saturating_sub(p.sent_bytes) as usize;
                let size = remaining.clamp(MIN_PADDING, MAX_PADDING);
                self.stats.padding_bytes += size as u64;
                Paced::Padding { size, kind }
            };
            let size = match &out {
                Paced::Packet { size, .. } | Paced::Padding { size, .. } => *size,
            };
            self.stats.probe_packets += 1;
            p.sent_bytes += size as u64;
            p.sent_packets += 1;
            Self::charge(&mut p.next_at, now, size, p.cluster.bitrate);
            if p.sent_bytes >= p.cluster.min_bytes && p.sent_packets >= p.cluster.min_packets {
                self.stats.probe_clusters += 1;
                self.probe = None;
            } else {
                self.probe = Some(p);
            }
            return Some(out);
        }

        // While a cluster runs, media leaves in its slots, at the (higher) probe rate.
        if self.probe.is_none() && self.media_free_at.is_none_or(|t| t <= now) {
            for class in [Class::Retransmission, Class::Video] {
                if let Some(e) = self.pop(class) {
                    Self::charge(&mut self.media_free_at, now, e.size, drain);
                    let kind = match class {
                        Class::Retransmission => PacketKind::Retransmission,
                        _ => PacketKind::Video,
                    };
                    return Some(Paced::Packet {
                        item: e.item,
                        size: e.size,
                        kind,
                    });
                }
            }
        }

        if self.padding_bps > 0
            && self.sent_media
            && self.is_empty()
            && self.media_free_at.is_none_or(|t| t <= now)
            && self.padding_free_at.is_none_or(|t| t <= now)
        {
            let size = MAX_PADDING;
            Self::charge(&mut self.padding_free_at, now, size, self.padding_bps);
            Self::charge(&mut self.media_free_at, now, size, drain);
            self.stats.padding_bytes += size as u64;
            return Some(Paced::Padding {
                size,
                kind: PacketKind::Padding,
            });
        }
        None
    }

    /// When [`poll_send`](Self::poll_send) will next have something; an instant at or before
    /// the last `now` means "now". `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.last_now?;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if !self.queues[Class::Audio as usize].is_empty() {
            consider(now);
        }
        if let Some(p) = &self.probe {
            consider(p.next_at.unwrap_or(now));
        } else if !self.probes.is_empty() {
            consider(now);
        }
        let media_waiting = !self.queues[Class::Retransmission as usize].is_empty()
            || !self.queues[Class::Video as usize].is_empty();
        if media_waiting && self.probe.is_none() {
            consider(self.media_free_at.unwrap_or(now));
        }
        for q in &self.queues {
            if let Some(e) = q.front() {
                consider(e.enqueued + self.config.max_queue_time);
            }
        }
        if self.padding_bps > 0 && self.sent_media && self.is_empty() {
            let m = self.media_free_at.unwrap_or(now);
            let p = self.padding_free_at.unwrap_or(now);
            consider(m.max(p));
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bwe::ClusterId;

    fn drain(p: &mut Pacer<u32>, start: Instant, until: Duration) -> Vec<(Duration, Paced<u32>)> {
        let mut out = Vec::new();
        let mut now = start;
        loop {
            while let Some(x) = p.poll_send(now) {
                out.push((now - start, x));
            }
            match p.poll_timeout() {
                Some(t) if t > now && t - start <= until => now = t,
                Some(t) if t <= now => now += Duration::from_micros(1),
                _ => break,
            }
        }
        out
    }

    #[test]
    fn pacer_sends_audio_then_retransmissions_then_video() {
        let t0 = crate::test_clock::t0();
        let mut p = Pacer::new(PacerConfig::default());
        p.enqueue(t0, 1, 1000, Class::Video);
        p.enqueue(t0, 2, 1000, Class::Retransmission);
        p.enqueue(t0, 3, 100, Class::Audio);
        p.enqueue(t0, 4, 1000, Class::Video);
        let order: Vec<u32> = drain(&mut p, t0, Duration::from_secs(1))
            .into_iter()
            .map(|(_, x)| match x {
                Paced::Packet { item, .. } => item,
                Paced::Padding { .. } => 0,
            })
            .collect();
        assert_eq!(order, [3, 2, 1, 4]);
    }

    #[test]
    fn pacer_spreads_packets_at_the_pacing_rate() {
        let t0 = crate::test_clock::t0();
        let mut p = Pacer::new(PacerConfig::default());
        p.set_rates(1_000_000, 0);
        for i in 0..10 {
            p.enqueue(t0, i, 1250, Class::Video);
        }
        let sent = drain(&mut p, t0, Duration::from_secs(1));
        assert_eq!(sent.len(), 10);
        // 1250 bytes at 1 Mbit/s: one packet every 10 ms, exactly.
        for (i, (at, _)) in sent.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(10 * i as u64), "packet {i}");
        }
        assert_eq!(p.poll_timeout(), None, "idle once drained");
    }

    #[test]
    fn pacer_timeout_is_the_exact_next_send_time() {
        let t0 = crate::test_clock::t0();
        let mut p = Pacer::new(PacerConfig::default());
        p.set_rates(800_000, 0);
        p.enqueue(t0, 1, 1000, Class::Video);
        p.enqueue(t0, 2, 1000, Class::Video);
        assert!(p.poll_send(t0).is_some());
        assert!(p.poll_send(t0).is_none());
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(10)));
        assert!(p.poll_send(t0 + Duration::from_micros(9_999)).is_none());
        assert!(p.poll_send(t0 + Duration::from_millis(10)).is_some());
    }

    #[test]
    fn pacer_sends_a_probe_cluster_at_its_rate_from_padding() {
        let t0 = crate::test_clock::t0();
        let mut p: Pacer<u32> = Pacer::new(PacerConfig::default());
        p.set_rates(100_000, 0);
        let cluster = ProbeCluster {
            id: ClusterId(7),
            bitrate: 4_800_000,
            min_packets: 5,
            min_bytes: 6000,
        };
        p.start_probe(cluster);
        let sent = drain(&mut p, t0, Duration::from_secs(1));
        assert_eq!(sent.len(), 5);
        let mut bytes = 0;
        for (_, x) in &sent {
            match x {
                Paced::Padding { size, kind } => {
                    assert_eq!(*kind, PacketKind::Probe(ClusterId(7)));
                    bytes += size;
                }
                _ => panic!("nothing was queued"),
            }
        }
        assert_eq!(bytes, 6000);
        // 1200 bytes at 4.8 Mbit/s: 2 ms apart.
        assert_eq!(sent[4].0, Duration::from_millis(8));
        assert_eq!(p.stats().probe_clusters, 1);
    }

    #[test]
    fn pacer_uses_queued_media_for_probes() {
        let t0 = crate::test_clock::t0();
        let mut p = Pacer::new(PacerConfig::default());
        p.set_rates(100_000, 0);
        for i in 0..3 {
            p.enqueue(t0, i, 1000, Class::Video);
        }
        p.start_probe(ProbeCluster {
            id: ClusterId(1),
            bitrate: 2_000_000,
            min_packets: 5,
            min_bytes: 5000,
        });
        let sent = drain(&mut p, t0, Duration::from_secs(1));
        let kinds: Vec<_> = sent
            .iter()
            .map(|(_, x)| matches!(x, Paced::Packet { .. }))
            .collect();
        assert_eq!(kinds, [true, true, true, false, false]);
    }

    #[test]
    fn pacer_drops_and_reports_what_overflows_or_waits_too_long() {
        let t0 = crate::test_clock::t0();
        let config = PacerConfig {
            max_queue_packets: 2,
            max_queue_time: Duration::from_millis(100),
            initial_rate: 10_000,
            ..PacerConfig::default()
        };
        let mut p = Pacer::new(config);
        p.enqueue(t0, 1, 1000, Class::Video);
        p.enqueue(t0, 2, 1000, Class::Audio);
        p.enqueue(t0, 3, 1000, Class::Video);
        assert_eq!(
            p.poll_dropped(),
            Some(1),
            "queue full: the oldest video goes"
        );
        // Nobody polled for 150 ms: both waited past the limit.
        assert!(p.poll_send(t0 + Duration::from_millis(150)).is_none());
        assert_eq!(p.poll_dropped(), Some(2));
        assert_eq!(p.poll_dropped(), Some(3));
        assert_eq!(p.stats().dropped_packets, 3);
        assert_eq!(p.stats().dropped_bytes, 3000);
        assert!(p.is_empty());
    }

    #[test]
    fn pacer_speeds_up_to_drain_within_the_time_limit() {
        let t0 = crate::test_clock::t0();
        let config = PacerConfig {
            max_queue_packets: 100,
            max_queue_time: Duration::from_secs(1),
            initial_rate: 10_000,
            ..PacerConfig::default()
        };
        let mut p = Pacer::new(config);
        for i in 0..10 {
            p.enqueue(t0, i, 1000, Class::Video);
        }
        let sent = drain(&mut p, t0, Duration::from_secs(2));
        assert_eq!(sent.len(), 10);
        assert!(
            sent[9].0 < Duration::from_secs(1),
            "last at {:?}",
            sent[9].0
        );
        assert_eq!(p.stats().dropped_packets, 0);
    }

    #[test]
    fn pacer_pads_only_when_the_queue_is_empty() {
        let t0 = crate::test_clock::t0();
        let mut p = Pacer::new(PacerConfig::default());
        p.set_rates(1_000_000, 480_000);
        assert!(p.poll_send(t0).is_none(), "no padding before any media");
        p.enqueue(t0, 1, 1250, Class::Video);
        assert!(matches!(p.poll_send(t0), Some(Paced::Packet { .. })));
        let sent = drain(&mut p, t0, Duration::from_millis(100));
        assert!(sent.iter().all(|(_, x)| matches!(
            x,
            Paced::Padding {
                kind: PacketKind::Padding,
                ..
            }
        )));
        // 480 kbit/s of 1200-byte padding: 20 ms apart, starting when the budget frees at 10 ms.
        assert_eq!(
            sent.len(),
            5,
            "{:?}",
            sent.iter().map(|s| s.0).collect::<Vec<_>>()
        );
    }
}
