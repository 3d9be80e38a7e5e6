//! CRC32 (ISO-HDLC, used by STUN FINGERPRINT, RFC 8489 §14.7) and CRC32c (Castagnoli, used by
//! SCTP, RFC 9260 Appendix A), table-driven slicing-by-8, tables built at compile time; and
//! Ogg's page CRC (RFC 3533 §6: polynomial 0x04c11db7, not reflected, no initial or final
//! inversion).

const fn tables(poly: u32) -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static CRC32_TABLES: [[u32; 256]; 8] = tables(0xedb8_8320);
static CRC32C_TABLES: [[u32; 256]; 8] = tables(0x82f6_3b78);

fn update(t: &[[u32; 256]; 8], mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xff) as usize];
    }
    crc
}

/// CRC-32 as used by STUN's FINGERPRINT (the ISO-HDLC / zlib CRC).
pub fn crc32(data: &[u8]) -> u32 {
    !update(&CRC32_TABLES, !0, data)
}

/// CRC-32c (Castagnoli) as used by SCTP. The value is returned as a number; SCTP puts its bytes
/// on the wire least-significant first (RFC 9260 Appendix A).
pub fn crc32c(data: &[u8]) -> u32 {
    !update(&CRC32C_TABLES, !0, data)
}

/// CRC-32c of the concatenation of `parts`, without joining them (SCTP checks a packet with
/// its checksum field read as zero: header, four zero bytes, then the rest).
pub fn crc32c_parts(parts: &[&[u8]]) -> u32 {
    !parts
        .iter()
        .fold(!0, |crc, part| update(&CRC32C_TABLES, crc, part))
}

const fn ogg_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static OGG_TABLE: [u32; 256] = ogg_table();

/// The CRC of an Ogg page (RFC 3533 §6), computed with the checksum field zeroed.
pub fn crc32_ogg(data: &[u8]) -> u32 {
    crc32_ogg_update(0, data)
}

/// Continues an Ogg CRC over more bytes (Ogg's CRC has no inversions, so it chains directly).
pub fn crc32_ogg_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = (crc << 8) ^ OGG_TABLE[((crc >> 24) ^ u32::from(b)) as usize];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bitwise(poly: u32, data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc32_check_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn crc32c_check_value_and_rfc3720_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        // RFC 3720 Appendix B.4, with the wire bytes read back as a little-endian number.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), 0x46dd_794e);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec), 0x113f_db5c);
    }

    #[test]
    fn ogg_crc_check_value() {
        // CRC-32/CKSUM without its final inversion.
        assert_eq!(crc32_ogg(b"123456789"), !0x765e_7680);
        assert_eq!(crc32_ogg(b""), 0);
    }

    proptest! {
        #[test]
        fn sliced_tables_match_the_bitwise_definition(data: Vec<u8>) {
            prop_assert_eq!(crc32(&data), bitwise(0xedb8_8320, &data));
            prop_assert_eq!(crc32c(&data), bitwise(0x82f6_3b78, &data));
        }

        #[test]
        fn crc32c_over_parts_equals_crc32c_of_their_concatenation(data: Vec<u8>, cut in 0usize..64, cut2 in 0usize..64) {
            let a = cut.min(data.len());
            let b = (a + cut2).min(data.len());
            let parts = [&data[..a], &data[a..b], &data[b..]];
            prop_assert_eq!(crc32c_parts(&parts), crc32c(&data));
        }
    }
}
