//! Chunks sent and not yet cumulatively acknowledged: the retransmission queue
//! (RFC 9260 §6.3, §7.2.4) and PR-SCTP abandonment (RFC 3758 §3.5).
//!
//! A `VecDeque` indexed by TSN offset from the cumulative ack point, so every lookup is O(1).
//! A SACK costs O(newly acked chunks + gap blocks + holes): the cumulative advance pops from
//! the front, gap blocks are diffed against the previous SACK's so only new ranges are walked,
//! and miss indications visit only the holes below the highest newly acked TSN. Nothing scans
//! the whole window per SACK or per send; only a T3 timeout walks it (rare by design).
//!
//! Loss detection counts a miss only when a chunk *sent later* than the hole was acknowledged
//! (a send sequence number per transmission, as in RACK, RFC 8985). That lets a retransmission
//! that is lost again be fast-retransmitted again instead of waiting for T3, which keeps
//! lossy long paths moving. A hole is lost after three misses, or after one once it is older
//! than a round trip and a quarter (RACK's time threshold), so small windows recover without
//! T3 too.

use super::chunk::{ForwardTsn, GapBlock, SkippedStream};
use super::send_queue::Fragment;
use crate::wire::serial::{Serial16, Serial32};
use bytes::Bytes;
use smallvec::SmallVec;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Miss indications before a chunk is declared lost (RFC 9260 §7.2.4).
const MISSES_FOR_LOSS: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkState {
    InFlight,
    /// Gap-acked: the peer has it but has not acknowledged it cumulatively.
    Acked,
    /// Waiting for retransmission.
    Lost,
    /// Given up (PR-SCTP); skipped with FORWARD-TSN.
    Abandoned,
}

#[derive(Debug)]
pub(crate) struct Sent {
    pub frag: Fragment,
    pub sent_at: Instant,
    pub tx_count: u32,
    tx_seq: u64,
    misses: u8,
    pub state: ChunkState,
}

/// What one SACK changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SackSummary {
    /// Bytes newly acknowledged, cumulatively or by gap blocks.
    pub acked_bytes: usize,
    /// Chunks newly acknowledged.
    pub acked_chunks: usize,
    pub cum_advanced: bool,
    /// A round-trip sample from the newest chunk acknowledged that was sent once.
    pub rtt: Option<Duration>,
    /// Chunks newly declared lost.
    pub newly_lost: usize,
    /// When a hole that was overtaken but not yet declared lost will be old enough to be
    /// (RACK's reorder timer): without it, holes at the tail of a burst of loss wait for a
    /// SACK that never comes once the window is full, and then for T3.
    pub loss_timer: Option<Instant>,
}

type Ranges = SmallVec<[(u64, u64); 8]>;

/// A message with fragments in the queue: one handle on its bytes for all of them (a handle
/// per fragment would cost two atomic operations per packet, to take it and let it go).
#[derive(Debug)]
struct Held {
    msg: u64,
    data: Bytes,
    /// Fragments in the queue that may still need the bytes; at 0 they are let go.
    live: u32,
}

#[derive(Debug)]
pub(crate) struct Inflight {
    base: u64,
    entries: VecDeque<Sent>,
    /// The bytes of the messages `entries` refer to, by slot (`held_base` is the front's),
    /// in the order their first fragment went. A slot let go before older ones waits empty.
    held: VecDeque<Held>,
    held_base: u64,
    flight: usize,
    /// Payload bytes of every entry not yet released (abandoned ones free theirs).
    retained: usize,
    lost: BTreeSet<u64>,
    gaps: Ranges,
    tx_seq: u64,
    ack_point: u64,
    /// Highest TSN ever acknowledged, cumulatively or by a gap block.
    highest_acked: u64,
    interleaved: bool,
    /// Messages abandoned before their last fragment was sent: (stream, message id).
    pub truncated: Vec<(u16, u64)>,
    /// Set when an abandonment may let the ack point advance.
    pub abandoned_any: bool,
}

impl Inflight {
    pub(crate) fn new(initial_tsn: u32, interleaved: bool) -> Self {
        let base = (1u64 << 32) + u64::from(initial_tsn);
        Self {
            base,
            entries: VecDeque::new(),
            held: VecDeque::new(),
            held_base: 0,
            flight: 0,
            retained: 0,
            lost: BTreeSet::new(),
            gaps: Ranges::new(),
            tx_seq: 0,
            ack_point: base - 1,
            highest_acked: base - 1,
            interleaved,
            truncated: Vec::new(),
            abandoned_any: false,
        }
    }

    pub(crate) fn next_tsn(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    pub(crate) fn cum(&self) -> u64 {
        self.base - 1
    }

    /// Payload bytes held for possible retransmission.
    pub(crate) fn retained(&self) -> usize {
        self.retained
    }

    /// Bytes in the network (sent, neither acked, lost nor abandoned).
    pub(crate) fn flight(&self) -> usize {
        self.flight
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn has_lost(&self) -> bool {
        !self.lost.is_empty()
    }

    pub(crate) fn get(&self, tsn: u64) -> Option<&Sent> {
        self.entries.get(tsn.checked_sub(self.base)? as usize)
    }

    fn get_mut(&mut self, tsn: u64) -> Option<&mut Sent> {
        self.entries.get_mut(tsn.checked_sub(self.base)? as usize)
    }

    pub(crate) fn unwrap(&self, tsn: u32) -> u64 {
        let cum = self.cum();
        cum.saturating_add_signed(Serial32(tsn).distance(Serial32(cum as u32)))
    }

    /// Keeps the bytes of message `msg` for one more fragment about to be pushed; `slot` is
    /// where its previous fragment found them. Returns the slot the fragment refers to:
    /// that one while it still holds them, else a new one, which takes `data` when the
    /// fragment is the `last` (a message sent whole costs no handle of its own) and
    /// shares it otherwise.
    #[inline]
    pub(crate) fn hold(
        &mut self,
        msg: u64,
        data: &mut Bytes,
        last: bool,
        slot: Option<u64>,
    ) -> u64 {
        if let Some(s) = slot
            && let Some(h) = self.held_mut(s)
            && h.msg == msg
            && h.live > 0
        {
            h.live += 1;
            return s;
        }
        self.held.push_back(Held {
            msg,
            data: if last {
                std::mem::take(data)
            } else {
                data.clone()
            },
            live: 1,
        });
        self.held_base + self.held.len() as u64 - 1
    }

    #[inline]
    fn held_mut(&mut self, slot: u64) -> Option<&mut Held> {
        let i = usize::try_from(slot.checked_sub(self.held_base)?).ok()?;
        self.held.get_mut(i)
    }

    /// The bytes of a fragment in the queue; `None` once it was abandoned or acknowledged.
    #[inline]
    pub(crate) fn payload(&self, f: &Fragment) -> Option<&[u8]> {
        let i = usize::try_from(f.slot.checked_sub(self.held_base)?).ok()?;
        let h = self.held.get(i).filter(|h| h.msg == f.msg && h.live > 0)?;
        h.data.get(f.offset..f.offset.checked_add(f.len)?)
    }

    /// A fragment no longer needs its message's bytes: the last one lets them go.
    #[inline]
    fn release(&mut self, slot: u64) {
        let Some(h) = self.held_mut(slot) else { return };
        h.live = h.live.saturating_sub(1);
        if h.live > 0 {
            return;
        }
        h.data = Bytes::new();
        while self.held.front().is_some_and(|h| h.live == 0) {
            self.held.pop_front();
            self.held_base += 1;
        }
    }

    /// Messages whose bytes are held, with the slots waiting behind an older one.
    #[cfg(test)]
    pub(crate) fn held_messages(&self) -> usize {
        self.held.iter().filter(|h| h.live > 0).count()
    }

    /// Records a first transmission (its bytes held by [`hold`](Self::hold)); returns its TSN.
    pub(crate) fn push(&mut self, frag: Fragment, now: Instant) -> u64 {
        self.flight += frag.len;
        self.retained += frag.len;
        self.tx_seq += 1;
        self.entries.push_back(Sent {
            frag,
            sent_at: now,
            tx_count: 1,
            tx_seq: self.tx_seq,
            misses: 0,
            state: ChunkState::InFlight,
        });
        self.next_tsn() - 1
    }

    /// Processes a SACK. `None` if it is stale or acknowledges TSNs never sent.
    /// `reorder` is how long after its send a chunk overtaken by a later one is taken as lost
    /// even with fewer than three miss indications (RACK's time threshold, RFC 8985: it lets
    /// small windows, where three later chunks may never exist, recover without T3).
    pub(crate) fn on_sack(
        &mut self,
        now: Instant,
        cum_tsn: u32,
        gaps: &[GapBlock],
        reorder: Duration,
    ) -> Option<SackSummary> {
        let cum = self.unwrap(cum_tsn);
        if cum < self.cum() || cum >= self.next_tsn() {
            return None;
        }
        let mut s = SackSummary::default();
        let mut newest: Option<(u64, Instant, bool)> = None;
        let mut note = |e: &Sent| {
            if newest.is_none_or(|(q, _, _)| e.tx_seq > q) {
                newest = Some((e.tx_seq, e.sent_at, e.tx_count == 1));
            }
        };
        while self.base <= cum {
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            let len = e.frag.len;
            // An abandoned chunk let its bytes go already.
            if e.state != ChunkState::Abandoned {
                self.retained -= len;
                self.release(e.frag.slot);
            }
            match e.state {
                ChunkState::InFlight => {
                    self.flight -= len;
                    s.acked_bytes += len;
                    s.acked_chunks += 1;
                    note(&e);
                }
                ChunkState::Lost => {
                    self.lost.remove(&self.base);
                    s.acked_bytes += len;
                    s.acked_chunks += 1;
                }
                ChunkState::Acked | ChunkState::Abandoned => {}
            }
            self.base += 1;
            s.cum_advanced = true;
        }
        self.ack_point = self.ack_point.max(cum);
        let mut htna = if s.cum_advanced { cum } else { 0 };

        // Gap blocks as absolute ranges, ignoring malformed ones.
        let mut new_gaps = Ranges::new();
        for g in gaps {
            let (a, b) = (cum + u64::from(g.start), cum + u64::from(g.end));
            let prev_end = new_gaps.last().map_or(cum, |&(_, e)| e);
            if g.start < 1 || a > b || a <= prev_end || b >= self.next_tsn() {
                continue;
            }
            new_gaps.push((a, b));
        }
        let old: Ranges = self
            .gaps
            .iter()
            .filter(|&&(_, b)| b > cum)
            .map(|&(a, b)| (a.max(cum + 1), b))
            .collect();
        for &(a, b) in &new_gaps {
            for_each_uncovered((a, b), &old, |t| {
                let Some(e) = self.entries.get_mut((t - self.base) as usize) else {
                    return;
                };
                let len = e.frag.len;
                match e.state {
                    ChunkState::InFlight => {
                        self.flight -= len;
                        s.acked_bytes += len;
                        s.acked_chunks += 1;
                        note(e);
                    }
                    ChunkState::Lost => {
                        self.lost.remove(&t);
                        s.acked_bytes += len;
                        s.acked_chunks += 1;
                    }
                    ChunkState::Acked | ChunkState::Abandoned => return,
                }
                e.state = ChunkState::Acked;
                htna = htna.max(t);
            });
        }
        // A gap block missing from this SACK is more likely a reordered or truncated SACK than
        // a receiver reneging (RFC 9260 §6.2.1); gap-acked data stays acked, and only a T3
        // with nothing else outstanding sends it again (`mark_all_lost`).
        self.gaps = new_gaps;

        self.highest_acked = self.highest_acked.max(htna).max(cum);
        if let Some((newest_seq, sent_at, once)) = newest {
            if once {
                s.rtt = Some(now.saturating_duration_since(sent_at));
            }
            let (lost, timer) = self.count_misses(cum, htna, newest_seq, now, reorder);
            s.newly_lost = lost;
            s.loss_timer = timer;
        }
        Some(s)
    }

    /// The reorder timer fired: declares lost the overtaken holes now older than `reorder`.
    /// Returns how many, and when to look again.
    /// Visits only the holes between the gap blocks of the last SACK, below the highest TSN
    /// ever acknowledged: O(holes), like a SACK.
    pub(crate) fn on_loss_timer(
        &mut self,
        now: Instant,
        reorder: Duration,
    ) -> (usize, Option<Instant>) {
        let mut deadline: Option<Instant> = None;
        let mut lost = Vec::new();
        let top = self.highest_acked;
        let mut from = self.base;
        let bounds = self
            .gaps
            .iter()
            .map(|&(a, b)| (a, b + 1))
            .chain([(top + 1, top + 1)]);
        for (gap_start, next_from) in bounds {
            for t in from..gap_start.min(top + 1) {
                let Some(e) = self.get(t) else { continue };
                if e.state != ChunkState::InFlight || e.misses == 0 {
                    continue;
                }
                let due = e.sent_at + reorder;
                if due <= now {
                    lost.push(t);
                } else {
                    deadline = Some(deadline.map_or(due, |d| d.min(due)));
                }
            }
            if gap_start > top {
                break;
            }
            from = from.max(next_from);
        }
        let n = lost.into_iter().filter(|&t| self.mark_lost(t, now)).count();
        (n, deadline)
    }

    /// Miss indications for holes below `htna` that were sent before `newest_seq`.
    fn count_misses(
        &mut self,
        cum: u64,
        htna: u64,
        newest_seq: u64,
        now: Instant,
        reorder: Duration,
    ) -> (usize, Option<Instant>) {
        let mut lost = SmallVec::<[u64; 8]>::new();
        let mut deadline: Option<Instant> = None;
        let mut from = cum + 1;
        let gaps = std::mem::take(&mut self.gaps);
        let holes = gaps
            .iter()
            .map(|&(a, b)| (a, b + 1))
            .chain([(htna + 1, htna + 1)]);
        for (gap_start, next_from) in holes {
            for t in from..gap_start.min(htna + 1) {
                let Some(e) = self.get_mut(t) else { continue };
                if e.state == ChunkState::InFlight && e.tx_seq < newest_seq {
                    e.misses += 1;
                    let old = now.saturating_duration_since(e.sent_at) >= reorder;
                    if e.misses >= MISSES_FOR_LOSS || old {
                        lost.push(t);
                    } else {
                        let due = e.sent_at + reorder;
                        deadline = Some(deadline.map_or(due, |d| d.min(due)));
                    }
                }
            }
            if gap_start > htna {
                break;
            }
            from = next_from;
        }
        self.gaps = gaps;
        let n = lost.iter().filter(|&&t| self.mark_lost(t, now)).count();
        (n, deadline)
    }

    /// Declares `tsn` lost, or abandons its message when its policy says so. Returns whether
    /// it was in flight: a loss either way, which congestion control must hear of (a channel
    /// that never retransmits still fills the bottleneck; not counting its losses let the
    /// window grow without bound while the queue dropped most of it).
    fn mark_lost(&mut self, tsn: u64, now: Instant) -> bool {
        let Some(e) = self.get_mut(tsn) else {
            return false;
        };
        if e.state != ChunkState::InFlight {
            return false;
        }
        let f = &e.frag;
        // RFC 3758 §3.5 A1-A3: the limited-retransmission and timed policies.
        let give_up = f.max_retransmits.is_some_and(|m| e.tx_count > m)
            || f.expires.is_some_and(|x| x <= now);
        if give_up {
            self.abandon_message(tsn);
            return true;
        }
        e.state = ChunkState::Lost;
        e.misses = 0;
        self.flight -= e.frag.len;
        self.lost.insert(tsn);
        true
    }

    /// T3-rtx expired: everything in flight is to be retransmitted (RFC 9260 §6.3.3 E3).
    pub(crate) fn mark_all_lost(&mut self, now: Instant) -> usize {
        let in_flight: Vec<u64> = (self.base..self.next_tsn())
            .filter(|&t| self.get(t).is_some_and(|e| e.state == ChunkState::InFlight))
            .collect();
        let front_acked = self
            .entries
            .front()
            .is_some_and(|e| e.state == ChunkState::Acked);
        if in_flight.is_empty() && self.lost.is_empty() && front_acked {
            // Only gap-acked data is left and the peer never acked it cumulatively: it reneged.
            // (An abandoned chunk in front means a FORWARD-TSN is awaited instead.)
            for t in self.base..self.next_tsn() {
                let Some(e) = self.get_mut(t) else { break };
                if e.state == ChunkState::Acked {
                    e.state = ChunkState::InFlight;
                    self.flight += e.frag.len;
                    self.mark_lost(t, now);
                }
            }
            self.gaps.clear();
        }
        in_flight
            .into_iter()
            .filter(|&t| self.mark_lost(t, now))
            .count()
    }

    /// The lowest TSN waiting for retransmission, abandoning expired ones on the way.
    pub(crate) fn peek_retransmit(&mut self, now: Instant) -> Option<u64> {
        while let Some(&t) = self.lost.first() {
            let expired = self
                .get(t)
                .is_some_and(|e| e.frag.expires.is_some_and(|x| x <= now));
            if !expired {
                return Some(t);
            }
            self.abandon_message(t);
        }
        None
    }

    /// `tsn` (from `peek_retransmit`) went out again.
    pub(crate) fn retransmitted(&mut self, tsn: u64, now: Instant) {
        self.tx_seq += 1;
        let seq = self.tx_seq;
        if let Some(e) = self.get_mut(tsn)
            && e.state == ChunkState::Lost
        {
            e.state = ChunkState::InFlight;
            e.tx_count += 1;
            e.tx_seq = seq;
            e.sent_at = now;
            e.misses = 0;
            self.flight += e.frag.len;
            self.lost.remove(&tsn);
        }
    }

    /// Abandons every sent fragment of the message `tsn` belongs to (RFC 3758 §3.5: the whole
    /// message goes), and notes it in `truncated` if its last fragment was never sent.
    fn abandon_message(&mut self, tsn: u64) {
        let Some(e) = self.get(tsn) else { return };
        let (stream, msg) = (e.frag.stream, e.frag.msg);
        let mut saw_end = false;
        let mut t = tsn;
        // Backwards to the first fragment, then forwards to the last one sent.
        while let Some(e) = self.get(t) {
            let same = e.frag.msg == msg;
            if !same && !self.interleaved {
                break;
            }
            if same {
                let begin = e.frag.begin;
                self.abandon_one(t);
                if begin {
                    break;
                }
            }
            match t.checked_sub(1) {
                Some(p) if p >= self.base => t = p,
                _ => break,
            }
        }
        t = tsn + 1;
        saw_end |= self.get(tsn).is_some_and(|e| e.frag.end);
        while !saw_end {
            let Some(e) = self.get(t) else { break };
            if e.frag.msg == msg {
                saw_end = e.frag.end;
                self.abandon_one(t);
            } else if !self.interleaved {
                break;
            }
            t += 1;
        }
        if !saw_end {
            self.truncated.push((stream, msg));
        }
        self.abandoned_any = true;
    }

    fn abandon_one(&mut self, tsn: u64) {
        let Some(e) = self.get_mut(tsn) else { return };
        let (len, slot, was) = (e.frag.len, e.frag.slot, e.state);
        if was == ChunkState::Abandoned {
            return;
        }
        e.state = ChunkState::Abandoned;
        // The peer will never need these bytes again: free them now.
        self.release(slot);
        self.retained -= len;
        match was {
            ChunkState::InFlight => self.flight -= len,
            ChunkState::Lost => {
                self.lost.remove(&tsn);
            }
            ChunkState::Acked | ChunkState::Abandoned => {}
        }
    }

    /// Abandons the message `msg` of `stream` if any of it is in flight (its lifetime ran out
    /// in the send queue part-way through).
    pub(crate) fn abandon_sent_part(&mut self, msg: u64) {
        let found = (self.base..self.next_tsn())
            .rev()
            .find(|&t| self.get(t).is_some_and(|e| e.frag.msg == msg));
        if let Some(t) = found {
            self.abandon_message(t);
        }
    }

    /// Abandons the unacknowledged messages at the front of the queue whose lifetime has run
    /// out, so an ordered stream does not wait on them past their lifetime (RFC 3758 §3.5 A2).
    /// Stops at the first unacknowledged chunk still alive and returns its expiry, if any.
    pub(crate) fn abandon_expired(&mut self, now: Instant) -> Option<Instant> {
        let mut t = self.base;
        while let Some(e) = self.get(t) {
            if matches!(e.state, ChunkState::InFlight | ChunkState::Lost) {
                match e.frag.expires {
                    Some(x) if x <= now => self.abandon_message(t),
                    x => return x,
                }
            }
            t += 1;
        }
        None
    }

    /// RFC 3758 §3.5 C1-C3: the FORWARD-TSN to send, if abandoned chunks let the peer's
    /// cumulative TSN move past what it has acknowledged, in a chunk of at most `room` bytes.
    ///
    /// Each stream appears once per kind (RFC 8260 §2.3.1: the largest SSN or MID skipped),
    /// so the list grows with the streams, not with the messages abandoned. If even so it
    /// does not fit, the new cumulative TSN stops short where it still fits and the rest
    /// follows in the next one ([`forward_pending`](Self::forward_pending) stays true); a
    /// FORWARD-TSN that could never be written would stall the association for good.
    pub(crate) fn forward_tsn(&mut self, room: usize) -> Option<ForwardTsn> {
        self.abandoned_any = false;
        self.ack_point = self.ack_point.max(self.cum());
        while let Some(e) = self.get(self.ack_point + 1) {
            if !matches!(e.state, ChunkState::Abandoned | ChunkState::Acked) {
                break;
            }
            self.ack_point += 1;
        }
        if self.ack_point <= self.cum() {
            return None;
        }
        // Chunk header and new cumulative TSN, then 4 (FORWARD-TSN) or 8 (I-FORWARD-TSN)
        // bytes per stream.
        let per_entry = if self.interleaved { 8 } else { 4 };
        let max_entries = room.saturating_sub(8) / per_entry;
        let later = |a: u32, b: u32, il: bool| {
            if il {
                Serial32(a).is_after(Serial32(b))
            } else {
                Serial16(a as u16).is_after(Serial16(b as u16))
            }
        };
        let mut streams: SmallVec<[SkippedStream; 4]> = SmallVec::new();
        let mut new_cum = self.cum();
        for t in self.cum() + 1..=self.ack_point {
            let Some(e) = self.get(t) else { break };
            let f = &e.frag;
            // Unordered DATA needs no entry (RFC 3758 §3.2: only ordered streams have SSNs).
            if e.state == ChunkState::Abandoned && (!f.unordered || self.interleaved) {
                let pos = streams
                    .iter()
                    .position(|s| s.stream == f.stream && s.unordered == f.unordered);
                match pos {
                    Some(i) => {
                        if later(f.seq, streams[i].ssn_or_mid, self.interleaved) {
                            streams[i].ssn_or_mid = f.seq;
                        }
                    }
                    None if streams.len() < max_entries => streams.push(SkippedStream {
                        stream: f.stream,
                        ssn_or_mid: f.seq,
                        unordered: f.unordered,
                    }),
                    // No room for another stream: forward up to here for now.
                    None => break,
                }
            }
            new_cum = t;
        }
        if new_cum <= self.cum() {
            return None;
        }
        Some(ForwardTsn {
            new_cum_tsn: new_cum as u32,
            streams,
        })
    }

    /// Whether a FORWARD-TSN is still needed (the peer has not moved past the ack point).
    pub(crate) fn forward_pending(&self) -> bool {
        self.ack_point > self.cum()
    }
}

/// Calls `f` for each TSN of `r` not inside any of the sorted, disjoint `cover` ranges.
fn for_each_uncovered(r: (u64, u64), cover: &[(u64, u64)], mut f: impl FnMut(u64)) {
    let mut from = r.0;
    for &(a, b) in cover {
        if b < from {
            continue;
        }
        if a > r.1 {
            break;
        }
        for t in from..a.min(r.1 + 1) {
            f(t);
        }
        from = from.max(b + 1);
        if from > r.1 {
            return;
        }
    }
    for t in from..=r.1 {
        f(t);
    }
}

#[cfg(test)]
#[path = "inflight_tests.rs"]
mod tests;
