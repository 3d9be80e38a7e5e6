//! Media files as pure parsers and writers over bytes (no file I/O: read the file yourself).
//!
//! - [`ivf`]: the IVF container of libvpx/libaom (VP8, VP9, AV1): a 32-byte header and
//!   12-byte frame headers.
//! - [`ogg`]: Ogg (RFC 3533) carrying Opus (RFC 7845): pages with CRC, OpusHead, OpusTags,
//!   granule positions at 48 kHz and pre-skip.
//! - [`annexb`]: H.264/H.265 Annex B byte streams, split into NAL units and access units.
//!
//! ```
//! use kaon::media::file::ivf::{IvfHeader, IvfReader, write_frame};
//! let header = IvfHeader { fourcc: *b"VP80", width: 320, height: 240, timebase_den: 30,
//!                          timebase_num: 1, frame_count: 1 };
//! let mut file = Vec::new();
//! header.write(&mut file);
//! write_frame(&mut file, 0, &[0x10, 0x02, 0x00]);
//! let mut reader = IvfReader::new(&file)?;
//! assert_eq!(reader.header().width, 320);
//! assert_eq!(reader.next().unwrap()?.data, &[0x10, 0x02, 0x00]);
//! # Ok::<(), kaon::media::file::FileError>(())
//! ```

pub mod annexb;
pub mod ivf;
pub mod ogg;

/// A file that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The data ended inside a header or a frame.
    #[error("file truncated")]
    Truncated,
    /// The magic number or signature is not the expected one.
    #[error("not a {0} file")]
    BadMagic(&'static str),
    /// A field holds a value the format forbids.
    #[error("malformed file: {0}")]
    Malformed(&'static str),
    /// An Ogg page's CRC does not match its contents.
    #[error("Ogg page CRC mismatch")]
    BadCrc,
}
