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
pub(crate) fn split_first(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.split_once(' ') {
        Some((first, rest)) => (first, rest.trim_start_matches(' ')),
        None => (s, ""),
    }
}

pub(crate) fn some_if_nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Iterates `key=value` pairs separated by `sep` (fmtp parameters, rid restrictions); a piece
/// without `=` yields the piece as key and no value.
pub(crate) fn key_values(s: &str, sep: char) -> impl Iterator<Item = (&str, Option<&str>)> {
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
