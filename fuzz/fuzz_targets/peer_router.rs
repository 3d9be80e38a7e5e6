//! A Router holding two connected server-side peers behind one address; arbitrary datagrams
//! arrive from either client's address or a stranger's, raw or shaped as a connectivity check
//! naming a real peer's ufrag, and a peer may be removed midway. It never panics, every
//! datagram is routed or counted, and the first client's channel still works afterwards.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`; `op` picks the source, the shape,
//! whether time advances, and (rarely) removes the second peer.
#![no_main]
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, PeerId, Router, RouterStats, SdpType};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SERVER: &str = "192.0.2.1:3478";
const CLIENTS: [&str; 2] = ["198.51.100.1:5000", "198.51.100.2:5000"];

struct Net {
    router: Router,
    clients: Vec<(SocketAddr, PeerConnection, PeerId, u16)>,
    now: Instant,
    got: Vec<(PeerId, Vec<u8>)>,
}

impl Net {
    /// Carries datagrams (one hop per 1 ms step) for `steps` ms.
    fn run(&mut self, steps: usize) {
        let mut buf = [0u8; 2048];
        for _ in 0..steps {
            let mut to_clients = Vec::new();
            while let Some(t) = self.router.poll_transmit(self.now, &mut buf) {
                to_clients.push((t.source, t.destination, buf[..t.len].to_vec()));
            }
            let mut to_router = Vec::new();
            for (_, pc, ..) in &mut self.clients {
                while let Some(t) = pc.poll_transmit(self.now, &mut buf) {
                    to_router.push((t.source, t.destination, buf[..t.len].to_vec()));
                }
            }
            self.now += Duration::from_millis(1);
            for (source, destination, bytes) in to_clients {
                let d = Datagram {
                    source,
                    destination,
                    contents: &bytes,
                };
                if let Some((_, pc, ..)) = self.clients.iter_mut().find(|c| c.0 == destination) {
                    pc.handle_datagram(self.now, d);
                }
            }
            for (source, destination, bytes) in to_router {
                let d = Datagram {
                    source,
                    destination,
                    contents: &bytes,
                };
                self.router.handle_datagram(self.now, d);
            }
            self.router.handle_timeout(self.now);
            for (_, pc, ..) in &mut self.clients {
                pc.handle_timeout(self.now);
                while pc.poll_event().is_some() {}
            }
            while let Some((id, e)) = self.router.poll_event() {
                if let PeerEvent::Message { data, .. } = e {
                    self.got.push((id, data.to_vec()));
                }
            }
        }
    }
}

fn connected() -> Net {
    let now = Instant::now();
    let server: SocketAddr = SERVER.parse().unwrap();
    let mut router = Router::new();
    let mut clients = Vec::new();
    for (i, addr) in CLIENTS.iter().enumerate() {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut pc = PeerConnection::new(PeerConfig::with_seed(1 + 2 * i as u64)).unwrap();
        pc.add_local_address(addr).unwrap();
        let ch = pc
            .create_data_channel(now, "f", ChannelConfig::default())
            .unwrap();
        while pc.poll_event().is_some() {}
        let offer = pc.create_offer(now).unwrap();
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        let mut peer = PeerConnection::new(PeerConfig::with_seed(2 + 2 * i as u64)).unwrap();
        peer.add_local_address(server).unwrap();
        peer.set_remote_description(SdpType::Offer, offer).unwrap();
        let answer = peer.create_answer(now).unwrap();
        peer.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        pc.set_remote_description(SdpType::Answer, answer).unwrap();
        let id = router.insert(peer).unwrap();
        clients.push((addr, pc, id, ch));
    }
    let mut net = Net {
        router,
        clients,
        now,
        got: Vec::new(),
    };
    net.run(300);
    net
}

/// A Binding request whose USERNAME names `ufrag`, followed by `tail` as attributes.
fn check(ufrag: &str, tail: &[u8]) -> Vec<u8> {
    let mut user = format!("{ufrag}:fz").into_bytes();
    let ulen = user.len() as u16;
    while user.len() % 4 != 0 {
        user.push(0);
    }
    let mut m = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[5; 12]);
    m.extend_from_slice(&[0x00, 0x06]);
    m.extend_from_slice(&ulen.to_be_bytes());
    m.extend_from_slice(&user);
    m.extend_from_slice(tail);
    let body = ((m.len() - 20) as u16).to_be_bytes();
    m[2..4].copy_from_slice(&body);
    m
}

fn accounted(s: RouterStats) -> u64 {
    s.routed_by_ufrag
        + s.routed_by_address
        + s.routed_by_transaction
        + s.dropped_unknown_ufrag
        + s.dropped_no_route
}

fuzz_target!(|data: &[u8]| {
    let mut net = connected();
    let server: SocketAddr = SERVER.parse().unwrap();
    let stranger: SocketAddr = "203.0.113.7:4000".parse().unwrap();
    let first = net.clients[0].2;
    let ufrags: Vec<String> = net
        .clients
        .iter()
        .map(|c| {
            net.router
                .get(c.2)
                .unwrap()
                .ice()
                .local_credentials()
                .0
                .to_string()
        })
        .collect();
    let mut rest = data;
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let source = match op & 0x03 {
            0 | 1 => net.clients[usize::from(op & 1)].0,
            _ => stranger,
        };
        let contents = match (op >> 2) & 0x03 {
            0 => check(&ufrags[0], bytes),
            1 => check(&ufrags[1], bytes),
            _ => bytes.to_vec(),
        };
        if op & 0x30 == 0x30 && net.router.len() == 2 {
            let second = net.clients[1].2;
            assert!(net.router.remove(second).is_some());
        }
        let before = accounted(net.router.stats());
        net.router.handle_datagram(
            net.now,
            Datagram {
                source,
                destination: server,
                contents: &contents,
            },
        );
        assert_eq!(
            accounted(net.router.stats()),
            before + 1,
            "a datagram went unaccounted"
        );
        if op & 0x40 != 0 {
            net.run(usize::from(op >> 4 & 0x03));
        }
    }
    // Forgeries were dropped by the peer they reached: the first channel still works.
    let (now, ch) = (net.now, net.clients[0].3);
    net.clients[0].1.send_text(now, ch, "still here").unwrap();
    net.run(1000);
    assert!(
        net.got
            .iter()
            .any(|(id, m)| *id == first && m == b"still here"),
        "channel broken"
    );
});
