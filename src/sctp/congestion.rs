//! Congestion control: RFC 9260 §7.2's window machinery (slow start, congestion avoidance,
//! fast recovery, the T3 collapse), with the loss response made fit for long, fat, lossy
//! WebRTC paths.
//!
//! A plain loss-driven window halves on every loss, so one random loss per few thousand
//! packets caps throughput at MSS/RTT·1.22/√p (Mathis): about 7 Mbit/s at 50 ms and 0.1%
//! loss, whatever the link. That is why Pion's SCTP falls from 850 to 17 Mbit/s with distance.
//! Here a loss reduces the window only when it looks like congestion:
//!
//! - the path is queueing: this round's minimum RTT exceeds the path's minimum by
//!   `clamp(min_rtt / 8, 4 ms, 16 ms)` (HyStart++'s threshold, RFC 9406), or
//! - losses exceed 2% of the round's chunks (BBRv2's loss threshold), so a shallow buffer
//!   that drops before delay builds, or heavy loss of any kind, still backs off.
//!
//! In slow start, whose own bursts build short queues, only heavy loss counts.
//!
//! On congestion the window drops to the measured bandwidth-delay product, the highest
//! delivery rate of recent rounds times the minimum RTT (TCP Westwood+), clamped between four
//! MTUs and 85% of the window: a standing queue drains while the pipe stays full. Random loss
//! on an uncongested path just causes a retransmission. In congestion avoidance the window
//! grows additively while the path queues, and by about 25% per round trip while it does not
//! (HyStart++'s conservative slow start), so a window cut by a loss that was not congestion
//! after all refills in a few round trips.
//!
//! Other choices: the initial window is ten MTUs (as RFC 6928 allows TCP and dcsctp uses);
//! growth counts bytes newly acknowledged by cumulative *or* gap acks (with a hole somewhere
//! in a window of thousands of chunks the cumulative ack barely moves); slow start grows by up
//! to two MTUs per SACK (RFC 3465's L = 2) and ends when queueing delay appears (HyStart++)
//! rather than waiting for the queue to overflow. T3 expiry still collapses the window to one
//! MTU, as RFC 9260 requires.

use std::time::{Duration, Instant};

/// Loss fraction of a round above which loss alone means congestion.
const LOSS_THRESHOLD_PERCENT: usize = 2;
/// RTT samples a round needs before its minimum says anything (RFC 9406 N_RTT_SAMPLE).
const ROUND_SAMPLES: u32 = 8;
/// Rounds of delivery rate kept for the bandwidth estimate.
const BW_ROUNDS: usize = 4;

/// Per-round measurements (a round ends when the cumulative ack passes what was outstanding
/// when it began).
#[derive(Debug, Clone)]
struct Round {
    end_tsn: u64,
    start: Option<Instant>,
    delivered_bytes: usize,
    delivered_chunks: usize,
    lost_chunks: usize,
    min_rtt: Option<Duration>,
    samples: u32,
}

impl Round {
    fn new(end_tsn: u64, start: Instant) -> Self {
        Self {
            end_tsn,
            start: Some(start),
            delivered_bytes: 0,
            delivered_chunks: 0,
            lost_chunks: 0,
            min_rtt: None,
            samples: 0,
        }
    }
}

/// Congestion window state for the single path of a WebRTC association.
#[derive(Debug, Clone)]
pub(crate) struct Congestion {
    mtu: usize,
    cwnd: usize,
    ssthresh: usize,
    partial_bytes_acked: usize,
    /// In fast recovery until the cumulative ack reaches this TSN (§7.2.4).
    recovery_until: Option<u64>,
    round: Round,
    prev_delivered_chunks: usize,
    last_round_min_rtt: Option<Duration>,
    min_rtt: Option<Duration>,
    /// Delivery rates (bytes per second) of the last rounds.
    rates: [f64; BW_ROUNDS],
    rate_idx: usize,
}

fn eta(min_rtt: Duration) -> Duration {
    (min_rtt / 8).clamp(Duration::from_millis(1), Duration::from_millis(16))
}

impl Congestion {
    pub(crate) fn new(mtu: usize, initial_mtus: usize) -> Self {
        Self {
            mtu,
            cwnd: initial_mtus.max(1) * mtu,
            ssthresh: usize::MAX,
            partial_bytes_acked: 0,
            recovery_until: None,
            round: Round {
                end_tsn: 0,
                start: None,
                delivered_bytes: 0,
                delivered_chunks: 0,
                lost_chunks: 0,
                min_rtt: None,
                samples: 0,
            },
            prev_delivered_chunks: 0,
            last_round_min_rtt: None,
            min_rtt: None,
            rates: [0.0; BW_ROUNDS],
            rate_idx: 0,
        }
    }

    pub(crate) fn cwnd(&self) -> usize {
        self.cwnd
    }

    /// Estimated bandwidth-delay product in bytes, if measured.
    fn bdp(&self) -> Option<usize> {
        let bw = self.rates.iter().copied().fold(0.0, f64::max);
        let rtt = self.min_rtt?;
        (bw > 0.0).then_some((bw * rtt.as_secs_f64()) as usize)
    }

    /// A SACK acknowledged `acked` new bytes in `chunks` chunks and moved the cumulative ack to
    /// `cum_tsn`; `highest_sent` is the highest TSN sent so far and `flight_before` what was
    /// outstanding before the SACK.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        acked: usize,
        chunks: usize,
        cum_tsn: u64,
        highest_sent: u64,
        flight_before: usize,
        rtt: Option<Duration>,
    ) {
        if let Some(r) = rtt {
            self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
            self.round.min_rtt = Some(self.round.min_rtt.map_or(r, |m| m.min(r)));
            self.round.samples += 1;
        }
        self.round.delivered_bytes += acked;
        self.round.delivered_chunks += chunks;
        if cum_tsn >= self.round.end_tsn {
            self.next_round(now, highest_sent);
        }
        if let Some(until) = self.recovery_until {
            if cum_tsn >= until {
                self.recovery_until = None;
            } else {
                // §7.2.4: no window growth while in fast recovery.
                return;
            }
        }
        let queueing = self.queueing();
        if self.cwnd <= self.ssthresh && queueing == Some(true) {
            // HyStart++: delay is building, so the pipe is full; leave slow start.
            self.ssthresh = self.cwnd;
        }
        // §7.2.1 and §7.2.2 grow only while the window is in use.
        if acked == 0 || flight_before + self.mtu < self.cwnd {
            return;
        }
        if self.cwnd <= self.ssthresh {
            self.cwnd += acked.min(2 * self.mtu);
        } else if queueing == Some(false) {
            // No queue on the path: the pipe is not full, whatever the last loss said. Grow
            // by a quarter of slow start (HyStart++'s conservative slow start), about 25%
            // per round trip, so a window cut by a random loss refills in a few round trips
            // instead of the thousands additive increase needs on a long fat path.
            self.cwnd += acked.min(2 * self.mtu) / 4;
        } else {
            self.partial_bytes_acked += acked;
            if self.partial_bytes_acked >= self.cwnd {
                self.partial_bytes_acked -= self.cwnd;
                self.cwnd += self.mtu;
            }
        }
    }

    fn next_round(&mut self, now: Instant, highest_sent: u64) {
        if let Some(start) = self.round.start {
            let secs = now.saturating_duration_since(start).as_secs_f64();
            if secs > 0.0 && self.round.delivered_bytes > 0 {
                self.rates[self.rate_idx] = self.round.delivered_bytes as f64 / secs;
                self.rate_idx = (self.rate_idx + 1) % BW_ROUNDS;
            }
        }
        if self.round.samples >= ROUND_SAMPLES {
            self.last_round_min_rtt = self.round.min_rtt;
        }
        self.prev_delivered_chunks = self.round.delivered_chunks;
        self.round = Round::new(highest_sent, now);
    }

    /// Whether the path is queueing: the minimum RTT of this round (or of the last one, until
    /// this one has enough samples) against the path's minimum. `None` before any measure.
    fn queueing(&self) -> Option<bool> {
        let min = self.min_rtt?;
        let round = if self.round.samples >= ROUND_SAMPLES {
            self.round.min_rtt
        } else {
            self.last_round_min_rtt
        }?;
        Some(round >= min + eta(min))
    }

    /// Fast retransmit found `lost` chunks lost; `highest_sent` is the highest TSN sent.
    /// Returns whether this was taken as congestion and started a recovery episode.
    pub(crate) fn on_loss(&mut self, lost: usize, highest_sent: u64) -> bool {
        self.round.lost_chunks += lost;
        if self.recovery_until.is_some() {
            return false;
        }
        let chunks =
            self.round.delivered_chunks.max(self.prev_delivered_chunks) + self.round.lost_chunks;
        let heavy = self.round.lost_chunks * 100 > LOSS_THRESHOLD_PERCENT * chunks;
        // In slow start the window's own bursts build short queues; only heavy loss counts.
        let slow_start = self.cwnd < self.ssthresh;
        if !heavy && (slow_start || self.queueing() != Some(true)) {
            return false;
        }
        let ceiling = self.cwnd * 85 / 100;
        let target = self.bdp().unwrap_or(self.cwnd / 2);
        self.ssthresh = target.min(ceiling).max(4 * self.mtu);
        self.cwnd = self.ssthresh;
        self.partial_bytes_acked = 0;
        self.recovery_until = Some(highest_sent);
        true
    }

    /// T3-rtx expired (§7.2.3).
    pub(crate) fn on_timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(4 * self.mtu);
        self.cwnd = self.mtu;
        self.partial_bytes_acked = 0;
        self.recovery_until = None;
    }

    /// The sender was idle for an RTO (§7.2.1: cwnd decays to its initial size at most).
    pub(crate) fn on_idle(&mut self, initial_mtus: usize) {
        self.cwnd = self.cwnd.min(initial_mtus * self.mtu).max(self.mtu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn slow_start_grows_and_random_loss_does_not_cut_the_window() {
        let t0 = crate::test_clock::t0();
        let mut c = Congestion::new(1000, 10);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(t0, 2000, 2, 2, 10, 10_000, Some(50 * MS));
        assert_eq!(c.cwnd(), 12_000);
        c.on_ack(t0, 2000, 2, 4, 10, 0, Some(50 * MS)); // window not in use: no growth
        assert_eq!(c.cwnd(), 12_000);
        // One loss among many deliveries at the minimum RTT: not congestion.
        for i in 0..100 {
            c.on_ack(
                t0 + MS * i,
                1000,
                1,
                5 + u64::from(i),
                200,
                12_000,
                Some(50 * MS),
            );
        }
        let before = c.cwnd();
        assert!(!c.on_loss(1, 300));
        assert_eq!(c.cwnd(), before);
    }

    #[test]
    fn loss_with_queueing_delay_drops_to_the_measured_bdp() {
        let t0 = crate::test_clock::t0();
        let mut c = Congestion::new(1000, 10);
        // Round 1: 100 kB in 50 ms at the minimum RTT: 2 MB/s, BDP 100 kB.
        c.on_ack(t0, 0, 0, 0, 100, 0, Some(50 * MS));
        for i in 1..=100u64 {
            c.on_ack(
                t0 + MS * (i as u32) / 2,
                1000,
                1,
                i,
                200,
                200_000,
                Some(50 * MS),
            );
        }
        c.cwnd = 200_000;
        // Round 2: the queue has built up to 80 ms of RTT.
        for i in 101..=120u64 {
            c.on_ack(t0 + MS * 60, 1000, 1, i, 300, 200_000, Some(80 * MS));
        }
        assert!(c.on_loss(1, 300));
        assert!((90_000..=110_000).contains(&c.cwnd()), "{}", c.cwnd());
        assert!(!c.on_loss(1, 310), "one reduction per recovery episode");
    }

    #[test]
    fn heavy_loss_backs_off_even_without_delay() {
        let t0 = crate::test_clock::t0();
        let mut c = Congestion::new(1000, 10);
        for i in 0..20u64 {
            c.on_ack(t0, 1000, 1, i, 100, 10_000, Some(50 * MS));
        }
        let before = c.cwnd();
        assert!(c.on_loss(5, 100));
        assert!(c.cwnd() <= before * 7 / 10);
        c.on_timeout();
        assert_eq!(c.cwnd(), 1000);
    }
}
