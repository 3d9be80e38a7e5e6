//! Congestion control on a [`PeerConnection`](crate::peer::PeerConnection): transport-wide
//! congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01) or RFC 8888
//! congestion control feedback both ways, and the GCC [`Controller`] (draft-ietf-rmcat-gcc-02)
//! fed by it.
//!
//! - Which feedback: TWCC when the transport-wide sequence number extension and
//!   `a=rtcp-fb:* transport-cc` are negotiated; otherwise RFC 8888 when `a=rtcp-fb:* ack ccfb`
//!   is ([`MediaEngine::with_ccfb`](crate::peer::MediaEngine::with_ccfb)). RFC 8888 needs no
//!   header extension: it reports each packet by SSRC and RTP sequence number, and the sender
//!   maps those back to what it sent, probes and retransmissions included.
//!
//! - REMB (draft-alvestrand-rmcat-remb-03): when the peer negotiated `goog-remb` and neither
//!   of those, received packets carrying abs-send-time feed a receive-side estimator
//!   ([`RemoteEstimator`]) whose REMB goes out once a second and at once on a drop over 3%. A
//!   REMB received caps the controller's target, and is the estimate itself while no
//!   per-packet feedback has arrived. The peer's receiver reports about our streams (packets
//!   expected and lost between two report blocks) then feed the controller's loss-based
//!   limit, as libwebrtc's, since REMB carries no loss.
//! - Receive side: every RTP packet carrying the transport-wide sequence number extension is
//!   recorded with its arrival time; when the codec negotiated `a=rtcp-fb:* transport-cc`, a
//!   TWCC feedback packet goes out every 50 ms (as libwebrtc) while packets arrive.
//! - Send side: every RTP packet that leaves `poll_transmit` with a transport-wide sequence
//!   number is recorded with its size and the time it *left* (not when `write_rtp` queued it);
//!   retransmissions get a fresh number. TWCC feedback and REMB from the peer feed the
//!   controller, whose target reaches the application as
//!   [`PeerEvent::BitrateEstimate`] and the stats as `availableOutgoingBitrate`.
//! - Pacing: once either feedback is negotiated, every RTP packet we send (audio,
//!   retransmissions, video, padding and probes) goes through one [`Pacer`]: a leaky bucket at
//!   the controller's pacing rate (2.5 times the target), probe clusters at their own rate, in
//!   the order audio, retransmissions, video, padding. Its queue is bounded (packets, bytes and
//!   2 s): past it the oldest video is dropped first, counted (`pacer_dropped`) and told as a
//!   [`Diagnostic`](crate::peer::Diagnostic). Transport-wide sequence numbers and
//!   abs-send-time are written when a packet *leaves* the pacer, so the estimator sees the
//!   send order. Without negotiated feedback, packets leave as soon as they are written.
//! - Probing: the controller's probe clusters (at start, and while application-limited) take
//!   queued media at the cluster's rate, else RTP padding on the first RTX stream we send;
//!   without RTX and without media waiting there are no probes and the estimate climbs by AIMD
//!   alone.
//! - Retransmissions (NACK answered by RTX) are limited to the target over the last second
//!   (at least 500 kbit/s): after a capacity drop they would otherwise keep the bottleneck
//!   full. With REMB only, nothing is paced and nothing reports each packet: retransmissions
//!   then fit in what media left of the target over the last second, or a queue that
//!   overflowed once stays full of repairs. The application is still expected to encode at the estimate: the pacer smooths
//!   bursts, it does not make room for more than the path carries.
//!
//! ```
//! # use kaon::peer::{PeerConfig, PeerEvent};
//! let mut config = PeerConfig::with_seed(1);
//! config.start_bitrate = 500_000;
//! config.max_bitrate = 2_500_000;
//! // ... once media flows, the encoder follows the estimate:
//! # let event = PeerEvent::BitrateEstimate { bitrate_bps: 600_000, reason: kaon::bwe::Reason::DelayIncrease };
//! if let PeerEvent::BitrateEstimate { bitrate_bps, .. } = event {
//!     // encoder.set_bitrate(bitrate_bps)
//!     assert!(bitrate_bps >= config.min_bitrate);
//! }
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Outgoing;
use super::rtp::earliest;
use crate::bwe::{
    CcfbRecorder, CcfbSender, Class, Config, Controller, Event, FeedbackRecorder, Paced, Pacer,
    PacerConfig, PacketKind, PacketResult, Reason, RembConfig, RemoteEstimator, TwccSender,
    build_twcc,
};
use crate::peer::PeerEvent;
use crate::peer::jsep::Negotiated;
use crate::peer::jsep::codec::{FEEDBACK_CCFB, FEEDBACK_REMB};
use crate::rtp::rtcp::{CongestionControlFeedback, Remb, ReportBlock, RtcpPacket, TransportCc};
use crate::rtp::{ExtensionKind, ExtensionValue, RtpBuilder, RtpHeader, RtpPacket};

/// A new target is told to the application when it moved by at least this share of the last
/// one told (or fell because of overuse or loss).
const EVENT_CHANGE: f64 = 0.05;
/// At most this many packets in one TWCC feedback packet, so it fits the RTCP datagram
/// (a received packet costs at most 2 bytes of delta and 2/7 of a status chunk).
const MAX_PER_FEEDBACK: usize = 400;
/// An RFC 8888 feedback packet is at most this long, so it fits the RTCP datagram with the
/// SRTCP trailer.
const MAX_CCFB_LEN: usize = 1100;
/// Feedback packets waiting to go out; past this the oldest is dropped (the next one reports
/// newer packets, which is what the sender's estimator needs).
const MAX_PENDING: usize = 8;
/// RTP padding is at most 255 bytes a packet (RFC 3550 §5.1: its length is one octet); a probe's
/// share of padding goes out as several such packets back to back.
const MAX_PADDING: usize = 255;
/// Retransmissions are budgeted over this window.
const RTX_WINDOW: Duration = Duration::from_secs(1);
/// The window is counted in this many time buckets (31.25 ms each): a packet counts against
/// the budget from when it left until its bucket is the oldest one a window later, so for
/// between `RTX_WINDOW - RTX_BUCKET` and `RTX_WINDOW`.
const RTX_BUCKETS: usize = 32;
/// The time one bucket of the retransmission window spans.
const RTX_BUCKET: Duration =
    Duration::from_nanos(RTX_WINDOW.as_nanos() as u64 / RTX_BUCKETS as u64);
/// Retransmissions may use up to the target (libwebrtc's limit), and at least this many bits
/// per second however low the target fell: at a low target the loss that drove it there may
/// be random, and repairs are what keep the video decodable.
const RTX_MIN_BPS: u64 = 500_000;
/// With REMB alone, retransmissions may always use this share of the target, beyond what
/// media leaves of it.
const REMB_REPAIR_SHARE: f64 = 0.1;
/// Report blocks are remembered for at most this many of our sending SSRCs.
const MAX_REPORTED: usize = 32;
/// Two report blocks for one stream further apart than this many packets are taken for a
/// restart, not loss.
const MAX_REPORT_GAP: u32 = 1 << 15;

/// The start, minimum and maximum bitrate a connection's estimate runs between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BitrateLimits {
    pub start: u64,
    pub min: u64,
    pub max: u64,
}

/// The connection's congestion control state.
#[derive(Debug)]
pub(crate) struct Bwe {
    controller: Controller,
    recorder: FeedbackRecorder,
    /// The SSRC of the last packet recorded (named as the media source of our feedback).
    media_ssrc: u32,
    /// Feedback built and not yet sent.
    pending: VecDeque<TransportCc>,
    /// Whether RFC 8888 feedback was negotiated (on any transceiver).
    ccfb: bool,
    /// RFC 8888: what arrived, by SSRC; and what we sent, by SSRC and sequence number.
    ccfb_rx: CcfbRecorder,
    ccfb_tx: CcfbSender,
    ccfb_pending: VecDeque<CongestionControlFeedback>,
    /// Whether REMB is what we send back: `goog-remb` negotiated, and neither transport-wide
    /// feedback nor RFC 8888 (set after each offer/answer exchange).
    remb: bool,
    /// The receive-side estimate REMB carries, from abs-send-time.
    remote: RemoteEstimator,
    /// With REMB only: the last report block about each of our sending SSRCs (SSRC,
    /// extended highest sequence number, cumulative lost), for the loss between two blocks.
    reported: Vec<(u32, u32, i32)>,
    /// REMB packets sent, for tests and diagnostics.
    pub remb_sent: u64,
    /// Our sent transport-wide sequence numbers and the peer's feedback, extended.
    twcc: TwccSender,
    results: Vec<PacketResult>,
    /// Whether RTP goes through the pacer: TWCC or RFC 8888 feedback is negotiated.
    pub paced: bool,
    /// Orders and times every RTP packet when `paced`; else only the probe clusters.
    pacer: Pacer<Outgoing>,
    /// Padding bytes the pacer asked for and not yet sent, and what they are.
    padding_owed: usize,
    padding_kind: PacketKind,
    /// When the pacer asked for the padding still owed.
    padding_at: Option<Instant>,
    /// What left in the last [`RTX_WINDOW`], media and retransmissions apart.
    window: SentWindow,
    /// Retransmissions dropped because they would have gone over the target.
    pub rtx_dropped: u64,
    /// The target last told to the application (0: none yet).
    told: u64,
    /// Whether a packet with a transport-wide sequence number was sent: the estimate is live.
    active: bool,
    /// TWCC feedback packets sent, for tests and diagnostics.
    pub feedback_sent: u64,
    /// TWCC feedback packets received.
    pub feedback_received: u64,
    /// Set when something may have moved [`poll_timeout`](Self::poll_timeout) earlier since
    /// [`take_timeout_moved`](Self::take_timeout_moved) last cleared it: a packet sent
    /// without transport-wide feedback (REMB only, or none) leaves it alone, so the send
    /// path does not look at five timers it cannot have changed.
    timeout_moved: bool,
}

impl Default for Bwe {
    fn default() -> Self {
        Self::new(BitrateLimits {
            start: 300_000,
            min: 30_000,
            max: 10_000_000,
        })
    }
}

impl Bwe {
    pub fn new(limits: BitrateLimits) -> Self {
        let min = limits.min.min(limits.max);
        let config = Config {
            start_bitrate: limits.start.clamp(min, limits.max.max(min)),
            min_bitrate: min,
            max_bitrate: limits.max.max(min),
            ..Config::default()
        };
        Self {
            controller: Controller::new(config),
            recorder: FeedbackRecorder::default(),
            media_ssrc: 0,
            pending: VecDeque::new(),
            ccfb: false,
            ccfb_rx: CcfbRecorder::default(),
            ccfb_tx: CcfbSender::default(),
            ccfb_pending: VecDeque::new(),
            remb: false,
            remote: RemoteEstimator::new(RembConfig::default()),
            reported: Vec::new(),
            remb_sent: 0,
            twcc: TwccSender::default(),
            results: Vec::new(),
            paced: false,
            pacer: Pacer::new(PacerConfig::default()),
            padding_owed: 0,
            padding_kind: PacketKind::Padding,
            padding_at: None,
            window: SentWindow::default(),
            rtx_dropped: 0,
            told: 0,
            active: false,
            feedback_sent: 0,
            feedback_received: 0,
            timeout_moved: true,
        }
    }

    /// Whether RFC 8888 feedback is negotiated: set after each offer/answer exchange.
    pub fn set_ccfb(&mut self, on: bool) {
        self.ccfb = on;
        self.timeout_moved = true;
    }

    /// Whether REMB is the feedback we send: set after each offer/answer exchange.
    pub fn set_remb(&mut self, on: bool) {
        self.remb = on;
        self.timeout_moved = true;
    }

    /// A received RTP packet (before RTX unwrapping: padding probes count too), routed to a
    /// transceiver that negotiated `n`. Recorded for TWCC when it carries the transport-wide
    /// sequence number and the codec negotiated `transport-cc` feedback; otherwise for
    /// RFC 8888 when that is negotiated; otherwise, when only REMB is, fed to the receive-side
    /// estimator if it carries abs-send-time.
    ///
    /// Returns the deadline of the one that took it, the only one the packet can move (the
    /// others' are already in the caller's cached deadline); `None` when none took it.
    #[inline]
    pub fn on_rtp_received(
        &mut self,
        now: Instant,
        pkt: &RtpPacket<&[u8]>,
        n: &Negotiated,
    ) -> Option<Instant> {
        // The flag first: without transport-cc the map is not searched for its id.
        if n.transport_cc
            && let Some(id) = n.recv_extensions.id(ExtensionKind::TransportCc)
            && let Some(&[a, b]) = pkt.extension(id)
        {
            self.media_ssrc = pkt.ssrc();
            self.recorder.on_packet(now, u16::from_be_bytes([a, b]));
            return self.recorder.poll_timeout();
        }
        if self.ccfb {
            self.ccfb_rx
                .on_packet(now, pkt.ssrc(), pkt.sequence_number());
            self.ccfb_rx.poll_timeout()
        } else if self.remb
            && let Some(id) = n.recv_extensions.id(ExtensionKind::AbsSendTime)
            && let Some(&[a, b, c]) = pkt.extension(id)
        {
            let abs = u32::from_be_bytes([0, a, b, c]);
            let moved = self.remote.on_packet(now, abs, pkt.len(), pkt.ssrc());
            if moved {
                self.remote.poll_timeout()
            } else {
                None
            }
        } else {
            None
        }
    }

    /// The next feedback packet (TWCC, RFC 8888 or REMB) due at `now`, written into `buf` with
    /// our SSRC `sender`.
    pub fn poll_rtcp(&mut self, now: Instant, sender: u32, buf: &mut [u8]) -> Option<usize> {
        self.timeout_moved = true;
        if let Some(r) = self.remote.poll_remb(now) {
            self.remb_sent += 1;
            return Remb::new(sender, r.bitrate, &r.ssrcs).write(buf).ok();
        }
        if let Some(f) = self.recorder.poll_feedback(now) {
            let (pending, media) = (&mut self.pending, self.media_ssrc);
            build_twcc(&f, sender, media, MAX_PER_FEEDBACK, |fb| {
                if pending.len() >= MAX_PENDING {
                    pending.pop_front();
                }
                pending.push_back(fb);
            });
        }
        let ccfb = &mut self.ccfb_pending;
        self.ccfb_rx.poll_feedback(now, sender, MAX_CCFB_LEN, |fb| {
            if ccfb.len() >= MAX_PENDING {
                ccfb.pop_front();
            }
            ccfb.push_back(fb);
        });
        if let Some(fb) = self.ccfb_pending.pop_front() {
            self.feedback_sent += 1;
            return fb.write(buf).ok();
        }
        let fb = self.pending.pop_front()?;
        self.feedback_sent += 1;
        fb.write(buf).ok()
    }

    /// An RTP packet with transport-wide sequence number `seq` (stamped as it left) left for
    /// the network at `now`; `size` is what went on the wire. `header` is the packet, plain or
    /// protected: only its fixed header is read, for RFC 8888 when no transport-wide number
    /// was written.
    #[inline]
    pub fn on_rtp_sent(
        &mut self,
        now: Instant,
        header: &[u8],
        seq: Option<u16>,
        size: usize,
        kind: PacketKind,
    ) {
        if seq.is_none() && !self.ccfb {
            self.sent_without_feedback(now, size, kind);
            return;
        }
        self.sent_with_feedback(now, header, seq, (size, kind));
    }

    /// [`on_rtp_sent`](Self::on_rtp_sent) for a packet no per-packet feedback will name.
    #[inline]
    fn sent_without_feedback(&mut self, now: Instant, size: usize, kind: PacketKind) {
        // With REMB only the target is all the receiver takes: what media used of it limits
        // the retransmissions (see `may_retransmit`).
        if self.remb && kind != PacketKind::Retransmission {
            self.window.record(now, size, false);
        }
    }

    /// [`on_rtp_sent`](Self::on_rtp_sent) with TWCC or RFC 8888 feedback negotiated: apart,
    /// so the path without it stays short.
    #[inline(never)]
    fn sent_with_feedback(
        &mut self,
        now: Instant,
        header: &[u8],
        seq: Option<u16>,
        (size, kind): (usize, PacketKind),
    ) {
        let seq64 = match seq {
            Some(seq) => self.twcc.on_sent(seq),
            // RFC 8888 §3.1: reports name the packet by its SSRC and RTP sequence number (the
            // header's bytes 2..4 and 8..12 are in the clear under SRTP).
            None if header.len() >= 12 && header[0] >> 6 == 2 => {
                let seq = u16::from_be_bytes([header[2], header[3]]);
                let ssrc = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
                self.ccfb_tx.on_sent(ssrc, seq)
            }
            None => return self.sent_without_feedback(now, size, kind),
        };
        self.active = true;
        self.timeout_moved = true;
        self.controller.on_packet_sent(now, seq64, size, kind);
        self.start_probes();
        if kind != PacketKind::Retransmission {
            self.window.record(now, size, false);
        }
    }

    /// A retransmission left (with or without a transport-wide number, in a probe or not):
    /// it counts against the retransmission budget. Out of line: `send_rtp`'s other packets
    /// skip it.
    #[inline(never)]
    pub fn count_retransmission(&mut self, now: Instant, size: usize) {
        self.window.record(now, size, true);
    }

    /// Feedback about what we sent: TWCC and REMB go to the controller. Returns whether the
    /// packet was one of those.
    pub fn on_rtcp(&mut self, now: Instant, p: &RtcpPacket) -> bool {
        self.timeout_moved = true;
        match p {
            RtcpPacket::TransportCc(fb) => {
                self.feedback_received += 1;
                self.results.clear();
                self.twcc.results(fb, &mut self.results);
                self.controller.on_feedback(now, &self.results);
                self.start_probes();
                true
            }
            RtcpPacket::CongestionControl(fb) => {
                self.feedback_received += 1;
                self.results.clear();
                self.ccfb_tx.results(fb, &mut self.results);
                self.controller.on_feedback(now, &self.results);
                self.start_probes();
                true
            }
            RtcpPacket::Remb(r) => {
                // A peer that sends REMB estimates for us: the estimate is live.
                self.active = true;
                self.controller.on_remb(now, r.bitrate());
                true
            }
            _ => false,
        }
    }

    /// A receiver report block (in an SR or RR) about `block.ssrc`, one of our sending
    /// streams. With REMB only, the packets expected and lost since the previous block for that
    /// stream feed the controller's loss-based limit; beside per-packet feedback, which
    /// reports the same losses, blocks are ignored. The first block for a stream, and one whose
    /// sequence went back or jumped (a restarted stream), only set the reference.
    pub fn on_report_block(&mut self, now: Instant, block: &ReportBlock) {
        self.timeout_moved = true;
        if !self.remb {
            return;
        }
        let (ssrc, highest, cumulative) = (
            block.ssrc,
            block.extended_highest_sequence,
            block.cumulative_lost,
        );
        let Some(i) = self.reported.iter().position(|r| r.0 == ssrc) else {
            if self.reported.len() >= MAX_REPORTED {
                self.reported.remove(0);
            }
            self.reported.push((ssrc, highest, cumulative));
            return;
        };
        let (_, last_highest, last_cumulative) =
            std::mem::replace(&mut self.reported[i], (ssrc, highest, cumulative));
        let expected = highest.wrapping_sub(last_highest);
        if expected == 0 || expected > MAX_REPORT_GAP {
            return;
        }
        // Duplicates can make the cumulative count fall: then the block's own fraction
        // (of the packets expected since the previous report, in 1/256) is what is left.
        let lost = match u32::try_from(i64::from(cumulative) - i64::from(last_cumulative)) {
            Ok(lost) => lost.min(expected),
            Err(_) => (u64::from(block.fraction_lost) * u64::from(expected) / 256) as u32,
        };
        self.controller.on_receiver_report(now, expected, lost);
    }

    /// Whether a retransmission of `size` bytes may go now. Once the estimate is live,
    /// retransmissions over the last second may not exceed the target (nor [`RTX_MIN_BPS`],
    /// whichever is more): after a capacity drop, NACKs for what the queue lost would otherwise
    /// double the load and keep the bottleneck full (libwebrtc likewise drops retransmissions
    /// past a rate limit set to the target). With REMB alone, whose receiver counts repaired
    /// packets as received, media and retransmissions together stay within the target, except
    /// for a repair share of a tenth of it.
    ///
    /// "The last second" is counted in [`RTX_BUCKETS`] buckets: a packet sent counts for
    /// between 31.25 ms less than a second and a second.
    pub fn may_retransmit(&mut self, now: Instant, size: usize) -> bool {
        if !self.active {
            return true;
        }
        self.window.advance(now);
        let (media, rtx, size) = (self.window.media, self.window.rtx, size as u64);
        let ok = if self.remb {
            // What media leaves of the target, and at least a repair share of it: a sender
            // whose encoder fills the target still answers some NACKs.
            let target = self.controller.target_bitrate();
            media + rtx + size <= self.allowance(target)
                || rtx + size <= self.allowance((target as f64 * REMB_REPAIR_SHARE) as u64)
        } else {
            let allowance = self.allowance(self.controller.target_bitrate().max(RTX_MIN_BPS));
            rtx + size <= allowance
        };
        if !ok {
            self.rtx_dropped += 1;
        }
        ok
    }

    /// Bytes `rate` carries over the retransmission window.
    fn allowance(&self, rate: u64) -> u64 {
        (rate as f64 / 8.0 * RTX_WINDOW.as_secs_f64()) as u64
    }

    /// Runs the controller's timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timeout_moved = true;
        self.controller.handle_timeout(now);
        self.start_probes();
    }

    /// Hands the controller's probe clusters to the pacer, at the current rates.
    fn start_probes(&mut self) {
        while let Some(c) = self.controller.poll_probe() {
            self.pacer.start_probe(c);
        }
        self.pacer.set_rates(self.controller.pacing_rate(), 0);
    }

    /// Queues a plaintext RTP packet in the pacer (by its kind: audio, retransmission or
    /// video). What the queue's bounds push out comes back from
    /// [`poll_dropped`](Self::poll_dropped).
    pub fn enqueue(&mut self, now: Instant, o: Outgoing) {
        let (size, class) = (o.len(), class_of(o.kind));
        self.pacer.enqueue(now, o, size, class);
    }

    /// Puts back first a packet [`poll_paced`](Self::poll_paced) gave that could not go.
    pub fn requeue(&mut self, now: Instant, o: Outgoing) {
        let (size, class) = (o.len(), class_of(o.kind));
        self.pacer.requeue(now, o, size, class);
    }

    /// A retransmission of `size` bytes left at once, past the pacer's queue: it uses the
    /// pacer's budget.
    pub fn charge_retransmission(&mut self, now: Instant, size: usize) {
        self.pacer.charge_sent(now, size);
    }

    /// A packet the pacer dropped.
    pub fn poll_dropped(&mut self) -> Option<Outgoing> {
        self.pacer.poll_dropped()
    }

    /// The next paced packet due at `now` (with what to report it as), or bytes of padding
    /// (at most [`MAX_PADDING`] at a time).
    pub fn poll_paced(&mut self, now: Instant) -> Option<Paced<Outgoing>> {
        if self.padding_owed == 0 {
            match self.pacer.poll_send(now)? {
                Paced::Padding { size, kind } => {
                    self.padding_owed = size;
                    self.padding_kind = kind;
                    self.padding_at = Some(now);
                }
                p @ Paced::Packet { .. } => return Some(p),
            }
        }
        let size = self.padding_owed.min(MAX_PADDING);
        self.padding_owed -= size;
        Some(Paced::Padding {
            size,
            kind: self.padding_kind,
        })
    }

    /// When the pacer next sends (at or before its last `now`: at once); `None` when it has
    /// nothing to do.
    pub fn pacer_timeout(&self) -> Option<Instant> {
        if self.padding_owed > 0 {
            return self.padding_at;
        }
        (self.active || !self.pacer.is_empty())
            .then(|| self.pacer.poll_timeout())
            .flatten()
    }

    /// When feedback is next due or the controller's timer runs (the pacer's next send is
    /// [`pacer_timeout`](Self::pacer_timeout)).
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(self.receive_timeout(), self.controller.poll_timeout())
    }

    /// Whether [`poll_timeout`](Self::poll_timeout) may have moved since the last call
    /// (every call but a packet sent without transport-wide feedback, a retransmission
    /// counted, or the pacer's queue may move it); clears the mark.
    #[inline]
    pub fn take_timeout_moved(&mut self) -> bool {
        std::mem::take(&mut self.timeout_moved)
    }

    /// The deadline of the feedback recorders only (a received packet moves the one of the
    /// recorder that took it, which [`on_rtp_received`](Self::on_rtp_received) returns).
    pub fn receive_timeout(&self) -> Option<Instant> {
        let a = self.recorder.poll_timeout();
        let d = self.ccfb_rx.poll_timeout();
        let r = self.remote.poll_timeout();
        earliest(earliest(a, d), r)
    }

    /// Moves meaningful target changes into the connection's events: the first, any move of
    /// 5% or more, and any fall on overuse or loss. Inline, it answers the common case (after
    /// every received packet: nothing to tell) without a call.
    #[inline]
    pub fn drain_events(&mut self, events: &mut VecDeque<PeerEvent>) {
        if (self.active && self.told == 0) || self.controller.has_events() {
            self.drain_pending(events);
        }
    }

    /// [`drain_events`](Self::drain_events) with a first target to tell or changes queued.
    #[inline(never)]
    fn drain_pending(&mut self, events: &mut VecDeque<PeerEvent>) {
        self.timeout_moved = true;
        if self.active && self.told == 0 {
            self.told = self.controller.target_bitrate();
            events.push_back(PeerEvent::BitrateEstimate {
                bitrate_bps: self.told,
                reason: Reason::Initial,
            });
        }
        while let Some(e) = self.controller.poll_event() {
            if !self.active {
                continue;
            }
            let Event::BitrateEstimate { bitrate, reason } = e;
            if reason == Reason::Initial && self.told != 0 {
                // The start rate queued at creation, after a first target was already told
                // (a REMB can arrive before anything was sent).
                continue;
            }
            let change = (bitrate as f64 - self.told as f64).abs();
            let fell = bitrate < self.told && matches!(reason, Reason::Overuse | Reason::Loss);
            if self.told == 0 || change >= self.told as f64 * EVENT_CHANGE || fell {
                self.told = bitrate;
                events.push_back(PeerEvent::BitrateEstimate {
                    bitrate_bps: bitrate,
                    reason,
                });
            }
        }
    }

    /// W3C `availableOutgoingBitrate`: the target, once packets were sent with transport-wide
    /// sequence numbers (or recorded for RFC 8888 feedback).
    pub fn available_outgoing_bitrate(&self) -> Option<u64> {
        self.active.then(|| self.controller.target_bitrate())
    }
}

/// The bytes sent over the last [`RTX_WINDOW`], media and retransmissions apart, counted in
/// [`RTX_BUCKETS`] time buckets: a packet adds to the bucket `now` falls in, and a bucket a
/// window old is emptied as time moves past it. Constant work and memory per packet whatever
/// the rate (a queue of every packet sent held up to thousands of entries, and its front was
/// a cache miss on every packet of a busy connection).
#[derive(Debug, Default)]
struct SentWindow {
    /// Media and retransmission bytes sent in each bucket; `cur` is the one `end` closes.
    buckets: [[u32; 2]; RTX_BUCKETS],
    cur: usize,
    /// When bucket `cur` ends; `None` before the first packet.
    end: Option<Instant>,
    /// The buckets' sums.
    media: u64,
    rtx: u64,
}

impl SentWindow {
    /// Counts `size` bytes sent at `now`, as a retransmission or as media.
    fn record(&mut self, now: Instant, size: usize, rtx: bool) {
        self.advance(now);
        let b = &mut self.buckets[self.cur][usize::from(rtx)];
        let before = *b;
        *b = b.saturating_add(u32::try_from(size).unwrap_or(u32::MAX));
        let added = u64::from(*b - before);
        if rtx {
            self.rtx += added;
        } else {
            self.media += added;
        }
    }

    /// Moves the current bucket to the one `now` falls in, emptying those a window old (all
    /// of them after a window or more without a packet). A `now` before the current bucket
    /// (the caller's clock went back) stays in it.
    #[inline]
    fn advance(&mut self, now: Instant) {
        // Within the current bucket (every packet but one a bucket): no call.
        if let Some(end) = self.end
            && now < end
        {
            return;
        }
        self.advance_past(now);
    }

    /// `advance` once `now` is past the current bucket, or the first packet.
    #[inline(never)]
    fn advance_past(&mut self, now: Instant) {
        let end = match self.end {
            Some(end) if now < end => return,
            Some(end) => end,
            None => {
                self.end = now.checked_add(RTX_BUCKET);
                return;
            }
        };
        let steps = (now - end).as_nanos() / RTX_BUCKET.as_nanos() + 1;
        if steps >= RTX_BUCKETS as u128 {
            *self = Self {
                end: now.checked_add(RTX_BUCKET),
                ..Self::default()
            };
            return;
        }
        for _ in 0..steps {
            self.cur = (self.cur + 1) % RTX_BUCKETS;
            let [media, rtx] = std::mem::take(&mut self.buckets[self.cur]);
            self.media -= u64::from(media);
            self.rtx -= u64::from(rtx);
        }
        // Fewer than RTX_BUCKETS steps: the product fits.
        self.end = end.checked_add(RTX_BUCKET * steps as u32);
    }
}

/// The pacer's queue for a packet of `kind`.
fn class_of(kind: PacketKind) -> Class {
    match kind {
        PacketKind::Audio => Class::Audio,
        PacketKind::Retransmission => Class::Retransmission,
        _ => Class::Video,
    }
}

/// Overwrites the value of header extension `id` in the plaintext RTP packet `buf` with
/// `value`, when it has that extension at that length.
pub(super) fn stamp(buf: &mut [u8], id: u8, value: &[u8]) -> bool {
    let at = {
        let Ok(pkt) = RtpPacket::new_checked(&buf[..]) else {
            return false;
        };
        match pkt.extension(id) {
            Some(ext) if ext.len() == value.len() => ext.as_ptr() as usize - buf.as_ptr() as usize,
            _ => return false,
        }
    };
    buf[at..at + value.len()].copy_from_slice(value);
    true
}

impl super::Media {
    /// After an offer/answer exchange: whether any transceiver negotiated RFC 8888 feedback.
    pub(super) fn settle_feedback(&mut self) {
        let ccfb = self.transceivers.iter().any(|t| {
            t.negotiated
                .as_ref()
                .is_some_and(|n| n.codecs.iter().any(|c| c.codec.has_feedback(FEEDBACK_CCFB)))
        });
        self.bwe.set_ccfb(ccfb);
        // Congestion control needs feedback about what we send: TWCC (the transport-wide
        // number on our packets) or RFC 8888.
        let twcc = self.transceivers.iter().any(|t| {
            t.negotiated.as_ref().is_some_and(|n| {
                n.send_extensions.id(ExtensionKind::TransportCc).is_some() && n.transport_cc
            })
        });
        self.bwe.paced = ccfb || twcc;
        // REMB (a rate the receiver estimates from abs-send-time) only when neither of those
        // per-packet feedbacks is negotiated to the peer (libwebrtc does the same).
        let per_packet = ccfb
            || self
                .transceivers
                .iter()
                .any(|t| t.negotiated.as_ref().is_some_and(|n| n.transport_cc));
        let remb = self.transceivers.iter().any(|t| {
            t.negotiated
                .as_ref()
                .is_some_and(|n| n.codecs.iter().any(|c| c.codec.has_feedback(FEEDBACK_REMB)))
        });
        self.bwe.set_remb(remb && !per_packet);
    }

    /// A padding packet for a probe cluster, protected into `buf`, when one is due: RTP
    /// padding on the first RTX stream we send (RFC 4588 streams carry no media of their own,
    /// so a receiver drops it after recording its arrival), with the transport-wide number (if
    /// TWCC is on) and MID. Nothing without RTX, or without TWCC or RFC 8888 feedback.
    pub(super) fn poll_padding(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        size: usize,
        kind: PacketKind,
    ) -> Option<usize> {
        let id = self.twcc_send_id;
        if id.is_none() && !self.bwe.ccfb {
            return None;
        }
        let t = self.transceivers.iter_mut().find(|t| {
            t.mid.is_some() && t.tx.as_ref().is_some_and(|tx| tx.config().rtx.is_some())
        })?;
        let tx = t.tx.as_mut()?;
        let rtx = tx.config().rtx?;
        let seq = tx.next_rtx_sequence_number()?;
        let mid = t.mid?;
        let n = t.negotiated.as_ref()?;
        let mut ext: smallvec::SmallVec<[(u8, ExtensionValue<'_>); 2]> = smallvec::SmallVec::new();
        if let Some(m) = n.send_extensions.id(ExtensionKind::Mid) {
            ext.push((m, ExtensionValue::Mid(mid.as_str())));
        }
        if let Some(id) = id {
            self.twcc_seq = self.twcc_seq.wrapping_add(1);
            ext.push((id, ExtensionValue::TransportCc(self.twcc_seq)));
        }
        let b = RtpBuilder::new(RtpHeader {
            marker: false,
            payload_type: rtx.payload_type,
            sequence_number: seq,
            timestamp: 0,
            ssrc: rtx.ssrc,
        })
        .extensions(&ext)
        .padding(size.max(1) as u8);
        let room = buf.len().checked_sub(64)?;
        let len = b.write(&mut buf[..room]).ok()?;
        let n = self.srtp.as_mut()?.outbound.protect_rtp(buf, len).ok()?;
        self.counters.rtp_sent += 1;
        let seq = id.map(|_| self.twcc_seq);
        self.bwe.on_rtp_sent(now, &buf[..n], seq, n, kind);
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{ExtensionValue, RtpBuilder, RtpHeader};

    fn packet(twcc: u16) -> Vec<u8> {
        let ext = [(5u8, ExtensionValue::TransportCc(twcc))];
        let b = RtpBuilder::new(RtpHeader {
            marker: false,
            payload_type: 96,
            sequence_number: 1,
            timestamp: 2,
            ssrc: 3,
        })
        .extensions(&ext)
        .payload(&[0; 100]);
        let mut buf = vec![0; b.len()];
        b.write(&mut buf).unwrap();
        buf
    }

    fn twcc_of(buf: &[u8]) -> u16 {
        let p = RtpPacket::new_checked(buf).unwrap();
        let e = p.extension(5).unwrap();
        u16::from_be_bytes([e[0], e[1]])
    }

    #[test]
    fn a_retransmission_is_restamped_with_a_fresh_transport_wide_number() {
        let mut buf = packet(41);
        assert!(stamp(&mut buf, 5, &977u16.to_be_bytes()));
        assert_eq!(twcc_of(&buf), 977);
        assert!(!stamp(&mut buf, 6, &[0, 1]), "no such extension");
        assert!(!stamp(&mut [0x80, 0], 5, &[0, 1]), "not RTP");
    }

    #[test]
    fn the_estimate_is_told_once_packets_carry_transport_wide_numbers() {
        let t0 = crate::test_clock::t0();
        let mut bwe = Bwe::new(BitrateLimits {
            start: 800_000,
            min: 100_000,
            max: 2_000_000,
        });
        let mut events = VecDeque::new();
        bwe.drain_events(&mut events);
        assert!(events.is_empty(), "nothing sent yet");
        assert_eq!(bwe.available_outgoing_bitrate(), None);
        bwe.on_rtp_sent(t0, &packet(1), None, 140, PacketKind::Video);
        bwe.drain_events(&mut events);
        assert!(events.is_empty(), "no transport-wide number negotiated");
        bwe.on_rtp_sent(t0, &packet(1), Some(1), 140, PacketKind::Video);
        bwe.drain_events(&mut events);
        assert_eq!(
            events.pop_front(),
            Some(PeerEvent::BitrateEstimate {
                bitrate_bps: 800_000,
                reason: Reason::Initial
            })
        );
        assert_eq!(bwe.available_outgoing_bitrate(), Some(800_000));
        // REMB below the estimate caps it: a fall of more than 5% is told.
        let remb = crate::rtp::rtcp::Remb::new(1, 400_000, &[3]);
        assert!(bwe.on_rtcp(t0, &RtcpPacket::Remb(remb)));
        bwe.drain_events(&mut events);
        match events.pop_front() {
            Some(PeerEvent::BitrateEstimate {
                bitrate_bps,
                reason: Reason::Remb,
            }) => assert!((390_000..=400_000).contains(&bitrate_bps)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retransmissions_fit_the_budget_of_the_last_second_within_a_bucket() {
        let t0 = crate::test_clock::t0();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut bwe = Bwe::default();
        assert!(bwe.may_retransmit(t0, 1 << 30), "no estimate yet: no limit");
        bwe.on_rtp_sent(t0, &packet(1), Some(1), 140, PacketKind::Video);
        // A 300 kbit/s target: the floor of 500 kbit/s, 62,500 bytes a second.
        for _ in 0..60 {
            bwe.count_retransmission(t0, 1000);
        }
        assert!(bwe.may_retransmit(at(500), 2500));
        assert!(!bwe.may_retransmit(at(500), 2501));
        assert_eq!(bwe.rtx_dropped, 1);
        // Still counted a bucket short of a second later, gone a second later.
        assert!(!bwe.may_retransmit(at(968), 2501));
        assert!(bwe.may_retransmit(at(1000), 62_500));
        // After a long silence nothing is left either.
        bwe.count_retransmission(at(1000), 62_500);
        assert!(!bwe.may_retransmit(at(1500), 1));
        assert!(bwe.may_retransmit(at(60_000), 62_500));
    }

    #[test]
    fn every_packet_of_a_busy_second_counts_and_leaves_a_second_later() {
        let t0 = crate::test_clock::t0();
        let mut w = SentWindow::default();
        // 20,000 packets a second, far more than a per-packet window would keep.
        for n in 0..20_000u64 {
            let now = t0 + Duration::from_micros(50 * n);
            w.record(now, 100, n % 10 == 0);
        }
        assert_eq!((w.media, w.rtx), (1_800_000, 200_000));
        // At 1.5 s, what left in the first half second is forgotten, and at most a bucket
        // (31.25 ms) more.
        w.advance(t0 + Duration::from_millis(1500));
        let media = w.media as f64 / 1_800_000.0;
        assert!((0.46875..=0.5).contains(&media), "{media}");
        w.advance(t0 + Duration::from_millis(2000));
        assert_eq!((w.media, w.rtx), (0, 0));
        assert!(
            std::mem::size_of::<SentWindow>() <= 8 * RTX_BUCKETS + 64,
            "a few lines, no heap"
        );
    }

    #[test]
    fn report_blocks_feed_loss_only_with_remb_and_from_the_second_on() {
        let t0 = crate::test_clock::t0();
        let block = |highest: u32, cumulative: i32, fraction: u8| ReportBlock {
            ssrc: 7,
            fraction_lost: fraction,
            cumulative_lost: cumulative,
            extended_highest_sequence: highest,
            jitter: 0,
            last_sr: 0,
            delay_since_last_sr: 0,
        };
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let mut bwe = Bwe::default();
        bwe.on_report_block(at(0), &block(100, 0, 0));
        bwe.on_report_block(at(1000), &block(200, 50, 128));
        assert!(bwe.reported.is_empty(), "per-packet feedback: ignored");

        bwe.set_remb(true);
        bwe.on_report_block(at(0), &block(100, 0, 0));
        bwe.on_report_block(at(1), &block(120, 2, 0));
        bwe.on_report_block(at(1000), &block(200, 20, 0));
        // 100 expected since the first block, 20 lost: one window of 20%.
        assert!((bwe.controller.stats().loss_fraction - 0.2).abs() < 1e-9);
        // The cumulative count fell (duplicates): the block's fraction, 25% of 100.
        bwe.on_report_block(at(2000), &block(300, 10, 64));
        assert!((bwe.controller.stats().loss_fraction - 0.25).abs() < 1e-9);
        // A jump past the gap is a restart: reference only.
        bwe.on_report_block(at(3000), &block(300 + (1 << 16), 500, 255));
        assert!((bwe.controller.stats().loss_fraction - 0.25).abs() < 1e-9);
        assert_eq!(bwe.reported, vec![(7, 300 + (1 << 16), 500)]);
    }
}
