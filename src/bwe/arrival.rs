//! Arrival-time groups (draft-ietf-rmcat-gcc-02 §5.2): packets sent within a 5 ms burst form
//! one group, and the filter sees the delay *between* consecutive groups.

/// draft-ietf-rmcat-gcc-02 §5.2: "a sequence of packets which are sent within a burst_time
/// interval constitute a group"; burst_time is 5 ms.
const BURST_US: i64 = 5_000;
/// An arrival-time jump this large between groups means the receiver's clock jumped.
const MAX_JUMP_US: i64 = 3_000_000;

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send_us: i64,
    last_send_us: i64,
    last_arrival_us: i64,
    size: u64,
}

/// The change between two consecutive groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GroupDelta {
    /// Difference of the groups' last send times.
    pub(crate) send_delta_us: i64,
    /// Difference of the groups' last arrival times (receiver's clock).
    pub(crate) arrival_delta_us: i64,
    /// The later group's last arrival time.
    pub(crate) arrival_us: i64,
    /// Size difference in bytes.
    pub(crate) size_delta: i64,
}

/// Groups packets and emits a delta each time a group completes.
#[derive(Debug, Default)]
pub(crate) struct InterArrival {
    current: Option<Group>,
    prev: Option<Group>,
}

impl InterArrival {
    /// Takes one received packet, in send order; returns the delta between the two previous
    /// groups when this packet starts a new group.
    pub(crate) fn push(&mut self, send_us: i64, arrival_us: i64, size: u64) -> Option<GroupDelta> {
        let Some(cur) = self.current.as_mut() else {
            self.current = Some(Group {
                first_send_us: send_us,
                last_send_us: send_us,
                last_arrival_us: arrival_us,
                size,
            });
            return None;
        };
        if send_us < cur.first_send_us {
            // Reordered before the current group started: it says nothing new.
            return None;
        }
        let in_burst = send_us - cur.first_send_us <= BURST_US;
        // libwebrtc also folds in packets that arrive back to back (under 5 ms apart) faster
        // than they were sent: a burst released by a queue upstream, not a new group.
        let arrival_gap = arrival_us - cur.last_arrival_us;
        let propagation = arrival_gap - (send_us - cur.last_send_us);
        let released_burst = (0..BURST_US).contains(&arrival_gap) && propagation < 0;
        if in_burst || released_burst {
            cur.last_send_us = cur.last_send_us.max(send_us);
            cur.last_arrival_us = cur.last_arrival_us.max(arrival_us);
            cur.size += size;
            return None;
        }
        let done = *cur;
        self.next_group(done, send_us, arrival_us, size)
    }

    /// The group `done` is complete and this packet starts the next: once per group, so kept
    /// out of the per-packet path.
    #[inline(never)]
    fn next_group(
        &mut self,
        done: Group,
        send_us: i64,
        arrival_us: i64,
        size: u64,
    ) -> Option<GroupDelta> {
        let delta = self.prev.and_then(|prev| {
            let d = GroupDelta {
                send_delta_us: done.last_send_us - prev.last_send_us,
                arrival_delta_us: done.last_arrival_us - prev.last_arrival_us,
                arrival_us: done.last_arrival_us,
                size_delta: done.size as i64 - prev.size as i64,
            };
            let jumped = (d.arrival_delta_us - d.send_delta_us).abs() > MAX_JUMP_US;
            (d.arrival_delta_us >= 0 && !jumped).then_some(d)
        });
        // After reordering or a clock jump the next delta starts from this group.
        self.prev = Some(done);
        self.current = Some(Group {
            first_send_us: send_us,
            last_send_us: send_us,
            last_arrival_us: arrival_us,
            size,
        });
        delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_within_five_ms_form_one_group() {
        let mut ia = InterArrival::default();
        // Group A: sent at 0, 2, 4 ms. Group B: 20, 22 ms. Group C starts at 40 ms.
        for (s, a) in [(0, 50_000), (2_000, 52_000), (4_000, 54_000)] {
            assert!(ia.push(s, a, 1000).is_none());
        }
        assert!(
            ia.push(20_000, 70_000, 1000).is_none(),
            "first complete group has no pair"
        );
        assert!(ia.push(22_000, 73_000, 1000).is_none());
        let d = ia.push(40_000, 90_000, 1000).expect("B completes");
        assert_eq!(d.send_delta_us, 22_000 - 4_000);
        assert_eq!(d.arrival_delta_us, 73_000 - 54_000);
        assert_eq!(d.size_delta, 2000 - 3000);
    }

    #[test]
    fn a_burst_released_by_a_queue_joins_the_group() {
        let mut ia = InterArrival::default();
        ia.push(0, 100_000, 1000);
        // Sent 10 ms later but arrived 1 ms later: queued behind the first, released together.
        ia.push(10_000, 101_000, 1000);
        ia.push(40_000, 140_000, 1000);
        let d = ia.push(60_000, 160_000, 1000).expect("a delta");
        assert_eq!(d.send_delta_us, 40_000 - 10_000);
    }

    #[test]
    fn a_receiver_clock_jump_resets_grouping() {
        let mut ia = InterArrival::default();
        ia.push(0, 0, 1);
        ia.push(20_000, 20_000, 1);
        assert!(ia.push(40_000, 40_000, 1).is_some());
        assert!(ia.push(60_000, 10_000_000, 1).is_some());
        assert!(
            ia.push(80_000, 10_020_000, 1).is_none(),
            "the delta across the jump"
        );
        assert!(
            ia.push(100_000, 10_040_000, 1).is_some(),
            "then on from the new clock"
        );
    }
}
