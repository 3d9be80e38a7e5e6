//! ICE hot paths: the candidate attribute, the data receive path on the selected pair, and a
//! whole in-memory connect of two agents.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kaon::ice::{Agent, AgentConfig, Candidate, IceState, Received};
use kaon::{Datagram, Protocol};

const LINE: &str = "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 10.0.0.5 rport 61665 generation 0 ufrag 3Qeh network-id 1 network-cost 10";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two agents connected over a zero-delay in-memory network.
fn connected() -> (Agent, Agent, Instant) {
    let mut a = Agent::new(AgentConfig::controlling().with_seed(1));
    let mut b = Agent::new(AgentConfig::controlled().with_seed(2));
    a.add_local_interface(addr("192.0.2.1:5000")).unwrap();
    b.add_local_interface(addr("192.0.2.2:6000")).unwrap();
    let (u, p) = a.local_credentials();
    b.set_remote_credentials(u, p).unwrap();
    let (u, p) = b.local_credentials();
    a.set_remote_credentials(u, p).unwrap();
    for c in a.local_candidates().cloned().collect::<Vec<_>>() {
        b.add_remote_candidate(c).unwrap();
    }
    for c in b.local_candidates().cloned().collect::<Vec<_>>() {
        a.add_remote_candidate(c).unwrap();
    }
    a.end_of_remote_candidates();
    b.end_of_remote_candidates();
    let mut now = Instant::now();
    let mut buf = [0u8; 1500];
    for _ in 0..100 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            moved = true;
            let bytes = buf[..t.len].to_vec();
            b.handle_datagram(
                now,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &bytes,
                },
            );
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            moved = true;
            let bytes = buf[..t.len].to_vec();
            a.handle_datagram(
                now,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &bytes,
                },
            );
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if a.state() == IceState::Completed && b.state() == IceState::Completed {
            break;
        }
        if !moved {
            now += Duration::from_millis(10);
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    assert_eq!(a.state(), IceState::Completed);
    (a, b, now)
}

fn benches(c: &mut Criterion) {
    c.bench_function("ice/candidate_parse", |b| {
        b.iter(|| Candidate::parse(black_box(LINE)))
    });
    let cand = Candidate::parse(LINE).unwrap();
    c.bench_function("ice/candidate_write", |b| {
        b.iter(|| black_box(&cand).to_string())
    });

    let (mut a, _, now) = connected();
    let pair = a.selected_pair().unwrap();
    let payload = [0x17u8; 1200]; // a DTLS-looking record
    c.bench_function("ice/receive_data_on_selected_pair", |b| {
        b.iter(|| {
            let d = Datagram {
                source: pair.remote,
                destination: pair.local,
                contents: &payload,
            };
            matches!(a.receive(now, black_box(d)), Received::Data(_))
        })
    });

    c.bench_function("ice/connect_two_agents_in_memory", |b| b.iter(connected));
}

criterion_group!(ice, benches);
criterion_main!(ice);
