//! # kaon-std: kaon on a thread over `std::net::UdpSocket`
//!
//! Two layers of glue, no protocol logic:
//!
//! - [`PeerConnection`]: a blocking WebRTC peer connection whose core runs on a driver
//!   thread, with [`DataChannel`]s whose `send` blocks under back-pressure while the channel's
//!   buffered amount is above a high-water mark ([`DEFAULT_HIGH_WATER_MARK`] by default) and
//!   whose `recv` blocks (or [`recv_timeout`](DataChannel::recv_timeout)). See [`peer`] for
//!   how events are routed and how much is buffered. The same API as `kaon-tokio`, blocking.
//! - [`Driver`]: drives any [`kaon::Protocol`] (a STUN client, an ICE agent, a DTLS endpoint,
//!   a whole peer connection) over UDP sockets on a thread.
//!
//! ```no_run
//! use kaon::datachannel::ChannelConfig;
//! use kaon::peer::{PeerConfig, SdpType};
//! use kaon_std::PeerConnection;
//! use std::net::UdpSocket;
//! # fn example(answer_from_peer: impl FnOnce() -> String)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let pc = PeerConnection::new(PeerConfig::default(), vec![socket])?;
//! let chat = pc.create_data_channel("chat", ChannelConfig::default())?;
//! let offer = pc.create_offer()?;
//! pc.set_local_description(SdpType::Offer, offer.clone())?;
//! // ... send offer.to_string() to the peer, get its answer back ...
//! let answer = kaon::sdp::SessionDescription::parse(&answer_from_peer())?;
//! pc.set_remote_description(SdpType::Answer, answer)?;
//! chat.send_text("hello")?; // blocks until the channel is open
//! while let Some(message) = chat.recv() {
//!     println!("{} bytes (binary: {})", message.data.len(), message.binary);
//! }
//! # Ok(()) }
//! ```
//!
//! ## The generic driver
//!
//! [`Driver::spawn`] moves a [`kaon::Protocol`] onto its own thread together with one or more
//! bound UDP sockets. That thread is the only place the protocol is touched: it feeds received
//! datagrams and the current time in, sends what `poll_transmit` returns from the socket that
//! `Transmit::source` names, forwards events to [`Driver::events`], and sleeps until the next
//! datagram, command or `poll_timeout` deadline, whichever comes first. The application reaches
//! the protocol through [`Driver::call`] (wait for a result) and [`Driver::post`] (fire and
//! forget); both run a closure on the driver thread.
//!
//! Bind sockets to specific addresses, not `0.0.0.0`: the address a datagram arrived on is the
//! `destination` the protocol sees, and ICE needs it to be real.
//!
//! ```no_run
//! use kaon::stun::{Client, ClientConfig, ClientEvent};
//! use std::net::UdpSocket;
//!
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let local = socket.local_addr()?;
//! let driver = kaon_std::Driver::spawn(Client::new(ClientConfig::default()), vec![socket])?;
//! driver.call(move |client, now| client.binding_request(now, local, "127.0.0.1:3478".parse().unwrap()));
//! match driver.events().recv() {
//!     Ok(ClientEvent::Success { .. }) => println!("mapped"),
//!     other => println!("{other:?}"),
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod mdns;
pub mod peer;
pub mod turn_stream;

pub use peer::{DEFAULT_HIGH_WATER_MARK, DataChannel, Message, PeerConnection};

use kaon::{Datagram, Protocol};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Big enough for any UDP payload kaon produces or accepts.
const BUF_SIZE: usize = 65_536;
/// The most inputs handled between two rounds of polling.
const BATCH: usize = 64;
/// How often a socket reader re-checks whether it should stop.
const READER_POLL: Duration = Duration::from_millis(100);

type Command<P> = Box<dyn FnOnce(&mut P, Instant) + Send>;

enum Input<P> {
    Datagram {
        reader: usize,
        from: SocketAddr,
        buf: Vec<u8>,
        len: usize,
    },
    Command(Command<P>),
    Stop,
}

/// A protocol running on its own thread over UDP sockets.
pub struct Driver<P: Protocol> {
    inputs: Sender<Input<P>>,
    events: Receiver<P::Event>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<P>>,
}

impl<P> Driver<P>
where
    P: Protocol + Send + 'static,
    P::Event: Send + 'static,
{
    /// Starts driving `protocol` over `sockets` (at least one).
    pub fn spawn(protocol: P, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        if sockets.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no socket to drive",
            ));
        }
        let (inputs, input_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut locals = Vec::with_capacity(sockets.len());
        let mut recycle = Vec::with_capacity(sockets.len());
        let mut senders = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.into_iter().enumerate() {
            socket.set_read_timeout(Some(READER_POLL))?;
            locals.push(socket.local_addr()?);
            senders.push(socket.try_clone()?);
            let (give_back, take_back) = mpsc::channel::<Vec<u8>>();
            recycle.push(give_back);
            let (inputs, stop) = (inputs.clone(), stop.clone());
            thread::spawn(move || read_loop(index, socket, inputs, take_back, stop));
        }
        let thread =
            thread::spawn(move || drive(protocol, input_rx, event_tx, senders, locals, recycle));
        Ok(Self {
            inputs,
            events,
            stop,
            thread: Some(thread),
        })
    }

    /// Runs `f` on the driver thread with the protocol and the current time, and waits for its
    /// result. Returns `None` if the driver has stopped.
    pub fn call<R, F>(&self, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut P, Instant) -> R + Send + 'static,
    {
        call(&self.inputs, f)
    }

    /// A cloneable handle that can [`call`](Handle::call) and [`post`](Handle::post) from
    /// other threads. It does not keep the driver running: once the `Driver` is dropped or shut
    /// down, its calls return `None`.
    pub fn handle(&self) -> Handle<P> {
        Handle {
            inputs: self.inputs.clone(),
        }
    }

    /// Queues `f` to run on the driver thread without waiting for it.
    pub fn post<F>(&self, f: F)
    where
        F: FnOnce(&mut P, Instant) + Send + 'static,
    {
        let _ = self.inputs.send(Input::Command(Box::new(f)));
    }

    /// The protocol's events, in order.
    pub fn events(&self) -> &Receiver<P::Event> {
        &self.events
    }

    /// Stops the driver and its socket readers and returns the protocol.
    pub fn shutdown(mut self) -> Option<P> {
        self.stop_threads();
        self.thread.take()?.join().ok()
    }

    fn stop_threads(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.inputs.send(Input::Stop);
    }
}

/// Reaches a [`Driver`]'s protocol from anywhere: see [`Driver::handle`].
pub struct Handle<P: Protocol> {
    inputs: Sender<Input<P>>,
}

impl<P: Protocol> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Self {
            inputs: self.inputs.clone(),
        }
    }
}

impl<P> Handle<P>
where
    P: Protocol + Send + 'static,
{
    /// Like [`Driver::call`].
    pub fn call<R, F>(&self, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut P, Instant) -> R + Send + 'static,
    {
        call(&self.inputs, f)
    }

    /// Like [`Driver::post`].
    pub fn post<F>(&self, f: F)
    where
        F: FnOnce(&mut P, Instant) + Send + 'static,
    {
        let _ = self.inputs.send(Input::Command(Box::new(f)));
    }
}

fn call<P, R, F>(inputs: &Sender<Input<P>>, f: F) -> Option<R>
where
    R: Send + 'static,
    F: FnOnce(&mut P, Instant) -> R + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let command: Command<P> = Box::new(move |p, now| {
        let _ = tx.send(f(p, now));
    });
    inputs.send(Input::Command(command)).ok()?;
    rx.recv().ok()
}

impl<P: Protocol> Drop for Driver<P> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.inputs.send(Input::Stop);
    }
}

fn read_loop<P>(
    index: usize,
    socket: UdpSocket,
    inputs: Sender<Input<P>>,
    recycled: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0; BUF_SIZE]);
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                if inputs
                    .send(Input::Datagram {
                        reader: index,
                        from,
                        buf,
                        len,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors (port unreachable) surface as receive errors on some systems.
            Err(_) => {}
        }
    }
}

fn drive<P: Protocol>(
    mut protocol: P,
    inputs: Receiver<Input<P>>,
    events: Sender<P::Event>,
    sockets: Vec<UdpSocket>,
    locals: Vec<SocketAddr>,
    recycle: Vec<Sender<Vec<u8>>>,
) -> P {
    let mut out = vec![0u8; BUF_SIZE];
    let mut stopping = false;
    loop {
        let now = Instant::now();
        protocol.handle_timeout(now);
        while let Some(t) = protocol.poll_transmit(now, &mut out) {
            // Send from the socket the protocol chose; fall back to the first one.
            let socket = locals
                .iter()
                .position(|l| *l == t.source)
                .map_or(&sockets[0], |i| &sockets[i]);
            let _ = socket.send_to(&out[..t.len], t.destination);
        }
        while let Some(e) = protocol.poll_event() {
            let _ = events.send(e);
        }
        if stopping {
            return protocol;
        }
        let mut input = match protocol.poll_timeout() {
            Some(deadline) => match inputs.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return protocol,
            },
            None => match inputs.recv() {
                Ok(input) => input,
                Err(_) => return protocol,
            },
        };
        let now = Instant::now();
        // Whatever else is already waiting goes in before the next round of polling, up to a
        // budget: a burst of datagrams or sends costs one round, not one each.
        let mut handled = 0;
        loop {
            match input {
                Input::Datagram {
                    reader,
                    from,
                    buf,
                    len,
                } => {
                    let datagram = Datagram {
                        source: from,
                        destination: locals[reader],
                        contents: &buf[..len],
                    };
                    protocol.handle_datagram(now, datagram);
                    let _ = recycle[reader].send(buf);
                }
                Input::Command(f) => f(&mut protocol, now),
                // What the commands before it queued (a close's last datagrams) still goes
                // out: the round of polling above runs once more.
                Input::Stop => {
                    stopping = true;
                    break;
                }
            }
            handled += 1;
            if handled == BATCH {
                break;
            }
            match inputs.try_recv() {
                Ok(next) => input = next,
                Err(_) => break,
            }
        }
    }
}
