//! ICE: connect two endpoints through NATs and keep them connected (RFC 8445).
//!
//! [`Agent`] is a full or lite ICE agent for one component (what WebRTC uses with BUNDLE and
//! rtcp-mux). It can be used alone, for UDP hole punching under any protocol, or under DTLS
//! by the PeerConnection.
//!
//! # What it does
//!
//! - **Candidates** ([`Candidate`]): host candidates for the local sockets the application
//!   names ([`Agent::add_local_interface`]); server-reflexive candidates gathered from the
//!   configured STUN servers through each of them; peer-reflexive candidates learned from
//!   checks; relayed candidates through the [`Relay`] seam a TURN client plugs into. Priority
//!   and foundation per RFC 8445 §5.1.2, the IPv6/IPv4 interleaving of RFC 8421. The SDP
//!   `candidate` attribute is parsed and written per RFC 8839 ([`Candidate::parse`],
//!   `Display`), keeping mDNS `.local` names unresolved ([`Address::Mdns`]) and unknown
//!   extensions. Each local candidate is reported as it is found (trickle, RFC 8838), then
//!   [`IceEvent::GatheringComplete`].
//! - **Checks**: pairs within an address family, pruned and limited, with frozen / waiting /
//!   in-progress / succeeded / failed states and foundation unfreezing; one new check every Ta
//!   (triggered checks first); retransmission with the RFC 8445 §14.3 RTO; the symmetric
//!   response check; only checks with the right USERNAME and MESSAGE-INTEGRITY are answered
//!   or believed. Role conflicts are settled with the tie-breakers (487).
//! - **Nomination**: the controlling agent nominates the best valid pair (regular
//!   nomination); with [`AgentConfig::renomination`] it marks nominations with an increasing
//!   NOMINATION value and may move to a better pair later. The controlled agent follows the
//!   highest value, or without it the latest nomination when it is better or the current pair
//!   went quiet (so aggressive nomination and peers without renomination both work).
//! - **Keeping it up**: consent freshness (RFC 7675) with randomized ~5 s checks and a 30 s
//!   expiry, after which nothing more is sent; [`IceState::Disconnected`] after ~2 s without
//!   traffic; failover by the controlling agent to another pair that still answers, without a
//!   restart; [`Agent::restart`] for new credentials while the old pair carries data.
//! - **States**: new, checking, connected, completed, disconnected, failed (every pair failed
//!   with no candidate pending, or consent lost), closed.
//! - **Data**: [`Agent::selected_pair`] says which socket and remote address to use;
//!   [`Agent::send`] queues a datagram on it; received non-STUN datagrams from working pairs
//!   come back from [`Agent::receive`] (zero-copy, for a demultiplexing caller) or as
//!   [`IceEvent::Data`] through [`Protocol::handle_datagram`](crate::Protocol::handle_datagram).
//!
//! # Limits and choices
//!
//! - One component, over UDP and, with TCP host candidates ([`Agent::add_tcp_passive`],
//!   [`Agent::add_tcp_active`]), over TCP (RFC 6544): tcptype pairing, TCP priorities below
//!   UDP, checks not retransmitted over TCP, a peer connecting to a passive candidate learned
//!   as a peer-reflexive candidate. The agent still speaks datagrams; an [`IceTcpLink`] turns
//!   those of its TCP candidates into RFC 4571 frames on connections the driver owns.
//!   Simultaneous-open candidates pair by the rules but the link never opens one.
//! - mDNS (`.local`) remote candidates wait for [`Agent::resolve_remote_name`]; with
//!   [`AgentConfig::mdns_mode`] our host candidates hide behind `.local` names. The agent
//!   sends no mDNS itself: [`Agent::local_mdns_names`] and [`Agent::unresolved_remote_names`]
//!   are the seam to one shared [`crate::mdns::Mdns`] responder and resolver.
//! - [`IceState::Failed`] from failed checks needs the peer's end-of-candidates (trickle
//!   could otherwise always bring one more), or, for peers that never send it, every pair
//!   failed and no candidate for [`AgentConfig::end_of_candidates_timeout`] (10 s); consent
//!   loss fails without either.
//! - Ta defaults to RFC 8445's 50 ms, for checks and, separately, for gathering requests.
//! - Relayed candidates need a [`Relay`] implementation; the TURN client will provide one.
//! - Memory is bounded by [`AgentConfig`]'s limits: remote candidates, pairs, local
//!   addresses, queued datagrams and data events; transactions by the pair limit.
//!
//! RFCs: 8445 (ICE; 5245 peers interoperate: the wire format is the same and aggressive
//! nomination is accepted), 8838 (trickle ICE), 8839 (SDP attributes), 7675 (consent
//! freshness), 8421 (dual-stack preference), 8489 (STUN), 6544 (ICE-TCP), 4571 (framing).
//!
//! # Driving contract
//!
//! The agent implements [`Protocol`](crate::Protocol). Mutators (`add_local_interface`,
//! `add_remote_candidate`, `set_remote_credentials`, `send`, `restart`, ...) only queue work
//! and may be called at any time; the next `poll_transmit`, `handle_timeout` or
//! `handle_datagram` acts on it. Here two agents are wired to each other in memory:
//!
//! ```
//! use kaon::ice::{Agent, AgentConfig, IceEvent, IceState};
//! use kaon::{Datagram, Protocol};
//! use std::time::{Duration, Instant};
//!
//! let mut a = Agent::new(AgentConfig::controlling().with_seed(1));
//! let mut b = Agent::new(AgentConfig::controlled().with_seed(2));
//! a.add_local_interface("192.0.2.1:5000".parse()?)?;
//! b.add_local_interface("192.0.2.2:6000".parse()?)?;
//!
//! // Signalling: credentials and candidates, each way.
//! let (u, p) = a.local_credentials();
//! b.set_remote_credentials(u, p)?;
//! let (u, p) = b.local_credentials();
//! a.set_remote_credentials(u, p)?;
//! for c in a.local_candidates().cloned().collect::<Vec<_>>() {
//!     b.add_remote_candidate(c)?;
//! }
//! for c in b.local_candidates().cloned().collect::<Vec<_>>() {
//!     a.add_remote_candidate(c)?;
//! }
//! a.end_of_remote_candidates();
//! b.end_of_remote_candidates();
//!
//! // The network: each datagram arrives 10 ms after it was sent.
//! let mut now = Instant::now();
//! let mut buf = [0u8; 1500];
//! let mut done = false;
//! for _ in 0..100 {
//!     let mut flight = Vec::new();
//!     for (from_a, agent) in [(true, &mut a), (false, &mut b)] {
//!         while let Some(t) = agent.poll_transmit(now, &mut buf) {
//!             flight.push((from_a, t.source, t.destination, buf[..t.len].to_vec()));
//!         }
//!     }
//!     now += Duration::from_millis(10);
//!     for (from_a, source, destination, bytes) in flight {
//!         let to = if from_a { &mut b } else { &mut a };
//!         to.handle_datagram(now, Datagram { source, destination, contents: &bytes });
//!     }
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     done = a.state() == IceState::Completed && b.state() == IceState::Completed;
//!     if done {
//!         break;
//!     }
//! }
//! assert!(done);
//! let pair = a.selected_pair().unwrap();
//! assert_eq!(pair.remote, "192.0.2.2:6000".parse()?);
//!
//! // Application data goes over the selected pair and comes out as an event on the far side.
//! a.send(b"hello")?;
//! let t = a.poll_transmit(now, &mut buf).unwrap();
//! b.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//! let data = std::iter::from_fn(|| b.poll_event())
//!     .find_map(|e| match e { IceEvent::Data { contents, .. } => Some(contents), _ => None });
//! assert_eq!(data.as_deref(), Some(&b"hello"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent;
mod candidate;
mod check;
mod checklist;
mod config;
mod consent;
mod drive;
mod events;
mod gather;
mod mdns;
mod receive;
mod relay;
mod report;
mod sdp;
mod select;
mod tcp;
mod tcp_agent;

pub use agent::{Agent, AgentStats, IceEvent, IceState, Received, SelectedPair};
pub use candidate::{
    Address, COMPONENT_RTP, Candidate, CandidateKind, TcpType, Transport, foundation,
    local_preference, pair_priority, priority,
};
pub use config::{AgentConfig, IceTransportPolicy, TurnServer};
pub use mdns::MdnsMode;
pub(crate) use receive::same_addr;
pub use relay::{Relay, Unwrapped};
pub use report::{CheckFailure, PairCheckState, PairReport};
pub use tcp::{
    ACTIVE_PORT, FRAME_HEADER_LEN, FramingError, IceTcpLink, IceTcpLinkConfig, IceTcpStats,
    MAX_FRAME_PAYLOAD, STREAM_ID_BIT, TcpFramer, write_frame,
};
pub use tcp_agent::{tcp_local_preference, tcp_priority};

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
