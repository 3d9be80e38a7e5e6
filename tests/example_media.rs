//! The media examples against headless Chromium (fake camera and microphone) and ffmpeg:
//!
//! - `reflect`: Chromium offers audio and video; the example's answer goes back to the page and
//!   Chromium decodes its own video, sent back by kaon.
//! - `rtp-forwarder`: Chromium's media goes to local UDP ports; ffmpeg reads the SDP file the
//!   example writes and decodes the video.
//! - `rtp-to-webrtc`: ffmpeg sends VP8 RTP to the example, which sends it to Chromium, first
//!   answering Chromium's receive-only offer, then offering itself (`--kaon-offers`).
//!
//! Needs Chromium, node with tests/interop/chromium/node_modules, and ffmpeg; `.ci/run`
//! installs them.

mod common;
mod example_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use example_support::example;

/// One Chromium at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn available(test: &str) -> bool {
    if !peer_available(test) {
        return false;
    }
    if common::which("ffmpeg").is_none() {
        return common::missing_peer(test, "ffmpeg");
    }
    true
}

/// A running example: its stdin, and its stdout lines (stderr is passed through).
struct Example {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Example {
    fn start(name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Writes a description as the JSON line the examples read.
    fn give(&mut self, kind: &str, sdp: &str) {
        writeln!(self.stdin, r#"{{"type":"{kind}","sdp":{}}}"#, json_str(sdp)).unwrap();
        writeln!(self.stdin).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next description the example prints.
    fn description(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the example prints a description");
        let e = Ev::parse(&line).unwrap_or_else(|| panic!("not a JSON description: {line}"));
        e.get("sdp").to_string()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        // Ends only the process this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium's inbound video: frames decoded.
fn frames_decoded(browser: &mut Browser) -> u64 {
    browser.send(r#"{"cmd":"media-stats"}"#);
    let e = browser.wait("media-stats", Duration::from_secs(10), |e| {
        e.is("media-stats")
    });
    e.get("inbound")
        .split('{')
        .skip(1)
        .filter_map(|o| Ev::parse(&format!("{{{}}}", o.split('}').next()?)))
        .filter(|e| e.get("kind") == "video")
        .map(|e| e.get("frames").parse::<u64>().unwrap_or(0))
        .sum()
}

/// Waits until Chromium has decoded more than `n` frames of incoming video.
fn wait_frames(browser: &mut Browser, n: u64, limit: Duration) -> u64 {
    let end = Instant::now() + limit;
    loop {
        let f = frames_decoded(browser);
        if f > n || Instant::now() >= end {
            return f;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A UDP port free right now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// ffmpeg sending a VP8 test picture as RTP to `port`, for as long as the test runs.
fn ffmpeg_vp8_to(port: u16) -> Child {
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-b:v",
            "400k",
            "-g",
            "30",
            "-t",
            "30",
            "-f",
            "rtp",
        ])
        .arg(format!("rtp://127.0.0.1:{port}?pkt_size=1200"))
        .stdin(Stdio::null())
        .spawn()
        .expect("start ffmpeg")
}

#[test]
fn reflect_example_sends_chromiums_camera_back() {
    const TEST: &str = "reflect_example_sends_chromiums_camera_back";
    if !available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut ex = Example::start("reflect", &["--seconds", "40"]);
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer","media":["audio","video"]}"#);
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    ex.give("offer", offer.get("sdp"));
    let answer = ex.description();
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));
    let frames = wait_frames(&mut browser, 30, Duration::from_secs(20));
    eprintln!("Chromium decoded {frames} frames of its own video, sent back by reflect");
    assert!(frames > 30, "the reflected video decodes");
}

#[test]
fn rtp_forwarder_example_feeds_ffmpeg() {
    const TEST: &str = "rtp_forwarder_example_feeds_ffmpeg";
    if !available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("kaon-rtp-forwarder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sdp = dir.join("forward.sdp");
    let (audio, video) = (free_port().to_string(), free_port().to_string());
    let mut ex = Example::start(
        "rtp-forwarder",
        &[
            "--audio-port",
            &audio,
            "--video-port",
            &video,
            "--sdp",
            sdp.to_str().unwrap(),
            "--keyframe-every",
            "1",
            "--seconds",
            "40",
        ],
    );
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer","media":["audio","video"]}"#);
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    ex.give("offer", offer.get("sdp"));
    let answer = ex.description();
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));
    // The SDP file names both streams once their first packets came.
    let end = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let t = std::fs::read_to_string(&sdp).unwrap_or_default();
        if t.contains("m=video") && t.contains("m=audio") {
            break t;
        }
        assert!(
            Instant::now() < end,
            "rtp-forwarder wrote no SDP for both streams: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("rtp-forwarder's SDP:\n{text}");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-protocol_whitelist", "file,udp,rtp", "-i"])
        .arg(&sdp)
        .args(["-map", "0:v", "-t", "4", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let log = String::from_utf8_lossy(&out.stderr);
    let frames: u64 = log
        .rsplit("frame=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    eprintln!("ffmpeg decoded {frames} frames of Chromium's video from rtp-forwarder");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(frames > 20, "ffmpeg decodes the forwarded video:\n{log}");
}

#[test]
fn rtp_to_webrtc_example_sends_ffmpegs_vp8_to_chromium_answering_and_offering() {
    const TEST: &str = "rtp_to_webrtc_example_sends_ffmpegs_vp8_to_chromium_answering_and_offering";
    if !available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut browser = Browser::start();

    // Chromium offers a receive-only video transceiver; the example answers.
    let port = free_port();
    let rtp = format!("127.0.0.1:{port}");
    let mut ex = Example::start("rtp-to-webrtc", &["--rtp", &rtp, "--seconds", "40"]);
    browser.send(r#"{"cmd":"offer","recv":["video"]}"#);
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    ex.give("offer", offer.get("sdp"));
    let answer = ex.description();
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));
    let mut ffmpeg = ffmpeg_vp8_to(port);
    let frames = wait_frames(&mut browser, 30, Duration::from_secs(20));
    eprintln!("Chromium decoded {frames} frames of ffmpeg's VP8 through rtp-to-webrtc (answering)");
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    drop(ex);
    assert!(
        frames > 30,
        "ffmpeg's video reaches Chromium when it offers"
    );

    // kaon offers a send-only video section; Chromium answers.
    browser.send(r#"{"cmd":"reset"}"#);
    browser.wait("reset", Duration::from_secs(10), |e| e.is("reset"));
    let port = free_port();
    let rtp = format!("127.0.0.1:{port}");
    let mut ex = Example::start(
        "rtp-to-webrtc",
        &["--rtp", &rtp, "--kaon-offers", "--seconds", "40"],
    );
    let offer = ex.description();
    browser.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = browser.wait("answer", Duration::from_secs(15), |e| e.is("answer"));
    ex.give("answer", answer.get("sdp"));
    let mut ffmpeg = ffmpeg_vp8_to(port);
    let frames = wait_frames(&mut browser, 30, Duration::from_secs(20));
    eprintln!("Chromium decoded {frames} frames of ffmpeg's VP8 through rtp-to-webrtc (offering)");
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    assert!(
        frames > 30,
        "ffmpeg's video reaches Chromium when kaon offers"
    );
}
