//! The receive path: incoming checks (RFC 8445 §7.3), responses to our checks (§7.2.5),
//! relayed datagrams, and application data from working pairs.

use std::net::SocketAddr;
use std::time::Instant;

use super::Transport;
use super::agent::{Agent, Body, Out, Received};
use super::candidate::{Candidate, CandidateKind, foundation};
use super::check::{Purpose, Tx};
use super::checklist::{AddRemote, Local, PairState};
use super::relay::Unwrapped;
use super::report::CheckFailure;
use crate::Datagram;
use crate::stun::{Attribute, Class, ErrorCode, Key, Message, Method, is_stun};

/// The most local candidates of all kinds; peer-reflexive ones past it are not recorded.
const MAX_LOCALS: usize = 256;

impl Agent {
    /// Processes one datagram and says what it was. Application data from a working pair is
    /// handed back without copying (for a caller that passes it on, such as DTLS); a STUN
    /// message is consumed. [`Protocol::handle_datagram`](crate::Protocol::handle_datagram)
    /// calls this and turns data into [`IceEvent::Data`](super::IceEvent::Data).
    #[inline(always)]
    pub fn receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        if self.receive_selected(now, &d.source, &d.destination, d.contents) {
            return Received::Data(d.contents);
        }
        self.receive_any(now, d)
    }

    /// [`receive`](Self::receive)'s common case alone, media or DTLS on the selected pair
    /// with no relay in use: what the full path concludes for it (no relay's datagram; the
    /// source, a remote candidate's address, is its own signalled form; not STUN; the
    /// selected pair's data), decided with one comparison of the pair and nothing called.
    /// `true`: it was that, and is accounted as `receive` accounts it (which would return
    /// [`Received::Data`] with `contents`); `false`: nothing was done, `receive` decides.
    #[inline(always)]
    pub fn receive_selected(
        &mut self,
        now: Instant,
        source: &SocketAddr,
        destination: &SocketAddr,
        contents: &[u8],
    ) -> bool {
        if let Some(s) = self.selected
            && !self.closed
            && self.relays.is_empty()
            && !is_stun(contents)
            && self.pair_is(s, source, destination)
        {
            self.now = Some(now);
            self.data_on(now, s);
            return true;
        }
        false
    }

    /// Data on the selected pair, which the caller has already matched (a connection that
    /// marked itself quiet on it, with the agent idle, direct and open since): accounted as
    /// [`receive_selected`](Self::receive_selected) accounts it. `false`, with nothing done,
    /// when there is no selected pair or the agent is disconnected (hearing from the peer
    /// drives it, which only [`receive`](Self::receive) does).
    #[inline(always)]
    pub(crate) fn receive_on_selected(&mut self, now: Instant) -> bool {
        match self.selected {
            Some(s) if !self.live.disconnected => {
                self.now = Some(now);
                self.data_on(now, s);
                true
            }
            _ => false,
        }
    }

    /// [`receive`](Self::receive) for any datagram.
    #[inline(never)]
    fn receive_any<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        if self.closed {
            return Received::Rejected;
        }
        self.now = Some(now);
        let relay = self
            .relays
            .iter()
            .position(|s| s.relay.server() == d.source && s.relay.local() == d.destination);
        if let Some(r) = relay {
            let slot = &mut self.relays[r];
            let (first, second) = (slot.relay.relayed(), slot.relay.relayed_second());
            return match (slot.relay.unwrap(now, d.contents), first) {
                (Unwrapped::Data { peer, payload }, Some(first)) => {
                    // A dual allocation relays each peer on the address of its family.
                    let at = second
                        .filter(|s| {
                            s.is_ipv4() == peer.is_ipv4() && first.is_ipv4() != peer.is_ipv4()
                        })
                        .unwrap_or(first);
                    self.receive_on(now, peer, at, payload)
                }
                (Unwrapped::Control, _) => {
                    self.dirty = true;
                    Received::Stun
                }
                _ => {
                    self.stats.malformed += 1;
                    Received::Rejected
                }
            };
        }
        self.receive_on(now, d.source, d.destination, d.contents)
    }

    fn receive_on<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &'a [u8],
    ) -> Received<'a> {
        let source = self.signalled_form(source, destination);
        if is_stun(contents) {
            match Message::parse(contents) {
                Ok(msg) => {
                    self.on_stun(now, source, destination, &msg);
                    self.drive(now);
                    Received::Stun
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    Received::Rejected
                }
            }
        } else if let Some(i) = self.data_pair(source, destination) {
            self.data_on(now, i);
            Received::Data(contents)
        } else if self
            .stale
            .as_ref()
            .is_some_and(|s| s.local.base == destination && s.remote_addr == source)
        {
            self.stats.data_received += 1;
            Received::Data(contents)
        } else {
            self.stats.rejected_data += 1;
            Received::Rejected
        }
    }

    /// A link-local source as the remote candidates know it. A description carries no zone
    /// (RFC 4007 §11.2: a zone index is meaningful on one node only), so a signalled fe80::
    /// candidate is zone-less, while a socket reports every link-local source with its
    /// interface's index. A datagram on a zoned link-local base from a zone-less remote's
    /// address comes from that remote on the base's link (RFC 4291 §2.5.6: link-local addresses
    /// reach one link only), so it is taken as coming from it, and the signalled pair passes the
    /// symmetry check of RFC 8445 §7.2.5.2.1 instead of failing as "asymmetric". A source that
    /// no zone-less candidate has keeps its zone (a peer-reflexive candidate is then exact).
    fn signalled_form(&self, source: SocketAddr, destination: SocketAddr) -> SocketAddr {
        let (SocketAddr::V6(src), SocketAddr::V6(dst)) = (source, destination) else {
            return source;
        };
        if src.scope_id() == 0
            || src.scope_id() != dst.scope_id()
            || !super::candidate::is_link_local(source.ip())
        {
            return source;
        }
        let bare = SocketAddr::V6(std::net::SocketAddrV6::new(*src.ip(), src.port(), 0, 0));
        if self.list.remote_by_addr(source).is_none() && self.list.remote_by_addr(bare).is_some() {
            bare
        } else {
            source
        }
    }

    /// The working pair a data datagram belongs to: the selected pair first (the common case
    /// costs one comparison), then any pair that is valid or that the peer has checked.
    #[inline]
    pub(crate) fn data_pair(&self, source: SocketAddr, destination: SocketAddr) -> Option<usize> {
        if let Some(s) = self
            .selected
            .filter(|&s| self.pair_is(s, &source, &destination))
        {
            return Some(s);
        }
        (0..self.list.pairs.len()).find(|&i| {
            let p = &self.list.pairs[i];
            (p.usable() || p.inbound_ok)
                && p.state != PairState::Failed
                && self.pair_is(i, &source, &destination)
        })
    }

    /// Data arrived on pair `i`: its liveness and the counters, and a disconnected agent
    /// driven at once (hearing from the peer may reconnect it).
    #[inline(always)]
    fn data_on(&mut self, now: Instant, i: usize) {
        self.list.pairs[i].last_received = Some(now);
        self.stats.data_received += 1;
        if self.live.disconnected {
            self.drive(now);
        }
    }

    /// Whether pair `i` joins `destination` (a local base) to `source`; inlined into the
    /// per-datagram check of the selected pair.
    #[inline(always)]
    fn pair_is(&self, i: usize, source: &SocketAddr, destination: &SocketAddr) -> bool {
        let p = &self.list.pairs[i];
        same_addr(&self.list.remotes[p.remote].addr, source)
            && same_addr(&self.list.locals[p.local].base, destination)
    }

    fn on_stun(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        msg: &Message,
    ) {
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.stats.malformed += 1;
            return;
        }
        match (msg.class(), msg.method()) {
            (Class::Request, Method::Binding) => self.on_request(now, source, destination, msg),
            (Class::SuccessResponse | Class::ErrorResponse, Method::Binding) => {
                self.on_response(now, source, destination, msg)
            }
            // Binding indications are keepalives (RFC 8445 §11): traffic on the pair.
            (Class::Indication, Method::Binding) => {
                if let Some(i) = self.list.pair_by_addrs(destination, source) {
                    self.list.pairs[i].last_received = Some(now);
                }
            }
            _ => self.stats.malformed += 1,
        }
    }

    /// RFC 8445 §7.3: answer an authenticated check, resolve role conflicts, learn
    /// peer-reflexive candidates, trigger a check back, and follow nominations.
    fn on_request(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        msg: &Message,
    ) {
        // §7.3: USERNAME must be "LFRAG:RFRAG" with our fragment first, and MESSAGE-INTEGRITY
        // must verify with our password; anything else is dropped unanswered.
        let Some((lfrag, rfrag)) = msg.username().and_then(|u| u.split_once(':')) else {
            self.stats.unauthenticated += 1;
            return;
        };
        // Only the key is taken (a shared handle): answering a consent check, about once a
        // second for the life of the connection, copies no credential strings.
        let (key, current): (Key, bool) = if lfrag == self.local.ufrag {
            (self.local.key.clone(), true)
        } else if let Some(old) = self.old_local.as_ref().filter(|o| o.ufrag == lfrag) {
            (old.key.clone(), false)
        } else {
            self.stats.unauthenticated += 1;
            return;
        };
        if msg.verify(&key).is_err() {
            self.stats.unauthenticated += 1;
            return;
        }
        if current && self.role_conflict(source, destination, msg, &key) {
            return;
        }
        self.respond(source, destination, msg, &key, None);
        if !current || self.remote.as_ref().is_some_and(|r| r.ufrag != rfrag) {
            // The previous generation (still carrying data) or a peer generation we have not
            // been told about: answered, not learned from.
            return;
        }
        let Some(local) = self.list.local_by_base(destination) else {
            return;
        };
        let remote = match self.list.remote_by_addr(source) {
            Some(r) => r,
            None => {
                // §7.3.1.3: a check from an unknown address is a peer-reflexive candidate with
                // the priority the check carries.
                let Some(priority) = msg.priority() else {
                    return;
                };
                let cand = if self.is_tcp_local(local) {
                    // RFC 6544 §7.2.1: a check arriving on a connection to our passive
                    // candidate comes from the peer's active one, learned with its real port.
                    match self.tcp_prflx(local, source, priority) {
                        Some(c) => c,
                        None => return,
                    }
                } else {
                    let f = foundation(
                        CandidateKind::PeerReflexive,
                        source.ip(),
                        None,
                        &Transport::Udp,
                    );
                    Candidate::new(CandidateKind::PeerReflexive, source, priority, &f)
                };
                self.remote_quiet_since = None;
                match self.list.add_remote(cand, self.cfg.max_remote_candidates) {
                    AddRemote::Added(r) | AddRemote::Known(r) => r,
                    AddRemote::Refused => return,
                }
            }
        };
        let pair = match self.list.pair_of(local, remote) {
            Some(p) => p,
            None => {
                self.list.pair_up(
                    Some(local),
                    Some(remote),
                    self.controlling,
                    self.cfg.max_pairs,
                );
                match self.list.pair_of(local, remote) {
                    Some(p) => p,
                    None => return,
                }
            }
        };
        let p = &mut self.list.pairs[pair];
        p.inbound_ok = true;
        p.last_received = Some(now);
        if self.selected == Some(pair) && self.cfg.lite {
            // A lite agent sends no consent checks; the peer's checks are its evidence.
            self.live.last_consent = Some(now);
        }
        if self.cfg.lite {
            // A lite agent has no checks of its own: an authenticated check is what makes the
            // pair usable (RFC 8445 §7.3 for lite implementations).
            p.state = PairState::Succeeded;
            p.valid = true;
            p.last_response = Some(now);
        } else {
            self.triggered_check(pair);
        }
        if msg.use_candidate() && !self.controlling {
            self.on_use_candidate(now, pair, msg.nomination());
        }
    }

    /// §7.3.1.1: returns whether the request lost a role conflict and was answered with 487.
    fn role_conflict(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        msg: &Message,
        key: &Key,
    ) -> bool {
        let conflict = if self.controlling {
            msg.ice_controlling()
                .map(|theirs| self.tie_breaker >= theirs)
        } else {
            // A lite agent never takes the controlling role: the full peer must.
            msg.ice_controlled()
                .map(|theirs| self.cfg.lite || self.tie_breaker < theirs)
        };
        match conflict {
            None => false,
            Some(true) => {
                self.stats.role_conflicts += 1;
                self.respond(
                    source,
                    destination,
                    msg,
                    key,
                    Some(ErrorCode::ROLE_CONFLICT),
                );
                true
            }
            Some(false) => {
                self.stats.role_conflicts += 1;
                self.set_role(!self.controlling);
                false
            }
        }
    }

    /// Answers a request: success with XOR-MAPPED-ADDRESS, or an error, signed with our
    /// password and fingerprinted, sent back from where it arrived.
    fn respond(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        msg: &Message,
        key: &Key,
        error: Option<u16>,
    ) {
        let id = msg.transaction_id();
        let reply = match error {
            None => Message::new(Class::SuccessResponse, Method::Binding, id)
                .with(Attribute::XorMappedAddress(source)),
            Some(code) => Message::new(Class::ErrorResponse, Method::Binding, id).with(
                Attribute::ErrorCode(ErrorCode {
                    code,
                    reason: "Role Conflict".into(),
                }),
            ),
        };
        let Some(bytes) = self.encode(&reply, Some(key)) else {
            return;
        };
        self.stats.responses_sent += 1;
        let relay = self
            .list
            .locals
            .iter()
            .find(|l| l.base == destination && l.relay.is_some())
            .and_then(|l| l.relay);
        self.queue(Out {
            source: destination,
            destination: source,
            relay,
            body: Body::Owned(bytes),
        });
    }

    /// §7.3.1.4: the triggered check, by pair state.
    fn triggered_check(&mut self, pair: usize) {
        match self.list.pairs[pair].state {
            PairState::Succeeded => {}
            PairState::InProgress => {
                // Stop retransmitting (the answer still counts) and check again at once.
                for id in self
                    .txs
                    .ids_where(|t| matches!(t.purpose, Purpose::Check { pair: p, .. } if p == pair))
                {
                    self.txs.cancel_retransmits(&id);
                }
                self.list.pairs[pair].state = PairState::Waiting;
                self.list.trigger(pair, false);
            }
            PairState::Waiting | PairState::Frozen | PairState::Failed => {
                self.list.pairs[pair].state = PairState::Waiting;
                self.list.trigger(pair, false);
            }
        }
    }

    /// §7.3.1.5 and renomination: the controlled agent follows the peer's nomination. With
    /// NOMINATION, the highest value wins; without, a new nomination replaces the current one
    /// when it has higher priority (aggressive nomination) or the current pair has been silent
    /// for half the disconnected timeout (failover by a peer without renomination).
    fn on_use_candidate(&mut self, now: Instant, pair: usize, nomination: Option<u32>) {
        let accept = match nomination {
            Some(n) => {
                if self.remote_nomination.is_some_and(|m| n <= m) {
                    false
                } else {
                    self.remote_nomination = Some(n);
                    true
                }
            }
            None => match self.selected {
                Some(s) if s != pair && self.list.pairs[s].nominated => {
                    let quiet = self.list.pairs[s]
                        .last_received
                        .is_none_or(|t| now >= t + self.cfg.disconnected_timeout / 2);
                    self.list.pairs[pair].priority > self.list.pairs[s].priority || quiet
                }
                _ => true,
            },
        };
        if !accept {
            return;
        }
        for p in &mut self.list.pairs {
            p.nominate_on_success = false;
        }
        if self.list.pairs[pair].valid {
            self.mark_nominated(pair);
        } else {
            self.list.pairs[pair].nominate_on_success = true;
        }
    }

    pub(crate) fn mark_nominated(&mut self, pair: usize) {
        for (i, p) in self.list.pairs.iter_mut().enumerate() {
            p.nominated = i == pair;
            p.nominate_on_success = false;
        }
    }

    /// §7.2.5: a response to one of our requests.
    fn on_response(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        msg: &Message,
    ) {
        let id = msg.transaction_id();
        let Some(tx) = self.txs.get(&id) else {
            self.stats.malformed += 1;
            return;
        };
        if let Some(key) = &tx.key
            && msg.verify(key).is_err()
        {
            self.stats.unauthenticated += 1;
            return;
        }
        let Some(tx) = self.txs.remove(&id) else {
            return;
        };
        // §7.2.5.2.1: the response must come from where the request went, to where it left.
        let symmetric = source == tx.destination && destination == tx.source;
        match tx.purpose {
            Purpose::Gather { local, server } => {
                if symmetric {
                    self.on_gathered(local, server, msg);
                }
                self.gathering.done();
            }
            Purpose::Check { pair, .. } | Purpose::Consent { pair } => {
                if pair >= self.list.pairs.len() {
                } else if !symmetric {
                    if matches!(tx.purpose, Purpose::Check { .. }) {
                        self.fail_pair(pair);
                        self.list.pairs[pair].failure = Some(CheckFailure::Asymmetric);
                    }
                } else if msg.class() == Class::ErrorResponse {
                    self.on_error_response(pair, &tx, msg);
                } else {
                    self.on_success(now, pair, &tx, msg);
                }
            }
        }
        self.recycle(tx.bytes);
    }

    fn on_error_response(&mut self, pair: usize, tx: &Tx, msg: &Message) {
        let code = msg.error_code().map(|e| e.code);
        match (code, tx.purpose) {
            (Some(ErrorCode::ROLE_CONFLICT), Purpose::Check { nominate, .. }) => {
                // §7.2.5.1: switch to the role opposite to the one the request claimed (if we
                // still hold it) and check the pair again.
                self.stats.role_conflicts += 1;
                self.list.pairs[pair].failure = Some(CheckFailure::RoleConflict);
                if self.controlling == tx.controlling {
                    self.set_role(!tx.controlling);
                }
                if self.nominating == Some(pair) && nominate {
                    self.nominating = None;
                }
                self.list.pairs[pair].state = PairState::Waiting;
                self.list.trigger(pair, false);
            }
            (code, Purpose::Check { .. }) => {
                self.fail_pair(pair);
                self.list.pairs[pair].failure = Some(match code {
                    Some(ErrorCode::UNAUTHENTICATED) => CheckFailure::Unauthenticated,
                    c => CheckFailure::ErrorResponse(c.unwrap_or(0)),
                });
            }
            _ => {}
        }
    }

    pub(crate) fn fail_pair(&mut self, pair: usize) {
        let p = &mut self.list.pairs[pair];
        p.state = PairState::Failed;
        p.valid = false;
        if self.nominating == Some(pair) {
            self.nominating = None;
        }
    }

    fn on_success(&mut self, now: Instant, pair: usize, tx: &Tx, msg: &Message) {
        let p = &mut self.list.pairs[pair];
        p.last_response = Some(now);
        p.last_received = Some(now);
        p.failure = None;
        if tx.transmissions == 1 {
            p.rtt = Some(now.saturating_duration_since(tx.first_sent));
        }
        if self.selected == Some(pair) {
            // RFC 7675: consent is refreshed by any answered check on the pair.
            self.live.last_consent = Some(now);
            self.live.misses = 0;
        }
        let Purpose::Check { nominate, .. } = tx.purpose else {
            return;
        };
        // §7.2.5.3.1: the valid pair's local candidate is the one whose address is the mapped
        // address; an unknown mapped address is a new peer-reflexive local candidate.
        let base = tx.source;
        let local = self.list.pairs[pair].local;
        let mapped_local = match msg.mapped_address() {
            // Over TCP the mapped address names the connection's ephemeral port, which no
            // peer can connect to: no peer-reflexive local candidate comes of it.
            Some(_) if self.is_tcp_local(local) => None,
            Some(m) if m != base => self.local_for_mapped(m, base, local, tx),
            _ => None,
        };
        let p = &mut self.list.pairs[pair];
        p.state = PairState::Succeeded;
        p.valid = true;
        p.mapped_local = mapped_local;
        let foundation = p.foundation;
        self.list.unfreeze_foundation(foundation);
        self.list.reprioritise(self.controlling);
        self.first_valid_at.get_or_insert(now);
        if nominate && self.controlling && tx.controlling {
            // §8.1.1: the nominating check succeeded: the pair is nominated.
            self.mark_nominated(pair);
            if self.nominating == Some(pair) {
                self.nominating = None;
            }
        } else if self.list.pairs[pair].nominate_on_success && !self.controlling {
            self.mark_nominated(pair);
        }
    }

    fn local_for_mapped(
        &mut self,
        mapped: SocketAddr,
        base: SocketAddr,
        local: usize,
        tx: &Tx,
    ) -> Option<usize> {
        if let Some(i) = self.list.local_by_addr(mapped, base) {
            return Some(i);
        }
        if self.list.locals.len() >= MAX_LOCALS {
            return None;
        }
        let priority = Message::parse(&tx.bytes)
            .ok()
            .and_then(|m| m.priority())
            .unwrap_or(0);
        let f = foundation(
            CandidateKind::PeerReflexive,
            base.ip(),
            None,
            &Transport::Udp,
        );
        let cand =
            Candidate::new(CandidateKind::PeerReflexive, mapped, priority, &f).with_related(base);
        let relay = self.list.locals[local].relay;
        Some(self.push_local(Local {
            cand,
            addr: mapped,
            base,
            relay,
            removed: false,
        }))
    }
}

/// `a == b`, with IPv4 (the common case) compared inline: `SocketAddr`'s own `eq` is a call
/// per address on the per-datagram check of the selected pair.
#[inline(always)]
pub(crate) fn same_addr(a: &SocketAddr, b: &SocketAddr) -> bool {
    match (a, b) {
        (SocketAddr::V4(x), SocketAddr::V4(y)) => x.port() == y.port() && x.ip() == y.ip(),
        _ => a == b,
    }
}
