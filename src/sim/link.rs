//! Links: what happens to a datagram between a host's interface and its network.

use std::time::Duration;

use super::trace::DropReason;
use crate::Rng;

/// Bytes of IPv4 + UDP header counted against the MTU and the bandwidth limit.
pub const IPV4_UDP_OVERHEAD: usize = 20 + 8;
/// Bytes of IPv6 + UDP header counted against the MTU and the bandwidth limit.
pub const IPV6_UDP_OVERHEAD: usize = 40 + 8;

/// The Gilbert-Elliott burst-loss model: a two-state Markov chain evaluated once per datagram.
///
/// Before each datagram the chain moves from *good* to *bad* with probability `p_good_to_bad`
/// and from *bad* to *good* with probability `p_bad_to_good`; the datagram is then lost with
/// probability `loss_good` or `loss_bad` depending on the state. With `loss_good = 0` and
/// `loss_bad = 1` (the Gilbert model) the mean burst length is `1 / p_bad_to_good` datagrams and
/// the long-run loss rate is `p_good_to_bad / (p_good_to_bad + p_bad_to_good)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state, per datagram.
    pub p_good_to_bad: f64,
    /// Probability of moving from the bad to the good state, per datagram.
    pub p_bad_to_good: f64,
    /// Loss probability in the good state.
    pub loss_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The classic Gilbert model: nothing lost in the good state, everything in the bad one.
    pub fn gilbert(p_good_to_bad: f64, p_bad_to_good: f64) -> Self {
        Self {
            p_good_to_bad,
            p_bad_to_good,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }
}

/// How one direction of an interface's link treats datagrams.
///
/// [`Sim::add_interface`](super::Sim::add_interface) applies the same config to both directions
/// (host to network, "up", and network to host, "down"), each with its own queue, loss state
/// and random stream; [`Sim::set_link`](super::Sim::set_link) makes a link asymmetric. A
/// datagram from host A to host B crosses A's uplink and then B's downlink, so the one-way
/// delay is the sum of both latencies. NAT boxes add no delay.
///
/// The [`Default`] is a perfect link: no delay, no loss, unlimited rate, MTU 1500.
///
/// Per datagram, in this order: the interface must be up (else [`DropReason::LinkDown`]); the
/// IP packet (payload plus [`IPV4_UDP_OVERHEAD`] or [`IPV6_UDP_OVERHEAD`]) must fit the `mtu`
/// ([`DropReason::TooBig`]); with a `rate`, it joins a FIFO queue of at most `queue_bytes`
/// bytes not yet serialized ([`DropReason::QueueFull`], tail drop) and leaves when the packets
/// ahead of it and itself have been serialized at `rate`; on the wire it may be lost
/// ([`DropReason::BurstLoss`] from `burst_loss`, then [`DropReason::Loss`] from `loss`) or
/// duplicated; each copy then takes `latency`, plus a uniform offset in `±jitter` (the total
/// never below zero), plus `reorder_delay` with probability `reorder`. Jitter and `reorder` can
/// make datagrams overtake each other; the queue never does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way propagation delay.
    pub latency: Duration,
    /// Maximum deviation from `latency`, uniformly distributed in `[-jitter, +jitter]`.
    pub jitter: Duration,
    /// Probability that a datagram is lost, independently of the others.
    pub loss: f64,
    /// Burst loss, on top of `loss`.
    pub burst_loss: Option<GilbertElliott>,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back an extra `reorder_delay`, so that datagrams
    /// sent after it arrive first.
    pub reorder: f64,
    /// The extra delay of a reordered datagram (default 10 ms).
    pub reorder_delay: Duration,
    /// Bandwidth limit in bits per second, or `None` for unlimited.
    pub rate: Option<u64>,
    /// With a `rate`: how many bytes (counting the datagram being serialized) may wait before
    /// new datagrams are dropped; default 64 KiB. A datagram arriving at an empty queue is
    /// always accepted.
    pub queue_bytes: usize,
    /// Largest IP packet (UDP payload plus headers) the link carries; default 1500.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            burst_loss: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            rate: None,
            queue_bytes: 64 * 1024,
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// A perfect link with a fixed one-way `latency`.
    pub fn with_latency(latency: Duration) -> Self {
        Self {
            latency,
            ..Self::default()
        }
    }

    fn validate(&self) {
        assert!(self.rate != Some(0), "LinkConfig::rate must be above zero");
    }
}

/// The state of one direction of one link.
#[derive(Debug)]
pub(crate) struct LinkState {
    config: LinkConfig,
    rng: Rng,
    /// When the serializer finishes the last accepted datagram.
    busy_until: Duration,
    burst_bad: bool,
}

/// Where a datagram that survived a link is, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    pub(crate) at: Duration,
    /// When the link duplicated it: the arrival time of the copy.
    pub(crate) copy: Option<Duration>,
}

impl LinkState {
    pub(crate) fn new(config: LinkConfig, rng: Rng) -> Self {
        config.validate();
        Self {
            config,
            rng,
            busy_until: Duration::ZERO,
            burst_bad: false,
        }
    }

    pub(crate) fn set_config(&mut self, config: LinkConfig) {
        config.validate();
        self.config = config;
    }

    /// Empties the queue: the link went down and took what it held with it.
    pub(crate) fn reset_queue(&mut self, now: Duration) {
        self.busy_until = self.busy_until.min(now);
    }

    /// Sends a datagram of `wire_size` bytes (headers included) onto the link at `now`.
    pub(crate) fn transit(
        &mut self,
        now: Duration,
        wire_size: usize,
    ) -> Result<Arrival, DropReason> {
        let c = self.config;
        if wire_size > c.mtu {
            return Err(DropReason::TooBig);
        }
        let mut departure = now;
        if let Some(rate) = c.rate {
            let backlog_time = self.busy_until.saturating_sub(now);
            let backlog_bytes = bytes_in(backlog_time, rate);
            if backlog_bytes > 0 && backlog_bytes + wire_size as u64 > c.queue_bytes as u64 {
                return Err(DropReason::QueueFull);
            }
            departure = self.busy_until.max(now) + serialization(wire_size, rate);
            self.busy_until = departure;
        }
        // Lost on the wire, after having used its share of the bandwidth.
        if let Some(ge) = c.burst_loss {
            let flip = if self.burst_bad {
                ge.p_bad_to_good
            } else {
                ge.p_good_to_bad
            };
            if self.rng.chance(flip) {
                self.burst_bad = !self.burst_bad;
            }
            let p = if self.burst_bad {
                ge.loss_bad
            } else {
                ge.loss_good
            };
            if self.rng.chance(p) {
                return Err(DropReason::BurstLoss);
            }
        }
        if self.rng.chance(c.loss) {
            return Err(DropReason::Loss);
        }
        let at = departure + self.delay();
        let copy = if self.rng.chance(c.duplicate) {
            Some(departure + self.delay())
        } else {
            None
        };
        Ok(Arrival { at, copy })
    }

    /// Propagation delay of one copy: latency, jitter and maybe the reordering hold-back.
    fn delay(&mut self) -> Duration {
        let c = &self.config;
        let mut delay = c.latency;
        if !c.jitter.is_zero() {
            let j = u64::try_from(c.jitter.as_nanos()).unwrap_or(u64::MAX / 4);
            let offset = self.rng.range(0, 2 * j + 1);
            delay = (delay + Duration::from_nanos(offset)).saturating_sub(Duration::from_nanos(j));
        }
        if self.rng.chance(c.reorder) {
            delay += c.reorder_delay;
        }
        delay
    }
}

/// Time to serialize `bytes` at `rate` bits per second, rounded up to the nanosecond.
fn serialization(bytes: usize, rate: u64) -> Duration {
    let nanos = (bytes as u128 * 8 * 1_000_000_000).div_ceil(rate as u128);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Bytes that `rate` serializes in `time`, rounded up.
fn bytes_in(time: Duration, rate: u64) -> u64 {
    let bytes = (time.as_nanos() * rate as u128).div_ceil(8 * 1_000_000_000);
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(config: LinkConfig) -> LinkState {
        LinkState::new(config, Rng::from_seed(1))
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn perfect_link_delivers_at_once() {
        let mut l = link(LinkConfig::default());
        assert_eq!(
            l.transit(5 * MS, 100),
            Ok(Arrival {
                at: 5 * MS,
                copy: None
            })
        );
    }

    #[test]
    fn mtu_counts_the_whole_packet() {
        let mut l = link(LinkConfig::default());
        assert!(l.transit(MS, 1500).is_ok());
        assert_eq!(l.transit(MS, 1501), Err(DropReason::TooBig));
    }

    #[test]
    fn jitter_stays_within_bounds_and_never_goes_negative() {
        let mut l = link(LinkConfig {
            latency: 2 * MS,
            jitter: 5 * MS,
            ..LinkConfig::default()
        });
        let mut saw_zero = false;
        for _ in 0..1000 {
            let at = l.transit(10 * MS, 100).unwrap().at;
            assert!(at >= 10 * MS && at <= 17 * MS, "{at:?}");
            saw_zero |= at == 10 * MS;
        }
        assert!(saw_zero, "negative delays clamp to zero");
    }

    #[test]
    fn rate_serializes_packets_back_to_back() {
        // 1 Mbit/s: 125 bytes take 1 ms.
        let mut l = link(LinkConfig {
            rate: Some(1_000_000),
            queue_bytes: 10_000,
            ..LinkConfig::default()
        });
        assert_eq!(l.transit(Duration::ZERO, 125).unwrap().at, MS);
        assert_eq!(l.transit(Duration::ZERO, 125).unwrap().at, 2 * MS);
        // Once the link is idle again, no queueing delay.
        assert_eq!(l.transit(10 * MS, 125).unwrap().at, 11 * MS);
    }

    #[test]
    fn full_queue_tail_drops_until_it_drains() {
        let mut l = link(LinkConfig {
            rate: Some(1_000_000),
            queue_bytes: 500,
            ..LinkConfig::default()
        });
        for _ in 0..4 {
            assert!(l.transit(Duration::ZERO, 125).is_ok());
        }
        assert_eq!(l.transit(Duration::ZERO, 125), Err(DropReason::QueueFull));
        // After 1 ms one packet has left: room for one more.
        assert!(l.transit(MS, 125).is_ok());
        assert_eq!(l.transit(MS, 125), Err(DropReason::QueueFull));
    }

    #[test]
    fn gilbert_model_loses_in_runs() {
        let mut l = link(LinkConfig {
            burst_loss: Some(GilbertElliott::gilbert(0.01, 0.25)),
            ..LinkConfig::default()
        });
        let lost: Vec<bool> = (0..100_000).map(|_| l.transit(MS, 100).is_err()).collect();
        let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count();
        let total = lost.iter().filter(|&&x| x).count();
        let mean = total as f64 / bursts as f64;
        assert!((mean - 4.0).abs() < 0.4, "mean burst {mean}");
    }
}
