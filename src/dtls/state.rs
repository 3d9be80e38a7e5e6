//! Handshake-time state shared by both roles: where we are, the transcript, the randoms and
//! the keys being negotiated. It lives in a `Box` that is freed once the handshake can no
//! longer need retransmitting, so an established connection stays small.

use super::Error;
use super::cert::x509::PeerKey;
use super::crypto::{self, CipherSuite, MASTER_SECRET_LEN, PrfHash, RANDOM_LEN};
use super::extensions::SrtpProfile;
use super::flight::{Flight, FlightMessage};
use super::handshake::{
    CertificateRequest, ClientHello, HEADER_LEN, HandshakeHeader, HandshakeType, Reassembler,
};
use super::kx::KeyShare;
use super::v13::client13::Offer13;
use crate::dtls::error::Internal;

/// Where a handshake stands: which message is expected next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Client: sent ClientHello, waiting for HelloVerifyRequest or ServerHello.
    ClientWaitHello,
    ClientWaitCertificate,
    ClientWaitKeyExchange,
    /// CertificateRequest or ServerHelloDone.
    ClientWaitRequestOrDone,
    ClientWaitDone,
    /// Sent our second flight, waiting for the server's Finished.
    ClientWaitFinished,
    /// Server: waiting for a ClientHello (with a valid cookie when HelloVerifyRequest is on).
    ServerListen,
    ServerWaitCertificate,
    ServerWaitKeyExchange,
    ServerWaitVerify,
    ServerWaitFinished,
    /// Finished both ways; kept only to answer the peer's repeats of its last flight.
    Done,
}

/// The handshake's working state.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub(crate) step: Step,
    pub(crate) reassembler: Reassembler,
    /// Every message from the (cookie-bearing) ClientHello on, as unfragmented DTLS messages
    /// (RFC 6347 §4.2.6).
    pub(crate) transcript: Vec<u8>,
    /// The message_seq of our next message.
    pub(crate) send_seq: u16,
    pub(crate) client_random: [u8; RANDOM_LEN],
    pub(crate) server_random: [u8; RANDOM_LEN],
    pub(crate) suite: Option<CipherSuite>,
    pub(crate) key_share: Option<KeyShare>,
    pub(crate) peer_key: Option<PeerKey>,
    pub(crate) premaster: Option<Vec<u8>>,
    pub(crate) cert_request: Option<CertificateRequest>,
    pub(crate) srtp: Option<SrtpProfile>,
    pub(crate) master_secret: Option<[u8; MASTER_SECRET_LEN]>,
    /// Client: the hello, kept to resend it with a cookie.
    pub(crate) client_hello: Option<ClientHello>,
    /// Client offering DTLS 1.3 too: its key shares, until the ServerHello picks a version.
    pub(crate) offer13: Option<Offer13>,
}

impl Handshake {
    pub(crate) fn new(step: Step) -> Self {
        Self {
            step,
            reassembler: Reassembler::new(),
            transcript: Vec::new(),
            send_seq: 0,
            client_random: [0; RANDOM_LEN],
            server_random: [0; RANDOM_LEN],
            suite: None,
            key_share: None,
            peer_key: None,
            premaster: None,
            cert_request: None,
            srtp: None,
            master_secret: None,
            client_hello: None,
            offer13: None,
        }
    }

    /// Appends a message to the transcript as if it had arrived unfragmented.
    pub(crate) fn record(&mut self, msg_type: HandshakeType, message_seq: u16, body: &[u8]) {
        let header = HandshakeHeader::whole(msg_type, message_seq, body.len());
        self.transcript.reserve(HEADER_LEN + body.len());
        self.transcript.extend_from_slice(&header.to_bytes());
        self.transcript.extend_from_slice(body);
    }

    /// Adds one of our messages to the flight and the transcript.
    pub(crate) fn push(
        &mut self,
        flight: &mut Flight,
        epoch: u16,
        msg_type: HandshakeType,
        body: Vec<u8>,
    ) {
        let seq = self.send_seq;
        self.send_seq = self.send_seq.wrapping_add(1);
        self.record(msg_type, seq, &body);
        flight.push(FlightMessage::Handshake {
            epoch,
            msg_type,
            message_seq: seq,
            body,
        });
    }

    pub(crate) fn prf_hash(&self) -> PrfHash {
        self.suite.map_or(PrfHash::Sha256, |s| s.prf_hash())
    }

    /// The transcript hash with the suite's hash.
    pub(crate) fn transcript_hash(&self) -> Vec<u8> {
        self.prf_hash().hash(&self.transcript).as_ref().to_vec()
    }

    /// Derives the extended master secret from the premaster secret and the transcript so far
    /// (which must end with ClientKeyExchange, RFC 7627 §3), and the epoch 1 keys.
    pub(crate) fn derive(&mut self) -> Result<crypto::EpochKeys, Error> {
        let suite = self.suite.ok_or(Error::Internal(Internal::Crypto))?;
        let premaster = self
            .premaster
            .take()
            .ok_or(Error::Internal(Internal::Crypto))?;
        let ms =
            crypto::extended_master_secret(self.prf_hash(), &premaster, &self.transcript_hash())?;
        self.master_secret = Some(ms);
        crypto::key_block(suite, &ms, &self.client_random, &self.server_random)
    }

    /// Our or the peer's Finished `verify_data` over the transcript so far.
    pub(crate) fn finished(&self, client: bool) -> Result<[u8; crypto::VERIFY_DATA_LEN], Error> {
        let ms = self
            .master_secret
            .as_ref()
            .ok_or(Error::Internal(Internal::Crypto))?;
        crypto::verify_data(self.prf_hash(), ms, client, &self.transcript_hash())
    }
}
