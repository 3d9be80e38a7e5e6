//! Endpoints: protocol instances bound to socket addresses on a host, behind one object-safe
//! face so the simulator can drive any mix of layers.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use super::HostId;
use crate::{Datagram, Protocol, Transmit};

/// The object-safe part of [`Protocol`], plus event collection and downcasting.
pub(crate) trait Driven {
    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    /// Moves every pending event into the endpoint's event list.
    fn collect_events(&mut self);
    fn poll_timeout(&self) -> Option<Instant>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A protocol and the events it has produced so far.
pub(crate) struct Slot<P: Protocol> {
    pub(crate) protocol: P,
    pub(crate) events: Vec<P::Event>,
}

impl<P> Driven for Slot<P>
where
    P: Protocol + 'static,
    P::Event: 'static,
{
    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.protocol.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.protocol.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.protocol.poll_transmit(now, buf)
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.protocol.poll_event() {
            self.events.push(event);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.protocol.poll_timeout()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One endpoint as the simulator keeps it.
pub(crate) struct Endpoint {
    pub(crate) host: HostId,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) driven: Box<dyn Driven>,
    /// The deadline currently registered in the simulator's timer set.
    pub(crate) deadline: Option<std::time::Duration>,
    /// Changed outside the simulator's view (new, or lent out mutably): poll it before the
    /// next step.
    pub(crate) dirty: bool,
    pub(crate) type_name: &'static str,
}

impl Endpoint {
    pub(crate) fn slot<P>(&self) -> &Slot<P>
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        self.driven
            .as_any()
            .downcast_ref::<Slot<P>>()
            .unwrap_or_else(|| self.wrong_type::<P>())
    }

    pub(crate) fn slot_mut<P>(&mut self) -> &mut Slot<P>
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        let type_name = self.type_name;
        match self.driven.as_any_mut().downcast_mut::<Slot<P>>() {
            Some(slot) => slot,
            None => panic!(
                "endpoint holds a {type_name}, not a {}",
                std::any::type_name::<P>()
            ),
        }
    }

    fn wrong_type<P>(&self) -> ! {
        panic!(
            "endpoint holds a {}, not a {}",
            self.type_name,
            std::any::type_name::<P>()
        )
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("protocol", &self.type_name)
            .field("host", &self.host)
            .field("addrs", &self.addrs)
            .field("deadline", &self.deadline)
            .finish()
    }
}
