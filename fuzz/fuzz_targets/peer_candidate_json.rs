//! The trickled-candidate JSON reader is total, and whatever it reads writes back to the same
//! value.
#![no_main]
use kaon::peer::IceCandidate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = IceCandidate::from_json(&text) {
        let written = c.to_json();
        assert_eq!(IceCandidate::from_json(&written).as_ref(), Ok(&c), "{written}");
    }
    let _ = IceCandidate::from_line(&text).to_json();
});
