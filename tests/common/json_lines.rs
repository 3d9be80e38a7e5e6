//! One event per line as a flat JSON object, the way the interop scripts (node, Python) talk
//! to the tests: just enough JSON for that, with no dependency.

use std::collections::HashMap;

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One event line from the script: a flat JSON object of strings, numbers, booleans and nulls,
/// as `json.dumps(..., separators=(",", ":"))` writes it; values are kept as text.
#[derive(Debug, Clone)]
pub struct Ev(HashMap<String, String>);

impl Ev {
    pub fn parse(line: &str) -> Option<Self> {
        let mut map = HashMap::new();
        let mut it = line.trim().strip_prefix('{')?.chars().peekable();
        loop {
            match it.peek()? {
                '}' => return Some(Self(map)),
                ',' | ' ' => {
                    it.next();
                    continue;
                }
                _ => {}
            }
            let key = Self::string(&mut it)?;
            while it.peek() == Some(&' ') {
                it.next();
            }
            if it.next()? != ':' {
                return None;
            }
            while it.peek() == Some(&' ') {
                it.next();
            }
            let value = if *it.peek()? == '"' {
                Self::string(&mut it)?
            } else {
                let mut v = String::new();
                while let Some(&c) = it.peek() {
                    if c == ',' || c == '}' {
                        break;
                    }
                    v.push(c);
                    it.next();
                }
                v
            };
            map.insert(key, value);
        }
    }

    fn string(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        if it.next()? != '"' {
            return None;
        }
        let mut s = String::new();
        loop {
            match it.next()? {
                '"' => return Some(s),
                '\\' => match it.next()? {
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    't' => s.push('\t'),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| it.next()).collect();
                        s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    pub fn is(&self, ev: &str) -> bool {
        self.get("ev") == ev
    }
}
