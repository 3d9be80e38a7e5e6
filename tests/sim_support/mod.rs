//! Small test endpoints for the simulator scenarios: a scriptable [`Peer`] that can send on a
//! schedule, echo, or reflect the source address it saw, and a misbehaving [`Busy`] endpoint.
#![allow(dead_code)] // each scenario file uses a different part of this

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kaon::{Datagram, Protocol, Transmit};

/// Parses an address or panics (test setup only).
pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Parses an IP or panics (test setup only).
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A datagram a [`Peer`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recv {
    pub at: Instant,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

impl Recv {
    /// The sequence number at the start of a [`numbered`] payload.
    pub fn seq(&self) -> u32 {
        u32::from_be_bytes(self.contents[..4].try_into().unwrap())
    }

    /// The address a reflecting peer put in its reply.
    pub fn reflected(&self) -> SocketAddr {
        std::str::from_utf8(&self.contents)
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// A payload of `size` bytes starting with `seq`.
pub fn numbered(seq: u32, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size.max(4)];
    p[..4].copy_from_slice(&seq.to_be_bytes());
    p
}

/// What a [`Peer`] does with a datagram it receives, besides recording it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Nothing,
    /// Send the same bytes back.
    Echo,
    /// Send back the source address it saw, as text.
    Reflect,
}

type Out = (SocketAddr, SocketAddr, Vec<u8>);

/// A scriptable endpoint: sends now or at given instants, replies per [`Reply`], and reports
/// every datagram it receives as a [`Recv`] event. Panics if time ever goes backwards.
#[derive(Debug)]
pub struct Peer {
    reply: Reply,
    outbox: VecDeque<Out>,
    scheduled: BTreeMap<(Instant, u64), Out>,
    next: u64,
    received: VecDeque<Recv>,
    last_now: Option<Instant>,
}

impl Peer {
    pub fn new(reply: Reply) -> Self {
        Self {
            reply,
            outbox: VecDeque::new(),
            scheduled: BTreeMap::new(),
            next: 0,
            received: VecDeque::new(),
            last_now: None,
        }
    }

    pub fn silent() -> Self {
        Self::new(Reply::Nothing)
    }

    pub fn echo() -> Self {
        Self::new(Reply::Echo)
    }

    pub fn reflect() -> Self {
        Self::new(Reply::Reflect)
    }

    /// Queues a datagram to send at the next poll.
    pub fn send(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        self.outbox.push_back((from, to, payload.to_vec()));
    }

    /// Sends a datagram at `at`.
    pub fn send_at(&mut self, at: Instant, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        self.scheduled
            .insert((at, self.next), (from, to, payload.to_vec()));
        self.next += 1;
    }

    /// Sends `count` [`numbered`] datagrams of `size` bytes, the first at `first`, then every
    /// `interval`, numbered from `first_seq`.
    #[allow(clippy::too_many_arguments)]
    pub fn send_every(
        &mut self,
        first: Instant,
        interval: Duration,
        count: u32,
        first_seq: u32,
        from: SocketAddr,
        to: SocketAddr,
        size: usize,
    ) {
        for n in 0..count {
            self.send_at(
                first + interval * n,
                from,
                to,
                &numbered(first_seq + n, size),
            );
        }
    }

    /// Drops everything scheduled and not yet sent.
    pub fn cancel_scheduled(&mut self) {
        self.scheduled.clear();
    }

    fn saw(&mut self, now: Instant) {
        if let Some(last) = self.last_now {
            assert!(now >= last, "time went backwards: {now:?} < {last:?}");
        }
        self.last_now = Some(now);
    }
}

impl Protocol for Peer {
    type Event = Recv;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        self.saw(now);
        match self.reply {
            Reply::Nothing => {}
            Reply::Echo => self
                .outbox
                .push_back((d.destination, d.source, d.contents.to_vec())),
            Reply::Reflect => {
                self.outbox
                    .push_back((d.destination, d.source, d.source.to_string().into_bytes()))
            }
        }
        self.received.push_back(Recv {
            at: now,
            source: d.source,
            destination: d.destination,
            contents: d.contents.to_vec(),
        });
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.saw(now);
        while let Some(entry) = self.scheduled.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let out = entry.remove();
            self.outbox.push_back(out);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.saw(now);
        let (source, destination, bytes) = self.outbox.pop_front()?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Some(Transmit::new(source, destination, bytes.len()))
    }

    fn poll_event(&mut self) -> Option<Recv> {
        self.received.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.scheduled.keys().next().map(|&(at, _)| at)
    }
}

/// A broken endpoint whose deadline is always "now": a livelock the step limit must catch.
#[derive(Debug)]
pub struct Busy {
    pub now: Instant,
    pub timeouts: u64,
}

impl Protocol for Busy {
    type Event = ();

    fn handle_datagram(&mut self, _now: Instant, _d: Datagram<'_>) {}

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.timeouts += 1;
    }

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<Transmit> {
        None
    }

    fn poll_event(&mut self) -> Option<()> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.now)
    }
}
