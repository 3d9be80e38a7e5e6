//! DTLS 1.3 between kaon's PeerConnection and headless Chromium 156, driven by
//! `tests/interop/chromium/peer.mjs` (playwright-core) as `tests/peer_chromium.rs` does.
//!
//! - Chromium offers, kaon answers `active` with `PeerConfig::dtls_versions` set to
//!   `Dtls13OrDtls12`: kaon is the DTLS 1.3 client, Chromium the server.
//! - kaon offers, Chromium answers `active`: Chromium is the client and offers DTLS 1.3 with an
//!   X25519MLKEM768 key share; kaon's server settles on 1.3 (the hybrid group, as the captured
//!   hello test in this file shows).
//! - kaon pinned to DTLS 1.2 (the default) against the same Chromium settles on 1.2.
//!
//! In each case Chromium's getStats must report `tlsVersion` (`FEFC` for 1.3, `FEFD` for 1.2)
//! and kaon's stats the same, and a data channel carries text both ways.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/interop/chromium/node_modules`; `.ci/run`
//! installs them. Outside CI a missing peer skips the test with a message.

mod common;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::json_str;
use common::kaon_peer::{KaonPeer as Kaon, bind};
use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::dtls::{Config, Endpoint, Identity, Role, VersionPolicy};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon::{Datagram, Protocol};

/// One Chromium at a time: two cores, and each browser takes most of one while it starts.
static SERIAL: Mutex<()> = Mutex::new(());

/// Chromium's getStats transport: (tlsVersion, dtlsRole, dtlsCipher).
fn transport(browser: &mut Browser) -> (String, String, String) {
    browser.send(r#"{"cmd":"stats"}"#);
    let s = browser.wait("stats", Duration::from_secs(10), |e| e.is("stats"));
    eprintln!(
        "chromium transport: dtls {} {} role {} ({})",
        s.get("dtlsState"),
        s.get("tlsVersion"),
        s.get("dtlsRole"),
        s.get("dtlsCipher"),
    );
    assert_eq!(s.get("dtlsState"), "connected");
    (
        s.get("tlsVersion").to_string(),
        s.get("dtlsRole").to_string(),
        s.get("dtlsCipher").to_string(),
    )
}

fn config(versions: VersionPolicy) -> PeerConfig {
    PeerConfig {
        dtls_versions: versions,
        ..PeerConfig::default()
    }
}

/// Waits for `label` to open on both sides; kaon's id of it.
fn opened(browser: &mut Browser, kaon: &mut Kaon, label: &str, remote: bool) -> ChannelId {
    let l = label.to_string();
    let e = kaon.wait(&format!("{label} open"), Duration::from_secs(20), move |e| {
        matches!(e, PeerEvent::DataChannelOpen { label, remote: r, .. } if *label == l && *r == remote)
    });
    let l = label.to_string();
    browser.wait(
        &format!("{label} open"),
        Duration::from_secs(20),
        move |e| e.is("open") && e.get("label") == l,
    );
    match e {
        PeerEvent::DataChannelOpen { id, .. } => id,
        _ => unreachable!(),
    }
}

/// Text both ways on `label`.
fn chat(browser: &mut Browser, kaon: &mut Kaon, label: &str, id: ChannelId) {
    let from_browser = format!("chromium on {label}");
    browser.send(&format!(
        r#"{{"cmd":"send","label":{},"text":{}}}"#,
        json_str(label),
        json_str(&from_browser)
    ));
    assert_eq!(kaon.message(id), (from_browser.into_bytes(), false));
    let from_kaon = format!("kaon on {label}");
    kaon.send(id, from_kaon.clone().into_bytes(), false);
    let l = label.to_string();
    browser.wait("kaon's text", Duration::from_secs(10), move |e| {
        e.is("message") && e.get("label") == l && e.get("text") == from_kaon
    });
}

/// kaon's own view of the transport: (tlsVersion, dtlsCipher).
fn kaon_transport(kaon: &Kaon) -> (String, String) {
    kaon.driver
        .call(|pc, now| {
            let t = pc.get_stats(now).transport;
            (
                t.tls_version.unwrap_or("none").to_string(),
                t.dtls_cipher.unwrap_or("none").to_string(),
            )
        })
        .expect("driver alive")
}

/// Chromium offers one channel; kaon answers (`active`: the DTLS client).
fn chromium_offers(versions: VersionPolicy) -> ((String, String, String), (String, String)) {
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer","channels":[{"label":"chat","ordered":true}]}"#);
    let offer = browser.wait("offer", Duration::from_secs(15), |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    let socket = bind();
    let mut pc = PeerConnection::new(config(versions)).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses Chromium's offer"),
    )
    .expect("kaon takes Chromium's offer");
    kaon::Protocol::handle_timeout(&mut pc, Instant::now());
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let answer = pc.create_answer(Instant::now()).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    assert!(answer.contains("a=setup:active"));
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    let id = opened(&mut browser, &mut kaon, "chat", true);
    chat(&mut browser, &mut kaon, "chat", id);
    (transport(&mut browser), kaon_transport(&kaon))
}

/// kaon offers one channel; Chromium answers (`active`: the DTLS client).
fn kaon_offers(versions: VersionPolicy) -> ((String, String, String), (String, String)) {
    let mut browser = Browser::start();
    let socket = bind();
    let mut pc = PeerConnection::new(config(versions)).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.create_data_channel(Instant::now(), "chat", ChannelConfig::default())
        .expect("channel");
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let offer = pc.create_offer(Instant::now()).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    browser.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer.to_string())
    ));
    let answer = browser.wait("answer", Duration::from_secs(15), |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer).expect("kaon parses Chromium's answer"),
    )
    .expect("kaon takes Chromium's answer");
    let mut kaon = Kaon::spawn(pc, socket, early, Duration::from_secs(10), String::new);
    let id = opened(&mut browser, &mut kaon, "chat", false);
    chat(&mut browser, &mut kaon, "chat", id);
    (transport(&mut browser), kaon_transport(&kaon))
}

#[test]
fn chromium_server_and_kaon_client_settle_on_dtls13() {
    const TEST: &str = "chromium_server_and_kaon_client_settle_on_dtls13";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ((version, role, cipher), kaon) = chromium_offers(VersionPolicy::Dtls13OrDtls12);
    assert_eq!((version.as_str(), role.as_str()), ("FEFC", "server"));
    assert_eq!(cipher, "TLS_AES_128_GCM_SHA256");
    assert_eq!(kaon, ("FEFC".to_string(), cipher));
}

#[test]
fn chromium_client_and_kaon_server_settle_on_dtls13() {
    const TEST: &str = "chromium_client_and_kaon_server_settle_on_dtls13";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ((version, role, cipher), kaon) = kaon_offers(VersionPolicy::Dtls13OrDtls12);
    assert_eq!((version.as_str(), role.as_str()), ("FEFC", "client"));
    assert_eq!(cipher, "TLS_AES_128_GCM_SHA256");
    assert_eq!(kaon, ("FEFC".to_string(), cipher));
}

#[test]
fn kaon_pinned_to_dtls12_settles_on_dtls12_with_chromium_in_both_roles() {
    const TEST: &str = "kaon_pinned_to_dtls12_settles_on_dtls12_with_chromium_in_both_roles";
    if !peer_available(TEST) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ((version, _, _), kaon) = kaon_offers(VersionPolicy::Dtls12);
    assert_eq!((version.as_str(), kaon.0.as_str()), ("FEFD", "FEFD"));
    let ((version, _, _), kaon) = chromium_offers(VersionPolicy::Dtls12);
    assert_eq!((version.as_str(), kaon.0.as_str()), ("FEFD", "FEFD"));
}

const HELLO_1: &[u8] = include_bytes!("fixtures/dtls/chromium-156-client-hello-1.bin");
const HELLO_2: &[u8] = include_bytes!("fixtures/dtls/chromium-156-client-hello-2.bin");

/// Chromium's captured ClientHello (two fragments) to a DTLS 1.3 server without the cookie
/// exchange: the answer is a 1.3 ServerHello (supported_versions fefc) choosing
/// TLS_AES_128_GCM_SHA256 and X25519MLKEM768 (0x11ec, a 1120-byte share), followed by
/// protected records.
#[test]
fn chromium_hello_gets_a_dtls13_server_hello_with_the_hybrid_group() {
    let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
    let mut server = Endpoint::new(
        Config {
            role: Role::Server,
            local_addr: Some(addr("127.0.0.1:5000")),
            hello_verify: false,
            versions: VersionPolicy::Dtls13OrDtls12,
            ..Config::default()
        },
        Identity::generate().unwrap(),
        Instant::now(),
    )
    .unwrap();
    let now = Instant::now();
    for d in [HELLO_1, HELLO_2] {
        server.handle_datagram(
            now,
            Datagram {
                source: addr("127.0.0.1:6000"),
                destination: addr("127.0.0.1:5000"),
                contents: d,
            },
        );
    }
    assert_eq!(server.version(), Some(kaon::dtls::record::Version::Dtls13));
    let mut buf = [0u8; 2048];
    let t = server.poll_transmit(now, &mut buf).expect("a flight");
    let d = &buf[..t.len];
    // The first record: plaintext handshake, a whole ServerHello.
    assert_eq!(d[0], 22);
    let body = &d[13 + 12..];
    assert_eq!(d[13], 2, "ServerHello");
    assert_eq!(&body[..2], &[0xfe, 0xfd], "legacy_version DTLS 1.2");
    let sid_len = usize::from(body[34]);
    let at = 35 + sid_len;
    assert_eq!(&body[at..at + 2], &[0x13, 0x01], "TLS_AES_128_GCM_SHA256");
    let ext = &body[at + 5..];
    // supported_versions = fefc, then key_share with group 0x11ec and a 1120-byte share.
    let find = |typ: u16| {
        let mut i = 0;
        while i + 4 <= ext.len() {
            let t = u16::from_be_bytes([ext[i], ext[i + 1]]);
            let n = usize::from(u16::from_be_bytes([ext[i + 2], ext[i + 3]]));
            if t == typ {
                return ext[i + 4..i + 4 + n].to_vec();
            }
            i += 4 + n;
        }
        panic!("no extension {typ}")
    };
    assert_eq!(find(43), vec![0xfe, 0xfc]);
    let ks = find(51);
    assert_eq!(&ks[..2], &[0x11, 0xec]);
    assert_eq!(usize::from(u16::from_be_bytes([ks[2], ks[3]])), 1088 + 32);
}
