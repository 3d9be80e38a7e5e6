//! The receive side at run time: demultiplexing of received RTP (RFC 8843 §9.2: MID extension,
//! then SSRC, then payload type), RTX unwrapping (RFC 4588 §4) and RTCP routing (RFC 3550 §6,
//! RFC 4585, RFC 5104). The send side and SRTP keying are in `rtp.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::rtp::earliest;
use super::{KeyframeKind, MAX_RECEIVERS, Media, Receiver, Route, TrackEvent, TransceiverId};
use crate::media::stream::{RxVerdict, StreamEvent, StreamRx, StreamRxConfig};
use crate::peer::PeerEvent;
use crate::peer::jsep::Mid;
use crate::peer::jsep::NegotiatedCodec;
use crate::rtp::RtpPacket;
use crate::rtp::rtcp::{Compound, RtcpPacket};
use crate::srtp::{Context, Unprotected};

/// Keyframe requests for one source go out at most this often (a decoder asks on every lost
/// frame; the sender only needs one request per round trip).
const PLI_INTERVAL: Duration = Duration::from_millis(300);
/// Received packets are decrypted into chunks of this size, shared by the events' `Bytes`.
const RX_CHUNK: usize = 64 * 1024;
/// Used chunks kept for reuse: one is taken back once every packet handed out from it is
/// dropped, so an application that drops its events promptly never makes the receive path
/// allocate a chunk. One that holds packets keeps their chunks alive and new ones are
/// allocated; past this many the oldest is let go (it is freed when its last packet is).
const RX_POOL: usize = 4;

/// A received RTP packet routed and accounted, ready to be handed out (see
/// `Media::accept_rtp`).
#[derive(Debug, Clone, Copy)]
struct Accepted {
    /// Its transceiver, which has a mid (read from there when the packet is handed out:
    /// not copied along the way).
    transceiver: usize,
    /// Its length in the buffer it was routed in (less than the datagram's once RTX is
    /// unwrapped).
    len: usize,
    /// It must go out as an owned [`PeerEvent::Rtp`]: a new source's `Track` event was just
    /// queued ahead of it, or its transceiver assembles frames from shared packets.
    queue: bool,
}

impl Media {
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
        self.rx.clear();
        if self.rx.capacity() < datagram.len() {
            self.next_chunk(datagram.len());
        }
        if rtcp {
            self.rx.extend_from_slice(datagram);
            self.receive_rtcp(now, events);
        } else {
            self.receive_rtp(now, datagram, events);
        }
        self.bwe.drain_events(events);
    }

    /// The current chunk is used up: the oldest pooled chunk whose packets are all dropped
    /// takes its place, or else a new one; the used one joins the pool.
    fn next_chunk(&mut self, need: usize) {
        let size = RX_CHUNK.max(need);
        let reclaimed = self.rx_pool.iter_mut().position(|c| {
            c.clear();
            c.try_reclaim(size)
        });
        let next = match reclaimed {
            Some(i) => self.rx_pool.remove(i),
            None => BytesMut::with_capacity(size),
        };
        let used = std::mem::replace(&mut self.rx, next);
        // The first, never-allocated buffer has no chunk to wait for.
        if used.capacity() > 0 {
            if self.rx_pool.len() >= RX_POOL {
                self.rx_pool.remove(0);
            }
            self.rx_pool.push(used);
        }
    }

    /// RFC 3711 §3.3: authenticated, then decrypted straight from the datagram into the
    /// receive chunk (one pass over the payload, no copy of the ciphertext first).
    fn receive_rtp(&mut self, now: Instant, datagram: &[u8], events: &mut VecDeque<PeerEvent>) {
        self.rx.resize(datagram.len(), 0);
        let mut rx = std::mem::take(&mut self.rx);
        let routed = self.unprotect_rtp(ssrc_of(datagram), |inbound, hint| {
            inbound.unprotect_rtp_hinted(datagram, &mut rx[..], hint)
        });
        match routed {
            Some((route, u)) => self.accept_in_chunk(now, rx, route, u.len, u.header.len, events),
            None => self.rx = rx,
        }
    }

    /// [`accept_rtp`](Self::accept_rtp) for the plaintext packet in the first `len` bytes of
    /// the receive chunk `rx` (taken out of `self.rx` while it was written), then handed out
    /// from it; `rx` goes back to `self.rx` either way.
    #[inline(always)]
    fn accept_in_chunk(
        &mut self,
        now: Instant,
        mut rx: BytesMut,
        route: Option<Route>,
        len: usize,
        header_len: usize,
        events: &mut VecDeque<PeerEvent>,
    ) {
        let accepted = self.accept_rtp(now, route, &mut rx[..len], header_len, events);
        self.rx = rx;
        if let Some(a) = accepted {
            self.rx.truncate(a.len);
            self.hand_out(now, a, events);
        }
    }

    /// One SRTP datagram for [`PeerConnection::handle_datagram_in_place`]: decrypted in
    /// `buf` and accounted as [`receive`](Self::receive) does. Returns the packet's mid and
    /// length in `buf` when it may be handed back in place: its source is known and its
    /// transceiver wants no frames. Otherwise it went out as a [`PeerEvent::Rtp`] (after the
    /// `Track` event a new source raises), or was dropped and counted.
    ///
    /// [`PeerConnection::handle_datagram_in_place`]: crate::peer::PeerConnection::handle_datagram_in_place
    pub(crate) fn receive_in_place(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        events: &mut VecDeque<PeerEvent>,
    ) -> Option<(Mid, usize)> {
        if self.srtp.is_none() {
            self.counters.before_keys += 1;
            return None;
        }
        let routed = self.unprotect_rtp(ssrc_of(buf), |inbound, hint| {
            inbound.unprotect_rtp_in_place_hinted(buf, hint)
        });
        let accepted = match routed {
            Some((route, u)) => {
                self.accept_rtp(now, route, &mut buf[..u.len], u.header.len, events)
            }
            None => None,
        };
        let delivered = match accepted {
            Some(a) if a.queue => {
                // Behind the `Track` event, or to the frame assembler: as an owned packet.
                self.rx.clear();
                if self.rx.capacity() < a.len {
                    self.next_chunk(a.len);
                }
                self.rx.extend_from_slice(&buf[..a.len]);
                self.hand_out(now, a, events);
                None
            }
            Some(a) => self.transceivers[a.transceiver].mid.map(|mid| (mid, a.len)),
            None => None,
        };
        self.bwe.drain_events(events);
        delivered
    }

    /// Unprotects an SRTP packet with `unprotect` (given the inbound context and the slot
    /// hint), wherever it writes the plaintext. The SSRC is read from the clear header once
    /// (`ssrc`, see [`ssrc_of`]): its route carries SRTP's slot for it, and what SRTP parsed
    /// of the header is the view the rest of the path reads. The route, if the SSRC has one,
    /// and what SRTP found; `None`: refused and counted.
    #[inline(always)]
    fn unprotect_rtp(
        &mut self,
        ssrc: Option<u32>,
        unprotect: impl FnOnce(&mut Context, usize) -> Result<Unprotected, crate::srtp::Error>,
    ) -> Option<(Option<Route>, Unprotected)> {
        let srtp = self.srtp.as_mut()?;
        let route = ssrc.and_then(|ssrc| self.routes.get_mut(&ssrc));
        let hint = route.as_ref().map_or(usize::MAX, |r| r.srtp_slot);
        let Ok(u) = unprotect(&mut srtp.inbound, hint) else {
            self.counters.unprotect_failed += 1;
            return None;
        };
        // The copy is read before the slot is written: read after, it straddled the store
        // and waited for it (a failed store-to-load forward on every packet).
        let copy = route.as_deref().copied();
        if let Some(r) = route {
            r.srtp_slot = u.slot;
        }
        Some((copy, u))
    }

    /// A plaintext RTP packet in `self.rx`: demultiplexed, accounted and handed out.
    #[cfg(fuzzing)]
    pub(crate) fn route_rtp(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        let Ok(pkt) = RtpPacket::new_checked(&self.rx[..]) else {
            self.counters.unroutable += 1;
            return;
        };
        let route = self.routes.get(&pkt.ssrc()).copied();
        let header_len = pkt.header_len();
        let rx = std::mem::take(&mut self.rx);
        let len = rx.len();
        self.accept_in_chunk(now, rx, route, len, header_len, events);
    }

    /// The plaintext RTP packet `buf`, wherever it lives (the receive chunk, or the caller's
    /// buffer on the in-place path), its header (`header_len` bytes) already checked, on its
    /// route (`None`: learned from this packet, RFC 8843 §9.2): demultiplexed, RTX unwrapped
    /// in `buf`, and accounted (estimator, receive stream, counters). What is left is to hand
    /// it out; `None`: dropped and counted. Inlined into both receive paths: its route and
    /// result would otherwise go through memory on every packet.
    #[inline(always)]
    fn accept_rtp(
        &mut self,
        now: Instant,
        route: Option<Route>,
        buf: &mut [u8],
        header_len: usize,
        events: &mut VecDeque<PeerEvent>,
    ) -> Option<Accepted> {
        let Ok(pkt) = RtpPacket::with_header_len(&buf[..], header_len) else {
            self.counters.unroutable += 1;
            return None;
        };
        let ssrc = pkt.ssrc();
        let route = match route {
            Some(r) => r,
            None => match self.learn(&pkt) {
                Some(r) => {
                    self.routes.insert(ssrc, r);
                    r
                }
                None => {
                    self.counters.unroutable += 1;
                    return None;
                }
            },
        };
        let ti = route.transceiver;
        if let Some(n) = &self.transceivers[ti].negotiated {
            let at = self.bwe.on_rtp_received(now, &pkt, n);
            self.due = earliest(self.due, at);
        }
        let (primary_ssrc, rtx) = match route.repairs {
            Some(p) => (p, true),
            None => (ssrc, false),
        };
        let (pkt, len) = if rtx {
            let len = self.unwrap_rtx(ti, primary_ssrc, buf, header_len)?;
            match RtpPacket::with_header_len(&buf[..len], header_len) {
                Ok(p) => (p, len),
                Err(_) => return None,
            }
        } else {
            (pkt, buf.len())
        };
        let t = &self.transceivers[ti];
        let Some(n) = &t.negotiated else {
            self.counters.unroutable += 1;
            return None;
        };
        let Some(mid) = &t.mid else {
            return None;
        };
        let pt = pkt.payload_type();
        let Some(codec) = n.codecs.iter().position(|c| c.recv_pt == pt) else {
            self.counters.unroutable += 1;
            return None;
        };
        let (r, new_source) = match t.receivers.iter().position(|r| r.ssrc() == primary_ssrc) {
            Some(r) => (r, false),
            None => (
                self.add_receiver(ti, *mid, primary_ssrc, codec, &pkt, events)?,
                true,
            ),
        };
        let t = &mut self.transceivers[ti];
        let rx = &mut t.receivers[r].rx;
        if rx.on_rtp(now, &pkt) == RxVerdict::Duplicate {
            self.counters.duplicates += 1;
            return None;
        }
        if rx.take_deadline_moved() {
            self.due = earliest(self.due, rx.poll_timeout());
        }
        if rtx {
            self.counters.rtx_received += 1;
        }
        self.counters.rtp_received += 1;
        Some(Accepted {
            transceiver: ti,
            len,
            queue: new_source || t.frames.receive,
        })
    }

    /// The first packet of a new source `ssrc` on transceiver `ti` (its codec is
    /// `codecs[codec]`): its `Track` event queued and its receive stream added. The stream's
    /// index; `None`: the transceiver has all the receivers it may have (counted).
    #[cold]
    #[inline(never)]
    fn add_receiver(
        &mut self,
        ti: usize,
        mid: Mid,
        ssrc: u32,
        codec: usize,
        pkt: &RtpPacket<&[u8]>,
        events: &mut VecDeque<PeerEvent>,
    ) -> Option<usize> {
        let t = &mut self.transceivers[ti];
        let n = t.negotiated.as_ref()?;
        if t.receivers.len() >= MAX_RECEIVERS {
            self.counters.unroutable += 1;
            return None;
        }
        let codec = &n.codecs[codec];
        let rid = pkt.rid(&n.recv_extensions).map(str::to_string);
        let (stream, track) = n.remote.msid.clone().unwrap_or_default();
        events.push_back(PeerEvent::Track(Box::new(TrackEvent {
            transceiver: TransceiverId(ti as u32),
            mid,
            kind: t.kind,
            ssrc,
            rid: rid.clone(),
            stream_ids: if stream.is_empty() || stream == "-" {
                Vec::new()
            } else {
                vec![stream]
            },
            track_id: track,
            codec: codec.codec.clone(),
        })));
        let rx = StreamRx::new(rx_config(ssrc, codec, self.rng.u64()));
        t.receivers.push(Receiver { rid, rx });
        Some(t.receivers.len() - 1)
    }

    /// An accepted packet (see [`accept_rtp`](Self::accept_rtp)), the whole of `self.rx`,
    /// handed out as a [`PeerEvent::Rtp`] sharing the receive chunk, and to the frame
    /// assembler if its transceiver has frames on.
    fn hand_out(&mut self, now: Instant, a: Accepted, events: &mut VecDeque<PeerEvent>) {
        let Some(mid) = self.transceivers[a.transceiver].mid else {
            return;
        };
        let packet = self.rx.split().freeze();
        if !self.transceivers[a.transceiver].frames.receive {
            // The common case hands the packet out without a second reference to count.
            events.push_back(PeerEvent::Rtp { mid, packet });
            return;
        }
        events.push_back(PeerEvent::Rtp {
            mid,
            packet: packet.clone(),
        });
        self.frames_on_packet(now, a.transceiver, &packet, events);
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
            srtp_slot: usize::MAX,
        })
    }

    /// RFC 4588 §4: an RTX packet's payload starts with the original sequence number; the
    /// original packet is the RTX header with the original SSRC, payload type and sequence
    /// number, and the rest of the payload. Rewritten in place in `buf`; its new length.
    fn unwrap_rtx(
        &mut self,
        ti: usize,
        primary: u32,
        buf: &mut [u8],
        header_len: usize,
    ) -> Option<usize> {
        let pkt = RtpPacket::with_header_len(&buf[..], header_len).ok()?;
        let h = header_len;
        let payload_len = pkt.payload().len();
        let rtx_pt = pkt.payload_type();
        if payload_len < 2 {
            // Padding only: a bandwidth probe.
            self.counters.padding_received += 1;
            return None;
        }
        let apt = self.transceivers[ti]
            .negotiated
            .as_ref()
            .and_then(|n| {
                n.codecs
                    .iter()
                    .find(|c| c.rtx.is_some_and(|r| r.1 == rtx_pt))
            })
            .map(|c| c.recv_pt)?;
        let osn = u16::from_be_bytes([buf[h], buf[h + 1]]);
        buf.copy_within(h + 2..h + payload_len, h);
        let len = h + payload_len - 2;
        // The padding went with the tail.
        buf[0] &= !0x20;
        let mut pkt = RtpPacket::with_header_len(&mut buf[..len], h).ok()?;
        pkt.set_sequence_number(osn);
        pkt.set_payload_type(apt);
        pkt.set_ssrc(primary);
        Some(len)
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
        let blocks = match &p {
            RtcpPacket::SenderReport(sr) => &sr.reports[..],
            RtcpPacket::ReceiverReport(rr) => &rr.reports[..],
            _ => &[],
        };
        for b in blocks {
            let ours = self
                .transceivers
                .iter()
                .any(|t| t.tx.as_ref().is_some_and(|tx| tx.ssrc() == b.ssrc));
            if ours {
                self.bwe.on_report_block(now, b);
            }
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
}

/// The SSRC field of an RTP datagram's clear header, if it is that long (SRTP checks the
/// rest).
#[inline(always)]
fn ssrc_of(datagram: &[u8]) -> Option<u32> {
    let b = datagram.get(8..12)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
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
