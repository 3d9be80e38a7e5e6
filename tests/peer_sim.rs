//! Two kaon PeerConnections connect in the simulator and use data channels.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::datachannel::ChannelConfig;
use kaon::peer::{ConnectionState, PeerEvent};
use peer_support::{MS, Pair, SEC};

/// Negotiates, creates "chat" on the offerer first, and runs until both see it open.
fn connect(p: &mut Pair, name: &str) -> u16 {
    let now = p.now();
    let id = p
        .pc(true)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    p.negotiate();
    assert!(
        p.run_until(20 * SEC, |p| p.opened(true, id) && p.opened(false, id)),
        "{name}: channel did not open at {:?}; a: {:?}\nb: {:?}",
        p.sim.elapsed(),
        p.log_a,
        p.log_b
    );
    p.timeline(name, true);
    p.timeline(name, false);
    assert_eq!(p.state(true), ConnectionState::Connected);
    assert_eq!(p.state(false), ConnectionState::Connected);
    id
}

#[test]
fn same_lan_peers_open_a_channel_and_exchange_messages() {
    let mut p = Pair::lan(1, 5 * MS, 0.0);
    let id = connect(&mut p, "same LAN, 10 ms RTT");
    let now = p.now();
    p.pc(true).send_text(now, id, "hello").unwrap();
    p.pc(false).send(now, id, &[1, 2, 3]).unwrap();
    assert!(p.run_until(2 * SEC, |p| !p.messages(false, id).is_empty()
        && !p.messages(true, id).is_empty()));
    assert_eq!(p.messages(false, id), vec![(b"hello".to_vec(), false)]);
    assert_eq!(p.messages(true, id), vec![(vec![1, 2, 3], true)]);
    let open = p.first(false, |e| matches!(e, PeerEvent::DataChannelOpen { .. }));
    assert!(open.unwrap() < 500 * MS, "{open:?}");
}
