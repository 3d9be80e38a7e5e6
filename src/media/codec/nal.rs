//! Annex B byte streams (H.264 Annex B, H.265 Annex B): NAL units separated by start codes.

/// Iterates over the NAL units of an Annex B byte stream: split on 3- and 4-byte start codes
/// (`00 00 01`, `00 00 00 01`), trailing zero bytes dropped. Bytes before the first start code
/// are skipped; input with no start code at all is taken as one bare NAL unit. Empty units are
/// skipped.
pub fn nal_units(data: &[u8]) -> NalUnits<'_> {
    let pos = match find_start_code(data, 0) {
        Some((_, after)) => after,
        None => 0,
    };
    NalUnits { data, pos }
}

/// The iterator [`nal_units`] returns.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl NalUnits<'_> {
    /// Offset in the input where the next NAL unit search starts.
    pub fn position(&self) -> usize {
        self.pos
    }
}

/// Finds `00 00 01` at or after `from`: returns (offset of the first 00, offset after the 01).
pub(crate) fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        // Fast path: eight bytes without a zero cannot hold the start of a start code.
        if let Some(chunk) = data.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let has_zero = w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080;
            if has_zero == 0 {
                i += 8;
                continue;
            }
        }
        // Skip quickly: a start code needs data[i+2] == 1 and two zeros before it.
        let b = data[i + 2];
        if b > 1 {
            i += 3;
        } else if b == 1 && data[i] == 0 && data[i + 1] == 0 {
            return Some((i, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.pos >= self.data.len() {
                return None;
            }
            let (end, next) = match find_start_code(self.data, self.pos) {
                Some((s, after)) => (s, after),
                None => (self.data.len(), self.data.len()),
            };
            let mut nal = &self.data[self.pos..end];
            self.pos = next;
            // H.264 §B.2: trailing_zero_8bits (and a 4-byte start code's leading zero) are not
            // part of the NAL unit.
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4,
        ];
        let nals: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
    }

    #[test]
    fn input_without_start_code_is_one_nal() {
        let nals: Vec<&[u8]> = nal_units(&[0x65, 1, 2]).collect();
        assert_eq!(nals, vec![&[0x65, 1, 2][..]]);
    }
}
