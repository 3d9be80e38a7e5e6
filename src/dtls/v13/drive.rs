//! How the endpoint drives a DTLS 1.3 connection: protected records in (RFC 9147 §4),
//! handshake messages to the role's state machine, ACKs both ways (§7), flights out with
//! selective retransmission, application data and KeyUpdate (§8).

use crate::dtls::error::{Internal, Misuse};
use std::time::Instant;

use super::super::Error;
use super::super::alert::Alert;
use super::super::arena::RecordBuf;
use super::super::config::Role;
use super::super::endpoint::{Endpoint, State};
use super::super::event::Event;
use super::super::handshake::{HandshakeType, Insert, fragments};
use super::super::record::ContentType;
use super::conn::{CONTENT_ACK, Conn13, PendingUpdate, State13};
use super::messages::KeyUpdate;
use super::record::{Ack, OVERHEAD, Protection, RecordNumber, UnifiedHeader};
use crate::wire::Writer;

impl Endpoint {
    /// Sends the flight's unacknowledged messages (again) and arms the timer; with nothing
    /// left to send, stops it.
    pub(crate) fn send_flight13(&mut self, c: &mut Conn13, now: Instant, fresh: bool) {
        c.flight.send();
        if !c.flight.is_sending() {
            self.timer.stop();
            return;
        }
        self.flight_sent_at = Some(now);
        if fresh {
            self.timer.restart(now);
        } else {
            self.stats.retransmissions += 1;
            self.timer.back_off(now);
        }
    }

    /// Treats `plain` as the opened content of a record in the current read epoch (the fuzz
    /// targets and property tests reach the 1.3 state machines this way).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn inject13(&mut self, now: Instant, content_type: u8, plain: &[u8]) {
        let Some(c) = self.v13.as_ref() else { return };
        let epoch = c.records.read_epoch().unwrap_or(0);
        let number = RecordNumber {
            epoch,
            sequence: self.stats.records_received,
        };
        let result = match ContentType::from_u8(content_type) {
            ContentType::Handshake => self.handshake13(now, epoch, Some(number), plain),
            ContentType::Unknown(CONTENT_ACK) => Ack::parse(plain).map(|ack| self.on_ack13(ack)),
            ContentType::Alert => Alert::parse(plain).map(|a| self.handle_alert(a)),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// A protected record (unified header), decrypted straight into the buffer application
    /// data is handed on in (see `Endpoint::record_buf`).
    pub(crate) fn process_record13(
        &mut self,
        now: Instant,
        header: &UnifiedHeader,
        raw_header: &[u8],
        body: &[u8],
    ) {
        // The unified header is at most 5 bytes without a connection ID (which we never
        // negotiate, so `UnifiedHeader::parse` refuses one).
        let mut head = [0u8; 8];
        if self.v13.is_none() || raw_header.len() > head.len() {
            self.stats.records_dropped += 1;
            return;
        }
        let head = &mut head[..raw_header.len()];
        head.copy_from_slice(raw_header);
        // RFC 9147 §4: application data only in epoch 3 and later; and only once the peer is
        // verified.
        let verified = self.connected && self.state == State::Established;
        let data_allowed = |epoch| epoch >= 3 && verified;
        let (opened, mut data) = if self.share_data {
            let mut data = self.record_buf(body.len());
            let Some(c) = self.v13.as_mut() else {
                self.give_back(data);
                return;
            };
            (c.records.open_into(header, head, body, &mut data), data)
        } else {
            // Opened straight into the vector of the `Event::Data` it is handed on in, queued
            // first (see `Endpoint::open_into_event`); any other record takes it back out.
            self.events
                .push_back(Event::Data(self.app_pool.pop().unwrap_or_default()));
            let opened = match (self.v13.as_mut(), self.events.back_mut()) {
                (Some(c), Some(Event::Data(buf))) => c.records.open_into(header, head, body, buf),
                _ => Err(Error::Internal(Internal::Crypto)),
            };
            if let Ok(rec) = &opened
                && rec.content_type == ContentType::ApplicationData
                && data_allowed(rec.number.epoch)
                && let Some(Event::Data(buf)) = self.events.back_mut()
            {
                buf.truncate(rec.content.end);
                self.stats.records_received += 1;
                return;
            }
            let Some(Event::Data(buf)) = self.events.pop_back() else {
                return;
            };
            (opened, RecordBuf::Pooled(buf))
        };
        let Ok(rec) = opened else {
            self.stats.records_dropped += 1;
            self.give_back(data);
            return;
        };
        self.stats.records_received += 1;
        if rec.content_type == ContentType::ApplicationData {
            if data_allowed(rec.number.epoch) {
                data.truncate(rec.content.end);
                self.deliver(data);
            } else {
                self.stats.records_dropped += 1;
                self.give_back(data);
            }
            return;
        }
        let content = &data[rec.content.clone()];
        let result = match rec.content_type {
            ContentType::Handshake => {
                self.handshake13(now, rec.number.epoch, Some(rec.number), content)
            }
            ContentType::Unknown(CONTENT_ACK) => Ack::parse(content).map(|ack| self.on_ack13(ack)),
            ContentType::Alert => Alert::parse(content).map(|a| self.handle_alert(a)),
            _ => {
                self.stats.records_dropped += 1;
                Ok(())
            }
        };
        self.give_back(data);
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// Handshake fragments of one record (`number` is `None` for a plaintext record).
    pub(crate) fn handshake13(
        &mut self,
        now: Instant,
        epoch: u64,
        number: Option<RecordNumber>,
        plain: &[u8],
    ) -> Result<(), Error> {
        let Some(mut c) = self.v13.take() else {
            return Ok(());
        };
        let result = self.handshake13_with(now, &mut c, epoch, number, plain);
        self.v13 = Some(c);
        if result.is_ok()
            && self.state == State::Handshaking
            && self.v13.as_ref().is_some_and(|c| c.is_connected())
        {
            self.handshake_complete();
        }
        result
    }

    fn handshake13_with(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        epoch: u64,
        number: Option<RecordNumber>,
        plain: &[u8],
    ) -> Result<(), Error> {
        let mut saw_old = false;
        let mut noted = false;
        for fragment in fragments(plain) {
            let Ok((header, data)) = fragment else {
                self.stats.records_dropped += 1;
                break;
            };
            match c.reassembler.insert(epoch as u16, &header, data) {
                Insert::Old => saw_old = true,
                Insert::Dropped => {
                    self.stats.records_dropped += 1;
                    continue;
                }
                Insert::Buffered => {}
            }
            // RFC 9147 §7: an ACK lists the records whose handshake data was processed or
            // buffered.
            if let Some(n) = number {
                c.acks.note(n);
                noted = true;
            }
            while let Some(msg) = c.reassembler.pop() {
                match self.config.role {
                    Role::Client => self.client13_message(now, c, msg)?,
                    Role::Server => self.server13_message(now, c, msg)?,
                }
            }
        }
        if saw_old {
            self.peer_repeated13(now, c);
        }
        // RFC 9147 §7.1: a partial flight is acknowledged after a short delay, so the peer
        // resends only what is missing; a complete one is answered by our next flight.
        if noted && !c.acks.is_empty() && c.ack_at.is_none() {
            c.ack_at = Some(now + self.timer.initial() / 4);
        }
        Ok(())
    }

    /// The peer repeated records we already processed: it has not heard from us. Resend what
    /// of our flight is unacknowledged (at most every half initial timeout) and acknowledge
    /// what we got at once.
    fn peer_repeated13(&mut self, now: Instant, c: &mut Conn13) {
        if !c.acks.is_empty() {
            c.ack_at = Some(now);
        }
        if c.flight.is_empty() || c.flight.is_acked() || c.flight.is_sending() {
            return;
        }
        let gap = self.timer.initial() / 2;
        if self.flight_sent_at.is_some_and(|at| now < at + gap) {
            return;
        }
        c.flight.send();
        self.flight_sent_at = Some(now);
        self.stats.retransmissions += 1;
    }

    /// An ACK from the peer: what it names needs no resending; a flight acknowledged whole
    /// ends its timer, and a KeyUpdate acknowledged moves our writing to the new epoch.
    fn on_ack13(&mut self, ack: Ack) {
        let Some(mut c) = self.v13.take() else { return };
        if !c.flight.is_empty() && c.flight.on_ack(&ack) {
            c.flight.clear();
            c.final_flight_until = None;
            self.timer.stop();
            c.records.drop_previous_write();
            if c.is_connected() && self.config.role == Role::Client {
                // RFC 9147 §5.8.4: our last flight is acknowledged; the server will not repeat
                // its own, so its handshake epoch can go too.
                c.release_handshake();
            }
            if let Some(p) = c.pending_update.take() {
                // RFC 9147 §8: the sender moves to the new keys once its KeyUpdate is
                // acknowledged.
                if let Err(e) = switch_write(&mut c, p) {
                    self.v13 = Some(c);
                    self.fail(e);
                    return;
                }
            }
        }
        self.v13 = Some(c);
    }

    /// The peer's KeyUpdate (RFC 8446 §4.6.3, RFC 9147 §8): its next records use the next
    /// secret; we acknowledge at once and, when asked, update ours too.
    pub(crate) fn key_update_received(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        body: &[u8],
    ) -> Result<(), Error> {
        let request = KeyUpdate::parse(body)?;
        let session = c
            .session
            .as_mut()
            .ok_or(Error::Internal(Internal::Crypto))?;
        let next = session.read_secret.next()?;
        let epoch = c
            .records
            .read_epoch()
            .ok_or(Error::Internal(Internal::Crypto))?
            + 1;
        c.records
            .set_read(Protection::new(session.suite, &next, epoch)?)?;
        session.read_secret = next;
        c.key_updates += 1;
        c.ack_at = Some(now);
        if request == KeyUpdate::Requested && c.pending_update.is_none() && c.flight.is_acked() {
            self.start_key_update(now, c, KeyUpdate::NotRequested)?;
        }
        Ok(())
    }

    fn start_key_update(
        &mut self,
        now: Instant,
        c: &mut Conn13,
        request: KeyUpdate,
    ) -> Result<(), Error> {
        let session = c
            .session
            .as_ref()
            .ok_or(Error::Misuse(Misuse::NotConnected))?;
        let next = session.write_secret.next()?;
        let epoch = c
            .records
            .write_epoch()
            .ok_or(Error::Misuse(Misuse::NotConnected))?;
        c.flight.start();
        c.push(epoch, HandshakeType::KeyUpdate, vec![request.to_u8()]);
        c.pending_update = Some(PendingUpdate { next });
        self.send_flight13(c, now, true);
        Ok(())
    }

    /// DTLS 1.3 only: updates our sending keys and asks the peer to update its own (RFC 8446
    /// §4.6.3 update_requested). The new keys are used once the peer acknowledges the
    /// KeyUpdate (RFC 9147 §8); until then data goes out under the current ones. Fails with
    /// [`Misuse::NotConnected`] before the connection is up, on DTLS 1.2, or while an earlier
    /// update or the handshake's last flight is still unacknowledged.
    pub fn update_keys(&mut self, now: Instant) -> Result<(), Error> {
        if !self.is_connected() {
            return Err(Error::Misuse(Misuse::NotConnected));
        }
        let Some(mut c) = self.v13.take() else {
            return Err(Error::Misuse(Misuse::NotConnected));
        };
        let result = if c.pending_update.is_some() || !c.flight.is_acked() {
            Err(Error::Misuse(Misuse::NotConnected))
        } else {
            self.start_key_update(now, &mut c, KeyUpdate::Requested)
        };
        self.v13 = Some(c);
        result
    }

    /// KeyUpdates completed in both directions since the handshake (DTLS 1.3).
    pub fn key_updates(&self) -> u64 {
        self.v13.as_ref().map_or(0, |c| c.key_updates)
    }

    /// The DTLS 1.3 part of `poll_transmit`: the flight, a due ACK, then alerts and data.
    pub(crate) fn poll_transmit13(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        let Some(c) = self.v13.as_ref() else {
            return 0;
        };
        // Nothing for any step below (no flight, ACK, alert, queued record or close to
        // start): every datagram on the data path, which goes out through `seal_with`, asks
        // first. Answered without moving the connection out and back.
        if !c.flight.is_sending()
            && c.ack_at.is_none_or(|t| now < t)
            && self.alerts_out.is_empty()
            && self.app_out.is_empty()
            && !self.close_after_data
        {
            return 0;
        }
        let Some(mut c) = self.v13.take() else {
            return 0;
        };
        let limit = self.config.mtu.min(buf.len());
        let mut used = 0;
        if c.flight.is_sending() {
            match c
                .flight
                .write_datagram(&mut self.records, &mut c.records, self.config.mtu, buf)
            {
                Ok(n) => used = n,
                Err(_) => {
                    self.stats.transmit_dropped += 1;
                    c.flight.stop_sending();
                }
            }
        }
        if c.ack_at.is_some_and(|t| now >= t) {
            if c.acks.is_empty() || c.records.write_epoch().is_none() {
                c.ack_at = None;
            } else {
                let ack = c.acks.take();
                let mut body = vec![0u8; ack.len()];
                let room = limit - used;
                if OVERHEAD + body.len() > room && used > 0 {
                    // Next datagram.
                    for n in ack.records {
                        c.acks.note(n);
                    }
                } else if ack.write(&mut Writer::new(&mut body)).is_ok() {
                    match c.records.seal(
                        ContentType::Unknown(CONTENT_ACK),
                        &[&body],
                        &mut buf[used..limit],
                    ) {
                        Ok((n, _)) => used += n,
                        Err(_) => self.stats.transmit_dropped += 1,
                    }
                    c.ack_at = None;
                }
            }
        }
        if used == 0 {
            used = self.seal13_alerts_and_data(&mut c, buf, limit);
        }
        self.v13 = Some(c);
        used
    }

    fn seal13_alerts_and_data(&mut self, c: &mut Conn13, buf: &mut [u8], limit: usize) -> usize {
        let mut used = 0;
        while let Some(alert) = self.alerts_out.front() {
            let bytes = [alert.level.to_u8(), alert.description.to_u8()];
            let sealed = if c.records.write_epoch().is_some() {
                c.records
                    .seal(ContentType::Alert, &[&bytes], &mut buf[used..limit])
                    .map(|(n, _)| n)
            } else {
                self.records
                    .seal(0, ContentType::Alert, &[&bytes], &mut buf[used..limit])
            };
            match sealed {
                Ok(n) => used += n,
                Err(_) if used > 0 => return used,
                Err(_) => self.stats.transmit_dropped += 1,
            }
            self.alerts_out.pop_front();
        }
        let draining = self.close_after_data && self.state == State::Closed;
        if !self.connected || (self.state != State::Established && !draining) {
            return used;
        }
        while let Some(data) = self.app_out.front() {
            match c
                .records
                .seal_one(ContentType::ApplicationData, data, &mut buf[used..limit])
            {
                Ok(n) => used += n,
                Err(_) if used > 0 => return used,
                Err(_) => self.stats.transmit_dropped += 1,
            }
            if let Some(done) = self.app_out.pop_front() {
                self.app_out_bytes -= done.len();
                self.recycle(done);
            }
        }
        if draining && self.app_out.is_empty() {
            self.close_after_data = false;
            self.alerts_out
                .push_back(Alert::warning(super::super::AlertDescription::CloseNotify));
        }
        used
    }

    /// Retransmits the DTLS 1.3 flight on the timer.
    pub(crate) fn retransmit13(&mut self, now: Instant) {
        if let Some(mut c) = self.v13.take() {
            let give_up = c.pending_update.is_none()
                && c.final_flight_until.is_some_and(|until| now >= until);
            if give_up {
                c.flight.clear();
                c.final_flight_until = None;
                self.timer.stop();
                c.release_handshake();
            } else {
                self.send_flight13(&mut c, now, false);
            }
            self.v13 = Some(c);
        }
    }

    /// When the next ACK is due, or the server's handshake epoch is let go (DTLS 1.3).
    pub(crate) fn deadline13(&self) -> Option<Instant> {
        let c = self.v13.as_ref()?;
        [c.ack_at, c.handshake_epoch_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Server: lets the client's handshake epoch go once its retention time is over.
    pub(crate) fn retire13(&mut self, now: Instant) {
        if let Some(c) = self.v13.as_mut()
            && c.handshake_epoch_until.is_some_and(|t| now >= t)
        {
            c.release_handshake();
        }
    }

    /// Ends what a DTLS 1.3 connection would still send of its handshake.
    pub(crate) fn shut13(&mut self) {
        if let Some(c) = self.v13.as_mut() {
            c.flight.clear();
            c.ack_at = None;
            if !c.is_connected() {
                c.state = State13::Closed;
            }
        }
    }
}

/// Installs the write keys a KeyUpdate of ours announced.
fn switch_write(c: &mut Conn13, p: PendingUpdate) -> Result<(), Error> {
    let session = c
        .session
        .as_mut()
        .ok_or(Error::Internal(Internal::Crypto))?;
    let epoch = c
        .records
        .write_epoch()
        .ok_or(Error::Internal(Internal::Crypto))?
        + 1;
    c.records
        .set_write(Protection::new(session.suite, &p.next, epoch)?)?;
    c.records.drop_previous_write();
    session.write_secret = p.next;
    c.key_updates += 1;
    Ok(())
}
