//! ClientHello, ServerHello (RFC 5246 §7.4.1.2-3, with the DTLS cookie of RFC 6347 §4.2.1)
//! and HelloVerifyRequest.

use super::super::Error;
use super::super::codec::{self, finish, read_block, read_u16_list};
use super::super::crypto::{CipherSuite, RANDOM_LEN};
use super::super::extensions::Extensions;
use super::super::record::Version;
use crate::dtls::error::DecodeError;
use crate::wire::Reader;

/// RFC 5246 §7.4.1.2: session ids are at most 32 bytes.
const MAX_SESSION_ID: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) client_version: Version,
    pub(crate) random: [u8; RANDOM_LEN],
    pub(crate) session_id: Vec<u8>,
    pub(crate) cookie: Vec<u8>,
    pub(crate) cipher_suites: Vec<CipherSuite>,
    pub(crate) compression_methods: Vec<u8>,
    pub(crate) extensions: Extensions,
}

impl ClientHello {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let client_version = Version::from_u16(r.u16()?);
        let random = r.array()?;
        let session_id = read_block(&mut r, 1)?.peek_rest().to_vec();
        if session_id.len() > MAX_SESSION_ID {
            return Err(Error::Decode(DecodeError::Malformed("session id too long")));
        }
        let cookie = read_block(&mut r, 1)?.peek_rest().to_vec();
        let cipher_suites = read_u16_list(&mut r, CipherSuite::from_u16)?;
        let compression_methods = read_block(&mut r, 1)?.peek_rest().to_vec();
        let extensions = Extensions::parse(&mut r)?;
        finish(&r, "ClientHello")?;
        Ok(Self {
            client_version,
            random,
            session_id,
            cookie,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::u16(out, self.client_version.to_u16());
        out.extend_from_slice(&self.random);
        codec::bytes(out, 1, &self.session_id)?;
        codec::bytes(out, 1, &self.cookie)?;
        codec::block(out, 2, |o| {
            self.cipher_suites
                .iter()
                .for_each(|s| codec::u16(o, s.to_u16()));
            Ok(())
        })?;
        codec::bytes(out, 1, &self.compression_methods)?;
        self.extensions.write(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerHello {
    pub(crate) server_version: Version,
    pub(crate) random: [u8; RANDOM_LEN],
    pub(crate) session_id: Vec<u8>,
    pub(crate) cipher_suite: CipherSuite,
    pub(crate) compression_method: u8,
    pub(crate) extensions: Extensions,
}

impl ServerHello {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let server_version = Version::from_u16(r.u16()?);
        let random = r.array()?;
        let session_id = read_block(&mut r, 1)?.peek_rest().to_vec();
        if session_id.len() > MAX_SESSION_ID {
            return Err(Error::Decode(DecodeError::Malformed("session id too long")));
        }
        let cipher_suite = CipherSuite::from_u16(r.u16()?);
        let compression_method = r.u8()?;
        let extensions = Extensions::parse(&mut r)?;
        finish(&r, "ServerHello")?;
        Ok(Self {
            server_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::u16(out, self.server_version.to_u16());
        out.extend_from_slice(&self.random);
        codec::bytes(out, 1, &self.session_id)?;
        codec::u16(out, self.cipher_suite.to_u16());
        out.push(self.compression_method);
        self.extensions.write(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelloVerifyRequest {
    pub(crate) server_version: Version,
    pub(crate) cookie: Vec<u8>,
}

impl HelloVerifyRequest {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let server_version = Version::from_u16(r.u16()?);
        let cookie = read_block(&mut r, 1)?.peek_rest().to_vec();
        finish(&r, "HelloVerifyRequest")?;
        Ok(Self {
            server_version,
            cookie,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        codec::u16(out, self.server_version.to_u16());
        codec::bytes(out, 1, &self.cookie)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::super::extensions::tests::any_extensions;
    use super::*;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..=max)
    }

    pub(crate) fn any_client_hello() -> impl Strategy<Value = ClientHello> {
        (
            any::<u16>(),
            any::<[u8; 32]>(),
            bytes(32),
            bytes(255),
            prop::collection::vec(any::<u16>().prop_map(CipherSuite::from_u16), 0..20),
            bytes(4),
            any_extensions(),
        )
            .prop_map(
                |(v, random, session_id, cookie, suites, comp, extensions)| ClientHello {
                    client_version: Version::from_u16(v),
                    random,
                    session_id,
                    cookie,
                    cipher_suites: suites,
                    compression_methods: comp,
                    extensions,
                },
            )
    }

    proptest! {
        #[test]
        fn client_hello_round_trips(ch in any_client_hello()) {
            let mut out = Vec::new();
            ch.write(&mut out).unwrap();
            prop_assert_eq!(ClientHello::parse(&out).unwrap(), ch);
        }

        #[test]
        fn server_hello_round_trips(v: u16, random: [u8; 32], sid in bytes(32), suite: u16, comp: u8, extensions in any_extensions()) {
            let sh = ServerHello {
                server_version: Version::from_u16(v),
                random,
                session_id: sid,
                cipher_suite: CipherSuite::from_u16(suite),
                compression_method: comp,
                extensions,
            };
            let mut out = Vec::new();
            sh.write(&mut out).unwrap();
            prop_assert_eq!(ServerHello::parse(&out).unwrap(), sh);
        }

        #[test]
        fn hello_verify_request_round_trips(v: u16, cookie in bytes(255)) {
            let hvr = HelloVerifyRequest { server_version: Version::from_u16(v), cookie };
            let mut out = Vec::new();
            hvr.write(&mut out).unwrap();
            prop_assert_eq!(HelloVerifyRequest::parse(&out).unwrap(), hvr);
        }

        #[test]
        fn any_bytes_never_panic_the_hello_parsers(data: Vec<u8>) {
            let _ = ClientHello::parse(&data);
            let _ = ServerHello::parse(&data);
            let _ = HelloVerifyRequest::parse(&data);
        }
    }

    #[test]
    fn oversized_session_id_is_rejected() {
        let mut ch = ClientHello {
            client_version: Version::Dtls12,
            random: [0; 32],
            session_id: vec![1; 33],
            cookie: vec![],
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256],
            compression_methods: vec![0],
            extensions: Extensions::default(),
        };
        let mut out = Vec::new();
        ch.write(&mut out).unwrap();
        assert!(ClientHello::parse(&out).is_err());
        ch.session_id.truncate(32);
        out.clear();
        ch.write(&mut out).unwrap();
        assert!(ClientHello::parse(&out).is_ok());
    }
}
