#![allow(dead_code)] // The DTLS 1.3 handshake that uses these lands in a later step.

//! DTLS 1.3 (RFC 9147) pieces that sit beside the DTLS 1.2 machinery: the TLS 1.3 key schedule
//! (RFC 8446 §7) with the "dtls13" label prefix, and the record layer's unified header with
//! record number encryption (RFC 9147 §4).

pub(crate) mod key_schedule;
pub(crate) mod kx13;
pub(crate) mod record;
pub(crate) mod suite;
