//! The session level: [`SessionDescription`] and the field types of its lines.

use std::fmt;
use std::net::IpAddr;

use super::media::{self, MediaDescription};
use super::values::{number, tokens};
use super::{Attribute, Direction, Fingerprint, Setup};

/// A whole session description: an offer or an answer (RFC 8866 §5).
///
/// Fields are public so a description can be built or edited directly; the writer does not
/// check them, so text fields must not contain CR or LF, and a description past the parser's
/// limits will not parse again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `v=`: always 0.
    pub version: u32,
    /// `o=`.
    pub origin: Origin,
    /// `s=`: `-` in WebRTC.
    pub session_name: String,
    /// `i=`.
    pub information: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// `c=` at session level.
    pub connection: Option<Connection>,
    /// `b=` lines at session level.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines with their `r=` lines: `t=0 0` in WebRTC.
    pub times: Vec<Timing>,
    /// `z=`, as written.
    pub time_zones: Option<String>,
    /// `k=` (obsolete), as written.
    pub encryption_key: Option<String>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// The m-sections, in order.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `-` in WebRTC.
    pub username: String,
    /// The session id (JSEP: random, below 2^63).
    pub session_id: u64,
    /// Incremented with each new description of the session.
    pub session_version: u64,
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address, `0.0.0.0` or `127.0.0.1` in WebRTC.
    pub address: String,
}

impl Origin {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut t = tokens(s);
        let origin = Self {
            username: t.next()?.to_string(),
            session_id: number(t.next()?)?,
            session_version: number(t.next()?)?,
            net_type: t.next()?.to_string(),
            addr_type: t.next()?.to_string(),
            address: t.next()?.to_string(),
        };
        t.next().is_none().then_some(origin)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        } = self;
        write!(
            f,
            "{username} {session_id} {session_version} {net_type} {addr_type} {address}"
        )
    }
}

/// `c=<nettype> <addrtype> <address>` (RFC 8866 §5.7); also the address of `a=rtcp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written: an IP address, possibly with `/ttl/count` for multicast, or a
    /// name.
    pub address: String,
}

impl Connection {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut t = tokens(s);
        let c = Self {
            net_type: t.next()?.to_string(),
            addr_type: t.next()?.to_string(),
            address: t.next()?.to_string(),
        };
        t.next().is_none().then_some(c)
    }

    /// The address as an IP address, if it is a plain one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

/// `b=<type>:<kbps>` (RFC 8866 §5.8), e.g. `AS`, `TIAS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bandwidth {
    /// The bandwidth type.
    pub kind: String,
    /// The value (kilobits per second for `AS`, bits per second for `TIAS`).
    pub value: u64,
}

impl Bandwidth {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (kind, value) = s.trim_end_matches(' ').split_once(':')?;
        let ok = !kind.is_empty() && !kind.contains(' ');
        ok.then(|| {
            Some(Self {
                kind: kind.to_string(),
                value: number(value)?,
            })
        })?
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// `t=<start> <stop>` and the `r=` lines after it (RFC 8866 §5.9, §5.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Timing {
    /// NTP start time, 0 for unbounded.
    pub start: u64,
    /// NTP stop time, 0 for unbounded.
    pub stop: u64,
    /// `r=` lines, as written.
    pub repeats: Vec<String>,
}

impl Timing {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut t = tokens(s);
        let (start, stop) = (number(t.next()?)?, number(t.next()?)?);
        t.next().is_none().then(|| Self {
            start,
            stop,
            repeats: Vec::new(),
        })
    }
}

/// An ICE username fragment and password (RFC 8839 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IceCredentials<'a> {
    /// `a=ice-ufrag`.
    pub ufrag: &'a str,
    /// `a=ice-pwd`.
    pub pwd: &'a str,
}

impl SessionDescription {
    /// The mids of the first `a=group:BUNDLE` (RFC 9143), if there is one.
    pub fn bundle_group(&self) -> Option<&[String]> {
        self.groups()
            .find(|(s, _)| *s == "BUNDLE")
            .map(|(_, mids)| mids)
    }

    /// Every `a=group` as `(semantics, mids)`.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Group { semantics, mids } => Some((semantics.as_str(), mids.as_slice())),
            _ => None,
        })
    }

    /// Whether the session says `a=ice-lite`.
    pub fn ice_lite(&self) -> bool {
        self.attributes.contains(&Attribute::IceLite)
    }

    /// The session-level ICE credentials (Firefox and Pion may put them here).
    pub fn ice_credentials(&self) -> Option<IceCredentials<'_>> {
        media::ice_credentials(&self.attributes)
    }

    /// The session-level fingerprints.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        media::fingerprints(&self.attributes)
    }

    /// The session-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        media::setup(&self.attributes)
    }

    /// The session-level direction attribute.
    pub fn direction(&self) -> Option<Direction> {
        media::direction(&self.attributes)
    }

    /// The `a=msid-semantic`, if any.
    pub fn msid_semantic(&self) -> Option<&super::MsidSemantic> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::MsidSemantic(m) => Some(m),
            _ => None,
        })
    }

    /// The m-section with this `a=mid`.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.mid() == Some(mid))
    }

    /// The ICE credentials that apply to `media`: its own, else the session's
    /// (RFC 8839 §5.4).
    pub fn ice_credentials_for<'a>(
        &'a self,
        media: &'a MediaDescription,
    ) -> Option<IceCredentials<'a>> {
        media::ice_credentials(&media.attributes).or_else(|| self.ice_credentials())
    }

    /// The fingerprints that apply to `media`: its own if it has any, else the session's
    /// (RFC 8122 §5).
    pub fn fingerprints_for<'a>(
        &'a self,
        media: &'a MediaDescription,
    ) -> impl Iterator<Item = &'a Fingerprint> {
        let own = media.fingerprints().next().is_some();
        let attrs = if own {
            &media.attributes
        } else {
            &self.attributes
        };
        media::fingerprints(attrs)
    }

    /// The `a=setup` that applies to `media`: its own, else the session's.
    pub fn setup_for(&self, media: &MediaDescription) -> Option<Setup> {
        media.setup().or_else(|| self.setup())
    }

    /// The direction of `media`: its own attribute, else the session's, else `sendrecv`
    /// (RFC 8866 §6.7).
    pub fn direction_for(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| self.direction())
            .unwrap_or(Direction::SendRecv)
    }
}
