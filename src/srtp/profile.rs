//! SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2) and the split of the DTLS
//! exporter output into master keys and salts (RFC 5764 §4.2).

use super::Error;

/// The label DTLS-SRTP passes to the TLS exporter (RFC 5764 §4.2).
pub const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// An SRTP protection profile, by its IANA number (the `use_srtp` extension value).
///
/// Unknown numbers are kept as [`Profile::Unknown`] so a negotiation can name them; a
/// [`Context`](super::Context) refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    Aes128CmSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): as above with a 32-bit tag on RTP; SRTCP keeps
    /// the 80-bit tag (RFC 5764 §4.1.2).
    Aes128CmSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007, RFC 7714): AES-128-GCM with a 128-bit tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008, RFC 7714): AES-256-GCM with a 128-bit tag.
    AeadAes256Gcm,
    /// Any other number.
    Unknown(u16),
}

impl Profile {
    /// The four profiles this module implements, in WebRTC's usual order of preference.
    pub const SUPPORTED: [Profile; 4] = [
        Profile::AeadAes128Gcm,
        Profile::AeadAes256Gcm,
        Profile::Aes128CmSha1_80,
        Profile::Aes128CmSha1_32,
    ];

    /// Whether this module implements the profile.
    pub fn is_supported(self) -> bool {
        !matches!(self, Profile::Unknown(_))
    }

    /// Whether the profile is an AEAD (GCM) profile of RFC 7714.
    pub fn is_aead(self) -> bool {
        matches!(self, Profile::AeadAes128Gcm | Profile::AeadAes256Gcm)
    }

    /// Master key length in bytes (0 for an unknown profile).
    pub fn key_len(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 | Profile::Aes128CmSha1_32 | Profile::AeadAes128Gcm => 16,
            Profile::AeadAes256Gcm => 32,
            Profile::Unknown(_) => 0,
        }
    }

    /// Master salt length in bytes: 112 bits for AES-CM (RFC 3711 §8.2), 96 bits for GCM
    /// (RFC 7714 §12). 0 for an unknown profile.
    pub fn salt_len(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 | Profile::Aes128CmSha1_32 => 14,
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => 12,
            Profile::Unknown(_) => 0,
        }
    }

    /// Bytes an SRTP packet grows by when protected (the authentication tag).
    pub fn rtp_overhead(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 => 10,
            Profile::Aes128CmSha1_32 => 4,
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => 16,
            Profile::Unknown(_) => 0,
        }
    }

    /// Bytes an SRTCP packet grows by when protected: the tag plus the 4-byte E flag and
    /// SRTCP index. RFC 5764 §4.1.2: the `_32` profile still uses an 80-bit tag on SRTCP.
    pub fn rtcp_overhead(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 | Profile::Aes128CmSha1_32 => 10 + 4,
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => 16 + 4,
            Profile::Unknown(_) => 0,
        }
    }

    /// How many bytes to ask the DTLS exporter for: two master keys and two master salts
    /// (RFC 5764 §4.2).
    pub fn keying_material_len(self) -> usize {
        2 * (self.key_len() + self.salt_len())
    }
}

impl From<u16> for Profile {
    fn from(n: u16) -> Self {
        match n {
            0x0001 => Profile::Aes128CmSha1_80,
            0x0002 => Profile::Aes128CmSha1_32,
            0x0007 => Profile::AeadAes128Gcm,
            0x0008 => Profile::AeadAes256Gcm,
            n => Profile::Unknown(n),
        }
    }
}

impl From<Profile> for u16 {
    fn from(p: Profile) -> u16 {
        match p {
            Profile::Aes128CmSha1_80 => 0x0001,
            Profile::Aes128CmSha1_32 => 0x0002,
            Profile::AeadAes128Gcm => 0x0007,
            Profile::AeadAes256Gcm => 0x0008,
            Profile::Unknown(n) => n,
        }
    }
}

/// Which side of the DTLS handshake we were: it decides which half of the exporter output
/// protects what we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The DTLS client: sends with the client write key.
    Client,
    /// The DTLS server: sends with the server write key.
    Server,
}

/// The master key and salt for one direction, borrowed from the exporter output.
pub(crate) struct MasterKeys<'a> {
    pub key: &'a [u8],
    pub salt: &'a [u8],
}

/// Splits `client_write_key | server_write_key | client_write_salt | server_write_salt`
/// (RFC 5764 §4.2) into (ours to send with, theirs to receive with).
pub(crate) fn split_keying_material(
    profile: Profile,
    role: Role,
    material: &[u8],
) -> Result<(MasterKeys<'_>, MasterKeys<'_>), Error> {
    if !profile.is_supported() {
        return Err(Error::UnsupportedProfile(profile.into()));
    }
    let (k, s) = (profile.key_len(), profile.salt_len());
    if material.len() != profile.keying_material_len() {
        return Err(Error::BadKeyLength {
            expected: profile.keying_material_len(),
            got: material.len(),
        });
    }
    let client = MasterKeys {
        key: &material[..k],
        salt: &material[2 * k..2 * k + s],
    };
    let server = MasterKeys {
        key: &material[k..2 * k],
        salt: &material[2 * k + s..],
    };
    Ok(match role {
        Role::Client => (client, server),
        Role::Server => (server, client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_numbers_round_trip_and_unknown_is_kept() {
        for n in [1u16, 2, 7, 8, 0, 3, 0xffff] {
            assert_eq!(u16::from(Profile::from(n)), n);
        }
        assert_eq!(Profile::from(5), Profile::Unknown(5));
        assert!(!Profile::Unknown(5).is_supported());
    }

    #[test]
    fn exporter_lengths_match_rfc5764_and_rfc7714() {
        assert_eq!(Profile::Aes128CmSha1_80.keying_material_len(), 60);
        assert_eq!(Profile::Aes128CmSha1_32.keying_material_len(), 60);
        assert_eq!(Profile::AeadAes128Gcm.keying_material_len(), 56);
        assert_eq!(Profile::AeadAes256Gcm.keying_material_len(), 88);
    }

    #[test]
    fn client_sends_with_the_client_half() {
        let material: Vec<u8> = (0..60).collect();
        let (out, inb) =
            split_keying_material(Profile::Aes128CmSha1_80, Role::Client, &material).unwrap();
        assert_eq!(out.key, &material[0..16]);
        assert_eq!(inb.key, &material[16..32]);
        assert_eq!(out.salt, &material[32..46]);
        assert_eq!(inb.salt, &material[46..60]);
        let (out, _) =
            split_keying_material(Profile::Aes128CmSha1_80, Role::Server, &material).unwrap();
        assert_eq!(out.key, &material[16..32]);
        assert!(split_keying_material(Profile::Aes128CmSha1_80, Role::Client, &[0; 59]).is_err());
    }
}
