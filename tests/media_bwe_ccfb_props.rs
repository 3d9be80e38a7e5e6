//! Properties of the RFC 8888 glue ([`kaon::bwe::CcfbRecorder`], [`kaon::bwe::CcfbSender`])
//! that hold for any input.

#[path = "bwe_support/ccfb_driver.rs"]
mod ccfb_driver;

use kaon::bwe::{CcfbRecorder, CcfbSender};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// The fuzz target's driver over arbitrary bytes: no panic, every built feedback parses
    /// back equal and fits its budget.
    #[test]
    fn any_ccfb_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        ccfb_driver::drive_ccfb(&data);
    }

    /// Whatever the gaps, losses and SSRCs, the sender learns every packet a report covers
    /// (within the 8 s an arrival time offset can say):
    /// received ones with their arrival gaps to within a 1/1024 s tick, lost ones as lost, and
    /// no packet is said to have arrived that did not.
    #[test]
    fn ccfb_round_trip_gives_every_arrival_to_a_millisecond(
        steps in proptest::collection::vec((0u8..3, any::<bool>(), 0u64..15_000), 1..400),
    ) {
        let t0 = Instant::now();
        let mut rx = CcfbRecorder::default();
        let mut tx = CcfbSender::default();
        let mut seqs = [65_500u16; 3]; // crosses the 16-bit wrap
        let mut truth = BTreeMap::new();
        let mut at = 0u64;
        for (ssrc, lost, delta) in steps {
            at += delta;
            let s = &mut seqs[usize::from(ssrc)];
            let number = tx.on_sent(u32::from(ssrc), *s);
            if !lost {
                rx.on_packet(t0 + Duration::from_micros(at), u32::from(ssrc), *s);
                truth.insert(number, at);
            }
            *s = s.wrapping_add(1);
        }
        let mut results = Vec::new();
        let now = t0 + Duration::from_micros(at) + Duration::from_millis(50);
        rx.poll_feedback(now, 9, 1200, |fb| tx.results(&fb, &mut results));
        let mut base: Option<(u64, i128)> = None;
        for r in &results {
            match (r.arrival, truth.get(&r.seq)) {
                (Some(a), Some(&t)) => {
                    let a = a.as_micros() as i128;
                    let (b_true, b_got) = *base.get_or_insert((t, a));
                    let err = (a - b_got) - (i128::from(t) - i128::from(b_true));
                    prop_assert!(err.abs() <= 1_000, "arrival off by {err} us");
                }
                (Some(_), None) => prop_assert!(false, "a lost packet reported received"),
                (None, _) => {}
            }
        }
        let received = results.iter().filter(|r| r.arrival.is_some()).count();
        prop_assert_eq!(received, truth.len());
    }
}
