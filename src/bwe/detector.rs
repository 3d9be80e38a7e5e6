//! The overuse detector and its adaptive threshold (draft-ietf-rmcat-gcc-02 §5.4, §5.5, with
//! libwebrtc's constants).

/// What the delay gradient says about the bottleneck queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Usage {
    /// The queue is steady.
    #[default]
    Normal,
    /// The queue is growing: send less.
    Overusing,
    /// The queue is draining: hold, let it empty.
    Underusing,
}

/// The initial threshold, in ms of modified trend.
const INITIAL_THRESHOLD: f64 = 12.5;
/// libwebrtc's gains: the threshold rises slowly toward a larger trend and falls fast. The
/// draft's (§5.4: K_u 0.01, K_d 0.00018, rising fast and falling 55 times slower) belong to its
/// Kalman estimate; on the trendline's scale they hold the threshold above every trend: beside
/// a bulk flow (RFC 8867 §5.6) media then took 1.94 of 2 Mbit/s with 8% loss, and two media
/// flows queued 136 ms at the 95th percentile (RFC 8867 §5.2) instead of 36.
pub(crate) const K_UP: f64 = 0.0087;
pub(crate) const K_DOWN: f64 = 0.039;
/// A trend this far above the threshold is an outlier the threshold must not chase.
const MAX_ADAPT_OFFSET: f64 = 15.0;
/// draft-ietf-rmcat-gcc-02 §5.4: overuse must persist for overuse_time_th (10 ms) before it is
/// signalled.
const OVERUSE_TIME_US: i64 = 10_000;

/// The threshold gamma of draft-ietf-rmcat-gcc-02 §5.4, adapted per §5.5 so that GCC keeps its
/// share beside loss-based flows that hold a standing queue.
#[derive(Debug, Clone)]
pub(crate) struct AdaptiveThreshold {
    value: f64,
    last_update_us: Option<i64>,
}

impl Default for AdaptiveThreshold {
    fn default() -> Self {
        Self {
            value: INITIAL_THRESHOLD,
            last_update_us: None,
        }
    }
}

impl AdaptiveThreshold {
    pub(crate) fn value(&self) -> f64 {
        self.value
    }

    /// draft-ietf-rmcat-gcc-02 §5.5: gamma(t_i) = gamma(t_i-1) + (t_i - t_i-1) * K(t_i) *
    /// (|m(t_i)| - gamma(t_i-1)), with K = k_d below the threshold and k_u above.
    pub(crate) fn update(&mut self, modified_trend: f64, now_us: i64) {
        let last = *self.last_update_us.get_or_insert(now_us);
        let magnitude = modified_trend.abs();
        if magnitude > self.value + MAX_ADAPT_OFFSET {
            // A spike (a route change, a burst) would drag the threshold up for nothing.
            self.last_update_us = Some(now_us);
            return;
        }
        let k = if magnitude < self.value { K_DOWN } else { K_UP };
        // Clamp the step so a long gap in feedback does not move the threshold at once.
        let dt_ms = ((now_us - last) as f64 / 1000.0).clamp(0.0, 100.0);
        self.value += k * (magnitude - self.value) * dt_ms;
        // §5.5: gamma is clamped to [6, 600] so it can neither vanish nor grow without bound.
        self.value = self.value.clamp(6.0, 600.0);
        self.last_update_us = Some(now_us);
    }
}

/// Turns the modified trend into a [`Usage`] signal.
#[derive(Debug, Clone, Default)]
pub(crate) struct OveruseDetector {
    pub(crate) threshold: AdaptiveThreshold,
    /// Time spent above the threshold; `None` when below.
    time_over_us: Option<i64>,
    count: u32,
    prev_trend: f64,
    usage: Usage,
}

impl OveruseDetector {
    /// One group delta through the trendline filter and into [`detect`](Self::detect): the
    /// step both the send-side controller and the REMB estimator take per completed group.
    /// `arrival_ms` is the later group's arrival on whatever base the caller keeps.
    pub(crate) fn on_delta(
        &mut self,
        trendline: &mut super::trendline::Trendline,
        d: &super::arrival::GroupDelta,
        arrival_ms: f64,
    ) -> Usage {
        let modified = trendline.update(
            d.send_delta_us as f64 / 1000.0,
            d.arrival_delta_us as f64 / 1000.0,
            arrival_ms,
        );
        self.detect(
            modified,
            trendline.trend(),
            trendline.num_deltas(),
            d.send_delta_us,
            d.arrival_us,
        )
    }

    /// One detection step per group delta. `send_delta_us` is the time the step covers.
    pub(crate) fn detect(
        &mut self,
        modified_trend: f64,
        trend: f64,
        num_deltas: u32,
        send_delta_us: i64,
        now_us: i64,
    ) -> Usage {
        if num_deltas < 2 {
            return Usage::Normal;
        }
        let threshold = self.threshold.value();
        if modified_trend > threshold {
            let over = match self.time_over_us {
                None => send_delta_us / 2,
                Some(t) => t + send_delta_us,
            };
            self.time_over_us = Some(over);
            self.count += 1;
            // §5.4: overuse only once it has lasted overuse_time_th and the gradient is not
            // already falling (the queue may be draining by itself).
            if over > OVERUSE_TIME_US && self.count > 1 && trend >= self.prev_trend {
                self.time_over_us = Some(0);
                self.count = 0;
                self.usage = Usage::Overusing;
            }
        } else if modified_trend < -threshold {
            self.time_over_us = None;
            self.count = 0;
            self.usage = Usage::Underusing;
        } else {
            self.time_over_us = None;
            self.count = 0;
            self.usage = Usage::Normal;
        }
        self.prev_trend = trend;
        self.threshold.update(modified_trend, now_us);
        self.usage
    }

    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rises_slowly_toward_a_larger_trend() {
        let mut t = AdaptiveThreshold::default();
        t.update(20.0, 0);
        t.update(20.0, 100_000); // 100 ms later
        let expected = 12.5 + K_UP * (20.0 - 12.5) * 100.0;
        assert!((t.value() - expected).abs() < 1e-9, "{}", t.value());
    }

    #[test]
    fn threshold_falls_fast_below_and_stays_clamped() {
        let mut t = AdaptiveThreshold::default();
        t.update(0.0, 0);
        t.update(0.0, 10_000);
        let expected = 12.5 - K_DOWN * 12.5 * 10.0;
        assert!((t.value() - expected).abs() < 1e-9);
        for i in 2..100 {
            t.update(0.0, i * 100_000);
        }
        assert_eq!(t.value(), 6.0, "never below 6");
    }

    #[test]
    fn threshold_ignores_outliers() {
        let mut t = AdaptiveThreshold::default();
        t.update(0.0, 0);
        t.update(100.0, 50_000);
        assert_eq!(t.value(), 12.5);
    }

    #[test]
    fn overuse_needs_ten_ms_and_two_samples_above_threshold() {
        let mut d = OveruseDetector::default();
        // One sample above: not yet.
        assert_eq!(d.detect(20.0, 0.1, 10, 5_000, 0), Usage::Normal);
        // A second, but only 2.5 + 5 ms over: still not.
        assert_eq!(d.detect(20.0, 0.1, 11, 5_000, 5_000), Usage::Normal);
        // Past 10 ms with a non-falling trend: overuse.
        assert_eq!(d.detect(20.0, 0.1, 12, 5_000, 10_000), Usage::Overusing);
    }

    #[test]
    fn a_falling_trend_does_not_signal_overuse() {
        let mut d = OveruseDetector::default();
        d.detect(20.0, 0.3, 10, 20_000, 0);
        assert_eq!(d.detect(20.0, 0.2, 11, 20_000, 20_000), Usage::Normal);
    }

    #[test]
    fn a_negative_trend_is_underuse() {
        let mut d = OveruseDetector::default();
        assert_eq!(d.detect(-20.0, -0.1, 10, 5_000, 0), Usage::Underusing);
        assert_eq!(d.detect(0.0, 0.0, 11, 5_000, 5_000), Usage::Normal);
    }
}
