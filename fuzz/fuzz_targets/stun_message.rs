//! Any bytes: `Message::parse` returns a message or a typed error, never panics. A message that
//! parses re-writes, signs with a fixed key, re-parses with the same attributes and verifies;
//! integrity and fingerprint checks on the original bytes never panic either.
#![no_main]
use kaon::stun::{Key, Message, is_stun};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_stun(data);
    let Ok(message) = Message::parse(data) else { return };
    let key = Key::short_term("fuzz-password");
    let _ = message.verify(&key);
    let _ = message.verify_fingerprint();
    let _ = message.unknown_comprehension_required();
    let _ = (message.xor_mapped_address(), message.username(), message.error_code());
    let mut buf = vec![0u8; message.encoded_len(Some(&key), true)];
    let Ok(len) = message.write(&mut buf, Some(&key), true) else { return };
    let again = Message::parse(&buf[..len]).expect("what we write parses");
    again.verify(&key).expect("what we sign verifies");
    again.verify_fingerprint().expect("what we fingerprint checks");
    assert_eq!(carried(&again), carried(&message), "re-writing keeps every other attribute");
});

/// The attributes other than MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT, which `write`
/// computes afresh instead of copying.
fn carried<'a>(message: &'a Message<'_>) -> Vec<u16> {
    use kaon::stun::attr_type::{FINGERPRINT, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256};
    let computed = [MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256, FINGERPRINT];
    message.attributes().iter().map(|a| a.typ()).filter(|t| !computed.contains(t)).collect()
}
