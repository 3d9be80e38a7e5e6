//! Properties of the congestion control layer that hold for any input.

#[path = "bwe_support/driver.rs"]
mod driver;

use kaon::bwe::{Config, Controller, FeedbackRecorder, PacketKind, PacketResult};
use proptest::prelude::*;
use std::time::{Duration, Instant};

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// The fuzz target's driver over arbitrary bytes: no panic, bounded memory.
    #[test]
    fn any_send_and_feedback_sequence_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        driver::drive(&data);
    }

    /// Whatever arrives, each report covers consecutive sequence numbers, reports every
    /// received packet at most once per report, and stays within its size limit.
    #[test]
    fn recorder_reports_are_contiguous_and_bounded(
        seqs in proptest::collection::vec((any::<u16>(), 0u64..20_000), 1..500),
    ) {
        let t0 = Instant::now();
        let mut r = FeedbackRecorder::default();
        let mut now = t0;
        for (seq, gap) in seqs {
            now += Duration::from_micros(gap);
            r.on_packet(now, seq);
            if let Some(f) = r.poll_feedback(now) {
                prop_assert!(f.packets.len() <= 1024);
                prop_assert!(f.packets.windows(2).all(|w| w[1].seq == w[0].seq + 1));
            }
        }
    }

    /// The target always stays within the configured limits, whatever the feedback says.
    #[test]
    fn target_stays_within_limits(
        arrivals in proptest::collection::vec(proptest::option::of(0u64..10_000_000), 1..400),
        min in 10_000u64..500_000,
        span in 0u64..5_000_000,
    ) {
        let max = min + span;
        let mut bwe = Controller::new(Config { min_bitrate: min, max_bitrate: max, ..Config::default() });
        let t0 = Instant::now();
        let mut results = Vec::new();
        for (i, a) in arrivals.iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64 * 5);
            bwe.on_packet_sent(now, i as u64, 1200, PacketKind::Video);
            results.push(PacketResult { seq: i as u64, arrival: a.map(Duration::from_micros) });
            if i % 10 == 9 {
                bwe.on_feedback(now, &results);
                results.clear();
            }
            bwe.handle_timeout(now);
            while let Some(e) = bwe.poll_event() {
                prop_assert!((min..=max).contains(&e.bitrate()));
            }
            prop_assert!((min..=max).contains(&bwe.target_bitrate()));
        }
    }
}
