//! The body shared by the `dtls_client` and `dtls_server` targets: the first input byte chooses
//! HelloVerifyRequest (bit 0) and how many real round trips with a genuine peer happen first
//! (bits 1-2), so the fuzzed datagrams land in every handshake state and after it. The rest is
//! cut into datagrams (a 2-byte length before each; a length of 0 advances the clock instead)
//! and fed to the endpoint under test. Nothing may panic, whatever arrives.
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, HashAlgorithm, Identity, Role};
use kaon::{Datagram, Protocol};

fn identities() -> &'static (Identity, Identity) {
    static IDS: OnceLock<(Identity, Identity)> = OnceLock::new();
    IDS.get_or_init(|| (Identity::generate().unwrap(), Identity::generate().unwrap()))
}

fn endpoint(role: Role, hello_verify: bool, now: Instant) -> Endpoint {
    let (client, server) = identities();
    let (me, peer) = if role == Role::Client {
        (client, server)
    } else {
        (server, client)
    };
    let config = Config {
        role,
        local_addr: Some(addr(role)),
        remote_addr: (role == Role::Client).then(|| addr(Role::Server)),
        remote_fingerprints: vec![peer.fingerprint(HashAlgorithm::Sha256)],
        hello_verify,
        seed: Some(1),
        ..Config::default()
    };
    Endpoint::new(config, me.clone(), now).unwrap()
}

fn addr(role: Role) -> SocketAddr {
    match role {
        Role::Client => "192.0.2.1:4444".parse().unwrap(),
        Role::Server => "192.0.2.2:5555".parse().unwrap(),
    }
}

fn shuttle(from: &mut Endpoint, to: &mut Endpoint, now: Instant) {
    let mut buf = [0u8; 1500];
    while let Some(t) = from.poll_transmit(now, &mut buf) {
        to.handle_datagram(
            now,
            Datagram {
                source: t.source,
                destination: t.destination,
                contents: &buf[..t.len],
            },
        );
    }
}

/// Feeds `data` to an endpoint in `role`, as the module doc of each target describes.
pub fn run(role: Role, data: &[u8]) {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let start = Instant::now();
    let hello_verify = control & 1 == 1;
    let other = if role == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    let mut target = endpoint(role, hello_verify, start);
    let mut peer = endpoint(other, hello_verify, start);
    let (client, server) = if role == Role::Client {
        (&mut target, &mut peer)
    } else {
        (&mut peer, &mut target)
    };
    for _ in 0..(control >> 1) & 3 {
        shuttle(client, server, start);
        shuttle(server, client, start);
    }
    let mut now = start;
    let mut buf = [0u8; 1500];
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        if len == 0 {
            now += Duration::from_millis(250);
            target.handle_timeout(now);
        } else {
            let take = len.min(rest.len());
            let d = Datagram {
                source: addr(other),
                destination: addr(role),
                contents: &rest[..take],
            };
            target.handle_datagram(now, d);
            rest = &rest[take..];
        }
        while target.poll_transmit(now, &mut buf).is_some() {}
        while target.poll_event().is_some() {}
        let _ = target.send(b"fuzz");
    }
}
