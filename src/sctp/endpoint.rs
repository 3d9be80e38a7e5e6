//! [`Protocol`](crate::Protocol) over plain datagrams: a [`PacketProtocol`] (an association,
//! the data channels) bound to one remote address, for SCTP directly over UDP (as RFC 6951,
//! without its encapsulation details) or any datagram transport.

use crate::{Datagram, PacketProtocol, Protocol, Transmit};
use std::net::SocketAddr;
use std::time::Instant;

impl PacketProtocol for super::Association {
    type Event = super::Event;
    fn handle_datagram(&mut self, now: Instant, packet: &[u8]) {
        super::Association::handle_packet(self, now, packet);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        super::Association::poll_packet(self, now, buf)
    }
    fn handle_timeout(&mut self, now: Instant) {
        super::Association::handle_timeout(self, now);
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        super::Association::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        super::Association::poll_timeout(self)
    }
}

/// A [`PacketProtocol`] bound to a local and a remote address, driven as a [`Protocol`].
/// Datagrams from any other source are dropped.
#[derive(Debug)]
pub struct Endpoint<L> {
    layer: L,
    local: SocketAddr,
    remote: SocketAddr,
}

impl<L: PacketProtocol> Endpoint<L> {
    /// Binds `layer` to the 5-tuple (`local`, `remote`).
    pub fn new(layer: L, local: SocketAddr, remote: SocketAddr) -> Self {
        Self {
            layer,
            local,
            remote,
        }
    }

    /// The wrapped layer (to send, open channels, read counters).
    pub fn get_mut(&mut self) -> &mut L {
        &mut self.layer
    }

    /// The wrapped layer.
    pub fn get_ref(&self) -> &L {
        &self.layer
    }

    /// Unwraps the layer.
    pub fn into_inner(self) -> L {
        self.layer
    }
}

impl<L: PacketProtocol> Protocol for Endpoint<L> {
    type Event = L::Event;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        if d.source == self.remote {
            self.layer.handle_datagram(now, d.contents);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let len = self.layer.poll_transmit(now, buf)?;
        Some(Transmit::new(self.local, self.remote, len))
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        self.layer.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.layer.poll_timeout()
    }
}
