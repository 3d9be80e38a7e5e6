//! Payload formats: every codec's depacketizer rebuilds what its packetizer split, at several
//! MTUs; descriptors round-trip; any bytes never panic; spec examples; sizes from keyframes.

use kaon::media::codec::{
    Av1AggregationHeader, Codec, CodecError, Depacketizer, H264Mode, PacketInfo, Packetizer,
    PacketizerConfig, Vp8Descriptor, Vp9Descriptor, frame_info, is_frame_start, is_keyframe,
    nal_units,
};
use proptest::prelude::*;

const MTUS: [usize; 3] = [200, 500, 1200];

/// Packetizes `frame`, checks every payload fits, and returns the payloads with their markers.
fn packetize(
    p: &mut Packetizer,
    frame: &[u8],
    mtu: usize,
) -> Result<Vec<(Vec<u8>, bool, u32)>, CodecError> {
    let mut out = Vec::new();
    let mut payloads = p.packetize(frame, mtu)?;
    let mut buf = vec![0u8; mtu];
    while let Some(r) = payloads.next_payload(&mut buf) {
        let pl = r?;
        assert!(
            pl.len <= mtu && pl.len > 0,
            "payload of {} bytes at MTU {mtu}",
            pl.len
        );
        out.push((buf[..pl.len].to_vec(), pl.marker, pl.timestamp_offset));
    }
    Ok(out)
}

fn depacketize(
    codec: Codec,
    payloads: &[(Vec<u8>, bool, u32)],
    seq0: u16,
    ts: u32,
) -> Result<Vec<u8>, CodecError> {
    let mut d = Depacketizer::new(codec);
    let mut out = Vec::new();
    for (i, (p, marker, _)) in payloads.iter().enumerate() {
        let info = PacketInfo {
            seq: seq0.wrapping_add(i as u16),
            timestamp: ts,
            marker: *marker,
        };
        d.push(p, info, &mut out)?;
    }
    Ok(out)
}

fn round_trip(codec: Codec, config: PacketizerConfig, frame: &[u8], mtu: usize) -> Vec<u8> {
    let mut p = Packetizer::new(codec, config);
    let payloads = packetize(&mut p, frame, mtu).unwrap();
    if codec.is_video() {
        assert!(payloads.last().unwrap().1, "marker on the last packet");
        assert!(
            payloads[..payloads.len() - 1].iter().all(|p| !p.1),
            "marker only on the last"
        );
    }
    depacketize(codec, &payloads, 65_530, 1234).unwrap()
}

fn annexb(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in nals {
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(n);
    }
    v
}

fn nonzero_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..max)
}

fn h264_nal() -> impl Strategy<Value = Vec<u8>> {
    (1u8..=23, 0u8..4, nonzero_bytes(2000)).prop_map(|(t, nri, body)| {
        let mut n = vec![(nri << 5) | t];
        n.extend(body);
        n
    })
}

fn h265_nal() -> impl Strategy<Value = Vec<u8>> {
    (0u8..=47, 1u8..8, nonzero_bytes(2000)).prop_map(|(t, tid, body)| {
        let mut n = vec![t << 1, tid];
        n.extend(body);
        n
    })
}

fn av1_obu() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![1u8, 3, 4, 5, 6, 15]),
        any::<bool>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..3000),
    )
        .prop_map(|(t, ext, e, payload)| {
            let mut o = vec![(t << 3) | (u8::from(ext) << 2) | 0x02];
            if ext {
                o.push(e & 0xf8);
            }
            let mut n = payload.len();
            loop {
                let b = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    o.push(b);
                    break;
                }
                o.push(b | 0x80);
            }
            o.extend(payload);
            o
        })
}

proptest! {
    #[test]
    fn audio_frames_survive_packetization(frame in prop::collection::vec(any::<u8>(), 1..1200), mtu in prop::sample::select(MTUS.to_vec())) {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            let mut p = Packetizer::new(codec, PacketizerConfig::default());
            let payloads = packetize(&mut p, &frame, mtu).unwrap();
            // Each part is stamped with its first sample: one byte per 8 kHz tick.
            let mut expect = 0u32;
            for (bytes, _, offset) in &payloads {
                prop_assert_eq!(*offset, expect);
                expect += bytes.len() as u32;
            }
            prop_assert_eq!(depacketize(codec, &payloads, 1, 2).unwrap(), frame.clone());
        }
        let opus = Packetizer::new(Codec::Opus, PacketizerConfig::default()).packetize(&frame, mtu).map(|_| ());
        if frame.len() <= mtu {
            prop_assert_eq!(round_trip(Codec::Opus, PacketizerConfig::default(), &frame, mtu), frame);
        } else {
            prop_assert_eq!(opus, Err(CodecError::TooLarge { len: frame.len(), mtu }));
        }
    }

    #[test]
    fn vp8_and_vp9_frames_survive_packetization(frame in prop::collection::vec(any::<u8>(), 1..8000), mtu in prop::sample::select(MTUS.to_vec()), flexible: bool, pid: u16) {
        let config = PacketizerConfig { vp9_flexible: flexible, initial_picture_id: pid, ..Default::default() };
        prop_assert_eq!(round_trip(Codec::Vp8, config, &frame, mtu), frame.clone());
        prop_assert_eq!(round_trip(Codec::Vp9, config, &frame, mtu), frame);
    }

    #[test]
    fn h264_frames_survive_packetization(nals in prop::collection::vec(h264_nal(), 1..8), mtu in prop::sample::select(MTUS.to_vec())) {
        let frame = annexb(&nals);
        prop_assert_eq!(round_trip(Codec::H264, PacketizerConfig::default(), &frame, mtu), frame.clone());
        let single = PacketizerConfig { h264_mode: H264Mode::SingleNal, ..Default::default() };
        let mut p = Packetizer::new(Codec::H264, single);
        match packetize(&mut p, &frame, mtu) {
            Ok(payloads) => {
                prop_assert!(nals.iter().all(|n| n.len() <= mtu));
                prop_assert_eq!(payloads.len(), nals.len());
                prop_assert_eq!(depacketize(Codec::H264, &payloads, 0, 0).unwrap(), frame);
            }
            Err(CodecError::TooLarge { len, .. }) => prop_assert!(len > mtu),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn h265_frames_survive_packetization(nals in prop::collection::vec(h265_nal(), 1..8), mtu in prop::sample::select(MTUS.to_vec())) {
        let frame = annexb(&nals);
        prop_assert_eq!(round_trip(Codec::H265, PacketizerConfig::default(), &frame, mtu), frame);
    }

    #[test]
    fn av1_temporal_units_survive_packetization(obus in prop::collection::vec(av1_obu(), 1..6), mtu in prop::sample::select(MTUS.to_vec())) {
        let mut frame = vec![0x12, 0x00];
        for o in &obus {
            frame.extend_from_slice(o);
        }
        prop_assert_eq!(round_trip(Codec::Av1, PacketizerConfig::default(), &frame, mtu), frame);
    }

    #[test]
    fn any_payload_never_panics_a_depacketizer(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..6), ts_change: bool) {
        for codec in Codec::ALL {
            let mut d = Depacketizer::new(codec);
            let mut out = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                let ts = if ts_change { i as u32 } else { 0 };
                let _ = d.push(p, PacketInfo { seq: i as u16, timestamp: ts, marker: false }, &mut out);
                let _ = (is_keyframe(codec, p), is_frame_start(codec, p), frame_info(codec, p));
            }
            let _ = frame_info(codec, &out);
            prop_assert!(out.len() <= payloads.iter().map(|p| p.len() + 64).sum::<usize>() * 2);
        }
    }

    #[test]
    fn vp8_descriptor_round_trips(bytes in prop::collection::vec(any::<u8>(), 1..8)) {
        if let Ok((d, _)) = Vp8Descriptor::parse(&bytes) {
            let mut buf = [0u8; 8];
            let n = d.write(&mut buf).unwrap();
            prop_assert_eq!(n, d.len());
            prop_assert_eq!(Vp8Descriptor::parse(&buf[..n]).unwrap(), (d, n));
        }
    }

    #[test]
    fn vp9_descriptor_round_trips(bytes in prop::collection::vec(any::<u8>(), 1..64)) {
        if let Ok((d, _)) = Vp9Descriptor::parse(&bytes) {
            let mut buf = [0u8; 2048];
            let n = d.write(&mut buf).unwrap();
            prop_assert_eq!(n, d.len());
            prop_assert_eq!(Vp9Descriptor::parse(&buf[..n]).unwrap(), (d, n));
        }
    }

    #[test]
    fn nal_splitting_finds_every_unit(nals in prop::collection::vec(h264_nal(), 0..8), four: bool) {
        let mut data = Vec::new();
        for n in &nals {
            data.extend_from_slice(if four { &[0, 0, 0, 1][..] } else { &[0, 0, 1] });
            data.extend_from_slice(n);
        }
        let split: Vec<&[u8]> = nal_units(&data).collect();
        prop_assert_eq!(split, nals.iter().map(|n| &n[..]).collect::<Vec<_>>());
    }
}

#[test]
fn aggregation_header_bits_follow_the_av1_rtp_spec() {
    // AV1 RTP §4.4: |Z|Y| W |N|-|-|-|
    let h = Av1AggregationHeader::parse(0b1110_1000);
    assert_eq!(
        h,
        Av1AggregationHeader {
            z: true,
            y: true,
            w: 2,
            n: true
        }
    );
    assert_eq!(h.to_byte(), 0b1110_1000);
}
