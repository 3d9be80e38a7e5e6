//! Behind SRTP: a connected pair of PeerConnections with audio and video both ways, and the
//! fuzz input fed to one of them as decrypted RTP and RTCP, so demultiplexing (MID, SSRC,
//! payload type), RTX unwrapping, the per-SSRC streams and RTCP routing of a real connection
//! see it (random datagrams die at SRTP authentication). It never panics, and what the peer
//! can make the connection hold stays bounded.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`. `op & 0x01` sends it as RTCP, else
//! RTP; `op & 0x02` writes one of the connection's known SSRCs (picked by `op >> 4`) where
//! the packet names its source (RTP) or its media source (RTCP feedback), so routing is taken;
//! `op & 0x04` lets the network run 5 ms; `op & 0x08` has the other side send a video packet.
#![no_main]
use kaon::peer::fuzzing::{inject_media, media_memory, media_ssrcs};
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, SdpType, TrackKind};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
}

impl Pair {
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
            while self.b.poll_event().is_some() {}
        }
    }
}

const A: &str = "192.0.2.1:5000";
const B: &str = "192.0.2.2:5000";

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1]);
    p.extend_from_slice(&[0x10; 200]);
    p
}

fn connected() -> Pair {
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
    let mut p = Pair { a, b, now };
    p.run(300);
    for seq in 0..3 {
        let now = p.now;
        p.a.write_rtp(now, "1", &rtp(seq)).unwrap();
        p.run(2);
    }
    assert!(!media_ssrcs(&p.b).is_empty(), "harness did not connect");
    p
}

fuzz_target!(|data: &[u8]| {
    let mut p = connected();
    let ssrcs = media_ssrcs(&p.b);
    let mut rest = data;
    let mut pkt = Vec::with_capacity(300);
    let mut seq = 3u16;
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        pkt.clear();
        pkt.extend_from_slice(bytes);
        let rtcp = op & 0x01 != 0;
        if op & 0x02 != 0 {
            let ssrc = ssrcs[usize::from(op >> 4) % ssrcs.len()].to_be_bytes();
            // RTP: SSRC at 8. RTCP feedback: media source at 8; a report block's at 8 too.
            if pkt.len() >= 12 {
                pkt[8..12].copy_from_slice(&ssrc);
            }
        }
        inject_media(&mut p.b, p.now, &pkt, rtcp);
        if op & 0x08 != 0 {
            let now = p.now;
            let _ = p.a.write_rtp(now, "1", &rtp(seq));
            seq = seq.wrapping_add(1);
        }
        if op & 0x04 != 0 {
            p.run(5);
        }
        while p.b.poll_event().is_some() {}
        assert!(media_memory(&p.b) <= 8 << 20, "media memory {}", media_memory(&p.b));
    }
    p.run(50);
    if let Some(t) = p.b.poll_timeout() {
        assert!(t + Duration::from_secs(3600) >= p.now, "deadline far in the past");
    }
});
