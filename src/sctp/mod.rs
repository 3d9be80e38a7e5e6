//! SCTP (RFC 9260) for WebRTC data channels, as a sans-IO state machine.
//!
//! An [`Association`] takes SCTP packets and timestamps and hands back packets, events and its
//! next deadline. It knows nothing of DTLS: over WebRTC it carries the plaintext of DTLS
//! application data (RFC 8261), and alone it runs over any packet transport; [`Endpoint`]
//! binds it to a remote address and implements [`Protocol`](crate::Protocol) for that.
//!
//! What it implements:
//!
//! - RFC 9260: the handshake with an HMAC-signed state cookie, INIT collisions (both WebRTC
//!   sides connect at once), verification tags, DATA with fragmentation and reassembly,
//!   ordered and unordered delivery, SACK with gap blocks and duplicates, delayed acks,
//!   bundling, RTO estimation, T3-rtx, fast retransmit and recovery, congestion control,
//!   flow control, HEARTBEAT, SHUTDOWN, ABORT and ERROR.
//! - RFC 3758 partial reliability: FORWARD-TSN, per-message limits on retransmissions and on
//!   lifetime ([`SendOptions`]).
//! - RFC 6525 stream reset (outgoing SSN reset request and response), which closes data
//!   channels (RFC 8831 §6.7) and frees stream ids for reuse.
//! - RFC 8260 I-DATA and I-FORWARD-TSN, so a large message does not block others.
//! - RFC 9653 zero checksum when both sides accept it (enable it over DTLS only).
//!
//! The data channels of RFC 8831 and 8832 live one layer up, in
//! [`datachannel`](crate::datachannel).
//!
//! Memory is bounded: the receive window bounds what a peer can make us hold (reassembly,
//! ordering, undelivered messages, each with a per-chunk overhead), the send buffer bounds
//! what the application can queue, and reset streams free their state. [`Association::memory`]
//! reports it.
//!
//! # Driving contract
//!
//! Like every kaon layer: feed packets with [`handle_packet`](Association::handle_packet),
//! deadlines with [`handle_timeout`](Association::handle_timeout); drain
//! [`poll_packet`](Association::poll_packet) and [`poll_event`](Association::poll_event);
//! sleep until [`poll_timeout`](Association::poll_timeout). Mutators (`connect`, `send`,
//! `reset_stream`, `shutdown`) only queue work, in any order, at any time.
//!
//! ```
//! use kaon::sctp::{Association, Config, Event, SendOptions};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut a = Association::new(Config { seed: Some(1), ..Config::default() });
//! let mut b = Association::new(Config { seed: Some(2), ..Config::default() });
//! a.connect(now);
//! b.connect(now); // WebRTC: both sides connect
//! a.send(now, 0, 51, &b"hello"[..], SendOptions::default())?;
//!
//! // A perfect, instant network: shuttle packets until both sides are quiet.
//! let mut buf = [0u8; 1200];
//! let mut got = None;
//! for _ in 0..20 {
//!     while let Some(n) = a.poll_packet(now, &mut buf) {
//!         b.handle_packet(now, &buf[..n]);
//!     }
//!     while let Some(n) = b.poll_packet(now, &mut buf) {
//!         a.handle_packet(now, &buf[..n]);
//!     }
//!     while let Some(e) = b.poll_event() {
//!         if let Event::Message(m) = e {
//!             got = Some(m.data);
//!         }
//!     }
//! }
//! assert_eq!(got.as_deref(), Some(&b"hello"[..]));
//! assert!(a.poll_timeout().is_some()); // the heartbeat timer, at least
//! # Ok::<(), kaon::sctp::Error>(())
//! ```

mod association;
pub mod chunk;
mod config;
mod congestion;
mod cookie;
mod endpoint;
mod error;
mod handshake;
mod inflight;
mod lifecycle;
pub mod packet;
pub mod param;
mod peer_error;
mod reassembly;
mod reconfig;
mod recv;
mod rto;
mod rx;
mod send_queue;
mod timer;
mod tx;

pub use association::{Association, CloseReason, Event, Memory, State, Stats};
pub use config::Config;
pub use endpoint::Endpoint;
pub use error::Error;
pub use param::StreamList;
pub use peer_error::{ErrorCause, PeerError};
pub use send_queue::SendOptions;

/// A message received on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The stream it arrived on.
    pub stream: u16,
    /// Its payload protocol identifier.
    pub ppid: u32,
    /// Whether it was sent unordered.
    pub unordered: bool,
    /// The payload.
    pub data: bytes::Bytes,
}
