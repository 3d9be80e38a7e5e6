//! The client's side of the DTLS 1.3 handshake (RFC 8446 §4 with RFC 9147 §5).
//!
//! The first ClientHello serves both versions: the DTLS 1.2 machine sends and retransmits it
//! (and answers a HelloVerifyRequest), and hands over here when a ServerHello or
//! HelloRetryRequest selects 1.3 in supported_versions.

use crate::dtls::error::{DecodeError, Internal, PeerIncompatible, PeerMisbehaved};
use std::time::Instant;

use super::super::Error;
use super::super::crypto::CipherSuite;
use super::super::endpoint::Endpoint;
use super::super::extensions::{Extension, NamedGroup, SrtpProfile, types};
use super::super::handshake::{ClientHello, Complete, HandshakeType, ServerHello};
use super::super::record::Version;
use super::common::{
    self, check_certificate_verify, check_finished, ext_data, our_certificate,
    our_certificate_verify, our_finished, parse_encrypted_extensions, parse_inner_extensions,
};
use super::conn::{ClientRetried, Conn13, HsKeys, Session13, State13, Transcript};
use super::cookie::message_hash;
use super::key_schedule::{EarlySecret, LabelPrefix};
use super::kx13::{ClientShare, Group13};
use super::messages::{
    self, CertificateRequest13, HRR_RANDOM, KeyShareEntry, parse_cookie, parse_selected_group,
    parse_selected_version, parse_server_share,
};
use super::record::Protection;
use super::suite::Suite13;

/// What a client that offered DTLS 1.3 keeps until the server chooses a version.
#[derive(Debug)]
pub(crate) struct Offer13 {
    pub(crate) shares: Vec<ClientShare>,
}

impl Endpoint {
    /// Adds the DTLS 1.3 offer to a ClientHello: the 1.3 suites, supported_versions,
    /// key_share and the hybrid group. Returns the private halves of the shares.
    pub(crate) fn offer13(&self, ch: &mut ClientHello) -> Result<Offer13, Error> {
        let mut suites: Vec<CipherSuite> = Suite13::ALL
            .iter()
            .map(|s| CipherSuite::from_u16(s.to_u16()))
            .collect();
        if self.config.versions.allows_12() {
            suites.append(&mut ch.cipher_suites);
        }
        ch.cipher_suites = suites;
        let mut versions = vec![Version::Dtls13];
        if self.config.versions.allows_12() {
            versions.push(Version::Dtls12);
        }
        // The first hello carries a share of the post-quantum hybrid browsers send first and
        // one of X25519 for servers without it; P-256 only when it is all we have (it stays
        // in supported_groups, for a HelloRetryRequest to pick).
        let ours = self.groups13();
        let mut first: Vec<Group13> = ours
            .iter()
            .copied()
            .filter(|g| *g != Group13::Secp256r1)
            .collect();
        if first.is_empty() {
            first = ours.clone();
        }
        let shares = first
            .iter()
            .map(|&g| ClientShare::generate(g))
            .collect::<Result<Vec<_>, _>>()?;
        let mut groups: Vec<NamedGroup> = ours
            .iter()
            .map(|g| NamedGroup::from_u16(g.to_u16()))
            .collect();
        if self.config.versions.allows_12() {
            groups.retain(|g| !self.config.groups.contains(g));
        }
        for ext in &mut ch.extensions.0 {
            if let Extension::SupportedGroups(list) = ext {
                if self.config.versions.allows_12() {
                    groups.extend(list.iter().copied());
                }
                *list = std::mem::take(&mut groups);
            }
        }
        let mut data = Vec::new();
        messages::write_versions_list(&versions, &mut data)?;
        ch.extensions.0.push(Extension::Unknown {
            typ: messages::types::SUPPORTED_VERSIONS,
            data,
        });
        ch.extensions.0.push(key_share_extension(&shares)?);
        Ok(Offer13 { shares })
    }

    /// The DTLS 1.3 groups we speak, most preferred first: those of `Config::groups` DTLS 1.3
    /// implements, and the hybrid ahead of them when `post_quantum` is on and X25519 is.
    pub(crate) fn groups13(&self) -> Vec<Group13> {
        let mut out = Vec::with_capacity(3);
        if self.config.post_quantum && self.config.groups.contains(&NamedGroup::X25519) {
            out.push(Group13::X25519MlKem768);
        }
        for g in &self.config.groups {
            let g = Group13::from_u16(g.to_u16());
            if matches!(g, Group13::X25519 | Group13::Secp256r1) && !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// The 1.2 machine received a ServerHello or HelloRetryRequest that selects DTLS 1.3:
    /// from here on the connection is 1.3.
    pub(crate) fn client13_take_over(&mut self, now: Instant, msg: Complete) -> Result<(), Error> {
        let mut hs = self.hs.take().ok_or(Error::Internal(Internal::Crypto))?;
        let offer =
            hs.offer13
                .take()
                .ok_or(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                    "supported_versions",
                )))?;
        let ch = hs
            .client_hello
            .take()
            .ok_or(Error::Internal(Internal::Crypto))?;
        let mut body = Vec::with_capacity(1500);
        ch.write(&mut body)?;
        let mut transcript = Transcript::default();
        transcript.add(HandshakeType::ClientHello, &body);
        let suites = offered_suites(&ch);
        // The 1.2 flight (our hello) is answered.
        self.flight.clear();
        self.timer.stop();
        let mut c = Box::new(Conn13::new(
            State13::Closed,
            msg.message_seq.wrapping_add(1),
            hs.send_seq,
        ));
        let ctx = ClientRetried {
            shares: offer.shares,
            transcript,
            suites,
            session_id: ch.session_id.clone(),
        };
        let result = ServerHello::parse(&msg.body).and_then(|sh| {
            if sh.random == HRR_RANDOM {
                self.client13_retry(now, &mut c, ctx, &ch, &sh, &msg.body)
            } else {
                self.client13_server_hello(&mut c, ctx, &sh, &msg.body)
            }
        });
        self.v13 = Some(c);
        result
    }

    /// RFC 8446 §4.1.4: a HelloRetryRequest. ClientHello1 becomes message_hash in the
    /// transcript, and ClientHello2 carries the cookie and, when asked, a share of the group
    /// the server selected.
    fn client13_retry(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        ctx: ClientRetried,
        ch: &ClientHello,
        hrr: &ServerHello,
        hrr_body: &[u8],
    ) -> Result<(), Error> {
        let suite = check_hello_common(&ctx, hrr)?;
        let cookie = ext_data(&hrr.extensions, messages::types::COOKIE)
            .map(parse_cookie)
            .transpose()?;
        let selected = ext_data(&hrr.extensions, messages::types::KEY_SHARE)
            .map(parse_selected_group)
            .transpose()?;
        let mut shares = ctx.shares;
        if let Some(g) = selected {
            // RFC 8446 §4.2.8: the group must be one we offered in supported_groups and not
            // one we already sent a share for.
            if !self.groups13().contains(&g) || shares.iter().any(|s| s.group() == g) {
                return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                    "HelloRetryRequest group",
                )));
            }
            shares = vec![ClientShare::generate(g)?];
        }
        // RFC 8446 §4.1.4: a HelloRetryRequest that would not change the ClientHello is an
        // illegal_parameter.
        if cookie.is_none() && selected.is_none() {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "HelloRetryRequest changes nothing",
            )));
        }
        let hash = suite.hash();
        let mut transcript = Transcript::default();
        transcript.keep_hash(hash);
        transcript.add_raw(&message_hash(hash, &ctx.transcript.hash(hash)));
        transcript.add(HandshakeType::ServerHello, hrr_body);
        let mut ch2 = ch.clone();
        ch2.cookie.clear();
        ch2.extensions.0.retain(|e| {
            e.typ() != messages::types::KEY_SHARE && e.typ() != messages::types::COOKIE
        });
        ch2.extensions.0.push(key_share_extension(&shares)?);
        if let Some(c) = cookie {
            let mut data = Vec::new();
            messages::write_cookie(&c, &mut data)?;
            ch2.extensions.0.push(Extension::Unknown {
                typ: messages::types::COOKIE,
                data,
            });
        }
        let mut body = Vec::with_capacity(1500);
        ch2.write(&mut body)?;
        transcript.add(HandshakeType::ClientHello, &body);
        c.state = State13::ClientWaitServerHello(Box::new(ClientRetried {
            shares,
            transcript,
            suites: vec![suite],
            session_id: ctx.session_id,
        }));
        c.flight.start();
        c.push(0, HandshakeType::ClientHello, body);
        self.send_flight13(c, now, true);
        Ok(())
    }

    /// The ServerHello: the shared secret, the handshake traffic keys (epoch 2).
    pub(crate) fn client13_server_hello(
        &mut self,
        c: &mut Conn13,
        ctx: ClientRetried,
        sh: &ServerHello,
        body: &[u8],
    ) -> Result<(), Error> {
        let suite = check_hello_common(&ctx, sh)?;
        let share = ext_data(&sh.extensions, messages::types::KEY_SHARE)
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "ServerHello without key_share",
            )))
            .and_then(parse_server_share)?;
        let ours =
            ctx.shares
                .iter()
                .find(|s| s.group() == share.group)
                .ok_or(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                    "key_share group not offered",
                )))?;
        let shared = ours.finish(&share.key_exchange)?;
        let mut transcript = ctx.transcript;
        transcript.keep_hash(suite.hash());
        transcript.add(HandshakeType::ServerHello, body);
        let secret = EarlySecret::new(suite.hash(), LabelPrefix::Dtls13).into_handshake(&shared)?;
        let th = transcript.hash(suite.hash());
        let keys = HsKeys {
            suite,
            client: secret.client_traffic(&th)?,
            server: secret.server_traffic(&th)?,
            secret,
            transcript,
        };
        c.records
            .set_read(Protection::new(suite, &keys.server, 2)?)?;
        c.records
            .set_write(Protection::new(suite, &keys.client, 2)?)?;
        // Our hello is answered.
        c.flight.clear();
        self.timer.stop();
        c.state = State13::ClientWaitEncryptedExtensions(Box::new(keys));
        Ok(())
    }

    /// One complete handshake message from the server, in the state the client is in.
    pub(crate) fn client13_message(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        msg: Complete,
    ) -> Result<(), Error> {
        use HandshakeType as T;
        let state = std::mem::replace(&mut c.state, State13::Closed);
        let epoch_ok = match msg.msg_type {
            T::ServerHello => msg.epoch == 0,
            T::KeyUpdate | T::NewSessionTicket => msg.epoch >= 3,
            _ => msg.epoch == 2,
        };
        if !epoch_ok {
            c.state = state;
            return Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "handshake message in the wrong epoch",
            )));
        }
        c.state = match (state, msg.msg_type) {
            (State13::ClientWaitServerHello(ctx), T::ServerHello) => {
                let sh = ServerHello::parse(&msg.body)?;
                if sh.random == HRR_RANDOM {
                    // RFC 8446 §4.1.4: a second HelloRetryRequest is an unexpected_message.
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                        "second HelloRetryRequest",
                    )));
                }
                // The hello sets the next state itself.
                return self.client13_server_hello(c, *ctx, &sh, &msg.body);
            }
            (State13::ClientWaitEncryptedExtensions(mut keys), T::EncryptedExtensions) => {
                let exts = parse_encrypted_extensions(&msg.body)?;
                let srtp = self.srtp_answer(&exts)?;
                keys.transcript.add(msg.msg_type, &msg.body);
                State13::ClientWaitCertificateRequest { keys, srtp }
            }
            (State13::ClientWaitCertificateRequest { mut keys, srtp }, T::CertificateRequest) => {
                let req = CertificateRequest13::parse(&msg.body)?;
                let exts = parse_inner_extensions(&req.extensions)?;
                // RFC 8446 §4.3.2: signature_algorithms is required; we can only sign with
                // our identity's scheme.
                let schemes =
                    exts.signature_algorithms()
                        .ok_or(Error::Decode(DecodeError::Malformed(
                            "CertificateRequest without signature_algorithms",
                        )))?;
                if !schemes.contains(&self.identity.scheme()) {
                    return Err(Error::PeerIncompatible(
                        PeerIncompatible::NoCommonSignatureScheme,
                    ));
                }
                keys.transcript.add(msg.msg_type, &msg.body);
                State13::ClientWaitCertificate {
                    keys,
                    srtp,
                    request_context: Some(req.context),
                }
            }
            (State13::ClientWaitCertificateRequest { mut keys, srtp }, T::Certificate) => {
                let peer_key = self.peer_certificate13(&msg.body, &[])?;
                keys.transcript.add(msg.msg_type, &msg.body);
                State13::ClientWaitCertificateVerify {
                    keys,
                    srtp,
                    request_context: None,
                    peer_key,
                }
            }
            (
                State13::ClientWaitCertificate {
                    mut keys,
                    srtp,
                    request_context,
                },
                T::Certificate,
            ) => {
                let peer_key = self.peer_certificate13(&msg.body, &[])?;
                keys.transcript.add(msg.msg_type, &msg.body);
                State13::ClientWaitCertificateVerify {
                    keys,
                    srtp,
                    request_context,
                    peer_key,
                }
            }
            (
                State13::ClientWaitCertificateVerify {
                    mut keys,
                    srtp,
                    request_context,
                    peer_key,
                },
                T::CertificateVerify,
            ) => {
                check_certificate_verify(&peer_key, true, &keys, &msg.body)?;
                keys.transcript.add(msg.msg_type, &msg.body);
                State13::ClientWaitFinished {
                    keys,
                    srtp,
                    request_context,
                }
            }
            (
                State13::ClientWaitFinished {
                    keys,
                    srtp,
                    request_context,
                },
                T::Finished,
            ) => {
                self.client13_finished(now, c, *keys, srtp, request_context, &msg.body)?;
                State13::Connected
            }
            (State13::Connected, T::KeyUpdate) => {
                self.key_update_received(now, c, &msg.body)?;
                State13::Connected
            }
            // RFC 8446 §4.6.1: tickets are for resumption, which WebRTC does not use.
            (State13::Connected, T::NewSessionTicket) => State13::Connected,
            (state @ State13::Closed, _) => state,
            _ => {
                return Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                    "out of order in the DTLS 1.3 client handshake",
                )));
            }
        };
        Ok(())
    }

    /// The server's Finished: our last flight, the application keys (epoch 3), connected.
    fn client13_finished(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        mut keys: HsKeys,
        srtp: Option<SrtpProfile>,
        request_context: Option<Vec<u8>>,
        body: &[u8],
    ) -> Result<(), Error> {
        check_finished(&keys.server, &keys, body)?;
        keys.transcript.add(HandshakeType::Finished, body);
        let th = keys.transcript_hash();
        let master = keys.secret.clone().into_master()?;
        let (client_ap, server_ap) = (master.client_traffic(&th)?, master.server_traffic(&th)?);
        let exporter = master.exporter(&th)?;
        c.flight.start();
        c.acks = Default::default();
        c.ack_at = None;
        if let Some(context) = request_context {
            let cert = our_certificate(self, context)?;
            common::add(&mut keys, HandshakeType::Certificate, &cert);
            c.push(2, HandshakeType::Certificate, cert);
            let cv = our_certificate_verify(self, false, &keys)?;
            common::add(&mut keys, HandshakeType::CertificateVerify, &cv);
            c.push(2, HandshakeType::CertificateVerify, cv);
        }
        let fin = our_finished(&keys.client, &keys)?;
        c.push(2, HandshakeType::Finished, fin);
        let suite = keys.suite;
        c.records.set_read(Protection::new(suite, &server_ap, 3)?)?;
        c.records
            .set_write(Protection::new(suite, &client_ap, 3)?)?;
        c.session = Some(Session13 {
            suite,
            srtp,
            exporter,
            write_secret: client_ap,
            read_secret: server_ap,
        });
        c.final_flight_until = Some(now + self.config.handshake_timeout);
        self.send_flight13(c, now, true);
        Ok(())
    }

    /// The use_srtp answer in EncryptedExtensions: RFC 5764 §4.1.1, exactly one profile we
    /// offered and our (empty) MKI.
    fn srtp_answer(
        &self,
        exts: &super::super::extensions::Extensions,
    ) -> Result<Option<SrtpProfile>, Error> {
        Ok(match exts.get(types::USE_SRTP) {
            Some(Extension::UseSrtp { profiles, mki }) => match profiles.as_slice() {
                [p] if self.config.srtp_profiles.contains(p) && mki.is_empty() => Some(*p),
                _ => {
                    return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                        "use_srtp",
                    )));
                }
            },
            _ => None,
        })
    }
}

/// The 1.3 suites a ClientHello offered.
fn offered_suites(ch: &ClientHello) -> Vec<Suite13> {
    ch.cipher_suites
        .iter()
        .map(|s| Suite13::from_u16(s.to_u16()))
        .filter(|s| s.aead().is_some())
        .collect()
}

/// What a ServerHello and a HelloRetryRequest must both get right (RFC 8446 §4.1.3, RFC 9147
/// §5.4): the legacy fields, the selected version, a suite we offered.
fn check_hello_common(ctx: &ClientRetried, sh: &ServerHello) -> Result<Suite13, Error> {
    if sh.server_version != Version::Dtls12 {
        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "legacy_version",
        )));
    }
    let v = ext_data(&sh.extensions, messages::types::SUPPORTED_VERSIONS)
        .ok_or(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "supported_versions",
        )))
        .and_then(parse_selected_version)?;
    if v != Version::Dtls13 {
        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "selected_version",
        )));
    }
    if sh.session_id != ctx.session_id {
        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "legacy_session_id_echo",
        )));
    }
    if sh.compression_method != 0 {
        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "legacy_compression_method",
        )));
    }
    let suite = Suite13::from_u16(sh.cipher_suite.to_u16());
    if !ctx.suites.contains(&suite) {
        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "cipher suite not offered",
        )));
    }
    Ok(suite)
}

fn key_share_extension(shares: &[ClientShare]) -> Result<Extension, Error> {
    let entries: Vec<KeyShareEntry> = shares
        .iter()
        .map(|s| KeyShareEntry {
            group: s.group(),
            key_exchange: s.public().to_vec(),
        })
        .collect();
    let mut data = Vec::new();
    messages::write_client_shares(&entries, &mut data)?;
    Ok(Extension::Unknown {
        typ: messages::types::KEY_SHARE,
        data,
    })
}

/// Whether a 1.2 ServerHello random carries the downgrade sentinel (RFC 8446 §4.1.3): a
/// client that offered 1.3 and gets 1.2 from a 1.3-capable server is being downgraded.
pub(crate) fn is_downgrade(random: &[u8; 32]) -> bool {
    random[24..] == common::DOWNGRADE_12
}
