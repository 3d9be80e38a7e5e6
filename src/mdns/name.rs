//! Domain names (RFC 1035 §3.1, §4.1.4): labels, the compressed form on read, limits.

use std::fmt;

use super::Error;

/// RFC 1035 §2.3.4: labels are 63 octets or less.
pub const MAX_LABEL: usize = 63;
/// RFC 1035 §2.3.4: names are 255 octets or less in their wire form.
pub const MAX_NAME: usize = 255;
/// The most compression pointers followed while reading one name. Pointers must also point
/// strictly backwards, so a loop is impossible; this bounds the work on adversarial chains.
pub const MAX_POINTERS: usize = 32;

/// A domain name as a list of labels, compared case-insensitively for ASCII (RFC 6762 §16).
///
/// Labels are kept as bytes: RFC 6762 §16 names are UTF-8, but any byte is legal on the wire
/// and parsing never rejects a name for its contents. Every label is 1 to 63 bytes and the wire
/// form is at most 255 bytes.
#[derive(Debug, Clone, Default, Eq)]
pub struct Name {
    labels: Vec<Vec<u8>>,
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.labels.len() == other.labels.len()
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl Name {
    /// The root name (no labels).
    pub fn root() -> Self {
        Self::default()
    }

    /// A name from dotted text (`"host.local"`, a trailing dot allowed). Fails on an empty
    /// label, a label over 63 bytes or a name over 255 bytes.
    pub fn new(text: &str) -> Result<Self, Error> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Ok(Self::root());
        }
        Self::from_labels(text.split('.').map(|l| l.as_bytes().to_vec()).collect())
    }

    /// A name from its labels, checked against the limits.
    pub fn from_labels(labels: Vec<Vec<u8>>) -> Result<Self, Error> {
        if labels.iter().any(|l| l.is_empty() || l.len() > MAX_LABEL) {
            return Err(Error::BadLabel);
        }
        let name = Self { labels };
        if name.wire_len() > MAX_NAME {
            return Err(Error::NameTooLong);
        }
        Ok(name)
    }

    /// The labels, most specific first.
    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }

    /// The uncompressed wire length: a length byte per label, the labels, the root byte.
    pub fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }

    /// Whether the last label is `local` (RFC 6762 §3: names under `.local.` are link-local).
    pub fn is_local(&self) -> bool {
        self.labels.len() >= 2
            && self
                .labels
                .last()
                .is_some_and(|l| l.eq_ignore_ascii_case(b"local"))
    }

    /// Whether this name equals dotted `text`, ignoring ASCII case and a trailing dot.
    pub fn matches(&self, text: &str) -> bool {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return self.labels.is_empty();
        }
        let mut parts = text.split('.');
        self.labels.iter().all(|l| {
            parts
                .next()
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(l))
        }) && parts.next().is_none()
    }

    /// Reads a name at `at` in `msg` (the whole message, for compression pointers) and returns
    /// it with the offset just past its first occurrence.
    pub(crate) fn read(msg: &[u8], mut at: usize) -> Result<(Self, usize), Error> {
        let mut labels = Vec::new();
        let mut wire = 1usize;
        let mut end = None;
        let mut pointers = 0;
        // Each pointer must lead strictly before the label sequence that held it.
        let mut floor = at;
        loop {
            let len = *msg.get(at).ok_or(Error::Truncated)? as usize;
            match len >> 6 {
                0 if len == 0 => {
                    return Ok((Self { labels }, end.unwrap_or(at + 1)));
                }
                0 => {
                    let label = msg.get(at + 1..at + 1 + len).ok_or(Error::Truncated)?;
                    wire += len + 1;
                    // RFC 1035 §2.3.4: 255 octets or less.
                    if wire > MAX_NAME {
                        return Err(Error::NameTooLong);
                    }
                    labels.push(label.to_vec());
                    at += 1 + len;
                }
                3 => {
                    let low = *msg.get(at + 1).ok_or(Error::Truncated)? as usize;
                    let target = ((len & 0x3f) << 8) | low;
                    pointers += 1;
                    if target >= floor || pointers > MAX_POINTERS {
                        return Err(Error::BadPointer);
                    }
                    end.get_or_insert(at + 2);
                    floor = target;
                    at = target;
                }
                // 0b01 and 0b10 are reserved (RFC 6891 retired the extended label types).
                _ => return Err(Error::BadLabel),
            }
        }
    }

    /// Writes the uncompressed wire form.
    pub(crate) fn write(&self, w: &mut crate::wire::Writer<'_>) -> Result<(), Error> {
        for l in &self.labels {
            w.u8(l.len() as u8)?;
            w.bytes(l)?;
        }
        w.u8(0)?;
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&String::from_utf8_lossy(l))?;
        }
        Ok(())
    }
}
