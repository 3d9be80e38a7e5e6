//! RFC 8888 congestion control feedback joined to this layer, both ways.
//!
//! RFC 8888 reports on packets by their own SSRC and RTP sequence number (no transport-wide
//! number is needed), with an arrival time offset before a report timestamp (RTS).
//!
//! - Receive side: [`CcfbRecorder`] records each RTP packet's (SSRC, sequence, arrival) and
//!   builds [`CongestionControlFeedback`] packets, one report block per SSRC, at an interval.
//! - Send side: [`CcfbSender`] gives every RTP packet sent a 64-bit number for
//!   [`Controller::on_packet_sent`](super::Controller::on_packet_sent), remembers it by (SSRC,
//!   sequence), and maps received feedback back onto those numbers as [`PacketResult`]s, with
//!   arrival times on one receiver time line (RTS minus the offset).
//!
//! ```
//! use kaon::bwe::{CcfbRecorder, CcfbSender, Config, Controller, PacketKind};
//! use std::time::{Duration, Instant};
//!
//! let t0 = Instant::now();
//! let (mut bwe, mut tx) = (Controller::new(Config::default()), CcfbSender::default());
//! let mut rx = CcfbRecorder::default();
//! for seq in 0..10u16 {
//!     let at = t0 + Duration::from_millis(u64::from(seq) * 10);
//!     bwe.on_packet_sent(at, tx.on_sent(0xabc, seq), 1200, PacketKind::Video);
//!     rx.on_packet(at + Duration::from_millis(30), 0xabc, seq);
//! }
//! let now = t0 + Duration::from_millis(200);
//! let mut results = Vec::new();
//! rx.poll_feedback(now, 1, 1200, |fb| tx.results(&fb, &mut results));
//! assert_eq!(results.len(), 10);
//! bwe.on_feedback(now, &results);
//! ```

use super::{FeedbackRecorder, PacketResult, RecorderConfig};
use crate::rtp::rtcp::{CcfbArrival, CcfbBlock, CongestionControlFeedback};
use crate::wire::serial::Unwrapper16;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most this many SSRCs are tracked on either side; past it the one least recently seen
/// is forgotten (a peer cannot grow our memory by inventing SSRCs).
pub const MAX_STREAMS: usize = 64;
/// Sent packets remembered per SSRC, for mapping feedback back to them.
const SENT_HISTORY: usize = 4096;
/// The fixed size of a feedback packet: RTCP header, sender SSRC, RTS.
const FIXED_LEN: usize = 4 + 4 + 4;
/// A report block's header: SSRC, begin_seq, num_reports.
const BLOCK_HEADER: usize = 8;

/// The receive side's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcfbConfig {
    /// Report this often while packets arrive. RFC 8888 §4 leaves the interval to the
    /// application (about once per frame, or per RTT); 50 ms is libwebrtc's TWCC cadence.
    pub interval: Duration,
    /// At most this many reports per SSRC in one round; a longer span is reported from its
    /// newest end.
    pub max_reports: usize,
}

impl Default for CcfbConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(50),
            max_reports: 512,
        }
    }
}

#[derive(Debug)]
struct RxStream {
    ssrc: u32,
    /// The arrival of the stream's first packet: the recorder's arrivals count from it.
    epoch: Instant,
    last_seen: Instant,
    rec: FeedbackRecorder,
}

/// The receiver's side of RFC 8888: per-SSRC arrivals, reported every interval.
#[derive(Debug, Default)]
pub struct CcfbRecorder {
    config: CcfbConfig,
    streams: Vec<RxStream>,
    /// The RTS time line's origin: the first packet recorded.
    epoch: Option<Instant>,
    due: Option<Instant>,
    /// Feedback packets built so far.
    pub sent: u64,
}

impl CcfbRecorder {
    /// A recorder with this configuration.
    pub fn new(config: CcfbConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// An RTP packet of `ssrc` with sequence number `seq` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, ssrc: u32, seq: u16) {
        self.epoch.get_or_insert(now);
        let i = match self.streams.iter().position(|s| s.ssrc == ssrc) {
            Some(i) => i,
            None => {
                if self.streams.len() >= MAX_STREAMS
                    && let Some(old) =
                        (0..self.streams.len()).min_by_key(|&i| self.streams[i].last_seen)
                {
                    self.streams.swap_remove(old);
                }
                self.streams.push(RxStream {
                    ssrc,
                    epoch: now,
                    last_seen: now,
                    rec: FeedbackRecorder::new(RecorderConfig {
                        max_results: self.config.max_reports.max(1),
                        ..RecorderConfig::default()
                    }),
                });
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i];
        s.last_seen = now;
        s.rec.on_packet(now, seq);
        if self.due.is_none() {
            self.due = Some(now + self.config.interval);
        }
    }

    /// When the next report is due; `None` while nothing waits to be reported.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }

    /// The report timestamp for `now`: the middle 32 bits of an NTP-format time (16.16
    /// seconds) on the recorder's own time line, which starts at 1 s with the first packet.
    /// RFC 8888 §3.1 only asks that RTS and the offsets agree; the sender uses differences.
    pub fn report_timestamp(&self, now: Instant) -> u32 {
        let since = self
            .epoch
            .map_or(Duration::ZERO, |e| now.saturating_duration_since(e));
        let units = (since.as_micros() * 65_536 / 1_000_000) as u64;
        (units + 65_536) as u32
    }

    /// When a report is due at `now`, builds it from `sender_ssrc`: one block per SSRC with
    /// something new, split into packets of at most `max_len` bytes, each handed to `out`.
    pub fn poll_feedback(
        &mut self,
        now: Instant,
        sender_ssrc: u32,
        max_len: usize,
        mut out: impl FnMut(CongestionControlFeedback),
    ) {
        if self.due.is_none_or(|d| d > now) {
            return;
        }
        self.due = None;
        let rts = self.report_timestamp(now);
        // At least one report per packet, however small `max_len` is.
        let budget = max_len.max(FIXED_LEN + BLOCK_HEADER + 4);
        let mut packet = CongestionControlFeedback {
            sender_ssrc,
            blocks: Default::default(),
            report_timestamp: rts,
        };
        let mut len = FIXED_LEN;
        for s in &mut self.streams {
            s.rec.request();
            let Some(f) = s.rec.poll_feedback(now) else {
                continue;
            };
            let mut rest = &f.packets[..];
            while let Some(first) = rest.first() {
                if len + BLOCK_HEADER + 4 > budget {
                    self.sent += 1;
                    out(std::mem::replace(
                        &mut packet,
                        CongestionControlFeedback {
                            sender_ssrc,
                            blocks: Default::default(),
                            report_timestamp: rts,
                        },
                    ));
                    len = FIXED_LEN;
                }
                // Reports take 2 bytes each, padded to 4 (RFC 8888 §3.1).
                let room = ((budget - len - BLOCK_HEADER) / 4) * 2;
                let n = rest.len().min(room).min(usize::from(u16::MAX));
                let (take, tail) = rest.split_at(n);
                rest = tail;
                let reports = take
                    .iter()
                    .map(|p| {
                        p.arrival.map(|a| {
                            // RFC 8888 §3.1: the ATO is the arrival time "relative to the time
                            // represented by the RTS field"; ECN is 0 (Not-ECT): we are not
                            // told the marking a datagram arrived with.
                            let at = s.epoch + a;
                            let offset = now.saturating_duration_since(at);
                            CcfbArrival::from_offset_micros(
                                0,
                                Some(u64::try_from(offset.as_micros()).unwrap_or(u64::MAX)),
                            )
                        })
                    })
                    .collect::<Vec<_>>();
                len += BLOCK_HEADER + 2 * reports.len().next_multiple_of(2);
                packet.blocks.push(CcfbBlock {
                    ssrc: s.ssrc,
                    begin_seq: first.seq as u16,
                    reports,
                });
            }
        }
        if !packet.blocks.is_empty() {
            self.sent += 1;
            out(packet);
        }
    }
}

#[derive(Debug)]
struct TxStream {
    ssrc: u32,
    unwrapper: Unwrapper16,
    /// The newest sequence number sent: 16-bit and extended.
    last: (u16, u64),
    /// (extended RTP sequence number, the controller's number), sorted by the first.
    sent: VecDeque<(u64, u64)>,
    /// Our counter when the stream was last sent on (for forgetting the least recent).
    used: u64,
}

/// The sender's side of RFC 8888: numbers every RTP packet sent for the controller and maps
/// feedback about (SSRC, sequence) back to those numbers.
#[derive(Debug, Default)]
pub struct CcfbSender {
    streams: Vec<TxStream>,
    /// The controller's number of the next packet.
    next: u64,
    /// The peer's RTS time line, extended past its 32-bit wrap (16.16 seconds).
    rts_last: Option<(u32, u64)>,
}

impl CcfbSender {
    /// An RTP packet of `ssrc` with sequence number `seq` is sent: its number for
    /// [`Controller::on_packet_sent`](super::Controller::on_packet_sent). A packet sent again
    /// with the same (SSRC, sequence) takes a new number; feedback then refers to the newest.
    pub fn on_sent(&mut self, ssrc: u32, seq: u16) -> u64 {
        let number = self.next;
        self.next += 1;
        let i = match self.streams.iter().position(|s| s.ssrc == ssrc) {
            Some(i) => i,
            None => {
                if self.streams.len() >= MAX_STREAMS
                    && let Some(old) = (0..self.streams.len()).min_by_key(|&i| self.streams[i].used)
                {
                    self.streams.swap_remove(old);
                }
                self.streams.push(TxStream {
                    ssrc,
                    unwrapper: Unwrapper16::default(),
                    last: (seq, 0),
                    sent: VecDeque::new(),
                    used: number,
                });
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i];
        s.used = number;
        let long = s.unwrapper.unwrap(seq);
        if long >= s.last.1 {
            s.last = (seq, long);
        }
        match s.sent.binary_search_by_key(&long, |e| e.0) {
            Ok(at) => s.sent[at].1 = number,
            Err(at) => {
                if s.sent.len() >= SENT_HISTORY {
                    s.sent.pop_front();
                }
                let at = at.min(s.sent.len());
                s.sent.insert(at, (long, number));
            }
        }
        number
    }

    /// Appends the results a feedback packet gives to `out`: one per report about a packet we
    /// sent and still remember. Arrival times are the RTS (extended past its wrap) minus each
    /// offset, on a time line of the peer's. A report received but without a usable offset
    /// (over range, or unavailable) is skipped: neither lost nor timed.
    pub fn results(&mut self, fb: &CongestionControlFeedback, out: &mut Vec<PacketResult>) {
        let rts = self.extend_rts(fb.report_timestamp);
        // 16.16 seconds to microseconds; one hour of headroom keeps offsets positive.
        let rts_us = (u128::from(rts) * 1_000_000 / 65_536) as u64 + 3_600_000_000;
        for b in &fb.blocks {
            let Some(s) = self.streams.iter().find(|s| s.ssrc == b.ssrc) else {
                continue;
            };
            let (last16, last64) = s.last;
            for (i, rep) in b.reports.iter().enumerate() {
                let seq = b.begin_seq.wrapping_add(i as u16);
                let back = u64::from(last16.wrapping_sub(seq));
                // Only numbers at most half the 16-bit space behind the newest sent are ours.
                if back >= 0x8000 || back > last64 {
                    continue;
                }
                let long = last64 - back;
                let Ok(at) = s.sent.binary_search_by_key(&long, |e| e.0) else {
                    continue;
                };
                let number = s.sent[at].1;
                let arrival = match rep {
                    None => None,
                    Some(a) => match a.offset_micros() {
                        Some(us) => Some(Duration::from_micros(rts_us.saturating_sub(us))),
                        // RFC 8888 §3.1: 0x1FFE is over range and 0x1FFF unavailable; the
                        // packet arrived, but a made-up time would mislead the delay filter.
                        None => continue,
                    },
                };
                out.push(PacketResult {
                    seq: number,
                    arrival,
                });
            }
        }
    }

    fn extend_rts(&mut self, rts: u32) -> u64 {
        let long = match self.rts_last {
            None => u64::from(rts),
            Some((last, long)) => {
                let d = rts.wrapping_sub(last) as i32;
                long.saturating_add_signed(i64::from(d))
            }
        };
        if self.rts_last.is_none_or(|(_, l)| long >= l) {
            self.rts_last = Some((rts, long));
        }
        long
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn wire(fb: &CongestionControlFeedback) -> CongestionControlFeedback {
        let mut buf = vec![0; fb.len()];
        let n = fb.write(&mut buf).unwrap();
        assert_eq!(n, buf.len());
        CongestionControlFeedback::parse(&buf).unwrap()
    }

    #[test]
    fn ccfb_feedback_gives_back_arrival_gaps_and_losses_per_ssrc() {
        let t0 = crate::test_clock::t0();
        let mut tx = CcfbSender::default();
        let mut rx = CcfbRecorder::default();
        // Two streams, interleaved on the wire: numbers 0..8.
        let mut numbers = Vec::new();
        for seq in 100..104u16 {
            numbers.push((0xa, seq, tx.on_sent(0xa, seq)));
            numbers.push((0xb, seq + 1000, tx.on_sent(0xb, seq + 1000)));
        }
        rx.on_packet(t0 + ms(10), 0xa, 100);
        rx.on_packet(t0 + ms(11), 0xb, 1100);
        rx.on_packet(t0 + ms(30), 0xa, 102);
        rx.on_packet(t0 + ms(32), 0xb, 1101);
        rx.on_packet(t0 + ms(41), 0xa, 103);
        rx.on_packet(t0 + ms(43), 0xb, 1103);
        assert_eq!(rx.poll_timeout(), Some(t0 + ms(60)));
        let mut got = Vec::new();
        rx.poll_feedback(t0 + ms(59), 7, 1200, |fb| got.push(fb));
        assert!(got.is_empty(), "not due yet");
        rx.poll_feedback(t0 + ms(60), 7, 1200, |fb| got.push(wire(&fb)));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].sender_ssrc, 7);
        assert_eq!(got[0].blocks.len(), 2);
        assert_eq!(
            (got[0].blocks[0].ssrc, got[0].blocks[0].begin_seq),
            (0xa, 100)
        );
        let mut out = Vec::new();
        tx.results(&got[0], &mut out);
        let mut rel: Vec<(u64, Option<i64>)> = out
            .iter()
            .map(|r| (r.seq, r.arrival.map(|a| a.as_micros() as i64)))
            .collect();
        rel.sort();
        let base = rel[0].1.unwrap();
        let rel: Vec<(u64, Option<i64>)> = rel
            .into_iter()
            .map(|(s, a)| (s, a.map(|a| ((a - base) as f64 / 1000.0).round() as i64)))
            .collect();
        // Numbers: a100=0 b1100=1 a101=2 b1101=3 a102=4 b1102=5 a103=6 b1103=7. Offsets are
        // in 1/1024 s, so arrival gaps come back within a millisecond.
        let want = [
            (0, Some(0)),
            (1, Some(1)),
            (2, None),
            (3, Some(22)),
            (4, Some(20)),
            (5, None),
            (6, Some(31)),
            (7, Some(33)),
        ];
        assert_eq!(rel.len(), want.len());
        for (g, w) in rel.iter().zip(want) {
            assert_eq!(g.0, w.0);
            match (g.1, w.1) {
                (Some(g), Some(w)) => assert!((g - w).abs() <= 1, "{rel:?}"),
                (g, w) => assert_eq!(g, w, "{rel:?}"),
            }
        }
        assert_eq!(rx.poll_timeout(), None, "idle until the next packet");
    }

    #[test]
    fn recorder_output_matches_a_hand_built_rfc8888_packet() {
        let t0 = crate::test_clock::t0();
        let mut rx = CcfbRecorder::default();
        // SSRC 0x11223344: seq 0xfffe at 0 ms, 0xffff lost, 0x0000 at 250 ms.
        rx.on_packet(t0 + ms(1000), 0x1122_3344, 0xfffe);
        rx.on_packet(t0 + ms(1250), 0x1122_3344, 0x0000);
        let mut got = Vec::new();
        rx.poll_feedback(t0 + ms(1500), 0xcafe_babe, 1200, |fb| {
            let mut buf = vec![0; fb.len()];
            fb.write(&mut buf).unwrap();
            got.push(buf);
        });
        // RTS: 0.5 s after the first packet on a line that starts at 1 s: 1.5 s in 16.16.
        // Reports (RFC 8888 §3.1: R | ECN(2) | ATO(13), in 1/1024 s before RTS):
        // 0xfffe arrived 500 ms before RTS: ATO 512 -> 0x8000 | 0x0200 = 0x8200;
        // 0xffff lost: 0x0000; 0x0000 arrived 250 ms before: ATO 256 -> 0x8100;
        // three reports, so 16 bits of padding.
        let want: Vec<u8> = vec![
            0x8b, 205, 0x00, 0x06, // V=2 FMT=11, PT=RTPFB, length: 7 words minus one
            0xca, 0xfe, 0xba, 0xbe, // SSRC of packet sender
            0x11, 0x22, 0x33, 0x44, // SSRC of the stream
            0xff, 0xfe, 0x00, 0x03, // begin_seq, num_reports
            0x82, 0x00, 0x00, 0x00, // 0xfffe received, 0xffff lost
            0x81, 0x00, 0x00, 0x00, // 0x0000 received, padding
            0x00, 0x01, 0x80, 0x00, // RTS: 1.5 s
        ];
        assert_eq!(got, [want]);
    }

    #[test]
    fn ccfb_about_packets_never_sent_is_ignored() {
        let mut tx = CcfbSender::default();
        let fb = CongestionControlFeedback {
            sender_ssrc: 1,
            blocks: [CcfbBlock {
                ssrc: 9,
                begin_seq: 5,
                reports: vec![Some(CcfbArrival::default())],
            }]
            .into_iter()
            .collect(),
            report_timestamp: 0,
        };
        let mut out = Vec::new();
        tx.results(&fb, &mut out);
        assert!(out.is_empty(), "unknown SSRC");
        tx.on_sent(9, 4);
        tx.results(&fb, &mut out);
        assert!(out.is_empty(), "ahead of the newest sent");
        tx.on_sent(9, 5);
        tx.results(&fb, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].seq, 1);
    }

    #[test]
    fn ccfb_follows_sequence_numbers_across_the_16_bit_wrap() {
        let t0 = crate::test_clock::t0();
        let mut tx = CcfbSender::default();
        let mut rx = CcfbRecorder::default();
        for s in [65534u16, 65535, 0, 1] {
            tx.on_sent(3, s);
            if s != 65535 {
                rx.on_packet(t0, 3, s);
            }
        }
        let mut out = Vec::new();
        rx.poll_feedback(t0 + ms(50), 1, 1200, |fb| tx.results(&wire(&fb), &mut out));
        let got: Vec<(u64, bool)> = out.iter().map(|r| (r.seq, r.arrival.is_some())).collect();
        assert_eq!(got, [(0, true), (1, false), (2, true), (3, true)]);
    }

    #[test]
    fn a_long_ccfb_report_splits_into_packets_that_fit_a_datagram() {
        let t0 = crate::test_clock::t0();
        let mut rx = CcfbRecorder::default();
        for seq in 0..1500u16 {
            for ssrc in 1..=3 {
                if seq % 11 != 0 {
                    rx.on_packet(t0 + Duration::from_micros(u64::from(seq) * 100), ssrc, seq);
                }
            }
        }
        let mut sizes = Vec::new();
        let mut covered = 0;
        rx.poll_feedback(t0 + ms(200), 1, 1200, |fb| {
            sizes.push(fb.len());
            covered += fb.blocks.iter().map(|b| b.reports.len()).sum::<usize>();
        });
        assert!(sizes.iter().all(|&s| s <= 1200), "{sizes:?}");
        assert!(sizes.len() >= 3, "{sizes:?}");
        // Each stream reports its newest 512 (the configured span).
        assert_eq!(covered, 3 * 512);
    }

    #[test]
    fn rts_wrap_keeps_arrival_times_increasing() {
        let mut tx = CcfbSender::default();
        assert_eq!(tx.extend_rts(u32::MAX - 10), u64::from(u32::MAX - 10));
        assert_eq!(tx.extend_rts(5), u64::from(u32::MAX) + 6);
        assert_eq!(tx.extend_rts(u32::MAX - 20), u64::from(u32::MAX - 20));
    }

    #[test]
    fn memory_stays_bounded_under_any_ssrcs() {
        let t0 = crate::test_clock::t0();
        let mut tx = CcfbSender::default();
        let mut rx = CcfbRecorder::default();
        for i in 0..20_000u32 {
            let ssrc = i.wrapping_mul(2_654_435_761) % 1000;
            tx.on_sent(ssrc, i as u16);
            rx.on_packet(t0 + Duration::from_micros(u64::from(i)), ssrc, i as u16);
        }
        assert!(tx.streams.len() <= MAX_STREAMS && rx.streams.len() <= MAX_STREAMS);
        assert!(tx.streams.iter().all(|s| s.sent.len() <= SENT_HISTORY));
    }
}
