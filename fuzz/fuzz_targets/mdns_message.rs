//! Any bytes: `mdns::Message::parse` returns a message or a typed error, never panics. A
//! message that parses writes back into exactly `len()` bytes, which parse again with the same
//! header and questions.
#![no_main]
use kaon::mdns::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    for r in message.records() {
        let _ = r.data.nsec_types();
        let _ = r.name.to_string();
    }
    let mut buf = vec![0u8; message.len()];
    let n = message.write(&mut buf).expect("len() is enough");
    assert_eq!(n, message.len());
    let again = Message::parse(&buf[..n]).expect("what we write parses");
    assert_eq!(again.header, message.header);
    assert_eq!(again.questions, message.questions);
});
