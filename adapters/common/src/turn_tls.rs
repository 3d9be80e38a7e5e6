//! What both adapters' TURN-over-TCP/TLS connections (RFC 8656 §3.1) share: the input a
//! connection hands its driver ([`StreamInput`], through a [`Notify`]) and which roots a
//! `turns:` server's certificate is checked against ([`TurnTls`], rustls with aws-lc-rs).
//!
//! ```ignore
//! let config = TurnTls::System.client_config()?;            // once, on the first turns: server
//! notify(StreamInput::Connected(id));                        // from the connection's reader
//! notify(StreamInput::Bytes(id, plaintext));
//! ```

use std::io;
use std::sync::Arc;

use kaon::turn::StreamId;

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
