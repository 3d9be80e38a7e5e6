//! The TURN server (RFC 8656 §5 to §12) as a [`Protocol`]: authentication, allocations,
//! permissions, channels, and relaying between clients and peers.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::auth::{self, NonceCheck, NonceKey};
use super::channel_data::{self, ChannelData};
use super::outbox::Outbox;
use super::{ADDITIONAL_ADDRESS_FAMILY, UDP};
use crate::stun::{
    AddressFamily, Attribute, Class, ErrorCode, Key, Message, Method, PasswordAlgorithm,
    PasswordAlgorithms, TransactionId, is_stun,
};
use crate::{Datagram, Protocol, Rng, Transmit};

mod relay;
mod requests;

/// RFC 8656 §9: a permission lasts 300 s from its last refresh.
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// RFC 8656 §12: a channel binding lasts 600 s from its last refresh.
const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// [`Server`] settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The REALM of the long-term credentials.
    pub realm: String,
    /// The addresses clients reach the server on (its listening sockets).
    pub listen: Vec<SocketAddr>,
    /// The relay address pool: one socket per allocation (per family), owned by the caller.
    /// Datagrams arriving on them are relayed; `Transmit::source` names the one to send from.
    pub relays: Vec<SocketAddr>,
    /// Static users: (username, password).
    pub users: Vec<(String, String)>,
    /// The shared secret of the REST scheme: usernames `"<expiry unix time>:<user>"` with
    /// password `base64(HMAC-SHA1(secret, username))`, valid until the expiry. Default none.
    pub shared_secret: Option<String>,
    /// The most allocations in total (508 past it). Default 10 000.
    pub max_allocations: usize,
    /// The most allocations per username (486 past it). Default 16.
    pub max_allocations_per_user: usize,
    /// The most permissions and the most channels per allocation (508 past it). Default 64.
    pub max_peers: usize,
    /// The longest lifetime granted (RFC 8656 §7.2: 3600 s recommended). Default 3600 s.
    pub max_lifetime: Duration,
    /// How long a nonce stays valid before 438. Default 600 s.
    pub nonce_lifetime: Duration,
    /// The most datagrams waiting to be sent, and events waiting to be taken. Default 4096.
    pub max_queue: usize,
    /// Seed for the nonce secret and indication ids; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// SOFTWARE in responses. Default none.
    pub software: Option<String>,
}

impl ServerConfig {
    /// The defaults for `realm`, listening on `listen`, relaying from `relays`; no users yet.
    pub fn new(realm: &str, listen: Vec<SocketAddr>, relays: Vec<SocketAddr>) -> Self {
        Self {
            realm: realm.into(),
            listen,
            relays,
            users: Vec::new(),
            shared_secret: None,
            max_allocations: 10_000,
            max_allocations_per_user: 16,
            max_peers: 64,
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(600),
            max_queue: 4096,
            seed: None,
            software: None,
        }
    }
}

/// What the server tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// An allocation was created.
    Allocated {
        /// The client's address (as the server sees it).
        client: SocketAddr,
        /// The authenticated username.
        username: String,
        /// The relayed addresses given to it.
        relayed: Vec<SocketAddr>,
    },
    /// An allocation ended: deleted by the client, expired, or its TCP or TLS connection
    /// closed ([`Server::connection_closed`]).
    Released {
        /// The client's address.
        client: SocketAddr,
        /// Its relayed addresses, back in the pool.
        relayed: Vec<SocketAddr>,
        /// Whether it expired rather than being deleted.
        expired: bool,
    },
}

/// Counters of what the server did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// STUN requests received.
    pub requests: u64,
    /// 401 answers (missing or wrong credentials).
    pub unauthenticated: u64,
    /// 438 answers.
    pub stale_nonces: u64,
    /// Other error answers.
    pub errors: u64,
    /// Allocations created.
    pub allocations: u64,
    /// Allocations that expired.
    pub expired: u64,
    /// Datagrams relayed from clients to peers.
    pub to_peers: u64,
    /// Datagrams relayed from peers to clients.
    pub to_clients: u64,
    /// Datagrams dropped for want of a permission, channel or allocation.
    pub no_permission: u64,
    /// Datagrams that parsed as nothing useful.
    pub malformed: u64,
    /// Datagrams and events dropped because a queue was full or a buffer too small.
    pub dropped: u64,
}

/// How a client reaches the server: the transport part of an allocation's 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Via {
    /// UDP datagrams on a listening socket.
    Udp,
    /// An accepted TCP or TLS connection (TCP and TLS listeners never share an address, so
    /// the addresses tell them apart).
    Stream,
}

/// RFC 8656 §2.2: an allocation is named by its 5-tuple, the client's address, the server's
/// and the transport, so a UDP client and a TCP client at the same IP and port are two.
type ClientKey = (SocketAddr, SocketAddr, Via);

#[derive(Debug)]
struct Allocation {
    client: SocketAddr,
    listen: SocketAddr,
    via: Via,
    relayed: SmallVec<[SocketAddr; 2]>,
    username: Box<str>,
    /// The Allocate transaction, for answering its retransmissions (RFC 8656 §7.2).
    transaction: TransactionId,
    expires: Instant,
    permissions: SmallVec<[(IpAddr, Instant); 4]>,
    channels: SmallVec<[(u16, SocketAddr, Instant); 4]>,
}

impl Allocation {
    fn permitted(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.iter().any(|&(p, t)| p == ip && t > now)
    }

    fn relayed_for(&self, peer: SocketAddr) -> Option<SocketAddr> {
        self.relayed
            .iter()
            .copied()
            .find(|r| r.is_ipv4() == peer.is_ipv4())
    }
}

/// Why a request was refused: the code, the reason, and whether the answer can be signed.
struct Refusal {
    code: u16,
    reason: &'static str,
}

fn refuse(code: u16, reason: &'static str) -> Refusal {
    Refusal { code, reason }
}

/// A TURN server (RFC 8656) over UDP, as a [`Protocol`].
///
/// Bind it to every address in [`ServerConfig::listen`] and [`ServerConfig::relays`]: datagrams
/// to a listening address are requests, indications and ChannelData from clients; datagrams to
/// a relay address come from peers. Each [`Transmit`] names the socket to send from.
///
/// Long-term credentials come from the static user list and, with a shared secret, from the
/// REST scheme; the REST expiry is checked against the UNIX time given to
/// [`new`](Self::new) plus the time elapsed since. Nonces are stateless (their issue time and
/// a MAC over it and the client's IP), so unauthenticated requests create no state: a flood
/// of them costs only the answers. State per allocation is bounded by
/// [`ServerConfig::max_peers`]; allocations are bounded in total and per user, and every
/// queue is bounded. Relaying a datagram allocates nothing once the outbox's buffers are warm.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    start: Instant,
    unix_at_start: u64,
    nonces: NonceKey,
    offered: PasswordAlgorithms<'static>,
    users: HashMap<String, String>,
    rng: Rng,
    allocations: Vec<Option<Allocation>>,
    free_slots: Vec<usize>,
    by_client: HashMap<ClientKey, usize>,
    by_relay: HashMap<SocketAddr, usize>,
    per_user: HashMap<Box<str>, usize>,
    free_v4: Vec<SocketAddr>,
    free_v6: Vec<SocketAddr>,
    expiries: BinaryHeap<Reverse<(Instant, usize)>>,
    live: usize,
    /// Datagrams over UDP: to peers, and to clients on the listening sockets.
    out: Outbox,
    /// Messages to clients over their TCP or TLS connections.
    stream_out: Outbox,
    /// The transport of the datagram being handled: answers go back the same way.
    via: Via,
    events: VecDeque<ServerEvent>,
    stats: ServerStats,
}

impl Server {
    /// A server with no allocation. `now` and `unix_now` (seconds since 1970 at `now`, from
    /// the caller's wall clock) anchor the REST credentials' expiry check.
    pub fn new(config: ServerConfig, now: Instant, unix_now: u64) -> Self {
        let mut rng = Rng::new(config.seed);
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        let mut free_v4: Vec<SocketAddr> = config
            .relays
            .iter()
            .copied()
            .filter(|a| a.is_ipv4())
            .collect();
        let mut free_v6: Vec<SocketAddr> = config
            .relays
            .iter()
            .copied()
            .filter(|a| a.is_ipv6())
            .collect();
        // Handed out from the end: reverse so the first configured goes first.
        free_v4.reverse();
        free_v6.reverse();
        Self {
            users: config.users.iter().cloned().collect(),
            out: Outbox::new(config.max_queue),
            stream_out: Outbox::new(config.max_queue),
            via: Via::Udp,
            config,
            start: now,
            unix_at_start: unix_now,
            nonces: NonceKey::new(&secret),
            offered: PasswordAlgorithms::new(&[PasswordAlgorithm::Md5, PasswordAlgorithm::Sha256]),
            rng,
            allocations: Vec::new(),
            free_slots: Vec::new(),
            by_client: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            free_v4,
            free_v6,
            expiries: BinaryHeap::new(),
            live: 0,
            events: VecDeque::new(),
            stats: ServerStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// How many allocations exist.
    pub fn allocations(&self) -> usize {
        self.live
    }

    /// An estimate of the heap the server holds, in bytes: allocations, indexes, timers and
    /// queued datagrams. For checking the memory bound.
    pub fn memory(&self) -> usize {
        use std::mem::size_of;
        let alloc = size_of::<Option<Allocation>>() * self.allocations.capacity();
        let per_alloc: usize = self
            .allocations
            .iter()
            .flatten()
            .map(|a| {
                a.username.len()
                    + if a.permissions.spilled() {
                        a.permissions.capacity() * size_of::<(IpAddr, Instant)>()
                    } else {
                        0
                    }
                    + if a.channels.spilled() {
                        a.channels.capacity() * size_of::<(u16, SocketAddr, Instant)>()
                    } else {
                        0
                    }
            })
            .sum();
        let maps = (self.by_client.capacity() * (size_of::<ClientKey>() + 8)
            + self.by_relay.capacity() * (size_of::<SocketAddr>() + 8))
            * 9
            / 8;
        let timers = self.expiries.capacity() * size_of::<(Instant, usize)>();
        alloc + per_alloc + maps + timers + self.events.capacity() * size_of::<ServerEvent>()
    }

    /// Seconds since the server started, for nonces.
    fn secs(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.start).as_secs()).unwrap_or(u32::MAX)
    }

    fn unix_now(&self, now: Instant) -> u64 {
        self.unix_at_start + now.saturating_duration_since(self.start).as_secs()
    }

    /// The queue for answers to the client of the datagram being handled: the same transport
    /// it came over.
    fn replies(&mut self) -> &mut Outbox {
        match self.via {
            Via::Udp => &mut self.out,
            Via::Stream => &mut self.stream_out,
        }
    }

    /// The allocation key of the client that sent `d`.
    fn key(&self, d: &Datagram<'_>) -> ClientKey {
        (d.source, d.destination, self.via)
    }

    fn push_event(&mut self, e: ServerEvent) {
        if self.events.len() < self.config.max_queue {
            self.events.push_back(e);
        } else {
            self.stats.dropped += 1;
        }
    }

    /// The password for `username`, from the static list or the REST scheme.
    fn password(&self, now: Instant, username: &str) -> Option<Cow<'_, str>> {
        if let Some(p) = self.users.get(username) {
            return Some(Cow::Borrowed(p));
        }
        let secret = self.config.shared_secret.as_deref()?;
        let expiry = auth::rest_expiry(username)?;
        if expiry <= self.unix_now(now) {
            return None;
        }
        Some(Cow::Owned(auth::rest_password(secret, username)))
    }

    /// Queues an error response; 401 and 438 carry REALM and a fresh NONCE (and
    /// PASSWORD-ALGORITHMS), and are unsigned, as RFC 8489 §9.2.4 has it.
    fn error(
        &mut self,
        now: Instant,
        d: &Datagram<'_>,
        req: &Message<'_>,
        r: Refusal,
        key: Option<&Key>,
    ) {
        match r.code {
            ErrorCode::UNAUTHENTICATED => self.stats.unauthenticated += 1,
            ErrorCode::STALE_NONCE => self.stats.stale_nonces += 1,
            _ => self.stats.errors += 1,
        }
        let mut msg = Message::new(Class::ErrorResponse, req.method(), req.transaction_id());
        msg.add(Attribute::ErrorCode(ErrorCode {
            code: r.code,
            reason: Cow::Borrowed(r.reason),
        }));
        let challenge = matches!(r.code, ErrorCode::UNAUTHENTICATED | ErrorCode::STALE_NONCE);
        if challenge {
            let nonce = self.nonces.issue(self.secs(now), d.source.ip());
            msg.add(Attribute::Realm(Cow::Borrowed(&self.config.realm)));
            msg.add(Attribute::Nonce(Cow::Owned(nonce)));
            msg.add(Attribute::PasswordAlgorithms(self.offered.clone()));
        }
        if r.code == ErrorCode::UNKNOWN_ATTRIBUTE {
            msg.add(Attribute::UnknownAttributes(
                req.unknown_comprehension_required(),
            ));
        }
        if let Some(s) = &self.config.software {
            msg.add(Attribute::Software(Cow::Borrowed(s)));
        }
        let key = if challenge { None } else { key };
        let out = match self.via {
            Via::Udp => &mut self.out,
            Via::Stream => &mut self.stream_out,
        };
        if !out.push_message(d.destination, d.source, &msg, key) {
            self.stats.dropped += 1;
        }
    }

    /// Checks the long-term credential of a request (RFC 8489 §9.2.4) and returns the
    /// username and key.
    fn authenticate(
        &self,
        now: Instant,
        d: &Datagram<'_>,
        req: &Message<'_>,
    ) -> Result<(String, Key), Refusal> {
        if !req.has_integrity() {
            return Err(refuse(ErrorCode::UNAUTHENTICATED, "Unauthenticated"));
        }
        let (Some(username), Some(realm), Some(nonce)) = (req.username(), req.realm(), req.nonce())
        else {
            return Err(refuse(ErrorCode::BAD_REQUEST, "Bad Request"));
        };
        let lifetime = u32::try_from(self.config.nonce_lifetime.as_secs()).unwrap_or(u32::MAX);
        match self
            .nonces
            .check(nonce, d.source.ip(), self.secs(now), lifetime)
        {
            NonceCheck::Valid => {}
            // RFC 8489 §9.2.4: a nonce no longer valid gets 438 with a new one.
            NonceCheck::Stale | NonceCheck::Invalid => {
                return Err(refuse(ErrorCode::STALE_NONCE, "Stale Nonce"));
            }
        }
        if realm != self.config.realm {
            return Err(refuse(ErrorCode::UNAUTHENTICATED, "Unauthenticated"));
        }
        // RFC 8489 §9.2.4: PASSWORD-ALGORITHM and PASSWORD-ALGORITHMS come together, the latter
        // matching what the server sent; without both, MD5.
        let chosen = req.attributes().iter().find_map(|a| match a {
            Attribute::PasswordAlgorithm { algorithm, .. } => Some(*algorithm),
            _ => None,
        });
        let echoed = req.attributes().iter().find_map(|a| match a {
            Attribute::PasswordAlgorithms(p) => Some(p.as_bytes()),
            _ => None,
        });
        let algorithm = match (chosen, echoed) {
            (None, None) => PasswordAlgorithm::Md5,
            (Some(a), Some(e)) if e == self.offered.as_bytes() => a,
            _ => return Err(refuse(ErrorCode::BAD_REQUEST, "Bad Request")),
        };
        let Some(password) = self.password(now, username) else {
            return Err(refuse(ErrorCode::UNAUTHENTICATED, "Unauthenticated"));
        };
        let Some(key) = Key::long_term_with(algorithm, username, realm, &password) else {
            return Err(refuse(ErrorCode::BAD_REQUEST, "Bad Request"));
        };
        if req.verify(&key).is_err() {
            return Err(refuse(ErrorCode::UNAUTHENTICATED, "Unauthenticated"));
        }
        Ok((username.to_owned(), key))
    }

    fn on_request(&mut self, now: Instant, d: &Datagram<'_>, req: &Message<'_>) {
        self.stats.requests += 1;
        if req.method() == Method::Binding {
            let msg = Message::new(
                Class::SuccessResponse,
                Method::Binding,
                req.transaction_id(),
            )
            .with(Attribute::XorMappedAddress(d.source));
            self.replies()
                .push_message(d.destination, d.source, &msg, None);
            return;
        }
        if !matches!(
            req.method(),
            Method::Allocate | Method::Refresh | Method::CreatePermission | Method::ChannelBind
        ) {
            return self.error(
                now,
                d,
                req,
                refuse(ErrorCode::BAD_REQUEST, "Bad Request"),
                None,
            );
        }
        // RFC 8489 §6.3.1: unknown comprehension-required attributes get 420.
        if !req.unknown_comprehension_required().is_empty() {
            let r = refuse(ErrorCode::UNKNOWN_ATTRIBUTE, "Unknown Attribute");
            return self.error(now, d, req, r, None);
        }
        let (username, key) = match self.authenticate(now, d, req) {
            Ok(v) => v,
            Err(r) => return self.error(now, d, req, r, None),
        };
        let slot = self.by_client.get(&self.key(d)).copied();
        if let Some(s) = slot
            && let Some(a) = &self.allocations[s]
            && *a.username != *username
        {
            // RFC 8656 §5: requests on an allocation use the credentials that created it.
            let r = refuse(441, "Wrong Credentials");
            return self.error(now, d, req, r, Some(&key));
        }
        let result = match req.method() {
            Method::Allocate => self.allocate(now, d, req, slot, &username, &key),
            Method::Refresh => self.refresh(now, d, req, slot, &key),
            Method::CreatePermission => self.create_permission(now, d, req, slot, &key),
            _ => self.channel_bind(now, d, req, slot, &key),
        };
        if let Err(r) = result {
            self.error(now, d, req, r, Some(&key));
        }
    }

    /// The TCP or TLS connection the driver accepted from `client` on the listening address
    /// `listen` has closed. RFC 8656 §3.1: an allocation made over TCP or TLS is tied to its
    /// connection (the connection is its 5-tuple), so no request can reach it again; it is
    /// deleted now, its relayed addresses back in the pool (a [`ServerEvent::Released`] with
    /// `expired: false`), rather than holding them until its lifetime runs out. Returns whether
    /// there was an allocation.
    pub fn connection_closed(&mut self, client: SocketAddr, listen: SocketAddr) -> bool {
        // A UDP allocation from the same address is another 5-tuple: it stays.
        let Some(&s) = self.by_client.get(&(client, listen, Via::Stream)) else {
            return false;
        };
        self.release(s, false);
        self.compact_timers();
        true
    }

    /// Deletes an allocation and returns its relayed addresses to the pool.
    fn release(&mut self, s: usize, expired: bool) {
        let Some(a) = self.allocations[s].take() else {
            return;
        };
        self.by_client.remove(&(a.client, a.listen, a.via));
        for r in &a.relayed {
            self.by_relay.remove(r);
            if r.is_ipv4() {
                self.free_v4.push(*r);
            } else {
                self.free_v6.push(*r);
            }
        }
        if let Some(n) = self.per_user.get_mut(&a.username) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&a.username);
            }
        }
        self.free_slots.push(s);
        self.live -= 1;
        if expired {
            self.stats.expired += 1;
        }
        self.push_event(ServerEvent::Released {
            client: a.client,
            relayed: a.relayed.to_vec(),
            expired,
        });
    }

    /// Drops stale timer entries from the top (so `poll_timeout` is exact) and rebuilds the
    /// heap when refreshes have filled it with stale ones (so it stays bounded).
    fn compact_timers(&mut self) {
        if self.expiries.len() > 2 * self.live + 64 {
            let fresh = self
                .allocations
                .iter()
                .enumerate()
                .filter_map(|(s, a)| a.as_ref().map(|a| Reverse((a.expires, s))))
                .collect();
            self.expiries = fresh;
        }
        while let Some(&Reverse((t, s))) = self.expiries.peek() {
            match &self.allocations[s] {
                Some(a) if a.expires == t => break,
                _ => {
                    self.expiries.pop();
                }
            }
        }
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Server {
    /// A message that arrived over a TCP or TLS connection the driver accepted, from the
    /// client `d.source` to the listening address `d.destination` (one whole STUN or
    /// ChannelData message, as [`StreamLink`](super::StreamLink) cuts them). Its answers come
    /// out of [`poll_stream_transmit`](Self::poll_stream_transmit), never
    /// [`poll_transmit`](Protocol::poll_transmit): RFC 8656 §2.2 names an allocation by its
    /// 5-tuple, transport included, so a UDP client at the same address is another client.
    pub fn handle_stream_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        if !self.config.listen.contains(&d.destination) {
            self.stats.malformed += 1;
            return;
        }
        self.via = Via::Stream;
        self.on_client_datagram(now, &d);
        self.via = Via::Udp;
    }

    /// The next message for a client connected over TCP or TLS: write it into `buf`, to go
    /// down the connection between `Transmit::source` (the listening address) and
    /// `Transmit::destination` (the client). Relayed datagrams to peers, and everything for
    /// UDP clients, come out of [`poll_transmit`](Protocol::poll_transmit).
    pub fn poll_stream_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.stream_out.pop(buf);
        self.stats.dropped = self
            .stats
            .dropped
            .max(self.out.dropped + self.stream_out.dropped);
        t
    }

    /// A datagram from a client (over [`self.via`](Via)) to a listening address.
    fn on_client_datagram(&mut self, now: Instant, d: &Datagram<'_>) {
        if channel_data::is_channel_data(d.contents) {
            return self.on_client_channel(now, d);
        }
        if !is_stun(d.contents) {
            self.stats.malformed += 1;
            return;
        }
        let Ok(msg) = Message::parse(d.contents) else {
            self.stats.malformed += 1;
            return;
        };
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.stats.malformed += 1;
            return;
        }
        match (msg.class(), msg.method()) {
            (Class::Request, _) => self.on_request(now, d, &msg),
            (Class::Indication, Method::Send) => self.on_client_send(now, d, &msg),
            _ => self.stats.malformed += 1,
        }
    }
}

impl super::StreamServer for Server {
    fn stream_closed(&mut self, _now: Instant, local: SocketAddr, remote: SocketAddr) {
        self.connection_closed(remote, local);
    }

    fn handle_stream_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        Server::handle_stream_datagram(self, now, datagram);
    }

    fn poll_stream_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Server::poll_stream_transmit(self, now, buf)
    }
}

impl Protocol for Server {
    type Event = ServerEvent;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        if let Some(&s) = self.by_relay.get(&d.destination) {
            return self.on_peer_data(now, s, &d);
        }
        if !self.config.listen.contains(&d.destination) {
            self.stats.malformed += 1;
            return;
        }
        self.via = Via::Udp;
        self.on_client_datagram(now, &d);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.compact_timers();
        while let Some(&Reverse((t, s))) = self.expiries.peek() {
            if t > now {
                break;
            }
            self.expiries.pop();
            if self.allocations[s].as_ref().is_some_and(|a| a.expires == t) {
                // RFC 8656 §7: an allocation not refreshed within its lifetime is deleted.
                self.release(s, true);
            }
            self.compact_timers();
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.out.pop(buf);
        self.stats.dropped = self
            .stats
            .dropped
            .max(self.out.dropped + self.stream_out.dropped);
        t
    }

    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.peek().map(|Reverse((t, _))| *t)
    }
}
