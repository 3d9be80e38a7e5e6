//! The connected pair the media targets (`peer_media`, `peer_media_in_place`) fuzz: audio and
//! video both ways, `a` sending to `b`, with a few video packets already through so that `b`
//! knows `a`'s sources. How `b` takes its datagrams is the target's.
#![allow(dead_code)] // each target uses a different part
use kaon::peer::fuzzing::media_ssrcs;
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, SdpType, TrackKind};
use kaon::{Datagram, Protocol};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// `a`'s and `b`'s addresses.
pub const A: &str = "192.0.2.1:5000";
pub const B: &str = "192.0.2.2:5000";

/// How `b` takes one datagram from `a` (its buffer may be changed).
pub type Take = fn(&mut PeerConnection, Instant, SocketAddr, SocketAddr, &mut [u8]);

/// `b` through `handle_datagram`.
pub fn queued(b: &mut PeerConnection, now: Instant, from: SocketAddr, to: SocketAddr, d: &mut [u8]) {
    b.handle_datagram(now, Datagram { source: from, destination: to, contents: d });
}

pub struct Pair {
    pub a: PeerConnection,
    pub b: PeerConnection,
    pub now: Instant,
    take: Take,
}

/// One datagram on its way: from `a`?, its addresses and bytes.
type Hop = (bool, SocketAddr, SocketAddr, Vec<u8>);

impl Pair {
    /// `steps` hops of 1 ms: what both sides send is delivered a step later; `b`'s events are
    /// left waiting unless `drain_b`.
    pub fn run(&mut self, steps: usize, drain_b: bool) {
        for _ in 0..steps {
            let mut hops: Vec<Hop> = self.sent(true);
            hops.extend(self.sent(false));
            self.now += Duration::from_millis(1);
            for (to_b, from, to, mut bytes) in hops {
                if to_b {
                    (self.take)(&mut self.b, self.now, from, to, &mut bytes);
                    continue;
                }
                let d = Datagram { source: from, destination: to, contents: &bytes };
                self.a.handle_datagram(self.now, d);
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            while self.a.poll_event().is_some() {}
            while drain_b && self.b.poll_event().is_some() {}
        }
    }

    /// What `a` (or `b`) has to send now.
    fn sent(&mut self, by_a: bool) -> Vec<Hop> {
        let (pc, now) = (if by_a { &mut self.a } else { &mut self.b }, self.now);
        let mut buf = [0u8; 2048];
        std::iter::from_fn(|| pc.poll_transmit(now, &mut buf).map(|t| (t, buf[..t.len].to_vec())))
            .map(|(t, bytes)| (by_a, t.source, t.destination, bytes))
            .collect()
    }
}

/// A video packet of 200 bytes of payload with sequence number `seq`.
pub fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1]);
    p.extend_from_slice(&[0x10; 200]);
    p
}

/// The pair, connected, `b` taking its datagrams by `take`.
pub fn connected(take: Take) -> Pair {
    let now = Instant::now();
    let mut a = PeerConnection::new(PeerConfig::with_seed(1)).unwrap();
    let mut b = PeerConnection::new(PeerConfig::with_seed(2)).unwrap();
    a.add_local_address(A.parse().unwrap()).unwrap();
    b.add_local_address(B.parse().unwrap()).unwrap();
    for pc in [&mut a, &mut b] {
        pc.add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"])).unwrap();
        pc.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"])).unwrap();
    }
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone()).unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone()).unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let mut p = Pair { a, b, now, take };
    p.run(300, true);
    for seq in 0..3 {
        let now = p.now;
        p.a.write_rtp(now, "1", &rtp(seq)).unwrap();
        p.run(2, true);
    }
    assert!(!media_ssrcs(&p.b).is_empty(), "harness did not connect");
    p
}
