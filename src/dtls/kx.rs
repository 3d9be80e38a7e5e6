//! Ephemeral ECDHE (RFC 8422 §5.10, RFC 7748 for X25519) over aws-lc-rs.

use crate::dtls::error::{Internal, PeerMisbehaved};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};

use super::Error;
use super::extensions::NamedGroup;

/// Our ephemeral key for one handshake.
pub(crate) struct KeyShare {
    group: NamedGroup,
    private: PrivateKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn algorithm(group: NamedGroup) -> Option<&'static agreement::Algorithm> {
    match group {
        NamedGroup::X25519 => Some(&agreement::X25519),
        NamedGroup::Secp256r1 => Some(&agreement::ECDH_P256),
        NamedGroup::Secp384r1 => Some(&agreement::ECDH_P384),
        NamedGroup::Unknown(_) => None,
    }
}

impl KeyShare {
    pub(crate) fn generate(group: NamedGroup) -> Result<Self, Error> {
        let alg = algorithm(group).ok_or(Error::Internal(Internal::Crypto))?;
        let private = PrivateKey::generate(alg).map_err(|_| Error::Internal(Internal::Crypto))?;
        // NIST curves come out as uncompressed points, the only form RFC 8422 §5.1.2 allows.
        let public = private
            .compute_public_key()
            .map_err(|_| Error::Internal(Internal::Crypto))?
            .as_ref()
            .to_vec();
        Ok(Self {
            group,
            private,
            public,
        })
    }

    pub(crate) fn group(&self) -> NamedGroup {
        self.group
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// The premaster secret: the X25519 output, or the x-coordinate for NIST curves
    /// (RFC 8422 §5.10). An invalid or off-curve peer key is an illegal parameter.
    pub(crate) fn agree(&self, peer: &[u8]) -> Result<Vec<u8>, Error> {
        let alg = algorithm(self.group).ok_or(Error::Internal(Internal::Crypto))?;
        if self.group != NamedGroup::X25519 && peer.first() != Some(&4) {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "EC point not uncompressed",
            )));
        }
        let bad =
            Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter("invalid ECDHE public key"));
        agreement::agree(
            &self.private,
            UnparsedPublicKey::new(alg, peer),
            bad.clone(),
            |secret| {
                // RFC 7748 §6.1: an all-zero X25519 output means a small-order point.
                if secret.iter().all(|&b| b == 0) {
                    Err(bad.clone())
                } else {
                    Ok(secret.to_vec())
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_on_every_group() {
        for g in [
            NamedGroup::X25519,
            NamedGroup::Secp256r1,
            NamedGroup::Secp384r1,
        ] {
            let a = KeyShare::generate(g).unwrap();
            let b = KeyShare::generate(g).unwrap();
            assert_eq!(a.agree(b.public()).unwrap(), b.agree(a.public()).unwrap());
            assert!(a.agree(&[4, 1, 2, 3]).is_err());
            assert!(a.agree(&[]).is_err());
        }
        let x = KeyShare::generate(NamedGroup::X25519).unwrap();
        assert!(x.agree(&[0; 32]).is_err());
    }
}
