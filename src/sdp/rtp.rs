//! The values of the RTP attributes: `rtpmap`, `fmtp`, `rtcp-fb`, `extmap`, `ssrc`,
//! `ssrc-group`.

use std::fmt;

use super::values::{Direction, Reason, key_values, number, some_if_nonempty, split_first, tokens};

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtpmap {
    /// The RTP payload type.
    pub payload_type: u8,
    /// The encoding name as written, e.g. `opus`, `VP8` (compare case-insensitively).
    pub encoding: String,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// The encoding parameters: the channel count for audio.
    pub channels: Option<u16>,
}

impl Rtpmap {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (pt, rest) = split_first(s);
        let payload_type = number(pt).ok_or("bad payload type")?;
        let mut parts = rest.split('/');
        let encoding = parts.next().filter(|e| !e.is_empty() && !e.contains(' '));
        let encoding = encoding.ok_or("bad encoding name")?.to_string();
        let clock_rate = parts.next().and_then(number).ok_or("bad clock rate")?;
        let channels = match parts.next() {
            Some(c) => Some(number(c).ok_or("bad channel count")?),
            None => None,
        };
        if parts.next().is_some() {
            return Err("too many / parts");
        }
        Ok(Self {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        match self.channels {
            Some(c) => write!(f, "/{c}"),
            None => Ok(()),
        }
    }
}

/// `a=fmtp:<format> <parameters>` (RFC 8866 §6.15). The parameters are kept as text; for the
/// usual `key=value;key=value` form, [`Fmtp::params`] iterates them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fmtp {
    /// The format (a payload type for RTP media).
    pub format: String,
    /// The format-specific parameters, as written.
    pub params: String,
}

impl Fmtp {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (format, params) = split_first(s);
        if format.is_empty() {
            return Err("missing format");
        }
        Ok(Self {
            format: format.to_string(),
            params: params.to_string(),
        })
    }

    /// The format as an RTP payload type, if it is one.
    pub fn payload_type(&self) -> Option<u8> {
        number(&self.format)
    }

    /// The `;`-separated parameters as `(key, value)`; a parameter without `=` (such as
    /// telephone-event's `0-15`) has no value.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        key_values(&self.params, ';')
    }

    /// The value of one parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params().find(|(k, _)| *k == key).and_then(|(_, v)| v)
    }
}

impl fmt::Display for Fmtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format)?;
        if self.params.is_empty() {
            Ok(())
        } else {
            write!(f, " {}", self.params)
        }
    }
}

/// `a=rtcp-fb:<pt or *> <type> [<parameter>]` (RFC 4585 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtcpFb {
    /// The payload type, or `None` for `*` (all payload types).
    pub payload_type: Option<u8>,
    /// The feedback type: `nack`, `ccm`, `goog-remb`, `transport-cc`, ...
    pub kind: String,
    /// The rest, e.g. `pli` after `nack`, `fir` after `ccm`.
    pub param: Option<String>,
}

impl RtcpFb {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (pt, rest) = split_first(s);
        let payload_type = match pt {
            "*" => None,
            pt => Some(number(pt).ok_or("bad payload type")?),
        };
        let (kind, param) = split_first(rest);
        if kind.is_empty() {
            return Err("missing feedback type");
        }
        Ok(Self {
            payload_type,
            kind: kind.to_string(),
            param: some_if_nonempty(param),
        })
    }
}

impl fmt::Display for RtcpFb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.payload_type {
            Some(pt) => write!(f, "{pt} {}", self.kind)?,
            None => write!(f, "* {}", self.kind)?,
        }
        match &self.param {
            Some(p) => write!(f, " {p}"),
            None => Ok(()),
        }
    }
}

/// `a=extmap:<id>[/<direction>] <uri> [<extension attributes>]` (RFC 8285 §8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extmap {
    /// The header extension id (1-14 one-byte, 1-255 two-byte, 4096-4351 in offers).
    pub id: u16,
    /// The direction, when it differs from the media's.
    pub direction: Option<Direction>,
    /// The extension URI.
    pub uri: String,
    /// Extension attributes, as written.
    pub extensions: Option<String>,
}

impl Extmap {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (id_dir, rest) = split_first(s);
        let (id, direction) = match id_dir.split_once('/') {
            Some((id, dir)) => (
                id,
                Some(Direction::from_keyword(dir).ok_or("bad direction")?),
            ),
            None => (id_dir, None),
        };
        let id = number(id).ok_or("bad id")?;
        let (uri, extensions) = split_first(rest);
        if uri.is_empty() {
            return Err("missing URI");
        }
        Ok(Self {
            id,
            direction,
            uri: uri.to_string(),
            extensions: some_if_nonempty(extensions),
        })
    }
}

impl fmt::Display for Extmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(d) = self.direction {
            write!(f, "/{d}")?;
        }
        write!(f, " {}", self.uri)?;
        match &self.extensions {
            Some(e) => write!(f, " {e}"),
            None => Ok(()),
        }
    }
}

/// `a=ssrc:<ssrc> <attribute>[:<value>]` (RFC 5576 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ssrc {
    /// The synchronization source.
    pub ssrc: u32,
    /// The source attribute: `cname`, `msid`, ...
    pub attribute: String,
    /// Its value, as written.
    pub value: Option<String>,
}

impl Ssrc {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (ssrc, rest) = split_first(s);
        let ssrc = number(ssrc).ok_or("bad ssrc")?;
        let (attribute, value) = match rest.split_once(':') {
            Some((a, v)) => (a, Some(v.to_string())),
            None => (rest, None),
        };
        if attribute.is_empty() {
            return Err("missing source attribute");
        }
        Ok(Self {
            ssrc,
            attribute: attribute.to_string(),
            value,
        })
    }
}

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.ssrc, self.attribute)?;
        match &self.value {
            Some(v) => write!(f, ":{v}"),
            None => Ok(()),
        }
    }
}

/// `a=ssrc-group:<semantics> <ssrc>...` (RFC 5576 §4.2), e.g. `FID` for RTX, `SIM`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SsrcGroup {
    /// The semantics.
    pub semantics: String,
    /// The sources, in order.
    pub ssrcs: Vec<u32>,
}

impl SsrcGroup {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let mut t = tokens(s);
        let semantics = t.next().ok_or("missing semantics")?.to_string();
        let ssrcs = t.map(number).collect::<Option<_>>().ok_or("bad ssrc")?;
        Ok(Self { semantics, ssrcs })
    }
}

impl fmt::Display for SsrcGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.semantics)?;
        self.ssrcs.iter().try_for_each(|s| write!(f, " {s}"))
    }
}
