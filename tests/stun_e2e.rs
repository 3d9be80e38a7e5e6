//! A STUN client against the STUN server, end to end, through the public `Protocol` API only.
//!
//! The "network" is a hand-written pump with a fixed one-way delay and a loss rule: no
//! simulator (that lives in `kaon::sim`), so these tests pin down the two state machines alone.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::stun::{
    Attribute, Class, Client, ClientConfig, ClientEvent, Integrity, Key, Message, Method, Server,
    ServerConfig, ShortTermCredentials, TransactionId,
};
use kaon::{Datagram, Protocol};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const DELAY: Duration = Duration::from_millis(25);

/// In flight: (arrival time, source, destination, bytes, towards the server?).
type Flight = VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>, bool)>;

/// Drives `client` and `server` until the client has nothing left to do. `drop` sees each
/// datagram (counting from 0, in send order) and says whether the network loses it.
fn run(
    client: &mut Client,
    server: &mut Server,
    t0: Instant,
    mut drop: impl FnMut(usize, &[u8]) -> bool,
) -> Vec<(Duration, ClientEvent)> {
    let mut now = t0;
    let mut flight: Flight = VecDeque::new();
    let mut events = Vec::new();
    let mut sent = 0;
    let mut buf = [0u8; 1500];
    for _ in 0..10_000 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            if !drop(sent, &buf[..t.len]) {
                flight.push_back((
                    now + DELAY,
                    t.source,
                    t.destination,
                    buf[..t.len].to_vec(),
                    true,
                ));
            }
            sent += 1;
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            if !drop(sent, &buf[..t.len]) {
                flight.push_back((
                    now + DELAY,
                    t.source,
                    t.destination,
                    buf[..t.len].to_vec(),
                    false,
                ));
            }
            sent += 1;
        }
        while server.poll_event().is_some() {}
        while let Some(e) = client.poll_event() {
            events.push((now - t0, e));
        }
        // Next thing to happen: a delivery or a client timer.
        let next_delivery = flight.iter().map(|f| f.0).min();
        let next = match (next_delivery, client.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return events,
        };
        now = now.max(next);
        while let Some(i) = flight.iter().position(|f| f.0 <= now) {
            let (_, source, destination, bytes, to_server) = flight.remove(i).unwrap();
            let d = Datagram {
                source,
                destination,
                contents: &bytes,
            };
            if to_server {
                server.handle_datagram(now, d);
            } else {
                client.handle_datagram(now, d);
            }
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    panic!("did not settle");
}

#[test]
fn client_learns_its_ipv4_address_from_the_server() {
    let server_addr = addr("192.0.2.1:3478");
    let me = addr("198.51.100.7:40000");
    let mut server = Server::new(ServerConfig::new(vec![server_addr]));
    let mut client = Client::new(ClientConfig {
        seed: Some(1),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    let id = client.binding_request(t0, me, server_addr);
    let events = run(&mut client, &mut server, t0, |_, _| false);
    assert_eq!(events.len(), 1);
    let (at, e) = &events[0];
    assert_eq!(*at, 2 * DELAY);
    assert_eq!(e.id(), id);
    assert_eq!(e.mapped_address(), Some(me));
    assert!(
        matches!(e, ClientEvent::Success { rtt, from, .. } if *rtt == 2 * DELAY && *from == server_addr)
    );
    assert_eq!(client.stats().transmitted, 1);
}

#[test]
fn client_learns_its_ipv6_address_from_the_server() {
    let server_addr = addr("[2001:db8::1]:3478");
    let me = addr("[2001:db8:ffff::42]:5000");
    let mut server = Server::new(ServerConfig::new(vec![server_addr]));
    let mut client = Client::new(ClientConfig {
        seed: Some(2),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    client.binding_request(t0, me, server_addr);
    let events = run(&mut client, &mut server, t0, |_, _| false);
    assert_eq!(events[0].1.mapped_address(), Some(me));
}

#[test]
fn lost_requests_are_retransmitted_until_one_gets_through() {
    let server_addr = addr("192.0.2.1:3478");
    let me = addr("198.51.100.7:40000");
    let mut server = Server::new(ServerConfig::new(vec![server_addr]));
    let mut client = Client::new(ClientConfig {
        seed: Some(3),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    client.binding_request(t0, me, server_addr);
    // The first three requests (sent at 0, 500 and 1500 ms) are lost; the fourth, at 3500 ms,
    // gets through.
    let events = run(&mut client, &mut server, t0, |n, _| n < 3);
    assert_eq!(events.len(), 1);
    let (at, e) = &events[0];
    assert_eq!(*at, Duration::from_millis(3500) + 2 * DELAY);
    assert_eq!(e.mapped_address(), Some(me));
    assert_eq!(client.stats().transmitted, 4);
}

#[test]
fn a_server_that_never_answers_times_out_after_39_5_seconds() {
    let mut server = Server::new(ServerConfig::new(vec![addr("192.0.2.1:3478")]));
    let mut client = Client::new(ClientConfig {
        seed: Some(4),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    let id = client.binding_request(t0, addr("198.51.100.7:1"), addr("192.0.2.1:3478"));
    let events = run(&mut client, &mut server, t0, |_, _| true);
    assert_eq!(
        events,
        [(Duration::from_millis(39_500), ClientEvent::Timeout { id })]
    );
}

#[test]
fn short_term_credentials_work_end_to_end_with_both_integrity_algorithms() {
    let server_addr = addr("192.0.2.1:3478");
    let me = addr("198.51.100.7:40000");
    let credentials = ShortTermCredentials {
        username: "remote:local".into(),
        password: "pw-1234567890".into(),
    };
    let config = ServerConfig {
        credentials: Some(credentials),
        software: Some("kaon server".into()),
        ..ServerConfig::new(vec![server_addr])
    };
    let mut server = Server::new(config);
    let mut client = Client::new(ClientConfig {
        seed: Some(5),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    for integrity in [Integrity::Sha1, Integrity::Sha256, Integrity::Both] {
        let key = Key::short_term("pw-1234567890").with_integrity(integrity);
        let request = Message::new(Class::Request, Method::Binding, TransactionId::default())
            .with(Attribute::Username("remote:local".into()))
            .with(Attribute::Priority(0x6e00_01ff))
            .with(Attribute::IceControlling(7));
        client
            .start(t0, me, server_addr, &request, Some(key))
            .unwrap();
        let events = run(&mut client, &mut server, t0, |_, _| false);
        match &events[..] {
            [(_, ClientEvent::Success { response, .. })] => {
                assert_eq!(response.xor_mapped_address(), Some(me));
                assert_eq!(response.software(), Some("kaon server"));
                assert!(response.has_integrity());
            }
            other => panic!("{integrity:?}: {other:?}"),
        }
    }
    // With the wrong password the server answers 401, which the client reports.
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default())
        .with(Attribute::Username("remote:local".into()));
    client
        .start(t0, me, server_addr, &request, Some(Key::short_term("nope")))
        .unwrap();
    let events = run(&mut client, &mut server, t0, |_, _| false);
    assert!(matches!(
        &events[..],
        [(_, ClientEvent::ErrorResponse { code: 401, .. })]
    ));
}

#[test]
fn rfc5780_change_request_round_trip() {
    let addresses: Vec<SocketAddr> = [
        "192.0.2.1:3478",
        "192.0.2.1:3479",
        "192.0.2.2:3478",
        "192.0.2.2:3479",
    ]
    .iter()
    .map(|a| addr(a))
    .collect();
    let mut server = Server::new(ServerConfig::new(addresses.clone()));
    let mut client = Client::new(ClientConfig {
        seed: Some(6),
        ..ClientConfig::default()
    });
    let me = addr("198.51.100.7:40000");
    let t0 = Instant::now();
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default()).with(
        Attribute::ChangeRequest {
            ip: true,
            port: true,
        },
    );
    client.start(t0, me, addresses[0], &request, None).unwrap();
    let events = run(&mut client, &mut server, t0, |_, _| false);
    match &events[..] {
        [(_, ClientEvent::Success { from, response, .. })] => {
            assert_eq!(*from, addresses[3]);
            assert_eq!(response.response_origin(), Some(addresses[3]));
            assert_eq!(response.other_address(), Some(addresses[3]));
            assert_eq!(response.mapped_address(), Some(me));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hundred_clients_worth_of_requests_in_flight_at_once() {
    let server_addr = addr("192.0.2.1:3478");
    let mut server = Server::new(ServerConfig::new(vec![server_addr]));
    let mut client = Client::new(ClientConfig {
        seed: Some(7),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    let locals: Vec<SocketAddr> = (0..100)
        .map(|i| addr(&format!("198.51.100.{}:{}", i + 1, 2000 + i)))
        .collect();
    let ids: Vec<TransactionId> = locals
        .iter()
        .map(|l| client.binding_request(t0, *l, server_addr))
        .collect();
    // Every other datagram is lost once; all transactions still complete.
    let events = run(&mut client, &mut server, t0, |n, _| n < 100 && n % 2 == 1);
    assert_eq!(events.len(), 100);
    for (_, e) in &events {
        let i = ids.iter().position(|id| *id == e.id()).unwrap();
        assert_eq!(e.mapped_address(), Some(locals[i]));
    }
}
