//! Behind DTLS: a connected pair of PeerConnections, and the fuzz input fed to one of them as
//! the decrypted record stream, so SCTP, DCEP and the data channel layer of a real connection
//! see it (random datagrams die at DTLS authentication). It never panics, and what the peer
//! can make the connection hold stays bounded.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`. Each packet is the fuzz bytes as
//! chunks behind a valid common header (the association's ports and verification tag, a zero
//! checksum, which WebRTC's SCTP accepts). `op & 0x40` writes the TSN the association expects
//! next (plus `op & 0x07`) into a leading DATA or I-DATA chunk, so data is taken, not dropped
//! as out of window; `op & 0x80` lets the network run `op & 0x0f` ms (the peer answers, real
//! traffic flows); `op & 0x30` picks who drains events.
#![no_main]
use kaon::datachannel::ChannelConfig;
use kaon::peer::fuzzing::{inject_sctp, sctp_header};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
}

impl Pair {
    /// Carries datagrams between the two (one hop per 1 ms step) for `steps` ms.
    fn run(&mut self, steps: usize, drain_b: bool) {
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
            if drain_b {
                while let Some(e) = self.b.poll_event() {
                    let _: PeerEvent = e;
                }
            }
        }
    }
}

const A: &str = "192.0.2.1:5000";
const B: &str = "192.0.2.2:5000";

fn connected() -> Pair {
    let now = Instant::now();
    let mut a = PeerConnection::new(PeerConfig::with_seed(1)).unwrap();
    let mut b = PeerConnection::new(PeerConfig::with_seed(2)).unwrap();
    a.add_local_address(A.parse().unwrap()).unwrap();
    b.add_local_address(B.parse().unwrap()).unwrap();
    a.create_data_channel(now, "f", ChannelConfig::default()).unwrap();
    while a.poll_event().is_some() {}
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone()).unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    while b.poll_event().is_some() {}
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone()).unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let mut p = Pair { a, b, now };
    p.run(300, true);
    assert!(p.b.data_channels().association().is_established(), "harness did not connect");
    p
}

fuzz_target!(|data: &[u8]| {
    let mut p = connected();
    let mut rest = data;
    let mut pkt = Vec::with_capacity(300);
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunks, next) = tail.split_at(n);
        rest = next;
        let h = sctp_header(&p.b);
        pkt.clear();
        pkt.extend_from_slice(&h.src_port.to_be_bytes());
        pkt.extend_from_slice(&h.dst_port.to_be_bytes());
        pkt.extend_from_slice(&h.vtag.to_be_bytes());
        pkt.extend_from_slice(&[0; 4]);
        pkt.extend_from_slice(chunks);
        // DATA (0) and I-DATA (64) carry their TSN right after the chunk header.
        if op & 0x40 != 0 && pkt.len() >= 20 && matches!(pkt[12], 0 | 64) {
            let tsn = h.next_tsn.wrapping_add(u32::from(op & 0x07));
            pkt[16..20].copy_from_slice(&tsn.to_be_bytes());
        }
        inject_sctp(&mut p.b, p.now, &pkt);
        if op & 0x80 != 0 {
            p.run(usize::from(op & 0x0f), op & 0x30 != 0x30);
        }
        let m = p.b.data_channels().association().memory();
        assert!(
            m.reassembly + m.undelivered + m.queued + m.inflight_bytes <= 4 << 20,
            "{m:?}"
        );
    }
    // Whatever arrived, the connection keeps running: timers stay sane.
    p.run(50, true);
    if let Some(t) = p.b.poll_timeout() {
        assert!(t + Duration::from_secs(3600) >= p.now, "deadline far in the past");
    }
});
