//! Splicing RTP sources into one outgoing stream, for the forwarding examples (`broadcast`,
//! `swap-tracks`): each packet's sequence number and timestamp are rewritten in place so that
//! what goes out stays one continuous stream when the source behind it changes (a publisher
//! reconnects, the forwarded track switches). kaon's `write_rtp` then puts the outgoing
//! transceiver's own SSRC and header extensions on it.
#![allow(dead_code)] // each example uses its part

use std::time::Instant;

use kaon::media::codec::{Codec, is_frame_start, is_keyframe};
use kaon::rtp::RtpPacket;

/// The payload format behind an `a=rtpmap` codec name, for keyframe detection.
pub fn codec_of(name: &str) -> Option<Codec> {
    [
        ("VP8", Codec::Vp8),
        ("VP9", Codec::Vp9),
        ("H264", Codec::H264),
        ("H265", Codec::H265),
        ("AV1", Codec::Av1),
        ("opus", Codec::Opus),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, c)| c)
}

/// Whether an RTP packet opens a keyframe: its payload says keyframe and, where the format has
/// a start flag, frame start; where it has none (H.264, AV1), the packet must carry a new
/// timestamp (`prev_ts`, the timestamp of the packet before it from the same source).
pub fn opens_keyframe(codec: Codec, packet: &[u8], prev_ts: Option<u32>) -> bool {
    let Ok(p) = RtpPacket::new_checked(packet) else {
        return false;
    };
    if !is_keyframe(codec, p.payload()) {
        return false;
    }
    match is_frame_start(codec, p.payload()) {
        Some(start) => start,
        None => prev_ts != Some(p.timestamp()),
    }
}

/// Rewrites sequence numbers and timestamps so that a change of source continues the
/// outgoing stream: RFC 3550 §5.1 asks for sequence numbers that increase by one per packet
/// and timestamps that follow the sampling clock, which a receiver's jitter buffer and loss
/// accounting rely on.
#[derive(Debug)]
pub struct Rewriter {
    clock_rate: u32,
    /// The source being forwarded and the offsets that map it onto the outgoing stream.
    source: Option<u32>,
    seq_delta: u16,
    ts_delta: u32,
    /// The newest packet that went out: its outgoing sequence number, timestamp, and when.
    last: Option<(u16, u32, Instant)>,
    /// Times the source changed.
    pub splices: u64,
}

impl Rewriter {
    /// A rewriter for a stream with this RTP clock rate (90 kHz for video).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            source: None,
            seq_delta: 0,
            ts_delta: 0,
            last: None,
            splices: 0,
        }
    }

    /// Rewrites `packet` (a plaintext RTP packet) in place for the outgoing stream; `false`
    /// if it is no RTP packet.
    pub fn rewrite(&mut self, now: Instant, packet: &mut [u8]) -> bool {
        let Ok(mut p) = RtpPacket::new_checked(&mut packet[..]) else {
            return false;
        };
        let (ssrc, seq, ts) = (p.ssrc(), p.sequence_number(), p.timestamp());
        if self.source != Some(ssrc) {
            if let Some((last_seq, last_ts, at)) = self.last {
                // The new source's first packet follows the last one sent, one sequence
                // number and the elapsed time later (at least one tick: a new frame).
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                let ticks = ((elapsed * f64::from(self.clock_rate)) as u32).max(1);
                self.seq_delta = last_seq.wrapping_add(1).wrapping_sub(seq);
                self.ts_delta = last_ts.wrapping_add(ticks).wrapping_sub(ts);
                self.splices += 1;
            }
            self.source = Some(ssrc);
        }
        let (out_seq, out_ts) = (
            seq.wrapping_add(self.seq_delta),
            ts.wrapping_add(self.ts_delta),
        );
        p.set_sequence_number(out_seq);
        p.set_timestamp(out_ts);
        // Only a newer packet moves the splice point; a late or repaired one does not.
        let newer = self
            .last
            .is_none_or(|(s, _, _)| (out_seq.wrapping_sub(s) as i16) > 0);
        if newer {
            self.last = Some((out_seq, out_ts, now));
        }
        true
    }
}
