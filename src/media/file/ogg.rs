//! Ogg Opus: Ogg pages (RFC 3533) carrying an Opus stream (RFC 7845).
//!
//! The reader checks each page's CRC, follows one logical stream (the first one that begins),
//! joins packets across pages, reads OpusHead and OpusTags, and gives audio packets with the
//! page granule position (48 kHz samples, pre-skip included) where a page ends. The writer puts
//! the headers on their own pages (RFC 7845 §3) and one audio packet per page, with granule
//! positions counted from the packets' TOC bytes.

use super::FileError;
use crate::wire::{crc32_ogg, crc32_ogg_update as crc32_update};

const CONTINUED: u8 = 0x01;
const BOS: u8 = 0x02;
const EOS: u8 = 0x04;
/// RFC 3533 §6: a granule position of -1 means no packet ends on the page.
const NO_GRANULE: u64 = u64::MAX;

/// One Ogg page (RFC 3533 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OggPage<'a> {
    /// header_type flags: 1 continued packet, 2 beginning of stream, 4 end of stream.
    pub header_type: u8,
    /// Granule position (`u64::MAX` for -1).
    pub granule: u64,
    /// Bitstream serial number.
    pub serial: u32,
    /// Page sequence number.
    pub sequence: u32,
    /// The segment (lacing) table.
    pub segments: &'a [u8],
    /// The page body.
    pub body: &'a [u8],
}

impl<'a> OggPage<'a> {
    /// Parses the page at the start of `data`, checking its CRC; returns it and its length.
    pub fn parse(data: &'a [u8]) -> Result<(Self, usize), FileError> {
        let h = data.get(..27).ok_or(FileError::Truncated)?;
        if &h[..4] != b"OggS" {
            return Err(FileError::BadMagic("Ogg"));
        }
        // RFC 3533 §6: stream_structure_version is 0.
        if h[4] != 0 {
            return Err(FileError::Malformed("Ogg version is not 0"));
        }
        let u32le = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let n = usize::from(h[26]);
        let segments = data.get(27..27 + n).ok_or(FileError::Truncated)?;
        let body_len: usize = segments.iter().map(|s| usize::from(*s)).sum();
        let total = 27 + n + body_len;
        let page = data.get(..total).ok_or(FileError::Truncated)?;
        let crc = u32le(22);
        // The CRC covers the whole page with the CRC field taken as zero.
        let mut c = crc32_ogg(&page[..22]);
        c = crc32_update(c, &[0; 4]);
        c = crc32_update(c, &page[26..]);
        if c != crc {
            return Err(FileError::BadCrc);
        }
        Ok((
            Self {
                header_type: h[5],
                granule: u64::from_le_bytes(h[6..14].try_into().unwrap_or_default()),
                serial: u32le(14),
                sequence: u32le(18),
                segments,
                body: &page[27 + n..],
            },
            total,
        ))
    }
}

/// Writes one page. `segments` must hold at most 255 lacing values that add up to
/// `body.len()`.
fn write_page(
    out: &mut Vec<u8>,
    header_type: u8,
    granule: u64,
    serial: u32,
    sequence: u32,
    segments: &[u8],
    body: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(b"OggS");
    out.push(0);
    out.push(header_type);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(segments.len() as u8);
    out.extend_from_slice(segments);
    out.extend_from_slice(body);
    let crc = crc32_ogg(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// The Opus identification header (RFC 7845 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Version (1; readers accept 0..=15).
    pub version: u8,
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the start of the decoded output.
    pub pre_skip: u16,
    /// Sample rate of the original input (informational).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family.
    pub mapping_family: u8,
    /// Stream count, coupled count and channel mapping (mapping families other than 0).
    pub mapping: Option<(u8, u8, Vec<u8>)>,
}

impl OpusHead {
    /// Parses an OpusHead packet.
    pub fn parse(p: &[u8]) -> Result<Self, FileError> {
        if p.len() < 19 || &p[..8] != b"OpusHead" {
            return Err(FileError::BadMagic("OpusHead"));
        }
        // RFC 7845 §5.1: a version whose major part (upper 4 bits) is not 0 is incompatible.
        if p[8] > 15 {
            return Err(FileError::Malformed("unsupported OpusHead version"));
        }
        if p[9] == 0 {
            return Err(FileError::Malformed("zero channels"));
        }
        let mapping_family = p[18];
        let mapping = if mapping_family == 0 {
            None
        } else {
            let streams = *p.get(19).ok_or(FileError::Truncated)?;
            let coupled = *p.get(20).ok_or(FileError::Truncated)?;
            let table = p
                .get(21..21 + usize::from(p[9]))
                .ok_or(FileError::Truncated)?;
            Some((streams, coupled, table.to_vec()))
        };
        Ok(Self {
            version: p[8],
            channels: p[9],
            pre_skip: u16::from_le_bytes([p[10], p[11]]),
            input_sample_rate: u32::from_le_bytes([p[12], p[13], p[14], p[15]]),
            output_gain: i16::from_le_bytes([p[16], p[17]]),
            mapping_family,
            mapping,
        })
    }

    /// Appends the packet to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"OpusHead");
        out.push(self.version);
        out.push(self.channels);
        out.extend_from_slice(&self.pre_skip.to_le_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        out.extend_from_slice(&self.output_gain.to_le_bytes());
        out.push(self.mapping_family);
        if let Some((s, c, table)) = &self.mapping {
            out.push(*s);
            out.push(*c);
            out.extend_from_slice(table);
        }
    }
}

/// The Opus comment header (RFC 7845 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpusTags {
    /// The encoder's vendor string.
    pub vendor: String,
    /// User comments, `NAME=value`.
    pub comments: Vec<String>,
}

impl OpusTags {
    /// Parses an OpusTags packet (strings are read as lossy UTF-8).
    pub fn parse(p: &[u8]) -> Result<Self, FileError> {
        if p.len() < 16 || &p[..8] != b"OpusTags" {
            return Err(FileError::BadMagic("OpusTags"));
        }
        let mut pos = 8;
        let string = |pos: &mut usize| -> Result<String, FileError> {
            let n = p.get(*pos..*pos + 4).ok_or(FileError::Truncated)?;
            let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
            let s = p
                .get(*pos + 4..)
                .and_then(|r| r.get(..n))
                .ok_or(FileError::Truncated)?;
            *pos += 4 + n;
            Ok(String::from_utf8_lossy(s).into_owned())
        };
        let vendor = string(&mut pos)?;
        let count = p.get(pos..pos + 4).ok_or(FileError::Truncated)?;
        let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize;
        pos += 4;
        // Each comment takes at least 4 bytes: a count beyond that is a lie, not an allocation.
        if count > (p.len() - pos) / 4 {
            return Err(FileError::Truncated);
        }
        let mut comments = Vec::with_capacity(count);
        for _ in 0..count {
            comments.push(string(&mut pos)?);
        }
        Ok(Self { vendor, comments })
    }

    /// Appends the packet to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"OpusTags");
        out.extend_from_slice(&(self.vendor.len() as u32).to_le_bytes());
        out.extend_from_slice(self.vendor.as_bytes());
        out.extend_from_slice(&(self.comments.len() as u32).to_le_bytes());
        for c in &self.comments {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(c.as_bytes());
        }
    }
}

/// Samples at 48 kHz an Opus packet decodes to, from its TOC byte (RFC 6716 §3.1), or `None`
/// for a malformed packet.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in units of 2.5 ms (120 samples at 48 kHz).
    let units = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = units * 120 * frames;
    // RFC 6716 §3.2.5: a packet holds at most 120 ms.
    (samples <= 5760).then_some(samples)
}

/// An audio packet read from an Ogg Opus file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggPacket {
    /// The Opus packet.
    pub data: Vec<u8>,
    /// The granule position of the page, when this is the last packet completed on it.
    pub granule: Option<u64>,
}

/// Reads an Ogg Opus file held in memory.
#[derive(Debug, Clone)]
pub struct OggOpusReader<'a> {
    data: &'a [u8],
    pos: usize,
    serial: Option<u32>,
    page: Option<OggPage<'a>>,
    segment: usize,
    offset: usize,
    partial: Vec<u8>,
    head: OpusHead,
    tags: OpusTags,
}

impl<'a> OggOpusReader<'a> {
    /// Reads the headers.
    pub fn new(data: &'a [u8]) -> Result<Self, FileError> {
        let mut r = Self {
            data,
            pos: 0,
            serial: None,
            page: None,
            segment: 0,
            offset: 0,
            partial: Vec::new(),
            head: OpusHead {
                version: 1,
                channels: 1,
                pre_skip: 0,
                input_sample_rate: 0,
                output_gain: 0,
                mapping_family: 0,
                mapping: None,
            },
            tags: OpusTags::default(),
        };
        let head = r.packet().ok_or(FileError::Truncated)??;
        r.head = OpusHead::parse(&head.data)?;
        let tags = r.packet().ok_or(FileError::Truncated)??;
        r.tags = OpusTags::parse(&tags.data)?;
        Ok(r)
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The comment header.
    pub fn tags(&self) -> &OpusTags {
        &self.tags
    }

    fn packet(&mut self) -> Option<Result<OggPacket, FileError>> {
        loop {
            let Some(page) = self.page else {
                if self.pos >= self.data.len() {
                    return None;
                }
                match OggPage::parse(&self.data[self.pos..]) {
                    Ok((page, len)) => {
                        self.pos += len;
                        let serial = *self.serial.get_or_insert(page.serial);
                        if page.serial != serial {
                            continue; // another logical stream
                        }
                        if page.header_type & CONTINUED == 0 && !self.partial.is_empty() {
                            self.partial.clear(); // the continuation was lost
                        }
                        self.page = Some(page);
                        self.segment = 0;
                        self.offset = 0;
                        continue;
                    }
                    Err(e) => {
                        self.pos = self.data.len();
                        return Some(Err(e));
                    }
                }
            };
            if self.segment >= page.segments.len() {
                self.page = None;
                continue;
            }
            let lace = usize::from(page.segments[self.segment]);
            self.partial
                .extend_from_slice(&page.body[self.offset..self.offset + lace]);
            self.segment += 1;
            self.offset += lace;
            if lace < 255 {
                // RFC 3533 §6: a lacing value below 255 ends a packet. The page granule belongs
                // to the last packet that ends on the page.
                let last = !page.segments[self.segment..].iter().any(|s| *s < 255);
                let granule = (last && page.granule != NO_GRANULE).then_some(page.granule);
                return Some(Ok(OggPacket {
                    data: std::mem::take(&mut self.partial),
                    granule,
                }));
            }
        }
    }
}

impl Iterator for OggOpusReader<'_> {
    type Item = Result<OggPacket, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.packet()
    }
}

/// Writes an Ogg Opus file into memory.
#[derive(Debug, Clone)]
pub struct OggOpusWriter {
    out: Vec<u8>,
    serial: u32,
    sequence: u32,
    granule: u64,
    pending: Option<Vec<u8>>,
}

impl OggOpusWriter {
    /// Starts a file with `serial` (pick it at random) and writes the header pages.
    pub fn new(head: &OpusHead, tags: &OpusTags, serial: u32) -> Self {
        let mut w = Self {
            out: Vec::new(),
            serial,
            sequence: 0,
            granule: 0,
            pending: None,
        };
        let mut p = Vec::new();
        head.write(&mut p);
        // RFC 7845 §3: OpusHead alone on the first page, which has BOS set and granule 0.
        w.packet_pages(&p, BOS, 0);
        p.clear();
        tags.write(&mut p);
        // RFC 7845 §3: OpusTags ends its own page(s), granule 0.
        w.packet_pages(&p, 0, 0);
        w
    }

    /// Writes one packet as pages (several if it needs more than 255 lacing values).
    fn packet_pages(&mut self, packet: &[u8], flags: u8, granule: u64) {
        let mut lacing = [0u8; 255];
        let mut rest = packet;
        let mut continued = false;
        loop {
            let mut n = 0;
            let mut body = 0;
            let mut ends = false;
            while n < 255 {
                let l = rest.len().saturating_sub(body).min(255);
                lacing[n] = l as u8;
                n += 1;
                body += l;
                if l < 255 {
                    ends = true;
                    break;
                }
            }
            let mut ht = if continued { CONTINUED } else { flags & BOS };
            if ends {
                ht |= flags & EOS;
            }
            write_page(
                &mut self.out,
                ht,
                if ends { granule } else { NO_GRANULE },
                self.serial,
                self.sequence,
                &lacing[..n],
                &rest[..body],
            );
            self.sequence += 1;
            rest = &rest[body..];
            if ends {
                return;
            }
            continued = true;
        }
    }

    fn flush(&mut self, eos: bool) {
        if let Some(p) = self.pending.take() {
            self.granule += u64::from(opus_packet_samples(&p).unwrap_or(0));
            self.packet_pages(&p, if eos { EOS } else { 0 }, self.granule);
        }
    }

    /// Adds an Opus packet (on its own page, granule advanced by its duration).
    pub fn write_packet(&mut self, packet: &[u8]) {
        self.flush(false);
        self.pending = Some(packet.to_vec());
    }

    /// Marks the last page end-of-stream and returns the file.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush(true);
        self.out
    }
}
