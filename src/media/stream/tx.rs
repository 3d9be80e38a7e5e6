//! The send side of one RTP stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::history::History;
use super::{
    KeyframeKind, NtpEpoch, Rtx, StreamEvent, ntp_mid, q16_to_duration, randomized, write_sdes,
};
use crate::Rng;
use crate::rtp::RtpPacket;
use crate::rtp::rtcp::{ReportBlock, RtcpPacket, SenderReport};

/// Events kept for the application at most; keyframe requests merge, so this is ample.
const MAX_EVENTS: usize = 8;
/// The RTX history keeps packets at least this long, or three round trips if longer...
const MIN_RETENTION: Duration = Duration::from_secs(1);
/// ...times this (libwebrtc's `kPacketCullingDelayFactor`).
const RETENTION_FACTOR: u32 = 3;

/// Settings of a [`StreamTx`].
#[derive(Debug, Clone)]
pub struct StreamTxConfig {
    /// The media SSRC.
    pub ssrc: u32,
    /// The RTX stream, when negotiated; without it a NACKed packet is sent again as it was.
    pub rtx: Option<Rtx>,
    /// The RTP clock rate of the payload (90000 for video, 48000 for Opus).
    pub clock_rate: u32,
    /// Packets kept for retransmission (rounded up to a power of two; 0 disables NACK
    /// answers). Packets older than three times the longer of 1 s and three round trips are
    /// dropped as reports fall due, and an emptied history gives its memory back.
    pub history: usize,
    /// Bytes the history may hold at most; it grows only as far as `history` packets need.
    pub history_bytes: usize,
    /// Do not retransmit one packet twice within this time (a NACK repeated before the first
    /// retransmission could have arrived).
    pub min_resend_interval: Duration,
    /// The CNAME written in the SDES of each sender report (RFC 3550 §6.5.1); at most 255
    /// bytes are sent.
    pub cname: String,
    /// The NTP time origin for sender reports.
    pub ntp_epoch: NtpEpoch,
    /// The mean sender report interval (RFC 3550 §6.3; randomized to 0.5..1.5 times it).
    pub report_interval: Duration,
    /// Seed for the stream's randomness (RTX sequence numbers, report intervals); `None`
    /// seeds from the operating system.
    pub seed: Option<u64>,
}

impl StreamTxConfig {
    /// Defaults for a stream: a 1024-packet, 1.5 MB history, one report a second.
    pub fn new(ssrc: u32, clock_rate: u32, ntp_epoch: NtpEpoch) -> Self {
        Self {
            ssrc,
            rtx: None,
            clock_rate,
            history: 1024,
            history_bytes: 1024 * 1500,
            min_resend_interval: Duration::from_millis(10),
            cname: String::new(),
            ntp_epoch,
            report_interval: Duration::from_secs(1),
            seed: None,
        }
    }
}

/// What the receiver said about this stream in its report blocks (W3C remote-inbound-rtp).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RemoteInboundStats {
    /// Report blocks received for this SSRC.
    pub reports_received: u64,
    /// The last fraction lost, 0.0..=1.0.
    pub fraction_lost: f64,
    /// The cumulative packets lost the receiver reported.
    pub packets_lost: i64,
    /// The receiver's interarrival jitter, in seconds.
    pub jitter: f64,
    /// The extended highest sequence number the receiver saw.
    pub extended_highest_sequence: u32,
}

/// Counters of a [`StreamTx`] (W3C outbound-rtp names).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TxStats {
    /// RTP packets recorded by [`StreamTx::on_send`].
    pub packets_sent: u64,
    /// Payload bytes of those (headers and padding excluded).
    pub bytes_sent: u64,
    /// Header and padding bytes of those.
    pub header_bytes_sent: u64,
    /// Retransmissions written by [`StreamTx::poll_retransmit`].
    pub retransmitted_packets_sent: u64,
    /// Payload bytes of the retransmissions (as in the original packets).
    pub retransmitted_bytes_sent: u64,
    /// Generic NACK packets received for this SSRC.
    pub nack_count: u64,
    /// Sequence numbers NACKed that the history no longer held (counted and ignored).
    pub nack_unavailable: u64,
    /// PLIs received for this SSRC.
    pub pli_count: u64,
    /// FIRs received for this SSRC (repetitions of one request count once).
    pub fir_count: u64,
    /// Sender reports written.
    pub reports_sent: u64,
    /// The last round-trip time measured from a report block (RFC 3550 §6.4.1).
    pub round_trip_time: Option<Duration>,
    /// The sum of every round-trip time measured.
    pub total_round_trip_time: Duration,
    /// How many round-trip times were measured.
    pub round_trip_time_measurements: u64,
    /// RTP packets given to `on_send` that were malformed or of another SSRC.
    pub packets_ignored: u64,
    /// What the receiver reported.
    pub remote: RemoteInboundStats,
}

/// What every packet sent updates, in one cache line: a forwarder sends each packet on many
/// streams, and these were four lines of the stream apart (`TxStats` holds the other
/// counters; `stats` joins them).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Sent {
    packets: u64,
    /// Payload bytes.
    bytes: u64,
    header_bytes: u64,
    /// When the last packet left, and its RTP timestamp.
    last_at: Option<Instant>,
    next_report: Option<Instant>,
    last_timestamp: u32,
    /// The next sequence number from [`StreamTx::next_sequence_number`].
    next_seq: u16,
}

const _: () = assert!(std::mem::size_of::<Sent>() == 64);

/// The send side of one RTP stream: RTX history, NACK/PLI/FIR handling, RTT and sender
/// reports. See the [module documentation](super) for the driving contract.
#[derive(Debug)]
pub struct StreamTx {
    config: StreamTxConfig,
    rng: Rng,
    history: History,
    /// Sequence numbers to retransmit, oldest first; bounded by the history size.
    resend: VecDeque<u16>,
    /// Set while `resend` is non-empty: when its first entry was queued.
    resend_since: Option<Instant>,
    events: VecDeque<StreamEvent>,
    /// The RTX stream's next sequence number (see `next_rtx_sequence_number`).
    rtx_seq: u16,
    /// RFC 5104 §4.3.1.2: the last FIR command sequence number seen, to spot repetitions.
    last_fir_seq: Option<u8>,
    /// What each packet sent updates: the send counters, the last packet (for the SR's RTP
    /// time), the next report and the next sequence number.
    sent: Sent,
    stats: TxStats,
}

impl StreamTx {
    /// A stream with no packets sent yet.
    pub fn new(config: StreamTxConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let history = History::new(config.history, config.history_bytes);
        let queue = history.slots();
        Self {
            // RFC 3550 §5.1: the initial sequence number SHOULD be random.
            sent: Sent {
                next_seq: rng.u32() as u16,
                ..Sent::default()
            },
            rtx_seq: rng.u32() as u16,
            rng,
            history,
            resend: VecDeque::with_capacity(queue),
            resend_since: None,
            events: VecDeque::with_capacity(MAX_EVENTS),
            last_fir_seq: None,
            stats: TxStats::default(),
            config,
        }
    }

    /// The media SSRC.
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// The configuration.
    pub fn config(&self) -> &StreamTxConfig {
        &self.config
    }

    /// A fresh sequence number for a packet this stream originates (random start, then +1).
    /// A forwarder that rewrites sequence numbers itself need not use it.
    pub fn next_sequence_number(&mut self) -> u16 {
        let s = self.sent.next_seq;
        self.sent.next_seq = s.wrapping_add(1);
        s
    }

    /// The RTX stream's next sequence number, for padding sent on it (bandwidth probes, which
    /// share the RTX numbering so retransmissions never collide with them); `None` without RTX.
    pub fn next_rtx_sequence_number(&mut self) -> Option<u16> {
        self.config.rtx.as_ref()?;
        let s = self.rtx_seq;
        self.rtx_seq = s.wrapping_add(1);
        Some(s)
    }

    /// Records an RTP packet (plaintext, as it leaves) for the RTX history and the counters.
    /// Packets of another SSRC and malformed ones are counted and ignored.
    pub fn on_send(&mut self, now: Instant, packet: &[u8]) {
        let Some(seq) = self.count_sent(now, packet, 0) else {
            return;
        };
        self.history.insert(now, seq, packet);
        self.schedule_report(now);
    }

    /// Records an RTP packet given as its `header` (the whole header, CSRCs and extension
    /// included, and nothing after it) and its `payload`, as
    /// [`on_send`](Self::on_send) records the two joined: a forwarder's path. The history
    /// copies the header and keeps `payload` by reference, so the buffer it lies in stays
    /// alive while the history holds the packet (at most `history` packets, for three times
    /// the longer of 1 s and three round trips): one received buffer serves every stream it
    /// is forwarded on, instead of a copy in each.
    pub fn on_send_shared(&mut self, now: Instant, header: &[u8], payload: Bytes) {
        let Some(seq) = self.count_sent(now, header, payload.len()) else {
            return;
        };
        self.history.insert_shared(now, seq, header, payload);
        self.schedule_report(now);
    }

    /// Records a packet as [`on_send_shared`](Self::on_send_shared) does, but its payload
    /// (`len` bytes) comes once it has left, with [`sent_payload`](Self::sent_payload): the
    /// reference the caller's queue holds moves into the history then, instead of one more
    /// taken now. Until then a NACK for it finds it not held.
    ///
    /// The caller wrote `header` for this stream (its SSRC) with sequence number `seq` and
    /// RTP timestamp `timestamp`; it is not parsed again.
    pub(crate) fn on_send_header(
        &mut self,
        now: Instant,
        header: &[u8],
        (seq, timestamp): (u16, u32),
        len: usize,
    ) {
        self.count(now, seq, timestamp, header.len() + len, len);
        self.history.insert_header(now, seq, header, len);
        self.schedule_report(now);
    }

    /// The payload of the packet [`on_send_header`](Self::on_send_header) recorded with
    /// `seq`, now sent: kept for retransmission, or dropped if the history no longer waits
    /// for it.
    #[inline]
    pub(crate) fn sent_payload(&mut self, seq: u16, payload: Bytes) {
        drop(self.history.fill(seq, payload));
    }

    /// Counts a packet whose header (and maybe payload) is `head` and which has `more`
    /// payload bytes after it; its sequence number, or `None` when it is ignored.
    fn count_sent(&mut self, now: Instant, head: &[u8], more: usize) -> Option<u16> {
        let p = RtpPacket::new_checked(head)
            .ok()
            .filter(|p| p.ssrc() == self.config.ssrc && (more == 0 || p.payload().is_empty()));
        let Some(p) = p else {
            self.stats.packets_ignored += 1;
            return None;
        };
        let seq = p.sequence_number();
        let payload = p.payload().len() + more;
        self.count(now, seq, p.timestamp(), head.len() + more, payload);
        Some(seq)
    }

    /// Counts a packet of `size` bytes, `payload` of them payload, with sequence number `seq`
    /// and RTP timestamp `timestamp`, sent at `now`.
    fn count(&mut self, now: Instant, seq: u16, timestamp: u32, size: usize, payload: usize) {
        let s = &mut self.sent;
        s.packets += 1;
        s.bytes += payload as u64;
        s.header_bytes += (size - payload) as u64;
        s.last_at = Some(now);
        s.last_timestamp = timestamp;
        s.next_seq = seq.wrapping_add(1);
    }

    fn schedule_report(&mut self, now: Instant) {
        if self.sent.next_report.is_none() {
            // RFC 3550 §6.3.6: the first report after half the minimum interval.
            let first = randomized(&mut self.rng, self.config.report_interval / 2);
            self.sent.next_report = Some(now + first);
        }
    }

    /// Feeds one RTCP packet (split from its compound). What concerns this stream is used:
    /// NACKs for it queue retransmissions, PLI and FIR become [`StreamEvent::KeyframeRequest`],
    /// and a report block about it (in an RR or an SR) gives the round-trip time and the
    /// receiver's view. Anything else is ignored.
    pub fn handle_rtcp(&mut self, now: Instant, packet: &RtcpPacket) {
        match packet {
            RtcpPacket::Nack(n) if n.media_ssrc == self.config.ssrc => {
                self.stats.nack_count += 1;
                for seq in n.lost() {
                    self.queue_resend(now, seq);
                }
            }
            RtcpPacket::Pli(p) if p.media_ssrc == self.config.ssrc => {
                self.stats.pli_count += 1;
                self.keyframe(KeyframeKind::Pli);
            }
            RtcpPacket::Fir(f) => {
                let ssrc = self.config.ssrc;
                for e in f.entries.iter().filter(|e| e.ssrc == ssrc) {
                    // RFC 5104 §4.3.1.2: a request with the sequence number of the last one is
                    // a repetition and SHALL NOT trigger another decoder refresh.
                    if self.last_fir_seq == Some(e.sequence) {
                        continue;
                    }
                    self.last_fir_seq = Some(e.sequence);
                    self.stats.fir_count += 1;
                    self.keyframe(KeyframeKind::Fir);
                }
            }
            RtcpPacket::ReceiverReport(rr) => {
                for b in &rr.reports {
                    self.report_block(now, b);
                }
            }
            RtcpPacket::SenderReport(sr) => {
                for b in &sr.reports {
                    self.report_block(now, b);
                }
            }
            _ => {}
        }
    }

    fn queue_resend(&mut self, now: Instant, seq: u16) {
        match self.history.mark_queued(seq) {
            None => self.stats.nack_unavailable += 1,
            Some(false) => {} // already queued
            Some(true) => {
                if self.resend.len() >= self.resend.capacity() {
                    // Cannot happen while each held packet is queued once; stay bounded anyway.
                    if let Some(old) = self.resend.pop_front() {
                        self.history.unmark(old);
                    }
                }
                self.resend.push_back(seq);
                self.resend_since.get_or_insert(now);
            }
        }
    }

    fn keyframe(&mut self, kind: KeyframeKind) {
        // A request still waiting to be read already asks for the next keyframe.
        let queued = self
            .events
            .iter()
            .any(|e| matches!(e, StreamEvent::KeyframeRequest { .. }));
        if !queued && self.events.len() < MAX_EVENTS {
            self.events.push_back(StreamEvent::KeyframeRequest { kind });
        }
    }

    fn report_block(&mut self, now: Instant, b: &ReportBlock) {
        if b.ssrc != self.config.ssrc {
            return;
        }
        let r = &mut self.stats.remote;
        r.reports_received += 1;
        r.fraction_lost = f64::from(b.fraction_lost) / 256.0;
        r.packets_lost = i64::from(b.cumulative_lost);
        r.jitter = f64::from(b.jitter) / f64::from(self.config.clock_rate.max(1));
        r.extended_highest_sequence = b.extended_highest_sequence;
        // RFC 3550 §6.4.1: if no SR has been received yet, LSR is zero; otherwise the
        // round-trip time is A - LSR - DLSR, all in the middle 32 bits of NTP time.
        if b.last_sr == 0 {
            return;
        }
        let a = ntp_mid(self.config.ntp_epoch.ntp_at(now));
        let rtt = a
            .wrapping_sub(b.last_sr)
            .wrapping_sub(b.delay_since_last_sr);
        // A "negative" result (clock steps, a bogus block) is no measurement.
        if rtt >= 1 << 31 {
            return;
        }
        let rtt = q16_to_duration(rtt);
        self.stats.round_trip_time = Some(rtt);
        self.stats.total_round_trip_time += rtt;
        self.stats.round_trip_time_measurements += 1;
    }

    /// The next retransmission written into `buf` (plaintext RTP), and its length; `None`
    /// when nothing is queued. With RTX (RFC 4588 §4) the packet goes on the RTX SSRC and
    /// payload type with the RTX stream's own sequence number, and its payload is the original
    /// sequence number (OSN) followed by the original payload; without RTX it is the original
    /// packet. A packet that does not fit `buf` (which must hold the largest packet sent plus
    /// two bytes) is dropped.
    #[inline]
    pub fn poll_retransmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // Asked before every packet sent: the common answer without a call.
        if self.resend.is_empty() {
            return None;
        }
        self.poll_resend(now, buf)
    }

    /// Whether a retransmission is queued: [`poll_retransmit`](Self::poll_retransmit) has
    /// one to write.
    #[inline]
    pub(crate) fn has_retransmit(&self) -> bool {
        !self.resend.is_empty()
    }

    /// [`poll_retransmit`](Self::poll_retransmit) with something queued.
    #[inline(never)]
    fn poll_resend(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let _ = now;
        while let Some(seq) = self.resend.pop_front() {
            self.history.unmark(seq);
            if self.resend.is_empty() {
                self.resend_since = None;
            }
            // A packet kept by reference comes in two parts: its header, then its payload.
            let Some((original, shared)) = self.history.parts(seq) else {
                continue; // overwritten since the NACK
            };
            let Ok(p) = RtpPacket::new_checked(original) else {
                continue;
            };
            let payload = p.payload();
            let payload_len = payload.len() + shared.len();
            let n = match self.config.rtx {
                None => {
                    let n = original.len() + shared.len();
                    let Some(out) = buf.get_mut(..n) else {
                        continue;
                    };
                    out[..original.len()].copy_from_slice(original);
                    out[original.len()..].copy_from_slice(shared);
                    n
                }
                Some(rtx) => {
                    let hl = p.header_len();
                    let n = hl + 2 + payload_len;
                    let Some(out) = buf.get_mut(..n) else {
                        continue;
                    };
                    out[..hl].copy_from_slice(&original[..hl]);
                    // The original's padding is not carried over: clear the P bit.
                    out[0] &= !0x20;
                    out[hl..hl + 2].copy_from_slice(&seq.to_be_bytes());
                    let (copied, kept) = out[hl + 2..].split_at_mut(payload.len());
                    copied.copy_from_slice(payload);
                    kept.copy_from_slice(shared);
                    // RFC 4588 §4: the RTX packet has its own SSRC, payload type and sequence
                    // number space; the timestamp and marker are the original's.
                    out[1] = (out[1] & 0x80) | (rtx.payload_type & 0x7f);
                    out[2..4].copy_from_slice(&self.rtx_seq.to_be_bytes());
                    out[8..12].copy_from_slice(&rtx.ssrc.to_be_bytes());
                    self.rtx_seq = self.rtx_seq.wrapping_add(1);
                    n
                }
            };
            self.stats.retransmitted_packets_sent += 1;
            self.stats.retransmitted_bytes_sent += payload_len as u64;
            return Some(n);
        }
        self.resend_since = None;
        None
    }

    /// A sender report for now (RFC 3550 §6.4.1), with no report blocks: the caller may add
    /// the blocks of its receive streams before writing it.
    pub fn sender_report(&self, now: Instant) -> SenderReport {
        let ntp = self.config.ntp_epoch.ntp_at(now);
        // The RTP time matching `now`: the last packet's timestamp advanced by the time since
        // it left, at the clock rate.
        let rtp_time = self.sent.last_at.map_or(0, |at| {
            let elapsed = now.saturating_duration_since(at);
            let ticks = elapsed.as_nanos() * u128::from(self.config.clock_rate) / 1_000_000_000;
            self.sent.last_timestamp.wrapping_add(ticks as u32)
        });
        SenderReport {
            ssrc: self.config.ssrc,
            ntp_time: ntp,
            rtp_time,
            // RFC 3550 §6.4.1: the counts wrap if the sender keeps going that long.
            packet_count: self.sent.packets as u32,
            octet_count: self.sent.bytes as u32,
            reports: Default::default(),
            profile_extension: Vec::new(),
        }
    }

    /// When a sender report is due (RFC 3550 §6.3, at a randomized interval once a packet was
    /// sent), writes an SR and an SDES CNAME chunk into `buf` as one compound packet and
    /// returns its length. `None` when nothing is due or `buf` is too small.
    pub fn poll_rtcp(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.sent.next_report.is_none_or(|at| now < at) {
            return None;
        }
        // Reports fall due about once a second, sending or not: the history ages out here.
        self.history.expire(now, self.retention());
        let sr = self.sender_report(now);
        let n = sr.write(buf).ok()?;
        let m = write_sdes(
            self.config.ssrc,
            self.config.cname.as_bytes(),
            &mut buf[n..],
        )?;
        let next = randomized(&mut self.rng, self.config.report_interval);
        self.sent.next_report = Some(now + next);
        self.stats.reports_sent += 1;
        Some(n + m)
    }

    /// How long a sent packet stays in the RTX history at least: three times the longer of
    /// 1 s and three round trips, as libwebrtc's `RtpPacketHistory` culls (a NACK for an
    /// older packet comes after the receiver has given up on it).
    fn retention(&self) -> Duration {
        let rtt = self.stats.round_trip_time.unwrap_or_default();
        RETENTION_FACTOR * MIN_RETENTION.max(rtt * 3)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// When to call [`poll_retransmit`](Self::poll_retransmit) or
    /// [`poll_rtcp`](Self::poll_rtcp) next: at once when retransmissions are queued, else
    /// when the next report is due. Cached, O(1).
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.resend_since, self.sent.next_report) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The counters.
    pub fn stats(&self) -> TxStats {
        TxStats {
            packets_sent: self.sent.packets,
            bytes_sent: self.sent.bytes,
            header_bytes_sent: self.sent.header_bytes,
            ..self.stats
        }
    }

    /// Whether a report is scheduled: once it is, sending moves no deadline of the stream's
    /// (`poll_timeout` changes only with reports and NACKs then).
    #[inline]
    pub(crate) fn report_scheduled(&self) -> bool {
        self.sent.next_report.is_some()
    }

    /// Packets the RTX history holds now (at most `history`, rounded up to a power of two).
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Payload bytes the RTX history holds by reference (from
    /// [`on_send_shared`](Self::on_send_shared)): not in [`heap_bytes`](Self::heap_bytes), as
    /// they lie in buffers shared with the packets' other holders.
    pub fn shared_bytes(&self) -> usize {
        self.history.shared_bytes()
    }

    /// Bytes this stream holds on the heap (history, queues, CNAME).
    pub fn heap_bytes(&self) -> usize {
        self.history.heap_bytes()
            + self.resend.capacity() * 2
            + self.events.capacity() * std::mem::size_of::<StreamEvent>()
            + self.config.cname.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{Compound, Fir, FirEntry, Pli, ReceiverReport, Sdes};
    use crate::rtp::{RtpBuilder, RtpHeader};

    fn tx(t0: Instant) -> StreamTx {
        let mut c = StreamTxConfig::new(
            7,
            90_000,
            NtpEpoch {
                at: t0,
                ntp: 1 << 40,
            },
        );
        c.cname = "kaon".into();
        c.seed = Some(1);
        StreamTx::new(c)
    }

    fn packet(seq: u16, ts: u32, buf: &mut [u8]) -> usize {
        let h = RtpHeader {
            payload_type: 96,
            sequence_number: seq,
            timestamp: ts,
            ssrc: 7,
            ..Default::default()
        };
        RtpBuilder::new(h).payload(&[1, 2, 3]).write(buf).unwrap()
    }

    #[test]
    fn sender_report_carries_ntp_rtp_time_counts_and_cname() {
        let t0 = crate::test_clock::t0();
        let mut s = tx(t0);
        let mut buf = [0u8; 200];
        let n = packet(1, 9000, &mut buf);
        s.on_send(t0, &buf[..n]);
        assert!(s.poll_rtcp(t0, &mut buf).is_none());
        let due = s.poll_timeout().unwrap();
        assert!(due <= t0 + Duration::from_millis(750));
        let n = s.poll_rtcp(due, &mut buf).unwrap();
        let packets: Vec<_> = Compound::new(&buf[..n])
            .packets()
            .map(Result::unwrap)
            .collect();
        let RtcpPacket::SenderReport(sr) = &packets[0] else {
            panic!("{packets:?}")
        };
        let elapsed = due - t0;
        assert_eq!(
            sr.ntp_time,
            (1 << 40) + super::super::duration_to_ntp(elapsed)
        );
        let ticks = (elapsed.as_nanos() * 90_000 / 1_000_000_000) as u32;
        assert_eq!(sr.rtp_time, 9000 + ticks);
        assert_eq!((sr.packet_count, sr.octet_count), (1, 3));
        assert_eq!(packets[1], RtcpPacket::Sdes(Sdes::cname(7, "kaon")));
    }

    #[test]
    fn pli_and_fir_become_one_keyframe_request_each_and_fir_repeats_are_ignored() {
        let t0 = crate::test_clock::t0();
        let mut s = tx(t0);
        let pli = RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 7,
        });
        s.handle_rtcp(t0, &pli);
        assert_eq!(
            s.poll_event(),
            Some(StreamEvent::KeyframeRequest {
                kind: KeyframeKind::Pli
            })
        );
        assert_eq!(s.poll_event(), None);
        let fir = |seq| {
            RtcpPacket::Fir(Fir {
                sender_ssrc: 1,
                entries: smallvec::smallvec![FirEntry {
                    ssrc: 7,
                    sequence: seq
                }],
            })
        };
        s.handle_rtcp(t0, &fir(3));
        s.handle_rtcp(t0, &fir(3));
        assert_eq!(
            s.poll_event(),
            Some(StreamEvent::KeyframeRequest {
                kind: KeyframeKind::Fir
            })
        );
        assert_eq!(s.poll_event(), None);
        s.handle_rtcp(t0, &fir(4));
        assert!(s.poll_event().is_some());
        assert_eq!((s.stats().pli_count, s.stats().fir_count), (1, 2));
        // For another SSRC: nothing.
        s.handle_rtcp(
            t0,
            &RtcpPacket::Pli(Pli {
                sender_ssrc: 1,
                media_ssrc: 8,
            }),
        );
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn retransmissions_of_shared_payloads_match_those_of_copied_packets() {
        let t0 = crate::test_clock::t0();
        for rtx in [
            None,
            Some(Rtx {
                ssrc: 8,
                payload_type: 97,
                associated_payload_type: 96,
            }),
        ] {
            let (mut copied, mut shared) = (tx(t0), tx(t0));
            copied.config.rtx = rtx;
            shared.config.rtx = rtx;
            let mut buf = [0u8; 200];
            let payload = Bytes::from_static(b"a payload forwarded by reference");
            for seq in 10..20u16 {
                let h = RtpHeader {
                    payload_type: 96,
                    sequence_number: seq,
                    timestamp: 90 * u32::from(seq),
                    ssrc: 7,
                    ..Default::default()
                };
                let n = RtpBuilder::new(h)
                    .payload(&payload)
                    .write(&mut buf)
                    .unwrap();
                copied.on_send(t0, &buf[..n]);
                let header = n - payload.len();
                shared.on_send_shared(t0, &buf[..header], payload.clone());
            }
            assert_eq!(shared.stats(), copied.stats());
            assert_eq!(shared.shared_bytes(), 10 * payload.len());
            let nack = RtcpPacket::Nack(crate::rtp::rtcp::Nack::from_lost(1, 7, [12, 15, 19]));
            copied.handle_rtcp(t0, &nack);
            shared.handle_rtcp(t0, &nack);
            let (mut a, mut b) = ([0u8; 200], [0u8; 200]);
            for _ in 0..3 {
                let n = copied.poll_retransmit(t0, &mut a).unwrap();
                assert_eq!(shared.poll_retransmit(t0, &mut b), Some(n), "{rtx:?}");
                assert_eq!(a[..n], b[..n], "{rtx:?}");
                assert!(a[..n].ends_with(&payload));
            }
            assert_eq!(shared.poll_retransmit(t0, &mut b), None);
            assert_eq!(shared.stats(), copied.stats());
        }
    }

    #[test]
    fn rtt_is_arrival_minus_lsr_minus_dlsr() {
        let t0 = crate::test_clock::t0();
        let mut s = tx(t0);
        let sr_ntp = s.config.ntp_epoch.ntp_at(t0);
        let now = t0 + Duration::from_millis(130);
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: smallvec::smallvec![ReportBlock {
                ssrc: 7,
                last_sr: ntp_mid(sr_ntp),
                delay_since_last_sr: 65536 / 10, // 100 ms held at the receiver
                ..Default::default()
            }],
            profile_extension: Vec::new(),
        });
        s.handle_rtcp(now, &rr);
        let rtt = s.stats().round_trip_time.unwrap();
        assert!(
            rtt.abs_diff(Duration::from_millis(30)) < Duration::from_millis(1),
            "{rtt:?}"
        );
    }
}
