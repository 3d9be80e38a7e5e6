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

pub mod mdns;
pub mod peer;
pub mod turn_stream;

pub use peer::{DEFAULT_HIGH_WATER_MARK, DataChannel, Message, PeerConnection};

use kaon::{Datagram, Protocol};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Big enough for any UDP payload kaon produces or accepts.
const BUF_SIZE: usize = 65_536;
/// The most inputs handled between two rounds of polling.
const BATCH: usize = 64;

type Command<P> = Box<dyn FnOnce(&mut P, std::time::Instant) + Send>;

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

/// A protocol running on a tokio task over UDP sockets.
pub struct Driver<P: Protocol> {
    inputs: mpsc::UnboundedSender<Input<P>>,
    /// Behind a lock so that any task holding `&Driver` can wait for events.
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<P::Event>>,
    task: Option<JoinHandle<P>>,
    readers: Vec<JoinHandle<()>>,
}

impl<P> Driver<P>
where
    P: Protocol + Send + 'static,
    P::Event: Send + 'static,
{
    /// Starts driving `protocol` over `sockets` (at least one). Must be called inside a tokio
    /// runtime.
    pub fn spawn(protocol: P, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        if sockets.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no socket to drive",
            ));
        }
        let (inputs, input_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let mut locals = Vec::with_capacity(sockets.len());
        let mut shared = Vec::with_capacity(sockets.len());
        let mut recycle = Vec::with_capacity(sockets.len());
        let mut readers = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.into_iter().enumerate() {
            locals.push(socket.local_addr()?);
            let socket = Arc::new(socket);
            shared.push(socket.clone());
            let (give_back, take_back) = mpsc::unbounded_channel();
            recycle.push(give_back);
            readers.push(tokio::spawn(read_loop(
                index,
                socket,
                inputs.clone(),
                take_back,
            )));
        }
        let task = tokio::spawn(drive(protocol, input_rx, event_tx, shared, locals, recycle));
        Ok(Self {
            inputs,
            events: tokio::sync::Mutex::new(events),
            task: Some(task),
            readers,
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
        }
    }

    /// The protocol's next event; `None` once the driver has stopped and every event was read.
    /// Cancellation-safe; concurrent callers each get different events.
    pub async fn next_event(&self) -> Option<P::Event> {
        self.events.lock().await.recv().await
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

async fn read_loop<P>(
    index: usize,
    socket: Arc<UdpSocket>,
    inputs: mpsc::UnboundedSender<Input<P>>,
    mut recycled: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    loop {
        let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0; BUF_SIZE]);
        // Receive errors (ICMP port unreachable on some systems) are not fatal for UDP.
        if let Ok((len, from)) = socket.recv_from(&mut buf).await
            && inputs
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
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn drive<P: Protocol>(
    mut protocol: P,
    mut inputs: mpsc::UnboundedReceiver<Input<P>>,
    events: mpsc::UnboundedSender<P::Event>,
    sockets: Vec<Arc<UdpSocket>>,
    locals: Vec<SocketAddr>,
    recycle: Vec<mpsc::UnboundedSender<Vec<u8>>>,
) -> P {
    let mut out = vec![0u8; BUF_SIZE];
    let mut stopping = false;
    loop {
        let now = Instant::now().into_std();
        protocol.handle_timeout(now);
        while let Some(t) = protocol.poll_transmit(now, &mut out) {
            // Send from the socket the protocol chose; fall back to the first one.
            let i = locals.iter().position(|l| *l == t.source).unwrap_or(0);
            let _ = sockets[i].send_to(&out[..t.len], t.destination).await;
        }
        while let Some(e) = protocol.poll_event() {
            let _ = events.send(e);
        }
        if stopping {
            return protocol;
        }
        let mut input = tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => input,
                None => return protocol,
            },
            () = sleep_until(protocol.poll_timeout()) => continue,
        };
        let now = Instant::now().into_std();
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
