//! H.264 and H.265 Annex B byte streams: NAL units after 3- or 4-byte start codes, grouped
//! into access units (H.264 §7.4.1.2.3, H.265 §7.4.2.4.4).

use crate::media::codec::{Codec, nal_units};

/// Splits an Annex B stream into access units: each item is a slice of the input, start codes
/// included, from the first NAL unit of the access unit to the end of its last.
#[derive(Debug, Clone)]
pub struct AnnexBReader<'a> {
    data: &'a [u8],
    hevc: bool,
    nals: std::iter::Peekable<crate::media::codec::nal::NalUnits<'a>>,
}

impl<'a> AnnexBReader<'a> {
    /// A reader for an H.264 (`hevc = false`) or H.265 (`hevc = true`) stream.
    pub fn new(data: &'a [u8], hevc: bool) -> Self {
        Self {
            data,
            hevc,
            nals: nal_units(data).peekable(),
        }
    }

    /// A reader for `codec`'s stream (anything but H.265 is read as H.264).
    pub fn for_codec(data: &'a [u8], codec: Codec) -> Self {
        Self::new(data, codec == Codec::H265)
    }

    fn offset(&self, nal: &[u8]) -> usize {
        nal.as_ptr() as usize - self.data.as_ptr() as usize
    }

    /// Whether `nal` is a VCL NAL unit, and whether it opens a new picture.
    fn classify(&self, nal: &[u8]) -> (bool, bool) {
        if self.hevc {
            let t = (nal[0] >> 1) & 0x3f;
            // H.265 §7.4.2.4.4: types 0..=31 are VCL; first_slice_segment_in_pic_flag is the
            // first bit after the 2-byte header.
            let vcl = t <= 31;
            (vcl, vcl && nal.get(2).is_some_and(|b| b & 0x80 != 0))
        } else {
            let t = nal[0] & 0x1f;
            // H.264 §7.4.1.2.4: first_mb_in_slice is ue(v); it is 0 exactly when the first bit
            // is 1.
            let vcl = (1..=5).contains(&t);
            (vcl, vcl && nal.get(1).is_some_and(|b| b & 0x80 != 0))
        }
    }

    /// Whether a non-VCL NAL unit can only come before the VCL units of an access unit.
    fn opens_unit(&self, nal: &[u8]) -> bool {
        if self.hevc {
            // AUD, VPS, SPS, PPS, prefix SEI, 41..=44, 48..=55 (H.265 §7.4.2.4.4).
            let t = (nal[0] >> 1) & 0x3f;
            matches!(t, 32..=35 | 39 | 41..=44 | 48..=55)
        } else {
            // SEI, SPS, PPS, AUD, 14..=18 (H.264 §7.4.1.2.3).
            let t = nal[0] & 0x1f;
            matches!(t, 6..=9 | 14..=18)
        }
    }
}

impl<'a> Iterator for AnnexBReader<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let first = self.nals.next()?;
        let mut start = self.offset(first);
        // Include the start code in front of the first NAL unit.
        if start >= 3 {
            start -= 3;
            if start > 0 && self.data[start - 1] == 0 {
                start -= 1;
            }
        }
        let mut end = self.offset(first) + first.len();
        let (vcl, _) = self.classify(first);
        let mut seen_vcl = vcl;
        while let Some(&nal) = self.nals.peek() {
            let (vcl, new_picture) = self.classify(nal);
            if seen_vcl && (new_picture || self.opens_unit(nal)) {
                break;
            }
            seen_vcl |= vcl;
            end = self.offset(nal) + nal.len();
            self.nals.next();
        }
        Some(&self.data[start..end])
    }
}

/// Appends a NAL unit with a 4-byte start code.
pub fn write_nal(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(nal);
}

/// Appends an access unit given in Annex B form (as the depacketizer and this reader give it),
/// normalising every start code to 4 bytes.
pub fn write_access_unit(out: &mut Vec<u8>, access_unit: &[u8]) {
    for nal in nal_units(access_unit) {
        write_nal(out, nal);
    }
}
