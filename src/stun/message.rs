//! [`Message`]: parse and write whole STUN messages, and check their integrity and fingerprint.

use std::borrow::Cow;
use std::fmt;

use smallvec::SmallVec;

use super::Error;
use super::attr::{Attribute, SHA1_MAC_LEN, SHA256_MAC_MAX};
use super::attr_type::{self as t, is_comprehension_required};
use super::header::{
    ATTR_HEADER_LEN, COOKIE_OFFSET, Class, HEADER_LEN, LENGTH_OFFSET, MAGIC_COOKIE, Method,
    TRANSACTION_ID_OFFSET, TransactionId, message_type, split_type,
};
use super::integrity::{self, Integrity, Key};
use crate::wire::{Reader, Writer};

const COOKIE: [u8; 4] = MAGIC_COOKIE.to_be_bytes();

/// FINGERPRINT's value length.
const FINGERPRINT_LEN: usize = 4;
/// RFC 8489 §5: the two most significant bits of every STUN message are zero.
const TYPE_TOP_BITS: u16 = 0xc000;

/// A STUN message: class, method, transaction id and attributes.
///
/// A parsed message borrows its text and byte values from the input (`Message<'a>`), and keeps
/// the received bytes so that [`verify`](Self::verify) and
/// [`verify_fingerprint`](Self::verify_fingerprint) recompute over exactly what arrived.
/// [`into_owned`](Self::into_owned) detaches it.
///
/// A message built for sending ([`new`](Self::new), [`add`](Self::add)) is written with
/// [`write`](Self::write), which adds MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT itself: those
/// three attributes in the list are never written from their stored values.
///
/// Equality compares class, method, transaction id and attributes, not the received bytes.
#[derive(Clone)]
pub struct Message<'a> {
    class: Class,
    method: Method,
    transaction_id: TransactionId,
    attributes: SmallVec<[Attribute<'a>; 8]>,
    /// The received message (empty for a message built for sending).
    raw: Cow<'a, [u8]>,
    /// Offsets in `raw` of the integrity and fingerprint attribute headers that count.
    integrity_at: Option<usize>,
    integrity_sha256_at: Option<usize>,
    fingerprint_at: Option<usize>,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("class", &self.class)
            .field("method", &self.method)
            .field("transaction_id", &self.transaction_id)
            .field("attributes", &self.attributes)
            .finish()
    }
}

impl PartialEq for Message<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class
            && self.method == other.method
            && self.transaction_id == other.transaction_id
            && self.attributes == other.attributes
    }
}

impl Eq for Message<'_> {}

fn padded(len: usize) -> usize {
    len.next_multiple_of(4)
}

/// The header length field for a message of `total` bytes.
fn body_len(total: usize) -> Result<u16, Error> {
    u16::try_from(total - HEADER_LEN).map_err(|_| Error::MessageTooLong)
}

/// Whether [`Message::write`] computes this attribute instead of copying it.
fn is_computed(typ: u16) -> bool {
    matches!(
        typ,
        t::MESSAGE_INTEGRITY | t::MESSAGE_INTEGRITY_SHA256 | t::FINGERPRINT
    )
}

impl<'a> Message<'a> {
    /// The most attributes [`parse`](Self::parse) keeps before failing with
    /// [`Error::TooManyAttributes`]; it bounds the memory one datagram can make us allocate.
    pub const MAX_ATTRIBUTES: usize = 128;

    /// An empty message to fill with [`add`](Self::add) and send with [`write`](Self::write).
    pub fn new(class: Class, method: Method, transaction_id: TransactionId) -> Self {
        Self {
            class,
            method,
            transaction_id,
            attributes: SmallVec::new(),
            raw: Cow::Borrowed(&[]),
            integrity_at: None,
            integrity_sha256_at: None,
            fingerprint_at: None,
        }
    }

    /// Appends an attribute.
    pub fn add(&mut self, attribute: Attribute<'a>) -> &mut Self {
        self.attributes.push(attribute);
        self
    }

    /// Appends an attribute, builder style.
    pub fn with(mut self, attribute: Attribute<'a>) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// The class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// Replaces the transaction id (of a message being built; a parsed message then no longer
    /// verifies).
    pub fn set_transaction_id(&mut self, id: TransactionId) {
        self.transaction_id = id;
    }

    /// The attributes in order. For a parsed message, attributes that follow
    /// MESSAGE-INTEGRITY(-SHA256) and must be ignored (RFC 8489 §14.5, §14.6) are left out.
    pub fn attributes(&self) -> &[Attribute<'a>] {
        &self.attributes
    }

    /// The received bytes of a parsed message; empty for a message built for sending.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The first attribute of type `typ` (RFC 8489 §14: only the first occurrence counts).
    pub fn get(&self, typ: u16) -> Option<&Attribute<'a>> {
        self.attributes.iter().find(|a| a.typ() == typ)
    }

    /// The comprehension-required attribute types (below 0x8000) this layer does not know, in
    /// order, for a 420 response's UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1).
    pub fn unknown_comprehension_required(&self) -> SmallVec<[u16; 4]> {
        self.attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::Unknown { typ, .. } if is_comprehension_required(*typ) => Some(*typ),
                _ => None,
            })
            .collect()
    }

    /// Parses one whole STUN message. Total: any input gives a message or a typed error, and
    /// allocation is bounded by [`MAX_ATTRIBUTES`](Self::MAX_ATTRIBUTES).
    ///
    /// Checks RFC 8489 §5 and §14: the top two bits are zero, the magic cookie is present, the
    /// length is a multiple of 4 and equals the bytes after the header, every attribute with its
    /// padding fits, each known attribute's value is well formed, and nothing follows
    /// FINGERPRINT. Padding bytes are not checked (§14: receivers ignore them). Integrity and
    /// fingerprint are not checked here: see [`verify`](Self::verify) and
    /// [`verify_fingerprint`](Self::verify_fingerprint).
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        if data.len() < HEADER_LEN {
            return Err(Error::TooShort { len: data.len() });
        }
        // Plain slicing rather than `Reader` here: this loop is the receive hot path, and the
        // bounds are all established by the length checks below.
        let (header, body) = data.split_at(HEADER_LEN);
        let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        let typ = be16(header, 0);
        let length = usize::from(be16(header, LENGTH_OFFSET));
        if typ & TYPE_TOP_BITS != 0 || header[COOKIE_OFFSET..TRANSACTION_ID_OFFSET] != COOKIE {
            return Err(Error::NotStun);
        }
        let mut id = [0u8; 12];
        id.copy_from_slice(&header[TRANSACTION_ID_OFFSET..]);
        let transaction_id = TransactionId(id);
        if length % 4 != 0 || length != body.len() {
            return Err(Error::BadLength {
                length,
                available: body.len(),
            });
        }
        let (class, method) = split_type(typ);
        let mut msg = Self::new(class, method, transaction_id);
        msg.raw = Cow::Borrowed(data);
        let mut pos = 0;
        // `body.len()` and `pos` are multiples of 4, so an attribute header always fits.
        while pos + ATTR_HEADER_LEN <= body.len() {
            let at = HEADER_LEN + pos;
            if msg.fingerprint_at.is_some() {
                // RFC 8489 §14.7: FINGERPRINT MUST be the last attribute.
                return Err(Error::AttributeAfterFingerprint);
            }
            let atyp = be16(body, pos);
            let alen = usize::from(be16(body, pos + 2));
            let start = pos + ATTR_HEADER_LEN;
            pos = start + padded(alen);
            if pos > body.len() {
                return Err(Error::TruncatedAttribute { typ: atyp });
            }
            let value = &body[start..start + alen];

            // RFC 8489 §14.5, §14.6: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and
            // FINGERPRINT count; after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT does.
            let counts = atyp == t::FINGERPRINT
                || msg.integrity_sha256_at.is_none()
                    && (msg.integrity_at.is_none() || atyp == t::MESSAGE_INTEGRITY_SHA256);
            if !counts {
                continue;
            }
            if msg.attributes.len() >= Self::MAX_ATTRIBUTES {
                return Err(Error::TooManyAttributes);
            }
            msg.attributes
                .push(Attribute::parse(atyp, value, &transaction_id)?);
            match atyp {
                t::MESSAGE_INTEGRITY => msg.integrity_at = Some(at),
                t::MESSAGE_INTEGRITY_SHA256 => msg.integrity_sha256_at = Some(at),
                t::FINGERPRINT => msg.fingerprint_at = Some(at),
                _ => {}
            }
        }
        Ok(msg)
    }

    /// The number of bytes [`write`](Self::write) produces with these options.
    pub fn encoded_len(&self, integrity: Option<&Key>, fingerprint: bool) -> usize {
        let attrs: usize = self
            .attributes
            .iter()
            .filter(|a| !is_computed(a.typ()))
            .map(|a| ATTR_HEADER_LEN + padded(a.value_len()))
            .sum();
        let mac = match integrity.map(Key::integrity) {
            None => 0,
            Some(Integrity::Sha1) => ATTR_HEADER_LEN + SHA1_MAC_LEN,
            Some(Integrity::Sha256) => ATTR_HEADER_LEN + SHA256_MAC_MAX,
            Some(Integrity::Both) => 2 * ATTR_HEADER_LEN + SHA1_MAC_LEN + SHA256_MAC_MAX,
        };
        let fp = if fingerprint {
            ATTR_HEADER_LEN + FINGERPRINT_LEN
        } else {
            0
        };
        HEADER_LEN + attrs + mac + fp
    }

    /// Writes the message into `buf` and returns its length. Allocates nothing.
    ///
    /// With `integrity`, appends MESSAGE-INTEGRITY and/or MESSAGE-INTEGRITY-SHA256 as the key's
    /// [`Integrity`] says; with `fingerprint`, appends FINGERPRINT last. Padding is zeros.
    /// Fails with [`Error::Wire`] when `buf` is too small (see
    /// [`encoded_len`](Self::encoded_len)), and with [`Error::BadAttribute`] for a value its
    /// parser would reject.
    pub fn write(
        &self,
        buf: &mut [u8],
        integrity: Option<&Key>,
        fingerprint: bool,
    ) -> Result<usize, Error> {
        self.write_padded(buf, integrity, fingerprint, 0)
    }

    /// [`write`](Self::write) with `padding` as the padding byte. Receivers ignore padding
    /// (RFC 8489 §14); RFC 5769's sample messages pad with spaces (0x20), which this reproduces.
    pub fn write_padded(
        &self,
        buf: &mut [u8],
        integrity: Option<&Key>,
        fingerprint: bool,
        padding: u8,
    ) -> Result<usize, Error> {
        let id = self.transaction_id;
        self.encode(buf, &id, None, integrity, fingerprint, padding)
    }

    /// Writes the message with transaction id `id` and `extra` after the other attributes
    /// (the client's SOFTWARE), without needing a modified copy of the message.
    pub(crate) fn encode(
        &self,
        buf: &mut [u8],
        id: &TransactionId,
        extra: Option<&Attribute<'_>>,
        integrity: Option<&Key>,
        fingerprint: bool,
        padding: u8,
    ) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        w.u16(message_type(self.class, self.method)?)?;
        w.u16(0)?; // patched below
        w.u32(MAGIC_COOKIE)?;
        w.bytes(id.as_bytes())?;
        let attributes = self.attributes.iter().chain(extra);
        for a in attributes.filter(|a| !is_computed(a.typ())) {
            let len = a.value_len();
            w.u16(a.typ())?;
            w.u16(u16::try_from(len).map_err(|_| Error::MessageTooLong)?)?;
            a.write_value(&mut w, id)?;
            w.reserve(padded(len) - len)?.fill(padding);
        }
        if let Some(key) = integrity {
            let integrity = key.integrity();
            if matches!(integrity, Integrity::Sha1 | Integrity::Both) {
                // RFC 8489 §14.5: HMAC over everything before the attribute, with the header
                // length counting up to the end of MESSAGE-INTEGRITY.
                let at = w.position();
                let length = body_len(at + ATTR_HEADER_LEN + SHA1_MAC_LEN)?;
                let (header, body) = header_and_body(w.written(), at);
                let tag = key.sha1(&header, length, body);
                w.u16(t::MESSAGE_INTEGRITY)?;
                w.u16(SHA1_MAC_LEN as u16)?;
                w.bytes(tag.as_ref())?;
            }
            if matches!(integrity, Integrity::Sha256 | Integrity::Both) {
                // RFC 8489 §14.6: the same, with HMAC-SHA256.
                let at = w.position();
                let length = body_len(at + ATTR_HEADER_LEN + SHA256_MAC_MAX)?;
                let (header, body) = header_and_body(w.written(), at);
                let tag = key.sha256(&header, length, body);
                w.u16(t::MESSAGE_INTEGRITY_SHA256)?;
                w.u16(SHA256_MAC_MAX as u16)?;
                w.bytes(tag.as_ref())?;
            }
        }
        if fingerprint {
            // RFC 8489 §14.7: CRC-32 over everything before the attribute, with the header
            // length already counting FINGERPRINT, XOR 0x5354554e.
            let at = w.position();
            w.patch_u16(
                LENGTH_OFFSET,
                body_len(at + ATTR_HEADER_LEN + FINGERPRINT_LEN)?,
            )?;
            let crc = integrity::fingerprint(w.written());
            w.u16(t::FINGERPRINT)?;
            w.u16(FINGERPRINT_LEN as u16)?;
            w.u32(crc)?;
        }
        let total = w.position();
        w.patch_u16(LENGTH_OFFSET, body_len(total)?)?;
        Ok(total)
    }

    /// Whether the parsed message carries MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 that
    /// counts (false for a message built for sending, whose integrity `write` adds).
    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some() || self.integrity_sha256_at.is_some()
    }

    /// Whether the parsed message carries FINGERPRINT (false for a message built for sending).
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint_at.is_some()
    }

    /// Checks the integrity of a parsed message with `key`, recomputing the HMAC over the
    /// received bytes and comparing in constant time. Returns which attribute was checked.
    ///
    /// RFC 8489 §9.1.3: when MESSAGE-INTEGRITY-SHA256 is present it is the one checked
    /// (truncated values of 16..=32 bytes compare against the same prefix of the HMAC);
    /// otherwise MESSAGE-INTEGRITY is. A message built for sending has nothing to check and
    /// gives [`Error::MissingIntegrity`].
    pub fn verify(&self, key: &Key) -> Result<Integrity, Error> {
        let (at, integrity) = match (self.integrity_sha256_at, self.integrity_at) {
            (Some(at), _) => (at, Integrity::Sha256),
            (None, Some(at)) => (at, Integrity::Sha1),
            (None, None) => return Err(Error::MissingIntegrity),
        };
        let raw: &[u8] = &self.raw;
        let mut r = Reader::new(raw.get(at..).ok_or(Error::MissingIntegrity)?);
        r.u16()?;
        let len = usize::from(r.u16()?);
        let received = r.bytes(len)?;
        let length = body_len(at + ATTR_HEADER_LEN + len)?;
        let (header, body) = header_and_body(raw, at);
        let tag = match integrity {
            Integrity::Sha256 => key.sha256(&header, length, body),
            _ => key.sha1(&header, length, body),
        };
        integrity::check(&tag, received)?;
        Ok(integrity)
    }

    /// Checks FINGERPRINT of a parsed message (RFC 8489 §14.7).
    pub fn verify_fingerprint(&self) -> Result<(), Error> {
        let at = self.fingerprint_at.ok_or(Error::MissingFingerprint)?;
        let raw: &[u8] = &self.raw;
        let mut r = Reader::new(raw.get(at + ATTR_HEADER_LEN..).unwrap_or_default());
        let received = r.u32().map_err(|_| Error::MissingFingerprint)?;
        let before = raw.get(..at).unwrap_or_default();
        if integrity::fingerprint(before) != received {
            return Err(Error::FingerprintMismatch);
        }
        Ok(())
    }

    /// Detaches the message from the bytes it was parsed from.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            class: self.class,
            method: self.method,
            transaction_id: self.transaction_id,
            attributes: self
                .attributes
                .into_iter()
                .map(Attribute::into_owned)
                .collect(),
            raw: Cow::Owned(self.raw.into_owned()),
            integrity_at: self.integrity_at,
            integrity_sha256_at: self.integrity_sha256_at,
            fingerprint_at: self.fingerprint_at,
        }
    }
}

/// The header (copied, for its length to be patched) and the bytes between it and `at`.
fn header_and_body(bytes: &[u8], at: usize) -> ([u8; HEADER_LEN], &[u8]) {
    let header = bytes
        .first_chunk::<HEADER_LEN>()
        .copied()
        .unwrap_or([0; HEADER_LEN]);
    (header, bytes.get(HEADER_LEN..at).unwrap_or_default())
}
