//! IVF, the container libvpx and libaom write: a 32-byte little-endian file header
//! (`DKIF`, version 0, header size, fourcc `VP80`/`VP90`/`AV01`, width, height, time base
//! denominator and numerator, frame count), then per frame a 12-byte header (size, 64-bit
//! timestamp) and the frame.

use super::FileError;
use crate::media::codec::Codec;

/// The IVF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// Codec fourcc: `VP80`, `VP90`, `AV01`.
    pub fourcc: [u8; 4],
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Time base denominator (frame timestamps are in units of `num / den` seconds).
    pub timebase_den: u32,
    /// Time base numerator.
    pub timebase_num: u32,
    /// Number of frames (writers that stream often leave it wrong; readers do not rely on it).
    pub frame_count: u32,
}

impl IvfHeader {
    /// Size of the header written.
    pub const LEN: usize = 32;

    /// Parses the header at the start of `data`; returns it and the header size field.
    pub fn parse(data: &[u8]) -> Result<(Self, usize), FileError> {
        let h = data.get(..Self::LEN).ok_or(FileError::Truncated)?;
        if &h[..4] != b"DKIF" {
            return Err(FileError::BadMagic("IVF"));
        }
        let u16le = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32le = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header_len = usize::from(u16le(6));
        if header_len < Self::LEN {
            return Err(FileError::Malformed("IVF header size below 32"));
        }
        Ok((
            Self {
                fourcc: [h[8], h[9], h[10], h[11]],
                width: u16le(12),
                height: u16le(14),
                timebase_den: u32le(16),
                timebase_num: u32le(20),
                frame_count: u32le(24),
            },
            header_len,
        ))
    }

    /// Appends the 32-byte header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"DKIF");
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(Self::LEN as u16).to_le_bytes());
        out.extend_from_slice(&self.fourcc);
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.timebase_den.to_le_bytes());
        out.extend_from_slice(&self.timebase_num.to_le_bytes());
        out.extend_from_slice(&self.frame_count.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }

    /// The codec the fourcc names.
    pub fn codec(&self) -> Option<Codec> {
        match &self.fourcc {
            b"VP80" => Some(Codec::Vp8),
            b"VP90" => Some(Codec::Vp9),
            b"AV01" => Some(Codec::Av1),
            _ => None,
        }
    }
}

/// One frame of an IVF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfFrame<'a> {
    /// Timestamp in time base units.
    pub pts: u64,
    /// The frame.
    pub data: &'a [u8],
}

/// Reads the frames of an IVF file held in memory.
#[derive(Debug, Clone)]
pub struct IvfReader<'a> {
    header: IvfHeader,
    data: &'a [u8],
    pos: usize,
}

impl<'a> IvfReader<'a> {
    /// Reads the header.
    pub fn new(data: &'a [u8]) -> Result<Self, FileError> {
        let (header, len) = IvfHeader::parse(data)?;
        if data.len() < len {
            return Err(FileError::Truncated);
        }
        Ok(Self {
            header,
            data,
            pos: len,
        })
    }

    /// The file header.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }
}

impl<'a> Iterator for IvfReader<'a> {
    type Item = Result<IvfFrame<'a>, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let Some(h) = rest.get(..12) else {
            self.pos = self.data.len();
            return Some(Err(FileError::Truncated));
        };
        let size = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let pts = u64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
        let Some(data) = rest.get(12..12 + size) else {
            self.pos = self.data.len();
            return Some(Err(FileError::Truncated));
        };
        self.pos += 12 + size;
        Some(Ok(IvfFrame { pts, data }))
    }
}

/// Appends a frame with its 12-byte header to `out`.
pub fn write_frame(out: &mut Vec<u8>, pts: u64, frame: &[u8]) {
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(&pts.to_le_bytes());
    out.extend_from_slice(frame);
}
