//! The stateless HelloRetryRequest cookie of DTLS 1.3 (RFC 9147 §5.1, RFC 8446 §4.2.2) and
//! the transcript rule that goes with it (RFC 8446 §4.4.1).
//!
//! A server that answers a ClientHello with a HelloRetryRequest keeps nothing: what it needs
//! to carry on (the suite and group it chose, and the hash of the first ClientHello, which
//! stands for that hello in the transcript) travels in the cookie, authenticated with a key
//! only the server knows and bound to the client's address, so a client that echoes it proves
//! it receives at that address (RFC 9147 §5.1).
//!
//! ```text
//! cookie = version(1) | suite(2) | group(2) | retry(1) | hash_len(1) | Hash(ClientHello1) | tag(16)
//! tag    = HMAC-SHA256(secret, address | everything before the tag)[..16]
//! ```

use std::net::SocketAddr;

use aws_lc_rs::{constant_time, hmac};

use super::super::crypto::PrfHash;
use super::key_schedule::MAX_HASH_LEN;
use super::kx13::Group13;
use super::suite::Suite13;

const COOKIE_VERSION: u8 = 2;
const TAG_LEN: usize = 16;
/// RFC 8446 §4.4.1: the handshake type of the synthetic message standing for ClientHello1.
const MESSAGE_HASH: u8 = 254;

/// What the server carries from its HelloRetryRequest to the second ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieState {
    pub(crate) suite: Suite13,
    pub(crate) group: Group13,
    /// Whether the HelloRetryRequest named `group` in its key_share (the first hello had no
    /// share for it), so the server can rebuild the exact HelloRetryRequest for the transcript.
    pub(crate) group_retry: bool,
    /// Hash(ClientHello1), with the suite's hash.
    pub(crate) ch1_hash: Vec<u8>,
}

fn tag(secret: &[u8; 32], peer: SocketAddr, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    match peer {
        SocketAddr::V4(a) => ctx.update(&a.ip().octets()),
        SocketAddr::V6(a) => ctx.update(&a.ip().octets()),
    }
    ctx.update(&peer.port().to_be_bytes());
    ctx.update(body);
    ctx.sign()
}

/// The cookie for a HelloRetryRequest sent to `peer`.
pub(crate) fn seal_cookie(secret: &[u8; 32], peer: SocketAddr, state: &CookieState) -> Vec<u8> {
    let hash_len = state.ch1_hash.len().min(MAX_HASH_LEN);
    let mut out = Vec::with_capacity(6 + hash_len + TAG_LEN);
    out.push(COOKIE_VERSION);
    out.extend_from_slice(&state.suite.to_u16().to_be_bytes());
    out.extend_from_slice(&state.group.to_u16().to_be_bytes());
    out.push(u8::from(state.group_retry));
    out.push(hash_len as u8);
    out.extend_from_slice(&state.ch1_hash[..hash_len]);
    let t = tag(secret, peer, &out);
    out.extend_from_slice(&t.as_ref()[..TAG_LEN]);
    out
}

/// The state a cookie carries, when it is one of ours, for this address, and whole.
pub(crate) fn open_cookie(
    secret: &[u8; 32],
    peer: SocketAddr,
    cookie: &[u8],
) -> Option<CookieState> {
    let body_len = cookie.len().checked_sub(TAG_LEN)?;
    let (body, got) = cookie.split_at(body_len);
    let want = tag(secret, peer, body);
    constant_time::verify_slices_are_equal(&want.as_ref()[..TAG_LEN], got).ok()?;
    let (&version, rest) = body.split_first()?;
    if version != COOKIE_VERSION || rest.len() < 6 || rest[4] > 1 {
        return None;
    }
    let suite = Suite13::from_u16(u16::from_be_bytes([rest[0], rest[1]]));
    let group = Group13::from_u16(u16::from_be_bytes([rest[2], rest[3]]));
    let group_retry = rest[4] == 1;
    let hash_len = usize::from(rest[5]);
    let ch1_hash = rest.get(6..)?;
    if ch1_hash.len() != hash_len || suite.aead().is_none() || hash_len != suite.hash().len() {
        return None;
    }
    Some(CookieState {
        suite,
        group,
        group_retry,
        ch1_hash: ch1_hash.to_vec(),
    })
}

/// RFC 8446 §4.4.1: after a HelloRetryRequest, ClientHello1 is replaced in the transcript by
/// `message_hash(254) | 00 00 Hash.length | Hash(ClientHello1)`. (RFC 9147 §5.2: DTLS 1.3
/// transcripts use these TLS-style 4-byte handshake headers, without the DTLS message_seq
/// and fragment fields.)
pub(crate) fn message_hash(hash: PrfHash, ch1_hash: &[u8]) -> Vec<u8> {
    let n = ch1_hash.len().min(hash.len());
    let mut out = Vec::with_capacity(4 + n);
    out.extend_from_slice(&[MESSAGE_HASH, 0, 0, n as u8]);
    out.extend_from_slice(&ch1_hash[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::digest;
    use proptest::prelude::*;

    fn state() -> CookieState {
        CookieState {
            suite: Suite13::Aes128GcmSha256,
            group: Group13::X25519MlKem768,
            group_retry: true,
            ch1_hash: vec![7; 32],
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cookie_round_trips_for_the_same_address_only() {
        let secret = [9; 32];
        let peer = addr("192.0.2.1:5000");
        let c = seal_cookie(&secret, peer, &state());
        assert_eq!(open_cookie(&secret, peer, &c), Some(state()));
        assert_eq!(open_cookie(&secret, addr("192.0.2.1:5001"), &c), None);
        assert_eq!(open_cookie(&secret, addr("[2001:db8::1]:5000"), &c), None);
        assert_eq!(open_cookie(&[8; 32], peer, &c), None);
    }

    #[test]
    fn any_changed_byte_invalidates_the_cookie() {
        let secret = [9; 32];
        let peer = addr("192.0.2.1:5000");
        let c = seal_cookie(&secret, peer, &state());
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 1;
            assert_eq!(open_cookie(&secret, peer, &bad), None, "byte {i}");
        }
        assert_eq!(open_cookie(&secret, peer, &c[..c.len() - 1]), None);
    }

    #[test]
    fn transcript_after_hrr_starts_with_the_synthetic_message() {
        let ch1 = b"\x01\x00\x00\x03abc";
        let h = digest::digest(&digest::SHA256, ch1);
        let m = message_hash(PrfHash::Sha256, h.as_ref());
        assert_eq!(&m[..4], &[254, 0, 0, 32]);
        assert_eq!(&m[4..], h.as_ref());
    }

    proptest! {
        #[test]
        fn any_bytes_open_without_panicking(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert!(open_cookie(&[1; 32], addr("192.0.2.1:1"), &data).is_none());
        }

        #[test]
        fn every_suite_and_group_round_trip(s in 0usize..3, g: u16, retry: bool, h in any::<u8>()) {
            let suite = Suite13::ALL[s];
            let st = CookieState {
                suite,
                group: Group13::from_u16(g),
                group_retry: retry,
                ch1_hash: vec![h; suite.hash().len()],
            };
            let peer = addr("[2001:db8::2]:443");
            prop_assert_eq!(open_cookie(&[3; 32], peer, &seal_cookie(&[3; 32], peer, &st)), Some(st));
        }
    }
}
