//! The packet trace and the counters tests assert on.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::NatId;

/// Why the simulator dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Independent random loss ([`LinkConfig::loss`](super::LinkConfig::loss)).
    Loss,
    /// Gilbert-Elliott burst loss ([`LinkConfig::burst_loss`](super::LinkConfig::burst_loss)).
    BurstLoss,
    /// The link's bounded queue was full (tail drop).
    QueueFull,
    /// Larger than the link's MTU (headers included).
    TooBig,
    /// The interface was cut when the datagram was sent or arrived.
    LinkDown,
    /// No interface, NAT or gateway owns the destination (or the address families differ).
    NoRoute,
    /// Arrived at a NAT's public address with no live mapping for that port.
    NatNoMapping,
    /// A mapping exists but the NAT's filtering behaviour refused the sender.
    NatFiltered,
    /// Sent from inside a NAT to one of its public addresses while hairpinning is off.
    NoHairpin,
    /// The NAT had no free external port left.
    NatPortsExhausted,
    /// Reached its host, but no endpoint is bound to the destination address.
    NoListener,
    /// The endpoint sent from an address it is not bound to.
    BadSource,
}

impl DropReason {
    /// Every reason, in declaration order (the order [`Stats`] counts them in).
    pub const ALL: [DropReason; 12] = [
        DropReason::Loss,
        DropReason::BurstLoss,
        DropReason::QueueFull,
        DropReason::TooBig,
        DropReason::LinkDown,
        DropReason::NoRoute,
        DropReason::NatNoMapping,
        DropReason::NatFiltered,
        DropReason::NoHairpin,
        DropReason::NatPortsExhausted,
        DropReason::NoListener,
        DropReason::BadSource,
    ];
}

/// What happened to a datagram at one point of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to the endpoint bound to [`TraceEntry::to`].
    Delivered,
    /// Dropped, for this reason.
    Dropped(DropReason),
    /// A NAT rewrote the addresses: the entry's `from`/`to` are the addresses before, these are
    /// the addresses after. Outbound translations change the source, inbound ones the
    /// destination, hairpinned ones both.
    Translated {
        /// The NAT that translated.
        nat: NatId,
        /// The source address after translation.
        from: SocketAddr,
        /// The destination address after translation.
        to: SocketAddr,
    },
    /// A link duplicated the datagram; both copies carry the same [`TraceEntry::packet`] and
    /// each gets its own final entry.
    Duplicated,
}

/// One line of the packet trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEntry {
    /// When it happened, since the simulation started.
    pub at: Duration,
    /// Which datagram: numbered in the order endpoints sent them, shared by duplicates.
    pub packet: u64,
    /// The source address at this point of the path.
    pub from: SocketAddr,
    /// The destination address at this point of the path.
    pub to: SocketAddr,
    /// The UDP payload size in bytes.
    pub size: usize,
    /// What happened.
    pub outcome: Outcome,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Delivered => f.write_str("delivered"),
            Outcome::Dropped(reason) => write!(f, "dropped ({reason:?})"),
            Outcome::Translated { nat, from, to } => {
                write!(f, "NAT {} rewrote to {from} -> {to}", nat.0)
            }
            Outcome::Duplicated => f.write_str("duplicated"),
        }
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>12.6}s #{} {} -> {} {}B {}",
            self.at.as_secs_f64(),
            self.packet,
            self.from,
            self.to,
            self.size,
            self.outcome
        )
    }
}

/// Cheap counters, kept even when tracing is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams endpoints handed to the simulator.
    pub sent: u64,
    /// Datagrams handed to an endpoint (duplicates count twice).
    pub delivered: u64,
    /// Extra copies made by links.
    pub duplicated: u64,
    /// NAT translations (a datagram crossing two NATs counts twice).
    pub translated: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Stats {
    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// Datagrams dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// A datagram on its way through the simulated network.
#[derive(Debug)]
pub(crate) struct Packet {
    pub(crate) id: u64,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) data: Vec<u8>,
}

/// Writes the trace and the counters.
#[derive(Debug)]
pub(crate) struct Recorder {
    enabled: bool,
    entries: Vec<TraceEntry>,
    pub(crate) stats: Stats,
}

impl Recorder {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            entries: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    pub(crate) fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    fn push(&mut self, now: Duration, packet: &Packet, outcome: Outcome) {
        if self.enabled {
            self.entries.push(TraceEntry {
                at: now,
                packet: packet.id,
                from: packet.src,
                to: packet.dst,
                size: packet.data.len(),
                outcome,
            });
        }
    }

    pub(crate) fn delivered(&mut self, now: Duration, packet: &Packet) {
        self.stats.delivered += 1;
        self.push(now, packet, Outcome::Delivered);
    }

    pub(crate) fn dropped(&mut self, now: Duration, packet: &Packet, reason: DropReason) {
        self.stats.dropped[reason as usize] += 1;
        self.push(now, packet, Outcome::Dropped(reason));
    }

    pub(crate) fn duplicated(&mut self, now: Duration, packet: &Packet) {
        self.stats.duplicated += 1;
        self.push(now, packet, Outcome::Duplicated);
    }

    /// Records a translation; `packet` still holds the addresses from before it.
    pub(crate) fn translated(
        &mut self,
        now: Duration,
        packet: &Packet,
        nat: NatId,
        from: SocketAddr,
        to: SocketAddr,
    ) {
        self.stats.translated += 1;
        self.push(now, packet, Outcome::Translated { nat, from, to });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reasons_index_their_own_counter() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
    }

    #[test]
    fn disabled_recorder_still_counts() {
        let start = Duration::ZERO;
        let mut rec = Recorder::new(false);
        let packet = Packet {
            id: 0,
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "10.0.0.2:2".parse().unwrap(),
            data: vec![0; 10],
        };
        rec.dropped(start, &packet, DropReason::Loss);
        rec.delivered(start, &packet);
        assert!(rec.entries().is_empty());
        assert_eq!(rec.stats.dropped(DropReason::Loss), 1);
        assert_eq!(rec.stats.delivered, 1);
        assert_eq!(rec.stats.dropped_total(), 1);
    }
}
