//! The receive path of an established association (with data channels on top) fed arbitrary
//! packets: never a panic, and memory stays bounded.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`. Each packet's chunks are the fuzz
//! bytes behind a valid common header (ports, the receiver's verification tag, a zero
//! checksum, which the data channel configuration accepts), so the fuzzer reaches the chunk
//! handlers rather than dying at the checksum. `op` advances time and picks who reads events.
//! Packets of odd length go through `handle_packet_bytes`, the rest through `handle_packet`.
#![no_main]
use kaon::datachannel::{ChannelConfig, Config, DataChannels, Role};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fn established() -> (DataChannels, DataChannels, [u8; 4], Instant) {
    let mut now = Instant::now();
    let cfg = |seed, role| {
        let mut c = Config::new(role);
        c.sctp.seed = Some(seed);
        c.sctp.receive_window = 256 * 1024;
        c
    };
    let mut a = DataChannels::new(cfg(1, Role::Client));
    let mut b = DataChannels::new(cfg(2, Role::Server));
    a.connect(now);
    b.connect(now);
    let _ = a.create_channel(now, ChannelConfig::labelled("f"));
    let mut buf = [0u8; 1500];
    let mut vtag = [0u8; 4];
    for _ in 0..8 {
        while let Some(n) = a.poll_packet(now, &mut buf) {
            vtag.copy_from_slice(&buf[4..8]);
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        now += Duration::from_millis(1);
    }
    (a, b, vtag, now)
}

fuzz_target!(|data: &[u8]| {
    let (mut a, mut b, vtag, mut now) = established();
    let mut rest = data;
    let mut pkt = Vec::with_capacity(1500);
    let mut buf = [0u8; 1500];
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunks, next) = tail.split_at(n);
        rest = next;
        pkt.clear();
        pkt.extend_from_slice(&[0x13, 0x88, 0x13, 0x88]);
        pkt.extend_from_slice(&vtag);
        pkt.extend_from_slice(&[0; 4]);
        pkt.extend_from_slice(chunks);
        // Odd lengths go in as shared memory, whose payloads may be kept as slices.
        if n % 2 == 1 {
            b.handle_packet_bytes(now, &bytes::Bytes::copy_from_slice(&pkt));
        } else {
            b.handle_packet(now, &pkt);
        }
        now += Duration::from_millis(u64::from(op & 0x3f) * 10);
        b.handle_timeout(now);
        if op & 0x40 != 0 {
            while b.poll_event().is_some() {}
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            if op & 0x80 != 0 {
                a.handle_packet(now, &buf[..n]);
            }
        }
        let _ = b.poll_timeout();
        let m = b.association().memory();
        assert!(m.reassembly + m.undelivered <= 2 * 256 * 1024 + 65536, "{m:?}");
    }
});
