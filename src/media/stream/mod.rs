//! Per-SSRC media streams: the feedback loops under RTP, without SDP and without SRTP.
//!
//! [`StreamTx`] is one outgoing RTP stream (one SSRC, and its RTX SSRC when negotiated). It
//! records what leaves in a bounded history, answers generic NACKs with retransmissions
//! (RFC 4588 RTX, or the packet again when no RTX is negotiated), turns PLI (RFC 4585 §6.3.1)
//! and FIR (RFC 5104 §4.3.1) into [`StreamEvent::KeyframeRequest`], measures the round-trip
//! time from the report blocks of RR and SR (RFC 3550 §6.4.1), and writes sender reports with
//! an SDES CNAME on a randomized interval (RFC 3550 §6.3).
//!
//! [`StreamRx`] is one incoming RTP stream. It validates sequence numbers and counts loss as
//! RFC 3550 Appendix A.1 and A.3 do, estimates interarrival jitter (Appendix A.8), keeps a
//! list of missing packets and asks for them again with generic NACKs (RFC 4585 §6.2.1),
//! repeating each request at most once per round-trip time and giving up after a number of
//! tries or an age; it unwraps RTX packets in place into the original packet, asks for
//! keyframes with PLI or FIR (throttled), and writes receiver reports whose LSR/DLSR let the
//! sender measure the round-trip time.
//!
//! Both see plaintext RTP and RTCP (SRTP is below them) and never read a clock: every mutator
//! takes `now`. Neither allocates per packet once warmed up: the RTX history is a fixed table
//! of slots over a byte ring that grows only until it holds a packet per slot (never past its
//! byte cap), the missing list and the queues are preallocated, and RTCP is written straight
//! into the caller's buffer.
//!
//! The driving contract is the crate's, narrowed to a stream: feed packets in
//! (`on_send` / `on_packet` / `handle_rtcp` / `handle_sr`), then poll for what to send
//! (`poll_retransmit`, `poll_rtcp`) and what to tell the application (`poll_event`), and call
//! the polls again at `poll_timeout`. Any order of calls is legal.
//!
//! ```
//! use std::time::Instant;
//! use kaon::media::{NtpEpoch, Rtx, RxVerdict, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig};
//! use kaon::rtp::{RtpBuilder, RtpHeader};
//!
//! let t0 = Instant::now(); // the caller's clock: the streams never read one
//! let epoch = NtpEpoch { at: t0, ntp: 0xe000_0000_0000_0000 };
//! let rtx = Rtx { ssrc: 0xbbbb, payload_type: 97, associated_payload_type: 96 };
//! let mut txc = StreamTxConfig::new(0xaaaa, 90_000, epoch);
//! txc.rtx = Some(rtx);
//! let mut rxc = StreamRxConfig::new(0xaaaa, 90_000);
//! rxc.rtx = Some(rtx);
//! let (mut tx, mut rx) = (StreamTx::new(txc), StreamRx::new(rxc));
//!
//! let mut buf = [0u8; 1500];
//! for seq in 100..103u16 {
//!     let header = RtpHeader { payload_type: 96, sequence_number: seq, ssrc: 0xaaaa, ..Default::default() };
//!     let n = RtpBuilder::new(header).payload(b"frame").write(&mut buf)?;
//!     tx.on_send(t0, &buf[..n]);
//!     if seq != 101 {
//!         rx.on_packet(t0, &buf[..n]); // 101 is lost on the way
//!     }
//! }
//! // The receiver asks for 101 again; the sender answers with an RTX packet.
//! let n = rx.poll_rtcp(t0, 0x1234, &mut buf).unwrap();
//! for p in kaon::rtp::rtcp::Compound::new(&buf[..n]).packets() {
//!     tx.handle_rtcp(t0, &p?);
//! }
//! let n = tx.poll_retransmit(t0, &mut buf).unwrap();
//! let (n, verdict) = rx.unwrap_rtx(t0, &mut buf, n).unwrap();
//! assert_eq!(verdict, RxVerdict::Repaired);
//! assert_eq!(kaon::rtp::RtpPacket::new_checked(&buf[..n])?.sequence_number(), 101);
//! # Ok::<(), kaon::rtp::Error>(())
//! ```

mod history;
mod missing;
mod rx;
mod tx;

use std::time::{Duration, Instant};

use crate::wire::Writer;

pub use rx::{RemoteOutboundStats, RxStats, RxVerdict, StreamRx, StreamRxConfig};
pub use tx::{RemoteInboundStats, StreamTx, StreamTxConfig, TxStats};

/// The wall-clock origin for NTP timestamps in sender reports: the NTP time (RFC 5905 64-bit
/// format, seconds since 1900 in the high 32 bits) that `at` corresponds to. The caller reads
/// its clock once and passes both; nothing here reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpEpoch {
    /// The instant the NTP time below was taken.
    pub at: Instant,
    /// The NTP time at `at`.
    pub ntp: u64,
}

impl NtpEpoch {
    /// The NTP time at `now` (times before the epoch map to the epoch).
    pub fn ntp_at(&self, now: Instant) -> u64 {
        self.ntp
            .wrapping_add(duration_to_ntp(now.saturating_duration_since(self.at)))
    }
}

/// A duration in NTP 32.32 fixed point.
pub(crate) fn duration_to_ntp(d: Duration) -> u64 {
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (d.as_secs() << 32).wrapping_add(frac)
}

/// The middle 32 bits of an NTP timestamp, the form LSR and DLSR use (RFC 3550 §6.4.1).
pub(crate) fn ntp_mid(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in units of 1/65536 s (DLSR), saturating.
pub(crate) fn duration_to_q16(d: Duration) -> u32 {
    let q = (d.as_nanos() << 16) / 1_000_000_000;
    u32::try_from(q).unwrap_or(u32::MAX)
}

/// Units of 1/65536 s as a duration.
pub(crate) fn q16_to_duration(q: u32) -> Duration {
    Duration::from_nanos((u64::from(q) * 1_000_000_000) >> 16)
}

/// An RTX stream associated with a media stream (RFC 4588 §8: `a=rtpmap:<pt> rtx/<rate>`,
/// `a=fmtp:<pt> apt=<associated pt>` and `a=ssrc-group:FID <media ssrc> <rtx ssrc>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rtx {
    /// The RTX stream's SSRC.
    pub ssrc: u32,
    /// The RTX payload type.
    pub payload_type: u8,
    /// The media payload type it repairs (`apt`): a receiver restores it when unwrapping.
    pub associated_payload_type: u8,
}

/// Which keyframe request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyframeKind {
    /// Picture loss indication (RFC 4585 §6.3.1).
    Pli,
    /// Full intra request (RFC 5104 §4.3.1).
    Fir,
}

/// Something a stream tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The receiver asked for a decoder refresh point: the encoder should send a keyframe.
    /// Requests arriving while one is still queued are merged into it.
    KeyframeRequest {
        /// What asked for it.
        kind: KeyframeKind,
    },
}

/// A random duration in `[0.5, 1.5) * interval` (RFC 3550 §6.3.1: the computed interval is
/// multiplied by a random factor to avoid synchronization), never under a millisecond so that
/// a caller polling in a loop always reaches the end of what is due.
pub(crate) fn randomized(rng: &mut crate::Rng, interval: Duration) -> Duration {
    let ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX / 2);
    let d = Duration::from_nanos(rng.range(ns / 2, ns.saturating_add(ns / 2).max(ns / 2 + 1)));
    d.max(Duration::from_millis(1))
}

/// RFC 3550 §6.5: SDES is packet type 202; CNAME is item 1.
const PT_SDES: u8 = 202;
const SDES_CNAME: u8 = 1;

/// RFC 3550 §6.5: an SDES packet with one chunk holding a CNAME item, written in place.
pub(crate) fn write_sdes(ssrc: u32, cname: &[u8], buf: &mut [u8]) -> Option<usize> {
    let cname = &cname[..cname.len().min(255)];
    // SSRC, type, length, text, then at least one null octet ending the list, to 32 bits.
    let chunk = (4 + 2 + cname.len() + 1).next_multiple_of(4);
    let len = 4 + chunk;
    let mut w = Writer::new(buf.get_mut(..len)?);
    w.u8(0x81).ok()?;
    w.u8(PT_SDES).ok()?;
    w.u16((len / 4 - 1) as u16).ok()?;
    w.u32(ssrc).ok()?;
    w.u8(SDES_CNAME).ok()?;
    w.u8(cname.len() as u8).ok()?;
    w.bytes(cname).ok()?;
    w.zeros(len - w.position()).ok()?;
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_of_epoch_plus_one_and_a_half_seconds() {
        let t0 = crate::test_clock::t0();
        let e = NtpEpoch {
            at: t0,
            ntp: 5 << 32,
        };
        assert_eq!(
            e.ntp_at(t0 + Duration::from_millis(1500)),
            (6 << 32) | (1 << 31)
        );
        assert_eq!(e.ntp_at(t0), 5 << 32);
    }

    #[test]
    fn q16_round_trips_within_a_unit() {
        for ms in [0u64, 1, 20, 999, 65_000] {
            let d = Duration::from_millis(ms);
            let back = q16_to_duration(duration_to_q16(d));
            assert!(
                d.abs_diff(back) < Duration::from_micros(16),
                "{ms} ms -> {back:?}"
            );
        }
    }
}
