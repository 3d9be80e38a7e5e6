//! The association's timers (RFC 9260 §6.3, §9.2, §8.3; RFC 6525 §5.1.1) in one table.

use std::time::Instant;

/// Every timer an association runs; at most one instance of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Timer {
    /// T1-init: retransmit INIT.
    Init,
    /// T1-cookie: retransmit COOKIE ECHO.
    Cookie,
    /// T3-rtx: retransmission timeout for DATA.
    Rtx,
    /// Delayed acknowledgement (RFC 9260 §6.2).
    DelayedAck,
    /// Heartbeat interval or heartbeat response deadline.
    Heartbeat,
    /// RE-CONFIG request retransmission (RFC 6525 §5.1.1).
    Reconfig,
    /// T2-shutdown: retransmit SHUTDOWN or SHUTDOWN ACK.
    Shutdown,
    /// T5-shutdown-guard: give up on a graceful shutdown (RFC 9260 §9.2).
    ShutdownGuard,
    /// The lifetime of the oldest message in flight ends (RFC 3758 timed reliability).
    Expiry,
    /// An overtaken chunk becomes old enough to be declared lost (RACK's reorder timer).
    Loss,
}

const COUNT: usize = 10;
const ALL: [Timer; COUNT] = [
    Timer::Init,
    Timer::Cookie,
    Timer::Rtx,
    Timer::DelayedAck,
    Timer::Heartbeat,
    Timer::Reconfig,
    Timer::Shutdown,
    Timer::ShutdownGuard,
    Timer::Expiry,
    Timer::Loss,
];

/// Deadlines keyed by [`Timer`]. `next` is a fixed scan of ten slots, independent of the
/// number of streams or chunks in flight.
#[derive(Debug, Default, Clone)]
pub(crate) struct Timers {
    at: [Option<Instant>; COUNT],
    next: Option<Instant>,
}

impl Timers {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
        self.refresh();
    }

    /// Sets `t` only if it is not running.
    pub(crate) fn start_if_idle(&mut self, t: Timer, at: Instant) {
        if self.at[t as usize].is_none() {
            self.set(t, at);
        }
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        if self.at[t as usize].take().is_some() {
            self.refresh();
        }
    }

    pub(crate) fn stop_all(&mut self) {
        self.at = [None; COUNT];
        self.next = None;
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Stops and returns the first timer due at `now`, if any.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        if self.next.is_none_or(|n| n > now) {
            return None;
        }
        let t = ALL
            .into_iter()
            .find(|&t| self.at[t as usize].is_some_and(|at| at <= now))?;
        self.stop(t);
        Some(t)
    }

    fn refresh(&mut self) {
        self.next = self.at.iter().flatten().min().copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_timers_pop_once_and_next_tracks_the_minimum() {
        let t0 = crate::test_clock::t0();
        let mut t = Timers::default();
        t.set(Timer::Rtx, t0 + Duration::from_millis(30));
        t.set(Timer::DelayedAck, t0 + Duration::from_millis(10));
        t.start_if_idle(Timer::DelayedAck, t0 + Duration::from_millis(99));
        assert_eq!(t.next(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.pop_expired(t0), None);
        assert_eq!(
            t.pop_expired(t0 + Duration::from_millis(40)),
            Some(Timer::Rtx)
        );
        assert_eq!(
            t.pop_expired(t0 + Duration::from_millis(40)),
            Some(Timer::DelayedAck)
        );
        assert_eq!(t.pop_expired(t0 + Duration::from_millis(40)), None);
        assert_eq!(t.next(), None);
    }
}
