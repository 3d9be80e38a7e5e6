//! TLS 1.3 cipher suites (RFC 8446 §B.4) as DTLS 1.3 uses them: an AEAD and a hash, with no
//! key exchange or signature in the name.

use aws_lc_rs::aead::{self, quic};

use super::super::crypto::PrfHash;

/// A TLS 1.3 cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Suite13 {
    /// TLS_AES_128_GCM_SHA256 (0x1301), which every implementation must support.
    Aes128GcmSha256,
    /// TLS_AES_256_GCM_SHA384 (0x1302).
    Aes256GcmSha384,
    /// TLS_CHACHA20_POLY1305_SHA256 (0x1303).
    Chacha20Poly1305Sha256,
    /// A suite this implementation does not know.
    Unknown(u16),
}

impl Suite13 {
    /// Every suite implemented, in our order of preference.
    pub(crate) const ALL: [Suite13; 3] = [
        Self::Aes128GcmSha256,
        Self::Chacha20Poly1305Sha256,
        Self::Aes256GcmSha384,
    ];

    pub(crate) fn to_u16(self) -> u16 {
        match self {
            Self::Aes128GcmSha256 => 0x1301,
            Self::Aes256GcmSha384 => 0x1302,
            Self::Chacha20Poly1305Sha256 => 0x1303,
            Self::Unknown(v) => v,
        }
    }

    pub(crate) fn from_u16(v: u16) -> Self {
        match v {
            0x1301 => Self::Aes128GcmSha256,
            0x1302 => Self::Aes256GcmSha384,
            0x1303 => Self::Chacha20Poly1305Sha256,
            v => Self::Unknown(v),
        }
    }

    /// The hash of the key schedule and transcript.
    pub(crate) fn hash(self) -> PrfHash {
        match self {
            Self::Aes256GcmSha384 => PrfHash::Sha384,
            _ => PrfHash::Sha256,
        }
    }

    /// The record AEAD.
    pub(crate) fn aead(self) -> Option<&'static aead::Algorithm> {
        Some(match self {
            Self::Aes128GcmSha256 => &aead::AES_128_GCM,
            Self::Aes256GcmSha384 => &aead::AES_256_GCM,
            Self::Chacha20Poly1305Sha256 => &aead::CHACHA20_POLY1305,
            Self::Unknown(_) => return None,
        })
    }

    /// RFC 9147 §4.2.3: the cipher under the AEAD masks the record number: AES-ECB for the
    /// AES suites, the ChaCha20 block function for ChaCha20-Poly1305. These are the QUIC
    /// header protection functions (RFC 9001 §5.4), which aws-lc-rs provides.
    pub(crate) fn sn_algorithm(self) -> Option<&'static quic::Algorithm> {
        Some(match self {
            Self::Aes128GcmSha256 => &quic::AES_128,
            Self::Aes256GcmSha384 => &quic::AES_256,
            Self::Chacha20Poly1305Sha256 => &quic::CHACHA20,
            Self::Unknown(_) => return None,
        })
    }

    /// The AEAD (and record number) key length.
    pub(crate) fn key_len(self) -> usize {
        self.aead().map_or(0, |a| a.key_len())
    }
}
