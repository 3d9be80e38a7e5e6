//! # kaon-tokio: kaon on a tokio task
//!
//! Two layers of glue, no protocol logic:
//!
//! - [`PeerConnection`]: an async WebRTC peer connection on `tokio::net::UdpSocket`s, with
//!   [`DataChannel`]s you `send(..).await` (waiting under back-pressure while the channel's
//!   buffered amount is above a high-water mark, [`DEFAULT_HIGH_WATER_MARK`] by default) and
//!   `recv().await`. See [`peer`] for how events are routed and how much is buffered.
//! - [`Driver`]: drives any [`kaon::Protocol`] (a STUN client, an ICE agent, a DTLS endpoint,
//!   a whole peer connection) over UDP sockets on a task.
//!
//! ```no_run
//! use kaon::datachannel::ChannelConfig;
//! use kaon::peer::{PeerConfig, SdpType};
//! use kaon_tokio::PeerConnection;
//! use tokio::net::UdpSocket;
//! # async fn example(answer_from_peer: impl std::future::Future<Output = String>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let socket = UdpSocket::bind("127.0.0.1:0").await?;
//! let pc = PeerConnection::new(PeerConfig::default(), vec![socket])?;
//! let chat = pc.create_data_channel("chat", ChannelConfig::default()).await?;
//! let offer = pc.create_offer().await?;
//! pc.set_local_description(SdpType::Offer, offer.clone()).await?;
//! // ... send offer.to_string() to the peer, get its answer back ...
//! let answer = kaon::sdp::SessionDescription::parse(&answer_from_peer.await)?;
//! pc.set_remote_description(SdpType::Answer, answer).await?;
//! chat.send_text("hello").await?; // waits until the channel is open
//! while let Some(message) = chat.recv().await {
//!     println!("{} bytes (binary: {})", message.data.len(), message.binary);
//! }
//! # Ok(()) }
//! ```
//!
//! ## The generic driver
//!
//! [`Driver::spawn`] moves a [`kaon::Protocol`] onto a tokio task together with one or more
//! bound `tokio::net::UdpSocket`s. The task feeds received datagrams and the current time in,
//! sends what `poll_transmit` returns from the socket `Transmit::source` names, forwards events
//! to [`Driver::next_event`], and sleeps with `tokio::time` until the next datagram, command or
//! `poll_timeout` deadline. The application reaches the protocol through [`Driver::call`]
//! (await a result) and [`Driver::post`] (fire and forget).
//!
//! Received datagrams wait in a bounded inbox ([`DEFAULT_INBOX_DATAGRAMS`], or the capacity
//! given to [`Driver::spawn_with_inbox`]): when the protocol falls behind (a flood of junk at
//! the socket), new datagrams are dropped and counted ([`Driver::inbox_stats`]) instead of
//! queueing without bound. The driving round itself is `kaon-adapter-common`'s, shared with
//! `kaon-std`; this crate is the task, socket and timer glue.
//!
//! ### Reading inline
//!
//! [`Driver::spawn_inline`] has no reader tasks and no inbox: the driver task reads each
//! socket itself until it would block (`recvmmsg` batches through tokio's readiness, so a
//! socket with nothing waiting costs no system call), hands every datagram straight to the
//! protocol, sends the answers of each batch at once (GSO runs), runs the commands, and waits
//! only when a whole round found no datagram. A busy server thus pays no wake-up or hand-off
//! between tasks per batch; under load it yields to the runtime between rounds instead of
//! sleeping. The bound on memory is the kernel's socket buffer, and when the protocol falls
//! behind the kernel drops datagrams there, whoever sent them ([`Driver::inbox_stats`] counts
//! only what was received). kaon's TURN server relays at its best this way, on a
//! current-thread runtime (see the `turn-server` example).
//!
//! Time comes from `tokio::time::Instant`, so `tokio::time::pause()` gives a test virtual time
//! with real sockets. Bind sockets to specific addresses, not `0.0.0.0`: the address a datagram
//! arrived on is the `destination` the protocol sees.
//!
//! ```no_run
//! use kaon::stun::{Client, ClientConfig, ClientEvent};
//! # async fn example() -> std::io::Result<()> {
//! let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
//! let local = socket.local_addr()?;
//! let server = "127.0.0.1:3478".parse().unwrap();
//! let driver = kaon_tokio::Driver::spawn(Client::new(ClientConfig::default()), vec![socket])?;
//! driver.call(move |client, now| client.binding_request(now, local, server)).await;
//! if let Some(ClientEvent::Success { response, .. }) = driver.next_event().await {
//!     println!("seen as {:?}", response.mapped_address());
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ice_tcp;
pub mod mdns;
pub mod peer;
pub mod turn_server;
pub mod turn_stream;
mod udp;

pub use kaon_adapter_common::{DEFAULT_INBOX_DATAGRAMS, InboxStats};
pub use peer::{DEFAULT_HIGH_WATER_MARK, DataChannel, Message, PeerConnection};

use kaon::Protocol;
use kaon_adapter_common::udp_batch::SendBatch;
use kaon_adapter_common::{Command, DatagramInbox, Engine, Input};
use std::io;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A protocol running on a tokio task over UDP sockets.
pub struct Driver<P: Protocol> {
    inputs: mpsc::UnboundedSender<Input<P>>,
    /// Behind a lock so that any task holding `&Driver` can wait for events.
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<P::Event>>,
    inbox: Arc<DatagramInbox>,
    task: Option<JoinHandle<P>>,
    readers: Vec<JoinHandle<()>>,
}

impl<P> Driver<P>
where
    P: Protocol + Send + 'static,
    P::Event: Send + 'static,
{
    /// Starts driving `protocol` over `sockets` (at least one), with an inbox of
    /// [`DEFAULT_INBOX_DATAGRAMS`]. Must be called inside a tokio runtime.
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
        if sockets.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no socket to drive",
            ));
        }
        let (inputs, input_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let inbox = Arc::new(DatagramInbox::new(inbox));
        let wake = Arc::new(Notify::new());
        let (locals, sockets, states) = udp::setup(sockets)?;
        let mut readers = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.iter().enumerate() {
            readers.push(tokio::spawn(read_loop(
                index,
                socket.clone(),
                states[index].clone(),
                inbox.clone(),
                wake.clone(),
            )));
        }
        let engine = Engine::new(protocol, locals, inbox.clone());
        let task = tokio::spawn(drive(engine, input_rx, wake, event_tx, sockets, states));
        Ok(Self {
            inputs,
            events: tokio::sync::Mutex::new(events),
            inbox,
            task: Some(task),
            readers,
        })
    }

    /// Starts driving `protocol` over `sockets` (at least one) on a single task that reads
    /// the sockets itself: see [the module docs](crate#reading-inline). For a server that
    /// relays at high rates (kaon's TURN server); [`spawn`](Self::spawn) keeps a flooded
    /// connection fair to its peer and is the one for peer connections.
    pub fn spawn_inline(protocol: P, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        let (inputs, input_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        // Nothing waits in it: it counts what the task received.
        let inbox = Arc::new(DatagramInbox::new(1));
        let (locals, sockets, states) = udp::setup(sockets)?;
        let engine = Engine::new(protocol, locals, inbox.clone());
        let task = tokio::spawn(drive_inline(
            engine,
            input_rx,
            event_tx,
            sockets,
            states,
            inbox.clone(),
        ));
        Ok(Self {
            inputs,
            events: tokio::sync::Mutex::new(events),
            inbox,
            task: Some(task),
            readers: Vec::new(),
        })
    }

    /// Runs `f` on the driver task with the protocol and the current time, and returns its
    /// result. `None` if the driver has stopped.
    pub async fn call<R, F>(&self, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut P, std::time::Instant) -> R + Send + 'static,
    {
        call(&self.inputs, f).await
    }

    /// Queues `f` to run on the driver task without waiting for it.
    pub fn post<F>(&self, f: F)
    where
        F: FnOnce(&mut P, std::time::Instant) + Send + 'static,
    {
        let _ = self.inputs.send(Input::Command(Box::new(f)));
    }

    /// A cloneable handle that can [`call`](Handle::call) and [`post`](Handle::post) from
    /// other tasks. It does not keep the driver running: once the `Driver` is dropped or shut
    /// down, its calls return `None`.
    pub fn handle(&self) -> Handle<P> {
        Handle {
            inputs: self.inputs.clone(),
            inbox: self.inbox.clone(),
        }
    }

    /// The protocol's next event; `None` once the driver has stopped and every event was read.
    /// Cancellation-safe; concurrent callers each get different events.
    pub async fn next_event(&self) -> Option<P::Event> {
        self.events.lock().await.recv().await
    }

    /// Counters of the datagram inbox: received, dropped because it was full, its high-water
    /// mark. Read without waiting for the driver task.
    pub fn inbox_stats(&self) -> InboxStats {
        self.inbox.stats()
    }

    /// Stops the driver and its socket readers and returns the protocol.
    pub async fn shutdown(mut self) -> Option<P> {
        let _ = self.inputs.send(Input::Stop);
        let protocol = self.task.take()?.await.ok();
        for r in &self.readers {
            r.abort();
        }
        protocol
    }
}

/// Reaches a [`Driver`]'s protocol from anywhere: see [`Driver::handle`].
pub struct Handle<P: Protocol> {
    inputs: mpsc::UnboundedSender<Input<P>>,
    inbox: Arc<DatagramInbox>,
}

impl<P: Protocol> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Self {
            inputs: self.inputs.clone(),
            inbox: self.inbox.clone(),
        }
    }
}

impl<P> Handle<P>
where
    P: Protocol + Send + 'static,
{
    /// Like [`Driver::call`].
    pub async fn call<R, F>(&self, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut P, std::time::Instant) -> R + Send + 'static,
    {
        call(&self.inputs, f).await
    }

    /// Like [`Driver::post`].
    pub fn post<F>(&self, f: F)
    where
        F: FnOnce(&mut P, std::time::Instant) + Send + 'static,
    {
        let _ = self.inputs.send(Input::Command(Box::new(f)));
    }

    /// Like [`Driver::inbox_stats`].
    pub fn inbox_stats(&self) -> InboxStats {
        self.inbox.stats()
    }
}

async fn call<P, R, F>(inputs: &mpsc::UnboundedSender<Input<P>>, f: F) -> Option<R>
where
    R: Send + 'static,
    F: FnOnce(&mut P, std::time::Instant) -> R + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let command: Command<P> = Box::new(move |p, now| {
        let _ = tx.send(f(p, now));
    });
    inputs.send(Input::Command(command)).ok()?;
    rx.await.ok()
}

impl<P: Protocol> Drop for Driver<P> {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Stop);
        for r in &self.readers {
            r.abort();
        }
    }
}

async fn read_loop(
    index: usize,
    socket: Arc<UdpSocket>,
    state: Arc<quinn_udp::UdpSocketState>,
    inbox: Arc<DatagramInbox>,
    wake: Arc<Notify>,
) {
    let mut batch = kaon_adapter_common::udp_batch::RecvBatch::new();
    loop {
        // A batch per system call (recvmmsg), all of it into the inbox under one lock.
        // Receive errors (ICMP port unreachable on some systems) are not fatal for UDP.
        let received = udp::recv(&mut batch, &socket, &state).await.map(|_| {
            if inbox.push_all(index, batch.datagrams()) {
                // A permit is kept if the driver is not waiting yet: the wake-up is not lost.
                wake.notify_one();
            }
        });
        match received {
            Ok(()) => {}
            Err(_e) =>
            {
                #[cfg(feature = "log")]
                if let Ok(local) = socket.local_addr() {
                    kaon_adapter_common::logging::receive_error(local, &_e);
                }
            }
        }
    }
}

async fn send(
    out: &mut SendBatch,
    sockets: &[Arc<UdpSocket>],
    states: &[Arc<quinn_udp::UdpSocketState>],
) {
    if let Err(_e) = udp::flush(out, sockets, states).await {
        #[cfg(feature = "log")]
        kaon_adapter_common::logging::send_error(_e.0, &_e.1);
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Sends everything the protocol has to send: consecutive datagrams to one destination, of
/// one size, leave in one GSO send.
async fn transmit<P: Protocol>(
    engine: &mut Engine<P>,
    now: std::time::Instant,
    out: &mut SendBatch,
    sockets: &[Arc<UdpSocket>],
    states: &[Arc<quinn_udp::UdpSocketState>],
) {
    while let Some(t) = engine.poll_transmit(now) {
        let max = SendBatch::max_segments(&states[t.socket]);
        if !out.fits(t.socket, t.destination, t.contents.len(), max) {
            send(out, sockets, states).await;
        }
        out.push(t.socket, t.destination, t.contents);
    }
    send(out, sockets, states).await;
}

/// The output half of a round: timers, sends, events. Whether the driver is to stop.
async fn output<P: Protocol>(
    engine: &mut Engine<P>,
    out: &mut SendBatch,
    sockets: &[Arc<UdpSocket>],
    states: &[Arc<quinn_udp::UdpSocketState>],
    events: &mpsc::UnboundedSender<P::Event>,
) -> bool {
    let now = Instant::now().into_std();
    engine.handle_timeout(now);
    transmit(engine, now, out, sockets, states).await;
    while let Some(e) = engine.poll_event() {
        let _ = events.send(e);
    }
    engine.is_stopping()
}

async fn drive<P: Protocol>(
    mut engine: Engine<P>,
    mut inputs: mpsc::UnboundedReceiver<Input<P>>,
    wake: Arc<Notify>,
    events: mpsc::UnboundedSender<P::Event>,
    sockets: Vec<Arc<UdpSocket>>,
    states: Vec<Arc<quinn_udp::UdpSocketState>>,
) -> P {
    let mut out = SendBatch::new();
    loop {
        if output(&mut engine, &mut out, &sockets, &states, &events).await {
            return engine.into_protocol();
        }
        // A reader wakes us only when it finds the inbox empty: never wait while it is not.
        let first = if engine.has_datagrams() {
            None
        } else {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => Some(input),
                    None => return engine.into_protocol(),
                },
                () = wake.notified() => None,
                () = sleep_until(engine.deadline()) => continue,
            }
        };
        engine.ingest(Instant::now().into_std(), first, || inputs.try_recv().ok());
    }
}

/// `recvmmsg` calls on one socket in a round of [`drive_inline`] before it turns to the next
/// socket, the commands and the timers: a flood on one socket cannot starve the rest.
const READS_PER_ROUND: usize = 4;

/// Busy rounds of [`drive_inline`] in a row before it yields to the runtime's other tasks
/// (which a flood that never lets it wait would starve). Not every round: on a multi-threaded
/// runtime a yield wakes an idle worker that then steals the task, and it costs a system call.
const ROUNDS_BEFORE_YIELD: u32 = 16;

/// [`Driver::spawn_inline`]'s task: each round reads every socket until it would block (up to
/// [`READS_PER_ROUND`] batches), feeds each batch to the protocol and sends the answers at
/// once, then runs the commands; it waits only when a round found no datagram.
async fn drive_inline<P: Protocol>(
    mut engine: Engine<P>,
    mut inputs: mpsc::UnboundedReceiver<Input<P>>,
    events: mpsc::UnboundedSender<P::Event>,
    sockets: Vec<Arc<UdpSocket>>,
    states: Vec<Arc<quinn_udp::UdpSocketState>>,
    counter: Arc<DatagramInbox>,
) -> P {
    let mut out = SendBatch::new();
    let mut batch = kaon_adapter_common::udp_batch::RecvBatch::new();
    let mut busy_rounds = 0;
    loop {
        if output(&mut engine, &mut out, &sockets, &states, &events).await {
            return engine.into_protocol();
        }
        let mut received = 0;
        for (index, socket) in sockets.iter().enumerate() {
            for _ in 0..READS_PER_ROUND {
                // Without a syscall when tokio knows the socket has nothing; a `WouldBlock`
                // clears its readiness, so the wait below sleeps until the next datagram.
                match udp::try_recv(&mut batch, socket, &states[index]) {
                    Ok(_) => {
                        let now = Instant::now().into_std();
                        for (source, contents) in batch.datagrams() {
                            engine.handle_datagram(now, index, source, contents);
                            received += 1;
                        }
                        transmit(&mut engine, now, &mut out, &sockets, &states).await;
                        if !batch.filled_all() {
                            udp::assume_drained(socket);
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // ICMP errors (port unreachable) on some systems: not fatal for UDP.
                    Err(_e) => {
                        #[cfg(feature = "log")]
                        if let Ok(local) = socket.local_addr() {
                            kaon_adapter_common::logging::receive_error(local, &_e);
                        }
                        break;
                    }
                }
            }
        }
        let first = if received > 0 {
            counter.count_received(received);
            // Busy: the sockets not drained yet are read again at once. Now and then the
            // runtime's other tasks get a turn (and its reactor refreshes readiness).
            busy_rounds += 1;
            if busy_rounds == ROUNDS_BEFORE_YIELD {
                busy_rounds = 0;
                tokio::task::yield_now().await;
            }
            None
        } else {
            busy_rounds = 0;
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => Some(input),
                    None => return engine.into_protocol(),
                },
                () = udp::any_readable(&sockets) => None,
                () = sleep_until(engine.deadline()) => continue,
            }
        };
        engine.ingest(Instant::now().into_std(), first, || inputs.try_recv().ok());
    }
}
