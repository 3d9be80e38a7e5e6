//! Variable-length parameters (RFC 9260 §3.2.1): those of INIT and INIT ACK, HEARTBEAT's
//! info, and the RE-CONFIG requests and responses of RFC 6525 §4.
//!
//! Parsing borrows from the packet. Unknown parameter types are kept as
//! [`Param::Unknown`] so the association can apply the RFC 9260 §3.2.1 rules (the two high bits
//! of the type say whether to skip and whether to report).

use super::Error;
use crate::wire::{Reader, Writer};
use smallvec::SmallVec;

/// Parameter type codes.
pub mod kind {
    /// Heartbeat Info (RFC 9260 §3.3.5).
    pub const HEARTBEAT_INFO: u16 = 1;
    /// IPv4 address (RFC 9260 §3.3.2.1).
    pub const IPV4: u16 = 5;
    /// IPv6 address.
    pub const IPV6: u16 = 6;
    /// State Cookie (RFC 9260 §3.3.3.1).
    pub const STATE_COOKIE: u16 = 7;
    /// Unrecognized Parameter (RFC 9260 §3.3.3.1).
    pub const UNRECOGNIZED: u16 = 8;
    /// Cookie Preservative.
    pub const COOKIE_PRESERVATIVE: u16 = 9;
    /// Outgoing SSN Reset Request (RFC 6525 §4.1).
    pub const OUTGOING_RESET: u16 = 13;
    /// Incoming SSN Reset Request (RFC 6525 §4.2).
    pub const INCOMING_RESET: u16 = 14;
    /// SSN/TSN Reset Request (RFC 6525 §4.3).
    pub const SSN_TSN_RESET: u16 = 15;
    /// Re-configuration Response (RFC 6525 §4.4).
    pub const RECONFIG_RESPONSE: u16 = 16;
    /// Add Outgoing Streams Request (RFC 6525 §4.5).
    pub const ADD_OUTGOING: u16 = 17;
    /// Add Incoming Streams Request (RFC 6525 §4.6).
    pub const ADD_INCOMING: u16 = 18;
    /// Zero Checksum Acceptable (RFC 9653 §3).
    pub const ZERO_CHECKSUM: u16 = 0x8001;
    /// Supported Extensions (RFC 5061 §4.2.7).
    pub const SUPPORTED_EXTENSIONS: u16 = 0x8008;
    /// Forward-TSN-Supported (RFC 3758 §3.1).
    pub const FORWARD_TSN_SUPPORTED: u16 = 0xc000;
}

/// Result codes of a Re-configuration Response (RFC 6525 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconfigResult {
    /// 0: nothing to do.
    SuccessNothingToDo,
    /// 1: performed.
    SuccessPerformed,
    /// 2: denied.
    Denied,
    /// 3: wrong SSN.
    ErrorWrongSsn,
    /// 4: a request is already in progress.
    ErrorRequestInProgress,
    /// 5: bad sequence number.
    ErrorBadSequenceNumber,
    /// 6: in progress, try again.
    InProgress,
    /// Any other value.
    Unknown(u32),
}

impl ReconfigResult {
    /// From the wire value.
    pub fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::SuccessNothingToDo,
            1 => Self::SuccessPerformed,
            2 => Self::Denied,
            3 => Self::ErrorWrongSsn,
            4 => Self::ErrorRequestInProgress,
            5 => Self::ErrorBadSequenceNumber,
            6 => Self::InProgress,
            n => Self::Unknown(n),
        }
    }

    /// The wire value.
    pub fn to_u32(self) -> u32 {
        match self {
            Self::SuccessNothingToDo => 0,
            Self::SuccessPerformed => 1,
            Self::Denied => 2,
            Self::ErrorWrongSsn => 3,
            Self::ErrorRequestInProgress => 4,
            Self::ErrorBadSequenceNumber => 5,
            Self::InProgress => 6,
            Self::Unknown(n) => n,
        }
    }
}

/// Stream ids listed in a reset request; WebRTC usually resets one at a time.
pub type StreamList = SmallVec<[u16; 4]>;

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param<'a> {
    /// Opaque heartbeat data, echoed back by the peer.
    HeartbeatInfo(&'a [u8]),
    /// The state cookie of an INIT ACK.
    StateCookie(&'a [u8]),
    /// A parameter of the peer's INIT that we did not recognise, reported in INIT ACK.
    Unrecognized(&'a [u8]),
    /// A suggested cookie lifetime increment in milliseconds.
    CookiePreservative(u32),
    /// Chunk types the sender supports beyond RFC 9260.
    SupportedExtensions(&'a [u8]),
    /// The sender implements PR-SCTP (RFC 3758).
    ForwardTsnSupported,
    /// The sender accepts packets with a zero checksum when the given alternate error
    /// detection method is in use (RFC 9653; 1 is DTLS).
    ZeroChecksumAcceptable(u32),
    /// RFC 6525 §4.1: the sender resets these outgoing streams once every TSN up to
    /// `last_tsn` is in.
    OutgoingReset {
        /// This request's sequence number.
        request_seq: u32,
        /// The last response sequence number the sender has seen answered.
        response_seq: u32,
        /// The sender's last assigned TSN.
        last_tsn: u32,
        /// Streams to reset; empty means all.
        streams: StreamList,
    },
    /// RFC 6525 §4.2: asks the peer to reset its outgoing streams.
    IncomingReset {
        /// This request's sequence number.
        request_seq: u32,
        /// Streams; empty means all.
        streams: StreamList,
    },
    /// RFC 6525 §4.3: reset every stream and the TSN (we answer Denied).
    SsnTsnReset {
        /// This request's sequence number.
        request_seq: u32,
    },
    /// RFC 6525 §4.4.
    ReconfigResponse {
        /// The request being answered.
        response_seq: u32,
        /// The outcome.
        result: ReconfigResult,
        /// TSN fields, present only in answers to an SSN/TSN reset.
        tsns: Option<(u32, u32)>,
    },
    /// RFC 6525 §4.5 and §4.6 (`incoming` tells which).
    AddStreams {
        /// Add Incoming (true) or Add Outgoing (false).
        incoming: bool,
        /// This request's sequence number.
        request_seq: u32,
        /// How many streams to add.
        count: u16,
    },
    /// Any other type, kept whole.
    Unknown {
        /// The parameter type.
        kind: u16,
        /// The value after the 4-byte header.
        value: &'a [u8],
    },
}

/// Rounds up to a multiple of four (chunk and parameter padding).
pub(crate) fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

impl<'a> Param<'a> {
    /// Parses one parameter from the front of `r`, consuming its padding when present.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(Error::BadLength {
                what: "parameter",
                len,
            });
        }
        let value = r.bytes(len - 4)?;
        // RFC 9260 §3.2.1: the last parameter's padding may be missing.
        let pad = pad4(len) - len;
        r.skip(pad.min(r.remaining()))?;
        Self::from_value(kind, value)
    }

    fn from_value(kind: u16, value: &'a [u8]) -> Result<Self, Error> {
        let mut v = Reader::new(value);
        let exact = |n: usize| {
            if value.len() == n {
                Ok(())
            } else {
                Err(Error::BadLength {
                    what: "parameter value",
                    len: value.len(),
                })
            }
        };
        let p = match kind {
            kind::HEARTBEAT_INFO => Self::HeartbeatInfo(value),
            kind::STATE_COOKIE => Self::StateCookie(value),
            kind::UNRECOGNIZED => Self::Unrecognized(value),
            kind::COOKIE_PRESERVATIVE => {
                exact(4)?;
                Self::CookiePreservative(v.u32()?)
            }
            kind::SUPPORTED_EXTENSIONS => Self::SupportedExtensions(value),
            kind::FORWARD_TSN_SUPPORTED => {
                exact(0)?;
                Self::ForwardTsnSupported
            }
            kind::ZERO_CHECKSUM => {
                exact(4)?;
                Self::ZeroChecksumAcceptable(v.u32()?)
            }
            kind::OUTGOING_RESET => {
                let (request_seq, response_seq, last_tsn) = (v.u32()?, v.u32()?, v.u32()?);
                Self::OutgoingReset {
                    request_seq,
                    response_seq,
                    last_tsn,
                    streams: read_streams(&mut v)?,
                }
            }
            kind::INCOMING_RESET => Self::IncomingReset {
                request_seq: v.u32()?,
                streams: read_streams(&mut v)?,
            },
            kind::SSN_TSN_RESET => {
                exact(4)?;
                Self::SsnTsnReset {
                    request_seq: v.u32()?,
                }
            }
            kind::RECONFIG_RESPONSE => {
                let response_seq = v.u32()?;
                let result = ReconfigResult::from_u32(v.u32()?);
                let tsns = match v.remaining() {
                    0 => None,
                    8 => Some((v.u32()?, v.u32()?)),
                    len => {
                        return Err(Error::BadLength {
                            what: "re-config response",
                            len,
                        });
                    }
                };
                Self::ReconfigResponse {
                    response_seq,
                    result,
                    tsns,
                }
            }
            kind::ADD_OUTGOING | kind::ADD_INCOMING => {
                exact(8)?;
                let request_seq = v.u32()?;
                let count = v.u16()?;
                v.u16()?; // reserved
                Self::AddStreams {
                    incoming: kind == kind::ADD_INCOMING,
                    request_seq,
                    count,
                }
            }
            _ => Self::Unknown { kind, value },
        };
        Ok(p)
    }

    /// The parameter type code.
    pub fn kind(&self) -> u16 {
        match self {
            Self::HeartbeatInfo(_) => kind::HEARTBEAT_INFO,
            Self::StateCookie(_) => kind::STATE_COOKIE,
            Self::Unrecognized(_) => kind::UNRECOGNIZED,
            Self::CookiePreservative(_) => kind::COOKIE_PRESERVATIVE,
            Self::SupportedExtensions(_) => kind::SUPPORTED_EXTENSIONS,
            Self::ForwardTsnSupported => kind::FORWARD_TSN_SUPPORTED,
            Self::ZeroChecksumAcceptable(_) => kind::ZERO_CHECKSUM,
            Self::OutgoingReset { .. } => kind::OUTGOING_RESET,
            Self::IncomingReset { .. } => kind::INCOMING_RESET,
            Self::SsnTsnReset { .. } => kind::SSN_TSN_RESET,
            Self::ReconfigResponse { .. } => kind::RECONFIG_RESPONSE,
            Self::AddStreams { incoming: true, .. } => kind::ADD_INCOMING,
            Self::AddStreams {
                incoming: false, ..
            } => kind::ADD_OUTGOING,
            Self::Unknown { kind, .. } => *kind,
        }
    }

    /// The value's length, without the header and padding.
    fn value_len(&self) -> usize {
        match self {
            Self::HeartbeatInfo(v)
            | Self::StateCookie(v)
            | Self::Unrecognized(v)
            | Self::SupportedExtensions(v)
            | Self::Unknown { value: v, .. } => v.len(),
            Self::ForwardTsnSupported => 0,
            Self::CookiePreservative(_)
            | Self::ZeroChecksumAcceptable(_)
            | Self::SsnTsnReset { .. } => 4,
            Self::OutgoingReset { streams, .. } => 12 + 2 * streams.len(),
            Self::IncomingReset { streams, .. } => 4 + 2 * streams.len(),
            Self::ReconfigResponse { tsns, .. } => 8 + if tsns.is_some() { 8 } else { 0 },
            Self::AddStreams { .. } => 8,
        }
    }

    /// Encoded length including header and padding.
    pub fn encoded_len(&self) -> usize {
        pad4(4 + self.value_len())
    }

    /// Writes the parameter and its padding.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let len = 4 + self.value_len();
        if len > usize::from(u16::MAX) {
            return Err(Error::BadLength {
                what: "parameter",
                len,
            });
        }
        w.u16(self.kind())?;
        w.u16(len as u16)?;
        match self {
            Self::HeartbeatInfo(v)
            | Self::StateCookie(v)
            | Self::Unrecognized(v)
            | Self::SupportedExtensions(v)
            | Self::Unknown { value: v, .. } => w.bytes(v)?,
            Self::ForwardTsnSupported => {}
            Self::CookiePreservative(n) | Self::ZeroChecksumAcceptable(n) => w.u32(*n)?,
            Self::SsnTsnReset { request_seq } => w.u32(*request_seq)?,
            Self::OutgoingReset {
                request_seq,
                response_seq,
                last_tsn,
                streams,
            } => {
                w.u32(*request_seq)?;
                w.u32(*response_seq)?;
                w.u32(*last_tsn)?;
                write_streams(w, streams)?;
            }
            Self::IncomingReset {
                request_seq,
                streams,
            } => {
                w.u32(*request_seq)?;
                write_streams(w, streams)?;
            }
            Self::ReconfigResponse {
                response_seq,
                result,
                tsns,
            } => {
                w.u32(*response_seq)?;
                w.u32(result.to_u32())?;
                if let Some((a, b)) = tsns {
                    w.u32(*a)?;
                    w.u32(*b)?;
                }
            }
            Self::AddStreams {
                request_seq, count, ..
            } => {
                w.u32(*request_seq)?;
                w.u16(*count)?;
                w.u16(0)?;
            }
        }
        w.zeros(pad4(len) - len)?;
        Ok(())
    }
}

fn read_streams(v: &mut Reader<'_>) -> Result<StreamList, Error> {
    if !v.remaining().is_multiple_of(2) {
        return Err(Error::BadLength {
            what: "stream list",
            len: v.remaining(),
        });
    }
    let mut out = StreamList::new();
    while !v.is_empty() {
        out.push(v.u16()?);
    }
    Ok(out)
}

fn write_streams(w: &mut Writer<'_>, streams: &[u16]) -> Result<(), Error> {
    streams.iter().try_for_each(|&s| w.u16(s))?;
    Ok(())
}

/// Iterates over a run of parameters, stopping at the first malformed one.
#[derive(Debug, Clone)]
pub struct Params<'a>(Reader<'a>);

impl<'a> Params<'a> {
    /// Parameters packed in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(Reader::new(bytes))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let item = Param::read(&mut self.0);
        if item.is_err() {
            self.0.rest();
        }
        Some(item)
    }
}

/// Writes `params` back to back.
pub fn write_all(params: &[Param<'_>], w: &mut Writer<'_>) -> Result<(), Error> {
    params.iter().try_for_each(|p| p.write(w))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_param() -> impl Strategy<Value = Param<'static>> {
        fn leak(v: Vec<u8>) -> &'static [u8] {
            Box::leak(v.into_boxed_slice())
        }
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40).prop_map(leak);
        let streams = || proptest::collection::vec(any::<u16>(), 0..6).prop_map(StreamList::from);
        prop_oneof![
            bytes().prop_map(Param::HeartbeatInfo),
            bytes().prop_map(Param::StateCookie),
            bytes().prop_map(Param::Unrecognized),
            any::<u32>().prop_map(Param::CookiePreservative),
            bytes().prop_map(Param::SupportedExtensions),
            Just(Param::ForwardTsnSupported),
            any::<u32>().prop_map(Param::ZeroChecksumAcceptable),
            (any::<u32>(), any::<u32>(), any::<u32>(), streams()).prop_map(|(a, b, c, s)| {
                Param::OutgoingReset {
                    request_seq: a,
                    response_seq: b,
                    last_tsn: c,
                    streams: s,
                }
            }),
            (any::<u32>(), streams()).prop_map(|(a, s)| Param::IncomingReset {
                request_seq: a,
                streams: s
            }),
            any::<u32>().prop_map(|a| Param::SsnTsnReset { request_seq: a }),
            (any::<u32>(), any::<u32>(), any::<Option<(u32, u32)>>()).prop_map(|(a, r, t)| {
                Param::ReconfigResponse {
                    response_seq: a,
                    result: ReconfigResult::from_u32(r),
                    tsns: t,
                }
            }),
            (any::<bool>(), any::<u32>(), any::<u16>()).prop_map(|(i, a, c)| {
                Param::AddStreams {
                    incoming: i,
                    request_seq: a,
                    count: c,
                }
            }),
            (0x9000u16..0xbfff, bytes()).prop_map(|(k, v)| Param::Unknown { kind: k, value: v }),
        ]
    }

    proptest! {
        #[test]
        fn every_param_round_trips(params in proptest::collection::vec(arb_param(), 0..5)) {
            let mut buf = vec![0u8; 2048];
            let mut w = Writer::new(&mut buf);
            write_all(&params, &mut w).unwrap();
            let n = w.position();
            prop_assert_eq!(n, params.iter().map(Param::encoded_len).sum::<usize>());
            let back: Result<Vec<_>, _> = Params::new(&buf[..n]).collect();
            prop_assert_eq!(back.unwrap(), params);
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panic(data: Vec<u8>) {
            for p in Params::new(&data) {
                let _ = p;
            }
        }
    }

    #[test]
    fn last_parameter_may_omit_its_padding() {
        // A 5-byte state cookie with no trailing padding.
        let bytes = [0, 7, 0, 9, 1, 2, 3, 4, 5];
        let p: Vec<_> = Params::new(&bytes).collect();
        assert_eq!(p, vec![Ok(Param::StateCookie(&[1, 2, 3, 4, 5]))]);
    }

    #[test]
    fn reconfig_result_codes_round_trip() {
        for v in 0..8 {
            assert_eq!(ReconfigResult::from_u32(v).to_u32(), v);
        }
    }
}
