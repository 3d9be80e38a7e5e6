//! RTCP packets (RFC 3550 §6) and the compound packets that carry them.
//!
//! Every packet type is an owned struct parsed whole: `parse(&[u8])` takes exactly one packet
//! (header included), `write(&self, buf)` writes one and returns its length, `len()` says how
//! many bytes that is. [`RtcpPacket`] is the sum of them, with unknown packet types and
//! feedback formats kept as [`RawPacket`]. [`Compound`] walks a compound packet;
//! [`check_compound`] applies RFC 3550 Appendix A.2's validity checks, relaxed for
//! reduced-size RTCP (RFC 5506 §3.1) where a single non-SR/RR packet is legal.
//!
//! ```
//! use kaon::rtp::rtcp::{Compound, Nack, Pli, RtcpPacket, write_compound};
//! let packets = [
//!     RtcpPacket::Pli(Pli { sender_ssrc: 1, media_ssrc: 2 }),
//!     RtcpPacket::Nack(Nack::from_lost(1, 2, [10, 11, 13])),
//! ];
//! let mut buf = [0u8; 64];
//! let n = write_compound(&packets, &mut buf)?;
//! let parsed: Vec<_> = Compound::new(&buf[..n]).packets().collect::<Result<_, _>>()?;
//! assert_eq!(parsed, packets);
//! # Ok::<(), kaon::rtp::Error>(())
//! ```

mod ccfb;
mod feedback;
mod report;
mod sdes;
mod twcc;
mod xr;

pub use ccfb::{
    ATO_OVER_RANGE, ATO_UNAVAILABLE, CcfbArrival, CcfbBlock, CongestionControlFeedback,
};
pub use feedback::{Fir, FirEntry, Nack, NackPair, Pli, Remb};
pub use report::{ReceiverReport, ReportBlock, SenderReport};
pub use sdes::{App, Bye, Sdes, SdesChunk, SdesItem, SdesType};
pub use twcc::{
    DELTA_TICK_US, PacketChunk, REFERENCE_TICK_US, ReferenceTimeUnwrapper, TransportCc, TwccBuilder,
};
pub use xr::{DlrrItem, ExtendedReport, XrBlock};

use super::Error;
use crate::wire::Writer;

/// RFC 3550 §6.4.1: the common header is 4 bytes (V, P, count, PT, length).
pub const HEADER_LEN: usize = 4;
/// RFC 3550 §6.4.1: the count field (RC, SC or FMT) is 5 bits.
pub const MAX_COUNT: usize = 31;

/// The RTCP packet type (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// 200, SR.
    SenderReport,
    /// 201, RR.
    ReceiverReport,
    /// 202, SDES.
    SourceDescription,
    /// 203, BYE.
    Goodbye,
    /// 204, APP.
    ApplicationDefined,
    /// 205, RTPFB: transport-layer feedback (RFC 4585).
    TransportFeedback,
    /// 206, PSFB: payload-specific feedback (RFC 4585).
    PayloadFeedback,
    /// 207, XR (RFC 3611).
    ExtendedReport,
    /// Any other value.
    Unknown(u8),
}

impl PacketType {
    /// The type for a wire value.
    pub fn from_u8(v: u8) -> Self {
        match v {
            200 => Self::SenderReport,
            201 => Self::ReceiverReport,
            202 => Self::SourceDescription,
            203 => Self::Goodbye,
            204 => Self::ApplicationDefined,
            205 => Self::TransportFeedback,
            206 => Self::PayloadFeedback,
            207 => Self::ExtendedReport,
            v => Self::Unknown(v),
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::SenderReport => 200,
            Self::ReceiverReport => 201,
            Self::SourceDescription => 202,
            Self::Goodbye => 203,
            Self::ApplicationDefined => 204,
            Self::TransportFeedback => 205,
            Self::PayloadFeedback => 206,
            Self::ExtendedReport => 207,
            Self::Unknown(v) => v,
        }
    }
}

pub(crate) const PT_SR: u8 = 200;
pub(crate) const PT_RR: u8 = 201;
pub(crate) const PT_SDES: u8 = 202;
pub(crate) const PT_BYE: u8 = 203;
pub(crate) const PT_APP: u8 = 204;
pub(crate) const PT_RTPFB: u8 = 205;
pub(crate) const PT_PSFB: u8 = 206;
pub(crate) const PT_XR: u8 = 207;
/// RFC 4585 §6.2.1: generic NACK.
pub(crate) const FMT_NACK: u8 = 1;
/// RFC 8888 §3.1: congestion control feedback.
pub(crate) const FMT_CCFB: u8 = 11;
/// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.
pub(crate) const FMT_TWCC: u8 = 15;
/// RFC 4585 §6.3.1: picture loss indication.
pub(crate) const FMT_PLI: u8 = 1;
/// RFC 5104 §4.3.1: full intra request.
pub(crate) const FMT_FIR: u8 = 4;
/// RFC 4585 §6.4: application layer feedback (REMB rides on it).
pub(crate) const FMT_AFB: u8 = 15;

/// The common header fields of one RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The P bit.
    pub padding: bool,
    /// The 5-bit count (RC, SC, subtype or FMT, by type).
    pub count: u8,
    /// The packet type.
    pub packet_type: PacketType,
    /// The whole packet's length in bytes (the length field is in words minus one).
    pub len: usize,
}

impl Header {
    /// Reads the header at the start of `buf` and checks the packet fits in it.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::TooShort);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(Error::BadVersion(version));
        }
        // RFC 3550 §6.4.1: the length is in 32-bit words minus one, header included.
        let len = 4 * (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1);
        if len > buf.len() {
            return Err(Error::TooShort);
        }
        Ok(Self {
            padding: buf[0] & 0x20 != 0,
            count: buf[0] & 0x1f,
            packet_type: PacketType::from_u8(buf[1]),
            len,
        })
    }
}

/// One packet split into its header and its body (after the header, padding removed).
pub(crate) struct Split<'a> {
    pub(crate) count: u8,
    pub(crate) pt: u8,
    pub(crate) body: &'a [u8],
}

/// Splits `buf`, which must be exactly one packet.
pub(crate) fn split(buf: &[u8]) -> Result<Split<'_>, Error> {
    let h = Header::parse(buf)?;
    if h.len != buf.len() {
        return Err(Error::BadLength);
    }
    let mut end = h.len;
    if h.padding {
        // RFC 3550 §6.4.1: the last octet of the padding counts the padding octets,
        // itself included.
        let pad = usize::from(buf[h.len - 1]);
        if pad == 0 || pad > h.len - HEADER_LEN {
            return Err(Error::BadPadding);
        }
        end -= pad;
    }
    Ok(Split {
        count: h.count,
        pt: h.packet_type.to_u8(),
        body: &buf[HEADER_LEN..end],
    })
}

pub(crate) fn expect(split: &Split<'_>, pt: u8, fmt: Option<u8>) -> Result<(), Error> {
    if split.pt != pt || fmt.is_some_and(|f| f != split.count) {
        return Err(Error::Malformed("RTCP packet of another type"));
    }
    Ok(())
}

/// The body of an RTCP packet type: what the shared framing needs to write it.
pub(crate) trait Body {
    /// The packet type and the 5-bit count field.
    fn pt_count(&self) -> Result<(u8, u8), Error>;
    /// Bytes of body, before padding.
    fn body_len(&self) -> usize;
    /// Writes exactly `body_len` bytes.
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error>;
}

pub(crate) fn packet_len(body_len: usize) -> usize {
    (HEADER_LEN + body_len).next_multiple_of(4)
}

/// Writes a packet: the common header, the body, and P-bit padding up to a 32-bit boundary
/// when the body is not a whole number of words (RFC 3550 §6.4.1).
pub(crate) fn write_packet(body: &impl Body, buf: &mut [u8]) -> Result<usize, Error> {
    let (pt, count) = body.pt_count()?;
    if usize::from(count) > MAX_COUNT {
        return Err(Error::TooLarge("RTCP count field"));
    }
    let body_len = body.body_len();
    let total = packet_len(body_len);
    let words = u16::try_from(total / 4 - 1).map_err(|_| Error::TooLarge("RTCP packet"))?;
    if buf.len() < total {
        return Err(Error::BufferTooSmall { needed: total });
    }
    let pad = total - HEADER_LEN - body_len;
    let mut w = Writer::new(&mut buf[..total]);
    w.u8(0x80 | if pad > 0 { 0x20 } else { 0 } | count)?;
    w.u8(pt)?;
    w.u16(words)?;
    body.write_body(&mut w)?;
    if w.position() != HEADER_LEN + body_len {
        return Err(Error::BadLength);
    }
    if pad > 0 {
        w.zeros(pad - 1)?;
        w.u8(pad as u8)?;
    }
    Ok(total)
}

macro_rules! wire_methods {
    ($t:ty) => {
        impl $t {
            /// Bytes the packet takes, header and padding included.
            pub fn len(&self) -> usize {
                $crate::rtp::rtcp::packet_len($crate::rtp::rtcp::Body::body_len(self))
            }

            /// Whether the packet is empty (never: the header alone is 4 bytes).
            pub fn is_empty(&self) -> bool {
                false
            }

            /// Writes the packet at the start of `buf` and returns its length.
            pub fn write(&self, buf: &mut [u8]) -> Result<usize, $crate::rtp::Error> {
                $crate::rtp::rtcp::write_packet(self, buf)
            }
        }
    };
}
pub(crate) use wire_methods;

/// A packet of a type or feedback format this layer does not interpret, kept whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawPacket {
    /// The packet type.
    pub packet_type: PacketType,
    /// The 5-bit count field.
    pub count: u8,
    /// The body after the 4-byte header, padding removed.
    pub body: Vec<u8>,
}

impl RawPacket {
    /// Reads one packet as raw bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        Ok(Self {
            packet_type: PacketType::from_u8(s.pt),
            count: s.count,
            body: s.body.to_vec(),
        })
    }
}

impl Body for RawPacket {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        Ok((self.packet_type.to_u8(), self.count))
    }
    fn body_len(&self) -> usize {
        self.body.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        Ok(w.bytes(&self.body)?)
    }
}
wire_methods!(RawPacket);

/// Any RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// SR (RFC 3550 §6.4.1).
    SenderReport(SenderReport),
    /// RR (RFC 3550 §6.4.2).
    ReceiverReport(ReceiverReport),
    /// SDES (RFC 3550 §6.5).
    Sdes(Sdes),
    /// BYE (RFC 3550 §6.6).
    Bye(Bye),
    /// APP (RFC 3550 §6.7).
    App(App),
    /// Generic NACK (RFC 4585 §6.2.1).
    Nack(Nack),
    /// Picture loss indication (RFC 4585 §6.3.1).
    Pli(Pli),
    /// Full intra request (RFC 5104 §4.3.1).
    Fir(Fir),
    /// Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb).
    Remb(Remb),
    /// Transport-wide congestion control feedback (the TWCC draft §3.1).
    TransportCc(TransportCc),
    /// RFC 8888 congestion control feedback.
    CongestionControl(CongestionControlFeedback),
    /// Extended report (RFC 3611).
    ExtendedReport(ExtendedReport),
    /// Anything else, kept raw.
    Raw(RawPacket),
}

impl RtcpPacket {
    /// Reads one packet (exactly `buf`).
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        Ok(match (s.pt, s.count) {
            (PT_SR, _) => Self::SenderReport(SenderReport::parse(buf)?),
            (PT_RR, _) => Self::ReceiverReport(ReceiverReport::parse(buf)?),
            (PT_SDES, _) => Self::Sdes(Sdes::parse(buf)?),
            (PT_BYE, _) => Self::Bye(Bye::parse(buf)?),
            (PT_APP, _) => Self::App(App::parse(buf)?),
            (PT_RTPFB, FMT_NACK) => Self::Nack(Nack::parse(buf)?),
            (PT_RTPFB, FMT_CCFB) => Self::CongestionControl(CongestionControlFeedback::parse(buf)?),
            (PT_RTPFB, FMT_TWCC) => Self::TransportCc(TransportCc::parse(buf)?),
            (PT_PSFB, FMT_PLI) => Self::Pli(Pli::parse(buf)?),
            (PT_PSFB, FMT_FIR) => Self::Fir(Fir::parse(buf)?),
            (PT_PSFB, FMT_AFB) if Remb::is_remb(s.body) => Self::Remb(Remb::parse(buf)?),
            (PT_XR, _) => Self::ExtendedReport(ExtendedReport::parse(buf)?),
            _ => Self::Raw(RawPacket::parse(buf)?),
        })
    }

    fn body(&self) -> &dyn DynBody {
        match self {
            Self::SenderReport(p) => p,
            Self::ReceiverReport(p) => p,
            Self::Sdes(p) => p,
            Self::Bye(p) => p,
            Self::App(p) => p,
            Self::Nack(p) => p,
            Self::Pli(p) => p,
            Self::Fir(p) => p,
            Self::Remb(p) => p,
            Self::TransportCc(p) => p,
            Self::CongestionControl(p) => p,
            Self::ExtendedReport(p) => p,
            Self::Raw(p) => p,
        }
    }

    /// Bytes the packet takes.
    pub fn len(&self) -> usize {
        self.body().dyn_len()
    }

    /// Whether the packet is empty (never).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the packet at the start of `buf` and returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.body().dyn_write(buf)
    }
}

trait DynBody {
    fn dyn_len(&self) -> usize;
    fn dyn_write(&self, buf: &mut [u8]) -> Result<usize, Error>;
}

impl<B: Body> DynBody for B {
    fn dyn_len(&self) -> usize {
        packet_len(self.body_len())
    }
    fn dyn_write(&self, buf: &mut [u8]) -> Result<usize, Error> {
        write_packet(self, buf)
    }
}

/// Writes `packets` back to back as one compound packet; returns the bytes written.
pub fn write_compound(packets: &[RtcpPacket], buf: &mut [u8]) -> Result<usize, Error> {
    let needed: usize = packets.iter().map(RtcpPacket::len).sum();
    if buf.len() < needed {
        return Err(Error::BufferTooSmall { needed });
    }
    let mut at = 0;
    for p in packets {
        at += p.write(&mut buf[at..])?;
    }
    Ok(at)
}

/// Walks the packets of a compound RTCP packet. Framing errors (a bad version, a length past
/// the end) end the walk after yielding the error; a packet whose body is malformed does not
/// stop [`packets`](Self::packets), as its length is still known.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Compound<'a> {
    /// A walk over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Each packet parsed.
    pub fn packets(self) -> impl Iterator<Item = Result<RtcpPacket, Error>> + 'a {
        self.map(|p| p.and_then(RtcpPacket::parse))
    }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<&'a [u8], Error>;

    /// The bytes of the next packet.
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        match Header::parse(rest) {
            Ok(h) => {
                self.pos += h.len;
                Some(Ok(&rest[..h.len]))
            }
            Err(e) => {
                self.pos = self.buf.len();
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Compound<'_> {}

/// What kind of RTCP datagram [`check_compound`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompoundKind {
    /// A full compound packet: it starts with an SR or RR (RFC 3550 §6.1).
    Full,
    /// A reduced-size packet (RFC 5506 §3.1): it does not start with an SR or RR.
    ReducedSize,
}

/// RFC 3550 Appendix A.2's header validity checks over a whole datagram: every packet is
/// version 2, the lengths add up to the datagram, only the last packet may be padded, and a
/// compound packet starts with an SR or RR. RFC 5506 §3.1 allows a datagram that does not
/// start with one (say a lone PLI); it is reported as [`CompoundKind::ReducedSize`].
pub fn check_compound(buf: &[u8]) -> Result<CompoundKind, Error> {
    let first = Header::parse(buf)?;
    let mut pos = 0;
    while pos < buf.len() {
        let h = Header::parse(&buf[pos..])?;
        pos += h.len;
        // RFC 3550 §6.4.1: padding may be needed only in the last individual packet.
        if h.padding && pos != buf.len() {
            return Err(Error::BadPadding);
        }
    }
    Ok(match first.packet_type {
        PacketType::SenderReport | PacketType::ReceiverReport => CompoundKind::Full,
        _ => CompoundKind::ReducedSize,
    })
}
