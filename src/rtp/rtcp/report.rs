//! Sender and receiver reports (RFC 3550 §6.4).

use smallvec::SmallVec;

use super::{Body, PT_RR, PT_SR, expect, split, wire_methods};
use crate::rtp::Error;
use crate::wire::{Reader, Writer};

/// RFC 3550 §6.4.1: one report block is 24 bytes.
pub const REPORT_BLOCK_LEN: usize = 24;
const SR_SENDER_INFO: usize = 24;

/// RFC 3550 §6.4.1: reception statistics for one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost: a signed 24-bit value (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// LSR: the middle 32 bits of the last SR's NTP timestamp.
    pub last_sr: u32,
    /// DLSR: delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let ssrc = r.u32()?;
        let fraction_lost = r.u8()?;
        // RFC 3550 §6.4.1: cumulative number of packets lost is a signed 24-bit integer.
        let lost = r.u24()?;
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Ok(Self {
            ssrc,
            fraction_lost,
            cumulative_lost,
            extended_highest_sequence: r.u32()?,
            jitter: r.u32()?,
            last_sr: r.u32()?,
            delay_since_last_sr: r.u32()?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        if !(-(1 << 23)..(1 << 23)).contains(&self.cumulative_lost) {
            return Err(Error::TooLarge("cumulative packets lost"));
        }
        w.u32(self.ssrc)?;
        w.u8(self.fraction_lost)?;
        w.u24(self.cumulative_lost as u32)?;
        w.u32(self.extended_highest_sequence)?;
        w.u32(self.jitter)?;
        w.u32(self.last_sr)?;
        w.u32(self.delay_since_last_sr)?;
        Ok(())
    }
}

fn read_blocks(r: &mut Reader<'_>, count: u8) -> Result<SmallVec<[ReportBlock; 2]>, Error> {
    if r.remaining() < usize::from(count) * REPORT_BLOCK_LEN {
        return Err(Error::TooShort);
    }
    (0..count).map(|_| ReportBlock::read(r)).collect()
}

fn count(reports: &[ReportBlock]) -> Result<u8, Error> {
    u8::try_from(reports.len())
        .ok()
        .filter(|n| *n <= 31)
        .ok_or(Error::TooLarge("report blocks"))
}

/// RFC 3550 §6.4.1: a sender report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SenderReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The 64-bit NTP timestamp of this report (from the caller's NTP epoch).
    pub ntp_time: u64,
    /// The RTP timestamp matching `ntp_time`.
    pub rtp_time: u32,
    /// Packets sent since the start.
    pub packet_count: u32,
    /// Payload octets sent since the start.
    pub octet_count: u32,
    /// Up to 31 report blocks.
    pub reports: SmallVec<[ReportBlock; 2]>,
    /// Profile-specific extension bytes after the report blocks.
    pub profile_extension: Vec<u8>,
}

impl SenderReport {
    /// Reads one SR packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_SR, None)?;
        let mut r = Reader::new(s.body);
        let ssrc = r.u32()?;
        let ntp_time = r.u64()?;
        let rtp_time = r.u32()?;
        let packet_count = r.u32()?;
        let octet_count = r.u32()?;
        let reports = read_blocks(&mut r, s.count)?;
        Ok(Self {
            ssrc,
            ntp_time,
            rtp_time,
            packet_count,
            octet_count,
            reports,
            profile_extension: r.rest().to_vec(),
        })
    }
}

impl Body for SenderReport {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        Ok((PT_SR, count(&self.reports)?))
    }
    fn body_len(&self) -> usize {
        SR_SENDER_INFO + self.reports.len() * REPORT_BLOCK_LEN + self.profile_extension.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.ssrc)?;
        w.u64(self.ntp_time)?;
        w.u32(self.rtp_time)?;
        w.u32(self.packet_count)?;
        w.u32(self.octet_count)?;
        for b in &self.reports {
            b.write(w)?;
        }
        Ok(w.bytes(&self.profile_extension)?)
    }
}
wire_methods!(SenderReport);

/// RFC 3550 §6.4.2: a receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReceiverReport {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// Up to 31 report blocks (an empty RR is legal, RFC 3550 §6.4.2).
    pub reports: SmallVec<[ReportBlock; 2]>,
    /// Profile-specific extension bytes after the report blocks.
    pub profile_extension: Vec<u8>,
}

impl ReceiverReport {
    /// Reads one RR packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_RR, None)?;
        let mut r = Reader::new(s.body);
        let ssrc = r.u32()?;
        let reports = read_blocks(&mut r, s.count)?;
        Ok(Self {
            ssrc,
            reports,
            profile_extension: r.rest().to_vec(),
        })
    }
}

impl Body for ReceiverReport {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        Ok((PT_RR, count(&self.reports)?))
    }
    fn body_len(&self) -> usize {
        4 + self.reports.len() * REPORT_BLOCK_LEN + self.profile_extension.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.ssrc)?;
        for b in &self.reports {
            b.write(w)?;
        }
        Ok(w.bytes(&self.profile_extension)?)
    }
}
wire_methods!(ReceiverReport);
