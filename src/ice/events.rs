//! What the agent reports: its state, events, the selected pair, what a received datagram
//! was, and counters.

use std::net::SocketAddr;

use super::candidate::Candidate;

/// The agent's connection state, as `RTCIceConnectionState` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceState {
    /// No remote credentials or no pair yet.
    New,
    /// Checks are running and no pair works yet.
    Checking,
    /// A pair is selected and carries data; checks may still run.
    Connected,
    /// The selected pair is nominated, nothing is left to check, and both sides have finished
    /// gathering (remote end-of-candidates received).
    Completed,
    /// Nothing has arrived on the selected pair for
    /// [`disconnected_timeout`](crate::ice::AgentConfig::disconnected_timeout); it may come back.
    Disconnected,
    /// Every pair failed with no candidates pending, or consent was lost with no other working
    /// pair. Only [`Agent::restart`](crate::ice::Agent::restart) leaves this state.
    Failed,
    /// [`Agent::close`](crate::ice::Agent::close) was called.
    Closed,
}

/// What the agent tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceEvent {
    /// A local candidate to signal to the peer (trickle ICE, RFC 8838).
    LocalCandidate(Candidate),
    /// No more local candidates are being gathered (signal end-of-candidates). Sent again
    /// after new local addresses or a restart have been gathered.
    GatheringComplete,
    /// The connection state changed.
    StateChanged(IceState),
    /// Data now goes over another pair.
    SelectedPairChanged {
        /// The local candidate (the reflexive one the peer sees, when known).
        local: Candidate,
        /// The remote candidate.
        remote: Candidate,
    },
    /// An application datagram arrived on a working pair (through
    /// [`Protocol::handle_datagram`](crate::Protocol::handle_datagram); [`Agent::receive`](crate::ice::Agent::receive) hands it back without copying).
    Data {
        /// The remote address it came from.
        source: SocketAddr,
        /// The local address it arrived on (the relayed address for relayed pairs).
        destination: SocketAddr,
        /// The payload.
        contents: Vec<u8>,
    },
}

/// The addresses of the selected pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SelectedPair {
    /// The local socket address to send from.
    pub local: SocketAddr,
    /// The remote address to send to.
    pub remote: SocketAddr,
    /// Whether the pair goes through a TURN relay, in which case only [`Agent::send`](crate::ice::Agent::send) can
    /// send on it (the agent wraps the data for the relay).
    pub relayed: bool,
}

/// What [`Agent::receive`](crate::ice::Agent::receive) made of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// A STUN message for the agent (check, response, relay control), consumed.
    Stun,
    /// Application data from a working pair: hand it to the next layer.
    Data(&'a [u8]),
    /// Neither: from an unknown address, malformed, or unauthenticated. Dropped and counted.
    Rejected,
}

/// Counters of what the agent sent, received and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Connectivity checks sent (first transmissions).
    pub checks_sent: u64,
    /// Retransmissions of checks and gathering requests.
    pub retransmissions: u64,
    /// Consent and liveness checks sent.
    pub consent_checks_sent: u64,
    /// Checks answered.
    pub responses_sent: u64,
    /// STUN requests dropped for a bad USERNAME, MESSAGE-INTEGRITY or FINGERPRINT.
    pub unauthenticated: u64,
    /// Datagrams that looked like STUN but did not parse, or responses to nothing.
    pub malformed: u64,
    /// Non-STUN datagrams from addresses that are not a working pair.
    pub rejected_data: u64,
    /// Role conflicts seen (487 sent or received).
    pub role_conflicts: u64,
    /// Datagrams or events dropped because a queue was full, or too big for the buffer.
    pub dropped: u64,
    /// Application datagrams received on working pairs.
    pub data_received: u64,
    /// TCP connections of pairs that closed or failed to open (RFC 6544).
    pub tcp_streams_closed: u64,
}
