//! Networks, hosts, interfaces and NAT boxes, and how a datagram is routed between them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::link::{LinkConfig, LinkState};
use super::nat::{Nat, NatConfig};
use super::trace::{DropReason, Packet, Recorder};
use crate::Rng;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) usize);

        impl $name {
            /// The index of this item among its kind, in creation order.
            pub fn index(self) -> usize {
                self.0
            }
        }
    };
}

id!(
    /// A network (an L3 segment) created by [`Sim::add_network`](super::Sim::add_network).
    NetworkId
);
id!(
    /// A host created by [`Sim::add_host`](super::Sim::add_host).
    HostId
);
id!(
    /// An interface created by [`Sim::add_interface`](super::Sim::add_interface).
    InterfaceId
);
id!(
    /// A NAT box created by [`Sim::add_nat`](super::Sim::add_nat).
    NatId
);
id!(
    /// An endpoint created by [`Sim::add_endpoint`](super::Sim::add_endpoint).
    EndpointId
);

/// A datagram crossing more networks than this is in a routing loop.
const MAX_HOPS: usize = 32;

#[derive(Debug, Clone, Copy)]
enum Attachment {
    Interface(InterfaceId),
    /// A NAT's public address on its outside network.
    Nat(NatId),
}

#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) name: String,
    attached: BTreeMap<IpAddr, Attachment>,
    /// The NAT whose inside this network is: the default route.
    gateway: Option<NatId>,
    /// NATs whose outside this network is (IPv6 is routed down through them).
    below: Vec<NatId>,
}

#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) by_ip: BTreeMap<IpAddr, InterfaceId>,
    pub(crate) bindings: BTreeMap<SocketAddr, super::EndpointId>,
}

#[derive(Debug)]
pub(crate) struct Interface {
    pub(crate) host: HostId,
    pub(crate) network: NetworkId,
    pub(crate) up: bool,
    /// Counts cuts: a datagram that entered the link under an older epoch was on the link when
    /// it was cut, and is lost even if the link is back by the time it would arrive.
    pub(crate) epoch: u64,
    /// Host to network.
    pub(crate) uplink: LinkState,
    /// Network to host.
    pub(crate) downlink: LinkState,
}

#[derive(Debug)]
pub(crate) struct NatBox {
    pub(crate) name: String,
    inside: NetworkId,
    outside: NetworkId,
    pub(crate) nat: Nat,
}

/// Everything that is wired together, and the routing between it.
#[derive(Debug, Default)]
pub(crate) struct Topology {
    pub(crate) networks: Vec<Network>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) ifaces: Vec<Interface>,
    pub(crate) nats: Vec<NatBox>,
}

impl Topology {
    pub(crate) fn add_network(&mut self, name: &str) -> NetworkId {
        self.networks.push(Network {
            name: name.to_owned(),
            attached: BTreeMap::new(),
            gateway: None,
            below: Vec::new(),
        });
        NetworkId(self.networks.len() - 1)
    }

    pub(crate) fn add_host(&mut self, name: &str) -> HostId {
        self.hosts.push(Host {
            name: name.to_owned(),
            by_ip: BTreeMap::new(),
            bindings: BTreeMap::new(),
        });
        HostId(self.hosts.len() - 1)
    }

    pub(crate) fn add_interface(
        &mut self,
        host: HostId,
        network: NetworkId,
        link: LinkConfig,
        rng: &mut Rng,
    ) -> InterfaceId {
        assert!(host.0 < self.hosts.len(), "unknown host {host:?}");
        assert!(
            network.0 < self.networks.len(),
            "unknown network {network:?}"
        );
        let id = InterfaceId(self.ifaces.len());
        self.ifaces.push(Interface {
            host,
            network,
            up: true,
            epoch: 0,
            uplink: LinkState::new(link, rng.fork()),
            downlink: LinkState::new(link, rng.fork()),
        });
        id
    }

    pub(crate) fn add_address(&mut self, iface: InterfaceId, addr: IpAddr) {
        let i = self.ifaces.get(iface.0).expect("unknown interface");
        let (host, network) = (i.host, i.network);
        let net = &mut self.networks[network.0];
        assert!(
            !net.attached.contains_key(&addr),
            "{addr} is already in use on network {:?}",
            net.name
        );
        let h = &mut self.hosts[host.0];
        assert!(
            !h.by_ip.contains_key(&addr),
            "host {:?} already has address {addr}",
            h.name
        );
        net.attached.insert(addr, Attachment::Interface(iface));
        h.by_ip.insert(addr, iface);
    }

    pub(crate) fn add_nat(
        &mut self,
        name: &str,
        inside: NetworkId,
        outside: NetworkId,
        public: &[IpAddr],
        config: NatConfig,
        rng: Rng,
    ) -> NatId {
        assert!(inside.0 < self.networks.len(), "unknown network {inside:?}");
        assert!(
            outside.0 < self.networks.len(),
            "unknown network {outside:?}"
        );
        assert_ne!(inside, outside, "a NAT's inside and outside must differ");
        assert!(
            self.networks[inside.0].gateway.is_none(),
            "network {:?} already sits behind a NAT",
            self.networks[inside.0].name
        );
        let id = NatId(self.nats.len());
        let nat = Nat::new(config, public.to_vec(), rng);
        let out = &mut self.networks[outside.0];
        for &ip in public {
            assert!(
                !out.attached.contains_key(&ip),
                "{ip} is already in use on network {:?}",
                out.name
            );
            out.attached.insert(ip, Attachment::Nat(id));
        }
        out.below.push(id);
        self.networks[inside.0].gateway = Some(id);
        self.nats.push(NatBox {
            name: name.to_owned(),
            inside,
            outside,
            nat,
        });
        id
    }

    /// The interfaces attached to `net`, each once, in a fixed order: where a multicast
    /// datagram sent on `net` goes.
    pub(crate) fn interfaces_on(&self, net: NetworkId) -> Vec<InterfaceId> {
        let mut out: Vec<InterfaceId> = self.networks[net.0]
            .attached
            .values()
            .filter_map(|a| match *a {
                Attachment::Interface(i) => Some(i),
                Attachment::Nat(_) => None,
            })
            .collect();
        out.sort_by_key(|i| i.0);
        out.dedup();
        out
    }

    /// Routes `packet`, which has just reached `net`, to the interface that will take it,
    /// translating it through NATs on the way.
    pub(crate) fn route(
        &mut self,
        now: Duration,
        mut net: NetworkId,
        packet: &mut Packet,
        rec: &mut Recorder,
    ) -> Result<InterfaceId, DropReason> {
        for _ in 0..MAX_HOPS {
            let dst_ip = packet.dst.ip();
            match self.networks[net.0].attached.get(&dst_ip) {
                Some(&Attachment::Interface(iface)) => return Ok(iface),
                Some(&Attachment::Nat(id)) => {
                    // From the outside to a public address: reverse translation.
                    let nb = &mut self.nats[id.0];
                    let internal = nb.nat.inbound(now, packet.src, packet.dst)?;
                    rec.translated(now, packet, id, packet.src, internal);
                    packet.dst = internal;
                    net = nb.inside;
                    continue;
                }
                None => {}
            }
            if dst_ip.is_ipv6()
                && let Some(id) = self.v6_route_down(net, dst_ip, MAX_HOPS)
            {
                // Routed, not translated, through the NAT's stateful firewall.
                let nb = &mut self.nats[id.0];
                nb.nat.inbound(now, packet.src, packet.dst)?;
                net = nb.inside;
                continue;
            }
            let Some(id) = self.networks[net.0].gateway else {
                return Err(DropReason::NoRoute);
            };
            let nb = &mut self.nats[id.0];
            if nb.nat.is_public(dst_ip) {
                // RFC 4787 §6: hairpinning. REQ-9: the source becomes the sender's external
                // mapping, so the receiver sees what an outside host would.
                if !nb.nat.config().hairpinning {
                    return Err(DropReason::NoHairpin);
                }
                let external = nb.nat.outbound(now, packet.src, packet.dst)?;
                let internal = nb.nat.inbound(now, external, packet.dst)?;
                rec.translated(now, packet, id, external, internal);
                packet.src = external;
                packet.dst = internal;
                continue;
            }
            let external = nb.nat.outbound(now, packet.src, packet.dst)?;
            if external != packet.src {
                rec.translated(now, packet, id, external, packet.dst);
                packet.src = external;
            }
            net = nb.outside;
        }
        Err(DropReason::NoRoute)
    }

    /// The NAT below `net` behind which an interface owns `ip`, if any.
    fn v6_route_down(&self, net: NetworkId, ip: IpAddr, depth: usize) -> Option<NatId> {
        if depth == 0 {
            return None;
        }
        self.networks[net.0].below.iter().copied().find(|id| {
            let inside = self.nats[id.0].inside;
            matches!(
                self.networks[inside.0].attached.get(&ip),
                Some(Attachment::Interface(_))
            ) || self.v6_route_down(inside, ip, depth - 1).is_some()
        })
    }
}
