//! Two PeerConnections of one process that know each other only by `.local` names connect
//! through the process's one shared mDNS socket (`MdnsHub`), on kaon-std and on kaon-tokio.
//!
//! Runs in a network namespace of its own (the test re-runs itself there with `ip netns exec`):
//! a veth with MULTICAST, 10.98.0.1 and fd00:98::1, and a default route through it, so the
//! shared sockets join 224.0.0.251 and ff02::fb there. Multicast loops back to the same socket,
//! so each connection hears the other's queries and answers. One test hides IPv6 addresses
//! (AAAA records). No traffic leaves the namespaces. Needs root and `ip`; skipped with a
//! printed reason without them (failing in CI).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::netns::Netns;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{MdnsOptions, PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

const INNER: &str = "KAON_MDNS_ADAPTERS_INNER";
const IP: &str = "10.98.0.1";
const IP6: &str = "fd00:98::1";

/// Re-runs `test` inside a fresh namespace pair; `true` when the caller is the inner run.
fn in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    let made = Netns::create("mdns-a").and_then(|a| {
        let b = Netns::create("mdns-b")?;
        b.veth_to(&a, "10.98.0.2/24", &format!("{IP}/24"), true)?;
        // No duplicate address detection: usable at once.
        a.ip(&[
            "addr",
            "add",
            &format!("{IP6}/64"),
            "dev",
            "veth-b",
            "nodad",
        ])?;
        b.ip(&["addr", "add", "fd00:98::2/64", "dev", "veth-a", "nodad"])?;
        Ok((a, b))
    });
    let (a, _b) = match made {
        Ok(ns) => ns,
        Err(why) => {
            common::missing_peer(test, &format!("a network namespace ({why})"));
            return false;
        }
    };
    let status = a
        .command(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .status()
        .expect("run the test in the namespace");
    assert!(status.success(), "{test} failed in the namespace: {status}");
    false
}

fn config(seed: u64) -> PeerConfig {
    PeerConfig {
        mdns: MdnsOptions::browser_like(),
        ..PeerConfig::with_seed(seed)
    }
}

fn names_only(sdp: &str) {
    let cands: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert!(!cands.is_empty(), "{sdp}");
    assert!(cands.iter().all(|c| c.contains(".local ")), "{sdp}");
    assert!(
        !sdp.contains(IP) && !sdp.contains(IP6),
        "an address leaked:\n{sdp}"
    );
}

#[test]
fn std_peers_connect_by_names_through_the_shared_mdns_socket() {
    const TEST: &str = "std_peers_connect_by_names_through_the_shared_mdns_socket";
    if in_namespace(TEST) {
        std_pair(IP);
    }
}

#[test]
fn std_peers_connect_by_ipv6_names_through_the_shared_mdns_socket() {
    // IPv6 host addresses: AAAA records (the hub asks on 224.0.0.251 and ff02::fb both).
    const TEST: &str = "std_peers_connect_by_ipv6_names_through_the_shared_mdns_socket";
    if in_namespace(TEST) {
        std_pair(IP6);
    }
}

fn std_pair(ip: &str) {
    let t0 = Instant::now();
    let pc = |seed| {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        kaon_std::PeerConnection::new(config(seed), vec![socket]).unwrap()
    };
    let (a, b) = (pc(1), pc(2));
    let hub = kaon_std::mdns::MdnsHub::shared().expect("the shared mDNS socket");
    assert_eq!(hub.subscribers(), 2);
    let chat = a
        .create_data_channel("chat", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    names_only(&offer.to_string());
    b.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer.to_string()).unwrap(),
    )
    .unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    names_only(&answer.to_string());
    a.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer.to_string()).unwrap(),
    )
    .unwrap();
    let theirs = b
        .accept_data_channel_timeout(Duration::from_secs(10))
        .expect("b accepts");
    chat.send_text("by name").unwrap();
    assert_eq!(
        &theirs.recv_timeout(Duration::from_secs(5)).unwrap().data[..],
        b"by name"
    );
    println!("connected by names in {:?}", t0.elapsed());
    // Both resolved the other's name over the shared socket and answered for their own.
    for pc in [&a, &b] {
        let (stats, unresolved, remote) = pc
            .call(|pc, _| {
                (
                    pc.mdns().map(|m| m.stats()),
                    pc.ice().unresolved_remote_names(),
                    pc.ice().selected_pair().map(|p| p.remote),
                )
            })
            .unwrap();
        let stats = stats.expect("an mDNS responder");
        println!("{stats:?}, selected remote {remote:?}");
        assert!(unresolved.is_empty(), "{unresolved:?}");
        assert!(stats.queries_sent >= 1 && stats.answered >= 1, "{stats:?}");
        assert_eq!(remote.map(|r| r.ip().to_string()), Some(ip.to_string()));
    }
    drop((a, b));
    assert_eq!(hub.subscribers(), 0, "a dropped connection unsubscribes");
}

#[test]
fn tokio_peers_connect_by_names_through_the_shared_mdns_socket() {
    const TEST: &str = "tokio_peers_connect_by_names_through_the_shared_mdns_socket";
    if !in_namespace(TEST) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let t0 = Instant::now();
        let pc = |seed| {
            let socket = UdpSocket::bind((IP, 0)).unwrap();
            socket.set_nonblocking(true).unwrap();
            let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
            kaon_tokio::PeerConnection::new(config(seed), vec![socket]).unwrap()
        };
        let (a, b) = (pc(3), pc(4));
        let hub = kaon_tokio::mdns::MdnsHub::shared().expect("the shared mDNS socket");
        assert_eq!(hub.subscribers(), 2);
        let chat = a
            .create_data_channel("chat", ChannelConfig::default())
            .await
            .unwrap();
        let offer = a.create_offer().await.unwrap();
        a.set_local_description(SdpType::Offer, offer.clone())
            .await
            .unwrap();
        names_only(&offer.to_string());
        b.set_remote_description(SdpType::Offer, offer)
            .await
            .unwrap();
        let answer = b.create_answer().await.unwrap();
        b.set_local_description(SdpType::Answer, answer.clone())
            .await
            .unwrap();
        names_only(&answer.to_string());
        a.set_remote_description(SdpType::Answer, answer)
            .await
            .unwrap();
        let theirs = tokio::time::timeout(Duration::from_secs(10), b.accept_data_channel())
            .await
            .expect("b accepts in time")
            .expect("b accepts");
        chat.send_text("by name").await.unwrap();
        let m = tokio::time::timeout(Duration::from_secs(5), theirs.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.data[..], b"by name");
        println!("connected by names in {:?}", t0.elapsed());
        for pc in [&a, &b] {
            let (stats, unresolved) = pc
                .call(|pc, _| {
                    (
                        pc.mdns().map(|m| m.stats()),
                        pc.ice().unresolved_remote_names(),
                    )
                })
                .await
                .unwrap();
            let stats = stats.expect("an mDNS responder");
            println!("{stats:?}");
            assert!(unresolved.is_empty(), "{unresolved:?}");
            assert!(stats.queries_sent >= 1 && stats.answered >= 1, "{stats:?}");
        }
    });
}
