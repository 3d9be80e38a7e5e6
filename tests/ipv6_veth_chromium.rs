//! IPv6 against headless Chromium over a real veth, not only `::1`: both roles (Chromium
//! offers, kaon offers), a data channel that echoes, and kaon's selected pair (from its
//! `get_stats`) on IPv6 addresses at both ends.
//!
//! The test makes two network namespaces, one for kaon and one for Chromium, joined by a veth
//! that carries only IPv6: fd00:98::1/64 (ULA) on kaon's end, fd00:98::2/64 on Chromium's,
//! and an IPv6 default route in Chromium's namespace (without one it gathers no host
//! candidate). No IPv4 address exists on the link, so nothing can fall back to IPv4. The test
//! runs a copy of itself in kaon's namespace (`ip netns exec`); that copy starts
//! `tests/interop/chromium/peer.mjs` in Chromium's namespace with the flag that shows host
//! addresses instead of `.local` names.
//!
//! Needs root, `ip`, `/usr/bin/chromium`, `node` and the script's node_modules (`.ci/run`
//! installs them): a failure in CI without them, a skip with the reason elsewhere.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::chromium::{Browser, peer_available};
use common::json_lines::json_str;
use common::netns::Netns;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

/// Set in the copy of the test binary that runs in kaon's namespace: Chromium's namespace.
const INNER: &str = "KAON_IPV6_VETH_CHROMIUM_NS";
const KAON: &str = "fd00:98::1";
const CHROMIUM: &str = "fd00:98::2";
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn chromium_offers_and_kaon_answers_over_an_ipv6_only_veth() {
    run(
        "chromium_offers_and_kaon_answers_over_an_ipv6_only_veth",
        chromium_offers,
    );
}

#[test]
fn kaon_offers_and_chromium_answers_over_an_ipv6_only_veth() {
    run(
        "kaon_offers_and_chromium_answers_over_an_ipv6_only_veth",
        kaon_offers,
    );
}

/// Outside: makes the namespaces and runs `test` again in kaon's; inside: runs `session`.
fn run(test: &str, session: fn(&mut Browser) -> kaon_std::PeerConnection) {
    if !peer_available(test) {
        return;
    }
    if let Some(chromium_ns) = std::env::var_os(INNER) {
        let mut node = Command::new("ip");
        node.args(["netns", "exec"])
            .arg(chromium_ns)
            .args(["node", "peer.mjs"])
            // Host addresses, not `<uuid>.local` names: the test checks which address won.
            .env(
                "KAON_CHROMIUM_FLAGS",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            );
        let mut browser = Browser::start_with(node);
        let pc = session(&mut browser);
        check_selected_pair_is_ipv6(&pc, &mut browser);
        let _ = pc.close();
        return;
    }
    let made = (|| {
        let k = Netns::create("v6k")?;
        let c = Netns::create("v6c")?;
        k.veth6_to(&c, &format!("{KAON}/64"), &format!("{CHROMIUM}/64"))?;
        Ok::<_, String>((k, c))
    })();
    let (k, c) = match made {
        Ok(ns) => ns,
        Err(why) => {
            common::missing_peer(test, &format!("network namespaces ({why})"));
            return;
        }
    };
    k.rerun_test(
        test,
        INNER,
        &c.name,
        Duration::from_secs(120),
        "the IPv6 session",
    );
}

/// kaon on its end of the veth only (one IPv6 socket).
fn kaon() -> kaon_std::PeerConnection {
    let socket = UdpSocket::bind(SocketAddr::new(KAON.parse().unwrap(), 0)).expect("bind");
    kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket]).expect("kaon")
}

/// Chromium's description must carry its veth address and no IPv4 candidate but loopback.
fn check_chromium_candidates(sdp: &str) {
    let candidates: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    eprintln!("chromium candidates:\n{}", candidates.join("\n"));
    assert!(
        candidates
            .iter()
            .any(|l| l.contains(&format!(" {CHROMIUM} "))),
        "Chromium gathered its IPv6 veth address"
    );
    for l in &candidates {
        let ip: Option<IpAddr> = l.split(' ').nth(4).and_then(|a| a.parse().ok());
        assert!(
            ip.is_none_or(|ip| ip.is_ipv6() || ip.is_loopback()),
            "an IPv4 candidate off loopback: {l}"
        );
    }
}

fn echo(pc_channel: &kaon_std::DataChannel, browser: &mut Browser, text: &str) {
    browser.send_text("chat", text);
    let m = pc_channel
        .recv_timeout(PATIENCE)
        .expect("kaon hears Chromium");
    assert_eq!(&m.data[..], text.as_bytes());
    pc_channel
        .send_text(&format!("echo: {text}"))
        .expect("kaon answers");
    let want = format!("echo: {text}");
    browser.wait("Chromium hears the echo", PATIENCE, |e| {
        e.is("message") && e.get("text") == want
    });
}

fn chromium_offers(browser: &mut Browser) -> kaon_std::PeerConnection {
    browser.send(r#"{"cmd":"offer","channels":[{"label":"chat"}]}"#);
    let offer = browser.wait("offer", PATIENCE, |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    check_chromium_candidates(&offer);
    let pc = kaon();
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
    assert!(answer.contains(&format!(" {KAON} ")), "{answer}");
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
    eprintln!("offer to open channel over IPv6: {:?}", t0.elapsed());
    echo(&channel, browser, "hello over ipv6");
    pc
}

fn kaon_offers(browser: &mut Browser) -> kaon_std::PeerConnection {
    let pc = kaon();
    let t0 = Instant::now();
    let channel = pc
        .create_data_channel("chat", ChannelConfig::default())
        .expect("channel");
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .expect("kaon applies its offer");
    let offer = offer.to_string();
    assert!(offer.contains(&format!(" {KAON} ")), "{offer}");
    browser.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = browser.wait("Chromium's answer", PATIENCE, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    check_chromium_candidates(&answer);
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
    eprintln!("offer to open channel over IPv6: {:?}", t0.elapsed());
    echo(&channel, browser, "hello over ipv6");
    pc
}

/// kaon's `get_stats`: the selected candidate pair joins its veth address to Chromium's, both
/// IPv6; Chromium's own getStats agrees.
fn check_selected_pair_is_ipv6(pc: &kaon_std::PeerConnection, browser: &mut Browser) {
    let stats = pc.get_stats().expect("stats");
    let pair = stats
        .candidate_pairs
        .iter()
        .find(|p| p.selected)
        .expect("a selected candidate pair");
    let local = stats
        .local_candidates
        .iter()
        .find(|c| c.id == pair.local_candidate_id)
        .expect("the pair's local candidate");
    let remote = stats
        .remote_candidates
        .iter()
        .find(|c| c.id == pair.remote_candidate_id)
        .expect("the pair's remote candidate");
    eprintln!(
        "kaon's selected pair: {} [{}]:{} -> {} [{}]:{}",
        local.candidate_type,
        local.address,
        local.port,
        remote.candidate_type,
        remote.address,
        remote.port
    );
    assert_eq!(local.address.parse::<IpAddr>(), Ok(KAON.parse().unwrap()));
    assert_eq!(local.protocol, "udp");
    // Chromium's check can beat its description to kaon: then its candidate is
    // peer-reflexive, but the address is still its veth address.
    assert_eq!(
        remote.address.parse::<IpAddr>(),
        Ok(CHROMIUM.parse().unwrap())
    );
    browser.send(r#"{"cmd":"stats"}"#);
    let s = browser.wait("stats", PATIENCE, |e| e.is("stats"));
    eprintln!(
        "chromium pair: {} -> {}, dtls {} {}",
        s.get("local"),
        s.get("remote"),
        s.get("dtlsState"),
        s.get("tlsVersion")
    );
    assert_eq!(s.get("dtlsState"), "connected");
    assert!(
        s.get("local").starts_with(&format!("udp {CHROMIUM}:")),
        "Chromium's end of the pair is its IPv6 veth address"
    );
}
