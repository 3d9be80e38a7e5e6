//! Properties of SRTP contexts over random packets: protect then unprotect is the identity,
//! any bit flipped is rejected, any bytes give a value or a typed error, and the rollover
//! counter follows a stream through wraps and local reordering.

use kaon::srtp::{Config, Context, Error, Profile};
use proptest::prelude::*;

fn profile() -> impl Strategy<Value = Profile> {
    proptest::sample::select(Profile::SUPPORTED.to_vec())
}

fn context(profile: Profile) -> Context {
    let key: Vec<u8> = (0..profile.key_len() as u8)
        .map(|i| i.wrapping_mul(29))
        .collect();
    let salt: Vec<u8> = (0..profile.salt_len() as u8).map(|i| i ^ 0x5a).collect();
    Context::new(profile, &key, &salt, &Config::default()).unwrap()
}

/// A random RTP packet: header fields, CSRC list, optional extension, payload, padding.
fn rtp_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<(bool, u8, u16, u32, u32)>(),
        proptest::collection::vec(any::<u32>(), 0..=15),
        proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u32>(), 0..8))),
        proptest::collection::vec(any::<u8>(), 0..1200),
        proptest::option::of(1u8..=32),
    )
        .prop_map(
            |((marker, pt, seq, ts, ssrc), csrcs, ext, mut payload, padding)| {
                let mut p = vec![
                    0x80 | (u8::from(padding.is_some()) << 5)
                        | (u8::from(ext.is_some()) << 4)
                        | csrcs.len() as u8,
                    (u8::from(marker) << 7) | (pt & 0x7f),
                ];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&ts.to_be_bytes());
                p.extend_from_slice(&ssrc.to_be_bytes());
                csrcs
                    .iter()
                    .for_each(|c| p.extend_from_slice(&c.to_be_bytes()));
                if let Some((profile, words)) = ext {
                    p.extend_from_slice(&profile.to_be_bytes());
                    p.extend_from_slice(&(words.len() as u16).to_be_bytes());
                    words
                        .iter()
                        .for_each(|w| p.extend_from_slice(&w.to_be_bytes()));
                }
                if let Some(n) = padding {
                    payload.extend(std::iter::repeat_n(0, usize::from(n) - 1));
                    payload.push(n);
                }
                p.extend_from_slice(&payload);
                p
            },
        )
}

fn rtcp_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(pt, ssrc, body)| {
            let mut p = vec![0x80, 200 | (pt & 7), 0, 0];
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&body);
            p
        })
}

fn protect(ctx: &mut Context, packet: &[u8], rtcp: bool) -> Vec<u8> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + 20, 0);
    let n = if rtcp {
        ctx.protect_rtcp(&mut buf, packet.len())
    } else {
        ctx.protect_rtp(&mut buf, packet.len())
    }
    .unwrap();
    buf.truncate(n);
    buf
}

fn unprotect(ctx: &mut Context, packet: &[u8], rtcp: bool) -> Result<Vec<u8>, Error> {
    let mut buf = packet.to_vec();
    let n = if rtcp {
        ctx.unprotect_rtcp(&mut buf)
    } else {
        ctx.unprotect_rtp(&mut buf)
    }?;
    buf.truncate(n);
    Ok(buf)
}

proptest! {
    #[test]
    fn protect_then_unprotect_is_the_identity(profile in profile(), packet in rtp_packet()) {
        let srtp = protect(&mut context(profile), &packet, false);
        prop_assert_eq!(srtp.len(), packet.len() + profile.rtp_overhead());
        // RFC 3711 §3.1: the header, CSRCs and extension are sent in the clear.
        let header = header_len(&packet);
        prop_assert_eq!(&srtp[..header], &packet[..header]);
        prop_assert_eq!(unprotect(&mut context(profile), &srtp, false)?, packet);
    }

    #[test]
    fn srtcp_protect_then_unprotect_is_the_identity(profile in profile(), packet in rtcp_packet()) {
        let srtcp = protect(&mut context(profile), &packet, true);
        prop_assert_eq!(srtcp.len(), packet.len() + profile.rtcp_overhead());
        prop_assert_eq!(&srtcp[..8], &packet[..8]);
        prop_assert_eq!(unprotect(&mut context(profile), &srtcp, true)?, packet);
    }

    #[test]
    fn any_flipped_bit_is_rejected(
        profile in profile(),
        packet in rtp_packet(),
        rtcp in any::<bool>(),
        bit in any::<proptest::sample::Index>(),
    ) {
        let packet = if rtcp { rtcp_of(&packet) } else { packet };
        let mut forged = protect(&mut context(profile), &packet, rtcp);
        let bit = bit.index(forged.len() * 8);
        forged[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(unprotect(&mut context(profile), &forged, rtcp).is_err());
    }

    #[test]
    fn any_bytes_unprotect_to_a_value_or_a_typed_error(
        profile in profile(),
        mut bytes in proptest::collection::vec(any::<u8>(), 0..300),
        version_2 in any::<bool>(),
    ) {
        if version_2 && !bytes.is_empty() {
            bytes[0] = 0x80 | (bytes[0] & 0x3f);
        }
        let mut ctx = context(profile);
        for rtcp in [false, true] {
            let mut buf = bytes.clone();
            let result = if rtcp { ctx.unprotect_rtcp(&mut buf) } else { ctx.unprotect_rtp(&mut buf) };
            if let Ok(n) = result {
                prop_assert!(n <= bytes.len());
            }
        }
    }

    #[test]
    fn receiver_tracks_the_roc_through_wraps_and_reordering(
        profile in profile(),
        start in 60_000u64..70_000,
        steps in proptest::collection::vec((1u64..60, proptest::bool::weighted(0.1)), 1..60),
        swaps in proptest::collection::vec(any::<proptest::sample::Index>(), 0..30),
    ) {
        let mut tx = context(profile);
        let mut rx = context(profile);
        let mut index = start;
        let mut sent = Vec::new();
        let mut jumps = Vec::new();
        for (step, jump) in steps {
            let mut p = vec![0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
            p[2..4].copy_from_slice(&(index as u16).to_be_bytes());
            p.extend_from_slice(&index.to_be_bytes());
            sent.push((protect(&mut tx, &p, false), p));
            // Jumps of 25000 take the stream through several wraps; small steps stay inside
            // the replay window, so a packet late by one place is still accepted.
            index += if jump { 25_000 } else { step };
            jumps.push(jump);
        }
        // Swap disjoint neighbours, never the first packet (it sets the receiver's initial
        // ROC) and never across a jump.
        let mut order: Vec<usize> = (0..sent.len()).collect();
        let mut at: Vec<usize> = swaps.iter().filter(|_| sent.len() > 2).map(|s| 1 + s.index(sent.len() - 2)).collect();
        at.sort_unstable();
        let mut free_from = 0;
        for i in at {
            if i >= free_from && !jumps[i] {
                order.swap(i, i + 1);
                free_from = i + 2;
            }
        }
        for i in order {
            let (srtp, plain) = &sent[i];
            prop_assert_eq!(&unprotect(&mut rx, srtp, false)?, plain);
        }
    }
}

/// Header length of a well-formed packet from `rtp_packet`.
fn header_len(p: &[u8]) -> usize {
    let mut len = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        len += 4 + 4 * usize::from(u16::from_be_bytes([p[len + 2], p[len + 3]]));
    }
    len
}

/// An RTCP packet with the RTP packet's bytes as its body.
fn rtcp_of(rtp: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 0];
    p.extend_from_slice(&rtp[4..]);
    p
}
