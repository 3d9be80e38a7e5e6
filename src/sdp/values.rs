//! The values of typed attributes: each type reads the text after `a=<name>:` and writes it
//! back with `Display`. Readers return a short reason on failure; `attribute.rs` turns it into
//! an [`ErrorKind::BadAttribute`](super::ErrorKind::BadAttribute) with the line number.

use std::fmt;

use super::session::Connection;

/// Why a value could not be read, for an error message.
pub(crate) type Reason = &'static str;

/// Space-separated tokens, tolerating runs of spaces.
pub(crate) fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').filter(|t| !t.is_empty())
}

/// A decimal number made of ASCII digits only (`str::parse` would also take a leading `+`).
pub(crate) fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The first token and the rest with its leading spaces removed ("" if there is no rest).
fn split_first(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.split_once(' ') {
        Some((first, rest)) => (first, rest.trim_start_matches(' ')),
        None => (s, ""),
    }
}

fn some_if_nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Iterates `key=value` pairs separated by `sep` (fmtp parameters, rid restrictions); a piece
/// without `=` yields the piece as key and no value.
fn key_values(s: &str, sep: char) -> impl Iterator<Item = (&str, Option<&str>)> {
    s.split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (p, None),
        })
}

macro_rules! keyword_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The SDP keyword.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The value for an SDP keyword (case-sensitive, as written by every stack).
            pub fn from_keyword(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(
    /// The media direction attributes (RFC 8866 §6.7), also used by `extmap` (RFC 8285).
    Direction {
        /// `sendrecv`, the default when no direction is given.
        SendRecv = "sendrecv",
        /// `sendonly`.
        SendOnly = "sendonly",
        /// `recvonly`.
        RecvOnly = "recvonly",
        /// `inactive`.
        Inactive = "inactive",
    }
);

keyword_enum!(
    /// The DTLS role attribute `a=setup` (RFC 4145 §4, RFC 8842).
    Setup {
        /// `active`: this side starts the DTLS handshake.
        Active = "active",
        /// `passive`: this side waits for it.
        Passive = "passive",
        /// `actpass`: either, the answerer chooses (offers must use this, RFC 8842 §5.2).
        ActPass = "actpass",
        /// `holdconn`: no connection yet.
        HoldConn = "holdconn",
    }
);

keyword_enum!(
    /// The direction of an `a=rid` (RFC 8851 §10).
    RidDirection {
        /// `send`.
        Send = "send",
        /// `recv`.
        Recv = "recv",
    }
);

/// `a=fingerprint:<hash> <hex>` (RFC 8122 §5): a hash of the DTLS certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function as written, e.g. `sha-256` (compare case-insensitively).
    pub algorithm: String,
    /// The digest bytes.
    pub value: Vec<u8>,
}

impl Fingerprint {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let mut t = tokens(s);
        let (Some(algorithm), Some(hex), None) = (t.next(), t.next(), t.next()) else {
            return Err("expected <hash-function> <fingerprint>");
        };
        let value = hex
            .split(':')
            .map(|pair| match pair.as_bytes() {
                [hi, lo] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or("fingerprint is not colon-separated hex pairs")?;
        Ok(Self {
            algorithm: algorithm.to_string(),
            value,
        })
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.algorithm)?;
        for (i, b) in self.value.iter().enumerate() {
            // RFC 8122 §5: upper-case hex.
            write!(f, "{}{b:02X}", if i == 0 { "" } else { ":" })?;
        }
        Ok(())
    }
}

/// `a=msid-semantic:<semantic> <stream ids>` (draft-ietf-mmusic-msid, still sent by browsers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsidSemantic {
    /// The semantic, `WMS` in practice (Pion writes `WMS*` as one token, kept as is).
    pub semantic: String,
    /// Stream ids, or `*`.
    pub streams: Vec<String>,
    /// Whether a space follows the colon, as Chromium writes it (`a=msid-semantic: WMS`); kept
    /// so the description writes back byte for byte.
    pub space_after_colon: bool,
}

impl MsidSemantic {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let mut t = tokens(s);
        let semantic = t.next().ok_or("missing semantic")?.to_string();
        Ok(Self {
            semantic,
            streams: t.map(str::to_string).collect(),
            space_after_colon: s.starts_with(' '),
        })
    }
}

impl fmt::Display for MsidSemantic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let space = if self.space_after_colon { " " } else { "" };
        write!(f, "{space}{}", self.semantic)?;
        self.streams.iter().try_for_each(|s| write!(f, " {s}"))
    }
}

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

/// `a=rid:<id> <send|recv> [<params>]` (RFC 8851 §10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rid {
    /// The restriction identifier.
    pub id: String,
    /// Whether it restricts what is sent or received.
    pub direction: RidDirection,
    /// `pt=...;max-width=...` and the like, as written.
    pub params: Option<String>,
}

impl Rid {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (id, rest) = split_first(s);
        if id.is_empty() {
            return Err("missing rid");
        }
        let (dir, params) = split_first(rest);
        let direction = RidDirection::from_keyword(dir).ok_or("direction is not send or recv")?;
        Ok(Self {
            id: id.to_string(),
            direction,
            params: some_if_nonempty(params),
        })
    }

    /// The `;`-separated parameters as `(key, value)`: `pt`, `max-width`, `depend`, ...
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        key_values(self.params.as_deref().unwrap_or(""), ';')
    }
}

impl fmt::Display for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.direction)?;
        match &self.params {
            Some(p) => write!(f, " {p}"),
            None => Ok(()),
        }
    }
}

/// One rid in an `a=simulcast` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimulcastRid {
    /// The rid.
    pub id: String,
    /// Written `~id`: the stream is offered paused (RFC 8853 §5.1).
    pub paused: bool,
}

/// One simulcast stream: alternative rids, any one of which may be used (RFC 8853 §5.1).
pub type SimulcastStream = Vec<SimulcastRid>;

/// `a=simulcast:[send <streams>] [recv <streams>]` (RFC 8853 §5.1); streams are separated by
/// `;`, alternatives within a stream by `,`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Simulcast {
    /// The streams sent, in order of preference; empty if there is no `send` part.
    pub send: Vec<SimulcastStream>,
    /// The streams received; empty if there is no `recv` part.
    pub recv: Vec<SimulcastStream>,
}

impl Simulcast {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let mut out = Self::default();
        let mut t = tokens(s);
        while let Some(dir) = t.next() {
            let list = t.next().ok_or("direction without streams")?;
            let slot = match dir {
                "send" if out.send.is_empty() => &mut out.send,
                "recv" if out.recv.is_empty() => &mut out.recv,
                _ => return Err("expected one send and/or one recv list"),
            };
            *slot = list
                .split(';')
                .map(parse_stream)
                .collect::<Option<_>>()
                .ok_or("bad rid list")?;
        }
        if out.send.is_empty() && out.recv.is_empty() {
            return Err("no streams");
        }
        Ok(out)
    }
}

fn parse_stream(s: &str) -> Option<SimulcastStream> {
    s.split(',')
        .map(|r| {
            let (paused, id) = match r.strip_prefix('~') {
                Some(id) => (true, id),
                None => (false, r),
            };
            (!id.is_empty()).then(|| SimulcastRid {
                id: id.to_string(),
                paused,
            })
        })
        .collect()
}

fn write_streams(f: &mut fmt::Formatter<'_>, streams: &[SimulcastStream]) -> fmt::Result {
    for (i, stream) in streams.iter().enumerate() {
        f.write_str(if i == 0 { "" } else { ";" })?;
        for (j, rid) in stream.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            write!(f, "{sep}{}{}", if rid.paused { "~" } else { "" }, rid.id)?;
        }
    }
    Ok(())
}

impl fmt::Display for Simulcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.send.is_empty() {
            f.write_str("send ")?;
            write_streams(f, &self.send)?;
        }
        if !self.recv.is_empty() {
            f.write_str(if self.send.is_empty() {
                "recv "
            } else {
                " recv "
            })?;
            write_streams(f, &self.recv)?;
        }
        Ok(())
    }
}

/// The pre-RFC 8841 `a=sctpmap:<port> <protocol> [<streams>]`, still sent with `DTLS/SCTP`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sctpmap {
    /// The SCTP port.
    pub port: u16,
    /// The application protocol, `webrtc-datachannel`.
    pub protocol: String,
    /// The number of streams.
    pub streams: Option<u32>,
}

impl Sctpmap {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let mut t = tokens(s);
        let port = t.next().and_then(number).ok_or("bad port")?;
        let protocol = t.next().ok_or("missing protocol")?.to_string();
        let streams = match t.next() {
            Some(n) => Some(number(n).ok_or("bad stream count")?),
            None => None,
        };
        if t.next().is_some() {
            return Err("trailing tokens");
        }
        Ok(Self {
            port,
            protocol,
            streams,
        })
    }
}

impl fmt::Display for Sctpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.port, self.protocol)?;
        match self.streams {
            Some(n) => write!(f, " {n}"),
            None => Ok(()),
        }
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, if given.
    pub connection: Option<Connection>,
}

impl Rtcp {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (port, rest) = split_first(s);
        let port = number(port).ok_or("bad port")?;
        let connection = match rest {
            "" => None,
            rest => Some(Connection::parse(rest).ok_or("bad address")?),
        };
        Ok(Self { port, connection })
    }
}

impl fmt::Display for Rtcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        match &self.connection {
            Some(c) => write!(f, " {c}"),
            None => Ok(()),
        }
    }
}
