//! The send path: bundling chunks into packets (RFC 9260 §6.10), SACK processing (§6.2.1,
//! §7.2), retransmission (§6.3, §7.2.4) and FORWARD-TSN (RFC 3758 §3.5).

use super::association::{Association, State};
use super::chunk::{Chunk, DATA_HEADER, I_DATA_HEADER, Sack};
use super::packet::{HEADER_LEN, Header, PacketWriter};
use super::send_queue::Truncated;
use super::timer::Timer;
use std::time::Instant;

impl Association {
    /// Writes the next packet to send into `buf` and returns its length, or `None` when there
    /// is nothing to send now. Call until it returns `None`. `buf` should hold at least
    /// [`Config::mtu`](super::Config::mtu) bytes; packets are never larger.
    pub fn poll_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.epoch.get_or_insert(now);
        while let Some(p) = self.out_packets.pop_front() {
            if let Some(dst) = buf.get_mut(..p.len()) {
                dst.copy_from_slice(&p);
                self.stats.packets_sent += 1;
                return Some(p.len());
            }
        }
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownSent
                | State::ShutdownReceived
                | State::ShutdownAckSent
        ) {
            return None;
        }
        self.collect_abandoned();
        self.maybe_start_reset();
        let limit = buf.len().min(self.cfg.mtu);
        let header = Header {
            src_port: self.cfg.local_port,
            dst_port: self.cfg.remote_port,
            vtag: self.peer_tag,
        };
        let mut pw = PacketWriter::new(&mut buf[..limit], header).ok()?;
        let data_ready = self.data_ready();
        if self.ack.pending && (self.ack.immediate || data_ready || self.control_pending()) {
            self.write_sack(&mut pw);
        }
        // Nothing to write without one of these (most packets): the call is skipped.
        if self.control_pending() {
            self.write_control(now, &mut pw);
        }
        self.write_retransmissions(now, &mut pw);
        self.write_new_data(now, &mut pw);
        self.collect_abandoned();
        if pw.is_empty() && self.fwd_due {
            self.write_control(now, &mut pw);
        }
        while let Some(s) = self.queue.low.pop() {
            self.events
                .push_back(super::association::Event::BufferedAmountLow(s));
        }
        if pw.is_empty() {
            return None;
        }
        self.stats.packets_sent += 1;
        Some(pw.finish(self.zero_checksum()))
    }

    fn data_ready(&self) -> bool {
        let cwnd_open = self.inflight.flight() < self.cc.cwnd();
        (self.inflight.has_lost() && (cwnd_open || self.fast_rtx_burst))
            || (!self.queue.is_empty() && cwnd_open && self.can_send_new())
    }

    fn can_send_new(&self) -> bool {
        matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownReceived
        )
    }

    fn control_pending(&self) -> bool {
        self.fwd_due
            || self.heartbeat_due
            || !self.heartbeat_acks.is_empty()
            || !self.error_chunks.is_empty()
            || self.shutdown_due
            || self.shutdown_ack_due
            || self.reconfig_pending()
    }

    /// Abandoned messages: drop what is left of them in the send queue, and schedule a
    /// FORWARD-TSN.
    fn collect_abandoned(&mut self) {
        // Checked first: taking the empty vector costs more than the test, twice a packet.
        if !self.inflight.truncated.is_empty() {
            for (stream, msg) in std::mem::take(&mut self.inflight.truncated) {
                self.queue.discard(stream, msg);
            }
        }
        if self.inflight.abandoned_any {
            self.fwd_due = true;
            self.inflight.abandoned_any = false;
        }
    }

    fn write_control(&mut self, now: Instant, pw: &mut PacketWriter<'_>) {
        if self.fwd_due {
            match self.inflight.forward_tsn(pw.remaining()) {
                Some(f) => {
                    let chunk = if self.caps.interleaving {
                        Chunk::IForwardTsn(f)
                    } else {
                        Chunk::ForwardTsn(f)
                    };
                    if self.caps.forward_tsn && pw.push(&chunk) {
                        self.fwd_due = false;
                        self.fwd_sent_at = Some(now);
                        self.stats.forward_tsns_sent += 1;
                    }
                }
                // Nothing to forward, or no room left in this packet: an empty one follows.
                None => self.fwd_due = self.inflight.forward_pending() && !pw.is_empty(),
            }
        }
        self.write_reconfig(now, pw);
        while let Some(info) = self.heartbeat_acks.last() {
            if !pw.push(&Chunk::HeartbeatAck(info)) {
                break;
            }
            self.heartbeat_acks.pop();
        }
        if self.heartbeat_due
            && let Some((nonce, _)) = self.heartbeat_outstanding
        {
            let mut info = [0u8; 12];
            let p = super::param::Param::HeartbeatInfo(&nonce.to_be_bytes()[..]);
            let _ = p.write(&mut crate::wire::Writer::new(&mut info));
            if pw.push(&Chunk::Heartbeat(&info)) {
                self.heartbeat_due = false;
            }
        }
        while let Some(c) = self.error_chunks.last() {
            if !pw.push(&Chunk::Error(c)) {
                break;
            }
            self.error_chunks.pop();
        }
        if self.shutdown_due
            && pw.push(&Chunk::Shutdown {
                cum_tsn: self.recv.cum_tsn(),
            })
        {
            self.shutdown_due = false;
        }
        if self.shutdown_ack_due && pw.push(&Chunk::ShutdownAck) {
            self.shutdown_ack_due = false;
        }
    }

    fn write_retransmissions(&mut self, now: Instant, pw: &mut PacketWriter<'_>) {
        let mut wrote = false;
        while let Some(tsn) = self.inflight.peek_retransmit(now) {
            // RFC 9260 §7.2.4: the first fast-retransmit packet goes regardless of cwnd.
            if !self.fast_rtx_burst && self.inflight.flight() >= self.cc.cwnd() {
                break;
            }
            let Some(e) = self.inflight.get(tsn) else {
                break;
            };
            let Some(payload) = self.inflight.payload(&e.frag) else {
                break;
            };
            if !pw.push(&self.data_chunk(tsn, payload, &e.frag)) {
                break;
            }
            self.inflight.retransmitted(tsn, now);
            self.stats.retransmissions += 1;
            wrote = true;
        }
        if wrote {
            self.fast_rtx_burst = false;
            self.timers.start_if_idle(Timer::Rtx, now + self.rto.rto());
        }
    }

    fn write_new_data(&mut self, now: Instant, pw: &mut PacketWriter<'_>) {
        if !self.can_send_new() || self.queue.is_empty() {
            return;
        }
        // RFC 9260 §7.2.1: after an idle RTO the window decays.
        if self.inflight.is_empty()
            && self
                .last_data_sent
                .is_some_and(|t| now.saturating_duration_since(t) > self.rto.rto())
        {
            self.cc.on_idle(self.cfg.initial_cwnd_mtus);
        }
        let il = self.caps.interleaving;
        let hdr = if il { I_DATA_HEADER } else { DATA_HEADER };
        let max_frag = (self.cfg.mtu.saturating_sub(HEADER_LEN + hdr) & !3).max(4);
        let mut truncated = Vec::<Truncated>::new();
        loop {
            if self.inflight.flight() >= self.cc.cwnd()
                || self.inflight.retained() >= self.cfg.max_inflight
            {
                break;
            }
            // RFC 9260 §6.1 A: respect the peer's window, but probe a closed one when nothing
            // is in flight. Small windows wait (silly window avoidance).
            let probe = self.inflight.flight() == 0;
            if self.peer_rwnd < max_frag && !probe {
                break;
            }
            let room = pw.remaining().saturating_sub(hdr) & !3;
            // Only a small room asks what comes next (a stream lookup): a message that does
            // not fit it waits for a packet of its own rather than leave a sliver here.
            if room == 0
                || (room < max_frag / 2 && self.queue.front_remaining().unwrap_or(0) > room)
            {
                break;
            }
            let inflight = &mut self.inflight;
            let Some(frag) = self.queue.next_fragment(
                now,
                room.min(max_frag),
                il,
                &mut truncated,
                |msg, data, last, slot| inflight.hold(msg, data, last, slot),
            ) else {
                break;
            };
            let len = frag.len;
            if let Some(x) = frag.expires {
                self.timers.start_if_idle(Timer::Expiry, x);
            }
            let tsn = self.inflight.push(frag, now);
            if let Some(e) = self.inflight.get(tsn)
                && let Some(payload) = self.inflight.payload(&e.frag)
            {
                let pushed = pw.push(&self.data_chunk(tsn, payload, &e.frag));
                debug_assert!(pushed, "fragment sized to the room left");
            }
            self.peer_rwnd = self.peer_rwnd.saturating_sub(len);
            self.stats.data_chunks_sent += 1;
            self.last_data_sent = Some(now);
            self.timers.start_if_idle(Timer::Rtx, now + self.rto.rto());
        }
        for t in truncated {
            self.inflight.abandon_sent_part(t.msg);
        }
    }

    /// RFC 9260 §6.2.1 and §7.2.
    pub(super) fn on_sack(&mut self, now: Instant, sack: &Sack) {
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownSent
                | State::ShutdownReceived
        ) {
            return;
        }
        // RFC 9260 §6.2.1 acknowledges only what was sent: a Cumulative TSN Ack at or past
        // the next TSN we would send is a protocol violation (a receiver that took a forged
        // FORWARD-TSN, or a forged SACK). Dropping it in silence would leave both sides
        // waiting for ever, so abort and say why.
        let cum = self.inflight.unwrap(sack.cum_tsn);
        if cum >= self.inflight.next_tsn() {
            let mut info = [0u8; 4];
            info.copy_from_slice(&sack.cum_tsn.to_be_bytes());
            self.abort_with(now, super::chunk::cause::PROTOCOL_VIOLATION, &info);
            return;
        }
        let flight_before = self.inflight.flight();
        let srtt = self.rto.srtt().unwrap_or(self.cfg.rto_initial);
        let reorder = self.reorder_window();
        let Some(s) = self
            .inflight
            .on_sack(now, sack.cum_tsn, &sack.gaps, reorder)
        else {
            return;
        };
        // New data acknowledged, or a closed window (the peer is there, just not reading, and
        // drops our zero-window probes): either way it is reachable (RFC 9260 §8.1).
        if s.acked_bytes > 0 || (sack.a_rwnd as usize) < self.cfg.mtu {
            self.errors = 0;
        }
        if let Some(rtt) = s.rtt {
            self.rto.sample(rtt);
        }
        let highest_sent = self.inflight.next_tsn() - 1;
        self.cc.on_ack(
            now,
            s.acked_bytes,
            s.acked_chunks,
            self.inflight.cum(),
            highest_sent,
            flight_before,
            s.rtt,
        );
        if s.newly_lost > 0 && self.cc.on_loss(s.newly_lost, highest_sent) {
            self.fast_rtx_burst = true;
            self.stats.fast_recoveries += 1;
        }
        if let Some(at) = s.loss_timer {
            self.timers.set(Timer::Loss, at);
        }
        self.peer_rwnd = (sack.a_rwnd as usize).saturating_sub(self.inflight.flight());
        // RFC 9260 §6.3.2 R2, R3.
        if self.inflight.is_empty() {
            self.timers.stop(Timer::Rtx);
        } else if s.cum_advanced {
            self.timers.set(Timer::Rtx, now + self.rto.rto());
        }
        self.collect_abandoned();
        // RFC 3758 §3.5 C3: the peer is still short of our ack point. Our FORWARD-TSN may be
        // lost; send it again, but at most once per round trip rather than per SACK.
        if self.inflight.forward_pending()
            && self
                .fwd_sent_at
                .is_none_or(|t| now.saturating_duration_since(t) >= srtt)
        {
            self.fwd_due = true;
        }
        self.check_shutdown_progress(now);
    }

    /// How long an overtaken chunk may be late before it is lost: RACK's 1.25 SRTT.
    fn reorder_window(&self) -> std::time::Duration {
        let srtt = self.rto.srtt().unwrap_or(self.cfg.rto_initial);
        srtt + srtt / 4
    }

    /// The reorder timer: overtaken holes that are now old enough are lost.
    pub(super) fn on_loss_timer(&mut self, now: Instant) {
        let (lost, next) = self.inflight.on_loss_timer(now, self.reorder_window());
        if lost > 0 && self.cc.on_loss(lost, self.inflight.next_tsn() - 1) {
            self.fast_rtx_burst = true;
            self.stats.fast_recoveries += 1;
        }
        if let Some(at) = next {
            self.timers.set(Timer::Loss, at);
        }
        self.collect_abandoned();
    }

    /// T3-rtx expired (RFC 9260 §6.3.3).
    pub(super) fn on_rtx_timeout(&mut self, now: Instant) {
        if self.inflight.is_empty() {
            return;
        }
        self.stats.timeouts += 1;
        if self.count_error() {
            return;
        }
        self.rto.back_off();
        self.cc.on_timeout();
        self.inflight.mark_all_lost(now);
        if self.inflight.forward_pending() {
            self.fwd_due = true;
        }
        self.collect_abandoned();
        self.timers.set(Timer::Rtx, now + self.rto.rto());
    }
}
