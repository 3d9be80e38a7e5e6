//! The receive path: datagrams into records, records into handshake messages, alerts and
//! application data.

use crate::dtls::error::Internal;
use std::time::Instant;

use super::Error;
use super::alert::{Alert, AlertDescription, AlertLevel};
use super::config::Role;
use super::endpoint::{Endpoint, MAX_EARLY_BYTES, MAX_EARLY_RECORDS, State};
use super::event::Event;
use super::handshake::{HandshakeType, Insert, fragments};
use super::record::{ContentType, HEADER_LEN, Record, RecordHeader};
use super::state::Step;
use super::v13::{
    self,
    record::{AnyRecord, UnifiedHeader},
};
use crate::Datagram;
use crate::wire::Reader;

impl Endpoint {
    /// Everything `handle_datagram` does.
    pub(crate) fn receive(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.stats.datagrams_received += 1;
        if matches!(self.state, State::Closed | State::Failed) {
            return;
        }
        if self.remote.is_some_and(|r| r != datagram.source) {
            self.stats.records_dropped += 1;
            return;
        }
        if self.data_record12(datagram.contents) || self.single_record13(now, datagram.contents) {
            return;
        }
        // Both record forms: DTLS 1.2 and 1.3 plaintext headers, and DTLS 1.3's unified header
        // (RFC 9147 §4.1; the first byte tells them apart).
        for record in v13::record::records(datagram.contents) {
            match record {
                Ok(AnyRecord::Plaintext(record)) => self.process_record(now, record, &datagram),
                Ok(AnyRecord::Ciphertext {
                    raw_header, body, ..
                }) if self.v13.is_none() => self.early13(raw_header, body),
                Ok(AnyRecord::Ciphertext {
                    header,
                    raw_header,
                    body,
                }) => self.process_record13(now, &header, raw_header, body),
                Err(_) => {
                    self.stats.records_dropped += 1;
                    break;
                }
            }
            if matches!(self.state, State::Closed | State::Failed) {
                return;
            }
        }
        self.drain_early(now, &datagram);
    }

    /// The data path of DTLS 1.2: a datagram that is one application-data record, on an
    /// established connection with nothing buffered, goes straight to
    /// [`application_data`](Self::application_data), without the walk over records of
    /// either form that ends up there (whose per-record values cost more than the header
    /// read). `false`, having done nothing, for any other datagram.
    #[inline]
    fn data_record12(&mut self, contents: &[u8]) -> bool {
        let fast = self.v13.is_none()
            && self.connected
            && self.state == State::Established
            && self.early.is_empty();
        let Some((head, fragment)) = contents.split_first_chunk::<HEADER_LEN>() else {
            return false;
        };
        let header = RecordHeader::from_bytes(head);
        if !fast
            || header.content_type != ContentType::ApplicationData
            || usize::from(header.length) != fragment.len()
        {
            return false;
        }
        self.record_seq = header.sequence;
        self.application_data(header.epoch, &Record { header, fragment });
        true
    }

    /// The data path of DTLS 1.3: a datagram that is one protected record (unified header),
    /// with nothing buffered, goes straight to `process_record13`, as the walk over records
    /// of either form would send it there, without that walk's per-record values. `false`,
    /// having done nothing, for any other datagram.
    #[inline]
    fn single_record13(&mut self, now: Instant, contents: &[u8]) -> bool {
        if self.v13.is_none()
            || !self.early.is_empty()
            || !contents
                .first()
                .is_some_and(|&b| v13::record::is_unified(b))
        {
            return false;
        }
        let mut r = Reader::new(contents);
        let Ok(header) = UnifiedHeader::parse(&mut r) else {
            return false;
        };
        let (raw_header, body) = contents.split_at(r.position());
        if header.length.is_some_and(|n| usize::from(n) != body.len()) {
            return false;
        }
        self.process_record13(now, &header, raw_header, body);
        true
    }

    pub(crate) fn process_record(
        &mut self,
        now: Instant,
        record: Record<'_>,
        dgram: &Datagram<'_>,
    ) {
        let epoch = record.header.epoch;
        self.record_seq = record.header.sequence;
        if self.v13.is_some() {
            self.plaintext13(now, record);
            return;
        }
        if !self.records.can_read(epoch) {
            // RFC 6347 §4.1: records of the next epoch may arrive before its keys; keep a few.
            let keep = epoch == 1
                && self.state == State::Handshaking
                && self.early.len() < MAX_EARLY_RECORDS
                && self.early.iter().map(Vec::len).sum::<usize>() + record.fragment.len()
                    <= MAX_EARLY_BYTES;
            if keep {
                let mut raw = Vec::with_capacity(HEADER_LEN + record.fragment.len());
                raw.resize(HEADER_LEN, 0);
                let mut w = crate::wire::Writer::new(&mut raw);
                if record.header.write(&mut w).is_ok() {
                    raw.extend_from_slice(record.fragment);
                    self.early.push(raw);
                }
            } else {
                self.stats.records_dropped += 1;
            }
            return;
        }
        if record.header.content_type == ContentType::ApplicationData {
            self.application_data(epoch, &record);
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        match self.records.open(&record, &mut scratch) {
            Ok(plain) => {
                self.stats.records_received += 1;
                let result = self.dispatch(now, epoch, record.header.content_type, plain, dgram);
                if let Err(e) = result {
                    self.fail(e);
                }
            }
            Err(_) => self.stats.records_dropped += 1,
        }
        self.scratch = scratch;
    }

    /// Application data goes straight from the datagram into the buffer it is handed on in (a
    /// recycled vector for `Event::Data`, or an arena; see `Endpoint::record_buf`).
    /// Data before the connection is verified, or in epoch 0, is dropped unread.
    #[inline]
    fn application_data(&mut self, epoch: u16, record: &Record<'_>) {
        if epoch != 1 || !self.connected || self.state != State::Established {
            self.stats.records_dropped += 1;
            return;
        }
        let opened = if self.share_data {
            let mut buf = self.record_buf(record.fragment.len());
            let opened = self.records.open_owned(record, &mut buf);
            match opened {
                Ok(()) => self.deliver(buf),
                Err(_) => self.give_back(buf),
            }
            opened
        } else {
            self.open_into_event(record)
        };
        match opened {
            Ok(()) => {
                self.stats.records_received += 1;
                // The peer is surely done with the handshake: its last flight needs no more
                // answering (RFC 6347 §4.2.4).
                if self.hs.is_some() {
                    self.hs = None;
                    self.flight.clear();
                }
            }
            Err(_) => self.stats.records_dropped += 1,
        }
    }

    /// Opens a record of application data straight into the vector of the `Event::Data` it
    /// is handed on in, queued first: the vector is written where `poll_event` reads it,
    /// rather than moved there after the AEAD filled it (a move that read its fields back
    /// just after they were written, costing a store-forwarding stall per record). A record
    /// that fails to open takes its event back out.
    #[inline]
    fn open_into_event(&mut self, record: &Record<'_>) -> Result<(), Error> {
        let buf = self.app_pool.pop().unwrap_or_default();
        self.events.push_back(Event::Data(buf));
        let opened = match self.events.back_mut() {
            Some(Event::Data(buf)) => self.records.open_owned(record, buf),
            _ => Err(Error::Internal(Internal::Crypto)),
        };
        if opened.is_err()
            && let Some(Event::Data(buf)) = self.events.pop_back()
        {
            self.recycle(buf);
        }
        opened
    }

    fn dispatch(
        &mut self,
        now: Instant,
        epoch: u16,
        content_type: ContentType,
        plain: &[u8],
        dgram: &Datagram<'_>,
    ) -> Result<(), Error> {
        match content_type {
            ContentType::Handshake => self.handle_handshake(now, epoch, plain, dgram),
            // The epoch change is proven by the keys of the records that follow it; the
            // ChangeCipherSpec itself carries nothing we need.
            ContentType::ChangeCipherSpec => Ok(()),
            ContentType::Alert => {
                // Once established, the peer writes in epoch 1: a plaintext alert can only
                // come from an off-path attacker trying to end the connection.
                if epoch == 0 && self.state == State::Established {
                    self.stats.records_dropped += 1;
                    return Ok(());
                }
                let alert = Alert::parse(plain)?;
                self.handle_alert(alert);
                Ok(())
            }
            ContentType::ApplicationData | ContentType::Unknown(_) => {
                self.stats.records_dropped += 1;
                Ok(())
            }
        }
    }

    /// A plaintext record once DTLS 1.3 is negotiated: only epoch 0 handshake messages (a
    /// repeated hello) and, during the handshake, alerts.
    fn plaintext13(&mut self, now: Instant, record: Record<'_>) {
        if record.header.epoch != 0 {
            self.stats.records_dropped += 1;
            return;
        }
        let result = match record.header.content_type {
            ContentType::Handshake => self.handshake13(now, 0, None, record.fragment),
            ContentType::Alert if self.state == State::Handshaking => {
                Alert::parse(record.fragment).map(|a| self.handle_alert(a))
            }
            _ => {
                self.stats.records_dropped += 1;
                Ok(())
            }
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    pub(crate) fn handle_alert(&mut self, alert: Alert) {
        match (alert.level, alert.description) {
            (_, AlertDescription::CloseNotify) => {
                if !matches!(self.state, State::Closed | State::Failed) {
                    // RFC 5246 §7.2.1: answer close_notify with close_notify.
                    self.alerts_out
                        .push_back(Alert::warning(AlertDescription::CloseNotify));
                    self.shut(State::Closed);
                    self.events.push_back(Event::Closed);
                }
            }
            (AlertLevel::Warning, _) => {}
            (_, description) => {
                if !matches!(self.state, State::Closed | State::Failed) {
                    self.shut(State::Failed);
                    self.failure = Some(Error::Alert(description));
                    self.events
                        .push_back(Event::Failed(Error::Alert(description)));
                }
            }
        }
    }

    fn handle_handshake(
        &mut self,
        now: Instant,
        epoch: u16,
        plain: &[u8],
        dgram: &Datagram<'_>,
    ) -> Result<(), Error> {
        let mut saw_old = false;
        for fragment in fragments(plain) {
            let Ok((header, data)) = fragment else {
                self.stats.records_dropped += 1;
                break;
            };
            // Once established, a hello under the new keys starts a renegotiation, which we
            // refuse (RFC 5746 §4.2 lets us answer no_renegotiation and carry on).
            let hello = match self.config.role {
                Role::Server => HandshakeType::ClientHello,
                Role::Client => HandshakeType::HelloRequest,
            };
            let established = self.hs.as_ref().is_none_or(|hs| hs.step == Step::Done);
            if established && epoch == 1 && header.msg_type == hello {
                if header.fragment_offset == 0 {
                    self.queue_alert(Alert::warning(AlertDescription::NoRenegotiation));
                }
                continue;
            }
            let Some(hs) = self.hs.as_mut() else {
                continue;
            };
            // Neither a listening server nor a client waiting for the server's first message
            // can know the peer's message_seq: follow the peer's.
            let resync = match (hs.step, header.msg_type) {
                (Step::ServerListen, HandshakeType::ClientHello) => true,
                (Step::ClientWaitHello, HandshakeType::ServerHello) => {
                    header.message_seq < hs.reassembler.next_seq()
                }
                _ => false,
            };
            if resync && header.message_seq != hs.reassembler.next_seq() {
                hs.reassembler.resync(header.message_seq);
            }
            match hs.reassembler.insert(epoch, &header, data) {
                Insert::Old => saw_old = true,
                Insert::Dropped => self.stats.records_dropped += 1,
                Insert::Buffered => {}
            }
            while let Some(msg) = self.hs.as_mut().and_then(|hs| hs.reassembler.pop()) {
                match self.config.role {
                    Role::Client => self.client_message(now, msg)?,
                    Role::Server => self.server_message(now, msg, dgram)?,
                }
                if self.state != State::Handshaking && self.state != State::Established {
                    return Ok(());
                }
            }
        }
        if saw_old {
            self.peer_repeated(now);
        }
        Ok(())
    }

    /// The peer sent part of a flight we already processed, so it has not heard our answer:
    /// send it again (RFC 6347 §4.2.4), but not more often than every half initial timeout,
    /// so duplicated datagrams cannot set off a storm.
    fn peer_repeated(&mut self, now: Instant) {
        let Some(hs) = &self.hs else { return };
        if hs.step == Step::ServerListen || self.flight.is_empty() || self.flight.is_sending() {
            return;
        }
        let gap = self.timer.initial() / 2;
        if self.flight_sent_at.is_some_and(|at| now < at + gap) {
            return;
        }
        self.flight.send();
        self.flight_sent_at = Some(now);
        self.stats.retransmissions += 1;
    }

    fn drain_early(&mut self, now: Instant, dgram: &Datagram<'_>) {
        if self.early.is_empty() || !(self.records.can_read(1) || self.v13.is_some()) {
            return;
        }
        for raw in std::mem::take(&mut self.early) {
            match v13::record::records(&raw).next() {
                Some(Ok(AnyRecord::Plaintext(record))) => self.process_record(now, record, dgram),
                Some(Ok(AnyRecord::Ciphertext {
                    header,
                    raw_header,
                    body,
                })) => self.process_record13(now, &header, raw_header, body),
                _ => {}
            }
        }
    }

    /// A DTLS 1.3 protected record before the ServerHello that selects 1.3 (reordered ahead
    /// of it, or the hello lost): a client that offered 1.3 keeps a few, as for DTLS 1.2's
    /// epoch 1 (RFC 9147 §4.2.1 lets records of a future epoch be buffered).
    fn early13(&mut self, raw_header: &[u8], body: &[u8]) {
        let offered = self.hs.as_ref().is_some_and(|hs| hs.offer13.is_some());
        let len = raw_header.len() + body.len();
        if offered
            && self.early.len() < MAX_EARLY_RECORDS
            && self.early.iter().map(Vec::len).sum::<usize>() + len <= MAX_EARLY_BYTES
        {
            let mut raw = Vec::with_capacity(len);
            raw.extend_from_slice(raw_header);
            raw.extend_from_slice(body);
            self.early.push(raw);
        } else {
            self.stats.records_dropped += 1;
        }
    }
}
