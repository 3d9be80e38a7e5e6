//! The play-from-disk-renegotiation example against headless Chromium: ffmpeg makes a VP8 IVF
//! file at test time; the example's page connects, adds two video tracks (two re-offers kaon
//! answers with a track each, both playing the file) and removes one (a third exchange). Both
//! tracks must decode while added, and after the removal the remaining one must keep decoding
//! while the removed one stops.
//!
//! Needs Chromium, node with playwright-core (tests/interop/chromium) and ffmpeg; `.ci/run`
//! installs them. Without them the test fails under `CI=true` and is skipped otherwise.

mod common;
mod example_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use example_support::{Running, example};

const PAGE: &str = "renegotiation";

/// Evaluates `expr` in the example's page; returns the result as JSON text.
fn eval(browser: &mut Browser, expr: &str) -> String {
    browser.send(&format!(
        r#"{{"cmd":"page-eval","id":{},"expr":{}}}"#,
        json_str(PAGE),
        json_str(expr)
    ));
    let e = browser.wait(expr, Duration::from_secs(20), |e| {
        e.is("page-eval") && e.get("id") == PAGE
    });
    e.get("value").to_string()
}

/// The page's stats: its connection state and frames decoded per video mid.
fn stats(browser: &mut Browser) -> (String, BTreeMap<String, u64>) {
    let value = eval(browser, "window.kaonStats()");
    let s = Ev::parse(&value).unwrap_or_else(|| panic!("stats are not an object: {value}"));
    assert_eq!(s.get("error"), "", "the page failed");
    let tracks = s
        .get("tracks")
        .split_whitespace()
        .filter_map(|t| {
            let mut f = t.split(':');
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect();
    (s.get("state").to_string(), tracks)
}

/// Polls the stats until `pred` holds.
fn wait_stats(
    browser: &mut Browser,
    what: &str,
    pred: impl Fn(&str, &BTreeMap<String, u64>) -> bool,
) -> BTreeMap<String, u64> {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (state, tracks) = stats(browser);
        if pred(&state, &tracks) {
            return tracks;
        }
        assert!(
            Instant::now() < end,
            "not {what} within 20 s: {state} {tracks:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn have_ffmpeg(test: &str) -> bool {
    common::which("ffmpeg").is_some() || common::missing_peer(test, "ffmpeg")
}

#[test]
fn tracks_added_and_removed_by_renegotiation_and_the_remaining_one_keeps_decoding() {
    let test = "tracks_added_and_removed_by_renegotiation_and_the_remaining_one_keeps_decoding";
    if !peer_available(test) || !have_ffmpeg(test) {
        return;
    }
    let t0 = Instant::now();
    let dir = std::env::temp_dir().join(format!("kaon-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let video = dir.join("video.ivf");
    // 2 s at 30 fps, a keyframe each second, every frame shown (no alt-ref): the example loops it.
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .args([
            "-i",
            "testsrc=size=320x240:rate=30",
            "-t",
            "2",
            "-c:v",
            "libvpx",
        ])
        .args([
            "-g",
            "30",
            "-auto-alt-ref",
            "0",
            "-lag-in-frames",
            "0",
            "-b:v",
            "300k",
        ])
        .arg(&video)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let program = example("play-from-disk-renegotiation");
    let mut run = Running::start(
        Command::new(program)
            .arg("--video")
            .arg(&video)
            .args(["--bind", "127.0.0.1:0"]),
    );
    let banner = run.line("the URL", Duration::from_secs(30), |l| {
        l.contains("http://")
    });
    let http: SocketAddr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));

    let mut browser = Browser::start();
    browser.send(&format!(
        r#"{{"cmd":"open-page","id":{},"url":{}}}"#,
        json_str(PAGE),
        json_str(&format!("http://{http}/"))
    ));
    browser.wait("page-opened", Duration::from_secs(20), |e| {
        e.is("page-opened") && e.get("id") == PAGE
    });
    wait_stats(&mut browser, "connected", |state, _| state == "connected");

    eval(&mut browser, "window.addVideo()");
    wait_stats(&mut browser, "one track decoding", |_, t| {
        t.len() == 1 && t.values().all(|&f| f > 0)
    });
    eval(&mut browser, "window.addVideo()");
    let both = wait_stats(&mut browser, "two tracks decoding", |_, t| {
        t.len() == 2 && t.values().all(|&f| f > 0)
    });
    eprintln!("{test}: two tracks decoding: {both:?}");
    let (first, second) = {
        let mut mids = both.keys().cloned();
        (mids.next().unwrap(), mids.next().unwrap())
    };
    run.line("the second track added", Duration::from_secs(5), |l| {
        l.contains("added a track on mid") && l.ends_with("2 playing")
    });

    eval(&mut browser, "window.removeVideo()");
    let removed = run.line("the removal", Duration::from_secs(5), |l| {
        l.contains("removed the track on mid")
    });
    assert!(
        removed.contains(&format!("on mid {second} ")),
        "the newest track goes: {removed}"
    );
    // Let frames in flight arrive, then watch two seconds.
    std::thread::sleep(Duration::from_millis(500));
    let (_, before) = stats(&mut browser);
    std::thread::sleep(Duration::from_secs(2));
    let (state, after) = stats(&mut browser);
    eprintln!("{test}: after the removal: {before:?} -> {after:?} ({state})");
    assert_eq!(state, "connected");
    let rise = |mid: &str| {
        let count = |m: &BTreeMap<String, u64>| m.get(mid).copied().unwrap_or(0);
        count(&after).saturating_sub(count(&before))
    };
    assert!(
        rise(&first) >= 30,
        "the remaining track keeps decoding: {before:?} -> {after:?}"
    );
    assert!(
        rise(&second) <= 2,
        "the removed track stopped: {before:?} -> {after:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{test}: done in {:?}", t0.elapsed());
}
