//! RTP and RTCP on the wire: packet views, header extensions and control packets. Wire only:
//! no SDP, no streams, no SRTP (those live in `peer`, `media` and [`srtp`](crate::srtp)).
//!
//! - RTP (RFC 3550 §5.1): [`RtpPacket`] is a view over any buffer, checked once by
//!   [`RtpPacket::new_checked`]; getters then cannot fail, and when the buffer is mutable the
//!   setters rewrite SSRC, sequence number, payload type, timestamp, marker and extension
//!   values in place, as an SFU does. Parsing and rewriting never allocate. [`RtpBuilder`]
//!   writes a packet into a caller's buffer.
//! - Header extensions (RFC 8285): one-byte and two-byte forms ([`Extensions`],
//!   [`ExtensionForm`]), typed through an [`ExtensionMap`] the caller fills from the SDP
//!   `extmap` lines: MID and RtpStreamId (RFC 8852), abs-send-time, the transport-wide
//!   sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01), audio level
//!   (RFC 6464), video orientation (3GPP CVO) and playout delay ([`ExtensionValue`]).
//! - RTCP ([`rtcp`]): compound and reduced-size packets (RFC 3550 §6, RFC 5506); SR, RR, SDES,
//!   BYE, APP; generic NACK and PLI (RFC 4585), FIR (RFC 5104), REMB, transport-wide
//!   congestion control feedback (the TWCC draft §3.1), RFC 8888 congestion control feedback
//!   and XR (RFC 3611) RRTR/DLRR blocks. Unknown packet types and formats are kept raw.
//! - Sequence numbers compare with [`crate::wire::serial`].
//!
//! ```
//! use kaon::rtp::{ExtensionKind, ExtensionMap, RtpPacket};
//! let mut map = ExtensionMap::new();
//! map.insert(1, ExtensionKind::Mid); // from `a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid`
//! // V=2, X=1, PT 111, seq 7, ts 0, SSRC 1; one-byte block with mid "a"; payload "hi".
//! let mut buf = [0x90, 111, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1,
//!                0xbe, 0xde, 0, 1, 0x10, b'a', 0, 0, b'h', b'i'];
//! let mut pkt = RtpPacket::new_checked(&mut buf[..])?;
//! assert_eq!(pkt.mid(&map), Some("a"));
//! pkt.set_ssrc(0xcafe);                 // rewritten in place, nothing copied
//! pkt.set_sequence_number(1000);
//! assert_eq!((pkt.ssrc(), pkt.sequence_number(), pkt.payload()), (0xcafe, 1000, &b"hi"[..]));
//! # Ok::<(), kaon::rtp::Error>(())
//! ```

mod extension;
mod packet;
pub mod rtcp;
mod values;

pub use extension::{
    Extension, ExtensionForm, Extensions, ONE_BYTE_MAX_ID, ONE_BYTE_MAX_LEN, ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE, block_len,
};
pub use packet::{FIXED_HEADER_LEN, MAX_CSRCS, RtpBuilder, RtpHeader, RtpPacket, VERSION};
pub use values::{
    AbsSendTime, AudioLevel, ExtensionKind, ExtensionMap, ExtensionValue, PlayoutDelay, Rotation,
    VideoOrientation,
};

/// A malformed RTP or RTCP packet, or a value that does not fit its wire field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a field or a length it announced did.
    #[error("packet too short")]
    TooShort,
    /// RFC 3550 §5.1, §6.4.1: the version field must be 2.
    #[error("version {0}, not 2")]
    BadVersion(u8),
    /// The padding count is zero or longer than the packet.
    #[error("invalid padding")]
    BadPadding,
    /// A length field disagrees with the bytes there are.
    #[error("length field disagrees with the packet")]
    BadLength,
    /// A field holds a value its specification forbids.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The output buffer is too small.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes the write needs.
        needed: usize,
    },
    /// A value does not fit its wire field (too many items, too long, out of range).
    #[error("{0} does not fit its wire field")]
    TooLarge(&'static str),
    /// An in-place rewrite with a value of another length than the slot's.
    #[error("value is {want} bytes, its slot {have}")]
    LengthMismatch {
        /// Bytes in the packet.
        have: usize,
        /// Bytes the value takes.
        want: usize,
    },
    /// The packet has no extension element with this id.
    #[error("no extension element with id {0}")]
    NoSuchExtension(u8),
    /// The extension map has no id for the value's kind.
    #[error("extension kind not mapped to an id")]
    NotMapped,
}

impl From<crate::wire::Error> for Error {
    fn from(e: crate::wire::Error) -> Self {
        match e {
            crate::wire::Error::UnexpectedEnd { .. } => Self::TooShort,
            crate::wire::Error::BufferTooSmall { needed, .. } => Self::BufferTooSmall { needed },
        }
    }
}
