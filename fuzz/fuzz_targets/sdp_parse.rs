//! Any bytes, read as lossy UTF-8: `SessionDescription::parse` returns a description or a typed
//! error, never panics. A description that parses writes back to text that parses to the same
//! description, and writing that again gives the same text.
#![no_main]
use kaon::sdp::SessionDescription;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(sdp) = SessionDescription::parse(&text) else {
        return;
    };
    for media in &sdp.media {
        let _ = (
            media.mid(),
            media.ice_credentials(),
            media.setup(),
            sdp.direction_for(media),
        );
        let _ = (
            sdp.fingerprints_for(media).count(),
            media.candidates().count(),
        );
    }
    let _ = sdp.bundle_group();
    let written = sdp.to_string();
    let again = SessionDescription::parse(&written).expect("what we write parses");
    assert_eq!(again, sdp, "write then parse keeps the description");
    assert_eq!(again.to_string(), written, "writing is deterministic");
});
