//! The `ice-tcp` example: its answer carries one ICE candidate, a passive TCP one, and a kaon
//! client with an active TCP candidate connects to it over ICE-TCP, is greeted and echoed.

mod example_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use example_support::{Running, example, http};
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_kaon_client_connects_to_the_example_over_ice_tcp() {
    let mut server = Running::start(Command::new(example("ice-tcp")).arg("127.0.0.1:0"));
    let banner = server.line("URL", PATIENCE, |l| l.contains("http://"));
    let addr: SocketAddr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pc = kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket]).unwrap();
    let active = pc.add_tcp_active("127.0.0.1".parse().unwrap()).unwrap();
    let channel = pc
        .create_data_channel("chat", ChannelConfig::default())
        .unwrap();
    let offer = pc.create_offer().unwrap();
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let r = http(addr, "POST", "/offer", &offer.to_string());
    assert_eq!(r.status, 201, "{r:?}");
    let candidates: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert_eq!(candidates.len(), 1, "{candidates:?}");
    assert!(
        candidates[0].contains(" tcp ") && candidates[0].ends_with("tcptype passive"),
        "{candidates:?}"
    );
    pc.set_remote_description(SdpType::Answer, SessionDescription::parse(&r.body).unwrap())
        .unwrap();
    assert!(channel.wait_open_timeout(PATIENCE).unwrap(), "never opened");
    let greeting = channel.recv_timeout(PATIENCE).unwrap();
    assert!(
        greeting.data.starts_with(b"hello from kaon"),
        "{greeting:?}"
    );
    channel.send_text("ping").unwrap();
    assert_eq!(
        &channel.recv_timeout(PATIENCE).unwrap().data[..],
        b"echo: ping"
    );
    let pair = pc.call(|pc, _| pc.ice().selected_pair()).unwrap().unwrap();
    assert_eq!(pair.local, active);
    server.line("the session's report", PATIENCE, |l| {
        l.contains("open over")
    });
    let _ = pc.close();
}
