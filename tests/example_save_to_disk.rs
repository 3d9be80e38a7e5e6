//! The save-to-disk examples (VP8, VP9, AV1) against headless Chromium: the page sends its fake
//! camera (in the codec the example accepts)
//! and microphone (Opus), the example records them from kaon's frames to IVF and Ogg, the page
//! stops its tracks and closes. ffprobe must accept both files, ffmpeg must decode them without
//! an error, and the IVF's frame count must match Chromium's framesSent within the losses the
//! example reports.
//!
//! Needs Chromium, node with playwright-core (tests/interop/chromium) and ffmpeg; `.ci/run`
//! installs them. Without them the test fails under `CI=true` and is skipped otherwise.

mod common;
mod example_support;
#[path = "../examples/play-from-disk/signal.rs"]
mod signal;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use example_support::{Running, example};

fn have_ffmpeg(test: &str) -> bool {
    (common::which("ffmpeg").is_some() && common::which("ffprobe").is_some())
        || common::missing_peer(test, "ffmpeg and ffprobe")
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

/// `ffprobe` of one stream entry (`codec_name`, `nb_read_frames`...) of `file`.
fn ffprobe(file: &Path, select: &str, entry: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", select])
        .args([
            "-show_entries",
            &format!("stream={entry}"),
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe rejects {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `ffmpeg -v error -i F -f null -` succeeds and prints nothing but complaints of its null
/// muxer, and the file's packet timestamps strictly increase. The null muxer rescales each
/// frame's time to the frame rate it guessed (20 fps for a camera that sends ~22 frames a
/// second): two frames Chromium captured 11 ms apart on a busy machine land on one tick there
/// ("non monotonically increasing dts to muxer"), though the file's own times are in order.
fn decodes_cleanly(file: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !(l.starts_with("[null @") && l.contains("dts to muxer")))
        .collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "ffmpeg decodes {} with errors: {stderr}",
        file.display(),
    );
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let pts: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(
        !pts.is_empty(),
        "ffprobe lists the packets of {}",
        file.display()
    );
    assert!(
        pts.windows(2).all(|w| w[0] < w[1]),
        "packet times of {} strictly increase: {pts:?}",
        file.display()
    );
}

/// Runs `name` (a save-to-disk example) against Chromium sending `codec` video and Opus, and
/// checks the files.
fn save_case(test: &str, name: &str, codec: &str) {
    if !peer_available(test) || !have_ffmpeg(test) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kaon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = (dir.join("out.ivf"), dir.join("out.ogg"));
    let (offer_file, answer_file) = (dir.join("offer.txt"), dir.join("answer.txt"));
    let program = example(name);

    let mut browser = Browser::start();
    browser.send(&format!(
        r#"{{"cmd":"send-offer","kinds":["audio","video"],"video":"{codec}"}}"#
    ));
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    std::fs::write(&offer_file, signal::encode("offer", offer.get("sdp"))).unwrap();
    let mut run = Running::start(
        Command::new(program)
            .arg("--video")
            .arg(&video)
            .arg("--audio")
            .arg(&audio)
            .arg("--offer")
            .arg(&offer_file)
            .arg("--answer")
            .arg(&answer_file)
            .args(["--duration", "60"]),
    );
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
    run.line("40 video frames recorded", Duration::from_secs(30), |l| {
        l.strip_prefix("progress: video ")
            .and_then(|r| r.split(' ').next()?.parse::<u64>().ok())
            .is_some_and(|n| n >= 40)
    });
    browser.send(r#"{"cmd":"stop-tracks"}"#);
    browser.wait("tracks-stopped", Duration::from_secs(10), |e| {
        e.is("tracks-stopped")
    });
    // The last frames reach kaon; then the counts are final on both sides.
    std::thread::sleep(Duration::from_secs(1));
    browser.send(r#"{"cmd":"media-stats"}"#);
    let stats = browser.wait("media-stats", Duration::from_secs(10), |e| {
        e.is("media-stats")
    });
    let outbound = objects(stats.get("outbound"));
    let sent = stat(&outbound, "video", "sent");
    let audio_sent = stat(&outbound, "audio", "packets");
    browser.send(r#"{"cmd":"pc-close"}"#);
    let summary = run.line("the video summary", Duration::from_secs(20), |l| {
        l.starts_with("video: ")
    });
    run.line("the audio summary", Duration::from_secs(10), |l| {
        l.starts_with("audio: ")
    });
    let status = run.child.wait().expect("wait for the example");
    assert!(status.success(), "save-to-disk exited with {status}");

    // "video: N frames (K keyframes, B bytes, WxH, L after a loss) in PATH"
    let words: Vec<&str> = summary.split_whitespace().collect();
    let recorded: u64 = words[1].parse().unwrap();
    let after_loss: u64 = words[8].trim_start_matches('(').parse().unwrap_or(0);
    assert_eq!(
        ffprobe(&video, "v:0", "codec_name"),
        codec.to_ascii_lowercase()
    );
    let probed: u64 = ffprobe(&video, "v:0", "nb_read_frames").parse().unwrap();
    assert_eq!(ffprobe(&audio, "a:0", "codec_name"), "opus");
    decodes_cleanly(&video);
    decodes_cleanly(&audio);
    eprintln!(
        "{name}: chromium framesSent {sent}, audio packets sent {audio_sent}; kaon recorded {recorded} \
         frames ({after_loss} after a loss), ffprobe reads {probed}"
    );
    assert_eq!(probed, recorded, "ffprobe reads every frame written");
    assert!(recorded <= sent, "no frame recorded twice");
    // A loss kaon cannot repair costs the frames up to the next keyframe; on loopback none is
    // expected, but allow the few the start of a call can cost.
    assert!(
        recorded + 3 + after_loss * 60 >= sent,
        "{recorded} of {sent} frames recorded"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_to_disk_records_chromium_vp8_and_opus_to_files_ffmpeg_decodes() {
    save_case(
        "save_to_disk_records_chromium_vp8_and_opus_to_files_ffmpeg_decodes",
        "save-to-disk",
        "VP8",
    );
}

#[test]
fn save_to_disk_vp9_records_chromium_vp9_to_an_ivf_ffmpeg_decodes() {
    save_case(
        "save_to_disk_vp9_records_chromium_vp9_to_an_ivf_ffmpeg_decodes",
        "save-to-disk-vp9",
        "VP9",
    );
}

#[test]
fn save_to_disk_av1_records_chromium_av1_to_an_ivf_ffmpeg_decodes() {
    save_case(
        "save_to_disk_av1_records_chromium_av1_to_an_ivf_ffmpeg_decodes",
        "save-to-disk-av1",
        "AV1",
    );
}
