//! TURN over TCP and TLS (RFC 8656 §3.1) for a driver: the connections behind the core's
//! [`StreamLink`].
//!
//! The core speaks TURN's framing over a byte-stream seam and owns no socket; this module owns
//! the sockets. [`TurnStreams`] takes the datagrams a protocol sends to a TURN server
//! configured as `?transport=tcp` or `turns:` ([`divert`](TurnStreams::divert)), opens the
//! connection on a thread (TCP, then TLS with rustls for `turns:`, checked against the
//! system's roots or roots the application gives), writes the framed bytes, and hands what
//! the connection reads back to the driver thread through a callback, where
//! [`handle`](TurnStreams::handle) cuts it into datagrams for the protocol.
//!
//! [`PeerConnection`](crate::PeerConnection) does all of this for the `turn:` and `turns:`
//! URLs of its `ice_servers`; see [`PeerConnection::with_turn_tls`](crate::PeerConnection::with_turn_tls)
//! for roots of your own.

use kaon::peer::IceServer;
use kaon::turn::{StreamCommand, StreamId, StreamLink, StreamServer, TurnTransport};
use kaon::{Datagram, Transmit};
use kaon_adapter_common::StreamSide;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read size of a connection's reader thread.
const READ_SIZE: usize = 16 * 1024;

use kaon_adapter_common::turn_tls::StreamServers;
pub use kaon_adapter_common::turn_tls::{Notify, StreamInput, TurnTls};

/// One open connection: the socket to write on, and TLS state shared with its reader.
struct Conn {
    socket: TcpStream,
    tls: Option<Arc<Mutex<rustls::ClientConnection>>>,
}

/// The TCP and TLS connections of one driver, behind a [`StreamLink`].
pub struct TurnStreams {
    link: StreamLink,
    servers: StreamServers,
    conns: Arc<Mutex<HashMap<StreamId, Conn>>>,
    notify: Option<Notify>,
    buf: Vec<u8>,
    closed: Vec<(SocketAddr, SocketAddr, String)>,
}

impl std::fmt::Debug for TurnStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnStreams")
            .field("link", &self.link)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

impl TurnStreams {
    /// No stream servers yet.
    pub fn new(tls: TurnTls) -> Self {
        Self {
            link: StreamLink::new(),
            servers: StreamServers::new(tls),
            conns: Arc::new(Mutex::new(HashMap::new())),
            notify: None,
            buf: vec![0; 64 * 1024],
            closed: Vec::new(),
        }
    }

    /// The stream servers among W3C `iceServers` (`turn:...?transport=tcp`, `turns:`), the
    /// ones the core's `PeerConnection` makes TCP and TLS relays for.
    pub fn from_ice_servers(servers: &[IceServer], tls: TurnTls) -> Self {
        let mut s = Self::new(tls);
        for (addr, transport) in StreamServers::among(servers) {
            s.add_server(addr, transport);
        }
        s
    }

    /// Datagrams to `server` go over TCP or TLS (the server name for TLS is its IP address).
    pub fn add_server(&mut self, server: SocketAddr, transport: TurnTransport) {
        self.link.add_server(server, transport);
        self.servers.add(server);
    }

    /// Checks a `turns:` server's certificate against `name` instead of its IP address.
    pub fn set_server_name(&mut self, server: SocketAddr, name: &str) -> io::Result<()> {
        self.servers.set_name(server, name)
    }

    /// Whether any server goes over a stream (nothing to do otherwise).
    pub fn is_active(&self) -> bool {
        !self.servers.is_empty()
    }

    /// Where connection threads report. Until it is set, connections wait unopened.
    pub fn set_notify(&mut self, notify: Notify) {
        self.notify = Some(notify);
        self.flush();
    }

    /// The core link's counters.
    pub fn link(&self) -> &StreamLink {
        &self.link
    }

    /// The connections that closed since the last call, as (local, server, reason): tell the
    /// protocol (`PeerConnection::turn_stream_closed`, `Agent::relay_stream_closed`,
    /// `Client::stream_closed`), whose allocation is gone with the connection.
    pub fn take_closed(&mut self) -> Vec<(SocketAddr, SocketAddr, String)> {
        std::mem::take(&mut self.closed)
    }

    fn connect(&mut self, id: StreamId, remote: SocketAddr, tls: bool) {
        let Some(notify) = self.notify.clone() else {
            return;
        };
        let tls = match tls.then(|| self.servers.tls_for(remote)).transpose() {
            Ok(tls) => tls,
            Err(e) => {
                notify(StreamInput::Closed(id, e.to_string()));
                return;
            }
        };
        let conns = self.conns.clone();
        thread::spawn(move || {
            if let Err(e) = run_connection(id, remote, tls, &conns, &notify) {
                lock(&conns).remove(&id);
                notify(StreamInput::Closed(id, e.to_string()));
            }
        });
    }

    fn write(&mut self, id: StreamId, bytes: &[u8]) -> io::Result<()> {
        let conns = lock(&self.conns);
        let conn = conns
            .get(&id)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let mut socket = &conn.socket;
        match &conn.tls {
            None => socket.write_all(bytes),
            Some(tls) => {
                let mut tls = lock(tls);
                tls.writer().write_all(bytes)?;
                while tls.wants_write() {
                    tls.write_tls(&mut socket)?;
                }
                Ok(())
            }
        }
    }
}

impl StreamSide for TurnStreams {
    type Input = StreamInput;

    /// Takes `transmit` if it goes to a stream server (returns `true`); else the driver sends
    /// it over UDP. Call [`flush`](Self::flush) after a round of transmits.
    fn divert(&mut self, transmit: &Transmit, bytes: &[u8]) -> bool {
        self.link.send(transmit.source, transmit.destination, bytes)
    }

    /// Opens, writes to and closes connections as the link asks.
    fn flush(&mut self) {
        if self.notify.is_none() {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(command) = self.link.poll_command(&mut buf) {
            match command {
                StreamCommand::Connect {
                    id, remote, tls, ..
                } => self.connect(id, remote, tls),
                StreamCommand::Write { id, len } => {
                    if let Err(e) = self.write(id, &buf[..len])
                        && let Some((local, remote)) = self.link.close(id)
                    {
                        self.closed.push((local, remote, e.to_string()));
                    }
                }
                StreamCommand::Close { id } => {
                    if let Some(conn) = lock(&self.conns).remove(&id) {
                        let _ = conn.socket.shutdown(Shutdown::Both);
                    }
                }
            }
        }
        self.buf = buf;
    }

    /// What a connection's thread reported: datagrams for the protocol go to `deliver`.
    fn handle(&mut self, input: StreamInput, deliver: impl FnMut(Datagram<'_>)) {
        match input {
            StreamInput::Connected(id) => self.link.handle_connected(id),
            StreamInput::Bytes(id, bytes) => self.link.handle_bytes(id, &bytes, deliver),
            StreamInput::Closed(id, reason) => {
                lock(&self.conns).remove(&id);
                if let Some((local, remote)) = self.link.handle_closed(id) {
                    self.closed.push((local, remote, reason));
                }
            }
        }
        self.flush();
    }

    fn closed_pairs(&mut self) -> Vec<(SocketAddr, SocketAddr)> {
        self.take_closed()
            .into_iter()
            .map(|(local, server, _)| (local, server))
            .collect()
    }
}

impl Drop for TurnStreams {
    fn drop(&mut self) {
        for (_, conn) in lock(&self.conns).drain() {
            let _ = conn.socket.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection's thread: connect, handshake TLS if asked, then read until it closes.
fn run_connection(
    id: StreamId,
    remote: SocketAddr,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    conns: &Mutex<HashMap<StreamId, Conn>>,
    notify: &Notify,
) -> io::Result<()> {
    let socket = TcpStream::connect_timeout(&remote, CONNECT_TIMEOUT)?;
    socket.set_nodelay(true)?;
    let mut reader = socket.try_clone()?;
    let mut buf = vec![0u8; READ_SIZE];
    let Some((config, name)) = tls else {
        lock(conns).insert(id, Conn { socket, tls: None });
        notify(StreamInput::Connected(id));
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            notify(StreamInput::Bytes(id, buf[..n].to_vec()));
        }
    };
    let tls = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    let tls = Arc::new(Mutex::new(tls));
    let mut writer = socket.try_clone()?;
    lock(conns).insert(
        id,
        Conn {
            socket,
            tls: Some(tls.clone()),
        },
    );
    let mut connected = false;
    loop {
        // The ClientHello first, and whatever the handshake owes the server after each read.
        {
            let mut c = lock(&tls);
            while c.wants_write() {
                c.write_tls(&mut writer)?;
            }
        }
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut plain = Vec::new();
        {
            let mut c = lock(&tls);
            let mut input = &buf[..n];
            while !input.is_empty() {
                c.read_tls(&mut input)?;
                c.process_new_packets().map_err(io::Error::other)?;
            }
            match c.reader().read_to_end(&mut plain) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !connected && !c.is_handshaking() {
                connected = true;
                notify(StreamInput::Connected(id));
            }
        }
        if !plain.is_empty() {
            notify(StreamInput::Bytes(id, plain));
        }
    }
}

/// A protocol (kaon's [`turn::Server`](kaon::turn::Server)) that also serves TURN clients over
/// TCP (RFC 8656 §3.1): accepted connections go through the core's [`StreamLink`], so their
/// messages reach the server as datagrams from the client's address to the listening
/// address, and the server's answers to that client go back down the connection. Relayed
/// traffic to peers stays on the UDP relay sockets. When a connection ends, the server hears
/// of it ([`StreamServer::stream_closed`]) and deletes the allocation made over it.
///
/// ```no_run
/// use kaon::turn::{Server, ServerConfig};
/// use kaon_std::Driver;
/// use kaon_std::turn_stream::TcpServer;
/// use std::net::{TcpListener, UdpSocket};
/// # fn main() -> std::io::Result<()> {
/// let listen = UdpSocket::bind("127.0.0.1:3478")?;
/// let relay = UdpSocket::bind("127.0.0.1:49152")?;
/// let mut cfg = ServerConfig::new("example.org", vec![listen.local_addr()?], vec![relay.local_addr()?]);
/// cfg.users.push(("alice".into(), "secret".into()));
/// let server = Server::new(cfg, std::time::Instant::now(), 1_700_000_000);
/// let driver = Driver::spawn(TcpServer::new(server), vec![listen, relay])?;
/// TcpServer::listen(&driver, TcpListener::bind("127.0.0.1:3478")?)?;
/// # Ok(()) }
/// ```
pub struct TcpServer<P> {
    inner: P,
    link: StreamLink,
    /// Each accepted connection with its (local, remote) addresses.
    conns: HashMap<StreamId, (TcpStream, SocketAddr, SocketAddr)>,
    buf: Vec<u8>,
}

impl<P> std::fmt::Debug for TcpServer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl<P> TcpServer<P>
where
    P: kaon::Protocol + StreamServer + Send + 'static,
    P::Event: Send + 'static,
{
    /// Wraps `inner`; no connection is accepted until [`listen`](Self::listen).
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            link: StreamLink::new(),
            conns: HashMap::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    /// The wrapped protocol.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The core link (counters).
    pub fn link(&self) -> &StreamLink {
        &self.link
    }

    /// Accepts TCP clients on `listener` (bound to one of the server's listening addresses)
    /// on a thread, each connection read on a thread of its own.
    pub fn listen(driver: &crate::Driver<Self>, listener: std::net::TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        let handle = driver.handle();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(remote) = stream.peer_addr() else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let h = handle.clone();
                handle.post(move |s: &mut Self, _| {
                    let (Some(id), Ok(mut reader)) =
                        (s.link.accept(local, remote), stream.try_clone())
                    else {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    };
                    s.conns.insert(id, (stream, local, remote));
                    thread::spawn(move || {
                        let mut buf = vec![0u8; READ_SIZE];
                        loop {
                            let n = reader.read(&mut buf).unwrap_or(0);
                            let bytes = buf[..n].to_vec();
                            h.post(move |s: &mut Self, now| s.input(now, id, &bytes));
                            if n == 0 {
                                return;
                            }
                        }
                    });
                });
            }
        });
        Ok(())
    }

    /// Bytes from connection `id`; empty when it closed.
    fn input(&mut self, now: std::time::Instant, id: StreamId, bytes: &[u8]) {
        if bytes.is_empty() {
            self.link.handle_closed(id);
            if let Some((_, local, remote)) = self.conns.remove(&id) {
                self.inner.stream_closed(now, local, remote);
            }
            return;
        }
        let inner = &mut self.inner;
        self.link
            .handle_bytes(id, bytes, |d| inner.handle_stream_datagram(now, d));
    }

    fn flush(&mut self, now: std::time::Instant) {
        while let Some(command) = self.link.poll_command(&mut self.buf) {
            match command {
                StreamCommand::Write { id, len } => {
                    let failed = self
                        .conns
                        .get(&id)
                        .is_none_or(|(c, _, _)| (&*c).write_all(&self.buf[..len]).is_err());
                    if failed {
                        self.link.close(id);
                    }
                }
                StreamCommand::Close { id } => {
                    if let Some((c, local, remote)) = self.conns.remove(&id) {
                        let _ = c.shutdown(Shutdown::Both);
                        self.inner.stream_closed(now, local, remote);
                    }
                }
                // An accepting link opens nothing.
                StreamCommand::Connect { id, .. } => {
                    self.link.handle_closed(id);
                }
            }
        }
    }
}

impl<P: kaon::Protocol> kaon::Protocol for TcpServer<P>
where
    P: StreamServer + Send + 'static,
    P::Event: Send + 'static,
{
    type Event = P::Event;

    fn handle_datagram(&mut self, now: std::time::Instant, datagram: Datagram<'_>) {
        self.inner.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: std::time::Instant, buf: &mut [u8]) -> Option<Transmit> {
        // UDP (to peers, and to clients on the UDP listener) goes out as it comes.
        if let Some(t) = self.inner.poll_transmit(now, buf) {
            return Some(t);
        }
        // Answers to clients on connections go down them; none goes to a UDP client at the
        // same address (RFC 8656 §2.2: another 5-tuple). One whose connection is gone is
        // dropped.
        while let Some(t) = self.inner.poll_stream_transmit(now, buf) {
            self.link.send(t.source, t.destination, &buf[..t.len]);
        }
        self.flush(now);
        None
    }

    fn poll_event(&mut self) -> Option<P::Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.inner.poll_timeout()
    }
}
