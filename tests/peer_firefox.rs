//! kaon's PeerConnection against a second browser: headless Firefox ESR, driven by
//! `tests/interop/firefox/peer.mjs` (puppeteer-core over WebDriver BiDi) over JSON lines.
//!
//! Firefox runs in a network namespace of its own whose only way out is a veth to the test's
//! namespace (tests/common/firefox.rs); kaon binds its end of the veth with one UDP socket
//! driven by `kaon_std::Driver`. The test process starts Firefox once (twice: once with the ICE
//! settings users run, for the first test below) and each test gets a page of its own, so the
//! tests are independent and may run side by side.
//!
//! - Firefox with its default ICE settings (host candidates as `<uuid>.local` mDNS names and
//!   `a=end-of-candidates`) offers a channel and kaon answers: kaon learns Firefox's address
//!   from its checks (peer-reflexive) and the channel carries messages both ways.
//! - kaon offers two channels (ordered and unordered) and Firefox answers; a third channel is
//!   opened on the live connection; text, 1200-byte and 64 KiB messages go both ways on each.
//! - kaon's `close()`: Firefox sees every channel close.
//! - Offer-to-open both ways over a few runs, printed, and the DTLS version Firefox and kaon
//!   settle on with kaon's default config and with `PeerConfig::dtls_versions` pinned to 1.2.
//! - Firefox sends its fake camera and microphone with a channel; kaon reflects the RTP;
//!   Firefox's getStats shows the returned video decoding and the returned audio arriving.
//!
//! Needs `/usr/bin/firefox-esr`, `node`, `ip`, `nft` and `tests/interop/firefox/node_modules`
//! (`npm ci` in that folder), and root for the namespace; `.ci/run` installs them.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::browser::{self, Run, browser_answers, kaon_answers, opened, print_spread};
use common::firefox::{Firefox, peer_available};
use common::json_lines::{Ev, json_str};
use common::kaon_peer::{KaonPeer as Kaon, Reflected};
use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::dtls::VersionPolicy;
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind};
use kaon::sdp::SessionDescription;

/// Sizes of the binary messages each side sends: one byte, one datagram, 64 KiB.
const SIZES: [usize; 3] = [1, 1200, 65536];

/// A UDP socket on kaon's end of the veth into Firefox's namespace.
fn bind(ff: &Firefox) -> UdpSocket {
    UdpSocket::bind((ff.kaon_addr(), 0)).expect("bind kaon's veth address")
}

/// kaon offers `channels` (label, ordered) on a fresh PeerConnection, Firefox answers, kaon
/// takes the answer: the driven connection and kaon's ids of the channels.
fn kaon_offers(
    ff: &mut Firefox,
    config: PeerConfig,
    channels: &[(&str, bool)],
) -> (Kaon, Vec<ChannelId>) {
    let socket = bind(ff);
    let mut pc = PeerConnection::new(config).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    let now = Instant::now();
    let ids = channels
        .iter()
        .map(|&(label, ordered)| {
            let config = ChannelConfig {
                ordered,
                ..ChannelConfig::default()
            };
            pc.create_data_channel(now, label, config).expect("channel")
        })
        .collect();
    let offer = pc.create_offer(now).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let early = browser_answers(ff, &mut pc, &offer);
    let kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    (kaon, ids)
}

/// Messages both ways on one channel: Firefox sends text and every size, kaon checks them and
/// sends its own; Firefox checks every one (in any order when the channel is unordered).
fn exchange(ff: &mut Firefox, kaon: &mut Kaon, label: &str, id: ChannelId, ordered: bool) {
    browser::exchange(ff, kaon, label, id, ordered, &SIZES, false);
}

/// kaon's view of the transport: (tlsVersion, dtlsCipher, srtpCipher, dtlsRole).
fn kaon_dtls(kaon: &Kaon) -> (String, String, String, String) {
    kaon.driver
        .call(|pc, now| {
            let t = pc.get_stats(now).transport;
            (
                t.tls_version.unwrap_or("").to_string(),
                t.dtls_cipher.unwrap_or("").to_string(),
                t.srtp_cipher.unwrap_or("").to_string(),
                t.dtls_role.to_string(),
            )
        })
        .expect("driver alive")
}

/// Firefox's getStats view of the transport, printed; its `tlsVersion` if it reports one.
fn firefox_dtls(ff: &mut Firefox) -> String {
    ff.send(r#"{"cmd":"stats"}"#);
    let s = ff.wait("stats", Duration::from_secs(10), |e| e.is("stats"));
    eprintln!(
        "firefox getStats: transport stats {} (dtls {} {} {} role {}), pair {} -> {}",
        s.get("hasTransport"),
        s.get("dtlsState"),
        s.get("tlsVersion"),
        s.get("dtlsCipher"),
        s.get("dtlsRole"),
        s.get("local"),
        s.get("remote")
    );
    s.get("tlsVersion").to_string()
}

/// Firefox with the ICE settings users run offers a data channel: its host candidates are
/// `<uuid>.local` names kaon does not resolve, and its offer ends with `a=end-of-candidates`
/// (kaon issue 11, defect 1). kaon answers; it must not give up for want of a usable remote
/// candidate: Firefox's checks reach kaon's host candidate, kaon learns Firefox's address from
/// them (peer-reflexive, RFC 8445 §7.3.1.3) and the channel carries messages both ways.
#[test]
fn firefox_default_offer_with_mdns_names_and_end_of_candidates_connects_to_kaon() {
    const TEST: &str =
        "firefox_default_offer_with_mdns_names_and_end_of_candidates_connects_to_kaon";
    if !peer_available(TEST) {
        return;
    }
    let Some(mut ff) = Firefox::start(TEST, true) else {
        return;
    };
    ff.send(r#"{"cmd":"offer","channels":[{"label":"chat"}]}"#);
    let offer = ff.wait("offer", Duration::from_secs(15), |e| e.is("offer"));
    let t0 = Instant::now();
    let offer = offer.get("sdp").to_string();
    eprintln!("firefox offer (default settings):\n{offer}");
    let hosts: Vec<&str> = offer
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .collect();
    assert!(!hosts.is_empty(), "Firefox gathered no host candidate");
    for c in &hosts {
        let address = c.split(' ').nth(4).unwrap_or("");
        assert!(
            address.ends_with(".local"),
            "Firefox's host candidate is an mDNS name: {c}"
        );
    }
    assert!(
        !offer.contains(&ff.browser_addr().to_string()),
        "Firefox's offer reveals no address"
    );
    assert!(
        offer.contains("a=end-of-candidates"),
        "Firefox ends its candidates"
    );

    let socket = bind(&ff);
    let (pc, early, answer) = kaon_answers(&offer, &socket, PeerConfig::default(), &[]);
    eprintln!("kaon answer:\n{answer}");
    assert!(answer.contains("a=setup:active"), "kaon answers active");
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    ff.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    ff.wait("Firefox accepts the answer", Duration::from_secs(10), |e| {
        e.is("answered")
    });
    let pair = kaon.wait("a selected pair", Duration::from_secs(20), |e| {
        matches!(e, PeerEvent::SelectedCandidatePairChanged { .. })
    });
    let PeerEvent::SelectedCandidatePairChanged { remote, .. } = pair else {
        unreachable!()
    };
    eprintln!("kaon's selected pair ends at {remote}");
    assert!(
        remote.contains(&format!(" {} ", ff.browser_addr())) && remote.contains("typ prflx"),
        "kaon learned Firefox's address from its checks (peer-reflexive): {remote}"
    );
    let id = opened(&mut ff, &mut kaon, "chat", true);
    eprintln!(
        "Firefox default offer (mDNS names only) -> channel open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    exchange(&mut ff, &mut kaon, "chat", id, true);
    let (version, cipher, _, role) = kaon_dtls(&kaon);
    eprintln!("kaon: DTLS {version} {cipher} as {role}");
    assert_eq!(role, "client", "kaon answered active");
    firefox_dtls(&mut ff);
    kaon.finish();
}

/// kaon offers an ordered and an unordered channel, Firefox answers; kaon opens a third,
/// unordered one on the live connection. Text, 1-byte, 1200-byte and 64 KiB messages go both
/// ways on all three, checked byte for byte.
#[test]
fn kaon_offers_and_firefox_answers_with_ordered_unordered_and_late_channels() {
    const TEST: &str = "kaon_offers_and_firefox_answers_with_ordered_unordered_and_late_channels";
    if !peer_available(TEST) {
        return;
    }
    let Some(mut ff) = Firefox::start(TEST, false) else {
        return;
    };
    let t0 = Instant::now();
    let (mut kaon, ids) = kaon_offers(
        &mut ff,
        PeerConfig::default(),
        &[("ordered", true), ("unordered", false)],
    );
    for (label, &id) in ["ordered", "unordered"].iter().zip(&ids) {
        assert_eq!(opened(&mut ff, &mut kaon, label, false), id);
    }
    eprintln!(
        "kaon offer -> both channels open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    exchange(&mut ff, &mut kaon, "ordered", ids[0], true);
    exchange(&mut ff, &mut kaon, "unordered", ids[1], false);
    let late = kaon
        .driver
        .call(|pc, now| {
            pc.create_data_channel(
                now,
                "late",
                ChannelConfig {
                    ordered: false,
                    ..ChannelConfig::default()
                },
            )
        })
        .expect("driver alive")
        .expect("late channel");
    assert_eq!(opened(&mut ff, &mut kaon, "late", false), late);
    exchange(&mut ff, &mut kaon, "late", late, false);
    let (version, cipher, _, role) = kaon_dtls(&kaon);
    eprintln!("kaon: DTLS {version} {cipher} as {role}");
    assert_eq!(role, "server", "Firefox answered active");
    firefox_dtls(&mut ff);
    kaon.finish();
}

/// kaon's `close()` with channels open in both directions (two Firefox opened, ordered and
/// unordered, and one kaon opened): kaon sends an SCTP SHUTDOWN and a DTLS close_notify, and
/// Firefox fires `close` on every channel (kaon issue 11, defect 2).
#[test]
fn kaon_close_closes_every_channel_at_firefox() {
    const TEST: &str = "kaon_close_closes_every_channel_at_firefox";
    if !peer_available(TEST) {
        return;
    }
    let Some(mut ff) = Firefox::start(TEST, false) else {
        return;
    };
    ff.send(
        r#"{"cmd":"offer","channels":[{"label":"f-ordered","ordered":true},{"label":"f-unordered","ordered":false}]}"#,
    );
    let offer = ff.wait("offer", Duration::from_secs(15), |e| e.is("offer"));
    let socket = bind(&ff);
    let (pc, early, answer) = kaon_answers(offer.get("sdp"), &socket, PeerConfig::default(), &[]);
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    ff.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    let ordered = opened(&mut ff, &mut kaon, "f-ordered", true);
    let unordered = opened(&mut ff, &mut kaon, "f-unordered", true);
    let mine = kaon
        .driver
        .call(|pc, now| pc.create_data_channel(now, "k-late", ChannelConfig::default()))
        .expect("driver alive")
        .expect("k-late");
    assert_eq!(opened(&mut ff, &mut kaon, "k-late", false), mine);
    for (label, id) in [
        ("f-ordered", ordered),
        ("f-unordered", unordered),
        ("k-late", mine),
    ] {
        kaon.send(id, format!("last words on {label}").into_bytes(), false);
        let (l, text) = (label.to_string(), format!("last words on {label}"));
        ff.wait(
            "a message before the close",
            Duration::from_secs(10),
            move |e| e.is("message") && e.get("label") == l && e.get("text") == text,
        );
    }
    ff.seen.retain(|e| !e.is("state") && !e.is("ice"));
    let t = Instant::now();
    kaon.finish();
    for label in ["f-ordered", "f-unordered", "k-late"] {
        ff.wait(&format!("{label} closed"), Duration::from_secs(10), |e| {
            e.is("closed") && e.get("label") == label
        });
    }
    eprintln!(
        "kaon close() -> firefox: all three channels closed in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// One offer-to-open run and the DTLS version each side reports.
fn measure(
    ff: &mut Firefox,
    kaon: &mut Kaon,
    label: &str,
    remote: bool,
    t0: Instant,
) -> (Run, String, String) {
    let r = Run::measure(ff, kaon, label, remote, t0, Duration::from_secs(10));
    let (kaon_version, cipher, _, role) = kaon_dtls(kaon);
    let firefox_version = firefox_dtls(ff);
    eprintln!("  kaon: DTLS {kaon_version} {cipher} as {role}");
    (r, kaon_version, firefox_version)
}

/// Offer-to-open against Firefox both ways (kaon issue 11, defect 3; issue 16), a fresh
/// connection per run on one browser: three runs each way with kaon's default config, then one
/// each way with `PeerConfig::dtls_versions` pinned to DTLS 1.2. kaon offering, t0 is when its
/// offer is written; Firefox offering, when its offer (after its gathering) reaches the test.
/// Prints ICE, DTLS and open times per run and the spread. Firefox offers DTLS 1.3 first:
/// with kaon's default (1.3 or 1.2) both settle on 1.3 (`FEFC`); with 1.2 pinned, on 1.2
/// (`FEFD`), as kaon's and Firefox's getStats both say.
#[test]
fn offer_to_open_against_firefox_both_ways_and_negotiated_dtls_versions() {
    const TEST: &str = "offer_to_open_against_firefox_both_ways_and_negotiated_dtls_versions";
    const RUNS: usize = 3;
    if !peer_available(TEST) {
        return;
    }
    let Some(mut ff) = Firefox::start(TEST, false) else {
        return;
    };
    let dtls12 = || PeerConfig {
        dtls_versions: VersionPolicy::Dtls12,
        ..PeerConfig::default()
    };
    let (mut kaon_offering, mut firefox_offering) = (Vec::new(), Vec::new());
    for run in 0..=RUNS {
        let (config, version, what) = if run < RUNS {
            (
                PeerConfig::default(),
                "FEFC",
                "kaon offers (default: DTLS 1.3 or 1.2)",
            )
        } else {
            (dtls12(), "FEFD", "kaon offers (DTLS 1.2 pinned)")
        };
        let label = format!("k{run}");
        let t0 = Instant::now();
        let (mut kaon, _) = kaon_offers(&mut ff, config, &[(&label, true)]);
        let (r, kaon_version, firefox_version) = measure(&mut ff, &mut kaon, &label, false, t0);
        let versions = format!("; DTLS version kaon {kaon_version} firefox {firefox_version}");
        r.print(&format!("{what}, run {run}"), "Firefox", &versions);
        assert_eq!(
            (kaon_version.as_str(), firefox_version.as_str()),
            (version, version),
            "{what}: the DTLS version both report"
        );
        if run < RUNS {
            kaon_offering.push(r);
        }
        drop(kaon);
        ff.reset();
    }
    for run in 0..=RUNS {
        let (config, version, what) = if run < RUNS {
            (
                PeerConfig::default(),
                "FEFC",
                "Firefox offers (default: DTLS 1.3 or 1.2)",
            )
        } else {
            (dtls12(), "FEFD", "Firefox offers (DTLS 1.2 pinned)")
        };
        let label = format!("f{run}");
        ff.send(&format!(
            r#"{{"cmd":"offer","channels":[{{"label":{}}}]}}"#,
            json_str(&label)
        ));
        let offer = ff.wait("offer", Duration::from_secs(15), |e| e.is("offer"));
        let t0 = Instant::now();
        let socket = bind(&ff);
        let (pc, early, answer) = kaon_answers(offer.get("sdp"), &socket, config, &[]);
        let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
        ff.send(&format!(
            r#"{{"cmd":"answer","sdp":{}}}"#,
            json_str(&answer)
        ));
        let (r, kaon_version, firefox_version) = measure(&mut ff, &mut kaon, &label, true, t0);
        let versions = format!("; DTLS version kaon {kaon_version} firefox {firefox_version}");
        r.print(&format!("{what}, run {run}"), "Firefox", &versions);
        assert_eq!(
            (kaon_version.as_str(), firefox_version.as_str()),
            (version, version),
            "{what}: the DTLS version both report"
        );
        if run < RUNS {
            firefox_offering.push(r);
        }
        drop(kaon);
        ff.reset();
    }
    for (what, runs) in [
        ("kaon offers", &kaon_offering),
        ("Firefox offers", &firefox_offering),
    ] {
        print_spread(&format!("{what} (default, DTLS 1.3)"), runs, "");
    }
}

/// The flat objects of a JSON array the page stringified (`[{..},{..}]`).
fn objects(list: &str) -> Vec<Ev> {
    list.split('{')
        .skip(1)
        .filter_map(|o| Ev::parse(&format!("{{{}}}", o.split('}').next()?)))
        .collect()
}

/// Firefox's RTP stream stats: (inbound, outbound).
fn media_stats(ff: &mut Firefox) -> (Vec<Ev>, Vec<Ev>) {
    ff.send(r#"{"cmd":"media-stats"}"#);
    let e = ff.wait("media-stats", Duration::from_secs(10), |e| {
        e.is("media-stats")
    });
    (objects(e.get("inbound")), objects(e.get("outbound")))
}

fn stat(list: &[Ev], kind: &str, field: &str) -> u64 {
    list.iter()
        .filter(|e| e.get("kind") == kind)
        .map(|e| e.get(field).parse::<f64>().unwrap_or(0.0) as u64)
        .sum()
}

/// Firefox offers its fake camera and microphone and a data channel; kaon answers `sendrecv`
/// with a track per kind and sends every RTP packet it receives straight back (Pion's
/// `reflect`), passing Firefox's keyframe requests on. Firefox's getStats shows the returned
/// video decoding (framesDecoded rising) and the returned audio arriving, and the channel
/// carries messages both ways beside the media.
#[test]
fn firefox_sends_camera_and_microphone_and_kaon_reflects_them_back() {
    const TEST: &str = "firefox_sends_camera_and_microphone_and_kaon_reflects_them_back";
    if !peer_available(TEST) {
        return;
    }
    let Some(mut ff) = Firefox::start(TEST, false) else {
        return;
    };
    ff.send(r#"{"cmd":"offer","channels":[{"label":"chat"}],"media":["audio","video"]}"#);
    let offer = ff.wait("offer", Duration::from_secs(20), |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    eprintln!("firefox offer (camera, microphone, channel):\n{offer}");
    let t0 = Instant::now();
    let socket = bind(&ff);
    let (pc, early, answer) = kaon_answers(
        &offer,
        &socket,
        PeerConfig::default(),
        &[TrackKind::Audio, TrackKind::Video],
    );
    eprintln!("kaon answer:\n{answer}");
    let sdp = SessionDescription::parse(&answer).unwrap();
    assert!(sdp.media.iter().all(|m| m.port != 0), "every line taken");
    assert_eq!(
        sdp.media
            .iter()
            .filter(|m| m.direction() == Some(kaon::sdp::Direction::SendRecv))
            .count(),
        2,
        "both media lines sendrecv"
    );
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    ff.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    ff.wait("answered", Duration::from_secs(10), |e| e.is("answered"));

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
    assert!(r.packets > 50, "Firefox's media reached kaon");
    let (inbound, _) = media_stats(&mut ff);
    let frames_before = stat(&inbound, "video", "frames");
    kaon.reflect(Duration::from_secs(2), &mut r);
    let (inbound, outbound) = media_stats(&mut ff);
    let frames = stat(&inbound, "video", "frames");
    let audio = stat(&inbound, "audio", "packets");
    eprintln!(
        "firefox inbound (kaon's reflection): video frames decoded {frames_before} -> {frames}, \
         audio packets {audio}; outbound: video packets {}, audio packets {}; kaon: {} keyframe \
         requests passed on",
        stat(&outbound, "video", "packets"),
        stat(&outbound, "audio", "packets"),
        r.keyframe_requests
    );
    assert!(frames > frames_before, "the reflected video keeps decoding");
    assert!(frames > 10, "the reflected video decodes");
    assert!(audio > 50, "the reflected audio arrives");
    assert_eq!(r.errors(), 0, "every reflected packet was accepted");

    let (version, cipher, srtp, role) = kaon_dtls(&kaon);
    eprintln!("kaon: DTLS {version} {cipher}, SRTP {srtp}, as {role}");
    assert!(!srtp.is_empty(), "an SRTP profile was negotiated");

    // The channel beside the media.
    let e = kaon.wait(
        "chat open",
        Duration::from_secs(10),
        |e| matches!(e, PeerEvent::DataChannelOpen { label, .. } if label == "chat"),
    );
    let PeerEvent::DataChannelOpen { id, .. } = e else {
        unreachable!()
    };
    ff.wait("chat open", Duration::from_secs(10), |e| {
        e.is("open") && e.get("label") == "chat"
    });
    exchange(&mut ff, &mut kaon, "chat", id, true);
    kaon.finish();
}
