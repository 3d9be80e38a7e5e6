//! The frame level of a connected pair of PeerConnections with audio and video: `a` sends
//! arbitrary frames (`write_sample`, any bytes, any duration) and arbitrary RTP (`write_rtp`:
//! any sequence number, timestamp, marker and payload, so `b` receives them through SRTP as
//! genuine packets) on either transceiver, with time advancing between; `b` has frames out
//! on, so every packet goes through its depacketizers and jitter buffers. Nothing panics, and
//! unless video was forged with `write_rtp`, `b` still receives whole frames afterwards.
//!
//! Input: a sequence of `[len: u8][op: u8][len bytes]`; `op` bit 0 picks audio or video, bit 1
//! picks a sample or an RTP packet (then the first 7 bytes are sequence number, timestamp and
//! marker), bits 4..7 advance time.
#![no_main]
use bytes::Bytes;
use kaon::media::jitter::Sample;
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind};
use kaon::rtp::{RtpBuilder, RtpHeader};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    frames: usize,
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
                to.handle_datagram(
                    self.now,
                    Datagram {
                        source,
                        destination,
                        contents: &bytes,
                    },
                );
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            while self.a.poll_event().is_some() {}
            while let Some(e) = self.b.poll_event() {
                if let PeerEvent::Sample { .. } = e {
                    self.frames += 1;
                }
            }
        }
    }
}

fn connected() -> Pair {
    let now = Instant::now();
    let mut a = PeerConnection::new(PeerConfig::with_seed(1)).unwrap();
    let mut b = PeerConnection::new(PeerConfig::with_seed(2)).unwrap();
    a.add_local_address("192.0.2.1:5000".parse().unwrap())
        .unwrap();
    b.add_local_address("192.0.2.2:5000".parse().unwrap())
        .unwrap();
    a.add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"]))
        .unwrap();
    a.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    while a.poll_event().is_some() {}
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    while b.poll_event().is_some() {}
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    b.set_receive_frames("0", true).unwrap();
    b.set_receive_frames("1", true).unwrap();
    let mut p = Pair {
        a,
        b,
        now,
        frames: 0,
    };
    p.run(300);
    p
}

fuzz_target!(|data: &[u8]| {
    let mut p = connected();
    let mut rest = data;
    // Arbitrary sequence numbers on video can make the frames after look late (legitimately
    // dropped): the liveness check below holds only when video came from write_sample alone.
    let mut forged_video = false;
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (contents, next) = tail.split_at(n);
        rest = next;
        let (mid, pt) = if op & 1 == 0 { ("0", 111) } else { ("1", 96) };
        let now = p.now;
        if op & 2 == 0 {
            let sample = Sample::with_duration(Bytes::copy_from_slice(contents), u32::from(*op));
            let _ = p.a.write_sample(now, mid, &sample);
        } else if let [s0, s1, t0, t1, t2, t3, m, payload @ ..] = contents {
            let b = RtpBuilder::new(RtpHeader {
                marker: m & 1 != 0,
                payload_type: pt,
                sequence_number: u16::from_be_bytes([*s0, *s1]),
                timestamp: u32::from_be_bytes([*t0, *t1, *t2, *t3]),
                ssrc: 1,
            })
            .payload(payload);
            let mut packet = vec![0; b.len()];
            forged_video |= op & 1 == 1;
            if b.write(&mut packet).is_ok() {
                let _ = p.a.write_rtp(now, mid, &packet);
            }
        }
        p.run(usize::from(op >> 4));
    }
    // A keyframe on a fresh clock still comes out whole: the jitter buffer is not wedged.
    p.run(2000);
    let before = p.frames;
    for i in 0..3u32 {
        let now = p.now;
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0, 1, 2, 3];
        let _ = p.a.write_sample(
            now,
            "0",
            &Sample::with_duration(Bytes::from_static(&[0xfc, 1]), 960),
        );
        p.a.write_sample(
            now,
            "1",
            &Sample::with_duration(Bytes::copy_from_slice(&key), 3000 + i),
        )
        .unwrap();
        p.run(40);
    }
    p.run(1500);
    assert!(
        forged_video || p.frames > before,
        "no frame came out after the fuzzed input"
    );
});
