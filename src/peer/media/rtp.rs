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
use crate::peer::{Error, PeerEvent};
use crate::rtp::rtcp::{
    Compound, Pli, ReceiverReport, ReportBlock, RtcpPacket, Sdes, SenderReport,
};
use crate::rtp::{AbsSendTime, ExtensionKind, ExtensionValue, RtpBuilder, RtpHeader, RtpPacket};

/// RFC 3550 §6.2: the minimum report interval; browsers report about once a second.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Keyframe requests for one source go out at most this often (a decoder asks on every lost
/// frame; the sender only needs one request per round trip).
const PLI_INTERVAL: Duration = Duration::from_millis(300);
/// Received packets are decrypted into chunks of this size, shared by the events' `Bytes`.
const RX_CHUNK: usize = 64 * 1024;

impl Media {
    /// Keys SRTP from the DTLS exporter once DTLS is connected.
    pub fn on_keys(&mut self, now: Instant, keying: &SrtpKeying) -> Result<(), crate::srtp::Error> {
        self.next_report = Some(now + REPORT_INTERVAL / 2);
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
    }

    fn receive_rtp(&mut self, now: Instant, events: &mut VecDeque<PeerEvent>) {
        let Some(srtp) = &mut self.srtp else { return };
        let Ok(n) = srtp.inbound.unprotect_rtp(&mut self.rx[..]) else {
            self.counters.unprotect_failed += 1;
            return;
        };
        self.rx.truncate(n);
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
        let (primary_ssrc, rtx) = match route.repairs {
            Some(p) => (p, true),
            None => (ssrc, false),
        };
        if rtx && !self.unwrap_rtx(ti, primary_ssrc) {
            return;
        }
        let Ok(pkt) = RtpPacket::new_checked(&self.rx[..]) else {
            return;
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
        let r = match t.receivers.iter().position(|r| r.ssrc == primary_ssrc) {
            Some(r) => r,
            None => {
                if t.receivers.len() >= MAX_RECEIVERS {
                    self.counters.unroutable += 1;
                    return;
                }
                let rid = pkt.rid(&n.recv_extensions).map(str::to_string);
                let (stream, track) = n.remote.msid.clone().unwrap_or_default();
                events.push_back(PeerEvent::Track(TrackEvent {
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
                }));
                t.receivers.push(Receiver {
                    ssrc: primary_ssrc,
                    rid,
                    packets: 0,
                    bytes: 0,
                    last_seq: None,
                    last_sr: None,
                    pli_sent: 0,
                    last_pli: None,
                });
                t.receivers.len() - 1
            }
        };
        let rx = &mut t.receivers[r];
        rx.packets += 1;
        rx.bytes += pkt.payload().len() as u64;
        rx.last_seq = Some(pkt.sequence_number());
        if rtx {
            self.counters.rtx_received += 1;
        }
        self.counters.rtp_received += 1;
        let _ = now;
        events.push_back(PeerEvent::Rtp {
            mid,
            packet: self.rx.split().freeze(),
        });
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
            Some(primary?.ssrc)
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
        self.counters.rtcp_received += 1;
        let data = std::mem::take(&mut self.rx);
        for p in Compound::new(&data).packets() {
            let Ok(p) = p else { break };
            self.on_rtcp(now, p, events);
        }
        self.rx = data;
    }

    fn on_rtcp(&mut self, now: Instant, p: RtcpPacket, events: &mut VecDeque<PeerEvent>) {
        match p {
            RtcpPacket::SenderReport(sr) => {
                let lsr = (sr.ntp_time >> 16) as u32;
                for t in &mut self.transceivers {
                    if let Some(r) = t.receivers.iter_mut().find(|r| r.ssrc == sr.ssrc) {
                        r.last_sr = Some((lsr, now));
                    }
                }
                self.on_report_blocks(now, &sr.reports);
            }
            RtcpPacket::ReceiverReport(rr) => self.on_report_blocks(now, &rr.reports),
            RtcpPacket::Pli(p) => {
                self.keyframe_asked(p.media_ssrc, KeyframeKind::Pli, None, events)
            }
            RtcpPacket::Fir(f) => {
                for e in &f.entries {
                    self.keyframe_asked(e.ssrc, KeyframeKind::Fir, Some(e.sequence), events);
                }
            }
            RtcpPacket::Nack(n) => {
                if let Some(t) = self
                    .transceivers
                    .iter_mut()
                    .find(|t| t.ssrc == n.media_ssrc)
                {
                    t.sender.nack_received += 1;
                }
            }
            _ => {}
        }
    }

    /// RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s.
    fn on_report_blocks(&mut self, now: Instant, blocks: &[ReportBlock]) {
        let a = (self.ntp(now) >> 16) as u32;
        for b in blocks {
            let Some(t) = self.transceivers.iter_mut().find(|t| t.ssrc == b.ssrc) else {
                continue;
            };
            if b.last_sr != 0 {
                let rtt = a
                    .wrapping_sub(b.last_sr)
                    .wrapping_sub(b.delay_since_last_sr);
                if rtt < 1 << 20 {
                    t.sender.rtt = Some(Duration::from_micros(u64::from(rtt) * 1_000_000 / 65536));
                }
            }
        }
    }

    fn keyframe_asked(
        &mut self,
        ssrc: u32,
        kind: KeyframeKind,
        fir_seq: Option<u8>,
        events: &mut VecDeque<PeerEvent>,
    ) {
        let Some(t) = self.transceivers.iter_mut().find(|t| t.ssrc == ssrc) else {
            return;
        };
        match kind {
            KeyframeKind::Pli => t.sender.pli_received += 1,
            KeyframeKind::Fir => {
                // RFC 5104 §4.3.1.2: a repeated sequence number is the same request.
                if fir_seq.is_some() && t.sender.last_fir_seq == fir_seq {
                    return;
                }
                t.sender.last_fir_seq = fir_seq;
                t.sender.fir_received += 1;
            }
        }
        if let Some(mid) = t.mid {
            events.push_back(PeerEvent::KeyframeRequest { mid, kind });
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
        let ntp = self.ntp(now);
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
        let mut data = self.spare.pop().unwrap_or_default();
        data.resize(b.len(), 0);
        let len = b.write(&mut data).map_err(Error::Rtp)?;
        data.truncate(len);
        t.sender.packets += 1;
        t.sender.bytes += pkt.payload().len() as u64;
        t.sender.last_rtp_ts = pkt.timestamp();
        t.sender.last_sent = Some(now);
        self.out.push_back(Outgoing { data, rtcp: false });
        Ok(())
    }

    /// Asks the sender of a transceiver's incoming streams for a keyframe (PLI), at most once
    /// per [`PLI_INTERVAL`] per stream.
    pub fn request_keyframe(&mut self, now: Instant, ti: usize) -> Result<(), Error> {
        let t = &mut self.transceivers[ti];
        let sender_ssrc = t.ssrc;
        let mut due = Vec::new();
        for r in &mut t.receivers {
            if r.last_pli.is_some_and(|at| now < at + PLI_INTERVAL) {
                continue;
            }
            r.last_pli = Some(now);
            r.pli_sent += 1;
            due.push(r.ssrc);
        }
        for media_ssrc in due {
            self.queue_rtcp(&[RtcpPacket::Pli(Pli {
                sender_ssrc,
                media_ssrc,
            })]);
        }
        Ok(())
    }

    fn queue_rtcp(&mut self, packets: &[RtcpPacket]) {
        if self.out.len() >= MEDIA_QUEUE {
            return;
        }
        let mut data = self.spare.pop().unwrap_or_default();
        data.resize(1200, 0);
        match crate::rtp::rtcp::write_compound(packets, &mut data) {
            Ok(n) => {
                data.truncate(n);
                self.out.push_back(Outgoing { data, rtcp: true });
            }
            Err(_) => self.spare.push(data),
        }
    }

    /// The next protected packet into `buf`, and its length.
    pub fn poll_packet(&mut self, buf: &mut [u8]) -> Option<usize> {
        let srtp = self.srtp.as_mut()?;
        loop {
            let o = self.out.pop_front()?;
            let len = o.data.len();
            let room = len + 64;
            let written = if buf.len() < room {
                None
            } else {
                buf[..len].copy_from_slice(&o.data);
                if o.rtcp {
                    srtp.outbound.protect_rtcp(buf, len).ok()
                } else {
                    srtp.outbound.protect_rtp(buf, len).ok()
                }
            };
            if o.rtcp {
                self.counters.rtcp_sent += 1;
            } else {
                self.counters.rtp_sent += 1;
            }
            let mut data = o.data;
            data.clear();
            if self.spare.len() < 64 {
                self.spare.push(data);
            }
            if let Some(n) = written {
                return Some(n);
            }
        }
    }

    /// Sender and receiver reports (RFC 3550 §6.4), one compound per transceiver that sends or
    /// receives, with SDES CNAME (§6.1: every compound carries one).
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.next_report else { return };
        if self.srtp.is_none() || now < at {
            return;
        }
        // RFC 3550 §6.3.1: randomised over [0.5, 1.5] of the interval.
        let jitter = Duration::from_millis(500 + self.rng.u64() % 1000);
        self.next_report = Some(now + REPORT_INTERVAL * jitter.as_millis() as u32 / 1000);
        let ntp = self.ntp(now);
        let mut reports = Vec::new();
        for t in &self.transceivers {
            if t.stopped || t.negotiated.is_none() {
                continue;
            }
            let blocks: smallvec::SmallVec<[ReportBlock; 2]> = t
                .receivers
                .iter()
                .map(|r| ReportBlock {
                    ssrc: r.ssrc,
                    extended_highest_sequence: u32::from(r.last_seq.unwrap_or(0)),
                    last_sr: r.last_sr.map_or(0, |s| s.0),
                    delay_since_last_sr: r.last_sr.map_or(0, |(_, at)| {
                        let d = now.saturating_duration_since(at);
                        (d.as_micros() * 65536 / 1_000_000) as u32
                    }),
                    ..ReportBlock::default()
                })
                .collect();
            let first = if t.sender.packets > 0 {
                let since = t
                    .sender
                    .last_sent
                    .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
                let clock = t
                    .negotiated
                    .as_ref()
                    .and_then(|n| n.codecs.first())
                    .map_or(90_000, |c| c.codec.clock_rate);
                let rtp_time = t
                    .sender
                    .last_rtp_ts
                    .wrapping_add((since.as_micros() as u64 * u64::from(clock) / 1_000_000) as u32);
                RtcpPacket::SenderReport(SenderReport {
                    ssrc: t.ssrc,
                    ntp_time: ntp,
                    rtp_time,
                    packet_count: t.sender.packets as u32,
                    octet_count: t.sender.bytes as u32,
                    reports: blocks,
                    profile_extension: Vec::new(),
                })
            } else if !t.receivers.is_empty() {
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc: t.ssrc,
                    reports: blocks,
                    ..ReceiverReport::default()
                })
            } else {
                continue;
            };
            reports.push([first, RtcpPacket::Sdes(Sdes::cname(t.ssrc, &self.cname))]);
        }
        for r in reports {
            self.queue_rtcp(&r);
        }
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.srtp.as_ref()?;
        self.next_report
    }
}
