//! Chunks (RFC 9260 §3.2, RFC 3758 §3.2, RFC 6525 §3.1, RFC 8260 §2): parse from a packet
//! without copying, write into a caller's buffer.

use super::Error;
use super::param::pad4;
use crate::wire::{Reader, Writer};
use smallvec::SmallVec;

/// Chunk type codes.
pub mod kind {
    /// Payload data.
    pub const DATA: u8 = 0;
    /// Initiation.
    pub const INIT: u8 = 1;
    /// Initiation acknowledgement.
    pub const INIT_ACK: u8 = 2;
    /// Selective acknowledgement.
    pub const SACK: u8 = 3;
    /// Heartbeat request.
    pub const HEARTBEAT: u8 = 4;
    /// Heartbeat acknowledgement.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// Abort.
    pub const ABORT: u8 = 6;
    /// Shutdown.
    pub const SHUTDOWN: u8 = 7;
    /// Shutdown acknowledgement.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// Operation error.
    pub const ERROR: u8 = 9;
    /// State cookie.
    pub const COOKIE_ECHO: u8 = 10;
    /// Cookie acknowledgement.
    pub const COOKIE_ACK: u8 = 11;
    /// Shutdown complete.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
    /// Interleaved payload data (RFC 8260).
    pub const I_DATA: u8 = 64;
    /// Stream re-configuration (RFC 6525).
    pub const RECONFIG: u8 = 130;
    /// Forward cumulative TSN (RFC 3758).
    pub const FORWARD_TSN: u8 = 192;
    /// Interleaved forward TSN (RFC 8260).
    pub const I_FORWARD_TSN: u8 = 194;
}

/// DATA and I-DATA flag bits.
mod flag {
    pub const END: u8 = 0x01;
    pub const BEGIN: u8 = 0x02;
    pub const UNORDERED: u8 = 0x04;
    pub const IMMEDIATE: u8 = 0x08;
    /// ABORT and SHUTDOWN COMPLETE: the verification tag is the peer's own (reflected).
    pub const T: u8 = 0x01;
}

/// Header sizes of DATA and I-DATA chunks, before the payload.
pub const DATA_HEADER: usize = 16;
/// See [`DATA_HEADER`].
pub const I_DATA_HEADER: usize = 20;

/// A DATA (RFC 9260 §3.3.1) or I-DATA (RFC 8260 §2.1) chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    /// Transmission sequence number.
    pub tsn: u32,
    /// Stream identifier.
    pub stream: u16,
    /// DATA: the 16-bit stream sequence number. I-DATA: the 32-bit message identifier.
    pub ssn_or_mid: u32,
    /// Payload protocol identifier (I-DATA: only on the first fragment, else 0).
    pub ppid: u32,
    /// I-DATA fragment sequence number (0 on the first fragment; always 0 for DATA).
    pub fsn: u32,
    /// The U bit.
    pub unordered: bool,
    /// The B bit: first fragment.
    pub begin: bool,
    /// The E bit: last fragment.
    pub end: bool,
    /// The I bit: the receiver should acknowledge without delay (RFC 7053).
    pub immediate: bool,
    /// The user data.
    pub payload: &'a [u8],
}

impl Data<'_> {
    fn flags(&self) -> u8 {
        let mut f = 0;
        f |= if self.end { flag::END } else { 0 };
        f |= if self.begin { flag::BEGIN } else { 0 };
        f |= if self.unordered { flag::UNORDERED } else { 0 };
        f |= if self.immediate { flag::IMMEDIATE } else { 0 };
        f
    }
}

/// An INIT or INIT ACK (RFC 9260 §3.3.2, §3.3.3); parameters stay raw (see
/// [`Params`](super::param::Params)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init<'a> {
    /// The tag the peer must put in every packet it sends us.
    pub initiate_tag: u32,
    /// Advertised receiver window credit.
    pub a_rwnd: u32,
    /// Number of outbound streams.
    pub outbound_streams: u16,
    /// Maximum inbound streams.
    pub inbound_streams: u16,
    /// The first TSN the sender will use.
    pub initial_tsn: u32,
    /// The encoded parameters.
    pub params: &'a [u8],
}

/// A gap ack block: TSNs `cum_ack + start ..= cum_ack + end` were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapBlock {
    /// Offset of the first TSN of the block from the cumulative ack.
    pub start: u16,
    /// Offset of the last TSN of the block.
    pub end: u16,
}

/// Gap blocks; a SACK rarely has more than a few, so they stay inline.
pub type GapBlocks = SmallVec<[GapBlock; 8]>;
/// Duplicate TSNs reported in a SACK.
pub type DupTsns = SmallVec<[u32; 4]>;

/// A SACK (RFC 9260 §3.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sack {
    /// Cumulative TSN ack.
    pub cum_tsn: u32,
    /// Advertised receiver window credit.
    pub a_rwnd: u32,
    /// Gap ack blocks, in increasing order.
    pub gaps: GapBlocks,
    /// TSNs received more than once since the last SACK.
    pub dups: DupTsns,
}

/// One skipped stream in a FORWARD-TSN or I-FORWARD-TSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedStream {
    /// Stream identifier.
    pub stream: u16,
    /// FORWARD-TSN: the SSN. I-FORWARD-TSN: the MID.
    pub ssn_or_mid: u32,
    /// I-FORWARD-TSN only: the skipped message was unordered.
    pub unordered: bool,
}

/// A FORWARD-TSN (RFC 3758 §3.2) or I-FORWARD-TSN (RFC 8260 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTsn {
    /// The receiver should move its cumulative TSN here.
    pub new_cum_tsn: u32,
    /// Streams whose ordered messages up to an SSN (or MID) are skipped.
    pub streams: SmallVec<[SkippedStream; 4]>,
}

/// One chunk of an SCTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// DATA.
    Data(Data<'a>),
    /// I-DATA.
    IData(Data<'a>),
    /// INIT.
    Init(Init<'a>),
    /// INIT ACK.
    InitAck(Init<'a>),
    /// SACK.
    Sack(Sack),
    /// HEARTBEAT: its parameters (a Heartbeat Info).
    Heartbeat(&'a [u8]),
    /// HEARTBEAT ACK: the parameters echoed back.
    HeartbeatAck(&'a [u8]),
    /// ABORT with its error causes.
    Abort {
        /// The T bit: the verification tag is reflected.
        reflected: bool,
        /// Error causes (see [`Causes`]).
        causes: &'a [u8],
    },
    /// SHUTDOWN with the cumulative TSN ack.
    Shutdown {
        /// Cumulative TSN ack.
        cum_tsn: u32,
    },
    /// SHUTDOWN ACK.
    ShutdownAck,
    /// ERROR with its causes.
    Error(&'a [u8]),
    /// COOKIE ECHO carrying the state cookie.
    CookieEcho(&'a [u8]),
    /// COOKIE ACK.
    CookieAck,
    /// SHUTDOWN COMPLETE.
    ShutdownComplete {
        /// The T bit.
        reflected: bool,
    },
    /// FORWARD-TSN.
    ForwardTsn(ForwardTsn),
    /// I-FORWARD-TSN.
    IForwardTsn(ForwardTsn),
    /// RE-CONFIG: one or two parameters.
    Reconfig(&'a [u8]),
    /// Any other type, kept whole.
    Unknown {
        /// The chunk type.
        kind: u8,
        /// The flags byte.
        flags: u8,
        /// The value after the 4-byte header.
        value: &'a [u8],
    },
}

impl<'a> Chunk<'a> {
    /// Parses one chunk from the front of `r`, consuming its padding when present.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let kind = r.u8()?;
        let flags = r.u8()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(Error::BadLength { what: "chunk", len });
        }
        let value = r.bytes(len - 4)?;
        let pad = pad4(len) - len;
        r.skip(pad.min(r.remaining()))?;
        Self::from_value(kind, flags, value)
    }

    fn from_value(kind: u8, flags: u8, value: &'a [u8]) -> Result<Self, Error> {
        let mut v = Reader::new(value);
        let bad = |what| Error::BadLength {
            what,
            len: value.len(),
        };
        let empty = |c: Chunk<'a>| {
            if value.is_empty() {
                Ok(c)
            } else {
                Err(bad("empty chunk"))
            }
        };
        Ok(match kind {
            kind::DATA | kind::I_DATA => {
                let idata = kind == kind::I_DATA;
                // The header read whole (every data packet comes through here): TSN, stream,
                // then SSN and PPID, or a reserved u16, MID and PPID or FSN.
                let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let h: [u8; I_DATA_HEADER - 4] = if idata {
                    v.array()?
                } else {
                    let mut h = [0; I_DATA_HEADER - 4];
                    h[..DATA_HEADER - 4].copy_from_slice(&v.array::<{ DATA_HEADER - 4 }>()?);
                    h
                };
                let (tsn, stream) = (be32(&h[..4]), u16::from_be_bytes([h[4], h[5]]));
                let (ssn_or_mid, ppid, fsn) = if idata {
                    let (mid, x) = (be32(&h[8..12]), be32(&h[12..16]));
                    if flags & flag::BEGIN != 0 {
                        (mid, x, 0)
                    } else {
                        (mid, 0, x)
                    }
                } else {
                    (
                        u32::from(u16::from_be_bytes([h[6], h[7]])),
                        be32(&h[8..12]),
                        0,
                    )
                };
                let d = Data {
                    tsn,
                    stream,
                    ssn_or_mid,
                    ppid,
                    fsn,
                    unordered: flags & flag::UNORDERED != 0,
                    begin: flags & flag::BEGIN != 0,
                    end: flags & flag::END != 0,
                    immediate: flags & flag::IMMEDIATE != 0,
                    payload: v.rest(),
                };
                if idata { Self::IData(d) } else { Self::Data(d) }
            }
            kind::INIT | kind::INIT_ACK => {
                let init = Init {
                    initiate_tag: v.u32()?,
                    a_rwnd: v.u32()?,
                    outbound_streams: v.u16()?,
                    inbound_streams: v.u16()?,
                    initial_tsn: v.u32()?,
                    params: v.rest(),
                };
                if kind == kind::INIT {
                    Self::Init(init)
                } else {
                    Self::InitAck(init)
                }
            }
            kind::SACK => {
                let cum_tsn = v.u32()?;
                let a_rwnd = v.u32()?;
                let ngaps = usize::from(v.u16()?);
                let ndups = usize::from(v.u16()?);
                if v.remaining() != 4 * (ngaps + ndups) {
                    return Err(bad("SACK"));
                }
                let gaps = (0..ngaps)
                    .map(|_| {
                        Ok(GapBlock {
                            start: v.u16()?,
                            end: v.u16()?,
                        })
                    })
                    .collect::<Result<_, Error>>()?;
                let dups = (0..ndups).map(|_| v.u32()).collect::<Result<_, _>>()?;
                Self::Sack(Sack {
                    cum_tsn,
                    a_rwnd,
                    gaps,
                    dups,
                })
            }
            kind::HEARTBEAT => Self::Heartbeat(value),
            kind::HEARTBEAT_ACK => Self::HeartbeatAck(value),
            kind::ABORT => Self::Abort {
                reflected: flags & flag::T != 0,
                causes: value,
            },
            kind::SHUTDOWN => {
                if value.len() != 4 {
                    return Err(bad("SHUTDOWN"));
                }
                Self::Shutdown { cum_tsn: v.u32()? }
            }
            kind::SHUTDOWN_ACK => empty(Self::ShutdownAck)?,
            kind::ERROR => Self::Error(value),
            kind::COOKIE_ECHO => Self::CookieEcho(value),
            kind::COOKIE_ACK => empty(Self::CookieAck)?,
            kind::SHUTDOWN_COMPLETE => empty(Self::ShutdownComplete {
                reflected: flags & flag::T != 0,
            })?,
            kind::FORWARD_TSN | kind::I_FORWARD_TSN => {
                let interleaved = kind == kind::I_FORWARD_TSN;
                let new_cum_tsn = v.u32()?;
                let entry = if interleaved { 8 } else { 4 };
                if !v.remaining().is_multiple_of(entry) {
                    return Err(bad("FORWARD-TSN"));
                }
                let mut streams = SmallVec::new();
                while !v.is_empty() {
                    let stream = v.u16()?;
                    streams.push(if interleaved {
                        let u = v.u16()? & 1 != 0;
                        SkippedStream {
                            stream,
                            ssn_or_mid: v.u32()?,
                            unordered: u,
                        }
                    } else {
                        SkippedStream {
                            stream,
                            ssn_or_mid: u32::from(v.u16()?),
                            unordered: false,
                        }
                    });
                }
                let f = ForwardTsn {
                    new_cum_tsn,
                    streams,
                };
                if interleaved {
                    Self::IForwardTsn(f)
                } else {
                    Self::ForwardTsn(f)
                }
            }
            kind::RECONFIG => Self::Reconfig(value),
            kind => Self::Unknown { kind, flags, value },
        })
    }

    /// The chunk type code.
    pub fn kind(&self) -> u8 {
        match self {
            Self::Data(_) => kind::DATA,
            Self::IData(_) => kind::I_DATA,
            Self::Init(_) => kind::INIT,
            Self::InitAck(_) => kind::INIT_ACK,
            Self::Sack(_) => kind::SACK,
            Self::Heartbeat(_) => kind::HEARTBEAT,
            Self::HeartbeatAck(_) => kind::HEARTBEAT_ACK,
            Self::Abort { .. } => kind::ABORT,
            Self::Shutdown { .. } => kind::SHUTDOWN,
            Self::ShutdownAck => kind::SHUTDOWN_ACK,
            Self::Error(_) => kind::ERROR,
            Self::CookieEcho(_) => kind::COOKIE_ECHO,
            Self::CookieAck => kind::COOKIE_ACK,
            Self::ShutdownComplete { .. } => kind::SHUTDOWN_COMPLETE,
            Self::ForwardTsn(_) => kind::FORWARD_TSN,
            Self::IForwardTsn(_) => kind::I_FORWARD_TSN,
            Self::Reconfig(_) => kind::RECONFIG,
            Self::Unknown { kind, .. } => *kind,
        }
    }

    fn flags(&self) -> u8 {
        match self {
            Self::Data(d) | Self::IData(d) => d.flags(),
            Self::Abort { reflected, .. } | Self::ShutdownComplete { reflected } if *reflected => {
                flag::T
            }
            Self::Unknown { flags, .. } => *flags,
            _ => 0,
        }
    }

    /// The value's length, without the 4-byte header and the padding.
    fn value_len(&self) -> usize {
        match self {
            Self::Data(d) => DATA_HEADER - 4 + d.payload.len(),
            Self::IData(d) => I_DATA_HEADER - 4 + d.payload.len(),
            Self::Init(i) | Self::InitAck(i) => 16 + i.params.len(),
            Self::Sack(s) => 12 + 4 * (s.gaps.len() + s.dups.len()),
            Self::Heartbeat(v)
            | Self::HeartbeatAck(v)
            | Self::Abort { causes: v, .. }
            | Self::Error(v)
            | Self::CookieEcho(v)
            | Self::Reconfig(v)
            | Self::Unknown { value: v, .. } => v.len(),
            Self::Shutdown { .. } => 4,
            Self::ShutdownAck | Self::CookieAck | Self::ShutdownComplete { .. } => 0,
            Self::ForwardTsn(f) => 4 + 4 * f.streams.len(),
            Self::IForwardTsn(f) => 4 + 8 * f.streams.len(),
        }
    }

    /// Encoded length including the header and padding.
    pub fn encoded_len(&self) -> usize {
        pad4(4 + self.value_len())
    }

    /// Writes the chunk and its padding.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let len = 4 + self.value_len();
        if len > usize::from(u16::MAX) {
            return Err(Error::BadLength { what: "chunk", len });
        }
        if w.remaining() < pad4(len) {
            return Err(crate::wire::Error::BufferTooSmall {
                needed: pad4(len),
                remaining: w.remaining(),
            }
            .into());
        }
        if let Self::Data(d) | Self::IData(d) = self {
            return write_data(w, self, d, len);
        }
        w.u8(self.kind())?;
        w.u8(self.flags())?;
        w.u16(len as u16)?;
        match self {
            Self::Data(_) | Self::IData(_) => {}
            Self::Init(i) | Self::InitAck(i) => {
                w.u32(i.initiate_tag)?;
                w.u32(i.a_rwnd)?;
                w.u16(i.outbound_streams)?;
                w.u16(i.inbound_streams)?;
                w.u32(i.initial_tsn)?;
                w.bytes(i.params)?;
            }
            Self::Sack(s) => write_sack(w, s)?,
            Self::Heartbeat(v)
            | Self::HeartbeatAck(v)
            | Self::Abort { causes: v, .. }
            | Self::Error(v)
            | Self::CookieEcho(v)
            | Self::Reconfig(v)
            | Self::Unknown { value: v, .. } => w.bytes(v)?,
            Self::Shutdown { cum_tsn } => w.u32(*cum_tsn)?,
            Self::ShutdownAck | Self::CookieAck | Self::ShutdownComplete { .. } => {}
            Self::ForwardTsn(f) | Self::IForwardTsn(f) => {
                let interleaved = matches!(self, Self::IForwardTsn(_));
                w.u32(f.new_cum_tsn)?;
                for s in &f.streams {
                    w.u16(s.stream)?;
                    if interleaved {
                        w.u16(u16::from(s.unordered))?;
                        w.u32(s.ssn_or_mid)?;
                    } else {
                        w.u16(s.ssn_or_mid as u16)?;
                    }
                }
            }
        }
        w.zeros(pad4(len) - len)?;
        Ok(())
    }
}

/// DATA or I-DATA (`c`, whose fields are `d`) of `len` bytes unpadded: the header built whole
/// and written at once, as every data packet does.
fn write_data(w: &mut Writer<'_>, c: &Chunk<'_>, d: &Data<'_>, len: usize) -> Result<(), Error> {
    let mut h = [0u8; I_DATA_HEADER];
    h[0] = c.kind();
    h[1] = c.flags();
    h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    h[4..8].copy_from_slice(&d.tsn.to_be_bytes());
    h[8..10].copy_from_slice(&d.stream.to_be_bytes());
    let n = if let Chunk::IData(_) = c {
        h[12..16].copy_from_slice(&d.ssn_or_mid.to_be_bytes());
        let fifth = if d.begin { d.ppid } else { d.fsn };
        h[16..20].copy_from_slice(&fifth.to_be_bytes());
        I_DATA_HEADER
    } else {
        h[10..12].copy_from_slice(&(d.ssn_or_mid as u16).to_be_bytes());
        h[12..16].copy_from_slice(&d.ppid.to_be_bytes());
        DATA_HEADER
    };
    w.bytes(&h[..n])?;
    w.bytes(d.payload)?;
    if pad4(len) > len {
        w.zeros(pad4(len) - len)?;
    }
    Ok(())
}

fn write_sack(w: &mut Writer<'_>, s: &Sack) -> Result<(), Error> {
    w.u32(s.cum_tsn)?;
    w.u32(s.a_rwnd)?;
    w.u16(s.gaps.len() as u16)?;
    w.u16(s.dups.len() as u16)?;
    for g in &s.gaps {
        w.u16(g.start)?;
        w.u16(g.end)?;
    }
    for d in &s.dups {
        w.u32(*d)?;
    }
    Ok(())
}

/// Error cause codes (RFC 9260 §3.3.10, RFC 6525, RFC 9653).
pub mod cause {
    /// Invalid Stream Identifier.
    pub const INVALID_STREAM: u16 = 1;
    /// Missing Mandatory Parameter.
    pub const MISSING_PARAM: u16 = 2;
    /// Stale Cookie Error.
    pub const STALE_COOKIE: u16 = 3;
    /// Out of Resource.
    pub const OUT_OF_RESOURCE: u16 = 4;
    /// Unrecognized Chunk Type.
    pub const UNRECOGNIZED_CHUNK: u16 = 6;
    /// Invalid Mandatory Parameter.
    pub const INVALID_MANDATORY_PARAM: u16 = 7;
    /// Unrecognized Parameters.
    pub const UNRECOGNIZED_PARAMS: u16 = 8;
    /// No User Data.
    pub const NO_USER_DATA: u16 = 9;
    /// Cookie Received While Shutting Down.
    pub const COOKIE_WHILE_SHUTTING_DOWN: u16 = 10;
    /// User-Initiated Abort.
    pub const USER_ABORT: u16 = 12;
    /// Protocol Violation.
    pub const PROTOCOL_VIOLATION: u16 = 13;
}

/// One error cause of an ABORT or ERROR chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause<'a> {
    /// The cause code (see [`cause`]).
    pub code: u16,
    /// The cause-specific information.
    pub info: &'a [u8],
}

impl Cause<'_> {
    /// Encoded length including header and padding.
    pub fn encoded_len(&self) -> usize {
        pad4(4 + self.info.len())
    }

    /// Writes the cause and its padding.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let len = 4 + self.info.len();
        w.u16(self.code)?;
        w.u16(u16::try_from(len).map_err(|_| Error::BadLength { what: "cause", len })?)?;
        w.bytes(self.info)?;
        w.zeros(pad4(len) - len)?;
        Ok(())
    }
}

/// Iterates over the error causes of an ABORT or ERROR chunk.
#[derive(Debug, Clone)]
pub struct Causes<'a>(Reader<'a>);

impl<'a> Causes<'a> {
    /// Causes packed in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(Reader::new(bytes))
    }
}

impl<'a> Iterator for Causes<'a> {
    type Item = Result<Cause<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let r = &mut self.0;
        let item = (|| {
            let code = r.u16()?;
            let len = usize::from(r.u16()?);
            if len < 4 {
                return Err(Error::BadLength { what: "cause", len });
            }
            let info = r.bytes(len - 4)?;
            r.skip((pad4(len) - len).min(r.remaining()))?;
            Ok(Cause { code, info })
        })();
        if item.is_err() {
            self.0.rest();
        }
        Some(item)
    }
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
