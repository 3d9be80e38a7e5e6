//! Properties of the receive-side (REMB) estimator that hold for any input.

use kaon::bwe::{MAX_REMB_SSRCS, RembConfig, RemoteEstimator};
use proptest::prelude::*;
use std::time::{Duration, Instant};

proptest! {
    /// Whatever packets arrive (any abs-send-time, size, SSRC, arrival gaps, arrival times that
    /// go back), every REMB and every estimate stays within the configured limits, names at
    /// most [`MAX_REMB_SSRCS`] SSRCs, and nothing panics.
    #[test]
    fn remb_estimate_stays_within_limits(
        packets in proptest::collection::vec(
            (0u64..50_000, any::<bool>(), any::<u32>(), 0usize..2_000, 0u32..20),
            1..2_000,
        ),
        min in 10_000u64..500_000,
        span in 0u64..5_000_000,
    ) {
        let max = min + span;
        let mut est = RemoteEstimator::new(RembConfig {
            min_bitrate: min,
            max_bitrate: max,
            ..RembConfig::default()
        });
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut now = t0;
        for (gap, back, abs, size, ssrc) in packets {
            now += Duration::from_micros(gap);
            // Sometimes an arrival time from the past.
            let at = if back { now - Duration::from_millis(gap % 1000) } else { now };
            est.on_packet(at, abs, size, ssrc);
            if let Some(e) = est.estimate() {
                prop_assert!((min..=max).contains(&e), "{e} outside {min}..={max}");
            }
            if let Some(r) = est.poll_remb(now) {
                prop_assert!((min..=max).contains(&r.bitrate));
                prop_assert!(r.ssrcs.len() <= MAX_REMB_SSRCS);
            }
            if let Some(t) = est.poll_timeout() {
                prop_assert!(t >= t0 - Duration::from_secs(1));
            }
        }
    }
}
