//! RFC 5769 test vectors, typed in from the RFC's hex dumps.
//!
//! Each vector is parsed, its MESSAGE-INTEGRITY and FINGERPRINT are verified, and it is
//! re-written byte for byte. The RFC pads with spaces (0x20) in §2.1-2.3 and with zeros in
//! §2.4; receivers ignore padding (RFC 8489 §14), and [`Message::write_padded`] reproduces
//! either. Verification passing on the typed-in bytes is itself a check that they were typed
//! correctly: one wrong byte anywhere breaks the HMAC or the CRC.

use std::net::SocketAddr;

use crate::stun::{Attribute, Class, Integrity, Key, Message, Method, TransactionId};

/// RFC 5769 §2.1: sample request, short-term credentials.
const REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x10, // SOFTWARE attribute header
    0x53, 0x54, 0x55, 0x4e, // }
    0x20, 0x74, 0x65, 0x73, // }  User-agent...
    0x74, 0x20, 0x63, 0x6c, // }  ...name
    0x69, 0x65, 0x6e, 0x74, // }
    0x00, 0x24, 0x00, 0x04, // PRIORITY attribute header
    0x6e, 0x00, 0x01, 0xff, // ICE priority value
    0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED attribute header
    0x93, 0x2f, 0xf9, 0xb1, // }  Pseudo-random tie breaker...
    0x51, 0x26, 0x3b, 0x36, // }   ...for ICE control
    0x00, 0x06, 0x00, 0x09, // USERNAME attribute header
    0x65, 0x76, 0x74, 0x6a, // }
    0x3a, 0x68, 0x36, 0x76, // }  Username (9 bytes) and padding (3 bytes)
    0x59, 0x20, 0x20, 0x20, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x9a, 0xea, 0xa7, 0x0c, // }
    0xbf, 0xd8, 0xcb, 0x56, // }
    0x78, 0x1e, 0xf2, 0xb5, // }  HMAC-SHA1 fingerprint
    0xb2, 0xd3, 0xf2, 0x49, // }
    0xc1, 0xb5, 0x71, 0xa2, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xe5, 0x7a, 0x3b, 0xcf, // CRC32 fingerprint
];

/// RFC 5769 §2.2: sample IPv4 response.
const RESPONSE_V4: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // }
    0x20, 0x76, 0x65, 0x63, // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20, // }
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x01, 0xa1, 0x47, // Address family (IPv4) and xor'd mapped port number
    0xe1, 0x12, 0xa6, 0x43, // Xor'd mapped IPv4 address
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x2b, 0x91, 0xf5, 0x99, // }
    0xfd, 0x9e, 0x90, 0xc3, // }
    0x8c, 0x74, 0x89, 0xf9, // }  HMAC-SHA1 fingerprint
    0x2a, 0xf9, 0xba, 0x53, // }
    0xf0, 0x6b, 0xe7, 0xd7, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc0, 0x7d, 0x4c, 0x96, // CRC32 fingerprint
];

/// RFC 5769 §2.3: sample IPv6 response.
const RESPONSE_V6: [u8; 92] = [
    0x01, 0x01, 0x00, 0x48, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // }
    0x20, 0x76, 0x65, 0x63, // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20, // }
    0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x02, 0xa1, 0x47, // Address family (IPv6) and xor'd mapped port number
    0x01, 0x13, 0xa9, 0xfa, // }
    0xa5, 0xd3, 0xf1, 0x79, // }  Xor'd mapped IPv6 address
    0xbc, 0x25, 0xf4, 0xb5, // }
    0xbe, 0xd2, 0xb9, 0xd9, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xa3, 0x82, 0x95, 0x4e, // }
    0x4b, 0xe6, 0x7b, 0xf1, // }
    0x17, 0x84, 0xc9, 0x7c, // }  HMAC-SHA1 fingerprint
    0x82, 0x92, 0xc2, 0x75, // }
    0xbf, 0xe3, 0xed, 0x41, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc8, 0xfb, 0x0b, 0x4c, // CRC32 fingerprint
];

/// RFC 5769 §2.4: sample request with long-term authentication (no FINGERPRINT).
const REQUEST_LONG_TERM: [u8; 116] = [
    0x00, 0x01, 0x00, 0x60, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0x78, 0xad, 0x34, 0x33, // }
    0xc6, 0xad, 0x72, 0xc0, // }  Transaction ID
    0x29, 0xda, 0x41, 0x2e, // }
    0x00, 0x06, 0x00, 0x12, // USERNAME attribute header
    0xe3, 0x83, 0x9e, 0xe3, // }
    0x83, 0x88, 0xe3, 0x83, // }
    0xaa, 0xe3, 0x83, 0x83, // }  Username value (18 bytes) and padding (2 bytes)
    0xe3, 0x82, 0xaf, 0xe3, // }
    0x82, 0xb9, 0x00, 0x00, // }
    0x00, 0x15, 0x00, 0x1c, // NONCE attribute header
    0x66, 0x2f, 0x2f, 0x34, // }
    0x39, 0x39, 0x6b, 0x39, // }
    0x35, 0x34, 0x64, 0x36, // }
    0x4f, 0x4c, 0x33, 0x34, // }  Nonce value
    0x6f, 0x4c, 0x39, 0x46, // }
    0x53, 0x54, 0x76, 0x79, // }
    0x36, 0x34, 0x73, 0x41, // }
    0x00, 0x14, 0x00, 0x0b, // REALM attribute header
    0x65, 0x78, 0x61, 0x6d, // }
    0x70, 0x6c, 0x65, 0x2e, // }  Realm value (11 bytes) and padding (1 byte)
    0x6f, 0x72, 0x67, 0x00, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xf6, 0x70, 0x24, 0x65, // }
    0x6d, 0xd6, 0x4a, 0x3e, // }
    0x02, 0xb8, 0xe0, 0x71, // }  HMAC-SHA1 fingerprint
    0x2e, 0x85, 0xc9, 0xa2, // }
    0x8c, 0xa8, 0x96, 0x66, // }
];

/// The short-term password of §2.1-2.3.
const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

const ID: TransactionId = TransactionId([
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
]);

/// Re-writes a parsed vector and checks the output equals the input.
fn rewrites_byte_for_byte(vector: &[u8], key: &Key, fingerprint: bool, padding: u8) {
    let msg = Message::parse(vector).expect("vector parses");
    let mut buf = [0u8; 256];
    let len = msg
        .write_padded(&mut buf, Some(key), fingerprint, padding)
        .expect("vector re-writes");
    assert_eq!(&buf[..len], vector);
    assert_eq!(msg.encoded_len(Some(key), fingerprint), vector.len());
}

#[test]
fn rfc5769_request_parses_verifies_and_rewrites() {
    let msg = Message::parse(&REQUEST).unwrap();
    assert_eq!(msg.class(), Class::Request);
    assert_eq!(msg.method(), Method::Binding);
    assert_eq!(msg.transaction_id(), ID);
    assert_eq!(msg.software(), Some("STUN test client"));
    assert_eq!(msg.priority(), Some(0x6e0001ff));
    assert_eq!(msg.ice_controlled(), Some(0x932ff9b151263b36));
    assert_eq!(msg.username(), Some("evtj:h6vY"));
    let key = Key::short_term(PASSWORD);
    assert_eq!(msg.verify(&key), Ok(Integrity::Sha1));
    assert_eq!(msg.verify_fingerprint(), Ok(()));
    assert!(msg.verify(&Key::short_term("wrong")).is_err());
    rewrites_byte_for_byte(&REQUEST, &key, true, 0x20);
}

#[test]
fn rfc5769_request_built_from_scratch_matches_the_vector() {
    let msg = Message::new(Class::Request, Method::Binding, ID)
        .with(Attribute::Software("STUN test client".into()))
        .with(Attribute::Priority(0x6e0001ff))
        .with(Attribute::IceControlled(0x932ff9b151263b36))
        .with(Attribute::Username("evtj:h6vY".into()));
    let mut buf = [0u8; 256];
    let key = Key::short_term(PASSWORD);
    let len = msg.write_padded(&mut buf, Some(&key), true, 0x20).unwrap();
    assert_eq!(&buf[..len], &REQUEST[..]);
    // With zero padding (what `write` does) the padding and so the HMAC and CRC differ, but
    // the message is the same and verifies.
    let len = msg.write(&mut buf, Some(&key), true).unwrap();
    let zero_padded = Message::parse(&buf[..len]).unwrap();
    let vector = Message::parse(&REQUEST).unwrap();
    assert_eq!(zero_padded.attributes()[..4], vector.attributes()[..4]);
    assert_eq!(buf[..len].len(), REQUEST.len());
    assert_eq!(zero_padded.verify(&key), Ok(Integrity::Sha1));
    assert_eq!(zero_padded.verify_fingerprint(), Ok(()));
}

#[test]
fn rfc5769_ipv4_response_gives_192_0_2_1_port_32853() {
    let msg = Message::parse(&RESPONSE_V4).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(msg.transaction_id(), ID);
    assert_eq!(msg.software(), Some("test vector"));
    let expected: SocketAddr = "192.0.2.1:32853".parse().unwrap();
    assert_eq!(msg.xor_mapped_address(), Some(expected));
    assert_eq!(msg.mapped_address(), Some(expected));
    let key = Key::short_term(PASSWORD);
    assert_eq!(msg.verify(&key), Ok(Integrity::Sha1));
    assert_eq!(msg.verify_fingerprint(), Ok(()));
    rewrites_byte_for_byte(&RESPONSE_V4, &key, true, 0x20);
}

#[test]
fn rfc5769_ipv6_response_gives_2001_db8_address_port_32853() {
    let msg = Message::parse(&RESPONSE_V6).unwrap();
    let expected: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .unwrap();
    assert_eq!(msg.xor_mapped_address(), Some(expected));
    let key = Key::short_term(PASSWORD);
    assert_eq!(msg.verify(&key), Ok(Integrity::Sha1));
    assert_eq!(msg.verify_fingerprint(), Ok(()));
    rewrites_byte_for_byte(&RESPONSE_V6, &key, true, 0x20);
}

#[test]
fn rfc5769_long_term_request_verifies_with_the_md5_key() {
    let msg = Message::parse(&REQUEST_LONG_TERM).unwrap();
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(msg.username(), Some(username));
    assert_eq!(msg.nonce(), Some("f//499k954d6OL34oL9FSTvy64sA"));
    assert_eq!(msg.realm(), Some("example.org"));
    assert!(!msg.has_fingerprint());
    assert!(msg.verify_fingerprint().is_err());
    // The RFC's password "The\u{AD}M\u{AA}tr\u{2168}" after SASLprep; kaon takes prepared input.
    let key = Key::long_term(username, "example.org", "TheMatrIX");
    assert_eq!(msg.verify(&key), Ok(Integrity::Sha1));
    assert!(
        msg.verify(&Key::long_term(username, "example.org", "thematrix"))
            .is_err()
    );
    rewrites_byte_for_byte(&REQUEST_LONG_TERM, &key, false, 0x00);
}

#[test]
fn fingerprint_is_checked_even_when_integrity_is_not() {
    let mut bad = REQUEST;
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let msg = Message::parse(&bad).unwrap();
    assert_eq!(
        msg.verify_fingerprint(),
        Err(crate::stun::Error::FingerprintMismatch)
    );
    // MESSAGE-INTEGRITY does not cover FINGERPRINT, so it still verifies.
    assert!(msg.verify(&Key::short_term(PASSWORD)).is_ok());
}
