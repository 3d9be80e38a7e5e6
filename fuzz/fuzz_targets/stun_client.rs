//! The STUN client's receive path: a client with pending transactions (one plain, one signed)
//! is fed arbitrary datagrams, some from the server it asked and some carrying a pending
//! transaction id, and must never panic or lose track of its deadline.
#![no_main]
use kaon::stun::{Class, Client, ClientConfig, Key, Message, Method, TransactionId};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let local = "10.0.0.1:5000".parse().unwrap();
    let server = "192.0.2.1:3478".parse().unwrap();
    let mut client = Client::new(ClientConfig { seed: Some(1), ..ClientConfig::default() });
    let plain = client.binding_request(start, local, server);
    let request = Message::new(Class::Request, Method::Binding, TransactionId::default());
    let signed = client.start(start, local, server, &request, Some(Key::short_term("pw"))).unwrap();
    let mut buf = [0u8; 1500];
    while client.poll_transmit(start, &mut buf).is_some() {}

    // Split the input into datagrams at 0xff 0xff markers; splice a pending transaction id
    // into those long enough so that matching and verification paths run.
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let mut datagram = chunk.to_vec();
        if datagram.len() >= 20 && i % 2 == 0 {
            let id = if i % 4 == 0 { plain } else { signed };
            datagram[8..20].copy_from_slice(&id.0);
        }
        let now = start + Duration::from_millis(i as u64 * 100);
        let source = if i % 3 == 2 { "198.51.100.9:3478".parse().unwrap() } else { server };
        client.handle_datagram(now, Datagram { source, destination: local, contents: &datagram });
        client.handle_timeout(now);
        while client.poll_transmit(now, &mut buf).is_some() {}
        while client.poll_event().is_some() {}
        if let Some(deadline) = client.poll_timeout() {
            assert!(deadline >= start);
        }
    }
});
