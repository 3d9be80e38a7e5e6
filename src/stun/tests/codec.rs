//! Codec properties: every attribute and whole messages round-trip, integrity and fingerprint
//! round-trip with random keys, any bit flip breaks a signed message, any bytes parse to a value
//! or a typed error.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use crate::stun::{
    AddressFamily, Attribute, Class, Error, ErrorCode, Integrity, Key, MAGIC_COOKIE,
    MAX_USERNAME_LEN, Message, Method, PasswordAlgorithm, PasswordAlgorithms, TransactionId,
    attr_type,
};
use crate::wire::Writer;

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
    ]
}

fn text(max: usize) -> impl Strategy<Value = Cow<'static, str>> {
    proptest::collection::vec(any::<char>(), 0..40).prop_map(move |chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        Cow::Owned(s)
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Cow<'static, [u8]>> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Cow::Owned)
}

fn password_algorithm() -> impl Strategy<Value = PasswordAlgorithm> {
    any::<u16>().prop_map(PasswordAlgorithm::from_number)
}

/// Type numbers this layer does not name.
fn unknown_type() -> impl Strategy<Value = u16> {
    any::<u16>().prop_filter("a type kaon does not name", |&typ| {
        matches!(
            Attribute::parse(typ, b"", &TransactionId::default()),
            Ok(Attribute::Unknown { .. })
        )
    })
}

/// Every attribute variant, including the ones `write` computes itself.
fn any_attribute() -> impl Strategy<Value = Attribute<'static>> {
    prop_oneof![
        sendable_attribute(),
        any::<[u8; 20]>().prop_map(Attribute::MessageIntegrity),
        (4usize..=8, any::<[u8; 32]>())
            .prop_map(|(n, m)| Attribute::MessageIntegritySha256(Cow::Owned(m[..4 * n].to_vec()))),
        any::<u32>().prop_map(Attribute::Fingerprint),
    ]
}

/// Every attribute variant a message built for sending carries in its list.
fn sendable_attribute() -> impl Strategy<Value = Attribute<'static>> {
    prop_oneof![
        socket_addr().prop_map(Attribute::MappedAddress),
        socket_addr().prop_map(Attribute::XorMappedAddress),
        text(MAX_USERNAME_LEN).prop_map(Attribute::Username),
        any::<[u8; 32]>().prop_map(Attribute::Userhash),
        (300u16..700, text(200))
            .prop_map(|(code, reason)| Attribute::ErrorCode(ErrorCode { code, reason })),
        proptest::collection::vec(any::<u16>(), 0..8)
            .prop_map(|v| Attribute::UnknownAttributes(v.into())),
        text(300).prop_map(Attribute::Realm),
        text(300).prop_map(Attribute::Nonce),
        proptest::collection::vec(password_algorithm(), 0..4)
            .prop_map(|v| Attribute::PasswordAlgorithms(PasswordAlgorithms::new(&v))),
        (password_algorithm(), bytes(12))
            .prop_map(|(algorithm, params)| Attribute::PasswordAlgorithm { algorithm, params }),
        text(300).prop_map(Attribute::Software),
        socket_addr().prop_map(Attribute::AlternateServer),
        text(255).prop_map(Attribute::AlternateDomain),
        any::<u32>().prop_map(Attribute::Priority),
        Just(Attribute::UseCandidate),
        any::<u64>().prop_map(Attribute::IceControlled),
        any::<u64>().prop_map(Attribute::IceControlling),
        any::<u32>().prop_map(Attribute::Nomination),
        any::<u16>().prop_map(Attribute::ChannelNumber),
        any::<u32>().prop_map(Attribute::Lifetime),
        socket_addr().prop_map(Attribute::XorPeerAddress),
        bytes(300).prop_map(Attribute::Data),
        socket_addr().prop_map(Attribute::XorRelayedAddress),
        any::<u8>().prop_map(|f| Attribute::RequestedAddressFamily(match f {
            1 => AddressFamily::V4,
            2 => AddressFamily::V6,
            n => AddressFamily::Unknown(n),
        })),
        any::<bool>().prop_map(Attribute::EvenPort),
        any::<u8>().prop_map(Attribute::RequestedTransport),
        Just(Attribute::DontFragment),
        any::<u64>().prop_map(Attribute::ReservationToken),
        (any::<bool>(), any::<bool>()).prop_map(|(ip, port)| Attribute::ChangeRequest { ip, port }),
        socket_addr().prop_map(Attribute::ResponseOrigin),
        socket_addr().prop_map(Attribute::OtherAddress),
        (unknown_type(), bytes(64)).prop_map(|(typ, value)| Attribute::Unknown { typ, value }),
    ]
}

fn class() -> impl Strategy<Value = Class> {
    (0u16..4).prop_map(Class::from_bits)
}

fn method() -> impl Strategy<Value = Method> {
    (0u16..=Method::MAX).prop_map(Method::from_number)
}

fn key() -> impl Strategy<Value = Key> {
    (proptest::collection::vec(any::<u8>(), 0..64), 0u8..3).prop_map(|(k, mode)| {
        let integrity = [Integrity::Sha1, Integrity::Sha256, Integrity::Both][usize::from(mode)];
        Key::from_bytes(&k).with_integrity(integrity)
    })
}

fn message() -> impl Strategy<Value = Message<'static>> {
    (
        class(),
        method(),
        any::<[u8; 12]>(),
        proptest::collection::vec(sendable_attribute(), 0..12),
    )
        .prop_map(|(class, method, id, attrs)| {
            let mut m = Message::new(class, method, TransactionId(id));
            for a in attrs {
                m.add(a);
            }
            m
        })
}

/// A header with a valid cookie and length, followed by `body`: gets past the header checks
/// so that the attribute loop is exercised.
fn framed(typ: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 20 + body.len()];
    let mut w = Writer::new(&mut out);
    w.u16(typ & 0x3fff).unwrap();
    w.u16(body.len() as u16).unwrap();
    w.u32(MAGIC_COOKIE).unwrap();
    w.bytes(&[7; 12]).unwrap();
    w.bytes(body).unwrap();
    out
}

proptest! {
    #[test]
    fn every_attribute_round_trips(attr in any_attribute(), id in any::<[u8; 12]>()) {
        let id = TransactionId(id);
        let mut buf = vec![0u8; attr.value_len()];
        let mut w = Writer::new(&mut buf);
        attr.write_value(&mut w, &id).unwrap();
        prop_assert_eq!(w.position(), attr.value_len());
        let parsed = Attribute::parse(attr.typ(), &buf, &id).unwrap();
        prop_assert_eq!(parsed, attr);
    }

    #[test]
    fn messages_round_trip(msg in message(), key in proptest::option::of(key()), fingerprint: bool) {
        let mut buf = vec![0u8; msg.encoded_len(key.as_ref(), fingerprint)];
        let len = msg.write(&mut buf, key.as_ref(), fingerprint).unwrap();
        prop_assert_eq!(len, buf.len());
        let parsed = Message::parse(&buf).unwrap();
        let n = msg.attributes().len();
        prop_assert_eq!(parsed.class(), msg.class());
        prop_assert_eq!(parsed.method(), msg.method());
        prop_assert_eq!(parsed.transaction_id(), msg.transaction_id());
        prop_assert_eq!(&parsed.attributes()[..n], msg.attributes());
        prop_assert_eq!(parsed.has_fingerprint(), fingerprint);
        if fingerprint {
            prop_assert_eq!(parsed.verify_fingerprint(), Ok(()));
        }
        match &key {
            Some(key) => {
                let expected = if key.integrity() == Integrity::Sha1 { Integrity::Sha1 } else { Integrity::Sha256 };
                prop_assert_eq!(parsed.verify(key), Ok(expected));
                prop_assert_eq!(parsed.verify(&Key::from_bytes(b"not the key")), Err(Error::IntegrityMismatch));
            }
            None => prop_assert_eq!(parsed.verify(&Key::from_bytes(b"k")), Err(Error::MissingIntegrity)),
        }
        // Writing the parsed message again gives the same bytes: computed attributes are
        // recomputed, not copied.
        let mut again = vec![0u8; len];
        prop_assert_eq!(parsed.write(&mut again, key.as_ref(), fingerprint), Ok(len));
        prop_assert_eq!(&again, &buf);
    }

    #[test]
    fn a_too_small_buffer_is_a_typed_error(msg in message(), cut in 1usize..64) {
        let need = msg.encoded_len(None, true);
        let mut buf = vec![0u8; need.saturating_sub(cut)];
        prop_assert!(matches!(msg.write(&mut buf, None, true), Err(Error::Wire(_))));
    }

    #[test]
    fn flipping_any_bit_of_a_signed_message_fails_verification(
        msg in message(), key in key(), bit in any::<prop::sample::Index>()
    ) {
        let mut buf = vec![0u8; msg.encoded_len(Some(&key), true)];
        let len = msg.write(&mut buf, Some(&key), true).unwrap();
        let bit = bit.index(len * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        let verdict = Message::parse(&buf).and_then(|m| {
            m.verify(&key)?;
            m.verify_fingerprint()
        });
        prop_assert!(verdict.is_err(), "bit {} flipped and still verified", bit);
    }

    #[test]
    fn any_bytes_parse_to_a_message_or_a_typed_error(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::parse(&data);
    }

    #[test]
    fn any_body_behind_a_valid_header_never_panics(
        typ: u16, body in proptest::collection::vec(any::<u8>(), 0..50), key in key()
    ) {
        let mut body = body;
        body.truncate(body.len() / 4 * 4);
        let data = framed(typ, &body);
        if let Ok(m) = Message::parse(&data) {
            let _ = m.verify(&key);
            let _ = m.verify_fingerprint();
            let _ = m.unknown_comprehension_required();
            let mut buf = [0u8; 512];
            let _ = m.write(&mut buf, Some(&key), true);
        }
    }

    #[test]
    fn any_parsed_message_rewrites_signs_and_reparses_to_the_same_attributes(
        attrs in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..24)), 0..6),
        known in proptest::collection::vec(0usize..KNOWN.len(), 0..6),
        key in key(),
    ) {
        // Known types most of the time, so that every value parser sees garbage too.
        let mut body = Vec::new();
        for (i, (typ, value)) in attrs.iter().enumerate() {
            let typ = known.get(i).map_or(*typ, |&k| KNOWN[k]);
            body.extend_from_slice(&typ.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let data = framed(0x0001, &body);
        if let Ok(m) = Message::parse(&data) {
            let _ = m.verify(&key);
            let _ = m.verify_fingerprint();
            // What the fuzz target does: re-write with a fixed key, then verify.
            let mut buf = [0u8; 1024];
            let len = m.write(&mut buf, Some(&key), true).unwrap();
            let again = Message::parse(&buf[..len]).unwrap();
            prop_assert!(again.verify(&key).is_ok());
            prop_assert_eq!(again.verify_fingerprint(), Ok(()));
            let kept = |m: &Message<'_>| -> Vec<Attribute<'static>> {
                m.attributes().iter().filter(|a| !COMPUTED.contains(&a.typ())).map(|a| a.clone().into_owned()).collect()
            };
            prop_assert_eq!(kept(&again), kept(&m));
            let _ = m.into_owned();
        }
    }
}

const COMPUTED: [u16; 3] = [
    attr_type::MESSAGE_INTEGRITY,
    attr_type::MESSAGE_INTEGRITY_SHA256,
    attr_type::FINGERPRINT,
];

/// Every type this layer names.
const KNOWN: [u16; 34] = [
    attr_type::MAPPED_ADDRESS,
    attr_type::CHANGE_REQUEST,
    attr_type::USERNAME,
    attr_type::MESSAGE_INTEGRITY,
    attr_type::ERROR_CODE,
    attr_type::UNKNOWN_ATTRIBUTES,
    attr_type::CHANNEL_NUMBER,
    attr_type::LIFETIME,
    attr_type::XOR_PEER_ADDRESS,
    attr_type::DATA,
    attr_type::REALM,
    attr_type::NONCE,
    attr_type::XOR_RELAYED_ADDRESS,
    attr_type::REQUESTED_ADDRESS_FAMILY,
    attr_type::EVEN_PORT,
    attr_type::REQUESTED_TRANSPORT,
    attr_type::DONT_FRAGMENT,
    attr_type::MESSAGE_INTEGRITY_SHA256,
    attr_type::PASSWORD_ALGORITHM,
    attr_type::USERHASH,
    attr_type::XOR_MAPPED_ADDRESS,
    attr_type::RESERVATION_TOKEN,
    attr_type::PRIORITY,
    attr_type::USE_CANDIDATE,
    attr_type::PASSWORD_ALGORITHMS,
    attr_type::ALTERNATE_DOMAIN,
    attr_type::SOFTWARE,
    attr_type::ALTERNATE_SERVER,
    attr_type::FINGERPRINT,
    attr_type::ICE_CONTROLLED,
    attr_type::ICE_CONTROLLING,
    attr_type::RESPONSE_ORIGIN,
    attr_type::OTHER_ADDRESS,
    attr_type::NOMINATION,
];

#[test]
fn every_named_type_parses_to_a_named_variant() {
    for typ in KNOWN {
        let parsed = Attribute::parse(typ, &[0; 64], &TransactionId::default());
        assert!(
            !matches!(parsed, Ok(Attribute::Unknown { .. })),
            "{typ:#06x}"
        );
    }
}

#[test]
fn header_checks_give_typed_errors() {
    assert_eq!(Message::parse(&[0; 19]), Err(Error::TooShort { len: 19 }));
    let mut m = framed(0x0001, &[]);
    assert!(Message::parse(&m).is_ok());
    m[0] = 0x40; // top bits set
    assert_eq!(Message::parse(&m), Err(Error::NotStun));
    let mut m = framed(0x0001, &[]);
    m[4] = 0; // no magic cookie: RFC 3489 messages are not accepted
    assert_eq!(Message::parse(&m), Err(Error::NotStun));
    let mut m = framed(0x0001, &[0; 4]);
    m[3] = 2; // length not a multiple of 4
    assert!(matches!(Message::parse(&m), Err(Error::BadLength { .. })));
    let mut m = framed(0x0001, &[0; 4]);
    m.push(0); // trailing byte after the message
    assert!(matches!(Message::parse(&m), Err(Error::BadLength { .. })));
}

#[test]
fn attribute_framing_errors_are_typed() {
    // PRIORITY claiming 8 bytes with only 4 present.
    let m = framed(0x0001, &[0x00, 0x24, 0x00, 0x08, 1, 2, 3, 4]);
    assert_eq!(
        Message::parse(&m),
        Err(Error::TruncatedAttribute {
            typ: attr_type::PRIORITY
        })
    );
    // USERNAME of 5 bytes with its padding missing.
    let m = framed(0x0001, &[0x00, 0x06, 0x00, 0x05, b'a', b'b', b'c', b'd']);
    assert_eq!(
        Message::parse(&m),
        Err(Error::TruncatedAttribute {
            typ: attr_type::USERNAME
        })
    );
    // PRIORITY with 3 bytes.
    let m = framed(0x0001, &[0x00, 0x24, 0x00, 0x03, 1, 2, 3, 0]);
    assert_eq!(
        Message::parse(&m),
        Err(Error::BadAttribute {
            typ: attr_type::PRIORITY
        })
    );
    // An attribute after FINGERPRINT.
    let m = framed(
        0x0001,
        &[0x80, 0x28, 0x00, 0x04, 0, 0, 0, 0, 0x00, 0x25, 0x00, 0x00],
    );
    assert_eq!(Message::parse(&m), Err(Error::AttributeAfterFingerprint));
    // A USERNAME longer than 513 bytes.
    let mut body = vec![0x00, 0x06, 0x02, 0x04];
    body.resize(4 + 516, b'u');
    assert_eq!(
        Message::parse(&framed(0x0001, &body)),
        Err(Error::BadAttribute {
            typ: attr_type::USERNAME
        })
    );
}

#[test]
fn attributes_after_message_integrity_are_ignored_except_sha256_and_fingerprint() {
    let key = Key::short_term("pw");
    let msg = Message::new(Class::Request, Method::Binding, TransactionId([1; 12]))
        .with(Attribute::Priority(1));
    let mut buf = [0u8; 256];
    let len = msg.write(&mut buf, Some(&key), false).unwrap();
    // Append an unauthenticated USE-CANDIDATE and XOR-MAPPED-ADDRESS after MESSAGE-INTEGRITY.
    let extra = [
        0x00, 0x25, 0x00, 0x00, 0x00, 0x20, 0x00, 0x08, 0, 1, 0, 0, 1, 2, 3, 4,
    ];
    buf[len..len + extra.len()].copy_from_slice(&extra);
    let total = len + extra.len();
    buf[2..4].copy_from_slice(&((total - 20) as u16).to_be_bytes());
    let parsed = Message::parse(&buf[..total]).unwrap();
    assert!(!parsed.use_candidate());
    assert_eq!(parsed.xor_mapped_address(), None);
    assert_eq!(parsed.priority(), Some(1));
    assert_eq!(parsed.verify(&key), Ok(Integrity::Sha1));
}

#[test]
fn unknown_comprehension_required_attributes_are_listed_in_order() {
    let msg = Message::new(Class::Request, Method::Binding, TransactionId([0; 12]))
        .with(Attribute::Unknown {
            typ: 0x7fff,
            value: Cow::Borrowed(b"x"),
        })
        .with(Attribute::Unknown {
            typ: 0x8fff,
            value: Cow::Borrowed(b""),
        })
        .with(Attribute::Priority(5))
        .with(Attribute::Unknown {
            typ: 0x0002,
            value: Cow::Borrowed(b""),
        });
    let mut buf = [0u8; 128];
    let len = msg.write(&mut buf, None, false).unwrap();
    let parsed = Message::parse(&buf[..len]).unwrap();
    assert_eq!(
        &parsed.unknown_comprehension_required()[..],
        &[0x7fff, 0x0002]
    );
}

#[test]
fn truncated_sha256_integrity_verifies_against_the_hmac_prefix() {
    // RFC 8489 §14.6: a 16-byte MESSAGE-INTEGRITY-SHA256 is the first 16 bytes of the HMAC.
    let key = Key::short_term("pw").with_integrity(Integrity::Sha256);
    let msg = Message::new(Class::Request, Method::Binding, TransactionId([3; 12]));
    let mut buf = [0u8; 128];
    let len = msg.write(&mut buf, Some(&key), false).unwrap();
    assert_eq!(len, 20 + 36);
    // Truncate the 32-byte value to 16 bytes and fix the lengths.
    buf[22..24].copy_from_slice(&20u16.to_be_bytes());
    buf[20..24].copy_from_slice(&[0x00, 0x1c, 0x00, 0x10]);
    buf[2..4].copy_from_slice(&20u16.to_be_bytes());
    let unfixed = Message::parse(&buf[..40]).unwrap().verify(&key);
    assert_eq!(unfixed, Err(Error::IntegrityMismatch));
    // The HMAC input's length field changed, so recompute what a truncating sender would send.
    let tag = key.sha256(&buf[..20].try_into().unwrap(), 20, &[]);
    buf[24..40].copy_from_slice(&tag.as_ref()[..16]);
    let parsed_fixed = Message::parse(&buf[..40]).unwrap();
    assert_eq!(parsed_fixed.verify(&key), Ok(Integrity::Sha256));
}

#[test]
fn long_term_sha256_key_differs_from_md5_and_verifies() {
    let md5 = Key::long_term("user", "realm", "pass");
    let sha = Key::long_term_with(PasswordAlgorithm::Sha256, "user", "realm", "pass").unwrap();
    assert!(Key::long_term_with(PasswordAlgorithm::Unknown(9), "u", "r", "p").is_none());
    let msg = Message::new(Class::Request, Method::Allocate, TransactionId([9; 12]))
        .with(Attribute::Username("user".into()));
    let mut buf = [0u8; 128];
    let len = msg.write(&mut buf, Some(&sha), true).unwrap();
    let parsed = Message::parse(&buf[..len]).unwrap();
    assert!(parsed.verify(&sha).is_ok());
    assert_eq!(parsed.verify(&md5), Err(Error::IntegrityMismatch));
}

#[test]
fn state_machines_events_and_keys_can_move_to_a_driver_thread() {
    // kaon-std runs a Protocol on its own thread and sends its events over a channel.
    fn send_static<T: Send + 'static>() {}
    send_static::<crate::stun::Client>();
    send_static::<crate::stun::Server>();
    send_static::<crate::stun::ClientEvent>();
    send_static::<crate::stun::ServerEvent>();
    send_static::<Message<'static>>();
    send_static::<Error>();
    fn shared<T: Send + Sync>() {}
    shared::<Key>();
}
