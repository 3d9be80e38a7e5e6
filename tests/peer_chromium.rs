//! kaon's PeerConnection against a real browser: headless Chromium, driven by
//! `tests/interop/chromium/peer.mjs` (playwright-core) over JSON lines on its stdin/stdout.
//!
//! Both offer directions, on one real UDP socket on 127.0.0.1 driven by `kaon_std::Driver`:
//!
//! - Chromium offers (an ordered and an unordered channel), kaon answers `setup:active`: kaon
//!   is the DTLS client and Chromium the server that answers kaon's DTLS 1.2 ClientHello.
//! - kaon offers (`actpass`, one channel created before the offer), Chromium answers `active`:
//!   Chromium is the DTLS client and offers DTLS 1.3 first; kaon's server settles on 1.2. A
//!   second, unordered channel is opened by kaon once the connection is up.
//!
//! Each side sends text and binary messages (up to 262144 bytes, the max-message-size both
//! announce) and a burst of 500 ordered messages, and checks what it receives; each side closes
//! a channel and the other sees it close. Chromium's getStats confirms DTLS 1.2, its role, and a
//! UDP pair ending at kaon's socket. Then each side opens three channels at once on the live
//! connection and text is interleaved on all six both ways: each message arrives on its own
//! channel, in order. Last, one side closes the whole connection: the browser (`pc.close()`,
//! when Chromium offered) or kaon (`close()`, when kaon offered), and the other reports every
//! channel closed and its connection state ending in `failed` once ICE consent expires (30 s
//! for kaon, RFC 7675; about 17 s for Chromium). The offer-to-open, burst and close times are
//! printed.
//!
//! The large messages overflow the default UDP receive buffers on loopback (on both sides,
//! kaon's debug build more often), so SCTP's loss recovery against Chromium is exercised too: a
//! burst then takes one retransmission timeout (400 ms) longer now and then. Nothing asserts on
//! times.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/interop/chromium/node_modules` (`npm ci` in that
//! folder); `.ci/run` installs them. Candidates: Chromium gathers 127.0.0.1 only with the fake
//! media flags, `--allow-loopback-in-peer-connection` and a getUserMedia call (the page does
//! that and drops the track); its `tcptype` TCP candidate is in the SDP and kaon ignores it.

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::browser::{
    self, Run, browser_answers, early_events, kaon_answers, open_id, opened, pattern, print_spread,
};
use common::chromium::{Browser, peer_available};
use common::json_lines::json_str;
use common::kaon_peer::{KaonPeer as Kaon, bind, m_lines};
use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::ice::IceState;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;

/// Sizes of the binary messages each side sends: one byte, one datagram, Chromium's classic
/// safe maximum (65535), and the largest both announce (`a=max-message-size:262144`).
const SIZES: [usize; 5] = [1, 1200, 65535, 100_000, 262_144];

/// One Chromium at a time: two cores, and each browser takes most of one while it starts.
static SERIAL: Mutex<()> = Mutex::new(());

/// A burst of small text messages each way on an ordered channel: all arrive, in order.
fn burst(browser: &mut Browser, kaon: &mut Kaon, label: &str, id: ChannelId, n: usize) {
    browser.send(&format!(
        r#"{{"cmd":"burst","label":{},"n":{n}}}"#,
        json_str(label)
    ));
    for i in 0..n {
        let (data, binary) = kaon.message(id);
        assert_eq!(
            (String::from_utf8_lossy(&data).as_ref(), binary),
            (format!("burst {i}/{n}").as_str(), false),
            "kaon: burst message {i} on {label}"
        );
    }
    let t = Instant::now();
    for i in 0..n {
        kaon.send(id, format!("burst {i}/{n}").into_bytes(), false);
    }
    let l = label.to_string();
    let e = browser.wait("burst", Duration::from_secs(15), move |e| {
        e.is("burst") && e.get("label") == l
    });
    assert_eq!(
        e.get("inOrder"),
        "true",
        "browser: burst on {label} out of order"
    );
    eprintln!(
        "{n} messages kaon -> chromium on {label}: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// Messages both ways on one channel: the browser sends text and every size, kaon checks them
/// and echoes each back; then kaon sends its own, and the browser checks every one.
fn exchange(browser: &mut Browser, kaon: &mut Kaon, label: &str, id: ChannelId, ordered: bool) {
    browser::exchange(browser, kaon, label, id, ordered, &SIZES, true);
}

/// Three channels opened together by each side on the live connection, then text interleaved
/// on all six from both ends: every message arrives on the channel it was sent on, in order.
/// Returns kaon's ids of the six channels.
fn three_channels_at_once(browser: &mut Browser, kaon: &mut Kaon) -> Vec<ChannelId> {
    const N: usize = 20;
    const BROWSER: [&str; 3] = ["b-0", "b-1", "b-2"];
    const KAON: [&str; 3] = ["k-0", "k-1", "k-2"];
    let t = Instant::now();
    browser.send(r#"{"cmd":"channels","labels":["b-0","b-1","b-2"]}"#);
    let ours = kaon
        .driver
        .call(|pc, now| {
            KAON.iter()
                .map(|l| pc.create_data_channel(now, l, ChannelConfig::default()))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("driver alive")
        .expect("kaon opens three channels");
    let mut label_of = HashMap::new();
    for (&id, label) in ours.iter().zip(KAON) {
        kaon.wait(
            &format!("{label} open"),
            Duration::from_secs(10),
            move |e| matches!(e, PeerEvent::DataChannelOpen { id: i, remote: false, .. } if *i == id),
        );
        label_of.insert(id, label.to_string());
    }
    for label in BROWSER {
        let e = kaon.wait(&format!("{label} open"), Duration::from_secs(10), move |e| {
            matches!(e, PeerEvent::DataChannelOpen { label: l, remote: true, .. } if l == label)
        });
        label_of.insert(open_id(&e), label.to_string());
    }
    for label in BROWSER.iter().chain(&KAON) {
        browser.wait(&format!("{label} open"), Duration::from_secs(10), |e| {
            e.is("open") && e.get("label") == *label
        });
    }
    eprintln!(
        "six channels (three from each side, together) open: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let ids: Vec<ChannelId> = ours
        .iter()
        .copied()
        .chain(label_of.keys().copied().filter(|id| !ours.contains(id)))
        .collect();
    assert_eq!(ids.len(), 6, "six distinct stream ids: {label_of:?}");

    let all = r#"["b-0","b-1","b-2","k-0","k-1","k-2"]"#;
    browser.send(&format!(r#"{{"cmd":"interleave","labels":{all},"n":{N}}}"#));
    let sends: Vec<(ChannelId, String)> = (0..N)
        .flat_map(|i| ids.iter().map(move |&id| (id, i)))
        .map(|(id, i)| (id, format!("{} {i}", label_of[&id])))
        .collect();
    for (id, text) in sends {
        kaon.send(id, text.into_bytes(), false);
    }
    let mut next: HashMap<ChannelId, usize> = ids.iter().map(|&id| (id, 0)).collect();
    for _ in 0..6 * N {
        let e = kaon.wait(
            "interleaved message",
            Duration::from_secs(10),
            |e| matches!(e, PeerEvent::Message { channel, .. } if next.contains_key(channel)),
        );
        let PeerEvent::Message { channel, data, .. } = e else {
            unreachable!()
        };
        let i = next.get_mut(&channel).expect("one of the six");
        assert_eq!(
            String::from_utf8_lossy(&data),
            format!("{} {i}", label_of[&channel]),
            "kaon: message on the wrong channel or out of order"
        );
        *i += 1;
    }
    let mut next: HashMap<String, usize> = label_of.values().map(|l| (l.clone(), 0)).collect();
    for _ in 0..6 * N {
        let e = browser.wait("interleaved message", Duration::from_secs(10), |e| {
            e.is("message") && next.contains_key(e.get("label"))
        });
        let i = next.get_mut(e.get("label")).expect("one of the six");
        assert_eq!(
            e.get("text"),
            format!("{} {i}", e.get("label")),
            "browser: message on the wrong channel or out of order"
        );
        *i += 1;
    }
    ids
}

/// `pc.close()` in the page with the `open` channels still open. Chromium sends an SCTP ABORT
/// and a DTLS close_notify at once, then goes silent: kaon reports every channel closed, the
/// association and DTLS closed within a few milliseconds, refuses to send, and its ICE consent
/// expires (RFC 7675): disconnected after about 2 s, failed at 30 s. The connection state stays
/// `connected` in between, as W3C webrtc-pc counts a closed DTLS transport.
fn browser_closes_the_connection(browser: &mut Browser, mut kaon: Kaon, open: &[ChannelId]) {
    let t = Instant::now();
    browser.send(r#"{"cmd":"pc-close"}"#);
    let e = browser.wait("pc closed", Duration::from_secs(10), |e| e.is("pc-closed"));
    assert_eq!(e.get("state"), "closed", "browser: connectionState");
    let since = |t: Instant| format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    for &id in open {
        kaon.wait(
            &format!("channel {id} closed"),
            Duration::from_secs(5),
            move |e| matches!(e, PeerEvent::DataChannelClosed(c) if *c == id),
        );
    }
    eprintln!(
        "browser pc.close() -> kaon: all channels closed in {}",
        since(t)
    );
    kaon.wait("SCTP closed", Duration::from_secs(5), |e| {
        matches!(e, PeerEvent::SctpClosed)
    });
    kaon.wait("DTLS closed", Duration::from_secs(5), |e| {
        matches!(e, PeerEvent::DtlsClosed)
    });
    eprintln!(
        "browser pc.close() -> kaon: SCTP and DTLS closed in {}",
        since(t)
    );
    let id = open[0];
    let refused = kaon
        .driver
        .call(move |pc, now| pc.send_text(now, id, "anyone there?"))
        .expect("driver alive");
    assert!(
        refused.is_err(),
        "kaon sends on a closed channel: {refused:?}"
    );
    kaon.wait("ICE disconnected", Duration::from_secs(10), |e| {
        matches!(
            e,
            PeerEvent::IceConnectionStateChanged(IceState::Disconnected)
        )
    });
    eprintln!(
        "browser pc.close() -> kaon: ICE disconnected in {}",
        since(t)
    );
    kaon.wait("connection failed", Duration::from_secs(40), |e| {
        matches!(
            e,
            PeerEvent::ConnectionStateChanged(ConnectionState::Failed)
        )
    });
    eprintln!(
        "browser pc.close() -> kaon: consent expired, connection failed in {}",
        since(t)
    );
    kaon.finish();
}

/// kaon's `close()` with the `open` channels (labels) still open: kaon sends an SCTP SHUTDOWN
/// and a DTLS close_notify, then answers no more ICE checks. Chromium fires `close` on each
/// channel at once; its connectionState goes `disconnected` (about 7.5 s) and then `failed`
/// (about 17.5 s) as its consent checks go unanswered: it has no state for "the peer closed".
fn kaon_closes_the_connection(browser: &mut Browser, kaon: Kaon, open: &[&str]) {
    // Only the state changes that follow the close count.
    browser.seen.retain(|e| !e.is("state") && !e.is("ice"));
    let t = Instant::now();
    let since = |t: Instant| format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    kaon.finish();
    for label in open {
        browser.wait(&format!("{label} closed"), Duration::from_secs(10), |e| {
            e.is("closed") && e.get("label") == *label
        });
    }
    eprintln!(
        "kaon close() -> browser: all channels closed in {}",
        since(t)
    );
    for state in ["disconnected", "failed"] {
        let e = browser.wait(state, Duration::from_secs(30), |e| e.is("state"));
        assert_eq!(e.get("state"), state, "browser: connectionState");
        eprintln!(
            "kaon close() -> browser: connectionState {state} in {}",
            since(t)
        );
    }
}

#[test]
fn chromium_offers_kaon_answers() {
    const TEST: &str = "chromium_offers_kaon_answers";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut browser = Browser::start();

    browser.send(
        r#"{"cmd":"offer","channels":[{"label":"chat","ordered":true},{"label":"loose","ordered":false}]}"#,
    );
    let offer = browser.wait("offer", Duration::from_secs(15), |e| e.is("offer"));
    let t0 = Instant::now();
    let offer = offer.get("sdp").to_string();
    eprintln!("chromium offer:\n{offer}");
    assert!(
        offer.contains(" 127.0.0.1 ") && offer.contains("a=setup:actpass"),
        "no loopback candidate or actpass in Chromium's offer"
    );

    let socket = bind();
    let local = socket.local_addr().unwrap();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(local).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses Chromium's offer"),
    )
    .expect("kaon takes Chromium's offer");
    // Give the connection its first time before the answer, as a driver would (the answer
    // lists the host candidate either way).
    kaon::Protocol::handle_timeout(&mut pc, Instant::now());
    let early = early_events(&mut pc);
    let answer = pc.create_answer(Instant::now()).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    assert!(answer.contains("a=setup:active"), "kaon answers active");
    assert!(
        answer.contains(&format!(" 127.0.0.1 {} typ host", local.port())),
        "kaon's answer carries its host candidate"
    );
    eprintln!("kaon answer:\n{answer}");
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));

    let mut ids = HashMap::new();
    for label in ["chat", "loose"] {
        let l = label.to_string();
        let e = kaon.wait(&format!("{label} open"), Duration::from_secs(20), move |e| {
            matches!(e, PeerEvent::DataChannelOpen { label, remote: true, .. } if *label == l)
        });
        ids.insert(label, open_id(&e));
        let l = label.to_string();
        browser.wait(
            &format!("{label} open"),
            Duration::from_secs(20),
            move |e| e.is("open") && e.get("label") == l,
        );
    }
    eprintln!(
        "Chromium offer -> both channels open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    // kaon answered active: it is the DTLS client, so the browser (DTLS server) opened its
    // channels on odd stream ids (RFC 8832 §6).
    assert!(ids.values().all(|id| id % 2 == 1), "stream ids {ids:?}");
    browser.check_transport("server", local);

    exchange(&mut browser, &mut kaon, "chat", ids["chat"], true);
    burst(&mut browser, &mut kaon, "chat", ids["chat"], 500);
    exchange(&mut browser, &mut kaon, "loose", ids["loose"], false);
    let trio = three_channels_at_once(&mut browser, &mut kaon);

    // The browser closes one channel, kaon the other; each side sees both close.
    browser.send(r#"{"cmd":"close","label":"loose"}"#);
    let loose = ids["loose"];
    kaon.wait(
        "loose closed",
        Duration::from_secs(10),
        move |e| matches!(e, PeerEvent::DataChannelClosed(c) if *c == loose),
    );
    let chat = ids["chat"];
    kaon.driver.call(move |pc, now| pc.close_channel(now, chat));
    kaon.wait(
        "chat closed",
        Duration::from_secs(10),
        move |e| matches!(e, PeerEvent::DataChannelClosed(c) if *c == chat),
    );
    for label in ["loose", "chat"] {
        browser.wait(&format!("{label} closed"), Duration::from_secs(10), |e| {
            e.is("closed") && e.get("label") == label
        });
    }
    browser_closes_the_connection(&mut browser, kaon, &trio);
}

#[test]
fn kaon_offers_chromium_answers() {
    const TEST: &str = "kaon_offers_chromium_answers";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut browser = Browser::start();

    let socket = bind();
    let local = socket.local_addr().unwrap();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(local).unwrap();
    let chat = pc
        .create_data_channel(Instant::now(), "kaon-chat", ChannelConfig::default())
        .expect("channel");
    let mut early = early_events(&mut pc);
    let t0 = Instant::now();
    let offer = pc.create_offer(Instant::now()).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    eprintln!("kaon offer:\n{offer}");
    early.extend(browser_answers(&mut browser, &mut pc, &offer));
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);

    kaon.wait(
        "kaon-chat open",
        Duration::from_secs(20),
        move |e| matches!(e, PeerEvent::DataChannelOpen { id, remote: false, .. } if *id == chat),
    );
    browser.wait("kaon-chat open", Duration::from_secs(20), |e| {
        e.is("open") && e.get("label") == "kaon-chat"
    });
    eprintln!(
        "kaon offer -> channel open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    browser.check_transport("client", local);

    exchange(&mut browser, &mut kaon, "kaon-chat", chat, true);
    burst(&mut browser, &mut kaon, "kaon-chat", chat, 500);

    // A second channel, opened by kaon after the connection is up (DCEP over a live
    // association), then closed by the browser.
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
    browser.wait("late open", Duration::from_secs(10), |e| {
        e.is("open") && e.get("label") == "late" && e.get("ordered") == "false"
    });
    exchange(&mut browser, &mut kaon, "late", late, false);
    browser.send(r#"{"cmd":"close","label":"late"}"#);
    kaon.wait(
        "late closed",
        Duration::from_secs(10),
        move |e| matches!(e, PeerEvent::DataChannelClosed(c) if *c == late),
    );
    kaon.driver.call(move |pc, now| pc.close_channel(now, chat));
    browser.wait("kaon-chat closed", Duration::from_secs(10), |e| {
        e.is("closed") && e.get("label") == "kaon-chat"
    });
    three_channels_at_once(&mut browser, &mut kaon);
    kaon_closes_the_connection(
        &mut browser,
        kaon,
        &["b-0", "b-1", "b-2", "k-0", "k-1", "k-2"],
    );
}

// ---- kaon issue 11: many m-lines, renegotiation, Chromium's default mDNS candidates ----

/// A config whose media engine has no codec: kaon then rejects every audio and video section.
fn no_codecs() -> PeerConfig {
    PeerConfig {
        media: std::sync::Arc::new(kaon::peer::MediaEngine::empty()),
        ..PeerConfig::default()
    }
}

/// One text and one binary message each way on `label`, checked on arrival.
fn chat(browser: &mut Browser, kaon: &mut Kaon, label: &str, id: ChannelId) {
    let from_browser = format!("chromium on {label}");
    browser.send_text(label, &from_browser);
    assert_eq!(
        kaon.message(id),
        (from_browser.into_bytes(), false),
        "kaon: text on {label}"
    );
    browser.send_binary(label, 1200);
    assert_eq!(
        kaon.message(id),
        (pattern(1200), true),
        "kaon: binary on {label}"
    );
    let from_kaon = format!("kaon on {label}");
    kaon.send(id, from_kaon.clone().into_bytes(), false);
    kaon.send(id, pattern(1200), true);
    let l = label.to_string();
    browser.wait(
        &format!("kaon's text on {label}"),
        Duration::from_secs(10),
        move |e| e.is("message") && e.get("label") == l && e.get("text") == from_kaon,
    );
    let l = label.to_string();
    let e = browser.wait(
        &format!("kaon's binary on {label}"),
        Duration::from_secs(10),
        move |e| e.is("message") && e.get("label") == l && e.get("binary") == "true",
    );
    assert_eq!(
        (e.get("len"), e.get("ok")),
        ("1200", "true"),
        "browser: kaon's binary message on {label}"
    );
}

/// Chromium's transceivers as `mid kind direction`, e.g. `0 audio stopped`.
fn transceivers(browser: &mut Browser) -> Vec<String> {
    browser.send(r#"{"cmd":"transceivers"}"#);
    let e = browser.wait("transceivers", Duration::from_secs(10), |e| {
        e.is("transceivers")
    });
    e.get("list")
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether Chromium's transceiver for `mid` is gone or stopped (Chromium removes a transceiver
/// that an answer stopped from getTransceivers once the exchange completes).
fn stopped(list: &[String], mid: &str) -> bool {
    list.iter()
        .filter(|t| t.split(' ').next() == Some(mid))
        .all(|t| t.ends_with(" stopped"))
}

/// Chromium offers what a call offers: a fake microphone and camera (both tracks added) and a
/// data channel, to a kaon configured with no codecs. kaon answers line for line with the same
/// mids, the audio and video sections rejected (port 0) and the data section taken; Chromium accepts the answer (its
/// setRemoteDescription resolves), stops both media transceivers, and the channel opens and
/// carries messages both ways.
#[test]
fn chromium_offers_audio_video_data_and_kaon_answers_with_media_rejected() {
    const TEST: &str = "chromium_offers_audio_video_data_and_kaon_answers_with_media_rejected";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer","channels":[{"label":"chat"}],"media":["audio","video"]}"#);
    // getUserMedia starts the fake camera first: slower than a data-only offer on a busy host.
    let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
    let t0 = Instant::now();
    let offer = offer.get("sdp").to_string();
    eprintln!("chromium offer:\n{offer}");
    let offered = m_lines(&offer);
    let kinds: Vec<&str> = offered.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["audio", "video", "application"],
        "Chromium's m-lines"
    );
    assert!(offered.iter().all(|(_, port, _)| *port != 0));

    let socket = bind();
    let (pc, early, answer) = kaon_answers(&offer, &socket, no_codecs(), &[]);
    eprintln!("kaon answer:\n{answer}");
    let answered = m_lines(&answer);
    assert_eq!(
        answered.len(),
        offered.len(),
        "one answer line per offer line"
    );
    for ((kind, _, mid), (a_kind, a_port, a_mid)) in offered.iter().zip(&answered) {
        assert_eq!(
            (a_kind, a_mid),
            (kind, mid),
            "the answer keeps kind and mid"
        );
        assert_eq!(
            *a_port == 0,
            kind != "application",
            "kaon rejects exactly the media sections: {answered:?}"
        );
    }
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait(
        "Chromium accepts the answer",
        Duration::from_secs(10),
        |e| e.is("answered"),
    );
    let chat_id = opened(&mut browser, &mut kaon, "chat", true);
    eprintln!(
        "Chromium audio+video+data offer -> channel open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    chat(&mut browser, &mut kaon, "chat", chat_id);
    let list = transceivers(&mut browser);
    eprintln!("chromium transceivers: {list:?}");
    for (kind, _, mid) in offered.iter().filter(|(k, _, _)| k != "application") {
        assert!(
            stopped(&list, mid),
            "Chromium stopped the rejected {kind} transceiver: {list:?}"
        );
    }
    kaon.finish();
}

/// Two renegotiations on a live connection. kaon offers data and Chromium answers; Chromium
/// adds a fake camera track and re-offers, kaon (configured with no codecs) answers with the
/// video section rejected in place; kaon opens a second channel and re-offers, its offer
/// keeping the rejected video line at its index with port 0, and Chromium answers. Chromium accepts every description of
/// kaon's, and both channels carry messages both ways after the last exchange.
#[test]
fn kaon_and_chromium_renegotiate_adding_a_channel_and_a_rejected_video_section() {
    const TEST: &str =
        "kaon_and_chromium_renegotiate_adding_a_channel_and_a_rejected_video_section";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut browser = Browser::start();

    // Exchange 1: kaon offers its data section.
    let socket = bind();
    let mut pc = PeerConnection::new(no_codecs()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    let first = pc
        .create_data_channel(Instant::now(), "first", ChannelConfig::default())
        .expect("channel");
    let offer = pc.create_offer(Instant::now()).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let early = browser_answers(&mut browser, &mut pc, &offer);
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    assert_eq!(opened(&mut browser, &mut kaon, "first", false), first);
    chat(&mut browser, &mut kaon, "first", first);

    // Exchange 2: Chromium adds a video track and re-offers; kaon rejects it in place.
    browser.send(r#"{"cmd":"offer","media":["video"]}"#);
    let offer = browser.wait("re-offer", Duration::from_secs(15), |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    eprintln!("chromium re-offer:\n{offer}");
    let offered = m_lines(&offer);
    let answer = kaon.answer_reoffer(&offer, "Chromium");
    eprintln!("kaon answer to the re-offer:\n{answer}");
    let answered = m_lines(&answer);
    assert_eq!(
        offered.iter().map(|(k, _, m)| (k, m)).collect::<Vec<_>>(),
        answered.iter().map(|(k, _, m)| (k, m)).collect::<Vec<_>>(),
        "the answer matches the re-offer line for line"
    );
    assert_eq!(
        offered[0].0, "application",
        "the data section keeps index 0"
    );
    assert_eq!(offered[1].0, "video", "the new video section comes second");
    assert!(
        answered[0].1 != 0 && answered[1].1 == 0,
        "video rejected: {answered:?}"
    );
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait(
        "Chromium accepts the answer",
        Duration::from_secs(10),
        |e| e.is("answered"),
    );
    let list = transceivers(&mut browser);
    assert!(
        stopped(&list, &offered[1].2),
        "Chromium stopped its video transceiver: {list:?}"
    );
    chat(&mut browser, &mut kaon, "first", first);

    // Exchange 3: kaon opens a channel and re-offers; the rejected line stays in place.
    let (second, offer) = kaon
        .driver
        .call(|pc, now| {
            let id = pc.create_data_channel(now, "second", ChannelConfig::default())?;
            let offer = pc.create_offer(now)?;
            pc.set_local_description(SdpType::Offer, offer.clone())?;
            Ok::<_, kaon::peer::Error>((id, offer.to_string()))
        })
        .expect("driver alive")
        .expect("kaon re-offers");
    eprintln!("kaon re-offer:\n{offer}");
    let reoffered = m_lines(&offer);
    assert_eq!(reoffered.len(), 2, "kaon keeps both lines: {reoffered:?}");
    assert_eq!(
        (
            reoffered[1].0.as_str(),
            reoffered[1].1,
            reoffered[1].2.as_str()
        ),
        ("video", 0, offered[1].2.as_str()),
        "kaon's re-offer keeps the rejected video line at index 1, port 0"
    );
    assert_eq!(
        (reoffered[0].0.as_str(), reoffered[0].2.as_str()),
        ("application", offered[0].2.as_str())
    );
    browser.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = browser.wait("answer", Duration::from_secs(15), |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    eprintln!("chromium answer to kaon's re-offer:\n{answer}");
    let answered = m_lines(&answer);
    assert_eq!(answered.len(), 2);
    assert_eq!(answered[1].1, 0, "Chromium keeps the video line rejected");
    kaon.driver
        .call(move |pc, _| {
            pc.set_remote_description(
                SdpType::Answer,
                SessionDescription::parse(&answer).expect("kaon parses Chromium's answer"),
            )
        })
        .expect("driver alive")
        .expect("kaon takes Chromium's answer to its re-offer");
    assert_eq!(opened(&mut browser, &mut kaon, "second", false), second);
    chat(&mut browser, &mut kaon, "second", second);
    chat(&mut browser, &mut kaon, "first", first);
    kaon.finish();
}

/// Set in the copy of the test binary that runs inside kaon's namespace: the name of the
/// browser's namespace.
const MDNS_INNER: &str = "KAON_CHROMIUM_MDNS_INNER";
/// kaon's and Chromium's ends of the veth between their namespaces.
const MDNS_KAON: &str = "10.77.0.1";
const MDNS_BROWSER: &str = "10.77.0.2";

/// Chromium with its default privacy (no loopback flag, mDNS obfuscation on, no getUserMedia)
/// offers a data channel from a network namespace whose default route goes through a veth to
/// kaon's namespace. Its host candidates are `<uuid>.local` names, which kaon cannot resolve
/// (no mDNS in kaon yet), and it sends no `a=end-of-candidates`; the test appends one, as
/// Firefox would send it. kaon must not fail for want of a usable candidate: Chromium's checks
/// reach kaon's host candidate (in the answer), kaon learns a peer-reflexive candidate from
/// them (RFC 8445 §7.3.1.3), and the channel opens and carries messages both ways.
///
/// The test makes both namespaces and runs a copy of itself in kaon's (`ip netns exec`); the
/// node script runs in the browser's. Needs root and `ip`: a failure in CI without them, a skip
/// elsewhere.
#[test]
fn chromium_with_default_mdns_candidates_connects_through_peer_reflexive_pairs() {
    const TEST: &str =
        "chromium_with_default_mdns_candidates_connects_through_peer_reflexive_pairs";
    if !peer_available(TEST) {
        return;
    }
    if let Some(ns) = std::env::var_os(MDNS_INNER) {
        return mdns_session(&ns.to_string_lossy());
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let namespaces = common::netns::Netns::create("mdns-k").and_then(|k| {
        let b = common::netns::Netns::create("mdns-b")?;
        k.veth_to(
            &b,
            &format!("{MDNS_KAON}/24"),
            &format!("{MDNS_BROWSER}/24"),
            true,
        )?;
        Ok((k, b))
    });
    let (kaon_ns, browser_ns) = match namespaces {
        Ok(n) => n,
        Err(why) => {
            common::missing_peer(TEST, &format!("network namespaces ({why})"));
            return;
        }
    };
    kaon_ns.rerun_test(
        TEST,
        MDNS_INNER,
        &browser_ns.name,
        Duration::from_secs(180),
        "the mDNS session",
    );
}

/// The part of the mDNS test that runs in kaon's namespace.
fn mdns_session(browser_ns: &str) {
    // Chromium's own gathering sometimes never completes with mDNS names in a fresh
    // namespace: a CI run and a rehearsal each saw an offer with no candidate at all after
    // waiting 20 s (kaon is not involved before the offer exists), while other runs gather in
    // 0.2 s. Such an offer proves nothing about kaon, so a fresh browser gets up to two more
    // tries; each try is printed.
    let mut tries = 0;
    let (mut browser, offer, t0) = loop {
        tries += 1;
        let mut node = Command::new("ip");
        node.args(["netns", "exec", browser_ns, "node", "peer.mjs", "--mdns"]);
        let mut browser = Browser::start_with(node);
        browser.send(r#"{"cmd":"offer","channels":[{"label":"chat"}]}"#);
        let asked = Instant::now();
        let offer = browser.wait("offer", Duration::from_secs(30), |e| e.is("offer"));
        let t0 = Instant::now();
        let offer = offer.get("sdp").to_string();
        eprintln!(
            "chromium offer (default mDNS), try {tries}, after {:.1} s of gathering:\n{offer}",
            asked.elapsed().as_secs_f64()
        );
        let gathered = offer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(" typ host"));
        if gathered || tries == 3 {
            break (browser, offer, t0);
        }
        eprintln!("Chromium's gathering never completed: a fresh browser tries again");
    };
    let hosts: Vec<&str> = offer
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .collect();
    assert!(
        !hosts.is_empty(),
        "Chromium gathered no host candidate in {tries} tries"
    );
    for c in &hosts {
        let address = c.split(' ').nth(4).unwrap_or("");
        assert!(
            address.ends_with(".local"),
            "Chromium's host candidate is an mDNS name: {c}"
        );
    }
    assert!(
        !offer.contains(MDNS_BROWSER),
        "Chromium's offer reveals no address"
    );
    assert!(!offer.contains("a=end-of-candidates"));
    let offer = format!("{}\r\na=end-of-candidates\r\n", offer.trim_end());

    let socket = UdpSocket::bind((MDNS_KAON, 0)).expect("bind kaon's veth address");
    let (pc, early, answer) = kaon_answers(&offer, &socket, PeerConfig::default(), &[]);
    eprintln!("kaon answer:\n{answer}");
    let local = socket.local_addr().unwrap();
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait(
        "Chromium accepts the answer",
        Duration::from_secs(10),
        |e| e.is("answered"),
    );
    let pair = kaon.wait("a selected pair", Duration::from_secs(20), |e| {
        matches!(e, PeerEvent::SelectedCandidatePairChanged { .. })
    });
    let PeerEvent::SelectedCandidatePairChanged { remote, .. } = pair else {
        unreachable!()
    };
    eprintln!("kaon's selected pair ends at {remote}");
    assert!(
        remote.contains(&format!(" {MDNS_BROWSER} ")) && remote.contains("typ prflx"),
        "kaon learned Chromium's address from its checks (peer-reflexive): {remote}"
    );
    let id = opened(&mut browser, &mut kaon, "chat", true);
    eprintln!(
        "Chromium offer (mDNS names only) -> channel open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    browser.check_transport("server", local);
    chat(&mut browser, &mut kaon, "chat", id);
    kaon.finish();
}

/// Offer-to-open against Chromium both ways, a few runs each on one browser (a fresh
/// connection each run): kaon offering (t0 when kaon's offer is written) and Chromium offering
/// (t0 when its offer reaches the test, after its gathering). Prints ICE, DTLS and open times
/// per run and the spread. ICE-to-DTLS (kaon's selected pair to kaon's DTLS connected) under
/// kaon's first DTLS retransmission timeout (100 ms) means kaon retransmitted no flight; kaon
/// counts no DTLS retransmissions in what PeerConnection exposes, and Chromium's getStats has
/// none either. Asserts only that every run opens.
#[test]
fn offer_to_open_against_chromium_both_ways_over_several_runs() {
    const TEST: &str = "offer_to_open_against_chromium_both_ways_over_several_runs";
    const RUNS: usize = 5;
    const LIMIT: Duration = Duration::from_secs(20);
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut browser = Browser::start();
    let mut kaon_offering = Vec::new();
    for run in 0..RUNS {
        let label = format!("k{run}");
        let socket = bind();
        let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
        pc.add_local_address(socket.local_addr().unwrap()).unwrap();
        pc.create_data_channel(Instant::now(), &label, ChannelConfig::default())
            .expect("channel");
        let t0 = Instant::now();
        let offer = pc.create_offer(Instant::now()).expect("offer");
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        let early = browser_answers(&mut browser, &mut pc, &offer);
        let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
        let r = Run::measure(&mut browser, &mut kaon, &label, false, t0, LIMIT);
        r.print(&format!("kaon offers, run {run}"), "Chromium", "");
        kaon_offering.push(r);
        kaon.finish();
        browser.reset();
    }
    let mut chromium_offering = Vec::new();
    for run in 0..RUNS {
        let label = format!("c{run}");
        browser.send(&format!(
            r#"{{"cmd":"offer","channels":[{{"label":{}}}]}}"#,
            json_str(&label)
        ));
        let offer = browser.wait("offer", Duration::from_secs(15), |e| e.is("offer"));
        let t0 = Instant::now();
        let socket = bind();
        let (pc, early, answer) =
            kaon_answers(offer.get("sdp"), &socket, PeerConfig::default(), &[]);
        let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
        browser.send(&format!(
            r#"{{"cmd":"answer","sdp":{}}}"#,
            json_str(&answer)
        ));
        let r = Run::measure(&mut browser, &mut kaon, &label, true, t0, LIMIT);
        r.print(&format!("Chromium offers, run {run}"), "Chromium", "");
        chromium_offering.push(r);
        kaon.finish();
        browser.reset();
    }
    for (what, runs) in [
        ("kaon offers", &kaon_offering),
        ("Chromium offers", &chromium_offering),
    ] {
        let dtls: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.0}", (r.dtls - r.ice).as_secs_f64() * 1e3))
            .collect();
        let extra = format!("; ICE-to-DTLS per run (ms): {}", dtls.join(", "));
        print_spread(what, runs, &extra);
    }
}
