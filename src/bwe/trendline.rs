//! The trendline filter: the slope of the accumulated one-way delay variation over a window of
//! arrival-time groups, as libwebrtc estimates the delay gradient today (draft-ietf-rmcat-gcc-02
//! §5.3 describes a Kalman filter for the same quantity; the trendline replaced it).

use std::collections::VecDeque;

/// Groups in the regression window.
pub(crate) const WINDOW: usize = 20;
/// Exponential smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// Scales the slope into the detector's units (ms of modified trend).
const GAIN: f64 = 4.0;
/// The slope is weighted by how many deltas stand behind it, up to this many.
const MAX_DELTAS: u32 = 60;

/// Accumulates delay variation and fits a line through the last [`WINDOW`] points.
#[derive(Debug)]
pub(crate) struct Trendline {
    points: VecDeque<(f64, f64)>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    first_arrival_ms: Option<f64>,
    num_deltas: u32,
    trend: f64,
}

impl Default for Trendline {
    fn default() -> Self {
        Self {
            points: VecDeque::with_capacity(WINDOW + 1),
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            first_arrival_ms: None,
            num_deltas: 0,
            trend: 0.0,
        }
    }
}

impl Trendline {
    /// Adds one group delta; returns the modified trend (slope x deltas x gain) the detector
    /// compares with its threshold. Until the window fills, the last trend (0) stands.
    pub(crate) fn update(
        &mut self,
        send_delta_ms: f64,
        arrival_delta_ms: f64,
        arrival_ms: f64,
    ) -> f64 {
        let variation = arrival_delta_ms - send_delta_ms;
        self.num_deltas = (self.num_deltas + 1).min(1000);
        self.accumulated_ms += variation;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let first = *self.first_arrival_ms.get_or_insert(arrival_ms);
        self.points
            .push_back((arrival_ms - first, self.smoothed_ms));
        if self.points.len() > WINDOW {
            self.points.pop_front();
        }
        if self.points.len() == WINDOW
            && let Some(slope) = slope(&self.points)
        {
            self.trend = slope;
        }
        self.modified_trend()
    }

    /// The trend scaled as the detector wants it.
    pub(crate) fn modified_trend(&self) -> f64 {
        f64::from(self.num_deltas.min(MAX_DELTAS)) * self.trend * GAIN
    }

    /// The raw slope (ms of delay per ms of time).
    pub(crate) fn trend(&self) -> f64 {
        self.trend
    }

    pub(crate) fn num_deltas(&self) -> u32 {
        self.num_deltas
    }
}

/// Least-squares slope of y over x; `None` when all x are equal.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), &(x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den != 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds groups every 20 ms whose arrival spacing exceeds the send spacing by `extra_ms`.
    fn ramp(extra_ms: f64, groups: usize) -> Trendline {
        let mut t = Trendline::default();
        let mut arrival = 0.0;
        for _ in 0..groups {
            arrival += 20.0 + extra_ms;
            t.update(20.0, 20.0 + extra_ms, arrival);
        }
        t
    }

    #[test]
    fn trendline_slope_is_zero_on_a_flat_delay() {
        let t = ramp(0.0, 40);
        assert!(t.trend().abs() < 1e-9);
        assert_eq!(t.modified_trend(), 0.0);
    }

    #[test]
    fn trendline_follows_a_growing_queue() {
        // Each group arrives 2 ms later than sent spacing: the queue grows 2 ms per 22 ms.
        let t = ramp(2.0, 60);
        let expected = 2.0 / 22.0;
        assert!((t.trend() - expected).abs() < 0.02, "slope {}", t.trend());
        assert!(t.modified_trend() > 12.5, "well over the initial threshold");
    }

    #[test]
    fn trendline_goes_negative_as_a_queue_drains() {
        let t = ramp(-2.0, 60);
        assert!(t.trend() < -0.05);
    }

    #[test]
    fn trendline_waits_for_a_full_window() {
        let t = ramp(5.0, WINDOW - 1);
        assert_eq!(t.trend(), 0.0);
        let t = ramp(5.0, WINDOW);
        assert!(t.trend() > 0.0);
    }
}
