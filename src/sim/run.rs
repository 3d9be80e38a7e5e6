//! The event loop: scheduling, links, delivery and endpoint polling.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::link::{IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD};
use super::trace::{DropReason, Packet};
use super::{EndpointId, InterfaceId, Sim, SimError};
use crate::Datagram;

/// Recycled payload buffers kept at most, so a burst does not pin memory forever.
const POOL_LIMIT: usize = 4096;

/// Something that happens at a given simulated time.
#[derive(Debug)]
pub(crate) enum Event {
    /// The packet has crossed `iface`'s uplink (entered in `epoch`) and reaches its network.
    Uplinked {
        iface: InterfaceId,
        epoch: u64,
        packet: Packet,
    },
    /// The packet has crossed `iface`'s downlink (entered in `epoch`) and reaches its host.
    Downlinked {
        iface: InterfaceId,
        epoch: u64,
        packet: Packet,
    },
    Cut(InterfaceId),
    Restore(InterfaceId),
}

/// An [`Event`] in the queue, ordered by time and then by scheduling order, so ties resolve
/// the same way on every run.
#[derive(Debug)]
pub(crate) struct Scheduled {
    at: Duration,
    seq: u64,
    pub(crate) event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl Sim {
    /// Processes the earliest pending event: a datagram leaving a link, an endpoint deadline,
    /// or a scheduled cut or restore. Returns `false` when nothing is left to do.
    ///
    /// Endpoints created or lent out through [`endpoint_mut`](Self::endpoint_mut) are polled
    /// first. Ties at one instant go to datagrams and cuts (in the order they were scheduled),
    /// then to endpoint deadlines (in endpoint order).
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.flush_dirty()?;
        let next_packet = self.queue.peek().map(|s| s.at);
        let next_timer = self.timers.first().map(|&(at, _)| at);
        let packet_first = match (next_packet, next_timer) {
            (None, None) => return Ok(false),
            (Some(p), Some(t)) => p <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        self.count_step()?;
        if packet_first {
            let scheduled = self.queue.pop().expect("peeked");
            self.now = self.now.max(scheduled.at);
            self.handle_event(scheduled.event)?;
        } else {
            let (at, id) = self.timers.pop_first().expect("peeked");
            // A deadline in the past is served now: endpoints never see time go backwards.
            self.now = self.now.max(at);
            let now = self.now();
            let ep = &mut self.endpoints[id.0];
            ep.deadline = None;
            ep.driven.handle_timeout(now);
            self.poll_endpoint(id)?;
        }
        Ok(true)
    }

    /// Runs every event up to and including `at`, then sets the clock to `at` (unless it is
    /// already later).
    pub fn run_until(&mut self, at: Instant) -> Result<(), SimError> {
        self.budget_from = self.steps;
        let target = at.saturating_duration_since(self.start);
        loop {
            self.flush_dirty()?;
            match self.next_at() {
                Some(next) if next <= target => {
                    self.step()?;
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
        Ok(())
    }

    /// Runs for `duration` of simulated time from now.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run_until(self.now() + duration)
    }

    /// Runs until nothing is in flight, scheduled, or waiting on a deadline. Endpoints with
    /// periodic timers never go idle: use [`run_until_cond`](Self::run_until_cond) for those
    /// (or expect [`SimError::StepLimit`]).
    pub fn run_until_idle(&mut self) -> Result<(), SimError> {
        self.budget_from = self.steps;
        while self.step()? {}
        Ok(())
    }

    /// Runs until `done` returns `true` (checked before every step, after the endpoints have
    /// been polled) and returns `Ok(true)`, or until `deadline` and returns whether `done` holds
    /// then.
    pub fn run_until_cond(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, SimError> {
        self.budget_from = self.steps;
        let target = deadline.saturating_duration_since(self.start);
        loop {
            self.flush_dirty()?;
            if done(self) {
                return Ok(true);
            }
            match self.next_at() {
                Some(next) if next <= target => {
                    self.step()?;
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
        Ok(done(self))
    }

    /// When the next event is due, if any (endpoints changed since the last step may add
    /// earlier ones when they are polled).
    pub fn next_event_at(&self) -> Option<Instant> {
        self.next_at().map(|at| self.start + at.max(self.now))
    }

    fn next_at(&self) -> Option<Duration> {
        let packet = self.queue.peek().map(|s| s.at);
        let timer = self.timers.first().map(|&(at, _)| at);
        match (packet, timer) {
            (Some(p), Some(t)) => Some(p.min(t)),
            (p, t) => p.or(t),
        }
    }

    fn count_step(&mut self) -> Result<(), SimError> {
        self.steps += 1;
        if self.steps - self.budget_from > self.max_steps {
            return Err(SimError::StepLimit {
                limit: self.max_steps,
                at: self.now,
            });
        }
        Ok(())
    }

    pub(crate) fn schedule_at(&mut self, at: Instant, event: Event) {
        let at = at.saturating_duration_since(self.start).max(self.now);
        self.schedule(at, event);
    }

    fn schedule(&mut self, at: Duration, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Scheduled { at, seq, event });
    }

    pub(crate) fn set_interface_up(&mut self, iface: InterfaceId, up: bool) {
        let i = &mut self.topo.ifaces[iface.0];
        if i.up && !up {
            // Whatever is queued or on the wire is lost with the link.
            i.epoch += 1;
            i.uplink.reset_queue(self.now);
            i.downlink.reset_queue(self.now);
        }
        i.up = up;
    }

    fn flush_dirty(&mut self) -> Result<(), SimError> {
        while !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            for (n, &id) in dirty.iter().enumerate() {
                if let Err(e) = self.poll_endpoint(id) {
                    // Keep the rest for later; the failing one re-marked itself.
                    self.dirty.extend_from_slice(&dirty[n + 1..]);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Drives an endpoint after it changed: sends its transmits, collects its events and
    /// registers its next deadline.
    fn poll_endpoint(&mut self, id: EndpointId) -> Result<(), SimError> {
        let now = self.now();
        self.endpoints[id.0].dirty = false;
        loop {
            let ep = &mut self.endpoints[id.0];
            let Some(transmit) = ep.driven.poll_transmit(now, &mut self.buf) else {
                break;
            };
            if let Err(e) = self.count_step() {
                let ep = &mut self.endpoints[id.0];
                ep.dirty = true;
                self.dirty.push(id);
                return Err(e);
            }
            let len = transmit.len.min(self.buf.len());
            self.send(id, transmit.source, transmit.destination, len);
        }
        let ep = &mut self.endpoints[id.0];
        ep.driven.collect_events();
        let deadline = ep
            .driven
            .poll_timeout()
            .map(|d| d.saturating_duration_since(self.start));
        if deadline != ep.deadline {
            if let Some(old) = ep.deadline {
                self.timers.remove(&(old, id));
            }
            if let Some(new) = deadline {
                self.timers.insert((new, id));
            }
            ep.deadline = deadline;
        }
        Ok(())
    }

    /// Takes the first `len` bytes of the transmit buffer from endpoint `id` onto the network.
    fn send(&mut self, id: EndpointId, src: SocketAddr, dst: SocketAddr, len: usize) {
        self.rec.stats.sent += 1;
        let mut data = self.pool.pop().unwrap_or_default();
        data.extend_from_slice(&self.buf[..len]);
        let packet = Packet {
            id: self.next_packet,
            src,
            dst,
            data,
        };
        self.next_packet += 1;
        let ep = &self.endpoints[id.0];
        if !ep.addrs.contains(&src) {
            return self.drop_packet(packet, DropReason::BadSource);
        }
        if src.is_ipv4() != dst.is_ipv4() {
            return self.drop_packet(packet, DropReason::NoRoute);
        }
        let iface = self.topo.hosts[ep.host.0].by_ip[&src.ip()];
        self.enter_link(iface, true, packet);
    }

    /// Puts `packet` on `iface`'s uplink (`up`) or downlink.
    fn enter_link(&mut self, iface: InterfaceId, up: bool, packet: Packet) {
        let now = self.now;
        let i = &mut self.topo.ifaces[iface.0];
        if !i.up {
            return self.drop_packet(packet, DropReason::LinkDown);
        }
        let overhead = if packet.dst.is_ipv4() {
            IPV4_UDP_OVERHEAD
        } else {
            IPV6_UDP_OVERHEAD
        };
        let epoch = i.epoch;
        let link = if up { &mut i.uplink } else { &mut i.downlink };
        let arrival = match link.transit(now, packet.data.len() + overhead) {
            Ok(arrival) => arrival,
            Err(reason) => return self.drop_packet(packet, reason),
        };
        let event = |packet| {
            if up {
                Event::Uplinked {
                    iface,
                    epoch,
                    packet,
                }
            } else {
                Event::Downlinked {
                    iface,
                    epoch,
                    packet,
                }
            }
        };
        if let Some(copy_at) = arrival.copy {
            self.rec.duplicated(now, &packet);
            let mut data = self.pool.pop().unwrap_or_default();
            data.extend_from_slice(&packet.data);
            let copy = Packet { data, ..packet };
            self.schedule(copy_at, event(copy));
        }
        self.schedule(arrival.at, event(packet));
    }

    fn handle_event(&mut self, event: Event) -> Result<(), SimError> {
        match event {
            Event::Uplinked {
                iface,
                epoch,
                mut packet,
            } => {
                let i = &self.topo.ifaces[iface.0];
                if !i.up || i.epoch != epoch {
                    self.drop_packet(packet, DropReason::LinkDown);
                    return Ok(());
                }
                let network = i.network;
                if packet.dst.ip().is_multicast() {
                    self.multicast(iface, network, packet);
                    return Ok(());
                }
                match self
                    .topo
                    .route(self.now, network, &mut packet, &mut self.rec)
                {
                    Ok(to) => self.enter_link(to, false, packet),
                    Err(reason) => self.drop_packet(packet, reason),
                }
            }
            Event::Downlinked {
                iface,
                epoch,
                packet,
            } => return self.deliver(iface, epoch, packet),
            Event::Cut(iface) => self.set_interface_up(iface, false),
            Event::Restore(iface) => self.set_interface_up(iface, true),
        }
        Ok(())
    }

    /// A datagram to a multicast group (mDNS's 224.0.0.251 or ff02::fb) reaches every other
    /// interface on the sender's network, never beyond it: link-local groups cross no router
    /// or NAT. The sender's own interface gets no copy (no multicast loopback).
    fn multicast(&mut self, from: InterfaceId, network: super::NetworkId, packet: Packet) {
        for to in self.topo.interfaces_on(network) {
            if to == from {
                continue;
            }
            let mut data = self.pool.pop().unwrap_or_default();
            data.extend_from_slice(&packet.data);
            let copy = Packet {
                id: packet.id,
                src: packet.src,
                dst: packet.dst,
                data,
            };
            self.enter_link(to, false, copy);
        }
        self.recycle(packet.data);
    }

    /// The endpoint a datagram arriving on `iface` goes to: the one bound to its destination,
    /// or for a multicast group, the one bound to the group's port on an address of this
    /// interface of the same family.
    fn listener(&self, iface: InterfaceId, dst: SocketAddr) -> Option<EndpointId> {
        let host = &self.topo.hosts[self.topo.ifaces[iface.0].host.0];
        if !dst.ip().is_multicast() {
            return host.bindings.get(&dst).copied();
        }
        host.bindings
            .iter()
            .find(|(a, _)| {
                a.port() == dst.port()
                    && a.is_ipv4() == dst.is_ipv4()
                    && host.by_ip.get(&a.ip()) == Some(&iface)
            })
            .map(|(_, &id)| id)
    }

    fn deliver(&mut self, iface: InterfaceId, epoch: u64, packet: Packet) -> Result<(), SimError> {
        let i = &self.topo.ifaces[iface.0];
        if !i.up || i.epoch != epoch {
            self.drop_packet(packet, DropReason::LinkDown);
            return Ok(());
        }
        let Some(id) = self.listener(iface, packet.dst) else {
            self.drop_packet(packet, DropReason::NoListener);
            return Ok(());
        };
        self.rec.delivered(self.now, &packet);
        let now = self.now();
        self.endpoints[id.0].driven.handle_datagram(
            now,
            Datagram {
                source: packet.src,
                destination: packet.dst,
                contents: &packet.data,
            },
        );
        self.recycle(packet.data);
        self.poll_endpoint(id)
    }

    fn drop_packet(&mut self, packet: Packet, reason: DropReason) {
        self.rec.dropped(self.now, &packet, reason);
        self.recycle(packet.data);
    }

    fn recycle(&mut self, mut data: Vec<u8>) {
        if self.pool.len() < POOL_LIMIT {
            data.clear();
            self.pool.push(data);
        }
    }
}
