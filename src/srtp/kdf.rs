//! Session key derivation (RFC 3711 §4.3, and RFC 7714 §11 for the GCM profiles).
//!
//! The PRF is AES in counter mode keyed with the master key. With a key derivation rate of
//! zero (the only rate DTLS-SRTP uses, RFC 5764 §4.1.2) `r = index DIV kdr` is zero, so
//! `x = (label << 48) XOR master_salt` and the session key is the keystream started at
//! `x * 2^16`.

use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;

use super::Error;

/// The key derivation labels: RFC 3711 §4.3.1 (SRTP) and §4.3.2 (SRTCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Label {
    RtpEncryption = 0x00,
    RtpAuthentication = 0x01,
    RtpSalt = 0x02,
    RtcpEncryption = 0x03,
    RtcpAuthentication = 0x04,
    RtcpSalt = 0x05,
}

/// The AES-CM PRF of RFC 3711 §4.3.3 over one master key and salt.
pub(crate) struct Kdf {
    key: EncryptingKey,
    /// The master salt, right-padded with zeros to 112 bits.
    salt: [u8; 14],
}

impl Kdf {
    /// `master_key` is 16 or 32 bytes; `master_salt` 14 (AES-CM) or 12 (GCM) bytes.
    pub(crate) fn new(master_key: &[u8], master_salt: &[u8]) -> Result<Self, Error> {
        let alg = match master_key.len() {
            16 => &AES_128,
            32 => &AES_256,
            got => return Err(Error::BadKeyLength { expected: 16, got }),
        };
        if master_salt.len() > 14 {
            return Err(Error::BadKeyLength {
                expected: 14,
                got: master_salt.len(),
            });
        }
        let mut salt = [0; 14];
        // RFC 7714 §11: the 96-bit GCM master salt takes the place of the 112-bit one, its
        // first byte where the first byte of a 112-bit salt would be (libsrtp does the same:
        // the salt is padded with two zero bytes on the right).
        salt[..master_salt.len()].copy_from_slice(master_salt);
        let key = UnboundCipherKey::new(alg, master_key)
            .and_then(EncryptingKey::ctr)
            .map_err(|_| Error::BadKeyLength {
                expected: 16,
                got: master_key.len(),
            })?;
        Ok(Self { key, salt })
    }

    /// Fills `out` with the session key, salt or authentication key for `label`.
    pub(crate) fn derive(&self, label: Label, out: &mut [u8]) -> Result<(), Error> {
        // RFC 3711 §4.3.1: key_id = label || r (r = 0, 48 bits), right-aligned against the
        // salt, so the label lands on byte 7 of the 14-byte salt.
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        iv[7] ^= label as u8;
        out.fill(0);
        self.key
            .less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::<16>::from(iv)))
            .map(|_| ())
            .map_err(|_| Error::CipherFailure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::tests::hex;

    // RFC 3711 Appendix B.3, byte for byte.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let kdf = Kdf::new(
            &hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            &hex("0EC675AD498AFEEBB6960B3AABE6"),
        )
        .unwrap();
        let mut key = [0; 16];
        kdf.derive(Label::RtpEncryption, &mut key).unwrap();
        assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0; 14];
        kdf.derive(Label::RtpSalt, &mut salt).unwrap();
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        // B.3 lists 94 bytes of authentication keystream; HMAC-SHA1 uses the first 20.
        let mut auth = [0; 94];
        kdf.derive(Label::RtpAuthentication, &mut auth).unwrap();
        assert_eq!(
            auth.to_vec(),
            hex(concat!(
                "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE",
                "E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25",
                "6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2"
            ))
        );
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert!(Kdf::new(&[0; 15], &[0; 14]).is_err());
        assert!(Kdf::new(&[0; 16], &[0; 15]).is_err());
        assert!(Kdf::new(&[0; 32], &[0; 12]).is_ok());
    }
}
