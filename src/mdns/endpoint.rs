//! [`Mdns`]: the responder for our own names and the querier for remote ones.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::message::{Class, Header, Message, Question, Record, RecordData, RecordType};
use super::{Error, Name, PORT, group_for};
use crate::{Datagram, Protocol, Rng, Transmit};

/// Settings of an [`Mdns`] instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsConfig {
    /// The local addresses of the caller's mDNS sockets (port 5353, group joined), at most one
    /// per family and interface. Queries go out on each; answers leave on the one of the
    /// family a query arrived on.
    pub sockets: Vec<SocketAddr>,
    /// Seed for the names; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// When queries for a name go out, counted from [`Mdns::resolve`]. Default 0, 1 and 3 s.
    /// RFC 6762 §5.2: the first two queries MUST be at least one second apart, so later gaps
    /// under a second are raised to one.
    pub query_schedule: Vec<Duration>,
    /// How long after [`Mdns::resolve`] a name with no answer fails. Default 5 s.
    pub resolve_timeout: Duration,
    /// The TTL of our answers. Default 120 s (RFC 6762 §10: host address records), as Chromium.
    pub answer_ttl: u32,
    /// The most names registered, names being resolved and cached addresses, each. Default 64.
    pub max_names: usize,
    /// The most datagrams waiting to be sent; past it new ones are dropped and counted.
    /// Default 256.
    pub max_queue: usize,
}

impl MdnsConfig {
    /// The defaults for these sockets.
    pub fn new(sockets: Vec<SocketAddr>) -> Self {
        Self {
            sockets,
            seed: None,
            query_schedule: vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(3),
            ],
            resolve_timeout: Duration::from_secs(5),
            answer_ttl: 120,
            max_names: 64,
            max_queue: 256,
        }
    }

    /// The same settings with a fixed seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn sanitised(mut self) -> Self {
        let mut last: Option<Duration> = None;
        for at in &mut self.query_schedule {
            if let Some(prev) = last {
                // RFC 6762 §5.2: the interval between the first two queries MUST be at least
                // one second; we keep every gap at least that.
                *at = (*at).max(prev + Duration::from_secs(1));
            }
            last = Some(*at);
        }
        if self.query_schedule.is_empty() {
            self.query_schedule.push(Duration::ZERO);
        }
        self.query_schedule.truncate(16);
        self.resolve_timeout = self.resolve_timeout.min(Duration::from_secs(3600));
        self.max_names = self.max_names.max(1);
        self.max_queue = self.max_queue.max(1);
        self
    }
}

/// What an [`Mdns`] instance reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdnsEvent {
    /// A name being resolved has this address (one event per address: a name may have an
    /// IPv4 and an IPv6 one).
    Resolved {
        /// The name as given to [`Mdns::resolve`].
        name: String,
        /// Its address.
        ip: IpAddr,
    },
    /// No answer came for the name before the timeout.
    Failed {
        /// The name as given to [`Mdns::resolve`].
        name: String,
    },
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MdnsStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Messages ignored: non-zero opcode or rcode, or a response not from port 5353.
    pub ignored: u64,
    /// Queries we answered (one per query, however many records).
    pub answered: u64,
    /// Query messages we sent.
    pub queries_sent: u64,
    /// Datagrams dropped because the queue was full.
    pub queue_drops: u64,
}

#[derive(Debug)]
struct Local {
    name: Name,
    ip: IpAddr,
    /// When our record was last multicast, per socket index.
    multicast_at: Vec<Option<Instant>>,
}

#[derive(Debug)]
struct Wanted {
    text: String,
    name: Name,
    started: Instant,
    /// The index of the next query in the schedule; `None` once an answer came.
    next_query: Option<usize>,
}

#[derive(Debug)]
struct Cached {
    name: Name,
    ip: IpAddr,
    expires: Instant,
}

#[derive(Debug)]
struct Out {
    source: SocketAddr,
    destination: SocketAddr,
    bytes: Vec<u8>,
}

/// An mDNS responder and querier for ICE's `.local` names: see the [module docs](super).
#[derive(Debug)]
pub struct Mdns {
    cfg: MdnsConfig,
    /// Made on the first [`register`](Mdns::register): an instance that only answers for
    /// names given to it (a PeerConnection's) never needs one, and a generator is a few
    /// hundred bytes.
    rng: Option<Rng>,
    locals: Vec<Local>,
    wanted: Vec<Wanted>,
    cache: Vec<Cached>,
    outbox: VecDeque<Out>,
    events: VecDeque<MdnsEvent>,
    deadline: Option<Instant>,
    stats: MdnsStats,
}

impl Mdns {
    /// A new instance with no names.
    ///
    /// A PeerConnection holds one per connection when mDNS is on, so its lists keep no spare
    /// capacity: they grow by one name at a time, rarely.
    pub fn new(config: MdnsConfig) -> Self {
        let mut cfg = config.sanitised();
        cfg.sockets.shrink_to_fit();
        cfg.query_schedule.shrink_to_fit();
        Self {
            rng: None,
            cfg,
            locals: Vec::new(),
            wanted: Vec::new(),
            cache: Vec::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            deadline: None,
            stats: MdnsStats::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &MdnsConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> MdnsStats {
        self.stats
    }

    /// Adds the local address of another mDNS socket (another family or interface): queries
    /// go out on it too from now on. An address already known is ignored.
    pub fn add_socket(&mut self, socket: SocketAddr) {
        if self.cfg.sockets.contains(&socket) {
            return;
        }
        self.cfg.sockets.push(socket);
        self.cfg.sockets.shrink_to_fit();
        for l in &mut self.locals {
            l.multicast_at.push(None);
        }
    }

    /// Hides `ip` behind a fresh `<uuid>.local` name (a random version 4 UUID,
    /// draft-ietf-mmusic-mdns-ice-candidates §3.1.1) and answers queries for it from now on.
    /// Returns the name. An address already registered keeps its name.
    pub fn register(&mut self, ip: IpAddr) -> Result<String, Error> {
        if let Some(l) = self.locals.iter().find(|l| l.ip == ip) {
            return Ok(l.name.to_string());
        }
        let seed = self.cfg.seed;
        let text = random_uuid_name(self.rng.get_or_insert_with(|| Rng::new(seed)));
        self.register_name(&text, ip)?;
        Ok(text)
    }

    /// Answers queries for `name` (which must end in `.local`) with `ip`. A name registered
    /// again takes the new address.
    pub fn register_name(&mut self, name: &str, ip: IpAddr) -> Result<(), Error> {
        let parsed = Name::new(name)?;
        if !parsed.is_local() {
            return Err(Error::NotLocal(name.to_owned()));
        }
        if let Some(l) = self.locals.iter_mut().find(|l| l.name == parsed) {
            l.ip = ip;
            return Ok(());
        }
        if self.locals.len() >= self.cfg.max_names {
            return Err(Error::Limit);
        }
        self.locals.push(Local {
            name: parsed,
            ip,
            multicast_at: vec![None; self.cfg.sockets.len()],
        });
        // Names come one or two at a time, per connection: no spare capacity (see `new`).
        self.locals.shrink_to_fit();
        Ok(())
    }

    /// Stops answering for `name`.
    pub fn unregister(&mut self, name: &str) {
        self.locals.retain(|l| !l.name.matches(name));
    }

    /// The names registered, with their addresses.
    pub fn registered(&self) -> impl Iterator<Item = (String, IpAddr)> + '_ {
        self.locals.iter().map(|l| (l.name.to_string(), l.ip))
    }

    /// Starts resolving `name` (which must end in `.local`): QM queries for its A and AAAA
    /// records go out on the schedule until an answer comes ([`MdnsEvent::Resolved`]) or the
    /// timeout passes ([`MdnsEvent::Failed`]). A cached answer is reported at once, also when
    /// asking again for a name resolved before. Asking again for a name still being queried
    /// does nothing.
    pub fn resolve(&mut self, now: Instant, name: &str) -> Result<(), Error> {
        let parsed = Name::new(name)?;
        if !parsed.is_local() {
            return Err(Error::NotLocal(name.to_owned()));
        }
        if let Some(i) = self.wanted.iter().position(|w| w.name == parsed) {
            if self.wanted[i].next_query.is_some() {
                return Ok(()); // still querying
            }
            // Answered before: the cache answers again, or querying starts over.
            self.wanted.remove(i);
        }
        if self.wanted.len() >= self.cfg.max_names {
            // The oldest finished resolution makes room; one still querying never does.
            let Some(i) = self.wanted.iter().position(|w| w.next_query.is_none()) else {
                return Err(Error::Limit);
            };
            self.wanted.remove(i);
        }
        let cached: Vec<IpAddr> = self
            .cache
            .iter()
            .filter(|c| c.name == parsed && c.expires > now)
            .map(|c| c.ip)
            .collect();
        for &ip in &cached {
            self.events.push_back(MdnsEvent::Resolved {
                name: name.to_owned(),
                ip,
            });
        }
        self.wanted.push(Wanted {
            text: name.to_owned(),
            name: parsed,
            started: now,
            next_query: cached.is_empty().then_some(0),
        });
        self.wanted.shrink_to_fit();
        self.handle_timeout(now);
        Ok(())
    }

    /// Stops resolving `name` and forgets its cached addresses.
    pub fn forget(&mut self, name: &str) {
        self.wanted.retain(|w| !w.name.matches(name));
        self.cache.retain(|c| !c.name.matches(name));
        self.update_deadline();
    }

    /// The unexpired cached addresses of `name`.
    pub fn lookup(&self, now: Instant, name: &str) -> Vec<IpAddr> {
        self.cache
            .iter()
            .filter(|c| c.name.matches(name) && c.expires > now)
            .map(|c| c.ip)
            .collect()
    }

    fn update_deadline(&mut self) {
        let queries = self.wanted.iter().filter_map(|w| {
            let next = w.next_query?;
            let at = self
                .cfg
                .query_schedule
                .get(next)
                .map_or(w.started + self.cfg.resolve_timeout, |&d| w.started + d);
            Some(at.min(w.started + self.cfg.resolve_timeout))
        });
        let expiries = self.cache.iter().map(|c| c.expires);
        self.deadline = queries.chain(expiries).min();
    }

    fn push_out(&mut self, source: SocketAddr, destination: SocketAddr, msg: &Message) {
        if self.outbox.len() >= self.cfg.max_queue {
            self.stats.queue_drops += 1;
            return;
        }
        let mut bytes = vec![0u8; msg.len()];
        match msg.write(&mut bytes) {
            Ok(n) => bytes.truncate(n),
            Err(_) => return,
        }
        self.outbox.push_back(Out {
            source,
            destination,
            bytes,
        });
    }

    fn send_query(&mut self, name: Name) {
        let question = |qtype| Question {
            name: name.clone(),
            qtype,
            class: Class::In,
            unicast_response: false,
        };
        // RFC 6762 §5.2: QM questions; Chromium ignores QU ones.
        let msg = Message {
            header: Header::query(),
            questions: vec![question(RecordType::A), question(RecordType::Aaaa)],
            ..Message::default()
        };
        for i in 0..self.cfg.sockets.len() {
            let sock = self.cfg.sockets[i];
            self.push_out(sock, group_for(sock), &msg);
        }
        self.stats.queries_sent += 1;
    }

    fn on_query(&mut self, now: Instant, d: &Datagram<'_>, msg: &Message) {
        let Some(sock) = self.socket_for(d) else {
            return;
        };
        // RFC 6762 §6.7: a query from a port other than 5353 is a legacy unicast query, answered
        // by unicast to its source with its id, its questions, and a TTL of at most 10 s.
        let legacy = d.source.port() != PORT;
        let ttl = if legacy {
            self.cfg.answer_ttl.min(10)
        } else {
            self.cfg.answer_ttl
        };
        let mut answers = Vec::new();
        let mut additionals = Vec::new();
        let mut questions = Vec::new();
        let mut unicast = legacy;
        let mut multicast_names = Vec::new();
        for q in &msg.questions {
            if !matches!(q.class, Class::In | Class::Any) {
                continue;
            }
            let Some(li) = self.locals.iter().position(|l| l.name == q.name) else {
                continue;
            };
            let local = &self.locals[li];
            let have = if local.ip.is_ipv4() {
                RecordType::A
            } else {
                RecordType::Aaaa
            };
            let data = match local.ip {
                IpAddr::V4(v4) => RecordData::A(v4),
                IpAddr::V6(v6) => RecordData::Aaaa(v6),
            };
            let record = |rtype, data| Record {
                name: local.name.clone(),
                rtype,
                class: Class::In,
                // RFC 6762 §10.2: unique records set cache-flush, except in legacy answers.
                cache_flush: !legacy,
                ttl,
                data,
            };
            let nsec = record(
                RecordType::Nsec,
                RecordData::nsec(local.name.clone(), &[have]),
            );
            let positive = q.qtype == have || q.qtype == RecordType::Any;
            if !positive && q.qtype != RecordType::A && q.qtype != RecordType::Aaaa {
                continue;
            }
            let rec = if positive {
                record(have, data)
            } else {
                // RFC 6762 §6.1: the other address type does not exist; say so with NSEC.
                nsec.clone()
            };
            // RFC 6762 §7.1: no answer the querier already holds with at least half its TTL.
            let known = msg
                .answers
                .iter()
                .any(|k| k.name == rec.name && k.data == rec.data && k.ttl >= ttl / 2);
            if known || answers.contains(&rec) {
                continue;
            }
            answers.push(rec);
            if positive && !additionals.contains(&nsec) {
                // As Chromium does: the NSEC rides along, so the querier need not ask for the
                // other family.
                additionals.push(nsec);
            }
            if legacy {
                questions.push(q.clone());
            }
            unicast |= q.unicast_response;
            multicast_names.push(li);
        }
        if answers.is_empty() {
            return;
        }
        self.stats.answered += 1;
        let mut msg = Message {
            header: Header::response(if legacy { msg.header.id } else { 0 }),
            questions,
            answers,
            authorities: Vec::new(),
            additionals,
        };
        if unicast {
            self.push_out(self.cfg.sockets[sock], d.source, &msg);
        }
        if legacy {
            return;
        }
        // RFC 6762 §6: a record MUST NOT be multicast on an interface within one second of the
        // last time; a QU question may still be answered by unicast above.
        let recent =
            |l: &Local| l.multicast_at[sock].is_some_and(|t| now < t + Duration::from_secs(1));
        if multicast_names.iter().all(|&li| recent(&self.locals[li])) {
            return;
        }
        for &li in &multicast_names {
            self.locals[li].multicast_at[sock] = Some(now);
        }
        msg.header.id = 0;
        let s = self.cfg.sockets[sock];
        self.push_out(s, group_for(s), &msg);
    }

    fn on_response(&mut self, now: Instant, d: &Datagram<'_>, msg: &Message) {
        // RFC 6762 §6: responses whose source port is not 5353 MUST be silently ignored.
        if d.source.port() != PORT {
            self.stats.ignored += 1;
            return;
        }
        for rec in msg.answers.iter().chain(&msg.additionals) {
            let ip = match rec.data {
                RecordData::A(v4) => IpAddr::V4(v4),
                RecordData::Aaaa(v6) => IpAddr::V6(v6),
                _ => continue,
            };
            let Some(wi) = self.wanted.iter().position(|w| w.name == rec.name) else {
                // Only names we asked for are kept: the cache is not a general one.
                if let Some(c) = self
                    .cache
                    .iter_mut()
                    .find(|c| c.name == rec.name && c.ip == ip)
                {
                    c.expires = now + Duration::from_secs(rec.ttl.into());
                }
                continue;
            };
            let expires = if rec.ttl == 0 {
                // RFC 6762 §10.1: a goodbye; keep the record one more second.
                now + Duration::from_secs(1)
            } else {
                now + Duration::from_secs(rec.ttl.into())
            };
            if let Some(c) = self
                .cache
                .iter_mut()
                .find(|c| c.name == rec.name && c.ip == ip)
            {
                c.expires = expires;
                continue;
            }
            if rec.ttl == 0 {
                continue;
            }
            if self.cache.len() >= self.cfg.max_names {
                // Evict the entry closest to expiry.
                if let Some(i) = (0..self.cache.len()).min_by_key(|&i| self.cache[i].expires) {
                    self.cache.swap_remove(i);
                }
            }
            self.cache.push(Cached {
                name: rec.name.clone(),
                ip,
                expires,
            });
            self.cache.shrink_to_fit();
            let w = &mut self.wanted[wi];
            w.next_query = None;
            self.events.push_back(MdnsEvent::Resolved {
                name: w.text.clone(),
                ip,
            });
        }
    }

    /// The index of the socket a datagram arrived on: the one with its destination address,
    /// else the first of its family (a datagram to the group names no socket).
    fn socket_for(&self, d: &Datagram<'_>) -> Option<usize> {
        let s = &self.cfg.sockets;
        s.iter().position(|&a| a == d.destination).or_else(|| {
            s.iter()
                .position(|a| a.is_ipv4() == d.destination.is_ipv4())
        })
    }
}

impl Protocol for Mdns {
    type Event = MdnsEvent;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        self.stats.received += 1;
        let msg = match Message::parse(d.contents) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        // RFC 6762 §18.3 and §18.11: a non-zero opcode or rcode MUST be silently ignored.
        if msg.header.opcode() != 0 || msg.header.rcode() != 0 {
            self.stats.ignored += 1;
            return;
        }
        if msg.header.is_response() {
            self.on_response(now, &d, &msg);
        } else {
            self.on_query(now, &d, &msg);
        }
        self.update_deadline();
    }

    fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.wanted.len() {
            let w = &mut self.wanted[i];
            let Some(next) = w.next_query else {
                i += 1;
                continue;
            };
            if now >= w.started + self.cfg.resolve_timeout {
                let w = self.wanted.remove(i);
                self.events.push_back(MdnsEvent::Failed { name: w.text });
                continue;
            }
            let schedule = &self.cfg.query_schedule;
            let mut due = false;
            let mut k = next;
            while k < schedule.len() && w.started + schedule[k] <= now {
                due = true;
                k += 1;
            }
            w.next_query = Some(k);
            if due {
                let name = w.name.clone();
                self.send_query(name);
            }
            i += 1;
        }
        self.cache.retain(|c| c.expires > now);
        self.update_deadline();
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.outbox.is_empty() {
            // mDNS sends in rare bursts; an idle instance (one per PeerConnection) keeps no
            // queue memory between them.
            self.outbox = VecDeque::new();
            self.events.shrink_to_fit();
            return None;
        }
        while let Some(out) = self.outbox.pop_front() {
            if out.bytes.len() > buf.len() {
                self.stats.queue_drops += 1;
                continue;
            }
            buf[..out.bytes.len()].copy_from_slice(&out.bytes);
            return Some(Transmit::new(out.source, out.destination, out.bytes.len()));
        }
        None
    }

    fn poll_event(&mut self) -> Option<MdnsEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

/// `<uuid>.local` with a random version 4 UUID (RFC 9562 §5.4), in lower case as browsers
/// write it.
pub(crate) fn random_uuid_name(rng: &mut Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(42);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s.push_str(".local");
    s
}
