//! The handshake messages after the hellos (RFC 5246 §7.4.2-7.4.9, RFC 8422 §5.4-5.8).

use super::super::Error;
use super::super::codec::{self, finish, read_block, read_u16_list};
use super::super::extensions::{NamedGroup, SignatureScheme};
use crate::dtls::error::DecodeError;
use crate::wire::Reader;

/// A peer sending more certificates than this is not a WebRTC peer.
const MAX_CHAIN: usize = 10;
/// RFC 8422 §5.4: ECCurveType.named_curve.
const NAMED_CURVE: u8 = 3;

/// Certificate (RFC 5246 §7.4.2): a chain of DER certificates, the peer's own first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateMsg {
    pub(crate) chain: Vec<Vec<u8>>,
}

impl CertificateMsg {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let mut list = read_block(&mut r, 3)?;
        finish(&r, "Certificate")?;
        let mut chain = Vec::new();
        while !list.is_empty() {
            if chain.len() == MAX_CHAIN {
                return Err(Error::Decode(DecodeError::Malformed(
                    "certificate chain too long",
                )));
            }
            let cert = read_block(&mut list, 3)?.peek_rest();
            if cert.is_empty() {
                return Err(Error::Decode(DecodeError::Malformed("empty certificate")));
            }
            chain.push(cert.to_vec());
        }
        Ok(Self { chain })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::block(out, 3, |o| {
            self.chain.iter().try_for_each(|c| codec::bytes(o, 3, c))
        })
    }
}

/// ServerKeyExchange for ECDHE (RFC 8422 §5.4): named-curve parameters and their signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerKeyExchange {
    pub(crate) group: NamedGroup,
    pub(crate) public: Vec<u8>,
    pub(crate) scheme: SignatureScheme,
    pub(crate) signature: Vec<u8>,
}

impl ServerKeyExchange {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        if r.u8()? != NAMED_CURVE {
            return Err(Error::Decode(DecodeError::Malformed(
                "ServerKeyExchange curve type",
            )));
        }
        let group = NamedGroup::from_u16(r.u16()?);
        let public = read_block(&mut r, 1)?.peek_rest().to_vec();
        let scheme = SignatureScheme::from_u16(r.u16()?);
        let signature = read_block(&mut r, 2)?.peek_rest().to_vec();
        finish(&r, "ServerKeyExchange")?;
        if public.is_empty() {
            return Err(Error::Decode(DecodeError::Malformed(
                "empty ECDHE public key",
            )));
        }
        Ok(Self {
            group,
            public,
            scheme,
            signature,
        })
    }

    /// `ServerECDHParams`, the part that is signed after the two randoms.
    pub(crate) fn params(&self) -> Result<Vec<u8>, Error> {
        Self::params_of(self.group, &self.public)
    }

    pub(crate) fn params_of(group: NamedGroup, public: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = vec![NAMED_CURVE];
        codec::u16(&mut out, group.to_u16());
        codec::bytes(&mut out, 1, public)?;
        Ok(out)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.params()?);
        codec::u16(out, self.scheme.to_u16());
        codec::bytes(out, 2, &self.signature)
    }
}

/// CertificateRequest (RFC 5246 §7.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateRequest {
    pub(crate) certificate_types: Vec<u8>,
    pub(crate) schemes: Vec<SignatureScheme>,
    /// The encoded `certificate_authorities` list, kept opaque: WebRTC peers send none and we
    /// ignore it.
    pub(crate) authorities: Vec<u8>,
}

/// ClientCertificateType values (RFC 5246 §7.4.4, RFC 8422 §5.5).
pub(crate) const CERT_TYPE_RSA_SIGN: u8 = 1;
pub(crate) const CERT_TYPE_ECDSA_SIGN: u8 = 64;

impl CertificateRequest {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let certificate_types = read_block(&mut r, 1)?.peek_rest().to_vec();
        let schemes = read_u16_list(&mut r, SignatureScheme::from_u16)?;
        let authorities = read_block(&mut r, 2)?.peek_rest().to_vec();
        finish(&r, "CertificateRequest")?;
        Ok(Self {
            certificate_types,
            schemes,
            authorities,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::bytes(out, 1, &self.certificate_types)?;
        codec::block(out, 2, |o| {
            self.schemes.iter().for_each(|s| codec::u16(o, s.to_u16()));
            Ok(())
        })?;
        codec::bytes(out, 2, &self.authorities)
    }
}

/// ClientKeyExchange for ECDHE (RFC 8422 §5.7): the client's ephemeral public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientKeyExchange {
    pub(crate) public: Vec<u8>,
}

impl ClientKeyExchange {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let public = read_block(&mut r, 1)?.peek_rest().to_vec();
        finish(&r, "ClientKeyExchange")?;
        if public.is_empty() {
            return Err(Error::Decode(DecodeError::Malformed(
                "empty ECDHE public key",
            )));
        }
        Ok(Self { public })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::bytes(out, 1, &self.public)
    }
}

/// CertificateVerify (RFC 5246 §7.4.8): a signature over the transcript so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateVerify {
    pub(crate) scheme: SignatureScheme,
    pub(crate) signature: Vec<u8>,
}

impl CertificateVerify {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let scheme = SignatureScheme::from_u16(r.u16()?);
        let signature = read_block(&mut r, 2)?.peek_rest().to_vec();
        finish(&r, "CertificateVerify")?;
        Ok(Self { scheme, signature })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::u16(out, self.scheme.to_u16());
        codec::bytes(out, 2, &self.signature)
    }
}

/// Finished (RFC 5246 §7.4.9): `verify_data`, 12 bytes for every suite we implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    pub(crate) verify_data: Vec<u8>,
}

impl Finished {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            verify_data: body.to_vec(),
        })
    }

    #[cfg(test)]
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.verify_data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), min..=max)
    }

    fn scheme() -> impl Strategy<Value = SignatureScheme> {
        any::<u16>().prop_map(SignatureScheme::from_u16)
    }

    proptest! {
        #[test]
        fn certificate_round_trips(chain in prop::collection::vec(bytes(1, 300), 0..=MAX_CHAIN)) {
            let m = CertificateMsg { chain };
            let mut out = Vec::new();
            m.write(&mut out).unwrap();
            prop_assert_eq!(CertificateMsg::parse(&out).unwrap(), m);
        }

        #[test]
        fn server_key_exchange_round_trips(g: u16, public in bytes(1, 133), scheme in scheme(), signature in bytes(0, 300)) {
            let m = ServerKeyExchange { group: NamedGroup::from_u16(g), public, scheme, signature };
            let mut out = Vec::new();
            m.write(&mut out).unwrap();
            prop_assert_eq!(ServerKeyExchange::parse(&out).unwrap(), m);
        }

        #[test]
        fn certificate_request_round_trips(types in bytes(0, 4), schemes in prop::collection::vec(scheme(), 0..10), authorities in bytes(0, 50)) {
            let m = CertificateRequest { certificate_types: types, schemes, authorities };
            let mut out = Vec::new();
            m.write(&mut out).unwrap();
            prop_assert_eq!(CertificateRequest::parse(&out).unwrap(), m);
        }

        #[test]
        fn key_exchange_verify_and_finished_round_trip(public in bytes(1, 133), scheme in scheme(), signature in bytes(0, 300), verify in bytes(0, 12)) {
            let cke = ClientKeyExchange { public };
            let mut out = Vec::new();
            cke.write(&mut out).unwrap();
            prop_assert_eq!(ClientKeyExchange::parse(&out).unwrap(), cke);
            let cv = CertificateVerify { scheme, signature };
            out.clear();
            cv.write(&mut out).unwrap();
            prop_assert_eq!(CertificateVerify::parse(&out).unwrap(), cv);
            let fin = Finished { verify_data: verify };
            out.clear();
            fin.write(&mut out).unwrap();
            prop_assert_eq!(Finished::parse(&out).unwrap(), fin);
        }

        #[test]
        fn any_bytes_never_panic_the_parsers(data: Vec<u8>) {
            let _ = CertificateMsg::parse(&data);
            let _ = ServerKeyExchange::parse(&data);
            let _ = CertificateRequest::parse(&data);
            let _ = ClientKeyExchange::parse(&data);
            let _ = CertificateVerify::parse(&data);
        }
    }

    #[test]
    fn chain_length_is_bounded() {
        let m = CertificateMsg {
            chain: vec![vec![1]; MAX_CHAIN + 1],
        };
        let mut out = Vec::new();
        m.write(&mut out).unwrap();
        assert!(CertificateMsg::parse(&out).is_err());
    }
}
