//! Any payloads, for the codec the first byte picks: the depacketizer appends a frame or
//! returns a typed error, never panics, and never writes more than a bounded multiple of its
//! input; the payload and frame inspectors never panic either. Then the same bytes, taken as a
//! frame, are packetized: every payload fits the MTU.
#![no_main]
use kaon::media::codec::{
    Codec, Depacketizer, PacketInfo, Packetizer, PacketizerConfig, frame_info, is_frame_start,
    is_keyframe,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::ALL[usize::from(pick) % Codec::ALL.len()];
    let mut d = Depacketizer::new(codec);
    let mut out = Vec::new();
    let mut seq = 0u16;
    let mut ts = 0u32;
    let total = rest.len();
    // Payloads are length-prefixed by one byte; its top bit starts a new frame.
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len & 0x7f).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        if len & 0x80 != 0 {
            ts = ts.wrapping_add(3000);
        }
        let _ = is_keyframe(codec, payload);
        let _ = is_frame_start(codec, payload);
        let info = PacketInfo {
            seq,
            timestamp: ts,
            marker: false,
        };
        if d.push(payload, info, &mut out).is_err() {
            d.reset();
        }
        seq = seq.wrapping_add(1);
    }
    assert!(out.len() <= 3 * total + 64, "output bounded by input");
    let _ = frame_info(codec, &out);
    let _ = frame_info(codec, data);

    let mtu = 64 + usize::from(pick);
    let mut p = Packetizer::new(codec, PacketizerConfig::default());
    if let Ok(mut payloads) = p.packetize(&data[1..], mtu) {
        let mut buf = vec![0u8; mtu];
        let mut count = 0;
        while let Some(Ok(pl)) = payloads.next_payload(&mut buf) {
            assert!(pl.len <= mtu);
            count += 1;
            assert!(count <= data.len() + 8, "packetizing ends");
        }
    }
});
