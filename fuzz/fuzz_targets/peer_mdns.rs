//! A PeerConnection's mDNS receive path: a connection that hides its address behind a name
//! and resolves its peer's, fed any datagrams on its mDNS socket or to the group, from port
//! 5353 or elsewhere, at any times. It never panics, everything it sends from its mDNS socket
//! parses as a DNS message, and its deadline never lies in the past after a timeout.
//!
//! Input: a sequence of `[flags: u8][delay: u8][len: u8][len bytes]`.
#![no_main]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::mdns::Message;
use kaon::peer::{MdnsOptions, PeerConfig, PeerConnection, SdpType};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;

fn pc(seed: u64, addr: &str) -> PeerConnection {
    let mut pc = PeerConnection::new(PeerConfig {
        mdns: MdnsOptions::browser_like(),
        ..PeerConfig::with_seed(seed)
    })
    .unwrap();
    pc.add_local_address(addr.parse().unwrap()).unwrap();
    pc
}

fuzz_target!(|data: &[u8]| {
    let mdns: SocketAddr = "10.0.0.1:5353".parse().unwrap();
    let group: SocketAddr = "224.0.0.251:5353".parse().unwrap();
    let mut a = pc(1, "10.0.0.1:5000");
    a.add_mdns_socket(mdns);
    // The peer's offer names it only by `.local`: A resolves it.
    let mut b = pc(2, "10.0.0.2:5000");
    let mut now = Instant::now();
    let offer = b.create_offer(now).unwrap();
    b.set_local_description(SdpType::Offer, offer.clone()).unwrap();
    a.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = a.create_answer(now).unwrap();
    a.set_local_description(SdpType::Answer, answer).unwrap();
    let mut buf = [0u8; 2048];
    let mut rest = data;
    while let [flags, delay, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (contents, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(*delay) * 20);
        let port = if flags & 1 == 0 { 5353 } else { 40000 };
        let destination = if flags & 2 == 0 { mdns } else { group };
        a.handle_datagram(
            now,
            Datagram {
                source: SocketAddr::new("10.0.0.2".parse().unwrap(), port),
                destination,
                contents,
            },
        );
        if flags & 4 != 0 {
            a.handle_timeout(now);
            if let Some(t) = a.mdns().and_then(|m| m.poll_timeout()) {
                assert!(t > now, "mDNS deadline not in the future after a timeout");
            }
        }
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            if t.source == mdns {
                Message::parse(&buf[..t.len]).expect("what we send parses");
            }
        }
        while a.poll_event().is_some() {}
    }
});
