//! `a=` lines: the [`Attribute`] enum, reading one from its name and value, writing it back.

use std::fmt;

use super::values::{Reason, number, tokens};
use super::{
    Direction, Error, ErrorKind, Extmap, Fingerprint, Fmtp, MsidSemantic, Rid, Rtcp, RtcpFb,
    Rtpmap, Sctpmap, Setup, Simulcast, Ssrc, SsrcGroup,
};

/// One `a=` line, at session or media level.
///
/// Typed variants cover what WebRTC uses; anything else is [`Attribute::Unknown`], kept in
/// its place and written back unchanged. `Display` writes the text after `a=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attribute {
    /// `a=group:<semantics> <mid>...` (RFC 5888 §5), e.g. `BUNDLE` (RFC 9143).
    Group {
        /// The semantics, e.g. `BUNDLE`, `LS`.
        semantics: String,
        /// The identification tags of the grouped m-sections.
        mids: Vec<String>,
    },
    /// `a=msid-semantic:...`.
    MsidSemantic(MsidSemantic),
    /// `a=mid:<tag>` (RFC 5888 §4).
    Mid(String),
    /// `a=ice-ufrag:<ufrag>` (RFC 8839 §5.4).
    IceUfrag(String),
    /// `a=ice-pwd:<pwd>` (RFC 8839 §5.4).
    IcePwd(String),
    /// `a=ice-options:<option>...` (RFC 8839 §5.6), e.g. `trickle`, `ice2`.
    IceOptions(Vec<String>),
    /// `a=ice-lite` (RFC 8839 §5.3).
    IceLite,
    /// `a=fingerprint:...` (RFC 8122 §5).
    Fingerprint(Fingerprint),
    /// `a=setup:...` (RFC 4145 §4).
    Setup(Setup),
    /// `a=candidate:<value>` (RFC 8839 §5.1), the value kept as text for the ICE layer's parser.
    Candidate(String),
    /// `a=end-of-candidates` (RFC 8838 §8.2).
    EndOfCandidates,
    /// `a=sctp-port:<port>` (RFC 8841 §5).
    SctpPort(u16),
    /// `a=max-message-size:<bytes>` (RFC 8841 §6); 0 means no limit.
    MaxMessageSize(u64),
    /// The pre-RFC 8841 `a=sctpmap:...`.
    Sctpmap(Sctpmap),
    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    RtcpMux,
    /// `a=rtcp-mux-only` (RFC 8858).
    RtcpMuxOnly,
    /// `a=rtcp-rsize` (RFC 5506 §5).
    RtcpRsize,
    /// `a=rtcp:...` (RFC 3605).
    Rtcp(Rtcp),
    /// `a=rtpmap:...` (RFC 8866 §6.6).
    Rtpmap(Rtpmap),
    /// `a=fmtp:...` (RFC 8866 §6.15).
    Fmtp(Fmtp),
    /// `a=rtcp-fb:...` (RFC 4585 §4.2).
    RtcpFb(RtcpFb),
    /// `a=extmap:...` (RFC 8285 §8).
    Extmap(Extmap),
    /// `a=extmap-allow-mixed` (RFC 8285 §6).
    ExtmapAllowMixed,
    /// `a=ssrc:...` (RFC 5576 §4.1).
    Ssrc(Ssrc),
    /// `a=ssrc-group:...` (RFC 5576 §4.2).
    SsrcGroup(SsrcGroup),
    /// `a=msid:<stream> [<track>]` (RFC 8830 §2).
    Msid {
        /// The stream id, `-` for none.
        stream: String,
        /// The track id (the "appdata").
        track: Option<String>,
    },
    /// `a=rid:...` (RFC 8851 §10).
    Rid(Rid),
    /// `a=simulcast:...` (RFC 8853 §5.1).
    Simulcast(Simulcast),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive` (RFC 8866 §6.7).
    Direction(Direction),
    /// Any other attribute, kept as written.
    Unknown {
        /// The name, before the colon.
        name: String,
        /// The value after the colon, if there is a colon.
        value: Option<String>,
    },
}

/// RFC 8866 §9 `token-char`: visible ASCII except `"(),/:;<=>?@[\]{}` and space.
fn is_token_char(c: char) -> bool {
    matches!(c, '!' | '#'..='\'' | '*' | '+' | '-' | '.' | '0'..='9' | 'A'..='Z' | '^'..='~')
}

impl Attribute {
    /// Reads the text of an `a=` line after `a=`, e.g. `candidate:1 1 udp ...` from a trickled
    /// candidate. Errors report line 1.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_line(text, 1)
    }

    pub(crate) fn parse_line(text: &str, line: usize) -> Result<Self, Error> {
        let (name, value) = match text.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (text, None),
        };
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(Error::new(line, ErrorKind::BadAttributeName));
        }
        Self::typed(name, value).map_err(|reason| {
            Error::new(
                line,
                ErrorKind::BadAttribute {
                    name: name.to_string(),
                    reason,
                },
            )
        })
    }

    fn typed(name: &str, value: Option<&str>) -> Result<Self, Reason> {
        // Flags take no value; a flag written with one is refused rather than guessed at.
        let flag = |attribute: Attribute| match value {
            None => Ok(attribute),
            Some(_) => Err("takes no value"),
        };
        if let Some(direction) = Direction::from_keyword(name) {
            return flag(Attribute::Direction(direction));
        }
        match name {
            "ice-lite" => return flag(Attribute::IceLite),
            "end-of-candidates" => return flag(Attribute::EndOfCandidates),
            "rtcp-mux" => return flag(Attribute::RtcpMux),
            "rtcp-mux-only" => return flag(Attribute::RtcpMuxOnly),
            "rtcp-rsize" => return flag(Attribute::RtcpRsize),
            "extmap-allow-mixed" => return flag(Attribute::ExtmapAllowMixed),
            _ => {}
        }
        let Some(raw) = value else {
            return Ok(match name {
                "group" | "msid-semantic" | "mid" | "ice-ufrag" | "ice-pwd" | "ice-options"
                | "fingerprint" | "setup" | "candidate" | "sctp-port" | "max-message-size"
                | "sctpmap" | "rtcp" | "rtpmap" | "fmtp" | "rtcp-fb" | "extmap" | "ssrc"
                | "ssrc-group" | "msid" | "rid" | "simulcast" => return Err("missing value"),
                _ => Attribute::Unknown {
                    name: name.to_string(),
                    value: None,
                },
            });
        };
        // Typed values tolerate trailing whitespace; free text keeps it.
        let v = raw.trim_end_matches([' ', '\t']);
        let one_token = || match v.trim_start_matches(' ') {
            "" => Err("empty value"),
            t if t.contains(' ') => Err("expected one token"),
            t => Ok(t.to_string()),
        };
        Ok(match name {
            "group" => {
                let mut t = tokens(v);
                let semantics = t.next().ok_or("missing semantics")?.to_string();
                Attribute::Group {
                    semantics,
                    mids: t.map(str::to_string).collect(),
                }
            }
            "msid-semantic" => Attribute::MsidSemantic(MsidSemantic::parse(v)?),
            "mid" => Attribute::Mid(one_token()?),
            "ice-ufrag" => Attribute::IceUfrag(one_token()?),
            "ice-pwd" => Attribute::IcePwd(one_token()?),
            "ice-options" => {
                let options: Vec<String> = tokens(v).map(str::to_string).collect();
                if options.is_empty() {
                    return Err("no options");
                }
                Attribute::IceOptions(options)
            }
            "fingerprint" => Attribute::Fingerprint(Fingerprint::parse(v)?),
            "setup" => Attribute::Setup(Setup::from_keyword(&one_token()?).ok_or("unknown role")?),
            "candidate" => Attribute::Candidate(raw.to_string()),
            "sctp-port" => Attribute::SctpPort(number(&one_token()?).ok_or("bad port")?),
            "max-message-size" => {
                Attribute::MaxMessageSize(number(&one_token()?).ok_or("bad size")?)
            }
            "sctpmap" => Attribute::Sctpmap(Sctpmap::parse(v)?),
            "rtcp" => Attribute::Rtcp(Rtcp::parse(v)?),
            "rtpmap" => Attribute::Rtpmap(Rtpmap::parse(v)?),
            "fmtp" => Attribute::Fmtp(Fmtp::parse(v)?),
            "rtcp-fb" => Attribute::RtcpFb(RtcpFb::parse(v)?),
            "extmap" => Attribute::Extmap(Extmap::parse(v)?),
            "ssrc" => Attribute::Ssrc(Ssrc::parse(v)?),
            "ssrc-group" => Attribute::SsrcGroup(SsrcGroup::parse(v)?),
            "msid" => {
                let mut t = tokens(v);
                let stream = t.next().ok_or("missing stream id")?.to_string();
                let track = t.next().map(str::to_string);
                if t.next().is_some() {
                    return Err("more than two ids");
                }
                Attribute::Msid { stream, track }
            }
            "rid" => Attribute::Rid(Rid::parse(v)?),
            "simulcast" => Attribute::Simulcast(Simulcast::parse(v)?),
            _ => Attribute::Unknown {
                name: name.to_string(),
                value: Some(raw.to_string()),
            },
        })
    }

    /// The attribute name, as written before the colon.
    pub fn name(&self) -> &str {
        match self {
            Attribute::Group { .. } => "group",
            Attribute::MsidSemantic(_) => "msid-semantic",
            Attribute::Mid(_) => "mid",
            Attribute::IceUfrag(_) => "ice-ufrag",
            Attribute::IcePwd(_) => "ice-pwd",
            Attribute::IceOptions(_) => "ice-options",
            Attribute::IceLite => "ice-lite",
            Attribute::Fingerprint(_) => "fingerprint",
            Attribute::Setup(_) => "setup",
            Attribute::Candidate(_) => "candidate",
            Attribute::EndOfCandidates => "end-of-candidates",
            Attribute::SctpPort(_) => "sctp-port",
            Attribute::MaxMessageSize(_) => "max-message-size",
            Attribute::Sctpmap(_) => "sctpmap",
            Attribute::RtcpMux => "rtcp-mux",
            Attribute::RtcpMuxOnly => "rtcp-mux-only",
            Attribute::RtcpRsize => "rtcp-rsize",
            Attribute::Rtcp(_) => "rtcp",
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp(_) => "fmtp",
            Attribute::RtcpFb(_) => "rtcp-fb",
            Attribute::Extmap(_) => "extmap",
            Attribute::ExtmapAllowMixed => "extmap-allow-mixed",
            Attribute::Ssrc(_) => "ssrc",
            Attribute::SsrcGroup(_) => "ssrc-group",
            Attribute::Msid { .. } => "msid",
            Attribute::Rid(_) => "rid",
            Attribute::Simulcast(_) => "simulcast",
            Attribute::Direction(d) => d.as_str(),
            Attribute::Unknown { name, .. } => name,
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Attribute::IceLite
            | Attribute::EndOfCandidates
            | Attribute::RtcpMux
            | Attribute::RtcpMuxOnly
            | Attribute::RtcpRsize
            | Attribute::ExtmapAllowMixed
            | Attribute::Direction(_)
            | Attribute::Unknown { value: None, .. } => Ok(()),
            Attribute::Group { semantics, mids } => {
                write!(f, ":{semantics}")?;
                mids.iter().try_for_each(|m| write!(f, " {m}"))
            }
            Attribute::IceOptions(options) => {
                for (i, o) in options.iter().enumerate() {
                    write!(f, "{}{o}", if i == 0 { ":" } else { " " })?;
                }
                Ok(())
            }
            Attribute::Msid { stream, track } => match track {
                Some(track) => write!(f, ":{stream} {track}"),
                None => write!(f, ":{stream}"),
            },
            Attribute::MsidSemantic(v) => write!(f, ":{v}"),
            Attribute::Mid(v)
            | Attribute::IceUfrag(v)
            | Attribute::IcePwd(v)
            | Attribute::Candidate(v)
            | Attribute::Unknown { value: Some(v), .. } => write!(f, ":{v}"),
            Attribute::Fingerprint(v) => write!(f, ":{v}"),
            Attribute::Setup(v) => write!(f, ":{v}"),
            Attribute::SctpPort(v) => write!(f, ":{v}"),
            Attribute::MaxMessageSize(v) => write!(f, ":{v}"),
            Attribute::Sctpmap(v) => write!(f, ":{v}"),
            Attribute::Rtcp(v) => write!(f, ":{v}"),
            Attribute::Rtpmap(v) => write!(f, ":{v}"),
            Attribute::Fmtp(v) => write!(f, ":{v}"),
            Attribute::RtcpFb(v) => write!(f, ":{v}"),
            Attribute::Extmap(v) => write!(f, ":{v}"),
            Attribute::Ssrc(v) => write!(f, ":{v}"),
            Attribute::SsrcGroup(v) => write!(f, ":{v}"),
            Attribute::Rid(v) => write!(f, ":{v}"),
            Attribute::Simulcast(v) => write!(f, ":{v}"),
        }
    }
}
