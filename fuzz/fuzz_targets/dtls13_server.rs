//! The DTLS 1.3 server's receive path; see `dtls13_common.rs` for how the input is used.
#![no_main]
#[path = "dtls13_common.rs"]
mod dtls13_common;

use kaon::dtls::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dtls13_common::run(Role::Server, data));
