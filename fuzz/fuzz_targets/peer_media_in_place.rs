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
use kaon::Protocol;
use kaon::peer::fuzzing::{media_memory, media_ssrcs};
use kaon::peer::PeerConnection;
use kaon::rtp::RtpPacket;
use kaon::srtp::{Config, Context, Profile};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod media_pair;
use media_pair::{A, B, connected, rtp};

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

/// A context that protects as `a` does: its own master key and salt.
fn forger(a: &PeerConnection) -> Context {
    let k = a.srtp_keying().expect("keyed");
    let (key, salt) = k.local();
    let profile = Profile::from(k.profile.to_u16());
    Context::new(profile, key, salt, &Config::default()).expect("a's own keys")
}

fuzz_target!(|data: &[u8]| {
    let mut p = connected(receive);
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
