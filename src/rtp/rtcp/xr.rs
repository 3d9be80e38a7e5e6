//! RTCP extended reports (RFC 3611): the receiver reference time (§4.4) and DLRR (§4.5)
//! blocks that let a receive-only endpoint measure round-trip time.

use smallvec::SmallVec;

use super::{Body, PT_XR, expect, split, wire_methods};
use crate::rtp::Error;
use crate::wire::{Reader, Writer};

const BT_RRTR: u8 = 4;
const BT_DLRR: u8 = 5;

/// RFC 3611 §4.5: one DLRR sub-block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DlrrItem {
    /// The receiver whose RRTR this answers.
    pub ssrc: u32,
    /// LRR: the middle 32 bits of that RRTR's NTP timestamp.
    pub last_rr: u32,
    /// DLRR: the delay since receiving it, in 1/65536 s.
    pub delay_since_last_rr: u32,
}

/// One XR report block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum XrBlock {
    /// RFC 3611 §4.4: receiver reference time (BT 4), a 64-bit NTP timestamp.
    ReceiverReferenceTime {
        /// The NTP timestamp.
        ntp_time: u64,
    },
    /// RFC 3611 §4.5: DLRR (BT 5).
    Dlrr(SmallVec<[DlrrItem; 1]>),
    /// Any other block type, kept raw.
    Unknown {
        /// BT.
        block_type: u8,
        /// The type-specific byte.
        type_specific: u8,
        /// The block contents (a whole number of 32-bit words).
        data: Vec<u8>,
    },
}

impl XrBlock {
    fn body_len(&self) -> usize {
        match self {
            Self::ReceiverReferenceTime { .. } => 8,
            Self::Dlrr(items) => 12 * items.len(),
            Self::Unknown { data, .. } => data.len(),
        }
    }
}

/// RFC 3611 §2: an extended report packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ExtendedReport {
    /// The SSRC of the packet's originator.
    pub ssrc: u32,
    /// The report blocks.
    pub blocks: SmallVec<[XrBlock; 2]>,
}

impl ExtendedReport {
    /// Reads one XR packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_XR, None)?;
        let mut r = Reader::new(s.body);
        let ssrc = r.u32()?;
        let mut blocks = SmallVec::new();
        while !r.is_empty() {
            let block_type = r.u8()?;
            let type_specific = r.u8()?;
            // RFC 3611 §3: the block length is in 32-bit words, excluding the 4-byte header.
            let len = 4 * usize::from(r.u16()?);
            let mut b = r.sub(len)?;
            blocks.push(match block_type {
                BT_RRTR => {
                    if len != 8 {
                        return Err(Error::BadLength);
                    }
                    XrBlock::ReceiverReferenceTime { ntp_time: b.u64()? }
                }
                BT_DLRR => {
                    if len % 12 != 0 {
                        return Err(Error::BadLength);
                    }
                    let items = (0..len / 12)
                        .map(|_| {
                            Ok(DlrrItem {
                                ssrc: b.u32()?,
                                last_rr: b.u32()?,
                                delay_since_last_rr: b.u32()?,
                            })
                        })
                        .collect::<Result<_, Error>>()?;
                    XrBlock::Dlrr(items)
                }
                _ => XrBlock::Unknown {
                    block_type,
                    type_specific,
                    data: b.rest().to_vec(),
                },
            });
        }
        Ok(Self { ssrc, blocks })
    }
}

impl Body for ExtendedReport {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        for b in &self.blocks {
            if b.body_len() % 4 != 0 || b.body_len() / 4 > usize::from(u16::MAX) {
                return Err(Error::TooLarge("XR block"));
            }
            if let XrBlock::Unknown { block_type, .. } = b
                && matches!(*block_type, BT_RRTR | BT_DLRR)
            {
                return Err(Error::Malformed("raw XR block of a known type"));
            }
        }
        Ok((PT_XR, 0))
    }
    fn body_len(&self) -> usize {
        4 + self.blocks.iter().map(|b| 4 + b.body_len()).sum::<usize>()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.ssrc)?;
        for b in &self.blocks {
            let words = (b.body_len() / 4) as u16;
            match b {
                XrBlock::ReceiverReferenceTime { ntp_time } => {
                    w.u8(BT_RRTR)?;
                    w.u8(0)?;
                    w.u16(words)?;
                    w.u64(*ntp_time)?;
                }
                XrBlock::Dlrr(items) => {
                    w.u8(BT_DLRR)?;
                    w.u8(0)?;
                    w.u16(words)?;
                    for i in items {
                        w.u32(i.ssrc)?;
                        w.u32(i.last_rr)?;
                        w.u32(i.delay_since_last_rr)?;
                    }
                }
                XrBlock::Unknown {
                    block_type,
                    type_specific,
                    data,
                } => {
                    w.u8(*block_type)?;
                    w.u8(*type_specific)?;
                    w.u16(words)?;
                    w.bytes(data)?;
                }
            }
        }
        Ok(())
    }
}
wire_methods!(ExtendedReport);
