//! [`PeerMut`]: the guard `Router::get_mut` returns, which reports back when dropped.

use std::ops::{Deref, DerefMut};

use super::{PeerConnection, PeerId, Router, live, live_mut};

/// A peer borrowed from a [`Router`] to change it; see [`Router::get_mut`]. Dropping it tells
/// the router to look at the peer again (deadline, datagrams, events).
pub struct PeerMut<'a> {
    pub(super) router: &'a mut Router,
    pub(super) id: PeerId,
}

impl PeerMut<'_> {
    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.id
    }
}

impl std::fmt::Debug for PeerMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only this peer: the router behind it may hold thousands.
        f.debug_struct("PeerMut")
            .field("id", &self.id)
            .field("peer", &**self)
            .finish()
    }
}

impl Deref for PeerMut<'_> {
    type Target = PeerConnection;

    fn deref(&self) -> &PeerConnection {
        // The guard exists only for a live peer, and holds the router borrowed.
        &live(&self.router.slots, self.id)
            .expect("a guard's peer is live")
            .pc
    }
}

impl DerefMut for PeerMut<'_> {
    fn deref_mut(&mut self) -> &mut PeerConnection {
        &mut live_mut(&mut self.router.slots, self.id)
            .expect("a guard's peer is live")
            .pc
    }
}

impl Drop for PeerMut<'_> {
    fn drop(&mut self) {
        if self.router.dirty.last() == Some(&self.id) {
            self.router.dirty.pop();
        }
        self.router.settle_one(self.id);
    }
}
