//! Batched UDP I/O for the [`Driver`](crate::Driver), through `quinn-udp` (the socket layer
//! quinn runs in production), so this crate stays free of `unsafe`.
//!
//! - Receiving: one `recvmmsg` takes up to [`quinn_udp::BATCH_SIZE`] datagrams, and with GRO
//!   (Linux) one buffer may hold several datagrams of one sender cut at `stride`; each is
//!   handed on alone. The batch starts at one 64 KiB buffer and doubles (up to the batch size)
//!   each time a call fills every buffer, so an idle socket costs one buffer and a busy one
//!   gets the batch. Pages of a buffer are touched only as datagrams land in them.
//! - Sending: consecutive datagrams from one socket to one destination, all of one size but
//!   the last (which may be shorter), leave as one GSO send (Linux `UDP_SEGMENT`): the kernel's
//!   send path runs once for the run. Anything else leaves one datagram per call, as before.
//!   If the kernel refuses segmentation, the run is sent again one datagram at a time.
//!
//! Caveats of `quinn-udp`'s socket setup on Linux: IPv4 and IPv6 datagrams leave with the
//! don't-fragment bit (`IP_PMTUDISC_PROBE`), and a datagram larger than the interface MTU
//! fails instead of being fragmented. kaon's layers keep to their configured MTU.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The most bytes a GSO send carries (an IP datagram's limit, less headers).
const GSO_MAX_BYTES: usize = 65_000;

/// One buffer per datagram (or GRO train) received in a batch: the largest UDP payload.
const SLOT: usize = kaon_adapter_common::BUF_SIZE;

/// A socket's `quinn-udp` state (set up once: GRO, packet info).
pub(crate) fn state(socket: &UdpSocket) -> io::Result<UdpSocketState> {
    UdpSocketState::new(socket.into())
}

/// Receive buffers for one socket, growing with load.
pub(crate) struct RecvBatch {
    bufs: Vec<u8>,
    slots: usize,
    /// Buffers the last call filled.
    filled: usize,
    meta: [RecvMeta; quinn_udp::BATCH_SIZE],
}

impl RecvBatch {
    pub(crate) fn new() -> Self {
        Self {
            bufs: vec![0; SLOT],
            slots: 1,
            filled: 0,
            meta: [RecvMeta::default(); quinn_udp::BATCH_SIZE],
        }
    }

    /// Waits for datagrams and receives a batch of them; returns how many buffers were
    /// filled, for [`datagrams`](Self::datagrams).
    pub(crate) async fn recv(
        &mut self,
        socket: &UdpSocket,
        state: &UdpSocketState,
    ) -> io::Result<usize> {
        if self.filled == self.slots && self.slots < quinn_udp::BATCH_SIZE {
            // The last call filled every buffer: more are waiting, take more per call from
            // now on. A fresh zeroed vector costs no page until a datagram lands in it.
            self.slots = (self.slots * 2).min(quinn_udp::BATCH_SIZE);
            self.bufs = vec![0; self.slots * SLOT];
        }
        self.filled = 0;
        let slots = self.slots;
        let (bufs, meta) = (&mut self.bufs, &mut self.meta);
        let n = socket
            .async_io(Interest::READABLE, || {
                let mut chunks = bufs.chunks_mut(SLOT);
                let mut iovs: [IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                state.recv(socket.into(), &mut iovs[..slots], &mut meta[..slots])
            })
            .await?;
        self.filled = n;
        Ok(n)
    }

    /// The datagrams of the last [`recv`](Self::recv), each with its source, GRO trains cut
    /// into their datagrams.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
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

/// Datagrams gathered for one send: a run from one socket to one destination.
pub(crate) struct SendBatch {
    buf: Vec<u8>,
    /// (socket index, destination, segment size, datagrams) of the run in `buf`.
    run: Option<(usize, SocketAddr, usize, usize)>,
    /// Whether the last datagram of the run is shorter than the segment size (then the run
    /// is closed).
    short_tail: bool,
}

impl SendBatch {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::new(),
            run: None,
            short_tail: false,
        }
    }

    /// Whether a datagram of `len` bytes from `socket` to `destination` can join the run.
    pub(crate) fn fits(
        &self,
        socket: usize,
        destination: SocketAddr,
        len: usize,
        max_segments: usize,
    ) -> bool {
        match self.run {
            None => true,
            Some((s, d, seg, count)) => {
                s == socket
                    && d == destination
                    && !self.short_tail
                    && len <= seg
                    && len > 0
                    && count < max_segments
                    && self.buf.len() + len <= GSO_MAX_BYTES
            }
        }
    }

    /// Adds a datagram; call [`fits`](Self::fits) first (or [`flush`](Self::flush)).
    pub(crate) fn push(&mut self, socket: usize, destination: SocketAddr, contents: &[u8]) {
        match &mut self.run {
            None => {
                self.run = Some((socket, destination, contents.len(), 1));
                self.short_tail = false;
            }
            Some((_, _, seg, count)) => {
                *count += 1;
                self.short_tail = contents.len() < *seg;
            }
        }
        self.buf.extend_from_slice(contents);
    }

    /// Sends the run, waiting while the socket's buffer is full. Errors other than a full
    /// buffer drop the datagrams (UDP may lose them anyway) and are returned, with the
    /// destination, for logging.
    pub(crate) async fn flush(
        &mut self,
        sockets: &[Arc<UdpSocket>],
        states: &[Arc<UdpSocketState>],
    ) -> Result<(), (SocketAddr, io::Error)> {
        let Some((socket, destination, seg, count)) = self.run.take() else {
            return Ok(());
        };
        let (sock, state) = (&sockets[socket], &states[socket]);
        let transmit = Transmit {
            destination,
            ecn: None,
            contents: &self.buf,
            segment_size: (count > 1).then_some(seg),
            src_ip: None,
        };
        let mut result = sock
            .async_io(Interest::WRITABLE, || {
                state.try_send(sock.as_ref().into(), &transmit)
            })
            .await;
        if result.is_err() && count > 1 {
            // The kernel or the device refused segmentation (quinn-udp then stops offering
            // it): send the run one datagram at a time.
            result = Ok(());
            for datagram in self.buf.chunks(seg) {
                let one = Transmit {
                    destination,
                    ecn: None,
                    contents: datagram,
                    segment_size: None,
                    src_ip: None,
                };
                let sent = sock
                    .async_io(Interest::WRITABLE, || {
                        state.try_send(sock.as_ref().into(), &one)
                    })
                    .await;
                if sent.is_err() {
                    result = sent;
                }
            }
        }
        self.buf.clear();
        result.map_err(|e| (destination, e))
    }

    /// The segment count a run may reach on `state`'s socket.
    pub(crate) fn max_segments(state: &UdpSocketState) -> usize {
        state.max_gso_segments().max(1)
    }
}
