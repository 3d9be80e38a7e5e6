//! mDNS host candidates (draft-ietf-mmusic-mdns-ice-candidates): hiding our host addresses
//! behind `<uuid>.local` names, and the seam through which an mDNS resolver
//! ([`crate::mdns::Mdns`]) learns which names to answer for and which to resolve.
//!
//! The agent itself sends no mDNS. A [`PeerConnection`](crate::peer::PeerConnection) does
//! the wiring below itself (see [`MdnsOptions`](crate::peer::MdnsOptions)); an application
//! using the agent alone runs an [`Mdns`](crate::mdns::Mdns) instance (one can serve every
//! agent of a process) and:
//!
//! 1. registers [`Agent::local_mdns_names`] with the responder
//!    ([`Mdns::register_name`](crate::mdns::Mdns::register_name));
//! 2. resolves [`Agent::unresolved_remote_names`]
//!    ([`Mdns::resolve`](crate::mdns::Mdns::resolve)), and hands each answer to
//!    [`Agent::resolve_remote_name`] and each failure to [`Agent::remote_name_failed`].
//!
//! Both lists change only when a local interface or a remote candidate is added, so reading
//! them after those calls is enough.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::agent::Agent;
use super::candidate::{Address, Candidate, CandidateKind, Transport};

/// Whether host candidates are signalled with their address or behind an mDNS name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MdnsMode {
    /// Host candidates carry their IP address.
    #[default]
    Off,
    /// Host candidates carry a random `<uuid>.local` name instead of their address, as
    /// browsers do by default (draft-ietf-mmusic-mdns-ice-candidates §3.1.1), and reflexive
    /// and relayed ones hide the host address in their related address (§3.1.2.2: `raddr
    /// 0.0.0.0 rport 0`). The agent still checks from the real addresses; the peer learns
    /// them as peer-reflexive candidates or by resolving the names.
    HideHostAddresses,
}

/// The names our host addresses hide behind, one per IP.
#[derive(Debug, Default)]
pub(crate) struct MdnsNames {
    names: Vec<(IpAddr, String)>,
}

impl Agent {
    /// The candidate as signalled: with [`MdnsMode::HideHostAddresses`], a host candidate's
    /// address becomes its IP's name (made on first use) and a related address is blanked.
    pub(crate) fn as_signalled(&mut self, cand: &Candidate) -> Candidate {
        let mut out = cand.clone();
        if self.cfg.mdns_mode == MdnsMode::Off {
            return out;
        }
        if cand.kind == CandidateKind::Host {
            if let Address::Ip(ip) = cand.address {
                let names = &mut self.mdns_names.names;
                let name = match names.iter().find(|(i, _)| *i == ip) {
                    Some((_, n)) => n.clone(),
                    None => {
                        let n = crate::mdns::random_uuid_name(&mut self.rng);
                        names.push((ip, n.clone()));
                        n
                    }
                };
                out.address = Address::Mdns(name);
            }
        } else if let Some(Address::Ip(ip)) = cand.related_address {
            // draft-ietf-mmusic-mdns-ice-candidates §3.1.2.2: the related address of a
            // reflexive or relayed candidate must not reveal the host address.
            let blank = match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            out.related_address = Some(Address::Ip(blank));
            out.related_port = Some(0);
        }
        out
    }

    /// Whether a local candidate is signalled at all: a host candidate on a link-local address
    /// only with [`AgentConfig::signal_link_local`](super::AgentConfig::signal_link_local)
    /// (RFC 8445 §5.1.1.1 leaves the choice of addresses to the agent; browsers leave
    /// link-local ones out).
    pub(crate) fn is_signalled(&self, cand: &Candidate) -> bool {
        match (&cand.kind, &cand.address) {
            (CandidateKind::Host, Address::Ip(ip)) => {
                self.cfg.signal_link_local || !super::candidate::is_link_local(*ip)
            }
            _ => true,
        }
    }

    /// The local candidates as signalled to the peer (see [`MdnsMode`]): what
    /// [`IceEvent::LocalCandidate`](super::IceEvent::LocalCandidate) reported.
    /// [`local_candidates`](Self::local_candidates) gives the real addresses.
    pub fn signalled_candidates(&mut self) -> Vec<Candidate> {
        let cands: Vec<Candidate> = self
            .local_candidates()
            .filter(|c| self.is_signalled(c))
            .cloned()
            .collect();
        cands.iter().map(|c| self.as_signalled(c)).collect()
    }

    /// The `.local` names our host addresses are signalled as, with the address each stands
    /// for: register them with the mDNS responder. Empty unless
    /// [`AgentConfig::mdns_mode`](super::AgentConfig::mdns_mode) hides host addresses.
    pub fn local_mdns_names(&self) -> impl Iterator<Item = (&str, IpAddr)> {
        self.mdns_names
            .names
            .iter()
            .map(|(ip, n)| (n.as_str(), *ip))
    }

    /// The `.local` names of held remote UDP candidates, each once: resolve them and pass the
    /// answers to [`resolve_remote_name`](Self::resolve_remote_name).
    pub fn unresolved_remote_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.list.unresolved {
            if let (Address::Mdns(n), Transport::Udp) = (&c.address, &c.transport)
                && !out.iter().any(|o| o.eq_ignore_ascii_case(n))
            {
                out.push(n.clone());
            }
        }
        out
    }

    /// The resolver gave up on `name`: its held candidates are dropped, so that they no
    /// longer count as pending. Returns how many were dropped.
    pub fn remote_name_failed(&mut self, name: &str) -> usize {
        let before = self.list.unresolved.len();
        self.list
            .unresolved
            .retain(|c| !matches!(&c.address, Address::Mdns(n) if n.eq_ignore_ascii_case(name)));
        let dropped = before - self.list.unresolved.len();
        if dropped > 0 {
            self.dirty = true;
        }
        dropped
    }
}

impl Agent {
    /// A cheap digest of what [`local_mdns_names`](Self::local_mdns_names) and
    /// [`unresolved_remote_names`](Self::unresolved_remote_names) return: an owner that syncs
    /// with an mDNS resolver compares it instead of building both lists on every call.
    pub(crate) fn mdns_digest(&self) -> u64 {
        // FNV-1a over the counts and the held names; no allocation.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(&self.mdns_names.names.len().to_le_bytes());
        eat(&self.list.unresolved.len().to_le_bytes());
        for c in &self.list.unresolved {
            if let Address::Mdns(n) = &c.address {
                eat(n.as_bytes());
            }
        }
        h
    }

    /// Takes over `other`'s `.local` names, so that an agent rebuilt with the same addresses
    /// (the PeerConnection's answerer becoming controlled) signals the names already
    /// announced instead of new ones.
    pub(crate) fn adopt_mdns_names(&mut self, other: &Agent) {
        for (ip, name) in &other.mdns_names.names {
            if !self.mdns_names.names.iter().any(|(i, _)| i == ip) {
                self.mdns_names.names.push((*ip, name.clone()));
            }
        }
    }
}
