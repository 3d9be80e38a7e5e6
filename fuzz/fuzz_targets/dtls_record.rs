//! Any bytes, read as a datagram of DTLS records, never panic: record headers, handshake
//! fragments, reassembly, every handshake message parser and the certificate reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kaon::dtls::fuzzing::parse_records(data);
    kaon::dtls::fuzzing::parse_message(data);
});
