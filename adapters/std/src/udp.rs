//! The [`Driver`](crate::Driver)'s UDP calls. On Linux they are batched through
//! `kaon-adapter-common`'s [`udp_batch`](kaon_adapter_common::udp_batch): a reader takes up to
//! 32 datagrams per `recvmmsg`, and consecutive datagrams to one destination, of one size,
//! leave in one GSO send. The sockets are non-blocking there; a thread waits in `poll(2)`.
//! Elsewhere each call moves one datagram, on blocking sockets.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// What a send did; a failure names the destination, for logging.
pub(crate) type Sent = Result<(), (SocketAddr, io::Error)>;

/// How long a reader waits for a datagram before it re-checks whether it should stop.
pub(crate) const READER_POLL: Duration = Duration::from_millis(100);

#[cfg(target_os = "linux")]
pub(crate) use batched::{Poller, Reader, Sender, Waker, inline, split};
#[cfg(not(target_os = "linux"))]
pub(crate) use single::{Reader, Sender, Waker, split};

#[cfg(target_os = "linux")]
mod batched {
    use super::*;
    use kaon_adapter_common::udp_batch::{RecvBatch, SendBatch, UdpSocketState};
    use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
    use std::os::fd::OwnedFd;
    use std::sync::Arc;

    /// Waits until `socket` is ready for `flags`, or `timeout` passes.
    fn wait(socket: &UdpSocket, flags: PollFlags, timeout: Duration) -> io::Result<()> {
        let timeout = Timespec::try_from(timeout).map_err(io::Error::other)?;
        poll(&mut [PollFd::new(socket, flags)], Some(&timeout))?;
        Ok(())
    }

    /// One socket's receiving side.
    pub(crate) struct Reader {
        socket: UdpSocket,
        state: Arc<UdpSocketState>,
        batch: RecvBatch,
    }

    /// The sending side of every socket, on the driver thread.
    pub(crate) struct Sender {
        sockets: Vec<UdpSocket>,
        states: Vec<Arc<UdpSocketState>>,
        out: SendBatch,
    }

    /// Sets `sockets` up for batched I/O: a reader for each, and one sender for them all.
    pub(crate) fn split(sockets: Vec<UdpSocket>) -> io::Result<(Vec<Reader>, Sender)> {
        let mut readers = Vec::with_capacity(sockets.len());
        let mut sender = Sender {
            sockets: Vec::with_capacity(sockets.len()),
            states: Vec::with_capacity(sockets.len()),
            out: SendBatch::new(),
        };
        for socket in sockets {
            let local = socket.local_addr()?;
            let state = Arc::new(kaon_adapter_common::udp_batch::socket_state(
                (&socket).into(),
                local,
            )?);
            sender.sockets.push(socket.try_clone()?);
            sender.states.push(state.clone());
            readers.push(Reader {
                socket,
                state,
                batch: RecvBatch::new(),
            });
        }
        Ok((readers, sender))
    }

    /// Sets `sockets` up for batched I/O on one thread: the sockets (non-blocking) and their
    /// states, for a [`Poller`], and a sender with clones of them.
    #[allow(clippy::type_complexity)]
    pub(crate) fn inline(
        sockets: Vec<UdpSocket>,
    ) -> io::Result<(Vec<UdpSocket>, Vec<Arc<UdpSocketState>>, Sender)> {
        let (readers, sender) = split(sockets)?;
        let states = sender.states.clone();
        Ok((
            readers.into_iter().map(|r| r.socket).collect(),
            states,
            sender,
        ))
    }

    /// Wakes a thread waiting in a [`Poller`] (an eventfd among the polled descriptors).
    pub(crate) struct Waker(OwnedFd);

    impl Waker {
        pub(crate) fn new() -> io::Result<Self> {
            Ok(Self(eventfd(
                0,
                EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC,
            )?))
        }

        /// Makes the poller's next (or current) wait return.
        pub(crate) fn wake(&self) {
            let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
        }
    }

    /// Every socket's receiving side on the driver thread itself: one poll(2) over the sockets
    /// and the [`Waker`] says which to read.
    pub(crate) struct Poller<'a> {
        /// The waker's, then each socket's.
        fds: Vec<PollFd<'a>>,
        sockets: &'a [UdpSocket],
        states: &'a [Arc<UdpSocketState>],
        batch: RecvBatch,
    }

    impl<'a> Poller<'a> {
        pub(crate) fn new(
            sockets: &'a [UdpSocket],
            states: &'a [Arc<UdpSocketState>],
            waker: &'a Waker,
        ) -> Self {
            let mut fds = vec![PollFd::new(&waker.0, PollFlags::IN)];
            fds.extend(sockets.iter().map(|s| PollFd::new(s, PollFlags::IN)));
            Self {
                fds,
                sockets,
                states,
                batch: RecvBatch::new(),
            }
        }

        /// Waits up to `timeout` (`None`: without end) until a socket is readable or the
        /// waker is woken, and resets the waker.
        pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
            let timeout = timeout
                .map(Timespec::try_from)
                .transpose()
                .map_err(io::Error::other)?;
            for fd in &mut self.fds {
                fd.clear_revents();
            }
            match poll(&mut self.fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            if !self.fds[0].revents().is_empty() {
                let mut count = [0u8; 8];
                let _ = rustix::io::read(&self.fds[0], &mut count);
            }
            Ok(())
        }

        /// Receives a batch on socket `index` (one system call) if the last
        /// [`wait`](Self::wait) found it readable and it still is: `Ok(false)` when it has
        /// nothing, or once a batch that did not fill the buffers drained it (then it is not
        /// read again until the next wait).
        pub(crate) fn recv(&mut self, index: usize) -> io::Result<bool> {
            let fd = &mut self.fds[index + 1];
            if fd.revents().is_empty() {
                return Ok(false);
            }
            match self
                .batch
                .try_recv((&self.sockets[index]).into(), &self.states[index])
            {
                Ok(_) => {
                    // Fewer datagrams than buffers: drained, most likely. The next poll says
                    // whether more came, without a receive that would only fail.
                    if !self.batch.filled_all() {
                        fd.clear_revents();
                    }
                    Ok(true)
                }
                Err(e) => {
                    fd.clear_revents();
                    if e.kind() == io::ErrorKind::WouldBlock {
                        Ok(false)
                    } else {
                        Err(e)
                    }
                }
            }
        }

        /// The datagrams of the last successful [`recv`](Self::recv).
        pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
            self.batch.datagrams()
        }
    }

    impl Reader {
        /// Waits up to [`READER_POLL`] for datagrams and receives what is queued (one system
        /// call); `WouldBlock` if nothing came.
        pub(crate) fn recv(&mut self) -> io::Result<()> {
            match self.batch.try_recv((&self.socket).into(), &self.state) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait(&self.socket, PollFlags::IN, READER_POLL)?;
                    self.batch.try_recv((&self.socket).into(), &self.state)?;
                }
                other => {
                    other?;
                }
            }
            Ok(())
        }

        /// The datagrams of the last successful [`recv`](Self::recv).
        pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
            self.batch.datagrams()
        }
    }

    impl Sender {
        /// Queues a datagram; a run of them to one destination leaves together on
        /// [`flush`](Self::flush) (or before, when the next one cannot join it).
        pub(crate) fn send(
            &mut self,
            socket: usize,
            destination: SocketAddr,
            contents: &[u8],
        ) -> Sent {
            let max = SendBatch::max_segments(&self.states[socket]);
            let sent = if self.out.fits(socket, destination, contents.len(), max) {
                Ok(())
            } else {
                self.flush()
            };
            self.out.push(socket, destination, contents);
            sent
        }

        /// Sends what is queued, waiting while a socket's buffer is full. Errors other than a
        /// full buffer drop the datagrams (UDP may lose them anyway) and are returned.
        pub(crate) fn flush(&mut self) -> Sent {
            let (sockets, states) = (&self.sockets, &self.states);
            loop {
                let result = self
                    .out
                    .try_flush(|i, t| states[i].try_send((&sockets[i]).into(), t));
                match (result, self.out.socket()) {
                    (Err((destination, e)), Some(i)) if e.kind() == io::ErrorKind::WouldBlock => {
                        // A full send buffer drains in microseconds; the timeout only bounds
                        // a wait on a socket that never becomes writable.
                        if let Err(e) = wait(&sockets[i], PollFlags::OUT, READER_POLL) {
                            self.out.discard();
                            return Err((destination, e));
                        }
                    }
                    (result, _) => return result,
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod single {
    use super::*;

    /// One socket's receiving side.
    pub(crate) struct Reader {
        socket: UdpSocket,
        buf: Vec<u8>,
        last: Option<(SocketAddr, usize)>,
    }

    /// The sending side of every socket, on the driver thread.
    pub(crate) struct Sender {
        sockets: Vec<UdpSocket>,
    }

    /// A reader for each of `sockets` (blocking, up to [`READER_POLL`] at a time), and one
    /// sender for them all.
    pub(crate) fn split(sockets: Vec<UdpSocket>) -> io::Result<(Vec<Reader>, Sender)> {
        let mut readers = Vec::with_capacity(sockets.len());
        let mut senders = Vec::with_capacity(sockets.len());
        for socket in sockets {
            socket.set_read_timeout(Some(READER_POLL))?;
            senders.push(socket.try_clone()?);
            readers.push(Reader {
                socket,
                buf: vec![0; kaon_adapter_common::BUF_SIZE],
                last: None,
            });
        }
        Ok((readers, Sender { sockets: senders }))
    }

    /// Nothing to wake: without batching, a driver always has reader threads.
    #[allow(dead_code)]
    pub(crate) struct Waker(std::convert::Infallible);

    impl Waker {
        pub(crate) fn wake(&self) {
            match self.0 {}
        }
    }

    impl Reader {
        /// Waits up to [`READER_POLL`] for one datagram.
        pub(crate) fn recv(&mut self) -> io::Result<()> {
            self.last = None;
            let (len, from) = self.socket.recv_from(&mut self.buf)?;
            self.last = Some((from, len));
            Ok(())
        }

        /// The datagram of the last successful [`recv`](Self::recv).
        pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
            self.last
                .map(|(from, len)| (from, &self.buf[..len]))
                .into_iter()
        }
    }

    impl Sender {
        /// Sends a datagram now.
        pub(crate) fn send(
            &mut self,
            socket: usize,
            destination: SocketAddr,
            contents: &[u8],
        ) -> Sent {
            self.sockets[socket]
                .send_to(contents, destination)
                .map(drop)
                .map_err(|e| (destination, e))
        }

        /// Nothing waits: every datagram left in [`send`](Self::send).
        pub(crate) fn flush(&mut self) -> Sent {
            Ok(())
        }
    }
}
