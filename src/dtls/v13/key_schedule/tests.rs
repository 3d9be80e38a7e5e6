//! Known answers from RFC 8448 §3 (the simple 1-RTT handshake, TLS_AES_128_GCM_SHA256,
//! x25519). The trace uses the TLS label prefix "tls13 "; the DTLS prefix only changes the
//! bytes hashed into each label, so the DTLS tests check that it does change them and that
//! both peers agree.

use super::*;
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const H: PrfHash = PrfHash::Sha256;
const P: LabelPrefix = LabelPrefix::Tls13;

const ECDHE: &str = "8b d4 05 4f b5 5b 9d 63 fd fb ac f9 f0 4b 9f 0d 35 e6 d6 3f 53 75 63 ef d4 62 72 90 0f 89 49 2d";
/// Transcript hash of ClientHello..ServerHello.
const HS_HASH: &str = "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8";
/// Transcript hash of ClientHello..server Finished.
const AP_HASH: &str = "96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13";
/// Transcript hash of ClientHello..CertificateVerify.
const SFIN_HASH: &str = "ed b7 72 5f a7 a3 47 3b 03 1e c8 ef 65 a2 48 54 93 90 01 38 a2 b9 12 91 40 7d 79 51 a0 61 10 ed";

fn schedule() -> (HandshakeSecret, MasterSecret) {
    let hs = EarlySecret::new(H, P).into_handshake(&hex(ECDHE)).unwrap();
    let ms = hs.clone().into_master().unwrap();
    (hs, ms)
}

#[test]
fn early_secret_without_psk_matches_rfc8448() {
    assert_eq!(
        EarlySecret::new(H, P).secret().as_bytes(),
        hex(
            "33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a"
        )
    );
    assert_eq!(
        EarlySecret::new(H, P)
            .secret()
            .derived(P)
            .unwrap()
            .as_bytes(),
        hex(
            "6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba"
        )
    );
}

#[test]
fn handshake_and_master_secrets_match_rfc8448() {
    let (hs, ms) = schedule();
    assert_eq!(
        hs.secret().as_bytes(),
        hex(
            "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac"
        )
    );
    assert_eq!(
        ms.secret().as_bytes(),
        hex(
            "18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 29 19"
        )
    );
}

#[test]
fn handshake_traffic_secrets_and_keys_match_rfc8448() {
    let (hs, _) = schedule();
    let c = hs.client_traffic(&hex(HS_HASH)).unwrap();
    let s = hs.server_traffic(&hex(HS_HASH)).unwrap();
    assert_eq!(
        c.secret().as_bytes(),
        hex(
            "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21"
        )
    );
    assert_eq!(
        s.secret().as_bytes(),
        hex(
            "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38"
        )
    );
    let sk = s.keys(16).unwrap();
    assert_eq!(
        sk.key(),
        hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
    );
    assert_eq!(sk.iv.to_vec(), hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
    let ck = c.keys(16).unwrap();
    assert_eq!(
        ck.key(),
        hex("db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01")
    );
    assert_eq!(ck.iv.to_vec(), hex("5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f"));
}

#[test]
fn finished_verify_data_matches_rfc8448_both_ways() {
    let (hs, _) = schedule();
    let s = hs.server_traffic(&hex(HS_HASH)).unwrap();
    let c = hs.client_traffic(&hex(HS_HASH)).unwrap();
    assert_eq!(
        s.finished(&hex(SFIN_HASH)).unwrap().as_bytes(),
        hex(
            "9b 9b 14 1d 90 63 37 fb d2 cb dc e7 1d f4 de da 4a b4 2c 30 95 72 cb 7f ff ee 54 54 b7 8f 07 18"
        )
    );
    assert_eq!(
        c.finished(&hex(AP_HASH)).unwrap().as_bytes(),
        hex(
            "a8 ec 43 6d 67 76 34 ae 52 5a c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27 b6 42 f2 ed d5 ce 61"
        )
    );
}

#[test]
fn application_secrets_and_exporter_master_match_rfc8448() {
    let (_, ms) = schedule();
    let c = ms.client_traffic(&hex(AP_HASH)).unwrap();
    let s = ms.server_traffic(&hex(AP_HASH)).unwrap();
    assert_eq!(
        c.secret().as_bytes(),
        hex(
            "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5"
        )
    );
    assert_eq!(
        s.secret().as_bytes(),
        hex(
            "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43"
        )
    );
    let sk = s.keys(16).unwrap();
    assert_eq!(
        sk.key(),
        hex("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56")
    );
    assert_eq!(sk.iv.to_vec(), hex("cf 78 2b 88 dd 83 54 9a ad f1 e9 84"));
    assert_eq!(
        ms.exporter(&hex(AP_HASH)).unwrap().secret().as_bytes(),
        hex(
            "fe 22 f8 81 17 6e da 18 eb 8f 44 52 9e 67 92 c5 0c 9a 3f 89 45 2f 68 d8 ae 31 1b 43 09 d3 cf 50"
        )
    );
}

/// The client's first application-data record of RFC 8448 §3 (payload 00..31) opens with the
/// client application key derived here and the TLS 1.3 nonce (IV XOR sequence 0), with the
/// 5-byte record header as additional data: key schedule and record protection together.
#[test]
fn rfc8448_client_application_record_opens_with_derived_keys() {
    let (_, ms) = schedule();
    let keys = ms.client_traffic(&hex(AP_HASH)).unwrap().keys(16).unwrap();
    let record = hex(
        "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea
         42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b
         62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4",
    );
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, keys.key()).unwrap());
    let (header, body) = record.split_at(5);
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(keys.iv),
            Aad::from(header),
            &mut body,
        )
        .unwrap();
    let mut want: Vec<u8> = (0u8..50).collect();
    want.push(23); // TLSInnerPlaintext: content, then the real content type
    assert_eq!(plain, &want[..]);
}

#[test]
fn key_update_chains_traffic_secrets() {
    let (_, ms) = schedule();
    let c0 = ms.client_traffic(&hex(AP_HASH)).unwrap();
    let c1 = c0.next().unwrap();
    let mut want = [0u8; 32];
    hkdf_expand_label(H, P, c0.secret().as_bytes(), b"traffic upd", b"", &mut want).unwrap();
    assert_eq!(c1.secret().as_bytes(), want);
    assert_ne!(c1.keys(16).unwrap(), c0.keys(16).unwrap());
}

#[test]
fn dtls_prefix_changes_every_derived_value() {
    let tls = EarlySecret::new(H, LabelPrefix::Tls13)
        .into_handshake(&hex(ECDHE))
        .unwrap();
    let dtls = EarlySecret::new(H, LabelPrefix::Dtls13)
        .into_handshake(&hex(ECDHE))
        .unwrap();
    // The extraction of the early secret has no label; everything after "derived" does.
    assert_ne!(tls.secret(), dtls.secret());
    // HkdfLabel with "dtls13": length, label length 6 + 3, "dtls13key", empty context.
    let mut by_hand = [0u8; 16];
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &[7; 32]);
    let info: [&[u8]; 1] = [b"\x00\x10\x09dtls13key\x00"];
    prk.expand(&info, Len(16))
        .unwrap()
        .fill(&mut by_hand)
        .unwrap();
    let mut ours = [0u8; 16];
    hkdf_expand_label(H, LabelPrefix::Dtls13, &[7; 32], b"key", b"", &mut ours).unwrap();
    assert_eq!(ours, by_hand);
}

#[test]
fn exporter_matches_rfc8446_definition_and_ignores_absent_context() {
    let (_, ms) = schedule();
    let exp = ms.exporter(&hex(AP_HASH)).unwrap();
    let mut a = [0u8; 60];
    let mut b = [0u8; 60];
    exp.export(b"EXTRACTOR-dtls_srtp", None, &mut a).unwrap();
    exp.export(b"EXTRACTOR-dtls_srtp", Some(b""), &mut b)
        .unwrap();
    assert_eq!(a, b);
    // By hand: Derive-Secret(exp, label, "") then Expand-Label(.., "exporter", H(""), 60).
    let empty = digest::digest(&digest::SHA256, b"");
    let inner = exp
        .secret()
        .derive_secret(P, b"EXTRACTOR-dtls_srtp", empty.as_ref())
        .unwrap();
    let mut c = [0u8; 60];
    inner
        .expand_label(P, b"exporter", empty.as_ref(), &mut c)
        .unwrap();
    assert_eq!(a, c);
    exp.export(b"EXTRACTOR-dtls_srtp", Some(b"x"), &mut b)
        .unwrap();
    assert_ne!(a, b);
}

#[test]
fn sha384_schedule_has_48_byte_secrets() {
    let hs = EarlySecret::new(PrfHash::Sha384, LabelPrefix::Dtls13)
        .into_handshake(&[1; 32])
        .unwrap();
    let t = hs.client_traffic(&[0; 48]).unwrap();
    assert_eq!(t.secret().as_bytes().len(), 48);
    assert_eq!(t.keys(32).unwrap().key().len(), 32);
    assert!(t.keys(33).is_err());
}
