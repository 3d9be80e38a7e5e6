//! The server's data path: ChannelData and Send indications from clients to peers (RFC 8656
//! §11.2, §12.5), and peers' datagrams to clients as ChannelData or Data indications (§11.3,
//! §12.6). Nothing here allocates once the outbox's buffers are warm.

use super::*;

impl Server {
    /// ChannelData from a client: RFC 8656 §12.5, relayed to the channel's peer if bound.
    pub(super) fn on_client_channel(&mut self, now: Instant, d: &Datagram<'_>) {
        let Ok(m) = ChannelData::parse(d.contents) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(a) = self
            .by_client
            .get(&self.key(d))
            .and_then(|&s| self.allocations[s].as_ref())
        else {
            self.stats.no_permission += 1;
            return;
        };
        let Some(&(_, peer, _)) = a
            .channels
            .iter()
            .find(|&&(c, _, t)| c == m.channel && t > now)
        else {
            self.stats.no_permission += 1;
            return;
        };
        self.relay_to_peer(now, a.relayed_for(peer), peer, m.data);
    }

    pub(super) fn relay_to_peer(
        &mut self,
        now: Instant,
        from: Option<SocketAddr>,
        peer: SocketAddr,
        data: &[u8],
    ) {
        let _ = now;
        let Some(from) = from else {
            self.stats.no_permission += 1;
            return;
        };
        let sent = self.out.push_with(from, peer, data.len(), |buf| {
            buf.copy_from_slice(data);
            Some(data.len())
        });
        if sent {
            self.stats.to_peers += 1;
        } else {
            self.stats.dropped += 1;
        }
    }

    /// A Send indication from a client: RFC 8656 §11.2, relayed if a permission exists.
    pub(super) fn on_client_send(&mut self, now: Instant, d: &Datagram<'_>, msg: &Message<'_>) {
        let (Some(peer), Some(data)) = (msg.xor_peer_addresses().next(), msg.data()) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(a) = self
            .by_client
            .get(&self.key(d))
            .and_then(|&s| self.allocations[s].as_ref())
        else {
            self.stats.no_permission += 1;
            return;
        };
        // RFC 8656 §11.2: without a permission for the peer's IP the data is discarded.
        if !a.permitted(peer.ip(), now) {
            self.stats.no_permission += 1;
            return;
        }
        let from = a.relayed_for(peer);
        self.relay_to_peer(now, from, peer, data);
    }

    /// A datagram from a peer to a relayed address: RFC 8656 §11.3 and §12.6, to the client
    /// as ChannelData when a channel is bound, else as a Data indication, if permitted.
    pub(super) fn on_peer_data(&mut self, now: Instant, s: usize, d: &Datagram<'_>) {
        let Some(a) = &self.allocations[s] else {
            return;
        };
        if !a.permitted(d.source.ip(), now) || a.expires <= now {
            self.stats.no_permission += 1;
            return;
        }
        let (client, listen, via) = (a.client, a.listen, a.via);
        let channel = a
            .channels
            .iter()
            .find(|&&(_, p, t)| p == d.source && t > now)
            .map(|&(c, _, _)| c);
        let data = d.contents;
        // Back over the transport the allocation was made on (its 5-tuple).
        let out = match via {
            Via::Udp => &mut self.out,
            Via::Stream => &mut self.stream_out,
        };
        let sent = match channel {
            Some(channel) => {
                let m = ChannelData { channel, data };
                out.push_with(listen, client, m.len(false), |buf| m.write(buf, false).ok())
            }
            None => {
                // Only a Data indication needs a transaction id: ChannelData spends no
                // randomness per packet.
                let id = TransactionId::random(&mut self.rng);
                let msg = Message::new(Class::Indication, Method::Data, id)
                    .with(Attribute::XorPeerAddress(d.source))
                    .with(Attribute::Data(Cow::Borrowed(data)));
                out.push_message(listen, client, &msg, None)
            }
        };
        if sent {
            self.stats.to_clients += 1;
        } else {
            self.stats.dropped += 1;
        }
    }
}
