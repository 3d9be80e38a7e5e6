//! PEM (RFC 7468): base64 between BEGIN/END lines, so an identity can be saved as one text file
//! that OpenSSL also reads (`-cert f -key f`).

use super::super::Error;
use crate::dtls::error::DecodeError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `der` as a PEM block with 64-character lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Finds the first block labelled `label` in `text` and decodes it.
pub(crate) fn decode(text: &str, label: &str) -> Result<Vec<u8>, Error> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or(Error::Decode(DecodeError::Malformed("PEM block missing")))?
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .ok_or(Error::Decode(DecodeError::Malformed("PEM end missing")))?
        + start;
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = 0;
    for c in text[start..stop]
        .bytes()
        .filter(|c| !c.is_ascii_whitespace())
    {
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err(Error::Decode(DecodeError::Malformed(
                "PEM data after padding",
            )));
        }
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or(Error::Decode(DecodeError::Malformed("PEM character")))? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if padding > 2 {
        return Err(Error::Decode(DecodeError::Malformed("PEM padding")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_base64() {
        let pem = encode("X", b"foobar!");
        assert_eq!(pem, "-----BEGIN X-----\nZm9vYmFyIQ==\n-----END X-----\n");
    }

    proptest! {
        #[test]
        fn round_trips(data: Vec<u8>) {
            let pem = encode("TEST", &data);
            prop_assert_eq!(decode(&pem, "TEST").unwrap(), data);
        }

        #[test]
        fn any_text_never_panics(text: String) {
            let _ = decode(&format!("-----BEGIN A-----{text}-----END A-----"), "A");
        }
    }
}
