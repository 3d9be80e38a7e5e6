//! Two async kaon peer connections that reach each other only over ICE-TCP (RFC 6544): the
//! offerer has an active TCP candidate, the answerer a passive one on a real loopback
//! `TcpListener`, and every UDP candidate line is taken out of the offer and the answer, so no
//! UDP pair can form. The data channel opens and echoes over the TCP connection.

use kaon::datachannel::ChannelConfig;
use kaon::peer::{IceTcpCandidates, PeerConfig, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::PeerConnection;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::timeout;

const PATIENCE: Duration = Duration::from_secs(20);

async fn peer() -> PeerConnection {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
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

#[tokio::test]
async fn peers_connect_over_ice_tcp_only_and_echo() {
    let a = peer().await;
    let b = peer().await;
    let active = a
        .add_tcp_active("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let passive = b.add_tcp_listener(listener).await.unwrap();

    let ours = a
        .create_data_channel("tcp", ChannelConfig::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .await
        .unwrap();
    b.set_remote_description(SdpType::Offer, tcp_only(&offer))
        .await
        .unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .await
        .unwrap();
    let answer = tcp_only(&answer);
    assert!(answer.to_string().contains(&format!(
        "{} {} typ host tcptype passive",
        passive.ip(),
        passive.port()
    )));
    a.set_remote_description(SdpType::Answer, answer)
        .await
        .unwrap();

    timeout(PATIENCE, ours.wait_open()).await.unwrap().unwrap();
    let theirs = timeout(PATIENCE, b.accept_data_channel())
        .await
        .unwrap()
        .unwrap();
    ours.send_text("ping over tcp").await.unwrap();
    let m = timeout(PATIENCE, theirs.recv()).await.unwrap().unwrap();
    assert_eq!(&m.data[..], b"ping over tcp");
    theirs.send_text("pong").await.unwrap();
    let m = timeout(PATIENCE, ours.recv()).await.unwrap().unwrap();
    assert_eq!(&m.data[..], b"pong");
    let pair = a
        .call(|pc, _| pc.ice().selected_pair())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((pair.local, pair.remote), (active, passive));
}

/// The same with nothing wired by hand: `PeerConfig::ice_tcp` has the constructor gather an
/// active candidate on the offerer's socket IP and a passive one (a listener of its own) on
/// the answerer's.
#[tokio::test]
async fn peers_configured_for_ice_tcp_gather_and_connect_over_it() {
    let configured = |which| async move {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = PeerConfig {
            ice_tcp: which,
            ..PeerConfig::default()
        };
        PeerConnection::new(config, vec![socket]).unwrap()
    };
    let a = configured(IceTcpCandidates::Active).await;
    let b = configured(IceTcpCandidates::Passive).await;
    let ours = a
        .create_data_channel("tcp", ChannelConfig::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .await
        .unwrap();
    assert!(
        offer
            .to_string()
            .contains(" 127.0.0.1 9 typ host tcptype active")
    );
    b.set_remote_description(SdpType::Offer, tcp_only(&offer))
        .await
        .unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .await
        .unwrap();
    let answer = tcp_only(&answer);
    assert!(answer.to_string().contains(" typ host tcptype passive"));
    a.set_remote_description(SdpType::Answer, answer)
        .await
        .unwrap();
    timeout(PATIENCE, ours.wait_open()).await.unwrap().unwrap();
    let theirs = timeout(PATIENCE, b.accept_data_channel())
        .await
        .unwrap()
        .unwrap();
    ours.send_text("configured").await.unwrap();
    let m = timeout(PATIENCE, theirs.recv()).await.unwrap().unwrap();
    assert_eq!(&m.data[..], b"configured");
    let pair = a
        .call(|pc, _| pc.ice().selected_candidates())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pair.0.transport, kaon::ice::Transport::Tcp);
}
