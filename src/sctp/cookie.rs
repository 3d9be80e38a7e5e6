//! The state cookie (RFC 9260 §5.1.3): everything needed to set up the association, signed with
//! HMAC-SHA256 under a per-association secret, so the side answering an INIT keeps no state.

use crate::wire::{Reader, Writer};
use aws_lc_rs::hmac;

/// Extensions both sides agreed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Caps {
    /// PR-SCTP, RFC 3758.
    pub forward_tsn: bool,
    /// Stream reset, RFC 6525.
    pub reconfig: bool,
    /// I-DATA, RFC 8260.
    pub interleaving: bool,
    /// The peer accepts zero checksums from us (RFC 9653).
    pub zero_checksum: bool,
}

impl Caps {
    fn to_bits(self) -> u8 {
        u8::from(self.forward_tsn)
            | u8::from(self.reconfig) << 1
            | u8::from(self.interleaving) << 2
            | u8::from(self.zero_checksum) << 3
    }

    fn from_bits(b: u8) -> Self {
        Self {
            forward_tsn: b & 1 != 0,
            reconfig: b & 2 != 0,
            interleaving: b & 4 != 0,
            zero_checksum: b & 8 != 0,
        }
    }
}

/// The association parameters a cookie carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cookie {
    pub local_tag: u32,
    pub peer_tag: u32,
    pub local_tie_tag: u32,
    pub peer_tie_tag: u32,
    pub local_tsn: u32,
    pub peer_tsn: u32,
    pub peer_rwnd: u32,
    /// Negotiated outbound stream count: min(our OS, the peer's MIS).
    pub out_streams: u16,
    /// Negotiated inbound stream count.
    pub in_streams: u16,
    pub caps: Caps,
    /// When the cookie was made, in milliseconds since the association's epoch.
    pub created_ms: u64,
}

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 7 * 4 + 2 * 2 + 1 + 8;
const MAC_LEN: usize = 32;
/// Encoded size of a cookie.
pub(crate) const LEN: usize = BODY_LEN + MAC_LEN;

/// Why a cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieError {
    /// Wrong size, version or signature.
    Invalid,
    /// Older than its lifetime by this many milliseconds.
    Stale(u64),
}

/// Signs and checks cookies with one secret.
pub(crate) struct CookieKey(hmac::Key);

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

impl CookieKey {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    pub(crate) fn seal(&self, c: &Cookie) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        let mut w = Writer::new(&mut out);
        // The buffer is exactly the size written, so these cannot fail.
        let _ = (|| -> Result<(), crate::wire::Error> {
            w.u8(VERSION)?;
            for v in [
                c.local_tag,
                c.peer_tag,
                c.local_tie_tag,
                c.peer_tie_tag,
                c.local_tsn,
                c.peer_tsn,
                c.peer_rwnd,
            ] {
                w.u32(v)?;
            }
            w.u16(c.out_streams)?;
            w.u16(c.in_streams)?;
            w.u8(c.caps.to_bits())?;
            w.u64(c.created_ms)
        })();
        let tag = hmac::sign(&self.0, &out[..BODY_LEN]);
        out[BODY_LEN..].copy_from_slice(tag.as_ref());
        out
    }

    /// Verifies the signature, then the age against `lifetime_ms` at `now_ms`.
    pub(crate) fn open(
        &self,
        bytes: &[u8],
        now_ms: u64,
        lifetime_ms: u64,
    ) -> Result<Cookie, CookieError> {
        if bytes.len() != LEN
            || hmac::verify(&self.0, &bytes[..BODY_LEN], &bytes[BODY_LEN..]).is_err()
        {
            return Err(CookieError::Invalid);
        }
        let mut r = Reader::new(&bytes[..BODY_LEN]);
        let parse = |r: &mut Reader<'_>| -> Result<Cookie, crate::wire::Error> {
            if r.u8()? != VERSION {
                return Err(crate::wire::Error::UnexpectedEnd {
                    needed: 0,
                    remaining: 0,
                });
            }
            Ok(Cookie {
                local_tag: r.u32()?,
                peer_tag: r.u32()?,
                local_tie_tag: r.u32()?,
                peer_tie_tag: r.u32()?,
                local_tsn: r.u32()?,
                peer_tsn: r.u32()?,
                peer_rwnd: r.u32()?,
                out_streams: r.u16()?,
                in_streams: r.u16()?,
                caps: Caps::from_bits(r.u8()?),
                created_ms: r.u64()?,
            })
        };
        let c = parse(&mut r).map_err(|_| CookieError::Invalid)?;
        let age = now_ms.saturating_sub(c.created_ms);
        if age > lifetime_ms {
            return Err(CookieError::Stale(age - lifetime_ms));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie() -> Cookie {
        Cookie {
            local_tag: 1,
            peer_tag: 2,
            local_tie_tag: 0,
            peer_tie_tag: 0,
            local_tsn: 3,
            peer_tsn: 4,
            peer_rwnd: 5,
            out_streams: 6,
            in_streams: 7,
            caps: Caps {
                forward_tsn: true,
                reconfig: false,
                interleaving: true,
                zero_checksum: true,
            },
            created_ms: 1000,
        }
    }

    #[test]
    fn sealed_cookie_opens_and_tampering_is_caught() {
        let key = CookieKey::new(&[7; 32]);
        let mut sealed = key.seal(&cookie());
        assert_eq!(key.open(&sealed, 1500, 60_000), Ok(cookie()));
        assert_eq!(
            key.open(&sealed, 62_000, 60_000),
            Err(CookieError::Stale(1000))
        );
        assert_eq!(
            CookieKey::new(&[8; 32]).open(&sealed, 1500, 60_000),
            Err(CookieError::Invalid)
        );
        sealed[5] ^= 1;
        assert_eq!(key.open(&sealed, 1500, 60_000), Err(CookieError::Invalid));
        assert_eq!(
            key.open(&sealed[..10], 1500, 60_000),
            Err(CookieError::Invalid)
        );
    }
}
