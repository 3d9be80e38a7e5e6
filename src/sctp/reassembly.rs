//! Reassembly of fragmented messages and ordered delivery per stream (RFC 9260 §6.5, §6.6,
//! §6.9; RFC 8260 §2.1 for I-DATA; RFC 3758 §3.6 for skipping).
//!
//! DATA fragments of one message have consecutive TSNs. They are kept by TSN, and the runs of
//! consecutive fragments are tracked by their end points, so each arrival costs O(log n) and a
//! message completes when its run starts with a B fragment and ends with an E fragment.
//! I-DATA fragments are kept per message (stream, U bit, MID): those that arrive in FSN order
//! go straight onto the message's buffer, any past a hole wait by FSN until it fills. Complete ordered
//! messages wait per stream for their turn, keyed by their extended SSN or MID.
//!
//! Every byte held, plus a per-chunk overhead, is counted in [`Reassembly::bytes`], which the
//! association subtracts from its advertised receive window: a peer that floods us is
//! flow-controlled by our window rather than growing our memory.

use super::Message;
use super::chunk::{Data, SkippedStream};
use crate::wire::serial::{Serial16, Serial32};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};

/// Bookkeeping cost charged per held chunk or message, on top of its payload.
pub(crate) const OVERHEAD: usize = 64;
/// Extended sequence numbers start here so they never underflow.
const SEQ_BASE: u64 = 1 << 32;

#[derive(Debug)]
struct Frag {
    stream: u16,
    ssn: u16,
    ppid: u32,
    unordered: bool,
    begin: bool,
    end: bool,
    payload: Bytes,
}

/// A DATA message whose fragments have so far arrived in TSN order: they are appended to one
/// buffer as they come, so the message is copied once, from the packets, and never
/// concatenated. Anything out of order spills it back into `frags` (see `spill`).
#[derive(Debug)]
struct Open {
    /// The TSN of its first fragment.
    start: u64,
    /// The TSN that continues it.
    next: u64,
    stream: u16,
    ssn: u16,
    ppid: u32,
    unordered: bool,
    data: BytesMut,
    /// Fragments appended, for the accounting (each costs `OVERHEAD` like a held fragment).
    count: usize,
}

/// An I-DATA message being reassembled (RFC 8260 §2.1). Its fragments from FSN 0 up to `next`
/// arrived in order and were appended to `data` as they came, so the message is copied once;
/// fragments beyond a hole wait in `frags` and are appended when it fills.
#[derive(Debug, Default)]
struct Partial {
    data: BytesMut,
    next: u32,
    frags: BTreeMap<u32, Bytes>,
    ppid: u32,
    last_fsn: Option<u32>,
    bytes: usize,
}

#[derive(Debug)]
struct InStream {
    /// Extended SSN (DATA) or MID (I-DATA) of the next ordered message to deliver.
    next: u64,
    pending: BTreeMap<u64, (u32, Bytes)>,
}

impl Default for InStream {
    fn default() -> Self {
        Self {
            next: SEQ_BASE,
            pending: BTreeMap::new(),
        }
    }
}

/// Reassembly and ordering for one association.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    frags: BTreeMap<u64, Frag>,
    runs: BTreeMap<u64, u64>,
    /// The message being received in order, if any (DATA only).
    open: Option<Open>,
    /// The size of the last message delivered through `open`: the next one is likely the same
    /// (a bulk transfer sends one size), so its buffer starts that big and never grows.
    size_hint: usize,
    partials: BTreeMap<(u16, bool, u32), Partial>,
    streams: BTreeMap<u16, InStream>,
    bytes: usize,
    interleaved: bool,
}

fn cost(len: usize) -> usize {
    len + OVERHEAD
}

/// `payload` as a [`Bytes`]: a slice of `owner` (no copy) when `owner` holds it and it fills
/// at least half of `owner`, else a copy. A slice keeps all of `owner` alive while only the
/// payload is charged to the window, so a peer sending tiny chunks must not pin whole
/// datagrams: past half, what is held stays within twice what is counted.
fn keep(owner: Option<&Bytes>, payload: &[u8]) -> Bytes {
    if let Some(o) = owner {
        let (start, end) = (o.as_ptr() as usize, o.as_ptr() as usize + o.len());
        let at = payload.as_ptr() as usize;
        if at >= start && at + payload.len() <= end && 2 * payload.len() >= o.len() {
            return o.slice_ref(payload);
        }
    }
    Bytes::copy_from_slice(payload)
}

impl Reassembly {
    pub(crate) fn new(interleaved: bool) -> Self {
        Self {
            interleaved,
            ..Self::default()
        }
    }

    /// Bytes held (payload plus overhead) in fragments and waiting messages.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Streams with ordered state (for memory accounting in tests).
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Takes one new chunk (its TSN already recorded as new) and delivers whatever completes.
    /// A fragment that continues a message being received in order (DATA by TSN, I-DATA by
    /// FSN) is copied straight onto it; a whole message, or a fragment held out of order, is
    /// kept as a slice of `owner`, the buffer holding the packet, when there is one (see
    /// [`keep`]), else copied into a buffer of its own. So each payload byte is copied at most
    /// once here, and a message that arrived in one chunk not at all.
    pub(crate) fn insert(
        &mut self,
        tsn: u64,
        d: &Data<'_>,
        owner: Option<&Bytes>,
        out: &mut VecDeque<Message>,
    ) {
        if d.begin && d.end {
            let payload = keep(owner, d.payload);
            self.complete(d.stream, d.unordered, d.ssn_or_mid, d.ppid, payload, out);
        } else if self.interleaved {
            self.insert_fsn(d, owner, out);
        } else if !self.stream_in_order(tsn, d, out) {
            self.insert_tsn(tsn, d, keep(owner, d.payload), out);
        }
    }

    /// The in-order case of DATA fragments (RFC 9260 §6.9: a message's fragments carry
    /// consecutive TSNs): a first fragment opens a buffer, the next TSN of the same message
    /// goes onto it, the last one delivers it. Returns `false`, having spilled the open message
    /// if it no longer fits, for anything else, which `insert_tsn` then takes.
    fn stream_in_order(&mut self, tsn: u64, d: &Data<'_>, out: &mut VecDeque<Message>) -> bool {
        let continues = self.open.as_ref().is_some_and(|o| {
            o.next == tsn
                && !d.begin
                && o.stream == d.stream
                && o.unordered == d.unordered
                && (o.unordered || o.ssn == d.ssn_or_mid as u16)
        });
        if continues {
            self.bytes += cost(d.payload.len());
            let Some(o) = self.open.as_mut() else {
                return false;
            };
            o.data.extend_from_slice(d.payload);
            o.count += 1;
            o.next += 1;
            if d.end {
                let Some(o) = self.open.take() else {
                    return false;
                };
                self.bytes -= o.data.len() + o.count * OVERHEAD;
                self.size_hint = o.data.len();
                // A small message after a large one would keep the large buffer alive in the
                // application's hands: past twice its size, it gets a buffer of its own.
                let data = if o.data.capacity() > 2 * o.data.len() + 4096 {
                    Bytes::copy_from_slice(&o.data)
                } else {
                    o.data.freeze()
                };
                self.complete(o.stream, o.unordered, u32::from(o.ssn), o.ppid, data, out);
            }
            return true;
        }
        self.spill();
        // A first fragment opens a new buffer when no other fragment is held (so that, while
        // it is open, every fragment held is in it and `spill` needs no merging). It is sized
        // like the last message, or for a few fragments, and grows by doubling beyond that.
        if !d.begin || !self.frags.is_empty() {
            return false;
        }
        let mut data = BytesMut::with_capacity(self.size_hint.max(d.payload.len() * 4));
        data.extend_from_slice(d.payload);
        self.bytes += cost(d.payload.len());
        self.open = Some(Open {
            start: tsn,
            next: tsn + 1,
            stream: d.stream,
            ssn: d.ssn_or_mid as u16,
            ppid: d.ppid,
            unordered: d.unordered,
            data,
            count: 1,
        });
        true
    }

    /// Puts the open message back among the fragments, as a run from its first TSN: its bytes
    /// as the first fragment, empty ones for the TSNs appended since, so `insert_tsn` and
    /// `forward` see what they would have seen without it. The accounting is unchanged.
    fn spill(&mut self) {
        let Some(Open {
            start,
            next,
            stream,
            ssn,
            ppid,
            unordered,
            data,
            ..
        }) = self.open.take()
        else {
            return;
        };
        let last = next - 1;
        let frag = |payload: Bytes, begin: bool| Frag {
            stream,
            ssn,
            ppid,
            unordered,
            begin,
            end: false,
            payload,
        };
        for t in start + 1..=last {
            self.frags.insert(t, frag(Bytes::new(), false));
        }
        self.frags.insert(start, frag(data.freeze(), true));
        self.runs.insert(start, last);
    }

    fn insert_tsn(&mut self, tsn: u64, d: &Data<'_>, payload: Bytes, out: &mut VecDeque<Message>) {
        if self.frags.contains_key(&tsn) {
            return;
        }
        self.bytes += cost(payload.len());
        let f = Frag {
            stream: d.stream,
            ssn: d.ssn_or_mid as u16,
            ppid: d.ppid,
            unordered: d.unordered,
            begin: d.begin,
            end: d.end,
            payload,
        };
        let same_msg = |a: &Frag, b: &Frag| {
            a.stream == b.stream && a.unordered == b.unordered && (a.unordered || a.ssn == b.ssn)
        };
        let mut start = tsn;
        let mut end = tsn;
        if !f.begin
            && let Some((&s, &e)) = self.runs.range(..tsn).next_back()
            && e + 1 == tsn
            && self
                .frags
                .get(&e)
                .is_some_and(|p| !p.end && same_msg(p, &f))
        {
            start = s;
        }
        if !f.end
            && let Some(&e) = self.runs.get(&(tsn + 1))
            && self
                .frags
                .get(&(tsn + 1))
                .is_some_and(|n| !n.begin && same_msg(n, &f))
        {
            self.runs.remove(&(tsn + 1));
            end = e;
        }
        self.frags.insert(tsn, f);
        let complete = self.frags[&start].begin && self.frags[&end].end;
        if !complete {
            self.runs.insert(start, end);
            return;
        }
        if start != tsn {
            self.runs.remove(&start);
        }
        let mut total = 0;
        let mut taken = Vec::with_capacity((end - start + 1) as usize);
        for t in start..=end {
            if let Some(f) = self.frags.remove(&t) {
                self.bytes -= cost(f.payload.len());
                total += f.payload.len();
                taken.push(f);
            }
        }
        let first = &taken[0];
        let (stream, unordered, ssn, ppid) = (first.stream, first.unordered, first.ssn, first.ppid);
        let mut data = BytesMut::with_capacity(total);
        for f in &taken {
            data.extend_from_slice(&f.payload);
        }
        self.complete(stream, unordered, u32::from(ssn), ppid, data.freeze(), out);
    }

    fn insert_fsn(&mut self, d: &Data<'_>, owner: Option<&Bytes>, out: &mut VecDeque<Message>) {
        let key = (d.stream, d.unordered, d.ssn_or_mid);
        // Only a message reassembled alone gets a buffer sized ahead: many partial messages
        // of one fragment each must not hold more memory than the window charges them for.
        let alone = self.partials.len() <= 1 && self.partials.keys().all(|k| *k == key);
        let hint = if alone { self.size_hint } else { 0 };
        let p = self.partials.entry(key).or_default();
        if d.fsn < p.next || p.frags.contains_key(&d.fsn) {
            return;
        }
        let c = cost(d.payload.len());
        p.bytes += c;
        self.bytes += c;
        if d.fsn == p.next {
            if p.data.capacity() == 0 {
                // Sized like the last message (a bulk transfer sends one size), so the buffer
                // never grows and, being exactly full, freezes without another allocation;
                // otherwise for a few fragments, doubling beyond.
                p.data = BytesMut::with_capacity(hint.max(d.payload.len() * 4));
            }
            p.data.extend_from_slice(d.payload);
            p.next += 1;
            while let Some(f) = p.frags.remove(&p.next) {
                p.data.extend_from_slice(&f);
                p.next += 1;
            }
        } else {
            p.frags.insert(d.fsn, keep(owner, d.payload));
        }
        if d.begin {
            p.ppid = d.ppid;
        }
        if d.end {
            p.last_fsn = Some(d.fsn);
        }
        if p.last_fsn
            .is_none_or(|last| u64::from(p.next) != u64::from(last) + 1)
        {
            return;
        }
        let Some(p) = self.partials.remove(&key) else {
            return;
        };
        self.bytes -= p.bytes;
        self.size_hint = p.data.len();
        // As for DATA: a small message must not keep a large buffer alive.
        let data = if p.data.capacity() > 2 * p.data.len() + 4096 {
            Bytes::copy_from_slice(&p.data)
        } else {
            p.data.freeze()
        };
        self.complete(d.stream, d.unordered, d.ssn_or_mid, p.ppid, data, out);
    }

    fn extend(&self, next: u64, seq: u32) -> u64 {
        let d = if self.interleaved {
            Serial32(seq).distance(Serial32(next as u32))
        } else {
            Serial16(seq as u16).distance(Serial16(next as u16))
        };
        next.saturating_add_signed(d)
    }

    /// A whole message: unordered ones go out at once, ordered ones wait for their turn.
    fn complete(
        &mut self,
        stream: u16,
        unordered: bool,
        seq: u32,
        ppid: u32,
        data: Bytes,
        out: &mut VecDeque<Message>,
    ) {
        if unordered {
            out.push_back(Message {
                stream,
                ppid,
                unordered,
                data,
            });
            return;
        }
        let next = self.streams.get(&stream).map_or(SEQ_BASE, |s| s.next);
        let ext = self.extend(next, seq);
        if ext < next {
            return; // an old message delivered or skipped already
        }
        let s = self.streams.entry(stream).or_default();
        if ext == s.next {
            s.next += 1;
            out.push_back(Message {
                stream,
                ppid,
                unordered,
                data,
            });
            self.drain(stream, out);
        } else if let std::collections::btree_map::Entry::Vacant(v) = s.pending.entry(ext) {
            self.bytes += cost(data.len());
            v.insert((ppid, data));
        }
    }

    /// Delivers the waiting messages of `stream` that are now in order.
    fn drain(&mut self, stream: u16, out: &mut VecDeque<Message>) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        while let Some(e) = s.pending.first_entry() {
            if *e.key() != s.next {
                break;
            }
            let (ppid, data) = e.remove();
            self.bytes -= cost(data.len());
            s.next += 1;
            out.push_back(Message {
                stream,
                ppid,
                unordered: false,
                data,
            });
        }
    }

    /// FORWARD-TSN or I-FORWARD-TSN: drop what was abandoned up to `new_cum` and skip the
    /// named ordered messages, delivering what that unblocks.
    pub(crate) fn forward(
        &mut self,
        new_cum: u64,
        skipped: &[SkippedStream],
        out: &mut VecDeque<Message>,
    ) {
        self.spill();
        let kept = self.frags.split_off(&(new_cum + 1));
        for f in std::mem::replace(&mut self.frags, kept).into_values() {
            self.bytes -= cost(f.payload.len());
        }
        let kept_runs = self.runs.split_off(&(new_cum + 1));
        for (_, end) in std::mem::replace(&mut self.runs, kept_runs) {
            if end > new_cum {
                // A run straddling the new cumulative TSN keeps its upper part.
                self.runs.insert(new_cum + 1, end);
            }
        }
        for s in skipped {
            if self.interleaved {
                self.drop_partials(s.stream, s.unordered, s.ssn_or_mid);
            }
            if !s.unordered {
                self.skip_ordered(s.stream, s.ssn_or_mid, out);
            }
        }
    }

    fn drop_partials(&mut self, stream: u16, unordered: bool, mid: u32) {
        let doomed: Vec<_> = self
            .partials
            .range((stream, unordered, 0)..=(stream, unordered, u32::MAX))
            .map(|(&k, _)| k)
            // RFC 8260 §2.3.1: the entry names the largest MID skipped, ordered or not.
            .filter(|&(_, _, m)| m == mid || Serial32(m).is_before(Serial32(mid)))
            .collect();
        for k in doomed {
            if let Some(p) = self.partials.remove(&k) {
                self.bytes -= p.bytes;
            }
        }
    }

    fn skip_ordered(&mut self, stream: u16, seq: u32, out: &mut VecDeque<Message>) {
        let next = self.streams.get(&stream).map_or(SEQ_BASE, |s| s.next);
        let ext = self.extend(next, seq);
        if ext < next {
            return;
        }
        let s = self.streams.entry(stream).or_default();
        // Complete messages up to the skipped one were only waiting for abandoned ones.
        let later = s.pending.split_off(&(ext + 1));
        let earlier = std::mem::replace(&mut s.pending, later);
        s.next = ext + 1;
        for (_, (ppid, data)) in earlier {
            self.bytes -= cost(data.len());
            out.push_back(Message {
                stream,
                ppid,
                unordered: false,
                data,
            });
        }
        self.drain(stream, out);
    }

    /// RFC 6525 §5.2.2: the peer reset these outgoing streams of its own (an empty list means
    /// all); their sequence numbers start again at 0 and whatever was held for them is gone.
    pub(crate) fn reset_streams(&mut self, streams: &[u16]) {
        let all: Vec<u16>;
        let streams = if streams.is_empty() {
            let mut ids: Vec<u16> = self.streams.keys().copied().collect();
            ids.extend(self.partials.keys().map(|k| k.0));
            ids.dedup();
            all = ids;
            &all[..]
        } else {
            streams
        };
        for &id in streams {
            if let Some(s) = self.streams.remove(&id) {
                for (_, data) in s.pending.values() {
                    self.bytes -= cost(data.len());
                }
            }
            for u in [false, true] {
                let keys: Vec<_> = self
                    .partials
                    .range((id, u, 0)..=(id, u, u32::MAX))
                    .map(|(&k, _)| k)
                    .collect();
                for k in keys {
                    if let Some(p) = self.partials.remove(&k) {
                        self.bytes -= p.bytes;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "reassembly_tests.rs"]
mod tests;
