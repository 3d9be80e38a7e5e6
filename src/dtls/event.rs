//! What an endpoint tells its application.

use super::{CipherSuite, Error, Role, SrtpProfile};

/// Something the application must know, from [`Endpoint::poll_event`](crate::Protocol::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed and the peer's certificate matched a remote fingerprint.
    Connected(Connected),
    /// Application data from the peer (one record).
    Data(Vec<u8>),
    /// The connection ended cleanly: the peer sent close_notify, or we closed.
    Closed,
    /// The handshake or connection failed; the endpoint is dead (errors are sticky).
    Failed(Error),
}

/// Details of an established connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The negotiated cipher suite.
    pub cipher_suite: CipherSuite,
    /// The negotiated SRTP profile and its keying material, when use_srtp was agreed.
    pub srtp: Option<SrtpKeying>,
    /// The peer's certificate (DER), already checked against the expected fingerprints.
    pub peer_certificate: Vec<u8>,
}

/// DTLS-SRTP keys (RFC 5764 §4.2): exporter output with the label `EXTRACTOR-dtls_srtp`, laid
/// out as client key, server key, client salt, server salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeying {
    /// The negotiated protection profile.
    pub profile: SrtpProfile,
    /// Our role, which tells which half of the material is ours.
    pub role: Role,
    /// The exporter output: `2 * (key_len + salt_len)` bytes.
    pub material: Vec<u8>,
}

impl std::fmt::Debug for SrtpKeying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeying")
            .field("profile", &self.profile)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl SrtpKeying {
    fn part(&self, client: bool, salt: bool) -> &[u8] {
        let (k, s) = self.profile.key_and_salt_len().unwrap_or((0, 0));
        let start = match (salt, client) {
            (false, true) => 0,
            (false, false) => k,
            (true, true) => 2 * k,
            (true, false) => 2 * k + s,
        };
        let len = if salt { s } else { k };
        self.material.get(start..start + len).unwrap_or_default()
    }

    /// The master key and salt we protect our outgoing SRTP with.
    pub fn local(&self) -> (&[u8], &[u8]) {
        let client = self.role == Role::Client;
        (self.part(client, false), self.part(client, true))
    }

    /// The master key and salt the peer protects its SRTP with.
    pub fn remote(&self) -> (&[u8], &[u8]) {
        let client = self.role == Role::Server;
        (self.part(client, false), self.part(client, true))
    }
}

/// Counters, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Records that were read and acted on.
    pub records_received: u64,
    /// Records dropped: malformed, failing authentication, replayed, unreadable in their
    /// epoch, or from an address other than the peer's.
    pub records_dropped: u64,
    /// Datagrams written by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Flights sent again (timer expiries and answers to the peer's repeats).
    pub retransmissions: u64,
    /// Datagrams dropped because the caller's buffer was too small.
    pub transmit_dropped: u64,
}
