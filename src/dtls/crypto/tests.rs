//! Known-answer tests. The PRF vectors are the ones circulated on the IETF TLS list for TLS 1.2
//! (secret `9bbe..`, label "test label"); the EMS, exporter, key-block and Finished vectors were
//! produced with OpenSSL 3's independent implementation (`openssl kdf ... TLS1-PRF`) and are
//! cross-checked here against a P_hash written directly over HMAC.

use super::*;
use aws_lc_rs::hmac;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 5246 §5 P_hash, written from the RFC over HMAC, as an independent reference.
fn p_hash(alg: hmac::Algorithm, secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(alg, secret);
    let mut a = hmac::sign(&key, seed).as_ref().to_vec();
    let mut out = Vec::new();
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&a);
        ctx.update(seed);
        out.extend_from_slice(ctx.sign().as_ref());
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
    out.truncate(len);
    out
}

#[test]
fn prf_sha256_matches_known_vector() {
    let secret = hex("9bbe436ba940f017b17652849a71db35");
    let seed = hex("a0ba9f936cda311827a6f796ffd5198c");
    let expected = hex(
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66",
    );
    let mut out = vec![0u8; 100];
    prf(PrfHash::Sha256, &secret, b"test label", &[&seed], &mut out).unwrap();
    assert_eq!(out, expected);
    let reference = p_hash(
        hmac::HMAC_SHA256,
        &secret,
        &[&b"test label"[..], &seed].concat(),
        100,
    );
    assert_eq!(out, reference);
}

#[test]
fn prf_sha384_matches_known_vector() {
    let secret = hex("b80b733d6ceefcdc71566ea48e5567df");
    let seed = hex("cd665cf6a8447dd6ff8b27555edb7465");
    let expected = hex(
        "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f",
    );
    let mut out = vec![0u8; 148];
    prf(PrfHash::Sha384, &secret, b"test label", &[&seed], &mut out).unwrap();
    assert_eq!(out, expected);
    let reference = p_hash(
        hmac::HMAC_SHA384,
        &secret,
        &[&b"test label"[..], &seed].concat(),
        148,
    );
    assert_eq!(out, reference);
}

#[test]
fn extended_master_secret_matches_openssl() {
    let pms: Vec<u8> = (1..=32).collect();
    let hash256: Vec<u8> = (0xa0..0xc0).collect();
    let hash384: Vec<u8> = (0xa0..0xd0).collect();
    assert_eq!(
        extended_master_secret(PrfHash::Sha256, &pms, &hash256)
            .unwrap()
            .to_vec(),
        hex(
            "2de2d871c12a6dbb6729bff6ce9bdfa6c0f3d5fbafed36cc35cd29cabbdd4312c3108b8d175f3d7528ae20f22a479f4e"
        )
    );
    assert_eq!(
        extended_master_secret(PrfHash::Sha384, &pms, &hash384)
            .unwrap()
            .to_vec(),
        hex(
            "1a6a2ad213d8b08557277dd62b24dbe1583f4d319e62243d7fb7fa3204f4f23a31ce05ae7f8f995d596d638b1273fb29"
        )
    );
}

fn ms() -> Vec<u8> {
    (0x30..0x60).collect()
}

#[test]
fn srtp_exporter_matches_openssl() {
    let mut out = [0u8; 60];
    export(
        PrfHash::Sha256,
        &ms(),
        b"EXTRACTOR-dtls_srtp",
        &[0x11; 32],
        &[0x22; 32],
        None,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out.to_vec(),
        hex(
            "442d3cc1f080d24b8f18d8ca124fc92c61f27b8567f0dd088fa76e75d252bc36a06ac289d97c5748fb05450772d80019dca5bd79a2bf39bd0b0b493f"
        )
    );
}

#[test]
fn finished_verify_data_matches_openssl() {
    let hash: Vec<u8> = (0xa0..0xc0).collect();
    assert_eq!(
        verify_data(PrfHash::Sha256, &ms(), true, &hash)
            .unwrap()
            .to_vec(),
        hex("bab6a338724f64add2c8fd58")
    );
}

#[test]
fn key_block_uses_server_random_first() {
    // The 40-byte AES-128-GCM key block: client key, server key, client salt, server salt.
    let expected =
        hex("d297e8f315ba5aa3bfd54449c1d6f35e7bcf5220f2bb57abfc850dbc3e810d7e077677e751aeab4c");
    let keys = key_block(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        &ms(),
        &[0x11; 32],
        &[0x22; 32],
    )
    .unwrap();
    assert_eq!(&keys.client_write.iv[..4], &expected[32..36]);
    assert_eq!(&keys.server_write.iv[..4], &expected[36..40]);
    // The keys are checked by sealing with an independently built key.
    let reference = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &expected[..16]).unwrap());
    let aad = [7u8; 13];
    let mut ours = [0u8; 8 + 5 + 16];
    ours[8..13].copy_from_slice(b"hello");
    keys.client_write.seal(42, &aad, &mut ours).unwrap();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&expected[32..36]);
    nonce[4..].copy_from_slice(&42u64.to_be_bytes());
    let mut theirs = b"hello".to_vec();
    reference
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut theirs,
        )
        .unwrap();
    assert_eq!(&ours[8..], &theirs[..]);
    assert_eq!(&ours[..8], &42u64.to_be_bytes());
}

#[test]
fn chacha_nonce_is_iv_xor_sequence() {
    let keys = key_block(
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
        &ms(),
        &[1; 32],
        &[2; 32],
    )
    .unwrap();
    let c = &keys.server_write;
    assert_eq!(c.explicit_len(), 0);
    let seq = 0x0001_0000_0000_0005u64;
    let n = c.nonce(seq, None);
    let mut expected = c.iv;
    for (i, b) in seq.to_be_bytes().iter().enumerate() {
        expected[4 + i] ^= b;
    }
    assert_eq!(n.as_ref(), &expected);
}

#[test]
fn every_suite_seals_and_opens_and_detects_tampering() {
    for suite in CipherSuite::ALL {
        let keys = key_block(suite, &ms(), &[3; 32], &[4; 32]).unwrap();
        let c = &keys.client_write;
        let plain = b"application data";
        let mut frag = vec![0u8; c.overhead() + plain.len()];
        frag[c.explicit_len()..c.explicit_len() + plain.len()].copy_from_slice(plain);
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&0x0001_0000_0000_0009u64.to_be_bytes());
        aad[8] = 23;
        aad[9..11].copy_from_slice(&[0xfe, 0xfd]);
        aad[11..].copy_from_slice(&(plain.len() as u16).to_be_bytes());
        c.seal(0x0001_0000_0000_0009, &aad, &mut frag).unwrap();
        assert_eq!(frag.len(), plain.len() + suite.record_overhead());
        let prefix: [u8; 11] = aad[..11].try_into().unwrap();
        let mut opened = frag.clone();
        let range = c.open(0x0001_0000_0000_0009, &prefix, &mut opened).unwrap();
        assert_eq!(&opened[range], plain);
        // The other direction's key, a wrong sequence number or a flipped bit all fail.
        assert!(
            keys.server_write
                .open(0x0001_0000_0000_0009, &prefix, &mut frag.clone())
                .is_err()
        );
        let mut moved = prefix;
        moved[7] ^= 1;
        assert!(
            c.open(0x0001_0000_0000_0008, &moved, &mut frag.clone())
                .is_err()
        );
        let mut bad = frag.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(c.open(0x0001_0000_0000_0009, &prefix, &mut bad).is_err());
        assert!(
            c.open(0x0001_0000_0000_0009, &prefix, &mut [0u8; 10])
                .is_err()
        );
    }
}
