//! H.264 (RFC 6184): keyframe detection and the SPS (ITU-T H.264 §7.3.2.1.1) for the picture
//! size. Packetization lives in `h26x`.

use super::FrameInfo;
use super::bits::{BitReader, OutOfBits};
use super::h26x::{Flavor, payload_any_type};
use super::nal::nal_units;

/// An IDR slice (5) or an SPS (7): what a decoder can start from.
pub(super) fn payload_is_keyframe(payload: &[u8]) -> bool {
    payload_any_type(Flavor::H264, payload, |t| t == 5 || t == 7)
}

pub(super) fn frame_info(frame: &[u8]) -> FrameInfo {
    let mut info = FrameInfo::default();
    for nal in nal_units(frame) {
        match nal[0] & 0x1f {
            5 => info.keyframe = true,
            7 if info.dimensions.is_none() => info.dimensions = sps_dimensions(nal).ok(),
            _ => {}
        }
    }
    info
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: u32) -> Result<(), OutOfBits> {
    // H.264 §7.3.2.1.1.1 scaling_list()
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Width and height, after the frame cropping window, from an SPS NAL unit (header included).
pub(crate) fn sps_dimensions(nal: &[u8]) -> Result<(u32, u32), OutOfBits> {
    let mut r = BitReader::rbsp(nal.get(1..).ok_or(OutOfBits)?);
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc != 3 { 8 } else { 12 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(OutOfBits);
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let mut crop = [0u64; 4];
    if r.bit()? {
        for c in &mut crop {
            *c = u64::from(r.ue()?);
        }
    }
    // H.264 §7.4.2.1.1: crop units depend on ChromaArrayType and frame_mbs_only_flag.
    let field = 2 - u64::from(frame_mbs_only);
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (unit_x, unit_y) = match chroma_array_type {
        0 => (1, field),
        1 => (2, 2 * field),
        2 => (2, field),
        _ => (1, field),
    };
    let w = (width_mbs * 16).saturating_sub(unit_x * (crop[0] + crop[1]));
    let h = (field * height_map_units * 16).saturating_sub(unit_y * (crop[2] + crop[3]));
    Ok((
        u32::try_from(w).map_err(|_| OutOfBits)?,
        u32::try_from(h).map_err(|_| OutOfBits)?,
    ))
}
