//! Real RTP from Chromium, replayed as fixtures: packets Chromium's encoders made (its fake
//! camera in VP8, VP9, H.264 and AV1, its fake microphone in Opus), as kaon received them
//! (after SRTP, RTX unwrapped), stored in `tests/fixtures/rtp/chromium-*.krtp` (the format is in
//! `tests/fixtures/rtp/README.md`). The replay tests feed them through the jitter buffer (and
//! so the depacketizers) and check what comes out: whole frames in order, keyframes where the
//! bitstream has them, the picture size in each keyframe, nothing reported lost; and the same
//! frames when the packets arrive reordered.
//!
//! The fixtures are made by the ignored test `capture_chromium_rtp_fixtures`, which needs
//! Chromium and node with playwright-core (tests/interop/chromium):
//!
//! ```text
//! cargo test --test media_fixtures -- --ignored capture_chromium_rtp_fixtures
//! ```

mod common;
// The keyframe gate of the forwarding examples (broadcast, swap-tracks), checked on real RTP.
#[path = "../examples/broadcast/rewrite.rs"]
mod rewrite;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::media::codec::{Codec, frame_info};
use kaon::media::jitter::{JitterBuffer, JitterConfig, Sample};
use kaon::rtp::RtpPacket;

/// The fixture format's first bytes.
const MAGIC: &[u8; 5] = b"KRTP1";

/// One capture: the codec (its `a=rtpmap` name and clock rate) and the packets with their
/// arrival times in milliseconds from the first.
#[derive(Debug)]
struct Capture {
    codec: String,
    clock_rate: u32,
    packets: Vec<(u32, Vec<u8>)>,
}

impl Capture {
    fn write(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.clock_rate.to_be_bytes());
        out.push(self.codec.len() as u8);
        out.extend_from_slice(self.codec.as_bytes());
        for (at, p) in &self.packets {
            out.extend_from_slice(&at.to_be_bytes());
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    fn parse(b: &[u8]) -> Result<Self, String> {
        let rest = b.strip_prefix(MAGIC).ok_or("no KRTP1 magic")?;
        let take = |rest: &mut &[u8], n: usize| -> Result<Vec<u8>, String> {
            if rest.len() < n {
                return Err(format!("truncated: {n} bytes wanted, {} left", rest.len()));
            }
            let (a, b) = rest.split_at(n);
            *rest = b;
            Ok(a.to_vec())
        };
        let mut rest = rest;
        let clock = take(&mut rest, 4)?;
        let clock_rate = u32::from_be_bytes([clock[0], clock[1], clock[2], clock[3]]);
        let n = take(&mut rest, 1)?[0] as usize;
        let codec = String::from_utf8(take(&mut rest, n)?).map_err(|e| e.to_string())?;
        let mut packets = Vec::new();
        while !rest.is_empty() {
            let at = take(&mut rest, 4)?;
            let len = take(&mut rest, 2)?;
            let p = take(&mut rest, usize::from(u16::from_be_bytes([len[0], len[1]])))?;
            packets.push((u32::from_be_bytes([at[0], at[1], at[2], at[3]]), p));
        }
        Ok(Self {
            codec,
            clock_rate,
            packets,
        })
    }
}

fn fixture(name: &str) -> PathBuf {
    common::repo_root().join("tests/fixtures/rtp").join(name)
}

fn load(name: &str) -> Capture {
    let path = fixture(name);
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Capture::parse(&b).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn codec_of(name: &str) -> Codec {
    match name.to_ascii_uppercase().as_str() {
        "VP8" => Codec::Vp8,
        "VP9" => Codec::Vp9,
        "H264" => Codec::H264,
        "AV1" => Codec::Av1,
        "OPUS" => Codec::Opus,
        other => panic!("no payload format for {other}"),
    }
}

/// Feeds `packets` (in the order given, each at its arrival time) through a jitter buffer for
/// `codec` and returns every frame it hands out, after waiting out what is left.
fn replay(codec: Codec, packets: &[(u32, Vec<u8>)]) -> Vec<Sample> {
    let t0 = Instant::now();
    let mut jitter = JitterBuffer::new(codec, JitterConfig::default());
    let mut out = Vec::new();
    let mut last = t0;
    for (at, p) in packets {
        let now = t0 + Duration::from_millis(u64::from(*at));
        last = last.max(now);
        if jitter.poll_timeout().is_some_and(|d| d <= last) {
            jitter.handle_timeout(last);
        }
        let pkt = RtpPacket::new_checked(&p[..]).expect("a fixture packet parses");
        // RFC 3550 §5.1: a packet with nothing but padding carries no media.
        if pkt.payload().is_empty() {
            continue;
        }
        let start = pkt.header_len();
        let payload = Bytes::copy_from_slice(&p[start..start + pkt.payload().len()]);
        jitter.insert(
            last,
            pkt.sequence_number(),
            pkt.timestamp(),
            pkt.marker(),
            payload,
        );
        while let Some(s) = jitter.poll_sample() {
            out.push(s);
        }
    }
    let end = last + Duration::from_secs(2);
    while let Some(d) = jitter.poll_timeout().filter(|d| *d <= end) {
        jitter.handle_timeout(d);
        while let Some(s) = jitter.poll_sample() {
            out.push(s);
        }
    }
    out
}

/// Swaps neighbours with the same arrival time: reordering within a burst, as a network does.
fn reordered(packets: &[(u32, Vec<u8>)]) -> Vec<(u32, Vec<u8>)> {
    let mut v = packets.to_vec();
    let mut i = 0;
    while i + 1 < v.len() {
        if v[i].0 == v[i + 1].0 {
            v.swap(i, i + 1);
            i += 2;
        } else {
            i += 1;
        }
    }
    v
}

/// Checks one video capture's replay: frames whole and in order, keyframes as the bitstream
/// says, a picture size in each keyframe, nothing lost; reordering changes nothing.
fn check_video(file: &str, want: Codec) {
    let cap = load(file);
    let codec = codec_of(&cap.codec);
    assert_eq!(codec, want, "{file} holds {}", cap.codec);
    assert_eq!(cap.clock_rate, 90_000);
    let frames = replay(codec, &cap.packets);
    let keyframes: Vec<&Sample> = frames.iter().filter(|s| s.keyframe).collect();
    let sizes: Vec<Option<(u32, u32)>> = keyframes
        .iter()
        .map(|s| frame_info(codec, &s.data).dimensions)
        .collect();
    eprintln!(
        "{file}: {} packets -> {} frames ({} bytes), {} keyframes, sizes {sizes:?}",
        cap.packets.len(),
        frames.len(),
        frames.iter().map(|s| s.data.len()).sum::<usize>(),
        keyframes.len()
    );
    assert!(frames.len() >= 15, "{file}: frames come out");
    assert!(
        frames[0].keyframe,
        "{file}: the stream opens with a keyframe"
    );
    assert!(
        keyframes.len() >= 2,
        "{file}: the keyframe kaon asked for mid-capture comes out too"
    );
    for (i, s) in frames.iter().enumerate() {
        assert!(!s.lost_before, "{file}: frame {i}: nothing was lost");
        assert_eq!(
            frame_info(codec, &s.data).keyframe,
            s.keyframe,
            "{file}: frame {i}: the keyframe flag agrees with the bitstream"
        );
        if i > 0 {
            let prev = &frames[i - 1];
            assert!(
                s.rtp_timestamp.wrapping_sub(prev.rtp_timestamp) as i32 > 0,
                "{file}: frame {i}: frames in timestamp order"
            );
            assert_eq!(
                prev.seq_range.1.wrapping_add(1),
                s.seq_range.0,
                "{file}: frame {i}: each frame starts where the one before ended"
            );
        }
    }
    for (i, size) in sizes.iter().enumerate() {
        let (w, h) = size.unwrap_or_else(|| panic!("{file}: keyframe {i} has no picture size"));
        assert!(w >= 160 && h >= 120, "{file}: keyframe {i} is {w}x{h}");
    }
    // The forwarding examples start a viewer (or switch a source) at the packet that opens a
    // keyframe, judged packet by packet: exactly the first packets of the keyframes.
    let mut prev_ts = None;
    let mut opening = Vec::new();
    for (_, p) in &cap.packets {
        let pkt = RtpPacket::new_checked(&p[..]).unwrap();
        if pkt.payload().is_empty() {
            continue;
        }
        if rewrite::opens_keyframe(codec, p, prev_ts) {
            opening.push(pkt.sequence_number());
        }
        prev_ts = Some(pkt.timestamp());
    }
    let firsts: Vec<u16> = keyframes.iter().map(|s| s.seq_range.0).collect();
    assert_eq!(
        opening, firsts,
        "{file}: the packets that open a keyframe are the keyframes' first"
    );
    let again = replay(codec, &reordered(&cap.packets));
    assert_eq!(
        again.len(),
        frames.len(),
        "{file}: reordering loses nothing"
    );
    assert!(
        again.iter().zip(&frames).all(|(a, b)| a.data == b.data),
        "{file}: reordered packets give the same frames"
    );
}

#[test]
fn chromium_vp8_rtp_replays_into_whole_frames_and_keyframes() {
    check_video("chromium-vp8.krtp", Codec::Vp8);
}

#[test]
fn chromium_vp9_rtp_replays_into_whole_frames_and_keyframes() {
    check_video("chromium-vp9.krtp", Codec::Vp9);
}

#[test]
fn chromium_h264_rtp_replays_into_whole_frames_and_keyframes() {
    check_video("chromium-h264.krtp", Codec::H264);
}

#[test]
fn chromium_av1_rtp_replays_into_whole_frames_and_keyframes() {
    check_video("chromium-av1.krtp", Codec::Av1);
}

#[test]
fn chromium_opus_rtp_replays_one_frame_per_packet() {
    let cap = load("chromium-opus.krtp");
    assert_eq!(codec_of(&cap.codec), Codec::Opus);
    assert_eq!(cap.clock_rate, 48_000);
    let frames = replay(Codec::Opus, &cap.packets);
    eprintln!(
        "opus: {} packets -> {} frames",
        cap.packets.len(),
        frames.len()
    );
    assert_eq!(frames.len(), cap.packets.len(), "every packet is a frame");
    for (i, (s, (_, p))) in frames.iter().zip(&cap.packets).enumerate() {
        let pkt = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(
            &s.data[..],
            pkt.payload(),
            "frame {i} is its packet's payload"
        );
        assert!(s.keyframe && !s.lost_before);
        if i > 0 {
            // 20 ms packets at 48 kHz.
            assert_eq!(s.duration, 960, "frame {i} lasts 20 ms");
        }
    }
}

#[test]
fn the_fixture_format_round_trips_and_refuses_truncation() {
    let cap = Capture {
        codec: "VP8".into(),
        clock_rate: 90_000,
        packets: vec![
            (0, vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0x10]),
            (5, vec![1; 3]),
        ],
    };
    let b = cap.write();
    let back = Capture::parse(&b).unwrap();
    assert_eq!(
        (back.codec.as_str(), back.clock_rate, &back.packets),
        ("VP8", 90_000, &cap.packets)
    );
    for n in 0..b.len() {
        // Every proper prefix ending inside a record or the header is refused, not misread.
        let r = Capture::parse(&b[..n]);
        let whole_records = [10 + 3, 10 + 3 + 6 + 13];
        assert_eq!(r.is_ok(), whole_records.contains(&n), "prefix of {n} bytes");
    }
}

/// Captures the fixtures from Chromium (see the module docs): its fake camera in each codec
/// and its fake microphone, 1.5 s each, a keyframe asked for halfway.
#[test]
#[ignore = "makes tests/fixtures/rtp/chromium-*.krtp; needs Chromium"]
fn capture_chromium_rtp_fixtures() {
    use common::chromium::{Browser, peer_available};
    use common::json_lines::json_str;
    use kaon::peer::{MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind};
    use kaon::sdp::SessionDescription;

    let test = "capture_chromium_rtp_fixtures";
    if !peer_available(test) {
        return;
    }
    let mut browser = Browser::start();
    for (video, file) in [
        ("VP8", "chromium-vp8.krtp"),
        ("VP9", "chromium-vp9.krtp"),
        ("H264", "chromium-h264.krtp"),
        ("AV1", "chromium-av1.krtp"),
    ] {
        browser.send(r#"{"cmd":"reset"}"#);
        browser.wait("reset", Duration::from_secs(10), |e| e.is("reset"));
        browser.send(&format!(
            r#"{{"cmd":"send-offer","kinds":["audio","video"],"video":"{video}"}}"#
        ));
        let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
        let mut engine = MediaEngine::default();
        engine.codecs.retain(|c| {
            c.name.eq_ignore_ascii_case(if c.kind == TrackKind::Audio {
                "opus"
            } else {
                video
            })
        });
        let config = PeerConfig {
            media: std::sync::Arc::new(engine),
            ..PeerConfig::default()
        };
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut pc = PeerConnection::new(config).unwrap();
        pc.add_local_address(socket.local_addr().unwrap()).unwrap();
        pc.set_remote_description(
            SdpType::Offer,
            SessionDescription::parse(offer.get("sdp")).unwrap(),
        )
        .unwrap();
        let answer = pc.create_answer(std::time::Instant::now()).unwrap();
        pc.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        let driver = kaon_std::Driver::spawn(pc, vec![socket]).unwrap();
        browser.send(&format!(
            r#"{{"cmd":"answer","sdp":{}}}"#,
            json_str(&answer.to_string())
        ));
        browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));

        let mut kinds = std::collections::HashMap::new();
        let (mut vids, mut auds) = (Vec::new(), Vec::new());
        // Arrival times count from the first packet; the capture lasts 1.5 s from the first
        // video packet (encoders start at their own pace).
        let (mut first, mut first_video, mut asked) = (None::<Instant>, None::<Instant>, false);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = Instant::now();
            assert!(
                now < deadline,
                "{video}: no media from Chromium within 30 s"
            );
            if first_video.is_some_and(|f| now >= f + Duration::from_millis(1500)) {
                break;
            }
            if !asked
                && let Some(f) = first_video
                && now >= f + Duration::from_millis(700)
                && let Some(mid) = kinds
                    .iter()
                    .find(|(_, k)| **k == TrackKind::Video)
                    .map(|(m, _): (&String, _)| m.clone())
            {
                asked = true;
                driver.post(move |pc, now| {
                    pc.request_keyframe(now, &mid).unwrap();
                });
            }
            match driver.events().recv_timeout(Duration::from_millis(50)) {
                Ok(PeerEvent::Track(t)) => {
                    eprintln!("{video}: {} on mid {} is {}", t.kind, t.mid, t.codec.name);
                    kinds.insert(t.mid.to_string(), t.kind);
                }
                Ok(PeerEvent::Rtp { mid, packet }) => {
                    let f = *first.get_or_insert(Instant::now());
                    let at = f.elapsed().as_millis() as u32;
                    match kinds.get(mid.as_str()) {
                        Some(TrackKind::Video) => {
                            first_video.get_or_insert(Instant::now());
                            vids.push((at, packet.to_vec()))
                        }
                        Some(TrackKind::Audio) => auds.push((at, packet.to_vec())),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        driver.call(|pc, now| pc.close(now));
        let save = |name: &str, codec: &str, clock_rate, packets| {
            let cap = Capture {
                codec: codec.into(),
                clock_rate,
                packets,
            };
            let b = cap.write();
            eprintln!("{name}: {} packets, {} bytes", cap.packets.len(), b.len());
            std::fs::write(fixture(name), b).unwrap();
        };
        save(file, video, 90_000, vids);
        if video == "VP8" {
            save("chromium-opus.krtp", "opus", 48_000, auds);
        }
    }
}
