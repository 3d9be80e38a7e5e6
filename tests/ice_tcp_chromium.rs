//! ICE-TCP (RFC 6544) against headless Chromium with UDP blocked.
//!
//! The test makes a network namespace whose nftables drop every UDP datagram (`lo`
//! included, [`Netns::drop_udp`] at 100%) and runs a copy of itself there. Inside, Chromium
//! (driven by `tests/interop/chromium/peer.mjs`, with the loopback and fake-media flags and a
//! getUserMedia call, which is when it gathers TCP candidates: `tcptype active`, port 9)
//! offers a data channel. kaon (the `kaon_std` blocking PeerConnection) answers from a UDP
//! socket and a passive TCP candidate on a `TcpListener`. No UDP check can get through, so
//! Chromium connects to the passive candidate, kaon learns its active candidate as a
//! peer-reflexive one, DTLS and SCTP run over RFC 4571 frames, and the channel echoes.
//!
//! A second test has kaon offer instead: [`PeerConfig::ice_tcp`] gathers its passive
//! candidate (no listener wired by hand), Chromium answers with its active one and connects,
//! and kaon, the controlling agent, nominates that TCP pair.
//!
//! Needs root, `ip` and `nft`, `/usr/bin/chromium`, `node` and the script's node_modules
//! (`.ci/run` installs them): a failure in CI without them, a skip elsewhere.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::json_str;
use kaon::datachannel::ChannelConfig;
use kaon::ice::{CandidateKind, TcpType, Transport};
use kaon::peer::{IceTcpCandidates, PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

/// Set in the copy of the test binary that runs inside the namespace.
const INNER: &str = "KAON_ICE_TCP_CHROMIUM_INNER";
const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn chromium_connects_over_ice_tcp_when_udp_is_blocked() {
    run(
        "chromium_connects_over_ice_tcp_when_udp_is_blocked",
        session,
    );
}

#[test]
fn kaon_offers_ice_tcp_from_its_config_and_chromium_connects_when_udp_is_blocked() {
    run(
        "kaon_offers_ice_tcp_from_its_config_and_chromium_connects_when_udp_is_blocked",
        kaon_offers,
    );
}

/// Outside: makes the namespace without UDP and runs `test` again there; inside: `session`.
fn run(test: &str, session: fn()) {
    if !peer_available(test) {
        return;
    }
    if std::env::var_os(INNER).is_some() {
        return session();
    }
    let ns = match common::netns::Netns::create("icetcp").and_then(|ns| {
        block_udp(&ns)?;
        Ok(ns)
    }) {
        Ok(ns) => ns,
        Err(why) => {
            common::missing_peer(test, &format!("a network namespace without UDP ({why})"));
            return;
        }
    };
    ns.rerun_test(
        test,
        INNER,
        "1",
        Duration::from_secs(180),
        "the ICE-TCP session",
    );
}

/// Has nftables drop every UDP datagram leaving any interface of the namespace (`lo`
/// included): no UDP reaches either peer.
fn block_udp(ns: &common::netns::Netns) -> Result<(), String> {
    let nft = common::which("nft")
        .or_else(|| Some("/usr/sbin/nft".into()).filter(|p: &std::path::PathBuf| p.exists()))
        .ok_or("the nft command (apt: nftables)")?;
    for command in [
        "add table inet noudp",
        "add chain inet noudp out { type filter hook output priority 0 ; }",
        "add rule inet noudp out meta l4proto udp counter drop",
    ] {
        let out = ns
            .command(&nft)
            .args(command.split(' '))
            .output()
            .map_err(|e| format!("nft {command}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "nft {command}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// UDP datagrams the namespace's rule dropped (the proof that UDP was tried and blocked).
fn udp_dropped() -> Option<u64> {
    let out = std::process::Command::new("nft")
        .args(["list", "chain", "inet", "noudp", "out"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("counter"))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "packets")?;
    words.next()?.parse().ok()
}

/// The part that runs in the namespace.
fn session() {
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer","channels":[{"label":"chat"}]}"#);
    let offer = browser.wait("offer", PATIENCE, |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    eprintln!("chromium offer:\n{offer}");
    assert!(
        offer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(" tcptype active")),
        "Chromium offered no active TCP candidate"
    );

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let pc = kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket]).expect("kaon");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let passive = pc.add_tcp_listener(listener).expect("passive candidate");
    let t0 = Instant::now();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses Chromium's offer"),
    )
    .expect("kaon takes the offer");
    let answer = pc.create_answer().expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .expect("kaon applies its answer");
    let answer = answer.to_string();
    eprintln!("kaon answer:\n{answer}");
    assert!(answer.contains(&format!(
        "{} {} typ host tcptype passive",
        passive.ip(),
        passive.port()
    )));
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    browser.wait("Chromium accepts the answer", PATIENCE, |e| {
        e.is("answered")
    });

    let channel = pc
        .accept_data_channel_timeout(PATIENCE)
        .expect("Chromium's channel opens at kaon");
    assert_eq!(channel.label(), "chat");
    browser.wait("the channel opens in Chromium", PATIENCE, |e| {
        e.is("open") && e.get("label") == "chat"
    });
    eprintln!("offer to open channel over ICE-TCP: {:?}", t0.elapsed());

    // Echo: Chromium speaks, kaon answers what it heard.
    browser.send_text("chat", "hello over tcp");
    let m = channel.recv_timeout(PATIENCE).expect("kaon hears Chromium");
    assert_eq!(&m.data[..], b"hello over tcp");
    channel
        .send_text(&format!("echo: {}", String::from_utf8_lossy(&m.data)))
        .expect("kaon answers");
    browser.wait("Chromium hears the echo", PATIENCE, |e| {
        e.is("message") && e.get("text") == "echo: hello over tcp"
    });

    let (local, remote) = settled_pair(&pc);
    eprintln!("kaon's selected pair: {local} -> {remote}");
    assert_eq!(local.transport, Transport::Tcp);
    assert_eq!(local.tcp_type, Some(TcpType::Passive));
    assert_eq!(remote.tcp_type, Some(TcpType::Active));
    assert_eq!(remote.kind, CandidateKind::PeerReflexive);
    browser.send(r#"{"cmd":"stats"}"#);
    let s = browser.wait("stats", PATIENCE, |e| e.is("stats"));
    eprintln!(
        "chromium pair: {} -> {}, dtls {}",
        s.get("local"),
        s.get("remote"),
        s.get("dtlsState")
    );
    assert_eq!(s.get("dtlsState"), "connected");
    let dropped = udp_dropped();
    eprintln!("UDP datagrams dropped in the namespace: {dropped:?}");
    assert!(dropped.unwrap_or(0) > 0, "UDP was tried and blocked");
    let _ = pc.close();
}

/// The part of the second test that runs in the namespace: kaon, with
/// [`PeerConfig::ice_tcp`] asking for a passive candidate (no listener wired by hand), offers
/// a data channel; Chromium answers, and its active TCP candidate connects to kaon's passive
/// one. kaon is the controlling agent here, so it nominates the TCP pair it learned from
/// Chromium's check.
fn kaon_offers() {
    let mut browser = Browser::start();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let config = PeerConfig {
        ice_tcp: IceTcpCandidates::Passive,
        ..PeerConfig::default()
    };
    let pc = kaon_std::PeerConnection::new(config, vec![socket]).expect("kaon");
    let t0 = Instant::now();
    let channel = pc
        .create_data_channel("chat", ChannelConfig::default())
        .expect("channel");
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .expect("kaon applies its offer");
    let offer = offer.to_string();
    eprintln!("kaon offer:\n{offer}");
    assert!(
        offer
            .lines()
            .any(|l| l.contains(" 127.0.0.1 ") && l.contains(" typ host tcptype passive")),
        "kaon's config gathered a passive TCP candidate"
    );
    browser.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = browser.wait("Chromium's answer", PATIENCE, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    eprintln!("chromium answer:\n{answer}");
    assert!(
        answer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(" tcptype active")),
        "Chromium answered with an active TCP candidate"
    );
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer).expect("kaon parses Chromium's answer"),
    )
    .expect("kaon takes the answer");
    browser.wait("the channel opens in Chromium", PATIENCE, |e| {
        e.is("open") && e.get("label") == "chat"
    });
    assert!(
        channel.wait_open_timeout(PATIENCE).expect("driver alive"),
        "the channel opens at kaon"
    );
    eprintln!(
        "kaon offer to open channel over ICE-TCP: {:?}",
        t0.elapsed()
    );

    browser.send_text("chat", "hello over tcp");
    let m = channel.recv_timeout(PATIENCE).expect("kaon hears Chromium");
    assert_eq!(&m.data[..], b"hello over tcp");
    channel
        .send_text("echo: hello over tcp")
        .expect("kaon answers");
    browser.wait("Chromium hears the echo", PATIENCE, |e| {
        e.is("message") && e.get("text") == "echo: hello over tcp"
    });

    let (local, remote) = settled_pair(&pc);
    eprintln!("kaon's selected pair: {local} -> {remote}");
    assert_eq!(local.transport, Transport::Tcp);
    assert_eq!(local.tcp_type, Some(TcpType::Passive));
    assert_eq!(remote.tcp_type, Some(TcpType::Active));
    browser.send(r#"{"cmd":"stats"}"#);
    let s = browser.wait("stats", PATIENCE, |e| e.is("stats"));
    eprintln!(
        "chromium pair: {} -> {}, dtls {}",
        s.get("local"),
        s.get("remote"),
        s.get("dtlsState")
    );
    assert_eq!(s.get("dtlsState"), "connected");
    assert!(s.get("local").starts_with("tcp "), "{}", s.get("local"));
    let dropped = udp_dropped();
    eprintln!("UDP datagrams dropped in the namespace: {dropped:?}");
    assert!(dropped.unwrap_or(0) > 0, "UDP was tried and blocked");
    let _ = pc.close();
}

/// kaon's selected pair, once there is one. Chromium may close a TCP connection it no longer
/// needs; a pair whose stream closed fails and the agent moves to another, so the selection is
/// waited for (10 s at most) rather than read once.
fn settled_pair(pc: &kaon_std::PeerConnection) -> (kaon::ice::Candidate, kaon::ice::Candidate) {
    let waited = Instant::now();
    loop {
        let (selected, closed) = pc
            .call(|pc, _| {
                let ice = pc.ice();
                (ice.selected_candidates(), ice.stats().tcp_streams_closed)
            })
            .expect("driver alive");
        if let Some(pair) = selected {
            eprintln!(
                "kaon's selection read after {:?} ({closed} TCP streams closed)",
                waited.elapsed()
            );
            return pair;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "a selected pair within 10 s ({closed} TCP streams closed)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
