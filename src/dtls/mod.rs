//! # DTLS 1.2
//!
//! (Module documentation is completed with the endpoint.)

mod alert;
mod cert;
mod codec;
mod crypto;
mod extensions;
mod handshake;
pub mod record;

pub use alert::{Alert, AlertDescription, AlertLevel};
pub use cert::{Fingerprint, HashAlgorithm, Identity};
pub use crypto::CipherSuite;
pub use extensions::{NamedGroup, SignatureScheme, SrtpProfile};

/// Everything that can go wrong in DTLS, locally or as reported by the peer.
///
/// Errors that end a handshake or connection arrive as [`Event::Failed`]; the same values come
/// back from the few fallible calls (`send`, identity loading).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field ran past the end of its input.
    #[error(transparent)]
    Wire(#[from] crate::wire::Error),
    /// A message or structure did not parse.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A record failed authentication or was not readable in its epoch.
    #[error("record failed authentication")]
    BadRecord,
    /// A record was a replay.
    #[error("replayed record")]
    Replay,
    /// A cryptographic primitive failed (should not happen with valid keys).
    #[error("cryptographic operation failed")]
    Crypto,
    /// 2^48 records were sent in one epoch.
    #[error("record sequence numbers exhausted")]
    SequenceExhausted,
    /// A payload is larger than one record may carry.
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    DataTooLarge {
        /// The payload's length.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The peer chose or sent a value it must not.
    #[error("illegal parameter: {0}")]
    IllegalParameter(&'static str),
    /// The peer's certificate could not be used.
    #[error("bad certificate: {0}")]
    BadCertificate(&'static str),
    /// A key or certificate could not be loaded.
    #[error("invalid key or certificate")]
    InvalidKey,
    /// A fingerprint string did not parse.
    #[error("invalid fingerprint")]
    InvalidFingerprint,
}
