//! A bit reader for codec headers: MSB-first fixed-width fields, exp-Golomb codes (H.264 and
//! H.265 §9.2), AV1 `uvlc` and `leb128`, with optional removal of emulation prevention bytes
//! (H.264 §7.4.1: `00 00 03` inside a NAL unit stands for `00 00`).

/// Reading ran past the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfBits;

pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    byte: usize,
    bit: u8,
    /// Skip emulation prevention bytes (H.264/H.265 RBSP extraction).
    rbsp: bool,
    zeros: u8,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            byte: 0,
            bit: 0,
            rbsp: false,
            zeros: 0,
        }
    }

    /// A reader over a NAL unit's payload that drops emulation prevention bytes.
    pub(crate) fn rbsp(data: &'a [u8]) -> Self {
        Self {
            rbsp: true,
            ..Self::new(data)
        }
    }

    fn current(&mut self) -> Result<u8, OutOfBits> {
        if self.bit == 0 && self.rbsp {
            // H.264 §7.4.1: emulation_prevention_three_byte follows two zero bytes.
            if self.zeros >= 2 && self.data.get(self.byte) == Some(&3) {
                self.byte += 1;
                self.zeros = 0;
            }
        }
        self.data.get(self.byte).copied().ok_or(OutOfBits)
    }

    pub(crate) fn bit(&mut self) -> Result<bool, OutOfBits> {
        let b = self.current()?;
        let v = (b >> (7 - self.bit)) & 1 == 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.byte += 1;
            self.zeros = if b == 0 {
                self.zeros.saturating_add(1)
            } else {
                0
            };
        }
        Ok(v)
    }

    /// `n` bits (at most 32), most significant first.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, OutOfBits> {
        let mut v = 0u32;
        for _ in 0..n.min(32) {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Ok(v)
    }

    pub(crate) fn skip(&mut self, n: u32) -> Result<(), OutOfBits> {
        for _ in 0..n {
            self.bit()?;
        }
        Ok(())
    }

    /// Unsigned exp-Golomb, `ue(v)`. Values past 32 bits are refused.
    pub(crate) fn ue(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(OutOfBits);
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// Signed exp-Golomb, `se(v)`.
    pub(crate) fn se(&mut self) -> Result<i32, OutOfBits> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }

    /// AV1 §4.10.3 `uvlc()`.
    pub(crate) fn uvlc(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros >= 32 {
                return Ok(u32::MAX);
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }
}

/// AV1 §4.10.5 `leb128()`: returns the value and the bytes it took. At most 8 bytes; a value past
/// `u32::MAX` is refused (no OBU is that large).
pub(crate) fn read_leb128(data: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for i in 0..8 {
        let b = *data.get(i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value).ok().map(|v| (v as usize, i + 1));
        }
    }
    None
}

/// Bytes `write_leb128` needs for `value`.
pub(crate) fn leb128_len(mut value: usize) -> usize {
    let mut n = 1;
    while value >= 0x80 {
        value >>= 7;
        n += 1;
    }
    n
}

/// Writes `value` as leb128 into `out`, returning the bytes written; `out` must be long enough.
pub(crate) fn write_leb128(mut value: usize, out: &mut [u8]) -> usize {
    let mut i = 0;
    loop {
        let b = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_reads_table_9_2_codes() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3; then se: 010 -> +1, 011 -> -1.
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0100, 0b1100_0000]);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!(r.ue(), Ok(1));
        assert_eq!(r.ue(), Ok(2));
        assert_eq!(r.ue(), Ok(3));
        assert_eq!(r.se(), Ok(1));
        assert_eq!(r.se(), Ok(-1));
    }

    #[test]
    fn emulation_prevention_bytes_are_skipped() {
        let mut r = BitReader::rbsp(&[0, 0, 3, 1]);
        assert_eq!(r.bits(24), Ok(1));
    }

    #[test]
    fn leb128_round_trips() {
        for v in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 28] {
            let mut b = [0u8; 10];
            let n = write_leb128(v, &mut b);
            assert_eq!(n, leb128_len(v));
            assert_eq!(read_leb128(&b[..n]), Some((v, n)));
        }
    }
}
