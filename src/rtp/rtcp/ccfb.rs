//! RFC 8888 congestion control feedback: RTPFB FMT 11.

use smallvec::SmallVec;

use super::{Body, FMT_CCFB, PT_RTPFB, expect, split, wire_methods};
use crate::rtp::Error;
use crate::wire::{Reader, Writer};

/// RFC 8888 §3.1: "If the measured value is greater than 8189/1024 seconds ..., the value
/// 0x1FFE MUST be reported to indicate an over-range measurement."
pub const ATO_OVER_RANGE: u16 = 0x1ffe;
/// RFC 8888 §3.1: "If the measurement is unavailable or if the arrival time of the RTP packet
/// is after the time represented by the RTS field, then an ATO value of 0x1FFF MUST be
/// reported."
pub const ATO_UNAVAILABLE: u16 = 0x1fff;
const ATO_MAX_MEASURED: u16 = 0x1ffd;
const ATO_MASK: u16 = 0x1fff;

/// A received packet's report: its ECN marking and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CcfbArrival {
    /// The 2-bit ECN field of the packet as received (RFC 3168: 0 Not-ECT, 1 ECT(1),
    /// 2 ECT(0), 3 CE).
    pub ecn: u8,
    /// The arrival time offset: 13 bits in 1/1024 s before the report timestamp.
    pub ato: u16,
}

impl CcfbArrival {
    /// A report for a packet that arrived `offset_us` microseconds before the report timestamp
    /// (`None`: unknown, or after it), rounded to 1/1024 s and clamped to the RFC's codes.
    pub fn from_offset_micros(ecn: u8, offset_us: Option<u64>) -> Self {
        let ato = match offset_us {
            None => ATO_UNAVAILABLE,
            Some(us) => {
                let ticks = (u128::from(us) * 1024 + 500_000) / 1_000_000;
                if ticks > u128::from(ATO_MAX_MEASURED) {
                    ATO_OVER_RANGE
                } else {
                    ticks as u16
                }
            }
        };
        Self { ecn: ecn & 3, ato }
    }

    /// How long before the report timestamp the packet arrived, in microseconds; `None` for
    /// the over-range and unavailable codes.
    pub fn offset_micros(&self) -> Option<u64> {
        (self.ato <= ATO_MAX_MEASURED).then(|| (u64::from(self.ato) * 1_000_000) / 1024)
    }
}

/// The reports for one RTP stream: a run of sequence numbers from `begin_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CcfbBlock {
    /// The SSRC of the stream reported on.
    pub ssrc: u32,
    /// The first sequence number reported.
    pub begin_seq: u16,
    /// One entry per sequence number: `None` not received (R=0), else its arrival.
    pub reports: Vec<Option<CcfbArrival>>,
}

/// RFC 8888 §3.1: per-stream packet arrival reports and the time they refer to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CongestionControlFeedback {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// One block per RTP stream.
    pub blocks: SmallVec<[CcfbBlock; 2]>,
    /// The middle 32 bits of the NTP time the report was generated at.
    pub report_timestamp: u32,
}

impl CongestionControlFeedback {
    /// Reads one RFC 8888 feedback packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_RTPFB, Some(FMT_CCFB))?;
        let mut r = Reader::new(s.body);
        let sender_ssrc = r.u32()?;
        let mut blocks = SmallVec::new();
        // RFC 8888 §3.1: report blocks, then the 32-bit report timestamp closes the packet.
        while r.remaining() > 4 {
            let ssrc = r.u32()?;
            let begin_seq = r.u16()?;
            let n = usize::from(r.u16()?);
            if r.remaining() < 2 * n {
                return Err(Error::TooShort);
            }
            let mut reports = Vec::with_capacity(n);
            for _ in 0..n {
                let v = r.u16()?;
                // RFC 8888 §3.1: R=0 means not received; the other bits are then ignored.
                reports.push((v & 0x8000 != 0).then_some(CcfbArrival {
                    ecn: ((v >> 13) & 3) as u8,
                    ato: v & ATO_MASK,
                }));
            }
            // RFC 8888 §3.1: an odd number of reports is followed by 16 bits of padding.
            if n % 2 == 1 {
                r.skip(2)?;
            }
            blocks.push(CcfbBlock {
                ssrc,
                begin_seq,
                reports,
            });
        }
        let report_timestamp = r.u32()?;
        if !r.is_empty() {
            return Err(Error::BadLength);
        }
        Ok(Self {
            sender_ssrc,
            blocks,
            report_timestamp,
        })
    }
}

impl Body for CongestionControlFeedback {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        for b in &self.blocks {
            if b.reports.len() > usize::from(u16::MAX) {
                return Err(Error::TooLarge("RFC 8888 num_reports"));
            }
            if b.reports
                .iter()
                .flatten()
                .any(|a| a.ecn > 3 || a.ato > ATO_MASK)
            {
                return Err(Error::TooLarge("RFC 8888 ECN or arrival time offset"));
            }
        }
        Ok((PT_RTPFB, FMT_CCFB))
    }
    fn body_len(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| 8 + 2 * b.reports.len().next_multiple_of(2))
            .sum();
        4 + blocks + 4
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.sender_ssrc)?;
        for b in &self.blocks {
            w.u32(b.ssrc)?;
            w.u16(b.begin_seq)?;
            w.u16(b.reports.len() as u16)?;
            for rep in &b.reports {
                w.u16(rep.map_or(0, |a| 0x8000 | (u16::from(a.ecn) << 13) | a.ato))?;
            }
            if b.reports.len() % 2 == 1 {
                w.zeros(2)?;
            }
        }
        Ok(w.u32(self.report_timestamp)?)
    }
}
wire_methods!(CongestionControlFeedback);
