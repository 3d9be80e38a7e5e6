//! The TURN client's receive path: a client allocated on kaon's server (with a permission and
//! a bound channel, and a Refresh in flight) is fed arbitrary datagrams from its server, some
//! carrying the pending transaction id, and must never panic or lose its deadline. The same
//! bytes also go through the stream framer.
#![no_main]
use kaon::turn::{Client, ClientConfig, Server, ServerConfig, StreamFramer};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn exchange(now: Instant, client: &mut Client, server: &mut Server) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 1500];
    let mut requests = Vec::new();
    for _ in 0..8 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            requests.push(buf[..t.len].to_vec());
            server.handle_datagram(
                now,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                },
            );
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            client.handle_datagram(
                now,
                Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                },
            );
        }
    }
    requests
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let server_addr: SocketAddr = "192.0.2.1:3478".parse().unwrap();
    let local: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let mut cfg = ServerConfig::new(
        "fuzz",
        vec![server_addr],
        vec!["192.0.2.1:49152".parse().unwrap()],
    );
    cfg.users.push(("u".into(), "p".into()));
    cfg.seed = Some(1);
    let mut server = Server::new(cfg, start, 1_700_000_000);
    let mut client = Client::new(ClientConfig {
        seed: Some(2),
        ..ClientConfig::new(local, server_addr, "u", "p")
    });
    client.allocate(start);
    client.permit(start, peer);
    exchange(start, &mut client, &mut server);
    // A refresh in flight, whose id the fuzzer's datagrams may carry.
    let later = start + Duration::from_secs(541);
    client.handle_timeout(later);
    let mut buf = [0u8; 1500];
    let mut pending = [0u8; 12];
    if let Some(t) = client.poll_transmit(later, &mut buf) {
        if t.len >= 20 {
            pending.copy_from_slice(&buf[8..20]);
        }
    }

    let mut framer = StreamFramer::new();
    framer.push(data);
    while let Ok(Some(_)) = framer.next_frame() {}

    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let mut datagram = chunk.to_vec();
        if datagram.len() >= 20 && i % 2 == 0 {
            datagram[8..20].copy_from_slice(&pending);
        }
        let now = later + Duration::from_millis(i as u64 * 100);
        client.handle_datagram(
            now,
            Datagram {
                source: server_addr,
                destination: local,
                contents: &datagram,
            },
        );
        client.handle_timeout(now);
        while client.poll_transmit(now, &mut buf).is_some() {}
        while client.poll_event().is_some() {}
        if let Some(deadline) = client.poll_timeout() {
            assert!(deadline >= start);
        }
    }
});
