//! IPv6 against aiortc over a real veth, not only `::1`: both roles (aiortc offers, kaon
//! offers), a data channel that echoes, and both stacks' selected pair on the veth's IPv6
//! addresses.
//!
//! The test makes two network namespaces, one for kaon and one for aiortc, joined by a veth
//! that carries only IPv6: fd00:9a::1/64 (ULA) on kaon's end, fd00:9a::2/64 on aiortc's. No
//! IPv4 address exists on the link, so nothing can fall back to IPv4. The test runs a copy of
//! itself in kaon's namespace (`ip netns exec`); that copy starts
//! `tests/interop/peer_aiortc.py` in aiortc's namespace gathering its veth address.
//!
//! Needs root, `ip` and the venv with aiortc (`.ci/run` makes it): a failure in CI without
//! them, a skip with the reason elsewhere.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::aiortc::{Aiortc, STEP, venv};
use common::json_lines::json_str;
use common::netns::Netns;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

/// Set in the copy of the test binary that runs in kaon's namespace: aiortc's namespace.
const INNER: &str = "KAON_IPV6_VETH_AIORTC_NS";
const KAON: &str = "fd00:9a::1";
const AIORTC: &str = "fd00:9a::2";

#[test]
fn aiortc_offers_and_kaon_answers_over_an_ipv6_only_veth() {
    run(
        "aiortc_offers_and_kaon_answers_over_an_ipv6_only_veth",
        aiortc_offers,
    );
}

#[test]
fn kaon_offers_and_aiortc_answers_over_an_ipv6_only_veth() {
    run(
        "kaon_offers_and_aiortc_answers_over_an_ipv6_only_veth",
        kaon_offers,
    );
}

/// Outside: makes the namespaces and runs `test` again in kaon's; inside: runs `session`.
fn run(test: &str, session: fn(&mut Aiortc) -> (kaon_std::PeerConnection, kaon_std::DataChannel)) {
    let Some(python) = venv(test) else {
        return;
    };
    if let Ok(aiortc_ns) = std::env::var(INNER) {
        let mut py = Aiortc::start_in(&python, AIORTC, &aiortc_ns);
        let (pc, channel) = session(&mut py);
        echo(&channel, &mut py, "hello over ipv6");
        check_selected_pair_is_ipv6(&pc, &mut py);
        let _ = pc.close();
        return;
    }
    let made = (|| {
        let k = Netns::create("v6ka")?;
        let a = Netns::create("v6aa")?;
        k.veth6_to(&a, &format!("{KAON}/64"), &format!("{AIORTC}/64"))?;
        Ok::<_, String>((k, a))
    })();
    let (k, a) = match made {
        Ok(ns) => ns,
        Err(why) => {
            common::missing_peer(test, &format!("network namespaces ({why})"));
            return;
        }
    };
    k.rerun_test(
        test,
        INNER,
        &a.name,
        Duration::from_secs(60),
        "the IPv6 session",
    );
}

/// kaon on its end of the veth only (one IPv6 socket).
fn kaon() -> kaon_std::PeerConnection {
    let socket = UdpSocket::bind(SocketAddr::new(KAON.parse().unwrap(), 0)).expect("bind");
    kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket]).expect("kaon")
}

/// aiortc's description carries its veth address and nothing else.
fn check_aiortc_candidates(sdp: &str) {
    let candidates: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    eprintln!("aiortc candidates:\n{}", candidates.join("\n"));
    assert!(!candidates.is_empty(), "aiortc gathered a candidate");
    for l in &candidates {
        assert!(l.contains(&format!(" {AIORTC} ")), "not on the veth: {l}");
    }
}

fn echo(channel: &kaon_std::DataChannel, py: &mut Aiortc, text: &str) {
    py.send(&format!(
        r#"{{"cmd":"send","label":"chat","text":{}}}"#,
        json_str(text)
    ));
    let m = channel.recv_timeout(STEP).expect("kaon hears aiortc");
    assert_eq!(&m.data[..], text.as_bytes());
    let want = format!("echo: {text}");
    channel.send_text(&want).expect("kaon answers");
    py.wait("aiortc hears the echo", STEP, |e| {
        e.is("message") && e.get("text") == want
    });
}

fn aiortc_offers(py: &mut Aiortc) -> (kaon_std::PeerConnection, kaon_std::DataChannel) {
    py.send(r#"{"cmd":"offer","channels":[{"label":"chat"}]}"#);
    let offer = py.wait("offer", STEP, |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    check_aiortc_candidates(&offer);
    let pc = kaon();
    let t0 = Instant::now();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses aiortc's offer"),
    )
    .expect("kaon takes the offer");
    let answer = pc.create_answer().expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .expect("kaon applies its answer");
    let answer = answer.to_string();
    assert!(answer.contains(&format!(" {KAON} ")), "{answer}");
    py.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    py.wait("aiortc accepts the answer", STEP, |e| e.is("answered"));
    let channel = pc
        .accept_data_channel_timeout(STEP)
        .expect("aiortc's channel opens at kaon");
    assert_eq!(channel.label(), "chat");
    py.wait_label("open", "chat");
    eprintln!("offer to open channel over IPv6: {:?}", t0.elapsed());
    (pc, channel)
}

fn kaon_offers(py: &mut Aiortc) -> (kaon_std::PeerConnection, kaon_std::DataChannel) {
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
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = py.wait("aiortc's answer", STEP, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    check_aiortc_candidates(&answer);
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer).expect("kaon parses aiortc's answer"),
    )
    .expect("kaon takes the answer");
    py.wait_label("open", "chat");
    assert!(
        channel.wait_open_timeout(STEP).expect("driver alive"),
        "the channel opens at kaon"
    );
    eprintln!("offer to open channel over IPv6: {:?}", t0.elapsed());
    (pc, channel)
}

/// kaon's `get_stats`: the selected candidate pair joins its veth address to aiortc's, both
/// IPv6; aiortc's nominated pair agrees.
fn check_selected_pair_is_ipv6(pc: &kaon_std::PeerConnection, py: &mut Aiortc) {
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
    assert_eq!(
        remote.address.parse::<IpAddr>(),
        Ok(AIORTC.parse().unwrap())
    );
    py.send(r#"{"cmd":"stats"}"#);
    let s = py.wait("stats", STEP, |e| e.is("stats"));
    eprintln!(
        "aiortc pair: {} -> {}, dtls {} {}",
        s.get("local"),
        s.get("remote"),
        s.get("dtlsState"),
        s.get("tlsVersion")
    );
    assert_eq!(s.get("dtlsState"), "connected");
    assert_eq!(
        s.get("local"),
        format!("[{AIORTC}]:{}", remote.port),
        "aiortc's end of the pair"
    );
    assert_eq!(
        s.get("remote"),
        format!("[{KAON}]:{}", local.port),
        "kaon's end of the pair"
    );
}
