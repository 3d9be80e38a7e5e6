#![allow(dead_code)] // A few helpers serve only the unit tests and the fuzz targets.

//! DTLS 1.3 (RFC 9147) beside the DTLS 1.2 machinery, sharing its plaintext records,
//! handshake fragments and reassembly, retransmission timer and certificate checks:
//!
//! - `conn`: the connection and its typed handshake states, the transcript.
//! - `client13`, `server13`, `common`: the two roles' handshakes.
//! - `flight13`: flights with ACK-driven selective retransmission (RFC 9147 §7).
//! - `drive`: records in and out, ACKs, KeyUpdate (RFC 9147 §8).
//!
//! - `cookie`: the stateless HelloRetryRequest cookie and the transcript rule after an HRR.
//! - `key_schedule`: the TLS 1.3 key schedule (RFC 8446 §7) in typed stages, with the "dtls13"
//!   label prefix (RFC 9147 §5.9), Finished, KeyUpdate and the exporter.
//! - `record`: the unified header, record number encryption, sequence reconstruction and
//!   ACKs (RFC 9147 §4, §7).
//! - `layer`: the protected epochs we write and read, with replay windows, and the ACK list.
//! - `suite`: the TLS 1.3 cipher suites.
//! - `kx13`: key shares, X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem), X25519 and P-256.
//! - `messages`: the extension bodies and handshake messages new in 1.3.

pub(crate) mod client13;
pub(crate) mod common;
pub(crate) mod conn;
pub(crate) mod cookie;
pub(crate) mod drive;
pub(crate) mod flight13;
pub(crate) mod key_schedule;
pub(crate) mod kx13;
pub(crate) mod layer;
pub(crate) mod messages;
pub(crate) mod record;
pub(crate) mod server13;
pub(crate) mod suite;

#[cfg(test)]
mod tests;
