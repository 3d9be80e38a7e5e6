//! The four-way handshake (RFC 9260 §5.1), INIT collisions and COOKIE ECHO cases (§5.2), and
//! the negotiation of extensions: PR-SCTP (RFC 3758), stream reset (RFC 6525), I-DATA
//! (RFC 8260) and zero checksum (RFC 9653).

use super::association::{Association, CloseReason, Event, State};
use super::chunk::{Chunk, Init, kind};
use super::cookie::{Caps, Cookie};
use super::inflight::Inflight;
use super::packet::{Header, PacketWriter};
use super::param::{Param, Params};
use super::reassembly::Reassembly;
use super::reconfig::Reconfig;
use super::recv::RecvTsns;
use super::timer::Timer;
use crate::wire::Writer;
use std::time::Instant;

/// RFC 9653 §7: the alternate error detection method identifier of DTLS.
const EDMID_DTLS: u32 = 1;

/// INITs sent with Zero Checksum Acceptable before retrying without it: the first and one
/// retransmission, so the fallback INIT leaves after the second T1-init timeout (1.5 s with
/// the default 500 ms initial RTO).
///
/// Stacks older than RFC 9653 that break RFC 9260 §3.2.1 (pion/sctp before 2024, still in
/// Linux distributions) drop a whole INIT that carries the parameter, silently: to us that
/// looks exactly like loss. One lost INIT on a working path is common enough that it should
/// not cost the zero checksum; two in a row is rare (1% at 10% loss), and guessing wrong then
/// only costs a CRC32c per packet, whereas waiting longer delays every old peer's channel.
const ZERO_CHECKSUM_INIT_TRIES: u32 = 2;

/// What the peer's INIT or INIT ACK told us beyond its fixed fields.
#[derive(Debug, Default)]
struct PeerParams<'a> {
    forward_tsn: bool,
    reconfig: bool,
    idata: bool,
    zero_checksum: bool,
    cookie: Option<&'a [u8]>,
}

fn peer_params<'a>(params: &'a [u8]) -> PeerParams<'a> {
    let mut p = PeerParams::default();
    for param in Params::new(params) {
        let Ok(param) = param else { break };
        match param {
            Param::ForwardTsnSupported => p.forward_tsn = true,
            Param::SupportedExtensions(kinds) => {
                p.forward_tsn |= kinds.contains(&kind::FORWARD_TSN);
                p.reconfig |= kinds.contains(&kind::RECONFIG);
                p.idata |= kinds.contains(&kind::I_DATA);
            }
            Param::ZeroChecksumAcceptable(m) => p.zero_checksum = m == EDMID_DTLS,
            Param::StateCookie(c) => p.cookie = Some(c),
            // Addresses (5, 6), Host Name (11) and Supported Address Types (12, which usrsctp
            // sends) are RFC 9260's own: known, and of no use over a single WebRTC path.
            Param::Unknown {
                kind: 5 | 6 | 11 | 12,
                ..
            } => {}
            // RFC 9260 §3.2.1: unknown types with the high bit clear stop processing.
            Param::Unknown { kind, .. } if kind & 0x8000 == 0 => break,
            _ => {}
        }
    }
    p
}

impl Association {
    /// Starts the handshake: sends INIT (RFC 9260 §5.1 A). Both sides may call it; the
    /// collision is resolved per §5.2.1. Does nothing unless the state is [`State::Closed`].
    pub fn connect(&mut self, now: Instant) {
        self.epoch.get_or_insert(now);
        if self.state != State::Closed {
            return;
        }
        self.state = State::CookieWait;
        self.init_tries = 0;
        self.send_init();
        self.timers.set(Timer::Init, now + self.rto.rto());
    }

    /// Whether the INIT we send now carries Zero Checksum Acceptable.
    fn init_offers_zero_checksum(&self) -> bool {
        self.cfg.zero_checksum && self.init_tries < ZERO_CHECKSUM_INIT_TRIES
    }

    fn our_params(&self, zero_checksum: bool, out: &mut Vec<Param<'static>>) {
        const WITH_IDATA: &[u8] = &[
            kind::RECONFIG,
            kind::FORWARD_TSN,
            kind::I_DATA,
            kind::I_FORWARD_TSN,
        ];
        const WITHOUT: &[u8] = &[kind::RECONFIG, kind::FORWARD_TSN];
        let ext = if self.cfg.interleaving {
            WITH_IDATA
        } else {
            WITHOUT
        };
        out.push(Param::SupportedExtensions(ext));
        // pion/sctp 1.8.6 reads both of these; it drops the chunk on anything it does not
        // know (Supported Address Types included), so nothing else goes in.
        out.push(Param::ForwardTsnSupported);
        if zero_checksum {
            out.push(Param::ZeroChecksumAcceptable(EDMID_DTLS));
        }
    }

    /// Encodes a whole packet of `chunks` (always with a CRC32c: handshake and OOTB packets
    /// never use zero checksums, RFC 9653 §5.2) and queues it.
    pub(super) fn queue_packet(&mut self, vtag: u32, chunks: &[Chunk<'_>]) {
        let len = 12 + chunks.iter().map(Chunk::encoded_len).sum::<usize>();
        let mut buf = vec![0u8; len];
        let header = Header {
            src_port: self.cfg.local_port,
            dst_port: self.cfg.remote_port,
            vtag,
        };
        let Ok(mut pw) = PacketWriter::new(&mut buf, header) else {
            return;
        };
        if chunks.iter().all(|c| pw.push(c)) {
            let n = pw.finish(false);
            buf.truncate(n);
            self.out_packets.push_back(buf);
        }
    }

    fn init_chunk_params(&self, zero_checksum: bool, extra: Option<Param<'_>>) -> Vec<u8> {
        let mut params = Vec::new();
        self.our_params(zero_checksum, &mut params);
        let len: usize = params.iter().chain(&extra).map(Param::encoded_len).sum();
        let mut buf = vec![0u8; len];
        let mut w = Writer::new(&mut buf);
        for p in params.iter().chain(&extra) {
            // Sized exactly above.
            let _ = p.write(&mut w);
        }
        buf
    }

    fn init_fields<'a>(&self, tag: u32, params: &'a [u8]) -> Init<'a> {
        Init {
            initiate_tag: tag,
            a_rwnd: u32::try_from(self.cfg.receive_window).unwrap_or(u32::MAX),
            outbound_streams: self.cfg.streams,
            inbound_streams: self.cfg.streams,
            initial_tsn: self.local_tsn,
            params,
        }
    }

    fn send_init(&mut self) {
        self.send_init_preserving(None);
    }

    /// An INIT, with a Cookie Preservative (RFC 9260 §3.3.2.1) asking for this many more
    /// milliseconds of cookie lifetime when given.
    pub(super) fn send_init_preserving(&mut self, preservative_ms: Option<u32>) {
        let extra = preservative_ms.map(Param::CookiePreservative);
        let params = self.init_chunk_params(self.init_offers_zero_checksum(), extra);
        let init = Chunk::Init(self.init_fields(self.local_tag, &params));
        self.queue_packet(0, &[init]);
    }

    fn send_cookie_echo(&mut self) {
        let cookie = std::mem::take(&mut self.echo_cookie);
        self.queue_packet(self.peer_tag, &[Chunk::CookieEcho(&cookie)]);
        self.echo_cookie = cookie;
    }

    fn caps_from(&self, p: &PeerParams<'_>) -> Caps {
        Caps {
            forward_tsn: p.forward_tsn,
            reconfig: p.reconfig,
            interleaving: self.cfg.interleaving && p.idata,
            zero_checksum: self.cfg.zero_checksum && p.zero_checksum,
        }
    }

    /// RFC 9260 §5.1 B and §5.2.1, §5.2.2: answer an INIT with an INIT ACK carrying a signed
    /// cookie, without keeping state for it.
    pub(super) fn on_init(&mut self, now: Instant, init: &Init<'_>) {
        if init.initiate_tag == 0 || init.outbound_streams == 0 || init.inbound_streams == 0 {
            return;
        }
        let (tag, local_tie, peer_tie) = match self.state {
            // §5.2.1: answer with the tag of our own INIT, unchanged.
            State::Closed | State::CookieWait => (self.local_tag, 0, 0),
            State::CookieEchoed => (self.local_tag, self.local_tag, self.peer_tag),
            // §5.2.2: a new tag, and the current ones as tie-tags.
            State::Established
            | State::ShutdownPending
            | State::ShutdownSent
            | State::ShutdownReceived => (self.rng.u32().max(1), self.local_tag, self.peer_tag),
            State::ShutdownAckSent | State::Terminated => return,
        };
        let p = peer_params(init.params);
        let cookie = Cookie {
            local_tag: tag,
            peer_tag: init.initiate_tag,
            local_tie_tag: local_tie,
            peer_tie_tag: peer_tie,
            local_tsn: self.local_tsn,
            peer_tsn: init.initial_tsn,
            peer_rwnd: init.a_rwnd,
            out_streams: self.cfg.streams.min(init.inbound_streams),
            in_streams: self.cfg.streams.min(init.outbound_streams),
            caps: self.caps_from(&p),
            created_ms: self.now_ms(now),
        };
        let sealed = self.key.seal(&cookie);
        // RFC 9653 §5: a zero checksum may only be sent to a peer that announced the method,
        // and kaon uses it only when both ends did (`caps_from`), so a peer whose INIT lacks
        // the parameter gains nothing from it in our INIT ACK; a pre-RFC 9653 peer that
        // breaks RFC 9260 §3.2.1 (pion/sctp before 2024) drops the whole INIT ACK on it and
        // never connects. Answer with the parameter only when the INIT carried it.
        let params =
            self.init_chunk_params(cookie.caps.zero_checksum, Some(Param::StateCookie(&sealed)));
        let ack = Chunk::InitAck(self.init_fields(tag, &params));
        self.queue_packet(init.initiate_tag, &[ack]);
    }

    /// RFC 9260 §5.1 C: the INIT ACK to our INIT; echo its cookie.
    pub(super) fn on_init_ack(&mut self, now: Instant, ack: &Init<'_>) {
        if self.state != State::CookieWait
            || ack.initiate_tag == 0
            || ack.outbound_streams == 0
            || ack.inbound_streams == 0
        {
            return;
        }
        let p = peer_params(ack.params);
        let Some(cookie) = p.cookie else {
            return;
        };
        self.echo_cookie = cookie.to_vec();
        let caps = self.caps_from(&p);
        self.setup(
            ack.initiate_tag,
            ack.initial_tsn,
            ack.a_rwnd,
            self.cfg.streams.min(ack.inbound_streams),
            self.cfg.streams.min(ack.outbound_streams),
            caps,
        );
        self.state = State::CookieEchoed;
        self.timers.stop(Timer::Init);
        self.init_tries = 0;
        self.send_cookie_echo();
        self.timers.set(Timer::Cookie, now + self.rto.rto());
    }

    /// Takes on the peer's parameters and sizes the per-association structures.
    fn setup(&mut self, peer_tag: u32, peer_tsn: u32, rwnd: u32, out: u16, inn: u16, caps: Caps) {
        self.peer_tag = peer_tag;
        self.caps = caps;
        self.out_streams = out;
        self.in_streams = inn;
        self.peer_rwnd = rwnd as usize;
        self.recv = RecvTsns::new(peer_tsn);
        self.inflight = Inflight::new(self.local_tsn, caps.interleaving);
        self.reasm = Reassembly::new(caps.interleaving);
        self.reconfig = Reconfig::new(self.local_tsn, peer_tsn);
        self.ack.last_rwnd = self.cfg.receive_window;
    }

    /// RFC 9260 §5.1 D and the §5.2.4 table of cases.
    pub(super) fn on_cookie_echo(&mut self, now: Instant, bytes: &[u8], vtag: u32) {
        let lifetime = self.cfg.cookie_lifetime.as_millis() as u64;
        let Ok(c) = self.key.open(bytes, self.now_ms(now), lifetime) else {
            return;
        };
        if vtag != c.local_tag || self.state == State::Terminated {
            return;
        }
        let local_match = c.local_tag == self.local_tag;
        let peer_match = self.peer_tag != 0 && c.peer_tag == self.peer_tag;
        let setting_up = matches!(
            self.state,
            State::Closed | State::CookieWait | State::CookieEchoed
        );
        if local_match && peer_match {
            // Case D: both tags match (the simultaneous open WebRTC does lands here).
        } else if local_match && setting_up {
            // A new association, or case B (setup collision): take the cookie's values.
            self.setup(
                c.peer_tag,
                c.peer_tsn,
                c.peer_rwnd,
                c.out_streams,
                c.in_streams,
                c.caps,
            );
        } else if local_match {
            // Case B while established: only the peer's tag changed.
            self.peer_tag = c.peer_tag;
        } else if !peer_match
            && !setting_up
            && c.local_tie_tag == self.local_tag
            && c.peer_tie_tag == self.peer_tag
        {
            // Case A: the peer restarted. We do not carry data across a restart.
            self.queue_packet(c.peer_tag, &[Chunk::CookieAck]);
            self.terminate(CloseReason::PeerRestarted);
            return;
        } else {
            // Case C (a late cookie) and anything else: silently discard.
            return;
        }
        // Case D, or the cases above that continue: COOKIE ACK, and establish if needed.
        self.queue_packet(self.peer_tag, &[Chunk::CookieAck]);
        self.establish(now);
    }

    /// RFC 9260 §5.1 E.
    pub(super) fn on_cookie_ack(&mut self, now: Instant) {
        if self.state == State::CookieEchoed {
            self.establish(now);
        }
    }

    fn establish(&mut self, now: Instant) {
        if !matches!(
            self.state,
            State::Closed | State::CookieWait | State::CookieEchoed
        ) {
            return;
        }
        self.state = State::Established;
        self.timers.stop(Timer::Init);
        self.timers.stop(Timer::Cookie);
        self.init_tries = 0;
        self.echo_cookie = Vec::new();
        self.events.push_back(Event::Connected);
        if let Some(i) = self.cfg.heartbeat_interval {
            self.timers.set(Timer::Heartbeat, now + i + self.rto.rto());
        }
    }

    /// T1-init or T1-cookie expired (RFC 9260 §5.1 C, §6.3.3 rule for INIT).
    pub(super) fn on_handshake_timeout(&mut self, now: Instant, t: Timer) {
        let waiting = match t {
            Timer::Init => self.state == State::CookieWait,
            _ => self.state == State::CookieEchoed,
        };
        if !waiting {
            return;
        }
        self.init_tries += 1;
        if self.init_tries > self.cfg.max_init_retransmits {
            self.terminate(CloseReason::HandshakeFailed);
            return;
        }
        self.rto.back_off();
        if t == Timer::Init {
            self.send_init();
        } else {
            self.send_cookie_echo();
        }
        self.timers.set(t, now + self.rto.rto());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sctp::Config;
    use crate::sctp::packet::Packet;
    use crate::wire::Writer;

    fn zc_assoc(seed: u64) -> Association {
        Association::new(Config {
            seed: Some(seed),
            zero_checksum: true,
            ..Config::default()
        })
    }

    /// The INIT or INIT ACK in each packet `a` has queued, as (is_ack, peer params seen).
    fn sent_inits(a: &mut Association, now: Instant) -> Vec<(bool, bool)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while let Some(n) = a.poll_packet(now, &mut buf) {
            let pkt = Packet::parse(&buf[..n]).unwrap();
            for c in pkt.chunks() {
                match c.unwrap() {
                    Chunk::Init(i) => out.push((false, peer_params(i.params).zero_checksum)),
                    Chunk::InitAck(i) => out.push((true, peer_params(i.params).zero_checksum)),
                    _ => {}
                }
            }
        }
        out
    }

    /// An INIT from a peer, with or without Zero Checksum Acceptable.
    fn peer_init(zero_checksum: bool) -> Vec<u8> {
        let mut params = vec![Param::SupportedExtensions(&[kind::FORWARD_TSN])];
        if zero_checksum {
            params.push(Param::ZeroChecksumAcceptable(EDMID_DTLS));
        }
        let mut pbuf = vec![0u8; params.iter().map(Param::encoded_len).sum()];
        let mut w = Writer::new(&mut pbuf);
        params.iter().for_each(|p| p.write(&mut w).unwrap());
        let init = Chunk::Init(Init {
            initiate_tag: 0x1234_5678,
            a_rwnd: 1 << 20,
            outbound_streams: 1024,
            inbound_streams: 1024,
            initial_tsn: 1,
            params: &pbuf,
        });
        let mut buf = vec![0u8; 12 + init.encoded_len()];
        let header = Header {
            src_port: 5000,
            dst_port: 5000,
            vtag: 0,
        };
        let mut pw = PacketWriter::new(&mut buf, header).unwrap();
        assert!(pw.push(&init));
        let n = pw.finish(false);
        buf.truncate(n);
        buf
    }

    #[test]
    fn init_ack_carries_zero_checksum_only_when_the_init_did() {
        let now = crate::test_clock::t0();
        for (theirs, expect) in [(false, false), (true, true)] {
            let mut a = zc_assoc(1);
            a.handle_packet(now, &peer_init(theirs));
            assert_eq!(
                sent_inits(&mut a, now),
                vec![(true, expect)],
                "INIT had it: {theirs}"
            );
        }
    }

    #[test]
    fn init_ack_in_cookie_wait_follows_the_peer_init_too() {
        // Simultaneous open (WebRTC): our own INIT carries the parameter, the old peer's does
        // not; our answer to its INIT must not.
        let now = crate::test_clock::t0();
        let mut a = zc_assoc(2);
        a.connect(now);
        assert_eq!(sent_inits(&mut a, now), vec![(false, true)]);
        a.handle_packet(now, &peer_init(false));
        assert_eq!(sent_inits(&mut a, now), vec![(true, false)]);
        assert!(!a.caps.zero_checksum);
    }

    #[test]
    fn init_retries_without_zero_checksum_after_the_second_timeout() {
        let mut now = crate::test_clock::t0();
        let mut a = zc_assoc(3);
        a.connect(now);
        let mut seen = sent_inits(&mut a, now);
        for _ in 0..4 {
            now = a.poll_timeout().unwrap();
            a.handle_timeout(now);
            seen.extend(sent_inits(&mut a, now));
        }
        assert!(seen.iter().all(|&(ack, _)| !ack));
        let zc: Vec<bool> = seen.iter().map(|&(_, z)| z).collect();
        assert_eq!(zc, [true, true, false, false, false]);
    }

    #[test]
    fn fallback_init_keeps_the_parameters_old_pion_reads() {
        // pion/sctp 1.8.6 parses Supported Extensions and Forward-TSN-Supported; the fallback
        // INIT must still carry them so PR-SCTP and stream reset are negotiated.
        let mut now = crate::test_clock::t0();
        let mut a = zc_assoc(5);
        a.connect(now);
        let _ = sent_inits(&mut a, now);
        for _ in 0..2 {
            now = a.poll_timeout().unwrap();
            a.handle_timeout(now);
        }
        let mut buf = [0u8; 1500];
        let mut last = None;
        while let Some(n) = a.poll_packet(now, &mut buf) {
            last = Some(buf[..n].to_vec());
        }
        let last = last.unwrap();
        let pkt = Packet::parse(&last).unwrap();
        let Some(Ok(Chunk::Init(init))) = pkt.chunks().next() else {
            panic!("not an INIT");
        };
        let kinds: Vec<u16> = Params::new(init.params)
            .map(|p| p.unwrap().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                super::super::param::kind::SUPPORTED_EXTENSIONS,
                super::super::param::kind::FORWARD_TSN_SUPPORTED
            ]
        );
        let p = peer_params(init.params);
        assert!(p.forward_tsn && p.reconfig && !p.zero_checksum);
    }

    #[test]
    fn usrsctp_style_init_parameters_are_all_read() {
        // Supported Address Types (IPv4, IPv6) first, then ECN, RANDOM and the extensions.
        let params = [
            Param::Unknown {
                kind: 12,
                value: &[0, 5, 0, 6],
            },
            Param::Unknown {
                kind: 0x8000,
                value: &[],
            },
            Param::Unknown {
                kind: 0x8002,
                value: &[1; 32],
            },
            Param::ForwardTsnSupported,
            Param::SupportedExtensions(&[kind::FORWARD_TSN, kind::RECONFIG, kind::I_DATA]),
            Param::ZeroChecksumAcceptable(EDMID_DTLS),
        ];
        let mut buf = vec![0u8; params.iter().map(Param::encoded_len).sum()];
        let mut w = Writer::new(&mut buf);
        params.iter().for_each(|p| p.write(&mut w).unwrap());
        let p = peer_params(&buf);
        assert!(p.forward_tsn && p.reconfig && p.idata && p.zero_checksum);
    }

    #[test]
    fn an_unknown_parameter_with_the_stop_bit_ends_processing() {
        let params = [
            Param::Unknown {
                kind: 0x0042,
                value: &[],
            },
            Param::ForwardTsnSupported,
        ];
        let mut buf = vec![0u8; 8];
        let mut w = Writer::new(&mut buf);
        params.iter().for_each(|p| p.write(&mut w).unwrap());
        assert!(!peer_params(&buf).forward_tsn);
    }
}
