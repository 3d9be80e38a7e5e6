//! The client's side of the handshake (RFC 5246 §7.3 with RFC 6347 §4.2):
//!
//! ```text
//! ClientHello               -->
//!                           <--  HelloVerifyRequest        (optional)
//! ClientHello + cookie      -->
//!                           <--  ServerHello, Certificate, ServerKeyExchange,
//!                                CertificateRequest, ServerHelloDone
//! Certificate, ClientKeyExchange, CertificateVerify,
//! [ChangeCipherSpec], Finished  -->
//!                           <--  [ChangeCipherSpec], Finished
//! ```

use crate::dtls::error::{DecodeError, Internal, PeerIncompatible, PeerMisbehaved};
use std::time::Instant;

use super::Error;
use super::crypto::CipherSuite;
use super::endpoint::{Endpoint, Session};
use super::extensions::{Extension, Extensions, POINT_FORMAT_UNCOMPRESSED, SignatureScheme, types};
use super::flight::FlightMessage;
use super::handshake::{
    CertificateMsg, CertificateRequest, CertificateVerify, ClientHello, ClientKeyExchange,
    Complete, Finished, HandshakeType, HelloVerifyRequest, ServerHello, ServerKeyExchange,
};
use super::kx::KeyShare;
use super::record::Version;
use super::state::{Handshake, Step};
use super::v13::client13::is_downgrade;
use super::v13::common::ext_data;
use super::v13::messages::types::SUPPORTED_VERSIONS;

/// The schemes we can verify, offered in signature_algorithms and CertificateRequest.
pub(crate) const VERIFY_SCHEMES: [SignatureScheme; 4] = [
    SignatureScheme::EcdsaSecp256r1Sha256,
    SignatureScheme::EcdsaSecp384r1Sha384,
    SignatureScheme::Ed25519,
    SignatureScheme::RsaPkcs1Sha256,
];

impl Endpoint {
    /// Builds the ClientHello and sends it as the first flight.
    pub(crate) fn client_start(&mut self, now: Instant) -> Result<(), Error> {
        let mut hs = Box::new(Handshake::new(Step::ClientWaitHello));
        self.rng.fill(&mut hs.client_random);
        let suites: Vec<CipherSuite> = self
            .config
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.is_supported())
            .collect();
        let mut extensions = vec![
            Extension::SupportedGroups(self.config.groups.clone()),
            Extension::EcPointFormats(vec![POINT_FORMAT_UNCOMPRESSED]),
            Extension::SignatureAlgorithms(VERIFY_SCHEMES.to_vec()),
            Extension::ExtendedMasterSecret,
            // RFC 5746 §3.4: an empty renegotiation_info on the initial handshake.
            Extension::RenegotiationInfo(Vec::new()),
        ];
        if !self.config.srtp_profiles.is_empty() {
            extensions.push(Extension::UseSrtp {
                profiles: self.config.srtp_profiles.clone(),
                mki: Vec::new(),
            });
        }
        let mut ch = ClientHello {
            client_version: Version::Dtls12,
            random: hs.client_random,
            session_id: Vec::new(),
            cookie: Vec::new(),
            cipher_suites: suites,
            compression_methods: vec![0],
            extensions: Extensions(extensions),
        };
        // RFC 9147 §5.3: DTLS 1.3 is offered in supported_versions of the same hello, whose
        // legacy_version stays DTLS 1.2.
        if self.config.versions.allows_13() {
            hs.offer13 = Some(self.offer13(&mut ch)?);
        }
        hs.client_hello = Some(ch);
        self.hs = Some(hs);
        self.client_send_hello(now)
    }

    /// (Re)sends the ClientHello as a new flight; after a HelloVerifyRequest the transcript
    /// starts again from this hello (RFC 6347 §4.2.6).
    fn client_send_hello(&mut self, now: Instant) -> Result<(), Error> {
        let hs = self.hs.as_mut().ok_or(Error::Internal(Internal::Crypto))?;
        let ch = hs
            .client_hello
            .as_ref()
            .ok_or(Error::Internal(Internal::Crypto))?;
        let mut body = Vec::with_capacity(256);
        ch.write(&mut body)?;
        hs.transcript.clear();
        self.flight.start();
        hs.push(&mut self.flight, 0, HandshakeType::ClientHello, body);
        self.send_flight(now, true);
        Ok(())
    }

    pub(crate) fn client_message(&mut self, now: Instant, msg: Complete) -> Result<(), Error> {
        let Some(hs) = self.hs.as_mut() else {
            return Ok(());
        };
        let expect_epoch = u16::from(msg.msg_type == HandshakeType::Finished);
        if msg.epoch != expect_epoch {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "handshake message in the wrong epoch",
            )));
        }
        match (hs.step, msg.msg_type) {
            (Step::ClientWaitHello, HandshakeType::HelloVerifyRequest) => {
                let hvr = HelloVerifyRequest::parse(&msg.body)?;
                if let Some(ch) = hs.client_hello.as_mut() {
                    ch.cookie = hvr.cookie;
                }
                self.client_send_hello(now)
            }
            (Step::ClientWaitHello, HandshakeType::ServerHello) => {
                let sh = ServerHello::parse(&msg.body)?;
                if ext_data(&sh.extensions, SUPPORTED_VERSIONS).is_some() {
                    // RFC 8446 §4.1.3: only a 1.3 (or HelloRetryRequest) ServerHello carries
                    // supported_versions, and only to a client that offered it.
                    if hs.offer13.is_none() {
                        return Err(Error::PeerMisbehaved(PeerMisbehaved::UnsolicitedExtension));
                    }
                    return self.client13_take_over(now, msg);
                }
                if hs.offer13.is_some() {
                    if !self.config.versions.allows_12() {
                        return Err(Error::PeerIncompatible(PeerIncompatible::NoCommonVersion(
                            sh.server_version.to_u16(),
                        )));
                    }
                    // RFC 8446 §4.1.3: a client that offered 1.3 MUST abort when a 1.2
                    // ServerHello carries the downgrade sentinel.
                    if is_downgrade(&sh.random) {
                        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                            "downgrade sentinel",
                        )));
                    }
                }
                self.client_server_hello(sh)?;
                let hs = self.hs.as_mut().ok_or(Error::Internal(Internal::Crypto))?;
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                hs.step = Step::ClientWaitCertificate;
                Ok(())
            }
            (Step::ClientWaitCertificate, HandshakeType::Certificate) => {
                let cert = CertificateMsg::parse(&msg.body)?;
                self.peer_certificate_received(cert)?;
                let hs = self.hs.as_mut().ok_or(Error::Internal(Internal::Crypto))?;
                let suite = hs.suite.ok_or(Error::Internal(Internal::Crypto))?;
                let rsa = hs.peer_key.as_ref().is_some_and(|k| k.is_rsa());
                if rsa != (suite.signature_kind() == super::crypto::SignatureKind::Rsa) {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::BadCertificate(
                        "key type does not fit the cipher suite",
                    )));
                }
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                hs.step = Step::ClientWaitKeyExchange;
                Ok(())
            }
            (Step::ClientWaitKeyExchange, HandshakeType::ServerKeyExchange) => {
                let ske = ServerKeyExchange::parse(&msg.body)?;
                if !self.config.groups.contains(&ske.group) || !ske.group.is_supported() {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                        "group not offered",
                    )));
                }
                if !VERIFY_SCHEMES.contains(&ske.scheme) {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                        "signature scheme not offered",
                    )));
                }
                let mut signed = Vec::with_capacity(64 + 4 + ske.public.len());
                signed.extend_from_slice(&hs.client_random);
                signed.extend_from_slice(&hs.server_random);
                signed.extend_from_slice(&ske.params()?);
                let key = hs
                    .peer_key
                    .as_ref()
                    .ok_or(Error::Internal(Internal::Crypto))?;
                key.verify(ske.scheme, &signed, &ske.signature)?;
                let share = KeyShare::generate(ske.group)?;
                hs.premaster = Some(share.agree(&ske.public)?);
                hs.key_share = Some(share);
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                hs.step = Step::ClientWaitRequestOrDone;
                Ok(())
            }
            (Step::ClientWaitRequestOrDone, HandshakeType::CertificateRequest) => {
                let req = CertificateRequest::parse(&msg.body)?;
                hs.cert_request = Some(req);
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                hs.step = Step::ClientWaitDone;
                Ok(())
            }
            (
                Step::ClientWaitRequestOrDone | Step::ClientWaitDone,
                HandshakeType::ServerHelloDone,
            ) => {
                if !msg.body.is_empty() {
                    return Err(Error::Decode(DecodeError::Malformed("ServerHelloDone")));
                }
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                self.client_second_flight(now)
            }
            (Step::ClientWaitFinished, HandshakeType::Finished) => {
                let expected = hs.finished(false)?;
                if Finished::parse(&msg.body)?.verify_data != expected {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::BadFinished));
                }
                hs.step = Step::Done;
                // Our flight was answered: nothing left to retransmit, and nothing the server
                // repeats needs an answer (it only repeats on our repeats).
                self.hs = None;
                self.flight.clear();
                self.timer.stop();
                self.handshake_complete();
                Ok(())
            }
            (Step::Done, _) => Ok(()),
            _ => Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "out of order in the client handshake",
            ))),
        }
    }

    fn client_server_hello(&mut self, sh: ServerHello) -> Result<(), Error> {
        let hs = self.hs.as_mut().ok_or(Error::Internal(Internal::Crypto))?;
        if sh.server_version != Version::Dtls12 {
            return Err(Error::PeerIncompatible(PeerIncompatible::NoCommonVersion(
                sh.server_version.to_u16(),
            )));
        }
        if !sh.cipher_suite.is_supported() || !self.config.cipher_suites.contains(&sh.cipher_suite)
        {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "cipher suite not offered",
            )));
        }
        if sh.compression_method != 0 {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "compression",
            )));
        }
        // RFC 5246 §7.4.1.4: a server may only answer extensions we sent.
        let offered = hs
            .client_hello
            .as_ref()
            .map(|ch| ch.extensions.0.iter().map(|e| e.typ()).collect::<Vec<_>>())
            .unwrap_or_default();
        if sh.extensions.0.iter().any(|e| !offered.contains(&e.typ())) {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::UnsolicitedExtension));
        }
        // RFC 7627 §5.2: we refuse to run without the extended master secret.
        if !sh.extensions.has(types::EXTENDED_MASTER_SECRET) {
            return Err(Error::PeerIncompatible(
                PeerIncompatible::ExtendedMasterSecretRequired,
            ));
        }
        if let Some(Extension::RenegotiationInfo(data)) =
            sh.extensions.get(types::RENEGOTIATION_INFO)
            && !data.is_empty()
        {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "renegotiation_info not empty",
            )));
        }
        hs.srtp = match sh.extensions.get(types::USE_SRTP) {
            // RFC 5764 §4.1.1: exactly one profile, one we offered, and our (empty) MKI.
            Some(Extension::UseSrtp { profiles, mki }) => match profiles.as_slice() {
                [p] if self.config.srtp_profiles.contains(p) && mki.is_empty() => Some(*p),
                _ => {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                        "use_srtp",
                    )));
                }
            },
            _ => None,
        };
        hs.server_random = sh.random;
        hs.suite = Some(sh.cipher_suite);
        Ok(())
    }

    /// Parses the peer's Certificate message, keeps its key and checks the fingerprint.
    pub(crate) fn peer_certificate_received(&mut self, msg: CertificateMsg) -> Result<(), Error> {
        let Some(first) = msg.chain.into_iter().next() else {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::NoCertificate));
        };
        let key = super::cert::x509::parse(&first)?.key;
        if let Some(hs) = self.hs.as_mut() {
            hs.peer_key = Some(key);
        }
        self.peer_certificate = Some(first);
        self.check_peer_certificate()
    }

    /// Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec, Finished.
    fn client_second_flight(&mut self, now: Instant) -> Result<(), Error> {
        let hs = self.hs.as_mut().ok_or(Error::Internal(Internal::Crypto))?;
        self.flight.start();
        let requested = hs.cert_request.is_some();
        if requested {
            let mut body = Vec::new();
            CertificateMsg {
                chain: vec![self.identity.certificate_der().to_vec()],
            }
            .write(&mut body)?;
            hs.push(&mut self.flight, 0, HandshakeType::Certificate, body);
        }
        let share = hs
            .key_share
            .as_ref()
            .ok_or(Error::Internal(Internal::Crypto))?;
        let mut body = Vec::new();
        ClientKeyExchange {
            public: share.public().to_vec(),
        }
        .write(&mut body)?;
        hs.push(&mut self.flight, 0, HandshakeType::ClientKeyExchange, body);
        // RFC 7627 §3: the session hash ends with ClientKeyExchange.
        let keys = hs.derive()?;
        if let Some(req) = &hs.cert_request {
            if !req.schemes.contains(&self.identity.scheme()) {
                return Err(Error::PeerIncompatible(
                    PeerIncompatible::NoCommonSignatureScheme,
                ));
            }
            let signature = self.identity.sign(&hs.transcript)?;
            let mut body = Vec::new();
            CertificateVerify {
                scheme: self.identity.scheme(),
                signature,
            }
            .write(&mut body)?;
            hs.push(&mut self.flight, 0, HandshakeType::CertificateVerify, body);
        }
        self.flight.push(FlightMessage::ChangeCipherSpec);
        let verify_data = hs.finished(true)?.to_vec();
        hs.push(&mut self.flight, 1, HandshakeType::Finished, verify_data);
        self.records.install_keys(keys, true);
        self.records.start_writing_epoch1();
        hs.step = Step::ClientWaitFinished;
        self.session = Some(session_of(hs)?);
        self.send_flight(now, true);
        Ok(())
    }
}

/// The negotiated parameters, from a handshake that has its master secret.
pub(crate) fn session_of(hs: &Handshake) -> Result<Session, Error> {
    Ok(Session {
        suite: hs.suite.ok_or(Error::Internal(Internal::Crypto))?,
        master_secret: hs.master_secret.ok_or(Error::Internal(Internal::Crypto))?,
        client_random: hs.client_random,
        server_random: hs.server_random,
        srtp: hs.srtp,
    })
}
