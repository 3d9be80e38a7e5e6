use super::Error;

/// A bounds-checked cursor that writes into a caller's byte slice.
///
/// Integers are written big-endian. A write that does not fit returns
/// [`Error::BufferTooSmall`] and writes nothing.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer positioned at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Room left in the buffer.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// The bytes written so far, mutable (to patch lengths or compute checksums in place).
    pub fn written_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.pos]
    }

    /// Reserves the next `n` bytes and returns them for the caller to fill.
    pub fn reserve(&mut self, n: usize) -> Result<&mut [u8], Error> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(Error::BufferTooSmall {
                needed: n,
                remaining,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&mut self.buf[start..start + n])
    }

    /// Writes `bytes`.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.reserve(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Writes `n` zero bytes (padding).
    pub fn zeros(&mut self, n: usize) -> Result<(), Error> {
        self.reserve(n)?.fill(0);
        Ok(())
    }

    /// Writes a `u8`.
    pub fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.bytes(&[v])
    }

    /// Writes a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes())
    }

    /// Writes the low 24 bits of `v`, big-endian.
    pub fn u24(&mut self, v: u32) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes()[1..])
    }

    /// Writes a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes())
    }

    /// Writes the low 48 bits of `v`, big-endian.
    pub fn u48(&mut self, v: u64) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes()[2..])
    }

    /// Writes a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes())
    }

    /// Overwrites an already written big-endian `u16` at `at` (a length field, say).
    pub fn patch_u16(&mut self, at: usize, v: u16) -> Result<(), Error> {
        let slot = self
            .buf
            .get_mut(at..at + 2)
            .filter(|_| at + 2 <= self.pos)
            .ok_or(Error::BufferTooSmall {
                needed: at + 2,
                remaining: self.pos,
            })?;
        slot.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reader;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overflow_is_a_typed_error_and_writes_nothing() {
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        w.u16(0xabcd).unwrap();
        assert_eq!(
            w.u16(1),
            Err(Error::BufferTooSmall {
                needed: 2,
                remaining: 1
            })
        );
        assert_eq!(w.position(), 2);
        w.u8(0xef).unwrap();
        assert_eq!(buf, [0xab, 0xcd, 0xef]);
    }

    #[test]
    fn patch_only_touches_written_bytes() {
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        w.u32(0).unwrap();
        w.patch_u16(2, 0x1234).unwrap();
        assert!(w.patch_u16(3, 1).is_err());
        assert_eq!(w.written(), &[0, 0, 0x12, 0x34]);
    }

    proptest! {
        #[test]
        fn write_then_read_round_trips(a: u8, b: u16, c in 0u32..1 << 24, d: u32, e in 0u64..1 << 48, f: u64, tail: Vec<u8>) {
            let mut buf = vec![0u8; 24 + tail.len()];
            let mut w = Writer::new(&mut buf);
            w.u8(a).unwrap();
            w.u16(b).unwrap();
            w.u24(c).unwrap();
            w.u32(d).unwrap();
            w.u48(e).unwrap();
            w.u64(f).unwrap();
            w.bytes(&tail).unwrap();
            let n = w.position();
            let mut r = Reader::new(&buf[..n]);
            prop_assert_eq!(r.u8().unwrap(), a);
            prop_assert_eq!(r.u16().unwrap(), b);
            prop_assert_eq!(r.u24().unwrap(), c);
            prop_assert_eq!(r.u32().unwrap(), d);
            prop_assert_eq!(r.u48().unwrap(), e);
            prop_assert_eq!(r.u64().unwrap(), f);
            prop_assert_eq!(r.rest(), &tail[..]);
        }
    }
}
