use super::Error;

/// A bounds-checked cursor over a byte slice; every read of too few bytes is a typed error.
///
/// Integers are big-endian (network order). Slices returned borrow from the input, so parsing
/// copies nothing.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes and returns every unread byte.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    /// Consumes and returns the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(Error::UnexpectedEnd {
                needed: n,
                remaining,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Error> {
        self.bytes(n).map(|_| ())
    }

    /// A reader over the next `n` bytes, which are consumed from this one.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, Error> {
        self.bytes(n).map(Reader::new)
    }

    /// The next byte, without consuming it.
    pub fn peek_u8(&self) -> Result<u8, Error> {
        self.buf.get(self.pos).copied().ok_or(Error::UnexpectedEnd {
            needed: 1,
            remaining: 0,
        })
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, Error> {
        self.array().map(u16::from_be_bytes)
    }

    /// Reads a big-endian 24-bit integer.
    pub fn u24(&mut self) -> Result<u32, Error> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, Error> {
        self.array().map(u32::from_be_bytes)
    }

    /// Reads a big-endian 48-bit integer (DTLS record sequence numbers).
    pub fn u48(&mut self) -> Result<u64, Error> {
        let [a, b, c, d, e, f] = self.array()?;
        Ok(u64::from_be_bytes([0, 0, a, b, c, d, e, f]))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, Error> {
        self.array().map(u64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_big_endian_integers() {
        let data = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
        ];
        let mut r = Reader::new(&data);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0x0203);
        assert_eq!(r.u24().unwrap(), 0x040506);
        assert_eq!(r.u32().unwrap(), 0x0708090a);
        assert_eq!(r.u48().unwrap(), 0x0b0c0d0e0f10);
        assert_eq!(r.position(), 16);
        assert_eq!(r.rest(), &[17, 18, 19, 20, 21]);
        assert!(r.is_empty());
    }

    #[test]
    fn short_input_is_a_typed_error_and_consumes_nothing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32(),
            Err(Error::UnexpectedEnd {
                needed: 4,
                remaining: 3
            })
        );
        assert_eq!(r.position(), 0);
        assert_eq!(r.u24().unwrap(), 0x010203);
        assert!(r.peek_u8().is_err());
    }

    #[test]
    fn sub_reader_is_bounded() {
        let mut r = Reader::new(&[0, 2, 0xaa, 0xbb, 0xcc]);
        let len = r.u16().unwrap() as usize;
        let mut sub = r.sub(len).unwrap();
        assert_eq!(sub.u16().unwrap(), 0xaabb);
        assert!(sub.u8().is_err());
        assert_eq!(r.u8().unwrap(), 0xcc);
    }

    proptest! {
        #[test]
        fn any_sequence_of_reads_never_panics(data: Vec<u8>, ops: Vec<u8>) {
            let mut r = Reader::new(&data);
            for op in ops {
                let _ = match op % 9 {
                    0 => r.u8().map(u64::from),
                    1 => r.u16().map(u64::from),
                    2 => r.u24().map(u64::from),
                    3 => r.u32().map(u64::from),
                    4 => r.u48(),
                    5 => r.u64(),
                    6 => r.bytes(op as usize).map(|b| b.len() as u64),
                    7 => r.sub(op as usize / 3).map(|s| s.remaining() as u64),
                    _ => r.skip(op as usize / 7).map(|_| 0),
                };
                prop_assert!(r.position() <= data.len());
            }
        }
    }
}
