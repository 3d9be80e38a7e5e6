//! The RTP level at run time: SRTP keyed from DTLS (RFC 5764 §4.2) and the send side: the
//! outgoing queue (or the pacer, with congestion control), retransmissions and RTCP. The
//! receive side is in `recv.rs`; the order on the wire is in `peer/send.rs`.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, Bytes};

use super::{MEDIA_QUEUE, Media, Outgoing, Stamps};
use crate::bwe::{Paced, PacketKind};
use crate::dtls::SrtpKeying;
use crate::media::stream::{Rtx, StreamTx, StreamTxConfig};
use crate::peer::jsep::Mid;
use crate::peer::{Error, PeerEvent};
use crate::rtp::{
    AbsSendTime, ExtensionKind, ExtensionMap, ExtensionValue, RtpBuilder, RtpHeader, RtpPacket,
};

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
        self.queue_rtp(now, ti, Packet::Copied(packet))
    }

    /// Queues an RTP packet as [`write_rtp`](Self::write_rtp) does, keeping its payload by
    /// reference: only the rewritten header is written here, and the payload stays a slice
    /// of `packet` in the queue and the RTX history until it is sealed.
    pub fn write_rtp_bytes(&mut self, now: Instant, ti: usize, packet: Bytes) -> Result<(), Error> {
        self.queue_rtp(now, ti, Packet::Shared(packet))
    }

    /// `write_rtp` or `write_rtp_bytes`, by the kind of `packet`.
    fn queue_rtp(&mut self, now: Instant, ti: usize, packet: Packet<'_>) -> Result<(), Error> {
        if !self.bwe.paced && self.out.len() >= MEDIA_QUEUE {
            return Err(refused(Error::MediaQueueFull));
        }
        let bytes = match &packet {
            Packet::Copied(p) => p,
            Packet::Shared(b) => &b[..],
        };
        let pkt = RtpPacket::new_checked(bytes).map_err(|e| refused(Error::Rtp(e)))?;
        let epoch = self.epoch(now);
        // The send stream's seed is drawn once, with the first packet.
        let seed = self.transceivers[ti].tx.is_none().then(|| self.rng.u64());
        let t = &mut self.transceivers[ti];
        if !t.sending() {
            return Err(refused(Error::NotSending));
        }
        // Not `ok_or`: an error made eagerly is dropped on every packet (a call, as `Error`
        // has variants that own memory).
        let Some(n) = t.negotiated.as_ref() else {
            return Err(refused(Error::NotSending));
        };
        let Some(mid) = t.mid.as_ref() else {
            return Err(refused(Error::NotSending));
        };
        // Our extensions are the same on every packet of the transceiver (their times are
        // stamped as it leaves): serialised once per negotiation, then copied.
        let tpl = match &mut t.template {
            Some(tpl) if tpl.mid == *mid => tpl,
            slot => SendTemplate::renew(slot, *mid, &n.send_extensions),
        };
        let pt = pkt.payload_type();
        let send_pt = match tpl.pt {
            Some((written, sent)) if written == pt => sent,
            _ => {
                let codec = n
                    .by_any_pt(pt)
                    .ok_or_else(|| refused(Error::UnknownPayloadType(pt)))?;
                tpl.pt = Some((pt, codec.send_pt));
                codec.send_pt
            }
        };
        if tpl.abs_send_id.is_some() {
            self.abs_send_id = tpl.abs_send_id;
        }
        if tpl.twcc_send_id.is_some() {
            self.twcc_send_id = tpl.twcc_send_id;
        }
        let stamps = tpl.stamps;
        let mut data = self.spare.pop().unwrap_or_default();
        // Room for the payload too when it is copied in after the header.
        let room = match packet {
            Packet::Copied(_) => pkt.payload().len(),
            Packet::Shared(_) => 0,
        };
        tpl.write_header(&mut data, &pkt, send_pt, t.ssrc, room);
        let start = pkt.header_len();
        let end = start + pkt.payload().len();
        // The rewritten header keeps these.
        let facts = (pkt.sequence_number(), pkt.timestamp());
        let payload = match packet {
            Packet::Copied(p) => {
                data.extend_from_slice(&p[start..end]);
                Bytes::new()
            }
            // The caller's reference becomes the queue's: no count taken or given back.
            Packet::Shared(mut b) => {
                // Padding, if any, is cut (a call saved on the packets without).
                if end < b.len() {
                    b.truncate(end);
                }
                b.advance(start);
                b
            }
        };
        let tx = match &mut t.tx {
            Some(tx) => tx,
            None => {
                let ids = (t.ssrc, t.rtx_ssrc, t.kind);
                t.tx.insert(new_stream(ids, n, self.cname.clone(), epoch, seed))
            }
        };
        // Unpaced, a packet leaves in order with the next poll: its payload goes into the
        // history then, moved from the queue rather than counted twice more.
        let mut history = None;
        let scheduled = tx.report_scheduled();
        if payload.is_empty() {
            tx.on_send(now, &data);
        } else if self.bwe.paced {
            tx.on_send_shared(now, &data, payload.clone());
        } else {
            tx.on_send_header(now, &data, facts, payload.len());
            history = Some(ti);
        }
        if !scheduled {
            // The first packet schedules the first report.
            self.due = earliest(self.due, tx.poll_timeout());
        }
        let kind = match t.kind {
            crate::peer::TrackKind::Audio => PacketKind::Audio,
            _ => PacketKind::Video,
        };
        let o = Outgoing {
            data,
            payload,
            kind,
            stamps: Some(stamps),
            history,
        };
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
    #[inline]
    pub fn poll_rtcp_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // Nothing queued or due (the time between reports, every RTP packet asks first): no
        // call.
        if !self.keyed || (self.rtcp.is_empty() && self.due.is_none_or(|at| now < at)) {
            return None;
        }
        self.poll_rtcp_queued(now, buf)
    }

    /// `poll_rtcp_packet` once something is queued or due.
    #[inline(never)]
    fn poll_rtcp_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
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
        if self.bwe.paced {
            return self.poll_paced_packet(now, buf);
        }
        if let Some(n) = self.poll_retransmit(now, buf) {
            return Some(n);
        }
        while let Some(o) = self.out.pop_front() {
            if buf.len() < o.len() + 64 {
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
        None
    }

    /// [`poll_media_packet`](Self::poll_media_packet) through the pacer: apart, so the
    /// unpaced path (every packet a forwarder sends to each subscriber without congestion
    /// control) stays a few cache lines of code.
    #[inline(never)]
    fn poll_paced_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
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
                        && !self.bwe.may_retransmit(now, item.len())
                    {
                        self.recycle(item.data);
                        continue;
                    }
                    if buf.len() < item.len() + 64 {
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
        let mut data = o.data;
        let stamps = o.stamps;
        // Stamped in the queued plaintext, which is then sealed straight into `buf`: no copy
        // of the packet before the cipher reads it.
        if let Some(id) = self.abs_send_id {
            let t = self.abs_send_time(now);
            stamp_at(&mut data, stamps.map(|s| s.abs_send_time), id, &t);
        }
        let next = self.twcc_seq.wrapping_add(1);
        let seq = self
            .twcc_send_id
            .is_some_and(|id| stamp_at(&mut data, stamps.map(|s| s.twcc), id, &next.to_be_bytes()))
            .then(|| {
                self.twcc_seq = next;
                next
            });
        let Some(srtp) = self.srtp.as_mut() else {
            return unsent(data, o.payload);
        };
        // A forwarded packet's payload is read where it was received.
        let protected = srtp.outbound.protect_rtp_parts(&data, &o.payload, buf);
        if let Some(ti) = o.history {
            self.keep_sent(ti, &data, o.payload);
        }
        self.recycle(data);
        let Ok(n) = protected else {
            return self.protect_failed();
        };
        self.counters.rtp_sent += 1;
        self.bwe.on_rtp_sent(now, &buf[..n], seq, n, kind);
        if rtx {
            self.bwe.count_retransmission(now, n);
        }
        if self.bwe.take_timeout_moved() {
            self.bwe_timeout_moved();
        }
        Some(n)
    }

    /// `send_rtp` refused by SRTP: counted (out of the packet's path).
    #[cold]
    #[inline(never)]
    fn protect_failed(&mut self) -> Option<usize> {
        self.counters.protect_failed += 1;
        None
    }

    /// The estimator's next deadline may have moved: `due` follows it (apart from
    /// `send_rtp`, as most packets leave it where it was).
    #[inline(never)]
    fn bwe_timeout_moved(&mut self) {
        self.due = earliest(self.due, self.bwe.poll_timeout());
    }

    /// Hands the payload of a packet sent on transceiver `ti`, whose plaintext header is
    /// `header`, to its send stream's history (see `StreamTx::on_send_header`).
    fn keep_sent(&mut self, ti: usize, header: &[u8], payload: Bytes) {
        // The header queue_rtp wrote: its sequence number and SSRC in the fixed header.
        let (Some(&[s0, s1]), Some(&[a, b, c, d])) = (header.get(2..4), header.get(8..12)) else {
            return;
        };
        let tx = self.transceivers.get_mut(ti).and_then(|t| t.tx.as_mut());
        if let Some(tx) = tx.filter(|tx| tx.ssrc() == u32::from_be_bytes([a, b, c, d])) {
            tx.sent_payload(u16::from_be_bytes([s0, s1]), payload);
        }
    }

    /// The abs-send-time (24 bits, 6.18 seconds) at `now`, worked out once per `now`: the NTP
    /// anchor never moves once set, so the value depends on `now` alone.
    #[inline]
    fn abs_send_time(&mut self, now: Instant) -> [u8; 3] {
        if let Some((at, t)) = self.abs_send_at
            && at == now
        {
            return t;
        }
        self.abs_send_time_at(now)
    }

    /// [`abs_send_time`](Self::abs_send_time) at a new `now`: apart, as packets sent at one
    /// `now` (a batch, a frame) skip it.
    #[inline(never)]
    fn abs_send_time_at(&mut self, now: Instant) -> [u8; 3] {
        let ntp = self.epoch(now).ntp_at(now);
        let [_, a, b, c] = AbsSendTime::from_ntp(ntp).0.to_be_bytes();
        self.abs_send_at = Some((now, [a, b, c]));
        [a, b, c]
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
    #[inline]
    fn poll_retransmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // Asked before every packet sent: with nothing queued (the common answer) no call.
        let queued = |t: &super::Transceiver| t.tx.as_ref().is_some_and(StreamTx::has_retransmit);
        if !self.transceivers.iter().any(queued) {
            return None;
        }
        self.poll_retransmit_queued(now, buf)
    }

    /// [`poll_retransmit`](Self::poll_retransmit) once a stream has one queued.
    #[inline(never)]
    fn poll_retransmit_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
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
                let o = Outgoing {
                    data,
                    payload: Bytes::new(),
                    kind,
                    stamps: None,
                    history: None,
                };
                if let Some(n) = self.send_rtp(now, buf, o, kind) {
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

/// What `send_rtp` does with a packet when SRTP is not keyed: drops it (out of the packet's
/// path, drops and all).
#[cold]
#[inline(never)]
fn unsent(data: Vec<u8>, payload: Bytes) -> Option<usize> {
    drop((data, payload));
    None
}

/// An error `queue_rtp` returns, passed through here so the compiler lays the refusals out
/// of the packet's path (a few cache lines fewer per packet sent).
#[cold]
#[inline(never)]
fn refused(e: Error) -> Error {
    e
}

/// The send stream of a transceiver (`ssrc`, `rtx_ssrc`, `kind`) that negotiated `n`,
/// made with its first packet: apart from `queue_rtp`, whose every other packet skips it.
#[cold]
#[inline(never)]
fn new_stream(
    (ssrc, rtx_ssrc, kind): (u32, u32, crate::peer::TrackKind),
    n: &crate::peer::jsep::Negotiated,
    cname: String,
    epoch: crate::media::stream::NtpEpoch,
    seed: Option<u64>,
) -> StreamTx {
    let first = &n.codecs[0];
    let mut cfg = StreamTxConfig::new(ssrc, first.codec.clock_rate, epoch);
    cfg.cname = cname;
    cfg.seed = seed;
    if first.codec.has_feedback("nack") {
        cfg.rtx = first.rtx.map(|(send, _)| Rtx {
            ssrc: rtx_ssrc,
            payload_type: send,
            associated_payload_type: first.send_pt,
        });
        if kind == crate::peer::TrackKind::Audio {
            cfg.history = 128;
        } else {
            cfg.history = VIDEO_HISTORY;
        }
    } else {
        cfg.history = 0;
    }
    StreamTx::new(cfg)
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

/// A transceiver's outgoing header extensions, serialised once: the MID, and zeroed
/// abs-send-time and transport-wide sequence number values that `send_rtp` stamps as the
/// packet leaves. Rebuilt when a negotiation changes the extensions or the mid.
#[derive(Debug, Clone)]
pub(crate) struct SendTemplate {
    mid: Mid,
    /// The extension block (RFC 8285: profile, length, elements, padding); empty for none.
    block: smallvec::SmallVec<[u8; 64]>,
    abs_send_id: Option<u8>,
    twcc_send_id: Option<u8>,
    stamps: Stamps,
    /// The last payload type written and the one it is sent as (the codecs of the
    /// negotiation this template belongs to): one lookup per change of codec, not per packet.
    pt: Option<(u8, u8)>,
}

impl SendTemplate {
    /// `slot` (re)made for `mid` and extensions `map`: once per negotiation, apart from
    /// `queue_rtp`, whose every other packet skips it.
    #[cold]
    #[inline(never)]
    fn renew<'a>(slot: &'a mut Option<Self>, mid: Mid, map: &ExtensionMap) -> &'a mut Self {
        slot.insert(Self::new(mid, map))
    }

    fn new(mid: Mid, map: &ExtensionMap) -> Self {
        let mut ext: smallvec::SmallVec<[(u8, ExtensionValue<'_>); 4]> = smallvec::SmallVec::new();
        if let Some(id) = map.id(ExtensionKind::Mid) {
            ext.push((id, ExtensionValue::Mid(mid.as_str())));
        }
        let abs_send_id = map.id(ExtensionKind::AbsSendTime);
        if let Some(id) = abs_send_id {
            ext.push((id, ExtensionValue::AbsSendTime(AbsSendTime(0))));
        }
        let twcc_send_id = map.id(ExtensionKind::TransportCc);
        if let Some(id) = twcc_send_id {
            ext.push((id, ExtensionValue::TransportCc(0)));
        }
        let header = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence_number: 0,
            timestamp: 0,
            ssrc: 0,
        };
        // At most three elements of at most 32 bytes each, with their headers.
        let mut scratch = [0u8; RTP_HEADER + 4 + 3 * (2 + Mid::MAX_LEN)];
        let b = RtpBuilder::new(header).extensions(&ext);
        let (block, stamps) = match b.write(&mut scratch) {
            Ok(n) => {
                let p = RtpPacket::new_checked(&scratch[..n]).ok();
                let at = |id: Option<u8>| {
                    let v = p.as_ref()?.extension(id?)?;
                    u16::try_from(v.as_ptr() as usize - scratch.as_ptr() as usize).ok()
                };
                let stamps = Stamps {
                    abs_send_time: at(abs_send_id),
                    twcc: at(twcc_send_id),
                };
                (
                    smallvec::SmallVec::from_slice(&scratch[RTP_HEADER..n]),
                    stamps,
                )
            }
            // Extensions that do not fit are not sent (none of ours comes near).
            Err(_) => (smallvec::SmallVec::new(), Stamps::default()),
        };
        Self {
            mid,
            block,
            abs_send_id: stamps.abs_send_time.and(abs_send_id),
            twcc_send_id: stamps.twcc.and(twcc_send_id),
            stamps,
            pt: None,
        }
    }

    /// Writes into `data` the header of packet `pkt` rewritten for our stream: our SSRC,
    /// payload type `pt` and extensions, its marker, sequence number and timestamp (its
    /// CSRCs, extensions and padding are not kept); its payload goes after it, and `data`
    /// gets `room` bytes of capacity for it.
    fn write_header(
        &self,
        data: &mut Vec<u8>,
        pkt: &RtpPacket<&[u8]>,
        pt: u8,
        ssrc: u32,
        room: usize,
    ) {
        let extension = if self.block.is_empty() { 0 } else { 0x10 };
        let mut fixed = [0u8; RTP_HEADER];
        fixed[0] = 0x80 | extension;
        fixed[1] = u8::from(pkt.marker()) << 7 | (pt & 0x7f);
        fixed[2..4].copy_from_slice(&pkt.sequence_number().to_be_bytes());
        fixed[4..8].copy_from_slice(&pkt.timestamp().to_be_bytes());
        fixed[8..12].copy_from_slice(&ssrc.to_be_bytes());
        data.clear();
        data.reserve(RTP_HEADER + self.block.len() + room);
        data.extend_from_slice(&fixed);
        data.extend_from_slice(&self.block);
    }
}

/// A packet given to `write_rtp` (copied) or `write_rtp_bytes` (its payload kept by
/// reference).
enum Packet<'a> {
    Copied(&'a [u8]),
    Shared(Bytes),
}

/// The fixed RTP header (RFC 3550 §5.1).
const RTP_HEADER: usize = 12;

/// Writes `value` at `at` in `data` when the offset is known, else where extension `id` is.
fn stamp_at(data: &mut [u8], at: Option<Option<u16>>, id: u8, value: &[u8]) -> bool {
    match at {
        Some(Some(at)) => match data.get_mut(usize::from(at)..usize::from(at) + value.len()) {
            Some(slot) => {
                slot.copy_from_slice(value);
                true
            }
            None => false,
        },
        Some(None) => false,
        None => super::bwe::stamp(data, id, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(ids: &[(u8, ExtensionKind)]) -> ExtensionMap {
        let mut m = ExtensionMap::new();
        for &(id, kind) in ids {
            m.insert(id, kind);
        }
        m
    }

    /// The caller's packet, with a CSRC, an extension and padding we do not keep.
    fn theirs() -> Vec<u8> {
        let b = RtpBuilder::new(RtpHeader {
            marker: true,
            payload_type: 100,
            sequence_number: 4242,
            timestamp: 90_000,
            ssrc: 7,
        })
        .csrcs(&[9])
        .extensions(&[(5, ExtensionValue::TransportCc(1))])
        .payload(b"frame bytes")
        .padding(3);
        let mut v = vec![0; b.len()];
        b.write(&mut v).unwrap();
        v
    }

    #[test]
    fn templated_packets_carry_our_extensions_and_stamp_in_place() {
        for mid in ["0", "a-mid-longer-than-sixteen-bytes"] {
            let m = map(&[
                (1, ExtensionKind::Mid),
                (2, ExtensionKind::AbsSendTime),
                (3, ExtensionKind::TransportCc),
            ]);
            let tpl = SendTemplate::new(Mid::new(mid).unwrap(), &m);
            assert_eq!((tpl.abs_send_id, tpl.twcc_send_id), (Some(2), Some(3)));
            let src = theirs();
            let mut data = Vec::new();
            let pkt = RtpPacket::new_checked(&src[..]).unwrap();
            tpl.write_header(&mut data, &pkt, 96, 0xabcd, 0);
            data.extend_from_slice(pkt.payload());
            let stamps = Some(tpl.stamps);
            assert!(stamp_at(
                &mut data,
                stamps.map(|s| s.abs_send_time),
                2,
                &[1, 2, 3]
            ));
            assert!(stamp_at(
                &mut data,
                stamps.map(|s| s.twcc),
                3,
                &[0x12, 0x34]
            ));
            let p = RtpPacket::new_checked(&data[..]).unwrap();
            assert_eq!(p.mid(&m), Some(mid));
            assert_eq!(p.abs_send_time(&m), Some(AbsSendTime(0x01_0203)));
            assert_eq!(p.transport_cc(&m), Some(0x1234));
            assert_eq!(
                (
                    p.marker(),
                    p.payload_type(),
                    p.sequence_number(),
                    p.timestamp()
                ),
                (true, 96, 4242, 90_000)
            );
            assert_eq!((p.ssrc(), p.csrc_count(), p.padding_len()), (0xabcd, 0, 0));
            assert_eq!(p.payload(), b"frame bytes");
        }
    }

    #[test]
    fn without_extensions_the_packet_has_none_and_nothing_is_stamped() {
        let tpl = SendTemplate::new(Mid::new("0").unwrap(), &ExtensionMap::new());
        let src = theirs();
        let mut data = vec![0xee; 3000];
        let pkt = RtpPacket::new_checked(&src[..]).unwrap();
        tpl.write_header(&mut data, &pkt, 96, 1, 0);
        data.extend_from_slice(pkt.payload());
        let p = RtpPacket::new_checked(&data[..]).unwrap();
        assert!(!p.has_extension());
        assert_eq!(data.len(), RTP_HEADER + b"frame bytes".len());
        let stamps = Some(tpl.stamps);
        assert!(!stamp_at(&mut data, stamps.map(|s| s.twcc), 3, &[0, 1]));
    }
}
