//! Retransmission timeout estimation (RFC 9260 §6.3.1).

use std::time::Duration;

/// SRTT, RTTVAR and RTO per RFC 9260 §6.3.1, with configurable bounds.
#[derive(Debug, Clone)]
pub(crate) struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        Self {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            min,
            max,
        }
    }

    /// Feeds one RTT measurement (Karn's rule is the caller's: never from a retransmitted chunk).
    pub(crate) fn sample(&mut self, r: Duration) {
        match self.srtt {
            // C1: the first measurement.
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            // C2: RTO.Alpha = 1/8, RTO.Beta = 1/4.
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        // C3: RTO = SRTT + 4 * RTTVAR, then the bounds (C6, C7).
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + self.rttvar * 4).clamp(self.min, self.max);
    }

    /// E2 / rule C5 of §6.3.3: doubles the RTO after a timeout, up to the maximum.
    pub(crate) fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(self.max);
    }

    pub(crate) fn rto(&self) -> Duration {
        self.rto
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn follows_rfc_9260_6_3_1() {
        let mut r = Rto::new(1000 * MS, 100 * MS, 60_000 * MS);
        assert_eq!(r.rto(), 1000 * MS);
        r.sample(200 * MS);
        // SRTT = 200, RTTVAR = 100, RTO = 600.
        assert_eq!(r.rto(), 600 * MS);
        r.sample(200 * MS);
        // RTTVAR = 75, SRTT = 200, RTO = 500.
        assert_eq!(r.rto(), 500 * MS);
        r.back_off();
        assert_eq!(r.rto(), 1000 * MS);
    }

    #[test]
    fn bounds_apply() {
        let mut r = Rto::new(500 * MS, 200 * MS, 1000 * MS);
        r.sample(MS);
        assert_eq!(r.rto(), 200 * MS);
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto(), 1000 * MS);
    }
}
