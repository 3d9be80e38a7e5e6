//! The Data Channel Establishment Protocol's two messages (RFC 8832 §5) and the payload
//! protocol identifiers of RFC 8831 §8.

use crate::wire::{Reader, Writer};

/// DCEP messages.
pub const PPID_DCEP: u32 = 50;
/// A UTF-8 string message.
pub const PPID_STRING: u32 = 51;
/// Deprecated partial string (RFC 8831 §6.6); received as a string.
pub const PPID_STRING_PARTIAL: u32 = 52;
/// A binary message.
pub const PPID_BINARY: u32 = 53;
/// Deprecated partial binary; received as binary.
pub const PPID_BINARY_PARTIAL: u32 = 54;
/// An empty string, sent as one zero byte.
pub const PPID_STRING_EMPTY: u32 = 56;
/// An empty binary message, sent as one zero byte.
pub const PPID_BINARY_EMPTY: u32 = 57;

const MSG_ACK: u8 = 0x02;
const MSG_OPEN: u8 = 0x03;
const OPEN_HEADER: usize = 12;

/// A DCEP message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DcepError {
    /// Too short for its fields.
    #[error("truncated DCEP message")]
    Truncated,
    /// Neither OPEN nor ACK.
    #[error("unknown DCEP message type {0}")]
    UnknownType(u8),
    /// The label or protocol is not UTF-8.
    #[error("DCEP label or protocol is not UTF-8")]
    NotUtf8,
}

impl From<crate::wire::Error> for DcepError {
    fn from(_: crate::wire::Error) -> Self {
        Self::Truncated
    }
}

/// The channel type byte of DATA_CHANNEL_OPEN (RFC 8832 §5.1): reliability policy and order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelType {
    /// 0x00 reliable, ordered.
    Reliable,
    /// 0x01 limited retransmissions, ordered.
    Rexmit,
    /// 0x02 limited lifetime, ordered.
    Timed,
    /// 0x80 reliable, unordered.
    ReliableUnordered,
    /// 0x81 limited retransmissions, unordered.
    RexmitUnordered,
    /// 0x82 limited lifetime, unordered.
    TimedUnordered,
    /// Anything else.
    Unknown(u8),
}

impl ChannelType {
    /// From the wire byte.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0x00 => Self::Reliable,
            0x01 => Self::Rexmit,
            0x02 => Self::Timed,
            0x80 => Self::ReliableUnordered,
            0x81 => Self::RexmitUnordered,
            0x82 => Self::TimedUnordered,
            n => Self::Unknown(n),
        }
    }

    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Reliable => 0x00,
            Self::Rexmit => 0x01,
            Self::Timed => 0x02,
            Self::ReliableUnordered => 0x80,
            Self::RexmitUnordered => 0x81,
            Self::TimedUnordered => 0x82,
            Self::Unknown(n) => n,
        }
    }
}

/// DATA_CHANNEL_OPEN (RFC 8832 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open<'a> {
    /// Reliability and order.
    pub channel_type: ChannelType,
    /// Priority (RFC 8831 §6.4 uses 128, 256, 512, 1024).
    pub priority: u16,
    /// Retransmissions or lifetime in milliseconds, by channel type.
    pub reliability: u32,
    /// The channel's label.
    pub label: &'a str,
    /// The subprotocol.
    pub protocol: &'a str,
}

/// A DCEP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dcep<'a> {
    /// DATA_CHANNEL_OPEN.
    Open(Open<'a>),
    /// DATA_CHANNEL_ACK.
    Ack,
}

impl<'a> Dcep<'a> {
    /// Parses a DCEP message.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DcepError> {
        let mut r = Reader::new(bytes);
        match r.u8()? {
            MSG_ACK => Ok(Self::Ack),
            MSG_OPEN => {
                let channel_type = ChannelType::from_u8(r.u8()?);
                let priority = r.u16()?;
                let reliability = r.u32()?;
                let label_len = usize::from(r.u16()?);
                let protocol_len = usize::from(r.u16()?);
                let text = |b| std::str::from_utf8(b).map_err(|_| DcepError::NotUtf8);
                let label = text(r.bytes(label_len)?)?;
                let protocol = text(r.bytes(protocol_len)?)?;
                Ok(Self::Open(Open {
                    channel_type,
                    priority,
                    reliability,
                    label,
                    protocol,
                }))
            }
            t => Err(DcepError::UnknownType(t)),
        }
    }

    /// Encoded length.
    pub fn len(&self) -> usize {
        match self {
            Self::Ack => 1,
            Self::Open(o) => OPEN_HEADER + o.label.len() + o.protocol.len(),
        }
    }

    /// Whether the encoding is empty (never).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the message; labels and protocols longer than 65535 bytes are refused.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, DcepError> {
        let mut w = Writer::new(buf);
        match self {
            Self::Ack => w.u8(MSG_ACK)?,
            Self::Open(o) => {
                let label_len = u16::try_from(o.label.len()).map_err(|_| DcepError::Truncated)?;
                let proto_len =
                    u16::try_from(o.protocol.len()).map_err(|_| DcepError::Truncated)?;
                w.u8(MSG_OPEN)?;
                w.u8(o.channel_type.to_u8())?;
                w.u16(o.priority)?;
                w.u32(o.reliability)?;
                w.u16(label_len)?;
                w.u16(proto_len)?;
                w.bytes(o.label.as_bytes())?;
                w.bytes(o.protocol.as_bytes())?;
            }
        }
        Ok(w.position())
    }

    /// The encoding as a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len()];
        let n = self.write(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn open_matches_rfc_8832_layout() {
        let o = Dcep::Open(Open {
            channel_type: ChannelType::RexmitUnordered,
            priority: 256,
            reliability: 3,
            label: "chat",
            protocol: "",
        });
        assert_eq!(
            o.to_vec(),
            [
                3, 0x81, 1, 0, 0, 0, 0, 3, 0, 4, 0, 0, b'c', b'h', b'a', b't'
            ]
        );
        assert_eq!(Dcep::Ack.to_vec(), [2]);
    }

    proptest! {
        #[test]
        fn open_round_trips(t: u8, p: u16, r: u32, label in ".{0,20}", protocol in ".{0,20}") {
            let o = Dcep::Open(Open {
                channel_type: ChannelType::from_u8(t),
                priority: p,
                reliability: r,
                label: &label,
                protocol: &protocol,
            });
            let bytes = o.to_vec();
            prop_assert_eq!(bytes.len(), o.len());
            prop_assert_eq!(Dcep::parse(&bytes).unwrap(), o);
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panic(data: Vec<u8>) {
            let _ = Dcep::parse(&data);
        }
    }
}
