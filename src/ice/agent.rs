//! [`Agent`]: the public face of the ICE agent, its state, events and the driving loop.
//! The receive path is in `receive.rs`, selection and nomination in `select.rs`, consent and
//! liveness in `consent.rs`, gathering in `gather.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::candidate::{Candidate, CandidateKind, local_preference};
use super::check::Transactions;
use super::checklist::{AddRemote, Checklist, Local, PairState};
use super::config::{AgentConfig, IceTransportPolicy};
use super::consent::Liveness;
pub use super::events::{AgentStats, IceEvent, IceState, Received, SelectedPair};
use super::gather::Gathering;
use super::relay::{Relay, RelaySlot};
use super::{Address, Error, sdp};
use crate::Rng;
use crate::stun::{Key, TransactionId};

#[derive(Clone)]
pub(crate) struct Credentials {
    pub ufrag: String,
    pub pwd: String,
    pub key: Key,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ufrag", &self.ufrag)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn new(ufrag: String, pwd: String) -> Self {
        let key = Key::short_term(&pwd);
        Self { ufrag, pwd, key }
    }

    fn random(rng: &mut Rng) -> Self {
        Self::new(random_chars(rng, 8), random_chars(rng, 24))
    }
}

fn random_chars(rng: &mut Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| char::from(ALPHABET[rng.range(0, ALPHABET.len() as u64) as usize]))
        .collect()
}

/// The body of a datagram waiting in the outbox.
#[derive(Debug)]
pub(crate) enum Body {
    Owned(Vec<u8>),
    /// The current bytes of an outstanding transaction (a check or its retransmission).
    Tx(TransactionId),
}

#[derive(Debug)]
pub(crate) struct Out {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// Through this relay: `source` is then the relayed address and the datagram is wrapped.
    pub relay: Option<usize>,
    pub body: Body,
}

/// The previous generation's selected pair, which keeps carrying data during an ICE restart
/// until a new pair is selected (RFC 8445 §9).
#[derive(Debug, Clone)]
pub(crate) struct Stale {
    pub local: Local,
    pub remote_addr: SocketAddr,
    pub until: Instant,
}

/// A full or lite ICE agent for one component: see the [module documentation](super).
#[derive(Debug)]
pub struct Agent {
    pub(crate) cfg: AgentConfig,
    pub(crate) rng: Rng,
    pub(crate) controlling: bool,
    pub(crate) tie_breaker: u64,
    pub(crate) local: Credentials,
    /// The credentials before the last restart, still answered until a new pair is selected.
    pub(crate) old_local: Option<Credentials>,
    pub(crate) remote: Option<Credentials>,
    pub(crate) remote_lite: bool,
    pub(crate) remote_eoc: bool,
    /// When the last remote candidate arrived (`None` until the next evaluation after one
    /// did): the end-of-candidates timeout counts from here.
    pub(crate) remote_quiet_since: Option<Instant>,
    /// Every pair failed and the end-of-candidates timeout ran out: as good as the peer's
    /// end-of-candidates for declaring failure.
    pub(crate) remote_presumed_done: bool,
    pub(crate) list: Checklist,
    pub(crate) txs: Transactions,
    pub(crate) relays: Vec<RelaySlot>,
    pub(crate) gathering: Gathering,
    pub(crate) selected: Option<usize>,
    pub(crate) stale: Option<Stale>,
    /// Controlling: the pair whose nomination check is queued or in flight.
    pub(crate) nominating: Option<usize>,
    /// The last NOMINATION value sent (renomination).
    pub(crate) nomination: u32,
    /// The highest NOMINATION value received.
    pub(crate) remote_nomination: Option<u32>,
    pub(crate) first_valid_at: Option<Instant>,
    pub(crate) live: Liveness,
    pub(crate) state: IceState,
    pub(crate) failed: bool,
    pub(crate) closed: bool,
    pub(crate) last_check: Option<Instant>,
    pub(crate) last_gather: Option<Instant>,
    pub(crate) now: Option<Instant>,
    /// Set by mutators: the next call with a time re-evaluates everything.
    pub(crate) dirty: bool,
    pub(crate) deadline: Option<Instant>,
    pub(crate) outbox: VecDeque<Out>,
    pub(crate) events: VecDeque<IceEvent>,
    pub(crate) data_events: usize,
    pub(crate) pool: Vec<Vec<u8>>,
    pub(crate) stats: AgentStats,
    /// The `.local` names of our host addresses (see `mdns.rs`).
    pub(crate) mdns_names: super::mdns::MdnsNames,
}

impl Agent {
    /// A new agent with fresh random credentials and tie-breaker.
    pub fn new(config: AgentConfig) -> Self {
        let cfg = config.sanitised();
        let mut rng = Rng::new(cfg.seed);
        let local = Credentials::random(&mut rng);
        let tie_breaker = rng.u64();
        Self {
            controlling: cfg.controlling,
            cfg,
            rng,
            tie_breaker,
            local,
            old_local: None,
            remote: None,
            remote_lite: false,
            remote_eoc: false,
            remote_quiet_since: None,
            remote_presumed_done: false,
            list: Checklist::default(),
            txs: Transactions::default(),
            relays: Vec::new(),
            gathering: Gathering::default(),
            selected: None,
            stale: None,
            nominating: None,
            nomination: 0,
            remote_nomination: None,
            first_valid_at: None,
            live: Liveness::default(),
            state: IceState::New,
            failed: false,
            closed: false,
            last_check: None,
            last_gather: None,
            now: None,
            dirty: true,
            deadline: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            data_events: 0,
            pool: Vec::new(),
            stats: AgentStats::default(),
            mdns_names: Default::default(),
        }
    }

    /// The settings in use (after clamping).
    pub fn config(&self) -> &AgentConfig {
        &self.cfg
    }

    /// The local username fragment and password to signal (`a=ice-ufrag`, `a=ice-pwd`).
    pub fn local_credentials(&self) -> (&str, &str) {
        (&self.local.ufrag, &self.local.pwd)
    }

    /// The peer's username fragment and password, once set.
    pub fn remote_credentials(&self) -> Option<(&str, &str)> {
        self.remote
            .as_ref()
            .map(|r| (r.ufrag.as_str(), r.pwd.as_str()))
    }

    /// Replaces the local credentials (for example with ones already signalled). Must be
    /// called before any check is answered; `ufrag` must be at least 4 and `pwd` at least 22
    /// `ice-char`s (RFC 8839 §5.4).
    pub fn set_local_credentials(&mut self, ufrag: &str, pwd: &str) -> Result<(), Error> {
        check_credentials(ufrag, pwd)?;
        self.local = Credentials::new(ufrag.to_owned(), pwd.to_owned());
        Ok(())
    }

    /// Sets the peer's username fragment and password. Checks wait for them; checks that
    /// arrived earlier are already answered and their pairs are checked now. New credentials
    /// after earlier ones mean the peer restarted ICE: its candidates and the pairs are
    /// dropped, and the selected pair keeps carrying data until a new one is selected.
    pub fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) -> Result<(), Error> {
        check_credentials(ufrag, pwd)?;
        match &self.remote {
            Some(r) if r.ufrag == ufrag && r.pwd == pwd => return Ok(()),
            Some(_) => self.reset_remote(),
            None => {}
        }
        self.remote = Some(Credentials::new(ufrag.to_owned(), pwd.to_owned()));
        self.dirty = true;
        Ok(())
    }

    /// Declares the peer an ICE-lite agent (`a=ice-lite`): this agent then takes the
    /// controlling role (RFC 8445 §6.1.1) and expects no checks from it.
    pub fn set_remote_lite(&mut self, lite: bool) {
        self.remote_lite = lite;
        if lite && !self.cfg.lite && !self.controlling {
            self.set_role(true);
        }
        self.dirty = true;
    }

    /// Whether the agent is currently controlling.
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// The tie-breaker sent in ICE-CONTROLLING / ICE-CONTROLLED.
    pub fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// Adds a local socket address: a host candidate (reported as
    /// [`IceEvent::LocalCandidate`]) from which server-reflexive candidates are gathered.
    /// The application owns the socket and must feed every datagram it receives to the agent.
    pub fn add_local_interface(&mut self, addr: SocketAddr) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(Error::BadLocalAddress(addr));
        }
        if let Some(l) = self
            .list
            .locals
            .iter()
            .find(|l| l.base == addr && !l.removed)
        {
            // The agent names candidates by address: a TCP candidate's cannot be a UDP one's.
            return if l.cand.tcp_type.is_none() {
                Ok(())
            } else {
                Err(Error::BadLocalAddress(addr))
            };
        }
        if !self.cfg.lite {
            self.add_turn_relays(addr);
        }
        if self.cfg.transport_policy == IceTransportPolicy::Relay {
            // Relay only: the address talks to TURN servers and is no candidate itself.
            self.gathering.reopen();
            self.dirty = true;
            return Ok(());
        }
        let hosts = self
            .list
            .locals
            .iter()
            .filter(|l| l.cand.kind == CandidateKind::Host && !l.removed);
        if hosts.clone().count() >= self.cfg.max_local_addresses {
            return Err(Error::TooManyLocalAddresses);
        }
        let rank = hosts.filter(|l| l.base.is_ipv4() == addr.is_ipv4()).count();
        let cand = Candidate::host(addr, local_preference(addr.ip(), rank));
        let index = self.push_local(Local {
            cand,
            addr,
            base: addr,
            relay: None,
            removed: false,
        });
        // A lite agent has host candidates only (RFC 8445 §5.1.1); it still reports the end
        // of gathering.
        let servers: &[SocketAddr] = if self.cfg.lite {
            &[]
        } else {
            &self.cfg.stun_servers
        };
        self.gathering.queue_host(index, addr, servers);
        Ok(())
    }

    /// Removes a local address (its interface went away): its candidates take no new pairs
    /// and their pairs fail. Follow with [`restart`](Self::restart) to move the session.
    pub fn remove_local_interface(&mut self, addr: SocketAddr) {
        for l in self.list.locals.iter_mut().filter(|l| l.base == addr) {
            l.removed = true;
        }
        let removed: Vec<usize> = (0..self.list.pairs.len())
            .filter(|&i| self.list.locals[self.list.pairs[i].local].removed)
            .collect();
        for i in removed {
            self.list.pairs[i].state = PairState::Failed;
            self.list.pairs[i].valid = false;
            self.list.pairs[i].nominated = false;
            self.list.pairs[i].failure = Some(super::report::CheckFailure::InterfaceRemoved);
            if self.selected == Some(i) {
                // Nothing can be sent from a vanished address: move on at the next evaluation.
                self.selected = None;
                self.live = Liveness::default();
            }
            if self.nominating == Some(i) {
                self.nominating = None;
            }
        }
        self.dirty = true;
    }

    /// Adds a TURN relay allocation (see [`Relay`]); its relayed address becomes a relayed
    /// candidate once allocated.
    pub fn add_relay(&mut self, relay: Box<dyn Relay>) {
        self.relays.push(RelaySlot {
            relay,
            candidate: None,
            second: None,
            permitted: Vec::new(),
        });
        self.dirty = true;
    }

    /// Adds a remote candidate (from signalling, at any time: trickle ICE). Candidates with an
    /// mDNS or other unresolved name, or neither UDP nor TCP with a `tcptype`, are kept out of
    /// pairing (TCP ones pair only with local TCP candidates, RFC 6544 §6.2); candidates
    /// whose `ufrag` names another ICE generation are ignored.
    pub fn add_remote_candidate(&mut self, candidate: Candidate) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        if let (Some(u), Some(r)) = (&candidate.ufrag, &self.remote)
            && *u != r.ufrag
        {
            return Err(Error::StaleCandidate);
        }
        if !candidate.is_usable() {
            // mDNS names wait for a resolver; other transports are kept for the record.
            if self.list.unresolved.len() >= self.cfg.max_remote_candidates {
                return Err(Error::TooManyCandidates);
            }
            // A name to resolve is news from the peer: the quiet timer starts again.
            if matches!(candidate.address, Address::Mdns(_) | Address::Fqdn(_)) {
                self.remote_quiet_since = None;
                self.dirty = true;
            }
            self.list.unresolved.push(candidate);
            return Ok(());
        }
        let max = self.cfg.max_remote_candidates;
        self.remote_quiet_since = None;
        match self.list.add_remote(candidate, max) {
            AddRemote::Added(r) => {
                self.list
                    .pair_up(None, Some(r), self.controlling, self.cfg.max_pairs);
            }
            AddRemote::Known(_) => self.list.reprioritise(self.controlling),
            AddRemote::Refused => return Err(Error::TooManyCandidates),
        }
        self.dirty = true;
        Ok(())
    }

    /// Gives the address an mDNS (or other) name of held remote candidates resolved to; they
    /// are then paired like any other. Returns how many candidates it resolved.
    pub fn resolve_remote_name(&mut self, name: &str, ip: std::net::IpAddr) -> usize {
        let (matching, rest): (Vec<Candidate>, Vec<Candidate>) =
            std::mem::take(&mut self.list.unresolved)
                .into_iter()
                .partition(|c| {
                    matches!(&c.address, super::Address::Mdns(n) | super::Address::Fqdn(n)
                        if n.eq_ignore_ascii_case(name))
                        && c.transport == super::Transport::Udp
                });
        self.list.unresolved = rest;
        let mut resolved = 0;
        for mut c in matching {
            c.address = super::Address::Ip(ip);
            if self.add_remote_candidate(c).is_ok() {
                resolved += 1;
            }
        }
        resolved
    }

    /// Parses and adds a remote candidate attribute (`candidate:...`, with or without `a=`).
    pub fn add_remote_candidate_str(&mut self, line: &str) -> Result<(), Error> {
        self.add_remote_candidate(Candidate::parse(line)?)
    }

    /// The peer has sent all its candidates (`a=end-of-candidates`, RFC 8838 §8.2): once every
    /// pair has failed the agent may report [`IceState::Failed`].
    pub fn end_of_remote_candidates(&mut self) {
        self.remote_eoc = true;
        self.dirty = true;
    }

    /// ICE restart (RFC 8445 §9): new local credentials, a new checklist, host candidates
    /// re-announced and server-reflexive ones gathered again. The remote candidates are
    /// dropped: signal the new credentials and candidates both ways. The selected pair keeps
    /// carrying data until a new pair is selected (or consent would have expired).
    pub fn restart(&mut self) {
        if self.closed {
            return;
        }
        let fresh = Credentials::random(&mut self.rng);
        self.old_local = Some(std::mem::replace(&mut self.local, fresh));
        self.reset_remote();
        self.remote_eoc = false;
        self.failed = false;
        // Local candidates: keep the host addresses, forget reflexive and peer-reflexive ones.
        let hosts: Vec<(SocketAddr, Option<super::TcpType>)> = self
            .list
            .locals
            .iter()
            .filter(|l| l.cand.kind == CandidateKind::Host && !l.removed)
            .map(|l| (l.base, l.cand.tcp_type))
            .collect();
        self.list.locals.clear();
        self.gathering = Gathering::default();
        for (addr, tcp) in hosts {
            let _ = match tcp {
                None => self.add_local_interface(addr),
                Some(super::TcpType::Active) => self.add_tcp_active(addr.ip()).map(|_| ()),
                Some(_) => self.add_tcp_passive(addr),
            };
        }
        for slot in &mut self.relays {
            slot.candidate = None;
            slot.second = None;
        }
        self.dirty = true;
    }

    /// Closes the agent: nothing more is sent, checks stop, state becomes closed.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.txs.clear();
        self.outbox.clear();
        self.list.triggered.clear();
        self.selected = None;
        self.stale = None;
        self.set_state(IceState::Closed);
        self.deadline = None;
    }

    /// The current state.
    pub fn state(&self) -> IceState {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> &AgentStats {
        &self.stats
    }

    /// The pair application data goes over, if any. Without a relay the application may send
    /// on its own socket from `local` to `remote`; [`send`](Self::send) works in every case.
    ///
    /// Inlined: every datagram a connection sends asks, and its answer (some seventy bytes)
    /// went back through memory.
    #[inline]
    pub fn selected_pair(&self) -> Option<SelectedPair> {
        let Some(s) = self.selected else {
            return self.stale_pair();
        };
        let p = &self.list.pairs[s];
        let l = &self.list.locals[p.local];
        Some(SelectedPair {
            local: self.socket_of(l),
            remote: self.list.remotes[p.remote].addr,
            relayed: l.relay.is_some(),
        })
    }

    /// [`selected_pair`](Self::selected_pair) with none selected: the pair data went over
    /// before an ICE restart, until the new checks select one.
    #[cold]
    #[inline(never)]
    fn stale_pair(&self) -> Option<SelectedPair> {
        self.stale.as_ref().map(|s| SelectedPair {
            local: self.socket_of(&s.local),
            remote: s.remote_addr,
            relayed: s.local.relay.is_some(),
        })
    }

    /// Whether the peer has shown it holds our credentials: an authenticated check of the
    /// current generation reached us, or it is a lite agent (which sends none). A peer that
    /// answers our checks may not have our description yet (its answer to a check needs only
    /// its own password); one that checks us has it, and so is ready for what follows ICE.
    pub fn peer_has_checked(&self) -> bool {
        self.remote_lite || self.list.pairs.iter().any(|p| p.inbound_ok)
    }

    /// The selected pair's candidates: the local one the peer sees and the remote one.
    pub fn selected_candidates(&self) -> Option<(Candidate, Candidate)> {
        let s = self.selected?;
        let p = &self.list.pairs[s];
        let local = &self.list.locals[p.mapped_local.unwrap_or(p.local)].cand;
        Some((local.clone(), self.list.remotes[p.remote].cand.clone()))
    }

    /// The round-trip time of the last check answered on the selected pair without
    /// retransmission.
    pub fn selected_rtt(&self) -> Option<std::time::Duration> {
        self.list.pairs.get(self.selected?)?.rtt
    }

    /// The local candidates so far (host, server-reflexive, relayed; peer-reflexive ones are
    /// learned, not signalled, and left out).
    pub fn local_candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.list
            .locals
            .iter()
            .filter(|l| !l.removed && l.cand.kind != CandidateKind::PeerReflexive)
            .map(|l| &l.cand)
    }

    /// Queues an application datagram on the selected pair; it comes out of
    /// [`poll_transmit`](crate::Protocol::poll_transmit). Fails when no pair is selected (or consent
    /// was lost) or the outbox is full.
    pub fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let (local, remote) = if let Some(s) = self.selected {
            let p = &self.list.pairs[s];
            (
                self.list.locals[p.local].clone(),
                self.list.remotes[p.remote].addr,
            )
        } else if let Some(s) = &self.stale {
            (s.local.clone(), s.remote_addr)
        } else {
            return Err(Error::NoSelectedPair);
        };
        if self.outbox.len() >= self.cfg.max_queue {
            self.stats.dropped += 1;
            return Err(Error::QueueFull);
        }
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(data);
        self.outbox.push_back(Out {
            source: local.base,
            destination: remote,
            relay: local.relay,
            body: Body::Owned(v),
        });
        Ok(())
    }

    /// Whether a non-STUN datagram from `source` to the local `destination` belongs to a
    /// working pair, for callers that demultiplex datagrams themselves (RFC 7983) and only give
    /// STUN to the agent. Prefer [`receive`](Self::receive), which also counts the traffic
    /// towards liveness.
    pub fn accepts(&self, source: SocketAddr, destination: SocketAddr) -> bool {
        self.data_pair(source, destination).is_some()
            || self
                .stale
                .as_ref()
                .is_some_and(|s| s.local.base == destination && s.remote_addr == source)
    }

    fn socket_of(&self, l: &Local) -> SocketAddr {
        match l.relay {
            Some(r) => self.relays[r].relay.local(),
            None => l.base,
        }
    }

    pub(crate) fn push_local(&mut self, local: Local) -> usize {
        let announce =
            local.cand.kind != CandidateKind::PeerReflexive && self.is_signalled(&local.cand);
        if announce {
            let signalled = self.as_signalled(&local.cand);
            self.push_event(IceEvent::LocalCandidate(signalled));
        }
        self.list.locals.push(local);
        let index = self.list.locals.len() - 1;
        self.list
            .pair_up(Some(index), None, self.controlling, self.cfg.max_pairs);
        self.dirty = true;
        index
    }

    /// Drops the remote side of the session (peer restart, or ours): candidates, pairs,
    /// transactions. The selected pair becomes the stale pair that keeps carrying data.
    fn reset_remote(&mut self) {
        if let (Some(s), Some(now)) = (self.selected, self.now) {
            let p = &self.list.pairs[s];
            self.stale = Some(Stale {
                local: self.list.locals[p.local].clone(),
                remote_addr: self.list.remotes[p.remote].addr,
                until: now + self.cfg.consent_timeout,
            });
        }
        self.selected = None;
        self.nominating = None;
        self.remote_nomination = None;
        self.first_valid_at = None;
        self.live = Liveness::default();
        self.list.remotes.clear();
        self.list.pairs.clear();
        self.list.triggered.clear();
        self.list.unresolved.clear();
        self.txs.clear();
        self.remote_eoc = false;
        self.remote_quiet_since = None;
        self.remote_presumed_done = false;
        self.remote = None;
        self.dirty = true;
    }

    pub(crate) fn set_role(&mut self, controlling: bool) {
        if self.controlling != controlling {
            self.controlling = controlling;
            self.nominating = None;
            self.list.reprioritise(controlling);
        }
    }

    pub(crate) fn push_event(&mut self, event: IceEvent) {
        if let IceEvent::Data { .. } = event {
            if self.data_events >= self.cfg.max_queue {
                self.stats.dropped += 1;
                return;
            }
            self.data_events += 1;
        }
        self.events.push_back(event);
    }

    pub(crate) fn set_state(&mut self, state: IceState) {
        if self.state != state {
            self.state = state;
            self.push_event(IceEvent::StateChanged(state));
        }
    }

    pub(crate) fn queue(&mut self, out: Out) {
        if self.outbox.len() >= self.cfg.max_queue {
            self.stats.dropped += 1;
            if let Body::Owned(v) = out.body {
                self.recycle(v);
            }
            return;
        }
        self.outbox.push_back(out);
    }

    pub(crate) fn recycle(&mut self, v: Vec<u8>) {
        if self.pool.len() < 64 {
            self.pool.push(v);
        }
    }
}

fn check_credentials(ufrag: &str, pwd: &str) -> Result<(), Error> {
    // RFC 8839 §5.4: ice-ufrag 4..256 ice-chars, ice-pwd 22..256 ice-chars.
    let ok = |s: &str, min: usize| (min..=256).contains(&s.len()) && sdp::is_ice_chars(s);
    if ok(ufrag, 4) && ok(pwd, 22) {
        Ok(())
    } else {
        Err(Error::BadCredentials)
    }
}
