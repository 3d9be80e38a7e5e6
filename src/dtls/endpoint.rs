//! The DTLS endpoint: the [`Protocol`] implementation that moves records between the network,
//! the handshake (`client.rs`, `server.rs`) and the application.

use crate::dtls::error::{Misuse, PeerMisbehaved};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Error;
use super::alert::{Alert, AlertDescription};
use super::arena::{RecordBuf, Shared};
use super::cert::Identity;
use super::config::{Config, Role, UNSPECIFIED};
use super::crypto::{self, CipherSuite, MASTER_SECRET_LEN, MAX_RECORD_OVERHEAD, RANDOM_LEN};
use super::event::{Connected, Event, SrtpKeying, Stats};
use super::extensions::SrtpProfile;
use super::flight::{Flight, RetransmitTimer};
use super::record::Version;
use super::record::{ContentType, HEADER_LEN, MAX_PLAINTEXT, RecordLayer};
use super::state::{Handshake, Step};
use super::v13::conn::Conn13;
use super::v13::record::{HEADER_LEN as V13_HEADER_LEN, OVERHEAD as OVERHEAD13};
use crate::{Datagram, Protocol, Rng, Transmit};

/// At most this many bytes of application data wait to be sent.
const MAX_QUEUED: usize = 1 << 20;
/// Application-data buffers kept for reuse (sent records give theirs back, and so may the
/// application for received ones).
const POOL_LIMIT: usize = 4;
/// Protected records that arrive before their keys exist are kept, up to this many and this
/// many bytes (a client's Finished and a little data).
pub(crate) const MAX_EARLY_RECORDS: usize = 8;
pub(crate) const MAX_EARLY_BYTES: usize = 8 * 1024;
/// Below this MTU not even a fragment of a handshake message and its headers fit.
const MIN_MTU: usize = 128;
/// Every configured duration is clamped to this, so `Instant` arithmetic cannot overflow.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Stateless HelloVerifyRequests waiting to go out (a burst of ClientHellos from many
/// addresses must not grow memory).
pub(crate) const MAX_STATELESS: usize = 8;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Handshaking,
    Established,
    Closed,
    Failed,
}

/// What the handshake agreed on, kept for the exporter.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) suite: CipherSuite,
    pub(crate) master_secret: [u8; MASTER_SECRET_LEN],
    pub(crate) client_random: [u8; RANDOM_LEN],
    pub(crate) server_random: [u8; RANDOM_LEN],
    pub(crate) srtp: Option<SrtpProfile>,
}

/// A datagram prepared without connection state (a HelloVerifyRequest).
#[derive(Debug)]
pub(crate) struct Stateless {
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) bytes: Vec<u8>,
}

/// A DTLS 1.2 or 1.3 endpoint, client or server, for one peer over any datagram transport.
///
/// Drive it through [`Protocol`]; queue data with [`Endpoint::send`] and end it with
/// [`Endpoint::close`]. See the [module documentation](super) for an example.
#[derive(Debug)]
pub struct Endpoint {
    pub(crate) config: Config,
    pub(crate) identity: Identity,
    pub(crate) rng: Rng,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) records: RecordLayer,
    pub(crate) state: State,
    pub(crate) hs: Option<Box<Handshake>>,
    pub(crate) flight: Flight,
    pub(crate) flight_sent_at: Option<Instant>,
    pub(crate) timer: RetransmitTimer,
    pub(crate) handshake_deadline: Option<Instant>,
    pub(crate) stateless_out: VecDeque<Stateless>,
    pub(crate) cookie_secret: [u8; 32],
    pub(crate) session: Option<Session>,
    pub(crate) peer_certificate: Option<Vec<u8>>,
    pub(crate) verified: bool,
    pub(crate) handshake_done: bool,
    pub(crate) stats: Stats,
    pub(crate) alerts_out: VecDeque<Alert>,
    pub(crate) app_out: VecDeque<Vec<u8>>,
    pub(crate) app_pool: Vec<Vec<u8>>,
    /// Received application data goes out as shared memory through `poll_data` (see
    /// `share_received_data`) rather than as `Event::Data`.
    pub(crate) share_data: bool,
    /// Where shared application data is decrypted, and what `poll_data` has not taken yet:
    /// made at the first record, dropped when idle.
    pub(crate) shared: Option<Box<Shared>>,
    pub(crate) app_out_bytes: usize,
    pub(crate) events: VecDeque<Event>,
    pub(crate) scratch: Vec<u8>,
    pub(crate) early: Vec<Vec<u8>>,
    pub(crate) connected: bool,
    /// `close` was called with data still queued: that data goes out, then close_notify.
    pub(crate) close_after_data: bool,
    pub(crate) failure: Option<Error>,
    /// The sequence number of the record being processed (a HelloVerifyRequest echoes it).
    pub(crate) record_seq: u64,
    /// The DTLS 1.3 connection, once DTLS 1.3 is negotiated (`hs` and `session` then stay
    /// empty: the 1.3 states hold their own).
    pub(crate) v13: Option<Box<Conn13>>,
}

impl Endpoint {
    /// A new endpoint. A client queues its first flight at once, so the first
    /// `poll_transmit` sends the ClientHello; a server waits for one.
    pub fn new(config: Config, identity: Identity, now: Instant) -> Result<Self, Error> {
        if config.role == Role::Client && config.remote_addr.is_none() {
            return Err(Error::Misuse(Misuse::NoRemoteAddress));
        }
        if config.mtu < MIN_MTU {
            return Err(Error::Misuse(Misuse::InvalidConfig("mtu below 128 bytes")));
        }
        if !config.cipher_suites.iter().any(|s| s.is_supported()) {
            return Err(Error::Misuse(Misuse::InvalidConfig(
                "no supported cipher suite",
            )));
        }
        if !config.groups.iter().any(|g| g.is_supported()) {
            return Err(Error::Misuse(Misuse::InvalidConfig("no supported group")));
        }
        let mut config = config;
        config.retransmit_initial = config
            .retransmit_initial
            .clamp(Duration::from_millis(1), MAX_WAIT);
        config.retransmit_max = config.retransmit_max.min(MAX_WAIT);
        config.handshake_timeout = config.handshake_timeout.min(MAX_WAIT);
        let mut rng = Rng::new(config.seed);
        let mut cookie_secret = [0u8; 32];
        rng.fill(&mut cookie_secret);
        let timer = RetransmitTimer::new(config.retransmit_initial, config.retransmit_max);
        let mut ep = Self {
            local: config.local_addr,
            remote: config.remote_addr,
            identity,
            rng,
            records: RecordLayer::new(),
            state: State::Handshaking,
            hs: None,
            flight: Flight::default(),
            flight_sent_at: None,
            timer,
            handshake_deadline: None,
            stateless_out: VecDeque::new(),
            cookie_secret,
            session: None,
            peer_certificate: None,
            verified: false,
            handshake_done: false,
            stats: Stats::default(),
            alerts_out: VecDeque::new(),
            app_out: VecDeque::new(),
            app_pool: Vec::new(),
            share_data: false,
            shared: None,
            app_out_bytes: 0,
            events: VecDeque::new(),
            scratch: Vec::new(),
            early: Vec::new(),
            connected: false,
            close_after_data: false,
            failure: None,
            record_seq: 0,
            v13: None,
            config,
        };
        match ep.config.role {
            Role::Client => {
                ep.handshake_deadline = Some(now + ep.config.handshake_timeout);
                ep.client_start(now)?;
            }
            Role::Server => ep.hs = Some(Box::new(Handshake::new(Step::ServerListen))),
        }
        Ok(ep)
    }

    /// Queues one application-data record. Data queued before the connection is up waits for
    /// it. Fails once the endpoint is closed or failed, when the payload exceeds
    /// [`Endpoint::max_payload`], or when more than 1 MiB is already queued.
    pub fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        match self.state {
            State::Failed => return Err(self.failure.clone().unwrap_or(Error::Closed)),
            State::Closed => return Err(Error::Closed),
            _ => {}
        }
        let max = self.max_payload();
        if data.len() > max {
            return Err(Error::Misuse(Misuse::DataTooLarge {
                len: data.len(),
                max,
            }));
        }
        if self.app_out_bytes + data.len() > MAX_QUEUED {
            return Err(Error::Misuse(Misuse::SendQueueFull));
        }
        let mut buf = self.app_pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        self.app_out_bytes += data.len();
        self.app_out.push_back(buf);
        Ok(())
    }

    /// Sends `data` as one application-data record sealed straight into `buf`, with no copy
    /// into the send queue (rustls's unbuffered `encrypt` works the same way): the datagram,
    /// in the first `len` bytes of `buf`, to send at once. When the connection is not up yet,
    /// or something queued must go first (data from [`send`](Self::send), an alert), `data`
    /// is queued as `send` queues it and `Ok(None)` says that the next `poll_transmit`
    /// carries it. Fails as `send` does, and when the record does not fit `buf`: then
    /// nothing was sent or queued.
    #[inline]
    pub fn send_into(&mut self, data: &[u8], buf: &mut [u8]) -> Result<Option<Transmit>, Error> {
        let Some(destination) = self.remote.filter(|_| {
            self.is_connected() && self.app_out.is_empty() && self.alerts_out.is_empty()
        }) else {
            return self.send(data).map(|()| None);
        };
        let max = self.max_payload();
        if data.len() > max {
            return Err(Error::Misuse(Misuse::DataTooLarge {
                len: data.len(),
                max,
            }));
        }
        let limit = self.config.mtu.min(buf.len());
        let len = self.seal_data(data, &mut buf[..limit])?;
        self.stats.datagrams_sent += 1;
        Ok(Some(Transmit::new(
            self.local.unwrap_or(UNSPECIFIED),
            destination,
            len,
        )))
    }

    /// Seals one application-data record of `data` into the front of `out`, in the current
    /// write epoch of whichever version was negotiated.
    #[inline]
    fn seal_data(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        match self.v13.as_mut() {
            Some(c) => c.records.seal_one(ContentType::ApplicationData, data, out),
            None => self.records.seal_data(data, out),
        }
    }

    /// One datagram holding one record of application data that `fill` writes (returning its
    /// length, at most what it is given: [`max_payload`](Self::max_payload) bytes, fewer if
    /// `buf` cannot hold a whole record of that), sealed in `buf` where `fill` wrote it: the
    /// payload goes straight into the datagram and is encrypted there, with no copy and no
    /// send queue. For when nothing else waits to be sent (after `poll_transmit` gave `None`)
    /// and the connection is up; `None` otherwise, or when `fill` has nothing. An error when
    /// the record could not be sealed (`buf` cannot hold even a record of one byte; `fill`
    /// is not called then), counted in `transmit_dropped`.
    pub(crate) fn seal_with(
        &mut self,
        buf: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Option<Result<usize, Error>> {
        if !self.is_connected() || !self.app_out.is_empty() || !self.alerts_out.is_empty() {
            return None;
        }
        let limit = self.config.mtu.min(buf.len());
        // The bytes before the content and the least a record adds to it (1.3's padding is
        // left out when it does not fit).
        let (offset, overhead) = match &self.v13 {
            Some(_) => (V13_HEADER_LEN, OVERHEAD13),
            None => (
                self.records.data_offset(),
                HEADER_LEN + self.records.overhead(1),
            ),
        };
        let max = self.max_payload().min(limit.saturating_sub(overhead));
        if max == 0 {
            self.stats.transmit_dropped += 1;
            return Some(Err(crate::wire::Error::BufferTooSmall {
                needed: overhead + 1,
                remaining: limit,
            }
            .into()));
        }
        let n = fill(&mut buf[offset..offset + max]).filter(|&n| n <= max)?;
        let out = &mut buf[..limit];
        let sealed = match self.v13.as_mut() {
            Some(c) => c
                .records
                .seal_in_place(ContentType::ApplicationData, n, out),
            None => self.records.seal_data_in_place(n, out),
        };
        match sealed {
            Ok(_) => self.stats.datagrams_sent += 1,
            Err(_) => self.stats.transmit_dropped += 1,
        }
        Some(sealed)
    }

    /// Gives back the vector of an [`Event::Data`] once read: the next record received or sent
    /// reuses it, so the steady-state receive path allocates nothing. Optional; a few are kept.
    #[inline]
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.app_pool.len() < POOL_LIMIT {
            self.app_pool.push(buf);
        }
    }

    /// From now on, hands received application data out through [`poll_data`](Self::poll_data)
    /// as slices of shared buffers that come back once dropped, instead of as
    /// [`Event::Data`]: the layer above can keep parts of a record without copying them.
    pub(crate) fn share_received_data(&mut self) {
        self.share_data = true;
    }

    /// The next record of application data, in order, once
    /// [`share_received_data`](Self::share_received_data) was called. Events come first: a
    /// record is only ever received after `Event::Connected`, and whatever a record carries
    /// was sent before a `Closed` or `Failed` that follows it.
    pub(crate) fn poll_data(&mut self) -> Option<bytes::Bytes> {
        self.shared.as_mut()?.received.pop_front()
    }

    /// Whether `poll_event` or `poll_data` has something: lets the layer above skip draining
    /// an endpoint with nothing to hand out (every datagram sent on the steady-state path).
    #[inline]
    pub(crate) fn has_output(&self) -> bool {
        !self.events.is_empty() || self.shared.as_ref().is_some_and(|s| !s.received.is_empty())
    }

    /// A buffer for the plaintext of a record whose ciphertext is `len` bytes.
    #[inline]
    pub(crate) fn record_buf(&mut self, len: usize) -> RecordBuf {
        if self.share_data {
            RecordBuf::Shared(self.shared.get_or_insert_default().arena.take(len))
        } else {
            RecordBuf::Pooled(self.app_pool.pop().unwrap_or_default())
        }
    }

    /// Hands on a record of application data opened into `buf`.
    #[inline]
    pub(crate) fn deliver(&mut self, buf: RecordBuf) {
        match buf {
            RecordBuf::Pooled(v) => self.events.push_back(Event::Data(v)),
            RecordBuf::Shared(mut b) => {
                let shared = self.shared.get_or_insert_default();
                shared.received.push_back(b.split().freeze());
                shared.arena.put(b);
            }
        }
    }

    /// Takes back a buffer whose record failed to open or was not application data: nothing
    /// of it is handed on, and the next record overwrites it.
    #[inline]
    pub(crate) fn give_back(&mut self, buf: RecordBuf) {
        match buf {
            RecordBuf::Pooled(v) => self.recycle(v),
            RecordBuf::Shared(b) => self.shared.get_or_insert_default().arena.put(b),
        }
    }

    /// The largest payload [`Endpoint::send`] accepts: what fits in one record in one
    /// datagram of the configured MTU.
    pub fn max_payload(&self) -> usize {
        if self.v13.is_some() {
            return self
                .config
                .mtu
                .saturating_sub(OVERHEAD13)
                .min(MAX_PLAINTEXT);
        }
        let overhead = self
            .session
            .as_ref()
            .map_or(MAX_RECORD_OVERHEAD, |s| s.suite.record_overhead());
        self.config
            .mtu
            .saturating_sub(HEADER_LEN + overhead)
            .min(MAX_PLAINTEXT)
    }

    /// Ends the connection: sends the application data already queued with
    /// [`Endpoint::send`], then close_notify, and reports [`Event::Closed`]. Nothing can be
    /// queued afterwards. Does nothing once closed or failed.
    pub fn close(&mut self) {
        if matches!(self.state, State::Closed | State::Failed) {
            return;
        }
        // RFC 5246 §7.2.1: close_notify ends the write side; what the application handed us
        // before goes first, or a peer that ignores close_notify never learns the rest (an
        // SCTP SHUTDOWN queued just before, say).
        let keep_data = self.state == State::Established && self.connected;
        let queued = keep_data.then(|| std::mem::take(&mut self.app_out));
        let queued_bytes = self.app_out_bytes;
        self.shut(State::Closed);
        match queued {
            Some(q) if !q.is_empty() => {
                self.app_out = q;
                self.app_out_bytes = queued_bytes;
                self.close_after_data = true;
            }
            _ => self
                .alerts_out
                .push_back(Alert::warning(AlertDescription::CloseNotify)),
        }
        self.events.push_back(Event::Closed);
    }

    /// Sets the fingerprints the peer's certificate must match, for when signaling delivers
    /// them after the handshake has started. A certificate already received is checked now;
    /// a mismatch fails the connection.
    pub fn set_remote_fingerprints(&mut self, fingerprints: Vec<super::Fingerprint>) {
        self.config.remote_fingerprints = fingerprints;
        if let Err(e) = self.check_peer_certificate() {
            self.fail(e);
        } else {
            self.maybe_connected();
        }
    }

    /// RFC 5705 keying material exporter, available once connected.
    pub fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        len: usize,
    ) -> Result<Vec<u8>, Error> {
        if let Some(c) = &self.v13 {
            let s = c
                .session
                .as_ref()
                .filter(|_| self.connected)
                .ok_or(Error::Misuse(Misuse::NotConnected))?;
            let mut out = vec![0u8; len];
            s.exporter.export(label, context, &mut out)?;
            return Ok(out);
        }
        let s = self
            .session
            .as_ref()
            .filter(|_| self.connected)
            .ok_or(Error::Misuse(Misuse::NotConnected))?;
        let mut out = vec![0u8; len];
        crypto::export(
            s.suite.prf_hash(),
            &s.master_secret,
            label,
            &s.client_random,
            &s.server_random,
            context,
            &mut out,
        )?;
        Ok(out)
    }

    /// Whether the handshake completed and the peer is verified.
    pub fn is_connected(&self) -> bool {
        self.connected && self.state == State::Established
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The negotiated protocol version ([`Version::Dtls12`] or [`Version::Dtls13`]), once
    /// the ServerHello settled it; `None` before. WebRTC stats report it as `tlsVersion`
    /// (`FEFD`, `FEFC`: the wire value in hex).
    pub fn version(&self) -> Option<Version> {
        if self.v13.is_some() {
            Some(Version::Dtls13)
        } else if self.session.is_some() || self.hs.as_ref().is_some_and(|hs| hs.suite.is_some()) {
            Some(Version::Dtls12)
        } else {
            None
        }
    }

    /// The role this endpoint plays.
    pub fn role(&self) -> Role {
        self.config.role
    }

    /// The peer's address, once known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The peer's certificate (DER) once it has been received, even when it did not match
    /// the expected fingerprint (so a failure can say what the peer presented).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    /// Checks the peer's certificate against the expected fingerprints, when both are known.
    pub(crate) fn check_peer_certificate(&mut self) -> Result<(), Error> {
        let Some(cert) = &self.peer_certificate else {
            return Ok(());
        };
        if self.verified || self.config.remote_fingerprints.is_empty() {
            return Ok(());
        }
        // RFC 8122 §5: the certificate must match a fingerprint from signaling.
        if self
            .config
            .remote_fingerprints
            .iter()
            .any(|f| f.matches(cert))
        {
            self.verified = true;
            Ok(())
        } else {
            Err(Error::PeerMisbehaved(PeerMisbehaved::FingerprintMismatch))
        }
    }

    /// Reports `Connected` once the handshake is done and the peer verified.
    pub(crate) fn maybe_connected(&mut self) {
        if self.connected
            || !self.handshake_done
            || !self.verified
            || self.state != State::Established
        {
            return;
        }
        if let Some(s) = self.v13.as_ref().and_then(|c| c.session.clone()) {
            let srtp = s.srtp.and_then(|profile| {
                let (k, salt) = profile.key_and_salt_len()?;
                let mut material = vec![0u8; 2 * (k + salt)];
                // RFC 5764 §4.2 with the TLS 1.3 exporter (RFC 8446 §7.5).
                s.exporter
                    .export(b"EXTRACTOR-dtls_srtp", None, &mut material)
                    .ok()?;
                Some(SrtpKeying {
                    profile,
                    role: self.config.role,
                    material,
                })
            });
            self.connected = true;
            self.events.push_back(Event::Connected(Connected {
                cipher_suite: CipherSuite::from_u16(s.suite.to_u16()),
                srtp,
                peer_certificate: self.peer_certificate.take().unwrap_or_default(),
            }));
            return;
        }
        let Some(session) = self.session.clone() else {
            return;
        };
        let srtp = session.srtp.and_then(|profile| {
            let (k, s) = profile.key_and_salt_len()?;
            let mut material = vec![0u8; 2 * (k + s)];
            crypto::export(
                session.suite.prf_hash(),
                &session.master_secret,
                b"EXTRACTOR-dtls_srtp",
                &session.client_random,
                &session.server_random,
                None,
                &mut material,
            )
            .ok()?;
            Some(SrtpKeying {
                profile,
                role: self.config.role,
                material,
            })
        });
        self.connected = true;
        self.events.push_back(Event::Connected(Connected {
            cipher_suite: session.suite,
            srtp,
            peer_certificate: self.peer_certificate.take().unwrap_or_default(),
        }));
    }

    /// The handshake finished both ways.
    pub(crate) fn handshake_complete(&mut self) {
        self.handshake_done = true;
        self.state = State::Established;
        self.handshake_deadline = None;
        self.maybe_connected();
    }

    /// Ends the connection with `error`: a fatal alert when the error calls for one, a
    /// `Failed` event, and nothing more ever after.
    pub(crate) fn fail(&mut self, error: Error) {
        if matches!(self.state, State::Closed | State::Failed) {
            return;
        }
        if let Some(d) = error.alert() {
            self.alerts_out.push_back(Alert::fatal(d));
        }
        self.shut(State::Failed);
        self.failure = Some(error.clone());
        self.events.push_back(Event::Failed(error));
    }

    pub(crate) fn shut(&mut self, state: State) {
        self.state = state;
        self.hs = None;
        self.flight.clear();
        self.timer.stop();
        self.handshake_deadline = None;
        self.app_out.clear();
        self.app_out_bytes = 0;
        self.close_after_data = false;
        self.early.clear();
        self.shut13();
    }

    /// Queues an alert at the current write epoch.
    pub(crate) fn queue_alert(&mut self, alert: Alert) {
        self.alerts_out.push_back(alert);
    }

    /// Sends the current flight (again) and arms the timer.
    pub(crate) fn send_flight(&mut self, now: Instant, fresh: bool) {
        self.flight.send();
        self.flight_sent_at = Some(now);
        if fresh {
            self.timer.restart(now);
        } else {
            self.stats.retransmissions += 1;
            self.timer.back_off(now);
        }
    }

    fn seal_alerts_and_data(&mut self, buf: &mut [u8], mut used: usize, limit: usize) -> usize {
        let epoch = self.records.write_epoch();
        while let Some(alert) = self.alerts_out.front() {
            let bytes = [alert.level.to_u8(), alert.description.to_u8()];
            match self
                .records
                .seal(epoch, ContentType::Alert, &[&bytes], &mut buf[used..limit])
            {
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
            match self.records.seal_data(data, &mut buf[used..limit]) {
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
            // close_notify goes in a datagram of its own: some stacks (aiortc's) read one
            // record per datagram once their side has closed, and would never see it behind
            // the last data record.
            self.alerts_out
                .push_back(Alert::warning(AlertDescription::CloseNotify));
        }
        used
    }

    /// Whether `poll_transmit` has nothing to write at `now`: no stateless answer, flight,
    /// due ACK, alert, queued record or close to start (each of its steps would write
    /// nothing and change nothing).
    #[inline]
    pub(crate) fn transmit_idle(&self, now: Instant) -> bool {
        self.stateless_out.is_empty()
            && self.alerts_out.is_empty()
            && self.app_out.is_empty()
            && !self.close_after_data
            && match &self.v13 {
                Some(c) => !c.flight.is_sending() && c.ack_at.is_none_or(|t| now < t),
                None => !self.flight.is_sending(),
            }
    }

    /// `poll_transmit` past its idle check.
    #[inline(never)]
    fn poll_transmit_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(s) = self.stateless_out.pop_front() {
            if s.bytes.len() > buf.len() {
                self.stats.transmit_dropped += 1;
                return None;
            }
            buf[..s.bytes.len()].copy_from_slice(&s.bytes);
            self.stats.datagrams_sent += 1;
            return Some(Transmit::new(s.source, s.destination, s.bytes.len()));
        }
        let destination = self.remote?;
        let limit = self.config.mtu.min(buf.len());
        let mut used = 0;
        if self.v13.is_some() {
            used = self.poll_transmit13(now, buf);
        } else if self.flight.is_sending() {
            match self
                .flight
                .write_datagram(&mut self.records, self.config.mtu, buf)
            {
                Ok(n) => used = n,
                Err(_) => {
                    // The caller's buffer cannot hold a record: drop this transmission but
                    // keep the flight for the timer to resend.
                    self.stats.transmit_dropped += 1;
                    self.flight.stop_sending();
                }
            }
        }
        if used == 0 && self.v13.is_none() {
            used = self.seal_alerts_and_data(buf, 0, limit);
        }
        if used == 0 {
            return None;
        }
        self.stats.datagrams_sent += 1;
        Some(Transmit::new(
            self.local.unwrap_or(UNSPECIFIED),
            destination,
            used,
        ))
    }
}

impl Protocol for Endpoint {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.receive(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        // Buffers kept for the next record are given back once nothing is queued: an idle
        // endpoint holds none.
        if self.app_out.is_empty() {
            self.app_pool = Vec::new();
        }
        if self.shared.as_mut().is_some_and(|s| s.release()) {
            self.shared = None;
        }
        if self.handshake_deadline.is_some_and(|d| now >= d) && self.state == State::Handshaking {
            self.fail(Error::HandshakeTimeout);
            return;
        }
        self.retire13(now);
        if self.timer.deadline().is_some_and(|d| now >= d) {
            if self.v13.is_some() {
                self.retransmit13(now);
            } else {
                self.send_flight(now, false);
            }
        }
    }

    /// Nothing to write (every datagram of the data path asks first, and its records go
    /// out through `seal_with`): answered without a call.
    #[inline]
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.transmit_idle(now) {
            return None;
        }
        self.poll_transmit_queued(now, buf)
    }

    #[inline]
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timer.deadline(),
            self.handshake_deadline,
            self.deadline13(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
