//! The swap-tracks example against headless Chromium: the example's page sends two canvas
//! tracks, kaon sends one back that switches between them every 2 s at a keyframe it asks for.
//! Chromium must keep decoding what comes back across every switch (framesDecoded rising each
//! second, a keyframe decoded per switch, nothing lost).
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

/// What the page's `window.kaonStats()` says about the video coming back.
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

#[test]
fn swap_tracks_keeps_chromium_decoding_across_every_switch() {
    let test = "swap_tracks_keeps_chromium_decoding_across_every_switch";
    if !peer_available(test) {
        return;
    }
    let t0 = Instant::now();
    let program = example("swap-tracks");
    let mut run =
        Running::start(Command::new(program).args(["--bind", "127.0.0.1:0", "--interval", "2"]));
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
        r#"{{"cmd":"open-page","id":"swap","url":{}}}"#,
        json_str(&format!("http://{http}/"))
    ));
    browser.wait("page-opened", Duration::from_secs(20), |e| {
        e.is("page-opened") && e.get("id") == "swap"
    });
    let end = Instant::now() + Duration::from_secs(20);
    let mut first = page_stats(&mut browser, "swap");
    while number(&first, "framesDecoded") == 0 {
        assert!(
            Instant::now() < end,
            "nothing decoded within 20 s: {first:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
        first = page_stats(&mut browser, "swap");
    }
    run.line("the first source", Duration::from_secs(5), |l| {
        l.contains("switched from nothing to mid")
    });

    // Ten seconds at a switch every 2 s: framesDecoded must rise every second.
    let mut last = first;
    for second in 1..=10 {
        std::thread::sleep(Duration::from_secs(1));
        let s = page_stats(&mut browser, "swap");
        let (was, now) = (number(&last, "framesDecoded"), number(&s, "framesDecoded"));
        eprintln!(
            "{test}: second {second}: framesDecoded {was} -> {now}, keyFramesDecoded {}, \
             packetsLost {}, freezes {}",
            number(&s, "keyFramesDecoded"),
            number(&s, "packetsLost"),
            number(&s, "freezeCount")
        );
        assert!(
            now >= was + 10,
            "second {second}: decoding goes on across switches ({was} -> {now})"
        );
        last = s;
    }
    // Progress lines come once a second, oldest first: the first that counts three switches.
    let switches_in = |l: &str| -> Option<u64> {
        l.split(", ")
            .find_map(|p| p.strip_suffix(" switches"))
            .and_then(|p| p.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
    };
    let progress = run.line("three switches", Duration::from_secs(5), |l| {
        l.contains(" switches, forwarded ") && switches_in(l).is_some_and(|n| n >= 3)
    });
    let switches = switches_in(&progress).unwrap_or_default();
    eprintln!("{test}: {progress}");
    assert!(progress.ends_with(" 0 refused"), "{progress}");
    // Every switch starts at a keyframe of the new source, and Chromium decodes each.
    let keyframes = number(&last, "keyFramesDecoded");
    assert!(
        keyframes > switches,
        "a keyframe decoded per switch, and the first: {keyframes} for {switches} switches"
    );
    assert_eq!(
        number(&last, "packetsLost"),
        0,
        "the spliced stream has no gap"
    );
    eprintln!("{test}: done in {:?}", t0.elapsed());
}
