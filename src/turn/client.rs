//! The TURN client: one allocation on one server (RFC 8656 §7 to §12), sans-IO.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::channel_data::{self, ChannelData, MIN_CHANNEL};
use super::{ADDITIONAL_ADDRESS_FAMILY, TurnTransport, UDP};
use crate::ice::{Relay, Unwrapped};
use crate::stun::{
    self, AddressFamily, Attribute, Class, ErrorCode, Key, Message, Method, PasswordAlgorithm,
    TransactionId,
};
use crate::{Datagram, Protocol, Rng, Transmit};

mod data;
mod responses;

/// RFC 8656 §9: permissions last 300 s; refreshed a minute before.
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// RFC 8656 §12: channel bindings last 600 s; refreshed a minute before.
const CHANNEL_REFRESH: Duration = Duration::from_secs(540);
/// After a failed CreatePermission, try again this much later.
const PERMISSION_RETRY: Duration = Duration::from_secs(30);
/// How many 438 Stale Nonce answers in a row one request follows.
const MAX_STALE_RETRIES: u8 = 3;
/// Ti, how long a request over TCP or TLS waits for its answer (RFC 8489 §6.2.2).
const STREAM_TI: Duration = Duration::from_millis(39_500);
/// A cap on granted lifetimes, so that `Instant` arithmetic cannot overflow.
const NEVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Which relayed addresses to ask for (RFC 8656 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RelayFamily {
    /// One IPv4 relayed address (the RFC's default; no attribute sent).
    #[default]
    V4,
    /// One IPv6 relayed address (REQUESTED-ADDRESS-FAMILY IPv6).
    V6,
    /// An IPv4 and an IPv6 relayed address (ADDITIONAL-ADDRESS-FAMILY IPv6).
    Dual,
}

/// [`Client`] settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The local socket the client talks to its server from.
    pub local: SocketAddr,
    /// The TURN server.
    pub server: SocketAddr,
    /// The long-term credential's username.
    pub username: String,
    /// The long-term credential's password.
    pub password: String,
    /// Which relayed address families to ask for. Default IPv4.
    pub family: RelayFamily,
    /// The allocation lifetime to ask for. Default 600 s (RFC 8656 §7.2's default).
    pub lifetime: Duration,
    /// Bind a channel to each peer and send ChannelData once bound (Send indications until
    /// then, and always when false). Default true.
    pub channels: bool,
    /// Seed for transaction ids; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// SOFTWARE in requests. Default none.
    pub software: Option<String>,
    /// The initial STUN retransmission timeout (RFC 8489 §6.2.1). Default 500 ms.
    pub rto: Duration,
    /// Requests sent per transaction before it times out (Rc). Default 7 (39.5 s in all).
    pub rc: u32,
    /// The most peers (permissions and channels). Default 64.
    pub max_peers: usize,
    /// The most datagrams queued by [`Client::send`] and data events waiting. Default 256.
    pub max_queue: usize,
    /// How the server is reached. Default UDP. Over TCP and TLS the datagrams go through a
    /// [`StreamLink`](super::StreamLink) in the driver, and requests are not retransmitted.
    pub transport: TurnTransport,
}

impl ClientConfig {
    /// The defaults for an allocation on `server` from `local` with these credentials.
    pub fn new(local: SocketAddr, server: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            local,
            server,
            username: username.into(),
            password: password.into(),
            family: RelayFamily::V4,
            lifetime: Duration::from_secs(600),
            channels: true,
            seed: None,
            software: None,
            rto: Duration::from_millis(500),
            rc: 7,
            max_peers: 64,
            max_queue: 256,
            transport: TurnTransport::Udp,
        }
    }
}

/// Why an allocation (or one of its requests) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnError {
    /// The server refused the credentials: a second 401 after authenticating.
    #[error("the TURN server rejected the credentials")]
    BadCredentials,
    /// The server answered with an error, e.g. 486 Allocation Quota Reached, 508 Insufficient
    /// Capacity, 403 Forbidden, 440 Address Family not Supported.
    #[error("the TURN server refused: {code} {reason}")]
    Refused {
        /// The ERROR-CODE number.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// No answer after every retransmission.
    #[error("the TURN server did not answer")]
    Timeout,
    /// A second 300 Try Alternate, or one without ALTERNATE-SERVER.
    #[error("redirected more than once")]
    TooManyRedirects,
    /// The server offered only password algorithms kaon does not implement.
    #[error("no supported password algorithm")]
    UnsupportedAlgorithm,
    /// A success response without XOR-RELAYED-ADDRESS, or a request that could not be built.
    #[error("malformed TURN exchange")]
    Malformed,
    /// The allocation's lifetime ran out before a Refresh succeeded.
    #[error("the allocation expired")]
    Expired,
    /// The TCP or TLS connection to the server closed, failed to open, or failed its TLS
    /// handshake; an allocation made over it is gone with it (RFC 8656 §3.1).
    #[error("the connection to the TURN server closed")]
    StreamClosed,
}

impl TurnError {
    /// The ERROR-CODE behind the error, when the server sent one.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::BadCredentials => Some(ErrorCode::UNAUTHENTICATED),
            _ => None,
        }
    }
}

/// What the client tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The allocation exists.
    Allocated {
        /// The relayed addresses (two for a dual allocation the server granted in full).
        relayed: Vec<SocketAddr>,
        /// The client's address as the server saw it (XOR-MAPPED-ADDRESS).
        mapped: Option<SocketAddr>,
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// 300 Try Alternate: the client now allocates on this server.
    Redirected {
        /// The alternate server.
        server: SocketAddr,
    },
    /// A channel is bound: data to and from this peer now goes as ChannelData.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// A CreatePermission or ChannelBind failed; the client retries permissions later and
    /// keeps using Send indications for the peer.
    PermissionFailed {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        error: TurnError,
    },
    /// Data relayed from a peer (only through [`Protocol::handle_datagram`]; the ICE agent
    /// gets it through [`Relay::unwrap`]).
    Data {
        /// The peer.
        peer: SocketAddr,
        /// The data.
        data: Vec<u8>,
    },
    /// The allocation failed for good.
    Failed(TurnError),
    /// [`Client::close`] finished: the allocation is released (or could not be reached).
    Closed,
}

/// Counters of what the client did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests answered with 438 Stale Nonce and sent again.
    pub stale_nonces: u64,
    /// Allocation refreshes that succeeded.
    pub refreshes: u64,
    /// CreatePermission requests that succeeded (first ones and refreshes).
    pub permissions: u64,
    /// ChannelBind requests that succeeded (first ones and refreshes).
    pub channel_binds: u64,
    /// Datagrams sent as Send indications.
    pub indications_sent: u64,
    /// Datagrams sent as ChannelData.
    pub channel_data_sent: u64,
    /// Datagrams received from peers (Data indications and ChannelData).
    pub data_received: u64,
    /// Datagrams from the server that were neither a response, Data nor ChannelData, or
    /// named an unknown channel; datagrams from other addresses.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated,
    Closing,
    Closed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Allocate,
    Refresh,
    Permission(usize),
    Bind(usize),
    Deallocate,
}

#[derive(Debug)]
struct Pending {
    id: TransactionId,
    purpose: Purpose,
    stale_retries: u8,
}

#[derive(Debug)]
struct Auth {
    realm: String,
    nonce: String,
    key: Key,
    /// The algorithm chosen from the server's PASSWORD-ALGORITHMS, and that list to echo
    /// (RFC 8489 §9.2.4); `None` for a server without them (MD5).
    algorithms: Option<(PasswordAlgorithm, Attribute<'static>)>,
}

#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    channel: u16,
    permitted: bool,
    bound: bool,
    permission_due: Option<Instant>,
    bind_due: Option<Instant>,
}

/// One TURN allocation on one server, over UDP, TCP or TLS (RFC 8656).
///
/// Start it with [`allocate`](Self::allocate) (the ICE agent starts it itself when given it
/// through [`Agent::add_relay`](crate::ice::Agent::add_relay)). Driven through [`Protocol`]:
/// requests and their retransmissions come out of `poll_transmit`, responses go into
/// `handle_datagram`, outcomes come out as [`ClientEvent`]s. [`send`](Self::send) queues data to
/// a peer (asking for its permission and channel first if needed); data from peers comes out as
/// [`ClientEvent::Data`].
///
/// The exchange: an unauthenticated Allocate draws 401 with REALM and NONCE (and
/// PASSWORD-ALGORITHMS from RFC 8489 servers, where SHA-256 is preferred over MD5); the
/// retry carries the long-term credential. 438 Stale Nonce is retried with the new nonce; a
/// second 401 is [`TurnError::BadCredentials`]; 300 Try Alternate is followed once. Once
/// allocated, a Refresh goes out a minute before the lifetime ends (halfway for lifetimes under
/// two minutes), each peer's permission is refreshed every 240 s and its channel every 540 s.
/// [`close`](Self::close) sends a Refresh with LIFETIME 0.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    server: SocketAddr,
    redirected: bool,
    state: State,
    rng: Rng,
    stun: stun::Client,
    pending: Vec<Pending>,
    auth: Option<Auth>,
    relayed: Vec<SocketAddr>,
    mapped: Option<SocketAddr>,
    refresh_due: Option<Instant>,
    expires: Option<Instant>,
    peers: Vec<Peer>,
    events: VecDeque<ClientEvent>,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    pool: Vec<Vec<u8>>,
    deadline: Option<Instant>,
    error: Option<TurnError>,
    stats: ClientStats,
}

impl Client {
    /// A client that has not started allocating yet.
    pub fn new(config: ClientConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let (rc, rm) = if config.transport.is_stream() {
            // RFC 8489 §6.2.2: over a reliable transport the client does not retransmit; the
            // transaction times out after Ti, 39.5 s by default.
            let rto = config.rto.max(Duration::from_millis(1)).as_millis();
            (
                1,
                u32::try_from(STREAM_TI.as_millis().div_ceil(rto)).unwrap_or(u32::MAX),
            )
        } else {
            (config.rc, stun::ClientConfig::default().rm)
        };
        let stun = stun::Client::new(stun::ClientConfig {
            rto: config.rto,
            rc,
            rm,
            seed: Some(rng.u64()),
            software: config.software.clone(),
            fingerprint: true,
            max_transactions: 16 + 2 * config.max_peers,
        });
        Self {
            server: config.server,
            config,
            redirected: false,
            state: State::Idle,
            rng,
            stun,
            pending: Vec::new(),
            auth: None,
            relayed: Vec::new(),
            mapped: None,
            refresh_due: None,
            expires: None,
            peers: Vec::new(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            pool: Vec::new(),
            deadline: None,
            error: None,
            stats: ClientStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// The server currently used (differs from the configured one after a redirect).
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// The relayed addresses, once allocated.
    pub fn relayed_addrs(&self) -> &[SocketAddr] {
        if self.state == State::Allocated {
            &self.relayed
        } else {
            &[]
        }
    }

    /// Why the allocation failed, once it has.
    pub fn error(&self) -> Option<&TurnError> {
        self.error.as_ref()
    }

    /// Whether the allocation is in place.
    pub fn is_allocated(&self) -> bool {
        self.state == State::Allocated
    }

    /// The channel bound to `peer`, if any.
    pub fn channel(&self, peer: SocketAddr) -> Option<u16> {
        self.peers
            .iter()
            .find(|p| p.addr == peer && p.bound)
            .map(|p| p.channel)
    }

    /// Starts allocating (once; later calls do nothing).
    pub fn allocate(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.state = State::Allocating;
            self.send_request(now, Purpose::Allocate, 0);
        }
        self.update_deadline();
    }

    /// Asks for a permission towards `peer` (and a channel, if configured). Called by
    /// [`send`](Self::send) for a new peer; the ICE agent calls it for each paired remote.
    pub fn permit(&mut self, now: Instant, peer: SocketAddr) {
        self.peer_index(now, peer);
        self.update_deadline();
    }

    /// Queues `data` for `peer` through the relay (permission and channel are asked for on
    /// first use). Dropped and counted when the queue is full or nothing is allocated yet is
    /// fine: it waits for the allocation.
    pub fn send(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) -> bool {
        if matches!(self.state, State::Closing | State::Closed | State::Failed)
            || self.outbox.len() >= self.config.max_queue
        {
            self.stats.dropped += 1;
            return false;
        }
        if self.peer_index(now, peer).is_none() {
            self.stats.dropped += 1;
            return false;
        }
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(data);
        self.outbox.push_back((peer, v));
        self.update_deadline();
        true
    }

    /// Releases the allocation: a Refresh with LIFETIME 0 (RFC 8656 §7.3), then
    /// [`ClientEvent::Closed`].
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Allocated => {
                self.state = State::Closing;
                self.cancel_all();
                self.send_request(now, Purpose::Deallocate, 0);
            }
            State::Closing | State::Closed => {}
            _ => {
                self.cancel_all();
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed);
            }
        }
        self.update_deadline();
    }

    /// The driver's TCP or TLS connection to the server closed (or never opened): RFC 8656
    /// §3.1 ties the allocation to it, so the allocation fails with
    /// [`TurnError::StreamClosed`] at once rather than when a request times out. A close
    /// already under way just finishes. Does nothing over UDP.
    pub fn stream_closed(&mut self, _now: Instant) {
        if !self.config.transport.is_stream() {
            return;
        }
        match self.state {
            State::Idle | State::Allocating | State::Allocated => {
                self.fail(TurnError::StreamClosed)
            }
            State::Closing => {
                self.cancel_all();
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed);
            }
            State::Closed | State::Failed => {}
        }
        self.update_deadline();
    }

    fn cancel_all(&mut self) {
        for p in self.pending.drain(..) {
            self.stun.cancel(p.id);
        }
    }

    /// The peer's index, adding it (and asking for its permission and channel) if new.
    fn peer_index(&mut self, now: Instant, peer: SocketAddr) -> Option<usize> {
        if let Some(i) = self.peers.iter().position(|p| p.addr == peer) {
            return Some(i);
        }
        if self.peers.len() >= self.config.max_peers
            || self.peers.len() > usize::from(channel_data::MAX_CHANNEL - MIN_CHANNEL)
        {
            return None;
        }
        let i = self.peers.len();
        self.peers.push(Peer {
            addr: peer,
            channel: MIN_CHANNEL + i as u16,
            permitted: false,
            bound: false,
            permission_due: Some(now),
            bind_due: self.config.channels.then_some(now),
        });
        if self.state == State::Allocated {
            self.drive_peers(now);
        }
        Some(i)
    }

    /// Sends the permission and channel requests that are due.
    fn drive_peers(&mut self, now: Instant) {
        if self.state != State::Allocated {
            return;
        }
        for i in 0..self.peers.len() {
            if due(self.peers[i].permission_due, now) && !self.in_flight(Purpose::Permission(i)) {
                self.peers[i].permission_due = None;
                self.send_request(now, Purpose::Permission(i), 0);
            }
            if due(self.peers[i].bind_due, now) && !self.in_flight(Purpose::Bind(i)) {
                self.peers[i].bind_due = None;
                self.send_request(now, Purpose::Bind(i), 0);
            }
        }
    }

    fn in_flight(&self, purpose: Purpose) -> bool {
        self.pending.iter().any(|p| p.purpose == purpose)
    }

    /// Builds and starts the request for `purpose`, with the credentials once known.
    fn send_request(&mut self, now: Instant, purpose: Purpose, stale_retries: u8) {
        let method = match purpose {
            Purpose::Allocate => Method::Allocate,
            Purpose::Refresh | Purpose::Deallocate => Method::Refresh,
            Purpose::Permission(_) => Method::CreatePermission,
            Purpose::Bind(_) => Method::ChannelBind,
        };
        let mut msg = Message::new(Class::Request, method, TransactionId::default());
        match purpose {
            Purpose::Allocate => {
                // RFC 8656 §7.1: REQUESTED-TRANSPORT MUST be present; UDP is 17.
                msg.add(Attribute::RequestedTransport(UDP));
                msg.add(Attribute::Lifetime(secs(self.config.lifetime)));
                match self.config.family {
                    RelayFamily::V4 => {}
                    RelayFamily::V6 => {
                        msg.add(Attribute::RequestedAddressFamily(AddressFamily::V6));
                    }
                    RelayFamily::Dual => {
                        // RFC 8656 §7.1: ADDITIONAL-ADDRESS-FAMILY asks for an IPv6 address
                        // besides the IPv4 one; it carries the family like
                        // REQUESTED-ADDRESS-FAMILY.
                        msg.add(Attribute::Unknown {
                            typ: ADDITIONAL_ADDRESS_FAMILY,
                            value: Cow::Borrowed(&[0x02, 0, 0, 0]),
                        });
                    }
                }
            }
            Purpose::Refresh => {
                msg.add(Attribute::Lifetime(secs(self.config.lifetime)));
            }
            Purpose::Deallocate => {
                // RFC 8656 §7.3: a LIFETIME of 0 deletes the allocation.
                msg.add(Attribute::Lifetime(0));
            }
            Purpose::Permission(i) => {
                msg.add(Attribute::XorPeerAddress(self.peers[i].addr));
            }
            Purpose::Bind(i) => {
                msg.add(Attribute::ChannelNumber(self.peers[i].channel));
                msg.add(Attribute::XorPeerAddress(self.peers[i].addr));
            }
        }
        let key = self.auth.as_ref().map(|auth| {
            msg.add(Attribute::Username(Cow::Owned(
                self.config.username.clone(),
            )));
            msg.add(Attribute::Realm(Cow::Owned(auth.realm.clone())));
            msg.add(Attribute::Nonce(Cow::Owned(auth.nonce.clone())));
            if let Some((algorithm, offered)) = &auth.algorithms {
                // RFC 8489 §9.2.4: echo PASSWORD-ALGORITHMS and name the chosen one.
                msg.add(offered.clone());
                msg.add(Attribute::PasswordAlgorithm {
                    algorithm: *algorithm,
                    params: Cow::Borrowed(&[]),
                });
            }
            auth.key.clone()
        });
        match self
            .stun
            .start(now, self.config.local, self.server, &msg, key)
        {
            Ok(id) => self.pending.push(Pending {
                id,
                purpose,
                stale_retries,
            }),
            Err(_) => self.fail_request(now, purpose, TurnError::Malformed),
        }
    }

    fn fail(&mut self, error: TurnError) {
        self.cancel_all();
        self.state = State::Failed;
        self.error = Some(error.clone());
        self.events.push_back(ClientEvent::Failed(error));
    }

    /// A request failed for good: what that means depends on what it was for.
    fn fail_request(&mut self, now: Instant, purpose: Purpose, error: TurnError) {
        match purpose {
            Purpose::Allocate => self.fail(error),
            Purpose::Refresh => {
                if error == TurnError::Timeout && !due(self.expires, now) {
                    // The allocation may still be alive: keep trying until it expires.
                    self.refresh_due = Some(now);
                } else {
                    self.fail(error);
                }
            }
            Purpose::Deallocate => {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed);
            }
            Purpose::Permission(i) => {
                self.peers[i].permission_due = Some(now + PERMISSION_RETRY);
                let peer = self.peers[i].addr;
                self.events
                    .push_back(ClientEvent::PermissionFailed { peer, error });
            }
            Purpose::Bind(i) => {
                // Indications keep working; the channel is not asked for again.
                self.peers[i].bound = false;
                let peer = self.peers[i].addr;
                self.events
                    .push_back(ClientEvent::PermissionFailed { peer, error });
            }
        }
    }

    /// Runs every timer due at `now`.
    fn on_timeout(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.allocate(now);
        }
        self.stun.handle_timeout(now);
        self.process(now);
        if self.state == State::Allocated {
            if due(self.expires, now) {
                self.fail(TurnError::Expired);
            } else {
                if due(self.refresh_due, now) && !self.in_flight(Purpose::Refresh) {
                    self.refresh_due = None;
                    self.send_request(now, Purpose::Refresh, 0);
                }
                self.drive_peers(now);
            }
        }
        self.update_deadline();
    }

    fn update_deadline(&mut self) {
        let mut d = self.stun.poll_timeout();
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        if self.state == State::Allocated {
            at(self.refresh_due);
            at(self.expires);
            for p in &self.peers {
                at(p.permission_due);
                at(p.bind_due);
            }
        }
        self.deadline = d;
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn due(t: Option<Instant>, now: Instant) -> bool {
    t.is_some_and(|t| t <= now)
}

impl Protocol for Client {
    type Event = ClientEvent;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        if d.source != self.server || d.destination != self.config.local {
            self.stats.dropped += 1;
            return;
        }
        if let Unwrapped::Data { peer, payload } = self.unwrap_from(now, d.contents) {
            if self.events.len() >= self.config.max_queue {
                self.stats.dropped += 1;
                return;
            }
            self.events.push_back(ClientEvent::Data {
                peer,
                data: payload.to_vec(),
            });
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.on_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (source, destination) = (self.config.local, self.server);
        let transmit = move |len| Transmit::new(source, destination, len);
        if let Some(t) = self.stun.poll_transmit(now, buf) {
            return Some(Transmit {
                destination: t.destination,
                ..transmit(t.len)
            });
        }
        if self.state != State::Allocated {
            return None;
        }
        while let Some((peer, data)) = self.outbox.pop_front() {
            let n = self.wrap_into(peer, &data, buf);
            self.pool.push(data);
            match n {
                Some(len) => return Some(transmit(len)),
                None => self.stats.dropped += 1,
            }
        }
        None
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

/// The ICE agent's view: the allocation starts at the agent's first drive, and its relayed
/// addresses (both, for a dual allocation) become relayed candidates.
impl Relay for Client {
    fn local(&self) -> SocketAddr {
        self.config.local
    }

    fn server(&self) -> SocketAddr {
        self.server
    }

    fn transport(&self) -> TurnTransport {
        self.config.transport
    }

    fn stream_closed(&mut self, now: Instant) {
        Client::stream_closed(self, now);
    }

    fn relayed(&self) -> Option<SocketAddr> {
        self.relayed_addrs().first().copied()
    }

    fn relayed_second(&self) -> Option<SocketAddr> {
        self.relayed_addrs().get(1).copied()
    }

    fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    fn failed(&self) -> bool {
        matches!(self.state, State::Failed | State::Closed)
    }

    fn failure(&self) -> Option<String> {
        self.error.as_ref().map(ToString::to_string)
    }

    fn permit(&mut self, now: Instant, peer: SocketAddr) {
        Client::permit(self, now, peer);
    }

    fn wrap(
        &mut self,
        _now: Instant,
        peer: SocketAddr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        self.wrap_into(peer, payload, buf)
    }

    fn unwrap<'a>(&mut self, now: Instant, datagram: &'a [u8]) -> Unwrapped<'a> {
        self.unwrap_from(now, datagram)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.on_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.state == State::Idle {
            self.allocate(now);
        }
        let len = self.stun.poll_transmit(now, buf).map(|t| t.len);
        self.update_deadline();
        len
    }
}
