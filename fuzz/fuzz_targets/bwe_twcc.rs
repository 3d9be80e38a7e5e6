//! TWCC both ways on arbitrary input: arbitrary sent and received transport-wide numbers and
//! arrival gaps (every report encodes, parses back equal and fits a datagram), and arbitrary
//! RTCP taken as feedback by the sender. The driver is shared with `tests/bwe_twcc_props.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

include!("../../tests/bwe_support/twcc_driver.rs");

fuzz_target!(|data: &[u8]| drive_twcc(data));
