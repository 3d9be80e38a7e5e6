//! The body shared by the `dtls13_client` and `dtls13_server` targets: two endpoints that
//! speak DTLS 1.3 (and 1.2). The first input byte chooses the stateless HelloRetryRequest
//! (bit 0) and how many real round trips with a genuine peer happen first (bits 1-3), so the
//! fuzzed input lands in every handshake state and after it. The rest is cut into chunks of
//! `kind(1) | length(2) | bytes`: kind 0 is a datagram from the peer's address, 1 is the
//! opened content of a handshake record in the current read epoch, 2 the same for an ACK, 3 for
//! an alert, anything else advances the clock. Nothing may panic, whatever arrives.
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, HashAlgorithm, Identity, Role, VersionPolicy};
use kaon::{Datagram, Protocol};

fn identities() -> &'static (Identity, Identity) {
    static IDS: OnceLock<(Identity, Identity)> = OnceLock::new();
    IDS.get_or_init(|| (Identity::generate().unwrap(), Identity::generate().unwrap()))
}

fn addr(role: Role) -> SocketAddr {
    match role {
        Role::Client => "192.0.2.1:4444".parse().unwrap(),
        Role::Server => "192.0.2.2:5555".parse().unwrap(),
    }
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
        versions: VersionPolicy::Dtls13OrDtls12,
        seed: Some(1),
        ..Config::default()
    };
    Endpoint::new(config, me.clone(), now).unwrap()
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

/// Feeds `data` to an endpoint in `role`, as the module doc says.
pub fn run(role: Role, data: &[u8]) {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let start = Instant::now();
    let other = if role == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    let mut target = endpoint(role, control & 1 == 1, start);
    let mut peer = endpoint(other, control & 1 == 1, start);
    {
        let (client, server) = if role == Role::Client {
            (&mut target, &mut peer)
        } else {
            (&mut peer, &mut target)
        };
        for _ in 0..(control >> 1) & 7 {
            shuttle(client, server, start);
            shuttle(server, client, start);
        }
    }
    let mut now = start;
    let mut buf = [0u8; 1500];
    while rest.len() >= 3 {
        let kind = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let chunk = &rest[3..3 + len];
        rest = &rest[3 + len..];
        match kind {
            0 => target.handle_datagram(
                now,
                Datagram {
                    source: addr(other),
                    destination: addr(role),
                    contents: chunk,
                },
            ),
            1 => kaon::dtls::fuzzing::inject13(&mut target, now, 22, chunk),
            2 => kaon::dtls::fuzzing::inject13(&mut target, now, 26, chunk),
            3 => kaon::dtls::fuzzing::inject13(&mut target, now, 21, chunk),
            _ => {
                now += Duration::from_millis(250);
                target.handle_timeout(now);
            }
        }
        while target.poll_transmit(now, &mut buf).is_some() {}
        while target.poll_event().is_some() {}
        let _ = target.send(b"fuzz");
        if target.is_connected() && kind == 4 {
            let _ = target.update_keys(now);
        }
    }
}
