//! What both adapters' TURN-over-TCP/TLS connections (RFC 8656 §3.1) share: the input a
//! connection hands its driver ([`StreamInput`], through a [`Notify`]), which roots a
//! `turns:` server's certificate is checked against ([`TurnTls`], rustls with aws-lc-rs), and
//! the table of stream servers with their TLS names ([`StreamServers`]).
//!
//! ```ignore
//! let config = TurnTls::System.client_config()?;            // once, on the first turns: server
//! notify(StreamInput::Connected(id));                        // from the connection's reader
//! notify(StreamInput::Bytes(id, plaintext));
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use kaon::peer::IceServer;
use kaon::turn::{Scheme, ServerUrl, StreamId, TurnTransport};
use rustls::pki_types::ServerName;

/// What a connection's reader (a thread or a task) reports to its driver.
#[derive(Debug)]
pub enum StreamInput {
    /// The connection (and its TLS handshake) is up.
    Connected(StreamId),
    /// Bytes read from it (plaintext, after TLS).
    Bytes(StreamId, Vec<u8>),
    /// It closed, failed to connect, or failed its TLS handshake.
    Closed(StreamId, String),
}

/// Hands a connection's [`StreamInput`] to the driver (e.g. through the adapter's
/// `Handle::post`).
pub type Notify = Arc<dyn Fn(StreamInput) + Send + Sync>;

/// Which certificates a `turns:` server may present.
#[derive(Clone, Default)]
pub enum TurnTls {
    /// The operating system's trust store.
    #[default]
    System,
    /// Only these roots (a private CA, or a test's own).
    Roots(Arc<rustls::RootCertStore>),
}

impl TurnTls {
    /// Roots from PEM text (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> io::Result<Self> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(io::Error::other)?;
            roots.add(cert).map_err(io::Error::other)?;
        }
        Ok(Self::Roots(Arc::new(roots)))
    }

    /// A rustls client configuration (aws-lc-rs, TLS 1.2 and 1.3) trusting these roots.
    pub fn client_config(&self) -> io::Result<Arc<rustls::ClientConfig>> {
        let roots = match self {
            Self::Roots(r) => r.clone(),
            Self::System => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
                Arc::new(roots)
            }
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl std::fmt::Debug for TurnTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System => f.write_str("System"),
            Self::Roots(r) => write!(f, "Roots({} certificates)", r.len()),
        }
    }
}

/// The TURN servers a driver reaches over TCP or TLS, each with the name its certificate is
/// checked against (its IP address unless told otherwise), and the TLS client configuration,
/// made on the first `turns:` connection.
#[derive(Debug, Default)]
pub struct StreamServers {
    tls: TurnTls,
    config: Option<Arc<rustls::ClientConfig>>,
    names: Vec<(SocketAddr, ServerName<'static>)>,
}

impl StreamServers {
    /// No servers yet; `turns:` servers will be checked against `tls`.
    pub fn new(tls: TurnTls) -> Self {
        Self {
            tls,
            ..Self::default()
        }
    }

    /// The stream servers among W3C `iceServers` (`turn:...?transport=tcp`, `turns:`), the
    /// ones the core's `PeerConnection` makes TCP and TLS relays for.
    pub fn among(servers: &[IceServer]) -> Vec<(SocketAddr, TurnTransport)> {
        let mut found = Vec::new();
        for url in servers.iter().flat_map(|s| &s.urls) {
            let Ok(parsed) = url.parse::<ServerUrl>() else {
                continue;
            };
            let Some(addr) = parsed.socket_addr() else {
                continue;
            };
            let Some(turn) = kaon::ice::TurnServer::from_url(&parsed, "", "") else {
                continue;
            };
            if parsed.scheme == Scheme::Turns || turn.transport.is_stream() {
                found.push((addr, turn.transport));
            }
        }
        found
    }

    /// Adds `server`, its certificate checked against its IP address.
    pub fn add(&mut self, server: SocketAddr) {
        self.names.retain(|(s, _)| *s != server);
        self.names
            .push((server, ServerName::IpAddress(server.ip().into())));
    }

    /// Checks `server`'s certificate against `name` instead of its IP address.
    pub fn set_name(&mut self, server: SocketAddr, name: &str) -> io::Result<()> {
        let name = ServerName::try_from(name.to_owned()).map_err(io::Error::other)?;
        self.names.retain(|(s, _)| *s != server);
        self.names.push((server, name));
        Ok(())
    }

    /// Whether there is no server.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// What a TLS connection to `server` needs: the client configuration and the name its
    /// certificate must carry.
    pub fn tls_for(
        &mut self,
        server: SocketAddr,
    ) -> io::Result<(Arc<rustls::ClientConfig>, ServerName<'static>)> {
        let config = match &self.config {
            Some(c) => c.clone(),
            None => self.config.insert(self.tls.client_config()?).clone(),
        };
        let name = self
            .names
            .iter()
            .find(|(s, _)| *s == server)
            .map_or(ServerName::IpAddress(server.ip().into()), |(_, n)| {
                n.clone()
            });
        Ok((config, name))
    }
}
