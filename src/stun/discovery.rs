//! NAT behaviour discovery (RFC 5780 §4.3 and §4.4) on top of the [`Client`] transaction.

use super::{Attribute, Class, Client, ClientConfig, ClientEvent, Message, Method, TransactionId};
use crate::{Datagram, Protocol, Transmit};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// A NAT's mapping or filtering behaviour, in RFC 4787's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NatBehavior {
    /// Mapping: one external address per internal address, whatever the destination.
    /// Filtering: anyone may send to a mapped port.
    EndpointIndependent,
    /// Mapping: one external address per internal address and destination IP.
    /// Filtering: only IPs the internal endpoint has sent to may send back.
    AddressDependent,
    /// Mapping: one external address per internal address and destination IP and port
    /// ("symmetric"). Filtering: only the exact addresses (IP and port) sent to may send back.
    AddressAndPortDependent,
}

impl NatBehavior {
    /// The RFC 4787 name, e.g. "endpoint-independent".
    pub fn name(self) -> &'static str {
        match self {
            Self::EndpointIndependent => "endpoint-independent",
            Self::AddressDependent => "address-dependent",
            Self::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

/// What [`NatDiscovery`] observed. A field is `None` when its test could not run: the server
/// did not answer, or it has no alternate address (no OTHER-ADDRESS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatReport {
    /// The reflexive address the primary server saw (test I).
    pub mapped: Option<SocketAddr>,
    /// The server's alternate address, from OTHER-ADDRESS.
    pub other_address: Option<SocketAddr>,
    /// The reflexive address seen at the alternate IP and the primary port (mapping test II).
    pub mapped_via_other_ip: Option<SocketAddr>,
    /// The reflexive address seen at the alternate IP and port (mapping test III).
    pub mapped_via_other_address: Option<SocketAddr>,
    /// Whether an answer from the alternate IP and port got through (filtering test II).
    pub reached_from_other_address: Option<bool>,
    /// Whether an answer from the primary IP and alternate port got through (filtering test III).
    pub reached_from_other_port: Option<bool>,
    /// The mapping behaviour the tests imply.
    pub mapping: Option<NatBehavior>,
    /// The filtering behaviour the tests imply.
    pub filtering: Option<NatBehavior>,
}

impl NatReport {
    /// Whether there is a NAT at all: the mapped address differs from the local one.
    pub fn behind_nat(&self, local: SocketAddr) -> Option<bool> {
        self.mapped.map(|m| m != local)
    }
}

/// What [`NatDiscovery`] tells the application: once, when every test has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryEvent {
    /// The discovery finished.
    Done(NatReport),
}

/// The test in progress. Filtering is tested before mapping: the mapping tests send to the
/// server's alternate address, which would open an address-dependent filter for it and make
/// the filtering tests see "endpoint-independent".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Idle,
    Primary,
    FilterOtherAddress,
    FilterOtherPort,
    MapOtherIp,
    MapOtherAddress,
    Done,
}

/// Discovers the mapping and filtering behaviour of the NAT in front of one local address,
/// with a STUN server that has two IP addresses and two ports (RFC 5780 §4.3, §4.4).
///
/// It sends a Binding request to the server (test I), asks the server to answer from its
/// alternate address and then from its alternate port (filtering tests II and III), and sends
/// Binding requests to the alternate IP and to the alternate address (mapping tests II and III).
/// A filtering test that gets no answer waits for the [`Client`]'s full timeout, so configure a
/// short schedule ([`ClientConfig::rc`], [`ClientConfig::rm`]) when running over a real network.
///
/// ```
/// use kaon::stun::{DiscoveryEvent, NatDiscovery, ClientConfig};
/// use kaon::Protocol;
/// use std::time::Instant;
/// let local = "192.168.1.10:5000".parse().unwrap();
/// let server = "198.51.100.1:3478".parse().unwrap();
/// let mut discovery = NatDiscovery::new(ClientConfig::default(), local, server);
/// discovery.start(Instant::now());
/// let mut buf = [0u8; 1500];
/// let first = discovery.poll_transmit(Instant::now(), &mut buf).unwrap();
/// assert_eq!(first.destination, server);
/// ```
#[derive(Debug)]
pub struct NatDiscovery {
    client: Client,
    local: SocketAddr,
    server: SocketAddr,
    stage: Stage,
    current: Option<TransactionId>,
    report: NatReport,
    events: VecDeque<DiscoveryEvent>,
}

impl NatDiscovery {
    /// A discovery from `local` against the STUN server at `server`.
    pub fn new(config: ClientConfig, local: SocketAddr, server: SocketAddr) -> Self {
        Self {
            client: Client::new(config),
            local,
            server,
            stage: Stage::Idle,
            current: None,
            report: NatReport::default(),
            events: VecDeque::new(),
        }
    }

    /// Starts the tests. Calling it again while they run does nothing.
    pub fn start(&mut self, now: Instant) {
        if self.stage == Stage::Idle {
            self.send(now, Stage::Primary, self.server, None);
        }
    }

    /// The report so far; complete once [`DiscoveryEvent::Done`] was emitted.
    pub fn report(&self) -> &NatReport {
        &self.report
    }

    /// Whether every test has run.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    fn send(&mut self, now: Instant, stage: Stage, to: SocketAddr, change: Option<(bool, bool)>) {
        let mut request = Message::new(Class::Request, Method::Binding, TransactionId::default());
        if let Some((ip, port)) = change {
            request.add(Attribute::ChangeRequest { ip, port });
        }
        self.stage = stage;
        match self.client.start(now, self.local, to, &request, None) {
            Ok(id) => self.current = Some(id),
            Err(_) => self.finish(),
        }
    }

    fn finish(&mut self) {
        self.stage = Stage::Done;
        self.current = None;
        self.events
            .push_back(DiscoveryEvent::Done(self.report.clone()));
    }

    /// Moves to the next test after the current one answered (`Some(mapped)`) or not (`None`).
    fn advance(&mut self, now: Instant, answer: Option<(SocketAddr, Message<'static>)>) {
        let mapped = answer.as_ref().map(|(m, _)| *m);
        let r = &mut self.report;
        match self.stage {
            Stage::Primary => {
                let Some((mapped, response)) = answer else {
                    return self.finish();
                };
                r.mapped = Some(mapped);
                r.other_address = response.other_address();
                if r.other_address.is_none() {
                    return self.finish();
                }
                self.send(
                    now,
                    Stage::FilterOtherAddress,
                    self.server,
                    Some((true, true)),
                );
            }
            Stage::FilterOtherAddress => {
                r.reached_from_other_address = Some(mapped.is_some());
                if mapped.is_some() {
                    r.filtering = Some(NatBehavior::EndpointIndependent);
                    self.start_mapping_tests(now);
                } else {
                    self.send(
                        now,
                        Stage::FilterOtherPort,
                        self.server,
                        Some((false, true)),
                    );
                }
            }
            Stage::FilterOtherPort => {
                r.reached_from_other_port = Some(mapped.is_some());
                r.filtering = Some(if mapped.is_some() {
                    NatBehavior::AddressDependent
                } else {
                    NatBehavior::AddressAndPortDependent
                });
                self.start_mapping_tests(now);
            }
            Stage::MapOtherIp => {
                r.mapped_via_other_ip = mapped;
                match (mapped, r.mapped) {
                    (Some(m2), Some(m1)) if m2 == m1 => {
                        r.mapping = Some(NatBehavior::EndpointIndependent);
                        self.finish();
                    }
                    (Some(_), _) => {
                        let other = r.other_address.unwrap_or(self.server);
                        self.send(now, Stage::MapOtherAddress, other, None);
                    }
                    (None, _) => self.finish(),
                }
            }
            Stage::MapOtherAddress => {
                r.mapped_via_other_address = mapped;
                if let Some(m3) = mapped {
                    r.mapping = Some(if Some(m3) == r.mapped_via_other_ip {
                        NatBehavior::AddressDependent
                    } else {
                        NatBehavior::AddressAndPortDependent
                    });
                }
                self.finish();
            }
            Stage::Idle | Stage::Done => {}
        }
    }

    fn start_mapping_tests(&mut self, now: Instant) {
        let Some(other) = self.report.other_address else {
            return self.finish();
        };
        let to = SocketAddr::new(other.ip(), self.server.port());
        self.send(now, Stage::MapOtherIp, to, None);
    }

    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.client.poll_event() {
            if Some(event.id()) != self.current {
                continue;
            }
            self.current = None;
            let answer = match event {
                ClientEvent::Success { response, .. } => {
                    response.mapped_address().map(|m| (m, response))
                }
                // RFC 5780 §4.3: an error or no answer leaves the behaviour unknown (mapping)
                // or means the answer was filtered (filtering).
                ClientEvent::ErrorResponse { .. }
                | ClientEvent::Timeout { .. }
                | ClientEvent::Failed { .. } => None,
            };
            self.advance(now, answer);
        }
    }
}

impl Protocol for NatDiscovery {
    type Event = DiscoveryEvent;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.client.handle_datagram(now, datagram);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.client.poll_transmit(now, buf)
    }

    fn poll_event(&mut self) -> Option<DiscoveryEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
}
