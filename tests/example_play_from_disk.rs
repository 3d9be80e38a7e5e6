//! The play-from-disk examples against headless Chromium: ffmpeg makes an IVF file (VP8, VP9,
//! AV1) or an H.264 Annex B file (for play-h264-from-disk), and an Ogg Opus file, at test time;
//! the page offers to receive audio and video, the example answers (Pion's base64 JSON, through
//! files) and plays the files. Chromium's getStats must show
//! every frame of the file decoded (framesDecoded equal to the file's frame count, at least
//! one keyframe) and the audio arriving.
//!
//! Needs Chromium, node with playwright-core (tests/interop/chromium) and ffmpeg; `.ci/run`
//! installs them. Without them the test fails under `CI=true` and is skipped otherwise.

mod common;
mod example_support;
#[path = "../examples/play-from-disk/signal.rs"]
mod signal;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use example_support::{Running, example};
use kaon::media::file::annexb::AnnexBReader;
use kaon::media::file::ivf::IvfReader;

/// Whether ffmpeg is here (or why the test skips).
pub fn have_ffmpeg(test: &str) -> bool {
    common::which("ffmpeg").is_some() || common::missing_peer(test, "ffmpeg")
}

fn scratch(name: &str) -> PathBuf {
    // A counter too: tests of one process run at once and must not share a directory.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kaon-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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

/// The flat objects of a JSON array the page stringified (`[{..},{..}]`).
fn objects(list: &str) -> Vec<Ev> {
    list.split('{')
        .skip(1)
        .filter_map(|o| Ev::parse(&format!("{{{}}}", o.split('}').next()?)))
        .collect()
}

fn stat(list: &[Ev], kind: &str, field: &str) -> u64 {
    list.iter()
        .filter(|e| e.get("kind") == kind)
        .map(|e| e.get(field).parse::<f64>().unwrap_or(0.0) as u64)
        .sum()
}

/// Chromium's inbound RTP stream stats.
fn inbound(browser: &mut Browser) -> Vec<Ev> {
    browser.send(r#"{"cmd":"media-stats"}"#);
    let e = browser.wait("media-stats", Duration::from_secs(10), |e| {
        e.is("media-stats")
    });
    objects(e.get("inbound"))
}

/// Plays `video` (and `audio`) to Chromium through the example; returns Chromium's inbound
/// stats once the example is done.
fn play(test: &str, name: &str, dir: &Path, video: &Path, audio: Option<&Path>) -> Vec<Ev> {
    let program = example(name);
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"recv-offer","kinds":["audio","video"]}"#);
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    let (offer_file, answer_file) = (dir.join("offer.txt"), dir.join("answer.txt"));
    std::fs::write(&offer_file, signal::encode("offer", offer.get("sdp"))).unwrap();
    let mut cmd = Command::new(program);
    cmd.arg("--video").arg(video);
    if let Some(a) = audio {
        cmd.arg("--audio").arg(a);
    }
    cmd.arg("--offer").arg(&offer_file);
    cmd.arg("--answer").arg(&answer_file);
    let mut run = Running::start(&mut cmd);
    run.line("the answer", Duration::from_secs(30), |l| {
        l.starts_with("answer written")
    });
    let answer = std::fs::read_to_string(&answer_file).unwrap();
    let answer = signal::decode(&answer, "answer").expect("the example's answer decodes");
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));
    let done = run.line("done", Duration::from_secs(60), |l| l.starts_with("done:"));
    eprintln!("{test}: {done}");
    let stats = inbound(&mut browser);
    let status = run.child.wait().expect("wait for the example");
    assert!(status.success(), "play-from-disk exited with {status}");
    stats
}

/// Makes 3 s of 320x240 video at 30 fps with `encoder` into `file`, a keyframe each second and
/// no frame the decoder does not show (no alt-ref, no lookahead, no B-frames): every frame of
/// the file is one Chromium decodes.
fn make_video(file: &Path, encoder: &[&str]) {
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-t",
        "3",
    ];
    args.extend_from_slice(encoder);
    args.push(file.to_str().unwrap());
    ffmpeg(&args);
}

/// Plays a file made by `encoder` with example `name`, and checks Chromium decodes every
/// frame of it (and the audio arrives, when there is audio).
fn play_case(test: &str, name: &str, file: &str, encoder: &[&str], with_audio: bool) {
    if !peer_available(test) || !have_ffmpeg(test) {
        return;
    }
    let dir = scratch(&format!("{name}-{file}"));
    let (video, audio) = (dir.join(file), dir.join("audio.ogg"));
    make_video(&video, encoder);
    if with_audio {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:a",
            "libopus",
            audio.to_str().unwrap(),
        ]);
    }
    let data = std::fs::read(&video).unwrap();
    let frames = if data.starts_with(b"DKIF") {
        IvfReader::new(&data).unwrap().count()
    } else {
        AnnexBReader::new(&data, false).count()
    } as u64;
    let stats = play(
        test,
        name,
        &dir,
        &video,
        with_audio.then_some(audio.as_path()),
    );
    let decoded = stat(&stats, "video", "frames");
    let keyframes = stat(&stats, "video", "keyframes");
    let audio_packets = stat(&stats, "audio", "packets");
    eprintln!(
        "{test}: file {frames} frames; chromium: framesDecoded {decoded}, keyFramesDecoded \
         {keyframes}, video packets lost {}, audio packets {audio_packets}",
        stat(&stats, "video", "lost")
    );
    assert_eq!(decoded, frames, "every frame of the file decoded");
    assert!(keyframes >= 1, "a keyframe decoded");
    if with_audio {
        assert!(audio_packets >= 140, "3 s of 20 ms Opus packets arrived");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn play_from_disk_vp8_and_opus_reach_chromium_frame_for_frame() {
    play_case(
        "play_from_disk_vp8_and_opus_reach_chromium_frame_for_frame",
        "play-from-disk",
        "video.ivf",
        &[
            "-c:v",
            "libvpx",
            "-g",
            "30",
            "-auto-alt-ref",
            "0",
            "-lag-in-frames",
            "0",
            "-b:v",
            "400k",
        ],
        true,
    );
}

#[test]
fn play_from_disk_vp9_reaches_chromium_frame_for_frame() {
    play_case(
        "play_from_disk_vp9_reaches_chromium_frame_for_frame",
        "play-from-disk",
        "video.ivf",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-g",
            "30",
            "-auto-alt-ref",
            "0",
            "-lag-in-frames",
            "0",
            "-b:v",
            "400k",
        ],
        false,
    );
}

#[test]
fn play_from_disk_av1_reaches_chromium_frame_for_frame() {
    play_case(
        "play_from_disk_av1_reaches_chromium_frame_for_frame",
        "play-from-disk",
        "video.ivf",
        &[
            "-c:v",
            "libaom-av1",
            "-cpu-used",
            "8",
            "-usage",
            "realtime",
            "-g",
            "30",
            "-lag-in-frames",
            "0",
            "-b:v",
            "400k",
        ],
        false,
    );
}

#[test]
fn play_h264_from_disk_reaches_chromium_frame_for_frame() {
    play_case(
        "play_h264_from_disk_reaches_chromium_frame_for_frame",
        "play-h264-from-disk",
        "video.h264",
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "30",
            "-bf",
            "0",
            "-f",
            "h264",
        ],
        true,
    );
}
