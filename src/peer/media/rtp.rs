//! The RTP level at run time: SRTP keyed from DTLS (RFC 5764 §4.2) and the send side: the
//! outgoing queue, retransmissions and RTCP. The receive side is in `recv.rs`.

use std::collections::VecDeque;
use std::time::Instant;

use super::{MEDIA_QUEUE, Media, Outgoing};
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
