//! mDNS for ICE: a querier and responder for `.local` host names.
//!
//! Browsers hide their host addresses behind random `<uuid>.local` names and answer multicast
//! DNS queries for them on the local link (draft-ietf-mmusic-mdns-ice-candidates). This layer
//! does both halves for kaon:
//!
//! - [`Message`] parses and writes DNS messages (RFC 1035 §4.1 with the mDNS bits of RFC 6762
//!   §18): header, questions, A, AAAA and NSEC records, other records kept raw. Parsing is
//!   total: any bytes give a message or a typed [`Error`]; compression pointers must point
//!   backwards (no loops), names stay within 255 bytes and a message within
//!   [`MAX_ENTRIES`](message::MAX_ENTRIES) entries.
//! - [`Mdns`] implements [`Protocol`](crate::Protocol): [`register`](Mdns::register) hides an
//!   address behind a fresh random UUID name and answers A/AAAA queries for it by multicast to
//!   224.0.0.251:5353 or \[ff02::fb\]:5353 (and by unicast too when the query asks, QU);
//!   [`resolve`](Mdns::resolve) asks for a remote name with multicast (QM) queries, retries on
//!   a schedule (0, 1 and 3 s by default) and reports [`MdnsEvent::Resolved`] or, after a
//!   timeout, [`MdnsEvent::Failed`]. Answers are cached for their TTL.
//!
//! RFCs: 6762 (Multicast DNS), 1035 (message format), 3596 (AAAA), 4034 §4 (NSEC), and
//! draft-ietf-mmusic-mdns-ice-candidates (UUID names for ICE host candidates).
//!
//! What is left out, on purpose: probing and announcing (RFC 6762 §8; a random 122-bit UUID
//! does not collide, and the draft and browsers skip both), service discovery (PTR/SRV/TXT are
//! parsed raw and never answered), known-answer lists spread over truncated queries, and name
//! compression when writing (optional in RFC 1035 §4.1.4).
//!
//! # Driving contract
//!
//! The caller owns a UDP socket on port 5353 that joined the group (address reuse on, since a
//! browser on the same host shares the port) and tells [`Mdns`] its local address. One
//! instance can serve every ICE agent of a process. Here one host resolves another's name with
//! the "network" being function calls:
//!
//! ```
//! use kaon::mdns::{Mdns, MdnsConfig, MdnsEvent};
//! use kaon::{Datagram, Protocol};
//! use std::time::Instant;
//!
//! let a_sock = "192.0.2.1:5353".parse().unwrap();
//! let b_sock = "192.0.2.2:5353".parse().unwrap();
//! let mut a = Mdns::new(MdnsConfig::new(vec![a_sock]).with_seed(1));
//! let mut b = Mdns::new(MdnsConfig::new(vec![b_sock]).with_seed(2));
//! let now = Instant::now();
//!
//! // A hides its address; the name goes to the peer in an ICE candidate.
//! let name = a.register("192.0.2.1".parse().unwrap()).unwrap();
//! b.resolve(now, &name).unwrap();
//!
//! // Multicast on a link reaches every host: hand each datagram to the other side.
//! let mut buf = [0u8; 1500];
//! while let Some(t) = b.poll_transmit(now, &mut buf) {
//!     a.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//! }
//! while let Some(t) = a.poll_transmit(now, &mut buf) {
//!     b.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] });
//! }
//! assert_eq!(
//!     b.poll_event(),
//!     Some(MdnsEvent::Resolved { name, ip: "192.0.2.1".parse().unwrap() })
//! );
//! ```

mod endpoint;
pub mod message;
pub mod name;
#[cfg(test)]
mod tests;

pub(crate) use endpoint::random_uuid_name;
pub use endpoint::{Mdns, MdnsConfig, MdnsEvent, MdnsStats};
pub use message::{Class, Header, Message, Question, Record, RecordData, RecordType};
pub use name::Name;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// The mDNS port (RFC 6762 §3).
pub const PORT: u16 = 5353;
/// The IPv4 group, 224.0.0.251 (RFC 6762 §3).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The IPv6 group, ff02::fb (RFC 6762 §3).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

/// The group address and port for a socket of `local`'s family; IPv6 keeps the socket's scope
/// (interface), as ff02::fb is link-scoped.
pub fn group_for(local: SocketAddr) -> SocketAddr {
    match local {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(GROUP_V4), PORT),
        SocketAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(GROUP_V6, PORT, 0, v6.scope_id())),
    }
}

/// Whether `ip` is one of the two mDNS groups.
pub fn is_group(ip: IpAddr) -> bool {
    ip == IpAddr::V4(GROUP_V4) || ip == IpAddr::V6(GROUP_V6)
}

/// What went wrong parsing, writing or using mDNS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message ended inside a field.
    #[error("message truncated")]
    Truncated,
    /// A label is empty where it must not be, over 63 bytes, or of a reserved type.
    #[error("bad label")]
    BadLabel,
    /// A name is longer than 255 bytes.
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// A compression pointer points forwards, at itself, or too many pointers chain.
    #[error("bad compression pointer")]
    BadPointer,
    /// More questions and records than [`MAX_ENTRIES`](message::MAX_ENTRIES).
    #[error("{0} entries in one message")]
    TooManyEntries(usize),
    /// A record's data is longer than 65535 bytes.
    #[error("record data too long")]
    RecordTooLong,
    /// The output buffer is too small.
    #[error("buffer too small")]
    BufferTooSmall,
    /// The name does not end in `.local`.
    #[error("not a .local name: {0}")]
    NotLocal(String),
    /// A configured limit (names, resolutions) is reached.
    #[error("limit reached")]
    Limit,
}

impl From<crate::wire::Error> for Error {
    fn from(e: crate::wire::Error) -> Self {
        match e {
            crate::wire::Error::UnexpectedEnd { .. } => Self::Truncated,
            crate::wire::Error::BufferTooSmall { .. } => Self::BufferTooSmall,
        }
    }
}
