//! [`Dispatch`]: a `PeerConnection` whose channel events go to per-channel routes.

use bytes::Bytes;
use kaon::datachannel::ChannelId;
use kaon::peer::{ConnectionState, PeerConnection, PeerEvent};
use kaon::{Datagram, Protocol, Transmit};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The high-water mark a channel's `send` waits under unless told otherwise (Pion's
/// flow-control example uses the same 1 MiB).
pub const DEFAULT_HIGH_WATER_MARK: usize = 1024 * 1024;

/// The most message bytes all of a connection's channel inboxes hold before the dispatcher
/// leaves further messages in the SCTP association, whose receive window then slows the peer.
pub const INBOX_LIMIT: usize = 4 * 1024 * 1024;

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The payload.
    pub data: Bytes,
    /// Binary (`true`) or text.
    pub binary: bool,
}

/// A channel's state as its handle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Created here, not yet acknowledged by the peer.
    Connecting,
    /// Open both ways.
    Open,
    /// Closed (by either side, or with the connection).
    Closed,
}

/// The bytes waiting in all of a connection's channel inboxes, shared by the dispatcher (which
/// adds) and the channel handles (which take).
#[derive(Debug, Clone, Default)]
pub struct InboxBudget(Arc<AtomicUsize>);

impl InboxBudget {
    /// Bytes waiting now.
    pub fn bytes(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Whether the dispatcher must stop taking messages from the core.
    pub fn is_over(&self) -> bool {
        self.bytes() > INBOX_LIMIT
    }

    fn add(&self, len: usize) {
        self.0.fetch_add(len, Ordering::AcqRel);
    }

    /// `len` bytes left an inbox (read, or discarded with their channel). `true` when this
    /// brought the total back under [`INBOX_LIMIT`]: the caller must wake the driver, which
    /// stopped taking messages at the limit.
    pub fn release(&self, len: usize) -> bool {
        let before = self.0.fetch_sub(len, Ordering::AcqRel);
        before > INBOX_LIMIT && before - len <= INBOX_LIMIT
    }
}

/// How an adapter delivers to one channel's handle, with its runtime's primitives (a condvar,
/// a `watch`, an mpsc channel...).
pub trait Glue {
    /// The dispatcher's end of one channel.
    type Route;

    /// Puts `message` in the channel's inbox; gives it back if the handle is gone.
    fn deliver(&self, route: &Self::Route, message: Message) -> Result<(), Message>;

    /// Tells the handle the channel's new state ([`ChannelState::Closed`] also ends any wait
    /// for buffered-amount-low).
    fn set_state(&self, route: &Self::Route, state: ChannelState);

    /// Tells a waiting sender that the buffered amount fell to the low threshold.
    fn buffered_low(&self, route: &Self::Route);

    /// The peer opened channel `id`: makes its route and hands the other end to the
    /// application's accept queue.
    fn accept(&mut self, id: ChannelId, label: String) -> Self::Route;
}

/// The core connection plus the channel routing table; runs on the driver.
///
/// Messages, opens, closes and buffered-amount-low go to the channel they name; everything else
/// (candidates, state changes) comes out of `poll_event`. A message for a channel without a
/// route (its handle was dropped) is discarded. Past [`INBOX_LIMIT`] bytes in the inboxes,
/// `poll_event` returns `None` and leaves the rest in the core until the budget is released.
pub struct Dispatch<G: Glue> {
    /// The core connection.
    pub pc: PeerConnection,
    routes: HashMap<ChannelId, G::Route>,
    glue: G,
    budget: InboxBudget,
}

impl<G: Glue> Dispatch<G> {
    /// Routes `pc`'s channel events through `glue`, counting inbox bytes in `budget`.
    pub fn new(pc: PeerConnection, glue: G, budget: InboxBudget) -> Self {
        Self {
            pc,
            routes: HashMap::new(),
            glue,
            budget,
        }
    }

    /// The inbox byte budget.
    pub fn budget(&self) -> &InboxBudget {
        &self.budget
    }

    /// Routes channel `id`'s events to `route` from now on.
    pub fn add_route(&mut self, id: ChannelId, route: G::Route) {
        self.pc
            .set_buffered_amount_low_threshold(id, DEFAULT_HIGH_WATER_MARK / 2);
        self.routes.insert(id, route);
    }

    fn close_route(&mut self, id: ChannelId) {
        if let Some(route) = self.routes.remove(&id) {
            self.glue.set_state(&route, ChannelState::Closed);
        }
    }
}

impl<G: Glue> Protocol for Dispatch<G> {
    type Event = PeerEvent;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.pc.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.pc.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.pc.poll_transmit(now, buf)
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        loop {
            if self.budget.is_over() {
                // Leave the rest in the association: its receive window slows the peer down.
                return None;
            }
            let e = self.pc.poll_event()?;
            #[cfg(feature = "log")]
            crate::logging::peer_event(&e);
            match e {
                PeerEvent::Message {
                    channel,
                    data,
                    binary,
                } => {
                    let Some(route) = self.routes.get(&channel) else {
                        continue;
                    };
                    let len = data.len();
                    self.budget.add(len);
                    if self.glue.deliver(route, Message { data, binary }).is_err() {
                        // The handle is gone: nobody will read it.
                        self.budget.release(len);
                    }
                }
                PeerEvent::DataChannelOpen { id, label, remote } => {
                    if remote {
                        let route = self.glue.accept(id, label);
                        self.add_route(id, route);
                    } else if let Some(route) = self.routes.get(&id) {
                        self.glue.set_state(route, ChannelState::Open);
                    }
                }
                PeerEvent::BufferedAmountLow(id) => {
                    if let Some(route) = self.routes.get(&id) {
                        self.glue.buffered_low(route);
                    }
                }
                PeerEvent::DataChannelClosed(id) => self.close_route(id),
                e @ (PeerEvent::SctpClosed
                | PeerEvent::DtlsClosed
                | PeerEvent::DtlsFailed(_)
                | PeerEvent::ConnectionStateChanged(
                    ConnectionState::Closed | ConnectionState::Failed,
                )) => {
                    let ids: Vec<_> = self.routes.keys().copied().collect();
                    for id in ids {
                        self.close_route(id);
                    }
                    return Some(e);
                }
                e => return Some(e),
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pc.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_below_the_limit_asks_for_a_wake_once() {
        let b = InboxBudget::default();
        b.add(INBOX_LIMIT + 10);
        assert!(b.is_over());
        assert!(!b.release(5), "still over");
        assert!(b.release(10), "crossed back under");
        assert!(!b.release(1), "already under");
        assert!(!b.is_over());
    }
}
