//! Two kaon PeerConnections in the simulator, signalling offer, answer and trickled candidates
//! to each other as strings.
#![allow(dead_code)] // each test file uses a different part of this

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::datachannel::ChannelId;
use kaon::ice::AgentConfig;
use kaon::peer::{ConnectionState, IceCandidate, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon::sim::{EndpointId, InterfaceId, LinkConfig, NatConfig, NetworkId, Sim};
use kaon::stun::{Server, ServerConfig};

pub const MS: Duration = Duration::from_millis(1);
pub const SEC: Duration = Duration::from_secs(1);

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A side's placement: network, address, link.
pub struct Place {
    pub network: NetworkId,
    pub ip: &'static str,
    pub link: LinkConfig,
}

/// Two peers, `a` offers.
pub struct Pair {
    pub sim: Sim,
    pub t0: Instant,
    pub a: EndpointId,
    pub b: EndpointId,
    /// Every event with its time since `t0`.
    pub log_a: Vec<(Duration, PeerEvent)>,
    pub log_b: Vec<(Duration, PeerEvent)>,
    /// Whether candidates are forwarded to the other side.
    pub trickle: bool,
    /// Each side's interface.
    pub ifaces: Vec<InterfaceId>,
}

impl Pair {
    /// Builds both peers on their hosts; no signalling yet.
    pub fn new(sim: Sim, t0: Instant, pa: Place, pb: Place, stun: Option<SocketAddr>) -> Self {
        Self::new_with(sim, t0, [pa, pb], stun, |_| {})
    }

    /// As [`new`](Self::new), with `config` applied to both peers' configuration.
    pub fn new_with(
        mut sim: Sim,
        t0: Instant,
        [pa, pb]: [Place; 2],
        stun: Option<SocketAddr>,
        config: impl Fn(&mut PeerConfig),
    ) -> Self {
        let mut ids = Vec::new();
        let mut ifaces = Vec::new();
        for (n, (name, p)) in [("a", pa), ("b", pb)].into_iter().enumerate() {
            let host = sim.add_host(name);
            ifaces.push(sim.add_interface(host, p.network, ip(p.ip), p.link));
            let addr = SocketAddr::new(ip(p.ip), 5000);
            let mut cfg = PeerConfig::with_seed(100 + n as u64);
            cfg.ice = AgentConfig {
                stun_servers: stun.into_iter().collect(),
                ..AgentConfig::default()
            };
            config(&mut cfg);
            let mut pc = PeerConnection::new(cfg).unwrap();
            pc.add_local_address(addr).unwrap();
            ids.push(sim.add_endpoint(host, &[addr], pc));
        }
        Self {
            sim,
            t0,
            a: ids[0],
            b: ids[1],
            log_a: Vec::new(),
            log_b: Vec::new(),
            trickle: true,
            ifaces,
        }
    }

    /// Two peers on one LAN with the given one-way latency and loss on each link.
    pub fn lan(seed: u64, latency: Duration, loss: f64) -> Self {
        Self::lan_with(seed, latency, loss, |_| {})
    }

    /// As [`lan`](Self::lan), with `config` applied to both peers' configuration.
    pub fn lan_with(
        seed: u64,
        latency: Duration,
        loss: f64,
        config: impl Fn(&mut PeerConfig),
    ) -> Self {
        let t0 = Instant::now();
        let mut sim = Sim::new(seed, t0);
        let lan = sim.add_network("lan");
        let link = LinkConfig {
            loss,
            ..LinkConfig::with_latency(latency)
        };
        let pa = Place {
            network: lan,
            ip: "10.0.0.1",
            link,
        };
        let pb = Place {
            network: lan,
            ip: "10.0.0.2",
            link,
        };
        Self::new_with(sim, t0, [pa, pb], None, config)
    }

    /// Two peers behind endpoint-independent-mapping NATs, with a STUN server.
    pub fn natted(seed: u64) -> Self {
        let t0 = Instant::now();
        let mut sim = Sim::new(seed, t0);
        let internet = sim.add_network("internet");
        let stun: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        let h = sim.add_host("stun");
        sim.add_interface(h, internet, stun.ip(), LinkConfig::with_latency(5 * MS));
        sim.add_endpoint(h, &[stun], Server::new(ServerConfig::new(vec![stun])));
        let mut home = |name: &str, public: &str| {
            let inside = sim.add_network(name);
            sim.add_nat(
                &format!("{name}-nat"),
                inside,
                internet,
                &[ip(public)],
                NatConfig::port_restricted_cone(),
            );
            inside
        };
        let ha = home("home-a", "203.0.113.1");
        let hb = home("home-b", "203.0.113.2");
        let link = LinkConfig::with_latency(20 * MS);
        let pa = Place {
            network: ha,
            ip: "192.168.1.2",
            link,
        };
        let pb = Place {
            network: hb,
            ip: "192.168.2.2",
            link,
        };
        Self::new(sim, t0, pa, pb, Some(stun))
    }

    pub fn pc(&mut self, a_side: bool) -> &mut PeerConnection {
        let id = if a_side { self.a } else { self.b };
        self.sim.endpoint_mut::<PeerConnection>(id)
    }

    pub fn pc_ref(&self, a_side: bool) -> &PeerConnection {
        let id = if a_side { self.a } else { self.b };
        self.sim.endpoint::<PeerConnection>(id)
    }

    pub fn now(&self) -> Instant {
        self.sim.now()
    }

    /// Offer from `a`, answer from `b`, each carried as a string.
    pub fn negotiate(&mut self) {
        self.negotiate_from(true);
    }

    /// Offer from `a` (or from `b` when `a_offers` is false), answer from the other, each
    /// carried as a string; returns the offer and the answer as sent.
    pub fn negotiate_from(&mut self, a_offers: bool) -> (String, String) {
        let now = self.now();
        let offer = self.pc(a_offers).create_offer(now).unwrap();
        self.pc(a_offers)
            .set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        let offer = offer.to_string();
        self.pc(!a_offers)
            .set_remote_description(SdpType::Offer, SessionDescription::parse(&offer).unwrap())
            .unwrap();
        let now = self.now();
        let answer = self.pc(!a_offers).create_answer(now).unwrap();
        self.pc(!a_offers)
            .set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        let answer = answer.to_string();
        self.pc(a_offers)
            .set_remote_description(SdpType::Answer, SessionDescription::parse(&answer).unwrap())
            .unwrap();
        (offer, answer)
    }

    /// Takes new events, logs them and trickles candidates to the other side.
    fn exchange(&mut self) {
        let at = self.sim.now() - self.t0;
        for a_side in [true, false] {
            let id = if a_side { self.a } else { self.b };
            let events = self.sim.take_events::<PeerConnection>(id);
            for e in events {
                if self.trickle {
                    match &e {
                        PeerEvent::LocalCandidate(c) => {
                            let now = self.now();
                            let _ = self.pc(!a_side).add_ice_candidate(now, c);
                        }
                        PeerEvent::GatheringComplete => {
                            let now = self.now();
                            let end = IceCandidate::end_of_candidates();
                            let _ = self.pc(!a_side).add_ice_candidate(now, &end);
                        }
                        _ => {}
                    }
                }
                if a_side {
                    self.log_a.push((at, e));
                } else {
                    self.log_b.push((at, e));
                }
            }
        }
    }

    /// Runs until `done` holds or `limit` of simulated time passes; says whether it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = self.t0.max(self.sim.now()) + limit;
        loop {
            self.exchange();
            if done(self) {
                return true;
            }
            if self.sim.now() >= deadline {
                return false;
            }
            let (a, b) = (self.a, self.b);
            self.sim
                .run_until_cond(deadline, |sim| {
                    !sim.events::<PeerConnection>(a).is_empty()
                        || !sim.events::<PeerConnection>(b).is_empty()
                })
                .unwrap();
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.sim.now() + d;
        self.run_until(d, |p| p.sim.now() >= end);
    }

    pub fn log(&self, a_side: bool) -> &[(Duration, PeerEvent)] {
        if a_side { &self.log_a } else { &self.log_b }
    }

    /// When `a_side` first logged an event matching `f`.
    pub fn first(&self, a_side: bool, f: impl Fn(&PeerEvent) -> bool) -> Option<Duration> {
        self.log(a_side).iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }

    pub fn opened(&self, a_side: bool, id: ChannelId) -> bool {
        self.log(a_side)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::DataChannelOpen { id: i, .. } if *i == id))
    }

    pub fn state(&self, a_side: bool) -> ConnectionState {
        self.pc_ref(a_side).connection_state()
    }

    /// Messages `a_side` received on `channel`, in order.
    pub fn messages(&self, a_side: bool, channel: ChannelId) -> Vec<(Vec<u8>, bool)> {
        self.log(a_side)
            .iter()
            .filter_map(|(_, e)| match e {
                PeerEvent::Message {
                    channel: c,
                    data,
                    binary,
                } if *c == channel => Some((data.to_vec(), *binary)),
                _ => None,
            })
            .collect()
    }

    /// Prints and returns the handshake timeline of side `a_side` in ms since `t0`.
    pub fn timeline(&self, name: &str, a_side: bool) -> [Option<Duration>; 4] {
        let ice = self.first(a_side, |e| {
            matches!(
                e,
                PeerEvent::IceConnectionStateChanged(
                    kaon::ice::IceState::Connected | kaon::ice::IceState::Completed
                )
            )
        });
        let dtls = self.first(a_side, |e| matches!(e, PeerEvent::DtlsConnected));
        let sctp = self.first(a_side, |e| matches!(e, PeerEvent::SctpConnected));
        let open = self.first(a_side, |e| matches!(e, PeerEvent::DataChannelOpen { .. }));
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
        };
        println!(
            "{name} ({}): ICE connected {} ms, DTLS connected {} ms, SCTP established {} ms, channel open {} ms",
            if a_side { "offerer" } else { "answerer" },
            ms(ice),
            ms(dtls),
            ms(sctp),
            ms(open)
        );
        [ice, dtls, sctp, open]
    }
}

/// Negotiates, creates "chat" on the offerer first, and runs until both see it open.
pub fn connect(p: &mut Pair, name: &str) -> u16 {
    let now = p.now();
    let id = p
        .pc(true)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    p.negotiate();
    assert!(
        p.run_until(20 * SEC, |p| p.opened(true, id)
            && p.opened(false, id)
            && p.state(true) == ConnectionState::Connected
            && p.state(false) == ConnectionState::Connected),
        "{name}: channel did not open at {:?}; a: {:?}\nb: {:?}",
        p.sim.elapsed(),
        p.log_a,
        p.log_b
    );
    p.timeline(name, true);
    p.timeline(name, false);
    assert_eq!(p.state(true), ConnectionState::Connected);
    assert_eq!(p.state(false), ConnectionState::Connected);
    id
}

/// Payload bytes per RTP packet the congestion-control tests' senders write.
pub const PAYLOAD: usize = 1000;

/// A video RTP packet (payload type 96, SSRC 0x1234) of [`PAYLOAD`] bytes.
pub fn video_rtp(seq: u16, ts: u32) -> Vec<u8> {
    let b = kaon::rtp::RtpBuilder::new(kaon::rtp::RtpHeader {
        marker: false,
        payload_type: 96,
        sequence_number: seq,
        timestamp: ts,
        ssrc: 0x1234,
    })
    .payload(&[0x5a; PAYLOAD]);
    let mut buf = vec![0; b.len()];
    b.write(&mut buf).unwrap();
    buf
}
