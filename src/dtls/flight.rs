//! Flights and their retransmission (RFC 6347 §4.2.4).
//!
//! A flight is the group of messages one side sends before waiting for the other: it is kept
//! whole (message bodies, not records) so that every retransmission is fragmented afresh and
//! sealed with new record sequence numbers, as RFC 6347 §4.2.4 requires.
//!
//! The timer follows Figure 1 of RFC 6347: armed when a flight is sent, doubled on every
//! expiry up to a cap, stopped when the peer's next flight arrives.

use crate::dtls::error::Misuse;
use std::time::{Duration, Instant};

use super::Error;
use super::handshake::{HEADER_LEN as HS_HEADER_LEN, HandshakeHeader, HandshakeType};
use super::record::{ContentType, HEADER_LEN, RecordLayer};

/// One message of a flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlightMessage {
    /// A handshake message sent in `epoch`.
    Handshake {
        epoch: u16,
        msg_type: HandshakeType,
        message_seq: u16,
        body: Vec<u8>,
    },
    /// ChangeCipherSpec (always epoch 0, one byte).
    ChangeCipherSpec,
}

/// Where transmission of the current flight has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Cursor {
    message: usize,
    offset: usize,
}

/// The last flight we sent and whether (part of) it still waits to be written.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    messages: Vec<FlightMessage>,
    cursor: Option<Cursor>,
}

impl Flight {
    /// Replaces the flight with a new, empty one.
    pub(crate) fn start(&mut self) {
        self.messages.clear();
        self.cursor = None;
    }

    pub(crate) fn push(&mut self, m: FlightMessage) {
        self.messages.push(m);
    }

    /// Drops the flight (nothing more will be retransmitted) and gives its memory back.
    pub(crate) fn clear(&mut self) {
        self.messages = Vec::new();
        self.cursor = None;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Schedules the whole flight for (re)transmission.
    pub(crate) fn send(&mut self) {
        if !self.messages.is_empty() {
            self.cursor = Some(Cursor::default());
        }
    }

    /// Abandons the current transmission; the flight stays for the next one.
    pub(crate) fn stop_sending(&mut self) {
        self.cursor = None;
    }

    /// Whether datagrams of the flight wait to be written.
    pub(crate) fn is_sending(&self) -> bool {
        self.cursor.is_some()
    }

    /// Writes the next datagram of the flight into `out` (at most `mtu` bytes), packing
    /// records and fragmenting messages as needed. Returns its length.
    ///
    /// A message that does not fit in what is left of a datagram, but would fit in an empty
    /// one, starts the next datagram instead of being split: fewer fragments for the peer to
    /// reassemble.
    pub(crate) fn write_datagram(
        &mut self,
        records: &mut RecordLayer,
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
            let room = limit - used;
            match msg {
                FlightMessage::ChangeCipherSpec => {
                    if room < HEADER_LEN + 1 {
                        break;
                    }
                    used += records.seal(
                        0,
                        ContentType::ChangeCipherSpec,
                        &[&[1]],
                        &mut out[used..limit],
                    )?;
                    cur = Cursor {
                        message: cur.message + 1,
                        offset: 0,
                    };
                }
                FlightMessage::Handshake {
                    epoch,
                    msg_type,
                    message_seq,
                    body,
                } => {
                    let per_record = records.room_for(*epoch, room);
                    let remaining = body.len() - cur.offset;
                    let fits_whole = per_record >= HS_HEADER_LEN + remaining;
                    let fits_fresh = records.room_for(*epoch, limit) >= HS_HEADER_LEN + remaining;
                    if !fits_whole && (used > 0 && fits_fresh || per_record <= HS_HEADER_LEN) {
                        if used == 0 {
                            // Not even an empty datagram holds one byte of it.
                            return Err(Error::Misuse(Misuse::DataTooLarge {
                                len: HS_HEADER_LEN + 1,
                                max: limit,
                            }));
                        }
                        break;
                    }
                    let n = remaining.min(per_record - HS_HEADER_LEN);
                    let header = HandshakeHeader {
                        msg_type: *msg_type,
                        length: body.len() as u32,
                        message_seq: *message_seq,
                        fragment_offset: cur.offset as u32,
                        fragment_length: n as u32,
                    };
                    used += records.seal(
                        *epoch,
                        ContentType::Handshake,
                        &[&header.to_bytes(), &body[cur.offset..cur.offset + n]],
                        &mut out[used..limit],
                    )?;
                    cur = if cur.offset + n >= body.len() {
                        Cursor {
                            message: cur.message + 1,
                            offset: 0,
                        }
                    } else {
                        Cursor {
                            message: cur.message,
                            offset: cur.offset + n,
                        }
                    };
                }
            }
            self.cursor = (cur.message < self.messages.len()).then_some(cur);
        }
        Ok(used)
    }
}

/// The retransmission timer: `initial`, doubling on each expiry, capped at `max`.
#[derive(Debug, Clone)]
pub(crate) struct RetransmitTimer {
    initial: Duration,
    max: Duration,
    current: Duration,
    deadline: Option<Instant>,
}

impl RetransmitTimer {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            current: initial,
            deadline: None,
        }
    }

    /// Arms the timer at its initial value (a new flight).
    pub(crate) fn restart(&mut self, now: Instant) {
        self.current = self.initial;
        self.deadline = Some(now + self.current);
    }

    /// Doubles the interval and arms again (an expiry).
    pub(crate) fn back_off(&mut self, now: Instant) {
        self.current = (self.current * 2).min(self.max);
        self.deadline = Some(now + self.current);
    }

    pub(crate) fn stop(&mut self) {
        self.deadline = None;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn initial(&self) -> Duration {
        self.initial
    }
}

#[cfg(test)]
mod tests {
    use super::super::handshake::{HandshakeHeader, Reassembler, fragments};
    use super::super::record::records;
    use super::*;

    #[test]
    fn a_flight_is_packed_fragmented_and_reassembles() {
        let mut layer = RecordLayer::new();
        let mut flight = Flight::default();
        flight.start();
        let big: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        for (seq, body) in [vec![1u8; 40], big.clone(), vec![]].into_iter().enumerate() {
            flight.push(FlightMessage::Handshake {
                epoch: 0,
                msg_type: HandshakeType::Certificate,
                message_seq: seq as u16,
                body,
            });
        }
        flight.push(FlightMessage::ChangeCipherSpec);
        flight.send();
        let mut datagrams = Vec::new();
        while flight.is_sending() {
            let mut buf = [0u8; 1500];
            let n = flight.write_datagram(&mut layer, 1000, &mut buf).unwrap();
            assert!(n > 0 && n <= 1000);
            datagrams.push(buf[..n].to_vec());
        }
        assert_eq!(datagrams.len(), 3);
        let mut r = Reassembler::new();
        let mut out = Vec::new();
        let mut ccs = 0;
        for d in &datagrams {
            for rec in records(d) {
                let rec = rec.unwrap();
                if rec.header.content_type == ContentType::ChangeCipherSpec {
                    ccs += 1;
                    continue;
                }
                for f in fragments(rec.fragment) {
                    let (h, data): (HandshakeHeader, &[u8]) = f.unwrap();
                    r.insert(0, &h, data);
                    while let Some(m) = r.pop() {
                        out.push(m.body);
                    }
                }
            }
        }
        assert_eq!(out, vec![vec![1u8; 40], big, vec![]]);
        assert_eq!(ccs, 1);
    }
}
