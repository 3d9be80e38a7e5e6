use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::message::MAX_ENTRIES;
use super::*;
use crate::{Datagram, Protocol};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

/// Appends a name's uncompressed labels (without the root byte).
fn labels(out: &mut Vec<u8>, dotted: &str) {
    for l in dotted.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
}

/// RFC 1035 §4.1.4's example, laid out in a message: F.ISI.ARPA in full, FOO.F.ISI.ARPA as a
/// label and a pointer to it, ARPA as a pointer into the middle of the first name, and the
/// root.
#[test]
fn rfc1035_compression_example_reads_every_name() {
    let mut m = vec![0, 0, 0x84, 0, 0, 1, 0, 3, 0, 0, 0, 0];
    let first = m.len();
    labels(&mut m, "F.ISI.ARPA");
    m.push(0);
    m.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    // FOO.F.ISI.ARPA A 192.0.2.1
    labels(&mut m, "FOO");
    m.extend_from_slice(&[0xc0, first as u8]);
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 1]);
    // ARPA: a pointer to the fourth label of the first name (offset 12 + 2 + 4).
    m.extend_from_slice(&[0xc0, (first + 6) as u8]);
    m.extend_from_slice(&[0, 28, 0x80, 1, 0, 0, 0, 10, 0, 16]);
    m.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    // The root, with some other type kept raw.
    m.push(0);
    m.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 1, 0, 3, 2, b'h', b'i']);

    let msg = Message::parse(&m).unwrap();
    assert!(msg.header.is_response());
    assert_eq!(msg.questions[0].name, name("f.isi.arpa"));
    assert_eq!(msg.questions[0].qtype, RecordType::A);
    assert!(!msg.questions[0].unicast_response);
    assert_eq!(msg.answers[0].name, name("FOO.F.ISI.ARPA"));
    assert_eq!(
        msg.answers[0].data,
        RecordData::A(Ipv4Addr::new(192, 0, 2, 1))
    );
    assert_eq!(msg.answers[1].name, name("ARPA"));
    assert!(msg.answers[1].cache_flush);
    assert_eq!(msg.answers[1].data, RecordData::Aaaa(Ipv6Addr::LOCALHOST));
    assert_eq!(msg.answers[2].name, Name::root());
    assert_eq!(msg.answers[2].rtype, RecordType::Txt);
    assert_eq!(msg.answers[2].data, RecordData::Raw(b"\x02hi".to_vec()));

    // Written back uncompressed, it says the same.
    let mut buf = vec![0u8; msg.len()];
    let n = msg.write(&mut buf).unwrap();
    assert_eq!(n, msg.len());
    assert_eq!(Message::parse(&buf[..n]).unwrap(), msg);
}

/// A query for an A record, byte for byte as RFC 1035 §4.1 lays it out (id 0, no flags, one
/// question; RFC 6762 §18.1 multicast queries carry id 0).
#[test]
fn query_is_written_in_the_rfc1035_layout() {
    let msg = Message {
        header: Header::query(),
        questions: vec![Question {
            name: name("abc.local"),
            qtype: RecordType::A,
            class: Class::In,
            unicast_response: true,
        }],
        ..Message::default()
    };
    let mut buf = [0u8; 64];
    let n = msg.write(&mut buf).unwrap();
    let mut want = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    labels(&mut want, "abc.local");
    want.extend_from_slice(&[0, 0, 1, 0x80, 1]);
    assert_eq!(&buf[..n], &want[..]);
}

#[test]
fn pointer_to_itself_or_forwards_is_rejected() {
    let mut m = vec![0; 12];
    m[5] = 1;
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&m), Err(Error::BadPointer));
    m[12..14].copy_from_slice(&[0xc0, 14]);
    assert_eq!(Message::parse(&m), Err(Error::BadPointer));
}

#[test]
fn pointer_loop_through_two_names_is_rejected() {
    // Name at 12 is a label then a pointer to 17, which points back to 12: the second hop
    // does not go strictly below the first target.
    let mut m = vec![0; 12];
    m[5] = 1;
    m.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&m), Err(Error::BadPointer));
}

#[test]
fn name_over_255_bytes_through_pointers_is_rejected() {
    // Name k is a 63-byte label followed by a pointer to name k-1; the fifth is 320 bytes.
    let mut m = vec![0; 12];
    let mut prev = None;
    for _ in 0..5 {
        let at = m.len();
        m.push(63);
        m.extend_from_slice(&[b'x'; 63]);
        match prev {
            Some(p) => m.extend_from_slice(&[0xc0 | (p >> 8) as u8, p as u8]),
            None => m.push(0),
        }
        prev = Some(at);
    }
    let last = prev.unwrap();
    // A question whose name points at the last chain: header says one question at offset 12,
    // so place it first by making the message start with a pointer.
    let mut q = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(&m[12..]);
    let body = q.len();
    q.extend_from_slice(&[0xc0 | (last >> 8) as u8, last as u8, 0, 1, 0, 1]);
    // The question is not at offset 12 here, so read the name directly.
    assert_eq!(name::Name::read(&q, body).err(), Some(Error::NameTooLong));
}

#[test]
fn reserved_label_types_are_rejected() {
    let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0x41, 0, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&m), Err(Error::BadLabel));
}

#[test]
fn too_many_entries_is_a_typed_error() {
    let m = [0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
    assert_eq!(Message::parse(&m), Err(Error::TooManyEntries(0xffff)));
    let ok = MAX_ENTRIES as u8;
    let m = [0, 0, 0, 0, 0, ok, 0, 0, 0, 0, 0, 0];
    assert_eq!(Message::parse(&m), Err(Error::Truncated));
}

#[test]
fn every_prefix_of_a_response_is_an_error_not_a_panic() {
    let msg = chromium_like_answer("0b4ec28b-8f4b-4cbe-a1b5-1bd4b79fae03.local");
    let mut buf = vec![0u8; msg.len()];
    let n = msg.write(&mut buf).unwrap();
    for cut in 0..n {
        assert!(Message::parse(&buf[..cut]).is_err(), "prefix {cut}");
    }
    assert_eq!(Message::parse(&buf[..n]).unwrap(), msg);
}

#[test]
fn nsec_bitmap_lists_its_types() {
    let d = RecordData::nsec(name("x.local"), &[RecordType::A, RecordType::Aaaa]);
    assert_eq!(d.nsec_types(), vec![RecordType::A, RecordType::Aaaa]);
    // RFC 4034 §4.3's window layout: window 0, 4 bytes, bits 1 and 28.
    let RecordData::Nsec { bitmap, .. } = &d else {
        unreachable!()
    };
    assert_eq!(bitmap, &[0, 4, 0x40, 0, 0, 0x08]);
}

#[test]
fn names_compare_ignoring_ascii_case() {
    assert_eq!(name("ABC.Local"), name("abc.local."));
    assert!(name("abc.local").matches("ABC.LOCAL."));
    assert!(!name("abc.local").matches("abc.local.x"));
    assert!(name("abc.local").is_local());
    assert!(!name("local").is_local());
    assert_eq!(Name::new("a..local"), Err(Error::BadLabel));
    assert_eq!(Name::new(&"a".repeat(64)), Err(Error::BadLabel));
}

/// What Chromium sends for its name (INTEROP.md): an A record and an NSEC, TTL 120, cache
/// flush, QR and AA set, id 0.
fn chromium_like_answer(n: &str) -> Message {
    Message {
        header: Header::response(0),
        answers: vec![Record {
            name: name(n),
            rtype: RecordType::A,
            class: Class::In,
            cache_flush: true,
            ttl: 120,
            data: RecordData::A(Ipv4Addr::new(10, 0, 0, 2)),
        }],
        additionals: vec![Record {
            name: name(n),
            rtype: RecordType::Nsec,
            class: Class::In,
            cache_flush: true,
            ttl: 120,
            data: RecordData::nsec(name(n), &[RecordType::A]),
        }],
        ..Message::default()
    }
}

// ---- the responder and querier ----

const A_SOCK: &str = "10.0.0.1:5353";
const B_SOCK: &str = "10.0.0.2:5353";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node(sock: &str, seed: u64) -> Mdns {
    Mdns::new(MdnsConfig::new(vec![sa(sock)]).with_seed(seed))
}

fn drain(m: &mut Mdns, now: Instant) -> Vec<(crate::Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(t) = m.poll_transmit(now, &mut buf) {
        out.push((t, buf[..t.len].to_vec()));
    }
    out
}

fn deliver(to: &mut Mdns, now: Instant, from: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
    to.handle_datagram(
        now,
        Datagram {
            source: from,
            destination: dst,
            contents: bytes,
        },
    );
}

fn query_bytes(n: &str, qtype: RecordType, qu: bool, id: u16) -> Vec<u8> {
    let msg = Message {
        header: Header { id, flags: 0 },
        questions: vec![Question {
            name: name(n),
            qtype,
            class: Class::In,
            unicast_response: qu,
        }],
        ..Message::default()
    };
    let mut b = vec![0u8; msg.len()];
    msg.write(&mut b).unwrap();
    b
}

fn events(m: &mut Mdns) -> Vec<MdnsEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

#[test]
fn registered_names_are_random_v4_uuids_under_local() {
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    assert_eq!(n.len(), 36 + 6);
    assert!(n.ends_with(".local"));
    let b: Vec<&str> = n[..36].split('-').collect();
    assert_eq!(
        b.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(b[2].starts_with('4'), "version 4");
    assert!(matches!(&b[3][..1], "8" | "9" | "a" | "b"), "RFC variant");
    // The same address keeps its name; another one gets another.
    assert_eq!(a.register(ip("10.0.0.1")).unwrap(), n);
    assert_ne!(a.register(ip("fe80::1")).unwrap(), n);
    // The same seed gives the same names.
    assert_eq!(node(A_SOCK, 1).register(ip("10.0.0.1")).unwrap(), n);
}

#[test]
fn a_query_is_answered_by_multicast_with_an_nsec_like_chromium() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    deliver(
        &mut a,
        now,
        sa(B_SOCK),
        group_for(sa(A_SOCK)),
        &query_bytes(&n, RecordType::A, false, 0),
    );
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    let (t, bytes) = &out[0];
    assert_eq!(t.source, sa(A_SOCK));
    assert_eq!(t.destination, sa("224.0.0.251:5353"));
    let msg = Message::parse(bytes).unwrap();
    assert_eq!(msg, chromium_like_answer_for(&n, "10.0.0.1"));
}

fn chromium_like_answer_for(n: &str, addr: &str) -> Message {
    let mut m = chromium_like_answer(n);
    m.answers[0].data = match ip(addr) {
        IpAddr::V4(v4) => RecordData::A(v4),
        IpAddr::V6(v6) => RecordData::Aaaa(v6),
    };
    m
}

#[test]
fn qu_query_is_answered_by_unicast_and_multicast() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    deliver(
        &mut a,
        now,
        sa(B_SOCK),
        sa(A_SOCK),
        &query_bytes(&n, RecordType::A, true, 0),
    );
    let dests: Vec<SocketAddr> = drain(&mut a, now)
        .iter()
        .map(|(t, _)| t.destination)
        .collect();
    assert_eq!(dests, [sa(B_SOCK), sa("224.0.0.251:5353")]);
}

#[test]
fn legacy_unicast_query_gets_its_id_question_and_a_short_ttl() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    let from = sa("10.0.0.2:40000");
    deliver(
        &mut a,
        now,
        from,
        sa(A_SOCK),
        &query_bytes(&n, RecordType::A, false, 0x1234),
    );
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1, "unicast only");
    assert_eq!(out[0].0.destination, from);
    let msg = Message::parse(&out[0].1).unwrap();
    assert_eq!(msg.header.id, 0x1234);
    assert_eq!(msg.questions.len(), 1);
    assert!(msg.answers[0].ttl <= 10);
    assert!(!msg.answers[0].cache_flush);
}

#[test]
fn aaaa_query_for_an_ipv4_name_gets_an_nsec_negative_answer() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    deliver(
        &mut a,
        now,
        sa(B_SOCK),
        sa(A_SOCK),
        &query_bytes(&n, RecordType::Aaaa, false, 0),
    );
    let out = drain(&mut a, now);
    let msg = Message::parse(&out[0].1).unwrap();
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.answers[0].rtype, RecordType::Nsec);
    assert_eq!(msg.answers[0].data.nsec_types(), vec![RecordType::A]);
}

#[test]
fn queries_for_other_names_and_bad_messages_get_no_answer() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    a.register(ip("10.0.0.1")).unwrap();
    let other = query_bytes("someone-else.local", RecordType::A, false, 0);
    deliver(&mut a, now, sa(B_SOCK), sa(A_SOCK), &other);
    deliver(&mut a, now, sa(B_SOCK), sa(A_SOCK), b"\x00\x01garbage");
    let mut opcode = query_bytes("x.local", RecordType::A, false, 0);
    opcode[2] = 0x10; // opcode 2
    deliver(&mut a, now, sa(B_SOCK), sa(A_SOCK), &opcode);
    assert!(drain(&mut a, now).is_empty());
    assert_eq!(a.stats().malformed, 1);
    assert_eq!(a.stats().ignored, 1);
}

#[test]
fn a_record_is_not_multicast_twice_within_one_second() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    let q = query_bytes(&n, RecordType::A, false, 0);
    deliver(&mut a, now, sa(B_SOCK), sa(A_SOCK), &q);
    assert_eq!(drain(&mut a, now).len(), 1);
    let soon = now + Duration::from_millis(500);
    deliver(&mut a, soon, sa("10.0.0.3:5353"), sa(A_SOCK), &q);
    assert!(drain(&mut a, soon).is_empty());
    let later = now + Duration::from_secs(1);
    deliver(&mut a, later, sa("10.0.0.3:5353"), sa(A_SOCK), &q);
    assert_eq!(drain(&mut a, later).len(), 1);
}

#[test]
fn known_answer_suppresses_the_response() {
    let now = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let n = a.register(ip("10.0.0.1")).unwrap();
    let mut q = Message::parse(&query_bytes(&n, RecordType::A, false, 0)).unwrap();
    q.answers = chromium_like_answer_for(&n, "10.0.0.1").answers;
    let mut b = vec![0u8; q.len()];
    q.write(&mut b).unwrap();
    deliver(&mut a, now, sa(B_SOCK), sa(A_SOCK), &b);
    assert!(drain(&mut a, now).is_empty());
}

#[test]
fn resolve_queries_at_0_1_3_seconds_then_fails_at_5() {
    let t0 = crate::test_clock::t0();
    let mut b = node(B_SOCK, 2);
    b.resolve(t0, "nobody.local").unwrap();
    let mut sent = Vec::new();
    let mut now = t0;
    while let Some(at) = b.poll_timeout() {
        for (t, bytes) in drain(&mut b, now) {
            assert_eq!(t.destination, sa("224.0.0.251:5353"));
            let msg = Message::parse(&bytes).unwrap();
            assert!(!msg.header.is_response());
            assert!(msg.questions.iter().all(|q| !q.unicast_response), "QM");
            let types: Vec<_> = msg.questions.iter().map(|q| q.qtype).collect();
            assert_eq!(types, [RecordType::A, RecordType::Aaaa]);
            sent.push(now - t0);
        }
        now = at;
        b.handle_timeout(now);
    }
    let s = Duration::from_secs;
    assert_eq!(sent, [s(0), s(1), s(3)]);
    assert_eq!(now - t0, s(5));
    assert_eq!(
        events(&mut b),
        [MdnsEvent::Failed {
            name: "nobody.local".into()
        }]
    );
    assert_eq!(
        b.resolve(now, "example.com"),
        Err(Error::NotLocal("example.com".into()))
    );
}

#[test]
fn answer_resolves_stops_the_retries_and_is_cached_for_its_ttl() {
    let t0 = crate::test_clock::t0();
    let mut a = node(A_SOCK, 1);
    let mut b = node(B_SOCK, 2);
    let n = a.register(ip("10.0.0.1")).unwrap();
    let upper = n.to_uppercase();
    b.resolve(t0, &upper).unwrap();
    for (t, bytes) in drain(&mut b, t0) {
        deliver(&mut a, t0, t.source, t.destination, &bytes);
    }
    for (t, bytes) in drain(&mut a, t0) {
        deliver(&mut b, t0, t.source, t.destination, &bytes);
    }
    assert_eq!(
        events(&mut b),
        [MdnsEvent::Resolved {
            name: upper.clone(),
            ip: ip("10.0.0.1")
        }]
    );
    // No more queries: the only deadline left is the cache entry's expiry at 120 s.
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    assert_eq!(b.lookup(t0, &n), [ip("10.0.0.1")]);
    let later = t0 + Duration::from_secs(121);
    b.handle_timeout(later);
    assert!(b.lookup(later, &n).is_empty());
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn cached_name_is_reported_at_once_when_asked_again() {
    let t0 = crate::test_clock::t0();
    let mut b = node(B_SOCK, 2);
    b.resolve(t0, "peer.local").unwrap();
    drain(&mut b, t0);
    let answer = chromium_like_answer_for("peer.local", "10.0.0.9");
    let mut bytes = vec![0u8; answer.len()];
    answer.write(&mut bytes).unwrap();
    deliver(
        &mut b,
        t0,
        sa("10.0.0.9:5353"),
        sa("224.0.0.251:5353"),
        &bytes,
    );
    assert_eq!(events(&mut b).len(), 1);
    // Asked again while cached: answered at once, nothing on the wire.
    let later = t0 + Duration::from_secs(30);
    b.resolve(later, "PEER.local").unwrap();
    assert_eq!(
        events(&mut b),
        [MdnsEvent::Resolved {
            name: "PEER.local".into(),
            ip: ip("10.0.0.9")
        }]
    );
    assert!(drain(&mut b, later).is_empty());
    b.forget("peer.local");
    b.resolve(later, "peer.local").unwrap();
    // Forgotten: asks again on the wire.
    assert_eq!(drain(&mut b, later).len(), 1);
    deliver(
        &mut b,
        later,
        sa("10.0.0.9:5353"),
        sa("224.0.0.251:5353"),
        &bytes,
    );
    assert_eq!(events(&mut b).len(), 1);
}

#[test]
fn response_not_from_port_5353_is_ignored() {
    let t0 = crate::test_clock::t0();
    let mut b = node(B_SOCK, 2);
    b.resolve(t0, "peer.local").unwrap();
    let answer = chromium_like_answer_for("peer.local", "10.0.0.9");
    let mut bytes = vec![0u8; answer.len()];
    answer.write(&mut bytes).unwrap();
    deliver(&mut b, t0, sa("10.0.0.9:1234"), sa(B_SOCK), &bytes);
    assert!(events(&mut b).is_empty());
    assert_eq!(b.stats().ignored, 1);
}

#[test]
fn ipv6_socket_queries_the_ipv6_group_on_its_interface() {
    let t0 = crate::test_clock::t0();
    let sock: SocketAddr = "[fe80::2%3]:5353".parse().unwrap();
    let mut b = Mdns::new(MdnsConfig::new(vec![sa(B_SOCK), sock]).with_seed(2));
    b.resolve(t0, "peer.local").unwrap();
    let dests: Vec<SocketAddr> = drain(&mut b, t0)
        .iter()
        .map(|(t, _)| t.destination)
        .collect();
    assert_eq!(
        dests,
        [sa("224.0.0.251:5353"), "[ff02::fb%3]:5353".parse().unwrap()]
    );
}

// ---- properties ----

fn arb_name() -> impl Strategy<Value = Name> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 0..6)
        .prop_map(|l| Name::from_labels(l).unwrap())
}

fn arb_type() -> impl Strategy<Value = RecordType> {
    any::<u16>().prop_map(RecordType::from)
}

fn arb_class() -> impl Strategy<Value = Class> {
    (0u16..0x8000).prop_map(Class::from_u15)
}

fn arb_record() -> impl Strategy<Value = Record> {
    let data = prop_oneof![
        any::<[u8; 4]>().prop_map(|b| (RecordType::A, RecordData::A(Ipv4Addr::from(b)))),
        any::<[u8; 16]>().prop_map(|b| (RecordType::Aaaa, RecordData::Aaaa(Ipv6Addr::from(b)))),
        (arb_name(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(next, bitmap)| (RecordType::Nsec, RecordData::Nsec { next, bitmap })),
        (arb_type(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_filter("raw data for a parsed type", |(t, raw)| match t {
                RecordType::A => raw.len() != 4,
                RecordType::Aaaa => raw.len() != 16,
                RecordType::Nsec => false,
                _ => true,
            })
            .prop_map(|(t, raw)| (t, RecordData::Raw(raw))),
    ];
    (arb_name(), data, arb_class(), any::<bool>(), any::<u32>()).prop_map(
        |(name, (rtype, data), class, cache_flush, ttl)| Record {
            name,
            rtype,
            class,
            cache_flush,
            ttl,
            data,
        },
    )
}

fn arb_message() -> impl Strategy<Value = Message> {
    let question = (arb_name(), arb_type(), arb_class(), any::<bool>()).prop_map(
        |(name, qtype, class, unicast_response)| Question {
            name,
            qtype,
            class,
            unicast_response,
        },
    );
    (
        any::<(u16, u16)>(),
        prop::collection::vec(question, 0..4),
        prop::collection::vec(arb_record(), 0..4),
        prop::collection::vec(arb_record(), 0..3),
        prop::collection::vec(arb_record(), 0..3),
    )
        .prop_map(
            |((id, flags), questions, answers, authorities, additionals)| Message {
                header: Header { id, flags },
                questions,
                answers,
                authorities,
                additionals,
            },
        )
}

proptest! {
    #[test]
    fn message_round_trips(msg in arb_message()) {
        let mut buf = vec![0u8; msg.len()];
        let n = msg.write(&mut buf).unwrap();
        prop_assert_eq!(n, msg.len());
        prop_assert_eq!(Message::parse(&buf[..n]).unwrap(), msg);
    }

    #[test]
    fn any_bytes_parse_or_fail_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(msg) = Message::parse(&bytes) {
            // What parses writes and parses again to the same message.
            // What parses writes and parses again. (Not always to the same value: raw data
            // with a compression pointer in it reads differently at another offset.)
            let mut buf = vec![0u8; msg.len()];
            let n = msg.write(&mut buf).unwrap();
            let again = Message::parse(&buf[..n]).unwrap();
            prop_assert_eq!(again.header, msg.header);
            prop_assert_eq!(&again.questions, &msg.questions);
            prop_assert_eq!(again.records().count(), msg.records().count());
        }
    }

    #[test]
    fn any_datagram_leaves_the_responder_sane(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let now = crate::test_clock::t0();
        let mut a = node(A_SOCK, 1);
        a.register(ip("10.0.0.1")).unwrap();
        a.resolve(now, "peer.local").unwrap();
        deliver(&mut a, now, sa(B_SOCK), sa(A_SOCK), &bytes);
        drain(&mut a, now);
        events(&mut a);
        prop_assert!(a.poll_timeout().is_some());
    }
}
