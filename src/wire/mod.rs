//! Byte-level helpers shared by every protocol layer.
//!
//! - [`Reader`] and [`Writer`]: bounds-checked cursors over byte slices. Reading past the end or
//!   writing past the buffer gives [`Error`], never a panic.
//! - [`serial`]: RFC 1982 serial-number arithmetic for 16- and 32-bit counters (RTP sequence
//!   numbers, SCTP TSNs and SSNs).
//! - [`crc32`] (STUN FINGERPRINT, RFC 8489 §14.7), [`crc32c`] (SCTP, RFC 9260 Appendix A) and
//!   [`crc32_ogg`] (Ogg pages, RFC 3533 §6).
//! - [`ReplayWindow`]: the sliding anti-replay window of RFC 6347 §4.1.2.6 and RFC 3711 §3.3.2.
//! - [`md5`]: RFC 1321, needed by TURN long-term credentials (RFC 8489 §9.2.2); aws-lc-rs has no
//!   MD5.
//!
//! ```
//! use kaon::wire::{Reader, Writer};
//! let mut buf = [0u8; 6];
//! let mut w = Writer::new(&mut buf);
//! w.u16(0x0001)?;
//! w.u32(0x2112_a442)?;
//! let mut r = Reader::new(&buf);
//! assert_eq!(r.u16()?, 1);
//! assert_eq!(r.u32()?, 0x2112_a442);
//! assert!(r.u8().is_err()); // past the end: a typed error
//! # Ok::<(), kaon::wire::Error>(())
//! ```

mod crc;
pub mod md5;
mod reader;
mod replay;
pub mod serial;
mod writer;

pub use crc::{crc32, crc32_ogg, crc32_ogg_update, crc32c, crc32c_parts};
pub use reader::Reader;
pub use replay::{Replay, ReplayWindow};
pub use writer::Writer;

/// A byte-level read or write went out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended before a field did.
    #[error("input ended early: needed {needed} bytes, {remaining} remained")]
    UnexpectedEnd {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The output buffer is too small for what is being written.
    #[error("buffer too small: needed {needed} bytes, {remaining} remained")]
    BufferTooSmall {
        /// Bytes the write needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
}
