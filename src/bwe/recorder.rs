//! The receive side: record when each packet with a transport-wide sequence number arrived,
//! and decide when to report it back.

use super::PacketResult;
use crate::wire::serial::Unwrapper16;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The recorder's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Report this often while packets arrive (libwebrtc: 50 to 250 ms; RFC 8888 §3.1 suggests
    /// about once per frame or per RTT).
    pub interval: Duration,
    /// At most this many results in one report; a longer span is reported from its newest end.
    pub max_results: usize,
    /// Arrivals are kept this long, so a packet that arrives late (after it was reported lost)
    /// is reported again as received.
    pub history: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(50),
            max_results: 1024,
            history: Duration::from_millis(500),
        }
    }
}

/// One report: consecutive sequence numbers, each received (with its arrival time) or lost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Feedback {
    /// In sequence order, without gaps.
    pub packets: Vec<PacketResult>,
    /// Counts reports: TWCC's feedback packet count.
    pub count: u64,
}

/// Collects (sequence, arrival) pairs and emits [`Feedback`] every interval or on request.
///
/// Arrival times are measured from the first packet the recorder saw: the sender only needs
/// differences.
#[derive(Debug, Default)]
pub struct FeedbackRecorder {
    config: RecorderConfig,
    unwrapper: Unwrapper16,
    epoch: Option<Instant>,
    /// Arrivals by transport-wide sequence number, sorted and unique: packets come nearly in
    /// order, so an arrival is almost always a push at the back, and the deque's capacity stops
    /// growing at its bound (no allocation per packet, as a tree's nodes would cost).
    arrivals: VecDeque<(u64, Duration)>,
    /// The first sequence number not yet reported.
    next_unreported: Option<u64>,
    /// The lowest sequence number that arrived late, below `next_unreported`.
    late: Option<u64>,
    due: Option<Instant>,
    requested: bool,
    count: u64,
}

impl FeedbackRecorder {
    /// A recorder with this configuration.
    pub fn new(config: RecorderConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// A packet carrying the 16-bit transport-wide sequence number `seq` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16) {
        let seq = self.unwrapper.unwrap(seq);
        self.on_packet_unwrapped(now, seq);
    }

    /// As [`on_packet`](Self::on_packet) with a sequence number already extended to 64 bits.
    pub fn on_packet_unwrapped(&mut self, now: Instant, seq: u64) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = now.saturating_duration_since(epoch);
        let window = self.config.max_results as u64;
        match self.next_unreported {
            Some(next) if seq < next => {
                if next - seq > window {
                    return; // far too old to matter
                }
                self.late = Some(self.late.map_or(seq, |l| l.min(seq)));
            }
            Some(next) if seq - next > 4 * window => {
                // A jump far ahead: the sender restarted its numbering. Start again there.
                self.arrivals.clear();
                self.late = None;
                self.next_unreported = Some(seq);
            }
            None => self.next_unreported = Some(seq),
            _ => {}
        }
        // Packets mostly arrive in order: append without searching.
        if self.arrivals.back().is_none_or(|a| a.0 < seq) {
            self.arrivals.push_back((seq, arrival));
        } else if let Err(i) = self.arrivals.binary_search_by_key(&seq, |a| a.0) {
            self.arrivals.insert(i, (seq, arrival));
        }
        // Keep memory bounded: old arrivals, and never more than a few reports' worth.
        let keep_after = arrival.saturating_sub(self.config.history);
        while let Some(&(s, t)) = self.arrivals.front() {
            let reported = self.next_unreported.is_some_and(|n| s < n);
            if (reported && t < keep_after) || self.arrivals.len() > 4 * self.config.max_results {
                self.arrivals.pop_front();
            } else {
                break;
            }
        }
        if self.due.is_none() {
            self.due = Some(now + self.config.interval);
        }
    }

    /// Asks for a report at the next [`poll_feedback`](Self::poll_feedback), whatever the
    /// interval says (RFC 8888 and TWCC both allow extra reports, e.g. on a marker bit).
    pub fn request(&mut self) {
        self.requested = true;
    }

    /// When a report is next due; `None` when nothing waits to be reported.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.requested && self.has_pending() {
            return self.epoch.map(|e| e.max(self.due.unwrap_or(e)));
        }
        self.due
    }

    fn has_pending(&self) -> bool {
        let Some(next) = self.next_unreported else {
            return false;
        };
        self.late.is_some() || self.arrivals.back().is_some_and(|a| a.0 >= next)
    }

    /// The next report, if one is due at `now`.
    pub fn poll_feedback(&mut self, now: Instant) -> Option<Feedback> {
        let due = self.requested || self.due.is_some_and(|d| d <= now);
        if !due || !self.has_pending() {
            if self.due.is_some_and(|d| d <= now) {
                self.due = None;
            }
            return None;
        }
        self.requested = false;
        let next = self.next_unreported?;
        let &(last, _) = self.arrivals.back()?;
        let mut first = self.late.unwrap_or(next).min(next);
        let end = last.max(next.saturating_sub(1));
        let max = self.config.max_results as u64;
        if end - first + 1 > max {
            first = end + 1 - max;
        }
        let mut packets = Vec::with_capacity((end - first + 1) as usize);
        let from = self.arrivals.partition_point(|a| a.0 < first);
        let mut known = self
            .arrivals
            .range(from..)
            .take_while(|a| a.0 <= end)
            .peekable();
        for seq in first..=end {
            let arrival = match known.peek() {
                Some(&&(s, t)) if s == seq => {
                    known.next();
                    Some(t)
                }
                _ => None,
            };
            packets.push(PacketResult { seq, arrival });
        }
        self.next_unreported = Some(end + 1);
        self.late = None;
        self.count += 1;
        self.due = Some(now + self.config.interval);
        Some(Feedback {
            packets,
            count: self.count - 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn recorder_reports_each_interval_with_losses_as_gaps() {
        let t0 = crate::test_clock::t0();
        let mut r = FeedbackRecorder::default();
        r.on_packet(t0, 10);
        r.on_packet(t0 + ms(5), 11);
        r.on_packet(t0 + ms(15), 13);
        assert_eq!(r.poll_timeout(), Some(t0 + ms(50)));
        assert!(r.poll_feedback(t0 + ms(49)).is_none());
        let f = r.poll_feedback(t0 + ms(50)).unwrap();
        assert_eq!(
            f.packets,
            [
                PacketResult {
                    seq: 10,
                    arrival: Some(ms(0))
                },
                PacketResult {
                    seq: 11,
                    arrival: Some(ms(5))
                },
                PacketResult {
                    seq: 12,
                    arrival: None
                },
                PacketResult {
                    seq: 13,
                    arrival: Some(ms(15))
                },
            ]
        );
        assert!(r.poll_feedback(t0 + ms(100)).is_none(), "nothing new");
        assert_eq!(r.poll_timeout(), None, "idle");
    }

    #[test]
    fn recorder_unwraps_the_16_bit_sequence() {
        let t0 = crate::test_clock::t0();
        let mut r = FeedbackRecorder::default();
        r.on_packet(t0, 65534);
        r.on_packet(t0, 65535);
        r.on_packet(t0, 0);
        r.on_packet(t0, 1);
        r.request();
        let f = r.poll_feedback(t0).unwrap();
        let seqs: Vec<u64> = f.packets.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [65534, 65535, 65536, 65537]);
    }

    #[test]
    fn recorder_reports_a_late_packet_again_as_received() {
        let t0 = crate::test_clock::t0();
        let mut r = FeedbackRecorder::default();
        r.on_packet(t0, 1);
        r.on_packet(t0, 3);
        let f = r.poll_feedback(t0 + ms(50)).unwrap();
        assert_eq!(
            f.packets[1],
            PacketResult {
                seq: 2,
                arrival: None
            }
        );
        r.on_packet(t0 + ms(60), 2);
        r.on_packet(t0 + ms(61), 4);
        let f = r.poll_feedback(t0 + ms(100)).unwrap();
        let got: Vec<_> = f
            .packets
            .iter()
            .map(|p| (p.seq, p.arrival.is_some()))
            .collect();
        assert_eq!(got, [(2, true), (3, true), (4, true)]);
        assert_eq!(f.count, 1);
    }

    #[test]
    fn recorder_memory_stays_bounded_under_any_sequence() {
        let t0 = crate::test_clock::t0();
        let mut r = FeedbackRecorder::new(RecorderConfig {
            max_results: 64,
            ..RecorderConfig::default()
        });
        let mut seq = 0u16;
        for i in 0..20_000u64 {
            seq = seq.wrapping_add((i % 7) as u16 * 3000);
            r.on_packet(t0 + Duration::from_micros(i), seq);
            if i % 100 == 0
                && let Some(f) = r.poll_feedback(t0 + Duration::from_micros(i) + ms(50))
            {
                assert!(f.packets.len() <= 64);
            }
            assert!(r.arrivals.len() <= 4 * 64 + 1);
        }
    }
}
