//! The SDP candidate parser is total, and whatever it accepts writes back to the same value.
#![no_main]
use kaon::ice::Candidate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Candidate::parse(&text) {
        let written = c.to_string();
        assert_eq!(Candidate::parse(&written).as_ref(), Ok(&c), "{written}");
    }
});
