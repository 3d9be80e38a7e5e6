//! The acknowledged bitrate: what the receiver actually got, over a sliding window of arrival
//! times (draft-ietf-rmcat-gcc-02 §5.5's R_hat, measured from feedback at the sender).

use std::collections::VecDeque;

/// draft-ietf-rmcat-gcc-02 §5.5: R_hat is measured over the last 500 ms.
const WINDOW_US: i64 = 500_000;
/// Below this much history the rate is too noisy to use.
const MIN_SPAN_US: i64 = 150_000;

#[derive(Debug, Default)]
pub(crate) struct AckedBitrate {
    packets: VecDeque<(i64, u64)>,
    bytes: u64,
    first_us: Option<i64>,
    latest_us: i64,
}

impl AckedBitrate {
    /// One packet the receiver reported, with its arrival time on the receiver's clock.
    #[inline(always)]
    pub(crate) fn on_acked(&mut self, arrival_us: i64, size: u64) {
        let first = *self.first_us.get_or_insert(arrival_us);
        if arrival_us < first {
            return;
        }
        self.bytes += size;
        // Packets of one receive batch share their arrival: one entry holds them all (the
        // window drops them together), so the window grows per instant, not per packet. The
        // latest arrival, at least that entry's, stays, and with it what the window holds.
        if let Some((t, s)) = self.packets.back_mut()
            && *t == arrival_us
            && arrival_us == self.latest_us
        {
            *s += size;
            return;
        }
        self.latest_us = self.latest_us.max(arrival_us);
        self.packets.push_back((arrival_us, size));
        while let Some(&(t, s)) = self.packets.front() {
            if t < self.latest_us - WINDOW_US {
                self.packets.pop_front();
                self.bytes -= s;
            } else {
                break;
            }
        }
    }

    /// The receiver's clock jumped: start again.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Bits per second over the window, once there is enough history.
    pub(crate) fn rate(&self) -> Option<u64> {
        let first = self.first_us?;
        let span = (self.latest_us - first).min(WINDOW_US);
        if span < MIN_SPAN_US {
            return None;
        }
        Some(self.bytes * 8 * 1_000_000 / span as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acked_rate_measures_the_arrival_window() {
        let mut a = AckedBitrate::default();
        assert_eq!(a.rate(), None);
        // 1000 bytes every 10 ms: 800 kbit/s.
        for i in 0..100 {
            a.on_acked(i * 10_000, 1000);
        }
        let r = a.rate().unwrap();
        assert!((780_000..=820_000).contains(&r), "{r}");
    }

    #[test]
    fn acked_rate_needs_150_ms_of_history() {
        let mut a = AckedBitrate::default();
        for i in 0..10 {
            a.on_acked(i * 10_000, 1000);
        }
        assert_eq!(a.rate(), None);
    }
}
