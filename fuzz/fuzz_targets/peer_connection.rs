//! A connected pair of PeerConnections; arbitrary datagrams are fed to one of them, from its
//! peer's address (so they pass ICE's pair check and reach DTLS) or from a stranger. It never
//! panics, and the data channel still carries a message afterwards.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`; `op` picks the source and advances
//! time.
#![no_main]
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    got: Vec<Vec<u8>>,
}

impl Pair {
    /// Carries datagrams between the two (one hop per 1 ms step) for `steps` ms.
    fn run(&mut self, steps: usize) {
        let mut buf = [0u8; 2048];
        for _ in 0..steps {
            let mut flight = Vec::new();
            for (from_a, pc) in [(true, &mut self.a), (false, &mut self.b)] {
                while let Some(t) = pc.poll_transmit(self.now, &mut buf) {
                    flight.push((from_a, t.source, t.destination, buf[..t.len].to_vec()));
                }
            }
            self.now += Duration::from_millis(1);
            for (from_a, source, destination, bytes) in flight {
                let to = if from_a { &mut self.b } else { &mut self.a };
                to.handle_datagram(self.now, Datagram { source, destination, contents: &bytes });
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            while self.a.poll_event().is_some() {}
            while let Some(e) = self.b.poll_event() {
                if let PeerEvent::Message { data, .. } = e {
                    self.got.push(data.to_vec());
                }
            }
        }
    }
}

const A: &str = "192.0.2.1:5000";
const B: &str = "192.0.2.2:5000";

fn connected() -> (Pair, u16) {
    let now = Instant::now();
    let mut a = PeerConnection::new(PeerConfig::with_seed(1)).unwrap();
    let mut b = PeerConnection::new(PeerConfig::with_seed(2)).unwrap();
    a.add_local_address(A.parse().unwrap()).unwrap();
    b.add_local_address(B.parse().unwrap()).unwrap();
    let id = a.create_data_channel(now, "f", ChannelConfig::default()).unwrap();
    while a.poll_event().is_some() {}
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone()).unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    while b.poll_event().is_some() {}
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone()).unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let mut p = Pair { a, b, now, got: Vec::new() };
    p.run(300);
    (p, id)
}

fuzz_target!(|data: &[u8]| {
    let (mut p, id) = connected();
    let a: SocketAddr = A.parse().unwrap();
    let stranger: SocketAddr = "198.51.100.7:4000".parse().unwrap();
    let b: SocketAddr = B.parse().unwrap();
    let mut rest = data;
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (contents, next) = tail.split_at(n);
        rest = next;
        let source = if op & 0x80 == 0 { a } else { stranger };
        p.b.handle_datagram(p.now, Datagram { source, destination: b, contents });
        if op & 0x40 != 0 {
            p.run(usize::from(op & 0x0f));
        }
    }
    // Forged DTLS records fail authentication and are dropped: the channel keeps working.
    let now = p.now;
    p.a.send_text(now, id, "still here").unwrap();
    p.run(1000);
    assert!(p.got.iter().any(|m| m == b"still here"), "channel broken");
});
