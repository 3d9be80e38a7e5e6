//! The client's receive path: the input is cut into datagrams (a 2-byte length before each;
//! a length of 0 advances the clock instead), fed to a fresh client endpoint, and everything
//! it wants to send is drained. Nothing may panic, whatever arrives.
#![no_main]
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, HashAlgorithm, Identity, Role};
use kaon::{Datagram, Protocol};
use libfuzzer_sys::fuzz_target;

fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::generate().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let peer = "192.0.2.1:4444".parse().unwrap();
    let local = "192.0.2.2:5555".parse().unwrap();
    let start = Instant::now();
    let config = Config {
        role: Role::Client,
        local_addr: Some(local),
        remote_addr: (Role::Client == Role::Client).then_some(peer),
        remote_fingerprints: vec![identity().fingerprint(HashAlgorithm::Sha256)],
        hello_verify: data.first().is_some_and(|b| b & 1 == 1),
        seed: Some(1),
        ..Config::default()
    };
    let Ok(mut ep) = Endpoint::new(config, identity().clone(), start) else {
        return;
    };
    let mut now = start;
    let mut buf = [0u8; 1500];
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        if len == 0 {
            now += Duration::from_millis(250);
            ep.handle_timeout(now);
        } else {
            let take = len.min(rest.len());
            ep.handle_datagram(
                now,
                Datagram {
                    source: peer,
                    destination: local,
                    contents: &rest[..take],
                },
            );
            rest = &rest[take..];
        }
        while ep.poll_transmit(now, &mut buf).is_some() {}
        while ep.poll_event().is_some() {}
        let _ = ep.send(b"fuzz");
    }
});
