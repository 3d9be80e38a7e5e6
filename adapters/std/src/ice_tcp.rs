//! ICE over TCP (RFC 6544) for a driver: the sockets behind the core's [`IceTcpLink`].
//!
//! The core frames ICE-TCP (RFC 4571) and owns no socket; this module owns them. [`IceTcp`]
//! accepts connections on a listening socket (a passive candidate), opens connections when the
//! agent checks a pair from an active candidate, writes what the link framed, and hands what
//! each connection reads back to the driver thread through a callback, where
//! [`handle`](IceTcp::handle) cuts it into datagrams for the protocol. Connections that close
//! or fail to open are reported by [`take_closed`](IceTcp::take_closed), for
//! `PeerConnection::ice_tcp_closed` or `Agent::tcp_stream_closed`.
//!
//! [`PeerConnection::add_tcp_listener`](crate::PeerConnection::add_tcp_listener) and
//! [`PeerConnection::add_tcp_active`](crate::PeerConnection::add_tcp_active) do all of this for
//! a peer connection; [`PeerConfig::ice_tcp`](kaon::peer::PeerConfig::ice_tcp) has
//! [`PeerConnection::new`](crate::PeerConnection::new) do it on each UDP socket's address.

use kaon::Datagram;
use kaon::Transmit;
use kaon::ice::{IceTcpLink, TcpType};
use kaon::turn::{StreamCommand, StreamId};
use kaon_adapter_common::StreamSide;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long an outgoing connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A write that cannot finish in this long (a peer that stopped reading) closes the
/// connection rather than stalling the driver thread.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Read size of a connection's reader thread.
const READ_SIZE: usize = 16 * 1024;

/// What the listener and connection threads report to the driver thread.
#[derive(Debug)]
pub enum TcpInput {
    /// A connection accepted on the passive candidate `local`.
    Accepted(SocketAddr, TcpStream),
    /// The outgoing connection `id` is up.
    Connected(StreamId, TcpStream),
    /// Bytes read from connection `id`.
    Bytes(StreamId, Vec<u8>),
    /// Connection `id` closed, or failed to open.
    Closed(StreamId),
}

/// Hands a [`TcpInput`] to the driver thread (e.g. through [`Handle::post`](crate::Handle::post)).
pub type TcpNotify = Arc<dyn Fn(TcpInput) + Send + Sync>;

/// The ICE-TCP connections of one driver, behind an [`IceTcpLink`].
pub struct IceTcp {
    link: IceTcpLink,
    conns: HashMap<StreamId, TcpStream>,
    notify: Option<TcpNotify>,
    buf: Vec<u8>,
    closed: Vec<(SocketAddr, SocketAddr)>,
}

impl std::fmt::Debug for IceTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceTcp")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl Default for IceTcp {
    fn default() -> Self {
        Self::new()
    }
}

impl IceTcp {
    /// No TCP candidate yet: every datagram stays on UDP.
    pub fn new() -> Self {
        Self {
            link: IceTcpLink::new(),
            conns: HashMap::new(),
            notify: None,
            buf: vec![0; 64 * 1024],
            closed: Vec::new(),
        }
    }

    /// The core link (counters).
    pub fn link(&self) -> &IceTcpLink {
        &self.link
    }

    /// Where listener and connection threads report. Until it is set, nothing is opened.
    pub fn set_notify(&mut self, notify: TcpNotify) {
        self.notify = Some(notify);
        self.flush();
    }

    /// Datagrams from the active candidate `addr` (`ip:9`) open connections.
    pub fn add_active(&mut self, addr: SocketAddr) {
        self.link.add_local(addr, TcpType::Active);
    }

    /// Accepts connections on `listener` (a passive candidate at its local address) on a
    /// thread of its own. Needs [`set_notify`](Self::set_notify) first.
    pub fn listen(&mut self, listener: TcpListener) -> std::io::Result<SocketAddr> {
        let local = listener.local_addr()?;
        let notify = self
            .notify
            .clone()
            .ok_or_else(|| std::io::Error::other("no driver to report to"))?;
        self.link.add_local(local, TcpType::Passive);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                notify(TcpInput::Accepted(local, stream));
            }
        });
        Ok(local)
    }

    /// The connections that closed since the last call, as (local candidate, remote).
    pub fn take_closed(&mut self) -> Vec<(SocketAddr, SocketAddr)> {
        std::mem::take(&mut self.closed)
    }

    /// Keeps the writing half and reads the connection on a thread of its own.
    fn start(&mut self, id: StreamId, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let (Some(notify), Ok(mut reader)) = (self.notify.clone(), stream.try_clone()) else {
            let _ = stream.shutdown(Shutdown::Both);
            if let Some(addrs) = self.link.handle_closed(id) {
                self.closed.push(addrs);
            }
            return;
        };
        self.conns.insert(id, stream);
        thread::spawn(move || {
            let mut buf = vec![0u8; READ_SIZE];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        notify(TcpInput::Closed(id));
                        return;
                    }
                    Ok(n) => notify(TcpInput::Bytes(id, buf[..n].to_vec())),
                }
            }
        });
    }
}

impl StreamSide for IceTcp {
    type Input = TcpInput;

    /// Takes `transmit` if it leaves from a TCP candidate (returns `true`); else the driver
    /// sends it over UDP. Call [`flush`](Self::flush) after a round of transmits.
    fn divert(&mut self, transmit: &Transmit, bytes: &[u8]) -> bool {
        self.link.send(transmit.source, transmit.destination, bytes)
    }

    /// Opens, writes to and closes connections as the link asks.
    fn flush(&mut self) {
        let Some(notify) = self.notify.clone() else {
            return;
        };
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(command) = self.link.poll_command(&mut buf) {
            match command {
                StreamCommand::Connect { id, remote, .. } => {
                    let notify = notify.clone();
                    thread::spawn(move || {
                        match TcpStream::connect_timeout(&remote, CONNECT_TIMEOUT) {
                            Ok(s) => notify(TcpInput::Connected(id, s)),
                            Err(_) => notify(TcpInput::Closed(id)),
                        }
                    });
                }
                StreamCommand::Write { id, len } => {
                    let failed = self
                        .conns
                        .get(&id)
                        .is_none_or(|mut c| c.write_all(&buf[..len]).is_err());
                    if failed && let Some(addrs) = self.link.close(id) {
                        self.closed.push(addrs);
                    }
                }
                StreamCommand::Close { id } => {
                    if let Some(c) = self.conns.remove(&id) {
                        let _ = c.shutdown(Shutdown::Both);
                    }
                }
            }
        }
        self.buf = buf;
    }

    /// What a listener or connection thread reported: datagrams for the protocol go to
    /// `deliver`.
    fn handle(&mut self, input: TcpInput, deliver: impl FnMut(Datagram<'_>)) {
        match input {
            TcpInput::Accepted(local, stream) => {
                let id = stream
                    .peer_addr()
                    .ok()
                    .and_then(|remote| self.link.accept(local, remote));
                match id {
                    Some(id) => self.start(id, stream),
                    None => {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
            }
            TcpInput::Connected(id, stream) => {
                if self.link.addresses(id).is_some() {
                    self.link.handle_connected(id);
                    self.start(id, stream);
                } else {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
            TcpInput::Bytes(id, bytes) => self.link.handle_bytes(id, &bytes, deliver),
            TcpInput::Closed(id) => {
                if let Some(c) = self.conns.remove(&id) {
                    let _ = c.shutdown(Shutdown::Both);
                }
                if let Some(addrs) = self.link.handle_closed(id) {
                    self.closed.push(addrs);
                }
            }
        }
        self.flush();
    }

    fn closed_pairs(&mut self) -> Vec<(SocketAddr, SocketAddr)> {
        self.take_closed()
    }
}

impl Drop for IceTcp {
    fn drop(&mut self) {
        for (_, c) in self.conns.drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Gathers the ICE-TCP candidates `which` asks for ([`kaon::peer::PeerConfig::ice_tcp`]) on
/// each of `ips` (the UDP sockets' addresses): a listener on a port of the system's choosing
/// for a passive candidate, `ip:9` for an active one.
pub(crate) fn gather(
    pc: &crate::PeerConnection,
    which: kaon::peer::IceTcpCandidates,
    ips: &[std::net::IpAddr],
) -> std::io::Result<()> {
    for &ip in ips {
        if which.passive() {
            let listener = TcpListener::bind(SocketAddr::new(ip, 0))?;
            pc.add_tcp_listener(listener)
                .map_err(std::io::Error::other)?;
        }
        if which.active() {
            pc.add_tcp_active(ip).map_err(std::io::Error::other)?;
        }
    }
    Ok(())
}
