//! [`AgentConfig`]: roles, timers and limits of an [`Agent`](super::Agent).

use std::net::SocketAddr;
use std::time::Duration;

use crate::turn::{RelayFamily, Scheme, ServerUrl, TurnTransport, UrlTransport};

/// Which local candidates the agent uses (W3C `RTCIceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IceTransportPolicy {
    /// Every candidate: host, server-reflexive and relayed.
    #[default]
    All,
    /// Relayed candidates only: local addresses only talk to TURN servers, host and
    /// server-reflexive candidates are neither signalled nor paired.
    Relay,
}

/// A TURN server the agent allocates on from each local address of the server's family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's address (the core does no DNS: resolve names first).
    pub address: SocketAddr,
    /// The long-term credential's username.
    pub username: String,
    /// The long-term credential's password.
    pub credential: String,
    /// The relayed address family to ask for. Default: the server's own family; an IPv4-only
    /// host reaching IPv6 peers asks for [`RelayFamily::V6`].
    pub family: RelayFamily,
    /// How the server is reached. Default UDP. Over TCP and TLS the driver carries the
    /// relay's datagrams on a connection ([`StreamLink`](crate::turn::StreamLink)); the
    /// adapters `kaon-std` and `kaon-tokio` do it for `PeerConnection`s.
    pub transport: TurnTransport,
}

impl TurnServer {
    /// A server over UDP with the relay family of its address.
    pub fn new(address: SocketAddr, username: &str, credential: &str) -> Self {
        Self {
            address,
            username: username.into(),
            credential: credential.into(),
            family: if address.is_ipv4() {
                RelayFamily::V4
            } else {
                RelayFamily::V6
            },
            transport: TurnTransport::Udp,
        }
    }

    /// The server a `turn:` or `turns:` URL names, when the agent can use it: an IP literal,
    /// over UDP, TCP (`?transport=tcp`) or TLS (`turns:`). STUN URLs, `turns:` over UDP (DTLS)
    /// and host names (resolve them first, then use [`new`](Self::new)) give `None`.
    ///
    /// ```
    /// use kaon::ice::TurnServer;
    /// use kaon::turn::TurnTransport;
    /// let url = "turn:192.0.2.1?transport=udp".parse().unwrap();
    /// let server = TurnServer::from_url(&url, "alice", "secret").unwrap();
    /// assert_eq!(server.address, "192.0.2.1:3478".parse().unwrap());
    /// let tcp = "turn:192.0.2.1?transport=tcp".parse().unwrap();
    /// assert_eq!(TurnServer::from_url(&tcp, "alice", "secret").unwrap().transport, TurnTransport::Tcp);
    /// let tls = "turns:192.0.2.1".parse().unwrap();
    /// let server = TurnServer::from_url(&tls, "alice", "secret").unwrap();
    /// assert_eq!((server.address.port(), server.transport), (5349, TurnTransport::Tls));
    /// ```
    pub fn from_url(url: &ServerUrl, username: &str, credential: &str) -> Option<Self> {
        let transport = match (url.scheme, url.transport) {
            (Scheme::Turn, UrlTransport::Udp) => TurnTransport::Udp,
            (Scheme::Turn, UrlTransport::Tcp) => TurnTransport::Tcp,
            (Scheme::Turns, UrlTransport::Tcp) => TurnTransport::Tls,
            _ => return None,
        };
        Some(Self {
            transport,
            ..Self::new(url.socket_addr()?, username, credential)
        })
    }
}

/// Settings of an [`Agent`](super::Agent). The defaults follow RFC 8445 and RFC 7675.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Start as the controlling agent (the offerer, in JSEP). Role conflicts are still resolved
    /// on the wire (RFC 8445 §7.3.1.1). Ignored in lite mode, which is always controlled.
    pub controlling: bool,
    /// An ICE-lite agent (RFC 8445 §2.5): host candidates only, answers checks but sends none,
    /// follows the full peer's nomination. For servers with a public address.
    pub lite: bool,
    /// Seed for credentials, tie-breaker, transaction ids and jitter; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Ta, the pacing of new checks and gathering requests (RFC 8445 §14.2). Default 50 ms,
    /// the RFC's default; libwebrtc's weak-connection ping interval (48 ms) is the same in
    /// practice. Values below 5 ms are raised to 5 ms, the RFC's floor across all agents.
    pub ta: Duration,
    /// STUN servers to gather server-reflexive candidates from (each local address asks each
    /// server of its family). Default none.
    pub stun_servers: Vec<SocketAddr>,
    /// The floor of the RFC 8445 §14.3 RTO. The RFC forbids less than 500 ms, the default.
    pub rto_min: Duration,
    /// Rc, transmissions per check and gathering request before it fails (RFC 8489 §6.2.1).
    /// Default 7.
    pub max_transmissions: u32,
    /// Rm, the final wait after the last transmission in units of RTO (RFC 8489 §6.2.1).
    /// Default 16.
    pub rm: u32,
    /// The mean interval of consent checks on the selected pair (RFC 7675 §5.1: about 5 s,
    /// each interval drawn uniformly from 0.8 to 1.2 times this).
    pub consent_interval: Duration,
    /// Consent expires this long after the last answered consent check (RFC 7675 §5.1:
    /// 30 s); the pair then stops carrying data. Application data never refreshes consent.
    pub consent_timeout: Duration,
    /// Nothing received on the selected pair for this long makes the agent disconnected, and
    /// the controlling agent then moves to another working pair. Default 2 s. After half of it
    /// without traffic the agent probes the pair with a check every quarter of it.
    pub disconnected_timeout: Duration,
    /// Regular nomination: how long the controlling agent keeps checking for a better pair
    /// after the first pair became valid before it nominates the best one. Default 500 ms.
    /// Ignored with renomination, which nominates at once and again when a better pair works.
    pub nomination_delay: Duration,
    /// Renomination (libwebrtc and Pion's extension, `a=ice-options:renomination`): the
    /// controlling agent marks every nomination with an increasing NOMINATION value, may
    /// nominate again later, and a controlled agent follows the highest value. Peers without
    /// it ignore the attribute. Default off.
    pub renomination: bool,
    /// The most remote candidates kept (signalled and peer-reflexive). Default 64.
    pub max_remote_candidates: usize,
    /// The most candidate pairs (RFC 8445 §6.1.2.5: default 100).
    pub max_pairs: usize,
    /// The most local addresses (host candidates). Default 16.
    pub max_local_addresses: usize,
    /// The most datagrams waiting in the outbox and the most data events waiting to be taken;
    /// past it new ones are dropped and counted. Default 1024.
    pub max_queue: usize,
    /// Without the peer's end-of-candidates, failure is declared once every pair has failed
    /// and no remote candidate arrived for this long (RFC 8838 §8 leaves the wait to the
    /// agent; many applications never signal end-of-candidates, and the connection would
    /// otherwise stay checking forever). Default 10 s; `None` waits for end-of-candidates.
    pub end_of_candidates_timeout: Option<Duration>,
    /// TURN servers (RFC 8656): each local address allocates a relay on each server of its
    /// family, whose relayed address becomes a relayed candidate. Default none.
    pub turn_servers: Vec<TurnServer>,
    /// Which local candidates are used. Default [`IceTransportPolicy::All`].
    pub transport_policy: IceTransportPolicy,
    /// Whether host candidates are signalled behind mDNS `.local` names (see
    /// [`MdnsMode`](super::MdnsMode)). Default off.
    pub mdns_mode: super::MdnsMode,
    /// Whether host candidates on link-local addresses (fe80::/10, 169.254.0.0/16) are
    /// signalled to the peer. Default off, as browsers do: such an address works only on one
    /// link, and says which interface and often which hardware a host has. The agent still
    /// pairs it with link-local candidates the peer signals.
    pub signal_link_local: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            controlling: false,
            lite: false,
            seed: None,
            ta: Duration::from_millis(50),
            stun_servers: Vec::new(),
            rto_min: Duration::from_millis(500),
            max_transmissions: 7,
            rm: 16,
            consent_interval: Duration::from_secs(5),
            consent_timeout: Duration::from_secs(30),
            disconnected_timeout: Duration::from_secs(2),
            nomination_delay: Duration::from_millis(500),
            renomination: false,
            max_remote_candidates: 64,
            max_pairs: 100,
            max_local_addresses: 16,
            max_queue: 1024,
            end_of_candidates_timeout: Some(Duration::from_secs(10)),
            turn_servers: Vec::new(),
            transport_policy: IceTransportPolicy::All,
            mdns_mode: super::MdnsMode::Off,
            signal_link_local: false,
        }
    }
}

impl AgentConfig {
    /// A controlling agent with the defaults otherwise.
    pub fn controlling() -> Self {
        Self {
            controlling: true,
            ..Self::default()
        }
    }

    /// A controlled agent with the defaults otherwise.
    pub fn controlled() -> Self {
        Self::default()
    }

    /// An ICE-lite agent with the defaults otherwise.
    pub fn lite() -> Self {
        Self {
            lite: true,
            ..Self::default()
        }
    }

    /// The same settings with a fixed seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Clamps timers to sane ranges so that no setting can make the agent spin or overflow.
    pub(crate) fn sanitised(mut self) -> Self {
        let ms = Duration::from_millis;
        let cap = super::check::MAX_WAIT;
        self.ta = self.ta.clamp(ms(5), cap);
        self.rto_min = self.rto_min.clamp(ms(1), cap);
        self.max_transmissions = self.max_transmissions.clamp(1, 16);
        self.rm = self.rm.clamp(1, 64);
        self.consent_interval = self.consent_interval.clamp(ms(100), cap);
        self.consent_timeout = self.consent_timeout.clamp(ms(100), cap);
        self.disconnected_timeout = self.disconnected_timeout.clamp(ms(40), cap);
        self.nomination_delay = self.nomination_delay.min(cap);
        self.max_pairs = self.max_pairs.max(1);
        self.max_queue = self.max_queue.max(1);
        if self.lite {
            self.controlling = false;
        }
        self
    }
}
