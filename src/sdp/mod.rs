//! SDP: a total parser and a writer for session descriptions, with typed WebRTC attributes.
//!
//! # What this layer does
//!
//! - [`SessionDescription::parse`] turns the text of an offer or answer into a typed
//!   [`SessionDescription`]: session fields, a list of [`MediaDescription`]s (m-sections), and
//!   at both levels an ordered list of [`Attribute`]s. Parsing is total and bounded: any input
//!   gives a value or an [`Error`] carrying the line number and an [`ErrorKind`], never a panic,
//!   and inputs past the [limits](MAX_SDP_LEN) are refused before they cost memory.
//! - `Display` (and so `to_string()`) writes the description back as CRLF-terminated SDP in the
//!   canonical order of RFC 8866 §5. Every typed attribute writes back as it was read, and
//!   attributes this layer does not know are kept as [`Attribute::Unknown`], in place, so what
//!   Chromium, Firefox, aiortc and Pion send survives a parse and a write byte for byte (the
//!   exceptions are whitespace normalizations, listed below).
//! - Getters answer the questions a PeerConnection asks of a remote description before
//!   applying it: [`SessionDescription::bundle_group`], [`MediaDescription::mid`],
//!   [`MediaDescription::ice_credentials`], fingerprints, setup role, direction (with the
//!   session-level fallback of RFC 8866 §6.7 in [`SessionDescription::direction_for`]), codecs,
//!   candidates, SCTP parameters.
//!
//! This is the data model only: the JSEP rules (RFC 8829) that decide what an answer must say
//! live in `peer/`. The model already covers audio and video m-sections (rtpmap, fmtp,
//! rtcp-fb, extmap, ssrc, rid, simulcast) although this release negotiates data only.
//!
//! RFCs: 8866 (SDP), 8829 (JSEP, for which attributes matter), 8839 (`candidate`,
//! `ice-ufrag`, `ice-pwd`, `ice-options`, `ice-lite`, `end-of-candidates`; candidate values are
//! kept as text for the ICE layer's own parser), 8122 (`fingerprint`), 4145 (`setup`),
//! 5888 (`group`), 8841 and 8864 (`sctp-port`, `max-message-size`; the older `sctpmap` too),
//! 8851 (`rid`), 8853 (`simulcast`), 8285 (`extmap`, `extmap-allow-mixed`), 5576 (`ssrc`,
//! `ssrc-group`), 4585 (`rtcp-fb`), 5761 and 8858 (`rtcp-mux`, `rtcp-mux-only`), 5506
//! (`rtcp-rsize`), 3605 (`rtcp`), 8830 (`msid`; `msid-semantic` from its drafts, which browsers
//! still send).
//!
//! # Choices where real SDPs and the RFC disagree
//!
//! - Lines end in CRLF or a bare LF; empty lines are skipped. The writer always uses CRLF.
//! - Session-level lines may come in any order after `v=` (RFC 8866 fixes one); the writer
//!   puts them in the RFC's order. Single-valued lines (`o=`, `s=`, `i=`, `u=`, `c=`, `z=`,
//!   `k=`) may not repeat, and `r=` must follow a `t=`. A `t=` line is required, as is `o=`
//!   and `s=`.
//! - A line type letter this layer does not know is an error, as RFC 8866 §5 requires.
//! - Lists of tokens (m= formats, group mids, ...) may be separated by several spaces, and a
//!   typed attribute may carry trailing whitespace (Pion writes `a=rtcp-fb:96 nack `); the
//!   writer uses single spaces and no trailing whitespace. Free text (`s=`, `i=`, unknown
//!   attribute values, candidate values) is kept exactly.
//! - A known attribute with a malformed value is an error, not an unknown attribute: a
//!   description with a broken fingerprint or port should be refused, not half-applied.
//! - `a=msid-semantic: WMS` (Chromium, with a space after the colon) and
//!   `a=msid-semantic:WMS *` (aiortc, Firefox) both parse; [`MsidSemantic`] remembers the space
//!   so each writes back as it came.
//! - Fingerprints are written in upper-case hex as RFC 8122 §5 requires, whatever case came in.
//! - `a=simulcast` writes `send` before `recv` whatever order it came in.
//!
//! # Example
//!
//! ```
//! use kaon::sdp::{Attribute, Direction, SessionDescription, Setup};
//!
//! let offer = "v=0\r\n\
//!     o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
//!     s=-\r\n\
//!     t=0 0\r\n\
//!     a=group:BUNDLE 0\r\n\
//!     m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
//!     c=IN IP4 0.0.0.0\r\n\
//!     a=ice-ufrag:x9Kd\r\n\
//!     a=ice-pwd:p5Ty7y0mPlQ8Xw2JqVb3hHcZ\r\n\
//!     a=fingerprint:sha-256 0C:DD:7B:E1:2D:31:F3:3E:7C:7F:1F:76:25:06:99:BF:07:25:5E:69:55:07:BA:46:7B:FD:CB:05:24:57:21:97\r\n\
//!     a=setup:actpass\r\n\
//!     a=mid:0\r\n\
//!     a=sctp-port:5000\r\n\
//!     a=max-message-size:262144\r\n\
//!     a=x-vendor-thing:kept\r\n";
//!
//! let sdp = SessionDescription::parse(offer)?;
//! assert_eq!(sdp.bundle_group(), Some(&["0".to_string()][..]));
//! let data = &sdp.media[0];
//! assert!(data.is_data_channel());
//! assert_eq!(data.mid(), Some("0"));
//! assert_eq!(data.ice_credentials().map(|c| c.ufrag), Some("x9Kd"));
//! assert_eq!(data.setup(), Some(Setup::ActPass));
//! assert_eq!(data.fingerprints().next().map(|f| f.value.len()), Some(32));
//! assert_eq!((data.sctp_port(), data.max_message_size()), (Some(5000), Some(262144)));
//! assert_eq!(sdp.direction_for(data), Direction::SendRecv); // the default
//!
//! // A remote offer can be refused before it is applied...
//! if data.protocol != "UDP/DTLS/SCTP" {
//!     return Err("not a data channel offer".into());
//! }
//! // ...and what we do not understand is kept and written back.
//! assert!(matches!(data.attributes.last(), Some(Attribute::Unknown { .. })));
//! assert_eq!(sdp.to_string(), offer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attribute;
mod media;
mod parse;
mod rtp;
mod session;
mod simulcast;
mod values;
mod write;

pub use attribute::Attribute;
pub use media::{MediaDescription, MediaKind};
pub use rtp::{Extmap, Fmtp, RtcpFb, Rtpmap, Ssrc, SsrcGroup};
pub use session::{Bandwidth, Connection, IceCredentials, Origin, SessionDescription, Timing};
pub use simulcast::{Rid, Simulcast, SimulcastRid, SimulcastStream};
pub use values::{Direction, Fingerprint, MsidSemantic, RidDirection, Rtcp, Sctpmap, Setup};

/// Inputs longer than this many bytes are refused ([`ErrorKind::TooLong`]). A Chromium offer
/// with a hundred video transceivers is about 400 KB.
pub const MAX_SDP_LEN: usize = 1 << 20;
/// Lines longer than this many bytes are refused ([`ErrorKind::LineTooLong`]). A BUNDLE group
/// of a thousand mids fits in 4 KB.
pub const MAX_LINE_LEN: usize = 16 * 1024;
/// More lines than this are refused ([`ErrorKind::TooManyLines`]).
pub const MAX_LINES: usize = 32 * 1024;
/// More m-sections than this are refused ([`ErrorKind::TooManyMedia`]).
pub const MAX_MEDIA: usize = 1024;
/// More attributes than this at one level (the session, or one m-section) are refused
/// ([`ErrorKind::TooManyAttributes`]). Chromium's video section has about 120.
pub const MAX_ATTRIBUTES: usize = 4096;

/// Why a session description could not be parsed, with the line (counted from 1) where it went
/// wrong. A required line that is missing reports the line after the last one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {kind}")]
pub struct Error {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong there.
    pub kind: ErrorKind,
}

/// What is wrong with a session description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is longer than [`MAX_SDP_LEN`].
    #[error("description longer than {MAX_SDP_LEN} bytes")]
    TooLong,
    /// A line is longer than [`MAX_LINE_LEN`].
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
    /// More lines than [`MAX_LINES`].
    #[error("more than {MAX_LINES} lines")]
    TooManyLines,
    /// More m-sections than [`MAX_MEDIA`].
    #[error("more than {MAX_MEDIA} media sections")]
    TooManyMedia,
    /// More attributes at one level than [`MAX_ATTRIBUTES`].
    #[error("more than {MAX_ATTRIBUTES} attributes in one section")]
    TooManyAttributes,
    /// The first line is not `v=` (RFC 8866 §5).
    #[error("description does not start with v=")]
    MissingVersion,
    /// `v=` is not `0`.
    #[error("unsupported version {0:?}")]
    UnsupportedVersion(String),
    /// A line is not `<letter>=<value>`.
    #[error("not a <type>=<value> line")]
    MalformedLine,
    /// A line type letter RFC 8866 does not define (§5: such a description must be ignored).
    #[error("unknown line type {0:?}")]
    UnknownLineType(char),
    /// A line type that cannot appear where it does (an `s=` inside an m-section, an `r=`
    /// before any `t=`, a second `v=`).
    #[error("{0}= is not allowed here")]
    Misplaced(char),
    /// A line that may appear once at its level appears again.
    #[error("duplicate {0}= line")]
    Duplicate(char),
    /// A required line (`o=`, `s=`, `t=`) is missing.
    #[error("missing {0}= line")]
    Missing(char),
    /// The `o=` line is malformed.
    #[error("malformed origin (o=)")]
    BadOrigin,
    /// A `c=` line (or the address in `a=rtcp`) is malformed.
    #[error("malformed connection data (c=)")]
    BadConnection,
    /// A `b=` line is malformed.
    #[error("malformed bandwidth (b=)")]
    BadBandwidth,
    /// A `t=` line is malformed.
    #[error("malformed timing (t=)")]
    BadTiming,
    /// An `m=` line is malformed.
    #[error("malformed media line (m=): {0}")]
    BadMedia(&'static str),
    /// An attribute line has an empty name or characters RFC 8866 §9 does not allow in one.
    #[error("malformed attribute name")]
    BadAttributeName,
    /// A known attribute has a value this layer cannot read.
    #[error("malformed a={name}: {reason}")]
    BadAttribute {
        /// The attribute name.
        name: String,
        /// What is wrong with its value.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn new(line: usize, kind: ErrorKind) -> Self {
        Self { line, kind }
    }
}
