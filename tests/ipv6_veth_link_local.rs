//! IPv6 link-local (fe80::/10) between two kaon peers over a real veth: a description
//! carries no zone (`fe80::b`, never `fe80::b%3`), while the sockets see every link-local
//! address with its interface's index (`[fe80::b%3]:port`). kaon keeps a remote link-local
//! candidate to the scope of the local address it pairs with, so the signalled pair (not a
//! peer-reflexive stand-in) is checked, selected and carries the channel.
//!
//! Browsers gather no link-local candidate (Chromium leaves fe80:: addresses out, see
//! `tests/ipv6_veth_chromium.rs`), so both ends are kaon with
//! [`AgentConfig::signal_link_local`](kaon::ice::AgentConfig::signal_link_local) on: what a
//! LAN tool or an embedded device without a routable address does.
//!
//! The test makes namespaces A and B joined by a veth with fe80::a/64 on A's end and fe80::b/64
//! on B's (no duplicate address detection), runs itself in each as offerer and answerer, relays
//! their descriptions on stdin/stdout and checks what they selected. Needs root and `ip`:
//! skipped with a printed reason without them (failing in CI).

mod common;

use std::io::BufRead;
use std::net::{SocketAddrV6, UdpSocket};
use std::time::Duration;

use common::netns::{Netns, say};
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

const TEST: &str = "link_local_peers_connect_on_the_signalled_pair_over_a_veth";
/// Set in the copies that run in a namespace: `offerer` or `answerer`.
const ROLE: &str = "KAON_IPV6_LINK_LOCAL_ROLE";
/// The zone (interface index) of the side's end of the veth.
const ZONE: &str = "KAON_IPV6_LINK_LOCAL_ZONE";
const PATIENCE: Duration = Duration::from_secs(10);

/// One side, in its namespace: binds its link-local address with its zone, offers or answers,
/// echoes a message on a channel, and prints `SELECTED <type> <local> <remote>`.
fn side(offerer: bool, zone: u32) {
    let ip = if offerer { "fe80::a" } else { "fe80::b" };
    let bind = SocketAddrV6::new(ip.parse().unwrap(), 0, 0, zone);
    let socket = UdpSocket::bind(bind).expect("bind the link-local address");
    let mut config = PeerConfig::default();
    config.ice.signal_link_local = true;
    config.diagnostics = true;
    let pc = kaon_std::PeerConnection::new(config, vec![socket]).unwrap();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut next_line = || lines.next().expect("a line").expect("stdin");
    let parse = |line: String| {
        SessionDescription::parse(&line.replace("\\n", "\r\n")).expect("a description")
    };
    let send =
        |sdp: &SessionDescription| say(&format!("SDP {}", sdp.to_string().replace("\r\n", "\\n")));
    if offerer {
        let chat = pc
            .create_data_channel("chat", ChannelConfig::default())
            .unwrap();
        let offer = pc.create_offer().unwrap();
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        send(&offer);
        pc.set_remote_description(SdpType::Answer, parse(next_line()))
            .unwrap();
        if !chat.wait_open_timeout(PATIENCE).unwrap_or(false) {
            while let Some(e) = pc.next_event() {
                eprintln!("offerer event: {e:?}");
            }
            panic!("the channel did not open");
        }
        chat.send_text("ping").unwrap();
        let m = chat.recv_timeout(PATIENCE).expect("the echo");
        assert_eq!(&m.data[..], b"ping");
    } else {
        pc.set_remote_description(SdpType::Offer, parse(next_line()))
            .unwrap();
        let answer = pc.create_answer().unwrap();
        pc.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        send(&answer);
        let chat = pc.accept_data_channel_timeout(PATIENCE).expect("a channel");
        let m = chat.recv_timeout(PATIENCE).expect("ping");
        chat.send_message(m.data, m.binary).unwrap();
        // The offerer says when it heard the echo (its line on our stdin); then we may go.
        let _ = next_line();
    }
    let stats = pc.get_stats().unwrap();
    let pair = stats
        .candidate_pairs
        .iter()
        .find(|p| p.selected)
        .expect("a selected pair");
    let remote = stats
        .remote_candidates
        .iter()
        .find(|c| c.id == pair.remote_candidate_id)
        .expect("its remote candidate");
    let (local, remote_addr) = pc
        .call(|pc, _| pc.ice().selected_pair().map(|p| (p.local, p.remote)))
        .unwrap()
        .expect("a selected pair");
    say(&format!(
        "SELECTED {} {local} {remote_addr}",
        remote.candidate_type
    ));
    let _ = pc.close();
}

#[test]
fn link_local_peers_connect_on_the_signalled_pair_over_a_veth() {
    if let Ok(role) = std::env::var(ROLE) {
        let zone = std::env::var(ZONE).unwrap().parse().unwrap();
        return side(role == "offerer", zone);
    }
    let made = (|| {
        let a = Netns::create("v6lla")?;
        let b = Netns::create("v6llb")?;
        a.veth6_to(&b, "fd00:99::1/64", "fd00:99::2/64")?;
        a.ip(&["addr", "add", "fe80::a/64", "dev", "veth-a", "nodad"])?;
        b.ip(&["addr", "add", "fe80::b/64", "dev", "veth-b", "nodad"])?;
        let zones = (a.ifindex("veth-a")?, b.ifindex("veth-b")?);
        Ok::<_, String>((a, b, zones))
    })();
    let (a, b, (zone_a, zone_b)) = match made {
        Ok(made) => made,
        Err(why) => {
            common::missing_peer(TEST, &format!("network namespaces ({why})"));
            return;
        }
    };
    let mut offerer = a.side(TEST, &[(ROLE, "offerer"), (ZONE, &zone_a.to_string())]);
    let mut answerer = b.side(TEST, &[(ROLE, "answerer"), (ZONE, &zone_b.to_string())]);
    // A side that hangs instead of failing is ended by its pid; reading its output then ends.
    let pids = [offerer.pid(), answerer.pid()];
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        for pid in pids {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    });
    let offer = offerer.expect("SDP");
    // RFC 4007 §11.2: a zone is meaningful on one node only; it is never signalled.
    assert!(offer.contains(" fe80::a "), "{offer}");
    assert!(!offer.contains('%'), "{offer}");
    answerer.tell(&offer);
    let answer = answerer.expect("SDP");
    assert!(answer.contains(" fe80::b "), "{answer}");
    offerer.tell(&answer);
    let sel_a = offerer.expect("SELECTED");
    answerer.tell("done");
    let sel_b = answerer.expect("SELECTED");
    offerer.finish("offerer");
    answerer.finish("answerer");
    println!("offerer selected {sel_a}; answerer selected {sel_b}");
    // The signalled host candidates won, each end's local address with its own zone.
    assert!(
        sel_a.starts_with(&format!("host [fe80::a%{zone_a}]:")),
        "{sel_a}"
    );
    assert!(sel_a.contains(" [fe80::b"), "{sel_a}");
    assert!(
        sel_b.starts_with(&format!("host [fe80::b%{zone_b}]:")),
        "{sel_b}"
    );
    assert!(sel_b.contains(" [fe80::a"), "{sel_b}");
}
