//! RTP payload formats: frames to payloads and back, without the RTP header.
//!
//! - Opus (RFC 7587: one Opus packet per RTP payload), G.711 PCMU/PCMA and G.722 (RFC 3551: a
//!   frame of samples split at sample boundaries to fit the MTU).
//! - VP8 (RFC 7741), VP9 (RFC 9628), H.264 (RFC 6184, packetization modes 0 and 1), H.265
//!   (RFC 7798) and AV1 (the AOMedia "RTP Payload Format for AV1", v1.0).
//!
//! A [`Packetizer`] turns one frame into payloads written one at a time into the caller's
//! buffer; it does not allocate per packet. A [`Depacketizer`] takes the payloads of a frame in
//! sequence order (with their sequence number, timestamp and marker as plain arguments) and
//! appends the frame's bytes to the caller's buffer. Video frames are in the form decoders and
//! files use: Annex B for H.264/H.265, low-overhead OBUs with size fields (starting with a
//! temporal delimiter) for AV1, the bare bitstream for VP8 and VP9.
//!
//! [`is_keyframe`] and [`is_frame_start`] look at a single payload; [`frame_info`] reads a whole
//! frame and, for a keyframe, its width and height from the bitstream (VP8 frame header, VP9
//! uncompressed header, H.264 and H.265 SPS with cropping, AV1 sequence header).
//!
//! ```
//! use kaon::media::codec::{Codec, Depacketizer, PacketInfo, Packetizer, PacketizerConfig};
//! let frame = vec![0x10u8; 3000]; // a VP8 interframe, say
//! let mut packetizer = Packetizer::new(Codec::Vp8, PacketizerConfig::default());
//! let mut depacketizer = Depacketizer::new(Codec::Vp8);
//! let mut payloads = packetizer.packetize(&frame, 1200)?;
//! let (mut buf, mut out, mut seq) = ([0u8; 1200], Vec::new(), 7u16);
//! while let Some(p) = payloads.next_payload(&mut buf) {
//!     let p = p?;
//!     let info = PacketInfo { seq, timestamp: 90_000, marker: p.marker };
//!     depacketizer.push(&buf[..p.len], info, &mut out)?;
//!     seq = seq.wrapping_add(1);
//! }
//! assert_eq!(out, frame);
//! # Ok::<(), kaon::media::codec::CodecError>(())
//! ```

mod audio;
mod av1;
pub(crate) mod bits;
mod h264;
mod h265;
mod h26x;
pub mod nal;
mod vp8;
mod vp9;

pub use av1::AggregationHeader as Av1AggregationHeader;
pub use nal::nal_units;
pub use vp8::{Descriptor as Vp8Descriptor, PictureId};
pub use vp9::{
    Descriptor as Vp9Descriptor, Layer as Vp9Layer, PictureGroup as Vp9PictureGroup,
    ScalabilityStructure as Vp9ScalabilityStructure,
};

use bytes::BufMut;

/// A payload format kaon can packetize and depacketize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus, RFC 7587 (48 kHz RTP clock).
    Opus,
    /// G.711 µ-law, RFC 3551 (8 kHz).
    Pcmu,
    /// G.711 A-law, RFC 3551 (8 kHz).
    Pcma,
    /// G.722, RFC 3551 (8 kHz RTP clock, although it samples at 16 kHz).
    G722,
    /// VP8, RFC 7741.
    Vp8,
    /// VP9, RFC 9628.
    Vp9,
    /// H.264, RFC 6184.
    H264,
    /// H.265, RFC 7798.
    H265,
    /// AV1, the AOMedia RTP payload format.
    Av1,
}

impl Codec {
    /// Every codec, for tests and tables.
    pub const ALL: [Codec; 9] = [
        Codec::Opus,
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::Vp8,
        Codec::Vp9,
        Codec::H264,
        Codec::H265,
        Codec::Av1,
    ];

    /// Whether this is a video codec (frames depend on earlier frames, keyframes matter).
    pub fn is_video(self) -> bool {
        !matches!(self, Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722)
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8_000,
            _ => 90_000,
        }
    }
}

/// What can go wrong packetizing or depacketizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The MTU leaves no room for even one byte of media after the payload header.
    #[error("MTU {0} is too small for this payload format")]
    MtuTooSmall(usize),
    /// A unit that must go whole in one packet (an Opus packet, a NAL unit in H.264
    /// packetization mode 0) does not fit the MTU.
    #[error("a {len}-byte unit does not fit the {mtu}-byte MTU and this mode cannot fragment it")]
    TooLarge {
        /// Size of the unit.
        len: usize,
        /// The MTU.
        mtu: usize,
    },
    /// The frame is empty or has no unit to send (for example Annex B without a NAL unit).
    #[error("empty frame")]
    EmptyFrame,
    /// The payload ended inside a header or a length-prefixed unit.
    #[error("payload truncated")]
    Truncated,
    /// A payload header field holds a value this format forbids.
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
    /// A packet type this implementation does not take (e.g. H.264 STAP-B, MTAP, FU-B, which
    /// need the interleaved mode).
    #[error("unsupported packet type {0}")]
    Unsupported(u8),
    /// A continuation (FU, AV1 Z=1, VP8 middle of a partition) arrived without its start, or a
    /// sequence number is missing inside a fragmented unit: the frame cannot be rebuilt.
    #[error("fragment without its start, or a gap inside a fragmented unit")]
    MissingFragment,
}

/// H.264 packetization mode (RFC 6184 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum H264Mode {
    /// Mode 0: single NAL unit packets only.
    SingleNal,
    /// Mode 1 (non-interleaved): single NAL, STAP-A and FU-A.
    #[default]
    NonInterleaved,
}

/// Packetizer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketizerConfig {
    /// H.264 packetization mode.
    pub h264_mode: H264Mode,
    /// VP9: use flexible mode (reference indices in every packet) instead of non-flexible mode.
    pub vp9_flexible: bool,
    /// First VP8/VP9 picture ID (15 bits are used); draw it from `kaon::Rng` for a real stream.
    pub initial_picture_id: u16,
}

impl Default for PacketizerConfig {
    fn default() -> Self {
        Self {
            h264_mode: H264Mode::NonInterleaved,
            vp9_flexible: false,
            initial_picture_id: 0,
        }
    }
}

/// One payload written by [`Payloads::next_payload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// The RTP marker bit: set on the last packet of a video frame.
    pub marker: bool,
    /// Add this to the frame's RTP timestamp (non-zero only for G.711/G.722 frames split in
    /// several packets: each part is stamped with its first sample).
    pub timestamp_offset: u32,
}

/// Turns frames into RTP payloads. Keeps what lasts across frames: picture IDs, H.264 and H.265
/// parameter sets (resent ahead of keyframes that do not carry them).
#[derive(Debug, Clone)]
pub struct Packetizer {
    codec: Codec,
    state: PackState,
}

#[derive(Debug, Clone)]
enum PackState {
    Audio,
    Vp8(vp8::Packer),
    Vp9(vp9::Packer),
    H264(h26x::Packer),
    H265(h26x::Packer),
    Av1,
}

impl Packetizer {
    /// A packetizer for `codec`.
    pub fn new(codec: Codec, config: PacketizerConfig) -> Self {
        let state = match codec {
            Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722 => PackState::Audio,
            Codec::Vp8 => PackState::Vp8(vp8::Packer::new(config.initial_picture_id)),
            Codec::Vp9 => PackState::Vp9(vp9::Packer::new(
                config.initial_picture_id,
                config.vp9_flexible,
            )),
            Codec::H264 => PackState::H264(h26x::Packer::new(h26x::Flavor::H264, config.h264_mode)),
            Codec::H265 => PackState::H265(h26x::Packer::new(
                h26x::Flavor::H265,
                H264Mode::NonInterleaved,
            )),
            Codec::Av1 => PackState::Av1,
        };
        Self { codec, state }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Starts packetizing `frame` into payloads of at most `mtu` bytes. Get them with
    /// [`Payloads::next_payload`]; the last one has the marker set (video).
    pub fn packetize<'a>(
        &'a mut self,
        frame: &'a [u8],
        mtu: usize,
    ) -> Result<Payloads<'a>, CodecError> {
        if frame.is_empty() {
            return Err(CodecError::EmptyFrame);
        }
        let inner = match &mut self.state {
            PackState::Audio => Inner::Audio(audio::Cursor::new(self.codec, frame, mtu)?),
            PackState::Vp8(p) => Inner::Vp8(p.start(frame, mtu)?),
            PackState::Vp9(p) => Inner::Vp9(p.start(frame, mtu)?),
            PackState::H264(p) => Inner::H264(p.start(frame, mtu)?),
            PackState::H265(p) => Inner::H265(p.start(frame, mtu)?),
            PackState::Av1 => Inner::Av1(av1::Cursor::new(frame, mtu)?),
        };
        Ok(Payloads { inner })
    }
}

/// The payloads of one frame, produced one at a time into the caller's buffer.
#[derive(Debug)]
pub struct Payloads<'a> {
    inner: Inner<'a>,
}

// The cursor lives on the caller's stack for one frame; boxing the VP9 one would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Inner<'a> {
    Audio(audio::Cursor<'a>),
    Vp8(vp8::Cursor<'a>),
    Vp9(vp9::Cursor<'a>),
    H264(h26x::Cursor<'a>),
    H265(h26x::Cursor<'a>),
    Av1(av1::Cursor<'a>),
}

impl Payloads<'_> {
    /// Writes the next payload at the start of `buf` (at most the MTU, and at most `buf.len()`;
    /// a buffer shorter than the MTU gives [`CodecError::MtuTooSmall`] if nothing fits).
    /// `None` once the frame is done; after an error the frame is abandoned.
    pub fn next_payload(&mut self, buf: &mut [u8]) -> Option<Result<Payload, CodecError>> {
        match &mut self.inner {
            Inner::Audio(c) => c.next(buf),
            Inner::Vp8(c) => c.next(buf),
            Inner::Vp9(c) => c.next(buf),
            Inner::H264(c) => c.next(buf),
            Inner::H265(c) => c.next(buf),
            Inner::Av1(c) => c.next(buf),
        }
    }
}

/// The RTP header fields a depacketizer needs, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP marker bit.
    pub marker: bool,
}

/// Rebuilds frames from payloads fed in sequence order.
#[derive(Debug, Clone)]
pub struct Depacketizer {
    codec: Codec,
    last: Option<(u16, u32)>,
    state: DepackState,
}

#[derive(Debug, Clone)]
enum DepackState {
    Plain,
    Vp8(vp8::Depacker),
    Vp9(vp9::Depacker),
    H264(h26x::Depacker),
    H265(h26x::Depacker),
    Av1(av1::Depacker),
}

impl Depacketizer {
    /// A depacketizer for `codec`.
    pub fn new(codec: Codec) -> Self {
        let state = match codec {
            Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722 => DepackState::Plain,
            Codec::Vp8 => DepackState::Vp8(vp8::Depacker::default()),
            Codec::Vp9 => DepackState::Vp9(vp9::Depacker::default()),
            Codec::H264 => DepackState::H264(h26x::Depacker::new(h26x::Flavor::H264)),
            Codec::H265 => DepackState::H265(h26x::Depacker::new(h26x::Flavor::H265)),
            Codec::Av1 => DepackState::Av1(av1::Depacker::default()),
        };
        Self {
            codec,
            last: None,
            state,
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Forgets any partial unit (call after giving up on a frame).
    pub fn reset(&mut self) {
        *self = Self::new(self.codec);
    }

    /// Appends the media in `payload` to `out`. A new RTP timestamp starts a new frame; a
    /// sequence gap inside a fragmented unit is an error ([`CodecError::MissingFragment`]).
    /// On error, what this payload appended is unspecified: drop the frame.
    pub fn push<B: BufMut>(
        &mut self,
        payload: &[u8],
        info: PacketInfo,
        out: &mut B,
    ) -> Result<(), CodecError> {
        let (new_frame, gap) = match self.last {
            None => (true, false),
            Some((seq, ts)) => (ts != info.timestamp, seq.wrapping_add(1) != info.seq),
        };
        self.last = Some((info.seq, info.timestamp));
        match &mut self.state {
            DepackState::Plain => {
                out.put_slice(payload);
                Ok(())
            }
            DepackState::Vp8(d) => d.push(payload, new_frame, gap, out),
            DepackState::Vp9(d) => d.push(payload, new_frame, gap, out),
            DepackState::H264(d) => d.push(payload, new_frame, gap, out),
            DepackState::H265(d) => d.push(payload, new_frame, gap, out),
            DepackState::Av1(d) => d.push(payload, new_frame, gap, out),
        }
    }
}

/// Whether `payload` starts (or is part of, for fragmented units) a keyframe: VP8 S=1 with a key
/// frame tag, VP9 B=1 and P=0, an H.264 IDR or SPS, an H.265 IRAP or VPS/SPS, AV1 N=1. Audio
/// frames are all "keyframes": nothing depends on them.
pub fn is_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722 => true,
        Codec::Vp8 => vp8::payload_is_keyframe(payload),
        Codec::Vp9 => vp9::payload_is_keyframe(payload),
        Codec::H264 => h264::payload_is_keyframe(payload),
        Codec::H265 => h265::payload_is_keyframe(payload),
        Codec::Av1 => av1::payload_is_keyframe(payload),
    }
}

/// Whether `payload` is the first packet of a frame, as far as the payload format says:
/// `Some(true)`/`Some(false)` where the format has a start flag (VP8 S with PID 0, VP9 B, AV1
/// Z=0 after a packet with Y=0 cannot be known alone, so AV1 answers `None`), `None` where only
/// the RTP timestamp tells (H.264, H.265, AV1). Audio payloads are always whole frames.
pub fn is_frame_start(codec: Codec, payload: &[u8]) -> Option<bool> {
    match codec {
        Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722 => Some(true),
        Codec::Vp8 => vp8::payload_is_start(payload),
        Codec::Vp9 => vp9::payload_is_start(payload),
        Codec::H264 | Codec::H265 | Codec::Av1 => None,
    }
}

/// What the bitstream of a whole frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameInfo {
    /// A keyframe: decodable without earlier frames.
    pub keyframe: bool,
    /// Coded width and height (after cropping, for H.264/H.265), when the frame carries them.
    pub dimensions: Option<(u32, u32)>,
}

/// Reads a depacketized frame (the form [`Depacketizer`] writes and the file readers give).
pub fn frame_info(codec: Codec, frame: &[u8]) -> FrameInfo {
    match codec {
        Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722 => FrameInfo {
            keyframe: true,
            dimensions: None,
        },
        Codec::Vp8 => vp8::frame_info(frame),
        Codec::Vp9 => vp9::frame_info(frame),
        Codec::H264 => h264::frame_info(frame),
        Codec::H265 => h265::frame_info(frame),
        Codec::Av1 => av1::frame_info(frame),
    }
}

/// Free room in `buf` for a payload, given the MTU.
fn room(buf: &[u8], mtu: usize) -> usize {
    buf.len().min(mtu)
}
