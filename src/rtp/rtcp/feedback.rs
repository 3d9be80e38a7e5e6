//! RTCP feedback messages (RFC 4585 §6): generic NACK, PLI, FIR (RFC 5104) and REMB.

use smallvec::SmallVec;

use super::{
    Body, FMT_AFB, FMT_FIR, FMT_NACK, FMT_PLI, PT_PSFB, PT_RTPFB, expect, split, wire_methods,
};
use crate::rtp::Error;
use crate::wire::serial::Serial16;
use crate::wire::{Reader, Writer};

/// RFC 4585 §6.2.1: one generic NACK entry, a packet id and a bitmask of the 16 after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NackPair {
    /// PID: a lost packet's sequence number.
    pub pid: u16,
    /// BLP: bit i set means packet `pid + i + 1` is lost too.
    pub blp: u16,
}

impl NackPair {
    /// The sequence numbers this entry reports lost, in order.
    pub fn lost(self) -> impl Iterator<Item = u16> {
        // RFC 4585 §6.2.1: bit i of the BLP (least significant first) reports PID+i+1.
        let pid = self.pid;
        std::iter::once(pid).chain(
            (0..16u16)
                .filter(move |i| self.blp & (1 << i) != 0)
                .map(move |i| pid.wrapping_add(i + 1)),
        )
    }
}

/// RFC 4585 §6.2.1: a generic NACK (RTPFB, FMT 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Nack {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The SSRC of the media source the losses are in.
    pub media_ssrc: u32,
    /// The entries (at least one on the wire).
    pub pairs: SmallVec<[NackPair; 4]>,
}

impl Nack {
    /// A NACK for `lost` sequence numbers, packed into as few entries as their order allows
    /// (each entry covers its PID and the 16 after it; give them in ascending serial order).
    pub fn from_lost(
        sender_ssrc: u32,
        media_ssrc: u32,
        lost: impl IntoIterator<Item = u16>,
    ) -> Self {
        let mut pairs: SmallVec<[NackPair; 4]> = SmallVec::new();
        for seq in lost {
            if let Some(last) = pairs.last_mut() {
                let d = Serial16(seq).distance(Serial16(last.pid));
                if d == 0 {
                    continue;
                }
                if (1..=16).contains(&d) {
                    last.blp |= 1 << (d - 1);
                    continue;
                }
            }
            pairs.push(NackPair { pid: seq, blp: 0 });
        }
        Self {
            sender_ssrc,
            media_ssrc,
            pairs,
        }
    }

    /// Every sequence number reported lost, entry by entry.
    pub fn lost(&self) -> impl Iterator<Item = u16> + '_ {
        self.pairs.iter().flat_map(|p| p.lost())
    }

    /// Reads one generic NACK packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_RTPFB, Some(FMT_NACK))?;
        let mut r = Reader::new(s.body);
        let sender_ssrc = r.u32()?;
        let media_ssrc = r.u32()?;
        let mut pairs = SmallVec::new();
        while r.remaining() >= 4 {
            pairs.push(NackPair {
                pid: r.u16()?,
                blp: r.u16()?,
            });
        }
        // RFC 4585 §6.2.1: the FCI holds at least one entry, each 32 bits.
        if pairs.is_empty() || !r.is_empty() {
            return Err(Error::Malformed("generic NACK FCI"));
        }
        Ok(Self {
            sender_ssrc,
            media_ssrc,
            pairs,
        })
    }
}

impl Body for Nack {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        if self.pairs.is_empty() {
            return Err(Error::Malformed("a NACK needs at least one entry"));
        }
        Ok((PT_RTPFB, FMT_NACK))
    }
    fn body_len(&self) -> usize {
        8 + 4 * self.pairs.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.sender_ssrc)?;
        w.u32(self.media_ssrc)?;
        for p in &self.pairs {
            w.u16(p.pid)?;
            w.u16(p.blp)?;
        }
        Ok(())
    }
}
wire_methods!(Nack);

/// RFC 4585 §6.3.1: a picture loss indication (PSFB, FMT 1), which has no FCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pli {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The SSRC of the media source that lost a picture.
    pub media_ssrc: u32,
}

impl Pli {
    /// Reads one PLI packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_PSFB, Some(FMT_PLI))?;
        let mut r = Reader::new(s.body);
        let pli = Self {
            sender_ssrc: r.u32()?,
            media_ssrc: r.u32()?,
        };
        // RFC 4585 §6.3.1: PLI does not require parameters; no FCI follows.
        if !r.is_empty() {
            return Err(Error::Malformed("PLI with an FCI"));
        }
        Ok(pli)
    }
}

impl Body for Pli {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        Ok((PT_PSFB, FMT_PLI))
    }
    fn body_len(&self) -> usize {
        8
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.sender_ssrc)?;
        Ok(w.u32(self.media_ssrc)?)
    }
}
wire_methods!(Pli);

/// One FIR request: the source asked for a decoder refresh and the request's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FirEntry {
    /// The media sender asked to send a decoder refresh point.
    pub ssrc: u32,
    /// The command sequence number, incremented per new request (RFC 5104 §4.3.1.1).
    pub sequence: u8,
}

/// RFC 5104 §4.3.1: a full intra request (PSFB, FMT 4).
///
/// RFC 5104 §4.3.1.2: the common "SSRC of media source" field is not used and SHALL be 0; it
/// is written as 0 and ignored on parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Fir {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// One entry per media sender asked (at least one on the wire).
    pub entries: SmallVec<[FirEntry; 1]>,
}

impl Fir {
    /// Reads one FIR packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_PSFB, Some(FMT_FIR))?;
        let mut r = Reader::new(s.body);
        let sender_ssrc = r.u32()?;
        r.skip(4)?;
        let mut entries = SmallVec::new();
        while r.remaining() >= 8 {
            let ssrc = r.u32()?;
            let sequence = r.u8()?;
            r.skip(3)?; // RFC 5104 §4.3.1.1: reserved, ignored by the receiver
            entries.push(FirEntry { ssrc, sequence });
        }
        if entries.is_empty() || !r.is_empty() {
            return Err(Error::Malformed("FIR FCI"));
        }
        Ok(Self {
            sender_ssrc,
            entries,
        })
    }
}

impl Body for Fir {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        if self.entries.is_empty() {
            return Err(Error::Malformed("a FIR needs at least one entry"));
        }
        Ok((PT_PSFB, FMT_FIR))
    }
    fn body_len(&self) -> usize {
        8 + 8 * self.entries.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.sender_ssrc)?;
        w.u32(0)?;
        for e in &self.entries {
            w.u32(e.ssrc)?;
            w.u8(e.sequence)?;
            w.zeros(3)?; // RFC 5104 §4.3.1.1: reserved bits SHALL be set to 0
        }
        Ok(())
    }
}
wire_methods!(Fir);

const REMB_ID: [u8; 4] = *b"REMB";
const REMB_MANTISSA_BITS: u32 = 18;
const REMB_MANTISSA_MAX: u32 = (1 << REMB_MANTISSA_BITS) - 1;

/// draft-alvestrand-rmcat-remb-03 §2.2: receiver estimated maximum bitrate, an application
/// layer feedback (PSFB, FMT 15) whose FCI starts with "REMB". The media SSRC field is 0 and
/// ignored; the SSRCs the estimate covers are listed in the FCI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Remb {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// BR Exp: 6 bits.
    pub exponent: u8,
    /// BR Mantissa: 18 bits; the bitrate is `mantissa << exponent` bits per second.
    pub mantissa: u32,
    /// The SSRCs the estimate applies to (up to 255).
    pub ssrcs: SmallVec<[u32; 2]>,
}

impl Remb {
    /// A REMB for `bitrate` bits per second, rounded down to what an 18-bit mantissa holds.
    pub fn new(sender_ssrc: u32, bitrate: u64, ssrcs: &[u32]) -> Self {
        let exponent = (64 - bitrate.leading_zeros()).saturating_sub(REMB_MANTISSA_BITS);
        Self {
            sender_ssrc,
            exponent: exponent as u8,
            mantissa: (bitrate >> exponent) as u32,
            ssrcs: ssrcs.into(),
        }
    }

    /// The bitrate in bits per second (saturating past `u64::MAX`).
    pub fn bitrate(&self) -> u64 {
        let m = u64::from(self.mantissa);
        if self.exponent >= 64 || m.leading_zeros() < u32::from(self.exponent) {
            return u64::MAX;
        }
        m << self.exponent
    }

    pub(crate) fn is_remb(body: &[u8]) -> bool {
        body.get(8..12) == Some(&REMB_ID[..])
    }

    /// Reads one REMB packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_PSFB, Some(FMT_AFB))?;
        let mut r = Reader::new(s.body);
        let sender_ssrc = r.u32()?;
        r.skip(4)?;
        if r.array::<4>()? != REMB_ID {
            return Err(Error::Malformed("application feedback that is not REMB"));
        }
        let n = r.u8()?;
        let br = r.u24()?;
        if r.remaining() != 4 * usize::from(n) {
            return Err(Error::BadLength);
        }
        Ok(Self {
            sender_ssrc,
            exponent: (br >> REMB_MANTISSA_BITS) as u8,
            mantissa: br & REMB_MANTISSA_MAX,
            ssrcs: (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?,
        })
    }
}

impl Body for Remb {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        if self.exponent > 63 || self.mantissa > REMB_MANTISSA_MAX {
            return Err(Error::TooLarge("REMB bitrate"));
        }
        if self.ssrcs.len() > 255 {
            return Err(Error::TooLarge("REMB SSRC list"));
        }
        Ok((PT_PSFB, FMT_AFB))
    }
    fn body_len(&self) -> usize {
        16 + 4 * self.ssrcs.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.sender_ssrc)?;
        w.u32(0)?;
        w.bytes(&REMB_ID)?;
        w.u8(self.ssrcs.len() as u8)?;
        w.u24((u32::from(self.exponent) << REMB_MANTISSA_BITS) | self.mantissa)?;
        for s in &self.ssrcs {
            w.u32(*s)?;
        }
        Ok(())
    }
}
wire_methods!(Remb);
