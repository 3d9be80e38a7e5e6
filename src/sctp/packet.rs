//! The SCTP common header (RFC 9260 §3.1), the checksum (Appendix A; RFC 9653 for zero), and a
//! writer that bundles chunks into one packet.

use super::Error;
use super::chunk::Chunk;
use crate::wire::{Reader, Writer, crc32c, crc32c_parts};

/// Size of the common header.
pub const HEADER_LEN: usize = 12;
/// Offset of the checksum in the common header.
const CHECKSUM_AT: usize = 8;

/// The common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Verification tag.
    pub vtag: u32,
}

/// A parsed packet: the header and its chunks, still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The common header.
    pub header: Header,
    /// The checksum as sent (0 under RFC 9653).
    pub checksum: u32,
    chunks: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Splits `bytes` into header and chunks. Does not check the checksum: see
    /// [`checksum_ok`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let header = Header {
            src_port: r.u16()?,
            dst_port: r.u16()?,
            vtag: r.u32()?,
        };
        let checksum = u32::from_le_bytes(r.array()?);
        Ok(Self {
            header,
            checksum,
            chunks: r.rest(),
        })
    }

    /// The chunks, parsed one at a time.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks(Reader::new(self.chunks))
    }
}

/// Whether the packet's CRC32c is correct. It is computed with the checksum field read as
/// zero (RFC 9260 Appendix A), over the packet in place: nothing is copied. `scratch` is no
/// longer used and is kept for the callers' signature.
pub fn checksum_ok(bytes: &[u8], scratch: &mut Vec<u8>) -> bool {
    let _ = scratch;
    if bytes.len() < HEADER_LEN {
        return false;
    }
    let stored = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    crc32c_parts(&[&bytes[..CHECKSUM_AT], &[0; 4], &bytes[CHECKSUM_AT + 4..]]) == stored
}

/// Iterates over a packet's chunks, stopping after the first malformed one.
#[derive(Debug, Clone)]
pub struct Chunks<'a>(Reader<'a>);

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<Chunk<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let c = Chunk::read(&mut self.0);
        if c.is_err() {
            self.0.rest();
        }
        Some(c)
    }
}

/// Builds one packet in a caller's buffer: the header, then as many chunks as fit.
#[derive(Debug)]
pub struct PacketWriter<'a> {
    w: Writer<'a>,
    chunks: usize,
}

impl<'a> PacketWriter<'a> {
    /// Starts a packet in `buf`, which must hold at least the header.
    pub fn new(buf: &'a mut [u8], header: Header) -> Result<Self, Error> {
        let mut w = Writer::new(buf);
        w.u16(header.src_port)?;
        w.u16(header.dst_port)?;
        w.u32(header.vtag)?;
        w.u32(0)?;
        Ok(Self { w, chunks: 0 })
    }

    /// Room left for chunks.
    pub fn remaining(&self) -> usize {
        self.w.remaining()
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.w.position()
    }

    /// Whether no chunk has been added.
    pub fn is_empty(&self) -> bool {
        self.chunks == 0
    }

    /// Appends `chunk` if it fits; returns whether it did.
    pub fn push(&mut self, chunk: &Chunk<'_>) -> bool {
        if chunk.encoded_len() > self.w.remaining() {
            return false;
        }
        let ok = chunk.write(&mut self.w).is_ok();
        self.chunks += usize::from(ok);
        ok
    }

    /// Direct access for chunks written in place (a SACK built from receive state).
    pub fn writer(&mut self) -> &mut Writer<'a> {
        &mut self.w
    }

    /// Counts a chunk written through [`writer`](Self::writer).
    pub fn count_chunk(&mut self) {
        self.chunks += 1;
    }

    /// Finishes the packet: writes the CRC32c, or leaves zero when `zero_checksum` (RFC 9653),
    /// and returns its length.
    pub fn finish(mut self, zero_checksum: bool) -> usize {
        let len = self.w.position();
        if !zero_checksum {
            let crc = crc32c(self.w.written());
            self.w.written_mut()[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn written_packet_parses_and_verifies() {
        let mut buf = [0u8; 64];
        let h = Header {
            src_port: 5000,
            dst_port: 5001,
            vtag: 0xdead_beef,
        };
        let mut p = PacketWriter::new(&mut buf, h).unwrap();
        assert!(p.push(&Chunk::CookieAck));
        assert!(p.push(&Chunk::Shutdown { cum_tsn: 9 }));
        let n = p.finish(false);
        let mut scratch = Vec::new();
        assert!(checksum_ok(&buf[..n], &mut scratch));
        let pkt = Packet::parse(&buf[..n]).unwrap();
        assert_eq!(pkt.header, h);
        let chunks: Vec<_> = pkt.chunks().map(Result::unwrap).collect();
        assert_eq!(
            chunks,
            vec![Chunk::CookieAck, Chunk::Shutdown { cum_tsn: 9 }]
        );
        buf[20] ^= 1;
        assert!(!checksum_ok(&buf[..n], &mut scratch));
    }

    #[test]
    fn checksum_bytes_are_little_endian_on_the_wire() {
        // RFC 9260 Appendix A: the CRC's least significant byte goes first. A COOKIE ACK
        // from port 5000 to 5000 with tag 1, checksum computed independently bit by bit.
        let mut buf = [0u8; 16];
        let h = Header {
            src_port: 5000,
            dst_port: 5000,
            vtag: 1,
        };
        let mut p = PacketWriter::new(&mut buf, h).unwrap();
        p.push(&Chunk::CookieAck);
        let n = p.finish(false);
        let mut zeroed = buf;
        zeroed[8..12].fill(0);
        let mut crc = !0u32;
        for &b in &zeroed[..n] {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        assert_eq!(buf[8..12], (!crc).to_le_bytes());
    }

    #[test]
    fn chunk_that_does_not_fit_is_refused() {
        let mut buf = [0u8; 18];
        let mut p = PacketWriter::new(
            &mut buf,
            Header {
                src_port: 1,
                dst_port: 2,
                vtag: 3,
            },
        )
        .unwrap();
        assert!(p.push(&Chunk::CookieAck));
        assert!(!p.push(&Chunk::Shutdown { cum_tsn: 1 }));
        assert_eq!(p.finish(true), 16);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data: Vec<u8>) {
            let mut scratch = Vec::new();
            let _ = checksum_ok(&data, &mut scratch);
            if let Ok(p) = Packet::parse(&data) {
                for c in p.chunks() {
                    let _ = c;
                }
            }
        }
    }
}
