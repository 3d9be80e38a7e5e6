//! The server's side of the DTLS 1.3 handshake (RFC 8446 §4 with RFC 9147 §5), always asking
//! for the client's certificate as WebRTC requires (RFC 8827 §6.5).
//!
//! A HelloRetryRequest is sent statelessly (RFC 9147 §5.1): what the server chose and the
//! hash of the first ClientHello travel in the cookie, and nothing is kept until a
//! ClientHello comes back with a valid one. The server asks for a retry when the client sent
//! no share of a group we accept, and, with `Config::hello_verify`, to prove the client's
//! address as DTLS 1.2's HelloVerifyRequest does.

use crate::dtls::error::{PeerIncompatible, PeerMisbehaved};
use std::time::Instant;

use super::super::Error;
use super::super::crypto::CipherSuite;
use super::super::endpoint::{Endpoint, MAX_STATELESS, Stateless};
use super::super::extensions::{Extension, Extensions};
use super::super::handshake::{ClientHello, Complete, HandshakeHeader, HandshakeType, ServerHello};
use super::super::record::{ContentType, RecordLayer, Version};
use super::common::{
    VERIFY_SCHEMES13, check_certificate_verify, check_finished, ext_data, inner_extensions,
    our_certificate, our_certificate_verify, our_finished, write_encrypted_extensions,
};
use super::conn::{
    AppSecrets, Conn13, HsKeys, ServerFlightSent, Session13, State13, Transcript, tls_message,
};
use super::cookie::{CookieState, message_hash, open_cookie, seal_cookie};
use super::key_schedule::{EarlySecret, LabelPrefix};
use super::kx13::{Group13, server_respond};
use super::messages::{
    self, CertificateRequest13, HRR_RANDOM, KeyShareEntry, parse_client_shares, parse_versions_list,
};
use super::record::Protection;
use super::suite::Suite13;
use crate::Datagram;

/// Whether a ClientHello offers DTLS 1.3 in supported_versions.
pub(crate) fn offers_13(ch: &ClientHello) -> bool {
    ext_data(&ch.extensions, messages::types::SUPPORTED_VERSIONS)
        .and_then(|d| parse_versions_list(d).ok())
        .is_some_and(|v| v.contains(&Version::Dtls13))
}

/// What the server chose from a ClientHello.
struct Choice {
    suite: Suite13,
    group: Group13,
    /// The client sent no share of `group`: a HelloRetryRequest must ask for one.
    needs_share: bool,
}

impl Endpoint {
    /// A ClientHello that offers DTLS 1.3, to a server that speaks it.
    pub(crate) fn server13_client_hello(
        &mut self,
        now: Instant,
        ch: &ClientHello,
        msg: &Complete,
        dgram: &Datagram<'_>,
    ) -> Result<(), Error> {
        // RFC 9147 §5.3: a DTLS 1.3 ClientHello has an empty legacy_cookie.
        if !ch.cookie.is_empty() {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "legacy_cookie",
            )));
        }
        if ch.compression_methods != [0] {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "legacy_compression_methods",
            )));
        }
        let ext = &ch.extensions;
        // RFC 8446 §4.4.3 (with RFC 8446 §4.2.3): we sign with our identity's scheme, which
        // the client must accept.
        if !ext
            .signature_algorithms()
            .is_some_and(|s| s.contains(&self.identity.scheme()))
        {
            return Err(Error::PeerIncompatible(
                PeerIncompatible::NoCommonSignatureScheme,
            ));
        }
        let shares = ext_data(ext, messages::types::KEY_SHARE)
            .map(parse_client_shares)
            .transpose()?
            .unwrap_or_default();
        let cookie = ext_data(ext, messages::types::COOKIE)
            .and_then(|d| messages::parse_cookie(d).ok())
            .and_then(|c| open_cookie(&self.cookie_secret, dgram.source, &c).map(|s| (c, s)));
        let choice = match &cookie {
            Some((_, state)) => Choice {
                suite: state.suite,
                group: state.group,
                needs_share: false,
            },
            None => self.choose13(ch, &shares)?,
        };
        let Some((cookie, state)) = cookie else {
            if choice.needs_share || self.config.hello_verify {
                self.hello_retry13(ch, msg, dgram, &choice);
                return Ok(());
            }
            return self.server13_start(now, ch, msg, dgram, &choice, &shares, None);
        };
        // RFC 8446 §4.1.4: the second ClientHello must carry a share of the group we asked
        // for (or chose), and still offer the suite.
        if !ch
            .cipher_suites
            .iter()
            .any(|s| s.to_u16() == state.suite.to_u16())
        {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "second ClientHello lost the suite",
            )));
        }
        self.server13_start(now, ch, msg, dgram, &choice, &shares, Some((cookie, state)))
    }

    /// Our suite, and the group: the first of ours the client sent a share of, else the first
    /// of ours it supports (asking for its share in a retry).
    fn choose13(&self, ch: &ClientHello, shares: &[KeyShareEntry]) -> Result<Choice, Error> {
        let suite = Suite13::ALL
            .into_iter()
            .find(|s| ch.cipher_suites.iter().any(|c| c.to_u16() == s.to_u16()))
            .ok_or(Error::PeerIncompatible(
                PeerIncompatible::NoCommonCipherSuite,
            ))?;
        let ours = self.groups13();
        if let Some(group) = ours
            .iter()
            .copied()
            .find(|g| shares.iter().any(|s| s.group == *g))
        {
            return Ok(Choice {
                suite,
                group,
                needs_share: false,
            });
        }
        let supported = ch.extensions.supported_groups().unwrap_or_default();
        let group = ours
            .into_iter()
            .find(|g| supported.iter().any(|s| s.to_u16() == g.to_u16()))
            .ok_or(Error::PeerIncompatible(PeerIncompatible::NoCommonGroup))?;
        Ok(Choice {
            suite,
            group,
            needs_share: true,
        })
    }

    /// The HelloRetryRequest for `choice`, with a cookie that lets us carry on statelessly.
    fn hello_retry13(
        &mut self,
        ch: &ClientHello,
        msg: &Complete,
        dgram: &Datagram<'_>,
        choice: &Choice,
    ) {
        if self.stateless_out.len() >= MAX_STATELESS {
            return;
        }
        let hash = choice.suite.hash();
        let state = CookieState {
            suite: choice.suite,
            group: choice.group,
            group_retry: choice.needs_share,
            ch1_hash: hash
                .hash(&tls_message(HandshakeType::ClientHello, &msg.body))
                .as_ref()
                .to_vec(),
        };
        let cookie = seal_cookie(&self.cookie_secret, dgram.source, &state);
        let Ok(body) = hello_retry_body(ch, &state, &cookie) else {
            return;
        };
        let header =
            HandshakeHeader::whole(HandshakeType::ServerHello, msg.message_seq, body.len());
        let mut out = vec![0u8; 13 + 12 + body.len()];
        // A throwaway record layer, as for HelloVerifyRequest: nothing of this is kept.
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

    /// ServerHello, then EncryptedExtensions, CertificateRequest, Certificate,
    /// CertificateVerify and Finished under the handshake keys; from here on the endpoint
    /// belongs to this client.
    #[allow(clippy::too_many_arguments)]
    fn server13_start(
        &mut self,
        now: Instant,
        ch: &ClientHello,
        msg: &Complete,
        dgram: &Datagram<'_>,
        choice: &Choice,
        shares: &[KeyShareEntry],
        retried: Option<(Vec<u8>, CookieState)>,
    ) -> Result<(), Error> {
        let suite = choice.suite;
        let hash = suite.hash();
        let client_share =
            shares
                .iter()
                .find(|s| s.group == choice.group)
                .ok_or(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                    "no key_share of the selected group",
                )))?;
        let mut transcript = Transcript::default();
        transcript.keep_hash(hash);
        if let Some((cookie, state)) = &retried {
            // RFC 8446 §4.4.1: ClientHello1 stands in the transcript as its hash, followed
            // by the HelloRetryRequest, rebuilt here exactly as it was sent.
            transcript.add_raw(&message_hash(hash, &state.ch1_hash));
            transcript.add(
                HandshakeType::ServerHello,
                &hello_retry_body(ch, state, cookie)?,
            );
        }
        transcript.add(HandshakeType::ClientHello, &msg.body);
        let srtp = ch.extensions.srtp_profiles().and_then(|theirs| {
            self.config
                .srtp_profiles
                .iter()
                .copied()
                .find(|p| p.key_and_salt_len().is_some() && theirs.contains(p))
        });
        let (server_share, shared) = server_respond(choice.group, &client_share.key_exchange)?;
        let mut random = [0u8; 32];
        self.rng.fill(&mut random);
        let mut versions = Vec::new();
        codec_u16(&mut versions, Version::Dtls13.to_u16());
        let mut ks = Vec::new();
        messages::write_server_share(
            &KeyShareEntry {
                group: choice.group,
                key_exchange: server_share,
            },
            &mut ks,
        )?;
        let sh = ServerHello {
            server_version: Version::Dtls12,
            random,
            session_id: ch.session_id.clone(),
            cipher_suite: CipherSuite::from_u16(suite.to_u16()),
            compression_method: 0,
            extensions: Extensions(vec![
                Extension::Unknown {
                    typ: messages::types::SUPPORTED_VERSIONS,
                    data: versions,
                },
                Extension::Unknown {
                    typ: messages::types::KEY_SHARE,
                    data: ks,
                },
            ]),
        };
        let mut sh_body = Vec::with_capacity(1200);
        sh.write(&mut sh_body)?;
        transcript.add(HandshakeType::ServerHello, &sh_body);
        let secret = EarlySecret::new(hash, LabelPrefix::Dtls13).into_handshake(&shared)?;
        let th = transcript.hash(hash);
        let mut keys = HsKeys {
            suite,
            client: secret.client_traffic(&th)?,
            server: secret.server_traffic(&th)?,
            secret,
            transcript,
        };
        // Our messages continue from the client's message_seq (RFC 9147 §5.2).
        let mut c = Box::new(Conn13::new(
            State13::Closed,
            msg.message_seq.wrapping_add(1),
            msg.message_seq,
        ));
        c.records
            .set_write(Protection::new(suite, &keys.server, 2)?)?;
        c.records
            .set_read(Protection::new(suite, &keys.client, 2)?)?;
        c.flight.start();
        c.push(0, HandshakeType::ServerHello, sh_body);

        let ee = write_encrypted_extensions(srtp)?;
        keys.transcript.add(HandshakeType::EncryptedExtensions, &ee);
        c.push(2, HandshakeType::EncryptedExtensions, ee);

        let mut cr = Vec::with_capacity(32);
        CertificateRequest13 {
            context: Vec::new(),
            extensions: inner_extensions(vec![Extension::SignatureAlgorithms(
                VERIFY_SCHEMES13.to_vec(),
            )])?,
        }
        .write(&mut cr)?;
        keys.transcript.add(HandshakeType::CertificateRequest, &cr);
        c.push(2, HandshakeType::CertificateRequest, cr);

        let cert = our_certificate(self, Vec::new())?;
        keys.transcript.add(HandshakeType::Certificate, &cert);
        c.push(2, HandshakeType::Certificate, cert);

        let cv = our_certificate_verify(self, true, &keys)?;
        keys.transcript.add(HandshakeType::CertificateVerify, &cv);
        c.push(2, HandshakeType::CertificateVerify, cv);

        let fin = our_finished(&keys.server, &keys)?;
        keys.transcript.add(HandshakeType::Finished, &fin);
        c.push(2, HandshakeType::Finished, fin);

        let th = keys.transcript_hash();
        let master = keys.secret.clone().into_master()?;
        let app = AppSecrets {
            client: master.client_traffic(&th)?,
            server: master.server_traffic(&th)?,
            exporter: master.exporter(&th)?,
        };
        c.state = State13::ServerWaitCertificate(Box::new(ServerFlightSent { keys, app, srtp }));

        self.remote = Some(dgram.source);
        self.local.get_or_insert(dgram.destination);
        self.handshake_deadline = Some(now + self.config.handshake_timeout);
        self.records.bump_epoch0_seq(self.record_seq);
        self.hs = None;
        self.flight.clear();
        self.send_flight13(&mut c, now, true);
        self.v13 = Some(c);
        Ok(())
    }

    /// One complete handshake message from the client, in the state the server is in.
    pub(crate) fn server13_message(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        msg: Complete,
    ) -> Result<(), Error> {
        use HandshakeType as T;
        let state = std::mem::replace(&mut c.state, State13::Closed);
        let epoch_ok = match msg.msg_type {
            T::ClientHello => msg.epoch == 0,
            T::KeyUpdate => msg.epoch >= 3,
            _ => msg.epoch == 2,
        };
        if !epoch_ok {
            c.state = state;
            return Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "handshake message in the wrong epoch",
            )));
        }
        c.state = match (state, msg.msg_type) {
            (State13::ServerWaitCertificate(mut s), T::Certificate) => {
                let key = self.peer_certificate13(&msg.body, &[])?;
                s.keys.transcript.add(msg.msg_type, &msg.body);
                State13::ServerWaitCertificateVerify(s, key)
            }
            (State13::ServerWaitCertificate(_), T::CertificateVerify | T::Finished) => {
                return Err(Error::PeerMisbehaved(PeerMisbehaved::NoCertificate));
            }
            (State13::ServerWaitCertificateVerify(mut s, key), T::CertificateVerify) => {
                check_certificate_verify(&key, false, &s.keys, &msg.body)?;
                s.keys.transcript.add(msg.msg_type, &msg.body);
                State13::ServerWaitFinished(s)
            }
            (State13::ServerWaitFinished(s), T::Finished) => {
                check_finished(&s.keys.client, &s.keys, &msg.body)?;
                let suite = s.keys.suite;
                c.records
                    .set_read(Protection::new(suite, &s.app.client, 3)?)?;
                c.records
                    .set_write(Protection::new(suite, &s.app.server, 3)?)?;
                c.session = Some(Session13 {
                    suite,
                    srtp: s.srtp,
                    exporter: s.app.exporter,
                    write_secret: s.app.server,
                    read_secret: s.app.client,
                });
                // The client's flight answers ours; ours needs no more sending. RFC 9147
                // §5.8.4: the client's last flight is acknowledged with an ACK, now.
                c.flight.clear();
                self.timer.stop();
                c.ack_at = Some(now);
                // Our ACKs go in epoch 3 (RFC 9147 §7: an epoch at least that of the record
                // acknowledged), so our epoch 2 can go now; the client's stays readable as
                // long as the client may repeat its flight (it gives up after the handshake
                // timeout).
                c.records.drop_previous_write();
                c.handshake_epoch_until = Some(now + self.config.handshake_timeout);
                State13::Connected
            }
            (State13::Connected, T::KeyUpdate) => {
                self.key_update_received(now, c, &msg.body)?;
                State13::Connected
            }
            (state @ State13::Closed, _) => state,
            _ => {
                return Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                    "out of order in the DTLS 1.3 server handshake",
                )));
            }
        };
        Ok(())
    }
}

fn codec_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The HelloRetryRequest body (RFC 8446 §4.1.4): a ServerHello with the special random,
/// supported_versions, the selected group when a share of it is wanted, and the cookie.
pub(crate) fn hello_retry_body(
    ch: &ClientHello,
    state: &CookieState,
    cookie: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut versions = Vec::new();
    codec_u16(&mut versions, Version::Dtls13.to_u16());
    let mut exts = vec![Extension::Unknown {
        typ: messages::types::SUPPORTED_VERSIONS,
        data: versions,
    }];
    if state.group_retry {
        let mut g = Vec::new();
        codec_u16(&mut g, state.group.to_u16());
        exts.push(Extension::Unknown {
            typ: messages::types::KEY_SHARE,
            data: g,
        });
    }
    let mut c = Vec::new();
    messages::write_cookie(cookie, &mut c)?;
    exts.push(Extension::Unknown {
        typ: messages::types::COOKIE,
        data: c,
    });
    let hrr = ServerHello {
        server_version: Version::Dtls12,
        random: HRR_RANDOM,
        session_id: ch.session_id.clone(),
        cipher_suite: CipherSuite::from_u16(state.suite.to_u16()),
        compression_method: 0,
        extensions: Extensions(exts),
    };
    let mut body = Vec::with_capacity(128);
    hrr.write(&mut body)?;
    Ok(body)
}
