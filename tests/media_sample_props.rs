//! Property: whatever frames an application writes with `write_sample` (any sizes and bytes,
//! VP8 video and Opus audio, any durations), the peer with frames out on gets exactly those
//! frames back as `PeerEvent::Sample`, in order, each with the duration it was written with.
//! Each case connects a fresh pair in the simulator.
#![cfg(feature = "sim")]

mod peer_support;

use bytes::Bytes;
use kaon::media::jitter::Sample;
use kaon::peer::{ConnectionState, LocalTrack, PeerEvent, TrackKind};
use proptest::prelude::*;

use peer_support::{MS, Pair, SEC};

/// The frames `b` got on `mid`: (data, duration).
fn samples(p: &Pair, mid: &str) -> Vec<(Vec<u8>, u32)> {
    p.log(false)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Sample { mid: m, sample, .. } if *m == mid => {
                Some((sample.data.to_vec(), sample.duration))
            }
            _ => None,
        })
        .collect()
}

fn frames() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>, u32)>> {
    // (VP8 interframe body, Opus packet, duration); the first VP8 frame is made a keyframe.
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 1..6000),
            proptest::collection::vec(any::<u8>(), 1..1000),
            1u32..10_000,
        ),
        1..12,
    )
}

proptest! {
    // PROPTEST_CASES wins; 64 when it is unset (each case runs a DTLS handshake).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn written_samples_come_out_whole_in_order(frames in frames(), seed in 0u64..1000) {
        let mut p = Pair::lan(seed, MS, 0.0);
        let now = p.now();
        p.pc(true).add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"])).unwrap();
        p.pc(true).add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"])).unwrap();
        p.negotiate();
        prop_assert!(p.run_until(10 * SEC, |p| p.state(true) == ConnectionState::Connected
            && p.state(false) == ConnectionState::Connected));
        p.pc(false).set_receive_frames("0", true).unwrap();
        p.pc(false).set_receive_frames("1", true).unwrap();
        let mut sent_video = Vec::new();
        for (i, (mut v, a, duration)) in frames.into_iter().enumerate() {
            // RFC 6386 §9.1: bit 0 of the first byte clear is a keyframe (with a start code);
            // set, an interframe.
            if i == 0 {
                v.splice(0..0, [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0]);
            } else {
                v[0] |= 1;
            }
            let now = p.now();
            p.pc(true)
                .write_sample(now, "1", &Sample::with_duration(Bytes::from(v.clone()), duration))
                .unwrap();
            p.pc(true)
                .write_sample(now, "0", &Sample::with_duration(Bytes::from(a.clone()), duration))
                .unwrap();
            sent_video.push((v, a, duration));
            p.run_for(5 * MS);
        }
        p.run_for(500 * MS);
        let (video, audio) = (samples(&p, "1"), samples(&p, "0"));
        prop_assert_eq!(video.len(), sent_video.len());
        prop_assert_eq!(audio.len(), sent_video.len());
        let mut previous = None;
        for (i, (v, a, _)) in sent_video.iter().enumerate() {
            prop_assert_eq!(&video[i].0, v);
            prop_assert_eq!(&audio[i].0, a);
            // The duration out is the timestamp step in: the previous sample's duration.
            if let Some(d) = previous {
                prop_assert_eq!(video[i].1, d);
                prop_assert_eq!(audio[i].1, d);
            }
            previous = Some(sent_video[i].2);
        }
    }
}
