//! [`Certificate`]: W3C `RTCCertificate`, a DTLS identity with an expiry.

use std::time::{Duration, SystemTime};

use super::Error;
use crate::dtls::{Fingerprint, HashAlgorithm, Identity};

/// A DTLS certificate for [`PeerConfig::certificates`](super::PeerConfig::certificates)
/// (W3C `RTCCertificate`): a key pair and self-signed certificate
/// ([`Identity`]), and the time after which a connection may not be made with it.
///
/// The core reads no clock: [`generate`](Self::generate) takes the wall-clock time from the
/// caller, and [`PeerConfig::created_at`](super::PeerConfig::created_at) says when a
/// connection is made, so that an expired certificate is refused
/// ([`Error::CertificateExpired`]) as W3C `RTCPeerConnection()` refuses it.
///
/// ```
/// use kaon::peer::{Certificate, PeerConfig, PeerConnection};
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// let cert = Certificate::generate(now, Certificate::DEFAULT_LIFETIME)?;
/// let pc = PeerConnection::new(PeerConfig {
///     certificates: vec![cert.clone()],
///     created_at: Some(now),
///     ..PeerConfig::with_seed(1)
/// })?;
/// assert_eq!(pc.fingerprint(), &cert.fingerprints()[0]);
/// # Ok::<(), kaon::peer::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Certificate {
    identity: Identity,
    expires: SystemTime,
}

impl Certificate {
    /// What browsers give a certificate generated without an `expires` (30 days).
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

    /// A new ECDSA P-256 certificate (W3C `generateCertificate`) valid from `now` for
    /// `lifetime`.
    pub fn generate(now: SystemTime, lifetime: Duration) -> Result<Self, Error> {
        Ok(Self {
            identity: Identity::generate()?,
            expires: now.checked_add(lifetime).unwrap_or(now),
        })
    }

    /// An existing identity (a stored key and certificate) that may be used until `expires`.
    pub fn from_identity(identity: Identity, expires: SystemTime) -> Self {
        Self { identity, expires }
    }

    /// When it stops being usable (W3C `expires`).
    pub fn expires(&self) -> SystemTime {
        self.expires
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires
    }

    /// Its fingerprints (W3C `getFingerprints()`): sha-256, what kaon's descriptions carry.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        vec![self.identity.fingerprint(HashAlgorithm::Sha256)]
    }

    /// The key pair and certificate DTLS uses.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}
