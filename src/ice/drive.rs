//! The driving loop: outgoing requests and their transactions, paced checks and gathering,
//! timers, and the [`Protocol`] implementation.

use std::time::Instant;

use super::agent::{Agent, Body, IceEvent, Out, Received};
use super::candidate::CandidateKind;
use super::check::{Due, Purpose, Schedule};
use super::checklist::PairState;
use crate::stun::{Attribute, Class, Key, Message, Method, TransactionId};
use crate::{Datagram, Protocol, Transmit};

/// Outbox slots kept through [`Agent::trim`]: our consent check and the answer to the peer's.
const OUTBOX_KEPT: usize = 2;

impl Agent {
    /// Whether `poll_transmit` has nothing to write at `now`: nothing to drive, queued or
    /// relayed (with TURN relays it always looks further).
    #[inline]
    pub(crate) fn transmit_idle(&self, now: Instant) -> bool {
        !self.dirty
            && self.deadline.is_none_or(|d| now < d)
            && self.outbox.is_empty()
            && self.relays.is_empty()
    }

    /// Frees queue capacity left over from the connect burst once the queues are empty: an
    /// idle agent should cost little, since a server holds one per peer. Runs on timeouts
    /// only, which an idle agent sees every few seconds (consent). The outbox keeps room for
    /// the steady state, a consent check and the answer to the peer's, so those never
    /// allocate.
    fn trim(&mut self) {
        self.txs.trim();
        if self.outbox.is_empty() {
            self.outbox.shrink_to(OUTBOX_KEPT);
        }
        if self.events.is_empty() {
            self.events.shrink_to_fit();
        }
    }

    /// Writes a STUN message into a pooled buffer.
    pub(crate) fn encode(&mut self, msg: &Message<'_>, key: Option<&Key>) -> Option<Vec<u8>> {
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.resize(msg.encoded_len(key, true), 0);
        match msg.write(&mut v, key, true) {
            Ok(n) => {
                v.truncate(n);
                Some(v)
            }
            Err(_) => {
                self.recycle(v);
                None
            }
        }
    }

    /// Sends a Binding request on a pair (a connectivity or consent check) or to a STUN
    /// server, and starts its transaction.
    pub(crate) fn start_request(&mut self, now: Instant, purpose: Purpose, nominate: bool) {
        if self.txs.len() >= 4 * self.cfg.max_pairs + 64 {
            self.stats.dropped += 1;
            return;
        }
        let id = TransactionId::random(&mut self.rng);
        let mut msg = Message::new(Class::Request, Method::Binding, id);
        let (source, destination, relay, key, schedule);
        match purpose {
            Purpose::Check { pair, .. } | Purpose::Consent { pair } => {
                let Some(remote) = &self.remote else { return };
                let p = &self.list.pairs[pair];
                let l = &self.list.locals[p.local];
                // §7.2.2: USERNAME "RFRAG:LFRAG"; PRIORITY as a peer-reflexive candidate of
                // the same base would have; the role and tie-breaker.
                let username = format!("{}:{}", remote.ufrag, self.local.ufrag);
                let local_pref = ((l.cand.priority >> 8) & 0xffff) as u16;
                let tcp = l.cand.transport == super::Transport::Tcp;
                let prflx = if tcp {
                    (super::tcp_agent::tcp_type_preference(CandidateKind::PeerReflexive) << 24)
                        + (u32::from(local_pref) << 8)
                        + (256 - u32::from(l.cand.component.clamp(1, 256)))
                } else {
                    super::priority(CandidateKind::PeerReflexive, local_pref, l.cand.component)
                };
                msg.add(Attribute::Username(username.into()));
                msg.add(Attribute::Priority(prflx));
                msg.add(if self.controlling {
                    Attribute::IceControlling(self.tie_breaker)
                } else {
                    Attribute::IceControlled(self.tie_breaker)
                });
                if nominate && self.controlling {
                    msg.add(Attribute::UseCandidate);
                    if self.cfg.renomination {
                        self.nomination += 1;
                        msg.add(Attribute::Nomination(self.nomination));
                    }
                }
                (source, destination, relay) = (l.base, self.list.remotes[p.remote].addr, l.relay);
                key = Some(remote.key.clone());
                let rto = match purpose {
                    Purpose::Consent { .. } => self.cfg.rto_min,
                    _ => self.check_rto(),
                };
                schedule = match purpose {
                    // RFC 7675 §5.1: consent requests are not retransmitted on the usual
                    // schedule; the next one goes out on the consent timer instead. The
                    // transaction waits 4 RTO for its answer.
                    Purpose::Consent { .. } => Schedule { rto, rc: 1, rm: 4 },
                    // RFC 6544 §7.1 (RFC 8489 §6.2.2): over TCP a request is sent once; it
                    // fails after as long as the UDP schedule would take.
                    _ if tcp => Schedule {
                        rto,
                        rc: 1,
                        rm: (1u32 << self.cfg.max_transmissions.clamp(1, 20).saturating_sub(1))
                            .saturating_sub(1)
                            .saturating_add(self.cfg.rm),
                    },
                    _ => Schedule {
                        rto,
                        rc: self.cfg.max_transmissions,
                        rm: self.cfg.rm,
                    },
                };
            }
            Purpose::Gather { local, server } => {
                let Some(&server) = self.cfg.stun_servers.get(server) else {
                    return;
                };
                let l = &self.list.locals[local];
                (source, destination, relay) = (l.base, server, None);
                key = None;
                schedule = Schedule {
                    rto: self.gathering.rto(&self.cfg),
                    rc: self.cfg.max_transmissions,
                    rm: self.cfg.rm,
                };
            }
        }
        let Some(bytes) = self.encode(&msg, key.as_ref()) else {
            return;
        };
        match purpose {
            Purpose::Consent { .. } => self.stats.consent_checks_sent += 1,
            _ => self.stats.checks_sent += 1,
        }
        let controlling = self.controlling;
        self.txs.start(
            now,
            id,
            super::check::Request {
                purpose,
                source,
                destination,
                bytes,
                key,
                controlling,
            },
            schedule,
        );
        self.queue(Out {
            source,
            destination,
            relay,
            body: Body::Tx(id),
        });
    }

    /// RFC 8445 §14.3: `RTO = MAX(500 ms, Ta * N * (Num-Waiting + Num-In-Progress))`.
    fn check_rto(&self) -> std::time::Duration {
        let n = self.list.pairs.len() as u32;
        let outstanding = self.list.outstanding() as u32;
        self.cfg
            .ta
            .saturating_mul(n.saturating_mul(outstanding))
            .max(self.cfg.rto_min)
            .min(super::check::MAX_WAIT)
    }

    /// Everything time-driven: transaction timers, paced checks and gathering, liveness,
    /// nomination; then the state and the next deadline.
    pub(crate) fn drive(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.now = Some(now);
        while let Some(due) = self.txs.due(now) {
            match due {
                Due::Retransmit(id) => {
                    self.stats.retransmissions += 1;
                    if let Some(tx) = self.txs.get(&id) {
                        let (source, destination) = (tx.source, tx.destination);
                        let relay = self.relay_of(tx.purpose);
                        self.queue(Out {
                            source,
                            destination,
                            relay,
                            body: Body::Tx(id),
                        });
                    }
                }
                Due::TimedOut(tx) => self.on_timeout(now, tx),
            }
        }
        self.drive_relays(now);
        self.pace(now);
        self.drive_liveness(now);
        self.evaluate(now);
        self.refresh_deadline(now);
    }

    fn relay_of(&self, purpose: Purpose) -> Option<usize> {
        match purpose {
            Purpose::Check { pair, .. } | Purpose::Consent { pair } => {
                self.list.locals[self.list.pairs.get(pair)?.local].relay
            }
            Purpose::Gather { .. } => None,
        }
    }

    /// One gathering request and one check per Ta.
    ///
    /// Gathering requests and checks are paced separately, each at one per Ta: with trickle
    /// ICE both run at once, and sharing one slot would delay the checks of the reflexive
    /// candidates (the ones that cross NATs) by one Ta per local address. Two streams at
    /// 50 ms stay far above RFC 8445 §14.2's floor of one transaction per 5 ms.
    fn pace(&mut self, now: Instant) {
        let ta = self.cfg.ta;
        let due = |last: Option<Instant>| last.is_none_or(|t| now >= t + ta);
        if due(self.last_gather)
            && let Some((local, server)) = self.gathering.next()
        {
            self.last_gather = Some(now);
            self.start_request(now, Purpose::Gather { local, server }, false);
        }
        if due(self.last_check)
            && self.can_check()
            && let Some(t) = self.list.next_check()
        {
            self.last_check = Some(now);
            self.send_check(now, t.pair, t.nominate);
        }
    }

    /// Whether connectivity checks can go out at all.
    pub(crate) fn can_check(&self) -> bool {
        !self.cfg.lite && !self.failed && self.remote.is_some()
    }

    pub(crate) fn send_check(&mut self, now: Instant, pair: usize, nominate: bool) {
        let p = &mut self.list.pairs[pair];
        if p.state != PairState::Succeeded {
            p.state = PairState::InProgress;
        }
        self.start_request(now, Purpose::Check { pair, nominate }, nominate);
    }

    fn on_timeout(&mut self, now: Instant, tx: super::check::Tx) {
        match tx.purpose {
            Purpose::Check { pair, nominate } => {
                if self.nominating == Some(pair) && nominate {
                    self.nominating = None;
                }
                // Another transaction on the pair may still be running (triggered checks).
                let others = self.txs.ids_where(
                    |t| matches!(t.purpose, Purpose::Check { pair: p, .. } if p == pair),
                );
                if others.is_empty()
                    && let Some(p) = self.list.pairs.get_mut(pair)
                {
                    p.state = PairState::Failed;
                    p.valid = false;
                    p.failure = Some(super::report::CheckFailure::Timeout);
                }
            }
            Purpose::Consent { pair } => self.on_consent_timeout(pair, tx.first_sent),
            Purpose::Gather { .. } => self.gathering.done(),
        }
        self.recycle(tx.bytes);
        let _ = now;
    }

    fn refresh_deadline(&mut self, now: Instant) {
        let mut d = self.txs.next_timer();
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        if self.gathering.has_queued() {
            at(Some(self.last_gather.map_or(now, |t| t + self.cfg.ta)));
        }
        if self.can_check() && self.list.has_work() {
            at(Some(self.last_check.map_or(now, |t| t + self.cfg.ta)));
        }
        at(self.liveness_deadline());
        at(self.selection_deadline());
        at(self.quiet_deadline());
        at(self.stale.as_ref().map(|s| s.until));
        for slot in &self.relays {
            at(slot.relay.poll_timeout());
        }
        self.deadline = d;
        self.dirty = false;
    }

    /// `poll_transmit` past its idle check: drives the agent when due, then the outbox and
    /// the relays.
    #[inline(never)]
    fn poll_outbox(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.dirty || self.deadline.is_some_and(|d| d <= now) {
            self.drive(now);
        }
        while let Some(out) = self.outbox.pop_front() {
            let bytes: &[u8] = match &out.body {
                Body::Owned(v) => v,
                Body::Tx(id) => match self.txs.get(id) {
                    Some(tx) => &tx.bytes,
                    None => continue,
                },
            };
            let sent = match out.relay {
                Some(r) => self.relays.get_mut(r).and_then(|slot| {
                    let len = slot.relay.wrap(now, out.destination, bytes, buf)?;
                    Some(Transmit::new(slot.relay.local(), slot.relay.server(), len))
                }),
                None => buf.get_mut(..bytes.len()).map(|b| {
                    b.copy_from_slice(bytes);
                    Transmit::new(out.source, out.destination, bytes.len())
                }),
            };
            if let Body::Owned(v) = out.body {
                self.recycle(v);
            }
            match sent {
                Some(t) => return Some(t),
                None => self.stats.dropped += 1,
            }
        }
        self.poll_relay_transmit(now, buf)
    }
}

impl Protocol for Agent {
    type Event = IceEvent;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        if let Received::Data(contents) = self.receive(now, datagram) {
            let (source, destination) = (datagram.source, datagram.destination);
            let contents = contents.to_vec();
            self.push_event(IceEvent::Data {
                source,
                destination,
                contents,
            });
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.drive(now);
        self.trim();
    }

    /// Between checks (every datagram of the data path asks first), with nothing to drive,
    /// queued or relayed: answered without a call.
    #[inline]
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.transmit_idle(now) {
            return None;
        }
        self.poll_outbox(now, buf)
    }

    fn poll_event(&mut self) -> Option<IceEvent> {
        self.gathering_complete_check();
        let e = self.events.pop_front()?;
        if let IceEvent::Data { .. } = e {
            self.data_events -= 1;
        }
        Some(e)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        if self.dirty {
            return self.now.or(self.deadline);
        }
        self.deadline
    }
}
