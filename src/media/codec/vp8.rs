//! VP8 payload descriptor and packetization (RFC 7741).

use bytes::BufMut;

use super::{CodecError, FrameInfo, Payload, room};

/// A VP8 picture ID, 7 or 15 bits on the wire (RFC 7741 §4.2, M bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureId {
    /// M=0: a 7-bit picture ID.
    Short(u8),
    /// M=1: a 15-bit picture ID.
    Long(u16),
}

/// The VP8 payload descriptor (RFC 7741 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// N: a non-reference frame (can be discarded without affecting others).
    pub non_reference: bool,
    /// S: the first packet of a VP8 partition.
    pub start: bool,
    /// PID: the partition index (0..=7).
    pub partition: u8,
    /// I: the picture ID.
    pub picture_id: Option<PictureId>,
    /// L: TL0PICIDX.
    pub tl0_pic_idx: Option<u8>,
    /// T: the temporal layer index and the Y (layer sync) bit.
    pub tid: Option<(u8, bool)>,
    /// K: KEYIDX.
    pub key_idx: Option<u8>,
}

impl Descriptor {
    /// Parses the descriptor at the start of `payload`; returns it and its length.
    pub fn parse(payload: &[u8]) -> Result<(Self, usize), CodecError> {
        let mut i = 0;
        let mut next = || {
            let b = payload.get(i).copied().ok_or(CodecError::Truncated);
            i += 1;
            b
        };
        let b0 = next()?;
        let mut d = Descriptor {
            non_reference: b0 & 0x20 != 0,
            start: b0 & 0x10 != 0,
            partition: b0 & 0x07,
            ..Default::default()
        };
        // RFC 7741 §4.2: X set means the extension octet MUST follow the first octet.
        if b0 & 0x80 != 0 {
            let x = next()?;
            if x & 0x80 != 0 {
                let m = next()?;
                d.picture_id = Some(if m & 0x80 != 0 {
                    let lo = next()?;
                    PictureId::Long(u16::from(m & 0x7f) << 8 | u16::from(lo))
                } else {
                    PictureId::Short(m & 0x7f)
                });
            }
            if x & 0x40 != 0 {
                d.tl0_pic_idx = Some(next()?);
            }
            if x & 0x30 != 0 {
                let t = next()?;
                if x & 0x20 != 0 {
                    d.tid = Some((t >> 6, t & 0x20 != 0));
                }
                if x & 0x10 != 0 {
                    d.key_idx = Some(t & 0x1f);
                }
            }
        }
        Ok((d, i))
    }

    /// Bytes [`write`](Self::write) takes.
    pub fn len(&self) -> usize {
        let ext = self.picture_id.is_some()
            || self.tl0_pic_idx.is_some()
            || self.tid.is_some()
            || self.key_idx.is_some();
        let mut n = 1;
        if ext {
            n += 1;
        }
        n += match self.picture_id {
            None => 0,
            Some(PictureId::Short(_)) => 1,
            Some(PictureId::Long(_)) => 2,
        };
        n += usize::from(self.tl0_pic_idx.is_some());
        n += usize::from(self.tid.is_some() || self.key_idx.is_some());
        n
    }

    /// Never empty: the first octet is mandatory.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the descriptor; fields are masked to their widths.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, CodecError> {
        let n = self.len();
        if buf.len() < n {
            return Err(CodecError::MtuTooSmall(buf.len()));
        }
        let ext = n > 1;
        buf[0] = (u8::from(ext) << 7)
            | (u8::from(self.non_reference) << 5)
            | (u8::from(self.start) << 4)
            | (self.partition & 7);
        if !ext {
            return Ok(1);
        }
        let mut x = 0;
        let mut i = 2;
        match self.picture_id {
            None => {}
            Some(PictureId::Short(p)) => {
                x |= 0x80;
                buf[i] = p & 0x7f;
                i += 1;
            }
            Some(PictureId::Long(p)) => {
                x |= 0x80;
                buf[i] = 0x80 | ((p >> 8) as u8 & 0x7f);
                buf[i + 1] = p as u8;
                i += 2;
            }
        }
        if let Some(t) = self.tl0_pic_idx {
            x |= 0x40;
            buf[i] = t;
            i += 1;
        }
        if self.tid.is_some() || self.key_idx.is_some() {
            let mut t = 0;
            if let Some((tid, y)) = self.tid {
                x |= 0x20;
                t |= (tid & 3) << 6 | u8::from(y) << 5;
            }
            if let Some(k) = self.key_idx {
                x |= 0x10;
                t |= k & 0x1f;
            }
            buf[i] = t;
            i += 1;
        }
        buf[1] = x;
        Ok(i)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Packer {
    picture_id: u16,
}

impl Packer {
    pub(super) fn new(initial: u16) -> Self {
        Self {
            picture_id: initial & 0x7fff,
        }
    }

    pub(super) fn start<'a>(
        &'a mut self,
        frame: &'a [u8],
        mtu: usize,
    ) -> Result<Cursor<'a>, CodecError> {
        let desc = Descriptor {
            picture_id: Some(PictureId::Long(self.picture_id)),
            ..Default::default()
        };
        if mtu <= desc.len() {
            return Err(CodecError::MtuTooSmall(mtu));
        }
        // RFC 7741 §4.2: the picture ID increments by one per frame, wrapping at 15 bits.
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        Ok(Cursor {
            frame,
            offset: 0,
            mtu,
            desc,
        })
    }
}

#[derive(Debug)]
pub(super) struct Cursor<'a> {
    frame: &'a [u8],
    offset: usize,
    mtu: usize,
    desc: Descriptor,
}

impl Cursor<'_> {
    pub(super) fn next(&mut self, buf: &mut [u8]) -> Option<Result<Payload, CodecError>> {
        if self.offset >= self.frame.len() {
            return None;
        }
        let space = room(buf, self.mtu);
        // The whole frame is sent as one partition (PID 0); S marks its first packet.
        self.desc.start = self.offset == 0;
        let h = match self.desc.write(&mut buf[..space]) {
            Ok(h) if h < space => h,
            _ => return Some(Err(CodecError::MtuTooSmall(space))),
        };
        let n = (space - h).min(self.frame.len() - self.offset);
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
        if new_frame {
            // RFC 7741 §4.2: S=1 with PID=0 marks the first packet of a frame.
            if !(d.start && d.partition == 0) {
                self.in_frame = false;
                return Err(CodecError::MissingFragment);
            }
            self.in_frame = true;
        } else if gap || !self.in_frame {
            self.in_frame = false;
            return Err(CodecError::MissingFragment);
        }
        out.put_slice(&payload[h..]);
        Ok(())
    }
}

pub(super) fn payload_is_start(payload: &[u8]) -> Option<bool> {
    let (d, _) = Descriptor::parse(payload).ok()?;
    Some(d.start && d.partition == 0)
}

pub(super) fn payload_is_keyframe(payload: &[u8]) -> bool {
    match Descriptor::parse(payload) {
        // RFC 7741 §4.3: the P bit of the frame tag is 0 for key frames.
        Ok((d, h)) => d.start && d.partition == 0 && payload.get(h).is_some_and(|b| b & 1 == 0),
        Err(_) => false,
    }
}

/// RFC 6386 §9.1: a 3-byte frame tag; key frames add the start code 9d 01 2a and two 16-bit
/// little-endian fields whose low 14 bits are the width and height.
pub(super) fn frame_info(frame: &[u8]) -> FrameInfo {
    let keyframe = frame.first().is_some_and(|b| b & 1 == 0);
    let dimensions = if keyframe && frame.len() >= 10 && frame[3..6] == [0x9d, 0x01, 0x2a] {
        let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
        let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
        Some((u32::from(w), u32::from(h)))
    } else {
        None
    };
    FrameInfo {
        keyframe: keyframe && dimensions.is_some(),
        dimensions,
    }
}
