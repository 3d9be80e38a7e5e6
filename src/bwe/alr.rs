//! Application-limited region detection: the sender uses much less than its target (a static
//! screen, a paused camera), so feedback says nothing about the link above what it sends.

/// The share of the target the sender must use to count as not application-limited.
const USAGE_RATIO: f64 = 0.65;
/// The budget window.
const WINDOW_US: i64 = 500_000;
/// Enter ALR when the unused budget exceeds this share of the window; leave below the second.
const START_RATIO: f64 = 0.80;
const STOP_RATIO: f64 = 0.50;

/// A leaky budget filled at 65% of the target and drained by what is sent.
#[derive(Debug, Default)]
pub(crate) struct AlrDetector {
    budget_bytes: f64,
    last_us: Option<i64>,
    in_alr: bool,
}

impl AlrDetector {
    fn elapse(&mut self, now_us: i64, target_bps: u64) -> f64 {
        let max = target_bps as f64 * USAGE_RATIO / 8.0 * (WINDOW_US as f64 / 1e6);
        let dt = (now_us - self.last_us.unwrap_or(now_us)).clamp(0, WINDOW_US);
        self.last_us = Some(now_us);
        self.budget_bytes += target_bps as f64 * USAGE_RATIO / 8.0 * dt as f64 / 1e6;
        max
    }

    fn settle(&mut self, max: f64) {
        self.budget_bytes = self.budget_bytes.clamp(-max, max);
        let ratio = if max > 0.0 {
            self.budget_bytes / max
        } else {
            0.0
        };
        if ratio > START_RATIO {
            self.in_alr = true;
        } else if ratio < STOP_RATIO {
            self.in_alr = false;
        }
    }

    /// Media was sent (padding and probes are not media and do not count).
    pub(crate) fn on_sent(&mut self, now_us: i64, size: u64, target_bps: u64) {
        let max = self.elapse(now_us, target_bps);
        self.budget_bytes -= size as f64;
        self.settle(max);
    }

    /// Time passed with nothing sent.
    pub(crate) fn on_tick(&mut self, now_us: i64, target_bps: u64) {
        if self.last_us.is_none() {
            return;
        }
        let max = self.elapse(now_us, target_bps);
        self.settle(max);
    }

    pub(crate) fn in_alr(&self) -> bool {
        self.in_alr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_at_the_target_is_not_application_limited() {
        let mut a = AlrDetector::default();
        // 1 Mbit/s target, 1200 bytes every 9.6 ms.
        for i in 0..500 {
            a.on_sent(i * 9_600, 1200, 1_000_000);
        }
        assert!(!a.in_alr());
    }

    #[test]
    fn sending_a_third_of_the_target_is_application_limited_and_recovers() {
        let mut a = AlrDetector::default();
        for i in 0..300 {
            a.on_sent(i * 30_000, 1200, 1_000_000);
        }
        assert!(a.in_alr());
        let base = 300 * 30_000;
        for i in 0..200 {
            a.on_sent(base + i * 5_000, 1200, 1_000_000);
        }
        assert!(!a.in_alr());
    }
}
