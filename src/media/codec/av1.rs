//! AV1 (AOMedia "RTP Payload Format for AV1" v1.0, §4): the aggregation header, OBU elements
//! with and without length fields, fragmentation across packets, and the sequence header
//! (AV1 bitstream §5.5) for the picture size.

use bytes::BufMut;

use super::bits::{BitReader, OutOfBits, leb128_len, read_leb128, write_leb128};
use super::{CodecError, FrameInfo, Payload, room};

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;
const OBU_TILE_LIST: u8 = 8;
/// A temporal delimiter OBU with an empty payload and a size field.
const TEMPORAL_DELIMITER: [u8; 2] = [OBU_TEMPORAL_DELIMITER << 3 | 0x02, 0];

/// The aggregation header, the first byte of every AV1 payload (AV1 RTP spec §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregationHeader {
    /// Z: the first OBU element continues an OBU fragment from the previous packet.
    pub z: bool,
    /// Y: the last OBU element continues in the next packet.
    pub y: bool,
    /// W: number of OBU elements (1..=3, the last without a length field), or 0 when every
    /// element has a length field.
    pub w: u8,
    /// N: the first packet of a coded video sequence.
    pub n: bool,
}

impl AggregationHeader {
    /// Reads the header byte.
    pub fn parse(byte: u8) -> Self {
        Self {
            z: byte & 0x80 != 0,
            y: byte & 0x40 != 0,
            w: (byte >> 4) & 3,
            n: byte & 0x08 != 0,
        }
    }

    /// The header byte (reserved bits zero).
    pub fn to_byte(self) -> u8 {
        (u8::from(self.z) << 7)
            | (u8::from(self.y) << 6)
            | ((self.w & 3) << 4)
            | (u8::from(self.n) << 3)
    }
}

/// One OBU of a temporal unit: its header (with obu_has_size_field cleared) and payload.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    header: [u8; 2],
    header_len: usize,
    payload: &'a [u8],
}

impl Element<'_> {
    fn len(&self) -> usize {
        self.header_len + self.payload.len()
    }

    fn obu_type(&self) -> u8 {
        (self.header[0] >> 3) & 0x0f
    }

    /// Copies element bytes `from..from + n` into `out`.
    fn copy(&self, from: usize, out: &mut [u8]) {
        let mut i = 0;
        let mut at = from;
        while i < out.len() {
            if at < self.header_len {
                out[i] = self.header[at];
            } else {
                let src = &self.payload[at - self.header_len..];
                let n = (out.len() - i).min(src.len());
                out[i..i + n].copy_from_slice(&src[..n]);
                i += n;
                at += n;
                continue;
            }
            i += 1;
            at += 1;
        }
    }
}

/// Reads the OBUs of a temporal unit in the low-overhead format (AV1 §5.2): each OBU has a
/// size field, except possibly the last.
#[derive(Debug, Clone)]
struct Obus<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for Obus<'a> {
    type Item = Result<Element<'a>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let r = parse_obu(self.data);
        match r {
            Ok((el, used)) => {
                self.data = &self.data[used..];
                Some(Ok(el))
            }
            Err(e) => {
                self.data = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parses one OBU at the start of `data`: the element (size field removed) and bytes used.
fn parse_obu(data: &[u8]) -> Result<(Element<'_>, usize), CodecError> {
    let h = *data.first().ok_or(CodecError::Truncated)?;
    // AV1 §6.2.2: obu_forbidden_bit must be 0.
    if h & 0x80 != 0 {
        return Err(CodecError::Malformed("OBU forbidden bit set"));
    }
    let ext = h & 0x04 != 0;
    let has_size = h & 0x02 != 0;
    let header_len = 1 + usize::from(ext);
    let mut header = [h & !0x02, 0];
    if ext {
        header[1] = *data.get(1).ok_or(CodecError::Truncated)?;
    }
    let (payload, used) = if has_size {
        let (size, n) = read_leb128(&data[header_len..]).ok_or(CodecError::Truncated)?;
        let start = header_len + n;
        let end = start.checked_add(size).ok_or(CodecError::Truncated)?;
        (data.get(start..end).ok_or(CodecError::Truncated)?, end)
    } else {
        (&data[header_len..], data.len())
    };
    Ok((
        Element {
            header,
            header_len,
            payload,
        },
        used,
    ))
}

fn skip_dropped<'a>(obus: &mut Obus<'a>) -> Option<Result<Element<'a>, CodecError>> {
    for el in obus.by_ref() {
        match el {
            // AV1 RTP §5: temporal delimiters and tile lists SHOULD be removed by senders.
            Ok(e) if matches!(e.obu_type(), OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST) => {}
            other => return Some(other),
        }
    }
    None
}

#[derive(Debug)]
pub(super) struct Cursor<'a> {
    obus: Obus<'a>,
    current: Option<Element<'a>>,
    offset: usize,
    mtu: usize,
    first: bool,
    new_sequence: bool,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(frame: &'a [u8], mtu: usize) -> Result<Self, CodecError> {
        // The aggregation header, one length byte and one byte of OBU.
        if mtu < 3 {
            return Err(CodecError::MtuTooSmall(mtu));
        }
        let mut new_sequence = false;
        let mut any = false;
        for el in (Obus { data: frame }) {
            let el = el?;
            new_sequence |= el.obu_type() == OBU_SEQUENCE_HEADER;
            any |= !matches!(el.obu_type(), OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST);
        }
        if !any {
            return Err(CodecError::EmptyFrame);
        }
        let mut obus = Obus { data: frame };
        let current = skip_dropped(&mut obus).transpose()?;
        Ok(Self {
            obus,
            current,
            offset: 0,
            mtu,
            first: true,
            new_sequence,
        })
    }

    fn advance(&mut self) {
        self.offset = 0;
        // Errors were ruled out when the frame was first read.
        self.current = skip_dropped(&mut self.obus).and_then(Result::ok);
    }

    pub(super) fn next(&mut self, buf: &mut [u8]) -> Option<Result<Payload, CodecError>> {
        self.current?;
        let space = room(buf, self.mtu);
        if space < 3 {
            return Some(Err(CodecError::MtuTooSmall(space)));
        }
        let mut header = AggregationHeader {
            z: self.offset > 0,
            // AV1 RTP §4.4: N=1 on the first packet of a coded video sequence (a temporal unit
            // that starts with a sequence header).
            n: self.first && self.new_sequence,
            ..Default::default()
        };
        self.first = false;
        let mut pos = 1;
        let mut count = 0;
        let mut last_start = 1;
        let mut last_len_bytes = 0;
        while let Some(el) = self.current {
            let avail = space - pos;
            if avail < 2 {
                break;
            }
            let remaining = el.len() - self.offset;
            let whole = leb128_len(remaining) + remaining <= avail;
            let k = if whole {
                remaining
            } else {
                let mut k = avail - 1;
                while leb128_len(k) + k > avail {
                    k -= 1;
                }
                k
            };
            last_start = pos;
            last_len_bytes = write_leb128(k, &mut buf[pos..]);
            pos += last_len_bytes;
            el.copy(self.offset, &mut buf[pos..pos + k]);
            pos += k;
            count += 1;
            if whole {
                self.advance();
            } else {
                self.offset += k;
                header.y = true;
                break;
            }
        }
        if count <= 3 {
            // W = element count: the last element goes without its length field.
            header.w = count as u8;
            let body = last_start + last_len_bytes;
            buf.copy_within(body..pos, last_start);
            pos -= last_len_bytes;
        }
        buf[0] = header.to_byte();
        Some(Ok(Payload {
            len: pos,
            marker: self.current.is_none(),
            timestamp_offset: 0,
        }))
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Depacker {
    fragment: Vec<u8>,
    in_fragment: bool,
}

impl Depacker {
    pub(super) fn push<B: BufMut>(
        &mut self,
        payload: &[u8],
        new_frame: bool,
        gap: bool,
        out: &mut B,
    ) -> Result<(), CodecError> {
        if new_frame {
            self.in_fragment = false;
            self.fragment.clear();
            // Decoders and files expect a temporal unit to open with a temporal delimiter
            // (AV1 §7.5), which the sender removed.
            out.put_slice(&TEMPORAL_DELIMITER);
        }
        let (&first, mut rest) = payload.split_first().ok_or(CodecError::Truncated)?;
        let h = AggregationHeader::parse(first);
        if gap && !new_frame {
            self.in_fragment = false;
            return Err(CodecError::MissingFragment);
        }
        if h.z != self.in_fragment {
            // A continuation without its start, or a fragment that never got its end.
            self.in_fragment = false;
            return Err(CodecError::MissingFragment);
        }
        let mut index = 0u8;
        while !rest.is_empty() {
            index += 1;
            let last_by_count = h.w != 0 && index == h.w;
            let element = if last_by_count {
                std::mem::take(&mut rest)
            } else {
                let (n, used) = read_leb128(rest).ok_or(CodecError::Truncated)?;
                let end = used.checked_add(n).ok_or(CodecError::Truncated)?;
                let el = rest.get(used..end).ok_or(CodecError::Truncated)?;
                rest = &rest[end..];
                el
            };
            let is_last = rest.is_empty();
            let continues = index == 1 && h.z;
            if is_last && h.y {
                if !continues {
                    self.fragment.clear();
                }
                self.fragment.extend_from_slice(element);
                self.in_fragment = true;
            } else if continues {
                self.fragment.extend_from_slice(element);
                self.in_fragment = false;
                let whole = std::mem::take(&mut self.fragment);
                let r = write_obu(&whole, out);
                self.fragment = whole;
                self.fragment.clear();
                r?;
            } else {
                write_obu(element, out)?;
            }
        }
        if h.w != 0 && index < h.w {
            return Err(CodecError::Truncated);
        }
        Ok(())
    }
}

/// Writes one OBU element in the low-overhead format, with a size field.
fn write_obu<B: BufMut>(element: &[u8], out: &mut B) -> Result<(), CodecError> {
    let (el, used) = parse_obu(element)?;
    if used != element.len() {
        return Err(CodecError::Malformed(
            "bytes after an OBU with a size field",
        ));
    }
    // AV1 RTP §5: receivers MUST ignore temporal delimiters and tile lists.
    if matches!(el.obu_type(), OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST) {
        return Ok(());
    }
    out.put_u8(el.header[0] | 0x02);
    if el.header_len == 2 {
        out.put_u8(el.header[1]);
    }
    let mut len = [0u8; 10];
    let n = write_leb128(el.payload.len(), &mut len);
    out.put_slice(&len[..n]);
    out.put_slice(el.payload);
    Ok(())
}

pub(super) fn payload_is_keyframe(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|b| AggregationHeader::parse(*b).n)
}

/// A temporal unit is a keyframe when it carries a sequence header and its first frame is a
/// shown KEY_FRAME; the size is the sequence header's maximum frame size.
pub(super) fn frame_info(frame: &[u8]) -> FrameInfo {
    let mut info = FrameInfo::default();
    let mut reduced = false;
    for el in (Obus { data: frame }) {
        let Ok(el) = el else { break };
        match el.obu_type() {
            OBU_SEQUENCE_HEADER => {
                if let Ok((dims, r)) = sequence_header(el.payload) {
                    info.dimensions = Some(dims);
                    reduced = r;
                }
            }
            OBU_FRAME_HEADER | OBU_FRAME => {
                if info.dimensions.is_some() {
                    let mut r = BitReader::new(el.payload);
                    // AV1 §5.9.2: with reduced_still_picture_header every frame is a key frame.
                    info.keyframe = reduced || (r.bit() == Ok(false) && r.bits(2) == Ok(0));
                }
                break;
            }
            _ => {}
        }
    }
    info
}

/// AV1 §5.5 sequence_header_obu(), up to max_frame_width/height. Returns the size and
/// reduced_still_picture_header.
fn sequence_header(payload: &[u8]) -> Result<((u32, u32), bool), OutOfBits> {
    let mut r = BitReader::new(payload);
    r.skip(3)?; // seq_profile
    r.skip(1)?; // still_picture
    let reduced = r.bit()?;
    if reduced {
        r.skip(5)?; // seq_level_idx[0]
    } else {
        let timing_info_present = r.bit()?;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0;
        if timing_info_present {
            r.skip(64)?; // num_units_in_display_tick, time_scale
            if r.bit()? {
                r.uvlc()?; // num_ticks_per_picture_minus_1
            }
            decoder_model_info_present = r.bit()?;
            if decoder_model_info_present {
                buffer_delay_length = r.bits(5)? + 1;
                r.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay_present = r.bit()?;
        let operating_points = r.bits(5)? + 1;
        for _ in 0..operating_points {
            r.skip(12)?; // operating_point_idc
            let seq_level_idx = r.bits(5)?;
            if seq_level_idx > 7 {
                r.skip(1)?; // seq_tier
            }
            if decoder_model_info_present && r.bit()? {
                r.skip(2 * buffer_delay_length + 1)?;
            }
            if initial_display_delay_present && r.bit()? {
                r.skip(4)?;
            }
        }
    }
    let wbits = r.bits(4)? + 1;
    let hbits = r.bits(4)? + 1;
    let w = r.bits(wbits)? + 1;
    let h = r.bits(hbits)? + 1;
    Ok(((w, h), reduced))
}
