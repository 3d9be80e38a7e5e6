//! The broadcast example against headless Chromium: one browser process, one page per peer, each
//! the example's own page. One page publishes its fake camera, two viewers join, a third joins
//! seconds later; every viewer must decode (framesDecoded rising), and the late one must start
//! from a keyframe kaon asked the publisher for.
//!
//! Needs Chromium and node with playwright-core (tests/interop/chromium); `.ci/run` installs
//! them. Without them the test fails under `CI=true` and is skipped otherwise.

mod common;
mod example_support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use example_support::{Running, example};

/// What the page's `window.kaonStats()` says about its video.
fn page_stats(browser: &mut Browser, page: &str) -> Ev {
    browser.send(&format!(
        r#"{{"cmd":"page-eval","id":{},"expr":"window.kaonStats()"}}"#,
        json_str(page)
    ));
    let e = browser.wait("page-eval", Duration::from_secs(10), |e| {
        e.is("page-eval") && e.get("id") == page
    });
    let stats = Ev::parse(e.get("value"))
        .unwrap_or_else(|| panic!("page {page}: stats are not an object: {}", e.get("value")));
    assert_eq!(stats.get("error"), "", "page {page} failed");
    stats
}

fn number(e: &Ev, field: &str) -> u64 {
    e.get(field).parse::<f64>().unwrap_or(0.0) as u64
}

/// Polls the page's stats until `pred` holds; returns them.
fn wait_page(
    browser: &mut Browser,
    page: &str,
    what: &str,
    limit: Duration,
    pred: impl Fn(&Ev) -> bool,
) -> Ev {
    let end = Instant::now() + limit;
    loop {
        let s = page_stats(browser, page);
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < end,
            "page {page}: not {what} within {limit:?}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn open(browser: &mut Browser, page: &str, url: &str) {
    browser.send(&format!(
        r#"{{"cmd":"open-page","id":{},"url":{}}}"#,
        json_str(page),
        json_str(url)
    ));
    browser.wait("page-opened", Duration::from_secs(20), |e| {
        e.is("page-opened") && e.get("id") == page
    });
}

#[test]
fn broadcast_reaches_three_chromium_viewers_and_a_late_joiner_starts_at_a_requested_keyframe() {
    let test =
        "broadcast_reaches_three_chromium_viewers_and_a_late_joiner_starts_at_a_requested_keyframe";
    if !peer_available(test) {
        return;
    }
    let t0 = Instant::now();
    let program = example("broadcast");
    let mut run = Running::start(Command::new(program).args(["--bind", "127.0.0.1:0"]));
    let banner = run.line("the URL", Duration::from_secs(30), |l| {
        l.contains("http://")
    });
    let http: SocketAddr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    let url = |role: &str| format!("http://{http}/?role={role}");

    let mut browser = Browser::start();
    let started = Instant::now();
    open(&mut browser, "publisher", &url("publish"));
    wait_page(
        &mut browser,
        "publisher",
        "sending",
        Duration::from_secs(20),
        |s| s.get("state") == "connected" && number(s, "framesSent") > 0,
    );
    eprintln!("{test}: publisher sending after {:?}", started.elapsed());

    for v in ["viewer1", "viewer2"] {
        open(&mut browser, v, &url("view"));
    }
    for v in ["viewer1", "viewer2"] {
        wait_page(&mut browser, v, "decoding", Duration::from_secs(20), |s| {
            number(s, "framesDecoded") > 0
        });
    }
    // Long after the publisher's first keyframe: the late joiner depends on one kaon asks for.
    std::thread::sleep(Duration::from_secs(3));
    let joined = Instant::now();
    open(&mut browser, "viewer3", &url("view"));
    let late = wait_page(
        &mut browser,
        "viewer3",
        "decoding",
        Duration::from_secs(20),
        |s| number(s, "framesDecoded") > 0,
    );
    let to_first_frame = joined.elapsed();
    eprintln!("{test}: the late viewer decodes {to_first_frame:?} after its page opened: {late:?}");
    assert!(
        number(&late, "keyFramesDecoded") >= 1,
        "it started at a keyframe"
    );

    let viewers = ["viewer1", "viewer2", "viewer3"];
    let before: Vec<u64> = viewers
        .iter()
        .map(|v| number(&page_stats(&mut browser, v), "framesDecoded"))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    for (v, was) in viewers.iter().zip(before) {
        let s = page_stats(&mut browser, v);
        let now = number(&s, "framesDecoded");
        eprintln!(
            "{test}: {v}: framesDecoded {was} -> {now}, keyFramesDecoded {}, packetsLost {}",
            number(&s, "keyFramesDecoded"),
            number(&s, "packetsLost")
        );
        // The fake camera makes 20 or 30 frames a second: 2 s is dozens of frames.
        assert!(now >= was + 10, "{v} keeps decoding: {was} -> {now}");
    }
    let publisher = page_stats(&mut browser, "publisher");
    eprintln!(
        "{test}: publisher: framesSent {}, keyframe requests received {}",
        number(&publisher, "framesSent"),
        number(&publisher, "pliCount")
    );
    assert!(
        number(&publisher, "pliCount") >= 1,
        "kaon asked the publisher for a keyframe"
    );

    // The example's own account: three viewers, all started, keyframe requests sent upstream.
    let summary = run.line(
        "a summary with three viewers",
        Duration::from_secs(5),
        |l| l.starts_with("broadcast: 1 publisher, 3 viewers (0 waiting"),
    );
    let requests: u64 = summary
        .split(", ")
        .find_map(|p| p.strip_suffix(" keyframe requests upstream"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no keyframe request count in {summary:?}"));
    assert!(requests >= 1, "{summary}");
    assert!(summary.ends_with(", 0 errors"), "{summary}");
    let starts: Vec<&String> = run
        .seen
        .iter()
        .filter(|l| l.contains("starts at a keyframe"))
        .collect();
    assert_eq!(
        starts.len(),
        3,
        "each viewer started at a keyframe: {starts:?}"
    );
    eprintln!("{test}: done in {:?}", t0.elapsed());
}
