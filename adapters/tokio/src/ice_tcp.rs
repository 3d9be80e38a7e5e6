//! ICE over TCP (RFC 6544) for the tokio driver: the sockets behind the core's
//! [`IceTcpLink`].
//!
//! The core frames ICE-TCP (RFC 4571) and owns no socket; this module owns them. [`IceTcp`]
//! accepts connections on a listening socket (a passive candidate) in a task, opens
//! connections when the agent checks a pair from an active candidate, hands each connection's
//! writes to a writer task through a bounded queue (a peer that stops reading has its
//! connection closed, never an unbounded backlog), and hands what each connection reads back
//! to the driver task through a callback, where [`handle`](IceTcp::handle) cuts it into
//! datagrams for the protocol. Call everything from inside the runtime (the driver task does).
//!
//! [`PeerConnection::add_tcp_listener`](crate::PeerConnection::add_tcp_listener) and
//! [`PeerConnection::add_tcp_active`](crate::PeerConnection::add_tcp_active) do all of this for
//! a peer connection; [`PeerConfig::ice_tcp`](kaon::peer::PeerConfig::ice_tcp) has
//! [`PeerConnection::new`](crate::PeerConnection::new) do it on each UDP socket's address.

use kaon::ice::{IceTcpLink, TcpType};
use kaon::turn::{StreamCommand, StreamId};
use kaon::{Datagram, Transmit};
use kaon_adapter_common::StreamSide;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long an outgoing connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read size of a connection's reader.
const READ_SIZE: usize = 16 * 1024;
/// Writes (of up to 64 KiB each) queued for one connection's writer task; past this the peer
/// is not reading and the connection is closed.
const WRITE_QUEUE: usize = 32;

/// What the listener and connection tasks report to the driver task.
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

/// Hands a [`TcpInput`] to the driver task (e.g. through [`Handle::post`](crate::Handle::post)).
pub type TcpNotify = Arc<dyn Fn(TcpInput) + Send + Sync>;

/// The ICE-TCP connections of one driver, behind an [`IceTcpLink`].
pub struct IceTcp {
    link: IceTcpLink,
    writers: HashMap<StreamId, mpsc::Sender<Vec<u8>>>,
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
            writers: HashMap::new(),
            notify: None,
            buf: vec![0; 64 * 1024],
            closed: Vec::new(),
        }
    }

    /// The core link (counters).
    pub fn link(&self) -> &IceTcpLink {
        &self.link
    }

    /// Where listener and connection tasks report. Until it is set, nothing is opened.
    pub fn set_notify(&mut self, notify: TcpNotify) {
        self.notify = Some(notify);
        self.flush();
    }

    /// Datagrams from the active candidate `addr` (`ip:9`) open connections.
    pub fn add_active(&mut self, addr: SocketAddr) {
        self.link.add_local(addr, TcpType::Active);
    }

    /// Accepts connections on `listener` (a passive candidate at its local address) in a task.
    /// Needs [`set_notify`](Self::set_notify) first.
    pub fn listen(&mut self, listener: TcpListener) -> std::io::Result<SocketAddr> {
        let local = listener.local_addr()?;
        let notify = self
            .notify
            .clone()
            .ok_or_else(|| std::io::Error::other("no driver to report to"))?;
        self.link.add_local(local, TcpType::Passive);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                notify(TcpInput::Accepted(local, stream));
            }
        });
        Ok(local)
    }

    /// The connections that closed since the last call, as (local candidate, remote).
    pub fn take_closed(&mut self) -> Vec<(SocketAddr, SocketAddr)> {
        std::mem::take(&mut self.closed)
    }

    /// A reader task and a writer task for the connection.
    fn start(&mut self, id: StreamId, stream: TcpStream) {
        let Some(notify) = self.notify.clone() else {
            if let Some(addrs) = self.link.handle_closed(id) {
                self.closed.push(addrs);
            }
            return;
        };
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
        self.writers.insert(id, tx);
        let on_write_error = notify.clone();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    on_write_error(TcpInput::Closed(id));
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; READ_SIZE];
            loop {
                match reader.read(&mut buf).await {
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
                    tokio::spawn(async move {
                        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(remote))
                            .await
                        {
                            Ok(Ok(s)) => notify(TcpInput::Connected(id, s)),
                            _ => notify(TcpInput::Closed(id)),
                        }
                    });
                }
                StreamCommand::Write { id, len } => {
                    let sent = self
                        .writers
                        .get(&id)
                        .is_some_and(|w| w.try_send(buf[..len].to_vec()).is_ok());
                    if !sent {
                        self.writers.remove(&id);
                        if let Some(addrs) = self.link.close(id) {
                            self.closed.push(addrs);
                        }
                    }
                }
                // Dropping the sender ends the writer task, which shuts the socket down.
                StreamCommand::Close { id } => {
                    self.writers.remove(&id);
                }
            }
        }
        self.buf = buf;
    }

    /// What a listener or connection task reported: datagrams for the protocol go to
    /// `deliver`.
    fn handle(&mut self, input: TcpInput, deliver: impl FnMut(Datagram<'_>)) {
        match input {
            TcpInput::Accepted(local, stream) => {
                let id = stream
                    .peer_addr()
                    .ok()
                    .and_then(|remote| self.link.accept(local, remote));
                if let Some(id) = id {
                    self.start(id, stream);
                }
            }
            TcpInput::Connected(id, stream) => {
                if self.link.addresses(id).is_some() {
                    self.link.handle_connected(id);
                    self.start(id, stream);
                }
            }
            TcpInput::Bytes(id, bytes) => self.link.handle_bytes(id, &bytes, deliver),
            TcpInput::Closed(id) => {
                self.writers.remove(&id);
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

/// The ICE-TCP candidates `which` asks for ([`kaon::peer::PeerConfig::ice_tcp`]) on each of
/// `ips` (the UDP sockets' addresses), bound now so that a failure is the constructor's; the
/// driver task adds them with [`Gathered::add`].
pub(crate) struct Gathered {
    listeners: Vec<TcpListener>,
    active: Vec<std::net::IpAddr>,
}

impl Gathered {
    /// Binds a listener on a port of the system's choosing per IP for a passive candidate
    /// (inside the runtime), and notes the IPs for active ones (`ip:9`).
    pub(crate) fn bind(
        which: kaon::peer::IceTcpCandidates,
        ips: &[std::net::IpAddr],
    ) -> std::io::Result<Self> {
        let mut listeners = Vec::new();
        for &ip in ips.iter().filter(|_| which.passive()) {
            let l = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
            l.set_nonblocking(true)?;
            listeners.push(TcpListener::from_std(l)?);
        }
        let active = if which.active() {
            ips.to_vec()
        } else {
            Vec::new()
        };
        Ok(Self { listeners, active })
    }

    /// Adds the candidates to `pc` and their sockets to `links` (on the driver task, after
    /// [`IceTcp::set_notify`]). A candidate the agent refuses (too many) is left out.
    pub(crate) fn add(self, pc: &mut kaon::peer::PeerConnection, links: &mut IceTcp) {
        for listener in self.listeners {
            if let Ok(addr) = listener.local_addr()
                && pc.add_tcp_passive(addr).is_ok()
            {
                let _ = links.listen(listener);
            }
        }
        for ip in self.active {
            if let Ok(addr) = pc.add_tcp_active(ip) {
                links.add_active(addr);
            }
        }
    }
}
