//! The mDNS responder and querier's receive path: any datagrams, from port 5353 or elsewhere,
//! at any times, into an instance that answers for a name and resolves another. It never
//! panics, every datagram it sends parses, and its deadline never lies in the past after a
//! timeout.
#![no_main]
use std::time::{Duration, Instant};

use kaon::mdns::{Mdns, MdnsConfig, Message};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v4 = "10.0.0.1:5353".parse().unwrap();
    let v6 = "[fe80::1%2]:5353".parse().unwrap();
    let mut m = Mdns::new(MdnsConfig::new(vec![v4, v6]).with_seed(1));
    m.register_name("me.local", "10.0.0.1".parse().unwrap()).unwrap();
    m.register_name("me6.local", "fe80::1".parse().unwrap()).unwrap();
    let start = Instant::now();
    let mut now = start;
    m.resolve(now, "peer.local").unwrap();
    let mut buf = [0u8; 1500];
    // Each chunk: [flags, delay, len, bytes...].
    let mut rest = data;
    while let [flags, delay, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (contents, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(*delay) * 20);
        let port = if flags & 1 == 0 { 5353 } else { 40000 };
        let (source, destination) = if flags & 2 == 0 {
            (format!("10.0.0.2:{port}"), v4)
        } else {
            (format!("[fe80::2%2]:{port}"), v6)
        };
        m.handle_datagram(
            now,
            Datagram {
                source: source.parse().unwrap(),
                destination,
                contents,
            },
        );
        if flags & 4 != 0 {
            m.handle_timeout(now);
        }
        while let Some(t) = m.poll_transmit(now, &mut buf) {
            Message::parse(&buf[..t.len]).expect("what we send parses");
        }
        while m.poll_event().is_some() {}
    }
});
