//! The bounded queue between socket readers and the engine.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

/// How many received datagrams a driver holds before it drops new ones: enough to ride out a
/// burst at loopback speed, about 1.5 MiB of 1,500-byte datagrams at most.
pub const DEFAULT_INBOX_DATAGRAMS: usize = 1024;

/// A source with fewer than this many datagrams waiting may still queue into the headroom
/// past the capacity: a connected peer keeps getting through a flood from other addresses.
pub const FAIR_SHARE: u32 = 16;

/// A pooled buffer larger than this goes back to the allocator instead of the pool, so a flood
/// of jumbo datagrams cannot leave the pool holding 64 KiB per slot.
const KEEP_CAPACITY: usize = 2048;

/// What [`DatagramInbox::push`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued behind others: the engine will reach it without a wake-up.
    Queued,
    /// Queued into an empty inbox: the reader must wake the engine.
    Wake,
    /// The inbox was full: dropped and counted.
    Dropped,
}

/// Counters of a [`DatagramInbox`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Datagrams the socket readers received.
    pub received: u64,
    /// Datagrams dropped because the inbox was full (the engine fell behind: a flood, or a
    /// protocol too busy to keep up).
    pub dropped: u64,
    /// The most datagrams that waited at once.
    pub high_water: usize,
    /// First-come slots: past this many waiting, only sources with fewer than [`FAIR_SHARE`]
    /// datagrams waiting get in.
    pub capacity: usize,
    /// Slots past the capacity for those sources (a quarter of the capacity): the inbox never
    /// holds more than `capacity + headroom`.
    pub headroom: usize,
}

/// One received datagram waiting for the engine.
#[derive(Debug)]
pub struct Queued {
    /// Which of the driver's sockets received it.
    pub socket: usize,
    /// The sender.
    pub source: SocketAddr,
    /// The contents (the whole vector).
    pub contents: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    queued: VecDeque<Queued>,
    /// How many datagrams wait per source; no entry for a source with none.
    waiting: HashMap<SocketAddr, u32>,
    free: Vec<Vec<u8>>,
    stats: InboxStats,
}

/// A bounded, buffer-reusing queue of received datagrams, shared by a driver's socket readers
/// (which [`push`](Self::push)) and its engine (which takes them in batches).
///
/// Memory is bounded: at most `capacity` datagrams wait first come, first served, plus a
/// quarter of that again for sources that have fewer than [`FAIR_SHARE`] waiting, so that one
/// flooding address (or a few) cannot crowd out a connected peer. The pool of spare buffers
/// holds no more than that, each at most a few KiB. In the steady state nothing is allocated
/// per datagram: a reader copies into a buffer the engine gave back.
#[derive(Debug)]
pub struct DatagramInbox {
    inner: Mutex<Inner>,
    capacity: usize,
    headroom: usize,
}

impl DatagramInbox {
    /// An empty inbox that holds at most `capacity` datagrams (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let headroom = capacity.div_ceil(4);
        Self {
            inner: Mutex::new(Inner {
                stats: InboxStats {
                    capacity,
                    headroom,
                    ..InboxStats::default()
                },
                ..Inner::default()
            }),
            capacity,
            headroom,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing in here can be left half-updated by a panic elsewhere.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a copy of `contents`, received on socket `socket` from `source`, or drops it if
    /// the inbox is full for that source. [`Push::Wake`] asks the caller to wake the engine.
    pub fn push(&self, socket: usize, source: SocketAddr, contents: &[u8]) -> Push {
        self.writer().push(socket, source, contents)
    }

    /// The inbox locked for a reader's whole batch of datagrams: one lock per batch (a
    /// `recvmmsg` brings up to 64), not one per datagram. Drop it before waiting for more.
    pub fn writer(&self) -> InboxWriter<'_> {
        InboxWriter {
            inner: self.lock(),
            capacity: self.capacity,
            headroom: self.headroom,
        }
    }

    /// Queues a reader's whole batch under one lock, as [`writer`](Self::writer) does; whether
    /// any push asked to wake the engine (then the caller must).
    pub fn push_all<'a>(
        &self,
        socket: usize,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) -> bool {
        let mut writer = self.writer();
        let mut wake = false;
        for (source, contents) in datagrams {
            wake |= writer.push(socket, source, contents) == Push::Wake;
        }
        wake
    }

    /// Moves up to `max` waiting datagrams, oldest first, to the end of `into`.
    pub fn take(&self, max: usize, into: &mut Vec<Queued>) {
        let mut inner = self.lock();
        let n = max.min(inner.queued.len());
        let start = into.len();
        into.extend(inner.queued.drain(..n));
        for q in &into[start..] {
            if let Some(count) = inner.waiting.get_mut(&q.source) {
                *count -= 1;
                if *count == 0 {
                    inner.waiting.remove(&q.source);
                }
            }
        }
    }

    /// Gives the buffers of handled datagrams back for reuse.
    pub fn recycle(&self, handled: &mut Vec<Queued>) {
        let mut inner = self.lock();
        for q in handled.drain(..) {
            if q.contents.capacity() <= KEEP_CAPACITY
                && inner.free.len() < self.capacity + self.headroom
            {
                inner.free.push(q.contents);
            }
        }
    }

    /// Whether no datagram is waiting.
    pub fn is_empty(&self) -> bool {
        self.lock().queued.is_empty()
    }

    /// How many datagrams are waiting.
    pub fn len(&self) -> usize {
        self.lock().queued.len()
    }

    /// Counts `n` datagrams that a driver reading its own sockets handed the protocol
    /// directly, past this inbox: its stats then say what was received, and drops happen in the
    /// kernel's socket buffer, uncounted here.
    pub fn count_received(&self, n: usize) {
        self.lock().stats.received += n as u64;
    }

    /// The counters so far.
    pub fn stats(&self) -> InboxStats {
        self.lock().stats
    }
}

/// A batch of pushes under one lock on a [`DatagramInbox`], from [`DatagramInbox::writer`].
pub struct InboxWriter<'a> {
    inner: MutexGuard<'a, Inner>,
    capacity: usize,
    headroom: usize,
}

impl InboxWriter<'_> {
    /// As [`DatagramInbox::push`].
    pub fn push(&mut self, socket: usize, source: SocketAddr, contents: &[u8]) -> Push {
        let inner = &mut *self.inner;
        inner.stats.received += 1;
        let len = inner.queued.len();
        let fair = || inner.waiting.get(&source).copied().unwrap_or(0) < FAIR_SHARE;
        if len >= self.capacity + self.headroom || (len >= self.capacity && !fair()) {
            inner.stats.dropped += 1;
            return Push::Dropped;
        }
        *inner.waiting.entry(source).or_insert(0) += 1;
        let mut buf = inner.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(contents);
        let was_empty = inner.queued.is_empty();
        inner.queued.push_back(Queued {
            socket,
            source,
            contents: buf,
        });
        inner.stats.high_water = inner.stats.high_water.max(inner.queued.len());
        if was_empty { Push::Wake } else { Push::Queued }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    fn other(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 2], port))
    }

    #[test]
    fn a_full_inbox_drops_and_counts_instead_of_growing() {
        let inbox = DatagramInbox::new(4);
        assert_eq!(inbox.push(0, addr(), b"a"), Push::Wake);
        for _ in 0..3 {
            assert_eq!(inbox.push(0, addr(), b"b"), Push::Queued);
        }
        // Past the capacity, the headroom takes a source with fewer than FAIR_SHARE waiting.
        assert_eq!(inbox.push(0, addr(), b"c"), Push::Queued);
        for _ in 0..10 {
            assert_eq!(inbox.push(0, other(1), b"d"), Push::Dropped);
        }
        let s = inbox.stats();
        assert_eq!(
            (s.received, s.dropped, s.high_water, s.capacity, s.headroom),
            (15, 10, 5, 4, 1)
        );
        assert_eq!(inbox.len(), 5);
    }

    #[test]
    fn a_flooding_source_cannot_crowd_out_a_quiet_one() {
        let inbox = DatagramInbox::new(64);
        let (flood, peer) = (other(1), other(2));
        for _ in 0..1000 {
            inbox.push(0, flood, b"junk");
        }
        // The flood holds the whole capacity, and no more: the headroom stays for others.
        assert_eq!(inbox.len(), 64);
        for _ in 0..FAIR_SHARE {
            assert_ne!(inbox.push(0, peer, b"hello"), Push::Dropped);
        }
        // Its fair share is used up: more from it waits for the engine to catch up.
        assert_eq!(inbox.push(0, peer, b"more"), Push::Dropped);
        let mut batch = Vec::new();
        inbox.take(usize::MAX, &mut batch);
        let from_peer = batch.iter().filter(|q| q.source == peer).count();
        assert_eq!(from_peer, FAIR_SHARE as usize);
        // Taking them clears the per-source counts.
        assert!(inbox.lock().waiting.is_empty());
        inbox.recycle(&mut batch);
        assert_eq!(inbox.push(0, peer, b"again"), Push::Wake);
    }

    #[test]
    fn spoofed_sources_still_meet_the_hard_bound() {
        let inbox = DatagramInbox::new(8);
        for port in 0..1000 {
            inbox.push(0, other(port), b"x");
        }
        let s = inbox.stats();
        assert_eq!(inbox.len(), s.capacity + s.headroom);
        assert_eq!(s.dropped, 1000 - 10);
        assert!(inbox.lock().waiting.len() <= s.capacity + s.headroom);
    }

    #[test]
    fn datagrams_come_out_in_order_and_their_buffers_are_reused() {
        let inbox = DatagramInbox::new(8);
        for i in 0..5u8 {
            inbox.push(usize::from(i % 2), addr(), &[i; 3]);
        }
        let mut batch = Vec::new();
        inbox.take(3, &mut batch);
        let firsts: Vec<u8> = batch.iter().map(|q| q.contents[0]).collect();
        assert_eq!(firsts, [0, 1, 2]);
        assert_eq!(batch[1].socket, 1);
        let mut seen: Vec<*const u8> = batch.iter().map(|q| q.contents.as_ptr()).collect();
        inbox.recycle(&mut batch);
        assert!(batch.is_empty());
        inbox.take(8, &mut batch);
        assert_eq!(batch.len(), 2);
        seen.extend(batch.iter().map(|q| q.contents.as_ptr()));
        inbox.recycle(&mut batch);
        // The emptied inbox wakes the engine again on the next push, into a reused buffer.
        assert_eq!(inbox.push(0, addr(), b"xyz"), Push::Wake);
        inbox.take(1, &mut batch);
        assert_eq!(batch[0].contents, b"xyz");
        assert!(seen.contains(&batch[0].contents.as_ptr()));
    }

    #[test]
    fn jumbo_buffers_are_not_kept_in_the_pool() {
        let inbox = DatagramInbox::new(2);
        inbox.push(0, addr(), &[0; 60_000]);
        let mut batch = Vec::new();
        inbox.take(1, &mut batch);
        inbox.recycle(&mut batch);
        assert!(inbox.lock().free.is_empty());
    }
}
