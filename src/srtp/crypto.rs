//! The per-packet transforms, given the packet index: AES-CM with HMAC-SHA1 (RFC 3711 §4.1.1,
//! §4.2.1) and AES-GCM (RFC 7714). Callers have checked lengths and room; the index and
//! replay state live in the context.
//!
//! Cipher choice: `aws_lc_rs::cipher::EncryptingKey::ctr` with `less_safe_encrypt` and an
//! `Iv128` context runs AWS-LC's `AES_ctr128_encrypt` straight over the caller's slice with the
//! expanded key held in the `EncryptingKey`: no allocation, no EVP context and no per-call key
//! schedule. The streaming API would allocate an `EVP_CIPHER_CTX` per packet. For GCM,
//! `LessSafeKey::seal_in_place_scatter` writes the tag straight into the caller's buffer and
//! `open_in_place_separate_tag` reads it from there.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{constant_time, hmac};

use super::header::RTCP_HEADER;
use super::kdf::{Kdf, Label};
use super::{Error, Profile};

/// RFC 3711 §3.4: the E flag is the top bit of the SRTCP trailer word.
pub(crate) const E_FLAG: u32 = 0x8000_0000;
const TRAILER: usize = 4;
/// What [`Cipher::unprotect_rtp_into`] copies at once for an RTP header that fits.
const HEADER_BLOCK: usize = 64;
/// RFC 3711 §4.2.1 / RFC 5764 §4.1.2: SRTCP always carries the 80-bit tag.
const SRTCP_HMAC_TAG: usize = 10;
const GCM_TAG: usize = 16;

/// One direction's session keys for RTP or for RTCP.
pub(crate) enum Cipher {
    /// Boxed: the AES key schedule and the HMAC state are ~1.7 KB, which GCM contexts should
    /// not pay for; one pointer load per packet is noise next to the cipher.
    AesCm(Box<AesCm>),
    Gcm(Gcm),
}

pub(crate) struct AesCm {
    key: EncryptingKey,
    salt: [u8; 14],
    auth: hmac::Key,
    tag_len: usize,
}

pub(crate) struct Gcm {
    key: LessSafeKey,
    salt: [u8; 12],
}

impl Cipher {
    /// Derives the RTP (`rtcp == false`) or RTCP session keys of `profile`.
    pub(crate) fn new(profile: Profile, kdf: &Kdf, rtcp: bool) -> Result<Self, Error> {
        let (enc, auth, salt) = if rtcp {
            (
                Label::RtcpEncryption,
                Label::RtcpAuthentication,
                Label::RtcpSalt,
            )
        } else {
            (
                Label::RtpEncryption,
                Label::RtpAuthentication,
                Label::RtpSalt,
            )
        };
        let unsupported = |_| Error::UnsupportedProfile(profile.into());
        match profile {
            Profile::Aes128CmSha1_80 | Profile::Aes128CmSha1_32 => {
                let mut key = [0; 16];
                kdf.derive(enc, &mut key)?;
                let key = UnboundCipherKey::new(&AES_128, &key)
                    .and_then(EncryptingKey::ctr)
                    .map_err(unsupported)?;
                let mut salt_bytes = [0; 14];
                kdf.derive(salt, &mut salt_bytes)?;
                // RFC 3711 §8.2: n_a = 160 bits.
                let mut auth_key = [0; 20];
                kdf.derive(auth, &mut auth_key)?;
                let tag_len = if rtcp {
                    SRTCP_HMAC_TAG
                } else {
                    profile.rtp_overhead()
                };
                Ok(Cipher::AesCm(Box::new(AesCm {
                    key,
                    salt: salt_bytes,
                    auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth_key),
                    tag_len,
                })))
            }
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => {
                let (alg, len) = if profile == Profile::AeadAes128Gcm {
                    (&AES_128_GCM, 16)
                } else {
                    (&AES_256_GCM, 32)
                };
                let mut key = [0; 32];
                kdf.derive(enc, &mut key[..len])?;
                let key = UnboundKey::new(alg, &key[..len]).map_err(unsupported)?;
                let mut salt_bytes = [0; 12];
                kdf.derive(salt, &mut salt_bytes)?;
                Ok(Cipher::Gcm(Gcm {
                    key: LessSafeKey::new(key),
                    salt: salt_bytes,
                }))
            }
            Profile::Unknown(n) => Err(Error::UnsupportedProfile(n)),
        }
    }

    /// Bytes an RTP packet grows by (the tag).
    pub(crate) fn rtp_overhead(&self) -> usize {
        match self {
            Cipher::AesCm(c) => c.tag_len,
            Cipher::Gcm(_) => GCM_TAG,
        }
    }

    /// Bytes an RTCP packet grows by (tag and E flag + index).
    pub(crate) fn rtcp_overhead(&self) -> usize {
        TRAILER
            + match self {
                Cipher::AesCm(_) => SRTCP_HMAC_TAG,
                Cipher::Gcm(_) => GCM_TAG,
            }
    }

    /// Protects the RTP packet in `buf[..len]` whose header is `header_len` bytes, writing the
    /// tag after it. `buf.len()` must be `len + rtp_overhead()`.
    pub(crate) fn protect_rtp(
        &self,
        buf: &mut [u8],
        header_len: usize,
        len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), Error> {
        let (packet, tag) = buf.split_at_mut(len);
        match self {
            Cipher::AesCm(c) => {
                c.apply(ssrc, index, &mut packet[header_len..])?;
                // RFC 3711 §4.2: the tag covers the header, the encrypted payload and the ROC.
                let mac = c.mac(packet, &roc(index));
                tag.copy_from_slice(&mac.as_ref()[..c.tag_len]);
            }
            Cipher::Gcm(g) => {
                // RFC 7714 §8.1: the AAD is the whole header, CSRCs and extension included.
                let (header, payload) = packet.split_at_mut(header_len);
                g.seal(ssrc, index, header, payload, tag)?;
            }
        }
        Ok(())
    }

    /// Protects the packet `head` then `tail` (its header `header_len` bytes, all in `head`)
    /// into `out`, which is `head.len() + tail.len() + rtp_overhead()` bytes: the header
    /// copied, the payload encrypted across, the tag after it. Inlined into its one caller
    /// (`Context::protect_rtp_parts`): a call per packet, its arguments passed on the stack.
    #[inline]
    pub(crate) fn protect_rtp_parts(
        &self,
        head: &[u8],
        tail: &[u8],
        out: &mut [u8],
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), Error> {
        let len = head.len() + tail.len();
        match self {
            Cipher::Gcm(g) if tail.is_empty() || head.len() == header_len => {
                // The payload lies in one piece: sealed from where it is.
                let (sealed, tag) = out.split_at_mut(len);
                let (header, payload) = match tail.is_empty() {
                    true => head.split_at(header_len),
                    false => (head, tail),
                };
                sealed[..header_len].copy_from_slice(header);
                g.seal_into(ssrc, index, header, payload, &mut sealed[header_len..], tag)?;
            }
            _ => {
                // The keystream is applied in place (and a payload in two pieces is joined):
                // one copy, then the in-place path.
                out[..head.len()].copy_from_slice(head);
                out[head.len()..len].copy_from_slice(tail);
                self.protect_rtp(out, header_len, len, ssrc, index)?;
            }
        }
        Ok(())
    }

    /// Authenticates, then decrypts, the SRTP packet filling `buf`; returns the RTP length.
    /// `buf.len()` is at least `header_len + rtp_overhead()`.
    pub(crate) fn unprotect_rtp(
        &self,
        buf: &mut [u8],
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, Error> {
        let len = buf.len() - self.rtp_overhead();
        let (packet, tag) = buf.split_at_mut(len);
        match self {
            Cipher::AesCm(c) => {
                c.verify(packet, &roc(index), tag)?;
                c.apply(ssrc, index, &mut packet[header_len..])?;
            }
            Cipher::Gcm(g) => {
                let (header, payload) = packet.split_at_mut(header_len);
                g.open(ssrc, index, header, payload, tag)?;
            }
        }
        Ok(len)
    }

    /// [`unprotect_rtp`](Self::unprotect_rtp) from `packet` into `out`, which is exactly the
    /// RTP length (`packet.len() - rtp_overhead()`); `packet` is not changed.
    pub(crate) fn unprotect_rtp_into(
        &self,
        packet: &[u8],
        out: &mut [u8],
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), Error> {
        let (body, tag) = packet.split_at(out.len());
        match self {
            Cipher::AesCm(c) => {
                // RFC 3711 §3.3: the tag is checked before anything is decrypted.
                c.verify(body, &roc(index), tag)?;
                out.copy_from_slice(body);
                c.apply(ssrc, index, &mut out[header_len..])?;
            }
            Cipher::Gcm(g) => {
                let (header, payload) = body.split_at(header_len);
                // A header (12 to ~40 bytes) is copied as one fixed 64-byte block when the
                // packet has that much: a few vector moves instead of a call to memcpy. What
                // it copies past the header is overwritten by the plaintext.
                if header_len <= HEADER_BLOCK && body.len() >= HEADER_BLOCK {
                    out[..HEADER_BLOCK].copy_from_slice(&body[..HEADER_BLOCK]);
                } else {
                    out[..header_len].copy_from_slice(header);
                }
                g.open_into(ssrc, index, header, payload, tag, &mut out[header_len..])?;
            }
        }
        Ok(())
    }

    /// Protects the RTCP packet in `buf[..len]` with SRTCP index `index` (31 bits), always
    /// encrypting (E = 1). `buf.len()` must be `len + rtcp_overhead()`.
    pub(crate) fn protect_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
    ) -> Result<(), Error> {
        let trailer = (E_FLAG | index).to_be_bytes();
        match self {
            Cipher::AesCm(c) => {
                // RFC 3711 §3.4: header | encrypted | E+index | tag; the tag covers all before it.
                c.apply(ssrc, u64::from(index), &mut buf[RTCP_HEADER..len])?;
                buf[len..len + TRAILER].copy_from_slice(&trailer);
                let (covered, tag) = buf.split_at_mut(len + TRAILER);
                let mac = c.mac(covered, &[]);
                tag.copy_from_slice(&mac.as_ref()[..SRTCP_HMAC_TAG]);
            }
            Cipher::Gcm(g) => {
                // RFC 7714 §9: header | encrypted | tag | E+index; AAD = header | E+index.
                let (packet, rest) = buf.split_at_mut(len);
                let (tag, tail) = rest.split_at_mut(GCM_TAG);
                tail.copy_from_slice(&trailer);
                let mut aad = [0; RTCP_HEADER + TRAILER];
                aad[..RTCP_HEADER].copy_from_slice(&packet[..RTCP_HEADER]);
                aad[RTCP_HEADER..].copy_from_slice(&trailer);
                let (_, payload) = packet.split_at_mut(RTCP_HEADER);
                g.seal(ssrc, u64::from(index), &aad, payload, tag)?;
            }
        }
        Ok(())
    }

    /// The E flag and SRTCP index word of the SRTCP packet filling `buf`, whose length is at
    /// least `RTCP_HEADER + rtcp_overhead()`.
    pub(crate) fn rtcp_trailer(&self, buf: &[u8]) -> u32 {
        let at = match self {
            Cipher::AesCm(_) => buf.len() - SRTCP_HMAC_TAG - TRAILER,
            Cipher::Gcm(_) => buf.len() - TRAILER,
        };
        let mut word = [0; TRAILER];
        word.copy_from_slice(&buf[at..at + TRAILER]);
        u32::from_be_bytes(word)
    }

    /// Authenticates, then decrypts if E is set, the SRTCP packet filling `buf`; returns the
    /// RTCP length. `trailer` is [`rtcp_trailer`](Self::rtcp_trailer) of `buf`.
    pub(crate) fn unprotect_rtcp(
        &self,
        buf: &mut [u8],
        ssrc: u32,
        trailer: u32,
    ) -> Result<usize, Error> {
        let len = buf.len() - self.rtcp_overhead();
        let index = u64::from(trailer & !E_FLAG);
        let encrypted = trailer & E_FLAG != 0;
        match self {
            Cipher::AesCm(c) => {
                let (covered, tag) = buf.split_at_mut(len + TRAILER);
                c.verify(covered, &[], tag)?;
                if encrypted {
                    c.apply(ssrc, index, &mut covered[RTCP_HEADER..len])?;
                }
            }
            Cipher::Gcm(g) if encrypted => {
                let mut aad = [0; RTCP_HEADER + TRAILER];
                aad[..RTCP_HEADER].copy_from_slice(&buf[..RTCP_HEADER]);
                aad[RTCP_HEADER..].copy_from_slice(&trailer.to_be_bytes());
                let (packet, rest) = buf.split_at_mut(len);
                let (_, payload) = packet.split_at_mut(RTCP_HEADER);
                g.open(ssrc, index, &aad, payload, &rest[..GCM_TAG])?;
            }
            Cipher::Gcm(g) => {
                // RFC 7714 §9.2: without encryption the AAD is the whole packet and then the
                // trailer, which sits after the tag. Move the trailer next to the packet so the
                // AAD is contiguous; the caller only keeps buf[..len].
                let mut tag = [0; GCM_TAG];
                tag.copy_from_slice(&buf[len..len + GCM_TAG]);
                buf.copy_within(len + GCM_TAG.., len);
                g.open(ssrc, index, &buf[..len + TRAILER], &mut [], &tag)?;
            }
        }
        Ok(len)
    }
}

/// RFC 3711 §3.3.1: the rollover counter is the index above its low 16 bits.
fn roc(index: u64) -> [u8; 4] {
    ((index >> 16) as u32).to_be_bytes()
}

impl AesCm {
    /// RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16); XORs the
    /// keystream into `data`.
    fn apply(&self, ssrc: u32, index: u64, data: &mut [u8]) -> Result<(), Error> {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        // CTR mode with a 128-bit IV takes any length; a failure here would be a library bug,
        // and is reported rather than ignored so plaintext is never sent as if protected.
        self.key
            .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::<16>::from(iv)))
            .map(|_| ())
            .map_err(|_| Error::CipherFailure)
    }

    fn mac(&self, data: &[u8], suffix: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.auth);
        ctx.update(data);
        ctx.update(suffix);
        ctx.sign()
    }

    /// Checks the truncated HMAC-SHA1 tag in constant time.
    fn verify(&self, data: &[u8], suffix: &[u8], tag: &[u8]) -> Result<(), Error> {
        let mac = self.mac(data, suffix);
        constant_time::verify_slices_are_equal(&mac.as_ref()[..self.tag_len], tag)
            .map_err(|_| Error::AuthenticationFailed)
    }
}

impl Gcm {
    /// RFC 7714 §8.1 and §9.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt for RTP, and
    /// (0x0000 || SSRC || 0x0000 || 0 || SRTCP index) XOR salt for RTCP; both are the 48-bit
    /// index after the SSRC.
    ///
    /// Worked in two integers (the IV's first four bytes and its last eight) rather than
    /// byte by byte: a dozen instructions a packet instead of some thirty.
    fn nonce(&self, ssrc: u32, index: u64) -> Nonce {
        Nonce::assume_unique_for_key(self.iv(ssrc, index))
    }

    /// The IV of [`nonce`](Self::nonce).
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 12] {
        let [s0, s1, s2, s3, rest @ ..] = self.salt;
        let high = u32::from_be_bytes([s0, s1, s2, s3]) ^ (ssrc >> 16);
        let low = u64::from_be_bytes(rest) ^ (u64::from(ssrc) << 48 | (index & 0xffff_ffff_ffff));
        let mut iv = [0u8; 12];
        iv[..4].copy_from_slice(&high.to_be_bytes());
        iv[4..].copy_from_slice(&low.to_be_bytes());
        iv
    }

    fn seal(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), Error> {
        // Packets are far below GCM's 2^36-byte limit and the tag slot is 16 bytes.
        self.key
            .seal_in_place_scatter(self.nonce(ssrc, index), Aad::from(aad), payload, &[], tag)
            .map_err(|_| Error::CipherFailure)
    }

    /// Encrypts `payload` into `ciphertext` (the same length) and writes the tag.
    #[inline]
    fn seal_into(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        payload: &[u8],
        ciphertext: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), Error> {
        self.key
            .seal_out_of_place_scatter(
                self.nonce(ssrc, index),
                Aad::from(aad),
                payload,
                ciphertext,
                &[],
                tag,
            )
            .map_err(|_| Error::CipherFailure)
    }

    fn open(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Error> {
        self.key
            .open_in_place_separate_tag(self.nonce(ssrc, index), Aad::from(aad), tag, payload)
            .map(|_| ())
            .map_err(|_| Error::AuthenticationFailed)
    }

    /// Authenticates and decrypts `ciphertext` into `plaintext` (the same length).
    fn open_into(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        plaintext: &mut [u8],
    ) -> Result<(), Error> {
        self.key
            .open_separate_gather(
                self.nonce(ssrc, index),
                Aad::from(aad),
                ciphertext,
                tag,
                plaintext,
            )
            .map_err(|_| Error::AuthenticationFailed)
    }
}

#[cfg(test)]
impl Cipher {
    /// A GCM cipher from session keys, as the RFC 7714 examples give them.
    pub(crate) fn gcm_from_session_keys(key: &[u8], salt: [u8; 12]) -> Self {
        let alg = if key.len() == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        Cipher::Gcm(Gcm {
            key: LessSafeKey::new(UnboundKey::new(alg, key).unwrap()),
            salt,
        })
    }

    /// An AES-CM cipher from session keys, as RFC 3711 Appendix B.2 gives them.
    pub(crate) fn aes_cm_from_session_keys(key: &[u8], salt: [u8; 14]) -> Self {
        Cipher::AesCm(Box::new(AesCm {
            key: EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, key).unwrap()).unwrap(),
            salt,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[0; 20]),
            tag_len: 10,
        }))
    }

    /// XORs the AES-CM keystream for (`ssrc`, `index`) into `data`.
    pub(crate) fn keystream(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let Cipher::AesCm(c) = self else {
            panic!("not AES-CM")
        };
        c.apply(ssrc, index, data).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_iv_is_the_salt_xor_ssrc_and_48_bit_index() {
        let Cipher::Gcm(g) = Cipher::gcm_from_session_keys(&[1; 16], *b"Quid pro quo") else {
            unreachable!()
        };
        // RFC 7714 §8.1 byte by byte, against the two-integer form.
        for (ssrc, index) in [
            (0x5501_a0b2, 0xf17b),
            (0xffff_ffff, (1 << 48) - 1),
            (0x0102_0304, 0x0000_fffe_0001_0002),
            (0, 0),
        ] {
            let mut want = [0u8; 12];
            want[2..6].copy_from_slice(&u32::to_be_bytes(ssrc));
            want[6..].copy_from_slice(&u64::to_be_bytes(index)[2..]);
            for (b, s) in want.iter_mut().zip(g.salt) {
                *b ^= s;
            }
            assert_eq!(g.iv(ssrc, index), want, "ssrc {ssrc:#x} index {index:#x}");
        }
    }
}
