//! kaon's TURN server over TCP and TLS on tokio (RFC 8656 §3.1: `turn:...?transport=tcp` and
//! `turns:`).
//!
//! [`TcpServer`] wraps the server (any protocol that is a [`StreamServer`]) in the [`Driver`]:
//! connections accepted by [`TcpServer::listen`] (plain TCP) or [`TcpServer::listen_tls`] (TLS
//! with rustls, from a certificate and key the application gives, see [`tls_config_from_pem`])
//! go through the core's [`StreamLink`], so each message reaches the server as a datagram
//! from the client's address to the listener's, and the answers go back down the connection.
//! Relayed traffic to peers stays on the UDP relay sockets. When a connection ends, the server
//! hears of it ([`StreamServer::stream_closed`]) and deletes the allocation made over it.
//!
//! The listener's address must be one of the server's listening addresses
//! ([`ServerConfig::listen`](kaon::turn::ServerConfig::listen)): a TLS listener on its own port
//! (5349, RFC 8656 §3.1) is added there beside the UDP one.
//!
//! ```no_run
//! use kaon::turn::{Server, ServerConfig};
//! use kaon_tokio::Driver;
//! use kaon_tokio::turn_server::{TcpServer, tls_config_from_pem};
//! use tokio::net::{TcpListener, UdpSocket};
//! # async fn example(cert: &[u8], key: &[u8]) -> std::io::Result<()> {
//! let udp = UdpSocket::bind("127.0.0.1:3478").await?;
//! let relay = UdpSocket::bind("127.0.0.1:49152").await?;
//! let tls = TcpListener::bind("127.0.0.1:5349").await?;
//! let listen = vec![udp.local_addr()?, tls.local_addr()?];
//! let mut cfg = ServerConfig::new("example.org", listen, vec![relay.local_addr()?]);
//! cfg.users.push(("alice".into(), "secret".into()));
//! let server = Server::new(cfg, std::time::Instant::now(), 1_700_000_000);
//! let driver = Driver::spawn(TcpServer::new(server), vec![udp, relay])?;
//! TcpServer::listen(&driver, TcpListener::bind("127.0.0.1:3478").await?)?;
//! TcpServer::listen_tls(&driver, tls, tls_config_from_pem(cert, key)?)?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaon::turn::{StreamCommand, StreamId, StreamLink, StreamLinkConfig, StreamServer};
use kaon::{Datagram, Protocol, Transmit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Driver, Handle};

/// Bytes read from a connection at a time.
const READ_SIZE: usize = 16 * 1024;
/// Writes waiting for a connection's task; a client that stops reading past this is closed
/// (dropping bytes would break the stream's framing).
const QUEUED_WRITES: usize = 256;
/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A rustls server configuration from PEM text: the certificate chain (`CERTIFICATE` blocks,
/// the server's first) and its private key (PKCS#8, SEC1 or PKCS#1).
pub fn tls_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> io::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no CERTIFICATE block in the certificate PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

struct Conn {
    writes: mpsc::Sender<Vec<u8>>,
    local: SocketAddr,
    remote: SocketAddr,
}

/// A protocol (kaon's [`turn::Server`](kaon::turn::Server)) that also serves clients over TCP
/// and TLS: see the [module docs](self).
pub struct TcpServer<P> {
    inner: P,
    link: StreamLink,
    conns: HashMap<StreamId, Conn>,
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
    P: Protocol + StreamServer + Send + 'static,
    P::Event: Send + 'static,
{
    /// Wraps `inner`, with the link's default limits (64 connections at once).
    pub fn new(inner: P) -> Self {
        Self::with_link_config(inner, StreamLinkConfig::default())
    }

    /// Wraps `inner`; `config` bounds the connections and the bytes queued for each.
    pub fn with_link_config(inner: P, config: StreamLinkConfig) -> Self {
        Self {
            inner,
            link: StreamLink::with_config(config),
            conns: HashMap::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    /// The wrapped protocol.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped protocol, to change.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// The core link (counters).
    pub fn link(&self) -> &StreamLink {
        &self.link
    }

    /// Accepts plain TCP clients on `listener` (bound to one of the server's listening
    /// addresses) on a task, each connection on a task of its own. Abort the returned task to
    /// stop accepting.
    pub fn listen(driver: &Driver<Self>, listener: TcpListener) -> io::Result<JoinHandle<()>> {
        serve(driver.handle(), listener, None)
    }

    /// Accepts TLS clients (`turns:`) on `listener`, as [`listen`](Self::listen) does, with the
    /// certificate and key in `tls` (see [`tls_config_from_pem`]).
    pub fn listen_tls(
        driver: &Driver<Self>,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
    ) -> io::Result<JoinHandle<()>> {
        serve(
            driver.handle(),
            listener,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
        )
    }

    /// Bytes from connection `id`; empty when it closed.
    fn input(&mut self, now: Instant, id: StreamId, bytes: &[u8]) {
        if bytes.is_empty() {
            self.link.handle_closed(id);
            self.closed(now, id);
            return;
        }
        let inner = &mut self.inner;
        self.link
            .handle_bytes(id, bytes, |d| inner.handle_stream_datagram(now, d));
    }

    /// Forgets connection `id` (its task ends when its sender drops) and tells the server.
    fn closed(&mut self, now: Instant, id: StreamId) {
        if let Some(c) = self.conns.remove(&id) {
            self.inner.stream_closed(now, c.local, c.remote);
        }
    }

    fn flush(&mut self, now: Instant) {
        while let Some(command) = self.link.poll_command(&mut self.buf) {
            match command {
                StreamCommand::Write { id, len } => {
                    let queued = self
                        .conns
                        .get(&id)
                        .is_some_and(|c| c.writes.try_send(self.buf[..len].to_vec()).is_ok());
                    if !queued {
                        self.link.close(id);
                    }
                }
                StreamCommand::Close { id } => self.closed(now, id),
                // An accepting link opens nothing.
                StreamCommand::Connect { id, .. } => {
                    self.link.handle_closed(id);
                }
            }
        }
    }
}

fn serve<P>(
    handle: Handle<TcpServer<P>>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<JoinHandle<()>>
where
    P: Protocol + StreamServer + Send + 'static,
    P::Event: Send + 'static,
{
    let local = listener.local_addr()?;
    Ok(tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(c) => c,
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (handle, tls) = (handle.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => connection(handle, tcp, local, remote, false).await,
                    Some(acceptor) => {
                        let accepted =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                        if let Ok(Ok(stream)) = accepted {
                            connection(handle, stream, local, remote, true).await;
                        }
                    }
                }
            });
        }
    }))
}

/// The length of the whole STUN or ChannelData message (with its stream padding) at the start
/// of `bytes`, if it is all there.
fn whole_message(bytes: &[u8]) -> Option<usize> {
    let header = bytes.first_chunk::<4>()?;
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let total = match header[0] >> 6 {
        0b00 => 20 + len,
        _ => (4 + len).next_multiple_of(4),
    };
    (total <= bytes.len()).then_some(total)
}

/// A connection's task: registers it with the link, then copies both ways until either side
/// ends it. With `one_record_per_message`, each message goes out in a TLS record of its own:
/// coturn's `turnutils_uclient` reads one message per record and loses the rest (TLS is a
/// byte stream and RFC 8656 §3.1 asks nothing of records, but coturn's server writes that way
/// too, so clients may depend on it).
async fn connection<P, S>(
    handle: Handle<TcpServer<P>>,
    stream: S,
    local: SocketAddr,
    remote: SocketAddr,
    one_record_per_message: bool,
) where
    P: Protocol + StreamServer + Send + 'static,
    P::Event: Send + 'static,
    S: AsyncRead + AsyncWrite,
{
    let (tx, mut writes) = mpsc::channel::<Vec<u8>>(QUEUED_WRITES);
    let registered = handle
        .call(move |s: &mut TcpServer<P>, _| {
            let id = s.link.accept(local, remote)?;
            s.conns.insert(
                id,
                Conn {
                    writes: tx,
                    local,
                    remote,
                },
            );
            Some(id)
        })
        .await;
    // Over the link's connection limit (or the driver stopped): dropping the stream closes it.
    let Some(Some(id)) = registered else {
        return;
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0u8; READ_SIZE];
    // Bytes of a message whose end has not come yet (records split at message boundaries).
    let mut partial = Vec::new();
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read.unwrap_or(0);
                let bytes = buf[..n].to_vec();
                handle.post(move |s: &mut TcpServer<P>, now| s.input(now, id, &bytes));
                if n == 0 {
                    return;
                }
            }
            bytes = writes.recv() => match bytes {
                Some(bytes) => {
                    let written = if one_record_per_message {
                        partial.extend_from_slice(&bytes);
                        let mut at = 0;
                        let mut result = Ok(());
                        while let Some(n) = whole_message(&partial[at..]) {
                            result = writer.write_all(&partial[at..at + n]).await;
                            if result.is_err() {
                                break;
                            }
                            at += n;
                        }
                        partial.drain(..at);
                        result
                    } else {
                        writer.write_all(&bytes).await
                    };
                    if written.is_err() {
                        handle.post(move |s: &mut TcpServer<P>, now| s.input(now, id, &[]));
                        return;
                    }
                }
                // Closed by the link (lost framing, a client that stopped reading).
                None => {
                    let _ = writer.shutdown().await;
                    return;
                }
            },
        }
    }
}

impl<P> Protocol for TcpServer<P>
where
    P: Protocol + StreamServer + Send + 'static,
    P::Event: Send + 'static,
{
    type Event = P::Event;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.inner.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
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

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}
