//! The protected epochs of a DTLS 1.3 connection (RFC 9147 §4.2, §6.1): the epoch we write in
//! with its next sequence number, and the epochs we read with a replay window each; the
//! previous read epoch stays readable after a key change, for records reordered across it.
//! Also the list of handshake records received that an ACK reports (§7).

use crate::dtls::error::{Internal, Misuse, PeerMisbehaved};
use std::ops::Range;

use super::super::Error;
use super::super::arena::Plaintext;
use super::super::record::ContentType;
use super::record::{MAX_SEQUENCE, Opened, Protection, RecordNumber, UnifiedHeader};
use crate::wire::ReplayWindow;

/// RFC 9147 §4.5.1 leaves the window size open; 64 as in DTLS 1.2 here.
const REPLAY_WINDOW: usize = 64;
/// The most record numbers an ACK we send lists (one flight's records fit many times over).
pub(crate) const MAX_ACKED: usize = 64;

#[derive(Debug)]
struct WriteEpoch {
    protection: Protection,
    next: u64,
}

#[derive(Debug)]
struct ReadEpoch {
    protection: Protection,
    replay: ReplayWindow,
}

impl ReadEpoch {
    /// One more than the highest sequence number deprotected so far (RFC 9147 §4.2.2).
    fn expected(&self) -> u64 {
        self.replay.top().map_or(0, |t| t + 1)
    }
}

/// Both directions of the protected record layer. The current epochs live inline; the
/// previous ones, kept only for a while after a key change, are boxed so that a connection
/// which has let them go holds nothing for them.
#[derive(Debug, Default)]
pub(crate) struct RecordLayer13 {
    write: Option<WriteEpoch>,
    /// The epoch written before the current one, kept while a flight sealed in it may still
    /// need retransmitting (a client's last handshake flight, in epoch 2, after it has moved
    /// to epoch 3 for data).
    write_prev: Option<Box<WriteEpoch>>,
    /// The current read epoch.
    read: Option<ReadEpoch>,
    /// The read epoch before it, for records reordered across a key change and for a peer
    /// repeating its last handshake flight.
    read_prev: Option<Box<ReadEpoch>>,
}

/// A protected record opened by [`RecordLayer13::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) number: RecordNumber,
    pub(crate) content_type: ContentType,
    pub(crate) content: Range<usize>,
}

impl RecordLayer13 {
    /// Starts writing in a new epoch. RFC 8446 §5.3: the first record under a key has
    /// sequence number 0. RFC 9147 §4.2.1: epochs only grow.
    pub(crate) fn set_write(&mut self, protection: Protection) -> Result<(), Error> {
        if self
            .write
            .as_ref()
            .is_some_and(|w| w.protection.epoch() >= protection.epoch())
        {
            return Err(Error::Internal(Internal::Crypto));
        }
        self.write_prev = self.write.take().map(Box::new);
        self.write = Some(WriteEpoch {
            protection,
            next: 0,
        });
        Ok(())
    }

    /// Forgets the previous write epoch (its flight was acknowledged).
    pub(crate) fn drop_previous_write(&mut self) {
        self.write_prev = None;
    }

    /// Seals one record in `epoch`, the current write epoch or the one before it.
    pub(crate) fn seal_in(
        &mut self,
        epoch: u64,
        content_type: ContentType,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(usize, RecordNumber), Error> {
        let w = [self.write.as_mut(), self.write_prev.as_deref_mut()]
            .into_iter()
            .flatten()
            .find(|w| w.protection.epoch() == epoch)
            .ok_or(Error::Misuse(Misuse::NotConnected))?;
        Self::seal_epoch(w, content_type, parts, out)
    }

    /// Starts reading a new epoch; the current one becomes the previous, and the one before
    /// that is forgotten (RFC 9147 §4.2.1 lets old keys go once reordering is over).
    pub(crate) fn set_read(&mut self, protection: Protection) -> Result<(), Error> {
        if self
            .read
            .as_ref()
            .is_some_and(|r| r.protection.epoch() >= protection.epoch())
        {
            return Err(Error::Internal(Internal::Crypto));
        }
        self.read_prev = self.read.take().map(Box::new);
        self.read = Some(ReadEpoch {
            protection,
            replay: ReplayWindow::new(REPLAY_WINDOW),
        });
        Ok(())
    }

    /// Forgets the previous read epoch.
    pub(crate) fn drop_previous_read(&mut self) {
        self.read_prev = None;
    }

    /// The previous read epoch, while it is kept.
    pub(crate) fn previous_read_epoch(&self) -> Option<u64> {
        self.read_prev.as_ref().map(|r| r.protection.epoch())
    }

    pub(crate) fn write_epoch(&self) -> Option<u64> {
        self.write.as_ref().map(|w| w.protection.epoch())
    }

    pub(crate) fn read_epoch(&self) -> Option<u64> {
        self.read.as_ref().map(|r| r.protection.epoch())
    }

    /// Seals one record in the write epoch into the front of `out`; returns its length and
    /// record number (which the flight remembers, to learn from ACKs what arrived).
    /// RFC 9147 §4.2.1: a sequence number never wraps; the caller must update keys first.
    pub(crate) fn seal(
        &mut self,
        content_type: ContentType,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(usize, RecordNumber), Error> {
        let w = self
            .write
            .as_mut()
            .ok_or(Error::Misuse(Misuse::NotConnected))?;
        Self::seal_epoch(w, content_type, parts, out)
    }

    /// [`RecordLayer13::seal`] of one piece of content (application data, an alert, an ACK).
    /// The content comes as a slice, in registers: the data path's payload is read from the
    /// send queue straight into the call, where a one-part list built on the stack made the
    /// CPU reload the slice from a queue slot written moments before by `send` (a store
    /// forwarding stall of a few nanoseconds per record).
    #[inline]
    pub(crate) fn seal_one(
        &mut self,
        content_type: ContentType,
        plain: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let w = self.next_write()?;
        let n = w.protection.seal_one(w.next, content_type, plain, out)?;
        w.next += 1;
        Ok(n)
    }

    /// [`RecordLayer13::seal_one`] of the `plain_len` bytes of content already written
    /// after the header in `out` (see [`Protection::seal_in_place`]).
    #[inline]
    pub(crate) fn seal_in_place(
        &mut self,
        content_type: ContentType,
        plain_len: usize,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let w = self.next_write()?;
        let n = w
            .protection
            .seal_in_place(w.next, content_type, plain_len, out)?;
        w.next += 1;
        Ok(n)
    }

    /// The write epoch, if its next record may be sealed (RFC 9147 §4.2.1: a sequence number
    /// never wraps).
    #[inline]
    fn next_write(&mut self) -> Result<&mut WriteEpoch, Error> {
        let w = self
            .write
            .as_mut()
            .ok_or(Error::Misuse(Misuse::NotConnected))?;
        if w.next > MAX_SEQUENCE {
            return Err(Error::Internal(Internal::SequenceExhausted));
        }
        Ok(w)
    }

    #[inline]
    fn seal_epoch(
        w: &mut WriteEpoch,
        content_type: ContentType,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(usize, RecordNumber), Error> {
        if w.next > MAX_SEQUENCE {
            return Err(Error::Internal(Internal::SequenceExhausted));
        }
        let n = w.protection.seal(w.next, content_type, parts, out)?;
        let number = RecordNumber {
            epoch: w.protection.epoch(),
            sequence: w.next,
        };
        w.next += 1;
        Ok((n, number))
    }

    /// Opens a protected record straight into `out` (see [`Protection::open_into`]), with the
    /// epoch choice and replay rules of [`RecordLayer13::open`].
    #[inline]
    pub(crate) fn open_into(
        &mut self,
        header: &UnifiedHeader,
        raw_header: &mut [u8],
        body: &[u8],
        out: &mut impl Plaintext,
    ) -> Result<Received, Error> {
        let slot = [self.read.as_mut(), self.read_prev.as_deref_mut()]
            .into_iter()
            .flatten()
            .find(|r| r.protection.epoch() & 3 == u64::from(header.epoch_bits))
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        let Opened {
            sequence,
            content_type,
            content,
        } = slot
            .protection
            .open_into(slot.expected(), header, raw_header, body, out)?;
        slot.replay.check(sequence).map_err(|_| Error::Replay)?;
        slot.replay.accept(sequence);
        Ok(Received {
            number: RecordNumber {
                epoch: slot.protection.epoch(),
                sequence,
            },
            content_type,
            content,
        })
    }

    /// Opens a protected record in place. RFC 9147 §4.2.2: the epoch is the current or the
    /// previous read epoch whose low two bits match, the current one first. Replays are
    /// refused before authentication and the window moves only after it.
    pub(crate) fn open(
        &mut self,
        header: &UnifiedHeader,
        raw_header: &mut [u8],
        body: &mut [u8],
    ) -> Result<Received, Error> {
        let slot = [self.read.as_mut(), self.read_prev.as_deref_mut()]
            .into_iter()
            .flatten()
            .find(|r| r.protection.epoch() & 3 == u64::from(header.epoch_bits))
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        // The sequence number is only known once unmasked, which needs the key: unmask and
        // open, then check the window (a replay fails here, before the window moves).
        let Opened {
            sequence,
            content_type,
            content,
        } = slot
            .protection
            .open(slot.expected(), header, raw_header, body)?;
        slot.replay.check(sequence).map_err(|_| Error::Replay)?;
        slot.replay.accept(sequence);
        Ok(Received {
            number: RecordNumber {
                epoch: slot.protection.epoch(),
                sequence,
            },
            content_type,
            content,
        })
    }
}

/// The handshake records received since the last ACK we sent (RFC 9147 §7: an ACK lists the
/// records containing handshake messages that were processed or buffered).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AckList {
    records: Vec<RecordNumber>,
}

impl AckList {
    /// Notes a record; duplicates are kept once, and past [`MAX_ACKED`] the oldest go (the
    /// peer retransmits what we could not report).
    pub(crate) fn note(&mut self, number: RecordNumber) {
        if self.records.contains(&number) {
            return;
        }
        if self.records.len() == MAX_ACKED {
            self.records.remove(0);
        }
        self.records.push(number);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The ACK to send, sorted as RFC 9147 §7 asks (record numbers in increasing order), and
    /// the list emptied.
    pub(crate) fn take(&mut self) -> super::record::Ack {
        let mut records = std::mem::take(&mut self.records);
        records.sort_unstable();
        super::record::Ack { records }
    }
}

#[cfg(test)]
mod tests {
    use super::super::key_schedule::{EarlySecret, LabelPrefix, TrafficSecret};
    use super::super::record::{AnyRecord, records};
    use super::super::suite::Suite13;
    use super::*;
    use crate::dtls::crypto::PrfHash;

    fn secret(n: u8) -> TrafficSecret {
        EarlySecret::new(PrfHash::Sha256, LabelPrefix::Dtls13)
            .into_handshake(&[n; 32])
            .unwrap()
            .client_traffic(&[0; 32])
            .unwrap()
    }

    fn prot(n: u8, epoch: u64) -> Protection {
        Protection::new(Suite13::Aes128GcmSha256, &secret(n), epoch).unwrap()
    }

    fn open(rx: &mut RecordLayer13, datagram: &[u8]) -> Result<(Received, Vec<u8>), Error> {
        let Some(Ok(AnyRecord::Ciphertext {
            header,
            raw_header,
            body,
        })) = records(datagram).next()
        else {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac));
        };
        let mut h = raw_header.to_vec();
        let mut b = body.to_vec();
        let got = rx.open(&header, &mut h, &mut b)?;
        let content = b[got.content.clone()].to_vec();
        Ok((got, content))
    }

    fn seal(tx: &mut RecordLayer13, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; data.len() + 64];
        let (n, _) = tx
            .seal(ContentType::ApplicationData, &[data], &mut buf)
            .unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn records_reordered_across_a_key_change_still_open() {
        let (mut tx, mut rx) = (RecordLayer13::default(), RecordLayer13::default());
        tx.set_write(prot(1, 3)).unwrap();
        rx.set_read(prot(1, 3)).unwrap();
        let old = seal(&mut tx, b"old");
        tx.set_write(prot(2, 4)).unwrap();
        rx.set_read(prot(2, 4)).unwrap();
        let new = seal(&mut tx, b"new");
        let (got, content) = open(&mut rx, &new).unwrap();
        assert_eq!((got.number.epoch, got.number.sequence), (4, 0));
        assert_eq!(content, b"new");
        let (got, content) = open(&mut rx, &old).unwrap();
        assert_eq!((got.number.epoch, content.as_slice()), (3, &b"old"[..]));
        rx.drop_previous_read();
        assert!(open(&mut rx, &old).is_err());
    }

    #[test]
    fn opening_into_a_buffer_matches_opening_in_place() {
        let (mut tx, mut rx, mut rx2) = (
            RecordLayer13::default(),
            RecordLayer13::default(),
            RecordLayer13::default(),
        );
        tx.set_write(prot(1, 3)).unwrap();
        rx.set_read(prot(1, 3)).unwrap();
        rx2.set_read(prot(1, 3)).unwrap();
        for len in [0usize, 1, 15, 16, 17, 1200] {
            let data: Vec<u8> = (0..len).map(|i| i as u8 | 1).collect();
            // One part (the one-pass path) and two parts (the in-place path).
            let r1 = seal(&mut tx, &data);
            let mut buf = vec![0u8; len + 64];
            let (n, _) = tx
                .seal(
                    ContentType::Handshake,
                    &[&data[..len / 2], &data[len / 2..]],
                    &mut buf,
                )
                .unwrap();
            for (rec, kind) in [
                (r1, ContentType::ApplicationData),
                (buf[..n].to_vec(), ContentType::Handshake),
            ] {
                let (got, content) = open(&mut rx, &rec).unwrap();
                assert_eq!((got.content_type, &content), (kind, &data));
                let Some(Ok(AnyRecord::Ciphertext {
                    header,
                    raw_header,
                    body,
                })) = records(&rec).next()
                else {
                    panic!("a protected record");
                };
                let mut h = raw_header.to_vec();
                let mut out = vec![9u8; 3];
                let got2 = rx2.open_into(&header, &mut h, body, &mut out).unwrap();
                assert_eq!(got2.number, got.number);
                assert_eq!(&out[got2.content], &data[..]);
            }
        }
    }

    #[test]
    fn aes_gcm_records_are_padded_to_whole_blocks_when_they_fit() {
        use super::super::record::{HEADER_LEN, OVERHEAD, TAG_LEN};
        let (mut tx, mut rx) = (RecordLayer13::default(), RecordLayer13::default());
        tx.set_write(prot(1, 3)).unwrap();
        rx.set_read(prot(1, 3)).unwrap();
        for len in [0usize, 1, 14, 15, 16, 113, 1200] {
            let data = vec![7u8; len];
            let mut buf = vec![0u8; len + 64];
            let (n, _) = tx
                .seal(ContentType::ApplicationData, &[&data], &mut buf)
                .unwrap();
            assert_eq!((n - HEADER_LEN - TAG_LEN) % 16, 0, "{len} bytes: {n}");
            assert!(n < len + OVERHEAD + 16);
            let (got, content) = open(&mut rx, &buf[..n]).unwrap();
            assert_eq!(
                (got.content_type, content),
                (ContentType::ApplicationData, data.clone())
            );
            // No room for the padding: the record goes out unpadded, never past the room.
            let tight = len + OVERHEAD;
            let (n, _) = tx
                .seal(ContentType::ApplicationData, &[&data], &mut buf[..tight])
                .unwrap();
            assert_eq!(n, tight);
            let (_, content) = open(&mut rx, &buf[..n]).unwrap();
            assert_eq!(content, data);
        }
    }

    #[test]
    fn replays_are_refused_and_reordering_is_not() {
        let (mut tx, mut rx) = (RecordLayer13::default(), RecordLayer13::default());
        tx.set_write(prot(1, 3)).unwrap();
        rx.set_read(prot(1, 3)).unwrap();
        let recs: Vec<_> = (0..5).map(|i| seal(&mut tx, &[i; 20])).collect();
        for i in [1, 0, 4, 2, 3] {
            let (got, content) = open(&mut rx, &recs[i]).unwrap();
            assert_eq!(got.number.sequence, i as u64);
            assert_eq!(content, vec![i as u8; 20]);
        }
        assert_eq!(open(&mut rx, &recs[2]).unwrap_err(), Error::Replay);
    }

    #[test]
    fn sequence_numbers_reconstruct_past_the_16_bit_wrap() {
        let (mut tx, mut rx) = (RecordLayer13::default(), RecordLayer13::default());
        tx.set_write(prot(1, 3)).unwrap();
        rx.set_read(prot(1, 3)).unwrap();
        for i in 0..70_000u64 {
            let r = seal(&mut tx, b"x");
            // Open every 1000th record (and the ones around the wrap) to move the window.
            if i % 1000 == 0 || (65_530..65_540).contains(&i) || i == 69_999 {
                let (got, _) = open(&mut rx, &r).unwrap();
                assert_eq!(got.number.sequence, i);
            }
        }
    }

    #[test]
    fn epochs_only_grow_and_unknown_epochs_do_not_open() {
        let mut l = RecordLayer13::default();
        assert!(l.seal(ContentType::Alert, &[b"x"], &mut [0; 64]).is_err());
        l.set_write(prot(1, 3)).unwrap();
        assert!(l.set_write(prot(1, 3)).is_err());
        l.set_read(prot(1, 2)).unwrap();
        assert!(l.set_read(prot(1, 2)).is_err());
        let mut tx = RecordLayer13::default();
        tx.set_write(prot(1, 3)).unwrap();
        let r = seal(&mut tx, b"x");
        assert_eq!(
            open(&mut l, &r).unwrap_err(),
            Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac)
        );
    }

    #[test]
    fn ack_list_is_sorted_deduplicated_and_bounded() {
        let mut a = AckList::default();
        for s in [5u64, 3, 5, 4] {
            a.note(RecordNumber {
                epoch: 2,
                sequence: s,
            });
        }
        let ack = a.take();
        assert_eq!(
            ack.records.iter().map(|r| r.sequence).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(a.is_empty());
        for s in 0..(MAX_ACKED as u64 + 10) {
            a.note(RecordNumber {
                epoch: 2,
                sequence: s,
            });
        }
        let ack = a.take();
        assert_eq!(ack.records.len(), MAX_ACKED);
        assert_eq!(ack.records[0].sequence, 10);
    }
}
