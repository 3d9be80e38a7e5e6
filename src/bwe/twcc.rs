//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01)
//! joined to this layer: [`TwccSender`] turns received [`TransportCc`] packets into
//! [`PacketResult`]s for [`Controller::on_feedback`](super::Controller::on_feedback), and
//! [`build_twcc`] turns a [`Feedback`] report of the [`FeedbackRecorder`](super::FeedbackRecorder)
//! into [`TransportCc`] packets to send.
//!
//! ```
//! use kaon::bwe::{Controller, Config, FeedbackRecorder, TwccSender, build_twcc, PacketKind};
//! use std::time::{Duration, Instant};
//!
//! let t0 = Instant::now();
//! let (mut bwe, mut twcc) = (Controller::new(Config::default()), TwccSender::default());
//! let mut receiver = FeedbackRecorder::default();
//! for seq in 0..10u16 {
//!     let at = t0 + Duration::from_millis(u64::from(seq) * 10);
//!     bwe.on_packet_sent(at, twcc.on_sent(seq), 1200, PacketKind::Video);
//!     receiver.on_packet(at + Duration::from_millis(30), seq);
//! }
//! let report = receiver.poll_feedback(t0 + Duration::from_secs(1)).unwrap();
//! let mut results = Vec::new();
//! build_twcc(&report, 1, 2, 400, |fb| twcc.results(&fb, &mut results));
//! assert_eq!(results.len(), 10);
//! bwe.on_feedback(t0 + Duration::from_secs(1), &results);
//! ```

use super::{Feedback, PacketResult};
use crate::rtp::rtcp::{ReferenceTimeUnwrapper, TransportCc, TwccBuilder};
use crate::wire::serial::Unwrapper16;
use std::time::Duration;

/// The sender's side of TWCC: extends the 16-bit transport-wide sequence numbers it sends and
/// the 24-bit reference times it receives, so feedback maps onto the controller's 64-bit
/// sequence numbers and one arrival time line.
#[derive(Debug, Clone, Default)]
pub struct TwccSender {
    sent: Unwrapper16,
    last_sent: Option<(u16, u64)>,
    reference: ReferenceTimeUnwrapper,
}

impl TwccSender {
    /// A packet with transport-wide sequence number `seq` is sent: its 64-bit number, for
    /// [`Controller::on_packet_sent`](super::Controller::on_packet_sent).
    pub fn on_sent(&mut self, seq: u16) -> u64 {
        let long = self.sent.unwrap(seq);
        self.last_sent = Some((seq, long));
        long
    }

    /// Appends the results a feedback packet gives to `out`. Only numbers at most half the
    /// 16-bit space behind the newest sent are taken (anything else cannot be ours); arrival
    /// times before the time line's start are clamped to it.
    pub fn results(&mut self, fb: &TransportCc, out: &mut Vec<PacketResult>) {
        let Some((last16, last64)) = self.last_sent else {
            return;
        };
        let reference = self.reference.unwrap_micros(fb.reference_time);
        out.extend(fb.arrivals_from(reference).filter_map(|(seq, at)| {
            let back = u64::from(last16.wrapping_sub(seq));
            (back < 0x8000 && back <= last64).then(|| PacketResult {
                seq: last64 - back,
                arrival: at.map(|us| Duration::from_micros(us.max(0) as u64)),
            })
        }));
    }
}

/// Encodes a recorder's report as TWCC packets from `sender_ssrc` about `media_ssrc`, at most
/// `max_per_packet` received packets each (so each fits a datagram), handing each to `out`.
///
/// TWCC cannot say "lost" before its first received packet nor after its last: such packets
/// are left out (the sender never learns of them, as with libwebrtc's receiver). Arrival times
/// are quantised to 250 us without drift ([`TwccBuilder`]).
pub fn build_twcc(
    report: &Feedback,
    sender_ssrc: u32,
    media_ssrc: u32,
    max_per_packet: usize,
    mut out: impl FnMut(TransportCc),
) {
    let count = report.count as u8;
    let max = max_per_packet.max(1);
    let mut builder = TwccBuilder::new(sender_ssrc, media_ssrc, count);
    let mut n = 0;
    for p in &report.packets {
        let Some(at) = p.arrival else { continue };
        let us = u64::try_from(at.as_micros()).unwrap_or(u64::MAX);
        if n >= max || !builder.push(p.seq as u16, us) {
            let full = std::mem::replace(
                &mut builder,
                TwccBuilder::new(sender_ssrc, media_ssrc, count),
            );
            if !full.is_empty() {
                out(full.finish());
            }
            n = 0;
            if !builder.push(p.seq as u16, us) {
                continue;
            }
        }
        n += 1;
    }
    if !builder.is_empty() {
        out(builder.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bwe::FeedbackRecorder;
    use std::time::Instant;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn twcc_built_from_arrivals_gives_back_the_arrival_gaps_and_losses() {
        let t0 = crate::test_clock::t0();
        let mut rec = FeedbackRecorder::default();
        let mut tx = TwccSender::default();
        for seq in 0..6u16 {
            tx.on_sent(seq);
        }
        rec.on_packet(t0 + ms(100), 0);
        rec.on_packet(t0 + ms(105), 1);
        rec.on_packet(t0 + ms(131), 3);
        rec.on_packet(t0 + ms(140), 5);
        let report = rec.poll_feedback(t0 + ms(200)).unwrap();
        let mut wire = Vec::new();
        build_twcc(&report, 7, 9, 400, |fb| {
            let mut buf = vec![0; fb.len()];
            fb.write(&mut buf).unwrap();
            wire.push(TransportCc::parse(&buf).unwrap());
        });
        assert_eq!(wire.len(), 1);
        assert_eq!((wire[0].sender_ssrc, wire[0].media_ssrc), (7, 9));
        let mut out = Vec::new();
        tx.results(&wire[0], &mut out);
        let got: Vec<(u64, Option<u64>)> = out
            .iter()
            .map(|r| (r.seq, r.arrival.map(|a| a.as_micros() as u64)))
            .collect();
        let base = got[0].1.unwrap();
        let rel: Vec<(u64, Option<u64>)> =
            got.iter().map(|(s, a)| (*s, a.map(|a| a - base))).collect();
        assert_eq!(
            rel,
            [
                (0, Some(0)),
                (1, Some(5_000)),
                (2, None),
                (3, Some(31_000)),
                (4, None),
                (5, Some(40_000))
            ]
        );
    }

    #[test]
    fn twcc_results_follow_the_sequence_across_the_16_bit_wrap() {
        let mut tx = TwccSender::default();
        for s in 65530..=65535u16 {
            tx.on_sent(s);
        }
        for s in 0..4u16 {
            tx.on_sent(s);
        }
        let mut b = TwccBuilder::new(1, 2, 0);
        assert!(b.push(65534, 1_000));
        assert!(b.push(1, 3_000));
        let mut out = Vec::new();
        tx.results(&b.finish(), &mut out);
        let seqs: Vec<u64> = out.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [65534, 65535, 65536, 65537]);
        assert!(out[1].arrival.is_none() && out[2].arrival.is_none());
    }

    #[test]
    fn twcc_about_numbers_never_sent_is_ignored() {
        let mut tx = TwccSender::default();
        let mut b = TwccBuilder::new(1, 2, 0);
        assert!(b.push(10, 0));
        let fb = b.finish();
        let mut out = Vec::new();
        tx.results(&fb, &mut out);
        assert!(out.is_empty(), "nothing sent yet");
        tx.on_sent(5);
        tx.results(&fb, &mut out);
        assert!(out.is_empty(), "ahead of the newest sent");
    }

    #[test]
    fn a_long_report_splits_into_twcc_packets_that_fit_a_datagram() {
        let t0: Instant = crate::test_clock::t0();
        let mut rec = FeedbackRecorder::default();
        for seq in 0..1000u16 {
            // Irregular gaps: large deltas and some losses.
            if seq % 13 != 0 {
                rec.on_packet(t0 + Duration::from_micros(u64::from(seq) * 2_777), seq);
            }
        }
        let report = rec.poll_feedback(t0 + ms(5_000)).unwrap();
        let mut sizes = Vec::new();
        let mut covered = 0;
        build_twcc(&report, 1, 2, 400, |fb| {
            sizes.push(fb.len());
            covered += fb.packets.iter().filter(|p| p.is_some()).count();
        });
        assert!(sizes.len() >= 3, "{sizes:?}");
        assert!(sizes.iter().all(|&s| s <= 1200), "{sizes:?}");
        assert_eq!(
            covered,
            report
                .packets
                .iter()
                .filter(|p| p.arrival.is_some())
                .count()
        );
    }
}
