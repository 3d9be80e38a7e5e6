//! The crate-wide error type.

/// Any error kaon reports, wrapping the per-layer error enums.
///
/// Each layer has its own error enum carrying the wire-level details; this type lets
/// applications hold one error regardless of which layer produced it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A byte-level read or write failed (truncated input, buffer too small).
    #[error(transparent)]
    Wire(#[from] crate::wire::Error),
    /// A DTLS handshake, record or identity operation failed.
    #[error(transparent)]
    Dtls(#[from] crate::dtls::Error),
    /// A STUN message was malformed or failed verification.
    #[error(transparent)]
    Stun(#[from] crate::stun::Error),
    /// An SCTP packet was malformed or an SCTP request was refused.
    #[error(transparent)]
    Sctp(#[from] crate::sctp::Error),
    /// A data channel request was refused.
    #[error(transparent)]
    DataChannel(#[from] crate::datachannel::Error),
    /// An SRTP or SRTCP packet could not be protected or unprotected.
    #[error(transparent)]
    Srtp(#[from] crate::srtp::Error),
    /// A session description could not be parsed.
    #[error(transparent)]
    Sdp(#[from] crate::sdp::Error),
    /// An ICE candidate was malformed or an agent operation was refused.
    #[error(transparent)]
    Ice(#[from] crate::ice::Error),
    /// A PeerConnection operation was refused (signalling, validation, sending).
    #[error(transparent)]
    Peer(#[from] crate::peer::Error),
    /// An RTP or RTCP packet was malformed, or a value did not fit its wire field.
    #[error(transparent)]
    Rtp(#[from] crate::rtp::Error),
}
