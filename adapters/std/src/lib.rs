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
//! On Linux the sockets are made non-blocking and their I/O is batched
//! (`kaon-adapter-common`'s `udp_batch`, through `quinn-udp`): each socket's reader thread
//! waits in `poll(2)` and takes up to 32 datagrams per `recvmmsg`, and the driver sends
//! consecutive datagrams to one destination, of one size, as one UDP GSO send. Elsewhere each
//! system call moves one datagram.
//!
//! Received datagrams wait in a bounded inbox ([`DEFAULT_INBOX_DATAGRAMS`], or the capacity
//! given to [`Driver::spawn_with_inbox`]): when the protocol falls behind (a flood of junk at
//! the socket), new datagrams are dropped and counted ([`Driver::inbox_stats`]) instead of
//! queueing without bound. The driving round itself is `kaon-adapter-common`'s, shared with
//! `kaon-tokio`; this crate is the thread, socket and timer glue.
//!
//! [`Driver::spawn_inline`] (Linux) has no reader threads and no inbox: the driver thread
//! waits in one `poll(2)` over its sockets and reads them itself, handing each batch straight
//! to the protocol and sending its answers at once. A server relaying at high rates (kaon's
//! TURN server) spends less CPU per datagram that way: no hand-off and wake-up between threads
//! per batch. The kernel's socket buffer is then the bound, and the kernel drops what overflows
//! it, whoever sent it.
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

pub mod ice_tcp;
#[cfg(target_os = "linux")]
mod inline;
pub mod mdns;
pub mod peer;
pub mod turn_stream;
mod udp;

pub use kaon_adapter_common::{DEFAULT_INBOX_DATAGRAMS, InboxStats};
pub use peer::{DEFAULT_HIGH_WATER_MARK, DataChannel, Message, PeerConnection};

use kaon::Protocol;
use kaon_adapter_common::{Command, DatagramInbox, Engine, Input};
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// A protocol running on its own thread over UDP sockets.
pub struct Driver<P: Protocol> {
    inputs: Sender<Input<P>>,
    wake: Wake,
    events: Receiver<P::Event>,
    inbox: Arc<DatagramInbox>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<P>>,
}

impl<P> Driver<P>
where
    P: Protocol + Send + 'static,
    P::Event: Send + 'static,
{
    /// Starts driving `protocol` over `sockets` (at least one), with an inbox of
    /// [`DEFAULT_INBOX_DATAGRAMS`].
    pub fn spawn(protocol: P, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        Self::spawn_with_inbox(protocol, sockets, DEFAULT_INBOX_DATAGRAMS)
    }

    /// Like [`spawn`](Self::spawn), holding at most `inbox` received datagrams that the
    /// protocol has not taken yet; more are dropped and counted.
    pub fn spawn_with_inbox(
        protocol: P,
        sockets: Vec<UdpSocket>,
        inbox: usize,
    ) -> io::Result<Self> {
        let locals = locals(&sockets)?;
        let (inputs, input_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let inbox = Arc::new(DatagramInbox::new(inbox));
        let (readers, sender) = udp::split(sockets)?;
        for (index, reader) in readers.into_iter().enumerate() {
            let (inputs, inbox, stop) = (inputs.clone(), inbox.clone(), stop.clone());
            let local = locals[index];
            thread::spawn(move || read_loop((index, local), reader, inbox, inputs, stop));
        }
        let engine = Engine::new(protocol, locals, inbox.clone());
        let thread = thread::spawn(move || drive(engine, input_rx, event_tx, sender));
        Ok(Self {
            inputs,
            wake: Wake::default(),
            events,
            inbox,
            stop,
            thread: Some(thread),
        })
    }

    /// Starts driving `protocol` over `sockets` (at least one) on a single thread that reads
    /// the sockets itself: no reader threads and no inbox. Each round it waits in one
    /// `poll(2)` over the sockets (not at all while the last round found datagrams), reads each
    /// readable socket until it would block (a few `recvmmsg` batches at most), hands every
    /// datagram straight to the protocol and sends the answers of each batch at once (GSO
    /// runs). A busy server thus pays no hand-off between threads. The bound on memory is the
    /// kernel's socket buffer: when the protocol falls behind, the kernel drops datagrams
    /// there, whoever sent them ([`inbox_stats`](Self::inbox_stats) counts only what was
    /// received). For a server relaying at high rates (kaon's TURN server);
    /// [`spawn`](Self::spawn) keeps a flooded connection fair to its peer. Elsewhere than on
    /// Linux this is [`spawn`](Self::spawn).
    pub fn spawn_inline(protocol: P, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        #[cfg(not(target_os = "linux"))]
        return Self::spawn(protocol, sockets);
        #[cfg(target_os = "linux")]
        {
            let locals = locals(&sockets)?;
            let (inputs, input_rx) = mpsc::channel();
            let (event_tx, events) = mpsc::channel();
            // Nothing waits in it: it counts what the thread received.
            let inbox = Arc::new(DatagramInbox::new(1));
            let (sockets, states, sender) = udp::inline(sockets)?;
            let waker = Arc::new(udp::Waker::new()?);
            let engine = Engine::new(protocol, locals, inbox.clone());
            let (counter, wake) = (inbox.clone(), waker.clone());
            let thread = thread::spawn(move || {
                let io = inline::Io {
                    sockets: &sockets,
                    states: &states,
                    sender,
                    waker: &wake,
                };
                inline::drive(engine, input_rx, event_tx, io, &counter)
            });
            Ok(Self {
                inputs,
                wake: Wake(Some(waker)),
                events,
                inbox,
                stop: Arc::new(AtomicBool::new(false)),
                thread: Some(thread),
            })
        }
    }

    /// Runs `f` on the driver thread with the protocol and the current time, and waits for its
    /// result. Returns `None` if the driver has stopped.
    pub fn call<R, F>(&self, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut P, Instant) -> R + Send + 'static,
    {
        call(&self.inputs, &self.wake, f)
    }

    /// A cloneable handle that can [`call`](Handle::call) and [`post`](Handle::post) from
    /// other threads. It does not keep the driver running: once the `Driver` is dropped or shut
    /// down, its calls return `None`.
    pub fn handle(&self) -> Handle<P> {
        Handle {
            inputs: self.inputs.clone(),
            wake: self.wake.clone(),
            inbox: self.inbox.clone(),
        }
    }

    /// Queues `f` to run on the driver thread without waiting for it.
    pub fn post<F>(&self, f: F)
    where
        F: FnOnce(&mut P, Instant) + Send + 'static,
    {
        let _ = self.inputs.send(Input::Command(Box::new(f)));
        self.wake.wake();
    }

    /// The protocol's events, in order.
    pub fn events(&self) -> &Receiver<P::Event> {
        &self.events
    }

    /// Counters of the datagram inbox: received, dropped because it was full, its high-water
    /// mark. Read without waiting for the driver thread.
    pub fn inbox_stats(&self) -> InboxStats {
        self.inbox.stats()
    }

    /// Stops the driver and its socket readers and returns the protocol.
    pub fn shutdown(mut self) -> Option<P> {
        self.stop_threads();
        self.thread.take()?.join().ok()
    }

    fn stop_threads(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.inputs.send(Input::Stop);
        self.wake.wake();
    }
}

/// The local addresses of `sockets`, index for index; an error if there is no socket.
fn locals(sockets: &[UdpSocket]) -> io::Result<Vec<std::net::SocketAddr>> {
    if sockets.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no socket to drive",
        ));
    }
    sockets.iter().map(UdpSocket::local_addr).collect()
}

/// Wakes the driver thread after an input is queued, when it waits in `poll(2)` on its
/// sockets rather than on the input channel ([`Driver::spawn_inline`]).
#[derive(Clone, Default)]
struct Wake(Option<Arc<udp::Waker>>);

impl Wake {
    fn wake(&self) {
        if let Some(w) = &self.0 {
            w.wake();
        }
    }
}

/// Reaches a [`Driver`]'s protocol from anywhere: see [`Driver::handle`].
pub struct Handle<P: Protocol> {
    inputs: Sender<Input<P>>,
    wake: Wake,
    inbox: Arc<DatagramInbox>,
}

impl<P: Protocol> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Self {
            inputs: self.inputs.clone(),
            wake: self.wake.clone(),
            inbox: self.inbox.clone(),
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
        call(&self.inputs, &self.wake, f)
    }

    /// Like [`Driver::post`].
    pub fn post<F>(&self, f: F)
    where
        F: FnOnce(&mut P, Instant) + Send + 'static,
    {
        let _ = self.inputs.send(Input::Command(Box::new(f)));
        self.wake.wake();
    }

    /// Like [`Driver::inbox_stats`].
    pub fn inbox_stats(&self) -> InboxStats {
        self.inbox.stats()
    }
}

fn call<P, R, F>(inputs: &Sender<Input<P>>, wake: &Wake, f: F) -> Option<R>
where
    R: Send + 'static,
    F: FnOnce(&mut P, Instant) -> R + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let command: Command<P> = Box::new(move |p, now| {
        let _ = tx.send(f(p, now));
    });
    inputs.send(Input::Command(command)).ok()?;
    wake.wake();
    rx.recv().ok()
}

impl<P: Protocol> Drop for Driver<P> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.inputs.send(Input::Stop);
        self.wake.wake();
    }
}

/// Receives on socket `index` (bound to `_local`) until told to stop.
fn read_loop<P>(
    (index, _local): (usize, std::net::SocketAddr),
    mut socket: udp::Reader,
    inbox: Arc<DatagramInbox>,
    inputs: Sender<Input<P>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match socket.recv() {
            Ok(()) => {
                // A batch (recvmmsg on Linux) goes into the inbox under one lock.
                if inbox.push_all(index, socket.datagrams()) && inputs.send(Input::Wake).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors (port unreachable) surface as receive errors on some systems.
            Err(_e) => {
                #[cfg(feature = "log")]
                kaon_adapter_common::logging::receive_error(_local, &_e);
            }
        }
    }
}

fn log_send_error(_sent: udp::Sent) {
    #[cfg(feature = "log")]
    if let Err((destination, e)) = _sent {
        kaon_adapter_common::logging::send_error(destination, &e);
    }
}

/// Sends everything the protocol has to send: consecutive datagrams to one destination, of
/// one size, leave together (Linux).
fn transmit<P: Protocol>(engine: &mut Engine<P>, now: Instant, sockets: &mut udp::Sender) {
    while let Some(t) = engine.poll_transmit(now) {
        let sent = sockets.send(t.socket, t.destination, t.contents);
        log_send_error(sent);
    }
    log_send_error(sockets.flush());
}

fn drive<P: Protocol>(
    mut engine: Engine<P>,
    inputs: Receiver<Input<P>>,
    events: Sender<P::Event>,
    mut sockets: udp::Sender,
) -> P {
    loop {
        let now = Instant::now();
        engine.handle_timeout(now);
        transmit(&mut engine, now, &mut sockets);
        while let Some(e) = engine.poll_event() {
            let _ = events.send(e);
        }
        if engine.is_stopping() {
            return engine.into_protocol();
        }
        // A reader wakes us only when it finds the inbox empty: never block while it is not.
        let first = if engine.has_datagrams() {
            None
        } else {
            let received = match engine.deadline() {
                Some(deadline) => {
                    match inputs.recv_timeout(deadline.saturating_duration_since(now)) {
                        Ok(input) => Ok(input),
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => Err(()),
                    }
                }
                None => inputs.recv().map_err(|_| ()),
            };
            match received {
                Ok(input) => Some(input),
                Err(()) => return engine.into_protocol(),
            }
        };
        engine.ingest(Instant::now(), first, || inputs.try_recv().ok());
    }
}
