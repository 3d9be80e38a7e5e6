//! The TURN byte-stream seam's receive path: arbitrary bytes arrive on an accepted connection
//! and on a client connection, in pieces the fuzzer chooses, and the same bytes are offered as
//! outgoing datagrams. Nothing may panic, every delivered message must be non-empty, and the
//! link's queues stay bounded.
#![no_main]
use kaon::turn::{StreamLink, StreamLinkConfig, TurnTransport};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let listen: SocketAddr = "192.0.2.1:3478".parse().unwrap();
    let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let mut link = StreamLink::with_config(StreamLinkConfig {
        max_streams: 4,
        max_queued: 4096,
    });
    link.add_server(listen, TurnTransport::Tls);
    let accepted = link.accept(listen, "10.0.0.2:6000".parse().unwrap());
    link.send(client, listen, data);
    let mut buf = [0u8; 1500];
    let mut outgoing = None;
    while let Some(c) = link.poll_command(&mut buf) {
        if let kaon::turn::StreamCommand::Connect { id, .. } = c {
            link.handle_connected(id);
            outgoing = Some(id);
        }
    }
    for (i, chunk) in data.split(|&b| b == 0xfe).enumerate() {
        let id = if i % 2 == 0 { accepted } else { outgoing };
        if let Some(id) = id {
            link.handle_bytes(id, chunk, |d| assert!(!d.contents.is_empty()));
        }
        link.send(listen, "10.0.0.2:6000".parse().unwrap(), chunk);
        while link.poll_command(&mut buf).is_some() {}
        assert!(link.len() <= 4);
    }
});
