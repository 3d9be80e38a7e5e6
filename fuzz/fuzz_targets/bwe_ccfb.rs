//! RFC 8888 feedback both ways on arbitrary input: arbitrary sent and received (SSRC, sequence)
//! pairs and arrival gaps (every report builds, parses back equal and fits its budget), and
//! arbitrary RTCP taken as feedback by the sender (the receive path of congestion control
//! feedback). The driver is shared with `tests/media_bwe_ccfb_props.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

include!("../../tests/bwe_support/ccfb_driver.rs");

fuzz_target!(|data: &[u8]| drive_ccfb(data));
