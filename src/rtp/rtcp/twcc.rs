//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
//! §3.1): RTPFB FMT 15.
//!
//! The model is the list the bandwidth estimator wants: for each transport-wide sequence number
//! from `base_seq`, lost or the receive delta since the previous received packet (the first one
//! since the reference time). The chunk encoding is chosen on write; [`TwccBuilder`] builds a
//! feedback from `(sequence, arrival time)` pairs and [`TransportCc::arrivals_from`] gives them
//! back.

use super::{Body, FMT_TWCC, PT_RTPFB, expect, split, wire_methods};
use crate::rtp::Error;
use crate::wire::serial::{Serial16, Unwrapper32};
use crate::wire::{Reader, Writer};

/// §3.1.5: receive deltas are in multiples of 250 us.
pub const DELTA_TICK_US: i64 = 250;
/// §3.1: the reference time is in multiples of 64 ms.
pub const REFERENCE_TICK_US: i64 = 64_000;
const REFERENCE_MASK: u32 = 0x00ff_ffff;
const MAX_RUN: usize = 0x1fff;
const ONE_BIT_SYMBOLS: usize = 14;
const TWO_BIT_SYMBOLS: usize = 7;

/// §3.1.1 packet status symbols.
const NOT_RECEIVED: u8 = 0;
const SMALL_DELTA: u8 = 1;
const LARGE_DELTA: u8 = 2;

/// One 16-bit packet status chunk (§3.1.2), with its 2-bit status symbols (§3.1.1: 0 not
/// received, 1 small delta, 2 large or negative delta, 3 reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketChunk {
    /// §3.1.3: `symbol` repeated `run` (13 bits) times.
    RunLength {
        /// The repeated symbol.
        symbol: u8,
        /// The run length.
        run: u16,
    },
    /// §3.1.4 with S=0: 14 one-bit symbols (0 not received, 1 received with a small delta).
    OneBit([u8; ONE_BIT_SYMBOLS]),
    /// §3.1.4 with S=1: 7 two-bit symbols.
    TwoBit([u8; TWO_BIT_SYMBOLS]),
}

impl PacketChunk {
    /// Decodes a chunk.
    pub fn parse(chunk: u16) -> Self {
        if chunk & 0x8000 == 0 {
            return Self::RunLength {
                symbol: ((chunk >> 13) & 0x03) as u8,
                run: chunk & MAX_RUN as u16,
            };
        }
        if chunk & 0x4000 == 0 {
            Self::OneBit(std::array::from_fn(|i| ((chunk >> (13 - i)) & 1) as u8))
        } else {
            Self::TwoBit(std::array::from_fn(|i| ((chunk >> (12 - 2 * i)) & 3) as u8))
        }
    }

    /// Encodes the chunk (symbols and run are masked to their field widths).
    pub fn to_u16(self) -> u16 {
        match self {
            Self::RunLength { symbol, run } => {
                (u16::from(symbol & 3) << 13) | (run & MAX_RUN as u16)
            }
            Self::OneBit(s) => {
                (0..ONE_BIT_SYMBOLS).fold(0x8000, |c, i| c | (u16::from(s[i] & 1) << (13 - i)))
            }
            Self::TwoBit(s) => {
                (0..TWO_BIT_SYMBOLS).fold(0xc000, |c, i| c | (u16::from(s[i] & 3) << (12 - 2 * i)))
            }
        }
    }

    /// The symbols the chunk stands for, in order.
    pub fn symbols(self) -> impl Iterator<Item = u8> {
        let (one, two, run) = match self {
            Self::RunLength { symbol, run } => (None, None, Some((symbol, usize::from(run)))),
            Self::OneBit(s) => (Some(s), None, None),
            Self::TwoBit(s) => (None, Some(s), None),
        };
        let run = run.into_iter().flat_map(|(s, n)| std::iter::repeat_n(s, n));
        one.into_iter()
            .flatten()
            .chain(two.into_iter().flatten())
            .chain(run)
    }
}

fn status(p: Option<i16>) -> u8 {
    match p {
        None => NOT_RECEIVED,
        Some(d) if (0..=255).contains(&d) => SMALL_DELTA,
        Some(_) => LARGE_DELTA,
    }
}

/// A transport-wide congestion control feedback packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TransportCc {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The SSRC of the media source (libwebrtc puts one of the sender's SSRCs here).
    pub media_ssrc: u32,
    /// The transport-wide sequence number of the first packet reported.
    pub base_seq: u16,
    /// 24 bits: the reference time in 64 ms units, in the feedback sender's time base; the
    /// first receive delta is relative to it. Wraps; see [`ReferenceTimeUnwrapper`].
    pub reference_time: u32,
    /// The feedback packet count, to detect lost feedback.
    pub fb_count: u8,
    /// One entry per sequence number from `base_seq`: `None` not received, `Some(delta)` the
    /// receive delta in 250 us ticks since the previous received packet.
    pub packets: Vec<Option<i16>>,
}

impl TransportCc {
    /// `(sequence number, receive delta)` for each packet reported.
    pub fn iter(&self) -> impl Iterator<Item = (u16, Option<i16>)> + '_ {
        (self.packets.iter().enumerate()).map(|(i, p)| (self.base_seq.wrapping_add(i as u16), *p))
    }

    /// `(sequence number, arrival time in microseconds or lost)`, with arrival times counted
    /// from the reference time at `reference_us` (for one feedback alone,
    /// `reference_time * 64_000`; across feedbacks, run the reference time through a
    /// [`ReferenceTimeUnwrapper`] first).
    pub fn arrivals_from(
        &self,
        reference_us: i64,
    ) -> impl Iterator<Item = (u16, Option<i64>)> + '_ {
        let mut now = reference_us;
        self.iter().map(move |(seq, delta)| {
            let at = delta.map(|d| {
                now += i64::from(d) * DELTA_TICK_US;
                now
            });
            (seq, at)
        })
    }

    /// [`arrivals_from`](Self::arrivals_from) this feedback's own 24-bit reference time.
    pub fn arrivals(&self) -> impl Iterator<Item = (u16, Option<i64>)> + '_ {
        self.arrivals_from(i64::from(self.reference_time & REFERENCE_MASK) * REFERENCE_TICK_US)
    }

    /// Calls `f` with each chunk the encoder picks: a run-length chunk when a run covers at
    /// least as many packets as a vector chunk would, else a 1-bit vector when the next 14
    /// packets need no large delta, else a 2-bit vector. Vector padding is only ever past the
    /// last packet (§3.1: the packet status count says where the list ends).
    fn for_each_chunk(&self, mut f: impl FnMut(PacketChunk)) {
        let st: smallvec::SmallVec<[u8; 256]> = self.packets.iter().map(|p| status(*p)).collect();
        let n = st.len();
        let mut i = 0;
        while i < n {
            let s = st[i];
            let run = st[i..n.min(i + MAX_RUN)]
                .iter()
                .take_while(|x| **x == s)
                .count();
            let rest = n - i;
            if run >= ONE_BIT_SYMBOLS || run == rest {
                // No vector covers more than a run this long.
                f(PacketChunk::RunLength {
                    symbol: s,
                    run: run as u16,
                });
                i += run;
                continue;
            }
            let window = &st[i..i + rest.min(ONE_BIT_SYMBOLS)];
            let one_bit = window.iter().all(|x| *x != LARGE_DELTA);
            let cover = if one_bit {
                window.len()
            } else {
                rest.min(TWO_BIT_SYMBOLS)
            };
            if run >= cover {
                f(PacketChunk::RunLength {
                    symbol: s,
                    run: run as u16,
                });
                i += run;
            } else if one_bit {
                let mut v = [0; ONE_BIT_SYMBOLS];
                v[..cover].copy_from_slice(&st[i..i + cover]);
                f(PacketChunk::OneBit(v));
                i += cover;
            } else {
                let mut v = [0; TWO_BIT_SYMBOLS];
                v[..cover].copy_from_slice(&st[i..i + cover]);
                f(PacketChunk::TwoBit(v));
                i += cover;
            }
        }
    }

    /// The chunks [`write`](Self::write) uses.
    pub fn chunks(&self) -> Vec<PacketChunk> {
        let mut out = Vec::new();
        self.for_each_chunk(|c| out.push(c));
        out
    }

    /// Reads one transport-wide feedback packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_RTPFB, Some(FMT_TWCC))?;
        let mut r = Reader::new(s.body);
        let sender_ssrc = r.u32()?;
        let media_ssrc = r.u32()?;
        let base_seq = r.u16()?;
        let count = usize::from(r.u16()?);
        let reference_time = r.u24()?;
        let fb_count = r.u8()?;
        let mut symbols: smallvec::SmallVec<[u8; 256]> = smallvec::SmallVec::new();
        while symbols.len() < count {
            let want = count - symbols.len();
            match PacketChunk::parse(r.u16()?) {
                PacketChunk::RunLength { symbol, run } => {
                    symbols.extend(std::iter::repeat_n(symbol, usize::from(run).min(want)))
                }
                PacketChunk::OneBit(s) => symbols.extend_from_slice(&s[..want.min(s.len())]),
                PacketChunk::TwoBit(s) => symbols.extend_from_slice(&s[..want.min(s.len())]),
            }
        }
        let mut packets = Vec::with_capacity(count);
        for sym in symbols {
            packets.push(match sym {
                NOT_RECEIVED => None,
                SMALL_DELTA => Some(i16::from(r.u8()?)),
                LARGE_DELTA => Some(r.u16()? as i16),
                _ => return Err(Error::Malformed("reserved TWCC status symbol")),
            });
        }
        // What is left is zero padding to a 32-bit boundary.
        if r.remaining() > 3 {
            return Err(Error::BadLength);
        }
        Ok(Self {
            sender_ssrc,
            media_ssrc,
            base_seq,
            reference_time,
            fb_count,
            packets,
        })
    }
}

impl Body for TransportCc {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        if self.packets.len() > usize::from(u16::MAX) {
            return Err(Error::TooLarge("TWCC packet status count"));
        }
        if self.reference_time > REFERENCE_MASK {
            return Err(Error::TooLarge("TWCC reference time"));
        }
        Ok((PT_RTPFB, FMT_TWCC))
    }
    fn body_len(&self) -> usize {
        let mut chunks = 0;
        self.for_each_chunk(|_| chunks += 1);
        let deltas: usize = self.packets.iter().map(|p| usize::from(status(*p))).sum();
        16 + 2 * chunks + deltas
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.sender_ssrc)?;
        w.u32(self.media_ssrc)?;
        w.u16(self.base_seq)?;
        w.u16(self.packets.len() as u16)?;
        w.u24(self.reference_time)?;
        w.u8(self.fb_count)?;
        let mut result = Ok(());
        self.for_each_chunk(|c| {
            if result.is_ok() {
                result = w.u16(c.to_u16());
            }
        });
        result?;
        let len: usize = self.packets.iter().map(|p| usize::from(status(*p))).sum();
        let out = w.reserve(len)?;
        let mut at = 0;
        for p in &self.packets {
            match (status(*p), p) {
                (SMALL_DELTA, Some(d)) => {
                    out[at] = *d as u8;
                    at += 1;
                }
                (LARGE_DELTA, Some(d)) => {
                    out[at..at + 2].copy_from_slice(&d.to_be_bytes());
                    at += 2;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
wire_methods!(TransportCc);

/// Builds a [`TransportCc`] from received packets in ascending transport-wide sequence order,
/// as libwebrtc's receiver does: gaps are reported lost, arrival times are quantised to 250 us
/// without drift (each delta is taken from the quantised previous arrival), and the reference
/// time is the first arrival's 64 ms tick, masked to 24 bits (so it wraps as the field does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwccBuilder {
    feedback: TransportCc,
    last_ticks: Option<i64>,
}

impl TwccBuilder {
    /// An empty feedback with these SSRCs and feedback packet count.
    pub fn new(sender_ssrc: u32, media_ssrc: u32, fb_count: u8) -> Self {
        Self {
            feedback: TransportCc {
                sender_ssrc,
                media_ssrc,
                fb_count,
                ..TransportCc::default()
            },
            last_ticks: None,
        }
    }

    /// Adds packet `seq`, received at `arrival_us` (microseconds on the receiver's clock).
    /// Returns `false`, adding nothing, when it does not fit this feedback: not after the last
    /// packet added, more than 65535 statuses, or a delta beyond ±8191.75 ms (§3.1.5: a new
    /// feedback message must be used). Send this one and start another.
    pub fn push(&mut self, seq: u16, arrival_us: u64) -> bool {
        let ticks = ((arrival_us + 125) / DELTA_TICK_US as u64) as i64;
        let fb = &mut self.feedback;
        let Some(last) = self.last_ticks else {
            let reference = arrival_us / REFERENCE_TICK_US as u64;
            fb.base_seq = seq;
            fb.reference_time = (reference & u64::from(REFERENCE_MASK)) as u32;
            let base = reference as i64 * (REFERENCE_TICK_US / DELTA_TICK_US);
            fb.packets.push(Some((ticks - base) as i16));
            self.last_ticks = Some(ticks);
            return true;
        };
        let next = fb.base_seq.wrapping_add(fb.packets.len() as u16);
        let Ok(gap) = usize::try_from(Serial16(seq).distance(Serial16(next))) else {
            return false;
        };
        let Ok(delta) = i16::try_from(ticks - last) else {
            return false;
        };
        if fb.packets.len() + gap + 1 > usize::from(u16::MAX) {
            return false;
        }
        fb.packets.extend(std::iter::repeat_n(None, gap));
        fb.packets.push(Some(delta));
        self.last_ticks = Some(ticks);
        true
    }

    /// Whether no packet was added yet.
    pub fn is_empty(&self) -> bool {
        self.feedback.packets.is_empty()
    }

    /// The feedback.
    pub fn finish(self) -> TransportCc {
        self.feedback
    }
}

/// Extends the 24-bit, 64 ms reference time of successive feedbacks to 64 bits, so arrival
/// times from different feedbacks share one time line across the wrap (every ~12.4 days).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferenceTimeUnwrapper(Unwrapper32);

impl ReferenceTimeUnwrapper {
    /// The extended reference time (64 ms units) for a feedback's `reference_time`.
    pub fn unwrap(&mut self, reference_time: u32) -> u64 {
        // Shifted into the top 24 bits of a u32, the field wraps like a 32-bit serial number.
        self.0.unwrap((reference_time & REFERENCE_MASK) << 8) >> 8
    }

    /// The extended reference time in microseconds.
    pub fn unwrap_micros(&mut self, reference_time: u32) -> i64 {
        self.unwrap(reference_time) as i64 * REFERENCE_TICK_US
    }
}
