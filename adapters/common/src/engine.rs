//! [`Engine`]: the I/O-free rounds of a driving loop.

use crate::inbox::{DatagramInbox, Queued};
use kaon::{Datagram, Protocol};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Big enough for any UDP payload kaon produces or accepts.
pub const BUF_SIZE: usize = 65_536;

/// The most datagrams, and separately the most commands, handled between two rounds of
/// polling: a burst costs one round, not one each, and neither kind starves the other.
pub const BATCH: usize = 64;

/// A closure an application runs on the driver with the protocol and the current time.
pub type Command<P> = Box<dyn FnOnce(&mut P, Instant) + Send>;

/// What an application (or a socket reader) sends the driver besides datagrams, which go
/// through the [`DatagramInbox`].
pub enum Input<P> {
    /// Run this on the protocol.
    Command(Command<P>),
    /// Datagrams are waiting in the inbox (sent by a reader that found it empty).
    Wake,
    /// Send what is queued, then stop.
    Stop,
}

/// A datagram to send, from [`Engine::poll_transmit`].
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// Index of the socket to send from (the one bound to `Transmit::source`, or the first).
    pub socket: usize,
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: &'a [u8],
}

/// A protocol, the addresses of the sockets it is driven over, and the inbox their readers
/// fill: everything a driving loop does except waiting and socket calls.
pub struct Engine<P> {
    protocol: P,
    locals: Vec<SocketAddr>,
    inbox: Arc<DatagramInbox>,
    out: Vec<u8>,
    batch: Vec<Queued>,
    stopping: bool,
}

impl<P: Protocol> Engine<P> {
    /// Drives `protocol` over sockets bound to `locals` (index `i` is socket `i`), fed from
    /// `inbox`.
    pub fn new(protocol: P, locals: Vec<SocketAddr>, inbox: Arc<DatagramInbox>) -> Self {
        Self {
            protocol,
            locals,
            inbox,
            out: vec![0; BUF_SIZE],
            batch: Vec::with_capacity(BATCH),
            stopping: false,
        }
    }

    /// The protocol, to inspect.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// The protocol back, once the loop ends.
    pub fn into_protocol(self) -> P {
        self.protocol
    }

    /// Acts on every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.protocol.handle_timeout(now);
    }

    /// The next datagram to send, and the socket to send it from.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing<'_>> {
        let t = self.protocol.poll_transmit(now, &mut self.out)?;
        // Send from the socket the protocol chose; fall back to the first one.
        let socket = self.locals.iter().position(|l| *l == t.source).unwrap_or(0);
        Some(Outgoing {
            socket,
            destination: t.destination,
            contents: &self.out[..t.len],
        })
    }

    /// Feeds one datagram, received on socket `socket` from `source`, straight to the
    /// protocol: for a driver that reads its sockets itself instead of through the inbox.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        socket: usize,
        source: SocketAddr,
        contents: &[u8],
    ) {
        let destination = self.locals.get(socket).copied().unwrap_or(self.locals[0]);
        self.protocol.handle_datagram(
            now,
            Datagram {
                source,
                destination,
                contents,
            },
        );
    }

    /// The protocol's next event.
    pub fn poll_event(&mut self) -> Option<P::Event> {
        self.protocol.poll_event()
    }

    /// When the loop must wake even if no input arrives.
    pub fn deadline(&self) -> Option<Instant> {
        self.protocol.poll_timeout()
    }

    /// Whether datagrams wait in the inbox (then the loop must not block).
    pub fn has_datagrams(&self) -> bool {
        !self.inbox.is_empty()
    }

    /// Whether a [`Input::Stop`] arrived: the loop sends what is queued once more, then ends.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// One round of input: `first` (what woke the loop, if anything), then up to [`BATCH`]
    /// waiting datagrams and up to [`BATCH`] more inputs from `next` (a non-blocking receive).
    /// Datagrams go first: a reply to one is often what a command waits for.
    pub fn ingest(
        &mut self,
        now: Instant,
        first: Option<Input<P>>,
        mut next: impl FnMut() -> Option<Input<P>>,
    ) {
        let mut batch = std::mem::take(&mut self.batch);
        self.inbox.take(BATCH, &mut batch);
        for q in &batch {
            let datagram = Datagram {
                source: q.source,
                destination: self.locals.get(q.socket).copied().unwrap_or(self.locals[0]),
                contents: &q.contents,
            };
            self.protocol.handle_datagram(now, datagram);
        }
        self.inbox.recycle(&mut batch);
        self.batch = batch;
        let mut input = first;
        for _ in 0..BATCH {
            match input.take().or_else(&mut next) {
                Some(Input::Command(f)) => f(&mut self.protocol, now),
                Some(Input::Wake) => {}
                // What the commands before it queued (a close's last datagrams) still goes
                // out: the round of polling runs once more.
                Some(Input::Stop) => {
                    self.stopping = true;
                    return;
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaon::Transmit;

    /// Echoes every datagram back to its sender and counts its inputs.
    #[derive(Default)]
    struct Echo {
        pending: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
        commands: usize,
    }

    impl Protocol for Echo {
        type Event = usize;
        fn handle_datagram(&mut self, _: Instant, d: Datagram<'_>) {
            self.pending
                .push((d.destination, d.source, d.contents.to_vec()));
        }
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
            let (from, to, bytes) = self.pending.pop()?;
            buf[..bytes.len()].copy_from_slice(&bytes);
            Some(Transmit::new(from, to, bytes.len()))
        }
        fn poll_event(&mut self) -> Option<usize> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_round_takes_a_bounded_batch_and_replies_from_the_receiving_socket() {
        let inbox = Arc::new(DatagramInbox::new(1000));
        let mut engine = Engine::new(Echo::default(), vec![addr(1), addr(2)], inbox.clone());
        for i in 0..(BATCH + 5) {
            inbox.push(i % 2, addr(100), &[i as u8]);
        }
        let now = Instant::now();
        engine.ingest(now, None, || None);
        assert!(
            engine.has_datagrams(),
            "a round takes at most BATCH datagrams"
        );
        let mut sent = 0;
        while let Some(t) = engine.poll_transmit(now) {
            assert_eq!(t.destination, addr(100));
            assert_eq!(usize::from(t.contents[0]) % 2, t.socket);
            sent += 1;
        }
        assert_eq!(sent, BATCH);
        engine.ingest(now, None, || None);
        assert!(!engine.has_datagrams());
    }

    #[test]
    fn commands_run_in_order_and_stop_ends_the_round() {
        let inbox = Arc::new(DatagramInbox::new(8));
        let mut engine = Engine::new(Echo::default(), vec![addr(1)], inbox);
        let mut queue: std::collections::VecDeque<Input<Echo>> = (0..3)
            .map(|_| Input::Command(Box::new(|p: &mut Echo, _| p.commands += 1) as Command<Echo>))
            .collect();
        queue.push_back(Input::Stop);
        queue.push_back(Input::Command(Box::new(|p: &mut Echo, _| {
            p.commands += 100
        })));
        engine.ingest(Instant::now(), Some(Input::Wake), || queue.pop_front());
        assert!(engine.is_stopping());
        assert_eq!(engine.protocol().commands, 3);
        assert_eq!(queue.len(), 1, "nothing after Stop runs");
    }
}
