//! Batched UDP I/O for the [`Driver`](crate::Driver): `kaon-adapter-common`'s
//! [`udp_batch`](kaon_adapter_common::udp_batch) (recvmmsg in, GSO runs out, through
//! `quinn-udp`), waiting on tokio's readiness.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use kaon_adapter_common::udp_batch::{RecvBatch, SendBatch};
use quinn_udp::UdpSocketState;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// A socket's `quinn-udp` state (set up once).
pub(crate) fn state(socket: &UdpSocket) -> io::Result<UdpSocketState> {
    kaon_adapter_common::udp_batch::socket_state(socket.into(), socket.local_addr()?)
}

/// The sockets' local addresses, the sockets made shareable, and their `quinn-udp` states.
#[allow(clippy::type_complexity)]
pub(crate) fn setup(
    sockets: Vec<UdpSocket>,
) -> io::Result<(
    Vec<SocketAddr>,
    Vec<Arc<UdpSocket>>,
    Vec<Arc<UdpSocketState>>,
)> {
    let mut locals = Vec::with_capacity(sockets.len());
    let mut states = Vec::with_capacity(sockets.len());
    for socket in &sockets {
        locals.push(socket.local_addr()?);
        states.push(Arc::new(state(socket)?));
    }
    Ok((locals, sockets.into_iter().map(Arc::new).collect(), states))
}

/// Receives a batch of the datagrams waiting at `socket` without waiting: `WouldBlock` (and
/// no system call) while tokio has seen no readiness since the last `WouldBlock`.
pub(crate) fn try_recv(
    batch: &mut RecvBatch,
    socket: &UdpSocket,
    state: &UdpSocketState,
) -> io::Result<usize> {
    socket.try_io(Interest::READABLE, || batch.try_recv(socket.into(), state))
}

/// Forgets that `socket` was readable, as a `WouldBlock` would, without the system call: for
/// a batch that did not fill the buffers, which drained the socket. A datagram that arrived
/// since is not lost: the reactor hears of it from epoll (edge-triggered) on its next turn.
pub(crate) fn assume_drained(socket: &UdpSocket) {
    let _ = socket.try_io(Interest::READABLE, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
}

/// Waits until any of `sockets` is readable (or failed).
pub(crate) async fn any_readable(sockets: &[Arc<UdpSocket>]) {
    std::future::poll_fn(|cx| {
        // Each socket polled registers this task's waker: all of them, when none is ready.
        if sockets.iter().any(|s| s.poll_recv_ready(cx).is_ready()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Waits for datagrams and receives a batch of them into `batch`; returns how many buffers
/// were filled.
pub(crate) async fn recv(
    batch: &mut RecvBatch,
    socket: &UdpSocket,
    state: &UdpSocketState,
) -> io::Result<usize> {
    socket
        .async_io(Interest::READABLE, || batch.try_recv(socket.into(), state))
        .await
}

/// Sends the run gathered in `out`, waiting while a socket's buffer is full. Errors other
/// than a full buffer drop the datagrams and are returned, with the destination, for logging.
pub(crate) async fn flush(
    out: &mut SendBatch,
    sockets: &[Arc<UdpSocket>],
    states: &[Arc<UdpSocketState>],
) -> Result<(), (SocketAddr, io::Error)> {
    loop {
        let result = out.try_flush(|i, t| {
            let socket = sockets[i].as_ref();
            socket.try_io(Interest::WRITABLE, || states[i].try_send(socket.into(), t))
        });
        match (result, out.socket()) {
            (Err((destination, e)), Some(i)) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = sockets[i].writable().await {
                    out.discard();
                    return Err((destination, e));
                }
            }
            (result, _) => return result,
        }
    }
}
