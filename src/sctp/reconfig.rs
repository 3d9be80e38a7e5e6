//! Stream reset (RFC 6525): outgoing SSN reset requests and their responses, which close data
//! channels (RFC 8831 §6.7) and make stream ids reusable.
//!
//! One request is outstanding at a time (RFC 6525 §5.1.1); streams closed meanwhile wait and
//! go together in the next one. A peer's request is performed once every TSN up to its
//! "last assigned TSN" has arrived (§5.2.2 deferred reset); until then a retransmitted request
//! is answered "in progress".

use super::association::{Association, Event, State};
use super::chunk::Chunk;
use super::packet::PacketWriter;
use super::param::{Param, Params, ReconfigResult, StreamList};
use super::timer::Timer;
use crate::wire::Writer;
use smallvec::SmallVec;
use std::time::Instant;

/// Streams per request: keeps the RE-CONFIG chunk well inside a 1200-byte packet.
const MAX_STREAMS_PER_REQUEST: usize = 128;

#[derive(Debug)]
struct Request {
    seq: u32,
    last_tsn: u32,
    streams: StreamList,
}

#[derive(Debug)]
pub(super) struct Reconfig {
    next_seq: u32,
    outstanding: Option<Request>,
    resend: bool,
    peer_next: u32,
    last_response: Option<(u32, ReconfigResult)>,
    deferred: Option<Request>,
    responses: SmallVec<[(u32, ReconfigResult); 2]>,
}

impl Reconfig {
    /// RFC 6525 §5.1.1: request sequence numbers start at the sender's initial TSN.
    pub(super) fn new(local_tsn: u32, peer_tsn: u32) -> Self {
        Self {
            next_seq: local_tsn,
            outstanding: None,
            resend: false,
            peer_next: peer_tsn,
            last_response: None,
            deferred: None,
            responses: SmallVec::new(),
        }
    }
}

impl Association {
    pub(super) fn reconfig_pending(&self) -> bool {
        self.reconfig.resend || !self.reconfig.responses.is_empty()
    }

    /// Puts the closed streams whose data has all been sent into a request, if none is out.
    pub(super) fn maybe_start_reset(&mut self) {
        if !self.queue.has_closing()
            || self.reconfig.outstanding.is_some()
            || self.state != State::Established
        {
            return;
        }
        let streams = self.queue.take_resettable(MAX_STREAMS_PER_REQUEST);
        if streams.is_empty() {
            return;
        }
        if !self.caps.reconfig {
            // The peer cannot reset streams; the ids stay taken.
            self.queue.reset_failed(&streams);
            self.events
                .push_back(Event::OutgoingStreamsResetFailed(streams));
            return;
        }
        let seq = self.reconfig.next_seq;
        self.reconfig.next_seq = seq.wrapping_add(1);
        self.reconfig.outstanding = Some(Request {
            seq,
            last_tsn: (self.inflight.next_tsn() - 1) as u32,
            streams,
        });
        self.reconfig.resend = true;
    }

    pub(super) fn write_reconfig(&mut self, now: Instant, pw: &mut PacketWriter<'_>) {
        if !self.reconfig_pending() {
            return;
        }
        let mut params: SmallVec<[Param<'_>; 3]> = SmallVec::new();
        let request = self
            .reconfig
            .outstanding
            .as_ref()
            .filter(|_| self.reconfig.resend);
        if let Some(r) = request {
            params.push(Param::OutgoingReset {
                request_seq: r.seq,
                response_seq: self.reconfig.peer_next.wrapping_sub(1),
                last_tsn: r.last_tsn,
                streams: r.streams.clone(),
            });
        }
        for &(seq, result) in self.reconfig.responses.iter().take(2) {
            params.push(Param::ReconfigResponse {
                response_seq: seq,
                result,
                tsns: None,
            });
        }
        let mut buf = [0u8; 16 + 2 * MAX_STREAMS_PER_REQUEST + 2 * 12];
        let mut w = Writer::new(&mut buf);
        if params.iter().any(|p| p.write(&mut w).is_err()) {
            return;
        }
        let n = w.position();
        if !pw.push(&Chunk::Reconfig(&buf[..n])) {
            return;
        }
        let sent_request = request.is_some();
        let answered = params.len() - usize::from(sent_request);
        self.reconfig.responses.drain(..answered);
        if sent_request {
            self.reconfig.resend = false;
            self.timers.set(Timer::Reconfig, now + self.rto.rto());
        }
    }

    /// RFC 6525 §5.1.1: the request went unanswered; send it again.
    pub(super) fn on_reconfig_timeout(&mut self, _now: Instant) {
        if self.reconfig.outstanding.is_some() && !self.count_error() {
            self.rto.back_off();
            self.reconfig.resend = true;
        }
    }

    pub(super) fn on_reconfig(&mut self, now: Instant, params: &[u8]) {
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            return;
        }
        for p in Params::new(params).take(2) {
            let Ok(p) = p else { return };
            match p {
                Param::OutgoingReset {
                    request_seq,
                    last_tsn,
                    streams,
                    ..
                } => self.on_peer_reset(now, request_seq, last_tsn, streams),
                Param::IncomingReset { request_seq, .. }
                | Param::SsnTsnReset { request_seq }
                | Param::AddStreams { request_seq, .. } => {
                    // WebRTC closes channels with outgoing resets only; we refuse the rest.
                    self.answer(request_seq, |_| Some(ReconfigResult::Denied));
                }
                Param::ReconfigResponse {
                    response_seq,
                    result,
                    ..
                } => self.on_reset_response(response_seq, result),
                _ => {}
            }
        }
    }

    /// Answers request `seq`: a new one through `new` (`None`: answered later), a
    /// retransmitted one with the answer it got, anything else as a bad sequence number
    /// (RFC 6525 §5.2.1).
    fn answer(&mut self, seq: u32, new: impl FnOnce(&mut Self) -> Option<ReconfigResult>) {
        let r = &self.reconfig;
        let result = if seq == r.peer_next {
            self.reconfig.peer_next = seq.wrapping_add(1);
            new(self)
        } else if seq == r.peer_next.wrapping_sub(1) {
            match (&r.deferred, r.last_response) {
                (Some(d), _) if d.seq == seq => Some(ReconfigResult::InProgress),
                (_, Some((s, res))) if s == seq => Some(res),
                _ => Some(ReconfigResult::ErrorBadSequenceNumber),
            }
        } else {
            Some(ReconfigResult::ErrorBadSequenceNumber)
        };
        if let Some(result) = result {
            self.respond(seq, result);
        }
    }

    fn respond(&mut self, seq: u32, result: ReconfigResult) {
        let r = &mut self.reconfig;
        r.responses.retain(|&mut (s, _)| s != seq);
        if r.responses.len() >= 2 {
            r.responses.remove(0);
        }
        r.responses.push((seq, result));
        if result != ReconfigResult::InProgress {
            r.last_response = Some((seq, result));
        }
    }

    fn on_peer_reset(&mut self, now: Instant, seq: u32, last_tsn: u32, streams: StreamList) {
        self.answer(seq, |a| {
            a.reconfig.deferred = Some(Request {
                seq,
                last_tsn,
                streams,
            });
            None
        });
        self.check_deferred_reset(now);
    }

    /// Performs a deferred peer reset once every TSN up to its last assigned one arrived.
    pub(super) fn check_deferred_reset(&mut self, _now: Instant) {
        let Some(d) = &self.reconfig.deferred else {
            return;
        };
        if self.recv.unwrap(d.last_tsn) > self.recv.cum() {
            return;
        }
        let Some(d) = self.reconfig.deferred.take() else {
            return;
        };
        self.reasm.reset_streams(&d.streams);
        self.respond(d.seq, ReconfigResult::SuccessPerformed);
        self.events
            .push_back(Event::IncomingStreamsReset(d.streams));
    }

    fn on_reset_response(&mut self, seq: u32, result: ReconfigResult) {
        let Some(r) = self.reconfig.outstanding.as_ref().filter(|r| r.seq == seq) else {
            return;
        };
        match result {
            ReconfigResult::InProgress => {
                // The timer stays armed; the request goes again when it fires.
                return;
            }
            ReconfigResult::SuccessPerformed | ReconfigResult::SuccessNothingToDo => {
                self.queue.reset_done(&r.streams);
                self.events
                    .push_back(Event::OutgoingStreamsReset(r.streams.clone()));
            }
            _ => {
                self.queue.reset_failed(&r.streams);
                self.events
                    .push_back(Event::OutgoingStreamsResetFailed(r.streams.clone()));
            }
        }
        self.reconfig.outstanding = None;
        self.reconfig.resend = false;
        self.timers.stop(Timer::Reconfig);
    }
}
