//! A DTLS 1.3 connection's state: the typed handshake states of both roles, the transcript,
//! and what the endpoint keeps once connected (the exporter, the traffic secrets KeyUpdate
//! steps from).
//!
//! ```text
//! Client                                            Server
//! ClientHello (+key_share, supported_versions) -->
//!                                              <--  HelloRetryRequest (+cookie)   (optional)
//! ClientHello (+cookie)                        -->
//!                                              <--  ServerHello            epoch 0
//!                                                   EncryptedExtensions    epoch 2
//!                                                   CertificateRequest
//!                                                   Certificate
//!                                                   CertificateVerify
//!                                                   Finished
//! Certificate, CertificateVerify, Finished     -->                         epoch 2
//!                                              <--  ACK                    epoch 3
//! application data, KeyUpdate                 <->                          epoch 3, 4..
//! ```

use std::time::Instant;

use super::super::cert::x509::PeerKey;
use super::super::extensions::SrtpProfile;
use super::super::handshake::{HandshakeType, Reassembler};
use super::flight13::Flight13;
use super::key_schedule::{Exporter, HandshakeSecret, TrafficSecret};
use super::kx13::ClientShare;
use super::layer::{AckList, RecordLayer13};
use super::suite::Suite13;
use crate::dtls::crypto::PrfHash;
use aws_lc_rs::digest;

/// The ACK content type (RFC 9147 §7).
pub(crate) const CONTENT_ACK: u8 = 26;

/// The handshake transcript in the TLS form RFC 9147 §5.2 prescribes: each message with the
/// 4-byte TLS header, without message_seq and fragment fields.
///
/// Once the suite, and so the hash, is known ([`Transcript::keep_hash`]), the transcript is
/// hashed as it grows: each transcript hash the handshake takes (about six per side, over
/// up to 5 KB with an ML-KEM share) finishes a copy of the running hash instead of hashing
/// every message again from the first.
#[derive(Clone, Default)]
pub(crate) struct Transcript {
    bytes: Vec<u8>,
    running: Option<(PrfHash, digest::Context)>,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("len", &self.bytes.len())
            .field("hash", &self.running.as_ref().map(|(h, _)| *h))
            .finish()
    }
}

impl Transcript {
    /// Appends a message.
    pub(crate) fn add(&mut self, msg_type: HandshakeType, body: &[u8]) {
        let start = self.bytes.len();
        self.bytes.reserve(4 + body.len());
        self.bytes.push(msg_type.to_u8());
        self.bytes
            .extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        if let Some((_, ctx)) = &mut self.running {
            ctx.update(&self.bytes[start..]);
            ctx.update(body);
        }
        self.bytes.extend_from_slice(body);
    }

    /// Appends bytes that are already a TLS-form message (the synthetic message_hash).
    pub(crate) fn add_raw(&mut self, raw: &[u8]) {
        if let Some((_, ctx)) = &mut self.running {
            ctx.update(raw);
        }
        self.bytes.extend_from_slice(raw);
    }

    /// Hashes the transcript with `hash` as it grows from now on (the suite's hash, once
    /// chosen); does nothing if it already does.
    pub(crate) fn keep_hash(&mut self, hash: PrfHash) {
        if self.running.as_ref().is_some_and(|(h, _)| *h == hash) {
            return;
        }
        let mut ctx = digest::Context::new(hash.digest());
        ctx.update(&self.bytes);
        self.running = Some((hash, ctx));
    }

    pub(crate) fn hash(&self, hash: PrfHash) -> Vec<u8> {
        match &self.running {
            Some((h, ctx)) if *h == hash => ctx.clone().finish().as_ref().to_vec(),
            _ => hash.hash(&self.bytes).as_ref().to_vec(),
        }
    }
}

/// The TLS-form encoding of one message, for hashing ClientHello1 alone.
pub(crate) fn tls_message(msg_type: HandshakeType, body: &[u8]) -> Vec<u8> {
    let mut t = Transcript::default();
    t.add(msg_type, body);
    t.bytes
}

/// The handshake traffic secrets and transcript both roles carry through the encrypted part
/// of the handshake.
#[derive(Debug, Clone)]
pub(crate) struct HsKeys {
    pub(crate) suite: Suite13,
    pub(crate) transcript: Transcript,
    pub(crate) secret: HandshakeSecret,
    pub(crate) client: TrafficSecret,
    pub(crate) server: TrafficSecret,
}

impl HsKeys {
    pub(crate) fn transcript_hash(&self) -> Vec<u8> {
        self.transcript.hash(self.suite.hash())
    }
}

/// The client after a HelloRetryRequest: the shares of its second hello and the transcript
/// so far (message_hash, HelloRetryRequest, ClientHello2).
#[derive(Debug)]
pub(crate) struct ClientRetried {
    pub(crate) shares: Vec<ClientShare>,
    pub(crate) transcript: Transcript,
    pub(crate) suites: Vec<Suite13>,
    pub(crate) session_id: Vec<u8>,
}

/// The server after its flight: what it needs to check the client's flight and start the
/// application epoch.
#[derive(Debug)]
pub(crate) struct ServerFlightSent {
    pub(crate) keys: HsKeys,
    pub(crate) app: AppSecrets,
    pub(crate) srtp: Option<SrtpProfile>,
}

/// The application traffic secrets and exporter, derived once the server's Finished is in
/// the transcript.
#[derive(Debug, Clone)]
pub(crate) struct AppSecrets {
    pub(crate) client: TrafficSecret,
    pub(crate) server: TrafficSecret,
    pub(crate) exporter: Exporter,
}

/// Where a DTLS 1.3 handshake stands. Each state holds only what is valid in it, boxed: a
/// connected endpoint keeps only the tag.
#[derive(Debug)]
pub(crate) enum State13 {
    /// Client: sent ClientHello2 after a HelloRetryRequest, waiting for the ServerHello.
    ClientWaitServerHello(Box<ClientRetried>),
    ClientWaitEncryptedExtensions(Box<HsKeys>),
    /// WebRTC authenticates both ends (RFC 8827 §6.5): the server asks for our certificate.
    ClientWaitCertificateRequest {
        keys: Box<HsKeys>,
        srtp: Option<SrtpProfile>,
    },
    ClientWaitCertificate {
        keys: Box<HsKeys>,
        srtp: Option<SrtpProfile>,
        request_context: Option<Vec<u8>>,
    },
    ClientWaitCertificateVerify {
        keys: Box<HsKeys>,
        srtp: Option<SrtpProfile>,
        request_context: Option<Vec<u8>>,
        peer_key: PeerKey,
    },
    ClientWaitFinished {
        keys: Box<HsKeys>,
        srtp: Option<SrtpProfile>,
        request_context: Option<Vec<u8>>,
    },
    ServerWaitCertificate(Box<ServerFlightSent>),
    ServerWaitCertificateVerify(Box<ServerFlightSent>, PeerKey),
    ServerWaitFinished(Box<ServerFlightSent>),
    /// Finished both ways (for a client: sent its Finished; its flight may still await an
    /// ACK).
    Connected,
    /// Closed or failed.
    Closed,
}

/// A KeyUpdate of ours waiting for its ACK (RFC 9147 §8: the sender switches keys only
/// once the peer acknowledged it).
#[derive(Debug, Clone)]
pub(crate) struct PendingUpdate {
    pub(crate) next: TrafficSecret,
}

/// What an established connection keeps.
#[derive(Debug, Clone)]
pub(crate) struct Session13 {
    pub(crate) suite: Suite13,
    pub(crate) srtp: Option<SrtpProfile>,
    pub(crate) exporter: Exporter,
    /// The secret of our current write epoch and of the peer's current read epoch.
    pub(crate) write_secret: TrafficSecret,
    pub(crate) read_secret: TrafficSecret,
}

/// Everything DTLS 1.3 adds to an endpoint once the version is 1.3.
#[derive(Debug)]
pub(crate) struct Conn13 {
    pub(crate) state: State13,
    pub(crate) records: RecordLayer13,
    pub(crate) reassembler: Reassembler,
    /// The message_seq of our next handshake message.
    pub(crate) send_seq: u16,
    pub(crate) flight: Flight13,
    /// Handshake records received and not yet acknowledged, and when to send the ACK.
    pub(crate) acks: AckList,
    pub(crate) ack_at: Option<Instant>,
    pub(crate) session: Option<Session13>,
    pub(crate) pending_update: Option<PendingUpdate>,
    /// KeyUpdates completed, both directions (for tests and stats).
    pub(crate) key_updates: u64,
    /// Client: when to stop resending its last handshake flight if no ACK ever comes (the
    /// connection is up either way; a peer that never acknowledges must not cost us
    /// retransmissions forever).
    pub(crate) final_flight_until: Option<Instant>,
    /// Server: until when it keeps the client's handshake epoch (2) readable, to acknowledge
    /// a repeat of the client's last flight whose ACK was lost (RFC 9147 §5.8.4, §7).
    pub(crate) handshake_epoch_until: Option<Instant>,
}

impl Conn13 {
    pub(crate) fn new(state: State13, next_peer_seq: u16, send_seq: u16) -> Self {
        let mut reassembler = Reassembler::new();
        reassembler.resync(next_peer_seq);
        Self {
            state,
            records: RecordLayer13::default(),
            reassembler,
            send_seq,
            flight: Flight13::default(),
            acks: AckList::default(),
            ack_at: None,
            session: None,
            pending_update: None,
            key_updates: 0,
            final_flight_until: None,
            handshake_epoch_until: None,
        }
    }

    /// Adds a message to the flight (and the caller adds it to the transcript).
    pub(crate) fn push(&mut self, epoch: u64, msg_type: HandshakeType, body: Vec<u8>) {
        let seq = self.send_seq;
        self.send_seq = self.send_seq.wrapping_add(1);
        self.flight.push(epoch, msg_type, seq, body);
    }

    /// Lets the handshake epochs go once nothing of the handshake can need them: our last
    /// flight acknowledged (or given up on), and for a server the retention time over. RFC
    /// 9147 §4.2.1 lets an implementation discard old epochs once reordering is unlikely; the
    /// previous read epoch stays only while it is a post-handshake one (after a KeyUpdate).
    pub(crate) fn release_handshake(&mut self) {
        self.records.drop_previous_write();
        if self.records.previous_read_epoch().is_some_and(|e| e < 3) {
            self.records.drop_previous_read();
        }
        self.reassembler.shrink();
        self.handshake_epoch_until = None;
    }

    /// Whether the handshake is over for this side.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.state, State13::Connected)
    }
}
