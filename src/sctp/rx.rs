//! The receive path: DATA and I-DATA (RFC 9260 §6.2, RFC 8260), FORWARD-TSN (RFC 3758 §3.6),
//! and when to acknowledge (§6.2 delayed acks).

use super::association::{Association, CloseReason, State};
use super::chunk::{Data, ForwardTsn, cause};
use super::recv::{Arrival, Forward};
use super::timer::Timer;
use bytes::Bytes;
use std::time::Instant;

/// How long a run of duplicate-only DATA packets must last before it counts as a stall (see
/// `check_stall`): as long as ICE consent allows a silent path (RFC 7675 §5.1).
const STALL_TIME: std::time::Duration = std::time::Duration::from_secs(30);

impl Association {
    /// One DATA or I-DATA chunk. Returns whether it counts as data for the ack policy.
    /// `owner` holds the packet when payloads may be kept as slices of it.
    pub(super) fn on_data(
        &mut self,
        now: Instant,
        d: &Data<'_>,
        idata: bool,
        owner: Option<&Bytes>,
    ) -> bool {
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            return false;
        }
        // RFC 8260 §2.2.3: the chunk type must match what was negotiated.
        if idata != self.caps.interleaving {
            self.stats.packets_dropped += 1;
            return false;
        }
        let tsn = self.recv.unwrap(d.tsn);
        if d.payload.is_empty() {
            // RFC 9260 §6.2: a DATA chunk with no user data is a protocol error.
            let mut info = [0u8; 4];
            info.copy_from_slice(&d.tsn.to_be_bytes());
            self.abort_with(now, cause::NO_USER_DATA, &info);
            return false;
        }
        self.ack.pending = true;
        if self.recv.contains(tsn) {
            self.recv.arrive(tsn);
            self.stats.duplicates_received += 1;
            self.ack.duplicate_in_packet = true;
            self.ack.immediate = true;
            return true;
        }
        if !self.room_for(tsn, d.payload.len()) || !self.recv.acceptable(tsn) {
            // Dropped without a trace: the peer retransmits once our window reopens.
            self.stats.data_dropped += 1;
            self.ack.immediate = true;
            return true;
        }
        if self.recv.arrive(tsn) != Arrival::New {
            return true;
        }
        self.ack.new_in_packet = true;
        if d.stream >= self.in_streams {
            // RFC 9260 §6.5: acknowledge it, drop it, and report the stream.
            let mut info = [0u8; 4];
            info[..2].copy_from_slice(&d.stream.to_be_bytes());
            if self.error_chunks.len() < 4 {
                self.queue_error(cause::INVALID_STREAM, &info);
            }
        } else {
            self.reasm.insert(tsn, d, owner, &mut self.delivered);
            self.flush_delivered();
        }
        // RFC 9260 §6.7: out-of-order arrival (or a hole filled) is acknowledged at once.
        if tsn != self.recv.cum() || self.recv.has_gaps() || d.immediate {
            self.ack.immediate = true;
        }
        self.check_deferred_reset(now);
        true
    }

    /// RFC 9260 §6.2: a SACK for every second packet with DATA, else within the delay.
    pub(super) fn after_data_packet(&mut self, now: Instant) {
        if self.check_stall(now) {
            return;
        }
        self.ack.packets += 1;
        if self.ack.packets >= 2 {
            self.ack.immediate = true;
        }
        if self.ack.immediate {
            self.timers.stop(Timer::DelayedAck);
        } else {
            self.timers
                .start_if_idle(Timer::DelayedAck, now + self.cfg.delayed_ack);
        }
    }

    /// Whether the peer has stopped hearing our acknowledgements, judged from the packet just
    /// handled; if so the association is aborted and reported as [`CloseReason::Stalled`].
    ///
    /// A peer retransmits DATA we already hold only when it missed our SACKs, or when it
    /// counts TSNs differently (a forged or buggy FORWARD-TSN moved our cumulative TSN past
    /// what it sent). Each of its retransmission timeouts sends such a packet, and RFC 9260
    /// §8.1 has it give up after Association.Max.Retrans of them in a row; more packets than
    /// that carrying only duplicates, with nothing new between them, mean the association
    /// no longer moves. Saying so beats leaving a channel "open" that loses every message.
    fn check_stall(&mut self, now: Instant) -> bool {
        let (new, dup) = (self.ack.new_in_packet, self.ack.duplicate_in_packet);
        self.ack.new_in_packet = false;
        self.ack.duplicate_in_packet = false;
        if new {
            self.ack.duplicate_run = 0;
            self.ack.duplicate_run_since = None;
        } else if dup {
            self.ack.duplicate_run += 1;
            self.ack.duplicate_run_since.get_or_insert(now);
        }
        // Count alone is not enough: over a lossy path a sender whose SACKs were lost resends
        // a whole window after its timeout, many duplicate packets in a row (aiortc did, at 5%
        // loss). A stall is duplicates only, more than a sender may retransmit, over a time no
        // lost-SACK episode lasts.
        let long = self
            .ack
            .duplicate_run_since
            .is_some_and(|t| now.saturating_duration_since(t) >= STALL_TIME);
        if self.ack.duplicate_run <= self.cfg.max_retransmits || !long {
            return false;
        }
        // RFC 9260 §3.3.10.13: Protocol Violation may carry what was detected.
        self.abort_with(
            now,
            cause::PROTOCOL_VIOLATION,
            b"stalled: our SACKs go unheard",
        );
        self.replace_close_reason(CloseReason::Stalled);
        true
    }

    /// RFC 3758 §3.6 and RFC 8260 §2.3.
    pub(super) fn on_forward_tsn(&mut self, now: Instant, f: &ForwardTsn, interleaved: bool) {
        if !self.caps.forward_tsn
            || interleaved != self.caps.interleaving
            || !matches!(
                self.state,
                State::Established | State::ShutdownPending | State::ShutdownSent
            )
        {
            return;
        }
        self.ack.pending = true;
        self.ack.immediate = true;
        let new_cum = self.recv.unwrap(f.new_cum_tsn);
        match self.recv.forward(new_cum) {
            Forward::Moved => {}
            Forward::Stale => return,
            Forward::TooFar => {
                // Refused as DATA that far ahead is (see `RecvTsns::forward`); the SACK we
                // send back still shows the peer where we are.
                self.stats.forward_tsns_refused += 1;
                return;
            }
        }
        self.reasm.forward(new_cum, &f.streams, &mut self.delivered);
        self.flush_delivered();
        self.check_deferred_reset(now);
    }

    /// Writes a SACK into `w` if one fits, using what room is left for gap blocks.
    pub(super) fn write_sack(&mut self, pw: &mut super::packet::PacketWriter<'_>) -> bool {
        let room = pw.remaining();
        if room < 16 {
            return false;
        }
        // Leave room for the duplicate TSNs the SACK may carry too.
        let max_gaps = (room - 16).saturating_sub(4 * 16) / 4;
        let rwnd = self.a_rwnd();
        let sack = self
            .recv
            .sack(u32::try_from(rwnd).unwrap_or(u32::MAX), max_gaps);
        let chunk = super::chunk::Chunk::Sack(sack);
        if !pw.push(&chunk) {
            return false;
        }
        self.ack.pending = false;
        self.ack.immediate = false;
        self.ack.packets = 0;
        self.ack.last_rwnd = rwnd;
        self.timers.stop(Timer::DelayedAck);
        true
    }
}
