//! H.265 (RFC 7798): keyframe detection and the SPS (ITU-T H.265 §7.3.2.2) for the picture
//! size. Packetization lives in `h26x`. DONL fields are not used (sprop-max-don-diff = 0).

use super::FrameInfo;
use super::bits::{BitReader, OutOfBits};
use super::h26x::{Flavor, payload_any_type};
use super::nal::nal_units;

/// An IRAP picture (16..=23) or a VPS/SPS.
pub(super) fn payload_is_keyframe(payload: &[u8]) -> bool {
    payload_any_type(Flavor::H265, payload, |t| {
        (16..=23).contains(&t) || t == 32 || t == 33
    })
}

pub(super) fn frame_info(frame: &[u8]) -> FrameInfo {
    let mut info = FrameInfo::default();
    for nal in nal_units(frame) {
        match Flavor::H265.nal_type(nal) {
            16..=23 => info.keyframe = true,
            33 if info.dimensions.is_none() => info.dimensions = sps_dimensions(nal).ok(),
            _ => {}
        }
    }
    info
}

/// Width and height, after the conformance window, from an SPS NAL unit (header included).
pub(crate) fn sps_dimensions(nal: &[u8]) -> Result<(u32, u32), OutOfBits> {
    let mut r = BitReader::rbsp(nal.get(2..).ok_or(OutOfBits)?);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level(1, sps_max_sub_layers_minus1), H.265 §7.3.3
    r.skip(88)?; // general profile space, tier, idc, compatibility and constraint flags
    r.skip(8)?; // general_level_idc
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        profile_present[i] = r.bit()?;
        level_present[i] = r.bit()?;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?; // reserved_zero_2bits
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    let mut separate = false;
    if chroma_format_idc == 3 {
        separate = r.bit()?;
    }
    let w = u64::from(r.ue()?);
    let h = u64::from(r.ue()?);
    let mut win = [0u64; 4];
    if r.bit()? {
        for c in &mut win {
            *c = u64::from(r.ue()?);
        }
    }
    // H.265 Table 6-1: SubWidthC and SubHeightC.
    let (sx, sy) = match (chroma_format_idc, separate) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    };
    let w = w.saturating_sub(sx * (win[0] + win[1]));
    let h = h.saturating_sub(sy * (win[2] + win[3]));
    Ok((
        u32::try_from(w).map_err(|_| OutOfBits)?,
        u32::try_from(h).map_err(|_| OutOfBits)?,
    ))
}
