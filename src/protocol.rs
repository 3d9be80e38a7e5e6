//! The driving contract every kaon layer implements.
//!
//! There is one contract, written down once here: feed input and the time in with
//! `handle_datagram` and `handle_timeout`, take output out with `poll_transmit` and
//! `poll_event`, sleep until `poll_timeout`. It comes in two forms that differ only in whether
//! the layer sees addresses:
//!
//! - [`Protocol`]: layers that talk to the network and choose sockets (STUN, ICE, TURN, DTLS,
//!   a whole `PeerConnection`). Input is a [`Datagram`] with its 5-tuple, output a
//!   [`Transmit`] that says where the bytes go.
//! - [`PacketProtocol`]: layers that sit on a link to one peer and never see an address (the
//!   SCTP association, the data channels on top of it). The same five methods with the same
//!   names; input is the packet's bytes, output is the packet's length in the caller's buffer.
//!   The layer below (DTLS in a `PeerConnection`) or [`sctp::Endpoint`](crate::sctp::Endpoint)
//!   (SCTP over plain UDP) supplies the addresses, which turns a `PacketProtocol` into a
//!   `Protocol`.
//!
//! Why two traits and not one: making the address-free layers implement [`Protocol`]
//! directly would have them invent or store addresses they have no use for, and a
//! `Protocol` generic over its datagram type would put a lifetime-carrying type parameter on
//! every driver for the sake of two layers. A second trait with the same method names keeps
//! generic drivers word for word alike (`p.poll_transmit(now, &mut buf)` in both) and costs
//! nothing at run time.
//!
//! What is *not* a driving trait: [`ice::Relay`](crate::ice::Relay), a TURN allocation handle.
//! The ICE agent, not a driver, owns and drives it, and its receive path returns what it
//! unwrapped to the agent instead of queueing events (`unwrap` and `wrap` have no counterpart
//! here). Where its methods mean the same as the contract's (`handle_timeout`,
//! `poll_transmit`, `poll_timeout`) they carry the same names and the packet form's
//! signatures.

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

/// The driving contract of [`Protocol`] for a layer that exchanges whole packets with one peer
/// and knows nothing of addresses: the SCTP association and the data channels on top of it.
///
/// The same five methods, with the same names, call order and buffer rules as [`Protocol`];
/// only the datagram is bare bytes and the transmit is a length. The layer below supplies the
/// addresses: the DTLS layer of a PeerConnection feeds decrypted packets in, and
/// [`sctp::Endpoint`](crate::sctp::Endpoint) binds a `PacketProtocol` to a 5-tuple and drives
/// it as a [`Protocol`] over UDP.
///
/// ```
/// use kaon::PacketProtocol;
/// use std::time::Instant;
///
/// /// Carries every packet from `a` to `b` and back until both are quiet.
/// fn exchange<A: PacketProtocol, B: PacketProtocol>(a: &mut A, b: &mut B, now: Instant) {
///     let mut buf = [0u8; 2048];
///     for _ in 0..20 {
///         while let Some(n) = a.poll_transmit(now, &mut buf) {
///             b.handle_datagram(now, &buf[..n]);
///         }
///         while let Some(n) = b.poll_transmit(now, &mut buf) {
///             a.handle_datagram(now, &buf[..n]);
///         }
///     }
/// }
///
/// use kaon::sctp::{Association, Config, Event};
/// let now = Instant::now();
/// let mut a = Association::new(Config { seed: Some(1), ..Config::default() });
/// let mut b = Association::new(Config { seed: Some(2), ..Config::default() });
/// a.connect(now);
/// b.connect(now);
/// exchange(&mut a, &mut b, now);
/// assert!(std::iter::from_fn(|| a.poll_event()).any(|e| matches!(e, Event::Connected)));
/// ```
pub trait PacketProtocol {
    /// The layer's own event type.
    type Event;

    /// Processes one packet received from the peer. Malformed input is counted and dropped.
    fn handle_datagram(&mut self, now: Instant, packet: &[u8]);

    /// Acts on every deadline at or before `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// Writes the next packet to send into `buf` and returns its length, or `None` when
    /// nothing is waiting.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;

    /// Returns the next event for the application, or `None` when there is none.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The next instant at which [`handle_timeout`](PacketProtocol::handle_timeout) must be
    /// called, or `None` when no timer is running.
    fn poll_timeout(&self) -> Option<Instant>;
}
