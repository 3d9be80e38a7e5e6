//! The STUN Binding server, driven by hand through the public `Protocol` API.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

use proptest::prelude::*;

use kaon::stun::{
    Attribute, Class, Integrity, Key, Message, Method, Server, ServerConfig, ServerEvent,
    ShortTermCredentials, TransactionId, attr_type,
};
use kaon::{Datagram, Protocol};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const ID: TransactionId = TransactionId([5; 12]);

fn request(attrs: Vec<Attribute<'static>>, key: Option<&Key>) -> Vec<u8> {
    let mut m = Message::new(Class::Request, Method::Binding, ID);
    for a in attrs {
        m.add(a);
    }
    let mut buf = vec![0u8; m.encoded_len(key, true)];
    m.write(&mut buf, key, true).unwrap();
    buf
}

/// Sends `bytes` from `from` to `to` and returns the responses: (source, destination, bytes).
fn exchange(
    s: &mut Server,
    from: SocketAddr,
    to: SocketAddr,
    bytes: &[u8],
) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let now = Instant::now();
    s.handle_datagram(
        now,
        Datagram {
            source: from,
            destination: to,
            contents: bytes,
        },
    );
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit(now, &mut buf) {
        out.push((t.source, t.destination, buf[..t.len].to_vec()));
    }
    out
}

/// The single response to a request, parsed and owned.
fn answer(
    s: &mut Server,
    from: SocketAddr,
    to: SocketAddr,
    bytes: &[u8],
) -> (SocketAddr, Message<'static>) {
    let out = exchange(s, from, to, bytes);
    assert_eq!(out.len(), 1, "expected one response");
    let (source, destination, bytes) = &out[0];
    assert_eq!(*destination, from);
    let m = Message::parse(bytes).unwrap().into_owned();
    assert_eq!(m.transaction_id(), ID);
    assert_eq!(m.verify_fingerprint(), Ok(()));
    (*source, m)
}

fn error_code(m: &Message<'_>) -> u16 {
    assert_eq!(m.class(), Class::ErrorResponse);
    m.error_code().unwrap().code
}

#[test]
fn answers_ipv4_binding_with_the_source_as_xor_mapped_address() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig {
        software: Some("kaon".into()),
        ..ServerConfig::new(vec![here])
    });
    let client = addr("203.0.113.5:40001");
    let (source, m) = answer(&mut s, client, here, &request(vec![], None));
    assert_eq!(source, here);
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.xor_mapped_address(), Some(client));
    assert_eq!(m.get(attr_type::MAPPED_ADDRESS), None);
    assert_eq!(m.software(), Some("kaon"));
    // No alternate address: no RFC 5780 attributes.
    assert_eq!(m.response_origin(), None);
    assert_eq!(m.other_address(), None);
    assert_eq!(
        s.poll_event(),
        Some(ServerEvent::BindingServed {
            from: client,
            to: here,
            via: here
        })
    );
    assert_eq!(s.stats().answered, 1);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn answers_ipv6_binding_and_optionally_mapped_address() {
    let here = addr("[2001:db8::1]:3478");
    let config = ServerConfig {
        mapped_address: true,
        ..ServerConfig::new(vec![here])
    };
    let mut s = Server::new(config);
    let client = addr("[2001:db8:1234:5678:11:2233:4455:6677]:32853");
    let (_, m) = answer(&mut s, client, here, &request(vec![], None));
    assert_eq!(m.xor_mapped_address(), Some(client));
    assert!(
        matches!(m.get(attr_type::MAPPED_ADDRESS), Some(Attribute::MappedAddress(a)) if *a == client)
    );
}

/// Two IPs times two ports, as RFC 5780 deployments use.
fn rfc5780_server() -> Server {
    let addresses = [
        "192.0.2.1:3478",
        "192.0.2.1:3479",
        "192.0.2.2:3478",
        "192.0.2.2:3479",
    ];
    Server::new(ServerConfig::new(
        addresses.iter().map(|a| addr(a)).collect(),
    ))
}

#[test]
fn change_request_is_answered_from_the_alternate_address() {
    let mut s = rfc5780_server();
    let client = addr("203.0.113.5:40001");
    let primary = addr("192.0.2.1:3478");
    let cases = [
        (false, false, "192.0.2.1:3478"),
        (false, true, "192.0.2.1:3479"),
        (true, false, "192.0.2.2:3478"),
        (true, true, "192.0.2.2:3479"),
    ];
    for (ip, port, expected) in cases {
        let req = request(vec![Attribute::ChangeRequest { ip, port }], None);
        let (source, m) = answer(&mut s, client, primary, &req);
        assert_eq!(source, addr(expected), "change ip {ip} port {port}");
        assert_eq!(m.xor_mapped_address(), Some(client));
        assert_eq!(m.response_origin(), Some(addr(expected)));
        assert_eq!(m.other_address(), Some(addr("192.0.2.2:3479")));
    }
    // OTHER-ADDRESS is relative to where the request arrived.
    let (_, m) = answer(
        &mut s,
        client,
        addr("192.0.2.2:3479"),
        &request(vec![], None),
    );
    assert_eq!(m.other_address(), Some(primary));
}

#[test]
fn change_request_without_an_alternate_address_gets_420() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig::new(vec![here, addr("192.0.2.1:3479")]));
    let client = addr("203.0.113.5:40001");
    let req = request(
        vec![Attribute::ChangeRequest {
            ip: true,
            port: false,
        }],
        None,
    );
    let (source, m) = answer(&mut s, client, here, &req);
    assert_eq!(source, here);
    assert_eq!(error_code(&m), 420);
    assert_eq!(
        m.unknown_attributes(),
        Some(&[attr_type::CHANGE_REQUEST][..])
    );
    // Change port alone works, but there is no OTHER-ADDRESS to advertise.
    let req = request(
        vec![Attribute::ChangeRequest {
            ip: false,
            port: true,
        }],
        None,
    );
    let (source, m) = answer(&mut s, client, here, &req);
    assert_eq!(source, addr("192.0.2.1:3479"));
    assert_eq!(m.other_address(), None);
}

#[test]
fn unknown_comprehension_required_attributes_get_420_with_unknown_attributes() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig::new(vec![here]));
    let attrs = vec![
        Attribute::Unknown {
            typ: 0x0777,
            value: Cow::Borrowed(b"abc"),
        },
        Attribute::Unknown {
            typ: 0x8777,
            value: Cow::Borrowed(b"optional"),
        },
        Attribute::Unknown {
            typ: 0x0002,
            value: Cow::Borrowed(b""),
        },
    ];
    let (_, m) = answer(&mut s, addr("203.0.113.5:1"), here, &request(attrs, None));
    assert_eq!(error_code(&m), 420);
    assert_eq!(m.unknown_attributes(), Some(&[0x0777, 0x0002][..]));
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Rejected { code: 420, .. })
    ));
    // Unknown comprehension-optional attributes alone are fine.
    let attrs = vec![Attribute::Unknown {
        typ: 0x8777,
        value: Cow::Borrowed(b"x"),
    }];
    let (_, m) = answer(&mut s, addr("203.0.113.5:1"), here, &request(attrs, None));
    assert_eq!(m.class(), Class::SuccessResponse);
}

#[test]
fn other_methods_get_400() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig::new(vec![here]));
    let m = Message::new(Class::Request, Method::Allocate, ID);
    let mut buf = [0u8; 64];
    let len = m.write(&mut buf, None, true).unwrap();
    let (_, resp) = answer(&mut s, addr("203.0.113.5:1"), here, &buf[..len]);
    assert_eq!(resp.method(), Method::Allocate);
    assert_eq!(error_code(&resp), 400);
}

fn secured() -> (Server, SocketAddr, Key) {
    let here = addr("192.0.2.1:3478");
    let credentials = ShortTermCredentials {
        username: "alice".into(),
        password: "hunter22".into(),
    };
    let config = ServerConfig {
        credentials: Some(credentials),
        ..ServerConfig::new(vec![here])
    };
    (Server::new(config), here, Key::short_term("hunter22"))
}

#[test]
fn integrity_is_required_when_credentials_are_configured() {
    let (mut s, here, key) = secured();
    let client = addr("203.0.113.5:40001");
    let user = || Attribute::Username("alice".into());

    // Missing USERNAME or MESSAGE-INTEGRITY: 400, unsigned (RFC 8489 §9.1.3).
    let (_, m) = answer(&mut s, client, here, &request(vec![], None));
    assert_eq!(error_code(&m), 400);
    assert!(!m.has_integrity());
    let (_, m) = answer(&mut s, client, here, &request(vec![user()], None));
    assert_eq!(error_code(&m), 400);
    let (_, m) = answer(&mut s, client, here, &request(vec![], Some(&key)));
    assert_eq!(error_code(&m), 400);
    // Unknown user or wrong key: 401, unsigned.
    let stranger = vec![Attribute::Username("mallory".into())];
    let (_, m) = answer(&mut s, client, here, &request(stranger, Some(&key)));
    assert_eq!(error_code(&m), 401);
    let (_, m) = answer(
        &mut s,
        client,
        here,
        &request(vec![user()], Some(&Key::short_term("guess"))),
    );
    assert_eq!(error_code(&m), 401);
    assert!(!m.has_integrity());

    // Right user and key: a success signed with the same key.
    let (_, m) = answer(&mut s, client, here, &request(vec![user()], Some(&key)));
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.verify(&key), Ok(Integrity::Sha1));
    assert_eq!(m.xor_mapped_address(), Some(client));
    assert_eq!(s.stats().rejected, 5);
}

#[test]
fn sha256_integrity_is_answered_with_sha256() {
    let (mut s, here, key) = secured();
    let key = key.with_integrity(Integrity::Sha256);
    let req = request(vec![Attribute::Username("alice".into())], Some(&key));
    let (_, m) = answer(&mut s, addr("203.0.113.5:1"), here, &req);
    assert_eq!(m.verify(&key), Ok(Integrity::Sha256));
    assert_eq!(m.get(attr_type::MESSAGE_INTEGRITY), None);
}

#[test]
fn authenticated_error_responses_are_signed() {
    let (mut s, here, key) = secured();
    let attrs = vec![
        Attribute::Username("alice".into()),
        Attribute::Unknown {
            typ: 0x0777,
            value: Cow::Borrowed(b""),
        },
    ];
    let (_, m) = answer(
        &mut s,
        addr("203.0.113.5:1"),
        here,
        &request(attrs, Some(&key)),
    );
    assert_eq!(error_code(&m), 420);
    assert_eq!(m.verify(&key), Ok(Integrity::Sha1));
}

#[test]
fn indications_responses_garbage_and_foreign_destinations_are_dropped_and_counted() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig::new(vec![here]));
    let client = addr("203.0.113.5:1");
    let mut buf = [0u8; 64];
    for class in [
        Class::Indication,
        Class::SuccessResponse,
        Class::ErrorResponse,
    ] {
        let len = Message::new(class, Method::Binding, ID)
            .write(&mut buf, None, false)
            .unwrap();
        assert!(exchange(&mut s, client, here, &buf[..len]).is_empty());
    }
    assert!(exchange(&mut s, client, here, b"not stun at all, longer than twenty").is_empty());
    let mut bad_fingerprint = request(vec![], None);
    *bad_fingerprint.last_mut().unwrap() ^= 1;
    assert!(exchange(&mut s, client, here, &bad_fingerprint).is_empty());
    assert!(
        exchange(
            &mut s,
            client,
            addr("192.0.2.9:3478"),
            &request(vec![], None)
        )
        .is_empty()
    );
    let st = s.stats();
    assert_eq!((st.ignored, st.malformed, st.wrong_destination), (3, 2, 1));
    assert_eq!(st.received, 6);
    assert_eq!(s.poll_event(), None);
}

#[test]
fn the_response_queue_is_bounded() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig {
        max_queue: 3,
        ..ServerConfig::new(vec![here])
    });
    let req = request(vec![], None);
    let now = Instant::now();
    for i in 0..5 {
        let from = addr(&format!("203.0.113.5:{}", 1000 + i));
        s.handle_datagram(
            now,
            Datagram {
                source: from,
                destination: here,
                contents: &req,
            },
        );
    }
    let mut buf = [0u8; 1500];
    let mut n = 0;
    while s.poll_transmit(now, &mut buf).is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(s.stats().queue_full, 2);
    assert_eq!(std::iter::from_fn(|| s.poll_event()).count(), 3);
}

#[test]
fn a_response_too_large_for_the_buffer_is_dropped_and_counted() {
    let here = addr("192.0.2.1:3478");
    let mut s = Server::new(ServerConfig::new(vec![here]));
    let now = Instant::now();
    let req = request(vec![], None);
    s.handle_datagram(
        now,
        Datagram {
            source: addr("203.0.113.5:1"),
            destination: here,
            contents: &req,
        },
    );
    assert!(s.poll_transmit(now, &mut [0u8; 16]).is_none());
    assert_eq!(s.stats().buffer_too_small, 1);
}

proptest! {
    #[test]
    fn any_datagram_never_panics_the_server(data in proptest::collection::vec(any::<u8>(), 0..300), secure: bool) {
        let (mut s, here, _) = secured();
        if !secure {
            s = rfc5780_server();
        }
        let _ = exchange(&mut s, addr("203.0.113.5:1"), here, &data);
    }

    #[test]
    fn any_request_body_never_panics_the_server(body in proptest::collection::vec(any::<u8>(), 0..120), secure: bool) {
        let (mut s, here, _) = secured();
        if !secure {
            s = rfc5780_server();
        }
        let mut data = request(vec![], None)[..20].to_vec();
        let body = &body[..body.len() / 4 * 4];
        data[2..4].copy_from_slice(&(body.len() as u16).to_be_bytes());
        data.extend_from_slice(body);
        let out = exchange(&mut s, addr("203.0.113.5:1"), here, &data);
        prop_assert!(out.len() <= 1);
        for (_, _, bytes) in out {
            prop_assert!(Message::parse(&bytes).is_ok());
        }
    }
}
