//! The per-server RTO cache of RFC 8489 §6.2.1.
//!
//! "The value for RTO SHOULD be cached by a client after the completion of the transaction and
//! used as the starting value for RTO for the next transaction to the same server (based on
//! equality of IP address). The value SHOULD be considered stale and discarded if no
//! transactions have occurred to the same server in the last 10 minutes." RTO is computed as
//! in RFC 6298 (SRTT, RTTVAR), kept to 1 ms accuracy rather than rounded up to a second.
//!
//! Tested through the public client in `tests/stun_client.rs` (tests under `src/` cannot make
//! an `Instant`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a cached RTO stays valid without a transaction to that server.
const STALE_AFTER: Duration = Duration::from_secs(600);
/// RFC 6298 §2.4: a maximum value may be placed on RTO provided it is at least 60 seconds.
pub(crate) const RTO_MAX: Duration = Duration::from_secs(60);
/// RFC 6298 clock granularity G; we keep 1 ms accuracy.
const GRANULARITY: Duration = Duration::from_millis(1);
/// How many servers' estimates are kept; beyond that new servers use the configured RTO.
const MAX_SERVERS: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Estimate {
    srtt: Duration,
    rttvar: Duration,
    last_used: Instant,
}

impl Estimate {
    fn rto(&self) -> Duration {
        self.srtt + GRANULARITY.max(self.rttvar * 4)
    }
}

/// Round-trip estimates per server IP address, bounded in size.
#[derive(Debug, Default)]
pub(crate) struct RtoCache {
    servers: HashMap<IpAddr, Estimate>,
}

impl RtoCache {
    /// The starting RTO for a new transaction to `server`: the cached estimate when fresh,
    /// never below `floor` (the configured initial RTO, which RFC 8489 §6.2.1 wants at least
    /// 500 ms by default) and never above [`RTO_MAX`].
    pub(crate) fn rto(&self, now: Instant, server: IpAddr, floor: Duration) -> Duration {
        match self.servers.get(&server) {
            Some(e) if now.saturating_duration_since(e.last_used) < STALE_AFTER => {
                e.rto().clamp(floor, RTO_MAX.max(floor))
            }
            _ => floor,
        }
    }

    /// Feeds one RTT measurement (RFC 6298 §2.2, §2.3). Karn's rule is the caller's: only
    /// transactions answered before any retransmission give a sample.
    pub(crate) fn sample(&mut self, now: Instant, server: IpAddr, rtt: Duration) {
        if let Some(e) = self.servers.get_mut(&server)
            && now.saturating_duration_since(e.last_used) < STALE_AFTER
        {
            // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
            let delta = e.srtt.abs_diff(rtt);
            e.rttvar = (e.rttvar * 3 + delta) / 4;
            e.srtt = (e.srtt * 7 + rtt) / 8;
            e.last_used = now;
            return;
        }
        if self.servers.len() >= MAX_SERVERS && !self.servers.contains_key(&server) {
            self.servers
                .retain(|_, e| now.saturating_duration_since(e.last_used) < STALE_AFTER);
            if self.servers.len() >= MAX_SERVERS {
                return;
            }
        }
        // RFC 6298 §2.2: the first measurement sets SRTT <- R, RTTVAR <- R/2.
        self.servers.insert(
            server,
            Estimate {
                srtt: rtt,
                rttvar: rtt / 2,
                last_used: now,
            },
        );
    }
}
