//! The TURN client against kaon's TURN server (and scripted stand-ins), in process on a
//! virtual clock: authentication, errors as events, families, redirects, permissions,
//! channels, refreshes over an hour, deallocation, expiry, and the server's bounds.

mod turn_support;

use std::borrow::Cow;
use std::time::Duration;

use kaon::Protocol;
use kaon::stun::{Attribute, Class, ErrorCode, Key, Message, Method, PasswordAlgorithm};
use kaon::turn::{ClientEvent, RelayFamily, ServerEvent, TurnError};
use turn_support::*;

const SEC: Duration = Duration::from_secs(1);

fn allocated_world() -> World {
    let mut w = World::new(server_config());
    w.add_client(client_config("alice", "secret"));
    assert_eq!(w.allocated(0), Some(vec![addr(RELAY)]));
    w
}

#[test]
fn allocates_with_sha256_when_the_server_offers_it() {
    let w = allocated_world();
    // The first Allocate is unauthenticated; the second names SHA-256 and echoes the list.
    let second = Message::parse(&w.sent[1].2).unwrap();
    assert_eq!(second.method(), Method::Allocate);
    assert!(second.attributes().iter().any(|a| matches!(
        a,
        Attribute::PasswordAlgorithm {
            algorithm: PasswordAlgorithm::Sha256,
            ..
        }
    )));
    assert_eq!(second.username(), Some("alice"));
    assert!(matches!(
        &w.client_events[0][0],
        ClientEvent::Allocated { mapped: Some(m), lifetime, .. }
            if *m == addr(CLIENT) && *lifetime == 600 * SEC
    ));
    assert!(matches!(
        &w.server_events[0],
        ServerEvent::Allocated { username, .. } if username == "alice"
    ));
}

/// A server in the RFC 5389 style: 401 without PASSWORD-ALGORITHMS, then MD5 keys.
fn md5_script() -> Script {
    let key = Key::long_term("alice", "old.example", "secret");
    Box::new(move |bytes| {
        let req = Message::parse(bytes).ok()?;
        let id = req.transaction_id();
        if req.username().is_none() {
            let mut m = Message::new(Class::ErrorResponse, req.method(), id);
            m.add(Attribute::ErrorCode(ErrorCode {
                code: 401,
                reason: "Unauthenticated".into(),
            }));
            m.add(Attribute::Realm("old.example".into()));
            m.add(Attribute::Nonce("n0nce".into()));
            let mut out = vec![0u8; 200];
            let n = m.write(&mut out, None, false).unwrap();
            out.truncate(n);
            return Some(out);
        }
        assert!(req.verify(&key).is_ok(), "MD5 key");
        assert!(req.get(kaon::stun::attr_type::PASSWORD_ALGORITHM).is_none());
        let m = Message::new(Class::SuccessResponse, req.method(), id)
            .with(Attribute::XorRelayedAddress(addr(RELAY)))
            .with(Attribute::Lifetime(300));
        let mut out = vec![0u8; 200];
        let n = m.write(&mut out, Some(&key), false).unwrap();
        out.truncate(n);
        Some(out)
    })
}

#[test]
fn allocates_with_md5_on_a_server_without_password_algorithms() {
    let mut w = World::new(server_config());
    w.scripts.push((addr(SERVER), md5_script()));
    w.add_client(client_config("alice", "secret"));
    assert_eq!(w.allocated(0), Some(vec![addr(RELAY)]));
}

#[test]
fn wrong_password_is_an_event_not_a_hang() {
    let mut w = World::new(server_config());
    w.add_client(client_config("alice", "wrong"));
    assert_eq!(w.failure(0), Some(TurnError::BadCredentials));
    assert_eq!(w.clients[0].poll_timeout(), None);
    assert_eq!(w.server.allocations(), 0);
    let mut w = World::new(server_config());
    w.add_client(client_config("mallory", "secret"));
    assert_eq!(w.failure(0), Some(TurnError::BadCredentials));
}

#[test]
fn per_user_quota_refuses_with_486() {
    let mut cfg = server_config();
    cfg.max_allocations_per_user = 1;
    let mut w = World::new(cfg);
    w.add_client(client_config("alice", "secret"));
    let mut second = client_config("alice", "secret");
    second.local = addr("198.51.100.7:40001");
    w.add_client(second);
    assert!(w.allocated(0).is_some());
    assert_eq!(w.failure(1).and_then(|e| e.code()), Some(486));
}

#[test]
fn full_server_refuses_with_508() {
    let mut cfg = server_config();
    cfg.max_allocations = 1;
    let mut w = World::new(cfg);
    w.add_client(client_config("alice", "secret"));
    let mut second = client_config("bob", "hunter2");
    second.local = addr("198.51.100.8:40000");
    w.add_client(second);
    assert_eq!(w.failure(1).and_then(|e| e.code()), Some(508));
    // An empty relay pool is the same answer.
    let mut cfg = server_config();
    cfg.relays = vec![addr(RELAY)];
    let mut w = World::new(cfg);
    w.add_client(client_config("alice", "secret"));
    let mut second = client_config("bob", "hunter2");
    second.local = addr("198.51.100.8:40000");
    w.add_client(second);
    assert_eq!(w.failure(1).and_then(|e| e.code()), Some(508));
}

#[test]
fn dead_server_times_out_with_an_event() {
    let mut w = World::new(server_config());
    w.blackhole = true;
    w.add_client(client_config("alice", "secret"));
    w.run_for(45 * SEC);
    assert_eq!(w.failure(0), Some(TurnError::Timeout));
    assert_eq!(w.clients[0].poll_timeout(), None);
}

#[test]
fn ipv6_and_dual_allocations_get_their_families() {
    let mut w = World::new(server_config());
    let mut c = client_config("alice", "secret");
    c.family = RelayFamily::V6;
    w.add_client(c);
    assert_eq!(w.allocated(0), Some(vec![addr(RELAY6)]));

    let mut w = World::new(server_config());
    let mut c = client_config("alice", "secret");
    c.family = RelayFamily::Dual;
    w.add_client(c);
    assert_eq!(w.allocated(0), Some(vec![addr(RELAY), addr(RELAY6)]));

    let mut cfg = server_config();
    cfg.relays = vec![addr(RELAY)];
    let mut w = World::new(cfg);
    let mut c = client_config("alice", "secret");
    c.family = RelayFamily::V6;
    w.add_client(c);
    assert_eq!(w.failure(0).and_then(|e| e.code()), Some(440));
}

fn redirect_to(alt: &'static str) -> Script {
    Box::new(move |bytes| {
        let req = Message::parse(bytes).ok()?;
        let m = Message::new(Class::ErrorResponse, req.method(), req.transaction_id())
            .with(Attribute::ErrorCode(ErrorCode {
                code: 300,
                reason: Cow::Borrowed("Try Alternate"),
            }))
            .with(Attribute::AlternateServer(addr(alt)));
        let mut out = vec![0u8; 200];
        let n = m.write(&mut out, None, false).unwrap();
        out.truncate(n);
        Some(out)
    })
}

#[test]
fn alternate_server_is_followed_once() {
    const ALT: &str = "192.0.2.1:3479";
    let mut cfg = server_config();
    cfg.listen = vec![addr(ALT)];
    let mut w = World::new(cfg);
    w.scripts.push((addr(SERVER), redirect_to(ALT)));
    w.add_client(client_config("alice", "secret"));
    assert_eq!(
        w.client_events[0][0],
        ClientEvent::Redirected { server: addr(ALT) }
    );
    assert!(w.allocated(0).is_some());
    assert_eq!(w.clients[0].server_addr(), addr(ALT));

    let mut w = World::new(server_config());
    w.scripts.push((addr(SERVER), redirect_to(ALT)));
    w.scripts.push((addr(ALT), redirect_to(SERVER)));
    w.add_client(client_config("alice", "secret"));
    assert_eq!(w.failure(0), Some(TurnError::TooManyRedirects));
}

#[test]
fn data_goes_as_channel_data_once_bound_and_as_indications_without_channels() {
    for channels in [true, false] {
        let mut w = World::new(server_config());
        let mut c = client_config("alice", "secret");
        c.channels = channels;
        w.add_client(c);
        let peer = addr(PEER);
        w.clients[0].permit(w.now, peer);
        w.step();
        assert_eq!(w.clients[0].channel(peer).is_some(), channels);
        let now = w.now;
        assert!(w.clients[0].send(now, peer, b"to the peer"));
        w.step();
        let (_, _, last) = w.sent.last().unwrap();
        assert_eq!(last[0] >> 6, if channels { 0b01 } else { 0b00 });
        assert_eq!(
            w.to_peers.last().unwrap(),
            &(addr(RELAY), peer, b"to the peer".to_vec())
        );
        w.peer_send(peer, addr(RELAY), b"from the peer");
        assert_eq!(w.data(0), vec![(peer, b"from the peer".to_vec())]);
        let stats = w.clients[0].stats();
        assert_eq!(
            (stats.channel_data_sent, stats.indications_sent),
            if channels { (1, 0) } else { (0, 1) }
        );
    }
}

#[test]
fn peers_without_a_permission_are_not_relayed() {
    let mut w = allocated_world();
    let peer = addr(PEER);
    w.peer_send(peer, addr(RELAY), b"too early");
    assert!(w.data(0).is_empty());
    w.clients[0].permit(w.now, peer);
    w.step();
    // Permissions are per IP: another port of the same host gets through, another host not.
    w.peer_send(addr("203.0.113.9:6000"), addr(RELAY), b"same ip");
    w.peer_send(addr("203.0.113.10:5000"), addr(RELAY), b"other ip");
    assert_eq!(
        w.data(0),
        vec![(addr("203.0.113.9:6000"), b"same ip".to_vec())]
    );
    assert_eq!(w.server.stats().no_permission, 2);
}

#[test]
fn refreshes_keep_allocation_permission_and_channel_for_an_hour() {
    let mut w = allocated_world();
    let peer = addr(PEER);
    w.clients[0].permit(w.now, peer);
    w.run_for(3600 * SEC);
    assert!(w.failure(0).is_none(), "{:?}", w.client_events[0]);
    assert_eq!(w.server.allocations(), 1);
    let s = w.clients[0].stats().clone();
    assert!(s.refreshes >= 6, "{s:?}");
    assert!(s.permissions >= 14, "{s:?}");
    assert!(s.channel_binds >= 7, "{s:?}");
    // Nonces last 600 s on the server: refreshes past that met 438 and went on.
    assert!(s.stale_nonces >= 1, "{s:?}");
    w.peer_send(peer, addr(RELAY), b"still here");
    assert_eq!(w.data(0), vec![(peer, b"still here".to_vec())]);
    let now = w.now;
    w.clients[0].send(now, peer, b"me too");
    w.step();
    assert_eq!(w.to_peers.last().unwrap().2, b"me too");
}

#[test]
fn close_deallocates_with_lifetime_zero() {
    let mut w = allocated_world();
    let now = w.now;
    w.clients[0].close(now);
    w.step();
    assert_eq!(w.client_events[0].last(), Some(&ClientEvent::Closed));
    assert_eq!(w.server.allocations(), 0);
    assert!(matches!(
        w.server_events.last(),
        Some(ServerEvent::Released { expired: false, .. })
    ));
    // The relay address went back to the pool: a new client gets it.
    let mut c = client_config("bob", "hunter2");
    c.local = addr("198.51.100.8:40000");
    w.add_client(c);
    assert_eq!(w.allocated(1), Some(vec![addr(RELAY)]));
}

#[test]
fn closing_the_connection_of_an_allocation_releases_it_at_once() {
    use kaon::turn::StreamServer;
    let mut w = World::new(server_config());
    w.add_stream_client(client_config("alice", "secret"));
    assert_eq!(w.allocated(0), Some(vec![addr(RELAY)]));
    assert!(w.server.poll_timeout().is_some());
    // The driver reports that the client's TCP (or TLS) connection to the listening address
    // closed: the allocation ends with it, long before its lifetime would.
    let now = w.now;
    w.server.stream_closed(now, addr(SERVER), addr(CLIENT));
    w.step();
    assert_eq!(w.server.allocations(), 0);
    assert!(matches!(
        w.server_events.last(),
        Some(ServerEvent::Released { client, relayed, expired: false })
            if *client == addr(CLIENT) && *relayed == vec![addr(RELAY)]
    ));
    assert_eq!(w.server.poll_timeout(), None);
    // A second close, or one for a connection that never allocated, changes nothing.
    assert!(!w.server.connection_closed(addr(CLIENT), addr(SERVER)));
    assert!(!w.server.connection_closed(addr(PEER), addr(SERVER)));
    // The relay address went back to the pool: a new client gets it.
    let mut c = client_config("bob", "hunter2");
    c.local = addr("198.51.100.8:40000");
    w.add_client(c);
    assert_eq!(w.allocated(1), Some(vec![addr(RELAY)]));
}

#[test]
fn allocation_expires_on_both_ends_when_refreshes_stop_arriving() {
    let mut w = allocated_world();
    w.blackhole = true;
    w.run_for(700 * SEC);
    assert_eq!(w.failure(0), Some(TurnError::Expired));
    assert_eq!(w.server.allocations(), 0);
    assert!(matches!(
        w.server_events.last(),
        Some(ServerEvent::Released { expired: true, .. })
    ));
    assert_eq!(w.server.poll_timeout(), None);
}

#[test]
fn rest_credentials_work_until_they_expire() {
    let mut cfg = server_config();
    cfg.shared_secret = Some("s3cret".into());
    let mut w = World::new(cfg.clone());
    // base64(HMAC-SHA1("s3cret", username)), computed independently.
    w.add_client(client_config(
        "1700000100:carol",
        "gYYQieZt7AJgT/Nj6ZTSmwk+OKE=",
    ));
    assert!(w.allocated(0).is_some());
    let mut w = World::new(cfg);
    w.add_client(client_config(
        "1699999999:carol",
        "ronDNshdKOwMHUOdMFweuuiky/k=",
    ));
    assert_eq!(w.failure(0), Some(TurnError::BadCredentials));
}

#[test]
fn retransmitted_allocate_gets_the_same_success() {
    let mut w = allocated_world();
    let (_, _, allocate) = w.sent[1].clone();
    w.server.handle_datagram(
        w.now,
        kaon::Datagram {
            source: addr(CLIENT),
            destination: addr(SERVER),
            contents: &allocate,
        },
    );
    let mut buf = [0u8; 1500];
    let t = w.server.poll_transmit(w.now, &mut buf).unwrap();
    let m = Message::parse(&buf[..t.len]).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.xor_relayed_address(), Some(addr(RELAY)));
    assert_eq!(w.server.allocations(), 1);
}

#[test]
fn unauthenticated_allocate_flood_creates_no_state() {
    let mut w = World::new(server_config());
    let before = w.server.memory();
    let mut buf = [0u8; 1500];
    let mut req = [0u8; 64];
    let mut answered = 0;
    for i in 0..100_000u32 {
        let m = Message::new(
            Class::Request,
            Method::Allocate,
            kaon::stun::TransactionId([(i % 251) as u8; 12]),
        )
        .with(Attribute::RequestedTransport(17));
        let n = m.write(&mut req, None, false).unwrap();
        let source = std::net::SocketAddr::new(
            std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
            (i % 60_000) as u16 + 1024,
        );
        w.server.handle_datagram(
            w.now,
            kaon::Datagram {
                source,
                destination: addr(SERVER),
                contents: &req[..n],
            },
        );
        if i % 1000 == 0 {
            while w.server.poll_transmit(w.now, &mut buf).is_some() {
                answered += 1;
            }
        }
    }
    while w.server.poll_transmit(w.now, &mut buf).is_some() {
        answered += 1;
    }
    assert_eq!(w.server.allocations(), 0);
    assert_eq!(w.server.stats().unauthenticated, 100_000);
    assert_eq!(answered, 100_000);
    assert_eq!(w.server.memory(), before);
    assert_eq!(w.server.poll_timeout(), None);
}

mod any_bytes {
    use super::*;
    use kaon::Datagram;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary datagrams from the server to an allocated client (with a channel), and
        /// from anyone to the server's listening and relay addresses, never panic and never
        /// create or lose an allocation.
        #[test]
        fn any_datagram_never_panics_either_end(
            datagrams in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(any::<u8>(), 0..120)), 1..20),
        ) {
            let mut w = allocated_world();
            let peer = addr(PEER);
            w.clients[0].permit(w.now, peer);
            w.step();
            for (to, mut bytes) in datagrams {
                // Half of them look like STUN or ChannelData, to get past the first checks.
                if bytes.len() >= 4 && bytes[0] & 1 == 0 {
                    bytes[0] &= 0x7f;
                }
                let now = w.now;
                match to {
                    0 => w.clients[0].handle_datagram(now, Datagram { source: addr(SERVER), destination: addr(CLIENT), contents: &bytes }),
                    1 => w.server.handle_datagram(now, Datagram { source: addr(CLIENT), destination: addr(SERVER), contents: &bytes }),
                    _ => w.server.handle_datagram(now, Datagram { source: peer, destination: addr(RELAY), contents: &bytes }),
                }
                w.step();
            }
            prop_assert_eq!(w.server.allocations(), 1);
            prop_assert!(w.clients[0].is_allocated());
        }
    }
}

/// RFC 8656 §2.2: the 5-tuple that names an allocation includes the transport, so a UDP
/// client and a TCP client at the same IP and port hold two allocations, each answered over
/// its own transport, and the TCP connection closing ends only its own.
#[test]
fn udp_and_tcp_clients_at_one_address_hold_separate_allocations() {
    use kaon::turn::StreamServer;
    let mut cfg = server_config();
    cfg.relays.push(addr("192.0.2.1:49153"));
    let mut w = World::new(cfg);
    w.add_client(client_config("alice", "secret"));
    let mut over_tcp = client_config("bob", "hunter2");
    over_tcp.seed = Some(4);
    w.add_stream_client(over_tcp);
    let udp = w.allocated(0).expect("the UDP client allocates");
    let tcp = w
        .allocated(1)
        .expect("the TCP client at the same address allocates too");
    assert_ne!(udp, tcp);
    assert_eq!(w.server.allocations(), 2);
    // Each relays to a peer on its own allocation.
    w.clients[0].permit(w.now, addr(PEER));
    w.clients[1].permit(w.now, addr(PEER));
    w.step();
    let now = w.now;
    w.clients[0].send(now, addr(PEER), b"over udp");
    w.clients[1].send(now, addr(PEER), b"over tcp");
    w.step();
    let relayed: Vec<_> = w
        .to_peers
        .iter()
        .map(|(from, _, b)| (*from, b.clone()))
        .collect();
    assert!(
        relayed.contains(&(udp[0], b"over udp".to_vec())),
        "{relayed:?}"
    );
    assert!(
        relayed.contains(&(tcp[0], b"over tcp".to_vec())),
        "{relayed:?}"
    );
    // The connection closes: the TCP allocation ends, the UDP one stays and still relays.
    w.server.stream_closed(now, addr(SERVER), addr(CLIENT));
    w.step();
    assert_eq!(w.server.allocations(), 1);
    assert!(matches!(
        w.server_events.last(),
        Some(ServerEvent::Released { relayed, expired: false, .. }) if *relayed == tcp
    ));
    w.to_peers.clear();
    w.clients[0].send(now, addr(PEER), b"still here");
    w.step();
    assert_eq!(w.to_peers.len(), 1);
    assert_eq!(w.to_peers[0].0, udp[0]);
}
