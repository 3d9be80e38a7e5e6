//! The 20-byte STUN header: message type (class and method), length, magic cookie and
//! transaction id (RFC 8489 §5).

use std::fmt;

use super::Error;

/// The magic cookie, bytes 4..8 of every RFC 5389/8489 message (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_a442;

/// Length of the fixed header.
pub(crate) const HEADER_LEN: usize = 20;
/// Offset of the 16-bit message length.
pub(crate) const LENGTH_OFFSET: usize = 2;
/// Offset of the magic cookie.
pub(crate) const COOKIE_OFFSET: usize = 4;
/// Offset of the 96-bit transaction id.
pub(crate) const TRANSACTION_ID_OFFSET: usize = 8;
/// Length of an attribute's type + length header.
pub(crate) const ATTR_HEADER_LEN: usize = 4;

/// The class of a message: the two C bits of the message type (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request: expects a response.
    Request,
    /// An indication: no response.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response, carrying ERROR-CODE.
    ErrorResponse,
}

impl Class {
    /// The two class bits, C1 C0, as a number 0..=3.
    pub fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::SuccessResponse => 0b10,
            Class::ErrorResponse => 0b11,
        }
    }

    /// The class for two class bits (only the low two bits of `bits` are used).
    pub fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }

    /// Whether this is a success or error response.
    pub fn is_response(self) -> bool {
        matches!(self, Class::SuccessResponse | Class::ErrorResponse)
    }
}

/// The method of a message: the 12 M bits of the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Binding (0x001), RFC 8489.
    Binding,
    /// Allocate (0x003), RFC 8656.
    Allocate,
    /// Refresh (0x004), RFC 8656.
    Refresh,
    /// Send (0x006), RFC 8656 (indication only).
    Send,
    /// Data (0x007), RFC 8656 (indication only).
    Data,
    /// CreatePermission (0x008), RFC 8656.
    CreatePermission,
    /// ChannelBind (0x009), RFC 8656.
    ChannelBind,
    /// Any other method number.
    Unknown(u16),
}

impl Method {
    /// The largest method number the 12 method bits can carry.
    pub const MAX: u16 = 0x0fff;

    /// The method number.
    pub fn number(self) -> u16 {
        match self {
            Method::Binding => 0x001,
            Method::Allocate => 0x003,
            Method::Refresh => 0x004,
            Method::Send => 0x006,
            Method::Data => 0x007,
            Method::CreatePermission => 0x008,
            Method::ChannelBind => 0x009,
            Method::Unknown(n) => n,
        }
    }

    /// The method for a number; numbers without a name become [`Method::Unknown`].
    pub fn from_number(n: u16) -> Self {
        match n {
            0x001 => Method::Binding,
            0x003 => Method::Allocate,
            0x004 => Method::Refresh,
            0x006 => Method::Send,
            0x007 => Method::Data,
            0x008 => Method::CreatePermission,
            0x009 => Method::ChannelBind,
            n => Method::Unknown(n),
        }
    }
}

// RFC 8489 §5: the message type interleaves the class bits between the method bits:
//   bit 13..0 = M11 M10 M9 M8 M7 C1 M6 M5 M4 C0 M3 M2 M1 M0
const METHOD_LOW: u16 = 0x000f;
const METHOD_MID: u16 = 0x0070;
const METHOD_HIGH: u16 = 0x0f80;
const C0_SHIFT: u16 = 4;
const C1_SHIFT: u16 = 8;

/// Packs a class and method number into the 14-bit message type.
pub(crate) fn message_type(class: Class, method: Method) -> Result<u16, Error> {
    let m = method.number();
    if m > Method::MAX {
        return Err(Error::BadMethod(m));
    }
    let c = class.bits();
    Ok((m & METHOD_LOW)
        | ((m & METHOD_MID) << 1)
        | ((m & METHOD_HIGH) << 2)
        | ((c & 1) << C0_SHIFT)
        | ((c >> 1) << C1_SHIFT))
}

/// Splits a message type into class and method (the top two bits must already be zero).
pub(crate) fn split_type(t: u16) -> (Class, Method) {
    let class = Class::from_bits(((t >> C0_SHIFT) & 1) | (((t >> C1_SHIFT) & 1) << 1));
    let m = (t & METHOD_LOW) | ((t >> 1) & METHOD_MID) | ((t >> 2) & METHOD_HIGH);
    (class, Method::from_number(m))
}

/// The 96-bit transaction id that pairs a response with its request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// A random id from `rng` (RFC 8489 §6: uniformly and randomly chosen, from a
    /// cryptographically strong source).
    pub fn random(rng: &mut crate::Rng) -> Self {
        let mut id = [0u8; 12];
        rng.fill(&mut id);
        Self(id)
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({self})")
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Whether `data` looks like a STUN message, for demultiplexing STUN from DTLS, RTP and
/// others on one socket.
///
/// RFC 7983 §7: the first byte is 0..=3 (the two top bits of the message type are zero), and
/// RFC 8489 §5 adds the magic cookie at bytes 4..8. This checks only that; [`Message::parse`]
/// does the full validation.
///
/// [`Message::parse`]: super::Message::parse
pub fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN
        && data[0] <= 3
        && data[COOKIE_OFFSET..COOKIE_OFFSET + 4] == MAGIC_COOKIE.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_interleaves_class_bits_per_rfc8489_section5() {
        // Binding request 0x0001, success 0x0101, error 0x0111, indication 0x0011.
        let cases = [
            (Class::Request, 0x0001),
            (Class::Indication, 0x0011),
            (Class::SuccessResponse, 0x0101),
            (Class::ErrorResponse, 0x0111),
        ];
        for (class, t) in cases {
            assert_eq!(message_type(class, Method::Binding), Ok(t));
            assert_eq!(split_type(t), (class, Method::Binding));
        }
        // TURN: Allocate error response 0x0113, Send indication 0x0016, Data indication 0x0017.
        assert_eq!(
            message_type(Class::ErrorResponse, Method::Allocate),
            Ok(0x0113)
        );
        assert_eq!(message_type(Class::Indication, Method::Send), Ok(0x0016));
        assert_eq!(message_type(Class::Indication, Method::Data), Ok(0x0017));
    }

    #[test]
    fn every_method_and_class_round_trips_through_the_type_field() {
        for m in 0..=Method::MAX {
            for c in 0..4 {
                let (class, method) = (Class::from_bits(c), Method::from_number(m));
                let t = message_type(class, method).unwrap();
                assert!(t < 0x4000);
                assert_eq!(split_type(t), (class, method));
                assert_eq!(method.number(), m);
            }
        }
        assert_eq!(
            message_type(Class::Request, Method::Unknown(0x1000)),
            Err(Error::BadMethod(0x1000))
        );
    }

    #[test]
    fn is_stun_needs_low_first_byte_and_cookie() {
        let mut m = [0u8; 20];
        m[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert!(is_stun(&m));
        m[0] = 3;
        assert!(is_stun(&m));
        m[0] = 4;
        assert!(!is_stun(&m));
        m[0] = 0;
        m[5] = 0;
        assert!(!is_stun(&m));
        assert!(!is_stun(&m[..19]));
    }
}
