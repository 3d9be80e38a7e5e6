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

/// Real keyframes from libvpx, libaom, libx264 and libx265 at 98x58, a size that needs the
/// H.264 and H.265 cropping windows (macroblocks and coding blocks are larger).
#[test]
fn sizes_come_from_real_keyframes() {
    use kaon::media::file::annexb::AnnexBReader;
    use kaon::media::file::ivf::IvfReader;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/media/");
    for (file, codec) in [
        ("vp8-98x58.ivf", Codec::Vp8),
        ("vp9-98x58.ivf", Codec::Vp9),
        ("av1-98x58.ivf", Codec::Av1),
    ] {
        let data = std::fs::read(format!("{dir}{file}")).unwrap();
        let frames: Vec<_> = IvfReader::new(&data).unwrap().map(|f| f.unwrap()).collect();
        assert_eq!(frames.len(), 3, "{file}");
        let info = frame_info(codec, frames[0].data);
        assert_eq!(
            (info.keyframe, info.dimensions),
            (true, Some((98, 58))),
            "{file}"
        );
        assert!(!frame_info(codec, frames[1].data).keyframe, "{file}");
        // The first packet of a keyframe says so.
        let mut p = Packetizer::new(codec, PacketizerConfig::default());
        let payloads = packetize(&mut p, frames[0].data, 200).unwrap();
        assert!(is_keyframe(codec, &payloads[0].0), "{file}");
        let payloads = packetize(&mut p, frames[1].data, 200).unwrap();
        assert!(!is_keyframe(codec, &payloads[0].0), "{file}");
    }
    for (file, codec) in [
        ("h264-98x58.h264", Codec::H264),
        ("h265-98x58.h265", Codec::H265),
    ] {
        let data = std::fs::read(format!("{dir}{file}")).unwrap();
        let units: Vec<&[u8]> = AnnexBReader::for_codec(&data, codec).collect();
        assert_eq!(units.len(), 3, "{file}");
        let info = frame_info(codec, units[0]);
        assert_eq!(
            (info.keyframe, info.dimensions),
            (true, Some((98, 58))),
            "{file}"
        );
        assert!(!frame_info(codec, units[1]).keyframe, "{file}");
    }
}

/// H.264 parameter sets are remembered and sent as a STAP-A ahead of an IDR that lacks them
/// (RFC 6184 §5.7.1 layout: STAP-A header, then 16-bit size and NAL unit for each).
#[test]
fn h264_parameter_sets_are_resent_as_stap_a_before_a_bare_idr() {
    let sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
    let pps = [0x68, 0xce, 0x3c, 0x80];
    let idr = [0x65, 0x88, 0x84, 0x21];
    let mut p = Packetizer::new(Codec::H264, PacketizerConfig::default());
    let first = annexb(&[sps.to_vec(), pps.to_vec(), idr.to_vec()]);
    let payloads = packetize(&mut p, &first, 1200).unwrap();
    assert_eq!(payloads.len(), 1, "small NAL units aggregate");
    let mut stap = vec![0x78]; // F=0, NRI=3 (the highest), type 24
    for n in [&sps[..], &pps, &idr] {
        stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
        stap.extend_from_slice(n);
    }
    assert_eq!(payloads[0].0, stap);
    // A later IDR without them: they come first, here in one STAP-A with the IDR.
    let payloads = packetize(&mut p, &annexb(&[idr.to_vec()]), 1200).unwrap();
    assert_eq!(payloads[0].0, stap);
    // Mode 0 sends each as a single NAL unit packet.
    let single = PacketizerConfig {
        h264_mode: H264Mode::SingleNal,
        ..Default::default()
    };
    let mut p = Packetizer::new(Codec::H264, single);
    packetize(&mut p, &first, 1200).unwrap();
    let payloads = packetize(&mut p, &annexb(&[idr.to_vec()]), 1200).unwrap();
    let sent: Vec<&[u8]> = payloads.iter().map(|p| &p.0[..]).collect();
    assert_eq!(sent, vec![&sps[..], &pps, &idr]);
    assert_eq!(
        payloads.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![false, false, true]
    );
}

/// RFC 7741 §4.2 fields: the descriptor Chrome sends, with a 15-bit picture ID, TL0PICIDX and
/// TID/Y/KEYIDX.
#[test]
fn vp8_descriptor_fields_follow_rfc_7741() {
    // X=1 N=0 S=1 PID=0 | I=1 L=1 T=1 K=1 | M=1 PictureID=0x1234 | TL0PICIDX=7 | TID=2 Y=1 KEYIDX=5
    let bytes = [0x90, 0xf0, 0x92, 0x34, 0x07, 0b1010_0101, 0xaa];
    let (d, n) = Vp8Descriptor::parse(&bytes).unwrap();
    assert_eq!(n, 6);
    assert!(d.start && !d.non_reference && d.partition == 0);
    assert_eq!(
        d.picture_id,
        Some(kaon::media::codec::PictureId::Long(0x1234))
    );
    assert_eq!(
        (d.tl0_pic_idx, d.tid, d.key_idx),
        (Some(7), Some((2, true)), Some(5))
    );
    let mut buf = [0u8; 6];
    assert_eq!(d.write(&mut buf), Ok(6));
    assert_eq!(buf, bytes[..6]);
    // A one-byte descriptor (X=0): the smallest legal one.
    assert_eq!(Vp8Descriptor::parse(&[0x10, 0x9d]).unwrap().1, 1);
    assert_eq!(Vp8Descriptor::parse(&[0x80]), Err(CodecError::Truncated));
}

/// RFC 9628 §4.2.1: the SS on a keyframe's first packet carries the size; non-keyframes have
/// P=1 and no SS.
#[test]
fn vp9_keyframes_carry_the_scalability_structure() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/media/vp9-98x58.ivf"
    ))
    .unwrap();
    let frames: Vec<_> = kaon::media::file::ivf::IvfReader::new(&data)
        .unwrap()
        .map(|f| f.unwrap())
        .collect();
    for flexible in [false, true] {
        let mut p = Packetizer::new(
            Codec::Vp9,
            PacketizerConfig {
                vp9_flexible: flexible,
                ..Default::default()
            },
        );
        let key = packetize(&mut p, frames[0].data, 300).unwrap();
        let (d, _) = Vp9Descriptor::parse(&key[0].0).unwrap();
        assert!(d.begin && !d.inter_picture && d.flexible == flexible);
        let ss = d.ss.unwrap();
        assert_eq!(
            (ss.spatial_layers, &ss.resolutions[..]),
            (1, &[(98u16, 58u16)][..])
        );
        let (last, _) = Vp9Descriptor::parse(&key.last().unwrap().0).unwrap();
        assert!(last.end && last.ss.is_none());
        let inter = packetize(&mut p, frames[1].data, 300).unwrap();
        let (d, _) = Vp9Descriptor::parse(&inter[0].0).unwrap();
        assert!(d.inter_picture && d.ss.is_none());
        assert_eq!(d.p_diffs.len(), usize::from(flexible));
    }
}

/// AV1 RTP §4.4 and §5: a temporal unit split over packets has Z on continuations, Y on
/// packets whose last element continues, N only on the first packet of a coded video sequence.
#[test]
fn av1_fragments_set_z_y_and_n() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/media/av1-98x58.ivf"
    ))
    .unwrap();
    let frames: Vec<_> = kaon::media::file::ivf::IvfReader::new(&data)
        .unwrap()
        .map(|f| f.unwrap())
        .collect();
    let mut p = Packetizer::new(Codec::Av1, PacketizerConfig::default());
    let payloads = packetize(&mut p, frames[0].data, 200).unwrap();
    assert!(payloads.len() > 2);
    let headers: Vec<_> = payloads
        .iter()
        .map(|p| Av1AggregationHeader::parse(p.0[0]))
        .collect();
    assert!(headers[0].n && !headers[0].z);
    assert!(headers[1..].iter().all(|h| !h.n));
    for w in headers.windows(2) {
        assert_eq!(
            w[0].y, w[1].z,
            "a fragment continues exactly where the previous one said"
        );
    }
    assert!(!headers.last().unwrap().y);
    // The temporal delimiter is not sent: the first element is the sequence header (type 1).
    let first_obu = if headers[0].w == 1 {
        payloads[0].0[1]
    } else {
        payloads[0].0[2]
    };
    assert_eq!((first_obu >> 3) & 0xf, 1);
}
