//! Batched UDP I/O for both drivers, through `quinn-udp` (the socket layer quinn runs in
//! production), so no adapter needs `unsafe`. The runtimes differ only in how they wait for a
//! socket to become readable or writable; everything here is a non-blocking attempt.
//!
//! - Receiving ([`RecvBatch`]): one `recvmmsg` takes up to [`quinn_udp::BATCH_SIZE`]
//!   datagrams. The batch starts at one 64 KiB buffer and doubles (up to the batch size) each
//!   time a call fills every buffer, so an idle socket costs one buffer and a busy one gets the
//!   batch. Pages of a buffer are touched only as datagrams land in them. A buffer holding a
//!   GRO train (several datagrams of one sender cut at `stride`) is handed on cut apart.
//! - Sending ([`SendBatch`]): consecutive datagrams from one socket to one destination, all of
//!   one size but the last (which may be shorter), leave as one GSO send (Linux
//!   `UDP_SEGMENT`): the kernel's send path runs once for the run. If the kernel refuses
//!   segmentation, the run goes again one datagram at a time.
//! - Socket setup ([`socket_state`]): on Linux the socket gets none of the per-datagram
//!   control messages `quinn-udp` would ask for (packet info, TOS, receive timestamps): the
//!   drivers need none of them (a socket's address is its local address; kaon does not read
//!   ECN), and the kernel would build them for every datagram. Nor does it get
//!   `IP_PMTUDISC_PROBE`: datagrams keep the system's fragmentation default.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit};
pub use quinn_udp::{UdpSockRef, UdpSocketState};

/// The most bytes a GSO send carries (an IP datagram's limit, less headers).
const GSO_MAX_BYTES: usize = 65_000;

/// One buffer per datagram (or GRO train) received in a batch: the largest UDP payload.
const SLOT: usize = crate::BUF_SIZE;

/// The `quinn-udp` state for `socket` (bound to `local`), and the socket made non-blocking.
///
/// On Linux the state is set up on a probe socket of the same family, which is then closed:
/// the state itself only records what the kernel offers (GSO), and `quinn-udp`'s socket
/// options (packet info, TOS and timestamps on every received datagram, no fragmentation) stay
/// off the driven socket. Elsewhere the socket gets `quinn-udp`'s usual setup.
pub fn socket_state(socket: UdpSockRef<'_>, local: SocketAddr) -> io::Result<UdpSocketState> {
    if cfg!(target_os = "linux") {
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(local),
            socket2::Type::DGRAM,
            None,
        )?;
        let state = UdpSocketState::new((&probe).into())?;
        socket.set_nonblocking(true)?;
        Ok(state)
    } else {
        UdpSocketState::new(socket)
    }
}

/// Receive buffers for one socket, growing with load.
pub struct RecvBatch {
    bufs: Vec<u8>,
    slots: usize,
    /// Buffers the last call filled.
    filled: usize,
    meta: [RecvMeta; quinn_udp::BATCH_SIZE],
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// One buffer to start with.
    pub fn new() -> Self {
        Self {
            bufs: vec![0; SLOT],
            slots: 1,
            filled: 0,
            meta: [RecvMeta::default(); quinn_udp::BATCH_SIZE],
        }
    }

    /// Receives the datagrams waiting at `socket` (one system call), without waiting: an
    /// error of kind `WouldBlock` when there are none. Returns how many buffers were filled;
    /// [`datagrams`](Self::datagrams) has them.
    pub fn try_recv(
        &mut self,
        socket: UdpSockRef<'_>,
        state: &UdpSocketState,
    ) -> io::Result<usize> {
        if self.filled == self.slots && self.slots < quinn_udp::BATCH_SIZE {
            // The last call filled every buffer: more are waiting, take more per call from
            // now on. A fresh zeroed vector costs no page until a datagram lands in it.
            self.slots = (self.slots * 2).min(quinn_udp::BATCH_SIZE);
            self.bufs = vec![0; self.slots * SLOT];
        }
        self.filled = 0;
        let mut chunks = self.bufs.chunks_mut(SLOT);
        let mut iovs: [IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let n = state.recv(
            socket,
            &mut iovs[..self.slots],
            &mut self.meta[..self.slots],
        )?;
        self.filled = n;
        Ok(n)
    }

    /// Whether the last [`try_recv`](Self::try_recv) filled every buffer. When it did not, the
    /// socket held fewer datagrams than the batch takes: it was most likely drained, and a
    /// loop reading until `WouldBlock` can skip the call that would only say so.
    pub fn filled_all(&self) -> bool {
        self.filled == self.slots
    }

    /// The datagrams of the last [`try_recv`](Self::try_recv), each with its source, GRO
    /// trains cut into their datagrams.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.meta[..self.filled]
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                let buf = &self.bufs[i * SLOT..i * SLOT + m.len.min(SLOT)];
                let stride = if m.stride == 0 { buf.len() } else { m.stride };
                buf.chunks(stride.max(1)).map(move |d| (m.addr, d))
            })
    }
}

/// A run of datagrams from one socket to one destination, gathered for one send.
#[derive(Debug, Clone, Copy)]
struct Run {
    socket: usize,
    destination: SocketAddr,
    /// The size of every datagram but the last.
    segment: usize,
    count: usize,
    /// Whether the last datagram is shorter than `segment` (then the run is closed).
    short_tail: bool,
    /// Once segmentation was refused: how many of the run went out one at a time.
    sent_singly: Option<usize>,
}

/// Datagrams gathered for one send: a run from one socket to one destination.
#[derive(Debug, Default)]
pub struct SendBatch {
    buf: Vec<u8>,
    run: Option<Run>,
}

impl SendBatch {
    /// Nothing gathered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a datagram of `len` bytes from `socket` to `destination` can join the run;
    /// `max_segments` is what the socket's state allows ([`max_segments`](Self::max_segments)).
    pub fn fits(
        &self,
        socket: usize,
        destination: SocketAddr,
        len: usize,
        max_segments: usize,
    ) -> bool {
        match self.run {
            None => true,
            Some(r) => {
                r.socket == socket
                    && r.destination == destination
                    && !r.short_tail
                    && len <= r.segment
                    && len > 0
                    && r.count < max_segments
                    && self.buf.len() + len <= GSO_MAX_BYTES
            }
        }
    }

    /// Adds a datagram; call [`fits`](Self::fits) first (and flush when it does not).
    pub fn push(&mut self, socket: usize, destination: SocketAddr, contents: &[u8]) {
        match &mut self.run {
            None => {
                self.run = Some(Run {
                    socket,
                    destination,
                    segment: contents.len(),
                    count: 1,
                    short_tail: false,
                    sent_singly: None,
                });
            }
            Some(r) => {
                r.count += 1;
                r.short_tail = contents.len() < r.segment;
            }
        }
        self.buf.extend_from_slice(contents);
    }

    /// The socket the gathered run leaves from, if there is one.
    pub fn socket(&self) -> Option<usize> {
        self.run.map(|r| r.socket)
    }

    /// Sends the run through `send` (socket index, transmit: a non-blocking send such as
    /// `UdpSocketState::try_send`). When `send` would block, the error (kind `WouldBlock`)
    /// comes back and the rest of the run stays: wait until [`socket`](Self::socket) is
    /// writable and call again. Other errors drop the datagrams (UDP may lose them anyway) and
    /// come back with the destination, for logging.
    pub fn try_flush(
        &mut self,
        mut send: impl FnMut(usize, &Transmit<'_>) -> io::Result<()>,
    ) -> Result<(), (SocketAddr, io::Error)> {
        let Some(mut run) = self.run else {
            return Ok(());
        };
        let mut result = Ok(());
        if run.sent_singly.is_none() {
            let all = Transmit {
                segment_size: (run.count > 1).then_some(run.segment),
                ..single(run.destination, &self.buf)
            };
            match send(run.socket, &all) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err((run.destination, e));
                }
                // The kernel or the device refused segmentation (quinn-udp then stops
                // offering it): the run goes one datagram at a time.
                Err(_) if run.count > 1 => run.sent_singly = Some(0),
                sent => result = sent,
            }
        }
        if let Some(done) = run.sent_singly {
            for datagram in self.buf.chunks(run.segment).skip(done) {
                match send(run.socket, &single(run.destination, datagram)) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.run = Some(run);
                        return Err((run.destination, e));
                    }
                    Err(e) => result = Err(e),
                    Ok(()) => {}
                }
                run.sent_singly = run.sent_singly.map(|n| n + 1);
            }
        }
        self.discard();
        result.map_err(|e| (run.destination, e))
    }

    /// Drops the gathered run (when its socket cannot be waited for).
    pub fn discard(&mut self) {
        self.run = None;
        self.buf.clear();
    }

    /// The segment count a run may reach on `state`'s socket.
    pub fn max_segments(state: &UdpSocketState) -> usize {
        state.max_gso_segments().max(1)
    }
}

/// One datagram to `destination`.
fn single(destination: SocketAddr, contents: &[u8]) -> Transmit<'_> {
    Transmit {
        destination,
        ecn: None,
        contents,
        segment_size: None,
        src_ip: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_run_is_one_destination_of_one_size_with_a_shorter_tail() {
        let mut batch = SendBatch::new();
        batch.push(0, addr(1), &[1; 100]);
        assert!(batch.fits(0, addr(1), 100, 64));
        assert!(!batch.fits(1, addr(1), 100, 64), "another socket");
        assert!(!batch.fits(0, addr(2), 100, 64), "another destination");
        assert!(!batch.fits(0, addr(1), 101, 64), "longer than the segment");
        assert!(!batch.fits(0, addr(1), 100, 1), "past the segment limit");
        batch.push(0, addr(1), &[2; 60]);
        assert!(
            !batch.fits(0, addr(1), 60, 64),
            "a short datagram ends the run"
        );
    }

    #[test]
    fn a_blocked_flush_keeps_the_run_and_a_refused_one_goes_singly() {
        let mut batch = SendBatch::new();
        for i in 0..3 {
            batch.push(0, addr(1), &[i; 10]);
        }
        let would_block = || Err(io::Error::from(io::ErrorKind::WouldBlock));
        assert!(batch.try_flush(|_, _| would_block()).is_err());
        assert_eq!(batch.socket(), Some(0), "the run waits for the socket");
        // Segmentation refused, then the second single datagram blocks once.
        let mut seen = Vec::new();
        let mut blocked = false;
        let result = batch.try_flush(|_, t| {
            if t.segment_size.is_some() {
                return Err(io::Error::from_raw_os_error(22));
            }
            if seen.len() == 1 && !blocked {
                blocked = true;
                return would_block();
            }
            seen.push(t.contents[0]);
            Ok(())
        });
        assert!(result.is_err_and(|(_, e)| e.kind() == io::ErrorKind::WouldBlock));
        batch
            .try_flush(|_, t| {
                seen.push(t.contents[0]);
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, [0, 1, 2], "each datagram once, in order");
        assert_eq!(batch.socket(), None);
    }
}
