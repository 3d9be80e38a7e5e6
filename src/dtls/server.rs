//! The server's side of the handshake (RFC 5246 §7.3, RFC 6347 §4.2), always requesting the
//! client's certificate as WebRTC requires (RFC 8827 §6.5), with an optional stateless
//! cookie exchange (RFC 6347 §4.2.1).

use crate::dtls::error::{Internal, PeerIncompatible, PeerMisbehaved};
use std::time::Instant;

use aws_lc_rs::hmac;

use super::Error;
use super::client::{VERIFY_SCHEMES, session_of};
use super::crypto::SignatureKind;
use super::endpoint::{Endpoint, Stateless};
use super::extensions::{Extension, Extensions, NamedGroup, POINT_FORMAT_UNCOMPRESSED, types};
use super::flight::FlightMessage;
use super::handshake::{
    CERT_TYPE_ECDSA_SIGN, CERT_TYPE_RSA_SIGN, CertificateMsg, CertificateRequest,
    CertificateVerify, ClientHello, ClientKeyExchange, Complete, Finished, HandshakeHeader,
    HandshakeType, HelloVerifyRequest, ServerHello, ServerKeyExchange,
};
use super::kx::KeyShare;
use super::record::{ContentType, RecordLayer, Version};
use super::state::Step;
use super::v13::common::DOWNGRADE_12;
use super::v13::server13::offers_13;
use crate::Datagram;

/// Cookie length: a truncated HMAC-SHA256 (RFC 6347 §4.2.1 allows up to 255 bytes).
const COOKIE_LEN: usize = 20;

impl Endpoint {
    pub(crate) fn server_message(
        &mut self,
        now: Instant,
        msg: Complete,
        dgram: &Datagram<'_>,
    ) -> Result<(), Error> {
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
            (Step::ServerListen, HandshakeType::ClientHello) => {
                // A ClientHello that does not parse is dropped, not fatal: anyone can send one
                // before the cookie exchange.
                let Ok(ch) = ClientHello::parse(&msg.body) else {
                    self.stats.records_dropped += 1;
                    return Ok(());
                };
                // RFC 9147 §5.3: 1.3 when the client offers it and we speak it.
                if self.config.versions.allows_13() && offers_13(&ch) {
                    return self.server13_client_hello(now, &ch, &msg, dgram);
                }
                if !self.config.versions.allows_12() {
                    return Err(Error::PeerIncompatible(PeerIncompatible::NoCommonVersion(
                        ch.client_version.to_u16(),
                    )));
                }
                if self.config.hello_verify {
                    let cookie = self.cookie(dgram, &ch);
                    if ch.cookie != cookie {
                        self.hello_verify_request(dgram, msg.message_seq, cookie);
                        return Ok(());
                    }
                }
                // From here on the endpoint belongs to this peer.
                self.remote = Some(dgram.source);
                self.local.get_or_insert(dgram.destination);
                self.handshake_deadline = Some(now + self.config.handshake_timeout);
                self.server_first_flight(now, &ch, &msg)
            }
            (Step::ServerWaitCertificate, HandshakeType::Certificate) => {
                let cert = CertificateMsg::parse(&msg.body)?;
                // WebRTC requires the client's certificate: an empty chain ends the handshake.
                self.peer_certificate_received(cert)?;
                let hs = self.hs.as_mut().ok_or(Error::Internal(Internal::Crypto))?;
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                hs.step = Step::ServerWaitKeyExchange;
                Ok(())
            }
            (Step::ServerWaitCertificate, HandshakeType::ClientKeyExchange) => {
                Err(Error::PeerMisbehaved(PeerMisbehaved::NoCertificate))
            }
            (Step::ServerWaitKeyExchange, HandshakeType::ClientKeyExchange) => {
                let cke = ClientKeyExchange::parse(&msg.body)?;
                let share = hs
                    .key_share
                    .as_ref()
                    .ok_or(Error::Internal(Internal::Crypto))?;
                hs.premaster = Some(share.agree(&cke.public)?);
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                let keys = hs.derive()?;
                self.records.install_keys(keys, false);
                hs.step = Step::ServerWaitVerify;
                Ok(())
            }
            (Step::ServerWaitVerify, HandshakeType::CertificateVerify) => {
                let cv = CertificateVerify::parse(&msg.body)?;
                if !VERIFY_SCHEMES.contains(&cv.scheme) {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                        "signature scheme not offered",
                    )));
                }
                let key = hs
                    .peer_key
                    .as_ref()
                    .ok_or(Error::Internal(Internal::Crypto))?;
                key.verify(cv.scheme, &hs.transcript, &cv.signature)?;
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                hs.step = Step::ServerWaitFinished;
                Ok(())
            }
            (Step::ServerWaitFinished, HandshakeType::Finished) => {
                let expected = hs.finished(true)?;
                if Finished::parse(&msg.body)?.verify_data != expected {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::BadFinished));
                }
                hs.record(msg.msg_type, msg.message_seq, &msg.body);
                let verify_data = hs.finished(false)?.to_vec();
                self.flight.start();
                self.flight.push(FlightMessage::ChangeCipherSpec);
                hs.push(&mut self.flight, 1, HandshakeType::Finished, verify_data);
                hs.step = Step::Done;
                self.session = Some(session_of(hs)?);
                self.records.start_writing_epoch1();
                // RFC 6347 §4.2.4: the last flight is not retransmitted on a timer, only when
                // the client repeats its own.
                self.send_flight(now, true);
                self.timer.stop();
                self.handshake_complete();
                Ok(())
            }
            (Step::Done, _) => Ok(()),
            _ => Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "out of order in the server handshake",
            ))),
        }
    }

    /// HMAC over what identifies this ClientHello: the client's address and the hello's own
    /// fixed fields (RFC 6347 §4.2.1 suggests exactly this construction).
    fn cookie(&self, dgram: &Datagram<'_>, ch: &ClientHello) -> Vec<u8> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.cookie_secret);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(dgram.source.to_string().as_bytes());
        ctx.update(&ch.random);
        ctx.update(&ch.session_id);
        for s in &ch.cipher_suites {
            ctx.update(&s.to_u16().to_be_bytes());
        }
        ctx.update(&ch.compression_methods);
        ctx.sign().as_ref()[..COOKIE_LEN].to_vec()
    }

    /// Answers a cookieless ClientHello without keeping any state for it.
    fn hello_verify_request(&mut self, dgram: &Datagram<'_>, message_seq: u16, cookie: Vec<u8>) {
        if self.stateless_out.len() >= super::endpoint::MAX_STATELESS {
            return;
        }
        let mut body = Vec::with_capacity(3 + cookie.len());
        // RFC 6347 §4.2.1: HelloVerifyRequest carries DTLS 1.0 whatever is negotiated later.
        let hvr = HelloVerifyRequest {
            server_version: Version::Dtls10,
            cookie,
        };
        if hvr.write(&mut body).is_err() {
            return;
        }
        let header =
            HandshakeHeader::whole(HandshakeType::HelloVerifyRequest, message_seq, body.len());
        let mut out = vec![0u8; 13 + 12 + body.len()];
        // A throwaway record layer: epoch 0 and no state worth keeping. RFC 6347 §4.2.1: the
        // HelloVerifyRequest carries the ClientHello's record sequence number.
        let mut layer = RecordLayer::new();
        layer.bump_epoch0_seq(self.record_seq);
        if let Ok(n) = layer.seal(
            0,
            ContentType::Handshake,
            &[&header.to_bytes(), &body],
            &mut out,
        ) {
            out.truncate(n);
            self.stateless_out.push_back(Stateless {
                source: dgram.destination,
                destination: dgram.source,
                bytes: out,
            });
        }
    }

    /// ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone.
    fn server_first_flight(
        &mut self,
        now: Instant,
        ch: &ClientHello,
        msg: &Complete,
    ) -> Result<(), Error> {
        // DTLS versions count down (1.0 = 0xfeff, 1.2 = 0xfefd); a client that cannot do 1.2
        // is refused, one that can do more gets 1.2.
        let v = ch.client_version.to_u16();
        if v > Version::Dtls12.to_u16() || v < 0xfe00 {
            return Err(Error::PeerIncompatible(PeerIncompatible::NoCommonVersion(
                v,
            )));
        }
        if !ch.compression_methods.contains(&0) {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "no null compression",
            )));
        }
        let ext = &ch.extensions;
        if !ext.has(types::EXTENDED_MASTER_SECRET) {
            return Err(Error::PeerIncompatible(
                PeerIncompatible::ExtendedMasterSecretRequired,
            ));
        }
        if let Some(Extension::RenegotiationInfo(data)) = ext.get(types::RENEGOTIATION_INFO)
            && !data.is_empty()
        {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "renegotiation_info not empty",
            )));
        }
        // Our identity is ECDSA: only ECDSA suites, in our order of preference.
        let suite = self
            .config
            .cipher_suites
            .iter()
            .copied()
            .find(|s| {
                s.is_supported()
                    && s.signature_kind() == SignatureKind::Ecdsa
                    && ch.cipher_suites.contains(s)
            })
            .ok_or(Error::PeerIncompatible(
                PeerIncompatible::NoCommonCipherSuite,
            ))?;
        // RFC 8422 §4: without supported_groups, assume the client takes what we pick.
        let group = match ext.supported_groups() {
            Some(theirs) => self
                .config
                .groups
                .iter()
                .copied()
                .find(|g| g.is_supported() && theirs.contains(g)),
            None => Some(NamedGroup::Secp256r1),
        }
        .ok_or(Error::PeerIncompatible(PeerIncompatible::NoCommonGroup))?;
        // RFC 5246 §7.4.1.4.1: without signature_algorithms only SHA-1 would be allowed.
        let scheme = self.identity.scheme();
        if !ext
            .signature_algorithms()
            .is_some_and(|s| s.contains(&scheme))
        {
            return Err(Error::PeerIncompatible(
                PeerIncompatible::NoCommonSignatureScheme,
            ));
        }
        let srtp = ext.srtp_profiles().and_then(|theirs| {
            self.config
                .srtp_profiles
                .iter()
                .copied()
                .find(|p| p.key_and_salt_len().is_some() && theirs.contains(p))
        });

        let Some(hs) = self.hs.as_mut() else {
            return Err(Error::Internal(Internal::Crypto));
        };
        hs.client_random = ch.random;
        self.rng.fill(&mut hs.server_random);
        // RFC 8446 §4.1.3: a server that speaks 1.3 and negotiates 1.2 MUST end its random
        // with the downgrade sentinel.
        if self.config.versions.allows_13() {
            hs.server_random[24..].copy_from_slice(&DOWNGRADE_12);
        }
        hs.suite = Some(suite);
        hs.srtp = srtp;
        // Our messages continue from the client's message_seq (RFC 6347 §4.2.2).
        hs.send_seq = msg.message_seq;
        hs.transcript.clear();
        hs.record(msg.msg_type, msg.message_seq, &msg.body);

        let mut extensions = Vec::new();
        if ext.has(types::RENEGOTIATION_INFO)
            || ch.cipher_suites.iter().any(|s| s.to_u16() == 0x00ff)
        {
            extensions.push(Extension::RenegotiationInfo(Vec::new()));
        }
        extensions.push(Extension::ExtendedMasterSecret);
        if ext.has(types::EC_POINT_FORMATS) {
            extensions.push(Extension::EcPointFormats(vec![POINT_FORMAT_UNCOMPRESSED]));
        }
        if let Some(p) = srtp {
            extensions.push(Extension::UseSrtp {
                profiles: vec![p],
                mki: Vec::new(),
            });
        }
        // No supported_groups in a TLS 1.2 ServerHello (RFC 8422 §5.2 has none to send).
        let sh = ServerHello {
            server_version: Version::Dtls12,
            random: hs.server_random,
            session_id: Vec::new(),
            cipher_suite: suite,
            compression_method: 0,
            extensions: Extensions(extensions),
        };
        self.flight.start();
        let mut body = Vec::with_capacity(128);
        sh.write(&mut body)?;
        hs.push(&mut self.flight, 0, HandshakeType::ServerHello, body);

        let mut body = Vec::with_capacity(600);
        CertificateMsg {
            chain: vec![self.identity.certificate_der().to_vec()],
        }
        .write(&mut body)?;
        hs.push(&mut self.flight, 0, HandshakeType::Certificate, body);

        let share = KeyShare::generate(group)?;
        let params = ServerKeyExchange::params_of(group, share.public())?;
        let mut signed = Vec::with_capacity(64 + params.len());
        signed.extend_from_slice(&hs.client_random);
        signed.extend_from_slice(&hs.server_random);
        signed.extend_from_slice(&params);
        let ske = ServerKeyExchange {
            group: share.group(),
            public: share.public().to_vec(),
            scheme,
            signature: self.identity.sign(&signed)?,
        };
        hs.key_share = Some(share);
        let mut body = Vec::with_capacity(200);
        ske.write(&mut body)?;
        hs.push(&mut self.flight, 0, HandshakeType::ServerKeyExchange, body);

        let mut body = Vec::with_capacity(16);
        CertificateRequest {
            certificate_types: vec![CERT_TYPE_ECDSA_SIGN, CERT_TYPE_RSA_SIGN],
            schemes: VERIFY_SCHEMES.to_vec(),
            authorities: Vec::new(),
        }
        .write(&mut body)?;
        hs.push(&mut self.flight, 0, HandshakeType::CertificateRequest, body);
        hs.push(
            &mut self.flight,
            0,
            HandshakeType::ServerHelloDone,
            Vec::new(),
        );
        hs.step = Step::ServerWaitCertificate;
        self.send_flight(now, true);
        Ok(())
    }
}
