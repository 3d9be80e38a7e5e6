//! STUN: messages, attributes, message integrity, a client transaction state machine and a
//! binding server.
//!
//! # What this layer does
//!
//! - [`Message`] parses and writes STUN messages (RFC 8489 §5, compatible with RFC 5389).
//!   Parsing is total and zero-copy: any byte string gives a [`Message`] borrowing from it or a
//!   typed [`Error`], never a panic. Writing goes into the caller's buffer and allocates nothing.
//! - [`Attribute`] covers the attributes of RFC 8489, ICE (RFC 8445, plus the `NOMINATION`
//!   attribute of libwebrtc's renomination), TURN (RFC 8656) and NAT behaviour discovery
//!   (RFC 5780). Unknown attributes are kept with their raw value.
//! - [`Key`] holds precomputed HMAC keys for short-term and long-term credentials and signs or
//!   verifies `MESSAGE-INTEGRITY` and `MESSAGE-INTEGRITY-SHA256`; `FINGERPRINT` is written and
//!   checked by [`Message`].
//! - [`Client`] runs request transactions with the retransmission schedule of RFC 8489 §6.2.1 and
//!   matches responses; [`Server`] answers Binding requests, including RFC 5780's
//!   `CHANGE-REQUEST`; [`NatDiscovery`] uses both to classify the NAT in front of a socket
//!   (RFC 5780 §4.3-4.4).
//! - [`is_stun`] is the cheap demultiplexing test of RFC 7983.
//!
//! RFCs: 8489 (STUN), 5389 (its predecessor, same wire format), 5769 (test vectors, in the
//! tests), 5780 (NAT behaviour discovery attributes and server behaviour, partly), 8445 (ICE
//! attributes), 8656 (TURN attributes), 7983 (demultiplexing). RFC 3489 messages, which have no
//! magic cookie, are rejected as [`Error::NotStun`]: every current peer sends the cookie, and
//! without it the XOR address attributes and RFC 7983 demultiplexing do not work.
//!
//! # Driving contract
//!
//! [`Client`] and [`Server`] implement [`Protocol`](crate::Protocol): feed them datagrams and
//! the time, take out datagrams, events and the next deadline. Here a client asks a server for
//! its reflexive address, with the "network" being two function calls:
//!
//! ```
//! use kaon::stun::{Client, ClientConfig, ClientEvent, Server, ServerConfig};
//! use kaon::{Datagram, Protocol};
//! use std::time::{Duration, Instant};
//!
//! let server_addr = "192.0.2.1:3478".parse().unwrap();
//! let client_addr = "198.51.100.7:40000".parse().unwrap();
//! let mut server = Server::new(ServerConfig::new(vec![server_addr]));
//! let mut client = Client::new(ClientConfig { seed: Some(1), ..ClientConfig::default() });
//!
//! let mut now = Instant::now();
//! let id = client.binding_request(now, client_addr, server_addr);
//! let mut buf = [0u8; 1500];
//!
//! // The request goes out at once...
//! let t = client.poll_transmit(now, &mut buf).unwrap();
//! assert_eq!((t.source, t.destination), (client_addr, server_addr));
//! now += Duration::from_millis(20);
//! server.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//!
//! // ...the server answers...
//! let t = server.poll_transmit(now, &mut buf).unwrap();
//! now += Duration::from_millis(20);
//! client.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//!
//! // ...and the client reports where it was seen from.
//! match client.poll_event() {
//!     Some(ClientEvent::Success { id: done, rtt, response, .. }) => {
//!         assert_eq!(done, id);
//!         assert_eq!(rtt, Duration::from_millis(40));
//!         assert_eq!(response.mapped_address(), Some(client_addr));
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert_eq!(client.poll_timeout(), None); // nothing left to retransmit
//! ```

mod address;
mod attr;
pub mod attr_type;
mod client;
mod discovery;
mod getters;
mod header;
mod integrity;
mod message;
mod rto;
mod server;

#[cfg(test)]
mod tests;

pub use attr::{AddressFamily, Attribute, ErrorCode, MAX_USERNAME_LEN, PasswordAlgorithms};
pub use client::{Client, ClientConfig, ClientEvent, ClientStats};
pub use discovery::{DiscoveryEvent, NatBehavior, NatDiscovery, NatReport};
pub use header::{Class, MAGIC_COOKIE, Method, TransactionId, is_stun};
pub use integrity::{Integrity, Key, PasswordAlgorithm};
pub use message::Message;
pub use server::{Server, ServerConfig, ServerEvent, ServerStats, ShortTermCredentials};

/// Why a STUN message could not be parsed, written or verified, or a request not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than a STUN header (20).
    #[error("too short for a STUN header: {len} bytes")]
    TooShort {
        /// The input length.
        len: usize,
    },
    /// The first two bits are not zero or the magic cookie is missing (RFC 8489 §5).
    #[error("not a STUN message")]
    NotStun,
    /// The header's length is not a multiple of 4 or does not match the bytes that follow.
    #[error("bad STUN message length {length} for {available} bytes of body")]
    BadLength {
        /// The length field.
        length: usize,
        /// The bytes present after the header.
        available: usize,
    },
    /// An attribute's length runs past the end of the message.
    #[error("attribute {typ:#06x} runs past the end of the message")]
    TruncatedAttribute {
        /// The attribute type.
        typ: u16,
    },
    /// An attribute's value is malformed for its type (wrong length, bad family, bad UTF-8, out
    /// of range), when parsing or when writing.
    #[error("malformed value for attribute {typ:#06x}")]
    BadAttribute {
        /// The attribute type.
        typ: u16,
    },
    /// An attribute follows FINGERPRINT, which RFC 8489 §14.7 requires to be last.
    #[error("attribute after FINGERPRINT")]
    AttributeAfterFingerprint,
    /// More attributes than [`Message::MAX_ATTRIBUTES`].
    #[error("too many attributes")]
    TooManyAttributes,
    /// A method number above the 12 bits the header has room for.
    #[error("method {0:#x} does not fit in 12 bits")]
    BadMethod(u16),
    /// The message would be longer than the 16-bit length field allows.
    #[error("message too long")]
    MessageTooLong,
    /// The message carries neither MESSAGE-INTEGRITY nor MESSAGE-INTEGRITY-SHA256.
    #[error("missing MESSAGE-INTEGRITY")]
    MissingIntegrity,
    /// MESSAGE-INTEGRITY(-SHA256) does not match the key.
    #[error("MESSAGE-INTEGRITY mismatch")]
    IntegrityMismatch,
    /// The message carries no FINGERPRINT.
    #[error("missing FINGERPRINT")]
    MissingFingerprint,
    /// FINGERPRINT does not match the message.
    #[error("FINGERPRINT mismatch")]
    FingerprintMismatch,
    /// A response carried a comprehension-required attribute this layer does not know
    /// (RFC 8489 §6.3.3, §6.3.4: the transaction has failed).
    #[error("unknown comprehension-required attribute {typ:#06x}")]
    UnknownRequiredAttribute {
        /// The first such attribute type.
        typ: u16,
    },
    /// [`Client::start`] was given a message whose class is not Request.
    #[error("only requests start transactions")]
    NotARequest,
    /// The client already runs [`ClientConfig::max_transactions`] transactions.
    #[error("too many transactions in progress")]
    TooManyTransactions,
    /// A byte-level read or write failed (mostly: the output buffer is too small).
    #[error(transparent)]
    Wire(#[from] crate::wire::Error),
}
