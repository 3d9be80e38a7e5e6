//! The kaon side of an interop test: a `PeerConnection` on its own loopback UDP socket and
//! `kaon_std` driver thread, with waits that fail loudly and say what the other peer printed.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kaon::peer::{PeerConnection, PeerEvent, SdpType, TrackEvent, TrackKind};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

/// A UDP socket on 127.0.0.1 with a port of the system's choosing.
pub fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1")
}

/// What [`KaonPeer::reflect`] saw and did.
#[derive(Default, Debug)]
pub struct Reflected {
    /// The incoming sources announced.
    pub tracks: Vec<TrackEvent>,
    /// RTP packets received (and sent back).
    pub packets: u64,
    /// Keyframe requests from the peer.
    pub keyframe_requests: u64,
    /// Packets `write_rtp` refused.
    pub write_errors: Arc<AtomicU64>,
}

impl Reflected {
    /// The mid of the first incoming source of `kind`.
    pub fn mid(&self, kind: TrackKind) -> String {
        self.tracks
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.mid.to_string())
            .unwrap_or_else(|| panic!("no incoming {kind} track"))
    }

    /// How many packets kaon could not send back.
    pub fn errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

/// A driven kaon peer. Events that arrive while waiting for another one are kept.
pub struct KaonPeer {
    /// The driver, for calls into the connection.
    pub driver: Driver<PeerConnection>,
    /// The socket's address (kaon's host candidate).
    pub local: SocketAddr,
    seen: Vec<PeerEvent>,
    /// How long [`message`](Self::message) waits.
    limit: Duration,
    /// What a failure message adds: the other peer's last output.
    context: Box<dyn Fn() -> String>,
}

impl KaonPeer {
    /// Starts driving `pc` over `socket`; `early` holds events polled before the driver took
    /// over. `limit` bounds [`message`](Self::message); `context` is printed on a failure.
    pub fn spawn(
        pc: PeerConnection,
        socket: UdpSocket,
        early: Vec<PeerEvent>,
        limit: Duration,
        context: impl Fn() -> String + 'static,
    ) -> Self {
        Self {
            local: socket.local_addr().expect("local address"),
            driver: Driver::spawn(pc, vec![socket]).expect("driver"),
            seen: early,
            limit,
            context: Box::new(context),
        }
    }

    /// Reads events until one matches (earlier unmatched ones are kept); panics on a DTLS
    /// failure or after `limit`.
    pub fn wait(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&PeerEvent) -> bool,
    ) -> PeerEvent {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.driver.events().recv_timeout(left) {
                Ok(e) => {
                    assert!(
                        !matches!(e, PeerEvent::DtlsFailed(_)),
                        "kaon: {e:?} while waiting for {what}\n{}",
                        (self.context)()
                    );
                    if pred(&e) {
                        return e;
                    }
                    self.seen.push(e);
                }
                Err(_) => panic!(
                    "kaon: no {what} within {limit:?}; seen {:?}\n{}",
                    self.seen,
                    (self.context)()
                ),
            }
        }
    }

    /// Takes `who`'s re-offer `offer` on the running connection and returns kaon's answer,
    /// set as its local description.
    pub fn answer_reoffer(&self, offer: &str, who: &str) -> String {
        let offer = SessionDescription::parse(offer)
            .unwrap_or_else(|e| panic!("kaon parses {who}'s re-offer: {e}"));
        self.driver
            .call(move |pc, _| {
                pc.set_remote_description(SdpType::Offer, offer)?;
                let answer = pc.create_answer(Instant::now())?;
                pc.set_local_description(SdpType::Answer, answer.clone())?;
                Ok::<_, kaon::peer::Error>(answer.to_string())
            })
            .expect("driver alive")
            .unwrap_or_else(|e| panic!("kaon answers {who}'s re-offer: {e}"))
    }

    /// Pion's `reflect` for `d`: every RTP packet kaon receives goes straight back on its
    /// transceiver, and every keyframe request from the peer is passed on to the peer's sender.
    /// Media events seen while waiting for something else are taken first.
    pub fn reflect(&mut self, d: Duration, r: &mut Reflected) {
        let end = Instant::now() + d;
        let mut earlier = std::mem::take(&mut self.seen).into_iter();
        loop {
            let e = match earlier.next() {
                Some(e) => e,
                None => {
                    let Some(left) = end.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    match self.driver.events().recv_timeout(left) {
                        Ok(e) => e,
                        Err(_) => continue,
                    }
                }
            };
            match e {
                PeerEvent::Track(t) => r.tracks.push(*t),
                PeerEvent::Rtp { mid, packet } => {
                    r.packets += 1;
                    let errors = r.write_errors.clone();
                    self.driver.post(move |pc, now| {
                        if pc.write_rtp(now, mid.as_str(), &packet).is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
                PeerEvent::KeyframeRequest { mid, .. } => {
                    r.keyframe_requests += 1;
                    self.driver.post(move |pc, now| {
                        let _ = pc.request_keyframe(now, mid.as_str());
                    });
                }
                PeerEvent::DtlsFailed(e) => panic!("kaon: DTLS failed: {e}\n{}", (self.context)()),
                other => self.seen.push(other),
            }
        }
    }

    /// Waits for the next message on `channel`: its bytes and whether it was binary.
    pub fn message(&mut self, channel: ChannelId) -> (Vec<u8>, bool) {
        match self.wait(
            &format!("a message on channel {channel}"),
            self.limit,
            |e| matches!(e, PeerEvent::Message { channel: c, .. } if *c == channel),
        ) {
            PeerEvent::Message { data, binary, .. } => (data.to_vec(), binary),
            _ => unreachable!(),
        }
    }

    /// Sends one message; panics if kaon refuses it.
    pub fn send(&self, channel: ChannelId, data: Vec<u8>, binary: bool) {
        let n = data.len();
        self.driver
            .call(move |pc, now| pc.send_message(now, channel, data.into(), binary))
            .expect("driver alive")
            .unwrap_or_else(|e| panic!("kaon: sending {n} bytes on {channel}: {e}"));
    }

    /// Closes the connection (if the peer did not), keeps driving it until it has nothing
    /// left to send or time (the queued data, the SCTP SHUTDOWN and DTLS close_notify leave
    /// first; bounded by the close timeout), then stops the driver and prints kaon's counters.
    pub fn finish(self) {
        let t = Instant::now();
        self.driver.call(|pc, now| pc.close(now));
        let end = t + Duration::from_secs(10);
        while Instant::now() < end {
            let idle = self
                .driver
                .call(|pc, _| kaon::Protocol::poll_timeout(pc).is_none())
                .unwrap_or(true);
            if idle {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("kaon closed in {:?}", t.elapsed());
        if let Some(pc) = self.driver.shutdown() {
            eprintln!("kaon stats: {:?}", pc.stats());
        }
    }
}

/// `kind port mid` of each m-line of `sdp`, in order.
pub fn m_lines(sdp: &str) -> Vec<(String, u16, String)> {
    SessionDescription::parse(sdp)
        .expect("the SDP parses")
        .media
        .iter()
        .map(|m| {
            (
                m.kind.to_string(),
                m.port,
                m.mid().unwrap_or("-").to_string(),
            )
        })
        .collect()
}
