//! Interop with coturn, Debian's TURN server, over loopback: two kaon ICE agents relay-only
//! through coturn over UDP, and coturn's `turnutils_uclient` against kaon's server.
//!
//! Needs `turnserver` and `turnutils_uclient` (Debian package `coturn`). Outside CI the tests
//! skip when they are missing; in CI (`CI=true`) they fail.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, IceEvent, IceState, IceTransportPolicy, TurnServer};
use kaon::turn::{Server, ServerConfig};
use kaon::{Datagram, Protocol};

const USER: &str = "test";
const PASSWORD: &str = "test123";
const REALM: &str = "example.test";

/// A free UDP port on loopback (free when asked; coturn binds it right after).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A coturn process, killed on drop.
struct Coturn {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a STUN Binding request to `server` is answered within `wait`.
fn answers_binding(server: SocketAddr, wait: Duration) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let req = kaon::stun::Message::new(
        kaon::stun::Class::Request,
        kaon::stun::Method::Binding,
        kaon::stun::TransactionId([1; 12]),
    );
    let mut buf = [0u8; 1500];
    let n = req.write(&mut buf, None, false).unwrap();
    let end = Instant::now() + wait;
    while Instant::now() < end {
        let _ = sock.send_to(&buf[..n], server);
        if sock.recv_from(&mut buf).is_ok() {
            return true;
        }
    }
    false
}

fn start_coturn() -> Option<Coturn> {
    let Some(turnserver) = common::which("turnserver") else {
        common::missing_peer("turn_coturn", "turnserver (Debian package coturn)");
        return None;
    };
    let log = std::env::temp_dir().join(format!("kaon-coturn-{}.log", std::process::id()));
    // A few attempts: the free port may be taken again before coturn binds it, and a loaded
    // machine may take a while to start it.
    for attempt in 0..3u16 {
        let port = free_port();
        // A relay port range of our own, so parallel runs do not collide.
        let min = 50_000 + ((std::process::id() as u16 % 400) + attempt * 400) % 1200 * 10;
        let child = Command::new(&turnserver)
            .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={min}"))
            .arg(format!("--max-port={}", min + 9))
            .args(["--lt-cred-mech", &format!("--user={USER}:{PASSWORD}")])
            .arg(format!("--realm={REALM}"))
            .args([
                "--fingerprint",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                "--simple-log",
            ])
            .arg(format!("--log-file={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let coturn = Coturn { child, addr };
        if answers_binding(addr, Duration::from_secs(10)) {
            return Some(coturn);
        }
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    panic!("coturn did not start:\n{text}");
}

/// One agent on one loopback socket.
struct Side {
    agent: Agent,
    sock: UdpSocket,
    local: SocketAddr,
    connected: bool,
    received: Vec<Vec<u8>>,
}

impl Side {
    fn new(controlling: bool, seed: u64, turn: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let local = sock.local_addr().unwrap();
        let mut agent = Agent::new(AgentConfig {
            controlling,
            seed: Some(seed),
            turn_servers: vec![TurnServer::new(turn, USER, PASSWORD)],
            transport_policy: IceTransportPolicy::Relay,
            ..AgentConfig::default()
        });
        agent.add_local_interface(local).unwrap();
        Self {
            agent,
            sock,
            local,
            connected: false,
            received: Vec::new(),
        }
    }

    /// Sends what the agent has, reads what arrived, and returns its events.
    fn pump(&mut self, now: Instant) -> Vec<IceEvent> {
        let mut buf = [0u8; 2048];
        while let Ok((n, source)) = self.sock.recv_from(&mut buf) {
            self.agent.handle_datagram(
                now,
                Datagram {
                    source,
                    destination: self.local,
                    contents: &buf[..n],
                },
            );
        }
        if self.agent.poll_timeout().is_some_and(|t| t <= now) {
            self.agent.handle_timeout(now);
        }
        while let Some(t) = self.agent.poll_transmit(now, &mut buf) {
            assert_eq!(t.source, self.local);
            let _ = self.sock.send_to(&buf[..t.len], t.destination);
        }
        let mut events = Vec::new();
        while let Some(e) = self.agent.poll_event() {
            match &e {
                IceEvent::StateChanged(IceState::Connected | IceState::Completed) => {
                    self.connected = true
                }
                IceEvent::Data { contents, .. } => self.received.push(contents.clone()),
                _ => {}
            }
            events.push(e);
        }
        events
    }
}

#[test]
fn kaon_agents_connect_relay_only_through_coturn_over_udp() {
    let Some(coturn) = start_coturn() else {
        return;
    };
    let mut a = Side::new(true, 1, coturn.addr);
    let mut b = Side::new(false, 2, coturn.addr);
    let (ua, pa) = {
        let (u, p) = a.agent.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    let (ub, pb) = {
        let (u, p) = b.agent.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    a.agent.set_remote_credentials(&ub, &pb).unwrap();
    b.agent.set_remote_credentials(&ua, &pa).unwrap();

    let start = Instant::now();
    let mut relayed = 0;
    while start.elapsed() < Duration::from_secs(15) {
        let now = Instant::now();
        for (from_a, events) in [(true, a.pump(now)), (false, b.pump(now))] {
            let other = if from_a { &mut b } else { &mut a };
            for e in events {
                match e {
                    IceEvent::LocalCandidate(c) => {
                        relayed += 1;
                        assert_eq!(c.kind, kaon::ice::CandidateKind::Relayed);
                        other.agent.add_remote_candidate(c).unwrap();
                    }
                    IceEvent::GatheringComplete => other.agent.end_of_remote_candidates(),
                    _ => {}
                }
            }
        }
        if a.connected && b.connected {
            let _ = a.agent.send(b"hello from a");
            let _ = b.agent.send(b"hello from b");
        }
        if !a.received.is_empty() && !b.received.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(relayed >= 2, "relayed candidates from coturn: {relayed}");
    assert!(a.connected && b.connected, "not connected through coturn");
    assert_eq!(a.received[0], b"hello from b");
    assert_eq!(b.received[0], b"hello from a");
    assert!(a.agent.selected_pair().unwrap().relayed);
    assert!(b.agent.selected_pair().unwrap().relayed);
}

/// Runs kaon's TURN server on loopback sockets on a thread until `stop`.
fn run_kaon_server(stop: Arc<AtomicBool>) -> (SocketAddr, std::thread::JoinHandle<Server>) {
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut socks = vec![listen];
    for _ in 0..8 {
        socks.push(UdpSocket::bind("127.0.0.1:0").unwrap());
    }
    let addrs: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    for s in &socks {
        s.set_nonblocking(true).unwrap();
    }
    let mut cfg = ServerConfig::new(REALM, vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let listen_addr = addrs[0];
    let handle = std::thread::spawn(move || {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut server = Server::new(cfg, Instant::now(), unix);
        let mut buf = [0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut idle = true;
            for (i, s) in socks.iter().enumerate() {
                while let Ok((n, source)) = s.recv_from(&mut buf) {
                    idle = false;
                    server.handle_datagram(
                        now,
                        Datagram {
                            source,
                            destination: addrs[i],
                            contents: &buf[..n],
                        },
                    );
                }
            }
            server.handle_timeout(now);
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                let i = addrs.iter().position(|a| *a == t.source).unwrap();
                let _ = socks[i].send_to(&buf[..t.len], t.destination);
            }
            while server.poll_event().is_some() {}
            if idle {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        server
    });
    (listen_addr, handle)
}

#[test]
fn coturn_uclient_relays_through_kaons_server() {
    let Some(uclient) = common::which("turnutils_uclient") else {
        common::missing_peer("turn_coturn", "turnutils_uclient (Debian package coturn)");
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, handle) = run_kaon_server(stop.clone());
    let out = Command::new(uclient)
        .args([
            "-u", USER, "-w", PASSWORD, "-y", "-c", "-n", "20", "-m", "2", "-l", "200",
        ])
        .args(["-p", &addr.port().to_string(), "127.0.0.1"])
        .output()
        .expect("run turnutils_uclient");
    stop.store(true, Ordering::Relaxed);
    let server = handle.join().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "uclient failed:\n{text}");
    assert!(
        text.contains("Total lost packets 0 (0.000000%)"),
        "uclient lost packets:\n{text}"
    );
    assert!(server.stats().allocations >= 2, "{:?}", server.stats());
    assert!(server.stats().to_peers >= 40, "{:?}", server.stats());
}
