//! A ready-made topology for NAT behaviour experiments: one STUN client behind a NAT of any
//! RFC 4787 type, and an RFC 5780 STUN server on two IPs times two ports.

use super::{EndpointId, LinkConfig, NatConfig, NatId, Sim, SimError};
use crate::stun::{
    ClientConfig, DiscoveryEvent, NatDiscovery, NatReport, Server, ServerConfig, ServerEvent,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The STUN server's two IP addresses ("the internet" side).
pub const SERVER_IPS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
];
/// The STUN server's primary and alternate ports.
pub const SERVER_PORTS: [u16; 2] = [3478, 3479];
/// The client's private address, behind the NAT.
pub const CLIENT_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)), 5000);
/// The NAT's public address.
pub const NAT_PUBLIC_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
/// The client's address when there is no NAT: directly on the internet.
pub const PUBLIC_CLIENT_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 50)), 5000);

/// How long [`NatLab::discover`] lets the tests run (in simulated time) before giving up.
const DISCOVERY_DEADLINE: Duration = Duration::from_secs(600);

/// A STUN client ([`NatDiscovery`]) behind an optional NAT, and a STUN server with two IPs and
/// two ports on the internet.
///
/// ```
/// use kaon::sim::{NatConfig, lab::NatLab};
/// use kaon::stun::NatBehavior;
/// use std::time::Instant;
///
/// let mut lab = NatLab::new(1, Instant::now(), Some(NatConfig::symmetric()));
/// let report = lab.discover().unwrap();
/// assert_eq!(report.mapping, Some(NatBehavior::AddressAndPortDependent));
/// ```
pub struct NatLab {
    /// The simulator, for inspecting the trace or changing the topology.
    pub sim: Sim,
    /// The [`NatDiscovery`] endpoint.
    pub client: EndpointId,
    /// The [`Server`] endpoint.
    pub server: EndpointId,
    /// The NAT, when there is one.
    pub nat: Option<NatId>,
    /// The client's local address.
    pub local: SocketAddr,
}

impl NatLab {
    /// Builds the topology with perfect links. With `nat: None` the client sits directly on
    /// the internet.
    pub fn new(seed: u64, start: Instant, nat: Option<NatConfig>) -> Self {
        let mut sim = Sim::new(seed, start);
        let internet = sim.add_network("internet");
        let server_host = sim.add_host("stun-server");
        let iface = sim.add_interface(server_host, internet, SERVER_IPS[0], LinkConfig::default());
        sim.add_address(iface, SERVER_IPS[1]);
        let server_addrs: Vec<SocketAddr> = SERVER_IPS
            .iter()
            .flat_map(|&ip| SERVER_PORTS.map(|port| SocketAddr::new(ip, port)))
            .collect();
        let server = Server::new(ServerConfig::new(server_addrs.clone()));
        let server = sim.add_endpoint(server_host, &server_addrs, server);

        let client_host = sim.add_host("client");
        let (local, nat) = match nat {
            Some(config) => {
                let home = sim.add_network("home");
                sim.add_interface(client_host, home, CLIENT_ADDR.ip(), LinkConfig::default());
                let nat = sim.add_nat("nat", home, internet, &[NAT_PUBLIC_IP], config);
                (CLIENT_ADDR, Some(nat))
            }
            None => {
                let ip = PUBLIC_CLIENT_ADDR.ip();
                sim.add_interface(client_host, internet, ip, LinkConfig::default());
                (PUBLIC_CLIENT_ADDR, None)
            }
        };
        let primary = server_addrs[0];
        let config = ClientConfig {
            seed: Some(seed),
            ..ClientConfig::default()
        };
        let discovery = NatDiscovery::new(config, local, primary);
        let client = sim.add_endpoint(client_host, &[local], discovery);
        Self {
            sim,
            client,
            server,
            nat,
            local,
        }
    }

    /// Runs RFC 5780 behaviour discovery from the client and returns what it observed.
    pub fn discover(&mut self) -> Result<NatReport, SimError> {
        let now = self.sim.now();
        self.sim
            .endpoint_mut::<NatDiscovery>(self.client)
            .start(now);
        let deadline = now + DISCOVERY_DEADLINE;
        let client = self.client;
        self.sim.run_until_cond(deadline, |sim| {
            sim.endpoint::<NatDiscovery>(client).is_done()
        })?;
        Ok(self
            .sim
            .events::<NatDiscovery>(client)
            .iter()
            .map(|DiscoveryEvent::Done(report)| report.clone())
            .next_back()
            .unwrap_or_else(|| self.sim.endpoint::<NatDiscovery>(client).report().clone()))
    }

    /// How many requests the server answered.
    pub fn served(&self) -> usize {
        self.sim
            .events::<Server>(self.server)
            .iter()
            .filter(|e| matches!(e, ServerEvent::BindingServed { .. }))
            .count()
    }
}
