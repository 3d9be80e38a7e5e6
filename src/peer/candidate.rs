//! [`IceCandidate`]: a trickled candidate as W3C `RTCIceCandidateInit` shapes it, with the JSON
//! browsers and other stacks exchange.

use std::fmt::Write as _;

/// The largest JSON text [`IceCandidate::from_json`] reads: a candidate line is well under 1 KiB
/// (RFC 8839 §5.1 grammar), so anything larger is not one.
pub const MAX_CANDIDATE_JSON_LEN: usize = 16 * 1024;

/// How deep unknown nested values in the JSON object may go before the text is refused.
const MAX_DEPTH: usize = 16;

/// A trickled ICE candidate (W3C `RTCIceCandidateInit`, RFC 8838 §4): the `candidate:` line of
/// RFC 8839 §5.1, the section it belongs to and the ICE generation (username fragment) it
/// was gathered for.
///
/// An empty `candidate` is end-of-candidates for its generation (W3C `addIceCandidate`).
/// [`PeerEvent::LocalCandidate`](super::PeerEvent::LocalCandidate) carries one to send to the
/// peer, and [`PeerConnection::add_ice_candidate`](super::PeerConnection::add_ice_candidate)
/// takes the peer's. Signalling usually carries the JSON form (`{"candidate": ...,
/// "sdpMid": ..., "sdpMLineIndex": ..., "usernameFragment": ...}`, what browsers'
/// `candidate.toJSON()` gives); [`from_line`](Self::from_line) takes a bare SDP line.
///
/// ```
/// use kaon::peer::IceCandidate;
///
/// let json = r#"{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host",
///                "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#;
/// let c = IceCandidate::from_json(json)?;
/// assert_eq!(c.sdp_mid.as_deref(), Some("0"));
/// assert_eq!(IceCandidate::from_json(&c.to_json())?, c);
/// assert!(IceCandidate::from_line("a=end-of-candidates").is_end_of_candidates());
/// # Ok::<(), kaon::peer::CandidateJsonError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IceCandidate {
    /// The `candidate:...` attribute value (without `a=`); empty for end-of-candidates.
    pub candidate: String,
    /// The `a=mid` of the section the candidate belongs to (W3C `sdpMid`).
    pub sdp_mid: Option<String>,
    /// The index of that section among the description's m-lines (W3C `sdpMLineIndex`).
    pub sdp_mline_index: Option<u16>,
    /// The ICE username fragment of the generation the candidate belongs to (W3C
    /// `usernameFragment`); `None` means the current one.
    pub username_fragment: Option<String>,
}

/// Why [`IceCandidate::from_json`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("candidate JSON at byte {offset}: {reason}")]
pub struct CandidateJsonError {
    /// Where in the text the problem is.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl IceCandidate {
    /// A candidate from a bare SDP line, as some signalling carries it: `candidate:...`, with
    /// or without `a=` and surrounding whitespace. `end-of-candidates` (with or without `a=`)
    /// and an empty line give end-of-candidates. No section or generation is named: the
    /// connection takes it for its one transport and the current generation.
    pub fn from_line(line: &str) -> Self {
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let candidate = if line == "end-of-candidates" {
            String::new()
        } else {
            line.to_string()
        };
        Self {
            candidate,
            ..Self::default()
        }
    }

    /// End-of-candidates for the current generation, for no particular section.
    pub fn end_of_candidates() -> Self {
        Self::default()
    }

    /// Whether this says the peer has sent every candidate of its generation (an empty
    /// `candidate`).
    pub fn is_end_of_candidates(&self) -> bool {
        self.candidate.trim().is_empty()
    }

    /// The W3C JSON form (`RTCIceCandidate.toJSON()`): absent fields are `null`.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(self.candidate.len() + 96);
        s.push_str("{\"candidate\":");
        write_string(&mut s, &self.candidate);
        s.push_str(",\"sdpMid\":");
        match &self.sdp_mid {
            Some(mid) => write_string(&mut s, mid),
            None => s.push_str("null"),
        }
        s.push_str(",\"sdpMLineIndex\":");
        match self.sdp_mline_index {
            Some(i) => {
                let _ = write!(s, "{i}");
            }
            None => s.push_str("null"),
        }
        s.push_str(",\"usernameFragment\":");
        match &self.username_fragment {
            Some(u) => write_string(&mut s, u),
            None => s.push_str("null"),
        }
        s.push('}');
        s
    }

    /// Reads the W3C JSON form: an object with `candidate` (a string; absent means empty),
    /// and optionally `sdpMid`, `sdpMLineIndex` (0..=65535) and `usernameFragment`, each
    /// possibly `null`. Other members are skipped. Any text gives a value or a typed error; at
    /// most [`MAX_CANDIDATE_JSON_LEN`] bytes are read.
    pub fn from_json(text: &str) -> Result<Self, CandidateJsonError> {
        if text.len() > MAX_CANDIDATE_JSON_LEN {
            return Err(CandidateJsonError {
                offset: MAX_CANDIDATE_JSON_LEN,
                reason: "too long for a candidate",
            });
        }
        let mut p = Json {
            b: text.as_bytes(),
            at: 0,
        };
        let mut c = Self::default();
        p.ws();
        p.expect(b'{')?;
        p.ws();
        if p.peek() == Some(b'}') {
            p.at += 1;
        } else {
            loop {
                p.ws();
                let key = p.string()?;
                p.ws();
                p.expect(b':')?;
                p.ws();
                match key.as_str() {
                    "candidate" => c.candidate = p.nullable_string()?.unwrap_or_default(),
                    "sdpMid" => c.sdp_mid = p.nullable_string()?,
                    "usernameFragment" => c.username_fragment = p.nullable_string()?,
                    "sdpMLineIndex" => c.sdp_mline_index = p.nullable_u16()?,
                    _ => p.skip_value(0)?,
                }
                p.ws();
                match p.next() {
                    Some(b',') => continue,
                    Some(b'}') => break,
                    _ => return Err(p.err("expected ',' or '}'")),
                }
            }
        }
        p.ws();
        if p.at != p.b.len() {
            return Err(p.err("text after the object"));
        }
        Ok(c)
    }
}

impl std::fmt::Display for IceCandidate {
    /// The SDP attribute line: `candidate:...`, or `end-of-candidates`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_end_of_candidates() {
            f.write_str("end-of-candidates")
        } else {
            f.write_str(&self.candidate)
        }
    }
}

impl From<&str> for IceCandidate {
    /// [`IceCandidate::from_line`].
    fn from(line: &str) -> Self {
        Self::from_line(line)
    }
}

/// A JSON string literal (RFC 8259 §7): quotes, backslashes and control characters escaped.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A cursor over JSON text (RFC 8259), just enough for one flat object.
struct Json<'a> {
    b: &'a [u8],
    at: usize,
}

impl Json<'_> {
    fn err(&self, reason: &'static str) -> CandidateJsonError {
        CandidateJsonError {
            offset: self.at,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), CandidateJsonError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(match c {
                b'{' => "expected an object",
                b':' => "expected ':'",
                _ => "unexpected character",
            }))
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), CandidateJsonError> {
        if self.b.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.err("unknown literal"))
        }
    }

    fn nullable_string(&mut self) -> Result<Option<String>, CandidateJsonError> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(None);
        }
        self.string().map(Some)
    }

    fn nullable_u16(&mut self) -> Result<Option<u16>, CandidateJsonError> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(None);
        }
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E' | b'-')) || self.at == start {
            return Err(self.err("sdpMLineIndex is not an unsigned integer"));
        }
        std::str::from_utf8(&self.b[start..self.at])
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .map(Some)
            .ok_or_else(|| self.err("sdpMLineIndex is out of range"))
    }

    fn hex4(&mut self) -> Result<u32, CandidateJsonError> {
        let digits = self
            .b
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let v = std::str::from_utf8(digits)
            .ok()
            .filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.at += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, CandidateJsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string"));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.next() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let e = self.next().ok_or_else(|| self.err("unterminated string"))?;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                // RFC 8259 §7: a character outside the BMP is a surrogate pair.
                                if self.b.get(self.at..self.at + 2) != Some(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.at += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.err("lone surrogate"))?
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                Some(c) if c < 0x20 => return Err(self.err("control character in a string")),
                Some(c) => out.push(c),
            }
        }
        // The input is a &str and escapes decode to whole characters.
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"))
    }

    /// Skips any value, nesting at most [`MAX_DEPTH`] deep.
    fn skip_value(&mut self, depth: usize) -> Result<(), CandidateJsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'-' | b'0'..=b'9') => {
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                Ok(())
            }
            Some(open @ (b'[' | b'{')) => {
                let close = if open == b'[' { b']' } else { b'}' };
                self.at += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next() {
                        Some(b',') => continue,
                        Some(c) if c == close => return Ok(()),
                        _ => return Err(self.err("unterminated array or object")),
                    }
                }
            }
            _ => Err(self.err("expected a value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host";

    #[test]
    fn browser_json_with_nulls_and_extra_members_reads() {
        let text = format!(
            "{{ \"candidate\" : \"{LINE}\", \"sdpMid\": null, \"sdpMLineIndex\": 0,\n \
             \"usernameFragment\": null, \"extra\": [1, {{\"a\": true}}, -2.5e3] }}"
        );
        let c = IceCandidate::from_json(&text).unwrap();
        assert_eq!(c.candidate, LINE);
        assert_eq!(c.sdp_mid, None);
        assert_eq!(c.sdp_mline_index, Some(0));
    }

    #[test]
    fn json_escapes_round_trip() {
        let c = IceCandidate {
            candidate: "a\"b\\c\u{1}d\u{1F600}é".into(),
            sdp_mid: Some("audio/0".into()),
            sdp_mline_index: Some(65535),
            username_fragment: Some("u\tf".into()),
        };
        assert_eq!(IceCandidate::from_json(&c.to_json()), Ok(c));
        let pair = IceCandidate::from_json(r#"{"candidate":"\ud83d\ude00\u00e9\/"}"#).unwrap();
        assert_eq!(pair.candidate, "\u{1F600}é/");
    }

    #[test]
    fn malformed_json_is_a_typed_error() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"candidate":1}"#,
            r#"{"sdpMLineIndex":65536}"#,
            r#"{"sdpMLineIndex":-1}"#,
            r#"{"sdpMLineIndex":1.0}"#,
            r#"{"candidate":"\ud800"}"#,
            r#"{"candidate":"x"} x"#,
            r#"{"candidate":"x",}"#,
        ] {
            assert!(IceCandidate::from_json(bad).is_err(), "{bad}");
        }
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(64), "]".repeat(64));
        assert!(IceCandidate::from_json(&deep).is_err());
    }

    #[test]
    fn bare_lines_and_end_of_candidates_convert() {
        let c = IceCandidate::from_line(&format!(" a={LINE}\r\n"));
        assert_eq!(c.candidate, LINE);
        assert_eq!(c.to_string(), LINE);
        for eoc in ["", "end-of-candidates", "a=end-of-candidates"] {
            assert!(IceCandidate::from_line(eoc).is_end_of_candidates());
        }
        assert_eq!(
            IceCandidate::end_of_candidates().to_string(),
            "end-of-candidates"
        );
    }
}
