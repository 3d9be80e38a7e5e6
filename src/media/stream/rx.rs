//! The receive side of one RTP stream.

use std::time::{Duration, Instant};

use super::missing::{MissingList, NackTiming};
use super::{KeyframeKind, Rtx, duration_to_q16, ntp_mid, randomized, write_sdes};
use crate::Rng;
use crate::rtp::RtpPacket;
use crate::rtp::rtcp::{Fir, FirEntry, Pli, ReceiverReport, ReportBlock, RtcpPacket, SenderReport};

/// RFC 3550 A.1: a forward jump up to this is a gap (loss), beyond it a possible restart.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1 suggests 100 for how far behind a packet may arrive and still count as
/// reordered; retransmissions at video packet rates arrive further behind, so this is the
/// duplicate window's size.
const MAX_MISORDER: u16 = WINDOW as u16;
/// Sequence numbers the duplicate bitmap covers, below and at the highest.
const WINDOW: u64 = 1024;
const SEQ_MOD: u64 = 1 << 16;
/// RFC 3550 §6.4.1: cumulative lost is a signed 24-bit field.
const LOST_MAX: i64 = (1 << 23) - 1;
const LOST_MIN: i64 = -(1 << 23);

/// Settings of a [`StreamRx`].
#[derive(Debug, Clone)]
pub struct StreamRxConfig {
    /// The media SSRC.
    pub ssrc: u32,
    /// The RTP clock rate (jitter is computed in its units).
    pub clock_rate: u32,
    /// The RTX stream, when negotiated: [`StreamRx::unwrap_rtx`] accepts its packets.
    pub rtx: Option<Rtx>,
    /// Send generic NACKs for missing packets (`a=rtcp-fb:<pt> nack`).
    pub nack: bool,
    /// RFC 3550 A.1 probation: sequential packets needed before the source counts as valid.
    /// 0 or 1 validate on the first packet, which suits signalled SSRCs; A.1 uses 2.
    pub probation: u16,
    /// Missing packets tracked at most (older ones are given up first).
    pub max_missing: usize,
    /// NACKs sent for one packet before giving up.
    pub nack_max_tries: u8,
    /// Give up on a packet missing this long.
    pub nack_max_age: Duration,
    /// Wait this long after a gap is seen before the first NACK (0: at once), which saves
    /// requests for packets that were merely reordered.
    pub nack_delay: Duration,
    /// Never repeat a NACK for one packet sooner than this, whatever the round-trip time.
    pub min_nack_interval: Duration,
    /// The round-trip time assumed until [`StreamRx::set_rtt`] says otherwise.
    pub initial_rtt: Duration,
    /// How [`StreamRx::request_keyframe`] asks: PLI, or FIR (`a=rtcp-fb:<pt> ccm fir`).
    pub keyframe_request: KeyframeKind,
    /// At most one keyframe request per this interval (or per round-trip time if longer).
    pub keyframe_interval: Duration,
    /// The mean receiver report interval (RFC 3550 §6.3; randomized to 0.5..1.5 times it).
    pub report_interval: Duration,
    /// Send NACK and PLI/FIR alone (RFC 5506 reduced-size RTCP, `a=rtcp-rsize`); otherwise
    /// they follow a receiver report in a compound packet.
    pub reduced_size: bool,
    /// The CNAME for an SDES chunk after each receiver report (RFC 3550 §6.1: a compound
    /// packet carries one); empty leaves it out, for a caller that composes its own.
    pub cname: String,
    /// Seed for the report interval randomization; `None` seeds from the operating system.
    pub seed: Option<u64>,
}

impl StreamRxConfig {
    /// Defaults: NACK on, 10 tries over at most a second, PLI at most every 500 ms, one
    /// report a second, reduced-size RTCP.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate,
            rtx: None,
            nack: true,
            probation: 0,
            max_missing: 256,
            nack_max_tries: 10,
            nack_max_age: Duration::from_secs(1),
            nack_delay: Duration::ZERO,
            min_nack_interval: Duration::from_millis(10),
            initial_rtt: Duration::from_millis(100),
            keyframe_request: KeyframeKind::Pli,
            keyframe_interval: Duration::from_millis(500),
            report_interval: Duration::from_secs(1),
            reduced_size: true,
            cname: String::new(),
            seed: None,
        }
    }
}

/// What [`StreamRx::on_packet`] made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxVerdict {
    /// First copy, at or ahead of the highest sequence number so far.
    New,
    /// First copy of a packet behind the highest: reordered, not yet asked for. Also a packet
    /// too far behind for the duplicate window to tell.
    Late,
    /// First copy of a packet a NACK asked for, or one that came as a retransmission.
    Repaired,
    /// Already received.
    Duplicate,
    /// The source is not valid yet (RFC 3550 A.1 probation): not counted.
    Probation,
    /// A jump in sequence numbers not yet confirmed by a second packet (RFC 3550 A.1: a
    /// restarted sender, or garbage): not counted.
    Jump,
    /// Not an RTP packet of this stream: ignored.
    Ignored,
}

/// What the sender said about itself in its last SR (W3C remote-outbound-rtp).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteOutboundStats {
    /// Sender reports received.
    pub reports_received: u64,
    /// The sender's packet count.
    pub packets_sent: u32,
    /// The sender's payload octet count.
    pub bytes_sent: u32,
    /// The NTP timestamp of the last SR.
    pub remote_timestamp: u64,
}

/// Counters of a [`StreamRx`] (W3C inbound-rtp names).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RxStats {
    /// Packets counted as received (first copies; RFC 3550 A.3's `received`).
    pub packets_received: u64,
    /// Payload bytes of those.
    pub bytes_received: u64,
    /// Header and padding bytes of those.
    pub header_bytes_received: u64,
    /// RFC 3550 A.3: expected minus received since the stream (re)started.
    pub packets_lost: i64,
    /// RFC 3550 A.8 interarrival jitter, in seconds.
    pub jitter: f64,
    /// Copies dropped as duplicates.
    pub packets_duplicated: u64,
    /// Packets that arrived behind the highest without being asked for.
    pub packets_late: u64,
    /// Packets that arrived after a NACK asked for them, or as retransmissions.
    pub packets_repaired: u64,
    /// Packets not counted: probation or an unconfirmed jump.
    pub packets_discarded: u64,
    /// RTX packets unwrapped.
    pub retransmitted_packets_received: u64,
    /// Payload bytes of those (the original payloads).
    pub retransmitted_bytes_received: u64,
    /// Generic NACK packets sent.
    pub nack_count: u64,
    /// Sequence numbers asked for, repeats included.
    pub nack_requests: u64,
    /// Missing packets given up on (too many tries, too old, or pushed out of the list).
    pub nack_gave_up: u64,
    /// PLIs sent.
    pub pli_count: u64,
    /// FIRs sent.
    pub fir_count: u64,
    /// Keyframe requests refused by the throttle.
    pub keyframe_requests_throttled: u64,
    /// Receiver reports written by [`StreamRx::poll_rtcp`].
    pub reports_sent: u64,
    /// When the last counted packet arrived.
    pub last_packet_received: Option<Instant>,
    /// Times the sender restarted its sequence numbers (RFC 3550 A.1 resynchronization).
    pub restarts: u64,
    /// What the sender said in its last SR.
    pub remote: RemoteOutboundStats,
}

/// RFC 3550 A.1's per-source sequence state.
#[derive(Debug, Clone, Copy, Default)]
struct Seq {
    started: bool,
    max_seq: u16,
    cycles: u64,
    base_seq: u64,
    bad_seq: u32,
    probation: u16,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
}

impl Seq {
    fn ext_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }
}

/// The outcome of RFC 3550 A.1's `update_seq`.
enum Update {
    /// Valid; the extended sequence number and the highest before this packet.
    Valid {
        ext: u64,
        prev_max: u64,
    },
    /// The source restarted (or just became valid) at `ext`.
    Restart {
        ext: u64,
    },
    Probation,
    Jump,
}

/// The receive side of one RTP stream: loss, jitter, NACK, keyframe requests and receiver
/// reports. See the [module documentation](super) for the driving contract.
#[derive(Debug)]
pub struct StreamRx {
    config: StreamRxConfig,
    rng: Rng,
    seq: Seq,
    /// Bit `ext % WINDOW` set: that packet arrived (for `ext` within WINDOW of the highest).
    seen: [u64; (WINDOW / 64) as usize],
    missing: MissingList,
    nack_due: Option<Instant>,
    rtt: Duration,
    /// RFC 3550 A.8: the origin of arrival times in RTP units, the last transit, and the
    /// jitter estimate times 16.
    arrival_base: Option<Instant>,
    /// The last arrival in RTP units and the instant it is for: the datagrams of one receive
    /// batch share an instant and convert it once.
    last_arrival: Option<(Instant, u32)>,
    last_transit: Option<u32>,
    jitter_q4: u64,
    /// The last SR: its NTP middle bits and when it arrived.
    last_sr: Option<(u32, Instant)>,
    next_report: Option<Instant>,
    /// A received packet brought [`poll_timeout`](StreamRx::poll_timeout) forward (the first
    /// report scheduled, a NACK due): what [`take_deadline_moved`](StreamRx::take_deadline_moved)
    /// tells and clears.
    deadline_moved: bool,
    keyframe_pending: Option<Instant>,
    last_keyframe_request: Option<Instant>,
    fir_seq: u8,
    stats: RxStats,
}

impl StreamRx {
    /// A stream that has received nothing yet.
    pub fn new(config: StreamRxConfig) -> Self {
        Self {
            rng: Rng::new(config.seed),
            seq: Seq::default(),
            seen: [0; (WINDOW / 64) as usize],
            missing: MissingList::new(if config.nack { config.max_missing } else { 0 }),
            nack_due: None,
            rtt: config.initial_rtt,
            arrival_base: None,
            last_arrival: None,
            last_transit: None,
            jitter_q4: 0,
            last_sr: None,
            next_report: None,
            deadline_moved: false,
            keyframe_pending: None,
            last_keyframe_request: None,
            fir_seq: 0,
            stats: RxStats::default(),
            config,
        }
    }

    /// The media SSRC.
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// The configuration.
    pub fn config(&self) -> &StreamRxConfig {
        &self.config
    }

    /// Sets the round-trip time that paces NACK repeats and keyframe requests (a receiver
    /// learns it from its own sender's reports on the same connection, or from ICE).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Accounts a received RTP packet (plaintext) of this SSRC: RFC 3550 A.1 validation,
    /// A.3 loss, A.8 jitter, and the missing list for NACKs. The verdict tells a duplicate
    /// (to drop) from a first copy.
    pub fn on_packet(&mut self, now: Instant, packet: &[u8]) -> RxVerdict {
        match RtpPacket::new_checked(packet) {
            Ok(p) => self.on_rtp(now, &p),
            _ => RxVerdict::Ignored,
        }
    }

    /// [`on_packet`](Self::on_packet) for a packet the caller already parsed (a receive path
    /// that demultiplexed it reads its header once).
    #[inline]
    pub fn on_rtp(&mut self, now: Instant, packet: &RtpPacket<&[u8]>) -> RxVerdict {
        if packet.ssrc() != self.config.ssrc {
            return RxVerdict::Ignored;
        }
        self.account(now, packet, false)
    }

    /// An RTX packet (RFC 4588 §4) in `buf[..len]`: unwrapped in place into the original
    /// packet (the OSN restored as sequence number, the media SSRC and the associated payload
    /// type, padding dropped) and accounted as [`on_packet`](Self::on_packet) would. Returns
    /// the original packet's length and the verdict; `None` when it is not an RTX packet of
    /// this stream or carries no original (a padding-only probe).
    pub fn unwrap_rtx(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(usize, RxVerdict)> {
        let rtx = self.config.rtx?;
        let p = RtpPacket::new_checked(buf.get(..len)?).ok()?;
        if p.ssrc() != rtx.ssrc || p.payload_type() != rtx.payload_type {
            return None;
        }
        let hl = p.header_len();
        let payload = p.payload().len();
        // RFC 4588 §4: the payload starts with the 2-byte original sequence number.
        if payload < 2 {
            return None;
        }
        let osn = u16::from_be_bytes([buf[hl], buf[hl + 1]]);
        buf.copy_within(hl + 2..hl + payload, hl);
        let n = hl + payload - 2;
        buf[0] &= !0x20;
        buf[1] = (buf[1] & 0x80) | (rtx.associated_payload_type & 0x7f);
        buf[2..4].copy_from_slice(&osn.to_be_bytes());
        buf[8..12].copy_from_slice(&self.config.ssrc.to_be_bytes());
        let p = RtpPacket::new_checked(&buf[..n]).ok()?;
        self.stats.retransmitted_packets_received += 1;
        self.stats.retransmitted_bytes_received += (payload - 2) as u64;
        Some((n, self.account(now, &p, true)))
    }

    fn account(&mut self, now: Instant, p: &RtpPacket<&[u8]>, rtx: bool) -> RxVerdict {
        let seq = p.sequence_number();
        let verdict = match self.update_seq(seq) {
            Update::Probation => {
                self.stats.packets_discarded += 1;
                return RxVerdict::Probation;
            }
            Update::Jump => {
                self.stats.packets_discarded += 1;
                return RxVerdict::Jump;
            }
            Update::Restart { ext } => {
                self.restart(ext);
                RxVerdict::New
            }
            Update::Valid { ext, prev_max } if ext > prev_max => {
                self.advance(now, prev_max, ext);
                RxVerdict::New
            }
            Update::Valid { ext, prev_max } => {
                if prev_max - ext >= WINDOW {
                    RxVerdict::Late
                } else if self.is_seen(ext) {
                    self.stats.packets_duplicated += 1;
                    return RxVerdict::Duplicate;
                } else {
                    self.mark_seen(ext);
                    match self.missing.remove(ext) {
                        Some(tries) if tries > 0 => RxVerdict::Repaired,
                        _ if rtx => RxVerdict::Repaired,
                        _ => RxVerdict::Late,
                    }
                }
            }
        };
        match verdict {
            RxVerdict::Late => self.stats.packets_late += 1,
            RxVerdict::Repaired => self.stats.packets_repaired += 1,
            _ => {}
        }
        // RFC 3550 A.1 counts every valid packet; duplicates the window spots are left out,
        // so the loss reported is what the application did not get.
        self.seq.received += 1;
        let payload = p.payload().len() as u64;
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload;
        self.stats.header_bytes_received += p.len() as u64 - payload;
        self.stats.last_packet_received = Some(now);
        if verdict == RxVerdict::New && !rtx {
            self.jitter(now, p.timestamp());
        }
        if self.next_report.is_none() {
            // RFC 3550 §6.3.6: the first report after half the minimum interval.
            let first = randomized(&mut self.rng, self.config.report_interval / 2);
            self.next_report = Some(now + first);
            self.deadline_moved = true;
        }
        verdict
    }

    /// Whether a packet received since the last call brought
    /// [`poll_timeout`](Self::poll_timeout) forward, and clears it: a receive path folds the
    /// stream's deadline into its own only then (in order, once per stream: the first report).
    #[inline(always)]
    pub fn take_deadline_moved(&mut self) -> bool {
        if self.deadline_moved {
            self.deadline_moved = false;
            return true;
        }
        false
    }

    /// RFC 3550 A.1 `update_seq`, returning the extended sequence number.
    fn update_seq(&mut self, seq: u16) -> Update {
        let s = &mut self.seq;
        if !s.started {
            s.started = true;
            if self.config.probation <= 1 {
                return Update::Restart {
                    ext: u64::from(seq),
                };
            }
            // RFC 3550 A.1: a new source is valid only after MIN_SEQUENTIAL packets in order.
            s.max_seq = seq;
            s.probation = self.config.probation - 1;
            return Update::Probation;
        }
        if s.probation > 0 {
            if seq == s.max_seq.wrapping_add(1) {
                s.probation -= 1;
                s.max_seq = seq;
                if s.probation == 0 {
                    return Update::Restart {
                        ext: u64::from(seq),
                    };
                }
            } else {
                s.probation = self.config.probation.saturating_sub(1).max(1);
                s.max_seq = seq;
            }
            return Update::Probation;
        }
        let prev_max = s.ext_max();
        let udelta = seq.wrapping_sub(s.max_seq);
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < s.max_seq {
                s.cycles += SEQ_MOD;
            }
            s.max_seq = seq;
            Update::Valid {
                ext: s.ext_max(),
                prev_max,
            }
        } else if u64::from(udelta) <= SEQ_MOD - u64::from(MAX_MISORDER) {
            // A very large jump: two sequential packets mean the sender restarted.
            if u32::from(seq) == s.bad_seq {
                Update::Restart {
                    ext: u64::from(seq),
                }
            } else {
                s.bad_seq = u32::from(seq.wrapping_add(1));
                Update::Jump
            }
        } else {
            // Behind the highest: reordered or a duplicate.
            let back = SEQ_MOD - u64::from(udelta);
            match prev_max.checked_sub(back) {
                Some(ext) => Update::Valid { ext, prev_max },
                // Before the stream's first sequence cycle: too old to place.
                None => Update::Valid {
                    ext: 0,
                    prev_max: prev_max.max(WINDOW),
                },
            }
        }
    }

    /// RFC 3550 A.1 `init_seq`: counting starts over at `ext`.
    #[cold]
    fn restart(&mut self, ext: u64) {
        if self.seq.probation == 0 && self.seq.received > 0 {
            self.stats.restarts += 1;
        }
        self.seq = Seq {
            started: true,
            max_seq: ext as u16,
            cycles: 0,
            base_seq: u64::from(ext as u16),
            bad_seq: SEQ_MOD as u32 + 1,
            probation: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
        };
        self.seen = [0; (WINDOW / 64) as usize];
        self.mark_seen(u64::from(ext as u16));
        let gave_up = self.missing.len() as u64;
        self.stats.nack_gave_up += gave_up;
        self.missing.clear();
        self.last_transit = None;
    }

    /// The highest moved from `prev` to `ext`: the window slides and the gap is missing.
    fn advance(&mut self, now: Instant, prev: u64, ext: u64) {
        if ext - prev >= WINDOW {
            self.seen = [0; (WINDOW / 64) as usize];
        } else {
            for e in prev + 1..ext {
                self.clear_seen(e);
            }
        }
        self.mark_seen(ext);
        if !self.config.nack || ext - prev < 2 {
            return;
        }
        self.note_missing(now, prev, ext);
    }

    /// The gap `prev + 1..ext` the highest jumped over: missing, to be NACKed. Kept out of
    /// the per-packet path (in order, there is no gap).
    #[inline(never)]
    fn note_missing(&mut self, now: Instant, prev: u64, ext: u64) {
        let first = (prev + 1).max(ext.saturating_sub(self.config.max_missing as u64));
        let due = now + self.config.nack_delay;
        for e in first..ext {
            if self.missing.push(e, now, due) {
                self.stats.nack_gave_up += 1;
            }
        }
        // Entries the duplicate window no longer covers cannot be told from duplicates.
        let dropped = self.missing.drop_up_to(ext.saturating_sub(WINDOW));
        self.stats.nack_gave_up += u64::from(dropped);
        self.nack_due = Some(self.nack_due.map_or(due, |d| d.min(due)));
        self.deadline_moved = true;
    }

    fn bit(ext: u64) -> (usize, u64) {
        let i = (ext % WINDOW) as usize;
        (i / 64, 1 << (i % 64))
    }

    fn is_seen(&self, ext: u64) -> bool {
        let (w, b) = Self::bit(ext);
        self.seen[w] & b != 0
    }

    fn mark_seen(&mut self, ext: u64) {
        let (w, b) = Self::bit(ext);
        self.seen[w] |= b;
    }

    fn clear_seen(&mut self, ext: u64) {
        let (w, b) = Self::bit(ext);
        self.seen[w] &= !b;
    }

    /// RFC 3550 A.8: J += (|D(i-1, i)| - J) / 16, with D the difference of transit times in
    /// RTP timestamp units.
    fn jitter(&mut self, now: Instant, timestamp: u32) {
        let arrival = match self.last_arrival {
            Some((at, arrival)) if at == now => arrival,
            _ => {
                let arrival = self.arrival(now);
                self.last_arrival = Some((now, arrival));
                arrival
            }
        };
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            // The integer form of A.8, with the estimate kept times 16.
            self.jitter_q4 = (self.jitter_q4 + d).saturating_sub((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// `now` in RTP units since the first arrival (wrapping).
    fn arrival(&mut self, now: Instant) -> u32 {
        let base = *self.arrival_base.get_or_insert(now);
        let elapsed = now.saturating_duration_since(base);
        // Whole seconds and the nanoseconds apart: the same floor as over all nanoseconds,
        // without a 128-bit division per packet. Only the low 32 bits matter (RTP units wrap).
        let rate = u64::from(self.config.clock_rate);
        elapsed
            .as_secs()
            .wrapping_mul(rate)
            .wrapping_add(u64::from(elapsed.subsec_nanos()) * rate / 1_000_000_000) as u32
    }

    /// Accounts a sender report (RFC 3550 §6.4.1) from this stream's sender: its NTP time and
    /// arrival give the next report's LSR and DLSR. Reports of other SSRCs are ignored.
    pub fn handle_sr(&mut self, now: Instant, sr: &SenderReport) {
        if sr.ssrc != self.config.ssrc {
            return;
        }
        self.last_sr = Some((ntp_mid(sr.ntp_time), now));
        let r = &mut self.stats.remote;
        r.reports_received += 1;
        r.packets_sent = sr.packet_count;
        r.bytes_sent = sr.octet_count;
        r.remote_timestamp = sr.ntp_time;
    }

    /// Feeds one RTCP packet (split from its compound); only a sender report of this
    /// stream's SSRC concerns the receive side.
    pub fn handle_rtcp(&mut self, now: Instant, packet: &RtcpPacket) {
        if let RtcpPacket::SenderReport(sr) = packet {
            self.handle_sr(now, sr);
        }
    }

    /// Asks the sender for a keyframe (PLI or FIR per the configuration) with the next
    /// [`poll_rtcp`](Self::poll_rtcp). Throttled: at most one request per keyframe interval
    /// (or round-trip time, if longer); returns whether this one will be sent.
    pub fn request_keyframe(&mut self, now: Instant) -> bool {
        self.request_keyframe_after(now, self.config.keyframe_interval)
    }

    /// [`request_keyframe`](Self::request_keyframe) for a caller that paces its own
    /// requests (a jitter buffer that repeats them sooner while the stream has not decoded
    /// yet): throttled to one per `gap` (or round-trip time, if longer) instead of the
    /// configured interval.
    pub fn request_keyframe_after(&mut self, now: Instant, gap: Duration) -> bool {
        let gap = gap.max(self.rtt);
        if self
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < gap)
        {
            self.stats.keyframe_requests_throttled += 1;
            return false;
        }
        self.last_keyframe_request = Some(now);
        self.keyframe_pending = Some(now);
        if self.config.keyframe_request == KeyframeKind::Fir {
            // RFC 5104 §4.3.1.2: the sequence number is increased by 1 for each new request.
            self.fir_seq = self.fir_seq.wrapping_add(1);
        }
        true
    }

    /// Asks for `seq` with the next NACK although the sequence accounting never found it
    /// missing: a packet before the first one seen, which a jitter buffer knows is missing when
    /// that first packet continues a frame (RFC 4585 §6.2.1: a NACK may name any packet; the
    /// sender still holds it). Only packets behind the highest and within the duplicate window
    /// are taken; returns whether it will be asked for.
    pub fn nack(&mut self, now: Instant, seq: u16) -> bool {
        let s = &self.seq;
        if !self.config.nack || !s.started || s.probation > 0 {
            return false;
        }
        let back = u64::from(s.max_seq.wrapping_sub(seq));
        let Some(ext) = s.ext_max().checked_sub(back) else {
            return false;
        };
        if back == 0 || back >= WINDOW || self.is_seen(ext) {
            return false;
        }
        let due = now + self.config.nack_delay;
        if !self.missing.insert(ext, now, due) {
            return false;
        }
        self.nack_due = Some(self.nack_due.map_or(due, |d| d.min(due)));
        true
    }

    /// The report block for this stream as of now (RFC 3550 §6.4.1, A.3), for a caller that
    /// composes its own RR or SR; it starts a new reporting interval for the fraction lost.
    /// `None` before the source is valid.
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let s = &mut self.seq;
        if !s.started || s.probation > 0 {
            return None;
        }
        let ext_max = s.ext_max();
        let expected = ext_max + 1 - s.base_seq;
        let lost = (expected as i64 - s.received as i64).clamp(LOST_MIN, LOST_MAX);
        let expected_interval = expected - s.expected_prior;
        s.expected_prior = expected;
        let received_interval = s.received - s.received_prior;
        s.received_prior = s.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        // RFC 3550 A.3: the fraction is 0 when nothing was lost, or more arrived than expected.
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, dlsr) = self.last_sr.map_or((0, 0), |(lsr, at)| {
            (lsr, duration_to_q16(now.saturating_duration_since(at)))
        });
        Some(ReportBlock {
            ssrc: self.config.ssrc,
            fraction_lost: fraction,
            cumulative_lost: lost as i32,
            extended_highest_sequence: ext_max as u32,
            jitter: (self.jitter_q4 >> 4) as u32,
            last_sr,
            delay_since_last_sr: dlsr,
        })
    }

    fn nack_timing(&self) -> NackTiming {
        NackTiming {
            // A retransmission takes a round trip; a little more before asking again.
            interval: (self.rtt + self.rtt / 4)
                .max(self.config.min_nack_interval)
                .max(Duration::from_millis(1)),
            max_tries: self.config.nack_max_tries,
            max_age: self.config.nack_max_age,
        }
    }

    /// Feedback due now, written into `buf` as one RTCP datagram from `sender_ssrc`: the
    /// receiver report when its interval is up, a generic NACK for missing packets due a
    /// request (RFC 4585 §6.2.1; each packet asked for at most once per round-trip time,
    /// given up after the configured tries or age), and a pending PLI or FIR. `None` when
    /// nothing is due. With reduced-size RTCP off, NACK and PLI/FIR follow an RR.
    pub fn poll_rtcp(&mut self, now: Instant, sender_ssrc: u32, buf: &mut [u8]) -> Option<usize> {
        let report_due = self.next_report.is_some_and(|at| at <= now);
        let nack_due = self.config.nack && self.nack_due.is_some_and(|at| at <= now);
        let keyframe_due = self.keyframe_pending.is_some();
        if !report_due && !nack_due && !keyframe_due {
            return None;
        }
        let mut at = 0;
        // The RR is written first; the NACK and keyframe request go after it.
        let mut rr_len = 0;
        if report_due || !self.config.reduced_size {
            let mut rr = ReceiverReport {
                ssrc: sender_ssrc,
                ..Default::default()
            };
            if report_due {
                rr.reports.extend(self.report_block(now));
                let next = randomized(&mut self.rng, self.config.report_interval);
                self.next_report = Some(now + next);
            }
            if let Ok(n) = rr.write(buf) {
                at += n;
                if !self.config.cname.is_empty() {
                    let cname = self.config.cname.as_bytes();
                    at += write_sdes(sender_ssrc, cname, &mut buf[at..]).unwrap_or(0);
                }
                rr_len = at;
                if report_due {
                    self.stats.reports_sent += 1;
                }
            }
        }
        if nack_due {
            let timing = self.nack_timing();
            let out =
                self.missing
                    .write_nack(now, timing, sender_ssrc, self.config.ssrc, &mut buf[at..]);
            self.stats.nack_gave_up += u64::from(out.gave_up);
            if out.len > 0 {
                at += out.len;
                self.stats.nack_count += 1;
                self.stats.nack_requests += u64::from(out.requested);
            }
            self.nack_due = self.missing.next_due();
        }
        if keyframe_due {
            let written = match self.config.keyframe_request {
                KeyframeKind::Pli => Pli {
                    sender_ssrc,
                    media_ssrc: self.config.ssrc,
                }
                .write(&mut buf[at..]),
                KeyframeKind::Fir => Fir {
                    sender_ssrc,
                    entries: smallvec::smallvec![FirEntry {
                        ssrc: self.config.ssrc,
                        sequence: self.fir_seq,
                    }],
                }
                .write(&mut buf[at..]),
            };
            if let Ok(n) = written {
                at += n;
                self.keyframe_pending = None;
                match self.config.keyframe_request {
                    KeyframeKind::Pli => self.stats.pli_count += 1,
                    KeyframeKind::Fir => self.stats.fir_count += 1,
                }
            }
        }
        // An RR written only because reduced-size is off, with nothing after it, is no
        // feedback.
        let feedback = report_due || at > rr_len;
        (feedback && at > 0).then_some(at)
    }

    /// When to call [`poll_rtcp`](Self::poll_rtcp) next: the earliest of the next report,
    /// the next NACK due and a pending keyframe request. Cached, O(1); it may be early after
    /// a repair (a poll then writes nothing), never late.
    #[inline(always)]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Folded pairwise, not through an iterator: read after every received packet.
        let mut at = self.next_report;
        if self.config.nack {
            at = earlier(at, self.nack_due);
        }
        earlier(at, self.keyframe_pending)
    }

    /// The counters.
    pub fn stats(&self) -> RxStats {
        let mut s = self.stats;
        if self.seq.started && self.seq.probation == 0 {
            let expected = self.seq.ext_max() + 1 - self.seq.base_seq;
            s.packets_lost = expected as i64 - self.seq.received as i64;
        }
        s.jitter = (self.jitter_q4 >> 4) as f64 / f64::from(self.config.clock_rate.max(1));
        s
    }

    /// Missing packets currently tracked for NACK (at most `max_missing`).
    pub fn missing_len(&self) -> usize {
        self.missing.len()
    }

    /// Bytes this stream holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.missing.heap_bytes() + self.config.cname.capacity()
    }
}

/// The earlier of two optional instants (either, if only one is set).
#[inline(always)]
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{Compound, Nack};
    use crate::rtp::{RtpBuilder, RtpHeader};

    fn rx(config: impl FnOnce(&mut StreamRxConfig)) -> StreamRx {
        let mut c = StreamRxConfig::new(7, 90_000);
        c.seed = Some(2);
        config(&mut c);
        StreamRx::new(c)
    }

    fn packet(seq: u16, ts: u32) -> Vec<u8> {
        let h = RtpHeader {
            payload_type: 96,
            sequence_number: seq,
            timestamp: ts,
            ssrc: 7,
            ..Default::default()
        };
        let mut buf = [0u8; 100];
        let n = RtpBuilder::new(h)
            .payload(&[0; 10])
            .write(&mut buf)
            .unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn loss_across_a_sequence_wrap_is_counted_once() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|c| c.nack = false);
        for seq in (65_530u16..=65_535)
            .chain(0..10)
            .filter(|s| *s != 2 && *s != 65_533)
        {
            assert_eq!(r.on_packet(t0, &packet(seq, 0)), RxVerdict::New);
        }
        let b = r.report_block(t0).unwrap();
        assert_eq!(b.extended_highest_sequence, 65_536 + 9);
        assert_eq!(b.cumulative_lost, 2);
        assert_eq!(b.fraction_lost, (2 * 256 / 16) as u8);
        // Nothing new: the next interval has no loss.
        assert_eq!(r.report_block(t0).unwrap().fraction_lost, 0);
    }

    #[test]
    fn duplicates_are_spotted_and_not_counted() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|_| {});
        assert_eq!(r.on_packet(t0, &packet(10, 0)), RxVerdict::New);
        assert_eq!(r.on_packet(t0, &packet(12, 0)), RxVerdict::New);
        assert_eq!(r.on_packet(t0, &packet(12, 0)), RxVerdict::Duplicate);
        assert_eq!(r.on_packet(t0, &packet(11, 0)), RxVerdict::Late);
        assert_eq!(r.on_packet(t0, &packet(11, 0)), RxVerdict::Duplicate);
        assert_eq!(r.stats().packets_received, 3);
        assert_eq!(r.stats().packets_lost, 0);
    }

    #[test]
    fn probation_needs_sequential_packets() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|c| c.probation = 2);
        assert_eq!(r.on_packet(t0, &packet(100, 0)), RxVerdict::Probation);
        assert_eq!(r.on_packet(t0, &packet(500, 0)), RxVerdict::Probation);
        assert_eq!(r.on_packet(t0, &packet(501, 0)), RxVerdict::New);
        assert_eq!(r.on_packet(t0, &packet(502, 0)), RxVerdict::New);
        let b = r.report_block(t0).unwrap();
        assert_eq!((b.extended_highest_sequence, b.cumulative_lost), (502, 0));
    }

    #[test]
    fn sender_restart_is_confirmed_by_two_sequential_packets() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|_| {});
        for seq in 1000..1010 {
            r.on_packet(t0, &packet(seq, 0));
        }
        assert_eq!(r.on_packet(t0, &packet(40_000, 0)), RxVerdict::Jump);
        assert_eq!(r.on_packet(t0, &packet(40_001, 0)), RxVerdict::New);
        assert_eq!(r.on_packet(t0, &packet(40_002, 0)), RxVerdict::New);
        let b = r.report_block(t0).unwrap();
        assert_eq!(
            (b.extended_highest_sequence, b.cumulative_lost),
            (40_002, 0)
        );
        assert_eq!(r.stats().restarts, 1);
        assert_eq!(r.missing_len(), 0, "the jump is no loss to NACK");
    }

    /// The NACK in the next RTCP compound `r` sends at `now` (from SSRC 9).
    fn next_nack(r: &mut StreamRx, now: Instant, buf: &mut [u8]) -> Nack {
        let n = r.poll_rtcp(now, 9, buf).unwrap();
        Compound::new(&buf[..n])
            .packets()
            .find_map(|p| match p.unwrap() {
                RtcpPacket::Nack(n) => Some(n),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn nack_asks_for_the_gap_and_repeats_once_per_rtt() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|c| c.report_interval = Duration::from_secs(100));
        r.set_rtt(Duration::from_millis(40));
        r.on_packet(t0, &packet(1, 0));
        r.on_packet(t0, &packet(4, 0));
        assert_eq!(r.poll_timeout(), Some(t0));
        let mut buf = [0u8; 200];
        let nack = next_nack(&mut r, t0, &mut buf);
        assert_eq!(nack, Nack::from_lost(9, 7, [2, 3]));
        let again = r.poll_timeout().unwrap();
        assert_eq!(again, t0 + Duration::from_millis(50));
        assert!(
            r.poll_rtcp(t0 + Duration::from_millis(49), 9, &mut buf)
                .is_none()
        );
        assert_eq!(r.on_packet(again, &packet(2, 0)), RxVerdict::Repaired);
        let n = r.poll_rtcp(again, 9, &mut buf).unwrap();
        let parsed = Nack::parse(&buf[..n]).unwrap();
        assert_eq!(parsed.lost().collect::<Vec<_>>(), vec![3]);
        assert_eq!(r.stats().nack_count, 2);
    }

    #[test]
    fn a_packet_before_the_first_seen_can_be_nacked_and_counts_as_repaired() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|c| c.report_interval = Duration::from_secs(100));
        r.on_packet(t0, &packet(100, 0));
        r.on_packet(t0, &packet(101, 0));
        assert!(!r.nack(t0, 101), "a packet seen is not asked for");
        assert!(
            !r.nack(t0, 102),
            "nor one ahead: the accounting finds those"
        );
        assert!(r.nack(t0, 99));
        assert!(!r.nack(t0, 99), "listed once");
        assert_eq!(r.poll_timeout(), Some(t0));
        let mut buf = [0u8; 200];
        let nack = next_nack(&mut r, t0, &mut buf);
        assert_eq!(nack, Nack::from_lost(9, 7, [99]));
        assert_eq!(r.on_packet(t0, &packet(99, 0)), RxVerdict::Repaired);
        assert!(!r.nack(t0, 99));
        // Nothing is asked for without NACK negotiated.
        let mut r = rx(|c| c.nack = false);
        r.on_packet(t0, &packet(100, 0));
        assert!(!r.nack(t0, 99));
    }

    #[test]
    fn keyframe_requests_are_throttled() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|c| c.keyframe_request = KeyframeKind::Fir);
        let mut buf = [0u8; 100];
        assert!(r.request_keyframe(t0));
        assert!(!r.request_keyframe(t0 + Duration::from_millis(100)));
        let n = r.poll_rtcp(t0, 9, &mut buf).unwrap();
        let fir = Fir::parse(&buf[..n]).unwrap();
        assert_eq!(
            fir.entries[0],
            FirEntry {
                ssrc: 7,
                sequence: 1
            }
        );
        assert!(r.poll_rtcp(t0, 9, &mut buf).is_none());
        assert!(r.request_keyframe(t0 + Duration::from_millis(500)));
        let n = r
            .poll_rtcp(t0 + Duration::from_millis(500), 9, &mut buf)
            .unwrap();
        assert_eq!(Fir::parse(&buf[..n]).unwrap().entries[0].sequence, 2);
        let s = r.stats();
        assert_eq!((s.fir_count, s.keyframe_requests_throttled), (2, 1));
    }

    #[test]
    fn a_caller_paced_keyframe_request_follows_its_gap_but_never_under_the_rtt() {
        let t0 = crate::test_clock::t0();
        let ms = Duration::from_millis;
        let mut r = rx(|_| {});
        r.set_rtt(ms(150));
        assert!(r.request_keyframe_after(t0, ms(100)));
        assert!(
            !r.request_keyframe_after(t0 + ms(100), ms(100)),
            "one per round trip"
        );
        assert!(r.request_keyframe_after(t0 + ms(150), ms(100)));
        // The configured 500 ms still holds for a plain request.
        assert!(!r.request_keyframe(t0 + ms(400)));
        assert!(r.request_keyframe(t0 + ms(650)));
    }

    #[test]
    fn jitter_of_a_steady_stream_is_zero() {
        let t0 = crate::test_clock::t0();
        let mut r = rx(|_| {});
        for i in 0..50u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            r.on_packet(now, &packet(i, u32::from(i) * 1800));
        }
        assert_eq!(r.stats().jitter, 0.0);
        // Every other packet 10 ms late: |D| = 900 units each time, the estimate tends to it.
        for i in 50..400u16 {
            let late = if i % 2 == 0 { 10 } else { 0 };
            let now = t0 + Duration::from_millis(20 * u64::from(i) + late);
            r.on_packet(now, &packet(i, u32::from(i) * 1800));
        }
        let j = r.stats().jitter;
        assert!((j - 0.010).abs() < 0.0005, "{j}");
    }
}
