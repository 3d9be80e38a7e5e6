//! The borrowed receive path, `PeerConnection::handle_datagram_in_place`, in front of SRTP: a
//! connected pair of PeerConnections with audio and video both ways, and the fuzz input turned
//! into SRTP the receiver's keys open (protected with the sender's own master key), bit-flipped
//! or cut SRTP, and the sender's real datagrams, all decrypted in place in the buffer handed
//! in. Demultiplexing (MID, SSRC, payload type), RTX unwrapping in the caller's buffer, the
//! per-SSRC streams, the replay window and the fallback to queued events all see it. It never
//! panics, a packet handed back is whole RTP of a known transceiver, and what the peer can
//! make the connection hold stays bounded.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`, the bytes an RTP packet in plaintext.
//! `op & 0x01` writes one of the connection's known SSRCs (picked by `op >> 5`) at offset 8,
//! so routing is taken; `op & 0x02` flips the bit `len` of the protected datagram (a tag or
//! a header that no longer authenticates); `op & 0x04` cuts its last `op >> 5` bytes;
//! `op & 0x08` delivers it twice (a replay); `op & 0x10` has the sender write a real video
//! packet and lets the network run 5 ms, events left waiting until the next datagram.
#![no_main]
use kaon::peer::fuzzing::{media_memory, media_ssrcs};
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, SdpType, TrackKind};
use kaon::rtp::RtpPacket;
use kaon::srtp::{Config, Context, Profile};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
}

impl Pair {
    /// Carries datagrams both ways for `steps` ms; `b` takes its own in place and leaves its
    /// events waiting unless `drain`.
    fn run(&mut self, steps: usize, drain: bool) {
        let mut buf = [0u8; 2048];
        for _ in 0..steps {
            let mut flight = Vec::new();
            for (from_a, pc) in [(true, &mut self.a), (false, &mut self.b)] {
                while let Some(t) = pc.poll_transmit(self.now, &mut buf) {
                    flight.push((from_a, t.source, t.destination, buf[..t.len].to_vec()));
                }
            }
            self.now += Duration::from_millis(1);
            for (from_a, source, destination, mut bytes) in flight {
                if from_a {
                    receive(&mut self.b, self.now, source, destination, &mut bytes);
                } else {
                    let d = Datagram { source, destination, contents: &bytes };
                    self.a.handle_datagram(self.now, d);
                }
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            while self.a.poll_event().is_some() {}
            if drain {
                while self.b.poll_event().is_some() {}
            }
        }
    }
}

/// `b` takes one datagram in place; what it hands back must be a whole RTP packet of one of
/// its transceivers.
fn receive(b: &mut PeerConnection, now: Instant, from: SocketAddr, to: SocketAddr, d: &mut [u8]) {
    let len = d.len();
    if let Some(p) = b.handle_datagram_in_place(now, from, to, d) {
        assert!(p.packet.len() <= len);
        assert!(RtpPacket::new_checked(p.packet).is_ok(), "not RTP");
        assert!(b.transceivers().any(|(_, t)| t.mid() == Some(p.mid)), "unknown mid");
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
    p.run(300, true);
    for seq in 0..3 {
        let now = p.now;
        p.a.write_rtp(now, "1", &rtp(seq)).unwrap();
        p.run(2, true);
    }
    assert!(!media_ssrcs(&p.b).is_empty(), "harness did not connect");
    p
}

/// A context that protects as `a` does: its own master key and salt.
fn forger(a: &PeerConnection) -> Context {
    let k = a.srtp_keying().expect("keyed");
    let (key, salt) = k.local();
    let profile = Profile::from(k.profile.to_u16());
    Context::new(profile, key, salt, &Config::default()).expect("a's own keys")
}

fuzz_target!(|data: &[u8]| {
    let mut p = connected();
    let ssrcs = media_ssrcs(&p.b);
    let mut forger = forger(&p.a);
    let (from, to): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    let mut rest = data;
    let mut buf = [0u8; 2048];
    let mut seq = 3u16;
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        buf[..n].copy_from_slice(bytes);
        if op & 0x01 != 0 && n >= 12 {
            let ssrc = ssrcs[usize::from(op >> 5) % ssrcs.len()];
            buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
        }
        // Plaintext that is not RTP is refused here and goes in as it is: junk to SRTP.
        let mut d = match forger.protect_rtp(&mut buf, n) {
            Ok(m) => buf[..m].to_vec(),
            Err(_) => bytes.to_vec(),
        };
        if op & 0x02 != 0 && !d.is_empty() {
            let bit = usize::from(*len) % (d.len() * 8);
            d[bit / 8] ^= 1 << (bit % 8);
        }
        if op & 0x04 != 0 {
            d.truncate(d.len().saturating_sub(usize::from(op >> 5)));
        }
        let copy = d.clone();
        receive(&mut p.b, p.now, from, to, &mut d);
        if op & 0x08 != 0 {
            let mut again = copy;
            receive(&mut p.b, p.now, from, to, &mut again);
        }
        if op & 0x10 != 0 {
            let now = p.now;
            let _ = p.a.write_rtp(now, "1", &rtp(seq));
            seq = seq.wrapping_add(1);
            p.run(5, false);
        } else {
            while p.b.poll_event().is_some() {}
        }
        assert!(media_memory(&p.b) <= 8 << 20, "media memory {}", media_memory(&p.b));
    }
    p.run(50, true);
    if let Some(t) = p.b.poll_timeout() {
        assert!(t + Duration::from_secs(3600) >= p.now, "deadline far in the past");
    }
});
