//! ICE (RFC 8445): candidates, connectivity checks and nomination.
//!
//! Work in progress.

mod agent;
mod candidate;
mod check;
mod checklist;
mod config;
mod consent;
mod drive;
mod gather;
mod receive;
mod relay;
mod sdp;
mod select;

pub use agent::{Agent, AgentStats, IceEvent, IceState, Received, SelectedPair};
pub use candidate::{
    Address, COMPONENT_RTP, Candidate, CandidateKind, TcpType, Transport, foundation,
    local_preference, pair_priority, priority,
};
pub use checklist::PairState;
pub use config::AgentConfig;
pub use relay::{Relay, Unwrapped};

use std::net::SocketAddr;

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
    /// The agent is closed.
    #[error("the ICE agent is closed")]
    Closed,
    /// A local address with port 0 or an unspecified IP (bind a concrete address).
    #[error("unusable local address {0}")]
    BadLocalAddress(SocketAddr),
    /// More local addresses than [`AgentConfig::max_local_addresses`].
    #[error("too many local addresses")]
    TooManyLocalAddresses,
    /// More remote candidates than [`AgentConfig::max_remote_candidates`].
    #[error("too many remote candidates")]
    TooManyCandidates,
    /// The candidate's `ufrag` names another ICE generation than the current remote one.
    #[error("candidate of another ICE generation")]
    StaleCandidate,
    /// A username fragment or password of the wrong length or with characters outside
    /// `ice-char` (RFC 8839 §5.4).
    #[error("malformed ICE credentials")]
    BadCredentials,
    /// No pair is selected (not connected yet, or consent was lost).
    #[error("no selected candidate pair")]
    NoSelectedPair,
    /// The outbox is full ([`AgentConfig::max_queue`]).
    #[error("send queue full")]
    QueueFull,
}
