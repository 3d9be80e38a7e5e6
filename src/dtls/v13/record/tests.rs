use super::*;
use crate::dtls::crypto::PrfHash;
use crate::dtls::error::{DecodeError, PeerMisbehaved};
use crate::dtls::record::Version;
use crate::dtls::v13::key_schedule::{EarlySecret, LabelPrefix};
use proptest::prelude::*;

fn secrets(hash: PrfHash) -> (TrafficSecret, TrafficSecret) {
    let hs = EarlySecret::new(hash, LabelPrefix::Dtls13)
        .into_handshake(&[5; 32])
        .unwrap();
    let th = vec![3u8; hash.len()];
    (
        hs.client_traffic(&th).unwrap(),
        hs.server_traffic(&th).unwrap(),
    )
}

fn pair(suite: Suite13, epoch: u64) -> (Protection, Protection) {
    let (c, _) = secrets(suite.hash());
    (
        Protection::new(suite, &c, epoch).unwrap(),
        Protection::new(suite, &c, epoch).unwrap(),
    )
}

fn open_one(rx: &Protection, expected: u64, datagram: &[u8]) -> Result<(Opened, Vec<u8>), Error> {
    let Some(Ok(AnyRecord::Ciphertext {
        header,
        raw_header,
        body,
    })) = records(datagram).next()
    else {
        return Err(Error::Decode(DecodeError::Malformed(
            "not a ciphertext record",
        )));
    };
    let mut h = raw_header.to_vec();
    let mut b = body.to_vec();
    let opened = rx.open(expected, &header, &mut h, &mut b)?;
    let content = b[opened.content.clone()].to_vec();
    Ok((opened, content))
}

#[test]
fn sealed_records_open_for_every_suite() {
    for suite in Suite13::ALL {
        let (tx, rx) = pair(suite, 3);
        let mut buf = [0u8; 256];
        for seq in [0u64, 1, 255, 256, 70_000] {
            let n = tx
                .seal(
                    seq,
                    ContentType::ApplicationData,
                    &[b"hel", b"lo"],
                    &mut buf,
                )
                .unwrap();
            // AES-GCM pads the 6-byte inner plaintext to a whole block; ChaCha20 does not.
            let padding = if suite == Suite13::Chacha20Poly1305Sha256 {
                0
            } else {
                10
            };
            assert_eq!(n, OVERHEAD + 5 + padding, "{suite:?}");
            let (opened, content) = open_one(&rx, seq, &buf[..n]).unwrap();
            assert_eq!(opened.sequence, seq, "{suite:?}");
            assert_eq!(opened.content_type, ContentType::ApplicationData);
            assert_eq!(content, b"hello");
        }
    }
}

#[test]
fn record_number_is_encrypted_on_the_wire() {
    let (tx, _) = pair(Suite13::Aes128GcmSha256, 2);
    let mut seen = std::collections::HashSet::new();
    let mut buf = [0u8; 64];
    // With no masking the sequence bytes would be 0, 1, 2...; masked, they look random.
    let mut plain_order = 0;
    for seq in 0..32u64 {
        tx.seal(seq, ContentType::Handshake, &[b"x"], &mut buf)
            .unwrap();
        let wire = u16::from_be_bytes([buf[1], buf[2]]);
        seen.insert(wire);
        if u64::from(wire) == seq {
            plain_order += 1;
        }
        assert_eq!(buf[0] & 3, 2, "epoch bits stay in the clear");
    }
    assert!(plain_order < 4 && seen.len() > 28);
}

#[test]
fn tampered_and_short_records_fail_deprotection() {
    let (tx, rx) = pair(Suite13::Chacha20Poly1305Sha256, 3);
    let mut buf = [0u8; 64];
    let n = tx
        .seal(7, ContentType::Alert, &[&[1, 0]], &mut buf)
        .unwrap();
    for i in 0..n {
        let mut bad = buf;
        bad[i] ^= 0x40;
        // Flipping the L bit or the fixed bits changes the framing: any error will do, as
        // long as nothing opens.
        assert!(open_one(&rx, 7, &bad[..n]).is_err(), "byte {i}");
    }
    // 15 bytes of ciphertext cannot be sampled (RFC 9147 §4.2.3).
    let header = UnifiedHeader {
        epoch_bits: 3,
        seq_bits: 0,
        long_seq: true,
        length: Some(15),
    };
    let mut h = [0u8; 5];
    header.write(&mut Writer::new(&mut h)).unwrap();
    assert_eq!(
        rx.open(0, &header, &mut h, &mut [0u8; 15]),
        Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))
    );
}

#[test]
fn records_of_another_epoch_key_do_not_open() {
    let (c, s) = secrets(PrfHash::Sha256);
    let tx = Protection::new(Suite13::Aes128GcmSha256, &c, 2).unwrap();
    let rx = Protection::new(Suite13::Aes128GcmSha256, &s, 2).unwrap();
    let mut buf = [0u8; 64];
    let n = tx
        .seal(0, ContentType::Handshake, &[b"abc"], &mut buf)
        .unwrap();
    assert_eq!(
        open_one(&rx, 0, &buf[..n]).unwrap_err(),
        Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac)
    );
}

#[test]
fn padding_is_stripped_and_all_zero_content_is_refused() {
    let (tx, rx) = pair(Suite13::Aes128GcmSha256, 3);
    // Seal "ab" + type + two zero bytes of padding by sealing the padding as content of a
    // record whose "type" byte we then see as the last non-zero byte.
    let mut buf = [0u8; 64];
    let n = tx
        .seal(1, ContentType::Unknown(0), &[b"ab", &[23, 0]], &mut buf)
        .unwrap();
    let (opened, content) = open_one(&rx, 1, &buf[..n]).unwrap();
    assert_eq!(opened.content_type, ContentType::ApplicationData);
    assert_eq!(content, b"ab");
    let n = tx
        .seal(2, ContentType::Unknown(0), &[&[0; 20]], &mut buf)
        .unwrap();
    assert!(matches!(
        open_one(&rx, 2, &buf[..n]),
        Err(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(_)))
    ));
}

#[test]
fn plaintext_and_ciphertext_records_share_a_datagram() {
    let (tx, rx) = pair(Suite13::Aes128GcmSha256, 2);
    let mut dgram = [0u8; 128];
    let hdr = RecordHeader {
        content_type: ContentType::Handshake,
        version: Version::Dtls12,
        epoch: 0,
        sequence: 4,
        length: 3,
    };
    hdr.write(&mut Writer::new(&mut dgram)).unwrap();
    dgram[13..16].copy_from_slice(b"one");
    let n = 16
        + tx.seal(9, ContentType::Handshake, &[b"two"], &mut dgram[16..])
            .unwrap();
    let recs: Vec<_> = records(&dgram[..n]).collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    assert!(matches!(recs[0], AnyRecord::Plaintext(r) if r.fragment == b"one"));
    let (opened, content) = open_one(&rx, 9, &dgram[16..n]).unwrap();
    assert_eq!((opened.sequence, content.as_slice()), (9, &b"two"[..]));
}

#[test]
fn record_without_length_runs_to_the_datagram_end() {
    let dgram = [FIXED_BITS | 2, 0x07, 1, 2, 3];
    let recs: Vec<_> = records(&dgram).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        recs,
        vec![AnyRecord::Ciphertext {
            header: UnifiedHeader {
                epoch_bits: 2,
                seq_bits: 7,
                long_seq: false,
                length: None
            },
            raw_header: &dgram[..2],
            body: &dgram[2..],
        }]
    );
}

#[test]
fn connection_id_bit_is_refused() {
    let dgram = [FIXED_BITS | C_BIT | S_BIT | L_BIT, 0, 0, 0, 0];
    assert!(records(&dgram).next().unwrap().is_err());
}

#[test]
fn ack_of_bad_length_is_malformed() {
    assert!(Ack::parse(&[0, 15]).is_err());
    assert!(Ack::parse(&[0, 16, 0]).is_err());
    assert!(Ack::parse(&[0, 0, 1]).is_err());
    assert_eq!(Ack::parse(&[0, 0]).unwrap(), Ack::default());
}

#[test]
fn sequence_reconstruction_examples() {
    // RFC 9147 §4.2.2: closest to one past the highest deprotected.
    assert_eq!(reconstruct_seq(0x1_00fe, 0x01, 8), 0x1_0101);
    assert_eq!(reconstruct_seq(0x1_0101, 0xfe, 8), 0x1_00fe);
    assert_eq!(reconstruct_seq(0, 0xffff, 16), 0xffff);
    assert_eq!(reconstruct_seq(MAX_SEQUENCE + 1, 0xffff, 16), MAX_SEQUENCE);
}

fn header_strategy() -> impl Strategy<Value = UnifiedHeader> {
    (0u8..4, any::<u16>(), any::<bool>(), any::<Option<u16>>()).prop_map(
        |(epoch_bits, seq, long_seq, length)| UnifiedHeader {
            epoch_bits,
            seq_bits: if long_seq { seq } else { seq & 0xff },
            long_seq,
            length,
        },
    )
}

proptest! {
    #[test]
    fn unified_header_round_trips(h in header_strategy()) {
        let mut buf = [0u8; 5];
        let mut w = Writer::new(&mut buf);
        h.write(&mut w).unwrap();
        prop_assert_eq!(w.position(), h.len());
        let mut r = Reader::new(&buf[..h.len()]);
        prop_assert_eq!(UnifiedHeader::parse(&mut r).unwrap(), h);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn ack_round_trips(list in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..40)) {
        let ack = Ack {
            records: list.into_iter().map(|(epoch, sequence)| RecordNumber { epoch, sequence }).collect(),
        };
        let mut buf = vec![0u8; ack.len()];
        ack.write(&mut Writer::new(&mut buf)).unwrap();
        prop_assert_eq!(Ack::parse(&buf).unwrap(), ack);
    }

    #[test]
    fn sequence_within_half_a_window_is_reconstructed(
        expected in 0u64..=MAX_SEQUENCE,
        offset in -127i64..=127,
        long in any::<bool>(),
    ) {
        let width = if long { 16 } else { 8 };
        let offset = if long { offset * 200 } else { offset };
        let actual = expected as i64 + offset;
        prop_assume!(actual >= 0 && actual as u64 <= MAX_SEQUENCE);
        let actual = actual as u64;
        let low = actual & ((1 << width) - 1);
        prop_assert_eq!(reconstruct_seq(expected, low, width), actual);
    }

    #[test]
    fn seal_open_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..300), seq in 0u64..=MAX_SEQUENCE, ct in 20u8..27) {
        let (tx, rx) = pair(Suite13::Aes128GcmSha256, 3);
        let mut buf = vec![0u8; payload.len() + OVERHEAD];
        let n = tx.seal(seq, ContentType::from_u8(ct), &[&payload], &mut buf).unwrap();
        let (opened, content) = open_one(&rx, seq, &buf[..n]).unwrap();
        prop_assert_eq!(opened.sequence, seq);
        prop_assert_eq!(opened.content_type, ContentType::from_u8(ct));
        prop_assert_eq!(content, payload);
    }

    /// One part (sealed while copying) and the same content in several parts (copied, then
    /// sealed in place) give the same record, whose unmasked header is what the header
    /// writer writes.
    #[test]
    fn one_part_and_many_parts_seal_the_same_record(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
        seq in 0u64..=MAX_SEQUENCE,
        ct in 20u8..27,
    ) {
        let (tx, rx) = pair(Suite13::Aes128GcmSha256, 3);
        let ct = ContentType::from_u8(ct);
        let at = cut.index(payload.len() + 1);
        let (mut one, mut many) = ([0u8; 400], [0u8; 400]);
        let n = tx.seal(seq, ct, &[&payload], &mut one).unwrap();
        let m = tx.seal(seq, ct, &[&payload[..at], &payload[at..]], &mut many).unwrap();
        prop_assert_eq!(&one[..n], &many[..m]);
        let Some(Ok(AnyRecord::Ciphertext { header, raw_header, body })) = records(&one[..n]).next() else {
            panic!("a protected record");
        };
        let mut head = raw_header.to_vec();
        let opened = rx.open_into(seq, &header, &mut head, body, &mut Vec::new()).unwrap();
        prop_assert_eq!(opened.sequence, seq);
        let expected = UnifiedHeader {
            epoch_bits: 3,
            seq_bits: seq as u16,
            long_seq: true,
            // Padded to whole AES blocks (there is room in the buffer).
            length: Some((payload.len() + 1).next_multiple_of(16) as u16 + TAG_LEN as u16),
        };
        let mut written = [0u8; HEADER_LEN];
        expected.write(&mut Writer::new(&mut written)).unwrap();
        prop_assert_eq!(&head[..], &written[..]);
    }

    #[test]
    fn any_bytes_split_and_open_without_panicking(data: Vec<u8>, expected: u64) {
        exercise_receive(&data, expected);
    }

    #[test]
    fn unified_records_with_any_bytes_open_without_panicking(
        first in 0x20u8..0x40,
        rest in proptest::collection::vec(any::<u8>(), 0..64),
        expected in 0u64..=MAX_SEQUENCE + 1,
    ) {
        let mut data = vec![first];
        data.extend_from_slice(&rest);
        exercise_receive(&data, expected);
    }
}
