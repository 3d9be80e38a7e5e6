//! The RTP packet view (RFC 3550 §5.1) and the packet writer.

use super::Error;
use super::extension::{self, ExtensionForm, Extensions};
use super::values::{
    AbsSendTime, AudioLevel, ExtensionKind, ExtensionMap, ExtensionValue, PlayoutDelay,
    VideoOrientation,
};
use crate::wire::Writer;

/// RFC 3550 §5.1: the version this specification defines.
pub const VERSION: u8 = 2;
/// RFC 3550 §5.1: bytes of fixed header before the CSRC list.
pub const FIXED_HEADER_LEN: usize = 12;
/// RFC 3550 §5.1: the CC field is 4 bits.
pub const MAX_CSRCS: usize = 15;

mod field {
    pub const FLAGS: usize = 0;
    pub const MARKER_PT: usize = 1;
    pub const SEQ: usize = 2;
    pub const TIMESTAMP: usize = 4;
    pub const SSRC: usize = 8;
    pub const CSRC: usize = 12;
}
const PADDING_BIT: u8 = 0x20;
const EXTENSION_BIT: u8 = 0x10;
const CC_MASK: u8 = 0x0f;
const MARKER_BIT: u8 = 0x80;

// The fields read are inside the header `new_checked` checked: one bound check per field
// (indexing each byte checked each byte), and no panic path.
#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..)
        .and_then(<[u8]>::first_chunk)
        .map_or(0, |c| u16::from_be_bytes(*c))
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..)
        .and_then(<[u8]>::first_chunk)
        .map_or(0, |c| u32::from_be_bytes(*c))
}

/// A view of an RTP packet over any buffer, checked once by [`new_checked`](Self::new_checked);
/// then every getter is infallible and, when `T: AsMut<[u8]>`, the setters rewrite fields in
/// place. Nothing here allocates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<T> {
    buffer: T,
    payload_start: usize,
    payload_end: usize,
}

impl<T: AsRef<[u8]>> RtpPacket<T> {
    /// Checks that `buffer` holds a whole RTP packet: version 2, the CSRC list and the
    /// extension block within the buffer, and valid padding.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let len = b.len();
        if len < FIXED_HEADER_LEN {
            return Err(Error::TooShort);
        }
        let version = b[field::FLAGS] >> 6;
        if version != VERSION {
            return Err(Error::BadVersion(version));
        }
        let mut start = field::CSRC + 4 * usize::from(b[field::FLAGS] & CC_MASK);
        if b[field::FLAGS] & EXTENSION_BIT != 0 {
            // RFC 3550 §5.3.1: 16 profile bits, then the length in 32-bit words, excluding
            // the 4-byte extension header.
            if start + 4 > len {
                return Err(Error::TooShort);
            }
            start += 4 + 4 * usize::from(be16(b, start + 2));
        }
        if start > len {
            return Err(Error::TooShort);
        }
        Self::with_padding_checked(buffer, start)
    }

    /// The view of a packet whose header someone already checked (SRTP parses it to
    /// unprotect): version 2, and `header_len` bytes of fixed header, CSRCs and extension
    /// within the buffer. Only the padding is left to check. A `header_len` past the buffer
    /// is [`Error::TooShort`], as [`new_checked`](Self::new_checked) says of such a header.
    pub(crate) fn with_header_len(buffer: T, header_len: usize) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let len = b.len();
        if header_len < FIXED_HEADER_LEN || header_len > len {
            return Err(Error::TooShort);
        }
        debug_assert!(
            RtpPacket::new_checked(b).is_err_and(|e| e == Error::BadPadding)
                || RtpPacket::new_checked(b).is_ok_and(|p| p.payload_start == header_len)
        );
        Self::with_padding_checked(buffer, header_len)
    }

    /// The view of a packet whose header ends at `start` (within the buffer), once its
    /// padding is checked.
    fn with_padding_checked(buffer: T, start: usize) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let len = b.len();
        let mut end = len;
        if b[field::FLAGS] & PADDING_BIT != 0 {
            // RFC 3550 §5.1: the last octet of the padding is a count of how many padding
            // octets should be ignored, including itself.
            let pad = usize::from(b[len - 1]);
            if pad == 0 || pad > len - start {
                return Err(Error::BadPadding);
            }
            end = len - pad;
        }
        Ok(Self {
            buffer,
            payload_start: start,
            payload_end: end,
        })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The P bit: the packet ends with padding.
    pub fn has_padding(&self) -> bool {
        self.b()[field::FLAGS] & PADDING_BIT != 0
    }

    /// The X bit: a header extension follows the CSRCs.
    pub fn has_extension(&self) -> bool {
        self.b()[field::FLAGS] & EXTENSION_BIT != 0
    }

    /// The CC field: how many CSRCs follow the fixed header.
    pub fn csrc_count(&self) -> usize {
        usize::from(self.b()[field::FLAGS] & CC_MASK)
    }

    /// The M bit.
    pub fn marker(&self) -> bool {
        self.b()[field::MARKER_PT] & MARKER_BIT != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.b()[field::MARKER_PT] & !MARKER_BIT
    }

    /// The sequence number.
    pub fn sequence_number(&self) -> u16 {
        be16(self.b(), field::SEQ)
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        be32(self.b(), field::TIMESTAMP)
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        be32(self.b(), field::SSRC)
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        (0..self.csrc_count()).map(|i| be32(self.b(), field::CSRC + 4 * i))
    }

    /// The fixed fields, as a value (for a [`RtpBuilder`], say).
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence_number: self.sequence_number(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
        }
    }

    fn extension_start(&self) -> usize {
        field::CSRC + 4 * self.csrc_count()
    }

    /// The header extension's 16-bit profile field and its data (after the 4-byte block
    /// header), if the X bit is set.
    #[inline]
    pub fn extension_block(&self) -> Option<(u16, &[u8])> {
        if !self.has_extension() {
            return None;
        }
        let at = self.extension_start();
        Some((be16(self.b(), at), &self.b()[at + 4..self.payload_start]))
    }

    /// The RFC 8285 form of the header extension, if there is one.
    pub fn extension_form(&self) -> Option<ExtensionForm> {
        self.extension_block()
            .and_then(|(profile, _)| ExtensionForm::from_profile(profile))
    }

    /// The RFC 8285 header extension elements (none if the block uses another profile).
    pub fn extensions(&self) -> Extensions<'_> {
        match self.extension_block() {
            Some((profile, data)) => Extensions::new(profile, data),
            None => Extensions::empty(),
        }
    }

    /// The data of the first element with local id `id`.
    #[inline]
    pub fn extension(&self, id: u8) -> Option<&[u8]> {
        // `extension_block` with one bound check for the block (the header was checked).
        if !self.has_extension() {
            return None;
        }
        let block = self.b().get(self.extension_start()..self.payload_start)?;
        let [p0, p1, _, _, data @ ..] = block else {
            return None;
        };
        match ExtensionForm::from_profile(u16::from_be_bytes([*p0, *p1]))? {
            ExtensionForm::OneByte => extension::find_one_byte(data, id),
            form => extension::find(form, data, id).map(|range| &data[range]),
        }
    }

    /// The typed value of the element `map` gives for `kind`. `None` when the kind is not
    /// mapped, the packet lacks it, or its data is malformed for the kind.
    pub fn extension_value(
        &self,
        map: &ExtensionMap,
        kind: ExtensionKind,
    ) -> Option<ExtensionValue<'_>> {
        let data = self.extension(map.id(kind)?)?;
        ExtensionValue::parse(Some(kind), data).ok()
    }

    /// Every element with its value typed through `map` (unmapped or malformed ones raw).
    pub fn extension_values<'m>(
        &'m self,
        map: &'m ExtensionMap,
    ) -> impl Iterator<Item = (u8, ExtensionValue<'m>)> + 'm {
        self.extensions().map(|e| {
            let value = ExtensionValue::parse(map.kind(e.id), e.data)
                .unwrap_or(ExtensionValue::Raw(e.data));
            (e.id, value)
        })
    }

    /// The MID (RFC 9143), if mapped and present.
    pub fn mid(&self, map: &ExtensionMap) -> Option<&str> {
        match self.extension_value(map, ExtensionKind::Mid)? {
            ExtensionValue::Mid(s) => Some(s),
            _ => None,
        }
    }

    /// The RtpStreamId (RFC 8852 §3.1), if mapped and present.
    pub fn rid(&self, map: &ExtensionMap) -> Option<&str> {
        match self.extension_value(map, ExtensionKind::RtpStreamId)? {
            ExtensionValue::RtpStreamId(s) => Some(s),
            _ => None,
        }
    }

    /// The RepairedRtpStreamId (RFC 8852 §3.2), if mapped and present.
    pub fn repaired_rid(&self, map: &ExtensionMap) -> Option<&str> {
        match self.extension_value(map, ExtensionKind::RepairedRtpStreamId)? {
            ExtensionValue::RepairedRtpStreamId(s) => Some(s),
            _ => None,
        }
    }

    /// The abs-send-time, if mapped and present.
    pub fn abs_send_time(&self, map: &ExtensionMap) -> Option<AbsSendTime> {
        match self.extension_value(map, ExtensionKind::AbsSendTime)? {
            ExtensionValue::AbsSendTime(t) => Some(t),
            _ => None,
        }
    }

    /// The transport-wide sequence number, if mapped and present.
    pub fn transport_cc(&self, map: &ExtensionMap) -> Option<u16> {
        match self.extension_value(map, ExtensionKind::TransportCc)? {
            ExtensionValue::TransportCc(seq) => Some(seq),
            _ => None,
        }
    }

    /// The RFC 6464 audio level, if mapped and present.
    pub fn audio_level(&self, map: &ExtensionMap) -> Option<AudioLevel> {
        match self.extension_value(map, ExtensionKind::AudioLevel)? {
            ExtensionValue::AudioLevel(a) => Some(a),
            _ => None,
        }
    }

    /// The CVO video orientation, if mapped and present.
    pub fn video_orientation(&self, map: &ExtensionMap) -> Option<VideoOrientation> {
        match self.extension_value(map, ExtensionKind::VideoOrientation)? {
            ExtensionValue::VideoOrientation(v) => Some(v),
            _ => None,
        }
    }

    /// The playout delay, if mapped and present.
    pub fn playout_delay(&self, map: &ExtensionMap) -> Option<PlayoutDelay> {
        match self.extension_value(map, ExtensionKind::PlayoutDelay)? {
            ExtensionValue::PlayoutDelay(p) => Some(p),
            _ => None,
        }
    }

    /// Bytes before the payload: fixed header, CSRCs and extension block.
    pub fn header_len(&self) -> usize {
        self.payload_start
    }

    /// The payload, without the padding.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.payload_start..self.payload_end]
    }

    /// Bytes of padding after the payload (0 without the P bit).
    pub fn padding_len(&self) -> usize {
        self.b().len() - self.payload_end
    }

    /// The length of the whole packet.
    pub fn len(&self) -> usize {
        self.b().len()
    }

    /// Whether the packet is empty (never: a checked packet has at least 12 bytes).
    pub fn is_empty(&self) -> bool {
        self.b().is_empty()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtpPacket<T> {
    fn b_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the M bit.
    pub fn set_marker(&mut self, marker: bool) {
        let b = &mut self.b_mut()[field::MARKER_PT];
        *b = (*b & !MARKER_BIT) | if marker { MARKER_BIT } else { 0 };
    }

    /// Sets the payload type; only its low 7 bits are kept (the field is 7 bits).
    pub fn set_payload_type(&mut self, pt: u8) {
        let b = &mut self.b_mut()[field::MARKER_PT];
        *b = (*b & MARKER_BIT) | (pt & !MARKER_BIT);
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, seq: u16) {
        self.b_mut()[field::SEQ..field::SEQ + 2].copy_from_slice(&seq.to_be_bytes());
    }

    /// Sets the RTP timestamp.
    pub fn set_timestamp(&mut self, ts: u32) {
        self.b_mut()[field::TIMESTAMP..field::TIMESTAMP + 4].copy_from_slice(&ts.to_be_bytes());
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.b_mut()[field::SSRC..field::SSRC + 4].copy_from_slice(&ssrc.to_be_bytes());
    }

    /// Replaces the CSRC at `index`; `false` if there is no such CSRC.
    pub fn set_csrc(&mut self, index: usize, csrc: u32) -> bool {
        if index >= self.csrc_count() {
            return false;
        }
        let at = field::CSRC + 4 * index;
        self.b_mut()[at..at + 4].copy_from_slice(&csrc.to_be_bytes());
        true
    }

    /// The payload, mutable (padding excluded).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.payload_start, self.payload_end);
        &mut self.b_mut()[start..end]
    }

    /// The data of the first element with local id `id`, mutable.
    pub fn extension_mut(&mut self, id: u8) -> Option<&mut [u8]> {
        let (profile, data) = self.extension_block()?;
        let range = extension::find(ExtensionForm::from_profile(profile)?, data, id)?;
        let base = self.extension_start() + 4;
        Some(&mut self.b_mut()[base + range.start..base + range.end])
    }

    /// Overwrites the element with local id `id` with `data` of the same length (a rewrite in
    /// place cannot move the payload).
    pub fn set_extension(&mut self, id: u8, data: &[u8]) -> Result<(), Error> {
        ExtensionValue::Raw(data).write(self.extension_mut(id).ok_or(Error::NoSuchExtension(id))?)
    }

    /// Overwrites the element `map` gives for `value`'s kind; the packet's element must have
    /// the length the value writes. A raw value is refused: it has no kind to look up.
    pub fn set_extension_value(
        &mut self,
        map: &ExtensionMap,
        value: &ExtensionValue<'_>,
    ) -> Result<(), Error> {
        let kind = value
            .kind()
            .ok_or(Error::Malformed("a raw value has no kind"))?;
        let id = map.id(kind).ok_or(Error::NotMapped)?;
        value.write(self.extension_mut(id).ok_or(Error::NoSuchExtension(id))?)
    }
}

/// The fixed fields of an RTP header that a sender chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RtpHeader {
    /// The M bit.
    pub marker: bool,
    /// The payload type (7 bits).
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
}

/// Writes an RTP packet (header, CSRCs, RFC 8285 extensions, payload, padding) into a caller's
/// buffer, without allocating.
///
/// The extension form is the one-byte form when every element fits it, else the two-byte
/// form, unless [`form`](Self::form) picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpBuilder<'a> {
    header: RtpHeader,
    csrcs: &'a [u32],
    extensions: &'a [(u8, ExtensionValue<'a>)],
    form: Option<ExtensionForm>,
    payload: &'a [u8],
    padding: u8,
}

impl<'a> RtpBuilder<'a> {
    /// A packet with `header`, no CSRCs, no extensions, no payload.
    pub fn new(header: RtpHeader) -> Self {
        Self {
            header,
            csrcs: &[],
            extensions: &[],
            form: None,
            payload: &[],
            padding: 0,
        }
    }

    /// The contributing sources (at most 15).
    pub fn csrcs(mut self, csrcs: &'a [u32]) -> Self {
        self.csrcs = csrcs;
        self
    }

    /// The header extension elements as `(local id, value)`, written in this order.
    pub fn extensions(mut self, extensions: &'a [(u8, ExtensionValue<'a>)]) -> Self {
        self.extensions = extensions;
        self
    }

    /// Forces the extension form (with no elements, an empty block of this form is written).
    pub fn form(mut self, form: ExtensionForm) -> Self {
        self.form = Some(form);
        self
    }

    /// The payload.
    pub fn payload(mut self, payload: &'a [u8]) -> Self {
        self.payload = payload;
        self
    }

    /// Bytes of padding to append (0: none; RFC 3550 §5.1 counts the count byte itself).
    pub fn padding(mut self, padding: u8) -> Self {
        self.padding = padding;
        self
    }

    fn chosen_form(&self) -> Result<Option<ExtensionForm>, Error> {
        if self.form.is_some() {
            return Ok(self.form);
        }
        if self.extensions.is_empty() {
            return Ok(None);
        }
        ExtensionForm::choose(self.extensions.iter().map(|(id, v)| (*id, v.len())))
            .map(Some)
            .ok_or(Error::TooLarge("header extension element"))
    }

    /// Bytes the packet takes.
    pub fn len(&self) -> usize {
        let ext = match self.chosen_form() {
            Ok(Some(form)) => {
                extension::block_len(form, self.extensions.iter().map(|(_, v)| v.len()))
            }
            _ => 0,
        };
        FIXED_HEADER_LEN
            + 4 * self.csrcs.len()
            + ext
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// Whether the packet is empty (never).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the packet at the start of `buf` and returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.csrcs.len() > MAX_CSRCS {
            return Err(Error::TooLarge("CSRC list"));
        }
        if self.header.payload_type > 0x7f {
            return Err(Error::TooLarge("payload type"));
        }
        let form = self.chosen_form()?;
        let needed = self.len();
        if buf.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let mut w = Writer::new(buf);
        let flags = (VERSION << 6)
            | if self.padding > 0 { PADDING_BIT } else { 0 }
            | if form.is_some() { EXTENSION_BIT } else { 0 }
            | self.csrcs.len() as u8;
        w.u8(flags)?;
        w.u8(if self.header.marker { MARKER_BIT } else { 0 } | self.header.payload_type)?;
        w.u16(self.header.sequence_number)?;
        w.u32(self.header.timestamp)?;
        w.u32(self.header.ssrc)?;
        for csrc in self.csrcs {
            w.u32(*csrc)?;
        }
        if let Some(form) = form {
            extension::write_block(&mut w, form, self.extensions)?;
        }
        w.bytes(self.payload)?;
        if self.padding > 0 {
            w.zeros(usize::from(self.padding) - 1)?;
            w.u8(self.padding)?;
        }
        Ok(w.position())
    }
}
