//! Signalling for the media examples, as Pion's examples do it: a session description as JSON
//! (`{"type":"offer","sdp":"..."}`), base64-encoded on one line. Reads also accept the JSON
//! itself or a bare SDP.
#![allow(dead_code)] // each example uses its part

use std::io::Read;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard or URL-safe base64, padded or not, ignoring whitespace.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("not base64: byte {c:#04x}").into()),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// A description as Pion prints it: base64 of `{"type":..,"sdp":..}`.
pub fn encode(kind: &str, sdp: &str) -> String {
    let json = serde_json::json!({ "type": kind, "sdp": sdp });
    base64_encode(json.to_string().as_bytes())
}

/// The SDP of a description given as base64 JSON, JSON or bare SDP; checks its type.
pub fn decode(text: &str, kind: &str) -> Result<String> {
    let text = text.trim();
    if text.starts_with("v=0") {
        return Ok(text.to_string());
    }
    let json = if text.starts_with('{') {
        text.as_bytes().to_vec()
    } else {
        base64_decode(text)?
    };
    let v: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("the description is not JSON ({e})"))?;
    let got = v["type"].as_str().unwrap_or("");
    if got != kind {
        return Err(format!("expected an {kind}, got type {got:?}").into());
    }
    Ok(v["sdp"]
        .as_str()
        .ok_or("the description has no sdp field")?
        .to_string())
}

/// Reads an offer from `path`, or from stdin when `path` is `None` or `-`.
pub fn read_offer(path: Option<&str>) -> Result<String> {
    let text = match path {
        Some(p) if p != "-" => {
            std::fs::read_to_string(p).map_err(|e| format!("read the offer from {p}: {e}"))?
        }
        _ => {
            eprintln!(
                "paste the browser's offer (base64, as Pion's examples take it) and press Enter:"
            );
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            if line.trim().is_empty() {
                std::io::stdin().read_to_string(&mut line)?;
            }
            line
        }
    };
    decode(&text, "offer")
}

/// Writes an answer to `path` (as base64 JSON), or prints it on a line of its own.
pub fn write_answer(path: Option<&str>, sdp: &str) -> Result<()> {
    let line = encode("answer", sdp);
    match path {
        Some(p) if p != "-" => std::fs::write(p, format!("{line}\n"))
            .map_err(|e| format!("write the answer to {p}: {e}"))?,
        _ => println!("{line}"),
    }
    Ok(())
}
