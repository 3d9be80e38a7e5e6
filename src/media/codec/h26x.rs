//! NAL unit packetization shared by H.264 (RFC 6184) and H.265 (RFC 7798): single NAL unit
//! packets, aggregation (STAP-A / AP) and fragmentation (FU-A / FU), and parameter sets resent
//! ahead of keyframes that do not carry them.

use bytes::BufMut;

use super::nal::{NalUnits, nal_units};
use super::{CodecError, H264Mode, Payload, room};

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Which of the two NAL formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    H264,
    H265,
}

impl Flavor {
    /// NAL unit header size.
    fn header_len(self) -> usize {
        match self {
            Flavor::H264 => 1,
            Flavor::H265 => 2,
        }
    }

    pub(super) fn nal_type(self, nal: &[u8]) -> u8 {
        match self {
            Flavor::H264 => nal.first().map_or(0, |b| b & 0x1f),
            Flavor::H265 => nal.first().map_or(0, |b| (b >> 1) & 0x3f),
        }
    }

    /// Index of a parameter set kind in the remembered table (H.264 SPS, PPS; H.265 VPS, SPS,
    /// PPS), or `None`.
    fn param_index(self, nal_type: u8) -> Option<usize> {
        match (self, nal_type) {
            (Flavor::H264, 7) => Some(0),
            (Flavor::H264, 8) => Some(1),
            (Flavor::H265, 32) => Some(0),
            (Flavor::H265, 33) => Some(1),
            (Flavor::H265, 34) => Some(2),
            _ => None,
        }
    }

    fn param_count(self) -> usize {
        match self {
            Flavor::H264 => 2,
            Flavor::H265 => 3,
        }
    }

    /// H.264 IDR (type 5); H.265 IRAP (RFC 7798 §1.1.4: types 16..=23, BLA, IDR, CRA).
    pub(super) fn is_random_access(self, nal_type: u8) -> bool {
        match self {
            Flavor::H264 => nal_type == 5,
            Flavor::H265 => (16..=23).contains(&nal_type),
        }
    }

    fn aggregation_type(self) -> u8 {
        match self {
            Flavor::H264 => 24,
            Flavor::H265 => 48,
        }
    }

    fn fu_type(self) -> u8 {
        match self {
            Flavor::H264 => 28,
            Flavor::H265 => 49,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Packer {
    flavor: Flavor,
    mode: H264Mode,
    params: [Vec<u8>; 3],
}

impl Packer {
    pub(super) fn new(flavor: Flavor, mode: H264Mode) -> Self {
        Self {
            flavor,
            mode,
            params: Default::default(),
        }
    }

    pub(super) fn start<'a>(
        &'a mut self,
        frame: &'a [u8],
        mtu: usize,
    ) -> Result<Cursor<'a>, CodecError> {
        let f = self.flavor;
        // Fragmentation needs the FU headers plus one byte.
        if mtu < f.header_len() + 2 {
            return Err(CodecError::MtuTooSmall(mtu));
        }
        let mut carried = [false; 3];
        let mut random_access = false;
        let mut any = false;
        for nal in nal_units(frame) {
            any = true;
            let t = f.nal_type(nal);
            random_access |= f.is_random_access(t);
            if let Some(i) = f.param_index(t) {
                carried[i] = true;
                // Remembered for the next keyframe that comes without them; the buffer is
                // reused, so this allocates only when a parameter set grows.
                self.params[i].clear();
                self.params[i].extend_from_slice(nal);
            }
        }
        if !any {
            return Err(CodecError::EmptyFrame);
        }
        let mut prefix: [&'a [u8]; 3] = [&[]; 3];
        let mut prefix_len = 0;
        // RFC 6184 §8.4 / RFC 7798 §7.2: parameter sets must reach the decoder before the
        // pictures that use them; resend the remembered ones ahead of an IDR/IRAP that does
        // not carry its own.
        if random_access && !carried[..f.param_count()].iter().any(|c| *c) {
            for p in &self.params[..f.param_count()] {
                if !p.is_empty() {
                    prefix[prefix_len] = p;
                    prefix_len += 1;
                }
            }
        }
        Ok(Cursor {
            flavor: f,
            mode: self.mode,
            mtu,
            prefix,
            prefix_len,
            prefix_idx: 0,
            nals: nal_units(frame),
            pending: None,
            fu: None,
        })
    }
}

#[derive(Debug)]
pub(super) struct Cursor<'a> {
    flavor: Flavor,
    mode: H264Mode,
    mtu: usize,
    prefix: [&'a [u8]; 3],
    prefix_len: usize,
    prefix_idx: usize,
    nals: NalUnits<'a>,
    pending: Option<&'a [u8]>,
    /// A NAL unit being fragmented and the offset of its next byte.
    fu: Option<(&'a [u8], usize)>,
}

impl<'a> Cursor<'a> {
    fn peek(&mut self) -> Option<&'a [u8]> {
        if self.pending.is_none() {
            self.pending = if self.prefix_idx < self.prefix_len {
                self.prefix_idx += 1;
                Some(self.prefix[self.prefix_idx - 1])
            } else {
                self.nals.next()
            };
        }
        self.pending
    }

    fn pop(&mut self) -> Option<&'a [u8]> {
        self.peek();
        self.pending.take()
    }

    pub(super) fn next(&mut self, buf: &mut [u8]) -> Option<Result<Payload, CodecError>> {
        let space = room(buf, self.mtu);
        let f = self.flavor;
        let hl = f.header_len();
        let len = if let Some((nal, offset)) = self.fu {
            match self.fragment(nal, offset, buf, space) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            }
        } else {
            let nal = self.pop()?;
            if nal.len() < hl {
                return Some(Err(CodecError::Malformed(
                    "NAL unit shorter than its header",
                )));
            }
            // RFC 6184 §5.4 / RFC 7798 §4.4: these types name payload structures, not NAL units.
            let t = f.nal_type(nal);
            let reserved = match f {
                Flavor::H264 => t == 0 || t >= 24,
                Flavor::H265 => t >= 48,
            };
            if reserved {
                return Some(Err(CodecError::Malformed("NAL unit type reserved for RTP")));
            }
            if nal.len() > space {
                // RFC 6184 §6.2: mode 0 sends single NAL unit packets only.
                if self.mode == H264Mode::SingleNal {
                    return Some(Err(CodecError::TooLarge {
                        len: nal.len(),
                        mtu: space,
                    }));
                }
                match self.fragment(nal, hl, buf, space) {
                    Ok(n) => n,
                    Err(e) => return Some(Err(e)),
                }
            } else {
                let aggregate = self.mode == H264Mode::NonInterleaved
                    && self
                        .peek()
                        .is_some_and(|next| hl + 4 + nal.len() + next.len() <= space);
                if aggregate {
                    self.aggregate(nal, buf, space)
                } else {
                    buf[..nal.len()].copy_from_slice(nal);
                    nal.len()
                }
            }
        };
        let marker = self.fu.is_none() && self.peek().is_none();
        Some(Ok(Payload {
            len,
            marker,
            timestamp_offset: 0,
        }))
    }

    /// STAP-A (RFC 6184 §5.7.1) or AP (RFC 7798 §4.4.2): a header then 16-bit size + NAL unit
    /// for each aggregated unit.
    fn aggregate(&mut self, first: &'a [u8], buf: &mut [u8], space: usize) -> usize {
        let f = self.flavor;
        let hl = f.header_len();
        let mut pos = hl;
        let mut forbidden = 0u8;
        let mut nri = 0u8;
        let (mut layer, mut tid) = (u8::MAX, u8::MAX);
        let mut nal = first;
        loop {
            buf[pos..pos + 2].copy_from_slice(&(nal.len() as u16).to_be_bytes());
            buf[pos + 2..pos + 2 + nal.len()].copy_from_slice(nal);
            pos += 2 + nal.len();
            forbidden |= nal[0] & 0x80;
            match f {
                Flavor::H264 => nri = nri.max(nal[0] & 0x60),
                Flavor::H265 => {
                    // RFC 7798 §4.4.2: LayerId and TID are the lowest of the aggregated units.
                    let l = ((nal[0] & 1) << 5) | (nal[1] >> 3);
                    layer = layer.min(l);
                    tid = tid.min(nal[1] & 7);
                }
            }
            match self.peek() {
                Some(next) if next.len() >= hl && pos + 2 + next.len() <= space => {
                    nal = next;
                    self.pending = None;
                }
                _ => break,
            }
        }
        match f {
            // RFC 6184 §5.7.1: F is the OR of the aggregated F bits, NRI the maximum.
            Flavor::H264 => buf[0] = forbidden | nri | f.aggregation_type(),
            Flavor::H265 => {
                buf[0] = forbidden | (f.aggregation_type() << 1) | (layer >> 5);
                buf[1] = (layer << 3) | tid;
            }
        }
        pos
    }

    /// FU-A (RFC 6184 §5.8) or FU (RFC 7798 §4.4.3).
    fn fragment(
        &mut self,
        nal: &'a [u8],
        offset: usize,
        buf: &mut [u8],
        space: usize,
    ) -> Result<usize, CodecError> {
        let f = self.flavor;
        let hl = f.header_len();
        let fu_hl = hl + 1;
        if space <= fu_hl {
            return Err(CodecError::MtuTooSmall(space));
        }
        let start = offset == hl;
        let n = (space - fu_hl).min(nal.len() - offset);
        let end = offset + n == nal.len();
        let se = (u8::from(start) << 7) | (u8::from(end) << 6);
        match f {
            Flavor::H264 => {
                buf[0] = (nal[0] & 0xe0) | f.fu_type();
                buf[1] = se | (nal[0] & 0x1f);
            }
            Flavor::H265 => {
                buf[0] = (nal[0] & 0x81) | (f.fu_type() << 1);
                buf[1] = nal[1];
                buf[2] = se | f.nal_type(nal);
            }
        }
        buf[fu_hl..fu_hl + n].copy_from_slice(&nal[offset..offset + n]);
        self.fu = if end { None } else { Some((nal, offset + n)) };
        Ok(fu_hl + n)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Depacker {
    flavor: Flavor,
    in_fu: bool,
}

impl Depacker {
    pub(super) fn new(flavor: Flavor) -> Self {
        Self {
            flavor,
            in_fu: false,
        }
    }

    pub(super) fn push<B: BufMut>(
        &mut self,
        payload: &[u8],
        new_frame: bool,
        gap: bool,
        out: &mut B,
    ) -> Result<(), CodecError> {
        let f = self.flavor;
        let hl = f.header_len();
        if new_frame {
            self.in_fu = false;
        }
        if payload.len() < hl {
            return Err(CodecError::Truncated);
        }
        let t = f.nal_type(payload);
        if t == f.fu_type() {
            let fu = *payload.get(hl).ok_or(CodecError::Truncated)?;
            let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
            let data = &payload[hl + 1..];
            if start {
                out.put_slice(&START_CODE);
                match f {
                    // RFC 6184 §5.8: the NAL header is rebuilt from the FU indicator's F and
                    // NRI and the FU header's type.
                    Flavor::H264 => out.put_u8((payload[0] & 0xe0) | (fu & 0x1f)),
                    Flavor::H265 => {
                        out.put_u8((payload[0] & 0x81) | ((fu & 0x3f) << 1));
                        out.put_u8(payload[1]);
                    }
                }
                self.in_fu = !end;
            } else {
                // RFC 6184 §5.8: a receiver discards fragments that follow a lost one.
                if !self.in_fu || gap {
                    self.in_fu = false;
                    return Err(CodecError::MissingFragment);
                }
                if end {
                    self.in_fu = false;
                }
            }
            out.put_slice(data);
            return Ok(());
        }
        if self.in_fu && gap {
            self.in_fu = false;
            return Err(CodecError::MissingFragment);
        }
        self.in_fu = false;
        if t == f.aggregation_type() {
            let mut rest = &payload[hl..];
            if rest.is_empty() {
                return Err(CodecError::Truncated);
            }
            while !rest.is_empty() {
                let [a, b, tail @ ..] = rest else {
                    return Err(CodecError::Truncated);
                };
                let n = usize::from(u16::from_be_bytes([*a, *b]));
                if n == 0 || tail.len() < n {
                    return Err(CodecError::Truncated);
                }
                out.put_slice(&START_CODE);
                out.put_slice(&tail[..n]);
                rest = &tail[n..];
            }
            return Ok(());
        }
        let single = match f {
            Flavor::H264 => (1..=23).contains(&t),
            Flavor::H265 => t <= 47,
        };
        if !single {
            // H.264 STAP-B, MTAP16/24, FU-B (interleaved mode), H.265 PACI: not negotiated.
            return Err(CodecError::Unsupported(t));
        }
        out.put_slice(&START_CODE);
        out.put_slice(payload);
        Ok(())
    }
}

/// NAL unit types inside a payload (the unit itself, the aggregated ones, or a starting
/// fragment's), passed to `f` until it returns true.
pub(super) fn payload_any_type(flavor: Flavor, payload: &[u8], f: impl Fn(u8) -> bool) -> bool {
    let hl = flavor.header_len();
    if payload.len() < hl {
        return false;
    }
    let t = flavor.nal_type(payload);
    if t == flavor.fu_type() {
        return payload
            .get(hl)
            .is_some_and(|fu| fu & 0x80 != 0 && f(if hl == 1 { fu & 0x1f } else { fu & 0x3f }));
    }
    if t == flavor.aggregation_type() {
        let mut rest = &payload[hl..];
        while let [a, b, tail @ ..] = rest {
            let n = usize::from(u16::from_be_bytes([*a, *b]));
            if n == 0 || tail.len() < n {
                return false;
            }
            if f(flavor.nal_type(&tail[..n])) {
                return true;
            }
            rest = &tail[n..];
        }
        return false;
    }
    f(t)
}
