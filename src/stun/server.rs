//! A STUN Binding server (RFC 8489 §6.3), with RFC 5780's CHANGE-REQUEST, RESPONSE-ORIGIN and
//! OTHER-ADDRESS, and optional short-term credentials (RFC 8489 §9.1.3).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use smallvec::{SmallVec, smallvec};

use super::attr::{Attribute, ErrorCode};
use super::attr_type as t;
use super::header::{Class, Method, TransactionId};
use super::integrity::{Integrity, Key};
use super::message::Message;
use crate::{Datagram, Protocol, Transmit};

/// The one user a server with short-term credentials accepts (RFC 8489 §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortTermCredentials {
    /// The expected USERNAME.
    pub username: String,
    /// The password; the key is the password itself (see [`Key::short_term`]).
    pub password: String,
}

/// [`Server`] settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The local addresses the server answers on. For RFC 5780 NAT behaviour discovery give
    /// two IPs times two ports; the first address differing from the one a request arrived on
    /// as asked is used for CHANGE-REQUEST and OTHER-ADDRESS.
    pub addresses: Vec<SocketAddr>,
    /// SOFTWARE added to every response. Default none.
    pub software: Option<String>,
    /// When set, requests must carry USERNAME and MESSAGE-INTEGRITY(-SHA256) for these
    /// credentials, and responses are signed. Default none.
    pub credentials: Option<ShortTermCredentials>,
    /// Whether responses carry FINGERPRINT. Default true.
    pub fingerprint: bool,
    /// Whether success responses also carry MAPPED-ADDRESS, for clients that predate
    /// XOR-MAPPED-ADDRESS. Default false.
    pub mapped_address: bool,
    /// The most responses (and, separately, events) waiting to be taken; more are dropped and
    /// counted, so a flood cannot grow memory. Default 1024.
    pub max_queue: usize,
}

impl ServerConfig {
    /// The defaults, answering on `addresses`.
    pub fn new(addresses: Vec<SocketAddr>) -> Self {
        Self {
            addresses,
            software: None,
            credentials: None,
            fingerprint: true,
            mapped_address: false,
            max_queue: 1024,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// What the server tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// A Binding request was answered with success.
    BindingServed {
        /// The client's address (the reflexive address it was told).
        from: SocketAddr,
        /// The local address the request arrived on.
        to: SocketAddr,
        /// The local address the response is sent from (differs after CHANGE-REQUEST).
        via: SocketAddr,
    },
    /// A request was answered with an error response.
    Rejected {
        /// The client's address.
        from: SocketAddr,
        /// The local address the request arrived on.
        to: SocketAddr,
        /// The error code sent.
        code: u16,
    },
}

/// Counters of what the server received, answered and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams received.
    pub received: u64,
    /// Binding success responses queued.
    pub answered: u64,
    /// Error responses queued.
    pub rejected: u64,
    /// Datagrams that were not STUN, did not parse, or had a wrong FINGERPRINT.
    pub malformed: u64,
    /// Indications and responses, which a server ignores.
    pub ignored: u64,
    /// Datagrams arriving on an address the server is not configured with.
    pub wrong_destination: u64,
    /// Responses dropped because [`ServerConfig::max_queue`] were already waiting.
    pub queue_full: u64,
    /// Events dropped because [`ServerConfig::max_queue`] were already waiting.
    pub events_dropped: u64,
    /// Responses dropped because the `poll_transmit` buffer was too small.
    pub buffer_too_small: u64,
}

/// A response waiting for `poll_transmit`; it is written straight into the caller's buffer.
#[derive(Debug)]
struct Pending {
    source: SocketAddr,
    destination: SocketAddr,
    id: TransactionId,
    method: Method,
    reply: Reply,
    /// Sign with the server's key, mirroring the request's integrity attribute.
    sign: Option<Integrity>,
}

#[derive(Debug)]
enum Reply {
    Binding {
        mapped: SocketAddr,
        /// RESPONSE-ORIGIN and OTHER-ADDRESS (RFC 5780 §6.1).
        origin: Option<(SocketAddr, SocketAddr)>,
    },
    Error {
        code: u16,
        unknown: SmallVec<[u16; 4]>,
    },
}

/// A STUN Binding server on one or more local addresses, driven through [`Protocol`].
///
/// For each Binding request it queues a success response carrying XOR-MAPPED-ADDRESS (and
/// MAPPED-ADDRESS if configured), SOFTWARE if configured, and FINGERPRINT. In order
/// (RFC 8489 §6.3, §9.1.3, §6.3.1):
///
/// - datagrams that do not parse, whose FINGERPRINT is wrong, or that arrive on an address
///   not configured are dropped and counted; indications and responses are ignored;
/// - with credentials configured, a request without USERNAME or integrity gets 400, a wrong
///   username or integrity gets 401 (both unsigned, as §9.1.3 requires);
/// - a request for another method than Binding gets 400;
/// - comprehension-required attributes it does not know get 420 with UNKNOWN-ATTRIBUTES;
/// - CHANGE-REQUEST (RFC 5780 §6.1) is answered from the configured address that differs from
///   the receiving one in IP and/or port as asked. When no such address is configured the
///   server answers 420 listing CHANGE-REQUEST, which RFC 5780 clients read as "this server
///   does not do behaviour discovery". When the server has an address differing in both IP
///   and port, every success carries RESPONSE-ORIGIN and OTHER-ADDRESS.
///
/// Responses to authenticated requests are signed with the same algorithm the request used.
/// The response queue is bounded by [`ServerConfig::max_queue`].
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    key: Option<Key>,
    queue: VecDeque<Pending>,
    events: VecDeque<ServerEvent>,
    stats: ServerStats,
}

impl Server {
    /// A server with `config`.
    pub fn new(config: ServerConfig) -> Self {
        let key = config
            .credentials
            .as_ref()
            .map(|c| Key::short_term(&c.password));
        Self {
            config,
            key,
            queue: VecDeque::new(),
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

    /// The configured address that differs from `at` in IP (if `ip`) and port (if `port`), and
    /// equals it in whatever is not to change; same address family.
    fn alternate(&self, at: SocketAddr, ip: bool, port: bool) -> Option<SocketAddr> {
        self.config.addresses.iter().copied().find(|a| {
            a.is_ipv4() == at.is_ipv4()
                && (a.ip() != at.ip()) == ip
                && (a.port() != at.port()) == port
        })
    }

    /// Decides the answer to a request: where it leaves from, what it says, how it is signed.
    fn answer(
        &self,
        d: &Datagram<'_>,
        msg: &Message<'_>,
    ) -> (SocketAddr, Reply, Option<Integrity>) {
        let reject = |code, unknown, sign| (d.destination, Reply::Error { code, unknown }, sign);
        let mut sign = None;
        if let (Some(creds), Some(key)) = (&self.config.credentials, &self.key) {
            // RFC 8489 §9.1.3: missing USERNAME or integrity: 400; unknown user or bad
            // integrity: 401. Neither response is signed.
            let Some(username) = msg.username().filter(|_| msg.has_integrity()) else {
                return reject(ErrorCode::BAD_REQUEST, SmallVec::new(), None);
            };
            if username != creds.username {
                return reject(ErrorCode::UNAUTHENTICATED, SmallVec::new(), None);
            }
            match msg.verify(key) {
                Ok(integrity) => sign = Some(integrity),
                Err(_) => return reject(ErrorCode::UNAUTHENTICATED, SmallVec::new(), None),
            }
        }
        if msg.method() != Method::Binding {
            return reject(ErrorCode::BAD_REQUEST, SmallVec::new(), sign);
        }
        let unknown = msg.unknown_comprehension_required();
        if !unknown.is_empty() {
            // RFC 8489 §6.3.1: 420 listing the unknown comprehension-required attributes.
            return reject(ErrorCode::UNKNOWN_ATTRIBUTE, unknown, sign);
        }
        let via = match msg.change_request() {
            Some((ip, port)) if ip || port => match self.alternate(d.destination, ip, port) {
                Some(via) => via,
                None => {
                    let unknown = smallvec![t::CHANGE_REQUEST];
                    return reject(ErrorCode::UNKNOWN_ATTRIBUTE, unknown, sign);
                }
            },
            _ => d.destination,
        };
        // RFC 5780 §6.1: OTHER-ADDRESS is the address differing in both IP and port from the
        // one the request arrived on; RESPONSE-ORIGIN the one the response leaves from.
        let origin = self
            .alternate(d.destination, true, true)
            .map(|other| (via, other));
        let reply = Reply::Binding {
            mapped: d.source,
            origin,
        };
        (via, reply, sign)
    }

    fn push_event(&mut self, event: ServerEvent) {
        if self.events.len() >= self.config.max_queue {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    /// Builds the response message for `p` (borrowing SOFTWARE from the config).
    fn response<'s>(&'s self, p: &Pending) -> Message<'s> {
        let class = match p.reply {
            Reply::Binding { .. } => Class::SuccessResponse,
            Reply::Error { .. } => Class::ErrorResponse,
        };
        let mut m = Message::new(class, p.method, p.id);
        match &p.reply {
            Reply::Binding { mapped, origin } => {
                m.add(Attribute::XorMappedAddress(*mapped));
                if self.config.mapped_address {
                    m.add(Attribute::MappedAddress(*mapped));
                }
                if let Some((via, other)) = origin {
                    m.add(Attribute::ResponseOrigin(*via));
                    m.add(Attribute::OtherAddress(*other));
                }
            }
            Reply::Error { code, unknown } => {
                m.add(Attribute::ErrorCode(ErrorCode {
                    code: *code,
                    reason: Cow::Borrowed(reason(*code)),
                }));
                if !unknown.is_empty() {
                    m.add(Attribute::UnknownAttributes(unknown.clone()));
                }
            }
        }
        if let Some(software) = &self.config.software {
            m.add(Attribute::Software(Cow::Borrowed(software.as_str())));
        }
        m
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        ErrorCode::BAD_REQUEST => "Bad Request",
        ErrorCode::UNAUTHENTICATED => "Unauthenticated",
        ErrorCode::UNKNOWN_ATTRIBUTE => "Unknown Attribute",
        _ => "Error",
    }
}

impl Protocol for Server {
    type Event = ServerEvent;

    fn handle_datagram(&mut self, _now: Instant, d: Datagram<'_>) {
        self.stats.received += 1;
        if !self.config.addresses.contains(&d.destination) {
            self.stats.wrong_destination += 1;
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
        if msg.class() != Class::Request {
            // A Binding indication needs no answer (RFC 8489 §6.3.2) and responses are for
            // clients: neither gets a reply.
            self.stats.ignored += 1;
            return;
        }
        if self.queue.len() >= self.config.max_queue {
            self.stats.queue_full += 1;
            return;
        }
        let (source, reply, sign) = self.answer(&d, &msg);
        let event = match reply {
            Reply::Binding { .. } => {
                self.stats.answered += 1;
                ServerEvent::BindingServed {
                    from: d.source,
                    to: d.destination,
                    via: source,
                }
            }
            Reply::Error { code, .. } => {
                self.stats.rejected += 1;
                ServerEvent::Rejected {
                    from: d.source,
                    to: d.destination,
                    code,
                }
            }
        };
        self.push_event(event);
        self.queue.push_back(Pending {
            source,
            destination: d.source,
            id: msg.transaction_id(),
            method: msg.method(),
            reply,
            sign,
        });
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(p) = self.queue.pop_front() {
            let key = match (p.sign, &self.key) {
                (Some(integrity), Some(key)) => Some(key.clone().with_integrity(integrity)),
                _ => None,
            };
            let written = self
                .response(&p)
                .write(buf, key.as_ref(), self.config.fingerprint);
            match written {
                Ok(len) => {
                    return Some(Transmit::new(p.source, p.destination, len));
                }
                Err(_) => self.stats.buffer_too_small += 1,
            }
        }
        None
    }

    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
