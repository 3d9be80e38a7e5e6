//! DTLS errors, split as rustls splits its own: input that does not parse
//! ([`DecodeError`]), a peer that breaks the protocol with well-formed messages
//! ([`PeerMisbehaved`]), a peer we share nothing with ([`PeerIncompatible`]), and calls the
//! API refuses ([`Misuse`]). Each category carries the detail, and maps to the fatal alert
//! RFC 8446 §6.2 names for it ([`Error::alert`]).

use super::alert::AlertDescription;

/// Everything that can go wrong in DTLS, locally or as reported by the peer.
///
/// Errors that end a handshake or connection arrive as [`super::Event::Failed`]; the same
/// values come back from the few fallible calls (`send`, identity loading).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed input: a record or message that does not parse (alert decode_error).
    #[error("malformed input: {0}")]
    Decode(DecodeError),
    /// The peer broke the protocol with well-formed messages.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(PeerMisbehaved),
    /// The peer shares no version, cipher suite, group or signature scheme with us.
    #[error("peer incompatible: {0}")]
    PeerIncompatible(PeerIncompatible),
    /// The API was called in a way it refuses, or with an unusable configuration.
    #[error("{0}")]
    Misuse(Misuse),
    /// A record was a replay (the network duplicates too: such a record is dropped, never
    /// fatal).
    #[error("replayed record")]
    Replay,
    /// The peer ended the connection with a fatal alert.
    #[error("peer sent fatal alert {0}")]
    Alert(AlertDescription),
    /// The handshake did not complete within the configured time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The connection was closed.
    #[error("connection closed")]
    Closed,
    /// Something that cannot happen with valid keys and a sound state did.
    #[error("internal error: {0}")]
    Internal(Internal),
}

/// Input that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A field ran past the end of its input.
    #[error("input ended early: needed {needed} bytes, {remaining} remained")]
    Truncated {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A message or structure did not parse.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Valid syntax, wrong protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A message arrived where the handshake does not allow it.
    #[error("unexpected message: {0}")]
    UnexpectedMessage(&'static str),
    /// A record failed authentication or was not readable in its epoch.
    #[error("record failed authentication")]
    BadRecordMac,
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The peer's Finished did not verify.
    #[error("Finished verification failed")]
    BadFinished,
    /// The peer chose or sent a value it must not.
    #[error("illegal parameter: {0}")]
    IllegalParameter(&'static str),
    /// The peer answered an extension we did not send.
    #[error("unsolicited extension")]
    UnsolicitedExtension,
    /// The peer's certificate could not be used.
    #[error("bad certificate: {0}")]
    BadCertificate(&'static str),
    /// The peer's certificate matches none of the expected fingerprints.
    #[error("peer certificate does not match the expected fingerprint")]
    FingerprintMismatch,
    /// The peer sent no certificate.
    #[error("peer sent no certificate")]
    NoCertificate,
}

/// Nothing in common with the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerIncompatible {
    /// The peer's protocol version is one we do not speak (or are configured not to).
    #[error("unsupported protocol version {0:#06x}")]
    NoCommonVersion(u16),
    /// No cipher suite both sides support.
    #[error("no cipher suite in common")]
    NoCommonCipherSuite,
    /// No key exchange group both sides support.
    #[error("no key exchange group in common")]
    NoCommonGroup,
    /// No signature scheme both sides support.
    #[error("no signature scheme in common")]
    NoCommonSignatureScheme,
    /// The peer does not support the extended master secret (RFC 7627), which we require.
    #[error("peer does not support the extended master secret")]
    ExtendedMasterSecretRequired,
}

/// Calls the API refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// The operation needs an established connection.
    #[error("not connected")]
    NotConnected,
    /// A payload is larger than one record may carry.
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    DataTooLarge {
        /// The payload's length.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// Too much application data is queued.
    #[error("send queue full")]
    SendQueueFull,
    /// The caller's buffer cannot hold what must be written.
    #[error("buffer too small: needed {needed} bytes, {remaining} remained")]
    BufferTooSmall {
        /// Bytes the write needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// The client has no remote address configured.
    #[error("a client needs the remote address")]
    NoRemoteAddress,
    /// A key or certificate could not be loaded.
    #[error("invalid key or certificate")]
    InvalidKey,
    /// A fingerprint string did not parse.
    #[error("invalid fingerprint")]
    InvalidFingerprint,
}

/// Failures that valid keys and a sound state never produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Internal {
    /// A cryptographic primitive failed, or keys were missing where the state needs them.
    #[error("cryptographic operation failed")]
    Crypto,
    /// 2^48 records were sent in one epoch.
    #[error("record sequence numbers exhausted")]
    SequenceExhausted,
}

impl From<crate::wire::Error> for Error {
    fn from(e: crate::wire::Error) -> Self {
        match e {
            // Reading: the input is malformed.
            crate::wire::Error::UnexpectedEnd { needed, remaining } => {
                Self::Decode(DecodeError::Truncated { needed, remaining })
            }
            // Writing: the caller's buffer is too small.
            crate::wire::Error::BufferTooSmall { needed, remaining } => {
                Self::Misuse(Misuse::BufferTooSmall { needed, remaining })
            }
        }
    }
}

macro_rules! category {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::$v(e)
            }
        }
    )*};
}
category!(DecodeError => Decode, PeerMisbehaved => PeerMisbehaved,
    PeerIncompatible => PeerIncompatible, Misuse => Misuse, Internal => Internal);

impl Error {
    /// The fatal alert this local error is reported to the peer with, if any (RFC 8446 §6.2,
    /// RFC 5246 §7.2.2): decode_error for malformed input, the matching alert for each kind
    /// of misbehaviour, handshake_failure or protocol_version for an incompatible peer,
    /// internal_error for the rest. Timeouts, closing and the peer's own alerts send
    /// nothing.
    pub fn alert(&self) -> Option<AlertDescription> {
        use AlertDescription as A;
        Some(match self {
            Self::Decode(_) => A::DecodeError,
            Self::PeerMisbehaved(m) => match m {
                PeerMisbehaved::UnexpectedMessage(_) => A::UnexpectedMessage,
                PeerMisbehaved::BadRecordMac => A::BadRecordMac,
                PeerMisbehaved::BadSignature | PeerMisbehaved::BadFinished => A::DecryptError,
                PeerMisbehaved::IllegalParameter(_) => A::IllegalParameter,
                PeerMisbehaved::UnsolicitedExtension => A::UnsupportedExtension,
                PeerMisbehaved::BadCertificate(_) | PeerMisbehaved::FingerprintMismatch => {
                    A::BadCertificate
                }
                PeerMisbehaved::NoCertificate => A::HandshakeFailure,
            },
            Self::PeerIncompatible(PeerIncompatible::NoCommonVersion(_)) => A::ProtocolVersion,
            Self::PeerIncompatible(_) => A::HandshakeFailure,
            Self::HandshakeTimeout | Self::Alert(_) | Self::Closed => return None,
            // A misuse only ends a connection when a state the API allowed hits it inside.
            Self::Misuse(_) | Self::Replay | Self::Internal(_) => A::InternalError,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertDescription as A;

    #[test]
    fn each_category_maps_to_its_alert() {
        let cases: [(Error, Option<A>); 12] = [
            (DecodeError::Malformed("x").into(), Some(A::DecodeError)),
            (
                crate::wire::Error::UnexpectedEnd {
                    needed: 2,
                    remaining: 1,
                }
                .into(),
                Some(A::DecodeError),
            ),
            (
                PeerMisbehaved::UnexpectedMessage("x").into(),
                Some(A::UnexpectedMessage),
            ),
            (PeerMisbehaved::BadRecordMac.into(), Some(A::BadRecordMac)),
            (PeerMisbehaved::BadFinished.into(), Some(A::DecryptError)),
            (
                PeerMisbehaved::FingerprintMismatch.into(),
                Some(A::BadCertificate),
            ),
            (
                PeerMisbehaved::IllegalParameter("x").into(),
                Some(A::IllegalParameter),
            ),
            (
                PeerIncompatible::NoCommonVersion(0xfefd).into(),
                Some(A::ProtocolVersion),
            ),
            (
                PeerIncompatible::NoCommonGroup.into(),
                Some(A::HandshakeFailure),
            ),
            (Internal::Crypto.into(), Some(A::InternalError)),
            (Error::HandshakeTimeout, None),
            (Error::Alert(A::BadCertificate), None),
        ];
        for (e, alert) in cases {
            assert_eq!(e.alert(), alert, "{e}");
        }
    }

    #[test]
    fn a_short_write_buffer_is_misuse_not_malformed_input() {
        let e: Error = crate::wire::Error::BufferTooSmall {
            needed: 2,
            remaining: 1,
        }
        .into();
        assert!(matches!(e, Error::Misuse(Misuse::BufferTooSmall { .. })));
    }
}
