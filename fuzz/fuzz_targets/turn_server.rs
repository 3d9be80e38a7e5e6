//! The TURN server's receive path: a server with one allocation made over a TCP connection (a
//! permission and a channel) is fed arbitrary messages over that connection, and datagrams on
//! its listening address (from a stranger, and over UDP from the client's own address, which
//! is another 5-tuple) and on its relay address, and must never panic, grow without bound, or
//! lose its deadline. A chunk starting 0xfe also reports the client's connection closed (as a
//! TCP or TLS driver does), which deletes the allocation from whatever state it is in.
#![no_main]
use kaon::turn::{Client, ClientConfig, Server, ServerConfig};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let server_addr: SocketAddr = "192.0.2.1:3478".parse().unwrap();
    let relay: SocketAddr = "192.0.2.1:49152".parse().unwrap();
    let local: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let mut cfg = ServerConfig::new("fuzz", vec![server_addr], vec![relay]);
    cfg.users.push(("u".into(), "p".into()));
    cfg.seed = Some(1);
    cfg.max_queue = 64;
    let mut server = Server::new(cfg, start, 1_700_000_000);
    let mut client = Client::new(ClientConfig {
        seed: Some(2),
        ..ClientConfig::new(local, server_addr, "u", "p")
    });
    client.allocate(start);
    client.permit(start, peer);
    let mut buf = [0u8; 1500];
    for _ in 0..8 {
        while let Some(t) = client.poll_transmit(start, &mut buf) {
            server.handle_stream_datagram(
                start,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                },
            );
        }
        while let Some(t) = server.poll_stream_transmit(start, &mut buf) {
            client.handle_datagram(
                start,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                },
            );
        }
    }
    let memory = server.memory();

    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let now = start + Duration::from_millis(i as u64 * 250);
        let (source, destination) = match i % 4 {
            0 | 3 => (local, server_addr),
            1 => ("198.51.100.3:4000".parse().unwrap(), server_addr),
            _ => (peer, relay),
        };
        let d = Datagram {
            source,
            destination,
            contents: chunk,
        };
        if i % 4 == 0 {
            server.handle_stream_datagram(now, d);
        } else {
            server.handle_datagram(now, d);
        }
        if chunk.first() == Some(&0xfe) {
            server.connection_closed(local, server_addr);
            // Only a UDP allocation from the same address (another 5-tuple) may remain.
            assert!(server.allocations() <= 1);
        }
        server.handle_timeout(now);
        while server.poll_transmit(now, &mut buf).is_some() {}
        while server.poll_stream_transmit(now, &mut buf).is_some() {}
        while server.poll_event().is_some() {}
        if let Some(deadline) = server.poll_timeout() {
            assert!(deadline >= start);
        }
        // The UDP client at the same address may allocate too (RFC 8656 §2.2).
        assert!(server.allocations() <= 2);
        assert!(server.memory() <= memory + 4096);
    }
});
