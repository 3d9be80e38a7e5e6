//! ICE-TCP's receive path (RFC 6544, RFC 4571 framing): arbitrary bytes arrive on a connection
//! accepted by a passive candidate and on one opened by an active candidate, in pieces the
//! fuzzer chooses (split at 0xfe), and the same pieces go out as datagrams. Nothing may panic,
//! every delivered frame is non-empty and no longer than a frame can be, a framer fed directly
//! never holds more than one frame, and the link's connections stay within their limit.
#![no_main]
use kaon::ice::{IceTcpLink, IceTcpLinkConfig, MAX_FRAME_PAYLOAD, TcpFramer, TcpType};
use kaon::turn::StreamCommand;
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let passive: SocketAddr = "192.0.2.1:7000".parse().unwrap();
    let active: SocketAddr = "192.0.2.1:9".parse().unwrap();
    let peer: SocketAddr = "192.0.2.2:40000".parse().unwrap();
    let mut link = IceTcpLink::with_config(IceTcpLinkConfig {
        max_streams: 4,
        max_queued: 4096,
    });
    link.add_local(passive, TcpType::Passive);
    link.add_local(active, TcpType::Active);
    let accepted = link.accept(passive, peer);
    link.send(active, "192.0.2.3:7000".parse().unwrap(), data);
    let mut buf = [0u8; 1500];
    let mut outgoing = None;
    while let Some(c) = link.poll_command(&mut buf) {
        if let StreamCommand::Connect { id, .. } = c {
            link.handle_connected(id);
            outgoing = Some(id);
        }
    }
    let mut framer = TcpFramer::new();
    for (i, chunk) in data.split(|&b| b == 0xfe).enumerate() {
        let id = if i % 2 == 0 { accepted } else { outgoing };
        if let Some(id) = id {
            link.handle_bytes(id, chunk, |d| {
                assert!(!d.contents.is_empty() && d.contents.len() <= MAX_FRAME_PAYLOAD)
            });
        }
        let mut rest = chunk;
        loop {
            let n = framer.push(rest);
            rest = &rest[n..];
            while let Some(f) = framer.next_frame() {
                assert!(!f.is_empty());
            }
            assert!(framer.buffered() <= TcpFramer::CAPACITY);
            if rest.is_empty() {
                break;
            }
        }
        link.send(passive, peer, chunk);
        link.send(active, peer, chunk);
        while link.poll_command(&mut buf).is_some() {}
        assert!(link.len() <= 4);
    }
});
