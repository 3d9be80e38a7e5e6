//! A random sequence of inserts (sequence number, timestamp, marker, payload, arrival step)
//! and timeouts, for the codec the first byte picks: the jitter buffer never panics, its byte
//! count stays under the cap, and its deadline never goes backwards past what was handled.
#![no_main]
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::media::codec::Codec;
use kaon::media::jitter::{JitterBuffer, JitterConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::ALL[usize::from(pick) % Codec::ALL.len()];
    let config = JitterConfig {
        capacity: 32,
        max_bytes: 4096,
        max_ready: 4,
        ..Default::default()
    };
    let mut jb = JitterBuffer::new(codec, config);
    let t0 = Instant::now();
    let mut now = t0;
    while let [op, s0, s1, t0b, t1b, len, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(op & 0x3f));
        if op & 0x40 != 0 {
            jb.handle_timeout(now);
        }
        if *op == 0xff {
            jb.set_rtt(Duration::from_millis(u64::from(*len)));
        }
        let n = usize::from(*len).min(tail.len());
        let seq = u16::from_be_bytes([*s0, *s1]);
        let ts = u32::from_be_bytes([*t0b, *t1b, 0, 0]);
        jb.insert(
            now,
            seq,
            ts,
            op & 0x80 != 0,
            Bytes::copy_from_slice(&tail[..n]),
        );
        rest = &tail[n..];
        assert!(jb.buffered_bytes() <= 4096);
        assert!(jb.missing().count() <= 32);
        while jb.poll_sample().is_some() {}
        while jb.poll_event().is_some() {}
        if let Some(d) = jb.poll_timeout() {
            assert!(d >= t0);
        }
    }
});
