//! What both DTLS 1.3 roles do alike: reading the 1.3 extensions out of a hello, the bodies
//! of EncryptedExtensions and CertificateRequest, and checking the peer's Certificate,
//! CertificateVerify and Finished.

use crate::dtls::error::{DecodeError, PeerMisbehaved};
use aws_lc_rs::constant_time;

use super::super::Error;
use super::super::cert::x509::{self, PeerKey};
use super::super::codec;
use super::super::endpoint::Endpoint;
use super::super::extensions::{Extension, Extensions, SignatureScheme, SrtpProfile};
use super::super::handshake::{CertificateVerify, HandshakeType};
use super::conn::HsKeys;
use super::key_schedule::TrafficSecret;
use super::messages::{Certificate13, CertificateEntry, certificate_verify_content};
use crate::wire::Reader;

/// The schemes a DTLS 1.3 CertificateVerify may use with the keys WebRTC peers have (RFC 8446
/// §4.4.3: RSA needs PSS there, which we do not verify, so no RSA).
pub(crate) const VERIFY_SCHEMES13: [SignatureScheme; 3] = [
    SignatureScheme::EcdsaSecp256r1Sha256,
    SignatureScheme::EcdsaSecp384r1Sha384,
    SignatureScheme::Ed25519,
];

/// RFC 8446 §4.1.3: the last eight bytes of a 1.2 ServerHello random from a server that can do
/// 1.3 (the TLS 1.2 sentinel, "DOWNGRD" and 01).
pub(crate) const DOWNGRADE_12: [u8; 8] = [0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01];

/// The raw body of extension `typ`, when present.
pub(crate) fn ext_data(exts: &Extensions, typ: u16) -> Option<&[u8]> {
    match exts.get(typ) {
        Some(Extension::Unknown { data, .. }) => Some(data),
        _ => None,
    }
}

/// Parses an extension list given without its length prefix (as
/// [`super::messages::CertificateRequest13`] keeps it).
pub(crate) fn parse_inner_extensions(inner: &[u8]) -> Result<Extensions, Error> {
    let mut framed = Vec::with_capacity(2 + inner.len());
    codec::bytes(&mut framed, 2, inner)?;
    let mut r = Reader::new(&framed);
    let exts = Extensions::parse(&mut r)?;
    codec::finish(&r, "extensions")?;
    Ok(exts)
}

/// An extension list's bytes without the length prefix.
pub(crate) fn inner_extensions(exts: Vec<Extension>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    Extensions(exts).write(&mut out)?;
    Ok(out.get(2..).unwrap_or_default().to_vec())
}

/// EncryptedExtensions: `Extension extensions<0..2^16-1>` (RFC 8446 §4.3.1), always with its
/// length, even when empty.
pub(crate) fn write_encrypted_extensions(srtp: Option<SrtpProfile>) -> Result<Vec<u8>, Error> {
    let mut exts = Vec::new();
    if let Some(p) = srtp {
        exts.push(Extension::UseSrtp {
            profiles: vec![p],
            mki: Vec::new(),
        });
    }
    let inner = inner_extensions(exts)?;
    let mut out = Vec::with_capacity(2 + inner.len());
    codec::bytes(&mut out, 2, &inner)?;
    Ok(out)
}

pub(crate) fn parse_encrypted_extensions(body: &[u8]) -> Result<Extensions, Error> {
    let mut r = Reader::new(body);
    if r.is_empty() {
        return Err(Error::Decode(DecodeError::Malformed("EncryptedExtensions")));
    }
    let exts = Extensions::parse(&mut r)?;
    codec::finish(&r, "EncryptedExtensions")?;
    Ok(exts)
}

/// Our Certificate message: the request's context and our one certificate.
pub(crate) fn our_certificate(endpoint: &Endpoint, context: Vec<u8>) -> Result<Vec<u8>, Error> {
    let mut body = Vec::with_capacity(600);
    Certificate13 {
        context,
        entries: vec![CertificateEntry {
            cert_data: endpoint.identity.certificate_der().to_vec(),
            extensions: Vec::new(),
        }],
    }
    .write(&mut body)?;
    Ok(body)
}

/// Our CertificateVerify over the transcript so far (RFC 8446 §4.4.3).
pub(crate) fn our_certificate_verify(
    endpoint: &Endpoint,
    server: bool,
    keys: &HsKeys,
) -> Result<Vec<u8>, Error> {
    let content = certificate_verify_content(server, &keys.transcript_hash());
    let mut body = Vec::with_capacity(80);
    CertificateVerify {
        scheme: endpoint.identity.scheme(),
        signature: endpoint.identity.sign(&content)?,
    }
    .write(&mut body)?;
    Ok(body)
}

/// Our Finished with `secret` (ours) over the transcript so far (RFC 8446 §4.4.4).
pub(crate) fn our_finished(secret: &TrafficSecret, keys: &HsKeys) -> Result<Vec<u8>, Error> {
    Ok(secret
        .finished(&keys.transcript_hash())?
        .as_bytes()
        .to_vec())
}

/// Checks the peer's Finished, made with `secret` (the peer's), over the transcript so far.
pub(crate) fn check_finished(
    secret: &TrafficSecret,
    keys: &HsKeys,
    body: &[u8],
) -> Result<(), Error> {
    let expected = secret.finished(&keys.transcript_hash())?;
    constant_time::verify_slices_are_equal(expected.as_bytes(), body)
        .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::BadFinished))
}

impl Endpoint {
    /// The peer's Certificate: its end-entity certificate is kept and checked against the
    /// fingerprints from signaling (RFC 8122 §5), and its key returned. `context` is what the
    /// message must echo (RFC 8446 §4.4.2: the request's context; empty from a server).
    pub(crate) fn peer_certificate13(
        &mut self,
        body: &[u8],
        context: &[u8],
    ) -> Result<PeerKey, Error> {
        let msg = Certificate13::parse(body)?;
        if msg.context != context {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "certificate_request_context",
            )));
        }
        // RFC 8827 §6.5: WebRTC requires the peer's certificate.
        let der = msg
            .end_entity()
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::NoCertificate))?
            .to_vec();
        let key = x509::parse(&der)?.key;
        self.peer_certificate = Some(der);
        self.check_peer_certificate()?;
        Ok(key)
    }
}

/// Verifies the peer's CertificateVerify over the transcript so far.
pub(crate) fn check_certificate_verify(
    key: &PeerKey,
    server: bool,
    keys: &HsKeys,
    body: &[u8],
) -> Result<(), Error> {
    let cv = CertificateVerify::parse(body)?;
    // RFC 8446 §4.4.3: the scheme must be one we offered in signature_algorithms.
    if !VERIFY_SCHEMES13.contains(&cv.scheme) {
        return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
            "signature scheme not offered",
        )));
    }
    let content = certificate_verify_content(server, &keys.transcript_hash());
    key.verify(cv.scheme, &content, &cv.signature)
}

/// Handshake messages the transcript takes as they are.
pub(crate) fn add(keys: &mut HsKeys, msg_type: HandshakeType, body: &[u8]) {
    keys.transcript.add(msg_type, body);
}
