//! Where received application data is decrypted: a pooled vector per record for
//! [`Event::Data`](super::Event::Data), or, once the owner asked for shared memory
//! ([`Endpoint::share_received_data`](super::Endpoint::share_received_data)), an arena of a
//! dozen records that records are split off as [`Bytes`](bytes::Bytes), so the layer above can keep slices
//! of a record (a data-channel message) without a copy or an allocation of its own.
//!
//! An arena comes back whole once nothing holds a record of it any more, so the steady state
//! allocates nothing. A slice held by the application keeps its whole arena alive; the
//! arenas given out and still held are capped at [`MAX_HELD`], beyond which records get a
//! buffer of their own size (as before: held memory then stays within what the layer above
//! counts for them).

use std::collections::VecDeque;
use std::ops::Deref;

use bytes::{Bytes, BytesMut};

/// Bytes of one arena: a dozen records of a 1200-byte path, or one of the largest.
const ARENA: usize = 16 * 1024 + 512;

/// Arenas given out whose records may still be held: the most memory slices can pin beyond
/// their own size is this many arenas (about half a MiB).
const MAX_HELD: usize = 32;

/// A buffer an AEAD writes a record's plaintext into.
pub(crate) trait Plaintext {
    /// The buffer, `len` bytes long (their contents unspecified until written).
    fn sized(&mut self, len: usize) -> &mut [u8];
}

impl Plaintext for Vec<u8> {
    fn sized(&mut self, len: usize) -> &mut [u8] {
        // A recycled vector of the same length is not zeroed again.
        self.resize(len, 0);
        self
    }
}

impl Plaintext for BytesMut {
    fn sized(&mut self, len: usize) -> &mut [u8] {
        self.resize(len, 0);
        self
    }
}

/// The buffer one record is opened into.
#[derive(Debug)]
pub(crate) enum RecordBuf {
    /// A vector of its own, handed out as [`Event::Data`](super::Event::Data).
    Pooled(Vec<u8>),
    /// The front of the current arena, split off as [`Bytes`](bytes::Bytes).
    Shared(BytesMut),
}

impl RecordBuf {
    /// Keeps the first `len` bytes (the content of a DTLS 1.3 record, without its type).
    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            Self::Pooled(v) => v.truncate(len),
            Self::Shared(b) => b.truncate(len),
        }
    }
}

impl Plaintext for RecordBuf {
    fn sized(&mut self, len: usize) -> &mut [u8] {
        match self {
            Self::Pooled(v) => v.sized(len),
            Self::Shared(b) => b.sized(len),
        }
    }
}

impl Deref for RecordBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Pooled(v) => v,
            Self::Shared(b) => b,
        }
    }
}

/// Received application data handed out as shared memory: the arenas, and the records not
/// yet taken. Boxed apart from the endpoint, and dropped when idle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) arena: Arena,
    pub(crate) received: VecDeque<Bytes>,
}

impl Shared {
    /// Lets go of what is free; `true` when nothing is left to keep (no arena is held, no
    /// record waits), so the whole can go.
    pub(crate) fn release(&mut self) -> bool {
        self.arena.release();
        self.received.is_empty() && self.arena.held.is_empty()
    }
}

/// The arenas of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    /// What is left of the current arena: empty (its length 0) between records.
    buf: BytesMut,
    /// `buf` is an arena (counted in `held` once replaced), not a buffer of one record's size.
    counted: bool,
    /// Arenas replaced since records were split off them, which may still be held. Their
    /// handles (the empty tails) tell when they are free again.
    held: Vec<BytesMut>,
}

impl Arena {
    /// The current buffer, empty, with room for `len` bytes, taken out until
    /// [`put`](Self::put) gives it back.
    pub(crate) fn take(&mut self, len: usize) -> BytesMut {
        self.buf.clear();
        // `try_reclaim` takes the whole arena back when nothing holds a record of it.
        if self.buf.capacity() < len && !self.buf.try_reclaim(len) {
            self.retire();
            if len <= ARENA {
                // An arena whose records were all dropped is whole again; asking for all
                // of it succeeds only then (its tail alone is always smaller).
                if let Some(i) = self.held.iter_mut().position(|b| b.try_reclaim(ARENA)) {
                    self.buf = self.held.swap_remove(i);
                    self.counted = true;
                } else if self.held.len() < MAX_HELD {
                    self.buf = BytesMut::with_capacity(ARENA);
                    self.counted = true;
                }
            }
            if !self.counted {
                self.buf = BytesMut::with_capacity(len);
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Gives back what [`take`](Self::take) lent, once the record was split off its front.
    pub(crate) fn put(&mut self, mut buf: BytesMut) {
        buf.clear();
        self.buf = buf;
    }

    /// Lets go of every arena nothing holds any more (an idle endpoint keeps none).
    pub(crate) fn release(&mut self) {
        self.retire();
        self.held.retain_mut(|b| !b.try_reclaim(ARENA));
        if self.held.is_empty() {
            self.held = Vec::new();
        }
    }

    /// Replaces the current arena with nothing, counting it among the held ones.
    fn retire(&mut self) {
        let old = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.counted) {
            self.held.push(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::{Config, Endpoint, HashAlgorithm, Identity, Role, VersionPolicy};
    use crate::{Datagram, Protocol};
    use std::net::SocketAddr;
    use std::time::Instant;

    /// Splits a record of `len` bytes off the arena, as the receive path does.
    fn record(arena: &mut Arena, len: usize) -> Bytes {
        let mut buf = arena.take(len);
        buf.sized(len).fill(7);
        let rec = buf.split().freeze();
        arena.put(buf);
        rec
    }

    #[test]
    fn records_share_an_arena_that_comes_back_once_dropped() {
        let mut arena = Arena::default();
        let first: Vec<Bytes> = (0..14).map(|_| record(&mut arena, 1200)).collect();
        let base = first[0].as_ptr();
        assert!(
            first
                .windows(2)
                .all(|w| w[1].as_ptr() == w[0].as_ptr().wrapping_add(1200))
        );
        drop(first);
        // The arena is full: the next record takes it again from its start.
        let again = record(&mut arena, 1200);
        assert_eq!(again.as_ptr(), base);
        // A record still held keeps its arena counted; a free one comes back whole.
        let rest: Vec<Bytes> = (0..14).map(|_| record(&mut arena, 1200)).collect();
        assert_eq!(arena.held.len(), 1);
        drop(rest);
        let whole = record(&mut arena, ARENA);
        assert_eq!(arena.held.len(), 1, "the second arena was taken back whole");
        drop((again, whole));
        arena.release();
        assert!(arena.held.is_empty());
        assert_eq!(arena.buf.capacity(), 0);
    }

    #[test]
    fn held_arenas_are_capped() {
        let mut arena = Arena::default();
        // One record of each arena held: every arena stays alive.
        let kept: Vec<Bytes> = (0..(MAX_HELD + 4) * 14)
            .map(|_| record(&mut arena, 1200))
            .step_by(14)
            .collect();
        assert!(arena.held.len() <= MAX_HELD);
        // Beyond the cap, a record is a buffer of its own size.
        let own = record(&mut arena, 1200);
        assert!(!arena.counted);
        drop((kept, own));
        arena.release();
        assert!(arena.held.is_empty());
        assert_eq!(arena.buf.capacity(), 0);
    }

    /// A client and a server speaking `versions`, connected; the server shares its records.
    fn connected(versions: VersionPolicy) -> (Endpoint, Endpoint, Instant) {
        let now = crate::test_clock::t0();
        let (ca, sa): (SocketAddr, SocketAddr) = (
            "192.0.2.1:4444".parse().unwrap(),
            "192.0.2.2:5555".parse().unwrap(),
        );
        let (cid, sid) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let endpoint = |role, local, remote, me: &Identity, peer: &Identity| {
            let config = Config {
                role,
                local_addr: Some(local),
                remote_addr: remote,
                remote_fingerprints: vec![peer.fingerprint(HashAlgorithm::Sha256)],
                versions,
                seed: Some(3),
                ..Config::default()
            };
            Endpoint::new(config, me.clone(), now).unwrap()
        };
        let mut client = endpoint(Role::Client, ca, Some(sa), &cid, &sid);
        let mut server = endpoint(Role::Server, sa, None, &sid, &cid);
        server.share_received_data();
        for _ in 0..10 {
            carry(&mut client, &mut server, now);
            carry(&mut server, &mut client, now);
        }
        assert!(client.is_connected() && server.is_connected());
        while server.poll_event().is_some() {}
        (client, server, now)
    }

    /// Every datagram `from` has, into `to`; returns them.
    fn carry(from: &mut Endpoint, to: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 1500];
        let mut sent = Vec::new();
        while let Some(t) = from.poll_transmit(now, &mut buf) {
            sent.push(buf[..t.len].to_vec());
            let d = Datagram {
                source: t.source,
                destination: t.destination,
                contents: &buf[..t.len],
            };
            to.handle_datagram(now, d);
        }
        sent
    }

    #[test]
    fn shared_records_hold_their_bytes_past_forgeries_and_reuse() {
        for versions in [VersionPolicy::Dtls12, VersionPolicy::Dtls13OrDtls12] {
            let (mut client, mut server, now) = connected(versions);
            client.send(&[1; 1000]).unwrap();
            carry(&mut client, &mut server, now);
            let held = server.poll_data().unwrap();
            // A forged copy of the next record opens into the arena and fails: nothing comes
            // out, and the genuine record after it is whole.
            client.send(&[2; 1000]).unwrap();
            let mut buf = [0u8; 1500];
            let t = client.poll_transmit(now, &mut buf).unwrap();
            let mut forged = buf[..t.len].to_vec();
            *forged.last_mut().unwrap() ^= 1;
            let dropped = server.stats().records_dropped;
            for contents in [&forged[..], &buf[..t.len]] {
                let d = Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents,
                };
                server.handle_datagram(now, d);
            }
            assert_eq!(server.stats().records_dropped, dropped + 1);
            assert_eq!(server.poll_data().unwrap(), vec![2; 1000]);
            assert_eq!(server.poll_data(), None);
            // Enough records to go round the arenas several times, each dropped once read.
            for i in 0..100u8 {
                client.send(&[i; 999]).unwrap();
                carry(&mut client, &mut server, now);
                assert_eq!(server.poll_data().unwrap(), vec![i; 999], "{versions:?}");
            }
            assert!(held.iter().all(|&b| b == 1));
            // No `Event::Data` while records are shared.
            assert_eq!(server.poll_event(), None);
        }
    }

    #[test]
    fn data_sealed_in_the_datagram_arrives_and_a_short_buffer_gets_a_shorter_record() {
        for versions in [VersionPolicy::Dtls12, VersionPolicy::Dtls13OrDtls12] {
            let (mut client, mut server, now) = connected(versions);
            let mut buf = [0u8; 1500];
            let fill = |plain: &mut [u8]| {
                let n = plain.len().min(700);
                plain[..n].fill(9);
                Some(n)
            };
            let mut carry = |client: &mut Endpoint, buf: &mut [u8]| {
                let n = client.seal_with(buf, fill).unwrap().unwrap();
                assert!(n <= buf.len());
                let d = Datagram {
                    source: "192.0.2.1:4444".parse().unwrap(),
                    destination: "192.0.2.2:5555".parse().unwrap(),
                    contents: &buf[..n],
                };
                server.handle_datagram(now, d);
                server.poll_data().unwrap()
            };
            assert_eq!(carry(&mut client, &mut buf), vec![9; 700]);
            // A datagram buffer too small for a record of 700 bytes: `fill` is given what fits.
            let short = carry(&mut client, &mut buf[..600]);
            assert!(
                short.len() < 600 && short.iter().all(|&b| b == 9),
                "{versions:?}"
            );
            // Nothing to send: nothing sealed.
            assert!(client.seal_with(&mut buf, |_| None).is_none());
            // Not even room for one byte: an error, counted, no panic, `fill` not called.
            let dropped = client.stats().transmit_dropped;
            let refused = client.seal_with(&mut buf[..20], |_| unreachable!());
            assert!(refused.unwrap().is_err());
            assert_eq!(client.stats().transmit_dropped, dropped + 1);
        }
    }

    #[test]
    fn a_record_larger_than_an_arena_gets_its_own_buffer() {
        let mut arena = Arena::default();
        let big = record(&mut arena, ARENA + 1);
        assert_eq!(big.len(), ARENA + 1);
        assert!(!arena.counted && arena.held.is_empty());
    }
}
