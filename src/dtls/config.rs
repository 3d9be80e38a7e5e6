//! Endpoint configuration and its WebRTC-minded defaults.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{CipherSuite, Fingerprint, NamedGroup, SrtpProfile};

/// Which side of the handshake an endpoint plays. In WebRTC the SDP `a=setup` attribute
/// decides: `active` is the client, `passive` the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Sends the ClientHello.
    #[default]
    Client,
    /// Answers it.
    Server,
}

/// Which DTLS versions an endpoint speaks (RFC 9147 §5.3 negotiation through
/// supported_versions; 1.3 is chosen when both sides offer it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VersionPolicy {
    /// DTLS 1.2 only: a client offers nothing else, a server answers a hello offering 1.3 with
    /// 1.2.
    Dtls12,
    /// DTLS 1.3 when the peer offers or accepts it, DTLS 1.2 otherwise. A client offers both
    /// (key shares X25519MLKEM768 and X25519, P-256 on request). The default, for the bare
    /// endpoint as for the `PeerConnection`: a 1.2-only peer still gets 1.2.
    #[default]
    Dtls13OrDtls12,
    /// DTLS 1.3 only: a peer without it fails with [`super::PeerIncompatible::NoCommonVersion`].
    Dtls13,
}

impl VersionPolicy {
    pub(crate) fn allows_13(self) -> bool {
        self != Self::Dtls12
    }

    pub(crate) fn allows_12(self) -> bool {
        self != Self::Dtls13
    }
}

/// How a [`super::Endpoint`] behaves.
///
/// # Timer defaults, and why
///
/// RFC 6347 §4.2.4.1 suggests a 1 s initial retransmission timer and a 60 s cap. WebRTC runs
/// DTLS over a path ICE has just proven, with a round-trip time that is almost always under
/// 100-300 ms, and a lost flight with a 1 s timer adds a whole second to call setup; libwebrtc
/// therefore starts far lower (50 ms, raised towards the ICE RTT). We start at **100 ms**: above
/// most RTTs, so spurious retransmissions are rare, and a spurious one only costs a flight the
/// peer discards. Doubling is capped at **3 s** rather than 60 s because on a link that lost
/// many flights in a row, a fast retry is what brings the call up once the link recovers;
/// **20 s** without completing ends the handshake with [`super::Error::HandshakeTimeout`]:
/// about ten retries, long enough to ride out a brief outage, short enough for the application
/// to report failure while the user still waits. A caller that knows the ICE RTT can set
/// `retransmit_initial` to about twice it.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client or server.
    pub role: Role,
    /// The local address datagrams are sent from (`Transmit::source`). A server that is not
    /// given one adopts the destination of the first ClientHello it accepts.
    pub local_addr: Option<SocketAddr>,
    /// The peer's address. Required for a client; a server without one binds to the source
    /// of the first ClientHello it accepts (after the cookie exchange) and ignores all others.
    pub remote_addr: Option<SocketAddr>,
    /// The fingerprints the peer's certificate must match (from the SDP `a=fingerprint`).
    /// May be left empty and given later with
    /// [`Endpoint::set_remote_fingerprints`](super::Endpoint::set_remote_fingerprints): the
    /// connection is then held back until they arrive and match (no `Connected`; application
    /// data the peer sends meanwhile is dropped, and data we queue waits). The certificate is
    /// accepted when it matches any of them (RFC 8122 §5 allows one per hash function).
    pub remote_fingerprints: Vec<Fingerprint>,
    /// The largest datagram to send, in bytes. 1200 fits every path WebRTC meets (it is what
    /// browsers use for DTLS and SCTP).
    pub mtu: usize,
    /// The first retransmission timeout.
    pub retransmit_initial: Duration,
    /// The cap on the doubling timeout.
    pub retransmit_max: Duration,
    /// How long a handshake may take from its first flight before it fails.
    pub handshake_timeout: Duration,
    /// Server: answer a ClientHello without a valid cookie with a HelloVerifyRequest
    /// (RFC 6347 §4.2.1). On by default; WebRTC servers may turn it off because ICE
    /// connectivity checks already proved the peer owns its address, which saves a round trip.
    pub hello_verify: bool,
    /// Cipher suites, most preferred first. A server only chooses those its ECDSA identity can
    /// sign for.
    pub cipher_suites: Vec<CipherSuite>,
    /// ECDHE groups, most preferred first.
    pub groups: Vec<NamedGroup>,
    /// DTLS-SRTP protection profiles, most preferred first; empty to not offer use_srtp.
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Which versions to speak; see [`VersionPolicy`]. [`super::Endpoint::version`] tells
    /// which one was negotiated.
    pub versions: VersionPolicy,
    /// DTLS 1.3: offer and accept the post-quantum hybrid X25519MLKEM768
    /// (draft-ietf-tls-ecdhe-mlkem) when `groups` has X25519. On by default, as in browsers.
    pub post_quantum: bool,
    /// Seed for the endpoint's random numbers (hello randoms, cookie secret); `None` seeds from
    /// the operating system. ECDHE and signature keys always come from aws-lc-rs.
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            role: Role::Client,
            local_addr: None,
            remote_addr: None,
            remote_fingerprints: Vec::new(),
            mtu: 1200,
            retransmit_initial: Duration::from_millis(100),
            retransmit_max: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(20),
            hello_verify: true,
            cipher_suites: CipherSuite::ALL.to_vec(),
            // X25519 is the fastest and what browsers prefer; P-256 for peers without it.
            groups: vec![
                NamedGroup::X25519,
                NamedGroup::Secp256r1,
                NamedGroup::Secp384r1,
            ],
            // AEAD-GCM profiles first: cheaper per packet than AES-CM + HMAC-SHA1 (RFC 7714).
            srtp_profiles: vec![
                SrtpProfile::AeadAes128Gcm,
                SrtpProfile::AeadAes256Gcm,
                SrtpProfile::Aes128CmHmacSha1_80,
                SrtpProfile::Aes128CmHmacSha1_32,
            ],
            versions: VersionPolicy::Dtls13OrDtls12,
            post_quantum: true,
            seed: None,
        }
    }
}

/// The address used for `Transmit::source` when none is configured or learned yet.
pub(crate) const UNSPECIFIED: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
