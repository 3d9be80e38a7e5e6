//! [`Router`]: many [`PeerConnection`]s behind one socket, each datagram routed in O(1).
//!
//! A server that holds thousands of peers on one UDP port gives every server-side
//! `PeerConnection` the same local address and puts them all in one `Router`. The router is a
//! [`Protocol`] itself (`Event = (PeerId, PeerEvent)`), so one driver (`kaon_std::Driver`,
//! `kaon_tokio::Driver`, the simulator, an application's own loop) serves every peer.
//!
//! # Routing
//!
//! - A STUN Binding request carries `USERNAME = <receiver's ufrag>:<sender's ufrag>`
//!   (RFC 8445 §7.2.2), so the part before the colon names one of our peers by its local ICE
//!   ufrag. A request whose ufrag no peer owns is dropped and counted; its integrity is the
//!   chosen peer's business (its agent checks `MESSAGE-INTEGRITY`).
//! - A STUN response (success or error) goes to the peer that sent the request with its
//!   transaction ID (RFC 8489 §5), remembered for the last [`MAX_TRANSACTIONS_PER_PEER`]
//!   requests of each peer; an answer to a forgotten request goes by address.
//! - Everything else (STUN indications, DTLS, SRTP, junk: RFC 7983 puts them on the same
//!   5-tuple) goes by (remote address, local address).
//! - That table is filled only from what each peer *sends*: when peer P transmits from L to R,
//!   (R, L) routes to P. ICE only sends to candidates it was told or has validated, so a
//!   spoofed datagram cannot make a route; it can at most reach the peer that already owns its
//!   addresses, which drops it like any forged input.
//! - A route, once owned, changes hands only to a peer whose ICE has *selected* that pair,
//!   that is, whose checks the remote side answered with the right credentials. A peer told a
//!   candidate that points at someone else's address (a hostile or confused signalling party)
//!   can send checks there but cannot take the route, neither from a working connection nor
//!   from one still setting up; since responses follow their transactions, it does not need the
//!   route to run its checks. A new session from an address an old peer still owns takes the
//!   route as soon as its ICE selects the pair.
//! - Each peer owns at most [`MAX_ROUTES_PER_PEER`] entries (the least recently used one goes
//!   first), so the table is bounded by the peers the application inserted, whatever arrives.
//!   [`Router::remove`] deletes the peer's ufrag and routes through a per-peer reverse index.
//!
//! Two sessions on one 5-tuple cannot be told apart (DTLS carries no session id here), so a client
//! must use a port of its own per PeerConnection, as browsers do. Insert a peer before its offer or
//! answer leaves: the remote side's checks may arrive before its own description comes back, and
//! they find the peer by ufrag. Server-side peers share the socket, so they should gather host
//! candidates only: STUN or TURN servers reached by several peers from the same socket would be one
//! 5-tuple claimed by all of them.
//!
//! # Cost
//!
//! A datagram costs one hash lookup (ufrag or 5-tuple) plus the peer's own work, and the routed
//! path allocates nothing once the tables have grown. The tables use the standard library's keyed
//! hash: keys come from remote addresses and ufrags, which an attacker chooses. Idle polls do not
//! scan peers: each peer's deadline sits in a min-heap that is updated only after the router
//! touched that peer (a datagram, a timeout, a poll, [`Router::get_mut`]); `poll_timeout` reads the
//! heap's top, `handle_timeout` pops only due peers, and `poll_transmit` / `poll_event` drain
//! queues of peers touched since their last drain. The guard [`Router::get_mut`] returns re-reads
//! the peer's deadline when it is dropped, and marks it for `poll_transmit` and `poll_event`.
//!
//! # Example
//!
//! Two browsers (here two client `PeerConnection`s) reach two server peers behind one address.
//!
//! ```
//! use kaon::datachannel::ChannelConfig;
//! use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, Router, SdpType};
//! use kaon::{Datagram, Protocol};
//! use std::time::{Duration, Instant};
//!
//! let mut now = Instant::now();
//! let server = "192.0.2.1:3478".parse()?;
//! let mut router = Router::new();
//! let mut clients = Vec::new(); // (address, server-side peer, client)
//! for (i, addr) in ["198.51.100.1:5000", "198.51.100.2:5000"].into_iter().enumerate() {
//!     let addr: std::net::SocketAddr = addr.parse()?;
//!     let mut client = PeerConnection::new(PeerConfig::with_seed(10 + i as u64))?;
//!     client.add_local_address(addr)?;
//!     client.create_data_channel(now, "chat", ChannelConfig::default())?;
//!     let offer = client.create_offer(now)?;
//!     client.set_local_description(SdpType::Offer, offer.clone())?;
//!     let mut peer = PeerConnection::new(PeerConfig::with_seed(20 + i as u64))?;
//!     peer.add_local_address(server)?; // every server-side peer has the same address
//!     peer.set_remote_description(SdpType::Offer, offer)?;
//!     let answer = peer.create_answer(now)?;
//!     peer.set_local_description(SdpType::Answer, answer.clone())?;
//!     client.set_remote_description(SdpType::Answer, answer)?;
//!     clients.push((addr, router.insert(peer)?, client));
//! }
//!
//! // A perfect network, 5 ms a step: one socket for the router, one per client.
//! let mut buf = [0u8; 2048];
//! let mut open = Vec::new();
//! for _ in 0..1000 {
//!     while let Some(t) = router.poll_transmit(now, &mut buf) {
//!         let (source, destination) = (t.source, t.destination);
//!         if let Some((.., c)) = clients.iter_mut().find(|(a, ..)| *a == destination) {
//!             c.handle_datagram(now, Datagram { source, destination, contents: &buf[..t.len] });
//!         }
//!     }
//!     for (.., c) in &mut clients {
//!         while let Some(t) = c.poll_transmit(now, &mut buf) {
//!             let (source, destination, contents) = (t.source, t.destination, &buf[..t.len]);
//!             router.handle_datagram(now, Datagram { source, destination, contents });
//!         }
//!         while c.poll_event().is_some() {}
//!     }
//!     while let Some((id, event)) = router.poll_event() {
//!         if let PeerEvent::DataChannelOpen { .. } = event {
//!             open.push(id);
//!         }
//!     }
//!     if open.len() == 2 {
//!         break;
//!     }
//!     now += Duration::from_millis(5);
//!     router.handle_timeout(now);
//!     for (.., c) in &mut clients {
//!         c.handle_timeout(now);
//!     }
//! }
//! open.sort();
//! assert_eq!(open, vec![clients[0].1, clients[1].1]);
//! assert_eq!(router.stats().dropped_no_route + router.stats().dropped_unknown_ufrag, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! RFCs: 8445 §7.2.2 (USERNAME of a connectivity check), 7983 (demultiplexing on one 5-tuple),
//! 8489 (STUN message format).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use smallvec::SmallVec;

use super::{InPlaceRtp, PeerConnection, PeerEvent};
use crate::{Datagram, Protocol, Transmit};

mod guard;
mod routes;
mod transaction;
mod username;

pub use guard::PeerMut;
pub use transaction::MAX_TRANSACTIONS_PER_PEER;
use transaction::{TransactionId, request_id, response_id};
use username::request_ufrag;

/// The most (remote, local) routes one peer owns; sending on another evicts its least recently
/// used one. A peer checks a handful of pairs and then uses one; the bound keeps the table at
/// most this many entries per inserted peer.
pub const MAX_ROUTES_PER_PEER: usize = 8;

/// A peer held by a [`Router`]: small, copyable, and never reused for another peer (a slot's
/// generation changes when its peer is removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    index: u32,
    generation: u32,
}

impl PeerId {
    /// The peer's slot: dense (`0..` the most peers held at once) and reused after removal,
    /// so applications can index their own per-peer tables with it.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer {}.{}", self.index, self.generation)
    }
}

/// What the router did with the datagrams it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// STUN Binding requests routed by the ufrag in their USERNAME.
    pub routed_by_ufrag: u64,
    /// Datagrams routed by (remote address, local address).
    pub routed_by_address: u64,
    /// STUN responses routed by the transaction ID of the request they answer.
    pub routed_by_transaction: u64,
    /// STUN Binding requests whose USERNAME names no peer: dropped.
    pub dropped_unknown_ufrag: u64,
    /// Other datagrams from a (remote, local) pair no peer has sent on: dropped.
    pub dropped_no_route: u64,
    /// Transmits that did not take a route from its owner because the sender's ICE has not
    /// selected that pair.
    pub route_conflicts: u64,
    /// Routes a peer lost to its [`MAX_ROUTES_PER_PEER`] bound.
    pub routes_evicted: u64,
    /// Calls the router made into its peers (`handle_*`, `poll_*`): with nothing to do, polls
    /// leave it unchanged however many peers there are.
    pub peer_calls: u64,
}

/// Why [`Router::insert`] refused a peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// Another peer already has this local ICE ufrag, so checks could not tell them apart.
    /// The refused connection comes back.
    #[error("ICE ufrag already used by {owner}")]
    UfragInUse {
        /// The peer that has it.
        owner: PeerId,
        /// The connection that was not inserted.
        peer: Box<PeerConnection>,
    },
}

type Route = (SocketAddr, SocketAddr);

#[derive(Debug)]
struct Entry {
    pc: PeerConnection,
    ufrag: Box<[u8]>,
    /// Reverse index of `Router::by_addr`, least recently used first.
    routes: SmallVec<[Route; 2]>,
    /// Reverse index of `Router::by_transaction`, oldest first.
    transactions: SmallVec<[TransactionId; 2]>,
    /// The deadline the heap knows about; `None` while the peer has no timer or is being
    /// handled by `handle_timeout`.
    deadline: Option<Instant>,
    tx_queued: bool,
    ev_queued: bool,
    dirty: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// Many [`PeerConnection`]s on one socket: see the [module documentation](self).
#[derive(Debug, Default)]
pub struct Router {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
    by_ufrag: HashMap<Box<[u8]>, PeerId>,
    by_addr: HashMap<Route, PeerId>,
    by_transaction: HashMap<TransactionId, PeerId>,
    /// Min-heap of (deadline, peer); an entry is live while it matches the peer's `deadline`.
    /// Outdated entries are dropped when they reach the top, so the top is always live.
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    tx_ready: VecDeque<PeerId>,
    ev_ready: VecDeque<PeerId>,
    /// Peers handed out by `get_mut` whose guard did not report back (it was leaked).
    dirty: Vec<PeerId>,
    due: Vec<PeerId>,
    stats: RouterStats,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty router with room for `peers` peers before it reallocates.
    pub fn with_capacity(peers: usize) -> Self {
        Self {
            slots: Vec::with_capacity(peers),
            by_ufrag: HashMap::with_capacity(peers),
            by_addr: HashMap::with_capacity(peers),
            timers: BinaryHeap::with_capacity(peers),
            ..Self::default()
        }
    }

    /// Adds a peer. Its local address should be the router's socket (all peers share it).
    /// Refused when another peer has the same local ICE ufrag.
    pub fn insert(&mut self, pc: PeerConnection) -> Result<PeerId, InsertError> {
        self.settle();
        let ufrag: Box<[u8]> = pc.ice().local_credentials().0.as_bytes().into();
        if let Some(&owner) = self.by_ufrag.get(&ufrag) {
            return Err(InsertError::UfragInUse {
                owner,
                peer: Box::new(pc),
            });
        }
        let entry = Entry {
            pc,
            ufrag: ufrag.clone(),
            routes: SmallVec::new(),
            transactions: SmallVec::new(),
            deadline: None,
            tx_queued: false,
            ev_queued: false,
            dirty: false,
        };
        let id = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.entry = Some(entry);
                PeerId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 peers");
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
                PeerId {
                    index,
                    generation: 0,
                }
            }
        };
        self.len += 1;
        self.by_ufrag.insert(ufrag, id);
        // A new peer may already have candidates to announce and timers running.
        self.touched(id);
        self.prune_timers();
        Ok(id)
    }

    /// Removes a peer with its ufrag and routes; datagrams for it are dropped from now on. To
    /// say goodbye, [`close`](PeerConnection::close) it through [`get_mut`](Self::get_mut)
    /// first and keep driving until its last datagrams are out.
    pub fn remove(&mut self, id: PeerId) -> Option<PeerConnection> {
        self.settle();
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        if self.by_ufrag.get(&entry.ufrag) == Some(&id) {
            self.by_ufrag.remove(&entry.ufrag);
        }
        for route in &entry.routes {
            if self.by_addr.get(route) == Some(&id) {
                self.by_addr.remove(route);
            }
        }
        self.forget_transactions(id, &entry.transactions);
        // Its queue and heap entries are skipped when reached; keep them from piling up when
        // peers come and go without polls in between.
        let bound = 2 * self.len + 64;
        if self.tx_ready.len() > bound {
            let slots = &self.slots;
            self.tx_ready.retain(|&p| live(slots, p).is_some());
        }
        if self.ev_ready.len() > bound {
            let slots = &self.slots;
            self.ev_ready.retain(|&p| live(slots, p).is_some());
        }
        self.prune_timers();
        Some(entry.pc)
    }

    /// The peer, to read.
    pub fn get(&self, id: PeerId) -> Option<&PeerConnection> {
        live(&self.slots, id).map(|e| &e.pc)
    }

    /// The peer, to change (send, create a channel, add a candidate...). When the guard is
    /// dropped the router re-reads the peer's deadline and will poll it for datagrams and
    /// events.
    pub fn get_mut(&mut self, id: PeerId) -> Option<PeerMut<'_>> {
        let entry = live_mut(&mut self.slots, id)?;
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push(id);
        }
        Some(PeerMut { router: self, id })
    }

    /// Whether `id` names a peer held here.
    pub fn contains(&self, id: PeerId) -> bool {
        live(&self.slots, id).is_some()
    }

    /// How many peers the router holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the router holds no peer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every peer, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &PeerConnection)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let e = s.entry.as_ref()?;
            let id = PeerId {
                index: i as u32,
                generation: s.generation,
            };
            Some((id, &e.pc))
        })
    }

    /// The peer datagrams from `remote` arriving on `local` go to, if any.
    pub fn route(&self, remote: SocketAddr, local: SocketAddr) -> Option<PeerId> {
        self.by_addr.get(&(remote, local)).copied()
    }

    /// The (remote, local) pairs routed to `id`, least recently used first.
    pub fn routes(&self, id: PeerId) -> &[(SocketAddr, SocketAddr)] {
        live(&self.slots, id).map_or(&[], |e| &e.routes[..])
    }

    /// How many (remote, local) routes exist, over all peers.
    pub fn route_count(&self) -> usize {
        self.by_addr.len()
    }

    /// The peer whose local ICE ufrag is `ufrag`.
    pub fn peer_by_ufrag(&self, ufrag: &str) -> Option<PeerId> {
        self.by_ufrag.get(ufrag.as_bytes()).copied()
    }

    /// Counters.
    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    // ---- bookkeeping ----

    /// Notes that the router just called into `id`: it may have datagrams, events and a new
    /// deadline.
    fn touched(&mut self, id: PeerId) {
        let Some(e) = live_mut(&mut self.slots, id) else {
            return;
        };
        if !e.tx_queued {
            e.tx_queued = true;
            self.tx_ready.push_back(id);
        }
        if !e.ev_queued {
            e.ev_queued = true;
            self.ev_ready.push_back(id);
        }
        self.refresh_deadline(id);
    }

    fn refresh_deadline(&mut self, id: PeerId) {
        let Some(e) = live_mut(&mut self.slots, id) else {
            return;
        };
        self.stats.peer_calls += 1;
        let next = e.pc.poll_timeout();
        if next == e.deadline {
            return;
        }
        e.deadline = next;
        if let Some(t) = next {
            self.timers.push(Reverse((t, id)));
            if self.timers.len() > 2 * self.len + 64 {
                self.rebuild_timers();
            }
        }
    }

    /// Drops outdated heap entries: O(n), after at least n pushes since the last time.
    fn rebuild_timers(&mut self) {
        let mut v = std::mem::take(&mut self.timers).into_vec();
        v.clear();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(t) = s.entry.as_ref().and_then(|e| e.deadline) {
                let id = PeerId {
                    index: i as u32,
                    generation: s.generation,
                };
                v.push(Reverse((t, id)));
            }
        }
        self.timers = BinaryHeap::from(v);
    }

    /// Pops outdated entries off the top, so `poll_timeout` (which cannot mutate) reads a live
    /// one.
    fn prune_timers(&mut self) {
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            if live(&self.slots, id).is_some_and(|e| e.deadline == Some(t)) {
                break;
            }
            self.timers.pop();
        }
    }

    /// Takes in the peers changed through a leaked `get_mut` guard.
    fn settle(&mut self) {
        while let Some(id) = self.dirty.pop() {
            self.settle_one(id);
        }
    }

    fn settle_one(&mut self, id: PeerId) {
        let Some(e) = live_mut(&mut self.slots, id) else {
            return;
        };
        if !e.dirty {
            return;
        }
        e.dirty = false;
        let ufrag = e.pc.ice().local_credentials().0.as_bytes();
        if *ufrag != *e.ufrag && !self.by_ufrag.contains_key(ufrag) {
            // New local credentials (an ICE restart): checks now name the new ufrag.
            let new: Box<[u8]> = ufrag.into();
            let old = std::mem::replace(&mut e.ufrag, new.clone());
            if self.by_ufrag.get(&old) == Some(&id) {
                self.by_ufrag.remove(&old);
            }
            self.by_ufrag.insert(new, id);
        }
        self.touched(id);
        self.prune_timers();
    }
}

fn live(slots: &[Slot], id: PeerId) -> Option<&Entry> {
    let s = slots.get(id.index as usize)?;
    if s.generation != id.generation {
        return None;
    }
    s.entry.as_ref()
}

fn live_mut(slots: &mut [Slot], id: PeerId) -> Option<&mut Entry> {
    let s = slots.get_mut(id.index as usize)?;
    if s.generation != id.generation {
        return None;
    }
    s.entry.as_mut()
}

impl Router {
    /// [`PeerConnection::handle_datagram_in_place`] behind the router: the datagram is routed
    /// as [`handle_datagram`](Protocol::handle_datagram) routes it (the same tables and
    /// counters), then handed to its peer's in-place entry point. An RTP packet decrypted in
    /// `contents` and handed back comes with the peer it is for; everything else, and every
    /// packet of a peer with events waiting, goes out through
    /// [`poll_event`](Protocol::poll_event) as usual (see the connection's method for the
    /// ordering rule and what `contents` holds after the call).
    pub fn handle_datagram_in_place<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &'a mut [u8],
    ) -> Option<(PeerId, InPlaceRtp<'a>)> {
        let d = Datagram {
            source,
            destination,
            contents: &*contents,
        };
        let id = self.peer_for(&d)?;
        let e = live_mut(&mut self.slots, id)?;
        let got =
            e.pc.handle_datagram_in_place(now, source, destination, contents);
        self.after_peer_datagram(id);
        Some((id, got?))
    }

    /// The peer a received datagram goes to (counted by how it was found), or `None`:
    /// dropped and counted.
    fn peer_for(&mut self, d: &Datagram<'_>) -> Option<PeerId> {
        self.settle();
        let id = match request_ufrag(d.contents) {
            Some(ufrag) => match self.by_ufrag.get(ufrag) {
                Some(&id) => {
                    self.stats.routed_by_ufrag += 1;
                    id
                }
                None => {
                    self.stats.dropped_unknown_ufrag += 1;
                    return None;
                }
            },
            None => match response_id(d.contents).and_then(|tx| self.take_transaction(&tx)) {
                Some(id) => {
                    self.stats.routed_by_transaction += 1;
                    id
                }
                None => match self.by_addr.get(&(d.source, d.destination)) {
                    Some(&id) => {
                        self.stats.routed_by_address += 1;
                        id
                    }
                    None => {
                        self.stats.dropped_no_route += 1;
                        return None;
                    }
                },
            },
        };
        Some(id)
    }

    /// The bookkeeping after a peer took a datagram: its deadline and queues are looked at
    /// again.
    fn after_peer_datagram(&mut self, id: PeerId) {
        self.stats.peer_calls += 1;
        self.touched(id);
        self.prune_timers();
    }
}

impl Protocol for Router {
    type Event = (PeerId, PeerEvent);

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        let Some(id) = self.peer_for(&d) else { return };
        let Some(e) = live_mut(&mut self.slots, id) else {
            return;
        };
        e.pc.handle_datagram(now, d);
        self.after_peer_datagram(id);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.settle();
        let mut due = std::mem::take(&mut self.due);
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            let Some(e) = live_mut(&mut self.slots, id).filter(|e| e.deadline == Some(t)) else {
                self.timers.pop();
                continue;
            };
            if t > now {
                break;
            }
            self.timers.pop();
            // Taken off the heap; copies of this entry are now outdated, so each due peer is
            // handled once per call even if it is still due afterwards.
            e.deadline = None;
            due.push(id);
        }
        for id in due.drain(..) {
            if let Some(e) = live_mut(&mut self.slots, id) {
                e.pc.handle_timeout(now);
                self.stats.peer_calls += 1;
                self.touched(id);
            }
        }
        self.due = due;
        self.prune_timers();
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.settle();
        while let Some(id) = self.tx_ready.pop_front() {
            let Some(e) = live_mut(&mut self.slots, id) else {
                continue;
            };
            self.stats.peer_calls += 1;
            match e.pc.poll_transmit(now, buf) {
                Some(t) => {
                    // Round robin: one datagram per peer per turn, so a bulk sender does not
                    // hold back everyone else.
                    self.tx_ready.push_back(id);
                    self.learn_route(id, t.destination, t.source);
                    if let Some(tx) = buf.get(..t.len).and_then(request_id) {
                        self.learn_transaction(id, tx);
                    }
                    if let Some(e) = live_mut(&mut self.slots, id)
                        && !e.ev_queued
                    {
                        e.ev_queued = true;
                        self.ev_ready.push_back(id);
                    }
                    self.refresh_deadline(id);
                    self.prune_timers();
                    return Some(t);
                }
                None => {
                    e.tx_queued = false;
                    // Sending can start timers (retransmissions) and raise events.
                    if !e.ev_queued {
                        e.ev_queued = true;
                        self.ev_ready.push_back(id);
                    }
                    self.refresh_deadline(id);
                }
            }
        }
        self.prune_timers();
        None
    }

    fn poll_event(&mut self) -> Option<(PeerId, PeerEvent)> {
        self.settle();
        while let Some(&id) = self.ev_ready.front() {
            let Some(e) = live_mut(&mut self.slots, id) else {
                self.ev_ready.pop_front();
                continue;
            };
            self.stats.peer_calls += 1;
            let event = e.pc.poll_event();
            if event.is_none() {
                e.ev_queued = false;
                self.ev_ready.pop_front();
            }
            // Reading events can queue replies (DCEP acks) that make the peer due at once.
            self.refresh_deadline(id);
            self.prune_timers();
            if let Some(event) = event {
                return Some((id, event));
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let top = self.timers.peek().map(|Reverse((t, _))| *t);
        // Peers behind a leaked `get_mut` guard: normally none.
        let dirty = self
            .dirty
            .iter()
            .filter_map(|&id| live(&self.slots, id))
            .filter(|e| e.dirty)
            .filter_map(|e| e.pc.poll_timeout());
        top.into_iter().chain(dirty).min()
    }
}
