//! What was sent: the send time, size and kind of each packet by transport-wide sequence
//! number, so feedback (which names only sequence numbers) can be matched to it.

use super::PacketKind;
use std::collections::VecDeque;

/// How long a sent packet is remembered: feedback for anything older is ignored.
const MAX_AGE_US: i64 = 5_000_000;
/// A hard bound on the entries held, whatever the caller's sequence numbers do.
pub(crate) const MAX_ENTRIES: usize = 1 << 14;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) send_us: i64,
    pub(crate) size: u32,
    pub(crate) kind: PacketKind,
    /// Feedback already reported it received; a repeat report is ignored.
    pub(crate) acked: bool,
    /// Feedback already reported it lost once; counted as lost only once.
    pub(crate) lost: bool,
}

/// Sent packets in sequence order; a gap in the caller's numbers is a `None` slot.
#[derive(Debug, Default)]
pub(crate) struct SendHistory {
    first_seq: u64,
    slots: VecDeque<Option<Sent>>,
}

impl SendHistory {
    pub(crate) fn on_sent(&mut self, seq: u64, send_us: i64, size: usize, kind: PacketKind) {
        let sent = Sent {
            send_us,
            size: u32::try_from(size).unwrap_or(u32::MAX),
            kind,
            acked: false,
            lost: false,
        };
        let end = self.first_seq + self.slots.len() as u64;
        if self.slots.is_empty()
            || seq < self.first_seq
            || seq.saturating_sub(end) >= MAX_ENTRIES as u64
        {
            // A first packet, a jump back before what we hold, or a jump far ahead: start over
            // rather than hold a huge gap.
            self.slots.clear();
            self.first_seq = seq;
        }
        let end = self.first_seq + self.slots.len() as u64;
        if seq >= end {
            for _ in end..seq {
                self.slots.push_back(None);
            }
            self.slots.push_back(Some(sent));
        } else {
            self.slots[(seq - self.first_seq) as usize] = Some(sent);
        }
        self.prune(send_us);
    }

    fn prune(&mut self, now_us: i64) {
        while let Some(front) = self.slots.front() {
            let old = match front {
                Some(s) => now_us - s.send_us > MAX_AGE_US,
                None => true,
            };
            if old || self.slots.len() > MAX_ENTRIES {
                self.slots.pop_front();
                self.first_seq += 1;
            } else {
                break;
            }
        }
    }

    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut Sent> {
        let i = seq.checked_sub(self.first_seq)?;
        self.slots.get_mut(usize::try_from(i).ok()?)?.as_mut()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_finds_packets_by_sequence_and_forgets_old_ones() {
        let mut h = SendHistory::default();
        h.on_sent(10, 0, 100, PacketKind::Video);
        h.on_sent(12, 1000, 200, PacketKind::Audio);
        assert_eq!(h.get_mut(10).unwrap().size, 100);
        assert!(h.get_mut(11).is_none());
        assert_eq!(h.get_mut(12).unwrap().size, 200);
        h.on_sent(13, MAX_AGE_US + 2000, 300, PacketKind::Video);
        assert!(h.get_mut(10).is_none(), "older than the age limit");
        assert!(h.get_mut(13).is_some());
    }

    #[test]
    fn history_stays_bounded_on_sequence_jumps() {
        let mut h = SendHistory::default();
        h.on_sent(0, 0, 1, PacketKind::Video);
        h.on_sent(u64::MAX / 2, 1, 1, PacketKind::Video);
        assert_eq!(h.len(), 1);
        h.on_sent(5, 2, 1, PacketKind::Video);
        assert_eq!(h.len(), 1);
        for s in 6..(6 + 3 * MAX_ENTRIES as u64) {
            h.on_sent(s, 3, 1, PacketKind::Video);
        }
        assert!(h.len() <= MAX_ENTRIES);
    }
}
