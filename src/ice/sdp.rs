//! The SDP `candidate` attribute (RFC 8839 §5.1), parsed and written.
//!
//! ```text
//! candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
//!     [raddr <address>] [rport <port>] [tcptype <t>] [generation <g>] [ufrag <u>]
//!     [network-id <n>] [network-cost <c>] [<name> <value>]...
//! ```
//!
//! The parser is total: any string gives a [`Candidate`] or a typed [`Error`], never a panic,
//! and it allocates at most a bounded amount (lines over [`Candidate::MAX_LEN`] bytes or with
//! more than [`Candidate::MAX_EXTENSIONS`] unknown extensions are refused). It accepts the line
//! with or without a leading `a=` and `candidate:`, transport and type tokens in any case, and
//! extension pairs in any order; unknown extensions are kept in order and written back.

use std::fmt;
use std::str::FromStr;

use super::Error;
use super::candidate::{Address, Candidate, CandidateKind, TcpType, Transport};

impl Candidate {
    /// The longest attribute line [`parse`](Self::parse) accepts, in bytes.
    pub const MAX_LEN: usize = 2048;
    /// The most unknown extension pairs [`parse`](Self::parse) keeps before refusing the line.
    pub const MAX_EXTENSIONS: usize = 32;

    /// Parses a candidate attribute: `candidate:...`, `a=candidate:...` or the bare value.
    /// Trailing line endings are ignored.
    pub fn parse(line: &str) -> Result<Self, Error> {
        if line.len() > Self::MAX_LEN {
            return Err(Error::CandidateTooLong { len: line.len() });
        }
        let mut s = line.trim_end_matches(['\r', '\n']);
        s = s.strip_prefix("a=").unwrap_or(s);
        if s.len() >= 10 && s.is_char_boundary(10) && s[..10].eq_ignore_ascii_case("candidate:") {
            s = &s[10..];
        }
        // Measured on the value too: written back (`candidate:` + value) it must still parse,
        // whether or not the input carried the prefix (found by the ice_candidate fuzzer).
        if s.len() > Self::MAX_LEN - "candidate:".len() {
            return Err(Error::CandidateTooLong { len: line.len() });
        }
        let mut tokens = s.split_ascii_whitespace();
        let mut next = |field: &'static str| tokens.next().ok_or(Error::MissingField(field));

        let foundation = next("foundation")?;
        if !is_foundation(foundation) {
            return Err(Error::BadField("foundation"));
        }
        let component = number(next("component")?, "component")?;
        let transport = Transport::from_token(next("transport")?);
        let priority = number(next("priority")?, "priority")?;
        let address = Address::from_token(next("address")?);
        let port = number(next("port")?, "port")?;
        if !next("typ")?.eq_ignore_ascii_case("typ") {
            return Err(Error::BadField("typ"));
        }
        let kind = CandidateKind::from_token(next("type")?).ok_or(Error::UnknownCandidateType)?;

        let mut c = Candidate {
            foundation: foundation.to_owned(),
            component,
            transport,
            priority,
            address,
            port,
            kind,
            related_address: None,
            related_port: None,
            tcp_type: None,
            generation: None,
            ufrag: None,
            network_id: None,
            network_cost: None,
            extensions: Vec::new(),
        };
        while let Some(name) = tokens.next() {
            let value = tokens
                .next()
                .ok_or(Error::MissingField("extension value"))?;
            match name {
                "raddr" => set(&mut c.related_address, Address::from_token(value), name)?,
                "rport" => set(&mut c.related_port, number(value, "rport")?, name)?,
                "tcptype" => {
                    let t = TcpType::from_token(value).ok_or(Error::BadField("tcptype"))?;
                    set(&mut c.tcp_type, t, name)?;
                }
                "generation" => set(&mut c.generation, number(value, "generation")?, name)?,
                "ufrag" => set(&mut c.ufrag, value.to_owned(), name)?,
                "network-id" => set(&mut c.network_id, number(value, "network-id")?, name)?,
                "network-cost" => set(&mut c.network_cost, number(value, "network-cost")?, name)?,
                _ => {
                    if c.extensions.len() >= Self::MAX_EXTENSIONS {
                        return Err(Error::TooManyExtensions);
                    }
                    c.extensions.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        Ok(c)
    }
}

/// Sets a known extension once; a second occurrence makes the line ambiguous.
fn set<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::DuplicateExtension(name.to_owned()));
    }
    *slot = Some(value);
    Ok(())
}

/// A decimal number of only ASCII digits (`str::parse` would also take a leading `+`).
fn number<T: FromStr>(s: &str, field: &'static str) -> Result<T, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadField(field));
    }
    s.parse().map_err(|_| Error::BadField(field))
}

/// RFC 8839: `foundation = 1*32ice-char`.
pub(crate) fn is_foundation(s: &str) -> bool {
    (1..=32).contains(&s.len()) && is_ice_chars(s)
}

/// RFC 8839: `ice-char = ALPHA / DIGIT / "+" / "/"`.
pub(crate) fn is_ice_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

impl FromStr for Candidate {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// Writes the attribute value, `candidate:...` without the `a=`.
impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.transport.as_str(),
            self.priority,
            self.address,
            self.port,
            self.kind
        )?;
        if let Some(a) = &self.related_address {
            write!(f, " raddr {a}")?;
        }
        if let Some(p) = self.related_port {
            write!(f, " rport {p}")?;
        }
        if let Some(t) = self.tcp_type {
            write!(f, " tcptype {}", t.as_str())?;
        }
        if let Some(g) = self.generation {
            write!(f, " generation {g}")?;
        }
        if let Some(u) = &self.ufrag {
            write!(f, " ufrag {u}")?;
        }
        if let Some(n) = self.network_id {
            write!(f, " network-id {n}")?;
        }
        if let Some(c) = self.network_cost {
            write!(f, " network-cost {c}")?;
        }
        for (name, value) in &self.extensions {
            write!(f, " {name} {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn parses_a_browser_host_candidate_with_mdns_name() {
        let c = Candidate::parse(
            "candidate:2395300328 1 udp 2113937151 1f4712db-ea17-4bcf-a596-105139dfd8bf.local \
             54400 typ host generation 0 ufrag 3Qeh network-cost 999",
        )
        .unwrap();
        assert_eq!(c.foundation, "2395300328");
        assert_eq!(c.component, 1);
        assert_eq!(c.transport, Transport::Udp);
        assert_eq!(c.priority, 2_113_937_151);
        assert_eq!(
            c.address,
            Address::Mdns("1f4712db-ea17-4bcf-a596-105139dfd8bf.local".into())
        );
        assert_eq!(c.port, 54400);
        assert_eq!(c.kind, CandidateKind::Host);
        assert_eq!(
            (c.generation, c.ufrag.as_deref(), c.network_cost),
            (Some(0), Some("3Qeh"), Some(999))
        );
        assert!(!c.is_usable());
    }

    #[test]
    fn parses_srflx_with_related_address_and_a_prefix() {
        let c = Candidate::parse(
            "a=candidate:842163049 1 UDP 1677729535 203.0.113.7 61665 typ srflx raddr 10.0.0.5 \
             rport 61665 generation 0 network-id 1\r\n",
        )
        .unwrap();
        assert_eq!(c.kind, CandidateKind::ServerReflexive);
        assert_eq!(c.socket_addr(), Some("203.0.113.7:61665".parse().unwrap()));
        assert_eq!(c.related(), Some("10.0.0.5:61665".parse().unwrap()));
        assert_eq!(c.network_id, Some(1));
        assert!(c.is_usable());
    }

    #[test]
    fn parses_ipv6_and_tcp_candidates() {
        let c =
            Candidate::parse("candidate:1 1 tcp 1518280447 2001:db8::5 9 typ host tcptype active")
                .unwrap();
        assert_eq!(
            c.address,
            Address::Ip("2001:db8::5".parse::<IpAddr>().unwrap())
        );
        assert_eq!(c.transport, Transport::Tcp);
        assert_eq!(c.tcp_type, Some(TcpType::Active));
        assert!(c.is_usable());
        let mut no_type = c.clone();
        no_type.tcp_type = None;
        assert!(
            !no_type.is_usable(),
            "RFC 6544 §4.5: a TCP candidate needs its tcptype"
        );
    }

    #[test]
    fn keeps_unknown_extensions_in_order() {
        let line =
            "candidate:a+/1 1 udp 1 192.0.2.1 1 typ relay raddr 0.0.0.0 rport 0 zeta 1 alpha two";
        let c = Candidate::parse(line).unwrap();
        assert_eq!(
            c.extensions,
            vec![("zeta".into(), "1".into()), ("alpha".into(), "two".into())]
        );
        assert_eq!(c.to_string(), line);
    }

    #[test]
    fn writes_what_browsers_write() {
        let c = Candidate::host("192.0.2.1:5000".parse().unwrap(), 65535);
        let s = c.to_string();
        assert!(s.starts_with("candidate:"), "{s}");
        assert!(
            s.ends_with(" udp 2130706431 192.0.2.1 5000 typ host"),
            "{s}"
        );
        assert_eq!(Candidate::parse(&s).unwrap(), c);
    }

    #[test]
    fn rejects_malformed_lines_with_typed_errors() {
        let bad = [
            ("", Error::MissingField("foundation")),
            ("candidate:1 1 udp", Error::MissingField("priority")),
            (
                "candidate:1 x udp 1 1.2.3.4 1 typ host",
                Error::BadField("component"),
            ),
            (
                "candidate:1 1 udp +1 1.2.3.4 1 typ host",
                Error::BadField("priority"),
            ),
            (
                "candidate:1 1 udp 4294967296 1.2.3.4 1 typ host",
                Error::BadField("priority"),
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 65536 typ host",
                Error::BadField("port"),
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 1 type host",
                Error::BadField("typ"),
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 1 typ nat",
                Error::UnknownCandidateType,
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 1 typ host rport",
                Error::MissingField("extension value"),
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 1 typ host tcptype x",
                Error::BadField("tcptype"),
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 1 typ host generation 0 generation 1",
                Error::DuplicateExtension("generation".into()),
            ),
            (
                "candidate:f=1 1 udp 1 1.2.3.4 1 typ host",
                Error::BadField("foundation"),
            ),
            (
                "candidate:123456789012345678901234567890123 1 udp 1 1.2.3.4 1 typ host",
                Error::BadField("foundation"),
            ),
        ];
        for (line, err) in bad {
            assert_eq!(Candidate::parse(line), Err(err), "{line:?}");
        }
        let long = "x".repeat(Candidate::MAX_LEN + 1);
        assert_eq!(
            Candidate::parse(&long),
            Err(Error::CandidateTooLong { len: long.len() })
        );
        let many: String = (0..=Candidate::MAX_EXTENSIONS)
            .map(|i| format!(" k{i} v"))
            .collect();
        assert_eq!(
            Candidate::parse(&format!("candidate:1 1 udp 1 1.2.3.4 1 typ host{many}")),
            Err(Error::TooManyExtensions)
        );
    }
}
