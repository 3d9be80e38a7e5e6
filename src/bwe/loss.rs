//! Loss-based control (draft-ietf-rmcat-gcc-02 §6): a limit that falls when more than 10% of
//! packets are lost and grows again below 2%.

/// Loss is judged over at least this many packets and this much time.
const MIN_PACKETS: u32 = 50;
const MIN_WINDOW_US: i64 = 500_000;
/// The inherent (random, non-congestion) loss is the lowest of this many recent windows.
const INHERENT_WINDOWS: usize = 10;
const MAX_INHERENT: f64 = 0.05;
/// §6: above 10% loss, decrease; below 2%, increase.
const HIGH_LOSS: f64 = 0.10;
const LOW_LOSS: f64 = 0.02;
/// libwebrtc: decrease at most once per 300 ms plus a round trip.
const DECREASE_INTERVAL_US: i64 = 300_000;

/// What one loss window concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LossAction {
    None,
    Decreased,
    Increased,
}

#[derive(Debug, Default)]
pub(crate) struct LossControl {
    limit: Option<f64>,
    lost: u32,
    total: u32,
    window_start_us: Option<i64>,
    last_decrease_us: Option<i64>,
    last_fraction: f64,
    recent: std::collections::VecDeque<f64>,
}

impl LossControl {
    /// The current loss-based limit, if loss has imposed one.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit.map(|l| l as u64)
    }

    pub(crate) fn last_fraction(&self) -> f64 {
        self.last_fraction
    }

    /// Counts one feedback's received and newly lost packets; at the end of a window applies
    /// §6. `current` is the target in force; `delay_based` the delay-based estimate.
    pub(crate) fn on_feedback(
        &mut self,
        now_us: i64,
        received: u32,
        lost: u32,
        current: u64,
        delay_based: u64,
        rtt_us: i64,
    ) -> LossAction {
        let start = *self.window_start_us.get_or_insert(now_us);
        self.lost += lost;
        self.total += received + lost;
        if self.total < MIN_PACKETS || now_us - start < MIN_WINDOW_US {
            return LossAction::None;
        }
        let p = f64::from(self.lost) / f64::from(self.total);
        // A path that loses packets whatever the rate (radio, a lossy hop) is not congested:
        // judge the loss above the lowest recent window's, as libwebrtc's newer loss-based
        // estimator separates inherent loss from loss that grows with the rate.
        if self.recent.len() == INHERENT_WINDOWS {
            self.recent.pop_front();
        }
        self.recent.push_back(p);
        let inherent = if self.recent.len() >= 3 {
            // Capped: loss above this is never taken as the path's nature.
            self.recent
                .iter()
                .copied()
                .fold(1.0, f64::min)
                .min(MAX_INHERENT)
        } else {
            0.0
        };
        let excess = p - inherent;
        let dt_s = ((now_us - start) as f64 / 1e6).min(1.0);
        self.last_fraction = p;
        self.lost = 0;
        self.total = 0;
        self.window_start_us = Some(now_us);
        if excess > HIGH_LOSS {
            let due = self
                .last_decrease_us
                .is_none_or(|t| now_us - t >= DECREASE_INTERVAL_US + rtt_us);
            if !due {
                return LossAction::None;
            }
            // §6: As(tk) = As(tk-1) * (1 - 0.5 p), with the excess loss as p.
            let base = self.limit.unwrap_or(current as f64).min(current as f64);
            self.limit = Some(base * (1.0 - 0.5 * excess));
            self.last_decrease_us = Some(now_us);
            LossAction::Decreased
        } else if p < LOW_LOSS || excess < LOW_LOSS {
            let Some(limit) = self.limit else {
                return LossAction::None;
            };
            // §6: As(tk) = 1.05 * As(tk-1), here as libwebrtc's 8% per second plus 1 kbit/s.
            let grown = limit * 1.08f64.powf(dt_s) + 1000.0 * dt_s;
            self.limit = if grown >= delay_based as f64 {
                None
            } else {
                Some(grown)
            };
            LossAction::Increased
        } else {
            LossAction::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_above_ten_percent_cuts_by_half_the_loss() {
        let mut l = LossControl::default();
        l.on_feedback(0, 80, 0, 1_000_000, 1_000_000, 100_000);
        let a = l.on_feedback(600_000, 80, 20, 1_000_000, 1_000_000, 100_000);
        assert_eq!(a, LossAction::Decreased);
        // 20 lost of 180: p = 0.111, limit = 1 Mbit/s * (1 - 0.0556)
        let expected = 1_000_000.0 * (1.0 - 0.5 * 20.0 / 180.0);
        assert!((l.limit().unwrap() as f64 - expected).abs() < 2.0);
    }

    #[test]
    fn moderate_loss_holds_and_low_loss_lifts_the_limit() {
        let mut l = LossControl::default();
        l.on_feedback(0, 50, 50, 1_000_000, 1_000_000, 0);
        l.on_feedback(600_000, 0, 0, 1_000_000, 1_000_000, 0);
        let limit = l.limit().unwrap();
        assert!(limit < 1_000_000);
        // 5%: hold.
        l.on_feedback(1_200_000, 95, 5, limit, 1_000_000, 0);
        assert_eq!(l.limit(), Some(limit));
        // No loss: grows, and once past the delay-based estimate the limit goes away.
        for i in 0..20 {
            l.on_feedback(2_000_000 + i * 1_000_000, 100, 0, limit, 1_000_000, 0);
        }
        assert_eq!(l.limit(), None);
    }

    #[test]
    fn steady_random_loss_is_not_taken_for_congestion() {
        let mut l = LossControl::default();
        let mut t = 0;
        // Windows with 4%, 6%, 5%, then a 13% one by chance: 13 - 4 is under 10, no cut.
        for lost in [4, 6, 5, 5, 13] {
            t += 600_000;
            assert_ne!(
                l.on_feedback(t, 100 - lost, lost, 1_000_000, 1_000_000, 0),
                LossAction::Decreased
            );
        }
        assert_eq!(l.limit(), None);
    }
}
