//! Cipher suites, the TLS 1.2 PRF and key schedule, and AEAD record protection.
//!
//! - PRF: RFC 5246 §5, `P_SHA256` or `P_SHA384` (aws-lc-rs `tls_prf`).
//! - Master secret: RFC 7627 §4 (extended master secret, the only kind we derive).
//! - Key block: RFC 5246 §6.3; AEAD suites need no MAC keys.
//! - Finished: RFC 5246 §7.4.9, 12 bytes of `verify_data`.
//! - Exporter: RFC 5705 §4, used by DTLS-SRTP (RFC 5764 §4.2).
//! - AES-GCM nonces: RFC 5288 §3, a 4-byte implicit salt and an 8-byte explicit part carried
//!   in the record; ChaCha20-Poly1305 nonces: RFC 7905 §2, the 12-byte IV XORed with the
//!   64-bit record sequence number (epoch and sequence).

use crate::dtls::error::{Internal, PeerMisbehaved};
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::tls_prf;

use super::Error;

/// A DTLS 1.2 cipher suite (RFC 5289, RFC 7905). Only AEAD suites with ECDHE are implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b), mandatory for WebRTC (RFC 8827).
    EcdheEcdsaAes128GcmSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 (0xc02c).
    EcdheEcdsaAes256GcmSha384,
    /// TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 (0xcca9).
    EcdheEcdsaChacha20Poly1305Sha256,
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xc02f), for peers with RSA certificates.
    EcdheRsaAes128GcmSha256,
    /// A suite this implementation does not know.
    Unknown(u16),
}

/// Which kind of key signs a suite's ServerKeyExchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureKind {
    Ecdsa,
    Rsa,
}

/// The hash behind a suite's PRF and transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrfHash {
    Sha256,
    Sha384,
}

impl PrfHash {
    pub(crate) fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
        }
    }

    fn prf(self) -> &'static tls_prf::Algorithm {
        match self {
            Self::Sha256 => &tls_prf::P_SHA256,
            Self::Sha384 => &tls_prf::P_SHA384,
        }
    }

    /// Hashes `data` with this suite hash.
    pub(crate) fn hash(self, data: &[u8]) -> digest::Digest {
        digest::digest(self.digest(), data)
    }
}

impl CipherSuite {
    /// Every suite implemented, in our default order of preference: AES-128-GCM first (the
    /// WebRTC mandatory suite, and hardware-accelerated), ChaCha20 for hosts without AES
    /// instructions, AES-256-GCM, and the RSA suite last (only a client can use it: our own
    /// identity is ECDSA).
    pub const ALL: [CipherSuite; 4] = [
        Self::EcdheEcdsaAes128GcmSha256,
        Self::EcdheEcdsaChacha20Poly1305Sha256,
        Self::EcdheEcdsaAes256GcmSha384,
        Self::EcdheRsaAes128GcmSha256,
    ];

    /// The IANA code point.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::EcdheEcdsaAes128GcmSha256 => 0xc02b,
            Self::EcdheEcdsaAes256GcmSha384 => 0xc02c,
            Self::EcdheEcdsaChacha20Poly1305Sha256 => 0xcca9,
            Self::EcdheRsaAes128GcmSha256 => 0xc02f,
            Self::Unknown(v) => v,
        }
    }

    /// From the IANA code point.
    pub fn from_u16(v: u16) -> Self {
        match v {
            0xc02b => Self::EcdheEcdsaAes128GcmSha256,
            0xc02c => Self::EcdheEcdsaAes256GcmSha384,
            0xcca9 => Self::EcdheEcdsaChacha20Poly1305Sha256,
            0xc02f => Self::EcdheRsaAes128GcmSha256,
            v => Self::Unknown(v),
        }
    }

    /// Whether this implementation can negotiate the suite.
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Unknown(_))
    }

    pub(crate) fn signature_kind(self) -> SignatureKind {
        match self {
            Self::EcdheRsaAes128GcmSha256 => SignatureKind::Rsa,
            _ => SignatureKind::Ecdsa,
        }
    }

    pub(crate) fn prf_hash(self) -> PrfHash {
        match self {
            Self::EcdheEcdsaAes256GcmSha384 => PrfHash::Sha384,
            _ => PrfHash::Sha256,
        }
    }

    fn aead(self) -> Option<(&'static aead::Algorithm, NonceKind)> {
        Some(match self {
            Self::EcdheEcdsaAes128GcmSha256 | Self::EcdheRsaAes128GcmSha256 => {
                (&aead::AES_128_GCM, NonceKind::Gcm)
            }
            Self::EcdheEcdsaAes256GcmSha384 => (&aead::AES_256_GCM, NonceKind::Gcm),
            Self::EcdheEcdsaChacha20Poly1305Sha256 => (&aead::CHACHA20_POLY1305, NonceKind::Xor),
            Self::Unknown(_) => return None,
        })
    }

    /// Bytes a protected record adds to its plaintext (explicit nonce and tag), not counting
    /// the 13-byte record header.
    pub fn record_overhead(self) -> usize {
        match self.aead() {
            Some((_, NonceKind::Gcm)) => GCM_EXPLICIT_NONCE_LEN + TAG_LEN,
            _ => TAG_LEN,
        }
    }
}

impl std::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::EcdheEcdsaAes128GcmSha256 => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Self::EcdheEcdsaAes256GcmSha384 => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Self::EcdheEcdsaChacha20Poly1305Sha256 => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            Self::EcdheRsaAes128GcmSha256 => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Self::Unknown(v) => return write!(f, "cipher suite {v:#06x}"),
        };
        f.write_str(name)
    }
}

const TAG_LEN: usize = 16;
const GCM_EXPLICIT_NONCE_LEN: usize = 8;
/// The largest record overhead of any implemented suite.
pub(crate) const MAX_RECORD_OVERHEAD: usize = GCM_EXPLICIT_NONCE_LEN + TAG_LEN;
pub(crate) const MASTER_SECRET_LEN: usize = 48;
pub(crate) const VERIFY_DATA_LEN: usize = 12;
pub(crate) const RANDOM_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NonceKind {
    /// RFC 5288: salt (4) || explicit (8), the explicit part sent in the record.
    Gcm,
    /// RFC 7905: iv (12) XOR (0000 || seq64), nothing sent.
    Xor,
}

/// `PRF(secret, label, seed)` into `out` (RFC 5246 §5).
pub(crate) fn prf(
    hash: PrfHash,
    secret: &[u8],
    label: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) -> Result<(), Error> {
    let seed: Vec<u8> = seed.concat();
    let secret =
        tls_prf::Secret::new(hash.prf(), secret).map_err(|_| Error::Internal(Internal::Crypto))?;
    let derived = secret
        .derive(label, &seed, out.len())
        .map_err(|_| Error::Internal(Internal::Crypto))?;
    out.copy_from_slice(derived.as_ref());
    Ok(())
}

/// RFC 7627 §4: `master_secret = PRF(pms, "extended master secret", session_hash)[0..48]`, where
/// the session hash covers the handshake up to and including ClientKeyExchange.
pub(crate) fn extended_master_secret(
    hash: PrfHash,
    pre_master_secret: &[u8],
    session_hash: &[u8],
) -> Result<[u8; MASTER_SECRET_LEN], Error> {
    let mut ms = [0u8; MASTER_SECRET_LEN];
    prf(
        hash,
        pre_master_secret,
        b"extended master secret",
        &[session_hash],
        &mut ms,
    )?;
    Ok(ms)
}

/// RFC 5246 §7.4.9: `verify_data = PRF(master_secret, label, Hash(handshake_messages))[0..12]`.
pub(crate) fn verify_data(
    hash: PrfHash,
    master_secret: &[u8],
    client: bool,
    transcript_hash: &[u8],
) -> Result<[u8; VERIFY_DATA_LEN], Error> {
    let label: &[u8] = if client {
        b"client finished"
    } else {
        b"server finished"
    };
    let mut out = [0u8; VERIFY_DATA_LEN];
    prf(hash, master_secret, label, &[transcript_hash], &mut out)?;
    Ok(out)
}

/// RFC 5705 §4: `PRF(master_secret, label, client_random + server_random [+ context_len +
/// context])[0..len]`.
pub(crate) fn export(
    hash: PrfHash,
    master_secret: &[u8],
    label: &[u8],
    client_random: &[u8; RANDOM_LEN],
    server_random: &[u8; RANDOM_LEN],
    context: Option<&[u8]>,
    out: &mut [u8],
) -> Result<(), Error> {
    match context {
        None => prf(
            hash,
            master_secret,
            label,
            &[client_random, server_random],
            out,
        ),
        Some(ctx) => {
            let len = u16::try_from(ctx.len()).map_err(|_| Error::Internal(Internal::Crypto))?;
            prf(
                hash,
                master_secret,
                label,
                &[client_random, server_random, &len.to_be_bytes(), ctx],
                out,
            )
        }
    }
}

/// The record protection for one direction of one epoch.
pub(crate) struct RecordCipher {
    key: LessSafeKey,
    iv: [u8; 12],
    nonce: NonceKind,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// Both directions' record ciphers for epoch 1, from the key block (RFC 5246 §6.3).
pub(crate) struct EpochKeys {
    pub(crate) client_write: RecordCipher,
    pub(crate) server_write: RecordCipher,
}

/// Expands the master secret into both directions' keys and IVs.
pub(crate) fn key_block(
    suite: CipherSuite,
    master_secret: &[u8],
    client_random: &[u8; RANDOM_LEN],
    server_random: &[u8; RANDOM_LEN],
) -> Result<EpochKeys, Error> {
    let (alg, nonce) = suite.aead().ok_or(Error::Internal(Internal::Crypto))?;
    let key_len = alg.key_len();
    let iv_len = match nonce {
        NonceKind::Gcm => 4,
        NonceKind::Xor => 12,
    };
    let mut block = [0u8; 2 * (32 + 12)];
    let block = &mut block[..2 * (key_len + iv_len)];
    // RFC 5246 §6.3: the seed is server_random + client_random here, unlike everywhere else.
    prf(
        suite.prf_hash(),
        master_secret,
        b"key expansion",
        &[server_random, client_random],
        block,
    )?;
    let (client_key, rest) = block.split_at(key_len);
    let (server_key, rest) = rest.split_at(key_len);
    let (client_iv, server_iv) = rest.split_at(iv_len);
    let make = |key: &[u8], iv: &[u8]| -> Result<RecordCipher, Error> {
        let mut full = [0u8; 12];
        full[..iv.len()].copy_from_slice(iv);
        Ok(RecordCipher {
            key: LessSafeKey::new(
                UnboundKey::new(alg, key).map_err(|_| Error::Internal(Internal::Crypto))?,
            ),
            iv: full,
            nonce,
        })
    };
    Ok(EpochKeys {
        client_write: make(client_key, client_iv)?,
        server_write: make(server_key, server_iv)?,
    })
}

impl RecordCipher {
    /// Bytes before the ciphertext (the GCM explicit nonce).
    #[inline]
    pub(crate) fn explicit_len(&self) -> usize {
        match self.nonce {
            NonceKind::Gcm => GCM_EXPLICIT_NONCE_LEN,
            NonceKind::Xor => 0,
        }
    }

    /// Explicit nonce plus tag.
    #[inline]
    pub(crate) fn overhead(&self) -> usize {
        self.explicit_len() + TAG_LEN
    }

    #[inline]
    fn nonce(&self, seq64: u64, explicit: Option<&[u8]>) -> Nonce {
        let mut n = self.iv;
        match self.nonce {
            NonceKind::Gcm => match explicit {
                Some(e) => n[4..].copy_from_slice(e),
                None => n[4..].copy_from_slice(&seq64.to_be_bytes()),
            },
            NonceKind::Xor => {
                for (b, s) in n[4..].iter_mut().zip(seq64.to_be_bytes()) {
                    *b ^= s;
                }
            }
        }
        Nonce::assume_unique_for_key(n)
    }

    /// Seals in place. `fragment` is laid out as `[explicit nonce][plaintext][tag]`, sized
    /// exactly `overhead() + plaintext length`; `aad` is the 13-byte additional data.
    ///
    /// RFC 5288 §3 leaves the explicit nonce to the sender as long as it never repeats; we use
    /// the 64-bit epoch and sequence number, which never repeats under one key.
    pub(crate) fn seal(
        &self,
        seq64: u64,
        aad: &[u8; 13],
        fragment: &mut [u8],
    ) -> Result<(), Error> {
        let explicit = self.explicit_len();
        let body_end = fragment
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&e| e >= explicit)
            .ok_or(Error::Internal(Internal::Crypto))?;
        fragment[..explicit].copy_from_slice(&seq64.to_be_bytes()[..explicit]);
        let nonce = self.nonce(seq64, None);
        let (body, tag_out) = fragment.split_at_mut(body_end);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut body[explicit..])
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Seals `plaintext` straight into `fragment` (laid out as for [`RecordCipher::seal`]),
    /// encrypting as it copies: the application-data path, which saves a pass over the
    /// payload.
    #[inline]
    pub(crate) fn seal_from(
        &self,
        seq64: u64,
        aad: &[u8; 13],
        plaintext: &[u8],
        fragment: &mut [u8],
    ) -> Result<(), Error> {
        let explicit = self.explicit_len();
        if fragment.len() != explicit + plaintext.len() + TAG_LEN {
            return Err(Error::Internal(Internal::Crypto));
        }
        fragment[..explicit].copy_from_slice(&seq64.to_be_bytes()[..explicit]);
        let (body, tag_out) = fragment[explicit..].split_at_mut(plaintext.len());
        self.key
            .seal_out_of_place_scatter(
                self.nonce(seq64, None),
                Aad::from(aad),
                plaintext,
                body,
                &[],
                tag_out,
            )
            .map_err(|_| Error::Internal(Internal::Crypto))
    }

    /// Opens `fragment` (explicit nonce, ciphertext, tag) straight into `out`, which must be
    /// as long as the plaintext: decrypting as it copies, for data handed on in its own
    /// buffer.
    #[inline]
    pub(crate) fn open_into(
        &self,
        seq64: u64,
        aad_prefix: &[u8; 11],
        fragment: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let explicit = self.explicit_len();
        let plain_len = fragment
            .len()
            .checked_sub(explicit + TAG_LEN)
            .filter(|&n| n == out.len())
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        let (nonce_part, rest) = fragment.split_at(explicit);
        let (ciphertext, tag) = rest.split_at(plain_len);
        let nonce = match self.nonce {
            NonceKind::Gcm => self.nonce(seq64, Some(nonce_part)),
            NonceKind::Xor => self.nonce(seq64, None),
        };
        let mut aad = [0u8; 13];
        aad[..11].copy_from_slice(aad_prefix);
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        self.key
            .open_separate_gather(nonce, Aad::from(aad), ciphertext, tag, out)
            .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))
    }

    /// Opens in place; returns the plaintext's range within `fragment`. `aad_prefix` is the
    /// sequence, type and version (11 bytes); the plaintext length is appended here.
    pub(crate) fn open(
        &self,
        seq64: u64,
        aad_prefix: &[u8; 11],
        fragment: &mut [u8],
    ) -> Result<std::ops::Range<usize>, Error> {
        let explicit = self.explicit_len();
        if fragment.len() < explicit {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac));
        }
        let (nonce_part, body) = fragment.split_at_mut(explicit);
        let len = self.open_parts(seq64, aad_prefix, nonce_part, body)?;
        Ok(explicit..explicit + len)
    }

    /// Opens `body` (ciphertext and tag) in place, the explicit nonce given apart, so a
    /// caller can copy only the ciphertext into the buffer it hands on. Returns the plaintext
    /// length (the plaintext is the front of `body`).
    pub(crate) fn open_parts(
        &self,
        seq64: u64,
        aad_prefix: &[u8; 11],
        explicit: &[u8],
        body: &mut [u8],
    ) -> Result<usize, Error> {
        if explicit.len() != self.explicit_len() {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac));
        }
        let plain_len = body
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        let nonce = match self.nonce {
            NonceKind::Gcm => self.nonce(seq64, Some(explicit)),
            NonceKind::Xor => self.nonce(seq64, None),
        };
        let mut aad = [0u8; 13];
        aad[..11].copy_from_slice(aad_prefix);
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), body)
            .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        Ok(plain.len())
    }
}

#[cfg(test)]
mod tests;
