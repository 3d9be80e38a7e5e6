//! The receive-side estimator behind kaon's REMB fed arbitrary packets: arrival gaps (on any
//! clock, backwards too), 24-bit abs-send-times that wrap and jump, sizes and SSRCs, with
//! REMBs polled on the way: never a panic, the estimate and every REMB within the configured
//! bounds, at most `MAX_REMB_SSRCS` SSRCs named.
#![no_main]
use std::time::{Duration, Instant};

use kaon::bwe::{MAX_REMB_SSRCS, RembConfig, RemoteEstimator};
use libfuzzer_sys::fuzz_target;

const MIN: u64 = 50_000;
const MAX: u64 = 5_000_000;

fuzz_target!(|data: &[u8]| {
    let mut est = RemoteEstimator::new(RembConfig {
        min_bitrate: MIN,
        max_bitrate: MAX,
        ..RembConfig::default()
    });
    let t0 = Instant::now();
    let mut now = t0;
    for chunk in data.chunks_exact(8) {
        // Arrival gap in microseconds (up to ~65 ms; the top bit moves the clock back).
        let gap = u64::from(u16::from_le_bytes([chunk[0], chunk[1]]));
        now = if chunk[7] & 0x80 != 0 {
            now.checked_sub(Duration::from_micros(gap)).unwrap_or(t0)
        } else {
            now + Duration::from_micros(gap)
        };
        let abs = u32::from_le_bytes([chunk[2], chunk[3], chunk[4], 0]);
        let size = usize::from(chunk[5]) * 8;
        let ssrc = u32::from(chunk[6] & 0x1f);
        est.on_packet(now, abs, size, ssrc);
        if chunk[7] & 0x40 != 0 {
            est.set_rtt(Duration::from_millis(u64::from(chunk[7] & 0x3f) * 10));
        }
        if let Some(e) = est.estimate() {
            assert!((MIN..=MAX).contains(&e), "estimate {e}");
        }
        if let Some(r) = est.poll_remb(now) {
            assert!((MIN..=MAX).contains(&r.bitrate), "remb {}", r.bitrate);
            assert!(r.ssrcs.len() <= MAX_REMB_SSRCS);
        }
    }
});
