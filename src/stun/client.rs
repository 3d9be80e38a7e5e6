//! The STUN client transaction (RFC 8489 §6.2, §6.3.3, §6.3.4): sends requests, retransmits
//! them on the RFC 8489 §6.2.1 schedule over UDP, and matches responses.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::Error;
use super::attr::{Attribute, ErrorCode};
use super::attr_type as t;
use super::header::{Class, Method, TransactionId};
use super::integrity::Key;
use super::message::Message;
use super::rto::RtoCache;
use crate::{Datagram, Protocol, Rng, Transmit};

/// A cap on any single wait, so that `Instant` arithmetic cannot overflow whatever the config.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// [`Client`] settings. The defaults are RFC 8489's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The initial retransmission timeout. RFC 8489 §6.2.1: "the initial value for RTO SHOULD
    /// be greater than or equal to 500 ms"; default 500 ms. It is also the floor for the
    /// per-server RTO the client learns (see [`Client`]).
    pub rto: Duration,
    /// Rc, the number of requests sent in total (first one included). Default 7. A value of 0
    /// counts as 1.
    pub rc: u32,
    /// Rm: after the last request the client waits Rm * RTO before giving up. Default 16.
    pub rm: u32,
    /// Seed for the transaction-id generator; `None` seeds from the OS. Set it for
    /// reproducible runs.
    pub seed: Option<u64>,
    /// Added as SOFTWARE to requests that do not carry one already. Default none.
    pub software: Option<String>,
    /// Whether requests carry FINGERPRINT (required for ICE, RFC 8445 §7.1). Default true.
    pub fingerprint: bool,
    /// How many transactions may run at once; more are refused with
    /// [`Error::TooManyTransactions`]. Bounds memory. Default 256.
    pub max_transactions: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            rto: Duration::from_millis(500),
            rc: 7,
            rm: 16,
            seed: None,
            software: None,
            fingerprint: true,
            max_transactions: 256,
        }
    }
}

/// What the client tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A success response arrived.
    Success {
        /// The transaction.
        id: TransactionId,
        /// The response (its integrity, when the request had a key, is already verified).
        response: Message<'static>,
        /// Where it came from (the server, or another address after CHANGE-REQUEST).
        from: SocketAddr,
        /// Time from the first transmission to the response. When the request was
        /// retransmitted this includes the waits, since retransmissions are identical and the
        /// response cannot say which one it answers.
        rtt: Duration,
    },
    /// An error response arrived.
    ErrorResponse {
        /// The transaction.
        id: TransactionId,
        /// The ERROR-CODE number, 300..=699.
        code: u16,
        /// The reason phrase.
        reason: String,
        /// The whole response (for REALM, NONCE, UNKNOWN-ATTRIBUTES, ALTERNATE-SERVER...).
        response: Message<'static>,
    },
    /// No response after the last retransmission and the final Rm * RTO wait.
    Timeout {
        /// The transaction.
        id: TransactionId,
    },
    /// The transaction failed without a usable response: the response carried an unknown
    /// comprehension-required attribute (RFC 8489 §6.3.3), or
    /// [`Client::binding_request`] hit the transaction limit.
    Failed {
        /// The transaction.
        id: TransactionId,
        /// Why.
        error: Error,
    },
}

impl ClientEvent {
    /// The transaction the event is about.
    pub fn id(&self) -> TransactionId {
        match self {
            Self::Success { id, .. }
            | Self::ErrorResponse { id, .. }
            | Self::Timeout { id }
            | Self::Failed { id, .. } => *id,
        }
    }

    /// For a success, the reflexive address: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS.
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        match self {
            Self::Success { response, .. } => response.mapped_address(),
            _ => None,
        }
    }
}

/// Counters of what the client sent, received and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Transactions started.
    pub started: u64,
    /// Datagrams handed out by `poll_transmit` (first sends and retransmissions).
    pub transmitted: u64,
    /// Retransmissions scheduled.
    pub retransmissions: u64,
    /// Responses accepted (success, error, or failed with an unknown attribute).
    pub responses: u64,
    /// Transactions that timed out.
    pub timeouts: u64,
    /// Datagrams that did not parse as STUN, or whose FINGERPRINT was wrong.
    pub malformed: u64,
    /// Well-formed messages that answer no transaction in progress (requests, indications,
    /// late duplicates, unknown ids, wrong method, error responses without ERROR-CODE).
    pub unmatched: u64,
    /// Responses with a known id arriving from another address than the server, or on another
    /// local address than the request left from.
    pub wrong_address: u64,
    /// Responses to keyed requests with missing or wrong integrity.
    pub integrity_failures: u64,
    /// Datagrams dropped because the `poll_transmit` buffer was too small.
    pub buffer_too_small: u64,
}

#[derive(Debug)]
struct Transaction {
    local: SocketAddr,
    server: SocketAddr,
    method: Method,
    /// The encoded request: every retransmission is the same bytes (RFC 8489 §6.2.1).
    bytes: SmallVec<[u8; 128]>,
    key: Option<Key>,
    /// CHANGE-REQUEST asked for an answer from another address: accept any source.
    any_source: bool,
    first_sent: Instant,
    sends: u32,
    rto: Duration,
    deadline: Instant,
    /// Whether the id is in the transmit queue. A retransmission that falls due while the
    /// previous copy still waits there is merged with it: the bytes are identical.
    queued: bool,
}

/// A STUN client: runs any number of request transactions (bounded by
/// [`ClientConfig::max_transactions`]) and reports each one's outcome as a [`ClientEvent`].
///
/// Driven through [`Protocol`]. Each transaction sends its request at once, then again after
/// RTO, 2 RTO, 4 RTO... until Rc requests have gone out, then waits Rm * RTO and reports
/// [`ClientEvent::Timeout`] (RFC 8489 §6.2.1; with the defaults: 0, 0.5, 1.5, 3.5, 7.5, 15.5
/// and 31.5 s, timeout at 39.5 s). Retransmissions come out of `poll_transmit`.
///
/// A response is accepted only if its transaction id and method match a transaction in
/// progress, it arrives from the server the request went to (any source, if the request
/// carried CHANGE-REQUEST with a flag set) on the local address the request left from, its
/// FINGERPRINT (if any) is right, and, when the request was sent with a key, its integrity
/// verifies with that key. RFC 8489 §9 servers cannot sign 400, 401 and 438 errors (they are
/// sent when the credentials are missing or stale), so those are accepted unsigned. Anything
/// else is dropped and counted in [`ClientStats`].
///
/// RTO is cached per server IP as RFC 8489 §6.2.1 recommends: transactions answered without
/// retransmission feed an RFC 6298 estimate, which starts the next transaction to that server
/// (never below [`ClientConfig::rto`], forgotten after 10 minutes).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    rng: Rng,
    transactions: HashMap<TransactionId, Transaction>,
    /// Deadlines; an entry is stale when its transaction is gone or has moved its deadline.
    /// The top entry is never stale between calls, so `poll_timeout` is exact.
    timers: BinaryHeap<Reverse<(Instant, TransactionId)>>,
    transmits: VecDeque<TransactionId>,
    events: VecDeque<ClientEvent>,
    rto: RtoCache,
    stats: ClientStats,
}

impl Client {
    /// A client with no transaction in progress.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            rng: Rng::new(config.seed),
            config,
            transactions: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rto: RtoCache::default(),
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

    /// How many transactions are in progress.
    pub fn pending(&self) -> usize {
        self.transactions.len()
    }

    /// Whether transaction `id` is still in progress.
    pub fn is_pending(&self, id: TransactionId) -> bool {
        self.transactions.contains_key(&id)
    }

    /// Starts a plain Binding request from `local` to `server` (with SOFTWARE and FINGERPRINT
    /// as configured) and returns its transaction id.
    ///
    /// If the transaction limit is reached, the id is reported at once as
    /// [`ClientEvent::Failed`] with [`Error::TooManyTransactions`]; use [`start`](Self::start)
    /// to get that error directly.
    pub fn binding_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
    ) -> TransactionId {
        let request = Message::new(Class::Request, Method::Binding, TransactionId::default());
        match self.start(now, local, server, &request, None) {
            Ok(id) => id,
            Err(error) => {
                let id = TransactionId::random(&mut self.rng);
                self.events.push_back(ClientEvent::Failed { id, error });
                id
            }
        }
    }

    /// Starts a transaction for `request` (any method; its class must be Request) from `local`
    /// to `server` and returns its id.
    ///
    /// The request's transaction id is replaced by a fresh random one. SOFTWARE is added if
    /// configured and absent; MESSAGE-INTEGRITY (or -SHA256, per the key's
    /// [`Integrity`](super::Integrity)) is added when `key` is given, and the response must
    /// then verify with the same key; FINGERPRINT is added if configured. For long-term
    /// credentials put USERNAME (or USERHASH), REALM and NONCE in `request` and pass
    /// [`Key::long_term`].
    pub fn start(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        request: &Message<'_>,
        key: Option<Key>,
    ) -> Result<TransactionId, Error> {
        if request.class() != Class::Request {
            return Err(Error::NotARequest);
        }
        if self.transactions.len() >= self.config.max_transactions {
            return Err(Error::TooManyTransactions);
        }
        let id = loop {
            let id = TransactionId::random(&mut self.rng);
            if !self.transactions.contains_key(&id) {
                break id;
            }
        };
        let any_source = matches!(request.change_request(), Some((ip, port)) if ip || port);
        let software = match &self.config.software {
            Some(s) if request.get(t::SOFTWARE).is_none() => {
                Some(Attribute::Software(Cow::Borrowed(s.as_str())))
            }
            _ => None,
        };
        let fingerprint = self.config.fingerprint;
        let mut len = request.encoded_len(key.as_ref(), fingerprint);
        len += software
            .as_ref()
            .map_or(0, |s| 4 + s.value_len().next_multiple_of(4));
        let mut bytes = SmallVec::new();
        bytes.resize(len, 0);
        let len = request.encode(
            &mut bytes,
            &id,
            software.as_ref(),
            key.as_ref(),
            fingerprint,
            0,
        )?;
        bytes.truncate(len);

        let rto = self.rto.rto(now, server.ip(), self.config.rto);
        let deadline = now + wait(rto, 1, &self.config);
        self.transactions.insert(
            id,
            Transaction {
                local,
                server,
                method: request.method(),
                bytes,
                key,
                any_source,
                first_sent: now,
                sends: 1,
                rto,
                deadline,
                queued: true,
            },
        );
        self.timers.push(Reverse((deadline, id)));
        self.transmits.push_back(id);
        self.stats.started += 1;
        self.clean_timers();
        Ok(id)
    }

    /// Abandons a transaction: no more retransmissions and no event. Returns whether it was in
    /// progress.
    pub fn cancel(&mut self, id: TransactionId) -> bool {
        self.remove(id).is_some()
    }

    /// Ends a transaction, keeping the timer heap top and the transmit queue free of it.
    fn remove(&mut self, id: TransactionId) -> Option<Transaction> {
        let tx = self.transactions.remove(&id)?;
        if tx.queued {
            self.transmits.retain(|q| *q != id);
        }
        self.clean_timers();
        Some(tx)
    }

    /// Pops stale timer entries off the top so that `poll_timeout` is exact.
    fn clean_timers(&mut self) {
        while let Some(&Reverse((deadline, id))) = self.timers.peek() {
            match self.transactions.get(&id) {
                Some(tx) if tx.deadline == deadline => break,
                _ => {
                    self.timers.pop();
                }
            }
        }
    }

    /// Checks a response against the transaction it names; `Err` is the counter to bump.
    fn accept(&mut self, now: Instant, d: &Datagram<'_>, msg: &Message<'_>) -> Result<(), Reject> {
        let id = msg.transaction_id();
        let tx = self.transactions.get(&id).ok_or(Reject::Unmatched)?;
        if msg.method() != tx.method {
            return Err(Reject::Unmatched);
        }
        // RFC 8489 §6.3: a response matches the request it answers, from the server it was
        // sent to, arriving where the request left from.
        if d.destination != tx.local || (!tx.any_source && d.source != tx.server) {
            return Err(Reject::WrongAddress);
        }
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return Err(Reject::Malformed);
        }
        let code = msg.error_code().map(|e| e.code);
        if msg.class() == Class::ErrorResponse && code.is_none() {
            return Err(Reject::Unmatched); // RFC 8489 §14.8: error responses carry ERROR-CODE.
        }
        if let Some(key) = &tx.key {
            // RFC 8489 §9.1.4, §9.2.5: a response to an authenticated request must carry valid
            // integrity, except the errors a server sends because it cannot authenticate.
            let unsigned_ok = !msg.has_integrity()
                && matches!(
                    code,
                    Some(
                        ErrorCode::BAD_REQUEST
                            | ErrorCode::UNAUTHENTICATED
                            | ErrorCode::STALE_NONCE
                    )
                );
            if !unsigned_ok && msg.verify(key).is_err() {
                return Err(Reject::Integrity);
            }
        }
        let Some(tx) = self.remove(id) else {
            return Err(Reject::Unmatched);
        };
        self.stats.responses += 1;
        let rtt = now.saturating_duration_since(tx.first_sent);
        if let Some(&typ) = msg.unknown_comprehension_required().first() {
            // RFC 8489 §6.3.3, §6.3.4: the response is discarded and the transaction failed.
            let error = Error::UnknownRequiredAttribute { typ };
            self.events.push_back(ClientEvent::Failed { id, error });
            return Ok(());
        }
        let event = match (msg.class(), msg.error_code()) {
            (Class::ErrorResponse, Some(e)) => ClientEvent::ErrorResponse {
                id,
                code: e.code,
                reason: e.reason.to_string(),
                response: msg.clone().into_owned(),
            },
            _ => {
                if tx.sends == 1 {
                    // Karn's rule: only an unambiguous round trip is a sample.
                    self.rto.sample(now, tx.server.ip(), rtt);
                }
                ClientEvent::Success {
                    id,
                    response: msg.clone().into_owned(),
                    from: d.source,
                    rtt,
                }
            }
        };
        self.events.push_back(event);
        Ok(())
    }
}

/// Why a datagram was dropped.
enum Reject {
    Malformed,
    Unmatched,
    WrongAddress,
    Integrity,
}

/// The wait after the `sends`-th request: RTO doubled after each retransmission, and Rm * RTO
/// after the last (RFC 8489 §6.2.1).
fn wait(rto: Duration, sends: u32, config: &ClientConfig) -> Duration {
    let w = if sends < config.rc.max(1) {
        rto.saturating_mul(1u32.checked_shl(sends - 1).unwrap_or(u32::MAX))
    } else {
        rto.saturating_mul(config.rm)
    };
    w.min(MAX_WAIT)
}

impl Protocol for Client {
    type Event = ClientEvent;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        let msg = match Message::parse(datagram.contents) {
            Ok(msg) => msg,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if !msg.class().is_response() {
            self.stats.unmatched += 1;
            return;
        }
        match self.accept(now, &datagram, &msg) {
            Ok(()) => {}
            Err(Reject::Malformed) => self.stats.malformed += 1,
            Err(Reject::Unmatched) => self.stats.unmatched += 1,
            Err(Reject::WrongAddress) => self.stats.wrong_address += 1,
            Err(Reject::Integrity) => self.stats.integrity_failures += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, id))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(tx) = self.transactions.get_mut(&id) else {
                continue;
            };
            if tx.deadline != deadline {
                continue;
            }
            if tx.sends >= self.config.rc.max(1) {
                // RFC 8489 §6.2.1: no response Rm * RTO after the last request: failed.
                self.remove(id);
                self.stats.timeouts += 1;
                self.events.push_back(ClientEvent::Timeout { id });
            } else {
                tx.sends += 1;
                tx.deadline = now + wait(tx.rto, tx.sends, &self.config);
                self.timers.push(Reverse((tx.deadline, id)));
                if !tx.queued {
                    tx.queued = true;
                    self.transmits.push_back(id);
                }
                self.stats.retransmissions += 1;
            }
        }
        self.clean_timers();
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(id) = self.transmits.pop_front() {
            let Some(tx) = self.transactions.get_mut(&id) else {
                continue;
            };
            tx.queued = false;
            let len = tx.bytes.len();
            let Some(out) = buf.get_mut(..len) else {
                self.stats.buffer_too_small += 1;
                continue;
            };
            out.copy_from_slice(&tx.bytes);
            self.stats.transmitted += 1;
            return Some(Transmit::new(tx.local, tx.server, len));
        }
        None
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((deadline, _))| *deadline)
    }
}
