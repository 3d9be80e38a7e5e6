//! RFC test vectors, byte for byte, and the behaviours the issue asks to prove.

use super::crypto::Cipher;
use super::*;

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// RFC 3711 Appendix B.2: AES-CM keystream, session key and salt given directly, SSRC 0, index 0.
#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
    let c = Cipher::aes_cm_from_session_keys(&hex("2B7E151628AED2A6ABF7158809CF4F3C"), salt);
    let mut ks = vec![0u8; 0xff02 * 16];
    c.keystream(0, 0, &mut ks);
    let block = |i: usize| ks[i * 16..i * 16 + 16].to_vec();
    assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
    assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
    assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
    assert_eq!(block(0xfeff), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
    assert_eq!(block(0xff00), hex("362B7C3C6773516318A077D7FC5073AE"));
    assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
}

/// The RFC 7714 §16 and §17 examples: key 00..0f (or 00..1f), salt "Quid pro quo".
fn rfc7714_cipher(key_len: usize) -> Cipher {
    let key: Vec<u8> = (0..key_len as u8).collect();
    Cipher::gcm_from_session_keys(&key, hex("517569642070726f2071756f").try_into().unwrap())
}

/// "Gallia est omnis divisa in partes tres", SSRC 0x5501a0b2, seq 0xf17b, ROC 0.
const RFC7714_RTP: &str = "8040f17b8041f8d35501a0b2
    47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573";
/// A sender report from SSRC "Mars" to "Luna", sent with SRTCP index 0x5d4.
const RFC7714_RTCP: &str = "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61
    deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

fn check_rtp_vector(cipher: &Cipher, expected: &str) {
    let plain = hex(RFC7714_RTP);
    let expected = hex(expected);
    let mut buf = plain.clone();
    buf.resize(plain.len() + 16, 0);
    cipher
        .protect_rtp(&mut buf, 12, plain.len(), 0x5501_a0b2, 0xf17b)
        .unwrap();
    assert_eq!(buf, expected);
    // Out of place, from the plaintext into another buffer: the same SRTP packet.
    let mut sealed = vec![0u8; expected.len()];
    cipher
        .protect_rtp_parts(&plain, &[], &mut sealed, 12, 0x5501_a0b2, 0xf17b)
        .unwrap();
    assert_eq!(sealed, expected);
    // The header and the payload apart, split at the header and inside the payload.
    for at in [12, 20] {
        let mut sealed = vec![0u8; expected.len()];
        let (head, tail) = plain.split_at(at);
        cipher
            .protect_rtp_parts(head, tail, &mut sealed, 12, 0x5501_a0b2, 0xf17b)
            .unwrap();
        assert_eq!(sealed, expected, "split at {at}");
    }
    assert_eq!(
        cipher.unprotect_rtp(&mut buf, 12, 0x5501_a0b2, 0xf17b),
        Ok(plain.len())
    );
    assert_eq!(&buf[..plain.len()], &plain[..]);
    // Out of place, from the protected packet into another buffer: the same plaintext.
    let mut out = vec![0u8; plain.len()];
    cipher
        .unprotect_rtp_into(&expected, &mut out, 12, 0x5501_a0b2, 0xf17b)
        .unwrap();
    assert_eq!(out, plain);
    // Wrong ROC: the IV changes and the tag no longer verifies.
    let mut buf = expected.clone();
    assert_eq!(
        cipher.unprotect_rtp(&mut buf, 12, 0x5501_a0b2, 0x1_f17b),
        Err(Error::AuthenticationFailed)
    );
}

fn check_rtcp_vector(cipher: &Cipher, expected: &str) {
    let plain = hex(RFC7714_RTCP);
    let expected = hex(expected);
    let mut buf = plain.clone();
    buf.resize(plain.len() + 20, 0);
    cipher
        .protect_rtcp(&mut buf, plain.len(), 0x4d61_7273, 0x5d4)
        .unwrap();
    assert_eq!(buf, expected);
    let trailer = cipher.rtcp_trailer(&buf);
    assert_eq!(trailer, 0x8000_05d4);
    assert_eq!(
        cipher.unprotect_rtcp(&mut buf, 0x4d61_7273, trailer),
        Ok(plain.len())
    );
    assert_eq!(&buf[..plain.len()], &plain[..]);
}

// RFC 7714 §16.1: AEAD_AES_128_GCM SRTP, byte for byte.
#[test]
fn rfc7714_16_1_aes128_gcm_rtp() {
    check_rtp_vector(
        &rfc7714_cipher(16),
        "8040f17b8041f8d35501a0b2
         f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b
         36de3adf8833899d7f27beb16a9152cf765ee4390cce",
    );
}

// RFC 7714 §16.2: AEAD_AES_128_GCM SRTCP (E = 1), byte for byte.
#[test]
fn rfc7714_16_2_aes128_gcm_rtcp() {
    check_rtcp_vector(
        &rfc7714_cipher(16),
        "81c8000d4d617273
         63e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda
         4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade 800005d4",
    );
}

// RFC 7714 §17.1: AEAD_AES_256_GCM SRTP, the same packet under the 256-bit key (bytes
// cross-checked against other public implementations' copies of the RFC vector).
#[test]
fn rfc7714_17_1_aes256_gcm_rtp() {
    check_rtp_vector(
        &rfc7714_cipher(32),
        "8040f17b8041f8d35501a0b2
         32b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f
         1ba63799b87b7aa3db36dfffd6b0f9bb7878d7a76c13",
    );
}

// RFC 7714 §17.2: AEAD_AES_256_GCM SRTCP (E = 1).
#[test]
fn rfc7714_17_2_aes256_gcm_rtcp() {
    check_rtcp_vector(
        &rfc7714_cipher(32),
        "81c8000d4d617273
         d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50a2eaa5c1110555be
         8415f658c61de0476f1b6fad1d1eb30c4446839f57ff6f6cb26ac3be 800005d4",
    );
}

// RFC 7714 §9.2: SRTCP sent without encryption (E = 0): the whole packet and the trailer are
// AAD. The tag was computed with an independent AES-GCM (Python `cryptography`).
#[test]
fn unencrypted_srtcp_authenticates_the_whole_packet() {
    let plain = hex(RFC7714_RTCP);
    let mut buf = plain.clone();
    buf.extend_from_slice(&hex("841dd9683dd78ec92ae58790125f62b3 000005d4"));
    let cipher = rfc7714_cipher(16);
    let trailer = cipher.rtcp_trailer(&buf);
    assert_eq!(trailer, 0x5d4);
    assert_eq!(
        cipher.unprotect_rtcp(&mut buf, 0x4d61_7273, trailer),
        Ok(plain.len())
    );
    assert_eq!(&buf[..plain.len()], &plain[..]);
    let mut buf = plain.clone();
    buf.extend_from_slice(&hex("841dd9683dd78ec92ae58790125f62b3 000005d5"));
    let trailer = cipher.rtcp_trailer(&buf);
    assert_eq!(
        cipher.unprotect_rtcp(&mut buf, 0x4d61_7273, trailer),
        Err(Error::AuthenticationFailed)
    );
}

const SSRC: u32 = 0xcafe_f00d;

pub(crate) fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x10, 0x00]);
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn pair(profile: Profile, config: &Config) -> (Context, Context) {
    let key: Vec<u8> = (1..=profile.key_len() as u8).collect();
    let salt: Vec<u8> = (100..100 + profile.salt_len() as u8).collect();
    (
        Context::new(profile, &key, &salt, config).unwrap(),
        Context::new(profile, &key, &salt, config).unwrap(),
    )
}

fn protect(ctx: &mut Context, packet: &[u8]) -> Vec<u8> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + 64, 0);
    let n = ctx.protect_rtp(&mut buf, packet.len()).unwrap();
    buf.truncate(n);
    buf
}

fn unprotect(ctx: &mut Context, srtp: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = srtp.to_vec();
    let n = ctx.unprotect_rtp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn roc_wrap_survives_reordering_across_it() {
    for profile in Profile::SUPPORTED {
        let (mut tx, mut rx) = pair(profile, &Config::default());
        let seqs: Vec<u16> = (65_526..=65_535).chain(0..10).collect();
        let sent: Vec<(Vec<u8>, Vec<u8>)> = seqs
            .iter()
            .map(|&s| {
                let p = rtp(s, &s.to_be_bytes());
                (protect(&mut tx, &p), p)
            })
            .collect();
        // Deliver the first packet, then the rest with neighbours swapped across the wrap and a
        // few late ones from before the wrap arriving after it.
        let order = [
            0, 2, 1, 3, 5, 4, 6, 10, 7, 11, 8, 12, 9, 13, 15, 14, 16, 17, 18, 19,
        ];
        for &i in &order {
            let (srtp, plain) = &sent[i];
            assert_eq!(
                &unprotect(&mut rx, srtp).unwrap(),
                plain,
                "{profile:?} seq {}",
                seqs[i]
            );
        }
        for (srtp, _) in &sent {
            assert_eq!(
                unprotect(&mut rx, srtp),
                Err(Error::Replayed(crate::wire::Replay::Duplicate))
            );
        }
        // The sender's ROC moved on: a packet in the second cycle is not the one from the first.
        let again = protect(&mut tx, &rtp(3, b"x"));
        assert_ne!(
            again,
            protect(&mut pair(profile, &Config::default()).0, &rtp(3, b"x"))
        );
    }
}

#[test]
fn flipped_bit_anywhere_is_rejected() {
    for profile in Profile::SUPPORTED {
        let (mut tx, _) = pair(profile, &Config::default());
        let srtp = protect(&mut tx, &rtp(7, b"some payload bytes"));
        for bit in 0..srtp.len() * 8 {
            let mut forged = srtp.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            let (_, mut rx) = pair(profile, &Config::default());
            assert!(
                unprotect(&mut rx, &forged).is_err(),
                "{profile:?} bit {bit}"
            );
            // A rejected packet left no state behind: the real one still goes through.
            assert!(unprotect(&mut rx, &srtp).is_ok());
        }
        let rtcp = hex(RFC7714_RTCP);
        let mut buf = rtcp.clone();
        buf.resize(rtcp.len() + profile.rtcp_overhead(), 0);
        let n = tx.protect_rtcp(&mut buf, rtcp.len()).unwrap();
        for bit in 0..n * 8 {
            let mut forged = buf.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            let (_, mut rx) = pair(profile, &Config::default());
            assert!(
                rx.unprotect_rtcp(&mut forged).is_err(),
                "{profile:?} rtcp bit {bit}"
            );
        }
    }
}

#[test]
fn srtcp_round_trips_and_replays_are_rejected() {
    for profile in Profile::SUPPORTED {
        let (mut tx, mut rx) = pair(profile, &Config::default());
        let rtcp = hex(RFC7714_RTCP);
        let mut sent = Vec::new();
        for _ in 0..3 {
            let mut buf = rtcp.clone();
            buf.resize(rtcp.len() + 64, 0);
            let n = tx.protect_rtcp(&mut buf, rtcp.len()).unwrap();
            assert_eq!(n, rtcp.len() + profile.rtcp_overhead());
            buf.truncate(n);
            sent.push(buf);
        }
        assert_ne!(sent[0], sent[1], "each packet has its own index");
        for srtcp in sent.iter().rev() {
            let mut buf = srtcp.clone();
            assert_eq!(rx.unprotect_rtcp(&mut buf), Ok(rtcp.len()));
            assert_eq!(&buf[..rtcp.len()], &rtcp[..]);
        }
        let mut buf = sent[1].clone();
        assert_eq!(
            rx.unprotect_rtcp(&mut buf),
            Err(Error::Replayed(crate::wire::Replay::Duplicate))
        );
    }
}

#[test]
fn old_packets_beyond_the_window_are_rejected() {
    let (mut tx, mut rx) = pair(Profile::AeadAes128Gcm, &Config::default());
    let old = protect(&mut tx, &rtp(1, b"old"));
    let new = protect(&mut tx, &rtp(300, b"new"));
    assert!(unprotect(&mut rx, &new).is_ok());
    assert_eq!(
        unprotect(&mut rx, &old),
        Err(Error::Replayed(crate::wire::Replay::TooOld))
    );
}

#[test]
fn ssrc_limit_holds_and_forgeries_take_no_slot() {
    let config = Config {
        max_ssrcs: 2,
        ..Config::default()
    };
    let (mut tx, mut rx) = pair(Profile::Aes128CmSha1_80, &config);
    let with_ssrc = |ssrc: u32| {
        let mut p = rtp(1, b"x");
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p
    };
    let a = protect(&mut tx, &with_ssrc(1));
    let b = protect(&mut tx, &with_ssrc(2));
    let mut c = with_ssrc(3);
    c.resize(40, 0);
    assert_eq!(tx.protect_rtp(&mut c, 13), Err(Error::SsrcLimit));
    // Forged packets from new SSRCs fail authentication without using a slot.
    for ssrc in 10..20 {
        let mut forged = a.clone();
        forged[8..12].copy_from_slice(&u32::to_be_bytes(ssrc));
        assert_eq!(
            unprotect(&mut rx, &forged),
            Err(Error::AuthenticationFailed)
        );
    }
    assert!(unprotect(&mut rx, &a).is_ok());
    assert!(unprotect(&mut rx, &b).is_ok());
    let (mut tx3, _) = pair(Profile::Aes128CmSha1_80, &config);
    let c = protect(&mut tx3, &with_ssrc(3));
    assert_eq!(unprotect(&mut rx, &c), Err(Error::SsrcLimit));
    rx.remove_ssrc(1);
    assert!(unprotect(&mut rx, &c).is_ok());
}

#[test]
fn buffer_and_length_errors_are_typed() {
    let (mut tx, mut rx) = pair(Profile::Aes128CmSha1_80, &Config::default());
    let p = rtp(1, b"abc");
    let mut exact = p.clone();
    assert_eq!(
        tx.protect_rtp(&mut exact, p.len()),
        Err(Error::BufferTooSmall {
            needed: p.len() + 10,
            available: p.len()
        })
    );
    assert!(matches!(
        tx.protect_rtp(&mut exact, p.len() + 1),
        Err(Error::BufferTooSmall { .. })
    ));
    assert_eq!(rx.unprotect_rtp(&mut [0x80; 21]), Err(Error::TooShort));
    assert_eq!(rx.unprotect_rtcp(&mut [0x80; 21]), Err(Error::TooShort));
    assert_eq!(
        rx.unprotect_rtp(&mut vec![0x80; 70_000]),
        Err(Error::TooLong)
    );
    assert_eq!(
        Context::new(Profile::Unknown(3), &[0; 16], &[0; 14], &Config::default()).err(),
        Some(Error::UnsupportedProfile(3))
    );
    assert_eq!(
        Context::new(
            Profile::AeadAes256Gcm,
            &[0; 16],
            &[0; 12],
            &Config::default()
        )
        .err(),
        Some(Error::BadKeyLength {
            expected: 32,
            got: 16
        })
    );
}

#[test]
fn session_halves_match_between_client_and_server() {
    for profile in Profile::SUPPORTED {
        let material: Vec<u8> = (0..profile.keying_material_len() as u8).collect();
        let config = Config::default();
        let mut client =
            Session::from_keying_material(profile, Role::Client, &material, &config).unwrap();
        let mut server =
            Session::from_keying_material(profile, Role::Server, &material, &config).unwrap();
        let p = rtp(9, b"hello");
        let srtp = protect(&mut client.outbound, &p);
        assert_eq!(unprotect(&mut server.inbound, &srtp).unwrap(), p);
        assert_eq!(
            unprotect(&mut client.inbound, &srtp),
            Err(Error::AuthenticationFailed),
            "the client's own key does not open its packets in the inbound direction"
        );
        let srtp = protect(&mut server.outbound, &p);
        assert_eq!(unprotect(&mut client.inbound, &srtp).unwrap(), p);
    }
}

fn unprotect_into(ctx: &mut Context, srtp: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; srtp.len()];
    let n = ctx.unprotect_rtp_into(srtp, &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[test]
fn unprotect_into_another_buffer_matches_in_place_for_every_profile() {
    for profile in Profile::SUPPORTED {
        let (mut tx, mut in_place) = pair(profile, &Config::default());
        let (_, mut into) = pair(profile, &Config::default());
        // A header extension and CSRCs stay in the clear and are copied across as they are,
        // before a short payload and a long one (the header then goes as one 64-byte block).
        let mut p = rtp(65_535, b"payload");
        p[0] |= 0x10 | 0x02;
        p.splice(
            12..12,
            [1, 2, 3, 4, 5, 6, 7, 8, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0],
        );
        let mut long = p.clone();
        long.extend_from_slice(&[0x5a; 100]);
        for (seq, is_long) in [(65_535u16, false), (0, true), (1, false)] {
            let p = if is_long { &mut long } else { &mut p };
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            let srtp = protect(&mut tx, p);
            let got = unprotect_into(&mut into, &srtp).unwrap();
            assert_eq!(&got, p, "{profile:?} seq {seq}");
            assert_eq!(unprotect(&mut in_place, &srtp).unwrap(), got);
            // The replay window moved as the in-place path moves it.
            assert_eq!(
                unprotect_into(&mut into, &srtp),
                Err(Error::Replayed(crate::wire::Replay::Duplicate))
            );
        }
    }
}

#[test]
fn protect_into_another_buffer_matches_in_place_for_every_profile() {
    for profile in Profile::SUPPORTED {
        let (mut in_place, mut rx) = pair(profile, &Config::default());
        let (mut into, _) = pair(profile, &Config::default());
        let mut p = rtp(65_534, b"payload");
        p[0] |= 0x10 | 0x01;
        p.splice(12..12, [1, 2, 3, 4, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
        // Across a wrap, and a retransmission of an older packet: the same indices.
        for seq in [65_534u16, 65_535, 0, 1, 65_535] {
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            let expected = protect(&mut in_place, &p);
            let mut out = vec![0u8; p.len() + profile.rtp_overhead()];
            let n = into.protect_rtp_into(&p, &mut out).unwrap();
            assert_eq!(&out[..n], &expected[..], "{profile:?} seq {seq}");
            if seq != 65_535 {
                assert!(
                    unprotect(&mut rx, &out[..n]).is_ok(),
                    "{profile:?} seq {seq}"
                );
            }
        }
        let mut short = vec![0u8; p.len() + profile.rtp_overhead() - 1];
        assert!(matches!(
            into.protect_rtp_parts(&p[..24], &p[24..], &mut short),
            Err(Error::BufferTooSmall { .. })
        ));
        assert!(matches!(
            into.protect_rtp_into(&p, &mut short),
            Err(Error::BufferTooSmall { .. })
        ));
    }
}

#[test]
fn protect_of_header_and_payload_apart_matches_protect_of_the_whole_packet() {
    for profile in Profile::SUPPORTED {
        let (mut whole, mut rx) = pair(profile, &Config::default());
        let (mut parts, _) = pair(profile, &Config::default());
        let mut p = rtp(9, b"the payload a forwarder keeps by reference");
        p[0] |= 0x10;
        p.splice(12..12, [0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
        // Split exactly after the header (the forwarding case), inside the payload, and with
        // nothing after: the same SRTP packet each time.
        for (seq, at) in [(9u16, 20usize), (10, 31), (11, p.len())] {
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            let expected = protect(&mut whole, &p);
            let mut out = vec![0u8; p.len() + profile.rtp_overhead()];
            let n = parts
                .protect_rtp_parts(&p[..at], &p[at..], &mut out)
                .unwrap();
            assert_eq!(&out[..n], &expected[..], "{profile:?} split at {at}");
            assert!(unprotect(&mut rx, &out[..n]).is_ok());
        }
        // A head that stops inside the header extension cannot be read as a header.
        let mut out = vec![0u8; p.len() + profile.rtp_overhead()];
        assert_eq!(
            parts.protect_rtp_parts(&p[..16], &p[16..], &mut out),
            Err(Error::BadHeader)
        );
    }
}

#[test]
fn unprotect_into_rejects_forgeries_and_leaves_the_input_alone() {
    for profile in Profile::SUPPORTED {
        let (mut tx, _) = pair(profile, &Config::default());
        let srtp = protect(&mut tx, &rtp(7, b"some payload bytes"));
        for bit in 0..srtp.len() * 8 {
            let mut forged = srtp.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            let (_, mut rx) = pair(profile, &Config::default());
            let before = forged.clone();
            assert!(
                unprotect_into(&mut rx, &forged).is_err(),
                "{profile:?} bit {bit}"
            );
            assert_eq!(forged, before);
            assert!(unprotect_into(&mut rx, &srtp).is_ok());
        }
        let (_, mut rx) = pair(profile, &Config::default());
        let mut short = vec![0u8; srtp.len() - profile.rtp_overhead() - 1];
        assert_eq!(
            rx.unprotect_rtp_into(&srtp, &mut short),
            Err(Error::BufferTooSmall {
                needed: srtp.len() - profile.rtp_overhead(),
                available: short.len()
            })
        );
        assert_eq!(
            rx.unprotect_rtp_into(&[0x80; 13], &mut [0; 64]),
            Err(Error::TooShort)
        );
    }
}

proptest::proptest! {
    #[test]
    fn unprotect_into_of_any_bytes_never_panics_and_agrees_with_in_place(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        profile in 0..Profile::SUPPORTED.len(),
        protect_first in proptest::bool::ANY,
    ) {
        let profile = Profile::SUPPORTED[profile];
        let (mut tx, mut in_place) = pair(profile, &Config::default());
        let (_, mut into) = pair(profile, &Config::default());
        let mut packet = bytes.clone();
        if protect_first {
            packet.resize(bytes.len() + 64, 0);
            match tx.protect_rtp(&mut packet, bytes.len()) {
                Ok(n) => packet.truncate(n),
                Err(_) => packet = bytes.clone(),
            }
        }
        let a = unprotect(&mut in_place, &packet);
        let b = unprotect_into(&mut into, &packet);
        proptest::prop_assert_eq!(&a, &b);
        if protect_first && let Ok(plain) = b {
            proptest::prop_assert_eq!(plain, bytes);
        }
    }
}

#[test]
fn a_stale_slot_hint_costs_a_search_and_never_the_wrong_window() {
    let (mut tx, mut rx) = pair(Profile::AeadAes128Gcm, &Config::default());
    let with_ssrc = |seq: u16, ssrc: u32| {
        let mut p = rtp(seq, b"media");
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p
    };
    let mut out = [0u8; 128];
    let high = protect(&mut tx, &with_ssrc(1, 0x9000_0000));
    let u = rx
        .unprotect_rtp_hinted(&high, &mut out, usize::MAX)
        .unwrap();
    assert_eq!((u.slot, u.header.ssrc, u.header.seq), (0, 0x9000_0000, 1));
    assert_eq!(u.header.len, 12);
    assert_eq!(&out[..u.len], &with_ssrc(1, 0x9000_0000)[..]);
    // A lower SSRC takes slot 0 and moves the first one to slot 1: its old hint is stale.
    let low = protect(&mut tx, &with_ssrc(1, 0x1000_0000));
    assert_eq!(rx.unprotect_rtp_hinted(&low, &mut out, 0).unwrap().slot, 0);
    let again = protect(&mut tx, &with_ssrc(2, 0x9000_0000));
    assert_eq!(
        rx.unprotect_rtp_hinted(&again, &mut out, 0).unwrap().slot,
        1
    );
    // The replay window the hint leads to is the SSRC's own, whatever the hint says.
    for hint in [0, 1, 7, usize::MAX] {
        assert_eq!(
            rx.unprotect_rtp_hinted(&again, &mut out, hint),
            Err(Error::Replayed(Replay::Duplicate)),
        );
    }
    let low2 = protect(&mut tx, &with_ssrc(2, 0x1000_0000));
    assert_eq!(rx.unprotect_rtp_hinted(&low2, &mut out, 1).unwrap().slot, 0);
}

proptest::proptest! {
    /// The receive path builds its RTP view from the header SRTP parsed instead of parsing it
    /// again: for any bytes SRTP takes as a header, that view is the one a full parse gives.
    #[test]
    fn the_header_srtp_parsed_gives_the_same_rtp_view_as_a_full_parse(
        mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
        first in 0x80u8..0xc0,
    ) {
        if let Some(b) = bytes.first_mut() {
            *b = first;
        }
        let full = crate::rtp::RtpPacket::new_checked(&bytes[..]);
        let Ok(h) = super::header::parse_rtp(&bytes) else {
            // What SRTP refuses, a full parse refuses too.
            proptest::prop_assert!(full.is_err());
            proptest::prop_assert_ne!(full, Err(crate::rtp::Error::BadPadding));
            return Ok(());
        };
        proptest::prop_assert_eq!(h.seq, u16::from_be_bytes([bytes[2], bytes[3]]));
        proptest::prop_assert_eq!(h.ssrc, u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]));
        let view = crate::rtp::RtpPacket::with_header_len(&bytes[..], h.len);
        proptest::prop_assert_eq!(full, view);
    }
}
