//! Frames on the PeerConnection in the simulator: `write_sample` on one side, frames out
//! (`PeerEvent::Sample`) on the other, through loss, and a keyframe request when a reference
//! is lost for good.
#![cfg(feature = "sim")]

mod peer_support;

use bytes::Bytes;
use kaon::media::jitter::Sample;
use kaon::peer::{ConnectionState, KeyframeKind, LocalTrack, PeerEvent, TrackKind};
use kaon::rtp::RtpPacket;
use kaon::sim::{Direction as SimDirection, LinkConfig};

use peer_support::{MS, Pair, SEC};

fn connected(p: &Pair) -> bool {
    p.state(true) == ConnectionState::Connected && p.state(false) == ConnectionState::Connected
}

/// `a` sends audio (mid 0) and video (mid 1); `b` receives frames on both.
fn pair(seed: u64) -> Pair {
    let mut p = Pair::lan(seed, 10 * MS, 0.0);
    let now = p.now();
    let a = p.pc(true);
    a.add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"]))
        .unwrap();
    a.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    p.negotiate();
    assert!(p.run_until(10 * SEC, connected), "peers connect");
    for mid in ["0", "1"] {
        p.pc(false).set_receive_frames(mid, true).unwrap();
    }
    p
}

/// A VP8 frame of `len` bytes: a keyframe (RFC 6386 §9.1: P bit clear, start code, 64x48) or
/// an interframe, filled with `fill`.
fn vp8(key: bool, len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; len];
    if key {
        f[..10].copy_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0]);
    } else {
        f[0] = 0x11;
    }
    f
}

fn samples(p: &Pair, mid: &str) -> Vec<Sample> {
    p.log(false)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Sample { mid: m, sample, .. } if *m == mid => Some(sample.clone()),
            _ => None,
        })
        .collect()
}

/// Sends video frames `frames` (of 3 to 4 packets, a keyframe every 30) and as many Opus
/// frames, one every 33 ms.
fn send(p: &mut Pair, frames: std::ops::Range<usize>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    send_frames(p, frames, false)
}

/// How many keyframe requests `a` was told of for its video.
fn keyframe_requests(p: &Pair) -> usize {
    p.log(true)
        .iter()
        .filter(|(_, e)| matches!(e, PeerEvent::KeyframeRequest { mid, .. } if *mid == "1"))
        .count()
}

/// As [`send`]; with `answer_pli`, a keyframe request is answered with the next frame as a
/// keyframe, as an encoder does.
fn send_frames(
    p: &mut Pair,
    frames: std::ops::Range<usize>,
    answer_pli: bool,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    let mut answered = keyframe_requests(p);
    for i in frames {
        let now = p.now();
        let asked = keyframe_requests(p);
        let key = i % 30 == 0 || (answer_pli && asked > answered);
        answered = asked;
        let v = vp8(key, 2500 + 300 * (i % 3), i as u8);
        p.pc(true)
            .write_sample(
                now,
                "1",
                &Sample::with_duration(Bytes::from(v.clone()), 3000),
            )
            .unwrap();
        let o = vec![0xfc, i as u8, 1, 2, 3];
        p.pc(true)
            .writer("0")
            .unwrap()
            .write_sample(now, &Sample::with_duration(Bytes::from(o.clone()), 960))
            .unwrap();
        video.push(v);
        audio.push(o);
        p.run_for(33 * MS);
    }
    p.run_for(SEC);
    (video, audio)
}

#[test]
fn write_sample_frames_arrive_whole_as_sample_events() {
    let mut p = pair(1);
    assert_eq!(p.pc(true).writer("1").unwrap().codec().unwrap(), "VP8");
    let (video, audio) = send(&mut p, 0..60);
    let got = samples(&p, "1");
    assert_eq!(got.len(), 60, "every video frame came out");
    for (i, s) in got.iter().enumerate() {
        assert_eq!(&s.data[..], &video[i][..], "frame {i} intact");
        assert_eq!(s.keyframe, i % 30 == 0, "keyframe flag of frame {i}");
        assert!(!s.lost_before);
        if i > 0 {
            assert_eq!(s.duration, 3000, "timestamps follow the durations");
        }
    }
    let got = samples(&p, "0");
    assert_eq!(got.len(), 60, "every Opus frame came out");
    assert!(got.iter().zip(&audio).all(|(s, o)| s.data[..] == o[..]));
    assert!(got.iter().skip(1).all(|s| s.duration == 960));
    // Packets are at most SAMPLE_PACKET_SIZE, and the marker ends each video frame.
    let rtp: Vec<_> = p
        .log(false)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Rtp { mid, packet } if *mid == "1" => Some(packet.clone()),
            _ => None,
        })
        .collect();
    assert!(rtp.len() >= 60 * 3);
    assert!(
        rtp.iter()
            .all(|b| b.len() <= kaon::peer::SAMPLE_PACKET_SIZE)
    );
    let markers = rtp
        .iter()
        .filter(|b| RtpPacket::new_checked(&b[..]).unwrap().marker())
        .count();
    assert_eq!(markers, 60);
}

/// Seeds 2 and 5 lose the stream's very first packet. The receive statistics start at the
/// first packet seen and never list it, so the receiver used to wait it out and ask for a
/// keyframe instead: seed 2 lost 4 frames, and seed 5, which also lost that request, 19 (the
/// repeat came after the 500 ms interval). Now the jitter buffer, which sees that the first
/// packet continues a frame, has its predecessor NACKed: every frame for both but, for seed 2,
/// the last one, lost at the tail with no later packet to show the gap.
#[test]
fn frames_survive_5_percent_loss_through_nack_repair() {
    for seed in 1..=6 {
        let mut p = pair(seed);
        let lossy = LinkConfig {
            loss: 0.05,
            reorder: 0.02,
            reorder_delay: 5 * MS,
            ..LinkConfig::with_latency(10 * MS)
        };
        for iface in p.ifaces.clone() {
            p.sim.set_link(iface, SimDirection::Both, lossy);
        }
        let (video, _) = send_frames(&mut p, 0..90, true);
        let got = samples(&p, "1");
        let intact = got
            .iter()
            .filter(|s| video.iter().any(|v| v[..] == s.data[..]))
            .count();
        println!(
            "seed {seed}, 5% loss: {} of 90 frames out, {intact} intact, {} after a loss, {} RTX",
            got.len(),
            got.iter().filter(|s| s.lost_before).count(),
            p.pc_ref(false).media_counters().rtx_received
        );
        assert_eq!(intact, got.len(), "seed {seed}: no frame comes out damaged");
        assert!(
            got.len() >= 85,
            "seed {seed}: NACK/RTX repairs most frames: {}",
            got.len()
        );
    }
}

#[test]
fn a_lost_reference_asks_the_sender_for_a_keyframe() {
    let mut p = pair(3);
    send(&mut p, 0..10);
    let before = samples(&p, "1").len();
    let (a_iface, dead) = (
        p.ifaces[0],
        LinkConfig {
            loss: 1.0,
            ..LinkConfig::with_latency(10 * MS)
        },
    );
    let alive = LinkConfig::with_latency(10 * MS);
    // Five frames never reach b...
    p.sim.set_link(a_iface, SimDirection::Up, dead);
    send(&mut p, 10..15);
    // ...and b's NACKs and keyframe requests never reach a while the next frames arrive: the
    // buffer gives up on the gap, and every interframe after it lacks its reference.
    p.sim.set_link(a_iface, SimDirection::Up, alive);
    p.sim.set_link(a_iface, SimDirection::Down, dead);
    send(&mut p, 15..29);
    p.sim.set_link(a_iface, SimDirection::Both, alive);
    send(&mut p, 31..40);
    let asked = p
        .log(true)
        .iter()
        .any(|(_, e)| matches!(e, PeerEvent::KeyframeRequest { mid, kind: KeyframeKind::Pli } if *mid == "1"));
    assert!(asked, "the receiver asked for a keyframe");
    // Interframes after the loss are held back until a keyframe: none came out damaged.
    assert_eq!(
        samples(&p, "1").len(),
        before,
        "no interframe without its reference"
    );
    // The next keyframe resumes the stream and says something was lost before it.
    let now = p.now();
    p.pc(true)
        .write_sample(
            now,
            "1",
            &Sample::with_duration(Bytes::from(vp8(true, 2000, 9)), 3000),
        )
        .unwrap();
    p.run_for(200 * MS);
    let last = samples(&p, "1").pop().unwrap();
    assert!(last.keyframe && last.lost_before);
}

/// A stream that has not decoded yet repeats its keyframe request after two round trips (at
/// least 100 ms; `b` sends nothing, so it assumes a 100 ms round trip: 200 ms), not after the
/// 500 ms interval kept for a stream that decodes. Here the whole first keyframe is lost, then
/// `b`'s first request: the repeat brings the stream up about 200 ms later; it took 500 ms.
#[test]
fn first_keyframe_request_lost_is_repeated_within_rtt_bound() {
    let mut p = pair(1);
    let a_iface = p.ifaces[0];
    let dead = LinkConfig {
        loss: 1.0,
        ..LinkConfig::with_latency(10 * MS)
    };
    let alive = LinkConfig::with_latency(10 * MS);
    let mut answered = 0;
    let mut frame_1_sent = None;
    for i in 0..30 {
        match i {
            // The first keyframe never reaches b...
            0 => p.sim.set_link(a_iface, SimDirection::Up, dead),
            // ...and the request b makes on seeing an interframe first never reaches a.
            1 => {
                p.sim.set_link(a_iface, SimDirection::Up, alive);
                p.sim.set_link(a_iface, SimDirection::Down, dead);
                frame_1_sent = Some(p.now() - p.t0);
            }
            3 => p.sim.set_link(a_iface, SimDirection::Down, alive),
            _ => {}
        }
        let asked = keyframe_requests(&p);
        let key = i == 0 || asked > answered;
        answered = asked;
        let now = p.now();
        let v = vp8(key, 2500, i as u8);
        let s = Sample::with_duration(Bytes::from(v), 3000);
        p.pc(true).write_sample(now, "1", &s).unwrap();
        p.run_for(33 * MS);
    }
    p.run_for(200 * MS);
    let frame_1_sent = frame_1_sent.unwrap();
    let video = |(at, e): &(std::time::Duration, PeerEvent)| match e {
        PeerEvent::KeyframeRequest { mid, .. } if *mid == "1" => Some(*at),
        _ => None,
    };
    let asked = p
        .log(true)
        .iter()
        .find_map(video)
        .expect("a repeat reached a");
    let pli = p
        .pc_ref(false)
        .transceivers()
        .flat_map(|(_, t)| t.receiver_stats().map(|(_, s)| s.pli_count))
        .sum::<u64>();
    let got = samples(&p, "1");
    let first = p
        .log(false)
        .iter()
        .find_map(|(at, e)| {
            matches!(e, PeerEvent::Sample { mid, .. } if *mid == "1").then_some(*at)
        })
        .expect("the stream came up");
    println!(
        "frame 1 sent at {frame_1_sent:?}, request reached a at {asked:?}, first frame out at \
         {first:?}; {pli} PLIs, {} frames",
        got.len()
    );
    // The first request left b about 10 ms after frame 1 was sent; the repeat 200 ms later
    // and 10 ms on the way (with the 500 ms interval, 510 ms after).
    let waited = asked - frame_1_sent;
    assert!(
        waited >= 200 * MS && waited <= 260 * MS,
        "the repeat came {waited:?} after the first interframe was sent"
    );
    assert!(pli >= 2, "the lost request was repeated: {pli} PLIs");
    assert!(
        got[0].keyframe,
        "the stream starts at the answering keyframe"
    );
    assert!(
        first - frame_1_sent < 320 * MS,
        "the stream came up after {:?}",
        first - frame_1_sent
    );
}

#[test]
fn each_sample_names_the_source_it_came_from() {
    let mut p = pair(5);
    send(&mut p, 0..30);
    let sent = |mid: &str| {
        p.pc_ref(true)
            .transceivers()
            .find(|(_, t)| t.mid().is_some_and(|m| m == mid))
            .map(|(_, t)| t.ssrc())
            .unwrap()
    };
    let (audio, video) = (sent("0"), sent("1"));
    assert_ne!(audio, video);
    let tracks: Vec<(String, u32)> = p
        .log(false)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Track(t) => Some((t.mid.to_string(), t.ssrc)),
            _ => None,
        })
        .collect();
    let mut counted = [0, 0];
    for (_, e) in p.log(false) {
        if let PeerEvent::Sample { mid, ssrc, rid, .. } = e {
            let (i, want) = if *mid == "0" { (0, audio) } else { (1, video) };
            assert_eq!(*ssrc, want, "a frame on mid {mid} names its sender's SSRC");
            assert!(
                tracks.contains(&(mid.to_string(), *ssrc)),
                "the SSRC its track event gave"
            );
            assert_eq!(*rid, None, "no rid without simulcast");
            counted[i] += 1;
        }
    }
    assert_eq!(counted, [30, 30], "every frame checked");
}

/// A simulcast layer's frames carry its rid. kaon sends no rid of its own, so the layer is
/// written here: VP8 keyframes on a new SSRC with the MID and RtpStreamId header extensions
/// (ids 4 and 10, as kaon negotiates them), protected with `a`'s SRTP keys and delivered on
/// `b`'s selected pair.
#[test]
fn a_simulcast_layer_s_frames_carry_its_rid() {
    use kaon::rtp::{ExtensionValue, RtpBuilder, RtpHeader};
    use kaon::{Datagram, Protocol};

    let mut p = pair(6);
    let keying = p.pc_ref(true).srtp_keying().expect("keyed").clone();
    let (key, salt) = keying.local();
    let mut srtp = kaon::srtp::Context::new(
        kaon::srtp::Profile::from(keying.profile.to_u16()),
        key,
        salt,
        &kaon::srtp::Config::default(),
    )
    .unwrap();
    let path = p.pc_ref(false).ice().selected_pair().expect("b has a pair");
    const LAYER: u32 = 0x5157_0001;
    for i in 0..5u16 {
        let mut payload = vec![0x10]; // RFC 7741 §4.2: S=1, partition 0
        payload.extend_from_slice(&vp8(true, 200, i as u8));
        let ext = [
            (4, ExtensionValue::Mid("1")),
            (10, ExtensionValue::RtpStreamId("h")),
        ];
        let b = RtpBuilder::new(RtpHeader {
            marker: true,
            payload_type: 96,
            sequence_number: 1000 + i,
            timestamp: 3000 * u32::from(i),
            ssrc: LAYER,
        })
        .extensions(&ext)
        .payload(&payload);
        let mut buf = vec![0; b.len() + 64];
        let len = b.write(&mut buf).unwrap();
        let n = srtp.protect_rtp(&mut buf, len).unwrap();
        let now = p.now();
        p.pc(false).handle_datagram(
            now,
            Datagram {
                source: path.remote,
                destination: path.local,
                contents: &buf[..n],
            },
        );
        p.run_for(33 * MS);
    }
    p.run_for(200 * MS);
    let layer: Vec<_> = p
        .log(false)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Sample { mid, ssrc, rid, .. } if *ssrc == LAYER => {
                Some((mid.to_string(), rid.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(layer.len(), 5, "every frame of the layer came out");
    assert!(
        layer
            .iter()
            .all(|(mid, rid)| mid == "1" && rid.as_deref() == Some("h")),
        "each names its rid: {layer:?}"
    );
}

#[test]
fn write_sample_refuses_what_it_cannot_send() {
    let mut p = pair(4);
    let now = p.now();
    // b's transceivers are recvonly.
    assert!(matches!(
        p.pc(false).write_sample(
            now,
            "1",
            &Sample::with_duration(Bytes::from_static(&[1]), 1)
        ),
        Err(kaon::peer::Error::NotSending)
    ));
    assert!(matches!(
        p.pc(true)
            .write_sample(now, "1", &Sample::with_duration(Bytes::new(), 1)),
        Err(kaon::peer::Error::Codec(_))
    ));
    p.pc(true)
        .set_sample_codec("1", Some("video/Theora"))
        .unwrap();
    let sent = p.pc(true).write_sample(
        now,
        "1",
        &Sample::with_duration(Bytes::from_static(&[1]), 1),
    );
    assert!(
        matches!(sent, Err(kaon::peer::Error::UnsupportedCodec(_))),
        "{sent:?}: no Theora was negotiated"
    );
    assert!(matches!(
        p.pc(true).write_sample(
            now,
            "9",
            &Sample::with_duration(Bytes::from_static(&[1]), 1)
        ),
        Err(kaon::peer::Error::NoSuchTransceiver)
    ));
}

/// Both sides send video over a path of 40 ms each way with 5% loss on each link, `frames`
/// frames each, a keyframe every 60; returns the pair and `a`'s frames.
fn two_way(seed: u64, frames: usize) -> (Pair, Vec<Vec<u8>>) {
    let mut p = pair(seed);
    // b sends video too (its add_track takes the offer's transceiver): its sender reports give
    // it the round trip, which its jitter buffer then waits by.
    let now = p.now();
    p.pc(false)
        .add_track(now, TrackKind::Video, LocalTrack::new("b-cam", &["b"]))
        .unwrap();
    p.negotiate_from(false);
    let lossy = LinkConfig {
        loss: 0.05,
        ..LinkConfig::with_latency(40 * MS)
    };
    for iface in p.ifaces.clone() {
        p.sim.set_link(iface, SimDirection::Both, lossy);
    }
    let mut video = Vec::new();
    for i in 0..frames {
        let now = p.now();
        let v = vp8(i % 60 == 0, 2500, i as u8);
        let s = Sample::with_duration(Bytes::from(v.clone()), 3000);
        p.pc(true).write_sample(now, "1", &s).unwrap();
        p.pc(false).write_sample(now, "1", &s).unwrap();
        video.push(v);
        p.run_for(33 * MS);
    }
    p.run_for(2 * SEC);
    (p, video)
}

/// Two-way video with transport-wide congestion control (TWCC feedback, probes) at 5% loss
/// per link (9.75% each way): every lost packet is repaired within the jitter buffer's wait.
///
/// This was ignored for losing 51 to 98 of 120 frames, a different count on every run. Two
/// causes: the sent-packet record read padding probes after SRTP, where the padding count is a
/// random tag byte, so the estimate and the packet schedule followed the (unseeded) SRTP keys
/// (see `a_seeded_two_way_call_replays_the_same_schedule_whatever_the_keys`); and the wait of
/// three round trips fit only two NACK rounds, so one packet in 30 lost was given up and its
/// frame's successors with it until the next keyframe.
#[test]
fn when_both_send_the_repair_wait_follows_the_rtt_and_frames_survive_loss() {
    let (p, video) = two_way(5, 120);
    let rtt = p
        .pc_ref(false)
        .transceivers()
        .find_map(|(_, t)| t.sender_stats()?.round_trip_time)
        .expect("b knows the round trip");
    let got = samples(&p, "1");
    println!(
        "RTT {rtt:?}: {} of 120 frames out, {} after a loss, {} RTX",
        got.len(),
        got.iter().filter(|s| s.lost_before).count(),
        p.pc_ref(false).media_counters().rtx_received
    );
    assert!(rtt >= 150 * MS, "the 160 ms path: {rtt:?}");
    assert!(
        got.iter()
            .all(|s| video.iter().any(|v| v[..] == s.data[..]))
    );
    assert!(
        got.len() >= 110,
        "NACK/RTX repairs most frames: {}",
        got.len()
    );
}

/// A seeded simulation replays the same packets whatever the SRTP keys (which come from the
/// DTLS exchange, not the seed): nothing the sender decides may depend on ciphertext bytes.
#[test]
fn a_seeded_two_way_call_replays_the_same_schedule_whatever_the_keys() {
    let run = || {
        let (p, _) = two_way(9, 40);
        let counters = [true, false].map(|a| p.pc_ref(a).media_counters());
        let frames = samples(&p, "1").len();
        (counters, frames)
    };
    let first = run();
    assert!(
        first.0[0].rtp_sent > first.0[1].rtp_received.min(first.0[0].rtp_received),
        "probes went out: {first:?}"
    );
    assert_eq!(first, run(), "same seed, same packets");
}
