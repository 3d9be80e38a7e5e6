//! The server's credentials: stateless nonces and the shared-secret REST scheme.
//!
//! Nonces (RFC 8489 §9.2) carry their own issue time and a MAC over it and the client's IP, so
//! a flood of unauthenticated requests creates no state: a nonce is checked by recomputing the
//! MAC. REST credentials (draft-uberti-behave-turn-rest, as coturn's `use-auth-secret`): the
//! username is `"<expiry unix time>:<user>"` and the password is
//! `base64(HMAC-SHA1(secret, username))`; the server derives the password and checks the
//! expiry against the wall time the caller gave at construction.

use std::net::IpAddr;

use aws_lc_rs::{constant_time, hmac};

/// RFC 8489 §9.2: a nonce starting with this cookie announces the security features that
/// follow it (4 base64 characters of 24 bits).
const NONCE_COOKIE: &str = "obMatJos2";
/// The feature bits: only "Password algorithms" (the first bit, RFC 8489 §18.1).
const FEATURES: &str = "gAAA";
const MAC_LEN: usize = 8;

/// The server's nonce secret.
pub(crate) struct NonceKey(hmac::Key);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// What a nonce check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    Valid,
    /// Ours, but too old: 438.
    Stale,
    /// Not one we issued (or for another client): 401 with a fresh one.
    Invalid,
}

impl NonceKey {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn mac(&self, issued: u32, ip: IpAddr) -> [u8; MAC_LEN] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(&issued.to_be_bytes());
        match ip {
            IpAddr::V4(v4) => ctx.update(&v4.octets()),
            IpAddr::V6(v6) => ctx.update(&v6.octets()),
        }
        let tag = ctx.sign();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }

    /// A nonce for `ip`, issued `issued` seconds after the server started. Fixed length, no
    /// heap beyond the returned string.
    pub(crate) fn issue(&self, issued: u32, ip: IpAddr) -> String {
        let mut s = String::with_capacity(NONCE_COOKIE.len() + FEATURES.len() + 8 + 2 * MAC_LEN);
        s.push_str(NONCE_COOKIE);
        s.push_str(FEATURES);
        push_hex(&mut s, &issued.to_be_bytes());
        push_hex(&mut s, &self.mac(issued, ip));
        s
    }

    /// Checks a nonce from `ip` at `now_secs` (seconds since the server started).
    pub(crate) fn check(
        &self,
        nonce: &str,
        ip: IpAddr,
        now_secs: u32,
        lifetime: u32,
    ) -> NonceCheck {
        let Some(rest) = nonce
            .strip_prefix(NONCE_COOKIE)
            .and_then(|r| r.strip_prefix(FEATURES))
        else {
            return NonceCheck::Invalid;
        };
        let (Some(issued), Some(mac)) = (
            rest.get(..8).and_then(parse_hex::<4>),
            rest.get(8..).and_then(parse_hex::<MAC_LEN>),
        ) else {
            return NonceCheck::Invalid;
        };
        let issued = u32::from_be_bytes(issued);
        if constant_time::verify_slices_are_equal(&self.mac(issued, ip), &mac).is_err() {
            return NonceCheck::Invalid;
        }
        if now_secs.saturating_sub(issued) >= lifetime || issued > now_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
}

fn parse_hex<const N: usize>(h: &str) -> Option<[u8; N]> {
    if h.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The REST scheme's password for `username`: base64(HMAC-SHA1(secret, username)).
pub(crate) fn rest_password(secret: &str, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    base64(hmac::sign(&key, username.as_bytes()).as_ref())
}

/// The expiry of a REST username `"<unix time>:<user>"` (coturn also accepts the bare time).
pub(crate) fn rest_expiry(username: &str) -> Option<u64> {
    let time = username.split_once(':').map_or(username, |(t, _)| t);
    if time.is_empty() || !time.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    time.parse().ok()
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn rest_password_is_base64_hmac_sha1_of_the_username() {
        // HMAC-SHA1 with key "key" over "The quick brown fox jumps over the lazy dog" is
        // de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9 (the well-known example).
        let p = rest_password("key", "The quick brown fox jumps over the lazy dog");
        assert_eq!(p, "3nybhbi3iqa8ino29wqQcBydtNk=");
        assert_eq!(rest_expiry("1700000000:alice"), Some(1_700_000_000));
        assert_eq!(rest_expiry("1700000000"), Some(1_700_000_000));
        assert_eq!(rest_expiry("alice:1700000000"), None);
        assert_eq!(rest_expiry(":x"), None);
    }

    #[test]
    fn nonce_is_bound_to_the_client_ip_and_goes_stale() {
        let k = NonceKey::new(&[9; 32]);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let n = k.issue(100, ip);
        assert!(n.starts_with("obMatJos2gAAA"));
        assert_eq!(k.check(&n, ip, 150, 600), NonceCheck::Valid);
        assert_eq!(k.check(&n, other, 150, 600), NonceCheck::Invalid);
        assert_eq!(k.check(&n, ip, 700, 600), NonceCheck::Stale);
        assert_eq!(
            k.check("obMatJos2gAAAzz", ip, 100, 600),
            NonceCheck::Invalid
        );
        assert_eq!(k.check("", ip, 100, 600), NonceCheck::Invalid);
        let mut forged = n.clone();
        forged.replace_range(13..21, "00000065");
        assert_eq!(k.check(&forged, ip, 150, 600), NonceCheck::Invalid);
    }
}
