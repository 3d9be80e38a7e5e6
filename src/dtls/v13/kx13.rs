//! Key shares of the TLS 1.3 key_share extension (RFC 8446 §4.2.8): X25519, P-256 and the
//! hybrid post-quantum X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem §3), ML-KEM-768 (FIPS 203)
//! from aws-lc-rs.
//!
//! For X25519MLKEM768 the client's share is the ML-KEM-768 encapsulation key (1184 bytes)
//! followed by its X25519 share (32), the server's the ML-KEM ciphertext (1088) followed by
//! its X25519 share (32), and the shared secret the ML-KEM secret (32) followed by the X25519
//! one (32). ML-KEM comes first in this group (unlike the P-256 hybrids) because it is the
//! FIPS-approved half.

use crate::dtls::error::{Internal, PeerMisbehaved};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};

use super::super::Error;
use super::super::extensions::NamedGroup;
use super::super::kx::KeyShare;

const MLKEM768_EK_LEN: usize = 1184;
const MLKEM768_CT_LEN: usize = 1088;
const X25519_LEN: usize = 32;

/// A key exchange group of DTLS 1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Group13 {
    /// X25519MLKEM768 (0x11ec), what Chromium and Firefox offer first.
    X25519MlKem768,
    /// x25519 (0x001d).
    X25519,
    /// secp256r1 (0x0017).
    Secp256r1,
    /// Anything else.
    Unknown(u16),
}

impl Group13 {
    /// Every group implemented, in our order of preference.
    pub(crate) const ALL: [Group13; 3] = [Self::X25519MlKem768, Self::X25519, Self::Secp256r1];

    pub(crate) fn to_u16(self) -> u16 {
        match self {
            Self::X25519MlKem768 => 0x11ec,
            Self::X25519 => 0x001d,
            Self::Secp256r1 => 0x0017,
            Self::Unknown(v) => v,
        }
    }

    pub(crate) fn from_u16(v: u16) -> Self {
        match v {
            0x11ec => Self::X25519MlKem768,
            0x001d => Self::X25519,
            0x0017 => Self::Secp256r1,
            v => Self::Unknown(v),
        }
    }

    fn ecdhe(self) -> Option<NamedGroup> {
        match self {
            Self::X25519 => Some(NamedGroup::X25519),
            Self::Secp256r1 => Some(NamedGroup::Secp256r1),
            _ => None,
        }
    }
}

/// What a client keeps of the share it offered, to finish the exchange when the server
/// answers.
pub(crate) enum ClientShare {
    Ecdhe(Group13, KeyShare),
    Hybrid {
        kem: DecapsulationKey,
        x25519: KeyShare,
        public: Vec<u8>,
    },
}

impl std::fmt::Debug for ClientShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientShare")
            .field("group", &self.group())
            .finish_non_exhaustive()
    }
}

fn illegal(what: &'static str) -> Error {
    Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(what))
}

impl ClientShare {
    pub(crate) fn generate(group: Group13) -> Result<Self, Error> {
        if let Some(g) = group.ecdhe() {
            return Ok(Self::Ecdhe(group, KeyShare::generate(g)?));
        }
        if group != Group13::X25519MlKem768 {
            return Err(Error::Internal(Internal::Crypto));
        }
        let kem = DecapsulationKey::generate(&ML_KEM_768)
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        let x25519 = KeyShare::generate(NamedGroup::X25519)?;
        let ek = kem
            .encapsulation_key()
            .and_then(|ek| ek.key_bytes().map(|b| b.as_ref().to_vec()))
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        let mut public = ek;
        public.extend_from_slice(x25519.public());
        Ok(Self::Hybrid {
            kem,
            x25519,
            public,
        })
    }

    pub(crate) fn group(&self) -> Group13 {
        match self {
            Self::Ecdhe(g, _) => *g,
            Self::Hybrid { .. } => Group13::X25519MlKem768,
        }
    }

    /// The key_share entry's bytes.
    pub(crate) fn public(&self) -> &[u8] {
        match self {
            Self::Ecdhe(_, k) => k.public(),
            Self::Hybrid { public, .. } => public,
        }
    }

    /// The shared secret, from the server's key_share entry. A share of the wrong size or an
    /// invalid point is an illegal_parameter (RFC 8446 §4.2.8.2, draft-ietf-tls-ecdhe-mlkem
    /// §3: the client MUST abort on a ciphertext of the wrong length).
    pub(crate) fn finish(&self, server_share: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Ecdhe(_, k) => k.agree(server_share),
            Self::Hybrid { kem, x25519, .. } => {
                if server_share.len() != MLKEM768_CT_LEN + X25519_LEN {
                    return Err(illegal("X25519MLKEM768 server share length"));
                }
                let (ct, x) = server_share.split_at(MLKEM768_CT_LEN);
                let ss = kem
                    .decapsulate(Ciphertext::from(ct))
                    .map_err(|_| illegal("ML-KEM ciphertext"))?;
                let mut shared = ss.as_ref().to_vec();
                shared.extend_from_slice(&x25519.agree(x)?);
                Ok(shared)
            }
        }
    }
}

/// The server's side: answers the client's share for `group` with its own share, and returns
/// it with the shared secret. The server's key is used once and dropped here.
pub(crate) fn server_respond(
    group: Group13,
    client_share: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    if let Some(g) = group.ecdhe() {
        let ours = KeyShare::generate(g)?;
        let shared = ours.agree(client_share)?;
        return Ok((ours.public().to_vec(), shared));
    }
    if group != Group13::X25519MlKem768 {
        return Err(Error::Internal(Internal::Crypto));
    }
    // draft-ietf-tls-ecdhe-mlkem §3: the server MUST abort on an encapsulation key of the
    // wrong length or that fails the FIPS 203 §7.2 checks.
    if client_share.len() != MLKEM768_EK_LEN + X25519_LEN {
        return Err(illegal("X25519MLKEM768 client share length"));
    }
    let (ek, x) = client_share.split_at(MLKEM768_EK_LEN);
    let ek =
        EncapsulationKey::new(&ML_KEM_768, ek).map_err(|_| illegal("ML-KEM encapsulation key"))?;
    let (ct, ss) = ek
        .encapsulate()
        .map_err(|_| Error::Internal(Internal::Crypto))?;
    let ours = KeyShare::generate(NamedGroup::X25519)?;
    let mut shared = ss.as_ref().to_vec();
    shared.extend_from_slice(&ours.agree(x)?);
    let mut share = ct.as_ref().to_vec();
    share.extend_from_slice(ours.public());
    Ok((share, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_on_every_group() {
        for g in Group13::ALL {
            let client = ClientShare::generate(g).unwrap();
            let (server_share, server_secret) = server_respond(g, client.public()).unwrap();
            assert_eq!(
                client.finish(&server_share).unwrap(),
                server_secret,
                "{g:?}"
            );
            assert_eq!(Group13::from_u16(g.to_u16()), g);
        }
    }

    #[test]
    fn hybrid_shares_have_the_draft_sizes() {
        let client = ClientShare::generate(Group13::X25519MlKem768).unwrap();
        assert_eq!(client.public().len(), 1184 + 32);
        let (share, secret) = server_respond(Group13::X25519MlKem768, client.public()).unwrap();
        assert_eq!(share.len(), 1088 + 32);
        assert_eq!(secret.len(), 64);
    }

    #[test]
    fn hybrid_secret_is_mlkem_then_x25519() {
        // The X25519 half alone must be the tail of the secret: agree on it separately.
        let client = ClientShare::generate(Group13::X25519MlKem768).unwrap();
        let (share, secret) = server_respond(Group13::X25519MlKem768, client.public()).unwrap();
        let ClientShare::Hybrid { x25519, .. } = &client else {
            unreachable!()
        };
        assert_eq!(&secret[32..], x25519.agree(&share[1088..]).unwrap());
    }

    #[test]
    fn malformed_shares_are_illegal_parameters() {
        let client = ClientShare::generate(Group13::X25519MlKem768).unwrap();
        let short = &client.public()[..1000];
        assert!(matches!(
            server_respond(Group13::X25519MlKem768, short),
            Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(_)))
        ));
        assert!(matches!(
            client.finish(&[0; 1088]),
            Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(_)))
        ));
        // An all-zero X25519 half is a small-order point.
        let mut bad = client.public().to_vec();
        bad[1184..].fill(0);
        assert!(server_respond(Group13::X25519MlKem768, &bad).is_err());
        assert!(server_respond(Group13::X25519, &[]).is_err());
        assert!(server_respond(Group13::Unknown(7), &[1]).is_err());
    }
}
