//! STUN attributes: the typed [`Attribute`] enum and its value codecs (RFC 8489 §14, RFC 8445
//! §16.1, RFC 8656 §18, RFC 5780 §7).

use std::borrow::Cow;
use std::net::SocketAddr;

use smallvec::SmallVec;

use super::Error;
use super::address::{address_len, parse_address, write_address};
use super::header::TransactionId;
use super::integrity::PasswordAlgorithm;
use crate::wire::{Reader, Writer};

use super::attr_type as t;

/// USERNAME's longest value in bytes (RFC 5389 §15.3 allows fewer than 513; RFC 8489 §14.3
/// tightens to fewer than 509). We accept and write up to 513 so that any peer's value passes.
pub const MAX_USERNAME_LEN: usize = 513;
/// MESSAGE-INTEGRITY's HMAC-SHA1 length.
pub(crate) const SHA1_MAC_LEN: usize = 20;
/// MESSAGE-INTEGRITY-SHA256's range of lengths (RFC 8489 §14.6: at least 16, at most 32, a
/// multiple of 4).
pub(crate) const SHA256_MAC_MIN: usize = 16;
pub(crate) const SHA256_MAC_MAX: usize = 32;
/// USERHASH is a SHA-256 digest (RFC 8489 §14.4).
const USERHASH_LEN: usize = 32;

const FAMILY_V4: u8 = 0x01;
const FAMILY_V6: u8 = 0x02;
const CHANGE_IP: u32 = 0x4;
const CHANGE_PORT: u32 = 0x2;
const EVEN_PORT_R: u8 = 0x80;

/// An ERROR-CODE value (RFC 8489 §14.8): a number 300..=699 and a reason phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    /// The code, class * 100 + number: 300..=699.
    pub code: u16,
    /// The human-readable reason phrase.
    pub reason: Cow<'a, str>,
}

impl ErrorCode<'_> {
    /// 300 Try Alternate.
    pub const TRY_ALTERNATE: u16 = 300;
    /// 400 Bad Request.
    pub const BAD_REQUEST: u16 = 400;
    /// 401 Unauthenticated.
    pub const UNAUTHENTICATED: u16 = 401;
    /// 420 Unknown Attribute.
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;
    /// 438 Stale Nonce.
    pub const STALE_NONCE: u16 = 438;
    /// 487 Role Conflict (RFC 8445).
    pub const ROLE_CONFLICT: u16 = 487;
    /// 500 Server Error.
    pub const SERVER_ERROR: u16 = 500;
}

/// A REQUESTED-ADDRESS-FAMILY value (RFC 8656 §18.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4 (0x01).
    V4,
    /// IPv6 (0x02).
    V6,
    /// Any other number.
    Unknown(u8),
}

impl AddressFamily {
    fn from_u8(n: u8) -> Self {
        match n {
            FAMILY_V4 => Self::V4,
            FAMILY_V6 => Self::V6,
            n => Self::Unknown(n),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::V4 => FAMILY_V4,
            Self::V6 => FAMILY_V6,
            Self::Unknown(n) => n,
        }
    }
}

/// A PASSWORD-ALGORITHMS value (RFC 8489 §14.11), kept as its validated raw bytes so it can be
/// echoed exactly (§9.2.4 downgrade protection compares it byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordAlgorithms<'a>(Cow<'a, [u8]>);

impl<'a> PasswordAlgorithms<'a> {
    /// A list of algorithms without parameters (MD5 and SHA-256 take none).
    pub fn new(algorithms: &[PasswordAlgorithm]) -> PasswordAlgorithms<'static> {
        let mut raw = Vec::with_capacity(4 * algorithms.len());
        for a in algorithms {
            raw.extend_from_slice(&a.number().to_be_bytes());
            raw.extend_from_slice(&[0, 0]);
        }
        PasswordAlgorithms(Cow::Owned(raw))
    }

    /// Validates the raw value: a sequence of (algorithm, length, parameters padded to 4).
    pub fn from_bytes(raw: &'a [u8]) -> Result<Self, Error> {
        let this = PasswordAlgorithms(Cow::Borrowed(raw));
        let mut r = Reader::new(raw);
        while !r.is_empty() {
            let bad = |_| Error::BadAttribute {
                typ: t::PASSWORD_ALGORITHMS,
            };
            r.u16().map_err(bad)?;
            let len = usize::from(r.u16().map_err(bad)?);
            r.skip(padded(len)).map_err(bad)?;
        }
        Ok(this)
    }

    /// The raw value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The algorithms with their parameters, in order.
    pub fn iter(&self) -> impl Iterator<Item = (PasswordAlgorithm, &[u8])> + '_ {
        let mut r = Reader::new(&self.0);
        std::iter::from_fn(move || {
            let alg = r.u16().ok()?;
            let len = usize::from(r.u16().ok()?);
            let params = r.bytes(len).ok()?;
            r.skip(padded(len) - len).ok()?;
            Some((PasswordAlgorithm::from_number(alg), params))
        })
    }

    fn into_owned(self) -> PasswordAlgorithms<'static> {
        PasswordAlgorithms(Cow::Owned(self.0.into_owned()))
    }
}

/// One STUN attribute, typed. Text and byte values borrow from the parsed message when they
/// can; [`Attribute::into_owned`] detaches them.
///
/// Address attributes hold the plain socket address: the XOR encoding of XOR-MAPPED-ADDRESS,
/// XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS is applied on write and removed on parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute<'a> {
    /// MAPPED-ADDRESS: the reflexive address, unobfuscated (RFC 3489 clients).
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS: the reflexive address.
    XorMappedAddress(SocketAddr),
    /// USERNAME (at most [`MAX_USERNAME_LEN`] bytes).
    Username(Cow<'a, str>),
    /// USERHASH: SHA-256 of the username and realm.
    Userhash([u8; 32]),
    /// MESSAGE-INTEGRITY: HMAC-SHA1. Written by [`Message::write`](super::Message::write), not
    /// from this value.
    MessageIntegrity([u8; 20]),
    /// MESSAGE-INTEGRITY-SHA256: HMAC-SHA256, possibly truncated to 16..=32 bytes. Written by
    /// [`Message::write`](super::Message::write), not from this value.
    MessageIntegritySha256(Cow<'a, [u8]>),
    /// FINGERPRINT: CRC-32 of the message XOR 0x5354554e. Written by
    /// [`Message::write`](super::Message::write), not from this value.
    Fingerprint(u32),
    /// ERROR-CODE.
    ErrorCode(ErrorCode<'a>),
    /// UNKNOWN-ATTRIBUTES: the comprehension-required types a server did not understand.
    UnknownAttributes(SmallVec<[u16; 4]>),
    /// REALM.
    Realm(Cow<'a, str>),
    /// NONCE.
    Nonce(Cow<'a, str>),
    /// PASSWORD-ALGORITHMS: the algorithms a server offers.
    PasswordAlgorithms(PasswordAlgorithms<'a>),
    /// PASSWORD-ALGORITHM: the algorithm a client chose, with its parameters.
    PasswordAlgorithm {
        /// The algorithm.
        algorithm: PasswordAlgorithm,
        /// Its parameters (empty for MD5 and SHA-256).
        params: Cow<'a, [u8]>,
    },
    /// SOFTWARE: the agent's name and version. Invalid UTF-8 is replaced on parse.
    Software(Cow<'a, str>),
    /// ALTERNATE-SERVER: where to retry after 300 Try Alternate.
    AlternateServer(SocketAddr),
    /// ALTERNATE-DOMAIN: the domain name of the alternate server, for certificate checks.
    AlternateDomain(Cow<'a, str>),
    /// PRIORITY (ICE).
    Priority(u32),
    /// USE-CANDIDATE (ICE), no value.
    UseCandidate,
    /// ICE-CONTROLLED with its tie-breaker.
    IceControlled(u64),
    /// ICE-CONTROLLING with its tie-breaker.
    IceControlling(u64),
    /// NOMINATION (renomination, libwebrtc / Pion).
    Nomination(u32),
    /// CHANNEL-NUMBER (TURN).
    ChannelNumber(u16),
    /// LIFETIME in seconds (TURN).
    Lifetime(u32),
    /// XOR-PEER-ADDRESS (TURN).
    XorPeerAddress(SocketAddr),
    /// DATA (TURN).
    Data(Cow<'a, [u8]>),
    /// XOR-RELAYED-ADDRESS (TURN).
    XorRelayedAddress(SocketAddr),
    /// REQUESTED-ADDRESS-FAMILY (TURN).
    RequestedAddressFamily(AddressFamily),
    /// EVEN-PORT (TURN): whether the next port should be reserved too (the R bit).
    EvenPort(bool),
    /// REQUESTED-TRANSPORT (TURN): an IP protocol number, 17 for UDP.
    RequestedTransport(u8),
    /// DONT-FRAGMENT (TURN), no value.
    DontFragment,
    /// RESERVATION-TOKEN (TURN).
    ReservationToken(u64),
    /// CHANGE-REQUEST (RFC 5780): ask the server to answer from another IP and/or port.
    ChangeRequest {
        /// The "change IP" flag (A).
        ip: bool,
        /// The "change port" flag (B).
        port: bool,
    },
    /// RESPONSE-ORIGIN (RFC 5780): the address the response was sent from.
    ResponseOrigin(SocketAddr),
    /// OTHER-ADDRESS (RFC 5780): the server's address differing in both IP and port.
    OtherAddress(SocketAddr),
    /// Any other attribute, with its raw value (without padding). `typ` should be a type no
    /// other variant names: a named type is parsed back as its own variant.
    Unknown {
        /// The attribute type.
        typ: u16,
        /// The raw value.
        value: Cow<'a, [u8]>,
    },
}

fn padded(len: usize) -> usize {
    len.next_multiple_of(4)
}

fn text(typ: u16, v: &[u8]) -> Result<Cow<'_, str>, Error> {
    std::str::from_utf8(v)
        .map(Cow::Borrowed)
        .map_err(|_| Error::BadAttribute { typ })
}

fn fixed<const N: usize>(typ: u16, v: &[u8]) -> Result<[u8; N], Error> {
    v.try_into().map_err(|_| Error::BadAttribute { typ })
}

impl<'a> Attribute<'a> {
    /// The attribute's type number.
    pub fn typ(&self) -> u16 {
        match self {
            Self::MappedAddress(_) => t::MAPPED_ADDRESS,
            Self::XorMappedAddress(_) => t::XOR_MAPPED_ADDRESS,
            Self::Username(_) => t::USERNAME,
            Self::Userhash(_) => t::USERHASH,
            Self::MessageIntegrity(_) => t::MESSAGE_INTEGRITY,
            Self::MessageIntegritySha256(_) => t::MESSAGE_INTEGRITY_SHA256,
            Self::Fingerprint(_) => t::FINGERPRINT,
            Self::ErrorCode(_) => t::ERROR_CODE,
            Self::UnknownAttributes(_) => t::UNKNOWN_ATTRIBUTES,
            Self::Realm(_) => t::REALM,
            Self::Nonce(_) => t::NONCE,
            Self::PasswordAlgorithms(_) => t::PASSWORD_ALGORITHMS,
            Self::PasswordAlgorithm { .. } => t::PASSWORD_ALGORITHM,
            Self::Software(_) => t::SOFTWARE,
            Self::AlternateServer(_) => t::ALTERNATE_SERVER,
            Self::AlternateDomain(_) => t::ALTERNATE_DOMAIN,
            Self::Priority(_) => t::PRIORITY,
            Self::UseCandidate => t::USE_CANDIDATE,
            Self::IceControlled(_) => t::ICE_CONTROLLED,
            Self::IceControlling(_) => t::ICE_CONTROLLING,
            Self::Nomination(_) => t::NOMINATION,
            Self::ChannelNumber(_) => t::CHANNEL_NUMBER,
            Self::Lifetime(_) => t::LIFETIME,
            Self::XorPeerAddress(_) => t::XOR_PEER_ADDRESS,
            Self::Data(_) => t::DATA,
            Self::XorRelayedAddress(_) => t::XOR_RELAYED_ADDRESS,
            Self::RequestedAddressFamily(_) => t::REQUESTED_ADDRESS_FAMILY,
            Self::EvenPort(_) => t::EVEN_PORT,
            Self::RequestedTransport(_) => t::REQUESTED_TRANSPORT,
            Self::DontFragment => t::DONT_FRAGMENT,
            Self::ReservationToken(_) => t::RESERVATION_TOKEN,
            Self::ChangeRequest { .. } => t::CHANGE_REQUEST,
            Self::ResponseOrigin(_) => t::RESPONSE_ORIGIN,
            Self::OtherAddress(_) => t::OTHER_ADDRESS,
            Self::Unknown { typ, .. } => *typ,
        }
    }

    /// Parses the value `v` (without padding) of an attribute of type `typ`. The transaction id
    /// is needed to undo the XOR of IPv6 addresses.
    #[inline] // into `Message::parse`'s loop: returning the value through memory costs more
    pub fn parse(typ: u16, v: &'a [u8], id: &TransactionId) -> Result<Self, Error> {
        let bad = || Error::BadAttribute { typ };
        Ok(match typ {
            t::MAPPED_ADDRESS => Self::MappedAddress(parse_address(typ, v, None)?),
            t::XOR_MAPPED_ADDRESS => Self::XorMappedAddress(parse_address(typ, v, Some(id))?),
            t::USERNAME if v.len() > MAX_USERNAME_LEN => return Err(bad()),
            t::USERNAME => Self::Username(text(typ, v)?),
            t::USERHASH => Self::Userhash(fixed::<USERHASH_LEN>(typ, v)?),
            t::MESSAGE_INTEGRITY => Self::MessageIntegrity(fixed::<SHA1_MAC_LEN>(typ, v)?),
            t::MESSAGE_INTEGRITY_SHA256 => {
                // RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4.
                if !(SHA256_MAC_MIN..=SHA256_MAC_MAX).contains(&v.len())
                    || !v.len().is_multiple_of(4)
                {
                    return Err(bad());
                }
                Self::MessageIntegritySha256(Cow::Borrowed(v))
            }
            t::FINGERPRINT => Self::Fingerprint(u32::from_be_bytes(fixed(typ, v)?)),
            t::ERROR_CODE => {
                // RFC 8489 §14.8: 21 reserved bits, class (3 bits) 3..=6, number 0..=99.
                let [_, _, class, number] = *v.first_chunk::<4>().ok_or_else(bad)?;
                let class = u16::from(class & 0x07);
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(bad());
                }
                Self::ErrorCode(ErrorCode {
                    code: class * 100 + u16::from(number),
                    reason: String::from_utf8_lossy(&v[4..]),
                })
            }
            t::UNKNOWN_ATTRIBUTES => {
                if !v.len().is_multiple_of(2) {
                    return Err(bad());
                }
                let types = v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                Self::UnknownAttributes(types.collect())
            }
            t::REALM => Self::Realm(text(typ, v)?),
            t::NONCE => Self::Nonce(text(typ, v)?),
            t::PASSWORD_ALGORITHMS => Self::PasswordAlgorithms(PasswordAlgorithms::from_bytes(v)?),
            t::PASSWORD_ALGORITHM => {
                let mut r = Reader::new(v);
                let algorithm = r.u16().map_err(|_| bad())?;
                let len = usize::from(r.u16().map_err(|_| bad())?);
                let params = r.bytes(len).map_err(|_| bad())?;
                // Parameters may carry their own padding inside the value.
                if r.remaining() >= 4 {
                    return Err(bad());
                }
                Self::PasswordAlgorithm {
                    algorithm: PasswordAlgorithm::from_number(algorithm),
                    params: Cow::Borrowed(params),
                }
            }
            t::SOFTWARE => Self::Software(String::from_utf8_lossy(v)),
            t::ALTERNATE_SERVER => Self::AlternateServer(parse_address(typ, v, None)?),
            t::ALTERNATE_DOMAIN => Self::AlternateDomain(text(typ, v)?),
            t::PRIORITY => Self::Priority(u32::from_be_bytes(fixed(typ, v)?)),
            t::USE_CANDIDATE if v.is_empty() => Self::UseCandidate,
            t::ICE_CONTROLLED => Self::IceControlled(u64::from_be_bytes(fixed(typ, v)?)),
            t::ICE_CONTROLLING => Self::IceControlling(u64::from_be_bytes(fixed(typ, v)?)),
            t::NOMINATION => Self::Nomination(u32::from_be_bytes(fixed(typ, v)?)),
            t::CHANNEL_NUMBER => {
                let [a, b, _, _] = fixed(typ, v)?; // RFC 8656 §18.1: 16 bits RFFU after it.
                Self::ChannelNumber(u16::from_be_bytes([a, b]))
            }
            t::LIFETIME => Self::Lifetime(u32::from_be_bytes(fixed(typ, v)?)),
            t::XOR_PEER_ADDRESS => Self::XorPeerAddress(parse_address(typ, v, Some(id))?),
            t::DATA => Self::Data(Cow::Borrowed(v)),
            t::XOR_RELAYED_ADDRESS => Self::XorRelayedAddress(parse_address(typ, v, Some(id))?),
            t::REQUESTED_ADDRESS_FAMILY => {
                let [family, _, _, _] = fixed(typ, v)?;
                Self::RequestedAddressFamily(AddressFamily::from_u8(family))
            }
            t::EVEN_PORT => {
                let [flags] = fixed(typ, v)?;
                Self::EvenPort(flags & EVEN_PORT_R != 0)
            }
            t::REQUESTED_TRANSPORT => {
                let [protocol, _, _, _] = fixed(typ, v)?;
                Self::RequestedTransport(protocol)
            }
            t::DONT_FRAGMENT if v.is_empty() => Self::DontFragment,
            t::RESERVATION_TOKEN => Self::ReservationToken(u64::from_be_bytes(fixed(typ, v)?)),
            t::CHANGE_REQUEST => {
                let flags = u32::from_be_bytes(fixed(typ, v)?);
                Self::ChangeRequest {
                    ip: flags & CHANGE_IP != 0,
                    port: flags & CHANGE_PORT != 0,
                }
            }
            t::RESPONSE_ORIGIN => Self::ResponseOrigin(parse_address(typ, v, None)?),
            t::OTHER_ADDRESS => Self::OtherAddress(parse_address(typ, v, None)?),
            t::USE_CANDIDATE | t::DONT_FRAGMENT => return Err(bad()),
            typ => Self::Unknown {
                typ,
                value: Cow::Borrowed(v),
            },
        })
    }

    /// The length of the value, without padding.
    pub fn value_len(&self) -> usize {
        match self {
            Self::MappedAddress(a)
            | Self::XorMappedAddress(a)
            | Self::AlternateServer(a)
            | Self::XorPeerAddress(a)
            | Self::XorRelayedAddress(a)
            | Self::ResponseOrigin(a)
            | Self::OtherAddress(a) => address_len(a),
            Self::Username(s)
            | Self::Realm(s)
            | Self::Nonce(s)
            | Self::Software(s)
            | Self::AlternateDomain(s) => s.len(),
            Self::Userhash(_) => USERHASH_LEN,
            Self::MessageIntegrity(_) => SHA1_MAC_LEN,
            Self::MessageIntegritySha256(v) | Self::Data(v) => v.len(),
            Self::Unknown { value, .. } => value.len(),
            Self::ErrorCode(e) => 4 + e.reason.len(),
            Self::UnknownAttributes(list) => 2 * list.len(),
            Self::PasswordAlgorithms(p) => p.0.len(),
            Self::PasswordAlgorithm { params, .. } => 4 + params.len(),
            Self::UseCandidate | Self::DontFragment => 0,
            Self::EvenPort(_) => 1,
            Self::Fingerprint(_)
            | Self::Priority(_)
            | Self::Nomination(_)
            | Self::ChannelNumber(_)
            | Self::Lifetime(_)
            | Self::RequestedAddressFamily(_)
            | Self::RequestedTransport(_)
            | Self::ChangeRequest { .. } => 4,
            Self::IceControlled(_) | Self::IceControlling(_) | Self::ReservationToken(_) => 8,
        }
    }

    /// Writes the value (without the attribute header or padding) and checks the limits
    /// [`parse`](Self::parse) enforces, so that what is written parses back.
    pub fn write_value(&self, w: &mut Writer<'_>, id: &TransactionId) -> Result<(), Error> {
        let bad = || Error::BadAttribute { typ: self.typ() };
        match self {
            Self::MappedAddress(a)
            | Self::AlternateServer(a)
            | Self::ResponseOrigin(a)
            | Self::OtherAddress(a) => write_address(w, a, None)?,
            Self::XorMappedAddress(a) | Self::XorPeerAddress(a) | Self::XorRelayedAddress(a) => {
                write_address(w, a, Some(id))?
            }
            Self::Username(s) if s.len() > MAX_USERNAME_LEN => return Err(bad()),
            Self::Username(s)
            | Self::Realm(s)
            | Self::Nonce(s)
            | Self::Software(s)
            | Self::AlternateDomain(s) => w.bytes(s.as_bytes())?,
            Self::Userhash(h) => w.bytes(h)?,
            Self::MessageIntegrity(m) => w.bytes(m)?,
            Self::MessageIntegritySha256(m)
                if !(SHA256_MAC_MIN..=SHA256_MAC_MAX).contains(&m.len())
                    || !m.len().is_multiple_of(4) =>
            {
                return Err(bad());
            }
            Self::MessageIntegritySha256(v) | Self::Data(v) => w.bytes(v)?,
            Self::Unknown { value, .. } => w.bytes(value)?,
            Self::Fingerprint(v) | Self::Priority(v) | Self::Nomination(v) | Self::Lifetime(v) => {
                w.u32(*v)?
            }
            Self::ErrorCode(e) => {
                if !(300..=699).contains(&e.code) {
                    return Err(bad());
                }
                w.u16(0)?;
                w.u8((e.code / 100) as u8)?;
                w.u8((e.code % 100) as u8)?;
                w.bytes(e.reason.as_bytes())?;
            }
            Self::UnknownAttributes(list) => {
                for &typ in list {
                    w.u16(typ)?;
                }
            }
            Self::PasswordAlgorithms(p) => w.bytes(&p.0)?,
            Self::PasswordAlgorithm { algorithm, params } => {
                let len = u16::try_from(params.len()).map_err(|_| bad())?;
                w.u16(algorithm.number())?;
                w.u16(len)?;
                w.bytes(params)?;
            }
            Self::UseCandidate | Self::DontFragment => {}
            Self::IceControlled(v) | Self::IceControlling(v) | Self::ReservationToken(v) => {
                w.u64(*v)?
            }
            Self::ChannelNumber(n) => {
                w.u16(*n)?;
                w.u16(0)?;
            }
            Self::RequestedAddressFamily(f) => w.bytes(&[f.to_u8(), 0, 0, 0])?,
            Self::EvenPort(r) => w.u8(if *r { EVEN_PORT_R } else { 0 })?,
            Self::RequestedTransport(p) => w.bytes(&[*p, 0, 0, 0])?,
            Self::ChangeRequest { ip, port } => {
                let ip = if *ip { CHANGE_IP } else { 0 };
                let port = if *port { CHANGE_PORT } else { 0 };
                w.u32(ip | port)?
            }
        }
        Ok(())
    }

    /// Detaches borrowed values from the message they were parsed from.
    pub fn into_owned(self) -> Attribute<'static> {
        fn s(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        fn b(c: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
            Cow::Owned(c.into_owned())
        }
        match self {
            Self::MappedAddress(a) => Attribute::MappedAddress(a),
            Self::XorMappedAddress(a) => Attribute::XorMappedAddress(a),
            Self::Username(v) => Attribute::Username(s(v)),
            Self::Userhash(h) => Attribute::Userhash(h),
            Self::MessageIntegrity(m) => Attribute::MessageIntegrity(m),
            Self::MessageIntegritySha256(m) => Attribute::MessageIntegritySha256(b(m)),
            Self::Fingerprint(f) => Attribute::Fingerprint(f),
            Self::ErrorCode(e) => Attribute::ErrorCode(ErrorCode {
                code: e.code,
                reason: s(e.reason),
            }),
            Self::UnknownAttributes(l) => Attribute::UnknownAttributes(l),
            Self::Realm(v) => Attribute::Realm(s(v)),
            Self::Nonce(v) => Attribute::Nonce(s(v)),
            Self::PasswordAlgorithms(p) => Attribute::PasswordAlgorithms(p.into_owned()),
            Self::PasswordAlgorithm { algorithm, params } => Attribute::PasswordAlgorithm {
                algorithm,
                params: b(params),
            },
            Self::Software(v) => Attribute::Software(s(v)),
            Self::AlternateServer(a) => Attribute::AlternateServer(a),
            Self::AlternateDomain(v) => Attribute::AlternateDomain(s(v)),
            Self::Priority(p) => Attribute::Priority(p),
            Self::UseCandidate => Attribute::UseCandidate,
            Self::IceControlled(v) => Attribute::IceControlled(v),
            Self::IceControlling(v) => Attribute::IceControlling(v),
            Self::Nomination(v) => Attribute::Nomination(v),
            Self::ChannelNumber(v) => Attribute::ChannelNumber(v),
            Self::Lifetime(v) => Attribute::Lifetime(v),
            Self::XorPeerAddress(a) => Attribute::XorPeerAddress(a),
            Self::Data(v) => Attribute::Data(b(v)),
            Self::XorRelayedAddress(a) => Attribute::XorRelayedAddress(a),
            Self::RequestedAddressFamily(f) => Attribute::RequestedAddressFamily(f),
            Self::EvenPort(r) => Attribute::EvenPort(r),
            Self::RequestedTransport(p) => Attribute::RequestedTransport(p),
            Self::DontFragment => Attribute::DontFragment,
            Self::ReservationToken(v) => Attribute::ReservationToken(v),
            Self::ChangeRequest { ip, port } => Attribute::ChangeRequest { ip, port },
            Self::ResponseOrigin(a) => Attribute::ResponseOrigin(a),
            Self::OtherAddress(a) => Attribute::OtherAddress(a),
            Self::Unknown { typ, value } => Attribute::Unknown {
                typ,
                value: b(value),
            },
        }
    }
}
