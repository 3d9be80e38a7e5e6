//! Batched UDP I/O for the [`Driver`](crate::Driver): `kaon-adapter-common`'s
//! [`udp_batch`](kaon_adapter_common::udp_batch) (recvmmsg in, GSO runs out, through
//! `quinn-udp`), waiting on tokio's readiness.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use kaon_adapter_common::udp_batch::{RecvBatch, SendBatch};
use quinn_udp::UdpSocketState;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// A socket's `quinn-udp` state (set up once).
pub(crate) fn state(socket: &UdpSocket) -> io::Result<UdpSocketState> {
    kaon_adapter_common::udp_batch::socket_state(socket.into(), socket.local_addr()?)
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
