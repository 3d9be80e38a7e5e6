//! A minimal DER (X.690) writer and a strict reader: definite, minimal lengths only,
//! single-byte tags, every length checked against what remains, nesting bounded by the
//! caller's structure (the reader never recurses on its own).

use super::super::Error;
use crate::dtls::error::DecodeError;
use crate::wire::Reader;

pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
#[cfg(test)]
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTF8_STRING: u8 = 0x0c;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
/// `[0] EXPLICIT`, constructed, context-specific.
pub(crate) const CONTEXT_0: u8 = 0xa0;

/// Appends one TLV.
pub(crate) fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = (len as u32).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(content);
}

/// One TLV as a new vector.
pub(crate) fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    tlv(&mut out, tag, content);
    out
}

/// A SEQUENCE of already-encoded parts.
pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    wrap(SEQUENCE, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes, minimally encoded.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed = match magnitude.iter().position(|&b| b != 0) {
        Some(i) => &magnitude[i..],
        None => &[0][..],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    wrap(INTEGER, &content)
}

/// A BIT STRING with no unused bits.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    wrap(BIT_STRING, &content)
}

/// A strict DER reader over one level of a structure.
#[derive(Debug, Clone)]
pub(crate) struct Der<'a> {
    r: Reader<'a>,
}

impl<'a> Der<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            r: Reader::new(data),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.r.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.r.peek_u8().ok()
    }

    /// Reads any TLV: (tag, content, the whole encoding).
    pub(crate) fn any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), Error> {
        let all = self.r.peek_rest();
        let start = self.r.position();
        let tag = self.r.u8()?;
        if tag & 0x1f == 0x1f {
            return Err(Error::Decode(DecodeError::Malformed("DER high tag number")));
        }
        let first = self.r.u8()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(Error::Decode(DecodeError::Malformed("DER length form")));
            }
            let bytes = self.r.bytes(n)?;
            if bytes[0] == 0 {
                return Err(Error::Decode(DecodeError::Malformed(
                    "DER length not minimal",
                )));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(Error::Decode(DecodeError::Malformed(
                    "DER length not minimal",
                )));
            }
            len
        };
        let content = self.r.bytes(len)?;
        let whole = &all[..self.r.position() - start];
        Ok((tag, content, whole))
    }

    /// Reads a TLV that must have `tag`; returns its content.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<&'a [u8], Error> {
        let (t, content, _) = self.any()?;
        if t != tag {
            return Err(Error::Decode(DecodeError::Malformed("unexpected DER tag")));
        }
        Ok(content)
    }

    /// Reads a TLV that must have `tag`; returns its whole encoding.
    pub(crate) fn expect_whole(&mut self, tag: u8) -> Result<&'a [u8], Error> {
        let (t, _, whole) = self.any()?;
        if t != tag {
            return Err(Error::Decode(DecodeError::Malformed("unexpected DER tag")));
        }
        Ok(whole)
    }

    /// Enters a SEQUENCE.
    pub(crate) fn sequence(&mut self) -> Result<Der<'a>, Error> {
        self.expect(SEQUENCE).map(Der::new)
    }

    /// A BIT STRING's bytes; only whole bytes are accepted.
    pub(crate) fn bit_string(&mut self) -> Result<&'a [u8], Error> {
        let content = self.expect(BIT_STRING)?;
        match content.split_first() {
            Some((0, bits)) => Ok(bits),
            _ => Err(Error::Decode(DecodeError::Malformed(
                "BIT STRING with unused bits",
            ))),
        }
    }

    /// Fails if bytes are left.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.r.is_empty() {
            Ok(())
        } else {
            Err(Error::Decode(DecodeError::Malformed("trailing DER data")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_are_minimal_both_ways() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536] {
            let content = vec![7u8; len];
            let enc = wrap(OCTET_STRING, &content);
            let mut d = Der::new(&enc);
            assert_eq!(d.expect(OCTET_STRING).unwrap(), &content[..]);
            assert!(d.is_empty());
        }
        // Long form for a short length, a leading zero, and the indefinite form are refused.
        for bad in [
            &[4u8, 0x81, 0x05, 0, 0, 0, 0, 0][..],
            &[4, 0x82, 0, 0x80],
            &[4, 0x80, 0, 0],
        ] {
            assert!(Der::new(bad).any().is_err());
        }
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(unsigned_integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0]), vec![2, 1, 0]);
    }

    proptest! {
        #[test]
        fn any_bytes_read_without_panicking(data: Vec<u8>) {
            let mut d = Der::new(&data);
            while let Ok((_, content, _)) = d.any() {
                let _ = Der::new(content).any();
            }
        }
    }
}
