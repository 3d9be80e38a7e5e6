//! The frame level of a [`PeerConnection`]: whole frames in and out of a transceiver.
//!
//! **Frames in**: [`write_sample`](PeerConnection::write_sample) packetizes a frame with the
//! transceiver's negotiated codec (the first one kaon has a payload format for, or the one
//! [`set_sample_codec`](PeerConnection::set_sample_codec) picks by mime type) into RTP packets
//! with the transceiver's own sequence numbers (RFC 3550 §5.1: a random start), timestamps from
//! the caller's media clock (a random offset plus the sum of the samples' durations, or the
//! sample's own RTP timestamp), and the marker the payload format asks for (RFC 7741 §4.1,
//! RFC 6184 §5.1, ...). Each packet then takes the same path as
//! [`write_rtp`](PeerConnection::write_rtp): header extensions, SRTP, RTX history, SR.
//!
//! **Frames out**: with [`set_receive_frames`](PeerConnection::set_receive_frames) on, each
//! incoming source of the transceiver also feeds a [`JitterBuffer`] whose whole frames come out
//! as [`PeerEvent::Sample`] (after the packet's [`PeerEvent::Rtp`]), each naming its source (SSRC,
//! and rid for a simulcast layer) so that several sources on one mid stay apart; when the
//! buffer gives up on a lost reference it asks the sender for a keyframe (PLI or FIR,
//! throttled).
//!
//! ```
//! # use kaon::peer::{PeerConfig, PeerConnection, TrackKind, LocalTrack};
//! # use kaon::media::jitter::Sample;
//! # let now = std::time::Instant::now();
//! let mut pc = PeerConnection::new(PeerConfig::with_seed(1))?;
//! pc.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))?;
//! // ... once negotiated: mid "0" sends VP8 (the first codec of the answer).
//! let frame = Sample::with_duration(bytes::Bytes::from_static(&[0x10, 2, 3]), 3000);
//! assert!(pc.write_sample(now, "0", &frame).is_err()); // not negotiated yet
//! // pc.set_receive_frames("0", true)?; then PeerEvent::Sample { mid, ssrc, rid, sample }
//! // per frame, each source's apart.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{MAX_RECEIVERS, MEDIA_QUEUE, Media, Receiver};
use crate::media::codec::{Codec as Format, H264Mode, Packetizer, PacketizerConfig};
use crate::media::jitter::{JitterBuffer, JitterConfig, JitterEvent, Sample};
use crate::peer::jsep::NegotiatedCodec;
use crate::peer::{Error, PeerConnection, PeerEvent};
use crate::rtp::RtpPacket;

/// The largest plaintext RTP packet `write_sample` makes, header and extensions included
/// (what browsers use: it leaves room for SRTP, TURN and IPv6 inside a 1280-byte path MTU).
pub const SAMPLE_PACKET_SIZE: usize = 1200;
/// The fixed RTP header (RFC 3550 §5.1).
const RTP_HEADER: usize = 12;
/// Room for the header extensions `write_rtp` adds: one-byte header (4), mid (1 + 16),
/// abs-send-time (1 + 3), transport-cc (1 + 2), padding.
const EXTENSION_ROOM: usize = 32;
/// The jitter buffer of each incoming source. The wait for a missing packet is five round
/// trips: the receive stream repeats its NACK every 1.25 round trips, so four requests and the
/// last one's retransmission fit, and a repair fails only when four NACK/RTX rounds in a row
/// do (about 0.1% of lost packets at 10% loss each way; with three round trips only two
/// rounds fit, and 3.4% failed: at 5% loss a two-way call lost a frame every few seconds).
/// A receive-only side has no round-trip time (RFC 3550 receivers measure none) and assumes
/// 100 ms.
const JITTER: JitterConfig = JitterConfig {
    capacity: 512,
    max_bytes: 4 << 20,
    wait_rtt_percent: 500,
    min_wait: std::time::Duration::from_millis(50),
    max_wait: std::time::Duration::from_secs(1),
    initial_rtt: std::time::Duration::from_millis(100),
    keyframe_interval: std::time::Duration::from_millis(500),
    max_ready: 64,
};
// mid (1 + 16), abs-send-time (1 + 3) and transport-cc (1 + 2) after the 4-byte header.
const _: () = assert!(EXTENSION_ROOM >= 28);
/// The payload budget of one packet.
const PAYLOAD_MTU: usize = SAMPLE_PACKET_SIZE - RTP_HEADER - EXTENSION_ROOM;

/// The payload format kaon has for a negotiated codec, by its `a=rtpmap` name.
pub(crate) fn format_of(codec: &NegotiatedCodec) -> Option<Format> {
    let name = codec.codec.name.as_str();
    [
        ("opus", Format::Opus),
        ("PCMU", Format::Pcmu),
        ("PCMA", Format::Pcma),
        ("G722", Format::G722),
        ("VP8", Format::Vp8),
        ("VP9", Format::Vp9),
        ("H264", Format::H264),
        ("H265", Format::H265),
        ("AV1", Format::Av1),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, f)| f)
}

/// Whether `wanted` (`video/H264` or `H264`) names `codec`.
fn mime_matches(wanted: &str, codec: &NegotiatedCodec) -> bool {
    let name = wanted.rsplit('/').next().unwrap_or(wanted);
    name.eq_ignore_ascii_case(&codec.codec.name)
}

/// RFC 6184 §8.1: `packetization-mode` absent means mode 0.
fn h264_mode(fmtp: &str) -> H264Mode {
    let one = fmtp
        .split(';')
        .any(|p| p.trim().eq_ignore_ascii_case("packetization-mode=1"));
    if one {
        H264Mode::NonInterleaved
    } else {
        H264Mode::SingleNal
    }
}

/// A transceiver's frame-level state.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// The codec `write_sample` uses, by mime type; `None`: the first kaon can packetize.
    send_codec: Option<String>,
    tx: Option<Box<SampleTx>>,
    /// Whether received RTP also goes through the jitter buffer.
    pub(super) receive: bool,
    rx: Vec<SampleRx>,
}

/// The send side: one packetizer, our sequence numbers and timestamps.
#[derive(Debug)]
struct SampleTx {
    send_pt: u8,
    packetizer: Packetizer,
    seq: u16,
    /// RFC 3550 §5.1: the first timestamp is random.
    offset: u32,
    /// The media clock at the next sample, when samples give durations.
    next: u32,
    /// One packet, built here before `write_rtp` copies it.
    scratch: Vec<u8>,
}

/// One incoming source's jitter buffer.
#[derive(Debug)]
struct SampleRx {
    ssrc: u32,
    /// Its RTP stream id, shared by every frame event (no allocation per frame).
    rid: Option<Arc<str>>,
    pt: u8,
    jitter: JitterBuffer,
}

impl Media {
    /// The negotiated codec `write_sample` uses on transceiver `ti`, and its payload format.
    fn sample_codec(&self, ti: usize) -> Result<(&NegotiatedCodec, Format), Error> {
        let t = &self.transceivers[ti];
        let n = t.negotiated.as_ref().ok_or(Error::NotSending)?;
        let wanted = t.frames.send_codec.as_deref();
        n.codecs
            .iter()
            .filter(|c| wanted.is_none_or(|w| mime_matches(w, c)))
            .find_map(|c| format_of(c).map(|f| (c, f)))
            .ok_or_else(|| Error::UnsupportedCodec(wanted.unwrap_or("any").to_string()))
    }

    /// Packetizes one frame and queues its packets through `write_rtp`.
    pub(crate) fn write_sample(
        &mut self,
        now: Instant,
        ti: usize,
        sample: &Sample,
    ) -> Result<(), Error> {
        if !self.transceivers[ti].sending() {
            return Err(Error::NotSending);
        }
        let (codec, format) = self.sample_codec(ti)?;
        let send_pt = codec.send_pt;
        let config = PacketizerConfig {
            h264_mode: h264_mode(&codec.codec.fmtp),
            vp9_flexible: false,
            initial_picture_id: self.rng.u32() as u16 & 0x7fff,
        };
        // Taken out while `write_rtp` borrows the media state; put back below.
        let mut tx = match self.transceivers[ti].frames.tx.take() {
            Some(mut tx) => {
                if tx.send_pt != send_pt {
                    // A new codec: a new packetizer, the same sequence and clock.
                    tx.send_pt = send_pt;
                    tx.packetizer = Packetizer::new(format, config);
                }
                tx
            }
            None => Box::new(SampleTx {
                send_pt,
                packetizer: Packetizer::new(format, config),
                seq: self.rng.u32() as u16,
                offset: self.rng.u32(),
                next: 0,
                scratch: vec![0; SAMPLE_PACKET_SIZE],
            }),
        };
        let r = self.packetize_into(now, ti, &mut tx, sample);
        self.transceivers[ti].frames.tx = Some(tx);
        r
    }

    fn packetize_into(
        &mut self,
        now: Instant,
        ti: usize,
        tx: &mut SampleTx,
        sample: &Sample,
    ) -> Result<(), Error> {
        // The whole frame goes or none of it: a half-sent frame is a lost frame. Parameter
        // sets sent ahead of a keyframe and aggregation can add a few packets.
        let estimate = sample.data.len() / (PAYLOAD_MTU - 8) + 4;
        if !self.bwe.paced && self.out.len() + estimate > MEDIA_QUEUE {
            return Err(Error::MediaQueueFull);
        }
        let clock = if sample.duration == 0 {
            sample.rtp_timestamp
        } else {
            tx.next
        };
        let SampleTx {
            send_pt,
            packetizer,
            seq,
            offset,
            next,
            scratch,
        } = tx;
        *next = clock.wrapping_add(sample.duration);
        let timestamp = offset.wrapping_add(clock);
        let mut payloads = packetizer
            .packetize(&sample.data, PAYLOAD_MTU)
            .map_err(Error::Codec)?;
        while let Some(p) = payloads.next_payload(&mut scratch[RTP_HEADER..][..PAYLOAD_MTU]) {
            let p = p.map_err(Error::Codec)?;
            // RFC 3550 §5.1: version 2, no padding, no extension, no CSRC; write_rtp puts our
            // SSRC and header extensions in.
            let ts = timestamp.wrapping_add(p.timestamp_offset);
            scratch[0] = 0x80;
            scratch[1] = (u8::from(p.marker) << 7) | (*send_pt & 0x7f);
            scratch[2..4].copy_from_slice(&seq.to_be_bytes());
            scratch[4..8].copy_from_slice(&ts.to_be_bytes());
            scratch[8..12].fill(0);
            *seq = seq.wrapping_add(1);
            self.write_rtp(now, ti, &scratch[..RTP_HEADER + p.len])?;
        }
        Ok(())
    }
}

impl Media {
    /// A received RTP packet (plaintext, RTX unwrapped) of transceiver `ti`: into its source's
    /// jitter buffer when frames are on; whole frames come out as events.
    pub(crate) fn frames_on_packet(
        &mut self,
        now: Instant,
        ti: usize,
        packet: &Bytes,
        events: &mut VecDeque<PeerEvent>,
    ) {
        let t = &mut self.transceivers[ti];
        if !t.frames.receive {
            return;
        }
        let (Some(n), Some(mid)) = (&t.negotiated, t.mid) else {
            return;
        };
        let Ok(pkt) = RtpPacket::new_checked(&packet[..]) else {
            return;
        };
        let (ssrc, pt) = (pkt.ssrc(), pkt.payload_type());
        let Some(format) = n
            .codecs
            .iter()
            .find(|c| c.recv_pt == pt)
            .and_then(format_of)
        else {
            return;
        };
        // The source's rid (RFC 8852), which routing learned from its first packets.
        let rid = || {
            t.receivers
                .iter()
                .find(|r| r.ssrc() == ssrc)
                .and_then(|r| r.rid.as_deref())
                .map(Arc::from)
        };
        let at = match t.frames.rx.iter().position(|r| r.ssrc == ssrc) {
            // A new payload type on the same source is a new codec: a new buffer.
            Some(i) if t.frames.rx[i].pt != pt => {
                t.frames.rx[i] = SampleRx::new(ssrc, rid(), pt, format);
                i
            }
            Some(i) => i,
            None if t.frames.rx.len() < MAX_RECEIVERS => {
                let rx = SampleRx::new(ssrc, rid(), pt, format);
                t.frames.rx.push(rx);
                t.frames.rx.len() - 1
            }
            None => return,
        };
        let start = pkt.header_len();
        let payload = packet.slice(start..start + pkt.payload().len());
        let (seq, ts, marker) = (pkt.sequence_number(), pkt.timestamp(), pkt.marker());
        // The wait for repairs follows the round-trip time when we send too (what the peer's
        // receiver reports give, RFC 3550 §6.4.1); a receive-only side keeps the assumption.
        if let Some(rtt) = t.tx.as_ref().and_then(|tx| tx.stats().round_trip_time) {
            t.frames.rx[at].jitter.set_rtt(rtt);
        }
        t.frames.rx[at].jitter.insert(now, seq, ts, marker, payload);
        // The first packet seen continued a frame: NACK its predecessor, which the receive
        // statistics (starting at that packet) do not list.
        if let Some(before) = t.frames.rx[at].jitter.missing_before_first() {
            for r in t.receivers.iter_mut().filter(|r| r.ssrc() == ssrc) {
                if r.rx.nack(now, before) {
                    self.due = Some(now);
                }
            }
        }
        if drain(&mut t.frames.rx[at], mid, events)
            && request_source_keyframe(now, &mut t.receivers, &t.frames.rx[at])
        {
            self.due = Some(now);
        }
    }

    /// Gives up on packets whose wait is over; releases the frames behind them.
    pub(crate) fn frames_timeout(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        for ti in 0..self.transceivers.len() {
            let t = &mut self.transceivers[ti];
            let Some(mid) = t.mid else { continue };
            let mut asked = false;
            for r in &mut t.frames.rx {
                if r.jitter.poll_timeout().is_some_and(|at| at <= now) {
                    r.jitter.handle_timeout(now);
                }
                if drain(r, mid, events) {
                    asked |= request_source_keyframe(now, &mut t.receivers, r);
                }
            }
            if asked {
                self.due = Some(now);
            }
        }
    }

    /// The earliest jitter buffer deadline.
    pub(crate) fn frames_due(&self) -> Option<Instant> {
        self.transceivers
            .iter()
            .flat_map(|t| t.frames.rx.iter())
            .filter_map(|r| r.jitter.poll_timeout())
            .min()
    }
}

impl SampleRx {
    fn new(ssrc: u32, rid: Option<Arc<str>>, pt: u8, format: Format) -> Self {
        Self {
            ssrc,
            rid,
            pt,
            jitter: JitterBuffer::new(format, JITTER),
        }
    }
}

/// Moves a source's frames into events, each naming the source; whether it asks for a
/// keyframe.
fn drain(rx: &mut SampleRx, mid: crate::peer::Mid, events: &mut VecDeque<PeerEvent>) -> bool {
    while let Some(sample) = rx.jitter.poll_sample() {
        events.push_back(PeerEvent::Sample {
            mid,
            ssrc: rx.ssrc,
            rid: rx.rid.clone(),
            sample,
        });
    }
    let mut keyframe = false;
    while let Some(JitterEvent::KeyframeRequest) = rx.jitter.poll_event() {
        keyframe = true;
    }
    keyframe
}

/// Asks the sender of `rx`'s source for a keyframe, paced by its jitter buffer (which repeats
/// a request sooner while the source has not decoded yet); whether one will be sent.
fn request_source_keyframe(now: Instant, receivers: &mut [Receiver], rx: &SampleRx) -> bool {
    let gap = rx.jitter.keyframe_interval();
    receivers
        .iter_mut()
        .filter(|r| r.ssrc() == rx.ssrc)
        .fold(false, |asked, r| {
            r.rx.request_keyframe_after(now, gap) | asked
        })
}

/// A borrowed handle on one transceiver's sending side (see
/// [`PeerConnection::writer`]).
#[derive(Debug)]
pub struct Writer<'a> {
    pc: &'a mut PeerConnection,
    ti: usize,
}

impl Writer<'_> {
    /// Sends one frame (see [`PeerConnection::write_sample`]).
    pub fn write_sample(&mut self, now: Instant, sample: &Sample) -> Result<(), Error> {
        self.pc.check_open()?;
        self.pc.media_mut()?.write_sample(now, self.ti, sample)
    }

    /// Sends one RTP packet (see [`PeerConnection::write_rtp`]).
    pub fn write_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.pc.check_open()?;
        self.pc.media_mut()?.write_rtp(now, self.ti, packet)
    }

    /// The negotiated codec frames go out with, as `a=rtpmap` names it (`VP8`, `opus`...).
    pub fn codec(&self) -> Result<String, Error> {
        let media = self.pc.media.get().ok_or(Error::NoSuchTransceiver)?;
        Ok(media.sample_codec(self.ti)?.0.codec.name.clone())
    }
}

impl PeerConnection {
    /// Sends one frame on the transceiver of `mid` (the frame level; Pion's `WriteSample`).
    ///
    /// The frame (in the form `media::codec` describes: Annex B for H.264/H.265, OBUs for AV1,
    /// one Opus packet) is packetized into packets of at most [`SAMPLE_PACKET_SIZE`] bytes with
    /// the transceiver's negotiated codec, our sequence numbers, and the RTP timestamp of the
    /// caller's media clock: with `sample.duration` set, the samples' durations add up from a
    /// random start (RFC 3550 §5.1); with a zero duration, `sample.rtp_timestamp` (plus the
    /// same random offset) is the frame's. `keyframe`, `seq_range` and `lost_before` are
    /// ignored. Mixing `write_rtp` and `write_sample` on one transceiver is the caller's risk
    /// (two sequence number spaces).
    ///
    /// Errors: [`Error::NotSending`], [`Error::UnsupportedCodec`] (no negotiated codec kaon can
    /// packetize), [`Error::Codec`] (an empty frame, a unit too big for the mode), and
    /// [`Error::MediaQueueFull`] (nothing of the frame was queued: drive `poll_transmit`).
    pub fn write_sample(&mut self, now: Instant, mid: &str, sample: &Sample) -> Result<(), Error> {
        self.writer(mid)?.write_sample(now, sample)
    }

    /// A handle on the sending side of the transceiver of `mid`.
    pub fn writer(&mut self, mid: &str) -> Result<Writer<'_>, Error> {
        let ti = self.media.by_mid(mid).ok_or(Error::NoSuchTransceiver)?;
        Ok(Writer { pc: self, ti })
    }

    /// Picks the codec `write_sample` uses on `mid` by mime type (`video/H264`, or `H264`);
    /// `None` goes back to the first negotiated codec kaon can packetize. Takes effect with
    /// the next sample (a new packetizer; sequence numbers and clock continue).
    pub fn set_sample_codec(&mut self, mid: &str, mime: Option<&str>) -> Result<(), Error> {
        let (media, ti) = self.media_at(mid)?;
        media.transceivers[ti].frames.send_codec = mime.map(str::to_string);
        Ok(())
    }

    /// Turns frames out on or off for the transceiver of `mid`: when on, every incoming source
    /// also feeds a jitter buffer and each whole frame comes out as [`PeerEvent::Sample`];
    /// lost references raise a keyframe request to the sender. Off drops the buffers.
    pub fn set_receive_frames(&mut self, mid: &str, on: bool) -> Result<(), Error> {
        let (media, ti) = self.media_at(mid)?;
        let f = &mut media.transceivers[ti].frames;
        f.receive = on;
        if !on {
            f.rx = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::jsep::Codec as SdpCodec;

    fn negotiated(codec: SdpCodec) -> NegotiatedCodec {
        NegotiatedCodec {
            send_pt: codec.payload_type,
            recv_pt: codec.payload_type,
            rtx: None,
            codec,
        }
    }

    #[test]
    fn rtpmap_names_map_to_payload_formats_without_regard_to_case() {
        let opus = negotiated(SdpCodec::audio("OPUS", 111, 48_000, Some(2)));
        assert_eq!(format_of(&opus), Some(Format::Opus));
        let av1 = negotiated(SdpCodec::video("av1", 45, ""));
        assert_eq!(format_of(&av1), Some(Format::Av1));
        let red = negotiated(SdpCodec::video("red", 63, ""));
        assert_eq!(format_of(&red), None, "RED has no packetizer");
        assert!(mime_matches("video/AV1", &av1) && mime_matches("AV1", &av1));
        assert!(!mime_matches("video/VP8", &av1));
    }

    #[test]
    fn h264_packetization_mode_defaults_to_single_nal() {
        // RFC 6184 §8.1: packetization-mode absent means 0.
        assert_eq!(h264_mode("profile-level-id=42e01f"), H264Mode::SingleNal);
        assert_eq!(h264_mode("packetization-mode=0"), H264Mode::SingleNal);
        assert_eq!(
            h264_mode("level-asymmetry-allowed=1; packetization-mode=1"),
            H264Mode::NonInterleaved
        );
    }
}
