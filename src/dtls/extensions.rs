//! Hello extensions (RFC 5246 §7.4.1.4) and the code points they carry.
//!
//! - supported_groups, ec_point_formats: RFC 8422 §5.1.
//! - signature_algorithms: RFC 5246 §7.4.1.4.1 (TLS 1.3 scheme names, RFC 8446 §4.2.3).
//! - use_srtp: RFC 5764 §4.1.1.
//! - extended_master_secret: RFC 7627 §5.1.
//! - renegotiation_info: RFC 5746 §3.2.
//!
//! Anything else (DTLS 1.3's supported_versions, key_share, psk modes, SNI, ALPN, ...) is kept
//! as [`Extension::Unknown`] and ignored, which is how a ClientHello that also offers DTLS 1.3
//! gets a DTLS 1.2 answer.

use super::Error;
use super::codec::{self, finish, read_block, read_u16_list};
use crate::dtls::error::DecodeError;
use crate::wire::Reader;

macro_rules! code_points {
    ($(#[$meta:meta])* $name:ident { $($(#[$doc:meta])* $variant:ident = $value:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
            /// A code point this implementation does not know.
            Unknown(u16),
        }

        impl $name {
            /// The wire value.
            pub fn to_u16(self) -> u16 {
                match self {
                    $(Self::$variant => $value,)*
                    Self::Unknown(v) => v,
                }
            }

            /// From the wire value.
            pub fn from_u16(v: u16) -> Self {
                match v {
                    $($value => Self::$variant,)*
                    v => Self::Unknown(v),
                }
            }
        }
    };
}

code_points! {
    /// A key exchange group (RFC 8422 §5.1.1, RFC 7748).
    NamedGroup {
        /// secp256r1 (P-256).
        Secp256r1 = 0x0017,
        /// secp384r1 (P-384), accepted but not preferred.
        Secp384r1 = 0x0018,
        /// X25519.
        X25519 = 0x001d,
    }
}

code_points! {
    /// A signature scheme (RFC 8446 §4.2.3 names; in TLS 1.2 the pair hash, signature).
    SignatureScheme {
        /// rsa_pkcs1_sha256 (verification only: our identity is ECDSA).
        RsaPkcs1Sha256 = 0x0401,
        /// ecdsa_secp256r1_sha256: ECDSA with SHA-256 (in TLS 1.2 on any curve).
        EcdsaSecp256r1Sha256 = 0x0403,
        /// ecdsa_secp384r1_sha384: ECDSA with SHA-384.
        EcdsaSecp384r1Sha384 = 0x0503,
        /// ed25519.
        Ed25519 = 0x0807,
    }
}

code_points! {
    /// A DTLS-SRTP protection profile (RFC 5764 §4.1.2, RFC 7714 §14.2).
    SrtpProfile {
        /// SRTP_AES128_CM_HMAC_SHA1_80.
        Aes128CmHmacSha1_80 = 0x0001,
        /// SRTP_AES128_CM_HMAC_SHA1_32.
        Aes128CmHmacSha1_32 = 0x0002,
        /// SRTP_AEAD_AES_128_GCM.
        AeadAes128Gcm = 0x0007,
        /// SRTP_AEAD_AES_256_GCM.
        AeadAes256Gcm = 0x0008,
    }
}

impl SrtpProfile {
    /// (key length, salt length) in bytes: the exporter produces twice their sum
    /// (RFC 5764 §4.2: client key, server key, client salt, server salt).
    pub fn key_and_salt_len(self) -> Option<(usize, usize)> {
        match self {
            Self::Aes128CmHmacSha1_80 | Self::Aes128CmHmacSha1_32 => Some((16, 14)),
            Self::AeadAes128Gcm => Some((16, 12)),
            Self::AeadAes256Gcm => Some((32, 12)),
            Self::Unknown(_) => None,
        }
    }
}

impl NamedGroup {
    /// Whether we can do ECDHE on this group.
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Unknown(_))
    }
}

impl SignatureScheme {
    /// Whether we can verify signatures of this scheme.
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Unknown(_))
    }
}

/// Extension type numbers.
pub(crate) mod types {
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const USE_SRTP: u16 = 14;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// `ECPointFormat.uncompressed` (RFC 8422 §5.1.2), the only format anyone uses.
pub(crate) const POINT_FORMAT_UNCOMPRESSED: u8 = 0;

/// One hello extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Extension {
    SupportedGroups(Vec<NamedGroup>),
    EcPointFormats(Vec<u8>),
    SignatureAlgorithms(Vec<SignatureScheme>),
    UseSrtp {
        profiles: Vec<SrtpProfile>,
        mki: Vec<u8>,
    },
    ExtendedMasterSecret,
    RenegotiationInfo(Vec<u8>),
    Unknown {
        typ: u16,
        data: Vec<u8>,
    },
}

impl Extension {
    pub(crate) fn typ(&self) -> u16 {
        use types::*;
        match self {
            Self::SupportedGroups(_) => SUPPORTED_GROUPS,
            Self::EcPointFormats(_) => EC_POINT_FORMATS,
            Self::SignatureAlgorithms(_) => SIGNATURE_ALGORITHMS,
            Self::UseSrtp { .. } => USE_SRTP,
            Self::ExtendedMasterSecret => EXTENDED_MASTER_SECRET,
            Self::RenegotiationInfo(_) => RENEGOTIATION_INFO,
            Self::Unknown { typ, .. } => *typ,
        }
    }

    fn parse(typ: u16, data: &[u8]) -> Result<Self, Error> {
        use types::*;
        let mut r = Reader::new(data);
        let ext = match typ {
            SUPPORTED_GROUPS => Self::SupportedGroups(read_u16_list(&mut r, NamedGroup::from_u16)?),
            EC_POINT_FORMATS => {
                let list = read_block(&mut r, 1)?;
                Self::EcPointFormats(list.peek_rest().to_vec())
            }
            SIGNATURE_ALGORITHMS => {
                Self::SignatureAlgorithms(read_u16_list(&mut r, SignatureScheme::from_u16)?)
            }
            USE_SRTP => {
                let profiles = read_u16_list(&mut r, SrtpProfile::from_u16)?;
                let mki = read_block(&mut r, 1)?.peek_rest().to_vec();
                Self::UseSrtp { profiles, mki }
            }
            EXTENDED_MASTER_SECRET => Self::ExtendedMasterSecret,
            RENEGOTIATION_INFO => {
                Self::RenegotiationInfo(read_block(&mut r, 1)?.peek_rest().to_vec())
            }
            typ => {
                return Ok(Self::Unknown {
                    typ,
                    data: data.to_vec(),
                });
            }
        };
        finish(&r, "extension")?;
        Ok(ext)
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::u16(out, self.typ());
        codec::block(out, 2, |out| {
            match self {
                Self::SupportedGroups(groups) => codec::block(out, 2, |o| {
                    groups.iter().for_each(|g| codec::u16(o, g.to_u16()));
                    Ok(())
                })?,
                Self::EcPointFormats(formats) => codec::bytes(out, 1, formats)?,
                Self::SignatureAlgorithms(schemes) => codec::block(out, 2, |o| {
                    schemes.iter().for_each(|s| codec::u16(o, s.to_u16()));
                    Ok(())
                })?,
                Self::UseSrtp { profiles, mki } => {
                    codec::block(out, 2, |o| {
                        profiles.iter().for_each(|p| codec::u16(o, p.to_u16()));
                        Ok(())
                    })?;
                    codec::bytes(out, 1, mki)?;
                }
                Self::ExtendedMasterSecret => {}
                Self::RenegotiationInfo(data) => codec::bytes(out, 1, data)?,
                Self::Unknown { data, .. } => out.extend_from_slice(data),
            }
            Ok(())
        })
    }
}

/// A hello's extensions, in the order received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions(pub(crate) Vec<Extension>);

impl Extensions {
    /// Reads the optional extensions block at the end of a hello (RFC 5246 §7.4.1.2: absent
    /// when the hello ends after compression methods). Duplicate types are an error.
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        if r.is_empty() {
            return Ok(Self::default());
        }
        let mut block = read_block(r, 2)?;
        let mut list = Vec::new();
        while !block.is_empty() {
            let typ = block.u16()?;
            let data = read_block(&mut block, 2)?.peek_rest();
            if list.iter().any(|e: &Extension| e.typ() == typ) {
                return Err(Error::Decode(DecodeError::Malformed("duplicate extension")));
            }
            list.push(Extension::parse(typ, data)?);
        }
        Ok(Self(list))
    }

    /// Writes the extensions block; nothing at all when there are no extensions.
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        codec::block(out, 2, |out| self.0.iter().try_for_each(|e| e.write(out)))
    }

    pub(crate) fn get(&self, typ: u16) -> Option<&Extension> {
        self.0.iter().find(|e| e.typ() == typ)
    }

    pub(crate) fn supported_groups(&self) -> Option<&[NamedGroup]> {
        match self.get(types::SUPPORTED_GROUPS) {
            Some(Extension::SupportedGroups(g)) => Some(g),
            _ => None,
        }
    }

    pub(crate) fn signature_algorithms(&self) -> Option<&[SignatureScheme]> {
        match self.get(types::SIGNATURE_ALGORITHMS) {
            Some(Extension::SignatureAlgorithms(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn srtp_profiles(&self) -> Option<&[SrtpProfile]> {
        match self.get(types::USE_SRTP) {
            Some(Extension::UseSrtp { profiles, .. }) => Some(profiles),
            _ => None,
        }
    }

    pub(crate) fn has(&self, typ: u16) -> bool {
        self.get(typ).is_some()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn any_extension() -> impl Strategy<Value = Extension> {
        prop_oneof![
            prop::collection::vec(any::<u16>().prop_map(NamedGroup::from_u16), 0..8)
                .prop_map(Extension::SupportedGroups),
            prop::collection::vec(any::<u8>(), 0..4).prop_map(Extension::EcPointFormats),
            prop::collection::vec(any::<u16>().prop_map(SignatureScheme::from_u16), 0..8)
                .prop_map(Extension::SignatureAlgorithms),
            (
                prop::collection::vec(any::<u16>().prop_map(SrtpProfile::from_u16), 0..5),
                prop::collection::vec(any::<u8>(), 0..4)
            )
                .prop_map(|(profiles, mki)| Extension::UseSrtp { profiles, mki }),
            Just(Extension::ExtendedMasterSecret),
            prop::collection::vec(any::<u8>(), 0..4).prop_map(Extension::RenegotiationInfo),
            (0x1000u16..0xfe00, prop::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(typ, data)| Extension::Unknown { typ, data }),
        ]
    }

    /// Extension lists with distinct types, as a valid hello has.
    pub(crate) fn any_extensions() -> impl Strategy<Value = Extensions> {
        prop::collection::vec(any_extension(), 0..8).prop_map(|list| {
            let mut seen = Vec::new();
            Extensions(
                list.into_iter()
                    .filter(|e| {
                        let fresh = !seen.contains(&e.typ());
                        seen.push(e.typ());
                        fresh
                    })
                    .collect(),
            )
        })
    }

    proptest! {
        #[test]
        fn extensions_round_trip(exts in any_extensions()) {
            let mut out = Vec::new();
            exts.write(&mut out).unwrap();
            let mut r = Reader::new(&out);
            prop_assert_eq!(Extensions::parse(&mut r).unwrap(), exts);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn any_extension_bytes_parse_or_fail_cleanly(data: Vec<u8>) {
            let _ = Extensions::parse(&mut Reader::new(&data));
        }
    }

    #[test]
    fn duplicates_and_trailing_bytes_are_rejected() {
        // Two extended_master_secret extensions.
        let dup = [0, 8, 0, 23, 0, 0, 0, 23, 0, 0];
        assert!(Extensions::parse(&mut Reader::new(&dup)).is_err());
        // extended_master_secret with a stray byte.
        let trailing = [0, 5, 0, 23, 0, 1, 0];
        assert!(Extensions::parse(&mut Reader::new(&trailing)).is_err());
    }

    #[test]
    fn code_points_round_trip() {
        for v in [
            0u16, 1, 2, 7, 8, 0x17, 0x18, 0x1d, 0x401, 0x403, 0x503, 0x807, 0xffff,
        ] {
            assert_eq!(NamedGroup::from_u16(v).to_u16(), v);
            assert_eq!(SignatureScheme::from_u16(v).to_u16(), v);
            assert_eq!(SrtpProfile::from_u16(v).to_u16(), v);
        }
    }
}
