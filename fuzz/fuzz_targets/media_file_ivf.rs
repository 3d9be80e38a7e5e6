//! Any bytes: the IVF reader gives frames or a typed error, never panics; what it reads writes
//! back to bytes that read the same.
#![no_main]
use kaon::media::file::ivf::{IvfReader, write_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = IvfReader::new(data) else {
        return;
    };
    let header = *reader.header();
    let frames: Vec<_> = reader.filter_map(Result::ok).collect();
    let mut out = Vec::new();
    header.write(&mut out);
    for f in &frames {
        write_frame(&mut out, f.pts, f.data);
    }
    let again: Vec<_> = IvfReader::new(&out).unwrap().map(|f| f.unwrap()).collect();
    assert_eq!(again, frames);
});
