//! Any bytes: the Annex B reader splits them into access units within the input, never
//! panics; each unit's NAL units survive the writer, and the keyframe/size reader never panics.
#![no_main]
use kaon::media::codec::{Codec, frame_info, nal_units};
use kaon::media::file::annexb::{AnnexBReader, write_access_unit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for codec in [Codec::H264, Codec::H265] {
        for au in AnnexBReader::for_codec(data, codec) {
            let _ = frame_info(codec, au);
            let mut out = Vec::new();
            write_access_unit(&mut out, au);
            let a: Vec<&[u8]> = nal_units(au).collect();
            let b: Vec<&[u8]> = nal_units(&out).collect();
            assert_eq!(a, b);
        }
    }
});
