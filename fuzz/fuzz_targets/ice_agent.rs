//! The ICE agent's receive path: arbitrary datagrams, from known and unknown sources, to an
//! agent that is checking or already connected. Some inputs are re-signed with the right
//! password so the fuzzer reaches the authenticated request and response handlers.
#![no_main]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, IceState};
use kaon::stun::{Key, Message};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;

const A: &str = "192.0.2.1:5000";
const A2: &str = "[2001:db8::1]:5000";
const B: &str = "192.0.2.2:6000";
const STRANGER: &str = "203.0.113.9:1234";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two agents that know each other; connected first when `connect`.
fn setup(now: Instant, connect: bool, controlling: bool) -> Agent {
    let cfg = |c: bool, seed| AgentConfig {
        controlling: c,
        renomination: true,
        seed: Some(seed),
        ..AgentConfig::default()
    };
    let mut a = Agent::new(cfg(controlling, 1));
    let mut b = Agent::new(cfg(!controlling, 2));
    a.add_local_interface(addr(A)).unwrap();
    a.add_local_interface(addr(A2)).unwrap();
    b.add_local_interface(addr(B)).unwrap();
    let (ua, pa) = (a.local_credentials().0.to_owned(), a.local_credentials().1.to_owned());
    let (ub, pb) = (b.local_credentials().0.to_owned(), b.local_credentials().1.to_owned());
    a.set_remote_credentials(&ub, &pb).unwrap();
    b.set_remote_credentials(&ua, &pa).unwrap();
    for c in b.local_candidates().cloned().collect::<Vec<_>>() {
        a.add_remote_candidate(c).unwrap();
    }
    for c in a.local_candidates().cloned().collect::<Vec<_>>() {
        b.add_remote_candidate(c).unwrap();
    }
    if !connect {
        return a;
    }
    // A zero-delay network between the two.
    let mut now = now;
    let mut buf = [0u8; 1500];
    for _ in 0..200 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            moved = true;
            let copy = buf[..t.len].to_vec();
            b.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &copy });
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            moved = true;
            let copy = buf[..t.len].to_vec();
            a.handle_datagram(now, Datagram { source: t.source, destination: t.destination, contents: &copy });
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if a.state() == IceState::Completed || a.state() == IceState::Connected && !moved {
            break;
        }
        if !moved {
            match [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min() {
                Some(t) => now = now.max(t),
                None => break,
            }
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    a
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let t0 = Instant::now();
    let mut a = setup(t0, mode & 1 != 0, mode & 2 != 0);
    let local_key = Key::short_term(a.local_credentials().1);
    let mut now = t0 + Duration::from_secs(1);
    let mut buf = [0u8; 1500];
    while rest.len() >= 3 {
        let flags = rest[0];
        let len = (usize::from(u16::from_be_bytes([rest[1], rest[2]])) % 600).min(rest.len() - 3);
        let (chunk, tail) = rest[3..].split_at(len);
        rest = tail;
        let source = addr(match flags & 3 {
            0 | 1 => B,
            2 => STRANGER,
            _ => A2,
        });
        let destination = addr(if flags & 4 == 0 { A } else { A2 });
        // Re-sign parsable STUN with our password, so the authenticated paths are reached.
        let mut signed = [0u8; 2048];
        let contents: &[u8] = match (flags & 8 != 0, Message::parse(chunk)) {
            (true, Ok(m)) => match m.write(&mut signed, Some(&local_key), true) {
                Ok(n) => &signed[..n],
                Err(_) => chunk,
            },
            _ => chunk,
        };
        a.handle_datagram(now, Datagram { source, destination, contents });
        while a.poll_transmit(now, &mut buf).is_some() {}
        while a.poll_event().is_some() {}
        now += Duration::from_millis(u64::from(flags >> 4) * 137);
        a.handle_timeout(now);
        if let Some(t) = a.poll_timeout() {
            assert!(t + Duration::from_secs(3600) >= now, "deadline far in the past");
        }
    }
});
