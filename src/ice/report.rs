//! What the agent's checklist holds, for statistics (W3C webrtc-stats: RTCIceCandidatePairStats,
//! RTCIceCandidateStats). Read-only views; nothing here changes the agent.

use std::net::SocketAddr;
use std::time::Duration;

use super::agent::Agent;
use super::candidate::Candidate;
use super::checklist::PairState;

/// A pair's check state, with the names of W3C's `RTCStatsIceCandidatePairState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairCheckState {
    /// `frozen`.
    Frozen,
    /// `waiting`.
    Waiting,
    /// `in-progress`.
    InProgress,
    /// `succeeded`.
    Succeeded,
    /// `failed`.
    Failed,
}

impl PairCheckState {
    /// The W3C name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Frozen => "frozen",
            Self::Waiting => "waiting",
            Self::InProgress => "in-progress",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// Why a pair's last check failed, or was answered with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckFailure {
    /// No response after every retransmission: nothing answers at that address (no route, a
    /// firewall, a stale candidate, or the peer drops our checks for bad credentials).
    Timeout,
    /// 487 Role Conflict (RFC 8445 §7.2.5.1): the pair is checked again in the other role.
    RoleConflict,
    /// 401 Unauthenticated: the peer does not take our credentials (an old or wrong ufrag or
    /// password on its side).
    Unauthenticated,
    /// Another STUN error response code.
    ErrorResponse(u16),
    /// The response came from another address than the check went to (RFC 8445 §7.2.5.2.1).
    Asymmetric,
    /// Consent was lost on the pair (RFC 7675 §5.1).
    ConsentLost,
    /// Its local interface was removed.
    InterfaceRemoved,
}

impl CheckFailure {
    /// A short human name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::RoleConflict => "487 role conflict",
            Self::Unauthenticated => "401 unauthenticated",
            Self::ErrorResponse(_) => "error response",
            Self::Asymmetric => "asymmetric response",
            Self::ConsentLost => "consent lost",
            Self::InterfaceRemoved => "interface removed",
        }
    }
}

/// One candidate pair of the current checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairReport<'a> {
    /// The local candidate (the reflexive one a NAT showed the peer, once known).
    pub local: &'a Candidate,
    /// The socket address the pair sends from.
    pub local_socket: SocketAddr,
    /// The remote candidate.
    pub remote: &'a Candidate,
    /// The address the pair sends to.
    pub remote_addr: SocketAddr,
    /// Its check state.
    pub state: PairCheckState,
    /// Whether it is nominated.
    pub nominated: bool,
    /// Whether it carries the data now.
    pub selected: bool,
    /// The round-trip time of its last check answered without retransmission.
    pub rtt: Option<Duration>,
    /// Why its last check failed or was answered with an error, if it did.
    pub failure: Option<CheckFailure>,
}

impl Agent {
    /// Every pair of the current checklist, in priority order.
    pub fn pairs(&self) -> impl Iterator<Item = PairReport<'_>> {
        self.list.pairs.iter().enumerate().map(move |(i, p)| {
            let local = &self.list.locals[p.mapped_local.unwrap_or(p.local)];
            let remote = &self.list.remotes[p.remote];
            PairReport {
                local: &local.cand,
                local_socket: self.list.locals[p.local].base,
                remote: &remote.cand,
                remote_addr: remote.addr,
                state: match p.state {
                    PairState::Frozen => PairCheckState::Frozen,
                    PairState::Waiting => PairCheckState::Waiting,
                    PairState::InProgress => PairCheckState::InProgress,
                    PairState::Succeeded => PairCheckState::Succeeded,
                    PairState::Failed => PairCheckState::Failed,
                },
                nominated: p.nominated,
                selected: self.selected == Some(i),
                rtt: p.rtt,
                failure: p.failure,
            }
        })
    }

    /// The remote candidates the agent pairs with: signalled ones and the peer-reflexive ones
    /// its checks revealed (those held under an unresolved name are not here).
    pub fn remote_candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.list.remotes.iter().map(|r| &r.cand)
    }
}
