//! Graceful shutdown (RFC 9260 §9.2), ABORT (§9.1) and heartbeats (§8.3).

use super::association::{Association, CloseReason, State};
use super::chunk::{Causes, Chunk, cause};
use super::param::{Param, Params};
use super::timer::Timer;
use std::time::Instant;

impl Association {
    /// Starts a graceful shutdown: queued and in-flight data is delivered first, then the
    /// SHUTDOWN sequence runs and [`Event::Closed`](super::Event::Closed) reports
    /// [`CloseReason::Shutdown`]. `send` fails from now on.
    pub fn shutdown(&mut self, now: Instant) {
        match self.state {
            // §9.2: before the handshake completes there is nothing to shut down.
            State::Closed | State::CookieWait | State::CookieEchoed => {
                self.terminate(CloseReason::Shutdown)
            }
            State::Established => {
                self.state = State::ShutdownPending;
                self.check_shutdown_progress(now);
            }
            _ => {}
        }
    }

    /// Aborts at once (§9.1): sends ABORT and drops everything queued.
    pub fn abort(&mut self, now: Instant) {
        self.abort_with(now, cause::USER_ABORT, &[]);
    }

    pub(super) fn abort_with(&mut self, _now: Instant, code: u16, info: &[u8]) {
        if self.state == State::Terminated {
            return;
        }
        if self.peer_tag != 0 {
            let c = super::chunk::Cause { code, info };
            let mut causes = vec![0u8; c.encoded_len()];
            let _ = c.write(&mut crate::wire::Writer::new(&mut causes));
            let abort = Chunk::Abort {
                reflected: false,
                causes: &causes,
            };
            self.queue_packet(self.peer_tag, &[abort]);
        }
        self.terminate(if code == cause::USER_ABORT {
            CloseReason::Aborted
        } else {
            CloseReason::ProtocolViolation(code)
        });
    }

    pub(super) fn on_abort(&mut self, causes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        let code = Causes::new(causes)
            .next()
            .and_then(Result::ok)
            .map(|c| c.code);
        self.terminate(CloseReason::AbortedByPeer(code));
    }

    /// Moves the shutdown on once everything we sent is acknowledged.
    pub(super) fn check_shutdown_progress(&mut self, now: Instant) {
        let drained = self.queue.is_empty() && self.inflight.is_empty();
        if !drained {
            return;
        }
        let next = match self.state {
            State::ShutdownPending => State::ShutdownSent,
            State::ShutdownReceived => State::ShutdownAckSent,
            _ => return,
        };
        self.state = next;
        if next == State::ShutdownSent {
            self.shutdown_due = true;
        } else {
            self.shutdown_ack_due = true;
        }
        self.timers.set(Timer::Shutdown, now + self.rto.rto());
        self.timers
            .start_if_idle(Timer::ShutdownGuard, now + self.cfg.rto_max * 5);
    }

    pub(super) fn on_shutdown(&mut self, now: Instant, cum_tsn: u32) {
        match self.state {
            State::Established | State::ShutdownPending | State::ShutdownReceived => {
                // The SHUTDOWN's cumulative TSN acknowledges like a SACK without gaps.
                let sack = super::chunk::Sack {
                    cum_tsn,
                    a_rwnd: (self.peer_rwnd + self.inflight.flight()) as u32,
                    gaps: Default::default(),
                    dups: Default::default(),
                };
                self.on_sack(now, &sack);
                if self.state != State::ShutdownAckSent {
                    self.state = State::ShutdownReceived;
                }
                self.check_shutdown_progress(now);
            }
            State::ShutdownSent => {
                // Both sides shut down at once.
                self.state = State::ShutdownAckSent;
                self.shutdown_ack_due = true;
                self.timers.set(Timer::Shutdown, now + self.rto.rto());
            }
            State::ShutdownAckSent => self.shutdown_ack_due = true,
            _ => {}
        }
    }

    pub(super) fn on_shutdown_ack(&mut self) {
        if matches!(self.state, State::ShutdownSent | State::ShutdownAckSent) {
            let complete = Chunk::ShutdownComplete { reflected: false };
            self.queue_packet(self.peer_tag, &[complete]);
            self.terminate(CloseReason::Shutdown);
        }
    }

    pub(super) fn on_shutdown_complete(&mut self) {
        if self.state == State::ShutdownAckSent {
            self.terminate(CloseReason::Shutdown);
        }
    }

    /// T2-shutdown expired: send SHUTDOWN or SHUTDOWN ACK again.
    pub(super) fn on_shutdown_timeout(&mut self, now: Instant) {
        let resend = match self.state {
            State::ShutdownSent => &mut self.shutdown_due,
            State::ShutdownAckSent => &mut self.shutdown_ack_due,
            _ => return,
        };
        *resend = true;
        if self.count_error() {
            return;
        }
        self.rto.back_off();
        self.timers.set(Timer::Shutdown, now + self.rto.rto());
    }

    /// Answers a HEARTBEAT with its own info (§8.3).
    pub(super) fn on_heartbeat(&mut self, info: &[u8]) {
        if self.heartbeat_acks.len() < 4 && info.len() <= 512 && self.state != State::Closed {
            self.heartbeat_acks.push(info.to_vec());
        }
    }

    pub(super) fn on_heartbeat_ack(&mut self, now: Instant, info: &[u8]) {
        let nonce = Params::new(info).find_map(|p| match p {
            Ok(Param::HeartbeatInfo(v)) if v.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(v);
                Some(u64::from_be_bytes(b))
            }
            _ => None,
        });
        if let Some((expected, sent)) = self.heartbeat_outstanding
            && nonce == Some(expected)
        {
            self.heartbeat_outstanding = None;
            self.errors = 0;
            self.rto.sample(now.saturating_duration_since(sent));
            if let Some(i) = self.cfg.heartbeat_interval {
                self.timers.set(Timer::Heartbeat, now + i + self.rto.rto());
            }
        }
    }

    /// The heartbeat timer: an unanswered heartbeat is an error; an idle association probes.
    pub(super) fn on_heartbeat_timer(&mut self, now: Instant) {
        let Some(interval) = self.cfg.heartbeat_interval else {
            return;
        };
        if !matches!(self.state, State::Established | State::ShutdownPending) {
            return;
        }
        if self.heartbeat_outstanding.take().is_some() && self.count_error() {
            return;
        }
        if self.inflight.is_empty() {
            self.heartbeat_outstanding = Some((self.rng.u64(), now));
            self.heartbeat_due = true;
            self.timers.set(Timer::Heartbeat, now + self.rto.rto());
        } else {
            self.timers
                .set(Timer::Heartbeat, now + interval + self.rto.rto());
        }
    }
}
