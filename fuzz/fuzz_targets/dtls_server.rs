//! The DTLS server's receive path; see `dtls_common.rs` for how the input is used.
#![no_main]
#[path = "dtls_common.rs"]
mod dtls_common;

use kaon::dtls::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dtls_common::run(Role::Server, data));
