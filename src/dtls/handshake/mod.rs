//! Handshake messages (RFC 5246 §7.4 with the DTLS header of RFC 6347 §4.2.2), and their
//! fragmentation and reassembly.
//!
//! ```text
//! struct {
//!     HandshakeType msg_type;    // 1
//!     uint24 length;             // 3: the whole body
//!     uint16 message_seq;        // 2
//!     uint24 fragment_offset;    // 3
//!     uint24 fragment_length;    // 3
//!     select (HandshakeType) { ... } body;   // fragment_length bytes
//! } Handshake;
//! ```

mod fragment;
mod hello;
mod messages;

pub(crate) use fragment::{Complete, Insert, Reassembler};
pub(crate) use hello::{ClientHello, HelloVerifyRequest, ServerHello};
pub(crate) use messages::{
    CERT_TYPE_ECDSA_SIGN, CERT_TYPE_RSA_SIGN, CertificateMsg, CertificateRequest,
    CertificateVerify, ClientKeyExchange, Finished, ServerKeyExchange,
};

use super::Error;
use crate::dtls::error::DecodeError;
use crate::wire::{Reader, Writer};

/// Bytes in the DTLS handshake header.
pub(crate) const HEADER_LEN: usize = 12;

/// Handshake message types (RFC 5246 §7.4, RFC 6347 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HandshakeType {
    HelloRequest,
    ClientHello,
    ServerHello,
    HelloVerifyRequest,
    /// DTLS 1.3 (RFC 8446 §4.6.1); ignored, as WebRTC resumes nothing.
    NewSessionTicket,
    /// DTLS 1.3 (RFC 8446 §4.3.1).
    EncryptedExtensions,
    Certificate,
    ServerKeyExchange,
    CertificateRequest,
    ServerHelloDone,
    CertificateVerify,
    ClientKeyExchange,
    Finished,
    /// DTLS 1.3 (RFC 8446 §4.6.3).
    KeyUpdate,
    Unknown(u8),
}

impl HandshakeType {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::HelloRequest => 0,
            Self::ClientHello => 1,
            Self::ServerHello => 2,
            Self::HelloVerifyRequest => 3,
            Self::NewSessionTicket => 4,
            Self::EncryptedExtensions => 8,
            Self::Certificate => 11,
            Self::ServerKeyExchange => 12,
            Self::CertificateRequest => 13,
            Self::ServerHelloDone => 14,
            Self::CertificateVerify => 15,
            Self::ClientKeyExchange => 16,
            Self::Finished => 20,
            Self::KeyUpdate => 24,
            Self::Unknown(v) => v,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::HelloRequest,
            1 => Self::ClientHello,
            2 => Self::ServerHello,
            3 => Self::HelloVerifyRequest,
            4 => Self::NewSessionTicket,
            8 => Self::EncryptedExtensions,
            11 => Self::Certificate,
            12 => Self::ServerKeyExchange,
            13 => Self::CertificateRequest,
            14 => Self::ServerHelloDone,
            15 => Self::CertificateVerify,
            16 => Self::ClientKeyExchange,
            20 => Self::Finished,
            24 => Self::KeyUpdate,
            v => Self::Unknown(v),
        }
    }
}

/// The DTLS handshake header of one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HandshakeHeader {
    pub(crate) msg_type: HandshakeType,
    pub(crate) length: u32,
    pub(crate) message_seq: u16,
    pub(crate) fragment_offset: u32,
    pub(crate) fragment_length: u32,
}

impl HandshakeHeader {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let h = Self {
            msg_type: HandshakeType::from_u8(r.u8()?),
            length: r.u24()?,
            message_seq: r.u16()?,
            fragment_offset: r.u24()?,
            fragment_length: r.u24()?,
        };
        if u64::from(h.fragment_offset) + u64::from(h.fragment_length) > u64::from(h.length) {
            return Err(Error::Decode(DecodeError::Malformed(
                "handshake fragment beyond message length",
            )));
        }
        Ok(h)
    }

    pub(crate) fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = Writer::new(&mut out);
        // Cannot fail: the buffer is exactly HEADER_LEN and the values are masked to 24 bits.
        let _ = w.u8(self.msg_type.to_u8());
        let _ = w.u24(self.length & 0xff_ffff);
        let _ = w.u16(self.message_seq);
        let _ = w.u24(self.fragment_offset & 0xff_ffff);
        let _ = w.u24(self.fragment_length & 0xff_ffff);
        out
    }

    /// The header of the whole, unfragmented message, as it enters the transcript
    /// (RFC 6347 §4.2.6).
    pub(crate) fn whole(msg_type: HandshakeType, message_seq: u16, length: usize) -> Self {
        Self {
            msg_type,
            length: length as u32,
            message_seq,
            fragment_offset: 0,
            fragment_length: length as u32,
        }
    }
}

/// Splits a datagram's handshake record into fragments: header and body slices.
pub(crate) fn fragments(
    plaintext: &[u8],
) -> impl Iterator<Item = Result<(HandshakeHeader, &[u8]), Error>> {
    let mut r = Reader::new(plaintext);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || r.is_empty() {
            return None;
        }
        let item = HandshakeHeader::parse(&mut r)
            .and_then(|h| Ok((h, r.bytes(h.fragment_length as usize)?)));
        failed = item.is_err();
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn header_round_trips(t: u8, length in 0u32..1 << 24, seq: u16, off in 0u32..1 << 24) {
            let off = off.min(length);
            let h = HandshakeHeader {
                msg_type: HandshakeType::from_u8(t),
                length,
                message_seq: seq,
                fragment_offset: off,
                fragment_length: length - off,
            };
            prop_assert_eq!(HandshakeHeader::parse(&mut Reader::new(&h.to_bytes())).unwrap(), h);
        }
    }

    #[test]
    fn fragment_past_the_message_is_rejected() {
        let h = HandshakeHeader {
            msg_type: HandshakeType::Finished,
            length: 12,
            message_seq: 0,
            fragment_offset: 8,
            fragment_length: 8,
        };
        assert!(HandshakeHeader::parse(&mut Reader::new(&h.to_bytes())).is_err());
    }
}
