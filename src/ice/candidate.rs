//! ICE candidates: kinds, addresses, priority and foundation (RFC 8445 §5.1), and the fields
//! RFC 8839 and the common extensions carry. The SDP text form lives in `sdp.rs`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// What kind of transport address a candidate is (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandidateKind {
    /// An address of a local interface (`typ host`).
    Host,
    /// The address a NAT gave us, learned from a STUN server (`typ srflx`).
    ServerReflexive,
    /// An address learned from a connectivity check (`typ prflx`).
    PeerReflexive,
    /// An address on a TURN relay (`typ relay`).
    Relayed,
}

impl CandidateKind {
    /// The RFC 8445 §5.1.2.2 recommended type preference: host 126, peer-reflexive 110,
    /// server-reflexive 100, relayed 0.
    pub fn type_preference(self) -> u32 {
        match self {
            Self::Host => 126,
            Self::PeerReflexive => 110,
            Self::ServerReflexive => 100,
            Self::Relayed => 0,
        }
    }

    /// The SDP token (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::ServerReflexive => "srflx",
            Self::PeerReflexive => "prflx",
            Self::Relayed => "relay",
        }
    }

    /// The kind for an SDP token (case-insensitive), if it is one of the four.
    pub fn from_token(s: &str) -> Option<Self> {
        [
            Self::Host,
            Self::ServerReflexive,
            Self::PeerReflexive,
            Self::Relayed,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport protocol of a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP (RFC 6544): paired by `tcptype`.
    Tcp,
    /// Any other token, kept as written.
    Other(String),
}

impl Transport {
    /// The SDP token. UDP and TCP are written in lower case, as browsers do; the grammar is
    /// case-insensitive.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Other(s) => s,
        }
    }

    pub(crate) fn from_token(s: &str) -> Self {
        if s.eq_ignore_ascii_case("udp") {
            Self::Udp
        } else if s.eq_ignore_ascii_case("tcp") {
            Self::Tcp
        } else {
            Self::Other(s.to_owned())
        }
    }
}

/// The `tcptype` of a TCP candidate (RFC 6544 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpType {
    /// Opens connections only.
    Active,
    /// Accepts connections only.
    Passive,
    /// Simultaneous open.
    SimultaneousOpen,
}

impl TcpType {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::SimultaneousOpen => "so",
        }
    }

    pub(crate) fn from_token(s: &str) -> Option<Self> {
        [Self::Active, Self::Passive, Self::SimultaneousOpen]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A candidate's connection address: an IP, or a name the agent cannot use until it is
/// resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// An mDNS name ending in `.local` (how browsers hide host addresses), held unresolved:
    /// the agent keeps such candidates but does not pair them.
    Mdns(String),
    /// Any other host name (RFC 8839 allows an FQDN), held unresolved.
    Fqdn(String),
}

impl Address {
    /// The IP, when the address is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    /// Classifies a token: an IP literal, an mDNS `.local` name, or another host name.
    pub(crate) fn from_token(s: &str) -> Self {
        if let Ok(ip) = s.parse::<IpAddr>() {
            Self::Ip(ip)
        } else if is_mdns(s) {
            Self::Mdns(s.to_owned())
        } else {
            Self::Fqdn(s.to_owned())
        }
    }
}

/// Whether `name` is an mDNS name: it ends in `.local` (RFC 6762), with something before it.
pub(crate) fn is_mdns(name: &str) -> bool {
    const SUFFIX: &str = ".local";
    name.len() > SUFFIX.len()
        && name.is_char_boundary(name.len() - SUFFIX.len())
        && name[name.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Mdns(s) | Self::Fqdn(s) => f.write_str(s),
        }
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

/// One ICE candidate, as signalled in SDP (RFC 8839 §5.1) or trickled (RFC 8838).
///
/// The fields are public so an application can build or inspect candidates freely; the agent
/// validates what it uses. [`Display`](fmt::Display) writes the `candidate:` attribute value
/// and [`parse`](Self::parse) reads one (see `sdp.rs` for the grammar and its limits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Identifies candidates of the same type, base IP, server and transport (1 to 32
    /// `ice-char`s: letters, digits, `+`, `/`).
    pub foundation: String,
    /// The component id: 1 (RTP or the only component), 2 (RTCP without rtcp-mux).
    pub component: u16,
    /// The transport protocol.
    pub transport: Transport,
    /// RFC 8445 §5.1.2 priority.
    pub priority: u32,
    /// The connection address.
    pub address: Address,
    /// The port.
    pub port: u16,
    /// host, srflx, prflx or relay.
    pub kind: CandidateKind,
    /// `raddr`: the related address (the base of a reflexive candidate, the mapped address of
    /// a relayed one).
    pub related_address: Option<Address>,
    /// `rport`: the related port.
    pub related_port: Option<u16>,
    /// `tcptype` (RFC 6544), for TCP candidates.
    pub tcp_type: Option<TcpType>,
    /// `generation` (a libwebrtc extension): which ICE generation the candidate belongs to.
    pub generation: Option<u32>,
    /// `ufrag` (a libwebrtc extension, RFC 8840 §4.3 uses it for trickle): the username
    /// fragment of the ICE session the candidate belongs to.
    pub ufrag: Option<String>,
    /// `network-id` (a libwebrtc extension).
    pub network_id: Option<u32>,
    /// `network-cost` (a libwebrtc extension).
    pub network_cost: Option<u32>,
    /// Any other extension attributes, as name/value pairs in the order they appeared.
    pub extensions: Vec<(String, String)>,
}

/// The component id of the only component kaon uses (RTP and RTCP multiplexed, or data).
pub const COMPONENT_RTP: u16 = 1;

impl Candidate {
    /// A UDP candidate with the given kind, address, priority and foundation, and no
    /// extensions.
    pub fn new(kind: CandidateKind, addr: SocketAddr, priority: u32, foundation: &str) -> Self {
        Self {
            foundation: foundation.to_owned(),
            component: COMPONENT_RTP,
            transport: Transport::Udp,
            priority,
            address: Address::Ip(addr.ip()),
            port: addr.port(),
            kind,
            related_address: None,
            related_port: None,
            tcp_type: None,
            generation: None,
            ufrag: None,
            network_id: None,
            network_cost: None,
            extensions: Vec::new(),
        }
    }

    /// A host candidate for a local socket address, with the RFC 8445 §5.1.2 priority for
    /// `local_preference`.
    pub fn host(addr: SocketAddr, local_preference: u16) -> Self {
        let priority = priority(CandidateKind::Host, local_preference, COMPONENT_RTP);
        let foundation = foundation(CandidateKind::Host, addr.ip(), None, &Transport::Udp);
        Self::new(CandidateKind::Host, addr, priority, &foundation)
    }

    /// The socket address, when the address is an IP.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.address.ip().map(|ip| SocketAddr::new(ip, self.port))
    }

    /// The related address and port, when both are present and the address is an IP.
    pub fn related(&self) -> Option<SocketAddr> {
        let ip = self.related_address.as_ref()?.ip()?;
        Some(SocketAddr::new(ip, self.related_port?))
    }

    /// Sets `raddr` and `rport`.
    pub fn with_related(mut self, related: SocketAddr) -> Self {
        self.related_address = Some(Address::Ip(related.ip()));
        self.related_port = Some(related.port());
        self
    }

    /// Whether the agent can pair this candidate: UDP, or TCP with a `tcptype` (RFC 6544
    /// §4.5), with an IP address.
    pub fn is_usable(&self) -> bool {
        let transport = match self.transport {
            Transport::Udp => true,
            Transport::Tcp => self.tcp_type.is_some(),
            Transport::Other(_) => false,
        };
        transport && self.socket_addr().is_some()
    }
}

/// RFC 8445 §5.1.2.1: `2^24 * type preference + 2^8 * local preference + (256 - component)`.
/// A component of 0 or above 256 is clamped into 1..=256.
pub fn priority(kind: CandidateKind, local_preference: u16, component: u16) -> u32 {
    let component = u32::from(component.clamp(1, 256));
    (kind.type_preference() << 24) + (u32::from(local_preference) << 8) + (256 - component)
}

/// RFC 8445 §6.1.2.3: the pair priority from the controlling agent's candidate priority `g`
/// and the controlled agent's `d`: `2^32 * min(g, d) + 2 * max(g, d) + (g > d ? 1 : 0)`.
/// Priorities are at most 2^31 - 1 by the RFC; larger ones from a peer saturate rather than
/// overflow.
pub fn pair_priority(g: u32, d: u32) -> u64 {
    let (g, d) = (u64::from(g), u64::from(d));
    (g.min(d) << 32)
        .saturating_add(2 * g.max(d))
        .saturating_add(u64::from(g > d))
}

/// RFC 8445 §5.1.1.3: candidates share a foundation when they have the same type, base IP,
/// STUN or TURN server IP and transport. The foundation is a short digest of those, written
/// in decimal (always valid `ice-char`s, at most 10 of them).
pub fn foundation(
    kind: CandidateKind,
    base: IpAddr,
    server: Option<IpAddr>,
    transport: &Transport,
) -> String {
    let mut bytes = Vec::with_capacity(48);
    bytes.extend_from_slice(kind.as_str().as_bytes());
    push_ip(&mut bytes, base);
    match server {
        Some(ip) => push_ip(&mut bytes, ip),
        None => bytes.push(0),
    }
    bytes.extend_from_slice(transport.as_str().as_bytes());
    crate::wire::crc32(&bytes).to_string()
}

fn push_ip(bytes: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            bytes.push(4);
            bytes.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            bytes.push(6);
            bytes.extend_from_slice(&v6.octets());
        }
    }
}

/// The local preference for a host address (RFC 8445 §5.1.2.1 with the dual-stack advice of
/// RFC 8421 §4): IPv6 above IPv4, interleaved by rank so that the best IPv4 address comes
/// right after the best IPv6 one, and link-local or loopback addresses below both.
/// `rank` is the address's position among the local addresses of its family (0 for the first).
pub fn local_preference(ip: IpAddr, rank: usize) -> u16 {
    let rank = u16::try_from(rank).unwrap_or(u16::MAX).min(60);
    let step = rank * 512;
    let pref = match ip {
        IpAddr::V6(_) => 65535 - step,
        IpAddr::V4(_) => 65535 - 256 - step,
    };
    if is_link_local_or_loopback(ip) {
        pref / 2
    } else {
        pref
    }
}

/// Whether a local base and a remote address may form a pair: the same family, and a
/// link-local address only with a link-local one (RFC 4291 §2.5.6: link-local addresses are
/// meaningful on one link only; RFC 6724 §6 rule 2, matching scope). Two IPv6 link-local
/// addresses that both carry a zone (scope id) must carry the same one: they are on one link.
/// Unique local (ULA, fc00::/7) and global addresses pair with each other: a site routes both.
pub(crate) fn same_scope(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> bool {
    use std::net::SocketAddr;
    if local.is_ipv4() != remote.is_ipv4() {
        return false;
    }
    if is_link_local(local.ip()) != is_link_local(remote.ip()) {
        return false;
    }
    match (local, remote) {
        (SocketAddr::V6(l), SocketAddr::V6(r)) if is_link_local(local.ip()) => {
            l.scope_id() == 0 || r.scope_id() == 0 || l.scope_id() == r.scope_id()
        }
        _ => true,
    }
}

/// Whether `ip` is link-local: 169.254.0.0/16 or fe80::/10.
pub(crate) fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn is_link_local_or_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_rfc8445_formula() {
        // Host, local preference 65535, component 1: 126 << 24 | 65535 << 8 | 255.
        assert_eq!(priority(CandidateKind::Host, 65535, 1), 2_130_706_431);
        assert_eq!(priority(CandidateKind::Relayed, 0, 1), 255);
        assert_eq!(
            priority(CandidateKind::PeerReflexive, 0, 2),
            (110 << 24) + 254
        );
        assert!(
            priority(CandidateKind::Host, 0, 1) > priority(CandidateKind::PeerReflexive, 65535, 1)
        );
        assert!(
            priority(CandidateKind::PeerReflexive, 0, 1)
                > priority(CandidateKind::ServerReflexive, 65535, 1)
        );
    }

    #[test]
    fn pair_priority_is_symmetric_but_for_the_tie_bit() {
        assert_eq!(pair_priority(5, 3), (3 << 32) + 10 + 1);
        assert_eq!(pair_priority(3, 5), (3 << 32) + 10);
        assert_eq!(pair_priority(u32::MAX, u32::MAX), u64::MAX);
        assert!(pair_priority(1 << 31, 7) > pair_priority(7, 7));
    }

    #[test]
    fn foundations_differ_by_type_base_server_and_transport() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let f = |k, b, s, t: &Transport| foundation(k, b, s, t);
        let base = f(CandidateKind::Host, ip, None, &Transport::Udp);
        assert_eq!(base, f(CandidateKind::Host, ip, None, &Transport::Udp));
        assert_ne!(base, f(CandidateKind::Host, other, None, &Transport::Udp));
        assert_ne!(
            base,
            f(CandidateKind::ServerReflexive, ip, None, &Transport::Udp)
        );
        assert_ne!(
            f(
                CandidateKind::ServerReflexive,
                ip,
                Some(other),
                &Transport::Udp
            ),
            f(
                CandidateKind::ServerReflexive,
                ip,
                Some(ip),
                &Transport::Udp
            )
        );
        assert_ne!(base, f(CandidateKind::Host, ip, None, &Transport::Tcp));
        assert!(base.len() <= 10 && base.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn local_preference_interleaves_ipv6_and_ipv4() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let ll: IpAddr = "fe80::1".parse().unwrap();
        assert!(local_preference(v6, 0) > local_preference(v4, 0));
        assert!(local_preference(v4, 0) > local_preference(v6, 1));
        assert!(local_preference(v6, 1) > local_preference(v4, 1));
        assert!(local_preference(v4, 5) > local_preference(ll, 0));
        assert!(local_preference(v4, 1000) > 0);
    }

    #[test]
    fn link_local_pairs_only_with_link_local_on_the_same_link() {
        let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        // Same family only.
        assert!(!same_scope(a("192.0.2.1:1"), a("[2001:db8::1]:1")));
        // Global, ULA and IPv4 private addresses pair freely within a family.
        assert!(same_scope(a("[2001:db8::1]:1"), a("[fd00::2]:1")));
        assert!(same_scope(a("[fd00::1]:1"), a("[fd00::2]:1")));
        assert!(same_scope(a("10.0.0.1:1"), a("192.0.2.2:1")));
        // Link-local with link-local only.
        assert!(!same_scope(a("[fe80::1%2]:1"), a("[2001:db8::2]:1")));
        assert!(!same_scope(a("[2001:db8::1]:1"), a("[fe80::2]:1")));
        assert!(!same_scope(a("169.254.1.1:1"), a("10.0.0.2:1")));
        assert!(same_scope(a("169.254.1.1:1"), a("169.254.9.9:1")));
        // The same zone, or one side without a zone (a candidate from SDP has none).
        assert!(same_scope(a("[fe80::1%2]:1"), a("[fe80::2%2]:1")));
        assert!(same_scope(a("[fe80::1%2]:1"), a("[fe80::2]:1")));
        assert!(!same_scope(a("[fe80::1%2]:1"), a("[fe80::2%3]:1")));
    }

    #[test]
    fn mdns_names_are_recognised() {
        assert!(is_mdns("1f4712db-ea17-4bcf-a596-105139dfd8bf.local"));
        assert!(is_mdns("x.LOCAL"));
        assert!(!is_mdns(".local"));
        assert!(!is_mdns("example.com"));
        assert!(!is_mdns("ü.loca"));
        assert!(is_mdns("ü.local"));
    }
}
