//! Congestion control (RFC 9260 §7.2): slow start, congestion avoidance, fast recovery.
//!
//! Choices for WebRTC, where the usual path is one long, possibly fat, UDP flow:
//!
//! - The initial window is ten MTUs (as RFC 6928 allows TCP and libwebrtc's dcsctp uses), not
//!   RFC 9260's four.
//! - Growth counts every newly acknowledged byte, by cumulative or gap ack. With loss somewhere
//!   in a window of thousands of chunks there is nearly always a hole, so counting only
//!   cumulative advances (as RFC 9260 literally says) would stall growth on long fat paths.
//!   Slow start grows by at most two MTUs per SACK (RFC 3465's L = 2).

/// Congestion window state for the single path of a WebRTC association.
#[derive(Debug, Clone)]
pub(crate) struct Congestion {
    mtu: usize,
    cwnd: usize,
    ssthresh: usize,
    partial_bytes_acked: usize,
    /// In fast recovery until the cumulative ack reaches this TSN (§7.2.4).
    recovery_until: Option<u64>,
}

impl Congestion {
    pub(crate) fn new(mtu: usize, initial_mtus: usize) -> Self {
        Self {
            mtu,
            cwnd: initial_mtus.max(1) * mtu,
            ssthresh: usize::MAX,
            partial_bytes_acked: 0,
            recovery_until: None,
        }
    }

    pub(crate) fn cwnd(&self) -> usize {
        self.cwnd
    }

    pub(crate) fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    pub(crate) fn in_recovery(&self) -> bool {
        self.recovery_until.is_some()
    }

    /// A SACK acknowledged `acked` new bytes and moved the cumulative ack to `cum_tsn`.
    /// `flight_before` is what was outstanding before the SACK.
    pub(crate) fn on_ack(&mut self, acked: usize, cum_tsn: u64, flight_before: usize) {
        if let Some(until) = self.recovery_until {
            if cum_tsn >= until {
                self.recovery_until = None;
            } else {
                // §7.2.4: no window growth while in fast recovery.
                return;
            }
        }
        if acked == 0 {
            return;
        }
        // §7.2.1 and §7.2.2 grow only while the window is in use.
        let utilised = flight_before + self.mtu >= self.cwnd;
        if self.cwnd <= self.ssthresh {
            if utilised {
                self.cwnd += acked.min(2 * self.mtu);
            }
        } else {
            self.partial_bytes_acked += acked;
            if self.partial_bytes_acked >= self.cwnd && utilised {
                self.partial_bytes_acked -= self.cwnd;
                self.cwnd += self.mtu;
            }
        }
    }

    /// Fast retransmit found loss; `highest_sent` is the highest TSN outstanding. Returns
    /// whether this started a new recovery episode (reductions happen once per window).
    pub(crate) fn on_loss(&mut self, highest_sent: u64) -> bool {
        if self.recovery_until.is_some() {
            return false;
        }
        self.ssthresh = (self.cwnd / 2).max(4 * self.mtu);
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

    #[test]
    fn slow_start_then_halving_then_linear_growth() {
        let mut c = Congestion::new(1000, 10);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(2000, 2, 10_000);
        assert_eq!(c.cwnd(), 12_000);
        c.on_ack(2000, 4, 0); // window not in use: no growth
        assert_eq!(c.cwnd(), 12_000);
        assert!(c.on_loss(100));
        assert_eq!((c.cwnd(), c.ssthresh()), (6000, 6000));
        assert!(!c.on_loss(120), "one reduction per window");
        c.on_ack(6000, 50, 6000);
        assert_eq!(c.cwnd(), 6000, "no growth in recovery");
        c.on_ack(6000, 100, 6000); // leaves recovery; cwnd == ssthresh is still slow start
        assert!(!c.in_recovery());
        assert_eq!(c.cwnd(), 8000);
        c.on_ack(6000, 110, 8000);
        assert_eq!(c.cwnd(), 8000, "avoidance: one MTU per window");
        c.on_ack(3000, 120, 8000);
        assert_eq!(c.cwnd(), 9000);
        c.on_timeout();
        assert_eq!(c.cwnd(), 1000);
    }
}
