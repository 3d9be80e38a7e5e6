//! STUN and TURN server URIs (RFC 7064, RFC 7065): `stun:host[:port]`, `stuns:host[:port]`,
//! `turn:host[:port][?transport=udp|tcp]` and `turns:host[:port][?transport=tcp]`, as the W3C
//! `RTCIceServer.urls` carries them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The scheme of a server URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `stun:` (RFC 7064).
    Stun,
    /// `stuns:`, STUN over TLS (RFC 7064).
    Stuns,
    /// `turn:` (RFC 7065).
    Turn,
    /// `turns:`, TURN over TLS (RFC 7065).
    Turns,
}

impl Scheme {
    /// Whether the scheme runs over TLS.
    pub fn is_secure(self) -> bool {
        matches!(self, Self::Stuns | Self::Turns)
    }

    /// Whether the URI names a TURN server.
    pub fn is_turn(self) -> bool {
        matches!(self, Self::Turn | Self::Turns)
    }

    /// The default port: 3478, or 5349 over TLS (RFC 7064 §3.2, RFC 7065 §3.2).
    pub fn default_port(self) -> u16 {
        if self.is_secure() { 5349 } else { 3478 }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Stun => "stun",
            Self::Stuns => "stuns",
            Self::Turn => "turn",
            Self::Turns => "turns",
        }
    }
}

/// The transport to reach a server over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UrlTransport {
    /// UDP (the default for `stun:` and `turn:`).
    Udp,
    /// TCP (the default for `turns:`, where TLS runs over it).
    Tcp,
}

/// A server's host: an IP literal, or a name the application must resolve (the core does no
/// DNS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 literal or a bracketed IPv6 literal.
    Ip(IpAddr),
    /// A domain name.
    Name(String),
}

/// Why a server URI did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not one of `stun:`, `stuns:`, `turn:`, `turns:`.
    #[error("unknown scheme")]
    Scheme,
    /// An empty or malformed host.
    #[error("bad host")]
    Host,
    /// A port that is not a number in 1..=65535.
    #[error("bad port")]
    Port,
    /// A query other than `transport=udp` or `transport=tcp`, or a query on a STUN URI
    /// (RFC 7064 has none), or `transport=udp` on `turns:`.
    #[error("bad query")]
    Query,
}

/// A parsed STUN or TURN server URI.
///
/// ```
/// use kaon::turn::{Host, Scheme, ServerUrl, UrlTransport};
/// let url: ServerUrl = "turn:[2001:db8::1]?transport=tcp".parse().unwrap();
/// assert_eq!(url.scheme, Scheme::Turn);
/// assert_eq!(url.port, 3478);
/// assert_eq!(url.transport, UrlTransport::Tcp);
/// assert_eq!(url.socket_addr(), Some("[2001:db8::1]:3478".parse().unwrap()));
/// let named: ServerUrl = "turns:turn.example.org".parse().unwrap();
/// assert_eq!((named.port, named.transport), (5349, UrlTransport::Tcp));
/// assert_eq!(named.host, Host::Name("turn.example.org".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    /// The scheme.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The port (the scheme's default when the URI has none).
    pub port: u16,
    /// The transport (from `?transport=`, else the scheme's default).
    pub transport: UrlTransport,
}

impl ServerUrl {
    /// The server's socket address when the host is an IP literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }
}

impl FromStr for ServerUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = s.split_once(':').ok_or(UrlError::Scheme)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => Scheme::Stun,
            "stuns" => Scheme::Stuns,
            "turn" => Scheme::Turn,
            "turns" => Scheme::Turns,
            _ => return Err(UrlError::Scheme),
        };
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let transport = match (scheme, query) {
            (Scheme::Turns, None) => UrlTransport::Tcp,
            (_, None) => UrlTransport::Udp,
            // RFC 7064 §3.1: STUN URIs carry no query.
            (Scheme::Stun | Scheme::Stuns, Some(_)) => return Err(UrlError::Query),
            (_, Some(q)) => match q.to_ascii_lowercase().as_str() {
                // RFC 7065 §3.1: transport=udp with turns: is not defined (no DTLS here).
                "transport=udp" if scheme == Scheme::Turn => UrlTransport::Udp,
                "transport=tcp" => UrlTransport::Tcp,
                _ => return Err(UrlError::Query),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (ip, after) = v6.split_once(']').ok_or(UrlError::Host)?;
            let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| UrlError::Host)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(UrlError::Port)?),
            };
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (h, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            };
            let host = if let Ok(ip) = h.parse::<std::net::Ipv4Addr>() {
                Host::Ip(IpAddr::V4(ip))
            } else if is_host_name(h) {
                Host::Name(h.to_ascii_lowercase())
            } else {
                return Err(UrlError::Host);
            };
            (host, port)
        };
        let port = match port {
            None => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(UrlError::Port),
            },
        };
        Ok(Self {
            scheme,
            host,
            port,
            transport,
        })
    }
}

/// RFC 3986 reg-name, restricted to what DNS names use: letters, digits, '-', '.', '_'.
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            Host::Ip(ip) => write!(f, "{ip}")?,
            Host::Name(n) => write!(f, "{n}")?,
        }
        write!(f, ":{}", self.port)?;
        if self.scheme.is_turn() {
            let t = match self.transport {
                UrlTransport::Udp => "udp",
                UrlTransport::Tcp => "tcp",
            };
            write!(f, "?transport={t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<ServerUrl, UrlError> {
        s.parse()
    }

    #[test]
    fn rfc_7064_and_7065_examples_parse() {
        let u = p("stun:example.org").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Stun, 3478));
        let u = p("stuns:example.org").unwrap();
        assert_eq!(u.port, 5349);
        let u = p("turn:example.org?transport=udp").unwrap();
        assert_eq!(u.transport, UrlTransport::Udp);
        let u = p("turn:example.org?transport=tcp").unwrap();
        assert_eq!(u.transport, UrlTransport::Tcp);
        let u = p("turns:example.org?transport=tcp").unwrap();
        assert_eq!((u.port, u.transport), (5349, UrlTransport::Tcp));
        let u = p("turn:192.0.2.1:19302").unwrap();
        assert_eq!(u.socket_addr(), Some("192.0.2.1:19302".parse().unwrap()));
    }

    #[test]
    fn malformed_urls_are_refused_with_a_reason() {
        assert_eq!(p("http://x"), Err(UrlError::Scheme));
        assert_eq!(p("turn"), Err(UrlError::Scheme));
        assert_eq!(p("turn:"), Err(UrlError::Host));
        assert_eq!(p("turn:host:0"), Err(UrlError::Port));
        assert_eq!(p("turn:host:+5"), Err(UrlError::Port));
        assert_eq!(p("turn:host:99999"), Err(UrlError::Port));
        assert_eq!(p("turn:[::1"), Err(UrlError::Host));
        assert_eq!(p("turn:[::1]x"), Err(UrlError::Port));
        assert_eq!(p("stun:host?transport=udp"), Err(UrlError::Query));
        assert_eq!(p("turns:host?transport=udp"), Err(UrlError::Query));
        assert_eq!(p("turn:host?transport=sctp"), Err(UrlError::Query));
        assert_eq!(p("turn:user@host"), Err(UrlError::Host));
    }

    proptest! {
        #[test]
        fn display_parse_round_trips(
            scheme in prop_oneof![Just(Scheme::Stun), Just(Scheme::Stuns), Just(Scheme::Turn), Just(Scheme::Turns)],
            ip: IpAddr,
            port in 1u16..,
            tcp: bool,
        ) {
            let transport = match scheme {
                Scheme::Turns => UrlTransport::Tcp,
                Scheme::Turn if tcp => UrlTransport::Tcp,
                _ => UrlTransport::Udp,
            };
            let u = ServerUrl { scheme, host: Host::Ip(ip), port, transport };
            prop_assert_eq!(p(&u.to_string()), Ok(u));
        }

        #[test]
        fn any_text_never_panics(s in ".{0,40}") {
            let _ = p(&s);
        }
    }
}
