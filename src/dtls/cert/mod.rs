//! Our identity (an ECDSA P-256 key and its self-signed certificate), peer certificates and
//! the SDP fingerprints that authenticate them (RFC 8122 §5, RFC 8827 §6.5).

mod der;
mod pem;
pub(crate) mod x509;

use crate::dtls::error::{Internal, Misuse};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

use super::Error;
use super::extensions::SignatureScheme;
use crate::Rng;

/// A local identity: an ECDSA P-256 key pair and a self-signed X.509 v3 certificate for it.
///
/// Cheap to clone (shared). WebRTC generates one per peer connection, or keeps one for a
/// long-lived server so its fingerprint stays the same: save it with [`Identity::to_pem`] (or
/// [`Identity::to_pkcs8`] plus [`Identity::certificate_der`]) and load it back.
#[derive(Clone)]
pub struct Identity(Arc<Inner>);

struct Inner {
    key: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    certificate: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint(HashAlgorithm::Sha256))
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh key and certificate, with the serial number and common name drawn from the
    /// operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = [0u8; 8];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        Self::generate_with(&mut Rng::from_seed(u64::from_le_bytes(seed)))
    }

    /// A fresh key (from aws-lc-rs) with the serial number and common name drawn from `rng`.
    pub fn generate_with(rng: &mut Rng) -> Result<Self, Error> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| Error::Internal(Internal::Crypto))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        let mut serial = [0u8; 16];
        rng.fill(&mut serial);
        let common_name = format!("kaon-{:016x}", rng.u64());
        let tbs = x509::self_signed_tbs(&serial, &common_name, key.public_key().as_ref());
        let signature = key
            .sign(&SystemRandom::new(), &tbs)
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        let certificate = x509::assemble(&tbs, signature.as_ref());
        Ok(Self(Arc::new(Inner {
            key,
            pkcs8: pkcs8.as_ref().to_vec(),
            certificate,
        })))
    }

    /// Loads a PKCS#8 P-256 key and its certificate; the certificate's public key must be the
    /// key's.
    pub fn from_pkcs8(pkcs8: &[u8], certificate_der: &[u8]) -> Result<Self, Error> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8)
            .map_err(|_| Error::Misuse(Misuse::InvalidKey))?;
        let parsed = x509::parse(certificate_der)?;
        match parsed.key {
            x509::PeerKey::EcdsaP256(point) if point == key.public_key().as_ref() => {}
            _ => return Err(Error::Misuse(Misuse::InvalidKey)),
        }
        Ok(Self(Arc::new(Inner {
            key,
            pkcs8: pkcs8.to_vec(),
            certificate: certificate_der.to_vec(),
        })))
    }

    /// The private key as PKCS#8 DER (RFC 5208).
    pub fn to_pkcs8(&self) -> Vec<u8> {
        self.0.pkcs8.clone()
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.0.certificate
    }

    /// The certificate and the PKCS#8 key as one PEM text (`CERTIFICATE` then `PRIVATE KEY`).
    pub fn to_pem(&self) -> String {
        pem::encode("CERTIFICATE", &self.0.certificate) + &pem::encode("PRIVATE KEY", &self.0.pkcs8)
    }

    /// Loads what [`Identity::to_pem`] wrote (or any PEM text holding a P-256 certificate and
    /// its unencrypted PKCS#8 key).
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let cert = pem::decode(text, "CERTIFICATE")?;
        let key = pem::decode(text, "PRIVATE KEY")?;
        Self::from_pkcs8(&key, &cert)
    }

    /// The certificate's fingerprint, as it goes into SDP.
    pub fn fingerprint(&self, algorithm: HashAlgorithm) -> Fingerprint {
        Fingerprint::of(algorithm, &self.0.certificate)
    }

    /// The scheme our signatures use.
    pub(crate) fn scheme(&self) -> SignatureScheme {
        SignatureScheme::EcdsaSecp256r1Sha256
    }

    /// Signs `message` with ECDSA P-256 SHA-256 (ASN.1 signature, as TLS 1.2 carries it).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.0
            .key
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::Internal(Internal::Crypto))
    }
}

/// A hash function for certificate fingerprints (RFC 8122 §5: the "Hash Function Textual
/// Names" registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// `sha-1`: understood for old peers; never generated by default.
    Sha1,
    /// `sha-256`: what browsers send and what we use.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl HashAlgorithm {
    /// The SDP name (`sha-256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

/// A certificate fingerprint: a hash algorithm and the digest of the DER certificate.
///
/// Displays and parses as the SDP `a=fingerprint` value: `sha-256 AB:CD:...:EF`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function.
    pub algorithm: HashAlgorithm,
    /// The digest bytes.
    pub value: Vec<u8>,
}

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(algorithm: HashAlgorithm, certificate_der: &[u8]) -> Self {
        Self {
            algorithm,
            value: digest::digest(algorithm.digest(), certificate_der)
                .as_ref()
                .to_vec(),
        }
    }

    /// Whether `certificate_der` has this fingerprint.
    pub fn matches(&self, certificate_der: &[u8]) -> bool {
        let d = digest::digest(self.algorithm.digest(), certificate_der);
        d.as_ref() == self.value.as_slice()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm.name())?;
        for (i, b) in self.value.iter().enumerate() {
            write!(f, "{}{b:02X}", if i == 0 { ' ' } else { ':' })?;
        }
        Ok(())
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    /// Parses `sha-256 AB:CD:...` (hash names are case-insensitive, hex digits either case).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = Error::Misuse(Misuse::InvalidFingerprint);
        let (name, hex) = s.trim().split_once(' ').ok_or(bad.clone())?;
        let algorithm = [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
        .ok_or(bad.clone())?;
        let value = hex
            .trim()
            .split(':')
            .map(|h| {
                if h.len() == 2 {
                    u8::from_str_radix(h, 16).map_err(|_| bad.clone())
                } else {
                    Err(bad.clone())
                }
            })
            .collect::<Result<Vec<u8>, Error>>()?;
        if value.len() != algorithm.digest().output_len() {
            return Err(bad);
        }
        Ok(Self { algorithm, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_parses_and_verifies_its_own_signature() {
        let id = Identity::generate_with(&mut Rng::from_seed(1)).unwrap();
        let parsed = x509::parse(id.certificate_der()).unwrap();
        parsed
            .key
            .verify(
                SignatureScheme::EcdsaSecp256r1Sha256,
                parsed.tbs,
                parsed.signature,
            )
            .unwrap();
        let sig = id.sign(b"hello").unwrap();
        parsed
            .key
            .verify(SignatureScheme::EcdsaSecp256r1Sha256, b"hello", &sig)
            .unwrap();
        assert!(
            parsed
                .key
                .verify(SignatureScheme::EcdsaSecp256r1Sha256, b"hellO", &sig)
                .is_err()
        );
    }

    #[test]
    fn identity_survives_pem_and_pkcs8_with_its_fingerprint() {
        let id = Identity::generate().unwrap();
        let fp = id.fingerprint(HashAlgorithm::Sha256);
        let back = Identity::from_pem(&id.to_pem()).unwrap();
        assert_eq!(back.fingerprint(HashAlgorithm::Sha256), fp);
        let back = Identity::from_pkcs8(&id.to_pkcs8(), id.certificate_der()).unwrap();
        assert_eq!(back.fingerprint(HashAlgorithm::Sha256), fp);
        // A certificate for another key is refused.
        let other = Identity::generate().unwrap();
        assert_eq!(
            Identity::from_pkcs8(&id.to_pkcs8(), other.certificate_der()).unwrap_err(),
            Error::Misuse(Misuse::InvalidKey)
        );
    }

    #[test]
    fn fingerprint_text_round_trips_and_is_strict() {
        let id = Identity::generate().unwrap();
        for alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let fp = id.fingerprint(alg);
            let text = fp.to_string();
            assert!(text.starts_with(alg.name()));
            assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
            assert_eq!(text.to_lowercase().parse::<Fingerprint>().unwrap(), fp);
            assert!(fp.matches(id.certificate_der()));
        }
        let fp = id.fingerprint(HashAlgorithm::Sha256).to_string();
        assert!(fp[..fp.len() - 3].parse::<Fingerprint>().is_err());
        assert!(fp.replace("sha-256", "md5").parse::<Fingerprint>().is_err());
        assert!("sha-256".parse::<Fingerprint>().is_err());
        assert!("sha-256 GG".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn serials_and_names_come_from_the_rng() {
        // Keys differ (aws-lc-rs), but the serial (bytes 15..31 of the DER) is the seed's.
        let a = Identity::generate_with(&mut Rng::from_seed(5)).unwrap();
        let b = Identity::generate_with(&mut Rng::from_seed(5)).unwrap();
        assert_eq!(a.certificate_der()[15..31], b.certificate_der()[15..31]);
        assert_ne!(
            a.fingerprint(HashAlgorithm::Sha256),
            b.fingerprint(HashAlgorithm::Sha256)
        );
    }
}
