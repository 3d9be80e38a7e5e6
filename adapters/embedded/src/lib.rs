//! # kaon-embedded: drive any kaon protocol from your own loop
//!
//! No threads, no async runtime, no clock read: [`Stepper::step`] does one round of the
//! [`kaon::Protocol`] driving contract over sockets you own and the time you give it, and
//! returns when it wants to be called again. Put it in a `poll(2)`/`epoll`/mio loop, a
//! bare-metal super-loop over smoltcp, or a game's frame tick.
//!
//! What a round does, in order:
//!
//! 1. reads every datagram waiting on each socket (up to [`MAX_READS`] per socket, so a flood
//!    cannot starve the rest) and hands it to the protocol, with the socket's address as
//!    `destination`;
//! 2. calls `handle_timeout` when the protocol's deadline has passed;
//! 3. sends everything `poll_transmit` returns, from the socket whose address is
//!    `Transmit::source` (or the first socket of the same family when none matches exactly, as
//!    with one socket bound to a wildcard address);
//! 4. hands every event to your callback;
//! 5. returns `poll_timeout`: sleep until then or until a socket is readable.
//!
//! A socket is anything that can try to read or write a datagram without blocking:
//! implement [`DatagramSocket`] (done here for a non-blocking [`std::net::UdpSocket`]).
//!
//! ```no_run
//! use kaon::stun::{Client, ClientConfig};
//! use kaon_embedded::{Stepper, step_timeout};
//! use std::net::UdpSocket;
//! use std::time::Instant;
//!
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! socket.set_nonblocking(true)?;
//! let local = socket.local_addr()?;
//! let mut sockets = [socket];
//! let mut client = Client::new(ClientConfig::default());
//! client.binding_request(Instant::now(), local, "127.0.0.1:3478".parse().unwrap());
//! let mut stepper = Stepper::new();
//! loop {
//!     let now = Instant::now();
//!     let next = stepper.step(&mut client, &mut sockets, now, |event| println!("{event:?}"));
//!     // Wait for a datagram or the deadline: poll(2), mio, or here a plain sleep.
//!     std::thread::sleep(step_timeout(next, now).unwrap_or(std::time::Duration::from_millis(50)));
//! #   break;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Examples
//!
//! - `poll_echo`: a mio (epoll) loop on one thread serving a data channel to a kaon-std peer
//!   (`cargo run -p kaon-embedded --example poll_echo [-- --ipv6]`). The test `poll_chromium`
//!   has the same loop serve headless Chromium's data channel, over IPv4 and over IPv6 veth
//!   addresses, in a network namespace (`cargo test -p kaon-embedded --test poll_chromium`).
//! - `smoltcp_bridge`: kaon over smoltcp's in-memory IP interface, no kernel network stack on
//!   its side, bridged to a kaon-std peer.
//! - `min_peer`: the smallest echo peer (offer on stdin, answer on stdout), for the size below.
//!
//! ## Size and memory
//!
//! Measured on x86_64 Linux (glibc), Rust 1.95:
//!
//! - `min_peer` built with `cargo build --profile embedded -p kaon-embedded --example min_peer`
//!   (`[profile.embedded]`: opt-level "z", fat LTO, one codegen unit, `panic = "abort"`,
//!   stripped) is **2,080,232 bytes** (1.98 MiB, dynamically linked against glibc), with all
//!   of ICE, DTLS 1.2, SCTP, data channels, SDP, the certificate code and, since the
//!   PeerConnection drives mDNS, the mDNS responder and querier. Most of it is aws-lc's
//!   libcrypto: in the same build left unstripped (`CARGO_PROFILE_EMBEDDED_STRIP=false`),
//!   `nm -S` counts about 1.03 MB of C symbols against 0.71 MB of Rust ones (kaon, std,
//!   alloc), as Rust's LTO does not reach into the C objects. Symbols named for mDNS add up to
//!   about 10 KB of that (its parsing is partly inlined into the connection's receive path).
//! - Heap per connection: a connected, idle PeerConnection with one data channel holds
//!   13,337 bytes on the heap plus its 8,016-byte struct, 20.9 KiB in all (`cargo test --test
//!   peer_alloc -- --nocapture`); with mDNS on (its address hidden, the peer's name resolved)
//!   1,619 bytes more (`cargo test --test mdns_alloc -- --nocapture`). The adapter adds one
//!   buffer per loop, not per connection:
//!   [`Stepper::with_buffer_size`]`(2048)` is enough for the PeerConnection.
//!
//! ## What stands between the core and `no_std` + `alloc`
//!
//! - `std::net::{SocketAddr, IpAddr}` (about 40 files): all in `core::net` since Rust 1.77; a
//!   rename.
//! - `std::time::Instant` (about 330 lines in 45 files, every `Protocol` signature):
//!   `core` has `Duration` but no `Instant`. kaon would carry its own monotonic instant (a
//!   `u64` of nanoseconds since a caller-chosen origin, with the same `+ Duration` and
//!   `saturating_duration_since` methods). Mechanical, but it changes the public API of every
//!   layer, the adapters and the tests.
//! - Collections: `Vec`, `VecDeque`, `BTreeMap`, `String`, `Box` come from `alloc`;
//!   `HashMap`/`HashSet` (5 files: the STUN client, ICE checks, the router) need `hashbrown`
//!   or a `BTreeMap`. `std::error::Error` is `core::error::Error` since 1.81.
//! - Dependencies: `bytes`, `smallvec` and `thiserror` 2 build without `std`; `rand`'s
//!   ChaCha-based `StdRng` does too, but seeding from the OS (`Rng::new(None)`) must become the
//!   caller's job (configs already take a seed).
//! - **aws-lc-rs** is the real step. It wraps a C libcrypto built with cmake/cc that needs libc
//!   (malloc, threads, getrandom). kaon uses it in 11 files behind small wrappers: AES-GCM and
//!   AES-CTR (SRTP, DTLS records), HMAC-SHA1/SHA-256 (STUN, SRTP, SCTP cookies, DTLS
//!   cookies), SHA-256 and the TLS 1.2 PRF, ECDHE (P-256, X25519), ECDSA P-256 sign and
//!   verify, and randomness for key generation. A `no_std` build needs a crypto backend seam
//!   with a pure-Rust implementation behind it (the RustCrypto crates cover every primitive
//!   used), which adds dependencies DESIGN.md keeps out today and gives up aws-lc's
//!   assembly speed on the SRTP/DTLS hot paths.
//!
//! In short: without crypto the port is a few days of mechanical work, most of it the
//! `Instant` type; the crypto backend swap is the larger step (a week or more with the
//! interop and performance re-checks), and it is also where most of the binary size is.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::{Datagram, Protocol};

/// The most datagrams read from one socket in one round.
pub const MAX_READS: usize = 64;
/// Big enough for any UDP payload kaon produces or accepts.
pub const BUF_SIZE: usize = 65_536;

/// A datagram socket the caller owns that can be tried without blocking.
pub trait DatagramSocket {
    /// The local address: what a received datagram's `destination` is, and what a
    /// `Transmit::source` names to send from this socket.
    fn local_addr(&self) -> SocketAddr;
    /// Reads one datagram into `buf`: `Ok(Some((len, source)))`, or `Ok(None)` when nothing
    /// is waiting.
    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>>;
    /// Sends one datagram; `Ok(false)` when it would block (the datagram is dropped, as a
    /// full network queue would).
    fn try_send(&mut self, data: &[u8], to: SocketAddr) -> io::Result<bool>;
}

/// A `UdpSocket` set non-blocking by the caller (`set_nonblocking(true)`).
impl DatagramSocket for UdpSocket {
    fn local_addr(&self) -> SocketAddr {
        UdpSocket::local_addr(self).unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        match self.recv_from(buf) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn try_send(&mut self, data: &[u8], to: SocketAddr) -> io::Result<bool> {
        match self.send_to(data, to) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// What went by in the rounds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Datagrams handed to the protocol.
    pub received: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams dropped: no socket for `Transmit::source`, would block, or a send error.
    pub send_dropped: u64,
    /// Receive errors (the socket is skipped for the rest of the round).
    pub recv_errors: u64,
}

/// The one buffer and the counters of a driving loop; [`Stepper::step`] is the round.
#[derive(Debug)]
pub struct Stepper {
    buf: Vec<u8>,
    stats: StepStats,
}

impl Default for Stepper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stepper {
    /// A stepper with a [`BUF_SIZE`] buffer (its only allocation).
    pub fn new() -> Self {
        Self {
            buf: vec![0; BUF_SIZE],
            stats: StepStats::default(),
        }
    }

    /// A stepper with a buffer of `size` bytes: the largest datagram it can receive or send
    /// (the PeerConnection's datagrams fit in 1500 bytes; 2048 is enough for every kaon layer
    /// with default settings). For small targets: the buffer is the loop's only allocation.
    pub fn with_buffer_size(size: usize) -> Self {
        Self {
            buf: vec![0; size.max(1)],
            stats: StepStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> StepStats {
        self.stats
    }

    /// One round of the driving contract at `now` (see the [crate docs](crate)); returns the
    /// protocol's next deadline.
    pub fn step<P: Protocol, S: DatagramSocket>(
        &mut self,
        protocol: &mut P,
        sockets: &mut [S],
        now: Instant,
        mut on_event: impl FnMut(P::Event),
    ) -> Option<Instant> {
        for socket in sockets.iter_mut() {
            let destination = socket.local_addr();
            for _ in 0..MAX_READS {
                match socket.try_recv(&mut self.buf) {
                    Ok(Some((len, source))) => {
                        self.stats.received += 1;
                        let contents = &self.buf[..len];
                        protocol.handle_datagram(
                            now,
                            Datagram {
                                source,
                                destination,
                                contents,
                            },
                        );
                    }
                    Ok(None) => break,
                    Err(_) => {
                        self.stats.recv_errors += 1;
                        break;
                    }
                }
            }
        }
        if protocol.poll_timeout().is_some_and(|t| t <= now) {
            protocol.handle_timeout(now);
        }
        while let Some(t) = protocol.poll_transmit(now, &mut self.buf) {
            let data = &self.buf[..t.len];
            let socket = sockets
                .iter()
                .position(|s| s.local_addr() == t.source)
                .or_else(|| {
                    sockets
                        .iter()
                        .position(|s| s.local_addr().is_ipv4() == t.source.is_ipv4())
                });
            let sent = socket
                .is_some_and(|i| matches!(sockets[i].try_send(data, t.destination), Ok(true)));
            if sent {
                self.stats.sent += 1;
            } else {
                self.stats.send_dropped += 1;
            }
        }
        while let Some(event) = protocol.poll_event() {
            on_event(event);
        }
        protocol.poll_timeout()
    }
}

/// How long to wait after `now` for a deadline returned by [`Stepper::step`]: `None` when
/// there is none (wait for a datagram only), zero when it has passed.
pub fn step_timeout(next: Option<Instant>, now: Instant) -> Option<Duration> {
    next.map(|t| t.saturating_duration_since(now))
}
