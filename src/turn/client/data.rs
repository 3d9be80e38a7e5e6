//! The client's data path: wrapping data for a peer (ChannelData once bound, else a Send
//! indication, RFC 8656 §11.1, §12.4) and unwrapping what the server relays.

use super::*;

impl Client {
    /// Wraps `payload` for `peer`: ChannelData once bound, else a Send indication.
    pub(super) fn wrap_into(
        &mut self,
        peer: SocketAddr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        if self.state != State::Allocated {
            return None;
        }
        let p = self.peers.iter().find(|p| p.addr == peer)?;
        if p.bound {
            let m = ChannelData {
                channel: p.channel,
                data: payload,
            };
            let n = m.write(buf, false).ok()?;
            self.stats.channel_data_sent += 1;
            return Some(n);
        }
        // RFC 8656 §11.1: a Send indication carries XOR-PEER-ADDRESS and DATA.
        let id = TransactionId::random(&mut self.rng);
        let msg = Message::new(Class::Indication, Method::Send, id)
            .with(Attribute::XorPeerAddress(peer))
            .with(Attribute::Data(Cow::Borrowed(payload)));
        let n = msg.write(buf, None, false).ok()?;
        self.stats.indications_sent += 1;
        Some(n)
    }

    /// Processes a datagram from the server.
    pub(super) fn unwrap_from<'a>(&mut self, now: Instant, datagram: &'a [u8]) -> Unwrapped<'a> {
        if channel_data::is_channel_data(datagram) {
            let Ok(m) = ChannelData::parse(datagram) else {
                self.stats.dropped += 1;
                return Unwrapped::Invalid;
            };
            return match self
                .peers
                .iter()
                .find(|p| p.bound && p.channel == m.channel)
            {
                Some(p) => {
                    self.stats.data_received += 1;
                    Unwrapped::Data {
                        peer: p.addr,
                        payload: m.data,
                    }
                }
                None => {
                    self.stats.dropped += 1;
                    Unwrapped::Invalid
                }
            };
        }
        let Ok(msg) = Message::parse(datagram) else {
            self.stats.dropped += 1;
            return Unwrapped::Invalid;
        };
        match (msg.class(), msg.method()) {
            (Class::Indication, Method::Data) => {
                // RFC 8656 §11.4: XOR-PEER-ADDRESS and DATA must be present, else discard.
                let peer = msg.xor_peer_addresses().next();
                let data = msg.attributes().iter().find_map(|a| match a {
                    Attribute::Data(Cow::Borrowed(d)) => Some(*d),
                    _ => None,
                });
                match (peer, data) {
                    (Some(peer), Some(payload)) if self.state == State::Allocated => {
                        self.stats.data_received += 1;
                        Unwrapped::Data { peer, payload }
                    }
                    _ => {
                        self.stats.dropped += 1;
                        Unwrapped::Invalid
                    }
                }
            }
            (Class::SuccessResponse | Class::ErrorResponse, _) => {
                self.stun.handle_datagram(
                    now,
                    Datagram {
                        source: self.server,
                        destination: self.config.local,
                        contents: datagram,
                    },
                );
                self.process(now);
                self.update_deadline();
                Unwrapped::Control
            }
            _ => {
                self.stats.dropped += 1;
                Unwrapped::Invalid
            }
        }
    }
}
