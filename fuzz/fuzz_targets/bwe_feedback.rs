//! The congestion controller, the pacer and the feedback recorder fed arbitrary send
//! sequences and arbitrary feedback (sequence numbers, losses, arrival times on any clock):
//! never a panic, and memory stays bounded. The driver is shared with `tests/bwe_props.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

include!("../../tests/bwe_support/driver.rs");

fuzz_target!(|data: &[u8]| drive(data));
