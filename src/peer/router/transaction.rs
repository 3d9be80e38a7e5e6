//! Routing STUN responses by transaction ID: a response goes to the peer whose request it
//! answers, whoever owns the address it comes from.

use super::{PeerId, Router, live_mut};

/// A STUN transaction ID (RFC 8489 §5: 96 bits).
pub(super) type TransactionId = [u8; 12];

/// The most requests per peer whose responses are routed by transaction; past it the oldest
/// is forgotten, and its response (if it ever comes) goes by address. A peer checking many
/// pairs has a few dozen transactions open at the Ta pace (RFC 8445 §14.2).
pub const MAX_TRANSACTIONS_PER_PEER: usize = 32;

const HEADER: usize = 20;
const TRANSACTION: std::ops::Range<usize> = 8..20;
/// RFC 8489 §5: the class bits of the message type.
const CLASS_MASK: u16 = 0x0110;
const CLASS_REQUEST: u16 = 0x0000;
const CLASS_SUCCESS: u16 = 0x0100;
const CLASS_ERROR: u16 = 0x0110;

fn class_and_id(d: &[u8]) -> Option<(u16, TransactionId)> {
    if d.len() < HEADER || !crate::stun::is_stun(d) {
        return None;
    }
    let class = u16::from_be_bytes([d[0], d[1]]) & CLASS_MASK;
    let id = d.get(TRANSACTION)?.try_into().ok()?;
    Some((class, id))
}

/// The transaction ID of a STUN request (a check, a consent check, a server query).
pub(super) fn request_id(d: &[u8]) -> Option<TransactionId> {
    class_and_id(d).and_then(|(c, id)| (c == CLASS_REQUEST).then_some(id))
}

/// The transaction ID of a STUN success or error response.
pub(super) fn response_id(d: &[u8]) -> Option<TransactionId> {
    class_and_id(d).and_then(|(c, id)| (c == CLASS_SUCCESS || c == CLASS_ERROR).then_some(id))
}

impl Router {
    /// Records that `id` sent a request with transaction `tx`, so its response reaches it.
    pub(super) fn learn_transaction(&mut self, id: PeerId, tx: TransactionId) {
        let Some(e) = live_mut(&mut self.slots, id) else {
            return;
        };
        // A retransmission keeps its transaction ID (RFC 8489 §6.2.1).
        if e.transactions.contains(&tx) {
            return;
        }
        if e.transactions.len() >= MAX_TRANSACTIONS_PER_PEER {
            let old = e.transactions.remove(0);
            if self.by_transaction.get(&old) == Some(&id) {
                self.by_transaction.remove(&old);
            }
        }
        e.transactions.push(tx);
        // IDs are 96 random bits: two peers' requests do not collide unless one of them lies,
        // and then the later request wins as it would by address.
        if let Some(previous) = self.by_transaction.insert(tx, id)
            && previous != id
            && let Some(p) = live_mut(&mut self.slots, previous)
        {
            p.transactions.retain(|t| *t != tx);
        }
    }

    /// The peer a response with transaction `tx` answers, forgetting the transaction: a
    /// response ends it (a retransmitted request's later answers go by address).
    pub(super) fn take_transaction(&mut self, tx: &TransactionId) -> Option<PeerId> {
        let id = self.by_transaction.remove(tx)?;
        let e = live_mut(&mut self.slots, id)?;
        e.transactions.retain(|t| t != tx);
        Some(id)
    }

    /// Forgets a departing peer's transactions.
    pub(super) fn forget_transactions(&mut self, id: PeerId, transactions: &[TransactionId]) {
        for tx in transactions {
            if self.by_transaction.get(tx) == Some(&id) {
                self.by_transaction.remove(tx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(message_type: u16, id: [u8; 12]) -> Vec<u8> {
        let mut m = message_type.to_be_bytes().to_vec();
        m.extend_from_slice(&0u16.to_be_bytes());
        m.extend_from_slice(&crate::stun::MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&id);
        m
    }

    #[test]
    fn requests_and_responses_are_told_apart_by_their_class_rfc8489_section_5() {
        let id = [9; 12];
        assert_eq!(request_id(&message(0x0001, id)), Some(id));
        assert_eq!(response_id(&message(0x0001, id)), None);
        assert_eq!(response_id(&message(0x0101, id)), Some(id));
        assert_eq!(response_id(&message(0x0111, id)), Some(id));
        assert_eq!(request_id(&message(0x0101, id)), None);
        // Indications are neither.
        assert_eq!(request_id(&message(0x0011, id)), None);
        assert_eq!(response_id(&message(0x0011, id)), None);
    }

    #[test]
    fn a_peers_transactions_are_bounded_and_forgotten_with_it() {
        use crate::peer::{PeerConfig, PeerConnection};
        let mut router = Router::new();
        let id = router
            .insert(PeerConnection::new(PeerConfig::with_seed(1)).unwrap())
            .unwrap();
        for i in 0..(MAX_TRANSACTIONS_PER_PEER as u8 + 8) {
            router.learn_transaction(id, [i; 12]);
            // A retransmission is not a new transaction.
            router.learn_transaction(id, [i; 12]);
        }
        assert_eq!(router.by_transaction.len(), MAX_TRANSACTIONS_PER_PEER);
        // The oldest were forgotten, the newest are routed, once.
        assert_eq!(router.take_transaction(&[0; 12]), None);
        let newest = [MAX_TRANSACTIONS_PER_PEER as u8 + 7; 12];
        assert_eq!(router.take_transaction(&newest), Some(id));
        assert_eq!(router.take_transaction(&newest), None);
        router.remove(id);
        assert!(router.by_transaction.is_empty());
    }

    #[test]
    fn anything_but_stun_has_no_transaction() {
        assert_eq!(response_id(&[23, 0xfe, 0xfd, 0, 1]), None);
        assert_eq!(response_id(&[1; 19]), None);
        let mut m = message(0x0101, [1; 12]);
        m[4] ^= 1; // not the magic cookie
        assert_eq!(response_id(&m), None);
    }
}
