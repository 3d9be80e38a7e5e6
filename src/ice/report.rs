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
            }
        })
    }

    /// The remote candidates the agent pairs with: signalled ones and the peer-reflexive ones
    /// its checks revealed (those held under an unresolved name are not here).
    pub fn remote_candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.list.remotes.iter().map(|r| &r.cand)
    }
}
