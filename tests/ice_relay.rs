//! The relay seam with a test double: a toy relay server in the simulator and a `Relay` that
//! talks to it. Two symmetric NATs cannot punch a hole (see `ice_scenarios.rs`); with a relay
//! on one side they connect through it, which is what the TURN client will provide.
#![cfg(feature = "sim")]

mod ice_support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_support::{MS, SEC, Session, Side, natted, stun_server};
use kaon::ice::{AgentConfig, CandidateKind, Relay, Unwrapped};
use kaon::sim::{LinkConfig, NatConfig, Sim};
use kaon::{Datagram, Protocol, Transmit};

/// The toy relay protocol, client <-> server:
/// - `ALLOC` asks for an allocation; `OK <relayed>` answers it.
/// - `S<peer>\n<payload>` asks the server to send `payload` to `peer` from the relayed
///   address; `D<peer>\n<payload>` carries what `peer` sent to the relayed address.
#[derive(Debug)]
struct ToyServer {
    control: SocketAddr,
    relayed: SocketAddr,
    client: Option<SocketAddr>,
    out: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
}

fn frame(kind: u8, peer: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(peer.to_string().as_bytes());
    v.push(b'\n');
    v.extend_from_slice(payload);
    v
}

fn unframe(bytes: &[u8]) -> Option<(u8, SocketAddr, &[u8])> {
    let (&kind, rest) = bytes.split_first()?;
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let peer = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    Some((kind, peer, &rest[nl + 1..]))
}

impl Protocol for ToyServer {
    type Event = ();

    fn handle_datagram(&mut self, _now: Instant, d: Datagram<'_>) {
        if d.destination == self.control {
            if d.contents == b"ALLOC" {
                self.client = Some(d.source);
                let ok = format!("OK {}", self.relayed).into_bytes();
                self.out.push_back((self.control, d.source, ok));
            } else if let Some((b'S', peer, payload)) = unframe(d.contents) {
                self.out.push_back((self.relayed, peer, payload.to_vec()));
            }
        } else if let Some(client) = self.client {
            let framed = frame(b'D', d.source, d.contents);
            self.out.push_back((self.control, client, framed));
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (source, destination, bytes) = self.out.pop_front()?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Some(Transmit::new(source, destination, bytes.len()))
    }

    fn poll_event(&mut self) -> Option<()> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// The client side of the toy protocol, as a [`Relay`].
#[derive(Debug)]
struct ToyRelay {
    local: SocketAddr,
    server: SocketAddr,
    relayed: Option<SocketAddr>,
    next_alloc: Option<Instant>,
    permitted: Vec<SocketAddr>,
}

impl Relay for ToyRelay {
    fn local(&self) -> SocketAddr {
        self.local
    }

    fn server(&self) -> SocketAddr {
        self.server
    }

    fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    fn permit(&mut self, _now: Instant, peer: SocketAddr) {
        self.permitted.push(peer);
    }

    fn wrap(
        &mut self,
        _now: Instant,
        peer: SocketAddr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        let f = frame(b'S', peer, payload);
        buf.get_mut(..f.len())?.copy_from_slice(&f);
        Some(f.len())
    }

    fn unwrap<'a>(&mut self, _now: Instant, datagram: &'a [u8]) -> Unwrapped<'a> {
        if let Some(addr) = datagram.strip_prefix(b"OK ") {
            self.relayed = std::str::from_utf8(addr).ok().and_then(|s| s.parse().ok());
            self.next_alloc = None;
            return Unwrapped::Control;
        }
        match unframe(datagram) {
            Some((b'D', peer, payload)) => Unwrapped::Data { peer, payload },
            _ => Unwrapped::Invalid,
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_alloc
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.relayed.is_some() || self.next_alloc.is_some_and(|t| now < t) {
            return None;
        }
        self.next_alloc = Some(now + Duration::from_millis(500));
        buf[..5].copy_from_slice(b"ALLOC");
        Some(5)
    }
}

#[test]
fn two_symmetric_nats_connect_through_a_relay_candidate() {
    let t0 = Instant::now();
    let mut sim = Sim::new(11, t0);
    let internet = sim.add_network("internet");
    let stun = stun_server(&mut sim, internet, "198.51.100.1:3478");
    let (control, relayed): (SocketAddr, SocketAddr) = (
        "198.51.100.50:3478".parse().unwrap(),
        "198.51.100.50:49152".parse().unwrap(),
    );
    let relay_host = sim.add_host("relay");
    sim.add_interface(
        relay_host,
        internet,
        control.ip(),
        LinkConfig::with_latency(5 * MS),
    );
    sim.add_endpoint(
        relay_host,
        &[control, relayed],
        ToyServer {
            control,
            relayed,
            client: None,
            out: VecDeque::new(),
        },
    );
    let home_a = natted(
        &mut sim,
        "home-a",
        internet,
        "203.0.113.1",
        NatConfig::symmetric(),
    );
    let home_b = natted(
        &mut sim,
        "home-b",
        internet,
        "203.0.113.2",
        NatConfig::symmetric(),
    );
    let cfg = |controlling, seed| AgentConfig {
        controlling,
        seed: Some(seed),
        stun_servers: vec![stun],
        ..AgentConfig::default()
    };
    let a = Side::new(
        &mut sim,
        "a",
        &[(home_a, "192.168.1.2")],
        20 * MS,
        cfg(true, 111),
    );
    let b = Side::new(
        &mut sim,
        "b",
        &[(home_b, "192.168.2.2")],
        20 * MS,
        cfg(false, 112),
    );
    let mut s = Session::new(sim, t0, a, b);
    s.signal_delay = 50 * MS;
    let local = s.addrs_a[0];
    s.agent(true).add_relay(Box::new(ToyRelay {
        local,
        server: control,
        relayed: None,
        next_alloc: None,
        permitted: Vec::new(),
    }));
    let t = s
        .connect("two symmetric NATs with a relay", 20 * SEC)
        .expect("connects");
    assert!(t < 5 * SEC, "{t:?}");
    let (local, _) = s.agent_ref(true).selected_candidates().unwrap();
    assert_eq!(local.kind, CandidateKind::Relayed);
    assert!(s.agent_ref(true).selected_pair().unwrap().relayed);
    s.send_data_every(20 * MS);
    s.run_for(2 * SEC);
    assert!(s.log_a.data.len() > 80 && s.log_b.data.len() > 80);
}
