//! The media level: [`MediaDescription`] (one m-section) and its getters.

use std::fmt;

use super::session::{Bandwidth, Connection, IceCredentials};
use super::{
    Attribute, Direction, Extmap, Fingerprint, Fmtp, Rid, RtcpFb, Rtpmap, Setup, Simulcast, Ssrc,
    SsrcGroup,
};

/// The `<media>` of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `application`: data channels in WebRTC.
    Application,
    /// Anything else (`text`, `message`, ...), as written.
    Unknown(String),
}

impl MediaKind {
    /// The kind for an `m=` token.
    pub fn from_name(name: &str) -> Self {
        match name {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => MediaKind::Application,
            other => MediaKind::Unknown(other.to_string()),
        }
    }

    /// The `m=` token.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
            MediaKind::Unknown(name) => name,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One m-section: the `m=` line and the lines up to the next one (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaDescription {
    /// The media type.
    pub kind: MediaKind,
    /// The port; 0 rejects the section (unless it is `a=bundle-only`, RFC 9143 §7.5.3).
    pub port: u16,
    /// The `/<count>` after the port, if any.
    pub port_count: Option<u16>,
    /// The transport protocol: `UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`, `DTLS/SCTP`, ...
    pub protocol: String,
    /// The formats: payload types for RTP, `webrtc-datachannel` (or the SCTP port for the old
    /// `DTLS/SCTP`) for data.
    pub formats: Vec<String>,
    /// `i=`.
    pub information: Option<String>,
    /// `c=`.
    pub connection: Option<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete), as written.
    pub encryption_key: Option<String>,
    /// The `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

macro_rules! find_all {
    ($attrs:expr, $variant:ident) => {
        $attrs.iter().filter_map(|a| match a {
            Attribute::$variant(v) => Some(v),
            _ => None,
        })
    };
}

pub(crate) fn ice_credentials(attrs: &[Attribute]) -> Option<IceCredentials<'_>> {
    let ufrag = find_all!(attrs, IceUfrag).next()?;
    let pwd = find_all!(attrs, IcePwd).next()?;
    Some(IceCredentials { ufrag, pwd })
}

pub(crate) fn fingerprints(attrs: &[Attribute]) -> impl Iterator<Item = &Fingerprint> {
    find_all!(attrs, Fingerprint)
}

pub(crate) fn setup(attrs: &[Attribute]) -> Option<Setup> {
    find_all!(attrs, Setup).next().copied()
}

pub(crate) fn direction(attrs: &[Attribute]) -> Option<Direction> {
    find_all!(attrs, Direction).next().copied()
}

impl MediaDescription {
    /// An m-section with no lines but the `m=` line.
    pub fn new(kind: MediaKind, port: u16, protocol: &str, formats: &[&str]) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            protocol: protocol.to_string(),
            formats: formats.iter().map(|f| f.to_string()).collect(),
            information: None,
            connection: None,
            bandwidths: Vec::new(),
            encryption_key: None,
            attributes: Vec::new(),
        }
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name() == name)
    }

    /// `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        find_all!(self.attributes, Mid).next().map(String::as_str)
    }

    /// This section's own `a=ice-ufrag` and `a=ice-pwd`, if it has both; see
    /// [`SessionDescription::ice_credentials_for`](super::SessionDescription::ice_credentials_for)
    /// for the session-level fallback.
    pub fn ice_credentials(&self) -> Option<IceCredentials<'_>> {
        ice_credentials(&self.attributes)
    }

    /// The `a=ice-options` tokens.
    pub fn ice_options(&self) -> impl Iterator<Item = &str> {
        find_all!(self.attributes, IceOptions)
            .flatten()
            .map(String::as_str)
    }

    /// This section's `a=fingerprint`s.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        fingerprints(&self.attributes)
    }

    /// This section's `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        setup(&self.attributes)
    }

    /// This section's own direction attribute; see
    /// [`SessionDescription::direction_for`](super::SessionDescription::direction_for) for the
    /// fallback and default.
    pub fn direction(&self) -> Option<Direction> {
        direction(&self.attributes)
    }

    /// The `a=candidate` values, as text.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        find_all!(self.attributes, Candidate).map(String::as_str)
    }

    /// Whether `a=end-of-candidates` is present.
    pub fn end_of_candidates(&self) -> bool {
        self.attributes.contains(&Attribute::EndOfCandidates)
    }

    /// Whether `a=rtcp-mux` is present.
    pub fn rtcp_mux(&self) -> bool {
        self.attributes.contains(&Attribute::RtcpMux)
    }

    /// Whether this section carries data channels (SCTP over DTLS).
    pub fn is_data_channel(&self) -> bool {
        self.kind == MediaKind::Application && self.protocol.ends_with("SCTP")
    }

    /// Whether the section is rejected: port 0 without `a=bundle-only` (RFC 8829 §5.3.1).
    pub fn is_rejected(&self) -> bool {
        self.port == 0 && self.attribute("bundle-only").is_none()
    }

    /// `a=sctp-port`, or the port of an old `a=sctpmap`.
    pub fn sctp_port(&self) -> Option<u16> {
        let port = find_all!(self.attributes, SctpPort).next().copied();
        port.or_else(|| find_all!(self.attributes, Sctpmap).next().map(|m| m.port))
    }

    /// `a=max-message-size`.
    pub fn max_message_size(&self) -> Option<u64> {
        find_all!(self.attributes, MaxMessageSize).next().copied()
    }

    /// The `a=rtpmap`s, in order.
    pub fn rtpmaps(&self) -> impl Iterator<Item = &Rtpmap> {
        find_all!(self.attributes, Rtpmap)
    }

    /// The `a=rtpmap` of one payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&Rtpmap> {
        self.rtpmaps().find(|r| r.payload_type == payload_type)
    }

    /// The `a=fmtp`s, in order.
    pub fn fmtps(&self) -> impl Iterator<Item = &Fmtp> {
        find_all!(self.attributes, Fmtp)
    }

    /// The `a=fmtp` of one format.
    pub fn fmtp(&self, format: &str) -> Option<&Fmtp> {
        self.fmtps().find(|f| f.format == format)
    }

    /// The `a=rtcp-fb`s, in order.
    pub fn rtcp_fbs(&self) -> impl Iterator<Item = &RtcpFb> {
        find_all!(self.attributes, RtcpFb)
    }

    /// The `a=extmap`s, in order.
    pub fn extmaps(&self) -> impl Iterator<Item = &Extmap> {
        find_all!(self.attributes, Extmap)
    }

    /// The `a=ssrc`s, in order.
    pub fn ssrcs(&self) -> impl Iterator<Item = &Ssrc> {
        find_all!(self.attributes, Ssrc)
    }

    /// The `a=ssrc-group`s, in order.
    pub fn ssrc_groups(&self) -> impl Iterator<Item = &SsrcGroup> {
        find_all!(self.attributes, SsrcGroup)
    }

    /// The `a=msid`s as `(stream, track)`.
    pub fn msids(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Msid { stream, track } => Some((stream.as_str(), track.as_deref())),
            _ => None,
        })
    }

    /// The `a=rid`s, in order.
    pub fn rids(&self) -> impl Iterator<Item = &Rid> {
        find_all!(self.attributes, Rid)
    }

    /// `a=simulcast`.
    pub fn simulcast(&self) -> Option<&Simulcast> {
        find_all!(self.attributes, Simulcast).next()
    }
}
