//! Credentials and message integrity: short-term and long-term keys (RFC 8489 §9), HMAC-SHA1
//! MESSAGE-INTEGRITY (§14.5), HMAC-SHA256 MESSAGE-INTEGRITY-SHA256 (§14.6) and the FINGERPRINT
//! CRC (§14.7).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::{constant_time, digest, hmac};

use super::Error;
use super::header::{HEADER_LEN, LENGTH_OFFSET};

/// FINGERPRINT is the CRC-32 of the message XORed with this (RFC 8489 §14.7: "STUN").
pub(crate) const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Which integrity attribute [`Message::write`](super::Message::write) adds with a [`Key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Integrity {
    /// MESSAGE-INTEGRITY (HMAC-SHA1): what RFC 5389 peers, ICE and TURN servers expect.
    #[default]
    Sha1,
    /// MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, 32 bytes, never truncated on send).
    Sha256,
    /// Both, MESSAGE-INTEGRITY first (RFC 8489 §14.6 allows MESSAGE-INTEGRITY-SHA256 after
    /// MESSAGE-INTEGRITY), for a peer whose support is unknown.
    Both,
}

/// A PASSWORD-ALGORITHM number (RFC 8489 §18.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordAlgorithm {
    /// MD5 (0x0001): the RFC 5389 long-term key.
    Md5,
    /// SHA-256 (0x0002): RFC 8489 §18.5.1.1.
    Sha256,
    /// Any other number.
    Unknown(u16),
}

impl PasswordAlgorithm {
    /// The algorithm number.
    pub fn number(self) -> u16 {
        match self {
            Self::Md5 => 0x0001,
            Self::Sha256 => 0x0002,
            Self::Unknown(n) => n,
        }
    }

    /// The algorithm for a number.
    pub fn from_number(n: u16) -> Self {
        match n {
            0x0001 => Self::Md5,
            0x0002 => Self::Sha256,
            n => Self::Unknown(n),
        }
    }
}

/// Only the raw key bytes are kept. A precomputed aws-lc HMAC key costs ~2.5 KiB, and an ICE
/// agent holds two per peer; deriving the HMAC key per message costs two hash blocks, which
/// STUN's message rate (a check every few milliseconds at most) does not notice.
struct KeyInner {
    raw: Box<[u8]>,
}

/// A STUN integrity key: the key bytes, shared, so cloning is cheap. Signing or verifying
/// derives the HMAC key per message (see `KeyInner` for why).
///
/// Strings are used as given: kaon does not apply the OpaqueString profile (RFC 8265) or
/// SASLprep (RFC 4013) that RFC 8489 §9 asks for. Both leave printable ASCII unchanged, which
/// covers ICE and every deployed TURN server; callers with other passwords pass the prepared
/// form (RFC 5769 §2.4's "The\u{AD}M\u{AA}tr\u{2168}" becomes "TheMatrIX").
#[derive(Clone)]
pub struct Key {
    inner: Arc<KeyInner>,
    integrity: Integrity,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("Key")
            .field("integrity", &self.integrity)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key from raw bytes, writing MESSAGE-INTEGRITY.
    pub fn from_bytes(key: &[u8]) -> Self {
        Self {
            inner: Arc::new(KeyInner { raw: key.into() }),
            integrity: Integrity::Sha1,
        }
    }

    /// The short-term credential key (RFC 8489 §9.1.1): the password itself.
    pub fn short_term(password: &str) -> Self {
        Self::from_bytes(password.as_bytes())
    }

    /// The long-term credential key with MD5 (RFC 8489 §9.2.2):
    /// `MD5(username ":" realm ":" password)`.
    pub fn long_term(username: &str, realm: &str, password: &str) -> Self {
        let mut h = crate::wire::md5::Md5::new();
        for (i, part) in [username, realm, password].into_iter().enumerate() {
            if i > 0 {
                h.update(b":");
            }
            h.update(part.as_bytes());
        }
        Self::from_bytes(&h.finish())
    }

    /// The long-term credential key with SHA-256 (RFC 8489 §9.2.2, §18.5.1.1):
    /// `SHA-256(username ":" realm ":" password)`.
    pub fn long_term_sha256(username: &str, realm: &str, password: &str) -> Self {
        let mut h = digest::Context::new(&digest::SHA256);
        h.update(username.as_bytes());
        h.update(b":");
        h.update(realm.as_bytes());
        h.update(b":");
        h.update(password.as_bytes());
        Self::from_bytes(h.finish().as_ref())
    }

    /// The long-term key for the algorithm a PASSWORD-ALGORITHM attribute names, or `None` for
    /// an algorithm kaon does not implement.
    pub fn long_term_with(
        algorithm: PasswordAlgorithm,
        username: &str,
        realm: &str,
        password: &str,
    ) -> Option<Self> {
        match algorithm {
            PasswordAlgorithm::Md5 => Some(Self::long_term(username, realm, password)),
            PasswordAlgorithm::Sha256 => Some(Self::long_term_sha256(username, realm, password)),
            PasswordAlgorithm::Unknown(_) => None,
        }
    }

    /// The same key, writing the given integrity attribute(s).
    pub fn with_integrity(mut self, integrity: Integrity) -> Self {
        self.integrity = integrity;
        self
    }

    /// Which integrity attribute(s) this key writes.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// HMAC-SHA1 over the header with its length field replaced by `length`, then `body`
    /// (RFC 8489 §14.5: the length covers up to and including MESSAGE-INTEGRITY).
    pub(crate) fn sha1(&self, header: &[u8; HEADER_LEN], length: u16, body: &[u8]) -> hmac::Tag {
        let algorithm = hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY;
        mac(algorithm, &self.inner.raw, header, length, body)
    }

    /// HMAC-SHA256, as [`sha1`](Self::sha1) (RFC 8489 §14.6).
    pub(crate) fn sha256(&self, header: &[u8; HEADER_LEN], length: u16, body: &[u8]) -> hmac::Tag {
        mac(hmac::HMAC_SHA256, &self.inner.raw, header, length, body)
    }
}

fn mac(
    algorithm: hmac::Algorithm,
    key: &[u8],
    header: &[u8; HEADER_LEN],
    length: u16,
    body: &[u8],
) -> hmac::Tag {
    let mut h = *header;
    h[LENGTH_OFFSET..LENGTH_OFFSET + 2].copy_from_slice(&length.to_be_bytes());
    let key = hmac::Key::new(algorithm, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&h);
    ctx.update(body);
    ctx.sign()
}

/// Compares a received MAC with the computed tag (truncated to the received length) in
/// constant time.
pub(crate) fn check(tag: &hmac::Tag, received: &[u8]) -> Result<(), Error> {
    let computed = tag.as_ref().get(..received.len()).unwrap_or_default();
    constant_time::verify_slices_are_equal(computed, received).map_err(|_| Error::IntegrityMismatch)
}

/// The FINGERPRINT value of the bytes before it, whose length field already covers it.
pub(crate) fn fingerprint(bytes: &[u8]) -> u32 {
    crate::wire::crc32(bytes) ^ FINGERPRINT_XOR
}
