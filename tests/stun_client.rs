//! The STUN client transaction state machine, driven by hand through the public `Protocol`
//! API on a virtual clock (an arbitrary origin plus offsets).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use kaon::stun::{
    Attribute, Class, Client, ClientConfig, ClientEvent, Error, ErrorCode, Key, Message, Method,
    TransactionId,
};
use kaon::{Datagram, Protocol};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn local() -> SocketAddr {
    addr("10.0.0.2:5000")
}

fn server() -> SocketAddr {
    addr("192.0.2.1:3478")
}

fn client(config: ClientConfig) -> Client {
    Client::new(ClientConfig {
        seed: Some(42),
        ..config
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Takes every queued datagram: (destination, bytes).
fn drain(c: &mut Client, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(t) = c.poll_transmit(now, &mut buf) {
        assert_eq!(t.source, local());
        out.push((t.destination, buf[..t.len].to_vec()));
    }
    out
}

fn events(c: &mut Client) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// A response to `request` with `attrs`, signed with `key` if given.
fn response(
    request: &[u8],
    class: Class,
    attrs: Vec<Attribute<'static>>,
    key: Option<&Key>,
) -> Vec<u8> {
    let req = Message::parse(request).unwrap();
    let mut m = Message::new(class, req.method(), req.transaction_id());
    for a in attrs {
        m.add(a);
    }
    let mut buf = vec![0u8; m.encoded_len(key, true)];
    m.write(&mut buf, key, true).unwrap();
    buf
}

fn deliver(c: &mut Client, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
    c.handle_datagram(
        now,
        Datagram {
            source: from,
            destination: to,
            contents: bytes,
        },
    );
}

/// Runs the client with no answers until it has nothing left to do, returning the send times
/// and the timeout time relative to `t0`.
fn run_unanswered(c: &mut Client, t0: Instant) -> (Vec<u64>, Vec<(u64, ClientEvent)>) {
    let mut now = t0;
    let mut sends = Vec::new();
    let mut evs = Vec::new();
    loop {
        for _ in drain(c, now) {
            sends.push((now - t0).as_millis() as u64);
        }
        for e in events(c) {
            evs.push(((now - t0).as_millis() as u64, e));
        }
        match c.poll_timeout() {
            Some(deadline) => {
                assert!(deadline >= now, "poll_timeout went backwards");
                now = deadline;
                c.handle_timeout(now);
            }
            None => return (sends, evs),
        }
    }
}

#[test]
fn binding_request_retransmits_on_rfc8489_schedule() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let id = c.binding_request(t0, local(), server());
    let (sends, evs) = run_unanswered(&mut c, t0);
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(evs, [(39500, ClientEvent::Timeout { id })]);
    assert_eq!(c.stats().retransmissions, 6);
    assert_eq!(c.stats().timeouts, 1);
    assert_eq!(c.pending(), 0);
}

#[test]
fn custom_rto_rc_and_rm_set_the_schedule() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig {
        rto: ms(100),
        rc: 3,
        rm: 4,
        ..ClientConfig::default()
    });
    let id = c.binding_request(t0, local(), server());
    let (sends, evs) = run_unanswered(&mut c, t0);
    assert_eq!(sends, [0, 100, 300]);
    assert_eq!(evs, [(700, ClientEvent::Timeout { id })]);

    let mut c = client(ClientConfig {
        rto: ms(250),
        rc: 1,
        rm: 2,
        ..ClientConfig::default()
    });
    let id = c.binding_request(t0, local(), server());
    let (sends, evs) = run_unanswered(&mut c, t0);
    assert_eq!(sends, [0]);
    assert_eq!(evs, [(500, ClientEvent::Timeout { id })]);
}

#[test]
fn success_stops_retransmission_and_reports_the_mapped_address() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig {
        software: Some("kaon test".into()),
        ..ClientConfig::default()
    });
    let id = c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, server());
    let req = Message::parse(&sent[0].1).unwrap();
    assert_eq!(
        (req.class(), req.method(), req.transaction_id()),
        (Class::Request, Method::Binding, id)
    );
    assert_eq!(req.software(), Some("kaon test"));
    assert_eq!(req.verify_fingerprint(), Ok(()));

    let mapped = addr("203.0.113.9:61000");
    let resp = response(
        &sent[0].1,
        Class::SuccessResponse,
        vec![Attribute::XorMappedAddress(mapped)],
        None,
    );
    deliver(&mut c, t0 + ms(120), server(), local(), &resp);
    let evs = events(&mut c);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].id(), id);
    assert_eq!(evs[0].mapped_address(), Some(mapped));
    match &evs[0] {
        ClientEvent::Success { from, rtt, .. } => assert_eq!((*from, *rtt), (server(), ms(120))),
        e => panic!("{e:?}"),
    }
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + ms(60_000));
    assert!(drain(&mut c, t0 + ms(60_000)).is_empty());
    // A duplicate response is unmatched now.
    deliver(&mut c, t0 + ms(130), server(), local(), &resp);
    assert_eq!(c.stats().unmatched, 1);
    assert!(events(&mut c).is_empty());
}

#[test]
fn mapped_address_falls_back_to_mapped_address_attribute() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    let mapped = addr("203.0.113.9:1");
    let resp = response(
        &sent[0].1,
        Class::SuccessResponse,
        vec![Attribute::MappedAddress(mapped)],
        None,
    );
    deliver(&mut c, t0, server(), local(), &resp);
    assert_eq!(events(&mut c)[0].mapped_address(), Some(mapped));
}

#[test]
fn responses_from_the_wrong_source_local_address_or_id_are_ignored() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let id = c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    let ok = response(
        &sent[0].1,
        Class::SuccessResponse,
        vec![Attribute::XorMappedAddress(local())],
        None,
    );

    deliver(&mut c, t0, addr("192.0.2.66:3478"), local(), &ok);
    deliver(&mut c, t0, addr("192.0.2.1:3479"), local(), &ok);
    deliver(&mut c, t0, server(), addr("10.0.0.3:5000"), &ok);
    assert_eq!(c.stats().wrong_address, 3);

    let mut other_id = ok.clone();
    other_id[8] ^= 0xff;
    deliver(&mut c, t0, server(), local(), &other_id);
    // A request or indication with the same id is not a response.
    let mut as_request = ok.clone();
    as_request[0] = 0x00;
    as_request[1] = 0x01;
    deliver(&mut c, t0, server(), local(), &as_request);
    assert_eq!(c.stats().unmatched, 2);
    deliver(&mut c, t0, server(), local(), b"\x00\x01garbage");
    assert_eq!(c.stats().malformed, 1);
    assert!(events(&mut c).is_empty());
    assert!(c.is_pending(id));

    deliver(&mut c, t0, server(), local(), &ok);
    assert!(matches!(events(&mut c)[..], [ClientEvent::Success { .. }]));
}

#[test]
fn error_response_is_reported_with_its_code_and_reason() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let id = c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    let err = Attribute::ErrorCode(ErrorCode {
        code: 438,
        reason: "Stale Nonce".into(),
    });
    let resp = response(
        &sent[0].1,
        Class::ErrorResponse,
        vec![err, Attribute::Nonce("n2".into())],
        None,
    );
    deliver(&mut c, t0 + ms(10), server(), local(), &resp);
    match &events(&mut c)[..] {
        [
            ClientEvent::ErrorResponse {
                id: got,
                code: 438,
                reason,
                response,
            },
        ] => {
            assert_eq!(*got, id);
            assert_eq!(reason, "Stale Nonce");
            assert_eq!(response.nonce(), Some("n2"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn error_response_without_error_code_is_dropped() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    let resp = response(&sent[0].1, Class::ErrorResponse, vec![], None);
    deliver(&mut c, t0, server(), local(), &resp);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.pending(), 1);
}

#[test]
fn response_with_unknown_required_attribute_fails_the_transaction() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let id = c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    let odd = Attribute::Unknown {
        typ: 0x7abc,
        value: Cow::Borrowed(b""),
    };
    let resp = response(&sent[0].1, Class::SuccessResponse, vec![odd], None);
    deliver(&mut c, t0, server(), local(), &resp);
    assert_eq!(
        events(&mut c),
        [ClientEvent::Failed {
            id,
            error: Error::UnknownRequiredAttribute { typ: 0x7abc }
        }]
    );
}

#[test]
fn integrity_protected_request_and_response_round_trip() {
    let t0 = Instant::now();
    let key = Key::short_term("secret");
    let mut c = client(ClientConfig::default());
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default())
        .with(Attribute::Username("a:b".into()))
        .with(Attribute::Priority(7));
    let id = c
        .start(t0, local(), server(), &request, Some(key.clone()))
        .unwrap();
    let sent = drain(&mut c, t0);
    let req = Message::parse(&sent[0].1).unwrap();
    assert_eq!(req.transaction_id(), id);
    assert!(req.verify(&key).is_ok());
    assert_eq!(req.verify_fingerprint(), Ok(()));
    assert_eq!(req.username(), Some("a:b"));

    let attrs = || vec![Attribute::XorMappedAddress(local())];
    // Unsigned, and signed with the wrong key: dropped.
    let unsigned = response(&sent[0].1, Class::SuccessResponse, attrs(), None);
    deliver(&mut c, t0, server(), local(), &unsigned);
    let forged = response(
        &sent[0].1,
        Class::SuccessResponse,
        attrs(),
        Some(&Key::short_term("guess")),
    );
    deliver(&mut c, t0, server(), local(), &forged);
    assert_eq!(c.stats().integrity_failures, 2);
    assert!(events(&mut c).is_empty());
    // Signed with the key: accepted.
    let signed = response(&sent[0].1, Class::SuccessResponse, attrs(), Some(&key));
    deliver(&mut c, t0, server(), local(), &signed);
    assert!(matches!(&events(&mut c)[..], [ClientEvent::Success { id: got, .. }] if *got == id));
}

#[test]
fn unsigned_401_is_accepted_for_a_keyed_request_but_unsigned_487_is_not() {
    let t0 = Instant::now();
    let key = Key::short_term("secret");
    let mut c = client(ClientConfig::default());
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default());
    c.start(t0, local(), server(), &request, Some(key.clone()))
        .unwrap();
    c.start(t0, local(), server(), &request, Some(key)).unwrap();
    let sent = drain(&mut c, t0);
    let e = |code| {
        vec![Attribute::ErrorCode(ErrorCode {
            code,
            reason: "".into(),
        })]
    };
    deliver(
        &mut c,
        t0,
        server(),
        local(),
        &response(&sent[0].1, Class::ErrorResponse, e(487), None),
    );
    deliver(
        &mut c,
        t0,
        server(),
        local(),
        &response(&sent[1].1, Class::ErrorResponse, e(401), None),
    );
    assert_eq!(c.stats().integrity_failures, 1);
    assert!(matches!(
        &events(&mut c)[..],
        [ClientEvent::ErrorResponse { code: 401, .. }]
    ));
}

#[test]
fn many_concurrent_transactions_are_matched_by_id() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig {
        max_transactions: 500,
        ..ClientConfig::default()
    });
    let servers: Vec<SocketAddr> = (0..300)
        .map(|i| SocketAddr::new(server().ip(), 1000 + i))
        .collect();
    let ids: Vec<TransactionId> = servers
        .iter()
        .map(|s| c.binding_request(t0, local(), *s))
        .collect();
    let sent = drain(&mut c, t0);
    assert_eq!(sent.len(), 300);
    // Answer in reverse order, each with the port it came to as the "mapped" address.
    for (dest, bytes) in sent.iter().rev() {
        let mapped = SocketAddr::new(local().ip(), dest.port());
        let resp = response(
            bytes,
            Class::SuccessResponse,
            vec![Attribute::XorMappedAddress(mapped)],
            None,
        );
        deliver(&mut c, t0 + ms(5), *dest, local(), &resp);
    }
    let evs = events(&mut c);
    assert_eq!(evs.len(), 300);
    for (e, (id, s)) in evs.iter().rev().zip(ids.iter().zip(&servers)) {
        assert_eq!(e.id(), *id);
        assert_eq!(e.mapped_address().unwrap().port(), s.port());
    }
    assert_eq!(c.pending(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn the_transaction_limit_refuses_new_requests() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig {
        max_transactions: 2,
        ..ClientConfig::default()
    });
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default());
    c.start(t0, local(), server(), &request, None).unwrap();
    let second = c.binding_request(t0, local(), server());
    assert_eq!(
        c.start(t0, local(), server(), &request, None),
        Err(Error::TooManyTransactions)
    );
    let refused = c.binding_request(t0, local(), server());
    assert_eq!(
        events(&mut c),
        [ClientEvent::Failed {
            id: refused,
            error: Error::TooManyTransactions
        }]
    );
    assert_eq!(drain(&mut c, t0).len(), 2);
    assert!(c.cancel(second));
    assert!(c.start(t0, local(), server(), &request, None).is_ok());
    let indication = Message::new(Class::Indication, Method::Binding, TransactionId::default());
    assert_eq!(
        c.start(t0, local(), server(), &indication, None),
        Err(Error::NotARequest)
    );
}

#[test]
fn cancel_stops_retransmission_and_poll_timeout_stays_exact() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let first = c.binding_request(t0, local(), server());
    let second = c.binding_request(t0 + ms(100), local(), server());
    assert_eq!(c.poll_timeout(), Some(t0 + ms(500)));
    assert!(c.cancel(first));
    assert!(!c.cancel(first));
    assert_eq!(c.poll_timeout(), Some(t0 + ms(600)));
    // The cancelled request, never taken from the queue, is not sent.
    let sent = drain(&mut c, t0 + ms(100));
    assert_eq!(sent.len(), 1);
    assert_eq!(Message::parse(&sent[0].1).unwrap().transaction_id(), second);
    assert!(c.cancel(second));
    assert_eq!(c.poll_timeout(), None);
    assert!(events(&mut c).is_empty());
}

#[test]
fn late_timeouts_merge_pending_retransmissions_and_lose_nothing() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let id = c.binding_request(t0, local(), server());
    // The driver neither takes the first send nor wakes up until 2 s later.
    c.handle_timeout(t0 + ms(2000));
    // One datagram waits (the identical copies are merged), and the schedule moved on.
    assert_eq!(drain(&mut c, t0 + ms(2000)).len(), 1);
    assert!(c.is_pending(id));
    assert_eq!(c.stats().retransmissions, 1);
    assert_eq!(c.poll_timeout(), Some(t0 + ms(3000)));
}

#[test]
fn a_datagram_too_large_for_the_buffer_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    c.binding_request(t0, local(), server());
    let mut small = [0u8; 10];
    assert!(c.poll_transmit(t0, &mut small).is_none());
    assert_eq!(c.stats().buffer_too_small, 1);
    // The retransmission still happens on schedule.
    c.handle_timeout(t0 + ms(500));
    assert_eq!(drain(&mut c, t0 + ms(500)).len(), 1);
}

#[test]
fn change_request_accepts_a_response_from_another_address() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default()).with(
        Attribute::ChangeRequest {
            ip: true,
            port: true,
        },
    );
    c.start(t0, local(), server(), &request, None).unwrap();
    let sent = drain(&mut c, t0);
    let resp = response(
        &sent[0].1,
        Class::SuccessResponse,
        vec![Attribute::XorMappedAddress(local())],
        None,
    );
    deliver(&mut c, t0, addr("192.0.2.2:3479"), local(), &resp);
    assert!(
        matches!(&events(&mut c)[..], [ClientEvent::Success { from, .. }] if *from == addr("192.0.2.2:3479"))
    );
}

#[test]
fn rto_is_cached_per_server_from_unretransmitted_round_trips() {
    let t0 = Instant::now();
    let mut c = client(ClientConfig::default());
    c.binding_request(t0, local(), server());
    let sent = drain(&mut c, t0);
    let resp = response(&sent[0].1, Class::SuccessResponse, vec![], None);
    deliver(&mut c, t0 + ms(400), server(), local(), &resp);
    // RFC 6298 first sample R = 400 ms: RTO = R + 4 * R/2 = 1200 ms.
    let t1 = t0 + ms(1000);
    c.binding_request(t1, local(), server());
    assert_eq!(c.poll_timeout(), Some(t1 + ms(1200)));
    // Another server starts from the configured RTO.
    c.binding_request(t1, local(), addr("198.51.100.1:3478"));
    assert_eq!(c.poll_timeout(), Some(t1 + ms(500)));
}

#[test]
fn cached_rto_expires_after_ten_minutes_and_never_drops_below_the_configured_rto() {
    let t0 = Instant::now();
    let lan = addr("10.0.0.1:3478");
    let mut c = client(ClientConfig::default());
    for (to, rtt) in [(server(), 400), (lan, 1)] {
        c.binding_request(t0, local(), to);
        let sent = drain(&mut c, t0);
        let resp = response(&sent[0].1, Class::SuccessResponse, vec![], None);
        deliver(&mut c, t0 + ms(rtt), to, local(), &resp);
    }
    // A 1 ms path alone would give a 3 ms RTO; the configured 500 ms is the floor.
    let t1 = t0 + ms(1000);
    let id = c.binding_request(t1, local(), lan);
    assert_eq!(c.poll_timeout(), Some(t1 + ms(500)));
    c.cancel(id);
    let id = c.binding_request(t1, local(), server());
    assert_eq!(c.poll_timeout(), Some(t1 + ms(1200)));
    c.cancel(id);
    // RFC 8489 §6.2.1: stale after 10 minutes without a transaction to that server.
    let later = t0 + ms(400) + Duration::from_secs(600);
    c.binding_request(later, local(), server());
    assert_eq!(c.poll_timeout(), Some(later + ms(500)));
}

proptest! {
    #[test]
    fn any_datagram_from_the_server_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let t0 = Instant::now();
        let mut c = client(ClientConfig::default());
        c.binding_request(t0, local(), server());
        deliver(&mut c, t0, server(), local(), &data);
        let _ = events(&mut c);
        let _ = drain(&mut c, t0);
    }

    #[test]
    fn any_response_body_with_the_right_id_never_panics(
        class in 0u16..4, body in proptest::collection::vec(any::<u8>(), 0..120), keyed: bool,
    ) {
        let t0 = Instant::now();
        let mut c = client(ClientConfig::default());
        let key = keyed.then(|| Key::short_term("pw"));
        let request = Message::new(Class::Request, Method::Binding, TransactionId::default());
        c.start(t0, local(), server(), &request, key).unwrap();
        let sent = drain(&mut c, t0);
        let mut data = sent[0].1[..20].to_vec();
        let typ = [0x0001u16, 0x0011, 0x0101, 0x0111][usize::from(class)];
        data[..2].copy_from_slice(&typ.to_be_bytes());
        let body = &body[..body.len() / 4 * 4];
        data[2..4].copy_from_slice(&(body.len() as u16).to_be_bytes());
        data.extend_from_slice(body);
        deliver(&mut c, t0, server(), local(), &data);
        let evs = events(&mut c);
        prop_assert!(evs.len() <= 1);
        prop_assert_eq!(c.pending() + evs.len(), 1);
    }
}
