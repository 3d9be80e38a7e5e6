//! One agent driven by hand: what its checks carry, when they are retransmitted, which
//! requests it answers, and that no input makes it panic.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, Candidate, CandidateKind, IceEvent, IceState, priority};
use kaon::stun::{Attribute, Class, ErrorCode, Key, Message, Method, TransactionId};
use kaon::{Datagram, Protocol, Rng};
use proptest::prelude::*;

const LOCAL: &str = "192.0.2.1:5000";
const REMOTE_UFRAG: &str = "rmte";
const REMOTE_PWD: &str = "remotepasswordremotepass";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A controlling agent on LOCAL that knows the remote credentials and `remotes` as host
/// candidates.
fn agent(remotes: &[&str]) -> Agent {
    let mut a = Agent::new(AgentConfig::controlling().with_seed(1));
    a.add_local_interface(addr(LOCAL)).unwrap();
    a.set_remote_credentials(REMOTE_UFRAG, REMOTE_PWD).unwrap();
    for (i, r) in remotes.iter().enumerate() {
        let c = Candidate::host(addr(r), 65535 - i as u16);
        a.add_remote_candidate(c).unwrap();
    }
    a
}

/// Drives `a` with no answers for `span`, returning every datagram it sent with its time.
fn sent_over(a: &mut Agent, t0: Instant, span: Duration) -> Vec<(Duration, SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    let mut now = t0;
    loop {
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            out.push((now - t0, t.destination, buf[..t.len].to_vec()));
        }
        while a.poll_event().is_some() {}
        match a.poll_timeout() {
            Some(d) if d <= t0 + span => {
                now = now.max(d);
                a.handle_timeout(now);
            }
            _ => return out,
        }
    }
}

#[test]
fn checks_carry_username_priority_role_integrity_and_fingerprint() {
    let mut a = agent(&["192.0.2.9:6000"]);
    let sent = sent_over(&mut a, Instant::now(), Duration::from_millis(1));
    let (_, to, bytes) = &sent[0];
    assert_eq!(*to, addr("192.0.2.9:6000"));
    let m = Message::parse(bytes).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Request, Method::Binding));
    let (lfrag, _) = a.local_credentials();
    assert_eq!(
        m.username(),
        Some(format!("{REMOTE_UFRAG}:{lfrag}").as_str())
    );
    // PRIORITY: what a peer-reflexive candidate of the same base would get.
    let host = a.local_candidates().next().unwrap().priority;
    let local_pref = ((host >> 8) & 0xffff) as u16;
    assert_eq!(
        m.priority(),
        Some(priority(CandidateKind::PeerReflexive, local_pref, 1))
    );
    assert_eq!(m.ice_controlling(), Some(a.tie_breaker()));
    assert!(m.verify(&Key::short_term(REMOTE_PWD)).is_ok());
    assert!(m.verify_fingerprint().is_ok());
    assert!(!m.use_candidate());
}

#[test]
fn retransmissions_follow_rfc8445_section_14_3() {
    // Four pairs: the checks start one Ta (50 ms) apart, and each first RTO is
    // MAX(500 ms, Ta * N * (Num-Waiting + Num-In-Progress)) = 50 ms * 4 * 4 = 800 ms; then
    // RFC 8489 doubles it: sends at 0, 0.8, 2.4, 5.6, 12, 24.8 and 50.4 s, 7 in all.
    let remotes = [
        "192.0.2.10:1",
        "192.0.2.11:1",
        "192.0.2.12:1",
        "192.0.2.13:1",
    ];
    let mut a = agent(&remotes);
    let t0 = Instant::now();
    let sent = sent_over(&mut a, t0, Duration::from_secs(120));
    for (i, r) in remotes.iter().enumerate() {
        let times: Vec<u64> = sent
            .iter()
            .filter(|(_, to, _)| *to == addr(r))
            .map(|(t, _, _)| t.as_millis() as u64)
            .collect();
        let start = 50 * i as u64;
        let expected: Vec<u64> = [0, 800, 2400, 5600, 12000, 24800, 50400]
            .iter()
            .map(|o| start + o)
            .collect();
        assert_eq!(times, expected, "pair {i}");
        // Retransmissions are identical (same transaction id).
        let ids: Vec<TransactionId> = sent
            .iter()
            .filter(|(_, to, _)| *to == addr(r))
            .map(|(_, _, b)| Message::parse(b).unwrap().transaction_id())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
    }
    // Rm * RTO = 12.8 s after the last send every pair has failed.
    assert_eq!(a.stats().retransmissions, 4 * 6);
    assert!(a.poll_timeout().is_none() || a.state() == IceState::Checking);
}

/// A check from the "remote" side of `agent`, signed with `pwd`.
fn check_from_remote(
    agent: &Agent,
    pwd: &str,
    username: Option<&str>,
    id: TransactionId,
) -> Vec<u8> {
    let (lfrag, _) = agent.local_credentials();
    let user = username
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{lfrag}:{REMOTE_UFRAG}"));
    let m = Message::new(Class::Request, Method::Binding, id)
        .with(Attribute::Username(user.into()))
        .with(Attribute::Priority(1_000))
        .with(Attribute::IceControlled(1));
    let mut buf = vec![0u8; 512];
    let n = m
        .write(&mut buf, Some(&Key::short_term(pwd)), true)
        .unwrap();
    buf.truncate(n);
    buf
}

fn responses(a: &mut Agent, now: Instant) -> Vec<Message<'static>> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(t) = a.poll_transmit(now, &mut buf) {
        let m = Message::parse(&buf[..t.len]).unwrap().into_owned();
        if m.class() != Class::Request {
            out.push(m);
        }
    }
    out
}

#[test]
fn only_authenticated_checks_are_answered() {
    let now = Instant::now();
    let mut rng = Rng::from_seed(9);
    let mut a = agent(&[]);
    let (lfrag, lpwd) = {
        let (u, p) = a.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    let peer = addr("198.51.100.4:7000");
    let deliver = |a: &mut Agent, bytes: &[u8]| {
        a.handle_datagram(
            now,
            Datagram {
                source: peer,
                destination: addr(LOCAL),
                contents: bytes,
            },
        )
    };
    // Wrong password, wrong ufrag, no username: silence.
    let m = check_from_remote(
        &a,
        "wrongpasswordwrongpasswor",
        None,
        TransactionId::random(&mut rng),
    );
    deliver(&mut a, &m);
    let m = check_from_remote(
        &a,
        &lpwd,
        Some("nope:rmte"),
        TransactionId::random(&mut rng),
    );
    deliver(&mut a, &m);
    let m = check_from_remote(&a, &lpwd, Some("nocolon"), TransactionId::random(&mut rng));
    deliver(&mut a, &m);
    assert!(responses(&mut a, now).is_empty());
    assert_eq!(a.stats().unauthenticated, 3);
    // The right credentials: a signed success with the source as mapped address, and a
    // peer-reflexive remote candidate to check back.
    let id = TransactionId::random(&mut rng);
    let m = check_from_remote(&a, &lpwd, Some(&format!("{lfrag}:{REMOTE_UFRAG}")), id);
    deliver(&mut a, &m);
    let r = responses(&mut a, now);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].class(), Class::SuccessResponse);
    assert_eq!(r[0].transaction_id(), id);
    assert_eq!(r[0].xor_mapped_address(), Some(peer));
    assert!(r[0].verify(&Key::short_term(&lpwd)).is_ok());
}

#[test]
fn controlling_agent_with_the_larger_tie_breaker_answers_487() {
    let now = Instant::now();
    let mut rng = Rng::from_seed(10);
    let mut a = agent(&[]);
    let lpwd = a.local_credentials().1.to_owned();
    let lfrag = a.local_credentials().0.to_owned();
    let send = |a: &mut Agent, tie: u64, id| {
        let m = Message::new(Class::Request, Method::Binding, id)
            .with(Attribute::Username(
                format!("{lfrag}:{REMOTE_UFRAG}").into(),
            ))
            .with(Attribute::Priority(1_000))
            .with(Attribute::IceControlling(tie));
        let mut buf = vec![0u8; 512];
        let n = m
            .write(&mut buf, Some(&Key::short_term(&lpwd)), true)
            .unwrap();
        a.handle_datagram(
            now,
            Datagram {
                source: addr("198.51.100.4:7000"),
                destination: addr(LOCAL),
                contents: &buf[..n],
            },
        );
    };
    let mine = a.tie_breaker();
    if mine > 0 {
        send(&mut a, mine - 1, TransactionId::random(&mut rng));
        let r = responses(&mut a, now);
        assert_eq!(r[0].class(), Class::ErrorResponse);
        assert_eq!(r[0].error_code().unwrap().code, ErrorCode::ROLE_CONFLICT);
        assert!(a.is_controlling());
    }
    if mine < u64::MAX {
        send(&mut a, mine + 1, TransactionId::random(&mut rng));
        let r = responses(&mut a, now);
        assert_eq!(r[0].class(), Class::SuccessResponse);
        assert!(
            !a.is_controlling(),
            "the larger peer tie-breaker wins control"
        );
    }
}

#[test]
fn mdns_candidates_are_held_until_resolved() {
    let mut a = agent(&[]);
    let c = Candidate::parse("candidate:1 1 udp 2113937151 abcd-1234.local 6000 typ host").unwrap();
    a.add_remote_candidate(c).unwrap();
    let t0 = Instant::now();
    assert!(sent_over(&mut a, t0, Duration::from_millis(100)).is_empty());
    assert_eq!(
        a.resolve_remote_name("ABCD-1234.local", "192.0.2.77".parse().unwrap()),
        1
    );
    let sent = sent_over(&mut a, t0, Duration::from_millis(200));
    assert_eq!(sent[0].1, addr("192.0.2.77:6000"));
}

#[test]
fn host_candidates_and_gathering_complete_are_reported() {
    let mut a = Agent::new(AgentConfig::default().with_seed(3));
    a.add_local_interface(addr("192.0.2.1:5000")).unwrap();
    a.add_local_interface(addr("[2001:db8::1]:5000")).unwrap();
    let now = Instant::now();
    let mut buf = [0u8; 1500];
    assert!(a.poll_transmit(now, &mut buf).is_none());
    let events: Vec<IceEvent> = std::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    let IceEvent::LocalCandidate(v6) = &events[1] else {
        panic!()
    };
    let IceEvent::LocalCandidate(v4) = &events[0] else {
        panic!()
    };
    assert!(v6.priority > v4.priority, "RFC 8421: IPv6 first");
    assert_eq!(events[2], IceEvent::GatheringComplete);
    assert_eq!(a.state(), IceState::New);
}

proptest! {
    // PROPTEST_CASES wins; 256 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn any_bytes_from_anywhere_never_panic(
        datagrams in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>(), any::<bool>()),
            1..20,
        )
    ) {
        let mut a = agent(&["192.0.2.9:6000"]);
        let t0 = Instant::now();
        let mut buf = [0u8; 1500];
        for (i, (mut bytes, stunlike, known)) in datagrams.into_iter().enumerate() {
            if stunlike && bytes.len() >= 20 {
                // Make it pass the cheap STUN test so the parser and handlers see it.
                bytes[0] &= 0x01;
                bytes[4..8].copy_from_slice(&0x2112_a442u32.to_be_bytes());
                let len = (bytes.len() - 20) as u16 & !3;
                bytes[2..4].copy_from_slice(&len.to_be_bytes());
                bytes.truncate(20 + len as usize);
            }
            let source = if known { addr("192.0.2.9:6000") } else { addr("203.0.113.5:1") };
            let now = t0 + Duration::from_millis(10 * i as u64);
            a.handle_datagram(now, Datagram { source, destination: addr(LOCAL), contents: &bytes });
            while a.poll_transmit(now, &mut buf).is_some() {}
            while a.poll_event().is_some() {}
            a.handle_timeout(now);
        }
    }
}

/// Answers the agent's first check as the remote would, from `from`.
fn answer_first_check(a: &mut Agent, now: Instant, from: &str) {
    let mut buf = [0u8; 1500];
    let t = a.poll_transmit(now, &mut buf).unwrap();
    let req = Message::parse(&buf[..t.len]).unwrap().into_owned();
    let resp = Message::new(
        Class::SuccessResponse,
        Method::Binding,
        req.transaction_id(),
    )
    .with(Attribute::XorMappedAddress(t.source));
    let mut out = [0u8; 512];
    let n = resp
        .write(&mut out, Some(&Key::short_term(REMOTE_PWD)), true)
        .unwrap();
    a.handle_datagram(
        now,
        Datagram {
            source: addr(from),
            destination: t.source,
            contents: &out[..n],
        },
    );
}

#[test]
fn a_response_from_another_address_fails_the_pair() {
    // RFC 8445 §7.2.5.2.1: the response must come from where the check went.
    let now = Instant::now();
    let mut a = agent(&["192.0.2.9:6000"]);
    a.end_of_remote_candidates();
    answer_first_check(&mut a, now, "192.0.2.10:6000");
    a.handle_timeout(now);
    assert_eq!(a.state(), IceState::Failed);
    assert!(a.selected_pair().is_none());

    let mut b = agent(&["192.0.2.9:6000"]);
    answer_first_check(&mut b, now, "192.0.2.9:6000");
    assert_eq!(b.state(), IceState::Connected);
}

#[test]
fn a_response_signed_with_the_wrong_password_is_not_believed() {
    let now = Instant::now();
    let mut a = agent(&["192.0.2.9:6000"]);
    let mut buf = [0u8; 1500];
    let t = a.poll_transmit(now, &mut buf).unwrap();
    let req = Message::parse(&buf[..t.len]).unwrap().into_owned();
    let resp = Message::new(
        Class::SuccessResponse,
        Method::Binding,
        req.transaction_id(),
    )
    .with(Attribute::XorMappedAddress(t.source));
    let mut out = [0u8; 512];
    let n = resp
        .write(
            &mut out,
            Some(&Key::short_term("notthepasswordnotthepass")),
            true,
        )
        .unwrap();
    a.handle_datagram(
        now,
        Datagram {
            source: t.destination,
            destination: t.source,
            contents: &out[..n],
        },
    );
    assert_eq!(a.state(), IceState::Checking);
    assert_eq!(a.stats().unauthenticated, 1);
}

#[test]
fn remote_candidates_peer_reflexive_floods_and_queues_are_bounded() {
    let now = Instant::now();
    let mut a = agent(&[]);
    let cfg = a.config().clone();
    let mut refused = 0;
    for i in 0..200u16 {
        let c = Candidate::host(SocketAddr::from(([192, 0, 2, 100], 1000 + i)), 1);
        if a.add_remote_candidate(c).is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 200 - cfg.max_remote_candidates);
    // Authenticated checks from many unknown addresses: answered, but the peer-reflexive
    // candidates they create stay within the limit, and the outbox never grows past its cap.
    let mut rng = Rng::from_seed(12);
    let (lfrag, lpwd) = (
        a.local_credentials().0.to_owned(),
        a.local_credentials().1.to_owned(),
    );
    for i in 0..3000u32 {
        let m = check_from_remote(
            &a,
            &lpwd,
            Some(&format!("{lfrag}:{REMOTE_UFRAG}")),
            TransactionId::random(&mut rng),
        );
        let source = SocketAddr::from(([198, 51, 100, (i % 250) as u8], 2000 + (i / 250) as u16));
        a.handle_datagram(
            now,
            Datagram {
                source,
                destination: addr(LOCAL),
                contents: &m,
            },
        );
    }
    assert!(a.stats().dropped > 0, "the outbox cap was reached");
    let mut buf = [0u8; 1500];
    let mut sent = 0;
    while a.poll_transmit(now, &mut buf).is_some() {
        sent += 1;
    }
    assert!(sent <= cfg.max_queue + 1, "{sent}");
}
