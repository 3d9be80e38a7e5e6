//! TURN over TCP and TLS (RFC 8656 §3.1) for the tokio driver: the connections behind the
//! core's [`StreamLink`].
//!
//! The core speaks TURN's framing over a byte-stream seam and owns no socket; this module owns
//! the sockets. [`TurnStreams`] takes the datagrams a protocol sends to a TURN server
//! configured as `?transport=tcp` or `turns:` ([`divert`](TurnStreams::divert)), opens the
//! connection in a task (TCP, then TLS with rustls for `turns:`, checked against the system's
//! roots or roots the application gives), writes the framed bytes, and hands what the
//! connection reads back to the driver task through a callback, where
//! [`handle`](TurnStreams::handle) cuts it into datagrams for the protocol. Call `divert` and
//! `flush` from inside the runtime (the driver task does).
//!
//! [`PeerConnection`](crate::PeerConnection) does all of this for the `turn:` and `turns:`
//! URLs of its `ice_servers`; see
//! [`PeerConnection::with_turn_tls`](crate::PeerConnection::with_turn_tls) for roots of your
//! own.

use kaon::peer::IceServer;
use kaon::turn::{StreamCommand, StreamId, StreamLink, TurnTransport};
use kaon::{Datagram, Transmit};
use kaon_adapter_common::StreamSide;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long a TCP connect and TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read size of a connection's reader.
const READ_SIZE: usize = 16 * 1024;

use kaon_adapter_common::turn_tls::StreamServers;
pub use kaon_adapter_common::turn_tls::{Notify, StreamInput, TurnTls};

/// The TCP and TLS connections of one driver, behind a [`StreamLink`].
pub struct TurnStreams {
    link: StreamLink,
    servers: StreamServers,
    /// Each connection's writer task.
    writers: HashMap<StreamId, mpsc::UnboundedSender<Vec<u8>>>,
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
            writers: HashMap::new(),
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

    /// Where connection tasks report. Until it is set, connections wait unopened.
    pub fn set_notify(&mut self, notify: Notify) {
        self.notify = Some(notify);
        self.flush();
    }

    /// The core link (counters).
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
        let (tx, rx) = mpsc::unbounded_channel();
        self.writers.insert(id, tx);
        tokio::spawn(async move {
            if let Err(e) = run_connection(id, remote, tls, rx, &notify).await {
                notify(StreamInput::Closed(id, e.to_string()));
            }
        });
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
                    let sent = self
                        .writers
                        .get(&id)
                        .is_some_and(|w| w.send(buf[..len].to_vec()).is_ok());
                    if !sent && let Some((local, remote)) = self.link.close(id) {
                        self.writers.remove(&id);
                        self.closed
                            .push((local, remote, "the connection is gone".into()));
                    }
                }
                // Dropping the writer's sender ends its task, which shuts the stream down.
                StreamCommand::Close { id } => {
                    self.writers.remove(&id);
                }
            }
        }
        self.buf = buf;
    }

    /// What a connection's task reported: datagrams for the protocol go to `deliver`.
    fn handle(&mut self, input: StreamInput, deliver: impl FnMut(Datagram<'_>)) {
        match input {
            StreamInput::Connected(id) => self.link.handle_connected(id),
            StreamInput::Bytes(id, bytes) => self.link.handle_bytes(id, &bytes, deliver),
            StreamInput::Closed(id, reason) => {
                self.writers.remove(&id);
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

/// A connection's task: connect, handshake TLS if asked, then copy both ways until it closes.
async fn run_connection(
    id: StreamId,
    remote: SocketAddr,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    writes: mpsc::UnboundedReceiver<Vec<u8>>,
    notify: &Notify,
) -> io::Result<()> {
    let timeout = |e| io::Error::new(io::ErrorKind::TimedOut, e);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(remote))
        .await
        .map_err(timeout)??;
    tcp.set_nodelay(true)?;
    match tls {
        None => pump(id, tcp, writes, notify).await,
        Some((config, name)) => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(timeout)??;
            pump(id, stream, writes, notify).await
        }
    }
}

/// Reports the connection up, then reads and writes until either side ends.
async fn pump<S: AsyncRead + AsyncWrite>(
    id: StreamId,
    stream: S,
    mut writes: mpsc::UnboundedReceiver<Vec<u8>>,
    notify: &Notify,
) -> io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    notify(StreamInput::Connected(id));
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                notify(StreamInput::Bytes(id, buf[..n].to_vec()));
            }
            bytes = writes.recv() => match bytes {
                Some(bytes) => writer.write_all(&bytes).await?,
                None => {
                    // Closed by the link: end quietly.
                    let _ = writer.shutdown().await;
                    return Ok(());
                }
            },
        }
    }
}
