//! The (remote, local) table: filled from what each peer sends, bounded per peer.

use std::net::SocketAddr;

use super::{MAX_ROUTES_PER_PEER, PeerId, Route, Router, live, live_mut};

impl Router {
    /// Records that `id` sent from `local` to `remote`, so what comes back reaches it.
    pub(super) fn learn_route(&mut self, id: PeerId, remote: SocketAddr, local: SocketAddr) {
        let key = (remote, local);
        match self.by_addr.get(&key).copied() {
            Some(owner) if owner == id => {
                let Some(e) = live_mut(&mut self.slots, id) else {
                    return;
                };
                // The steady state: the selected pair is already the most recent route.
                if e.routes.last() != Some(&key)
                    && let Some(i) = e.routes.iter().position(|r| *r == key)
                {
                    e.routes.remove(i);
                    e.routes.push(key);
                }
            }
            Some(owner) => {
                // Only a peer whose ICE selected the pair (the remote side answered its checks
                // with the right credentials) takes a route from its owner: a peer merely
                // sending there, hostile or confused, takes nothing, whether the owner is
                // working or still setting up. Its checks' answers come back by transaction.
                let we_selected = live(&self.slots, id).is_some_and(|e| {
                    e.pc.ice()
                        .selected_pair()
                        .is_some_and(|s| s.local == local && s.remote == remote)
                });
                if !we_selected {
                    self.stats.route_conflicts += 1;
                    return;
                }
                if let Some(e) = live_mut(&mut self.slots, owner)
                    && let Some(i) = e.routes.iter().position(|r| *r == key)
                {
                    e.routes.remove(i);
                }
                self.add_route(id, key);
            }
            None => self.add_route(id, key),
        }
    }

    fn add_route(&mut self, id: PeerId, key: Route) {
        let Some(e) = live_mut(&mut self.slots, id) else {
            return;
        };
        if e.routes.len() >= MAX_ROUTES_PER_PEER {
            let old = e.routes.remove(0);
            if self.by_addr.get(&old) == Some(&id) {
                self.by_addr.remove(&old);
            }
            self.stats.routes_evicted += 1;
        }
        e.routes.push(key);
        self.by_addr.insert(key, id);
    }
}
