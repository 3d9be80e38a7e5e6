//! Any bytes, read as a datagram of DTLS 1.3 records, never panic: both header forms, record
//! number unmasking, sequence reconstruction, AEAD opening, the ACK parser and the parsers of
//! the extension bodies and handshake messages new in 1.3.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kaon::dtls::fuzzing::parse_records13(data);
});
