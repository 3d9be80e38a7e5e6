//! IPv6 between two kaon peers over a real veth pair between two network namespaces: an
//! IPv6-only pair connects, and a dual-stack pair selects IPv6 (RFC 8421: IPv6 host candidates
//! rank above IPv4 ones, interleaved).
//!
//! The test makes namespaces A and B joined by a veth with 10.97.0.1/24 + fd00:97::1/64 on A's
//! end and 10.97.0.2/24 + fd00:97::2/64 on B's (no duplicate address detection, so the
//! addresses are usable at once), then runs itself twice, once in each namespace, as the
//! offerer and the answerer; it relays their descriptions (one line each on stdout and stdin)
//! and checks what they report. Needs root and `ip`: skipped with a printed reason without
//! them (failing in CI).

mod common;

use std::io::BufRead;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::netns::Netns;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

const ROLE: &str = "KAON_IPV6_VETH_ROLE";
const FAMILIES: &str = "KAON_IPV6_VETH_FAMILIES";

/// One side's addresses, by role.
fn addresses(offerer: bool, families: &str) -> Vec<SocketAddr> {
    let (v4, v6) = if offerer {
        ("10.97.0.1:0", "[fd00:97::1]:0")
    } else {
        ("10.97.0.2:0", "[fd00:97::2]:0")
    };
    let mut out = Vec::new();
    if families.contains('6') {
        out.push(v6.parse().unwrap());
    }
    if families.contains('4') {
        out.push(v4.parse().unwrap());
    }
    out
}

fn escape(sdp: &str) -> String {
    sdp.replace("\r\n", "\\n")
}

fn unescape(line: &str) -> String {
    line.replace("\\n", "\r\n")
}

/// The side that runs inside a namespace: offers or answers, opens or accepts a channel,
/// echoes a message, and prints `SELECTED <local> <remote>`.
fn side(offerer: bool, families: &str) {
    let sockets: Vec<UdpSocket> = addresses(offerer, families)
        .into_iter()
        .map(|a| UdpSocket::bind(a).expect("bind"))
        .collect();
    let pc = kaon_std::PeerConnection::new(PeerConfig::default(), sockets).unwrap();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut read = || unescape(&lines.next().expect("a line").expect("stdin"));
    let say = |line: String| common::netns::say(&line);
    if offerer {
        let chat = pc
            .create_data_channel("chat", ChannelConfig::default())
            .unwrap();
        let offer = pc.create_offer().unwrap();
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        say(format!("SDP {}", escape(&offer.to_string())));
        let answer = SessionDescription::parse(&read()).unwrap();
        pc.set_remote_description(SdpType::Answer, answer).unwrap();
        chat.send_text("ping").unwrap();
        let m = chat.recv_timeout(Duration::from_secs(10)).expect("echo");
        assert_eq!(&m.data[..], b"ping");
    } else {
        let offer = SessionDescription::parse(&read()).unwrap();
        pc.set_remote_description(SdpType::Offer, offer).unwrap();
        let answer = pc.create_answer().unwrap();
        pc.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        say(format!("SDP {}", escape(&answer.to_string())));
        let chat = pc
            .accept_data_channel_timeout(Duration::from_secs(10))
            .expect("a channel");
        let m = chat.recv_timeout(Duration::from_secs(10)).expect("ping");
        chat.send_message(m.data, m.binary).unwrap();
        // Let the echo leave before the process ends.
        std::thread::sleep(Duration::from_millis(300));
    }
    let pair = pc
        .call(|pc, _| pc.ice().selected_pair().map(|p| (p.local, p.remote)))
        .unwrap()
        .expect("a selected pair");
    say(format!("SELECTED {} {}", pair.0, pair.1));
}

/// Runs both sides of `test` with `families` ("6" or "46") and returns the pairs each
/// selected, as `local remote` text; `None` when the namespaces cannot be made here.
fn run(test: &str, families: &str) -> Option<(String, String)> {
    if let Ok(role) = std::env::var(ROLE) {
        side(role == "offerer", &std::env::var(FAMILIES).unwrap());
        return None;
    }
    let made = (|| {
        // Tags per test: the tests of this file run at once in one process.
        let a = Netns::create(&format!("v6a{families}"))?;
        let b = Netns::create(&format!("v6b{families}"))?;
        a.veth_to(&b, "10.97.0.1/24", "10.97.0.2/24", false)?;
        a.ip(&["addr", "add", "fd00:97::1/64", "dev", "veth-a", "nodad"])?;
        b.ip(&["addr", "add", "fd00:97::2/64", "dev", "veth-b", "nodad"])?;
        Ok::<_, String>((a, b))
    })();
    let (a, b) = match made {
        Ok(ns) => ns,
        Err(why) => {
            common::missing_peer(test, &format!("network namespaces ({why})"));
            return None;
        }
    };
    let mut offerer = a.side(test, &[(ROLE, "offerer"), (FAMILIES, families)]);
    let mut answerer = b.side(test, &[(ROLE, "answerer"), (FAMILIES, families)]);
    let offer = offerer.expect("SDP");
    answerer.tell(&offer);
    let answer = answerer.expect("SDP");
    offerer.tell(&answer);
    let sel_a = offerer.expect("SELECTED");
    let sel_b = answerer.expect("SELECTED");
    offerer.finish("offerer");
    answerer.finish("answerer");
    println!("{families}: offerer selected {sel_a}, answerer selected {sel_b}");
    let offer_text = unescape(&offer);
    let answer_text = unescape(&answer);
    for sdp in [&offer_text, &answer_text] {
        assert!(sdp.contains(" fd00:97::"), "no IPv6 candidate:\n{sdp}");
        assert_eq!(
            sdp.contains(" 10.97.0."),
            families.contains('4'),
            "IPv4 candidates:\n{sdp}"
        );
    }
    Some((sel_a, sel_b))
}

#[test]
fn ipv6_only_peers_connect_over_a_veth() {
    let Some((a, b)) = run("ipv6_only_peers_connect_over_a_veth", "6") else {
        return;
    };
    assert_eq!(a.split(' ').nth(1), Some(b.split(' ').next().unwrap()));
    assert!(a.starts_with("[fd00:97::1]:"), "{a}");
    assert!(b.starts_with("[fd00:97::2]:"), "{b}");
}

#[test]
fn dual_stack_peers_prefer_ipv6_over_a_veth() {
    let Some((a, b)) = run("dual_stack_peers_prefer_ipv6_over_a_veth", "46") else {
        return;
    };
    // RFC 8421 §4: with both families working, the IPv6 pair has the higher priority.
    assert!(a.starts_with("[fd00:97::1]:"), "{a}");
    assert!(a.contains(" [fd00:97::2]:"), "{a}");
    assert!(b.starts_with("[fd00:97::2]:"), "{b}");
}
