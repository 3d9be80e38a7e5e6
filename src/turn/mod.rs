//! TURN (RFC 8656): a client allocation that plugs into the ICE agent as a relay, a server, and
//! the wire pieces both share.
//!
//! # What this layer does
//!
//! - [`Client`] holds one allocation on one TURN server, over UDP, TCP or TLS: Allocate with long-term
//!   credentials (401 REALM/NONCE, MD5 and SHA-256 PASSWORD-ALGORITHMS, 438 stale nonce), 300
//!   ALTERNATE-SERVER, IPv6 and dual-stack relays (REQUESTED-ADDRESS-FAMILY,
//!   ADDITIONAL-ADDRESS-FAMILY), Refresh before the lifetime ends, CreatePermission and
//!   ChannelBind with their refreshes, Send/Data indications until a channel is bound, and a
//!   Refresh with LIFETIME 0 on close. It implements [`Protocol`](crate::Protocol) for use
//!   alone and the ICE agent's [`Relay`](crate::ice::Relay) so its relayed address becomes a
//!   relayed candidate. Failures (bad credentials, quota, capacity, no answer) are
//!   [`ClientEvent::Failed`] with a [`TurnError`], never a hang.
//! - [`Server`] is a TURN server as a [`Protocol`](crate::Protocol): static users and the
//!   shared-secret REST scheme (time-limited usernames), stateless nonces, allocations,
//!   permissions and channels per RFC 8656, quotas per user and in total, and relay addresses
//!   from a pool the caller owns (`Transmit::source` names the relay socket to send from).
//! - [`ChannelData`] (RFC 8656 §12.4) and [`StreamFramer`] (TURN over TCP and TLS, RFC 8656
//!   §3.1): the framing. [`StreamLink`] is the byte-stream seam for TCP and TLS: it carries
//!   the client's (or the server's) datagrams over connections the driver owns, named by
//!   [`StreamId`] ("connect", "write", "close" out; "connected", "bytes", "closed" in), so the
//!   core opens no socket and TLS stays in the adapters. [`ServerUrl`] parses `stun:`/`turn:`/`turns:` URIs (RFC 7064,
//!   RFC 7065).
//!
//! RFCs: 8656 (TURN), 8489 (STUN and its long-term credentials), 7064 and 7065 (URIs), and the
//! REST API for TURN credentials (draft-uberti-behave-turn-rest) that coturn implements.
//!
//! # Driving contract
//!
//! Both ends are sans-IO: datagrams and the time in, datagrams, events and the next deadline
//! out. Here a client allocates on a server, with the network being function calls:
//!
//! ```
//! use kaon::turn::{Client, ClientConfig, ClientEvent, Server, ServerConfig};
//! use kaon::{Datagram, Protocol};
//! use std::time::{Duration, Instant};
//!
//! let server_addr = "192.0.2.1:3478".parse().unwrap();
//! let relay_addr = "192.0.2.1:49152".parse().unwrap();
//! let client_addr = "198.51.100.7:40000".parse().unwrap();
//! let mut now = Instant::now();
//! let mut server_config = ServerConfig::new("example.org", vec![server_addr], vec![relay_addr]);
//! server_config.users.push(("alice".into(), "secret".into()));
//! server_config.seed = Some(1);
//! let mut server = Server::new(server_config, now, 1_700_000_000);
//! let mut client = Client::new(ClientConfig {
//!     seed: Some(2),
//!     ..ClientConfig::new(client_addr, server_addr, "alice", "secret")
//! });
//! client.allocate(now);
//!
//! let mut buf = [0u8; 1500];
//! for _ in 0..4 {
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         server.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//!     }
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         client.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//!     }
//!     now += Duration::from_millis(10);
//! }
//! let Some(ClientEvent::Allocated { relayed, .. }) = client.poll_event() else { panic!() };
//! assert_eq!(relayed, vec![relay_addr]);
//! ```

mod auth;
mod channel_data;
mod client;
mod framing;
mod outbox;
mod server;
mod stream;
mod url;

pub use channel_data::{
    ChannelData, HEADER_LEN as CHANNEL_DATA_HEADER_LEN, MAX_CHANNEL, MAX_RFC5766_CHANNEL,
    MIN_CHANNEL, is_channel_data, is_rfc5766_channel, is_valid_channel,
    write_header as write_channel_data_header,
};
pub use client::{Client, ClientConfig, ClientEvent, ClientStats, RelayFamily, TurnError};
pub use framing::{Frame, MAX_FRAME_LEN, StreamFramer};
pub use server::{Server, ServerConfig, ServerEvent, ServerStats};
pub use stream::{
    StreamCommand, StreamId, StreamLink, StreamLinkConfig, StreamServer, StreamStats, TurnTransport,
};
pub use url::{Host, Scheme, ServerUrl, UrlError, UrlTransport};

/// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11): ask for a second relayed address, IPv6.
pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
/// ADDRESS-ERROR-CODE (RFC 8656 §18.12): why one family of a dual allocation failed.
pub const ADDRESS_ERROR_CODE: u16 = 0x8001;

/// Why a TURN wire message could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than its header or its length field says.
    #[error("truncated TURN message")]
    Truncated,
    /// A ChannelData channel number outside 0x4000..=0x4FFF.
    #[error("channel number {0:#06x} outside 0x4000..=0x4fff")]
    BadChannel(u16),
    /// More data than a 16-bit length can carry.
    #[error("message too long")]
    TooLong,
    /// The output buffer is too small.
    #[error("buffer too small")]
    BufferTooSmall,
    /// A byte stream whose next byte starts neither STUN nor ChannelData.
    #[error("TURN stream lost its framing")]
    BadFraming,
}

/// The IP protocol number for UDP in REQUESTED-TRANSPORT (RFC 8656 §18.8).
pub(crate) const UDP: u8 = 17;
