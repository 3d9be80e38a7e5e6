//! The TCP side of a PeerConnection in an adapter: TURN over TCP and TLS (RFC 8656 §3.1) and
//! ICE-TCP (RFC 6544) connections, beside the UDP sockets the driver owns.
//!
//! Each adapter's connection tables (threads in kaon-std, tasks in kaon-tokio) are a
//! [`StreamSide`]; [`WithStreams`] puts two of them beside a [`Dispatch`] and is the
//! [`Protocol`] the driver runs: a transmit for a relay reached over a stream, or from a TCP
//! candidate, goes down that connection instead of out of a UDP socket, and connections that
//! closed are told to the PeerConnection.
//!
//! ```ignore
//! let driven = WithStreams { inner: dispatch, streams: turn_streams, ice_tcp: ice_tcp };
//! // A connection's reader posts what it read to the driver, which calls:
//! driven.turn_input(now, input);   // or ice_tcp_input: datagrams in, closed connections told
//! ```

use std::net::SocketAddr;
use std::time::Instant;

use kaon::peer::PeerEvent;
use kaon::{Datagram, Protocol, Transmit};

use crate::{Dispatch, Glue};

/// One kind of stream connection an adapter keeps for a connection.
pub trait StreamSide {
    /// What a connection's reader reports to the driver.
    type Input;

    /// Takes `transmit` (`bytes`) when it goes down one of these connections (`true`); else
    /// the driver sends it over UDP. [`flush`](Self::flush) after a round of transmits.
    fn divert(&mut self, transmit: &Transmit, bytes: &[u8]) -> bool;

    /// Opens, writes to and closes connections as the core asked.
    fn flush(&mut self);

    /// What a reader reported: datagrams for the protocol go to `deliver`.
    fn handle(&mut self, input: Self::Input, deliver: impl FnMut(Datagram<'_>));

    /// The connections that closed since the last call, as (local, remote).
    fn closed_pairs(&mut self) -> Vec<(SocketAddr, SocketAddr)>;
}

/// A [`Dispatch`] with TURN's stream connections (`streams`) and ICE-TCP's (`ice_tcp`) beside
/// it. Derefs to the dispatcher.
pub struct WithStreams<G: Glue, T, I> {
    /// The dispatcher and its PeerConnection.
    pub inner: Dispatch<G>,
    /// TURN over TCP and TLS.
    pub streams: T,
    /// ICE-TCP.
    pub ice_tcp: I,
}

impl<G: Glue, T: StreamSide, I: StreamSide> WithStreams<G, T, I> {
    /// Input from a TURN connection's reader.
    pub fn turn_input(&mut self, now: Instant, input: T::Input) {
        let pc = &mut self.inner.pc;
        self.streams
            .handle(input, |datagram| pc.handle_datagram(now, datagram));
        self.report_closed(now);
    }

    /// Input from an ICE-TCP listener's or connection's reader.
    pub fn ice_tcp_input(&mut self, now: Instant, input: I::Input) {
        let pc = &mut self.inner.pc;
        self.ice_tcp
            .handle(input, |datagram| pc.handle_datagram(now, datagram));
        self.report_closed(now);
    }

    /// Tells the PeerConnection of closed connections; whether there were any.
    fn report_closed(&mut self, now: Instant) -> bool {
        let turn = self.streams.closed_pairs();
        let tcp = self.ice_tcp.closed_pairs();
        for &(local, server) in &turn {
            self.inner.pc.turn_stream_closed(now, local, server);
        }
        for &(local, remote) in &tcp {
            self.inner.pc.ice_tcp_closed(now, local, remote);
        }
        !turn.is_empty() || !tcp.is_empty()
    }
}

impl<G: Glue, T, I> std::ops::Deref for WithStreams<G, T, I> {
    type Target = Dispatch<G>;

    fn deref(&self) -> &Dispatch<G> {
        &self.inner
    }
}

impl<G: Glue, T, I> std::ops::DerefMut for WithStreams<G, T, I> {
    fn deref_mut(&mut self) -> &mut Dispatch<G> {
        &mut self.inner
    }
}

impl<G: Glue, T: StreamSide, I: StreamSide> Protocol for WithStreams<G, T, I> {
    type Event = PeerEvent;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.inner.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            while let Some(t) = self.inner.poll_transmit(now, buf) {
                if !self.streams.divert(&t, &buf[..t.len])
                    && !self.ice_tcp.divert(&t, &buf[..t.len])
                {
                    return Some(t);
                }
            }
            self.streams.flush();
            self.ice_tcp.flush();
            // A connection that closed may have made the core send again (another relay).
            if !self.report_closed(now) {
                return None;
            }
        }
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}
