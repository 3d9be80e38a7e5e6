//! The driving contract every kaon layer implements.

use std::net::SocketAddr;
use std::time::Instant;

/// A datagram received from the network, handed to [`Protocol::handle_datagram`].
///
/// `source` is the remote address the datagram came from; `destination` is the local address
/// (socket) it arrived on. Layers that use several local sockets (ICE) need both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The sender's address.
    pub source: SocketAddr,
    /// The local address the datagram was received on.
    pub destination: SocketAddr,
    /// The payload.
    pub contents: &'a [u8],
}

/// A datagram to send, returned by [`Protocol::poll_transmit`].
///
/// The bytes are the first `len` bytes of the buffer the caller passed to `poll_transmit`.
/// `source` names the local socket to send from: when a layer uses more than one local address
/// (ICE with several interfaces), the caller must send from exactly that one.
///
/// Build one with [`Transmit::new`]; the struct may grow fields (it is `#[non_exhaustive]`),
/// which a driver that does not know them may ignore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// The local address to send from.
    pub source: SocketAddr,
    /// The remote address to send to.
    pub destination: SocketAddr,
    /// How many bytes of the caller's buffer hold the datagram.
    pub len: usize,
    /// The ECN codepoint to mark the datagram with (RFC 3168; RFC 8888 congestion feedback
    /// reads it back), or `None` for not-ECT. Drivers without ECN support ignore it.
    pub ecn: Option<Ecn>,
    /// When set, `len` holds several datagrams of this size back to back (the last may be
    /// shorter), to be sent with one segmentation-offload call (Linux UDP GSO) or one by one.
    /// No layer batches yet: always `None` today.
    pub segment_size: Option<usize>,
}

impl Transmit {
    /// A single datagram of `len` bytes from `source` to `destination`, not ECN-capable.
    pub fn new(source: SocketAddr, destination: SocketAddr, len: usize) -> Self {
        Self {
            source,
            destination,
            len,
            ecn: None,
            segment_size: None,
        }
    }
}

/// An ECN-capable transport codepoint (RFC 3168 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// ECT(0).
    Ect0,
    /// ECT(1) (L4S, RFC 9331).
    Ect1,
    /// Congestion experienced.
    Ce,
}

/// The sans-IO driving contract, the same for every layer: a bare STUN client, an ICE agent, a
/// DTLS endpoint or a whole `PeerConnection`.
///
/// A `Protocol` owns no socket, thread or clock. The caller, called the *driver* here (an
/// adapter, the simulator, a fuzz harness or an application's own event loop), feeds it
/// datagrams and the current time, and takes out datagrams to send, events and the next
/// deadline.
///
/// # Call order
///
/// Any order of calls is legal. In particular:
///
/// - Mutators on the concrete type (`send`, `start`, `add_candidate`, ...) only queue work; they
///   may be called at any time, between any two calls below, without draining anything first.
///   Nothing queued is ever overwritten or lost by a later call.
/// - `now` must not go backwards between calls on one instance. It may stand still.
/// - [`handle_timeout`](Protocol::handle_timeout) may be called early or late; it acts on every
///   deadline at or before `now` and ignores the rest. Calling it when nothing is due is cheap.
///
/// After any call that changes state (a datagram, a timeout, a mutator), the driver should:
///
/// 1. call [`poll_transmit`](Protocol::poll_transmit) until it returns `None`, sending each
///    datagram from `Transmit::source` to `Transmit::destination`;
/// 2. call [`poll_event`](Protocol::poll_event) until it returns `None`;
/// 3. read [`poll_timeout`](Protocol::poll_timeout) and wake up at that instant (or when the
///    next datagram arrives, whichever is first) to call `handle_timeout`.
///
/// Skipping a step only delays work; it never loses it.
///
/// # Buffers
///
/// `poll_transmit` writes the datagram into the caller's buffer, so the steady-state send path
/// allocates nothing. Pass a buffer at least as large as the path MTU the layer was configured
/// with (2048 bytes is always enough for the layers' defaults). A datagram that does not fit is
/// dropped and counted by the layer, never truncated.
///
/// # Example: a driving loop
///
/// ```
/// use kaon::{Datagram, Protocol, Transmit};
/// use std::time::{Duration, Instant};
///
/// /// Drives `p` until it has nothing left to do, over an imaginary network that echoes every
/// /// datagram straight back. A real driver would use a socket and sleep until `poll_timeout`.
/// fn drive<P: Protocol>(p: &mut P, mut now: Instant) -> Vec<P::Event> {
///     let mut buf = [0u8; 2048];
///     let mut events = Vec::new();
///     for _ in 0..1000 {
///         while let Some(t) = p.poll_transmit(now, &mut buf) {
///             // Echo: the datagram comes back from where it was sent to.
///             let echoed = Datagram {
///                 source: t.destination,
///                 destination: t.source,
///                 contents: &buf[..t.len],
///             };
///             p.handle_datagram(now, echoed);
///         }
///         while let Some(e) = p.poll_event() {
///             events.push(e);
///         }
///         match p.poll_timeout() {
///             Some(deadline) => {
///                 now = now.max(deadline); // a real driver sleeps until then
///                 p.handle_timeout(now);
///             }
///             None => break,
///         }
///     }
///     events
/// }
///
/// // Any layer fits: here a STUN client transaction whose answers never come, so it retransmits
/// // on its schedule and finally reports a timeout.
/// use kaon::stun::{Client, ClientConfig, ClientEvent};
/// let now = Instant::now();
/// let mut client = Client::new(ClientConfig { seed: Some(7), ..ClientConfig::default() });
/// let server = "192.0.2.1:3478".parse().unwrap();
/// let local = "192.0.2.2:5000".parse().unwrap();
/// client.binding_request(now, local, server);
/// let events = drive(&mut client, now);
/// assert!(!events.is_empty());
/// # let _ = Duration::ZERO;
/// # let _: Option<Transmit> = None;
/// ```
pub trait Protocol {
    /// The layer's own event type: events stay typed per layer.
    type Event;

    /// Processes a datagram received from the network.
    ///
    /// Malformed or unexpected input is counted and dropped; it never panics and never tears
    /// the layer down unless its RFC says so.
    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>);

    /// Acts on every deadline at or before `now` (retransmissions, keep-alives, expiries).
    fn handle_timeout(&mut self, now: Instant);

    /// Writes the next datagram to send into `buf` and says where it goes, or returns `None`
    /// when nothing is waiting.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;

    /// Returns the next event for the application, or `None` when there is none.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The next instant at which [`handle_timeout`](Protocol::handle_timeout) must be called, or
    /// `None` when no timer is running. Exact and cheap: no scan of per-stream state.
    fn poll_timeout(&self) -> Option<Instant>;
}
