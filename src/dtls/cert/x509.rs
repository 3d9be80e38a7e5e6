//! The X.509 we need (RFC 5280 §4.1): writing one self-signed ECDSA P-256 certificate, and
//! reading a peer's certificate far enough to get its public key.
//!
//! WebRTC authenticates a certificate by its fingerprint alone (RFC 8827 §6.5, RFC 8122), so
//! neither chains, names, validity nor extensions are checked: only the structure and the
//! SubjectPublicKeyInfo matter.

use crate::dtls::error::PeerMisbehaved;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::super::Error;
use super::super::extensions::SignatureScheme;
use super::der::{self, Der};

// Object identifiers, as DER content bytes.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// A fixed validity: the sans-IO core has no clock, and WebRTC peers do not check validity.
/// notAfter is RFC 5280 §4.1.2.5's "no well-defined expiration date".
const NOT_BEFORE_UTC: &[u8] = b"250101000000Z";
const NOT_AFTER_GENERALIZED: &[u8] = b"99991231235959Z";

/// The to-be-signed part of a self-signed certificate for an uncompressed P-256 point.
pub(crate) fn self_signed_tbs(
    serial: &[u8; 16],
    common_name: &str,
    public_point: &[u8],
) -> Vec<u8> {
    let alg = der::sequence(&[&der::wrap(der::OID, OID_ECDSA_SHA256)]);
    let name = der::sequence(&[&der::wrap(
        der::SET,
        &der::sequence(&[
            &der::wrap(der::OID, OID_COMMON_NAME),
            &der::wrap(der::UTF8_STRING, common_name.as_bytes()),
        ]),
    )]);
    let validity = der::sequence(&[
        &der::wrap(der::UTC_TIME, NOT_BEFORE_UTC),
        &der::wrap(der::GENERALIZED_TIME, NOT_AFTER_GENERALIZED),
    ]);
    let spki = der::sequence(&[
        &der::sequence(&[
            &der::wrap(der::OID, OID_EC_PUBLIC_KEY),
            &der::wrap(der::OID, OID_P256),
        ]),
        &der::bit_string(public_point),
    ]);
    // RFC 5280 §4.1.2.2: serials are positive and at most 20 bytes; clearing the top bit keeps
    // 16 random bytes positive without a padding byte.
    let mut serial = *serial;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    der::sequence(&[
        &der::wrap(der::CONTEXT_0, &der::unsigned_integer(&[2])), // v3
        &der::unsigned_integer(&serial),
        &alg,
        &name,
        &validity,
        &name,
        &spki,
    ])
}

/// Wraps a TBS and its ECDSA-SHA256 signature into a Certificate.
pub(crate) fn assemble(tbs: &[u8], signature: &[u8]) -> Vec<u8> {
    let alg = der::sequence(&[&der::wrap(der::OID, OID_ECDSA_SHA256)]);
    der::sequence(&[tbs, &alg, &der::bit_string(signature)])
}

/// A public key from a peer's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerKey {
    /// An uncompressed P-256 point.
    EcdsaP256(Vec<u8>),
    /// An uncompressed P-384 point.
    EcdsaP384(Vec<u8>),
    /// 32 bytes.
    Ed25519(Vec<u8>),
    /// A DER `RSAPublicKey`.
    Rsa(Vec<u8>),
}

/// The parts of a certificate the handshake needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedCertificate<'a> {
    pub(crate) tbs: &'a [u8],
    pub(crate) signature_algorithm: &'a [u8],
    pub(crate) signature: &'a [u8],
    pub(crate) key: PeerKey,
}

/// Parses a DER certificate: the outer structure, then the TBS up to the
/// SubjectPublicKeyInfo; what follows it (unique ids, extensions) is not interpreted.
pub(crate) fn parse(cert: &[u8]) -> Result<ParsedCertificate<'_>, Error> {
    let mut outer = Der::new(cert);
    let mut body = outer.sequence()?;
    outer.finish()?;
    let tbs = body.expect_whole(der::SEQUENCE)?;
    let signature_algorithm = body.expect(der::SEQUENCE)?;
    let signature = body.bit_string()?;
    body.finish()?;

    let mut t = Der::new(tbs).sequence()?;
    if t.peek_tag() == Some(der::CONTEXT_0) {
        t.any()?; // version
    }
    t.expect(der::INTEGER)?; // serial
    t.expect(der::SEQUENCE)?; // signature algorithm
    t.expect(der::SEQUENCE)?; // issuer
    t.expect(der::SEQUENCE)?; // validity
    t.expect(der::SEQUENCE)?; // subject
    let key = parse_spki(t.expect(der::SEQUENCE)?)?;
    Ok(ParsedCertificate {
        tbs,
        signature_algorithm,
        signature,
        key,
    })
}

fn parse_spki(spki: &[u8]) -> Result<PeerKey, Error> {
    let mut s = Der::new(spki);
    let mut alg = s.sequence()?;
    let key = s.bit_string()?;
    s.finish()?;
    let oid = alg.expect(der::OID)?;
    let bad = |why| Error::PeerMisbehaved(PeerMisbehaved::BadCertificate(why));
    let parsed = if oid == OID_EC_PUBLIC_KEY {
        let curve = alg.expect(der::OID)?;
        // RFC 8422 §5.1.2: only uncompressed points.
        if key.first() != Some(&4) {
            return Err(bad("compressed or invalid EC point"));
        }
        match curve {
            c if c == OID_P256 && key.len() == 65 => PeerKey::EcdsaP256(key.to_vec()),
            c if c == OID_P384 && key.len() == 97 => PeerKey::EcdsaP384(key.to_vec()),
            _ => return Err(bad("unsupported curve")),
        }
    } else if oid == OID_RSA {
        if !alg.is_empty() {
            alg.expect(der::NULL)?;
        }
        PeerKey::Rsa(key.to_vec())
    } else if oid == OID_ED25519 {
        if key.len() != 32 {
            return Err(bad("Ed25519 key length"));
        }
        PeerKey::Ed25519(key.to_vec())
    } else {
        return Err(bad("unsupported public key algorithm"));
    };
    alg.finish()?;
    Ok(parsed)
}

impl PeerKey {
    /// Whether this key can produce signatures of `scheme` (TLS 1.2 pairs the hash with the
    /// key type, not with the curve).
    pub(crate) fn algorithm(
        &self,
        scheme: SignatureScheme,
    ) -> Option<&'static dyn VerificationAlgorithm> {
        use SignatureScheme as S;
        Some(match (self, scheme) {
            (Self::EcdsaP256(_), S::EcdsaSecp256r1Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (Self::EcdsaP256(_), S::EcdsaSecp384r1Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
            (Self::EcdsaP384(_), S::EcdsaSecp256r1Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
            (Self::EcdsaP384(_), S::EcdsaSecp384r1Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (Self::Ed25519(_), S::Ed25519) => &signature::ED25519,
            (Self::Rsa(_), S::RsaPkcs1Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return None,
        })
    }

    /// Whether the key is RSA (it can only be used with the ECDHE_RSA suite).
    pub(crate) fn is_rsa(&self) -> bool {
        matches!(self, Self::Rsa(_))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::EcdsaP256(k) | Self::EcdsaP384(k) | Self::Ed25519(k) | Self::Rsa(k) => k,
        }
    }

    /// Verifies `signature` over `message` with `scheme`.
    pub(crate) fn verify(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        let alg = self.algorithm(scheme).ok_or(Error::PeerMisbehaved(
            PeerMisbehaved::IllegalParameter("signature scheme does not fit the key"),
        ))?;
        UnparsedPublicKey::new(alg, self.bytes())
            .verify(message, signature)
            .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::BadSignature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_never_panic_the_certificate_reader(data: Vec<u8>) {
            let _ = parse(&data);
        }

        #[test]
        fn truncations_of_a_real_certificate_are_rejected(cut in 0usize..400) {
            let id = super::super::Identity::generate().unwrap();
            let der = id.certificate_der();
            let cut = cut.min(der.len() - 1);
            prop_assert!(parse(&der[..cut]).is_err());
        }
    }

    #[test]
    fn a_certificate_from_openssl_parses() {
        // `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=t
        // -days 1 -outform DER`, which carries extensions after the SubjectPublicKeyInfo.
        let der = include_bytes!("../../../tests/fixtures/dtls/openssl-p256.der");
        let parsed = parse(der).unwrap();
        assert!(matches!(parsed.key, PeerKey::EcdsaP256(_)));
        let rsa = include_bytes!("../../../tests/fixtures/dtls/openssl-rsa2048.der");
        assert!(parse(rsa).unwrap().key.is_rsa());
        let ed = include_bytes!("../../../tests/fixtures/dtls/openssl-ed25519.der");
        assert!(matches!(parse(ed).unwrap().key, PeerKey::Ed25519(_)));
    }

    #[test]
    fn ed25519_and_p384_signatures_verify_with_the_right_scheme_only() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{
            ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
        };
        let ed = Ed25519KeyPair::generate().unwrap();
        let key = PeerKey::Ed25519(ed.public_key().as_ref().to_vec());
        let sig = ed.sign(b"transcript");
        key.verify(SignatureScheme::Ed25519, b"transcript", sig.as_ref())
            .unwrap();
        assert!(
            key.verify(
                SignatureScheme::EcdsaSecp256r1Sha256,
                b"transcript",
                sig.as_ref()
            )
            .is_err()
        );
        let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
        let key = PeerKey::EcdsaP384(p384.public_key().as_ref().to_vec());
        let sig = p384.sign(&SystemRandom::new(), b"transcript").unwrap();
        key.verify(
            SignatureScheme::EcdsaSecp384r1Sha384,
            b"transcript",
            sig.as_ref(),
        )
        .unwrap();
        assert_eq!(
            key.verify(
                SignatureScheme::EcdsaSecp384r1Sha384,
                b"transcripT",
                sig.as_ref()
            ),
            Err(Error::PeerMisbehaved(PeerMisbehaved::BadSignature))
        );
        assert!(
            key.verify(SignatureScheme::Ed25519, b"transcript", sig.as_ref())
                .is_err()
        );
    }
}
