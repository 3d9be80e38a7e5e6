//! kaon's media against headless Chromium with its fake camera and microphone
//! (`tests/interop/chromium/peer.mjs`, playwright-core), over one loopback UDP socket driven by
//! `kaon_std::Driver`.
//!
//! - Chromium offers audio + video + a data channel; kaon answers `sendrecv` on both media
//!   lines and sends every RTP packet it receives straight back (Pion's `reflect`), answers
//!   Chromium's keyframe requests with its own, and chats on the channel. Chromium's getStats
//!   must show the returned video decoding (framesDecoded rising) and the returned audio
//!   arriving; a keyframe request from kaon raises Chromium's outbound pliCount.
//! - The same reflection with 5% of datagrams lost each way (nftables in a network namespace):
//!   kaon's NACKs raise Chromium's outbound nackCount and Chromium keeps decoding.
//! - Renegotiation mid-call: kaon adds a video track (Chromium's camera sent back a second
//!   time), Chromium decodes it on its new mid; kaon removes it, Chromium's transceiver goes
//!   inactive.
//!
//! Needs what tests/peer_chromium.rs needs; `.ci/run` installs it.

mod common;

use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::{Ev, json_str};
use common::kaon_peer::{KaonPeer as Kaon, Reflected, bind};
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, SdpType, TrackKind};
use kaon::sdp::SessionDescription;

/// The flat objects of a JSON array the page stringified (`[{..},{..}]`).
fn objects(list: &str) -> Vec<Ev> {
    list.split('{')
        .skip(1)
        .filter_map(|o| Ev::parse(&format!("{{{}}}", o.split('}').next()?)))
        .collect()
}

/// Chromium's RTP stream stats: (inbound, outbound).
fn media_stats(browser: &mut Browser) -> (Vec<Ev>, Vec<Ev>) {
    browser.send(r#"{"cmd":"media-stats"}"#);
    let e = browser.wait("media-stats", Duration::from_secs(10), |e| {
        e.is("media-stats")
    });
    if std::env::var_os("KAON_DEBUG_STATS").is_some() {
        eprintln!("media-stats: {e:?}");
    }
    (objects(e.get("inbound")), objects(e.get("outbound")))
}

fn stat(list: &[Ev], kind: &str, field: &str) -> u64 {
    list.iter()
        .filter(|e| e.get("kind") == kind)
        .map(|e| e.get(field).parse::<f64>().unwrap_or(0.0) as u64)
        .sum()
}

#[test]
fn chromium_sends_camera_and_microphone_and_kaon_reflects_them_back() {
    const TEST: &str = "chromium_sends_camera_and_microphone_and_kaon_reflects_them_back";
    if !peer_available(TEST) {
        return;
    }
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer","channels":[{"label":"chat"}],"media":["audio","video"]}"#);
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    let t0 = Instant::now();

    let socket = bind();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses Chromium's offer"),
    )
    .expect("kaon takes Chromium's offer");
    let now = Instant::now();
    // Pion's reflect: one outgoing track per incoming one, on the same transceivers.
    for kind in [TrackKind::Audio, TrackKind::Video] {
        pc.add_track(
            now,
            kind,
            LocalTrack::new(&format!("back-{kind}"), &["kaon"]),
        )
        .expect("add_track");
    }
    assert_eq!(pc.transceivers().count(), 2, "add_track reused the offer's");
    let answer = pc.create_answer(now).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    eprintln!("kaon answer:\n{answer}");
    let sdp = SessionDescription::parse(&answer).unwrap();
    assert!(sdp.media.iter().all(|m| m.port != 0), "every line taken");
    assert_eq!(
        sdp.media
            .iter()
            .filter(|m| m.direction() == Some(kaon::sdp::Direction::SendRecv))
            .count(),
        2
    );
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));

    let mut r = Reflected::default();
    kaon.reflect(Duration::from_secs(3), &mut r);
    eprintln!(
        "after {:.1} s: kaon reflected {} packets, tracks {:?}",
        t0.elapsed().as_secs_f64(),
        r.packets,
        r.tracks
            .iter()
            .map(|t| (t.kind, t.mid.to_string(), t.codec.name.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(r.tracks.len(), 2, "a Track event per incoming source");
    assert!(r.packets > 50, "Chromium's media reached kaon");
    let (inbound, _) = media_stats(&mut browser);
    let frames_before = stat(&inbound, "video", "frames");
    kaon.reflect(Duration::from_secs(2), &mut r);
    let (inbound, outbound) = media_stats(&mut browser);
    let frames = stat(&inbound, "video", "frames");
    let audio = stat(&inbound, "audio", "packets");
    eprintln!(
        "chromium inbound (kaon's reflection): video frames decoded {frames_before} -> {frames}, \
         audio packets {audio}; outbound: video packets {}, audio packets {}",
        stat(&outbound, "video", "packets"),
        stat(&outbound, "audio", "packets")
    );
    assert!(frames > frames_before, "the reflected video keeps decoding");
    assert!(frames > 10, "the reflected video decodes");
    assert!(audio > 50, "the reflected audio arrives");

    // A keyframe request from kaon reaches Chromium's sender.
    let pli_before = stat(&outbound, "video", "pli");
    let mid = r.mid(TrackKind::Video);
    kaon.driver.post(move |pc, now| {
        pc.request_keyframe(now, &mid).expect("request_keyframe");
    });
    kaon.reflect(Duration::from_millis(1500), &mut r);
    let (_, outbound) = media_stats(&mut browser);
    let pli = stat(&outbound, "video", "pli");
    eprintln!("chromium outbound video pliCount {pli_before} -> {pli}");
    assert!(pli > pli_before, "kaon's PLI reached Chromium");
    assert_eq!(r.errors(), 0, "every reflected packet was accepted");

    // kaon's get_stats against Chromium's for the same streams, taken in the order kaon,
    // Chromium, kaon: each count Chromium gives must sit between kaon's two snapshots of the
    // matching count (within 1%). Chromium's video bytesSent also counts its retransmissions
    // (kaon counts a packet once, as its first copy or its repair), so those
    // (retransmittedBytesSent) are taken off it, and the old packets it resends on the RTX
    // stream to probe bandwidth (counted neither as retransmissions by Chromium nor at all by
    // kaon, which drops them as duplicates) leave that one pair checked only within 10%: they
    // came to 3.5% of the bytes on an idle machine (no retransmissions; 455 packets sent,
    // 432,799 bytes against kaon's 417,592) and 5.1% once under CI's load, past the 5% this
    // check allowed before.
    let kaon_stats = |kaon: &Kaon| {
        kaon.driver
            .call(|pc, now| {
                let s = pc.get_stats(now).rtp;
                let count = |k: TrackKind, inbound: bool| -> u64 {
                    if inbound {
                        let i = s.inbound.iter().filter(|i| i.kind == k);
                        i.map(|i| i.bytes_received).sum()
                    } else {
                        let o = s.outbound.iter().filter(|o| o.kind == k);
                        o.map(|o| o.bytes_sent).sum()
                    }
                };
                [
                    count(TrackKind::Audio, true),
                    count(TrackKind::Audio, false),
                    count(TrackKind::Video, true),
                    count(TrackKind::Video, false),
                ]
            })
            .expect("driver alive")
    };
    kaon.reflect(Duration::from_millis(500), &mut r);
    let names = [
        "audio Chromium -> kaon",
        "audio kaon -> Chromium",
        "video Chromium -> kaon (Chromium's retransmissions taken off)",
        "video kaon -> Chromium",
    ];
    // Packets still in flight or Chromium's stats cache (it answers from a snapshot up to
    // 50 ms old) can leave a count just outside the bracket on a busy machine: the triple is
    // taken again, up to ten times, until every count sits inside it.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let a = kaon_stats(&kaon);
        let (inbound, outbound) = media_stats(&mut browser);
        let c = kaon_stats(&kaon);
        let chromium = [
            stat(&outbound, "audio", "bytes"),
            stat(&inbound, "audio", "bytes"),
            stat(&outbound, "video", "bytes").saturating_sub(stat(
                &outbound,
                "video",
                "retransmittedBytes",
            )),
            stat(&inbound, "video", "bytes"),
        ];
        let mut outside = Vec::new();
        for i in 0..4 {
            let slack = if i == 2 { 10 } else { 1 };
            eprintln!(
                "{}: kaon counted {}..{} bytes, Chromium {} (attempt {attempt})",
                names[i], a[i], c[i], chromium[i]
            );
            if !(a[i] * (100 - slack) / 100 <= chromium[i]
                && chromium[i] <= c[i] * (100 + slack) / 100)
            {
                outside.push(format!("{} (within {slack}%)", names[i]));
            }
        }
        if outside.is_empty() {
            break;
        }
        assert!(
            attempt < 10,
            "kaon's get_stats bytes do not match Chromium's: {outside:?}"
        );
    }
    kaon.finish();
}

/// Chromium offers audio + video, kaon answers and reflects every packet back; returns kaon
/// once the reflection ran for `warm`, with what it reflected.
fn reflecting(browser: &mut Browser, warm: Duration) -> (Kaon, Reflected) {
    browser.send(r#"{"cmd":"offer","channels":[{"label":"chat"}],"media":["audio","video"]}"#);
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    let socket = bind();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses Chromium's offer"),
    )
    .expect("kaon takes Chromium's offer");
    let now = Instant::now();
    for kind in [TrackKind::Audio, TrackKind::Video] {
        pc.add_track(
            now,
            kind,
            LocalTrack::new(&format!("back-{kind}"), &["kaon"]),
        )
        .expect("add_track");
    }
    let answer = pc.create_answer(now).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(20), String::new);
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer.to_string())
    ));
    browser.wait("answered", Duration::from_secs(10), |e| e.is("answered"));
    let mut r = Reflected::default();
    kaon.reflect(warm, &mut r);
    (kaon, r)
}

/// Set in the copy of this test binary that runs inside the lossy namespace.
const LOSS_INNER: &str = "KAON_MEDIA_CHROMIUM_LOSS_INNER";
/// Percent of UDP datagrams the namespace drops, each way.
const LOSS_PERCENT: u32 = 5;

/// Issue (c): with 5% of datagrams lost each way, kaon NACKs what Chromium's camera loses
/// (Chromium's outbound nackCount rises and it retransmits), and Chromium keeps decoding kaon's
/// reflection of it at the camera's pace (kaon answers Chromium's NACKs from its RTX history).
///
/// Both peers run on `lo` inside a network namespace of the test's own whose nftables drop a
/// random 5% of UDP datagrams; the test runs a copy of itself there (`ip netns exec`). Needs
/// root, `ip` and `nft` besides Chromium: fails in CI without them, skips elsewhere.
#[test]
fn at_5pct_loss_kaon_nacks_chromium_and_the_reflection_keeps_decoding() {
    const TEST: &str = "at_5pct_loss_kaon_nacks_chromium_and_the_reflection_keeps_decoding";
    if std::env::var_os(LOSS_INNER).is_some() {
        return lossy_reflection();
    }
    if !peer_available(TEST) {
        return;
    }
    let ns = match common::netns::Netns::create("chromium").and_then(|ns| {
        ns.drop_udp_received(LOSS_PERCENT)?;
        Ok(ns)
    }) {
        Ok(ns) => ns,
        Err(why) => {
            common::missing_peer(TEST, &format!("a lossy network namespace ({why})"));
            return;
        }
    };
    ns.rerun_test(
        TEST,
        LOSS_INNER,
        "1",
        Duration::from_secs(120),
        "the lossy session",
    );
}

/// The part of `at_5pct_loss_kaon_nacks_chromium_and_the_reflection_keeps_decoding` that runs
/// in the lossy namespace.
fn lossy_reflection() {
    let mut browser = Browser::start();
    let (mut kaon, mut r) = reflecting(&mut browser, Duration::from_secs(4));
    assert!(r.packets > 50, "Chromium's media reached kaon");
    let (inbound, outbound) = media_stats(&mut browser);
    let (decoded0, encoded0) = (
        stat(&inbound, "video", "frames"),
        stat(&outbound, "video", "frames"),
    );
    kaon.reflect(Duration::from_secs(8), &mut r);
    let (inbound, outbound) = media_stats(&mut browser);
    let decoded = stat(&inbound, "video", "frames") - decoded0;
    let encoded = stat(&outbound, "video", "frames") - encoded0;
    let nacked = stat(&outbound, "video", "nack");
    let retransmitted = stat(&outbound, "video", "retransmitted");
    let chromium_nacks = stat(&inbound, "video", "nack");
    let kaon_nacks: u64 = kaon
        .driver
        .call(|pc, now| {
            let s = pc.get_stats(now).rtp;
            s.inbound
                .iter()
                .filter(|i| i.kind == TrackKind::Video)
                .map(|i| i.nack_count)
                .sum()
        })
        .expect("driver alive");
    println!(
        "{LOSS_PERCENT}% loss each way, 8 s: Chromium encoded {encoded} frames and decoded \
         {decoded} of kaon's reflection; Chromium's outbound video nackCount {nacked} (kaon sent \
         {kaon_nacks} NACKs), {retransmitted} retransmitted; Chromium NACKed the reflection \
         {chromium_nacks} times"
    );
    assert!(nacked > 0, "kaon's NACKs reached Chromium");
    assert!(retransmitted > 0, "Chromium answered them");
    assert!(encoded > 60, "the camera ran: {encoded} frames");
    // Every reflected frame crosses the lossy path twice; repaired ones decode late, not never.
    assert!(
        decoded * 100 >= encoded * 80,
        "the reflection decodes at the camera's pace: {decoded} of {encoded}"
    );
    assert_eq!(r.errors(), 0, "every reflected packet was accepted");
    kaon.finish();
}

/// kaon offers again (Chromium answers through the page) and takes the answer.
fn renegotiate(kaon: &Kaon, browser: &mut Browser) {
    let offer = kaon
        .driver
        .call(|pc, now| {
            let offer = pc.create_offer(now)?;
            pc.set_local_description(SdpType::Offer, offer.clone())?;
            Ok::<_, kaon::peer::Error>(offer.to_string())
        })
        .expect("driver alive")
        .expect("kaon's offer");
    browser.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = browser.wait("answer", Duration::from_secs(10), |e| e.is("answer"));
    let answer = SessionDescription::parse(answer.get("sdp")).expect("Chromium's answer parses");
    kaon.driver
        .call(move |pc, _| pc.set_remote_description(SdpType::Answer, answer))
        .expect("driver alive")
        .expect("kaon takes Chromium's answer");
}

/// Chromium's transceivers as `(mid, currentDirection or "stopped")`.
fn directions(browser: &mut Browser) -> Vec<(String, String)> {
    browser.send(r#"{"cmd":"transceivers"}"#);
    let e = browser.wait("transceivers", Duration::from_secs(10), |e| {
        e.is("transceivers")
    });
    e.get("list")
        .split(',')
        .filter_map(|t| {
            let mut f = t.split(' ');
            let mid = f.next()?.to_string();
            Some((mid, f.nth(1)?.to_string()))
        })
        .collect()
}

/// Reflects Chromium's media for `d` as [`Kaon::reflect`] does, and also sends Chromium's
/// video on `extra` (a second track); keyframe requests for `extra` go to Chromium's camera.
fn reflect_twice(kaon: &mut Kaon, d: Duration, video: &str, extra: &str) -> u64 {
    let end = Instant::now() + d;
    let mut sent = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(e) = kaon.driver.events().recv_timeout(left) else {
            continue;
        };
        match e {
            kaon::peer::PeerEvent::Rtp { mid, packet } => {
                let also = (mid.as_str() == video).then(|| extra.to_string());
                sent += u64::from(also.is_some());
                kaon.driver.post(move |pc, now| {
                    let _ = pc.write_rtp(now, mid.as_str(), &packet);
                    if let Some(extra) = also {
                        let _ = pc.write_rtp(now, &extra, &packet);
                    }
                });
            }
            kaon::peer::PeerEvent::KeyframeRequest { mid, .. } => {
                let to = if mid.as_str() == extra {
                    video.to_string()
                } else {
                    mid.to_string()
                };
                kaon.driver.post(move |pc, now| {
                    let _ = pc.request_keyframe(now, &to);
                });
            }
            _ => {}
        }
    }
    sent
}

/// Issue (e): mid-call, kaon adds a video track (Chromium's camera, sent back a second time):
/// Chromium gets a new track on a new mid and decodes it; kaon removes it: Chromium's
/// transceiver for it goes inactive and its frames stop.
#[test]
fn renegotiation_adds_and_removes_a_video_track_mid_call() {
    const TEST: &str = "renegotiation_adds_and_removes_a_video_track_mid_call";
    if !peer_available(TEST) {
        return;
    }
    let mut browser = Browser::start();
    let (mut kaon, r) = reflecting(&mut browser, Duration::from_secs(3));
    let video = r.mid(TrackKind::Video);
    let id = kaon
        .driver
        .call(|pc, now| pc.add_track(now, TrackKind::Video, LocalTrack::new("extra", &["kaon"])))
        .expect("driver alive")
        .expect("add_track");
    renegotiate(&kaon, &mut browser);
    let extra = kaon
        .driver
        .call(move |pc, _| pc.transceiver(id).and_then(|t| t.mid()))
        .expect("driver alive")
        .expect("the new transceiver has a mid")
        .to_string();
    assert_ne!(extra, video);
    let track = browser.wait("track", Duration::from_secs(10), |e| {
        e.is("track") && e.get("mid") == extra
    });
    assert_eq!(track.get("kind"), "video");
    // The new track starts with a keyframe of the camera's.
    let v = video.clone();
    kaon.driver.post(move |pc, now| {
        let _ = pc.request_keyframe(now, &v);
    });
    let sent = reflect_twice(&mut kaon, Duration::from_secs(4), &video, &extra);
    let frames = |browser: &mut Browser| {
        let (inbound, _) = media_stats(browser);
        inbound
            .iter()
            .filter(|e| e.get("mid") == extra)
            .map(|e| e.get("frames").parse::<f64>().unwrap_or(0.0) as u64)
            .sum::<u64>()
    };
    let decoded = frames(&mut browser);
    println!(
        "added track on mid {extra}: kaon sent {sent} packets, Chromium decoded {decoded} frames"
    );
    assert!(
        decoded > 20,
        "Chromium decodes the added track: {decoded} frames"
    );
    let dirs = directions(&mut browser);
    assert!(
        dirs.iter().any(|(m, d)| *m == extra && d == "recvonly"),
        "Chromium receives on the new mid: {dirs:?}"
    );

    // Removed: kaon stops sending on it, and says so in the next exchange.
    kaon.driver
        .call(move |pc, now| pc.remove_track(now, id))
        .expect("driver alive")
        .expect("remove_track");
    renegotiate(&kaon, &mut browser);
    let dirs = directions(&mut browser);
    println!("after removal, Chromium's transceivers: {dirs:?}");
    assert!(
        dirs.iter().any(|(m, d)| *m == extra && d == "inactive"),
        "Chromium's transceiver for the removed track is inactive: {dirs:?}"
    );
    let before = frames(&mut browser);
    let mut r = Reflected::default();
    kaon.reflect(Duration::from_secs(2), &mut r);
    let after = frames(&mut browser);
    assert_eq!(before, after, "no frames on the removed track");
    assert!(r.packets > 20, "the first tracks carry on");
    kaon.finish();
}
