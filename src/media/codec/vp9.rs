//! VP9 payload descriptor, scalability structure and packetization (RFC 9628).

use bytes::BufMut;
use smallvec::SmallVec;

use super::bits::BitReader;
use super::vp8::PictureId;
use super::{CodecError, FrameInfo, Payload, room};

/// Layer indices (L=1, RFC 9628 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layer {
    /// TID: temporal layer (0..=7).
    pub tid: u8,
    /// U: switching up point.
    pub switching_up: bool,
    /// SID: spatial layer (0..=7).
    pub sid: u8,
    /// D: inter-layer dependency used.
    pub inter_layer: bool,
    /// TL0PICIDX: present in non-flexible mode only (RFC 9628 §4.2: "only when F=0").
    pub tl0_pic_idx: Option<u8>,
}

/// One picture group entry of the scalability structure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PictureGroup {
    /// TID of the pictures in this slot.
    pub tid: u8,
    /// U: switching up point.
    pub switching_up: bool,
    /// P_DIFF of each reference (at most 3).
    pub p_diffs: SmallVec<[u8; 3]>,
}

/// The scalability structure (V=1, RFC 9628 §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScalabilityStructure {
    /// N_S + 1: number of spatial layers (1..=8).
    pub spatial_layers: u8,
    /// Y: width and height of each spatial layer; empty when Y=0, else one per layer.
    pub resolutions: SmallVec<[(u16, u16); 3]>,
    /// G: the picture group description; `None` when G=0.
    pub groups: Option<SmallVec<[PictureGroup; 2]>>,
}

/// The VP9 payload descriptor (RFC 9628 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// P: the picture is inter-picture predicted.
    pub inter_picture: bool,
    /// F: flexible mode.
    pub flexible: bool,
    /// B: start of a frame (a layer frame).
    pub begin: bool,
    /// E: end of a frame.
    pub end: bool,
    /// Z: not used as a reference by upper spatial layers.
    pub not_upper_reference: bool,
    /// I: picture ID, 7 or 15 bits.
    pub picture_id: Option<PictureId>,
    /// L: layer indices.
    pub layer: Option<Layer>,
    /// P_DIFF values (flexible mode with P=1; at most 3).
    pub p_diffs: SmallVec<[u8; 3]>,
    /// V: the scalability structure.
    pub ss: Option<ScalabilityStructure>,
}

fn take(payload: &[u8], i: &mut usize) -> Result<u8, CodecError> {
    let b = payload.get(*i).copied().ok_or(CodecError::Truncated)?;
    *i += 1;
    Ok(b)
}

impl Descriptor {
    /// Parses the descriptor at the start of `payload`; returns it and its length.
    pub fn parse(payload: &[u8]) -> Result<(Self, usize), CodecError> {
        let mut i = 0;
        let b0 = take(payload, &mut i)?;
        let mut d = Descriptor {
            inter_picture: b0 & 0x40 != 0,
            flexible: b0 & 0x10 != 0,
            begin: b0 & 0x08 != 0,
            end: b0 & 0x04 != 0,
            not_upper_reference: b0 & 0x01 != 0,
            ..Default::default()
        };
        if b0 & 0x80 != 0 {
            let m = take(payload, &mut i)?;
            d.picture_id = Some(if m & 0x80 != 0 {
                let lo = take(payload, &mut i)?;
                PictureId::Long(u16::from(m & 0x7f) << 8 | u16::from(lo))
            } else {
                PictureId::Short(m)
            });
        }
        if b0 & 0x20 != 0 {
            let l = take(payload, &mut i)?;
            let tl0_pic_idx = if d.flexible {
                None
            } else {
                Some(take(payload, &mut i)?)
            };
            d.layer = Some(Layer {
                tid: l >> 5,
                switching_up: l & 0x10 != 0,
                sid: (l >> 1) & 7,
                inter_layer: l & 1 != 0,
                tl0_pic_idx,
            });
        }
        if d.flexible && d.inter_picture {
            // RFC 9628 §4.2: up to 3 P_DIFF octets, N set while another one follows.
            loop {
                let p = take(payload, &mut i)?;
                if d.p_diffs.len() == 3 {
                    return Err(CodecError::Malformed("more than 3 P_DIFF"));
                }
                d.p_diffs.push(p >> 1);
                if p & 1 == 0 {
                    break;
                }
            }
        }
        if b0 & 0x02 != 0 {
            let s = take(payload, &mut i)?;
            let mut ss = ScalabilityStructure {
                spatial_layers: (s >> 5) + 1,
                ..Default::default()
            };
            if s & 0x10 != 0 {
                for _ in 0..ss.spatial_layers {
                    let w = u16::from_be_bytes([take(payload, &mut i)?, take(payload, &mut i)?]);
                    let h = u16::from_be_bytes([take(payload, &mut i)?, take(payload, &mut i)?]);
                    ss.resolutions.push((w, h));
                }
            }
            if s & 0x08 != 0 {
                let n_g = take(payload, &mut i)?;
                let mut groups = SmallVec::new();
                for _ in 0..n_g {
                    let g = take(payload, &mut i)?;
                    let mut pg = PictureGroup {
                        tid: g >> 5,
                        switching_up: g & 0x10 != 0,
                        ..Default::default()
                    };
                    for _ in 0..(g >> 2) & 3 {
                        pg.p_diffs.push(take(payload, &mut i)?);
                    }
                    groups.push(pg);
                }
                ss.groups = Some(groups);
            }
            d.ss = Some(ss);
        }
        Ok((d, i))
    }

    /// Bytes [`write`](Self::write) takes.
    pub fn len(&self) -> usize {
        let mut n = 1;
        n += match self.picture_id {
            None => 0,
            Some(PictureId::Short(_)) => 1,
            Some(PictureId::Long(_)) => 2,
        };
        if let Some(l) = &self.layer {
            n += 1 + usize::from(l.tl0_pic_idx.is_some() && !self.flexible);
        }
        if self.flexible && self.inter_picture {
            n += self.p_diffs.len().max(1);
        }
        if let Some(ss) = &self.ss {
            n += 1 + 4 * ss.resolutions.len();
            if let Some(g) = &ss.groups {
                n += 1 + g.iter().map(|g| 1 + g.p_diffs.len()).sum::<usize>();
            }
        }
        n
    }

    /// Never empty: the first octet is mandatory.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the descriptor. Fields are masked to their widths; more than 3 P_DIFFs, more
    /// than 8 spatial layers, a resolution list that does not match the layer count, or more
    /// than 255 picture groups are refused.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, CodecError> {
        let n = self.len();
        if buf.len() < n {
            return Err(CodecError::MtuTooSmall(buf.len()));
        }
        if self.p_diffs.len() > 3 {
            return Err(CodecError::Malformed("more than 3 P_DIFF"));
        }
        let mut i = 0;
        let mut put = |b: u8| {
            buf[i] = b;
            i += 1;
        };
        put((u8::from(self.picture_id.is_some()) << 7)
            | (u8::from(self.inter_picture) << 6)
            | (u8::from(self.layer.is_some()) << 5)
            | (u8::from(self.flexible) << 4)
            | (u8::from(self.begin) << 3)
            | (u8::from(self.end) << 2)
            | (u8::from(self.ss.is_some()) << 1)
            | u8::from(self.not_upper_reference));
        match self.picture_id {
            None => {}
            Some(PictureId::Short(p)) => put(p & 0x7f),
            Some(PictureId::Long(p)) => {
                put(0x80 | ((p >> 8) as u8 & 0x7f));
                put(p as u8);
            }
        }
        if let Some(l) = &self.layer {
            put(((l.tid & 7) << 5)
                | (u8::from(l.switching_up) << 4)
                | ((l.sid & 7) << 1)
                | u8::from(l.inter_layer));
            if let (false, Some(t)) = (self.flexible, l.tl0_pic_idx) {
                put(t);
            }
        }
        if self.flexible && self.inter_picture {
            if self.p_diffs.is_empty() {
                put(0);
            }
            for (k, p) in self.p_diffs.iter().enumerate() {
                let more = k + 1 < self.p_diffs.len();
                put((p << 1) | u8::from(more));
            }
        }
        if let Some(ss) = &self.ss {
            if !(1..=8).contains(&ss.spatial_layers)
                || (!ss.resolutions.is_empty()
                    && ss.resolutions.len() != usize::from(ss.spatial_layers))
                || ss.groups.as_ref().is_some_and(|g| g.len() > 255)
                || ss.groups.iter().flatten().any(|g| g.p_diffs.len() > 3)
            {
                return Err(CodecError::Malformed("inconsistent scalability structure"));
            }
            put(((ss.spatial_layers - 1) << 5)
                | (u8::from(!ss.resolutions.is_empty()) << 4)
                | (u8::from(ss.groups.is_some()) << 3));
            for (w, h) in &ss.resolutions {
                for b in w.to_be_bytes().into_iter().chain(h.to_be_bytes()) {
                    put(b);
                }
            }
            if let Some(groups) = &ss.groups {
                put(groups.len() as u8);
                for g in groups {
                    put(((g.tid & 7) << 5)
                        | (u8::from(g.switching_up) << 4)
                        | ((g.p_diffs.len() as u8) << 2));
                    for p in &g.p_diffs {
                        put(*p);
                    }
                }
            }
        }
        Ok(i)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Packer {
    picture_id: u16,
    flexible: bool,
}

impl Packer {
    pub(super) fn new(initial: u16, flexible: bool) -> Self {
        Self {
            picture_id: initial & 0x7fff,
            flexible,
        }
    }

    pub(super) fn start<'a>(
        &'a mut self,
        frame: &'a [u8],
        mtu: usize,
    ) -> Result<Cursor<'a>, CodecError> {
        let info = frame_info(frame);
        let mut first = Descriptor {
            inter_picture: !info.keyframe,
            flexible: self.flexible,
            begin: true,
            picture_id: Some(PictureId::Long(self.picture_id)),
            ..Default::default()
        };
        if self.flexible && !info.keyframe {
            // One reference: the previous picture.
            first.p_diffs.push(1);
        }
        if info.keyframe {
            // RFC 9628 §4.2.1: the SS is sent with the first packet of a key frame. One spatial
            // layer; one picture group in which each picture refers to the one before it.
            let mut ss = ScalabilityStructure {
                spatial_layers: 1,
                ..Default::default()
            };
            if let Some((w, h)) = info.dimensions {
                ss.resolutions.push((w as u16, h as u16));
            }
            if !self.flexible {
                let mut g = PictureGroup::default();
                g.p_diffs.push(1);
                ss.groups = Some(SmallVec::from_elem(g, 1));
            }
            first.ss = Some(ss);
        }
        let mut rest = first.clone();
        rest.ss = None;
        rest.begin = false;
        if first.len() + 1 > mtu {
            return Err(CodecError::MtuTooSmall(mtu));
        }
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        Ok(Cursor {
            frame,
            offset: 0,
            mtu,
            first,
            rest,
        })
    }
}

#[derive(Debug)]
pub(super) struct Cursor<'a> {
    frame: &'a [u8],
    offset: usize,
    mtu: usize,
    first: Descriptor,
    rest: Descriptor,
}

impl Cursor<'_> {
    pub(super) fn next(&mut self, buf: &mut [u8]) -> Option<Result<Payload, CodecError>> {
        if self.offset >= self.frame.len() {
            return None;
        }
        let space = room(buf, self.mtu);
        let desc = if self.offset == 0 {
            &mut self.first
        } else {
            &mut self.rest
        };
        let h = desc.len();
        if h >= space {
            return Some(Err(CodecError::MtuTooSmall(space)));
        }
        let n = (space - h).min(self.frame.len() - self.offset);
        desc.end = self.offset + n == self.frame.len();
        if let Err(e) = desc.write(&mut buf[..h]) {
            return Some(Err(e));
        }
        buf[h..h + n].copy_from_slice(&self.frame[self.offset..self.offset + n]);
        self.offset += n;
        Some(Ok(Payload {
            len: h + n,
            marker: self.offset == self.frame.len(),
            timestamp_offset: 0,
        }))
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Depacker {
    in_frame: bool,
}

impl Depacker {
    pub(super) fn push<B: BufMut>(
        &mut self,
        payload: &[u8],
        new_frame: bool,
        gap: bool,
        out: &mut B,
    ) -> Result<(), CodecError> {
        let (d, h) = Descriptor::parse(payload)?;
        if d.begin {
            // A new layer frame; with several spatial layers in one picture they follow one
            // another within the same timestamp.
            if !new_frame && (gap || !self.in_frame) {
                self.in_frame = false;
                return Err(CodecError::MissingFragment);
            }
            self.in_frame = true;
        } else if new_frame || gap || !self.in_frame {
            self.in_frame = false;
            return Err(CodecError::MissingFragment);
        }
        out.put_slice(&payload[h..]);
        Ok(())
    }
}

pub(super) fn payload_is_start(payload: &[u8]) -> Option<bool> {
    let (d, _) = Descriptor::parse(payload).ok()?;
    Some(d.begin && d.layer.is_none_or(|l| l.sid == 0))
}

pub(super) fn payload_is_keyframe(payload: &[u8]) -> bool {
    match Descriptor::parse(payload) {
        // RFC 9628 §4.2: P=0 on the base spatial layer of a picture is a key picture.
        Ok((d, _)) => d.begin && !d.inter_picture && d.layer.is_none_or(|l| l.sid == 0),
        Err(_) => false,
    }
}

/// VP9 bitstream §6.2 uncompressed_header(), far enough for the frame type and, on key frames,
/// the frame size.
pub(super) fn frame_info(frame: &[u8]) -> FrameInfo {
    let parse = || -> Option<FrameInfo> {
        let mut r = BitReader::new(frame);
        if r.bits(2).ok()? != 2 {
            return None; // frame_marker
        }
        let lo = r.bits(1).ok()?;
        let hi = r.bits(1).ok()?;
        let profile = (hi << 1) | lo;
        if profile == 3 {
            r.skip(1).ok()?;
        }
        if r.bit().ok()? {
            return Some(FrameInfo::default()); // show_existing_frame
        }
        let key = !r.bit().ok()?; // frame_type 0 is KEY_FRAME
        r.skip(2).ok()?; // show_frame, error_resilient_mode
        if !key {
            return Some(FrameInfo::default());
        }
        if r.bits(24).ok()? != 0x49_83_42 {
            return None; // frame_sync_code
        }
        // color_config()
        if profile >= 2 {
            r.skip(1).ok()?;
        }
        let color_space = r.bits(3).ok()?;
        if color_space != 7 {
            r.skip(1).ok()?;
            if profile == 1 || profile == 3 {
                r.skip(3).ok()?;
            }
        } else if profile == 1 || profile == 3 {
            r.skip(1).ok()?;
        }
        let w = r.bits(16).ok()? + 1;
        let h = r.bits(16).ok()? + 1;
        Some(FrameInfo {
            keyframe: true,
            dimensions: Some((w, h)),
        })
    };
    parse().unwrap_or_default()
}
