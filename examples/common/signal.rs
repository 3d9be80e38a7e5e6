//! Copy-and-paste signalling, as Pion's media examples do it: a session description comes in
//! on stdin (or from a file) as raw SDP, as JSON `{"type":"offer","sdp":"..."}`, or as the
//! base64 of that JSON (what Pion's examples and their jsfiddle pages print), and ours goes out
//! on stdout in the same form.
#![allow(dead_code)] // each example uses part of this

/// How a description was written, so the reply can be written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Plain SDP text.
    Sdp,
    /// `{"type":..,"sdp":..}`.
    Json,
    /// base64 of the JSON.
    Base64,
}

/// Reads a description from `path` (`-` for stdin: up to an empty line or the end of input,
/// so a second one can follow): its SDP text and the form it came in.
pub fn read(path: &str) -> Result<(String, Form), String> {
    let mut text = String::new();
    if path == "-" {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            let n = stdin
                .read_line(&mut line)
                .map_err(|e| format!("reading stdin: {e}"))?;
            if n == 0 || (line.trim().is_empty() && !text.trim().is_empty()) {
                break;
            }
            text.push_str(&line);
        }
        if text.trim().is_empty() {
            return Err("no description on stdin".into());
        }
    } else {
        text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    }
    parse(&text)
}

/// The SDP in `text` and its form.
pub fn parse(text: &str) -> Result<(String, Form), String> {
    let t = text.trim();
    if t.starts_with("v=0") {
        return Ok((normalise(t), Form::Sdp));
    }
    if t.starts_with('{') {
        return Ok((json_sdp(t)?, Form::Json));
    }
    let bytes = base64_decode(t).ok_or("neither SDP, JSON nor base64")?;
    let json = String::from_utf8(bytes).map_err(|_| "base64 of something not UTF-8")?;
    Ok((json_sdp(json.trim())?, Form::Base64))
}

/// `sdp` of type `kind` written in `form`.
pub fn write(kind: &str, sdp: &str, form: Form) -> String {
    let json = format!("{{\"type\":\"{kind}\",\"sdp\":{}}}", json_string(sdp));
    match form {
        Form::Sdp => sdp.to_string(),
        Form::Json => json,
        Form::Base64 => base64_encode(json.as_bytes()),
    }
}

fn normalise(sdp: &str) -> String {
    let mut out: String = sdp
        .lines()
        .map(|l| format!("{}\r\n", l.trim_end()))
        .collect();
    if out.is_empty() {
        out.push_str("\r\n");
    }
    out
}

/// The `"sdp"` string of a JSON object.
fn json_sdp(json: &str) -> Result<String, String> {
    let at = json
        .find("\"sdp\"")
        .ok_or("JSON without an \"sdp\" field")?;
    let rest = json[at + 5..].trim_start();
    let rest = rest.strip_prefix(':').ok_or("malformed JSON")?.trim_start();
    let mut chars = rest
        .strip_prefix('"')
        .ok_or("\"sdp\" is not a string")?
        .chars();
    let mut s = String::new();
    loop {
        match chars.next().ok_or("unterminated string")? {
            '"' => return Ok(normalise(&s)),
            '\\' => match chars.next().ok_or("unterminated escape")? {
                'n' => s.push('\n'),
                'r' => s.push('\r'),
                't' => s.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let c = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or("bad \\u escape")?;
                    s.push(c);
                }
                c => s.push(c),
            },
            c => s.push(c),
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_json_round_trips() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n";
        let b = write("offer", sdp, Form::Base64);
        assert_eq!(parse(&b).unwrap(), (sdp.to_string(), Form::Base64));
        let j = write("answer", sdp, Form::Json);
        assert_eq!(parse(&j).unwrap(), (sdp.to_string(), Form::Json));
    }
}
