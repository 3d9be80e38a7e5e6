//! The swap-tracks example against headless Chromium: the example's page sends two canvas
//! tracks, kaon sends one back that switches between them every 2 s at a keyframe it asks for.
//! Chromium must keep decoding what comes back across every switch (framesDecoded rising each
//! second, a keyframe decoded per switch, nothing lost).
//!
//! Needs Chromium and node with playwright-core (tests/interop/chromium); `.ci/run` installs
//! them. Without them the test fails under `CI=true` and is skipped otherwise.

mod common;
mod example_support;
#[path = "../examples/broadcast/rewrite.rs"]
mod rewrite;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use example_support::{Running, example};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use proptest::prelude::*;
use rewrite::Rewriter;

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

/// A VP8-sized RTP packet of `ssrc`.
fn packet(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    let b = RtpBuilder::new(RtpHeader {
        marker: false,
        payload_type: 96,
        sequence_number: seq,
        timestamp: ts,
        ssrc,
    })
    .payload(&[0x10, 1, 2, 3]);
    let mut buf = vec![0; b.len()];
    b.write(&mut buf).unwrap();
    buf
}

/// Rewrites one packet at `at`; its outgoing sequence number and timestamp.
fn spliced(r: &mut Rewriter, at: Instant, ssrc: u32, seq: u16, ts: u32) -> (u16, u32) {
    let mut p = packet(ssrc, seq, ts);
    assert!(r.rewrite(at, &mut p));
    let p = RtpPacket::new_checked(&p[..]).unwrap();
    assert_eq!(p.ssrc(), ssrc, "the SSRC is write_rtp's to set");
    assert_eq!(p.payload(), &[0x10, 1, 2, 3], "the payload is untouched");
    (p.sequence_number(), p.timestamp())
}

#[test]
fn a_new_source_continues_the_outgoing_sequence_and_clock() {
    let t0 = Instant::now();
    let mut r = Rewriter::new(90_000);
    // The first source goes out as it is.
    assert_eq!(spliced(&mut r, t0, 0xa, 100, 5000), (100, 5000));
    assert_eq!(spliced(&mut r, t0, 0xa, 101, 8000), (101, 8000));
    // 100 ms later another source takes over: one sequence number on, 9000 ticks on.
    let at = t0 + Duration::from_millis(100);
    assert_eq!(spliced(&mut r, at, 0xb, 40_000, 1_000_000), (102, 17_000));
    assert_eq!(
        spliced(&mut r, at, 0xb, 40_001, 1_003_000),
        (103, 20_000),
        "its own spacing is kept"
    );
    assert_eq!(r.splices, 1);
}

#[test]
fn a_late_packet_keeps_its_place_and_does_not_move_the_splice_point() {
    let t0 = Instant::now();
    let mut r = Rewriter::new(90_000);
    spliced(&mut r, t0, 0xa, 10, 0);
    spliced(&mut r, t0, 0xa, 12, 3000);
    // 11 comes late (a retransmission): mapped like the rest, still before 12.
    assert_eq!(spliced(&mut r, t0, 0xa, 11, 0), (11, 0));
    // The next source follows 12, not 11.
    assert_eq!(spliced(&mut r, t0, 0xb, 7, 90).0, 13);
}

#[test]
fn splices_survive_sequence_and_timestamp_wrap() {
    let t0 = Instant::now();
    let mut r = Rewriter::new(90_000);
    spliced(&mut r, t0, 0xa, 65_535, u32::MAX - 100);
    let (seq, ts) = spliced(&mut r, t0 + Duration::from_millis(10), 0xb, 3, 3);
    assert_eq!(seq, 0, "65535 + 1 wraps to 0");
    assert_eq!(
        ts,
        (u32::MAX - 100).wrapping_add(900),
        "10 ms of 90 kHz past the wrap"
    );
}

proptest! {
    /// However sources take turns (each a run of packets from its own random sequence number
    /// and timestamp), what goes out is one stream: sequence numbers one apart, and a clock
    /// that moves forward at every packet of a new frame and at every splice.
    #[test]
    fn any_run_of_sources_goes_out_as_one_continuous_stream(
        runs in proptest::collection::vec((any::<u16>(), any::<u32>(), 1usize..20, 0u64..500), 1..8)
    ) {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        let mut at = t0;
        let mut last: Option<(u16, u32)> = None;
        for (i, (seq0, ts0, n, gap_ms)) in runs.into_iter().enumerate() {
            at += Duration::from_millis(gap_ms);
            for k in 0..n {
                // A new frame every other packet, 3000 ticks apart.
                let ts = ts0.wrapping_add(3000 * (k as u32 / 2));
                let out = spliced(&mut r, at, i as u32 + 1, seq0.wrapping_add(k as u16), ts);
                if let Some((seq, ts)) = last {
                    prop_assert_eq!(out.0, seq.wrapping_add(1));
                    let step = out.1.wrapping_sub(ts) as i32;
                    if k == 0 {
                        prop_assert!(step >= 1, "a splice moves the clock forward");
                    } else {
                        prop_assert!(step == 0 || step == 3000);
                    }
                }
                last = Some(out);
            }
        }
    }
}
