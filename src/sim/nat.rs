//! NAT boxes with the mapping and filtering behaviours of RFC 4787.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::trace::DropReason;
use crate::Rng;

/// How a NAT's mapping or filtering depends on the remote endpoint (RFC 4787 §4.1, §5): the
/// same type [`NatDiscovery`](crate::stun::NatDiscovery) reports, so a test can compare what it
/// configured with what a STUN client observed.
pub use crate::stun::NatBehavior as Behavior;

/// How a NAT behaves.
///
/// The classic names map onto RFC 4787 behaviours as follows:
///
/// | constructor | mapping | filtering |
/// |---|---|---|
/// | [`full_cone`](Self::full_cone) | endpoint-independent | endpoint-independent |
/// | [`restricted_cone`](Self::restricted_cone) | endpoint-independent | address-dependent |
/// | [`port_restricted_cone`](Self::port_restricted_cone) (the [`Default`]) | endpoint-independent | address-and-port-dependent |
/// | [`symmetric`](Self::symmetric) | address-and-port-dependent | address-and-port-dependent |
///
/// All constructors use a 120 s mapping timeout (RFC 4787 REQ-5: at least 2 minutes), outbound
/// refresh only (REQ-6 requires outbound refresh; inbound refresh is optional), hairpinning on
/// (REQ-9) and random external ports.
///
/// Expiry is lazy: a mapping is checked when it is used and removed if it has been idle for
/// longer than `mapping_timeout`, so a NAT never needs a timer. A mapping's filter remembers
/// every remote it was used to reach for as long as the mapping lives.
///
/// External IPs are pooled in the *paired* way (REQ-2): all mappings of one internal IP use
/// the same public IP, assigned round-robin over the NAT's public addresses.
///
/// IPv6 is not translated: the NAT box forwards it as a router with a stateful firewall that
/// keeps one pinhole per internal address, applies `filtering` to inbound datagrams, and expires
/// pinholes like mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatConfig {
    /// Mapping behaviour (RFC 4787 §4.1).
    pub mapping: Behavior,
    /// Filtering behaviour (RFC 4787 §5).
    pub filtering: Behavior,
    /// How long an unused mapping lives (RFC 4787 §4.3).
    pub mapping_timeout: Duration,
    /// Whether inbound datagrams refresh a mapping too (RFC 4787 REQ-6 makes it optional).
    pub inbound_refresh: bool,
    /// Whether an inside host can reach another inside host through its public mapped address
    /// (RFC 4787 §6).
    pub hairpinning: bool,
    /// Try to keep the internal port as the external port when it is free (RFC 4787 §4.2.1).
    pub port_preservation: bool,
}

impl NatConfig {
    fn classic(mapping: Behavior, filtering: Behavior) -> Self {
        Self {
            mapping,
            filtering,
            mapping_timeout: Duration::from_secs(120),
            inbound_refresh: false,
            hairpinning: true,
            port_preservation: false,
        }
    }

    /// Endpoint-independent mapping and filtering.
    pub fn full_cone() -> Self {
        Self::classic(Behavior::EndpointIndependent, Behavior::EndpointIndependent)
    }

    /// Endpoint-independent mapping, address-dependent filtering.
    pub fn restricted_cone() -> Self {
        Self::classic(Behavior::EndpointIndependent, Behavior::AddressDependent)
    }

    /// Endpoint-independent mapping, address-and-port-dependent filtering: the common home
    /// router.
    pub fn port_restricted_cone() -> Self {
        Self::classic(
            Behavior::EndpointIndependent,
            Behavior::AddressAndPortDependent,
        )
    }

    /// Address-and-port-dependent mapping and filtering.
    pub fn symmetric() -> Self {
        Self::classic(
            Behavior::AddressAndPortDependent,
            Behavior::AddressAndPortDependent,
        )
    }
}

impl Default for NatConfig {
    fn default() -> Self {
        Self::port_restricted_cone()
    }
}

/// The lowest external port a NAT hands out.
const FIRST_PORT: u16 = 1024;
const PORT_COUNT: u64 = 65536 - FIRST_PORT as u64;

#[derive(Debug)]
struct Mapping {
    internal: SocketAddr,
    /// The destination part of the lookup key (none for endpoint-independent mapping).
    key: Option<SocketAddr>,
    last_used: Duration,
    /// Remotes this mapping was used to reach, reduced to what the filter compares.
    contacted: BTreeSet<SocketAddr>,
}

/// The translation state of one NAT box.
#[derive(Debug)]
pub(crate) struct Nat {
    config: NatConfig,
    public: Vec<IpAddr>,
    rng: Rng,
    /// Live (and not yet swept) mappings by external address.
    mappings: BTreeMap<SocketAddr, Mapping>,
    /// (internal address, destination key) to external address.
    by_internal: BTreeMap<(SocketAddr, Option<SocketAddr>), SocketAddr>,
    /// Paired pooling: the public IP of each internal IP.
    pool: BTreeMap<IpAddr, IpAddr>,
    next_public: usize,
    sweep_at: usize,
}

impl Nat {
    pub(crate) fn new(config: NatConfig, public: Vec<IpAddr>, rng: Rng) -> Self {
        assert!(
            !public.is_empty(),
            "a NAT needs at least one public address"
        );
        assert!(
            public.iter().all(IpAddr::is_ipv4),
            "NAT public addresses must be IPv4 (IPv6 is routed, not translated)"
        );
        Self {
            config,
            public,
            rng,
            mappings: BTreeMap::new(),
            by_internal: BTreeMap::new(),
            pool: BTreeMap::new(),
            next_public: 0,
            sweep_at: 64,
        }
    }

    pub(crate) fn config(&self) -> &NatConfig {
        &self.config
    }

    pub(crate) fn public(&self) -> &[IpAddr] {
        &self.public
    }

    pub(crate) fn is_public(&self, ip: IpAddr) -> bool {
        self.public.contains(&ip)
    }

    /// Live mappings as (internal, external) pairs, in external-address order.
    pub(crate) fn mappings(&self, now: Duration) -> Vec<(SocketAddr, SocketAddr)> {
        self.mappings
            .iter()
            .filter(|(_, m)| self.alive(m, now))
            .map(|(ext, m)| (m.internal, *ext))
            .collect()
    }

    fn alive(&self, m: &Mapping, now: Duration) -> bool {
        now <= m.last_used + self.config.mapping_timeout
    }

    fn mapping_key(&self, dst: SocketAddr) -> Option<SocketAddr> {
        match self.config.mapping {
            Behavior::EndpointIndependent => None,
            Behavior::AddressDependent => Some(SocketAddr::new(dst.ip(), 0)),
            Behavior::AddressAndPortDependent => Some(dst),
        }
    }

    fn filter_key(&self, remote: SocketAddr) -> Option<SocketAddr> {
        match self.config.filtering {
            Behavior::EndpointIndependent => None,
            Behavior::AddressDependent => Some(SocketAddr::new(remote.ip(), 0)),
            Behavior::AddressAndPortDependent => Some(remote),
        }
    }

    fn remove(&mut self, external: SocketAddr) {
        if let Some(m) = self.mappings.remove(&external) {
            self.by_internal.remove(&(m.internal, m.key));
        }
    }

    /// Translates an outbound datagram's source, creating or refreshing its mapping.
    pub(crate) fn outbound(
        &mut self,
        now: Duration,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Result<SocketAddr, DropReason> {
        // IPv6 is firewalled, not translated: one pinhole per internal address.
        let key = if src.is_ipv6() {
            None
        } else {
            self.mapping_key(dst)
        };
        let filter = self.filter_key(dst);
        if let Some(&external) = self.by_internal.get(&(src, key)) {
            let timeout = self.config.mapping_timeout;
            let m = self.mappings.get_mut(&external).expect("indexed mapping");
            if now <= m.last_used + timeout {
                m.last_used = now;
                m.contacted.extend(filter);
                return Ok(external);
            }
            self.remove(external);
        }
        self.sweep(now);
        let external = if src.is_ipv6() {
            src
        } else {
            self.allocate(now, src)?
        };
        let mut contacted = BTreeSet::new();
        contacted.extend(filter);
        self.mappings.insert(
            external,
            Mapping {
                internal: src,
                key,
                last_used: now,
                contacted,
            },
        );
        self.by_internal.insert((src, key), external);
        Ok(external)
    }

    /// Translates an inbound datagram's destination (one of our public addresses, or an inside
    /// IPv6 address) to the internal address, if a live mapping lets it in.
    pub(crate) fn inbound(
        &mut self,
        now: Duration,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Result<SocketAddr, DropReason> {
        let filter = self.filter_key(src);
        let timeout = self.config.mapping_timeout;
        let refresh = self.config.inbound_refresh;
        let Some(m) = self.mappings.get_mut(&dst) else {
            return Err(DropReason::NatNoMapping);
        };
        if now > m.last_used + timeout {
            self.remove(dst);
            return Err(DropReason::NatNoMapping);
        }
        // RFC 4787 §5: the filter compares the sender with the remotes this mapping reached.
        if let Some(key) = filter
            && !m.contacted.contains(&key)
        {
            return Err(DropReason::NatFiltered);
        }
        if refresh {
            m.last_used = now;
        }
        Ok(m.internal)
    }

    /// Picks a free external address for a new mapping of `internal`.
    fn allocate(&mut self, now: Duration, internal: SocketAddr) -> Result<SocketAddr, DropReason> {
        // RFC 4787 REQ-2: paired pooling, one public IP per internal IP.
        let ip = match self.pool.get(&internal.ip()) {
            Some(&ip) => ip,
            None => {
                let ip = self.public[self.next_public % self.public.len()];
                self.next_public += 1;
                self.pool.insert(internal.ip(), ip);
                ip
            }
        };
        if self.config.port_preservation && internal.port() != 0 {
            let preserved = SocketAddr::new(ip, internal.port());
            if self.free(now, preserved) {
                return Ok(preserved);
            }
        }
        let start = self.rng.range(0, PORT_COUNT);
        for i in 0..PORT_COUNT {
            let port = FIRST_PORT as u64 + (start + i) % PORT_COUNT;
            let candidate = SocketAddr::new(ip, port as u16);
            if self.free(now, candidate) {
                return Ok(candidate);
            }
        }
        Err(DropReason::NatPortsExhausted)
    }

    fn free(&mut self, now: Duration, external: SocketAddr) -> bool {
        match self.mappings.get(&external) {
            None => true,
            Some(m) if !self.alive(m, now) => {
                self.remove(external);
                true
            }
            Some(_) => false,
        }
    }

    /// Drops expired mappings whenever the table has doubled since the last sweep, so memory
    /// stays bounded by the live mappings at amortized O(log n) per new mapping.
    fn sweep(&mut self, now: Duration) {
        if self.mappings.len() < self.sweep_at {
            return;
        }
        let expired: Vec<SocketAddr> = self
            .mappings
            .iter()
            .filter(|(_, m)| !self.alive(m, now))
            .map(|(ext, _)| *ext)
            .collect();
        for external in expired {
            self.remove(external);
        }
        self.sweep_at = (self.mappings.len() * 2).max(64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat(config: NatConfig) -> Nat {
        Nat::new(
            config,
            vec!["203.0.113.1".parse().unwrap()],
            Rng::from_seed(3),
        )
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const T0: Duration = Duration::ZERO;

    #[test]
    fn endpoint_independent_mapping_reuses_the_port() {
        let mut n = nat(NatConfig::full_cone());
        let x = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:1"))
            .unwrap();
        let y = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.2:2"))
            .unwrap();
        assert_eq!(x, y);
        assert_eq!(x.ip(), a("203.0.113.1:0").ip());
    }

    #[test]
    fn symmetric_mapping_differs_per_destination() {
        let mut n = nat(NatConfig::symmetric());
        let x = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:1"))
            .unwrap();
        let y = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:2"))
            .unwrap();
        assert_ne!(x, y);
    }

    #[test]
    fn port_preservation_keeps_a_free_port_only() {
        let mut n = nat(NatConfig {
            port_preservation: true,
            ..NatConfig::symmetric()
        });
        let x = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:1"))
            .unwrap();
        assert_eq!(x.port(), 5000);
        let y = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:2"))
            .unwrap();
        assert_ne!(y.port(), 5000);
    }

    #[test]
    fn address_dependent_filter_ignores_the_port() {
        let mut n = nat(NatConfig::restricted_cone());
        let x = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:1"))
            .unwrap();
        assert!(n.inbound(T0, a("198.51.100.1:9"), x).is_ok());
        assert_eq!(
            n.inbound(T0, a("198.51.100.2:1"), x),
            Err(DropReason::NatFiltered)
        );
    }

    #[test]
    fn idle_mapping_expires_lazily() {
        let mut n = nat(NatConfig::full_cone());
        let x = n
            .outbound(T0, a("10.0.0.2:5000"), a("198.51.100.1:1"))
            .unwrap();
        let timeout = n.config().mapping_timeout;
        assert!(n.inbound(timeout, a("198.51.100.1:1"), x).is_ok());
        assert_eq!(
            n.inbound(timeout + Duration::from_nanos(1), a("198.51.100.1:1"), x),
            Err(DropReason::NatNoMapping)
        );
        assert!(n.mappings(timeout * 2).is_empty());
    }

    #[test]
    fn sweeping_keeps_live_mappings() {
        let mut n = nat(NatConfig::symmetric());
        let keep = n
            .outbound(T0, a("10.0.0.9:1"), a("198.51.100.1:1"))
            .unwrap();
        for port in 0..200u16 {
            let now = Duration::from_secs(u64::from(port));
            n.outbound(
                now,
                a("10.0.0.2:5000"),
                SocketAddr::new(a("1.1.1.1:0").ip(), port),
            )
            .unwrap();
            n.outbound(now, a("10.0.0.9:1"), a("198.51.100.1:1"))
                .unwrap();
        }
        assert!(n.mappings.len() < 200, "expired mappings were swept");
        assert_eq!(
            n.outbound(
                Duration::from_secs(200),
                a("10.0.0.9:1"),
                a("198.51.100.1:1")
            ),
            Ok(keep)
        );
    }
}
