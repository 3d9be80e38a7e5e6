//! kaon's media against headless Chromium with its fake camera and microphone
//! (`tests/interop/chromium/peer.mjs`, playwright-core), over one loopback UDP socket driven by
//! `kaon_std::Driver`.
//!
//! - Chromium offers audio + video + a data channel; kaon answers `sendrecv` on both media
//!   lines and sends every RTP packet it receives straight back (Pion's `reflect`), answers
//!   Chromium's keyframe requests with its own, and chats on the channel. Chromium's getStats
//!   must show the returned video decoding (framesDecoded rising) and the returned audio
//!   arriving; a keyframe request from kaon raises Chromium's outbound pliCount.
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
    // matching count (within 1%). Chromium's video bytesSent also counts the RTX packets it
    // sends to probe bandwidth (kaon drops those as duplicates or padding), so that one pair
    // is only checked within 5%.
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
    let a = kaon_stats(&kaon);
    let (inbound, outbound) = media_stats(&mut browser);
    let c = kaon_stats(&kaon);
    let chromium = [
        stat(&outbound, "audio", "bytes"),
        stat(&inbound, "audio", "bytes"),
        stat(&outbound, "video", "bytes"),
        stat(&inbound, "video", "bytes"),
    ];
    let names = [
        "audio Chromium -> kaon",
        "audio kaon -> Chromium",
        "video Chromium -> kaon",
        "video kaon -> Chromium",
    ];
    for i in 0..4 {
        let slack = if i == 2 { 5 } else { 1 };
        eprintln!(
            "{}: kaon counted {}..{} bytes, Chromium {}",
            names[i], a[i], c[i], chromium[i]
        );
        assert!(
            a[i] * (100 - slack) / 100 <= chromium[i] && chromium[i] <= c[i] * (100 + slack) / 100,
            "{}: kaon's get_stats bytes match Chromium's within {slack}%",
            names[i]
        );
    }
    kaon.finish();
}
