//! # DTLS 1.2
//!
//! (Module documentation is completed with the endpoint.)

mod alert;
mod cert;
mod client;
mod codec;
mod config;
mod crypto;
mod endpoint;
mod event;
mod extensions;
mod flight;
mod handshake;
mod kx;
pub mod record;
mod server;
mod state;

pub use alert::{Alert, AlertDescription, AlertLevel};
pub use cert::{Fingerprint, HashAlgorithm, Identity};
pub use config::{Config, Role};
pub use crypto::CipherSuite;
pub use endpoint::Endpoint;
pub use event::{Connected, Event, SrtpKeying, Stats};
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
    /// The client has no remote address configured.
    #[error("a client needs the remote address")]
    NoRemoteAddress,
    /// The operation needs an established connection.
    #[error("not connected")]
    NotConnected,
    /// Too much application data is queued.
    #[error("send queue full")]
    SendQueueFull,
    /// The connection was closed.
    #[error("connection closed")]
    Closed,
    /// The handshake did not complete within the configured time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer's certificate matches none of the expected fingerprints.
    #[error("peer certificate does not match the expected fingerprint")]
    FingerprintMismatch,
    /// The peer sent no certificate.
    #[error("peer sent no certificate")]
    NoCertificate,
    /// The peer ended the connection with a fatal alert.
    #[error("peer sent fatal alert {0}")]
    Alert(AlertDescription),
    /// No cipher suite both sides support.
    #[error("no cipher suite in common")]
    NoCommonCipherSuite,
    /// No ECDHE group both sides support.
    #[error("no key exchange group in common")]
    NoCommonGroup,
    /// No signature scheme both sides support.
    #[error("no signature scheme in common")]
    NoCommonSignatureScheme,
    /// The peer does not support the extended master secret (RFC 7627), which we require.
    #[error("peer does not support the extended master secret")]
    ExtendedMasterSecretRequired,
    /// The peer's protocol version is not DTLS 1.2 (or able to fall back to it).
    #[error("unsupported protocol version {0:#06x}")]
    UnsupportedVersion(u16),
    /// A message arrived where the handshake does not allow it.
    #[error("unexpected message: {0}")]
    UnexpectedMessage(&'static str),
    /// The peer's Finished did not verify.
    #[error("Finished verification failed")]
    BadFinished,
    /// The peer answered an extension we did not send.
    #[error("unsolicited extension")]
    UnsupportedExtension,
}

impl Error {
    /// The fatal alert this local error is reported to the peer with, if any (RFC 5246
    /// §7.2.2). Timeouts and the peer's own alerts send nothing.
    pub fn alert(&self) -> Option<AlertDescription> {
        use AlertDescription as A;
        Some(match self {
            Self::Wire(_) | Self::Malformed(_) => A::DecodeError,
            Self::UnexpectedMessage(_) => A::UnexpectedMessage,
            Self::NoCommonCipherSuite
            | Self::NoCommonGroup
            | Self::NoCommonSignatureScheme
            | Self::ExtendedMasterSecretRequired
            | Self::NoCertificate => A::HandshakeFailure,
            Self::UnsupportedVersion(_) => A::ProtocolVersion,
            Self::FingerprintMismatch | Self::BadCertificate(_) => A::BadCertificate,
            Self::BadSignature | Self::BadFinished => A::DecryptError,
            Self::IllegalParameter(_) => A::IllegalParameter,
            Self::UnsupportedExtension => A::UnsupportedExtension,
            Self::BadRecord => A::BadRecordMac,
            Self::HandshakeTimeout | Self::Alert(_) | Self::Closed => return None,
            _ => A::InternalError,
        })
    }
}
