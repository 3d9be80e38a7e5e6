//! Media with aiortc 1.16 when kaon offers: kaon sends ffmpeg-made files frame by frame with
//! `write_sample` (VP8 + Opus, then H.264 + Opus) and aiortc decodes them; aiortc sends its
//! synthetic audio and video back and kaon announces and receives both. (aiortc offering, with
//! kaon reflecting its media, is in `peer_aiortc.rs`.)
//!
//! Needs the venv with aiortc (`.ci/venv`) and ffmpeg: skipped with a printed reason without
//! them, failing when `CI=true`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::aiortc::{Aiortc, STEP, venv};
use common::json_lines::json_str;
use common::kaon_peer::bind;
use kaon::media::file::annexb::AnnexBReader;
use kaon::media::file::ivf::IvfReader;
use kaon::media::file::ogg::{OggOpusReader, opus_packet_samples};
use kaon::media::jitter::Sample;
use kaon::peer::{
    ConnectionState, LocalTrack, MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType,
    TrackKind,
};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

/// Seconds of media in each file.
const SECONDS: u32 = 3;

fn have_ffmpeg(test: &str) -> bool {
    common::which("ffmpeg").is_some() || common::missing_peer(test, "ffmpeg")
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaon-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs ffmpeg quietly; panics with its output when it fails.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One frame to send `at` after the start, on the audio or the video track.
struct Item {
    at: Duration,
    video: bool,
    sample: Sample,
}

/// A 320x240 test picture at 30 fps, `SECONDS` long, as VP8 in IVF or H.264 Annex B
/// (constrained baseline, what kaon offers), and a sine as Ogg Opus; their frames in send order.
fn media(dir: &Path, h264: bool) -> Vec<Item> {
    let source = format!("testsrc=size=320x240:rate=30:duration={SECONDS}");
    let video = dir.join(if h264 { "v.h264" } else { "v.ivf" });
    let video_s = video.to_str().unwrap();
    if h264 {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "h264",
            video_s,
        ]);
    } else {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-c:v",
            "libvpx",
            "-b:v",
            "400k",
            "-g",
            "30",
            "-deadline",
            "realtime",
            video_s,
        ]);
    }
    let audio = dir.join("a.ogg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:duration={SECONDS}"),
        "-c:a",
        "libopus",
        "-b:a",
        "32k",
        audio.to_str().unwrap(),
    ]);
    let mut items = Vec::new();
    let file = Bytes::from(std::fs::read(&video).unwrap());
    if h264 {
        for (i, unit) in AnnexBReader::new(&file, false).enumerate() {
            let seconds = i as f64 / 30.0;
            items.push(Item {
                at: Duration::from_secs_f64(seconds),
                video: true,
                sample: Sample::at(file.slice_ref(unit), (seconds * 90_000.0).round() as u32),
            });
        }
    } else {
        let reader = IvfReader::new(&file).expect("ffmpeg's IVF");
        let h = *reader.header();
        for f in reader {
            let f = f.expect("an IVF frame");
            let ticks = u128::from(f.pts) * u128::from(h.timebase_num);
            items.push(Item {
                at: Duration::from_nanos(
                    (ticks * 1_000_000_000 / u128::from(h.timebase_den)) as u64,
                ),
                video: true,
                sample: Sample::at(
                    file.slice_ref(f.data),
                    (ticks * 90_000 / u128::from(h.timebase_den)) as u32,
                ),
            });
        }
    }
    let frames = items.len();
    let ogg = std::fs::read(&audio).unwrap();
    let mut samples = 0u64;
    for p in OggOpusReader::new(&ogg).expect("ffmpeg's Ogg") {
        let p = p.expect("an Opus packet");
        let n = opus_packet_samples(&p.data).expect("an Opus packet's duration");
        items.push(Item {
            at: Duration::from_micros(samples * 1_000_000 / 48_000),
            video: false,
            sample: Sample::with_duration(Bytes::from(p.data), n),
        });
        samples += u64::from(n);
    }
    assert!(frames >= 80, "ffmpeg made {frames} video frames");
    items.sort_by_key(|i| i.at);
    items
}

/// The codec names of each m-line of a description, in order (`a=rtpmap` values).
fn codecs(sdp: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            out.push((m.split(' ').next().unwrap_or("").into(), Vec::new()));
        } else if let Some(r) = line.strip_prefix("a=rtpmap:")
            && let Some(last) = out.last_mut()
        {
            let name = r.split([' ', '/']).nth(1).unwrap_or("");
            last.1.push(name.to_ascii_lowercase());
        }
    }
    out
}

/// kaon offers audio and video with `engine`, aiortc answers with its synthetic tracks on both
/// lines; kaon sends the files' frames at their pace, then both sides report what they got.
fn kaon_offers_media(test: &str, h264: bool) {
    let Some(python) = venv(test) else {
        return;
    };
    if !have_ffmpeg(test) {
        return;
    }
    let dir = scratch(test);
    let items = media(&dir, h264);
    let mut engine = MediaEngine::default();
    if h264 {
        // Only H.264 for video (and RTX for it): aiortc must pick it.
        let keep: Vec<u8> = engine
            .codecs
            .iter()
            .filter(|c| c.kind == TrackKind::Video && c.name.eq_ignore_ascii_case("h264"))
            .filter(|c| c.fmtp.contains("packetization-mode=1"))
            .map(|c| c.payload_type)
            .collect();
        engine.codecs.retain(|c| {
            c.kind == TrackKind::Audio
                || (c.name.eq_ignore_ascii_case("h264") && keep.contains(&c.payload_type))
        });
    }
    let mut py = Aiortc::start(&python);
    let socket = bind();
    let mut pc = PeerConnection::new(PeerConfig {
        media: std::sync::Arc::new(engine),
        ..PeerConfig::default()
    })
    .expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    let now = Instant::now();
    for kind in [TrackKind::Audio, TrackKind::Video] {
        pc.add_track(
            now,
            kind,
            LocalTrack::new(&format!("kaon-{kind}"), &["kaon"]),
        )
        .expect("add_track");
    }
    let offer = pc.create_offer(now).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let offer = offer.to_string();
    let t0 = Instant::now();
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{},"media":["audio","video"]}}"#,
        json_str(&offer)
    ));
    let answer = py.wait("answer", STEP, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    eprintln!("aiortc answer:\n{answer}");
    let answered = codecs(&answer);
    let video_codec = if h264 { "h264" } else { "vp8" };
    assert!(
        answered
            .iter()
            .any(|(k, c)| k == "audio" && c.contains(&"opus".into())),
        "aiortc takes Opus: {answered:?}"
    );
    assert!(
        answered
            .iter()
            .any(|(k, c)| k == "video" && c.first() == Some(&video_codec.into())),
        "aiortc takes {video_codec}: {answered:?}"
    );
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer).expect("kaon parses aiortc's answer"),
    )
    .expect("kaon takes aiortc's answer");
    let mids: HashMap<TrackKind, String> = pc
        .transceivers()
        .filter_map(|(_, t)| Some((t.kind(), t.mid()?.to_string())))
        .collect();
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let driver = Driver::spawn(pc, vec![socket]).expect("driver");

    // Connected, then every frame at its time; events are read as they come.
    let mut tracks = Vec::new();
    let mut packets: HashMap<String, u64> = HashMap::new();
    let mut connected = false;
    let mut seen = |e: PeerEvent, connected: &mut bool| match e {
        PeerEvent::ConnectionStateChanged(ConnectionState::Connected) => *connected = true,
        PeerEvent::Track(t) => tracks.push((t.kind, t.codec.name.to_ascii_lowercase())),
        PeerEvent::Rtp { mid, .. } => *packets.entry(mid.to_string()).or_default() += 1,
        PeerEvent::DtlsFailed(e) => panic!("kaon: DTLS failed: {e}\n{}", py.stderr.show()),
        _ => {}
    };
    for e in early {
        seen(e, &mut connected);
    }
    let by = Instant::now() + STEP;
    while !connected {
        let left = by
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("kaon: not connected within {STEP:?}\n{}", py.stderr.show()));
        if let Ok(e) = driver.events().recv_timeout(left) {
            seen(e, &mut connected);
        }
    }
    println!(
        "kaon offer -> connected: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let start = Instant::now();
    let (mut video_frames, mut audio_frames) = (0u32, 0u32);
    for item in items {
        while let Some(wait) = (start + item.at).checked_duration_since(Instant::now()) {
            match driver.events().recv_timeout(wait) {
                Ok(e) => seen(e, &mut connected),
                Err(_) => break,
            }
        }
        let mid = mids[&if item.video {
            TrackKind::Video
        } else {
            TrackKind::Audio
        }]
            .clone();
        let sample = item.sample;
        driver
            .call(move |pc, now| pc.write_sample(now, &mid, &sample))
            .expect("driver alive")
            .unwrap_or_else(|e| panic!("write_sample: {e}"));
        if item.video {
            video_frames += 1;
        } else {
            audio_frames += 1;
        }
    }
    // The last frames reach aiortc's decoder.
    let settle = Instant::now() + Duration::from_millis(700);
    while let Some(left) = settle.checked_duration_since(Instant::now()) {
        if let Ok(e) = driver.events().recv_timeout(left) {
            seen(e, &mut connected);
        }
    }
    py.send(r#"{"cmd":"media-stats"}"#);
    let e = py.wait("media-stats", STEP, |e| e.is("media-stats"));
    let (audio, video) = (
        e.get("audio").parse::<u64>().unwrap_or(0),
        e.get("video").parse::<u64>().unwrap_or(0),
    );
    println!(
        "kaon sent {video_frames} {video_codec} frames and {audio_frames} Opus packets; aiortc \
         decoded {video} video and {audio} audio frames; kaon got {tracks:?} with {packets:?} \
         RTP packets per mid"
    );
    // aiortc's decoder sees every frame on loopback; allow a few lost at the start of a call.
    assert!(
        video + 10 >= u64::from(video_frames),
        "aiortc decoded {video} of {video_frames} {video_codec} frames\n{}",
        py.stderr.show()
    );
    assert!(
        audio * 2 >= u64::from(audio_frames),
        "aiortc decoded {audio} of {audio_frames} Opus packets\n{}",
        py.stderr.show()
    );
    for (kind, codec) in [(TrackKind::Audio, "opus"), (TrackKind::Video, video_codec)] {
        assert!(
            tracks.contains(&(kind, codec.to_string())),
            "kaon announces aiortc's {kind} as {codec}: {tracks:?}"
        );
        let n = packets.get(&mids[&kind]).copied().unwrap_or(0);
        assert!(n > 20, "kaon receives aiortc's {kind}: {n} packets");
    }
    driver.call(|pc, now| pc.close(now));
    if let Some(pc) = driver.shutdown() {
        eprintln!("kaon stats: {:?}", pc.stats());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kaon_offers_vp8_and_opus_and_aiortc_decodes_them_and_sends_its_own() {
    kaon_offers_media(
        "kaon_offers_vp8_and_opus_and_aiortc_decodes_them_and_sends_its_own",
        false,
    );
}

#[test]
fn kaon_offers_h264_and_opus_and_aiortc_decodes_them_and_sends_its_own() {
    kaon_offers_media(
        "kaon_offers_h264_and_opus_and_aiortc_decodes_them_and_sends_its_own",
        true,
    );
}
