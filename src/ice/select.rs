//! Selecting the pair that carries data, nominating it (RFC 8445 §8.1; renomination), failing
//! over, and the connection state.

use std::time::Instant;

use super::agent::{Agent, IceEvent, IceState};
use super::checklist::PairState;

impl Agent {
    /// Re-evaluates the selection and the state after anything changed.
    pub(crate) fn evaluate(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.stale.as_ref().is_some_and(|s| s.until <= now) {
            self.stale = None;
        }
        if !self.failed {
            if self.controlling {
                self.select_controlling(now);
            } else {
                self.select_controlled(now);
            }
        }
        let quiet = *self.remote_quiet_since.get_or_insert(now);
        self.remote_presumed_done = self
            .cfg
            .end_of_candidates_timeout
            .is_some_and(|t| now >= quiet + t && self.quiet_timer_counts());
        self.update_state();
    }

    /// Whether a pair's consent is fresh: a check on it was answered (or, for a lite agent,
    /// the peer checked it) within the consent timeout. Only such pairs are ever selected.
    pub(crate) fn fresh(&self, pair: usize, now: Instant) -> bool {
        let p = &self.list.pairs[pair];
        p.usable()
            && p.last_response
                .is_some_and(|t| now < t + self.cfg.consent_timeout)
    }

    fn select_controlling(&mut self, now: Instant) {
        let dt = self.cfg.disconnected_timeout;
        match self.selected {
            None => {
                if let Some(b) = self.list.best_usable(|i, _| self.fresh(i, now)) {
                    self.select(now, b);
                }
            }
            Some(s) if self.live.disconnected => {
                // Failover: a pair that answered after the selected one stopped working works
                // now.
                let down_since = self.live.down_since.or(self.list.pairs[s].last_received);
                let b = self.list.best_usable(|i, p| {
                    i != s && p.last_response > down_since && self.fresh(i, now)
                });
                if let Some(b) = b {
                    self.select(now, b);
                    self.nominate(b);
                }
            }
            Some(s) if !self.list.pairs[s].nominated && self.nominating.is_none() => {
                // Before nominating, data follows the best valid pair.
                if let Some(b) = self.list.best_usable(|i, _| self.fresh(i, now)) {
                    self.select(now, b);
                }
            }
            Some(s) if self.cfg.renomination && self.nominating.is_none() => {
                // Renomination: move to a better pair that answered recently.
                let current = self.list.pairs[s].valid_priority;
                let b = self.list.best_usable(|i, p| {
                    i != s
                        && p.valid_priority > current
                        && p.last_response.is_some_and(|t| now < t + dt)
                });
                if let Some(b) = b {
                    self.select(now, b);
                    self.nominate(b);
                }
            }
            Some(_) => {}
        }
        // Regular nomination (§8.1.1): once no better pair can still succeed, or after the
        // nomination delay; with renomination, at once.
        let Some(s) = self.selected else { return };
        if self.list.pairs[s].nominated || self.nominating.is_some() || self.remote.is_none() {
            return;
        }
        let best = self.list.pairs[s].valid_priority;
        let better_pending = self.list.pairs.iter().any(|p| {
            p.priority > best
                && matches!(
                    p.state,
                    PairState::Frozen | PairState::Waiting | PairState::InProgress
                )
        });
        let waited = self
            .first_valid_at
            .is_some_and(|t| now >= t + self.cfg.nomination_delay);
        if self.cfg.renomination || !better_pending || waited {
            self.nominate(s);
        }
    }

    fn nominate(&mut self, pair: usize) {
        self.nominating = Some(pair);
        self.list.trigger(pair, true);
    }

    fn select_controlled(&mut self, now: Instant) {
        if let Some(s) = self.selected
            && self.live.disconnected
        {
            // Failover without a nomination: the selected pair went quiet or stopped answering,
            // and the peer has since checked us, authenticated, on another pair that answers
            // (its NAT mapping changed under it; it noticed nothing and nominates nothing new).
            // Follow that pair now rather than wait for consent to expire (RFC 7675 §5.1, 30 s).
            let down_since = self.live.down_since.or(self.list.pairs[s].last_received);
            let b = self.list.best_usable(|i, p| {
                i != s && p.inbound_ok && p.last_response > down_since && self.fresh(i, now)
            });
            if let Some(b) = b {
                self.mark_nominated(b);
                self.select(now, b);
                return;
            }
        }
        if let Some(n) = (0..self.list.pairs.len())
            .find(|&i| self.list.pairs[i].nominated && self.list.pairs[i].usable())
        {
            self.select(now, n);
            return;
        }
        // Not nominated yet: send on the best valid pair meanwhile (RFC 8445 §12.1 lets data
        // flow on a valid pair before nomination).
        if let Some(b) = self.list.best_usable(|i, _| self.fresh(i, now)) {
            self.select(now, b);
        }
    }

    pub(crate) fn select(&mut self, now: Instant, pair: usize) {
        if self.selected == Some(pair) {
            return;
        }
        self.selected = Some(pair);
        // A new pair of the new generation ends the restart.
        self.stale = None;
        self.old_local = None;
        self.on_selected(now, pair);
        if let Some((local, remote)) = self.selected_candidates() {
            self.push_event(IceEvent::SelectedPairChanged { local, remote });
        }
    }

    /// The selected pair lost consent (RFC 7675 §5.1): stop sending on it, and move to another
    /// pair with fresh consent if there is one; otherwise the agent has failed.
    pub(crate) fn consent_lost(&mut self, now: Instant, pair: usize) {
        self.fail_pair(pair);
        self.list.pairs[pair].failure = Some(super::report::CheckFailure::ConsentLost);
        self.list.pairs[pair].nominated = false;
        if !self.move_on(now) {
            self.failed = true;
        }
    }

    /// Drops the selected pair and selects (and, when this agent controls, nominates) the best
    /// other pair with fresh consent. Whether there was one.
    pub(crate) fn move_on(&mut self, now: Instant) -> bool {
        self.selected = None;
        self.live = Default::default();
        let Some(b) = self.list.best_usable(|i, _| self.fresh(i, now)) else {
            return false;
        };
        self.select(now, b);
        if self.controlling {
            self.nominate(b);
        }
        true
    }

    fn update_state(&mut self) {
        let state = if self.closed {
            IceState::Closed
        } else if self.failed {
            IceState::Failed
        } else if self.selected.is_some() || self.stale.is_some() {
            // A lite agent checks nothing, so its pairs never finish.
            let done = self.selected.is_some_and(|s| self.list.pairs[s].nominated)
                && (self.cfg.lite || !self.list.pending())
                && self.remote_eoc
                && self.gathering_done();
            if self.live.disconnected {
                IceState::Disconnected
            } else if done {
                IceState::Completed
            } else {
                IceState::Connected
            }
        } else if self.remote.is_some()
            && self.remote_finished()
            && self.gathering_done()
            && !self.cfg.lite
            && self.list.triggered.is_empty()
            && self.list.pairs.iter().all(|p| p.state == PairState::Failed)
        {
            // Every pair failed and no candidate is pending on either side.
            self.failed = true;
            IceState::Failed
        } else if self.remote.is_some() && !self.list.remotes.is_empty() {
            IceState::Checking
        } else {
            IceState::New
        };
        self.set_state(state);
    }

    /// Whether the peer can add nothing more that would make a pair: it said so and we hold
    /// pairs to judge, or it has been quiet for the end-of-candidates timeout.
    ///
    /// With no usable remote candidate at all, or with remote names still awaiting
    /// resolution, the peer's end-of-candidates is not enough: a browser that hides its host
    /// addresses behind
    /// `.local` names (and Firefox ends its offer with end-of-candidates) is reached only
    /// through the peer-reflexive pairs its own checks create (RFC 8445 §7.3.1.3), or once
    /// the names resolve. Failing at once would leave those checks unanswered.
    /// The same holds while a passive TCP candidate of ours waits for the peer's active one
    /// to connect (RFC 6544: only the peer can open that pair).
    fn remote_finished(&self) -> bool {
        if self.list.remotes.is_empty() || self.awaiting_names() || self.awaiting_tcp_peer() {
            self.remote_presumed_done
        } else {
            self.remote_eoc || self.remote_presumed_done
        }
    }

    /// Whether the quiet timer may presume the peer done: something from it is there to judge
    /// (pairs, names to resolve, or its end-of-candidates). An agent that has heard nothing
    /// yet keeps waiting for trickled candidates.
    fn quiet_timer_counts(&self) -> bool {
        !self.list.pairs.is_empty() || self.remote_eoc || self.awaiting_names()
    }

    /// Remote candidates held under a name (mDNS `.local` or FQDN) that nothing resolved yet.
    pub(crate) fn awaiting_names(&self) -> bool {
        self.list.unresolved.iter().any(|c| {
            matches!(c.address, super::Address::Mdns(_) | super::Address::Fqdn(_))
                && c.transport == super::Transport::Udp
        })
    }

    /// When the end-of-candidates timeout would let failure be declared, while nothing works
    /// and the peer has not (usably) said it is done.
    pub(crate) fn quiet_deadline(&self) -> Option<Instant> {
        // Once passed, the check timeouts that fail the last pairs re-evaluate on their own.
        if self.failed
            || self.remote_presumed_done
            || self.selected.is_some()
            || !self.quiet_timer_counts()
            || (self.remote_eoc && !self.list.remotes.is_empty() && !self.awaiting_names())
        {
            return None;
        }
        Some(self.remote_quiet_since? + self.cfg.end_of_candidates_timeout?)
    }

    /// When the controlling agent's nomination delay runs out, if it is waiting for it.
    pub(crate) fn selection_deadline(&self) -> Option<Instant> {
        let s = self.selected?;
        let waiting = self.controlling
            && !self.cfg.renomination
            && !self.list.pairs[s].nominated
            && self.nominating.is_none();
        waiting.then(|| self.first_valid_at.map(|t| t + self.cfg.nomination_delay))?
    }
}
