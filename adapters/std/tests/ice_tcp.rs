//! Two blocking kaon peer connections that reach each other only over ICE-TCP (RFC 6544): the
//! offerer has an active TCP candidate, the answerer a passive one on a real loopback
//! `TcpListener`, and every UDP candidate line is taken out of the offer and the answer, so no
//! UDP pair can form. The data channel opens and echoes over the TCP connection.

use kaon::datachannel::ChannelConfig;
use kaon::peer::{IceTcpCandidates, PeerConfig, SdpType};
use kaon::sdp::SessionDescription;
use kaon_std::PeerConnection;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

fn peer() -> PeerConnection {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    PeerConnection::new(PeerConfig::default(), vec![socket]).unwrap()
}

/// The description without its UDP candidates.
fn tcp_only(sdp: &SessionDescription) -> SessionDescription {
    let text: String = sdp
        .to_string()
        .split_inclusive("\r\n")
        .filter(|l| !(l.starts_with("a=candidate:") && l.to_ascii_lowercase().contains(" udp ")))
        .collect();
    SessionDescription::parse(&text).unwrap()
}

#[test]
fn peers_connect_over_ice_tcp_only_and_echo() {
    let a = peer();
    let b = peer();
    let active = a.add_tcp_active("127.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(active.port(), 9);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let passive = b.add_tcp_listener(listener).unwrap();

    let ours = a
        .create_data_channel("tcp", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let offer = tcp_only(&offer);
    assert!(offer.to_string().contains("tcptype active"));
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = tcp_only(&answer);
    let text = answer.to_string();
    assert!(
        text.contains(&format!(
            "{} {} typ host tcptype passive",
            passive.ip(),
            passive.port()
        )),
        "{text}"
    );
    a.set_remote_description(SdpType::Answer, answer).unwrap();

    assert!(ours.wait_open_timeout(PATIENCE).unwrap(), "never opened");
    let theirs = b.accept_data_channel_timeout(PATIENCE).unwrap();
    ours.send_text("ping over tcp").unwrap();
    let m = theirs.recv_timeout(PATIENCE).unwrap();
    assert_eq!(&m.data[..], b"ping over tcp");
    theirs.send_text("pong").unwrap();
    assert_eq!(&ours.recv_timeout(PATIENCE).unwrap().data[..], b"pong");

    let pair = a.call(|pc, _| pc.ice().selected_pair()).unwrap().unwrap();
    assert_eq!((pair.local, pair.remote), (active, passive));
}

/// The same with nothing wired by hand: `PeerConfig::ice_tcp` has the constructor gather an
/// active candidate on the offerer's socket IP and a passive one (a listener of its own) on
/// the answerer's.
#[test]
fn peers_configured_for_ice_tcp_gather_and_connect_over_it() {
    let configured = |which| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config = PeerConfig {
            ice_tcp: which,
            ..PeerConfig::default()
        };
        PeerConnection::new(config, vec![socket]).unwrap()
    };
    let a = configured(IceTcpCandidates::Active);
    let b = configured(IceTcpCandidates::Passive);
    let ours = a
        .create_data_channel("tcp", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    assert!(
        offer
            .to_string()
            .contains(" 127.0.0.1 9 typ host tcptype active")
    );
    b.set_remote_description(SdpType::Offer, tcp_only(&offer))
        .unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = tcp_only(&answer);
    assert!(answer.to_string().contains(" typ host tcptype passive"));
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    assert!(ours.wait_open_timeout(PATIENCE).unwrap());
    let theirs = b.accept_data_channel_timeout(PATIENCE).unwrap();
    ours.send_text("configured").unwrap();
    let m = theirs.recv_timeout(PATIENCE).unwrap();
    assert_eq!(&m.data[..], b"configured");
    let pair = a
        .call(|pc, _| pc.ice().selected_candidates())
        .unwrap()
        .unwrap();
    assert_eq!(pair.0.transport, kaon::ice::Transport::Tcp);
}
