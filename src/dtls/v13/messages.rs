//! DTLS 1.3 handshake messages and extension bodies that differ from DTLS 1.2 (RFC 8446 §4,
//! RFC 9147 §5). Each extension body has a meaning that depends on the message carrying it
//! (supported_versions is a list in ClientHello and one version in ServerHello; key_share is
//! a list, one entry, or just a group in a HelloRetryRequest), so these parse the bodies the
//! 1.2 code keeps as `Extension::Unknown`, each for its context.

use super::super::Error;
use super::super::codec::{self, finish, read_block, read_u16_list};
use super::super::record::Version;
use super::kx13::Group13;
use crate::dtls::error::{DecodeError, PeerMisbehaved};
use crate::wire::Reader;

/// Extension numbers new in TLS 1.3 (RFC 8446 §4.2).
pub(crate) mod types {
    pub(crate) const SUPPORTED_VERSIONS: u16 = 43;
    pub(crate) const COOKIE: u16 = 44;
    pub(crate) const KEY_SHARE: u16 = 51;
}

/// RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256 of
/// "HelloRetryRequest".
pub(crate) const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// ClientHello supported_versions: `ProtocolVersion versions<2..254>`.
pub(crate) fn parse_versions_list(data: &[u8]) -> Result<Vec<Version>, Error> {
    let mut r = Reader::new(data);
    let mut list = read_block(&mut r, 1)?;
    finish(&r, "supported_versions")?;
    if list.is_empty() || list.remaining() % 2 != 0 {
        return Err(Error::Decode(DecodeError::Malformed(
            "supported_versions list",
        )));
    }
    let mut out = Vec::with_capacity(list.remaining() / 2);
    while !list.is_empty() {
        out.push(Version::from_u16(list.u16()?));
    }
    Ok(out)
}

pub(crate) fn write_versions_list(versions: &[Version], out: &mut Vec<u8>) -> Result<(), Error> {
    codec::block(out, 1, |o| {
        versions.iter().for_each(|v| codec::u16(o, v.to_u16()));
        Ok(())
    })
}

/// ServerHello and HelloRetryRequest supported_versions: `ProtocolVersion selected_version`.
pub(crate) fn parse_selected_version(data: &[u8]) -> Result<Version, Error> {
    let mut r = Reader::new(data);
    let v = Version::from_u16(r.u16()?);
    finish(&r, "supported_versions")?;
    Ok(v)
}

/// One `KeyShareEntry { NamedGroup group; opaque key_exchange<1..2^16-1>; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyShareEntry {
    pub(crate) group: Group13,
    pub(crate) key_exchange: Vec<u8>,
}

impl KeyShareEntry {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let group = Group13::from_u16(r.u16()?);
        let key_exchange = read_block(r, 2)?.peek_rest().to_vec();
        if key_exchange.is_empty() {
            return Err(Error::Decode(DecodeError::Malformed("empty key_exchange")));
        }
        Ok(Self {
            group,
            key_exchange,
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::u16(out, self.group.to_u16());
        codec::bytes(out, 2, &self.key_exchange)
    }
}

/// ClientHello key_share: `KeyShareEntry client_shares<0..2^16-1>`. RFC 8446 §4.2.8: each
/// group at most once.
pub(crate) fn parse_client_shares(data: &[u8]) -> Result<Vec<KeyShareEntry>, Error> {
    let mut r = Reader::new(data);
    let mut list = read_block(&mut r, 2)?;
    finish(&r, "key_share")?;
    let mut out: Vec<KeyShareEntry> = Vec::new();
    while !list.is_empty() {
        let e = KeyShareEntry::read(&mut list)?;
        if out.iter().any(|o| o.group == e.group) {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "duplicate key_share group",
            )));
        }
        out.push(e);
    }
    Ok(out)
}

pub(crate) fn write_client_shares(
    shares: &[KeyShareEntry],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    codec::block(out, 2, |o| shares.iter().try_for_each(|s| s.write(o)))
}

/// ServerHello key_share: one `KeyShareEntry server_share`.
pub(crate) fn parse_server_share(data: &[u8]) -> Result<KeyShareEntry, Error> {
    let mut r = Reader::new(data);
    let e = KeyShareEntry::read(&mut r)?;
    finish(&r, "key_share")?;
    Ok(e)
}

pub(crate) fn write_server_share(share: &KeyShareEntry, out: &mut Vec<u8>) -> Result<(), Error> {
    share.write(out)
}

/// HelloRetryRequest key_share: `NamedGroup selected_group`.
pub(crate) fn parse_selected_group(data: &[u8]) -> Result<Group13, Error> {
    let mut r = Reader::new(data);
    let g = Group13::from_u16(r.u16()?);
    finish(&r, "key_share")?;
    Ok(g)
}

/// cookie: `opaque cookie<1..2^16-1>` (RFC 8446 §4.2.2), which DTLS 1.3 uses in place of
/// HelloVerifyRequest (RFC 9147 §5.1).
pub(crate) fn parse_cookie(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Reader::new(data);
    let c = read_block(&mut r, 2)?.peek_rest().to_vec();
    finish(&r, "cookie")?;
    if c.is_empty() {
        return Err(Error::Decode(DecodeError::Malformed("empty cookie")));
    }
    Ok(c)
}

pub(crate) fn write_cookie(cookie: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    codec::bytes(out, 2, cookie)
}

/// One certificate of a TLS 1.3 Certificate message, with its (ignored) extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateEntry {
    pub(crate) cert_data: Vec<u8>,
    pub(crate) extensions: Vec<u8>,
}

/// RFC 8446 §4.4.2: `opaque certificate_request_context<0..2^8-1>;
/// CertificateEntry certificate_list<0..2^24-1>;`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Certificate13 {
    pub(crate) context: Vec<u8>,
    pub(crate) entries: Vec<CertificateEntry>,
}

impl Certificate13 {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let context = read_block(&mut r, 1)?.peek_rest().to_vec();
        let mut list = read_block(&mut r, 3)?;
        finish(&r, "Certificate")?;
        let mut entries = Vec::new();
        while !list.is_empty() {
            let cert_data = read_block(&mut list, 3)?.peek_rest().to_vec();
            if cert_data.is_empty() {
                return Err(Error::Decode(DecodeError::Malformed("empty certificate")));
            }
            let extensions = read_block(&mut list, 2)?.peek_rest().to_vec();
            entries.push(CertificateEntry {
                cert_data,
                extensions,
            });
        }
        Ok(Self { context, entries })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::bytes(out, 1, &self.context)?;
        codec::block(out, 3, |o| {
            self.entries.iter().try_for_each(|e| {
                codec::bytes(o, 3, &e.cert_data)?;
                codec::bytes(o, 2, &e.extensions)
            })
        })
    }

    /// The end-entity certificate, the first (RFC 8446 §4.4.2).
    pub(crate) fn end_entity(&self) -> Option<&[u8]> {
        self.entries.first().map(|e| e.cert_data.as_slice())
    }
}

/// RFC 8446 §4.3.2: `opaque certificate_request_context<0..2^8-1>;
/// Extension extensions<2..2^16-1>;` (signature_algorithms is required among them). The
/// extensions are kept raw; the handshake reads signature_algorithms with the 1.2 parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateRequest13 {
    pub(crate) context: Vec<u8>,
    pub(crate) extensions: Vec<u8>,
}

impl CertificateRequest13 {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let context = read_block(&mut r, 1)?.peek_rest().to_vec();
        let extensions = read_block(&mut r, 2)?.peek_rest().to_vec();
        finish(&r, "CertificateRequest")?;
        if extensions.len() < 2 {
            return Err(Error::Decode(DecodeError::Malformed(
                "CertificateRequest without extensions",
            )));
        }
        Ok(Self {
            context,
            extensions,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::bytes(out, 1, &self.context)?;
        codec::bytes(out, 2, &self.extensions)
    }
}

/// RFC 8446 §4.6.3: `enum { update_not_requested(0), update_requested(1), (255) }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUpdate {
    NotRequested,
    Requested,
}

impl KeyUpdate {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        match body {
            [0] => Ok(Self::NotRequested),
            [1] => Ok(Self::Requested),
            // RFC 8446 §4.6.3: any other value is an illegal_parameter.
            [_] => Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(
                "KeyUpdate request_update",
            ))),
            _ => Err(Error::Decode(DecodeError::Malformed("KeyUpdate"))),
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::NotRequested => 0,
            Self::Requested => 1,
        }
    }
}

/// RFC 8446 §4.4.3: what a CertificateVerify signs: 64 spaces, the context string, a zero
/// byte, and the transcript hash up to (not including) the CertificateVerify.
pub(crate) fn certificate_verify_content(server: bool, transcript_hash: &[u8]) -> Vec<u8> {
    let context: &[u8] = if server {
        b"TLS 1.3, server CertificateVerify"
    } else {
        b"TLS 1.3, client CertificateVerify"
    };
    let mut out = Vec::with_capacity(64 + context.len() + 1 + transcript_hash.len());
    out.extend_from_slice(&[0x20; 64]);
    out.extend_from_slice(context);
    out.push(0);
    out.extend_from_slice(transcript_hash);
    out
}

/// Lets the fuzz target and the property tests run every parser here over the same bytes.
pub(crate) fn parse_all(data: &[u8]) {
    let _ = parse_versions_list(data);
    let _ = parse_selected_version(data);
    let _ = parse_client_shares(data);
    let _ = parse_server_share(data);
    let _ = parse_selected_group(data);
    let _ = parse_cookie(data);
    let _ = Certificate13::parse(data);
    let _ = CertificateRequest13::parse(data);
    let _ = KeyUpdate::parse(data);
    let _ = read_u16_list(&mut Reader::new(data), Group13::from_u16);
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::digest;
    use proptest::prelude::*;

    #[test]
    fn hrr_random_is_sha256_of_its_name() {
        assert_eq!(
            digest::digest(&digest::SHA256, b"HelloRetryRequest").as_ref(),
            HRR_RANDOM
        );
    }

    #[test]
    fn certificate_verify_content_has_rfc8446_layout() {
        let c = certificate_verify_content(true, &[0xaa; 32]);
        assert_eq!(c.len(), 64 + 33 + 1 + 32);
        assert!(c[..64].iter().all(|&b| b == 0x20));
        assert_eq!(&c[64..97], b"TLS 1.3, server CertificateVerify");
        assert_eq!(c[97], 0);
        assert_ne!(c, certificate_verify_content(false, &[0xaa; 32]));
    }

    #[test]
    fn duplicate_key_share_groups_are_refused() {
        let e = KeyShareEntry {
            group: Group13::X25519,
            key_exchange: vec![1; 32],
        };
        let mut out = Vec::new();
        write_client_shares(&[e.clone(), e], &mut out).unwrap();
        assert!(matches!(
            parse_client_shares(&out),
            Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(_)))
        ));
    }

    #[test]
    fn key_update_values() {
        assert_eq!(KeyUpdate::parse(&[0]), Ok(KeyUpdate::NotRequested));
        assert_eq!(KeyUpdate::parse(&[1]), Ok(KeyUpdate::Requested));
        assert!(matches!(
            KeyUpdate::parse(&[2]),
            Err(Error::PeerMisbehaved(PeerMisbehaved::IllegalParameter(_)))
        ));
        assert!(KeyUpdate::parse(&[]).is_err());
        assert!(KeyUpdate::parse(&[0, 0]).is_err());
    }

    #[test]
    fn empty_lists_and_values_are_malformed() {
        assert!(parse_versions_list(&[0]).is_err());
        assert!(parse_cookie(&[0, 0]).is_err());
        assert!(parse_server_share(&[0, 0x1d, 0, 0]).is_err());
        assert!(CertificateRequest13::parse(&[0, 0, 0]).is_err());
        assert!(Certificate13::parse(&[0, 0, 0, 5, 0, 0, 0, 0, 0]).is_err());
    }

    fn group() -> impl Strategy<Value = Group13> {
        any::<u16>().prop_map(Group13::from_u16)
    }

    fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), min..max)
    }

    proptest! {
        #[test]
        fn versions_list_round_trips(vs in proptest::collection::vec(any::<u16>(), 1..20)) {
            let vs: Vec<Version> = vs.into_iter().map(Version::from_u16).collect();
            let mut out = Vec::new();
            write_versions_list(&vs, &mut out).unwrap();
            prop_assert_eq!(parse_versions_list(&out).unwrap(), vs);
        }

        #[test]
        fn client_shares_round_trip(groups in proptest::collection::hash_set(any::<u16>(), 0..5), kx in bytes(1, 80)) {
            let shares: Vec<KeyShareEntry> = groups
                .into_iter()
                .map(|g| KeyShareEntry { group: Group13::from_u16(g), key_exchange: kx.clone() })
                .collect();
            let mut out = Vec::new();
            write_client_shares(&shares, &mut out).unwrap();
            prop_assert_eq!(parse_client_shares(&out).unwrap(), shares);
        }

        #[test]
        fn server_share_and_selected_group_round_trip(g in group(), kx in bytes(1, 80)) {
            let share = KeyShareEntry { group: g, key_exchange: kx };
            let mut out = Vec::new();
            write_server_share(&share, &mut out).unwrap();
            prop_assert_eq!(parse_server_share(&out).unwrap(), share);
            prop_assert_eq!(parse_selected_group(&g.to_u16().to_be_bytes()).unwrap(), g);
        }

        #[test]
        fn cookie_round_trips(c in bytes(1, 300)) {
            let mut out = Vec::new();
            write_cookie(&c, &mut out).unwrap();
            prop_assert_eq!(parse_cookie(&out).unwrap(), c);
        }

        #[test]
        fn certificate_round_trips(
            context in bytes(0, 4),
            entries in proptest::collection::vec((bytes(1, 200), bytes(0, 10)), 0..4),
        ) {
            let msg = Certificate13 {
                context,
                entries: entries
                    .into_iter()
                    .map(|(cert_data, extensions)| CertificateEntry { cert_data, extensions })
                    .collect(),
            };
            let mut out = Vec::new();
            msg.write(&mut out).unwrap();
            prop_assert_eq!(Certificate13::parse(&out).unwrap(), msg);
        }

        #[test]
        fn certificate_request_round_trips(context in bytes(0, 4), extensions in bytes(2, 60)) {
            let msg = CertificateRequest13 { context, extensions };
            let mut out = Vec::new();
            msg.write(&mut out).unwrap();
            prop_assert_eq!(CertificateRequest13::parse(&out).unwrap(), msg);
        }

        #[test]
        fn any_bytes_parse_without_panicking(data in bytes(0, 400)) {
            parse_all(&data);
        }
    }
}
