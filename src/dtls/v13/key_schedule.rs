//! The TLS 1.3 key schedule (RFC 8446 §7) as DTLS 1.3 uses it (RFC 9147 §5.9).
//!
//! Each stage is its own type and can only become the next one, so a secret can only be used
//! where the RFC uses it:
//!
//! ```text
//! EarlySecret --(ECDHE/KEM shared secret)--> HandshakeSecret --> MasterSecret
//!                                               |                   |
//!                                 c/s hs traffic (epoch 2)   c/s ap traffic (epoch 3..),
//!                                                            exporter master secret
//! ```
//!
//! RFC 9147 §5.9: DTLS 1.3 uses the label prefix "dtls13" where TLS 1.3 uses "tls13 ", in
//! every HKDF-Expand-Label; the maths is otherwise the same, so the TLS prefix is kept for
//! the RFC 8448 known-answer tests.

use crate::dtls::error::Internal;
use aws_lc_rs::{digest, hkdf, hmac};

use super::super::Error;
use super::super::crypto::PrfHash;

/// The largest hash output (SHA-384).
pub(crate) const MAX_HASH_LEN: usize = 48;

/// Which protocol's label prefix HKDF-Expand-Label uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelPrefix {
    /// "tls13 " (RFC 8446 §7.1).
    Tls13,
    /// "dtls13" (RFC 9147 §5.9).
    Dtls13,
}

impl LabelPrefix {
    fn bytes(self) -> &'static [u8] {
        match self {
            Self::Tls13 => b"tls13 ",
            Self::Dtls13 => b"dtls13",
        }
    }
}

impl PrfHash {
    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Self::Sha256 => hkdf::HKDF_SHA256,
            Self::Sha384 => hkdf::HKDF_SHA384,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha384 => hmac::HMAC_SHA384,
        }
    }

    /// The hash output length.
    pub(crate) fn len(self) -> usize {
        self.digest().output_len()
    }

    /// The hash of nothing, the context of Derive-Secret(.., "derived", "").
    fn empty_hash(self) -> digest::Digest {
        digest::digest(self.digest(), b"")
    }
}

/// A secret of the schedule: a hash output, kept with the hash it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    hash: PrfHash,
    bytes: [u8; MAX_HASH_LEN],
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// `out.len()` as an HKDF output length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// RFC 8446 §7.1: `HKDF-Extract(salt, IKM)`.
pub(crate) fn hkdf_extract(hash: PrfHash, salt: &[u8], ikm: &[u8]) -> Secret {
    // aws-lc-rs keeps the PRK opaque; HMAC(salt, IKM) is HKDF-Extract by definition
    // (RFC 5869 §2.2), and gives us the bytes the next stage needs.
    let key = hmac::Key::new(hash.hmac(), salt);
    Secret::from_slice(hash, hmac::sign(&key, ikm).as_ref())
}

/// RFC 8446 §7.1: `HKDF-Expand-Label(Secret, Label, Context, Length)`, the label prefixed with
/// "tls13 " or (RFC 9147 §5.9) "dtls13".
pub(crate) fn hkdf_expand_label(
    hash: PrfHash,
    prefix: LabelPrefix,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let prefix = prefix.bytes();
    // struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } HkdfLabel;
    let label_len = prefix.len() + label.len();
    if label_len > 255 || context.len() > 255 || out.len() > usize::from(u16::MAX) {
        return Err(Error::Internal(Internal::Crypto));
    }
    let length = (out.len() as u16).to_be_bytes();
    let info: [&[u8]; 6] = [
        &length,
        &[label_len as u8],
        prefix,
        label,
        &[context.len() as u8],
        context,
    ];
    let prk = hkdf::Prk::new_less_safe(hash.hkdf(), secret);
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| Error::Internal(Internal::Crypto))
}

impl Secret {
    pub(crate) fn from_slice(hash: PrfHash, s: &[u8]) -> Self {
        let mut bytes = [0u8; MAX_HASH_LEN];
        let n = s.len().min(MAX_HASH_LEN);
        bytes[..n].copy_from_slice(&s[..n]);
        Self { hash, bytes }
    }

    /// The secret's bytes (the hash length).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.hash.len()]
    }

    pub(crate) fn hash(&self) -> PrfHash {
        self.hash
    }

    /// `HKDF-Expand-Label(self, label, context, out.len())`.
    pub(crate) fn expand_label(
        &self,
        prefix: LabelPrefix,
        label: &[u8],
        context: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        hkdf_expand_label(self.hash, prefix, self.as_bytes(), label, context, out)
    }

    /// RFC 8446 §7.1: `Derive-Secret(Secret, Label, Messages)`, given the transcript hash.
    pub(crate) fn derive_secret(
        &self,
        prefix: LabelPrefix,
        label: &[u8],
        transcript_hash: &[u8],
    ) -> Result<Secret, Error> {
        let mut out = [0u8; MAX_HASH_LEN];
        let len = self.hash.len();
        self.expand_label(prefix, label, transcript_hash, &mut out[..len])?;
        Ok(Secret {
            hash: self.hash,
            bytes: out,
        })
    }

    /// `Derive-Secret(self, "derived", "")`, the salt of the next extraction.
    fn derived(&self, prefix: LabelPrefix) -> Result<Secret, Error> {
        self.derive_secret(prefix, b"derived", self.hash.empty_hash().as_ref())
    }
}

/// The first stage: `HKDF-Extract(0, PSK)`, with no PSK (WebRTC uses none) an all-zero key.
#[derive(Debug, Clone)]
pub(crate) struct EarlySecret {
    prefix: LabelPrefix,
    secret: Secret,
}

impl EarlySecret {
    /// RFC 8446 §7.1: without a PSK, the early secret extracts a string of Hash.length zeros.
    pub(crate) fn new(hash: PrfHash, prefix: LabelPrefix) -> Self {
        let zeros = [0u8; MAX_HASH_LEN];
        let secret = hkdf_extract(hash, &zeros[..hash.len()], &zeros[..hash.len()]);
        Self { prefix, secret }
    }

    #[cfg(test)]
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Mixes in the (EC)DHE or hybrid KEM shared secret.
    pub(crate) fn into_handshake(self, shared: &[u8]) -> Result<HandshakeSecret, Error> {
        let salt = self.secret.derived(self.prefix)?;
        Ok(HandshakeSecret {
            prefix: self.prefix,
            secret: hkdf_extract(self.secret.hash, salt.as_bytes(), shared),
        })
    }
}

/// The second stage: the secret behind the handshake traffic keys (epoch 2 in DTLS 1.3).
#[derive(Debug, Clone)]
pub(crate) struct HandshakeSecret {
    prefix: LabelPrefix,
    secret: Secret,
}

impl HandshakeSecret {
    #[cfg(test)]
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// `client_handshake_traffic_secret`, over the hash of ClientHello..ServerHello.
    pub(crate) fn client_traffic(&self, transcript_hash: &[u8]) -> Result<TrafficSecret, Error> {
        self.traffic(b"c hs traffic", transcript_hash)
    }

    /// `server_handshake_traffic_secret`, over the hash of ClientHello..ServerHello.
    pub(crate) fn server_traffic(&self, transcript_hash: &[u8]) -> Result<TrafficSecret, Error> {
        self.traffic(b"s hs traffic", transcript_hash)
    }

    fn traffic(&self, label: &[u8], transcript_hash: &[u8]) -> Result<TrafficSecret, Error> {
        Ok(TrafficSecret {
            prefix: self.prefix,
            secret: self
                .secret
                .derive_secret(self.prefix, label, transcript_hash)?,
        })
    }

    /// The master secret: `HKDF-Extract(Derive-Secret(., "derived", ""), 0)`.
    pub(crate) fn into_master(self) -> Result<MasterSecret, Error> {
        let salt = self.secret.derived(self.prefix)?;
        let zeros = [0u8; MAX_HASH_LEN];
        let hash = self.secret.hash;
        Ok(MasterSecret {
            prefix: self.prefix,
            secret: hkdf_extract(hash, salt.as_bytes(), &zeros[..hash.len()]),
        })
    }
}

/// The last stage: application traffic secrets and the exporter.
#[derive(Debug, Clone)]
pub(crate) struct MasterSecret {
    prefix: LabelPrefix,
    secret: Secret,
}

impl MasterSecret {
    #[cfg(test)]
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// `client_application_traffic_secret_0`, over the hash of ClientHello..server Finished.
    pub(crate) fn client_traffic(&self, transcript_hash: &[u8]) -> Result<TrafficSecret, Error> {
        self.traffic(b"c ap traffic", transcript_hash)
    }

    /// `server_application_traffic_secret_0`, over the hash of ClientHello..server Finished.
    pub(crate) fn server_traffic(&self, transcript_hash: &[u8]) -> Result<TrafficSecret, Error> {
        self.traffic(b"s ap traffic", transcript_hash)
    }

    fn traffic(&self, label: &[u8], transcript_hash: &[u8]) -> Result<TrafficSecret, Error> {
        Ok(TrafficSecret {
            prefix: self.prefix,
            secret: self
                .secret
                .derive_secret(self.prefix, label, transcript_hash)?,
        })
    }

    /// `exporter_master_secret`, over the hash of ClientHello..server Finished.
    pub(crate) fn exporter(&self, transcript_hash: &[u8]) -> Result<Exporter, Error> {
        Ok(Exporter {
            prefix: self.prefix,
            secret: self
                .secret
                .derive_secret(self.prefix, b"exp master", transcript_hash)?,
        })
    }
}

/// The write key and IV a traffic secret expands to (RFC 8446 §7.3), and the sequence number
/// key (RFC 9147 §4.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrafficKeys {
    pub(crate) key: [u8; 32],
    pub(crate) key_len: usize,
    pub(crate) iv: [u8; 12],
    pub(crate) sn_key: [u8; 32],
}

impl TrafficKeys {
    pub(crate) fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }

    pub(crate) fn sn_key(&self) -> &[u8] {
        &self.sn_key[..self.key_len]
    }
}

/// One direction's traffic secret for one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrafficSecret {
    prefix: LabelPrefix,
    secret: Secret,
}

impl TrafficSecret {
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// RFC 8446 §7.3 `[sender]_write_key` and `_iv`; RFC 9147 §4.2.3 `[sender]_sn_key`, as
    /// long as the key.
    pub(crate) fn keys(&self, key_len: usize) -> Result<TrafficKeys, Error> {
        if key_len > 32 {
            return Err(Error::Internal(Internal::Crypto));
        }
        let mut k = TrafficKeys {
            key: [0; 32],
            key_len,
            iv: [0; 12],
            sn_key: [0; 32],
        };
        self.secret
            .expand_label(self.prefix, b"key", b"", &mut k.key[..key_len])?;
        self.secret
            .expand_label(self.prefix, b"iv", b"", &mut k.iv)?;
        self.secret
            .expand_label(self.prefix, b"sn", b"", &mut k.sn_key[..key_len])?;
        Ok(k)
    }

    /// RFC 8446 §4.4.4: `finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length)`
    /// and `verify_data = HMAC(finished_key, Transcript-Hash(..))`.
    pub(crate) fn finished(&self, transcript_hash: &[u8]) -> Result<Secret, Error> {
        let hash = self.secret.hash;
        let mut key = [0u8; MAX_HASH_LEN];
        self.secret
            .expand_label(self.prefix, b"finished", b"", &mut key[..hash.len()])?;
        let key = hmac::Key::new(hash.hmac(), &key[..hash.len()]);
        Ok(Secret::from_slice(
            hash,
            hmac::sign(&key, transcript_hash).as_ref(),
        ))
    }

    /// RFC 8446 §7.2: `application_traffic_secret_N+1 = HKDF-Expand-Label(
    /// application_traffic_secret_N, "traffic upd", "", Hash.length)`, for KeyUpdate.
    pub(crate) fn next(&self) -> Result<TrafficSecret, Error> {
        let mut out = [0u8; MAX_HASH_LEN];
        let len = self.secret.hash.len();
        self.secret
            .expand_label(self.prefix, b"traffic upd", b"", &mut out[..len])?;
        Ok(TrafficSecret {
            prefix: self.prefix,
            secret: Secret {
                hash: self.secret.hash,
                bytes: out,
            },
        })
    }
}

/// The exporter master secret (RFC 8446 §7.5), which DTLS-SRTP keys come from (RFC 5764 §4.2
/// with the TLS 1.3 exporter, RFC 9147 §5.9 for the label prefix).
#[derive(Debug, Clone)]
pub(crate) struct Exporter {
    prefix: LabelPrefix,
    secret: Secret,
}

impl Exporter {
    #[cfg(test)]
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// RFC 8446 §7.5: `TLS-Exporter(label, context_value, key_length) = HKDF-Expand-Label(
    /// Derive-Secret(Secret, label, ""), "exporter", Hash(context_value), key_length)`. No
    /// context and an empty one are the same in TLS 1.3.
    pub(crate) fn export(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<(), Error> {
        let hash = self.secret.hash;
        let inner = self
            .secret
            .derive_secret(self.prefix, label, hash.empty_hash().as_ref())?;
        let context_hash = digest::digest(hash.digest(), context.unwrap_or(b""));
        inner.expand_label(self.prefix, b"exporter", context_hash.as_ref(), out)
    }
}

#[cfg(test)]
mod tests;
