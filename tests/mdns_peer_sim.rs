//! PeerConnections that drive mDNS themselves, in the simulator: each host's connection has
//! an ICE socket on port 5000 and an mDNS socket on 5353 (`add_mdns_socket`), on a link where
//! multicast reaches every host. With `MdnsOptions::browser_like()` both sides signal only
//! `<uuid>.local` names, answer queries for them and resolve the other's.
#![cfg(feature = "sim")]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kaon::Protocol;
use kaon::datachannel::ChannelConfig;
use kaon::ice::IceState;
use kaon::peer::{
    ConnectionState, IceCandidate, MdnsOptions, PeerConfig, PeerConnection, PeerEvent, SdpType,
};
use kaon::sdp::SessionDescription;
use kaon::sim::{EndpointId, LinkConfig, Sim};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// A host at `ip` on a fresh or given LAN with one connection (ICE on 5000, mDNS on 5353).
fn host(
    sim: &mut Sim,
    lan: kaon::sim::NetworkId,
    name: &str,
    ip: &str,
    mdns: MdnsOptions,
    seed: u64,
) -> EndpointId {
    let ip: IpAddr = ip.parse().unwrap();
    let h = sim.add_host(name);
    sim.add_interface(h, lan, ip, LinkConfig::with_latency(5 * MS));
    let ice = SocketAddr::new(ip, 5000);
    let mdns_sock = SocketAddr::new(ip, kaon::mdns::PORT);
    let mut pc = PeerConnection::new(PeerConfig {
        mdns,
        ..PeerConfig::with_seed(seed)
    })
    .unwrap();
    pc.add_local_address(ice).unwrap();
    pc.add_mdns_socket(mdns_sock);
    sim.add_endpoint(h, &[ice, mdns_sock], pc)
}

fn pc(sim: &mut Sim, id: EndpointId) -> &mut PeerConnection {
    sim.endpoint_mut::<PeerConnection>(id)
}

/// Offer from `a` (with a channel), answer from `b`; returns both descriptions as sent.
fn negotiate(sim: &mut Sim, a: EndpointId, b: EndpointId) -> (String, String) {
    let now = sim.now();
    pc(sim, a)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = pc(sim, a).create_offer(now).unwrap();
    pc(sim, a)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let offer = offer.to_string();
    pc(sim, b)
        .set_remote_description(SdpType::Offer, SessionDescription::parse(&offer).unwrap())
        .unwrap();
    let answer = pc(sim, b).create_answer(now).unwrap();
    pc(sim, b)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    pc(sim, a)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&answer).unwrap())
        .unwrap();
    (offer, answer)
}

fn candidates(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect()
}

#[test]
fn peer_connections_known_only_by_local_names_connect() {
    let t0 = Instant::now();
    let mut sim = Sim::new(21, t0);
    let lan = sim.add_network("lan");
    let a = host(
        &mut sim,
        lan,
        "a",
        "10.0.0.1",
        MdnsOptions::browser_like(),
        1,
    );
    let b = host(
        &mut sim,
        lan,
        "b",
        "10.0.0.2",
        MdnsOptions::browser_like(),
        2,
    );
    let (offer, answer) = negotiate(&mut sim, a, b);
    // What crosses signalling names no address, only one `.local` name per side.
    for sdp in [&offer, &answer] {
        let cands = candidates(sdp);
        assert_eq!(cands.len(), 1, "{sdp}");
        assert!(cands[0].contains(".local 5000 typ host"), "{sdp}");
        assert!(!sdp.contains("10.0.0."), "an address leaked:\n{sdp}");
    }
    let connected = sim
        .run_until_cond(t0 + 10 * SEC, |s| {
            [a, b].iter().all(|&id| {
                s.endpoint::<PeerConnection>(id).connection_state() == ConnectionState::Connected
            }) && s
                .events::<PeerConnection>(b)
                .iter()
                .any(|e| matches!(e, PeerEvent::DataChannelOpen { .. }))
        })
        .unwrap();
    assert!(
        connected,
        "a: {:?}\nb: {:?}",
        sim.events::<PeerConnection>(a),
        sim.events::<PeerConnection>(b)
    );
    let took = sim.now() - t0;
    println!("connected by .local names in {took:?}");
    assert!(took < 2 * SEC, "{took:?}");
    // Each side's responder answered the other's query, and each resolved the other's name
    // to its real address: the selected pairs join the two real addresses.
    for (id, peer) in [(a, "10.0.0.2"), (b, "10.0.0.1")] {
        let p = pc(&mut sim, id);
        let stats = p.mdns().expect("an mDNS responder").stats();
        println!("{peer}'s peer: {stats:?}");
        assert!(stats.answered >= 1, "{stats:?}");
        assert!(stats.queries_sent >= 1, "{stats:?}");
        assert!(p.ice().unresolved_remote_names().is_empty());
        let pair = p.ice().selected_pair().expect("a selected pair");
        assert_eq!(pair.remote.ip(), peer.parse::<IpAddr>().unwrap());
    }
    // Data flows both ways.
    let now = sim.now();
    pc(&mut sim, a).send_text(now, 1, "over mdns").unwrap();
    let got = sim
        .run_until_cond(sim.now() + SEC, |s| {
            s.events::<PeerConnection>(b)
                .iter()
                .any(|e| matches!(e, PeerEvent::Message { data, .. } if &data[..] == b"over mdns"))
        })
        .unwrap();
    assert!(got);
}

#[test]
fn name_that_never_resolves_is_dropped_and_ice_fails_cleanly() {
    let t0 = Instant::now();
    let mut sim = Sim::new(22, t0);
    let lan = sim.add_network("lan");
    let a = host(
        &mut sim,
        lan,
        "a",
        "10.0.0.1",
        MdnsOptions::browser_like(),
        3,
    );
    // B hides its address but never resolves A's name, so it cannot check A either.
    let b_opts = MdnsOptions {
        resolve_remote_names: false,
        ..MdnsOptions::browser_like()
    };
    let b = host(&mut sim, lan, "b", "10.0.0.2", b_opts, 4);
    let now = sim.now();
    pc(&mut sim, a)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = pc(&mut sim, a).create_offer(now).unwrap();
    pc(&mut sim, a)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    pc(&mut sim, b)
        .set_remote_description(SdpType::Offer, offer)
        .unwrap();
    let answer = pc(&mut sim, b).create_answer(now).unwrap();
    pc(&mut sim, b)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    // A is told a name nobody holds instead of B's.
    let text = answer.to_string();
    let real = candidates(&text)[0]
        .split(' ')
        .find(|t| t.ends_with(".local"))
        .unwrap()
        .to_owned();
    let bogus = text.replace(&real, "0b4ec28b-8f4b-4cbe-a1b5-1bd4b79fae03.local");
    pc(&mut sim, a)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&bogus).unwrap())
        .unwrap();
    assert_eq!(pc(&mut sim, a).ice().unresolved_remote_names().len(), 1);
    // Queries at 0, 1 and 3 s, then the 5 s timeout drops the candidate.
    sim.run_until(t0 + 4900 * MS).unwrap();
    assert_eq!(pc(&mut sim, a).ice().unresolved_remote_names().len(), 1);
    sim.run_until(t0 + 5100 * MS).unwrap();
    assert!(pc(&mut sim, a).ice().unresolved_remote_names().is_empty());
    let stats = pc(&mut sim, a).mdns().unwrap().stats();
    assert_eq!(stats.queries_sent, 3, "{stats:?}");
    assert_ne!(pc(&mut sim, a).ice_connection_state(), IceState::Connected);
    // With the peer's end-of-candidates and nothing pending, ICE gives up once the peer has
    // been quiet for the end-of-candidates timeout.
    let now = sim.now();
    pc(&mut sim, a)
        .add_ice_candidate(now, &IceCandidate::end_of_candidates())
        .unwrap();
    let failed = sim
        .run_until_cond(t0 + 20 * SEC, |s| {
            s.endpoint::<PeerConnection>(a).connection_state() == ConnectionState::Failed
        })
        .unwrap();
    assert!(failed, "{:?}", sim.events::<PeerConnection>(a));
}

#[test]
fn mdns_is_off_by_default_and_addresses_are_signalled() {
    let mut pc = PeerConnection::new(PeerConfig::with_seed(9)).unwrap();
    pc.add_local_address("192.0.2.1:5000".parse().unwrap())
        .unwrap();
    pc.add_mdns_socket("192.0.2.1:5353".parse().unwrap());
    assert!(pc.mdns().is_none());
    let offer = pc.create_offer(Instant::now()).unwrap().to_string();
    assert!(offer.contains(" 192.0.2.1 5000 typ host"), "{offer}");
    assert!(!offer.contains(".local"), "{offer}");
}

#[test]
fn answerer_keeps_the_names_it_announced_before_the_offer() {
    // The answerer's agent is rebuilt as controlled when the offer arrives: the name it
    // already trickled must stay the one it answers for and signals.
    let mut b = PeerConnection::new(PeerConfig {
        mdns: MdnsOptions::browser_like(),
        ..PeerConfig::default()
    })
    .unwrap();
    b.add_local_address("192.0.2.2:5000".parse().unwrap())
        .unwrap();
    while b.poll_event().is_some() {} // the host candidate is announced (trickled) now
    let before = b.local_candidates().to_vec();
    let mut a = PeerConnection::new(PeerConfig::with_seed(8)).unwrap();
    a.add_local_address("192.0.2.1:5000".parse().unwrap())
        .unwrap();
    let now = Instant::now();
    a.create_data_channel(now, "x", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer(now).unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap().to_string();
    assert_eq!(before.len(), 1);
    assert_eq!(candidates(&answer), vec![format!("a={}", before[0])]);
    let names: Vec<String> = b
        .ice()
        .local_mdns_names()
        .map(|(n, _)| n.to_owned())
        .collect();
    assert_eq!(names.len(), 1);
    assert!(before[0].contains(&names[0]));
}

#[test]
fn peer_connections_resolve_each_others_names_over_ipv6_multicast() {
    // The same over IPv6 only: AAAA answers on ff02::fb.
    let t0 = Instant::now();
    let mut sim = Sim::new(23, t0);
    let lan = sim.add_network("lan6");
    let a = host(
        &mut sim,
        lan,
        "a",
        "fd00::1",
        MdnsOptions::browser_like(),
        5,
    );
    let b = host(
        &mut sim,
        lan,
        "b",
        "fd00::2",
        MdnsOptions::browser_like(),
        6,
    );
    let (offer, answer) = negotiate(&mut sim, a, b);
    for sdp in [&offer, &answer] {
        assert!(!sdp.contains("fd00::"), "an address leaked:\n{sdp}");
    }
    let connected = sim
        .run_until_cond(t0 + 10 * SEC, |s| {
            [a, b].iter().all(|&id| {
                s.endpoint::<PeerConnection>(id).connection_state() == ConnectionState::Connected
            })
        })
        .unwrap();
    assert!(connected);
    for (id, peer) in [(a, "fd00::2"), (b, "fd00::1")] {
        let p = pc(&mut sim, id);
        let m = p.mdns().unwrap();
        assert!(m.stats().answered >= 1 && m.stats().queries_sent >= 1);
        let pair = p.ice().selected_pair().expect("a selected pair");
        assert_eq!(pair.remote.ip(), peer.parse::<IpAddr>().unwrap());
    }
}
