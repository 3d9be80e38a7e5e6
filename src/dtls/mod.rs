//! # DTLS 1.2 and 1.3: client and server over any datagram transport
//!
//! [`Endpoint`] is a sans-IO DTLS endpoint for one peer, client or server, built for WebRTC:
//! both sides present certificates, each is trusted only when it matches the fingerprint
//! signaling delivered, and the handshake exports SRTP keys. It implements the crate's
//! [`Protocol`](crate::Protocol) contract and knows nothing of ICE: give it datagrams from the
//! peer and send what it returns to the peer.
//!
//! What it implements, and where:
//!
//! - RFC 6347 (DTLS 1.2): records with epochs and 48-bit sequence numbers, replay detection,
//!   several records per datagram, handshake fragmentation and reassembly, flights and
//!   retransmission, the stateless HelloVerifyRequest cookie.
//! - RFC 5246 (TLS 1.2): the handshake and its messages, the PRF, Finished, alerts.
//! - RFC 5288 and RFC 7905: AES-GCM and ChaCha20-Poly1305 record protection; RFC 5289 and
//!   RFC 8422: the ECDHE_ECDSA and ECDHE_RSA suites, X25519, P-256 and P-384.
//! - RFC 7627: the extended master secret, required of every peer.
//! - RFC 5705 and RFC 5764: the keying material exporter and the use_srtp extension.
//! - RFC 5746: an empty renegotiation_info; renegotiation itself is refused.
//! - RFC 8122 and RFC 8827: certificate fingerprints as SDP carries them.
//!
//! DTLS 1.3, when [`Config::versions`] allows it ([`VersionPolicy`]; 1.2 only by default):
//!
//! - RFC 9147 (DTLS 1.3): the unified record header, epochs 0 to 3 and on, record number
//!   encryption, ACKs with selective retransmission, KeyUpdate
//!   ([`Endpoint::update_keys`]), the stateless HelloRetryRequest cookie, fragmentation and
//!   reassembly; negotiation through supported_versions (1.3 when both offer it, else 1.2).
//! - RFC 8446 (TLS 1.3): the handshake in typed states (one per expected message), the key
//!   schedule, CertificateRequest and CertificateVerify (both ends authenticate), Finished,
//!   the exporter that DTLS-SRTP keys come from (RFC 5764 keys, RFC 8446 §7.5); the downgrade
//!   sentinel.
//! - draft-ietf-tls-ecdhe-mlkem: the X25519MLKEM768 hybrid key share (ML-KEM from aws-lc-rs),
//!   offered first as browsers do, beside X25519 and P-256.
//!
//! A 1.3 connection is driven exactly like a 1.2 one; [`Endpoint::version`] tells which was
//! negotiated.
//!
//! # Driving an endpoint
//!
//! Two endpoints connected in memory; a real driver sends each `Transmit` over a socket and
//! sleeps until `poll_timeout`.
//!
//! ```
//! use kaon::dtls::{Config, Endpoint, Event, HashAlgorithm, Identity, Role, VersionPolicy};
//! use kaon::dtls::record::Version;
//! use kaon::{Datagram, Protocol};
//! use std::time::Instant;
//!
//! let (client_addr, server_addr) = ("192.0.2.1:5000".parse()?, "192.0.2.2:5000".parse()?);
//! let (client_id, server_id) = (Identity::generate()?, Identity::generate()?);
//! let now = Instant::now();
//! let mut client = Endpoint::new(
//!     Config {
//!         role: Role::Client,
//!         versions: VersionPolicy::Dtls13OrDtls12,
//!         local_addr: Some(client_addr),
//!         remote_addr: Some(server_addr),
//!         remote_fingerprints: vec![server_id.fingerprint(HashAlgorithm::Sha256)],
//!         ..Config::default()
//!     },
//!     client_id.clone(),
//!     now,
//! )?;
//! let mut server = Endpoint::new(
//!     Config {
//!         role: Role::Server,
//!         versions: VersionPolicy::Dtls13OrDtls12,
//!         local_addr: Some(server_addr),
//!         remote_fingerprints: vec![client_id.fingerprint(HashAlgorithm::Sha256)],
//!         ..Config::default()
//!     },
//!     server_id,
//!     now,
//! )?;
//! client.send(b"hello")?; // queued until the handshake completes
//!
//! let mut buf = [0u8; 1500];
//! let mut received = Vec::new();
//! for _ in 0..10 {
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         let d = Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] };
//!         server.handle_datagram(now, d);
//!     }
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         let d = Datagram { source: t.source, destination: t.destination, contents: &buf[..t.len] };
//!         client.handle_datagram(now, d);
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if let Event::Data(data) = event {
//!             received.push(data);
//!         }
//!     }
//! }
//! assert!(client.is_connected() && server.is_connected());
//! assert_eq!(client.version(), Some(Version::Dtls13));
//! assert_eq!(received, vec![b"hello".to_vec()]);
//! // Both sides derive the same SRTP keys.
//! let label = b"EXTRACTOR-dtls_srtp";
//! assert_eq!(
//!     client.export_keying_material(label, None, 60)?,
//!     server.export_keying_material(label, None, 60)?
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Events arrive through `poll_event`: [`Event::Connected`] (with the cipher suite, the SRTP
//! profile and its keys), [`Event::Data`], [`Event::Closed`] and [`Event::Failed`], whose
//! [`Error`] says why, by category as rustls does: malformed input ([`DecodeError`]), a
//! peer breaking the protocol ([`PeerMisbehaved`], for example
//! [`PeerMisbehaved::FingerprintMismatch`]), a peer with nothing in common
//! ([`PeerIncompatible`]), a refused call ([`Misuse`]), or [`Error::HandshakeTimeout`]. A
//! failure is final: the endpoint sends its alert and then nothing more. Malformed, forged or
//! replayed records are counted in [`Stats`] and dropped.

mod alert;
mod arena;
mod cert;
mod client;
mod codec;
mod config;
mod crypto;
mod endpoint;
mod error;
mod event;
mod extensions;
mod flight;
mod handshake;
mod kx;
mod receive;
pub mod record;
mod server;
mod state;
mod v13;

pub use alert::{Alert, AlertDescription, AlertLevel};
pub use cert::{Fingerprint, HashAlgorithm, Identity};
pub use config::{Config, Role, VersionPolicy};
pub use crypto::CipherSuite;
pub use endpoint::Endpoint;
pub use error::{DecodeError, Error, Internal, Misuse, PeerIncompatible, PeerMisbehaved};
pub use event::{Connected, Event, SrtpKeying, Stats};
pub use extensions::{NamedGroup, SignatureScheme, SrtpProfile};

/// Entry points for the fuzz targets (`fuzz/fuzz_targets/dtls_*.rs`), reaching parsers that
/// are internal to the crate.
#[cfg(fuzzing)]
pub mod fuzzing {
    use super::handshake::{self, Reassembler};

    /// Splits `data` into records, and every record into handshake fragments; reassembles
    /// them and runs the parser of each complete message, and the certificate reader.
    pub fn parse_records(data: &[u8]) {
        let mut reassembler = Reassembler::new();
        for record in super::record::records(data) {
            let Ok(record) = record else { break };
            let _ = super::Alert::parse(record.fragment);
            for fragment in handshake::fragments(record.fragment) {
                let Ok((header, body)) = fragment else { break };
                reassembler.insert(record.header.epoch, &header, body);
                while let Some(m) = reassembler.pop() {
                    parse_message(&m.body);
                }
            }
        }
    }

    /// DTLS 1.3: splits `data` into records of both header forms, unmasks and opens every
    /// protected one with fixed keys of each suite, and parses ACKs.
    pub fn parse_records13(data: &[u8]) {
        let expected = data.first().map_or(0, |&b| u64::from(b) << 8);
        super::v13::record::exercise_receive(data, expected);
        super::v13::messages::parse_all(data);
    }

    /// DTLS 1.3: hands `plain` to the endpoint as the decrypted content of a record of
    /// `content_type` (22 handshake, 26 ACK, 21 alert, 23 data) in its current read epoch, as
    /// if it had opened: the handshake state machines and ACK handling see fuzzed messages in
    /// every state without the fuzzer having to forge AEAD tags. Does nothing on DTLS 1.2.
    pub fn inject13(
        endpoint: &mut super::Endpoint,
        now: std::time::Instant,
        content_type: u8,
        plain: &[u8],
    ) {
        endpoint.inject13(now, content_type, plain);
    }

    /// Runs every handshake message parser and the certificate reader over `body`.
    pub fn parse_message(body: &[u8]) {
        let _ = handshake::ClientHello::parse(body);
        let _ = handshake::ServerHello::parse(body);
        let _ = handshake::HelloVerifyRequest::parse(body);
        let _ = handshake::CertificateMsg::parse(body);
        let _ = handshake::ServerKeyExchange::parse(body);
        let _ = handshake::CertificateRequest::parse(body);
        let _ = handshake::ClientKeyExchange::parse(body);
        let _ = handshake::CertificateVerify::parse(body);
        let _ = super::cert::x509::parse(body);
    }
}
