//! DTLS 1.3 flights (RFC 9147 §5.7-§5.8, §7): like the DTLS 1.2 flight, the messages are kept
//! whole and fragmented afresh for every transmission, but each record sent is remembered by
//! its record number, so an ACK from the peer marks the bytes it carried as received and a
//! retransmission sends only what is still missing (selective retransmission, §7.2).
//!
//! Epoch 0 messages (ClientHello, ServerHello) go in DTLSPlaintext records through the DTLS
//! 1.2 record layer; epoch 2 and later through the 1.3 one. The retransmission timer is the
//! endpoint's, shared with DTLS 1.2.

use super::super::Error;
use super::super::handshake::{HEADER_LEN as HS_HEADER_LEN, HandshakeHeader, HandshakeType};
use super::super::record::{ContentType, HEADER_LEN as PLAIN_HEADER_LEN, RecordLayer};
use super::layer::RecordLayer13;
use super::record::{Ack, OVERHEAD, RecordNumber};
use crate::dtls::error::Misuse;

/// The most records of one flight remembered for ACK matching (a flight is a handful of
/// records; retransmissions add more).
const MAX_SENT: usize = 256;

/// One handshake message of a flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message13 {
    pub(crate) epoch: u64,
    pub(crate) msg_type: HandshakeType,
    pub(crate) message_seq: u16,
    pub(crate) body: Vec<u8>,
    /// Byte ranges the peer acknowledged, sorted and disjoint.
    acked: Vec<(usize, usize)>,
    /// Every byte acknowledged (also how an empty message is marked).
    done: bool,
}

impl Message13 {
    fn ack(&mut self, start: usize, end: usize) {
        if self.done {
            return;
        }
        let mut merged = (start, end);
        self.acked.retain(|&(s, e)| {
            if e < merged.0 || s > merged.1 {
                true
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
                false
            }
        });
        let at = self.acked.partition_point(|&(s, _)| s < merged.0);
        self.acked.insert(at, merged);
        self.done = self.acked == [(0, self.body.len())] || self.body.is_empty();
    }

    /// The first run of unacknowledged bytes at or after `from`: `(start, end)`.
    fn unacked_from(&self, from: usize) -> Option<(usize, usize)> {
        if self.done {
            return None;
        }
        if self.body.is_empty() {
            return (from == 0).then_some((0, 0));
        }
        let mut start = from;
        for &(s, e) in &self.acked {
            if e <= start {
                continue;
            }
            if s <= start {
                start = e;
                continue;
            }
            return (start < self.body.len()).then_some((start, s));
        }
        (start < self.body.len()).then_some((start, self.body.len()))
    }
}

/// What one record of the flight carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    number: RecordNumber,
    message: usize,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Cursor {
    message: usize,
    offset: usize,
}

/// Our current flight.
#[derive(Debug, Default)]
pub(crate) struct Flight13 {
    messages: Vec<Message13>,
    cursor: Option<Cursor>,
    sent: Vec<Sent>,
}

impl Flight13 {
    /// Replaces the flight with a new, empty one.
    pub(crate) fn start(&mut self) {
        self.messages.clear();
        self.sent.clear();
        self.cursor = None;
    }

    /// Drops the flight and gives its memory back: a connected endpoint whose last flight is
    /// acknowledged holds nothing for it.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    pub(crate) fn push(
        &mut self,
        epoch: u64,
        msg_type: HandshakeType,
        message_seq: u16,
        body: Vec<u8>,
    ) {
        self.messages.push(Message13 {
            epoch,
            msg_type,
            message_seq,
            body,
            acked: Vec::new(),
            done: false,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether every message was acknowledged (an empty flight is).
    pub(crate) fn is_acked(&self) -> bool {
        self.messages.iter().all(|m| m.done)
    }

    /// Schedules what is not yet acknowledged for (re)transmission.
    pub(crate) fn send(&mut self) {
        if !self.is_acked() {
            self.cursor = Some(Cursor::default());
        }
    }

    pub(crate) fn stop_sending(&mut self) {
        self.cursor = None;
    }

    pub(crate) fn is_sending(&self) -> bool {
        self.cursor.is_some()
    }

    /// RFC 9147 §7: marks what the records `ack` names carried as received. A protected
    /// record acknowledged proves the peer read our epoch 0 messages too (it could not have
    /// opened it otherwise). Returns whether the whole flight is now acknowledged.
    pub(crate) fn on_ack(&mut self, ack: &Ack) -> bool {
        let mut any_protected = false;
        for rn in &ack.records {
            for s in self.sent.iter().filter(|s| s.number == *rn) {
                if let Some(m) = self.messages.get_mut(s.message) {
                    m.ack(s.start, s.end);
                    any_protected |= m.epoch > 0;
                }
            }
        }
        if any_protected {
            for m in self.messages.iter_mut().filter(|m| m.epoch == 0) {
                m.done = true;
            }
        }
        let acked = self.is_acked();
        if acked {
            self.cursor = None;
        }
        acked
    }

    /// Writes the next datagram of the flight into `out` (at most `mtu` bytes), packing
    /// records and fragmenting messages, skipping acknowledged bytes. Returns its length.
    pub(crate) fn write_datagram(
        &mut self,
        plain: &mut RecordLayer,
        protected: &mut RecordLayer13,
        mtu: usize,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let limit = mtu.min(out.len());
        let mut used = 0;
        while let Some(mut cur) = self.cursor {
            let Some(msg) = self.messages.get(cur.message) else {
                self.cursor = None;
                break;
            };
            let Some((start, end)) = msg.unacked_from(cur.offset) else {
                cur = Cursor {
                    message: cur.message + 1,
                    offset: 0,
                };
                self.cursor = (cur.message < self.messages.len()).then_some(cur);
                continue;
            };
            let overhead = if msg.epoch == 0 {
                PLAIN_HEADER_LEN
            } else {
                OVERHEAD
            };
            let per_record = (limit - used).saturating_sub(overhead);
            let fresh = limit.saturating_sub(overhead);
            let remaining = end - start;
            let fits_whole = per_record >= HS_HEADER_LEN + remaining;
            let fits_fresh = fresh >= HS_HEADER_LEN + remaining;
            if !fits_whole && (used > 0 && fits_fresh || per_record <= HS_HEADER_LEN) {
                if used == 0 {
                    return Err(Error::Misuse(Misuse::DataTooLarge {
                        len: HS_HEADER_LEN + 1,
                        max: limit,
                    }));
                }
                break;
            }
            let n = remaining.min(per_record - HS_HEADER_LEN);
            let header = HandshakeHeader {
                msg_type: msg.msg_type,
                length: msg.body.len() as u32,
                message_seq: msg.message_seq,
                fragment_offset: start as u32,
                fragment_length: n as u32,
            };
            let parts: [&[u8]; 2] = [&header.to_bytes(), &msg.body[start..start + n]];
            if msg.epoch == 0 {
                used += plain.seal(0, ContentType::Handshake, &parts, &mut out[used..limit])?;
            } else {
                let (len, number) = protected.seal_in(
                    msg.epoch,
                    ContentType::Handshake,
                    &parts,
                    &mut out[used..limit],
                )?;
                used += len;
                if self.sent.len() == MAX_SENT {
                    self.sent.remove(0);
                }
                self.sent.push(Sent {
                    number,
                    message: cur.message,
                    start,
                    end: start + n,
                });
            }
            cur = if start + n >= msg.body.len() {
                Cursor {
                    message: cur.message + 1,
                    offset: 0,
                }
            } else {
                Cursor {
                    message: cur.message,
                    offset: start + n,
                }
            };
            self.cursor = (cur.message < self.messages.len()).then_some(cur);
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::super::key_schedule::{EarlySecret, LabelPrefix};
    use super::super::record::Protection;
    use super::super::suite::Suite13;
    use super::*;
    use crate::dtls::crypto::PrfHash;

    fn layer() -> RecordLayer13 {
        let secret = EarlySecret::new(PrfHash::Sha256, LabelPrefix::Dtls13)
            .into_handshake(&[1; 32])
            .unwrap()
            .client_traffic(&[0; 32])
            .unwrap();
        let mut l = RecordLayer13::default();
        l.set_write(Protection::new(Suite13::Aes128GcmSha256, &secret, 2).unwrap())
            .unwrap();
        l
    }

    fn drain(f: &mut Flight13, plain: &mut RecordLayer, l: &mut RecordLayer13) -> Vec<usize> {
        let mut sizes = Vec::new();
        while f.is_sending() {
            let mut buf = [0u8; 1500];
            let n = f.write_datagram(plain, l, 500, &mut buf).unwrap();
            assert!(n > 0 && n <= 500);
            sizes.push(n);
        }
        sizes
    }

    #[test]
    fn acknowledged_fragments_are_not_sent_again() {
        let (mut plain, mut l) = (RecordLayer::new(), layer());
        let mut f = Flight13::default();
        f.push(2, HandshakeType::Certificate, 1, vec![7; 1200]);
        f.push(2, HandshakeType::Finished, 2, vec![9; 32]);
        f.send();
        let first = drain(&mut f, &mut plain, &mut l);
        assert_eq!(first.len(), 3);
        // The peer got the first record only.
        let got = f.sent[0].number;
        let first_records = f.sent.len();
        assert!(!f.on_ack(&Ack { records: vec![got] }));
        f.send();
        let second = drain(&mut f, &mut plain, &mut l);
        let resent: usize = f.sent[first_records..]
            .iter()
            .map(|s| s.end - s.start)
            .sum();
        assert_eq!(resent, 1200 + 32 - (f.sent[0].end - f.sent[0].start));
        assert!(second.iter().sum::<usize>() < first.iter().sum::<usize>());
        let all: Vec<_> = f.sent.iter().map(|s| s.number).collect();
        assert!(f.on_ack(&Ack { records: all }));
        f.send();
        assert!(!f.is_sending());
    }

    #[test]
    fn unacked_runs_skip_acknowledged_ranges() {
        let mut m = Message13 {
            epoch: 2,
            msg_type: HandshakeType::Certificate,
            message_seq: 0,
            body: vec![0; 100],
            acked: Vec::new(),
            done: false,
        };
        m.ack(10, 20);
        m.ack(50, 60);
        assert_eq!(m.unacked_from(0), Some((0, 10)));
        assert_eq!(m.unacked_from(10), Some((20, 50)));
        assert_eq!(m.unacked_from(55), Some((60, 100)));
        m.ack(0, 100);
        assert_eq!(m.unacked_from(0), None);
    }
}
