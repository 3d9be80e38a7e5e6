//! An in-process harness for TURN tests: clients and a server (plus scripted stand-ins) that
//! pass datagrams by function call on a virtual clock; datagrams to other addresses are
//! "peers'" mail.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::turn::{Client, ClientConfig, ClientEvent, Server, ServerConfig, ServerEvent};
use kaon::{Datagram, Protocol};

pub const SERVER: &str = "192.0.2.1:3478";
pub const RELAY: &str = "192.0.2.1:49152";
pub const RELAY6: &str = "[2001:db8::1]:49152";
pub const CLIENT: &str = "198.51.100.7:40000";
pub const PEER: &str = "203.0.113.9:5000";
pub const UNIX_NOW: u64 = 1_700_000_000;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A stand-in server: a function from a request to an optional answer.
pub type Script = Box<dyn FnMut(&[u8]) -> Option<Vec<u8>>>;

pub struct World {
    pub t0: Instant,
    pub now: Instant,
    pub server: Server,
    pub clients: Vec<Client>,
    /// Whether each client reaches the server over a TCP or TLS connection (its messages go
    /// through the server's stream entry points) rather than UDP.
    pub streamed: Vec<bool>,
    pub scripts: Vec<(SocketAddr, Script)>,
    /// Every datagram a client sent: (client index, destination, bytes).
    pub sent: Vec<(usize, SocketAddr, Vec<u8>)>,
    /// Datagrams the server sent to anyone but a client: (from, to, bytes).
    pub to_peers: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub client_events: Vec<Vec<ClientEvent>>,
    pub server_events: Vec<ServerEvent>,
    /// Drop everything from clients (a dead server).
    pub blackhole: bool,
}

pub fn server_config() -> ServerConfig {
    let mut c = ServerConfig::new(
        "example.org",
        vec![addr(SERVER)],
        vec![addr(RELAY), addr(RELAY6)],
    );
    c.users.push(("alice".into(), "secret".into()));
    c.users.push(("bob".into(), "hunter2".into()));
    c.seed = Some(7);
    c
}

pub fn client_config(user: &str, password: &str) -> ClientConfig {
    ClientConfig {
        seed: Some(3),
        ..ClientConfig::new(addr(CLIENT), addr(SERVER), user, password)
    }
}

impl World {
    pub fn new(server: ServerConfig) -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            now: t0,
            server: Server::new(server, t0, UNIX_NOW),
            clients: Vec::new(),
            streamed: Vec::new(),
            scripts: Vec::new(),
            sent: Vec::new(),
            to_peers: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            blackhole: false,
        }
    }

    /// Adds a client and starts its allocation.
    pub fn add_client(&mut self, config: ClientConfig) -> usize {
        self.add_client_over(config, false)
    }

    /// Adds a client that reaches the server over a TCP connection (as a stream driver would
    /// hand its messages over) and starts its allocation.
    pub fn add_stream_client(&mut self, config: ClientConfig) -> usize {
        self.add_client_over(config, true)
    }

    fn add_client_over(&mut self, config: ClientConfig, streamed: bool) -> usize {
        let mut c = Client::new(config);
        c.allocate(self.now);
        self.clients.push(c);
        self.streamed.push(streamed);
        self.client_events.push(Vec::new());
        self.step();
        self.clients.len() - 1
    }

    fn client_at(&self, a: SocketAddr, streamed: bool) -> Option<usize> {
        self.clients
            .iter()
            .zip(&self.streamed)
            .position(|(c, s)| c.config().local == a && *s == streamed)
    }

    /// Moves datagrams until nobody has anything to send.
    pub fn step(&mut self) {
        let mut buf = vec![0u8; 65_600];
        let now = self.now;
        loop {
            let mut moved = false;
            for i in 0..self.clients.len() {
                while let Some(t) = self.clients[i].poll_transmit(now, &mut buf) {
                    moved = true;
                    let bytes = buf[..t.len].to_vec();
                    self.sent.push((i, t.destination, bytes.clone()));
                    if self.blackhole {
                        continue;
                    }
                    if let Some((_, script)) =
                        self.scripts.iter_mut().find(|(a, _)| *a == t.destination)
                    {
                        if let Some(answer) = script(&bytes) {
                            self.clients[i].handle_datagram(
                                now,
                                Datagram {
                                    source: t.destination,
                                    destination: t.source,
                                    contents: &answer,
                                },
                            );
                        }
                        continue;
                    }
                    let d = Datagram {
                        source: t.source,
                        destination: t.destination,
                        contents: &bytes,
                    };
                    if self.streamed[i] {
                        self.server.handle_stream_datagram(now, d);
                    } else {
                        self.server.handle_datagram(now, d);
                    }
                }
            }
            while let Some(t) = self.server.poll_stream_transmit(now, &mut buf) {
                moved = true;
                let i = self
                    .client_at(t.destination, true)
                    .expect("the server answers a stream client over its stream");
                let d = Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                };
                self.clients[i].handle_datagram(now, d);
            }
            while let Some(t) = self.server.poll_transmit(now, &mut buf) {
                moved = true;
                match self.client_at(t.destination, false) {
                    Some(i) => self.clients[i].handle_datagram(
                        now,
                        Datagram {
                            source: t.source,
                            destination: t.destination,
                            contents: &buf[..t.len],
                        },
                    ),
                    None => self
                        .to_peers
                        .push((t.source, t.destination, buf[..t.len].to_vec())),
                }
            }
            if !moved {
                break;
            }
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            while let Some(e) = c.poll_event() {
                self.client_events[i].push(e);
            }
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Runs timers and traffic for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self
                .clients
                .iter()
                .filter_map(|c| c.poll_timeout())
                .chain(self.server.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for c in &mut self.clients {
                        c.handle_timeout(self.now);
                    }
                    self.server.handle_timeout(self.now);
                    self.step();
                }
                _ => break,
            }
        }
        self.now = end;
        for c in &mut self.clients {
            c.handle_timeout(self.now);
        }
        self.server.handle_timeout(self.now);
        self.step();
    }

    /// A peer sends `data` to a relayed address.
    pub fn peer_send(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.server.handle_datagram(
            self.now,
            Datagram {
                source: from,
                destination: to,
                contents: data,
            },
        );
        self.step();
    }

    pub fn allocated(&self, i: usize) -> Option<Vec<SocketAddr>> {
        self.client_events[i].iter().find_map(|e| match e {
            ClientEvent::Allocated { relayed, .. } => Some(relayed.clone()),
            _ => None,
        })
    }

    pub fn failure(&self, i: usize) -> Option<kaon::turn::TurnError> {
        self.client_events[i].iter().find_map(|e| match e {
            ClientEvent::Failed(e) => Some(e.clone()),
            _ => None,
        })
    }

    pub fn data(&self, i: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        self.client_events[i]
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Data { peer, data } => Some((*peer, data.clone())),
                _ => None,
            })
            .collect()
    }
}
