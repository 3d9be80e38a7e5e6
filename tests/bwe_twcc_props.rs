//! Properties of the TWCC glue ([`kaon::bwe::TwccSender`], [`kaon::bwe::build_twcc`]) that
//! hold for any input.

#[path = "bwe_support/twcc_driver.rs"]
mod twcc_driver;

use kaon::bwe::{FeedbackRecorder, TwccSender, build_twcc};
use kaon::rtp::rtcp::TransportCc;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// The fuzz target's driver over arbitrary bytes: no panic, every built feedback parses
    /// back equal and fits a datagram.
    #[test]
    fn any_twcc_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        twcc_driver::drive_twcc(&data);
    }

    /// Whatever the gaps and losses, the sender learns every received packet of a report with
    /// its arrival time to within half a 250 us tick, and a packet it sent but the report
    /// skipped is never said to have arrived.
    #[test]
    fn twcc_round_trip_gives_every_arrival_to_a_quarter_millisecond(
        steps in proptest::collection::vec((0u16..4, 0u64..120_000), 1..600),
    ) {
        let t0 = Instant::now();
        let mut rec = FeedbackRecorder::default();
        let mut tx = TwccSender::default();
        let mut truth = BTreeMap::new();
        let mut seq = 60_000u16; // crosses the 16-bit wrap for longer inputs
        let mut first: Option<u64> = None;
        let mut at = 0u64;
        let mut reports = Vec::new();
        for (gap, delta) in steps {
            for _ in 0..gap {
                tx.on_sent(seq); // lost
                seq = seq.wrapping_add(1);
            }
            at += delta;
            let long = tx.on_sent(seq);
            let now = t0 + Duration::from_micros(at);
            rec.on_packet(now, seq);
            // Reports go out as they fall due, as the connection sends them.
            reports.extend(rec.poll_feedback(now));
            let rel = at - *first.get_or_insert(at);
            truth.insert(long, rel);
            seq = seq.wrapping_add(1);
        }
        rec.request();
        reports.extend(rec.poll_feedback(t0 + Duration::from_micros(at)));
        let mut results = Vec::new();
        for report in &reports {
            build_twcc(report, 1, 2, 400, |fb| {
                let mut buf = vec![0; fb.len()];
                let n = fb.write(&mut buf).unwrap();
                let back = TransportCc::parse(&buf[..n]).unwrap();
                tx.results(&back, &mut results);
            });
        }
        let mut got = BTreeMap::new();
        for r in &results {
            if let Some(a) = r.arrival {
                prop_assert!(got.insert(r.seq, a.as_micros() as u64).is_none(), "once");
            }
        }
        prop_assert_eq!(got.len(), truth.len());
        // The sender's time line has its own origin: compare to the first arrival.
        let origin = got[truth.keys().next().unwrap()];
        for (s, t) in &truth {
            let g = got.get(s).copied();
            prop_assert!(g.is_some(), "seq {} reported", s);
            let g = g.unwrap() as i64 - origin as i64;
            prop_assert!((g - *t as i64).abs() <= 250, "seq {}: {} vs {}", s, g, t);
        }
    }
}
