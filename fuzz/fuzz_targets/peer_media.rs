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
use kaon::Protocol;
use kaon::peer::fuzzing::{inject_media, media_memory, media_ssrcs};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

mod media_pair;
use media_pair::{connected, queued, rtp};

fuzz_target!(|data: &[u8]| {
    let mut p = connected(queued);
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
            p.run(5, true);
        }
        while p.b.poll_event().is_some() {}
        assert!(media_memory(&p.b) <= 8 << 20, "media memory {}", media_memory(&p.b));
    }
    p.run(50, true);
    if let Some(t) = p.b.poll_timeout() {
        assert!(t + Duration::from_secs(3600) >= p.now, "deadline far in the past");
    }
});
