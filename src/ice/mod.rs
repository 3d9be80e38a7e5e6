//! ICE (RFC 8445): candidates, connectivity checks and nomination.
//!
//! Work in progress: the candidate model and its SDP attribute.

mod candidate;
mod sdp;

pub use candidate::{
    Address, COMPONENT_RTP, Candidate, CandidateKind, TcpType, Transport, foundation,
    local_preference, pair_priority, priority,
};

/// Why a candidate could not be parsed, or an agent operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A candidate attribute longer than [`Candidate::MAX_LEN`].
    #[error("candidate attribute too long: {len} bytes")]
    CandidateTooLong {
        /// The line's length.
        len: usize,
    },
    /// A required field of the candidate attribute is missing.
    #[error("candidate attribute lacks its {0}")]
    MissingField(&'static str),
    /// A field of the candidate attribute is malformed.
    #[error("malformed candidate {0}")]
    BadField(&'static str),
    /// The candidate type is not host, srflx, prflx or relay.
    #[error("unknown candidate type")]
    UnknownCandidateType,
    /// A known extension attribute appears twice.
    #[error("candidate extension {0} appears twice")]
    DuplicateExtension(String),
    /// More unknown extension attributes than [`Candidate::MAX_EXTENSIONS`].
    #[error("too many candidate extensions")]
    TooManyExtensions,
}
