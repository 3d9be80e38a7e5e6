//! The RTP level at run time: SRTP keyed from DTLS (RFC 5764 §4.2), demultiplexing of received
//! RTP (RFC 8843 §9.2: MID extension, then SSRC, then payload type), RTX unwrapping (RFC 4588
//! §4), RTCP routing (RFC 3550 §6, RFC 4585, RFC 5104), and the outgoing queue.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{
    KeyframeKind, MAX_RECEIVERS, MEDIA_QUEUE, Media, Outgoing, Receiver, Route, TrackEvent,
    TransceiverId,
};
use crate::dtls::SrtpKeying;
use crate::media::stream::{
    Rtx, RxVerdict, StreamEvent, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig,
};
use crate::peer::jsep::NegotiatedCodec;
use crate::peer::{Error, PeerEvent};
use crate::rtp::rtcp::{Compound, RtcpPacket};
use crate::rtp::{AbsSendTime, ExtensionKind, ExtensionValue, RtpBuilder, RtpHeader, RtpPacket};

/// Keyframe requests for one source go out at most this often (a decoder asks on every lost
/// frame; the sender only needs one request per round trip).
const PLI_INTERVAL: Duration = Duration::from_millis(300);
/// Packets kept for retransmission per video stream (about 1.5 s of 5 Mbit/s video).
const VIDEO_HISTORY: usize = 1024;
/// The largest RTCP datagram we write.
const RTCP_MAX: usize = 1200;
/// Received packets are decrypted into chunks of this size, shared by the events' `Bytes`.
const RX_CHUNK: usize = 64 * 1024;

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

    /// Plaintext RTP or RTCP as if SRTP had just decrypted it (the fuzz targets' way behind
    /// SRTP).
    #[cfg(fuzzing)]
    pub(crate) fn receive_plain(
        &mut self,
        now: Instant,
        bytes: &[u8],
        rtcp: bool,
        events: &mut VecDeque<PeerEvent>,
    ) {
        self.rx.clear();
        self.rx.extend_from_slice(bytes);
        if rtcp {
            self.route_rtcp(now, events);
        } else {
            self.route_rtp(now, events);
        }
    }

    /// One SRTP or SRTCP datagram from the selected pair.
    pub fn receive(
        &mut self,
        now: Instant,
        datagram: &[u8],
        rtcp: bool,
        events: &mut VecDeque<PeerEvent>,
    ) {
        if self.srtp.is_none() {
            self.counters.before_keys += 1;
            return;
        }
        if self.rx.capacity() < datagram.len() {
            // Reclaims the chunk when every event that shared it is gone.
            self.rx.reserve(RX_CHUNK.max(datagram.len()));
        }
        self.rx.clear();
        self.rx.extend_from_slice(datagram);
        if rtcp {
            self.receive_rtcp(now, events);
        } else {
            self.receive_rtp(now, events);
        }
        self.bwe.drain_events(events);
    }

    fn receive_rtp(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        let Some(srtp) = &mut self.srtp else { return };
        let Ok(n) = srtp.inbound.unprotect_rtp(&mut self.rx[..]) else {
            self.counters.unprotect_failed += 1;
            return;
        };
        self.rx.truncate(n);
        self.route_rtp(now, events);
    }

    /// A plaintext RTP packet in `self.rx`: demultiplexed, accounted and handed out.
    pub(crate) fn route_rtp(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        let Ok(pkt) = RtpPacket::new_checked(&self.rx[..]) else {
            self.counters.unroutable += 1;
            return;
        };
        let ssrc = pkt.ssrc();
        let route = match self.routes.get(&ssrc) {
            Some(r) => *r,
            None => match self.learn(&pkt) {
                Some(r) => {
                    self.routes.insert(ssrc, r);
                    r
                }
                None => {
                    self.counters.unroutable += 1;
                    return;
                }
            },
        };
        let ti = route.transceiver;
        if let Some(n) = &self.transceivers[ti].negotiated {
            self.bwe.on_rtp_received(now, &pkt, n);
            self.due = earliest(self.due, self.bwe.poll_timeout());
        }
        let (primary_ssrc, rtx) = match route.repairs {
            Some(p) => (p, true),
            None => (ssrc, false),
        };
        let pkt = if rtx {
            if !self.unwrap_rtx(ti, primary_ssrc) {
                return;
            }
            match RtpPacket::new_checked(&self.rx[..]) {
                Ok(p) => p,
                Err(_) => return,
            }
        } else {
            pkt
        };
        let t = &mut self.transceivers[ti];
        let Some(n) = &t.negotiated else {
            self.counters.unroutable += 1;
            return;
        };
        let Some(mid) = t.mid else { return };
        let codec = n.codecs.iter().find(|c| c.recv_pt == pkt.payload_type());
        let Some(codec) = codec else {
            self.counters.unroutable += 1;
            return;
        };
        let r = match t.receivers.iter().position(|r| r.ssrc() == primary_ssrc) {
            Some(r) => r,
            None => {
                if t.receivers.len() >= MAX_RECEIVERS {
                    self.counters.unroutable += 1;
                    return;
                }
                let rid = pkt.rid(&n.recv_extensions).map(str::to_string);
                let (stream, track) = n.remote.msid.clone().unwrap_or_default();
                events.push_back(PeerEvent::Track(Box::new(TrackEvent {
                    transceiver: TransceiverId(ti as u32),
                    mid,
                    kind: t.kind,
                    ssrc: primary_ssrc,
                    rid: rid.clone(),
                    stream_ids: if stream.is_empty() || stream == "-" {
                        Vec::new()
                    } else {
                        vec![stream]
                    },
                    track_id: track,
                    codec: codec.codec.clone(),
                })));
                let rx = StreamRx::new(rx_config(primary_ssrc, codec, self.rng.u64()));
                t.receivers.push(Receiver { rid, rx });
                t.receivers.len() - 1
            }
        };
        let rx = &mut t.receivers[r].rx;
        if rx.on_packet(now, &self.rx[..]) == RxVerdict::Duplicate {
            self.counters.duplicates += 1;
            return;
        }
        self.due = earliest(self.due, rx.poll_timeout());
        if rtx {
            self.counters.rtx_received += 1;
        }
        self.counters.rtp_received += 1;
        let packet = self.rx.split().freeze();
        events.push_back(PeerEvent::Rtp {
            mid,
            packet: packet.clone(),
        });
        self.frames_on_packet(now, ti, &packet, events);
    }

    /// RFC 8843 §9.2: an unknown SSRC belongs to the transceiver its MID extension names, or
    /// else to the one transceiver that receives its payload type.
    fn learn(&self, pkt: &RtpPacket<&[u8]>) -> Option<Route> {
        if self.routes.len() >= super::MAX_TRANSCEIVERS * MAX_RECEIVERS * 2 {
            return None;
        }
        let pt = pkt.payload_type();
        let by_mid = self.transceivers.iter().position(|t| {
            let Some(n) = &t.negotiated else { return false };
            !t.stopped
                && pkt
                    .mid(&n.recv_extensions)
                    .is_some_and(|m| t.mid.is_some_and(|x| x == m))
        });
        let ti = by_mid.or_else(|| {
            let mut takers = self.transceivers.iter().enumerate().filter(|(_, t)| {
                !t.stopped
                    && t.negotiated.as_ref().is_some_and(|n| {
                        n.codecs
                            .iter()
                            .any(|c| c.recv_pt == pt || c.rtx.is_some_and(|r| r.1 == pt))
                    })
            });
            let first = takers.next()?.0;
            takers.next().is_none().then_some(first)
        })?;
        let t = &self.transceivers[ti];
        let n = t.negotiated.as_ref()?;
        let is_rtx = n.codecs.iter().any(|c| c.rtx.is_some_and(|r| r.1 == pt))
            && !n.codecs.iter().any(|c| c.recv_pt == pt);
        let repairs = if is_rtx {
            // The stream it repairs: the one with its repaired-rid, else the only one.
            let rrid = pkt.repaired_rid(&n.recv_extensions);
            let primary = match rrid {
                Some(rid) => t.receivers.iter().find(|r| r.rid.as_deref() == Some(rid)),
                None => t.receivers.first(),
            };
            Some(primary?.ssrc())
        } else {
            None
        };
        Some(Route {
            transceiver: ti,
            repairs,
        })
    }

    /// RFC 4588 §4: an RTX packet's payload starts with the original sequence number; the
    /// original packet is the RTX header with the original SSRC, payload type and sequence
    /// number, and the rest of the payload. Rewritten in place in `self.rx`.
    fn unwrap_rtx(&mut self, ti: usize, primary: u32) -> bool {
        let Ok(pkt) = RtpPacket::new_checked(&self.rx[..]) else {
            return false;
        };
        let h = pkt.header_len();
        let payload_len = pkt.payload().len();
        let rtx_pt = pkt.payload_type();
        if payload_len < 2 {
            // Padding only: a bandwidth probe.
            self.counters.padding_received += 1;
            return false;
        }
        let apt = self.transceivers[ti]
            .negotiated
            .as_ref()
            .and_then(|n| {
                n.codecs
                    .iter()
                    .find(|c| c.rtx.is_some_and(|r| r.1 == rtx_pt))
            })
            .map(|c| c.recv_pt);
        let Some(apt) = apt else { return false };
        let osn = u16::from_be_bytes([self.rx[h], self.rx[h + 1]]);
        self.rx.copy_within(h + 2..h + payload_len, h);
        self.rx.truncate(h + payload_len - 2);
        // The padding went with the tail.
        self.rx[0] &= !0x20;
        let Ok(mut pkt) = RtpPacket::new_checked(&mut self.rx[..]) else {
            return false;
        };
        pkt.set_sequence_number(osn);
        pkt.set_payload_type(apt);
        pkt.set_ssrc(primary);
        true
    }

    fn receive_rtcp(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        let Some(srtp) = &mut self.srtp else { return };
        let Ok(n) = srtp.inbound.unprotect_rtcp(&mut self.rx[..]) else {
            self.counters.unprotect_failed += 1;
            return;
        };
        self.rx.truncate(n);
        self.route_rtcp(now, events);
    }

    /// A plaintext RTCP compound packet in `self.rx`, to the streams it concerns.
    pub(crate) fn route_rtcp(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        self.counters.rtcp_received += 1;
        let data = std::mem::take(&mut self.rx);
        for p in Compound::new(&data).packets() {
            let Ok(p) = p else { break };
            self.on_rtcp(now, p, events);
        }
        self.rx = data;
    }

    /// One RTCP packet: a sender report to the receive stream it describes; reports,
    /// NACK, PLI and FIR about our sources to the send stream they concern.
    fn on_rtcp(&mut self, now: Instant, p: RtcpPacket, events: &mut VecDeque<PeerEvent>) {
        if self.bwe.on_rtcp(now, &p) {
            return;
        }
        if let RtcpPacket::SenderReport(sr) = &p {
            for t in &mut self.transceivers {
                for r in t.receivers.iter_mut().filter(|r| r.ssrc() == sr.ssrc) {
                    r.rx.handle_sr(now, sr);
                }
            }
        }
        for t in &mut self.transceivers {
            let Some(tx) = &mut t.tx else { continue };
            if !concerns(tx.ssrc(), &p) {
                continue;
            }
            tx.handle_rtcp(now, &p);
            if let Some(rtt) = tx.stats().round_trip_time {
                for r in &mut t.receivers {
                    r.rx.set_rtt(rtt);
                }
            }
            while let Some(e) = tx.poll_event() {
                let StreamEvent::KeyframeRequest { kind } = e;
                if let Some(mid) = t.mid {
                    events.push_back(PeerEvent::KeyframeRequest { mid, kind });
                }
            }
            self.due = earliest(self.due, tx.poll_timeout());
        }
    }

    /// Queues an RTP packet on transceiver `ti`: our SSRC, the peer's payload type for its
    /// codec, our header extensions, the caller's sequence number, timestamp, marker and
    /// payload.
    pub fn write_rtp(&mut self, now: Instant, ti: usize, packet: &[u8]) -> Result<(), Error> {
        if self.out.len() >= MEDIA_QUEUE {
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
        if let Some(id) = n.send_extensions.id(ExtensionKind::AbsSendTime) {
            ext.push((id, ExtensionValue::AbsSendTime(AbsSendTime::from_ntp(ntp))));
        }
        if let Some(id) = n.send_extensions.id(ExtensionKind::TransportCc) {
            self.twcc_seq = self.twcc_seq.wrapping_add(1);
            self.twcc_send_id = Some(id);
            ext.push((id, ExtensionValue::TransportCc(self.twcc_seq)));
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
        self.out.push_back(Outgoing { data, rtcp: false });
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

    /// The next protected packet into `buf`, and its length: RTCP first (reports, NACK,
    /// keyframe requests), then retransmissions, then what `write_rtp` queued.
    pub fn poll_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.keyed {
            return None;
        }
        if self.due.is_some_and(|at| at <= now) {
            self.collect_rtcp(now);
        }
        loop {
            if let Some(n) = self.poll_retransmit(now, buf) {
                return Some(n);
            }
            let Some(o) = self.out.pop_front() else {
                return self.poll_padding(now, buf);
            };
            let srtp = self.srtp.as_mut()?;
            let len = o.data.len();
            if buf.len() < len + 64 {
                // The caller's buffer is too small for this packet: keep it for a call with a
                // larger one (Protocol: pass a buffer of at least the path MTU) instead of
                // dropping what the application wrote.
                self.out.push_front(o);
                return None;
            }
            buf[..len].copy_from_slice(&o.data);
            let written = if o.rtcp {
                srtp.outbound.protect_rtcp(buf, len).ok()
            } else {
                srtp.outbound.protect_rtp(buf, len).ok()
            };
            if written.is_none() {
                self.counters.protect_failed += 1;
            } else if o.rtcp {
                self.counters.rtcp_sent += 1;
            } else {
                self.counters.rtp_sent += 1;
                if let Some(n) = written {
                    // Read from the plaintext: see `Bwe::transport_seq`.
                    let seq = super::bwe::Bwe::transport_seq(&o.data, self.twcc_send_id);
                    let kind = crate::bwe::PacketKind::Video;
                    self.bwe.on_rtp_sent(now, &o.data, seq, n, kind);
                    self.due = earliest(self.due, self.bwe.poll_timeout());
                }
            }
            let data = o.data;
            if self.spare.len() < 64 {
                self.spare.push(data);
            }
            if let Some(n) = written {
                return Some(n);
            }
        }
    }

    /// A queued retransmission (RTX or a plain resend), protected.
    fn poll_retransmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let srtp = self.srtp.as_mut()?;
        let room = buf.len().checked_sub(64)?;
        for t in &mut self.transceivers {
            let Some(tx) = &mut t.tx else { continue };
            if let Some(n) = tx.poll_retransmit(now, &mut buf[..room]) {
                if !self.bwe.may_retransmit(now, n) {
                    continue;
                }
                let next = self.twcc_seq.wrapping_add(1);
                let restamped = self
                    .twcc_send_id
                    .is_some_and(|id| super::bwe::Bwe::restamp(&mut buf[..n], id, next));
                let seq = restamped.then(|| {
                    self.twcc_seq = next;
                    next
                });
                let Ok(n) = srtp.outbound.protect_rtp(buf, n) else {
                    self.counters.protect_failed += 1;
                    continue;
                };
                self.counters.rtp_sent += 1;
                let kind = crate::bwe::PacketKind::Retransmission;
                self.bwe.on_rtp_sent(now, &buf[..n], seq, n, kind);
                return Some(n);
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
            push_rtcp(&mut self.out, &mut self.spare, &scratch[..n]);
        }
        due = earliest(due, self.bwe.poll_timeout());
        for t in &mut self.transceivers {
            if let Some(tx) = &mut t.tx {
                while let Some(n) = tx.poll_rtcp(now, &mut scratch) {
                    push_rtcp(&mut self.out, &mut self.spare, &scratch[..n]);
                }
                due = earliest(due, tx.poll_timeout());
            }
            for r in &mut t.receivers {
                while let Some(n) = r.rx.poll_rtcp(now, t.ssrc, &mut scratch) {
                    push_rtcp(&mut self.out, &mut self.spare, &scratch[..n]);
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

    /// When a stream next has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.keyed {
            return None;
        }
        earliest(self.due, self.frames_due())
    }
}

/// Queues one RTCP datagram, ahead of media (feedback is small and late feedback is useless);
/// past the queue bound it is dropped (the next report carries the same state).
fn push_rtcp(out: &mut VecDeque<Outgoing>, spare: &mut Vec<Vec<u8>>, bytes: &[u8]) {
    if out.len() >= MEDIA_QUEUE {
        return;
    }
    let mut data = spare.pop().unwrap_or_default();
    data.clear();
    data.extend_from_slice(bytes);
    out.push_front(Outgoing { data, rtcp: true });
}

pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether an RTCP packet is about our source `ssrc`.
fn concerns(ssrc: u32, p: &RtcpPacket) -> bool {
    match p {
        RtcpPacket::SenderReport(sr) => sr.reports.iter().any(|b| b.ssrc == ssrc),
        RtcpPacket::ReceiverReport(rr) => rr.reports.iter().any(|b| b.ssrc == ssrc),
        RtcpPacket::Nack(n) => n.media_ssrc == ssrc,
        RtcpPacket::Pli(p) => p.media_ssrc == ssrc,
        RtcpPacket::Fir(f) => f.entries.iter().any(|e| e.ssrc == ssrc),
        _ => false,
    }
}

/// The receive stream's settings for a codec's feedback (RFC 4585 `nack`, `nack pli`,
/// RFC 5104 `ccm fir`).
fn rx_config(ssrc: u32, codec: &NegotiatedCodec, seed: u64) -> StreamRxConfig {
    let mut cfg = StreamRxConfig::new(ssrc, codec.codec.clock_rate);
    cfg.nack = codec.codec.has_feedback("nack");
    cfg.keyframe_request =
        if codec.codec.has_feedback("nack pli") || !codec.codec.has_feedback("ccm fir") {
            KeyframeKind::Pli
        } else {
            KeyframeKind::Fir
        };
    cfg.keyframe_interval = PLI_INTERVAL;
    cfg.seed = Some(seed);
    cfg
}
