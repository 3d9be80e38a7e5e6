//! The RTP level at run time: SRTP keyed from DTLS (RFC 5764 §4.2) and the send side: the
//! outgoing queue (or the pacer, with congestion control), retransmissions and RTCP. The
//! receive side is in `recv.rs`; the order on the wire is in `peer/send.rs`.

use std::collections::VecDeque;
use std::time::Instant;

use super::{MEDIA_QUEUE, Media, Outgoing};
use crate::bwe::{Paced, PacketKind};
use crate::dtls::SrtpKeying;
use crate::media::stream::{Rtx, StreamTx, StreamTxConfig};
use crate::peer::{Error, PeerEvent};
use crate::rtp::{AbsSendTime, ExtensionKind, ExtensionValue, RtpBuilder, RtpHeader, RtpPacket};

/// Packets kept for retransmission per video stream (about 1.5 s of 5 Mbit/s video).
const VIDEO_HISTORY: usize = 1024;
/// The largest RTCP datagram we write.
const RTCP_MAX: usize = 1200;

impl Media {
    /// Keys SRTP from the DTLS exporter once DTLS is connected.
    pub fn on_keys(&mut self, now: Instant, keying: &SrtpKeying) -> Result<(), crate::srtp::Error> {
        self.keyed = true;
        self.epoch(now);
        let profile = crate::srtp::Profile::from(keying.profile.to_u16());
        let cfg = crate::srtp::Config::default();
        let (lk, ls) = keying.local();
        let (rk, rs) = keying.remote();
        self.srtp = Some(crate::srtp::Session {
            outbound: crate::srtp::Context::new(profile, lk, ls, &cfg)?,
            inbound: crate::srtp::Context::new(profile, rk, rs, &cfg)?,
        });
        Ok(())
    }

    /// Queues an RTP packet on transceiver `ti`: our SSRC, the peer's payload type for its
    /// codec, our header extensions, the caller's sequence number, timestamp, marker and
    /// payload.
    ///
    /// Paced (congestion control negotiated), the packet always joins the pacer's queue, which
    /// drops (and counts) its oldest video when over its bounds; unpaced, a full queue is
    /// [`Error::MediaQueueFull`].
    pub fn write_rtp(&mut self, now: Instant, ti: usize, packet: &[u8]) -> Result<(), Error> {
        if !self.bwe.paced && self.out.len() >= MEDIA_QUEUE {
            return Err(Error::MediaQueueFull);
        }
        let pkt = RtpPacket::new_checked(packet).map_err(Error::Rtp)?;
        let epoch = self.epoch(now);
        let ntp = epoch.ntp_at(now);
        // The send stream's seed is drawn once, with the first packet.
        let seed = self.transceivers[ti].tx.is_none().then(|| self.rng.u64());
        let t = &mut self.transceivers[ti];
        if !t.sending() {
            return Err(Error::NotSending);
        }
        let n = t.negotiated.as_ref().ok_or(Error::NotSending)?;
        let codec = n
            .by_any_pt(pkt.payload_type())
            .ok_or(Error::UnknownPayloadType(pkt.payload_type()))?;
        let mid = t.mid.ok_or(Error::NotSending)?;
        let mut ext: smallvec::SmallVec<[(u8, ExtensionValue<'_>); 4]> = smallvec::SmallVec::new();
        if let Some(id) = n.send_extensions.id(ExtensionKind::Mid) {
            ext.push((id, ExtensionValue::Mid(mid.as_str())));
        }
        // Both are written again when the packet leaves (`send_rtp`): the pacer may hold it,
        // and the estimator needs the send order and time.
        if let Some(id) = n.send_extensions.id(ExtensionKind::AbsSendTime) {
            self.abs_send_id = Some(id);
            ext.push((id, ExtensionValue::AbsSendTime(AbsSendTime::from_ntp(ntp))));
        }
        if let Some(id) = n.send_extensions.id(ExtensionKind::TransportCc) {
            self.twcc_send_id = Some(id);
            ext.push((id, ExtensionValue::TransportCc(0)));
        }
        let b = RtpBuilder::new(RtpHeader {
            marker: pkt.marker(),
            payload_type: codec.send_pt,
            sequence_number: pkt.sequence_number(),
            timestamp: pkt.timestamp(),
            ssrc: t.ssrc,
        })
        .extensions(&ext)
        .payload(pkt.payload());
        // Spare buffers keep their old length: `resize` zero-fills only what they grow by,
        // and the builder overwrites every byte it counts.
        let mut data = self.spare.pop().unwrap_or_default();
        data.resize(b.len(), 0);
        let len = b.write(&mut data).map_err(Error::Rtp)?;
        data.truncate(len);
        let tx = match &mut t.tx {
            Some(tx) => tx,
            None => {
                let first = &n.codecs[0];
                let mut cfg = StreamTxConfig::new(t.ssrc, first.codec.clock_rate, epoch);
                cfg.cname = self.cname.clone();
                cfg.seed = seed;
                if first.codec.has_feedback("nack") {
                    cfg.rtx = first.rtx.map(|(send, _)| Rtx {
                        ssrc: t.rtx_ssrc,
                        payload_type: send,
                        associated_payload_type: first.send_pt,
                    });
                    if t.kind == crate::peer::TrackKind::Audio {
                        cfg.history = 128;
                    } else {
                        cfg.history = VIDEO_HISTORY;
                    }
                } else {
                    cfg.history = 0;
                }
                t.tx.insert(StreamTx::new(cfg))
            }
        };
        tx.on_send(now, &data);
        self.due = earliest(self.due, tx.poll_timeout());
        let kind = match t.kind {
            crate::peer::TrackKind::Audio => PacketKind::Audio,
            _ => PacketKind::Video,
        };
        let o = Outgoing { data, kind };
        if self.bwe.paced {
            self.bwe.enqueue(now, o);
            self.take_dropped();
        } else {
            self.out.push_back(o);
        }
        Ok(())
    }

    /// Asks the sender of a transceiver's incoming streams for a keyframe (PLI or FIR as
    /// negotiated), throttled per stream by the stream.
    pub fn request_keyframe(&mut self, now: Instant, ti: usize) -> Result<(), Error> {
        for r in &mut self.transceivers[ti].receivers {
            if r.rx.request_keyframe(now) {
                self.due = Some(now);
            }
        }
        Ok(())
    }

    /// The next protected RTCP packet into `buf` (reports, feedback, NACK, keyframe
    /// requests), and its length.
    pub fn poll_rtcp_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.keyed {
            return None;
        }
        if self.due.is_some_and(|at| at <= now) {
            self.collect_rtcp(now);
        }
        while let Some(data) = self.rtcp.pop_front() {
            let srtp = self.srtp.as_mut()?;
            let len = data.len();
            if buf.len() < len + 64 {
                // Too small a buffer (Protocol: pass one of at least the path MTU): keep it.
                self.rtcp.push_front(data);
                return None;
            }
            buf[..len].copy_from_slice(&data);
            let written = srtp.outbound.protect_rtcp(buf, len).ok();
            self.recycle(data);
            match written {
                Some(n) => {
                    self.counters.rtcp_sent += 1;
                    return Some(n);
                }
                None => self.counters.protect_failed += 1,
            }
        }
        None
    }

    /// The next protected RTP packet into `buf`, and its length: retransmissions first (paced,
    /// they use the pacer's budget), then what the pacer releases at `now`, or, unpaced, what
    /// `write_rtp` queued.
    pub fn poll_media_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.keyed || buf.len() < 64 {
            return None;
        }
        if !self.bwe.paced {
            if let Some(n) = self.poll_retransmit(now, buf) {
                return Some(n);
            }
            while let Some(o) = self.out.pop_front() {
                if buf.len() < o.data.len() + 64 {
                    // Keep it for a call with a larger buffer instead of dropping what the
                    // application wrote.
                    self.out.push_front(o);
                    return None;
                }
                let kind = o.kind;
                if let Some(n) = self.send_rtp(now, buf, o, kind) {
                    return Some(n);
                }
            }
            return None;
        }
        // Retransmissions leave at once, ahead of the queue, and use its budget: a repair
        // that waits behind paced packets arrives after the receiver's NACK retry and is
        // asked for again, and those duplicates kept a bottleneck congested after a capacity
        // drop (the estimate settled at 56% of the new capacity instead of 91%).
        if let Some(n) = self.poll_retransmit(now, buf) {
            self.bwe.charge_retransmission(now, n);
            return Some(n);
        }
        loop {
            let next = self.bwe.poll_paced(now);
            // What waited past the time limit went as the pacer polled.
            self.take_dropped();
            match next? {
                Paced::Packet { item, kind, .. } => {
                    if item.kind == PacketKind::Retransmission
                        && !self.bwe.may_retransmit(now, item.data.len())
                    {
                        self.recycle(item.data);
                        continue;
                    }
                    if buf.len() < item.data.len() + 64 {
                        // Too small a buffer (Protocol: pass one of at least the path MTU):
                        // it goes first on a call with a larger one.
                        self.bwe.requeue(now, item);
                        return None;
                    }
                    if let Some(n) = self.send_rtp(now, buf, item, kind) {
                        return Some(n);
                    }
                }
                Paced::Padding { size, kind } => {
                    if let Some(n) = self.poll_padding(now, buf, size, kind) {
                        return Some(n);
                    }
                }
            }
        }
    }

    /// Protects one RTP packet into `buf` as it leaves: a fresh transport-wide sequence
    /// number and abs-send-time for now, then SRTP; tells the estimator. `None` when SRTP
    /// refused it (counted). `kind` is what the estimator is told (a probe, when the pacer
    /// sent it in a probe cluster).
    fn send_rtp(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        o: Outgoing,
        kind: PacketKind,
    ) -> Option<usize> {
        let rtx = o.kind == PacketKind::Retransmission;
        let len = o.data.len();
        buf[..len].copy_from_slice(&o.data);
        self.recycle(o.data);
        if let Some(id) = self.abs_send_id {
            let ntp = self.epoch(now).ntp_at(now);
            let t = AbsSendTime::from_ntp(ntp).0.to_be_bytes();
            super::bwe::stamp(&mut buf[..len], id, &t[1..]);
        }
        let next = self.twcc_seq.wrapping_add(1);
        let seq = self
            .twcc_send_id
            .is_some_and(|id| super::bwe::Bwe::restamp(&mut buf[..len], id, next))
            .then(|| {
                self.twcc_seq = next;
                next
            });
        let Some(n) = self.srtp.as_mut()?.outbound.protect_rtp(buf, len).ok() else {
            self.counters.protect_failed += 1;
            return None;
        };
        self.counters.rtp_sent += 1;
        self.bwe.on_rtp_sent(now, &buf[..n], seq, n, kind);
        if rtx {
            self.bwe.count_retransmission(now, n);
        }
        self.due = earliest(self.due, self.bwe.poll_timeout());
        Some(n)
    }

    /// Gives an emptied packet buffer back for reuse.
    fn recycle(&mut self, data: Vec<u8>) {
        if self.spare.len() < 64 {
            self.spare.push(data);
        }
    }

    /// Counts and recycles what the pacer dropped.
    pub(super) fn take_dropped(&mut self) {
        while let Some(o) = self.bwe.poll_dropped() {
            self.counters.pacer_dropped += 1;
            self.recycle(o.data);
        }
    }

    /// A queued retransmission (RTX or a plain resend), protected.
    fn poll_retransmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let room = buf.len().checked_sub(64)?;
        for ti in 0..self.transceivers.len() {
            while let Some(n) = self.transceivers[ti]
                .tx
                .as_mut()
                .and_then(|tx| tx.poll_retransmit(now, &mut buf[..room]))
            {
                if !self.bwe.may_retransmit(now, n) {
                    continue;
                }
                let mut data = self.spare.pop().unwrap_or_default();
                data.clear();
                data.extend_from_slice(&buf[..n]);
                let kind = PacketKind::Retransmission;
                if let Some(n) = self.send_rtp(now, buf, Outgoing { data, kind }, kind) {
                    return Some(n);
                }
            }
        }
        None
    }

    /// Moves every stream's due RTCP into the queue and finds the next due time.
    fn collect_rtcp(&mut self, now: Instant) {
        let mut scratch = self.spare.pop().unwrap_or_default();
        scratch.resize(RTCP_MAX, 0);
        let mut due = None;
        self.bwe.handle_timeout(now);
        let sender = self.transceivers.first().map_or(0, |t| t.ssrc);
        while let Some(n) = self.bwe.poll_rtcp(now, sender, &mut scratch) {
            push_rtcp(&mut self.rtcp, &mut self.spare, &scratch[..n]);
        }
        due = earliest(due, self.bwe.poll_timeout());
        for t in &mut self.transceivers {
            if let Some(tx) = &mut t.tx {
                while let Some(n) = tx.poll_rtcp(now, &mut scratch) {
                    push_rtcp(&mut self.rtcp, &mut self.spare, &scratch[..n]);
                }
                due = earliest(due, tx.poll_timeout());
            }
            for r in &mut t.receivers {
                while let Some(n) = r.rx.poll_rtcp(now, t.ssrc, &mut scratch) {
                    push_rtcp(&mut self.rtcp, &mut self.spare, &scratch[..n]);
                }
                due = earliest(due, r.rx.poll_timeout());
            }
        }
        self.spare.push(scratch);
        self.due = due;
    }

    /// Runs the streams' timers (reports, NACK retries).
    pub fn handle_timeout(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        self.frames_timeout(now, events);
        if self.keyed && self.due.is_some_and(|at| at <= now) {
            self.collect_rtcp(now);
        }
    }

    /// When a stream next has something to send, or the pacer lets the next packet go.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.keyed {
            return None;
        }
        let t = earliest(self.due, self.frames_due());
        earliest(t, self.bwe.pacer_timeout())
    }
}

/// Queues one RTCP datagram (it goes ahead of all RTP: feedback is small and late feedback
/// is useless); past the queue bound it is dropped (the next report carries the same state).
fn push_rtcp(out: &mut VecDeque<Vec<u8>>, spare: &mut Vec<Vec<u8>>, bytes: &[u8]) {
    if out.len() >= MEDIA_QUEUE {
        return;
    }
    let mut data = spare.pop().unwrap_or_default();
    data.clear();
    data.extend_from_slice(bytes);
    out.push_back(data);
}

pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
