//! [`PeerConnection::get_stats`]: a report in the vocabulary of W3C webrtc-stats, with the
//! fields browsers fill for a data connection (peer-connection, transport, candidate-pair,
//! local-candidate, remote-candidate, certificate, data-channel) and, with media, inbound-rtp,
//! outbound-rtp, remote-inbound-rtp, remote-outbound-rtp and codec.
//!
//! Counters are kept as traffic passes (a few integers per pair and per channel); the report is
//! built only when asked for, so an idle connection pays nothing for it.
//!
//! ```
//! # use kaon::peer::{PeerConfig, PeerConnection};
//! # let pc = PeerConnection::new(PeerConfig::with_seed(1)).unwrap();
//! let report = pc.get_stats(std::time::Instant::now());
//! assert_eq!(report.transport.dtls_state, "new");
//! println!("{}", report.to_json());
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::PeerConnection;
use crate::datachannel::{ChannelId, ChannelState};
use crate::dtls::{self, CipherSuite, Fingerprint, SrtpProfile};
use crate::ice::{Candidate, IceState};

/// Packets and bytes one way and the other (payload bytes of the datagrams: DTLS and media,
/// not ICE checks, as W3C counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Datagrams received.
    pub packets_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

impl Counters {
    /// These and `m`.
    #[inline]
    pub(crate) fn plus(self, m: Counters) -> Counters {
        Counters {
            packets_sent: self.packets_sent + m.packets_sent,
            bytes_sent: self.bytes_sent + m.bytes_sent,
            packets_received: self.packets_received + m.packets_received,
            bytes_received: self.bytes_received + m.bytes_received,
        }
    }
}

/// Message counters of one data channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ChannelCounters {
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

/// At most this many candidate pairs keep their own byte counters (the least recently
/// counted give way).
const MAX_COUNTED_PAIRS: usize = 8;

/// What the PeerConnection counts for its report.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub transport: Counters,
    /// Per (local socket, remote address).
    pub pairs: Vec<((SocketAddr, SocketAddr), Counters)>,
    pub channels: HashMap<ChannelId, ChannelCounters>,
    pub channels_opened: u32,
    pub channels_closed: u32,
    pub selected_pair_changes: u32,
    pub dtls_cipher: Option<CipherSuite>,
    pub srtp_profile: Option<SrtpProfile>,
    /// The sha-256 fingerprint of the certificate the peer presented.
    pub remote_certificate: Option<Fingerprint>,
    pub dtls_closed: bool,
}

impl Traffic {
    #[inline]
    fn pair(&mut self, local: SocketAddr, remote: SocketAddr) -> &mut Counters {
        // Traffic keeps to one pair: the last one counted is tried first (the others only
        // while ICE checks several, or after a switch).
        let i = match self.pairs.last() {
            Some((k, _)) if k.0 == local && k.1 == remote => self.pairs.len() - 1,
            _ => self.find_pair(local, remote),
        };
        &mut self.pairs[i].1
    }

    /// The index of the counters of (`local`, `remote`), moved last or added there.
    #[cold]
    fn find_pair(&mut self, local: SocketAddr, remote: SocketAddr) -> usize {
        if let Some(i) = self.pairs.iter().position(|(k, _)| *k == (local, remote)) {
            let p = self.pairs.remove(i);
            self.pairs.push(p);
        } else {
            if self.pairs.len() == MAX_COUNTED_PAIRS {
                self.pairs.remove(0);
            }
            self.pairs.push(((local, remote), Counters::default()));
        }
        self.pairs.len() - 1
    }

    /// Counts `packets` datagrams of `bytes` in all sent from `local` to `remote`.
    #[inline]
    pub fn sent_many(&mut self, local: SocketAddr, remote: SocketAddr, packets: u64, bytes: u64) {
        let sent = Counters {
            packets_sent: packets,
            bytes_sent: bytes,
            ..Counters::default()
        };
        self.add(local, remote, sent);
    }

    /// Counts a datagram of `len` bytes received on `local` from `remote`.
    pub fn received(&mut self, local: SocketAddr, remote: SocketAddr, len: usize) {
        let received = Counters {
            packets_received: 1,
            bytes_received: len as u64,
            ..Counters::default()
        };
        self.add(local, remote, received);
    }

    /// Adds `c`, all of it on the pair `local` -> `remote`.
    #[inline]
    pub fn add(&mut self, local: SocketAddr, remote: SocketAddr, c: Counters) {
        self.transport = self.transport.plus(c);
        let p = self.pair(local, remote);
        *p = p.plus(c);
    }
}

/// The whole report (W3C `RTCStatsReport`), by type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatsReport {
    /// When it was taken (the `now` given).
    pub timestamp: Instant,
    /// `peer-connection`.
    pub peer_connection: PeerConnectionStats,
    /// `transport`: the one (bundled) ICE + DTLS transport.
    pub transport: TransportStats,
    /// `candidate-pair`: every pair of the current checklist.
    pub candidate_pairs: Vec<CandidatePairStats>,
    /// `local-candidate`.
    pub local_candidates: Vec<CandidateStats>,
    /// `remote-candidate`.
    pub remote_candidates: Vec<CandidateStats>,
    /// `certificate`: ours, and the peer's once DTLS has seen it.
    pub certificates: Vec<CertificateStats>,
    /// `data-channel`.
    pub data_channels: Vec<DataChannelStats>,
    /// `inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`, `remote-outbound-rtp`, `codec`.
    pub rtp: super::media::RtpStats,
}

/// `RTCPeerConnectionStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerConnectionStats {
    /// `id`.
    pub id: String,
    /// `dataChannelsOpened`.
    pub data_channels_opened: u32,
    /// `dataChannelsClosed`.
    pub data_channels_closed: u32,
}

/// `RTCTransportStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// `id`.
    pub id: String,
    /// `packetsSent`, `bytesSent`, `packetsReceived`, `bytesReceived`.
    pub counters: Counters,
    /// `iceRole`: `controlling` or `controlled`.
    pub ice_role: &'static str,
    /// `iceLocalUsernameFragment`.
    pub ice_local_username_fragment: String,
    /// `iceState`: the W3C `RTCIceTransportState` name.
    pub ice_state: &'static str,
    /// `dtlsState`: `new`, `connecting`, `connected`, `closed` or `failed`.
    pub dtls_state: &'static str,
    /// `dtlsRole`: `client`, `server` or `unknown`.
    pub dtls_role: &'static str,
    /// `tlsVersion`, as browsers write it (`FEFD` for DTLS 1.2).
    pub tls_version: Option<&'static str>,
    /// `dtlsCipher`: the IANA name of the cipher suite.
    pub dtls_cipher: Option<&'static str>,
    /// `srtpCipher`: the SRTP profile's name.
    pub srtp_cipher: Option<&'static str>,
    /// `selectedCandidatePairId`.
    pub selected_candidate_pair_id: Option<String>,
    /// `selectedCandidatePairChanges`.
    pub selected_candidate_pair_changes: u32,
    /// `localCertificateId`.
    pub local_certificate_id: String,
    /// `remoteCertificateId`.
    pub remote_certificate_id: Option<String>,
    /// `pacerDropped` (kaon's own, not W3C): RTP packets the pacer dropped because the
    /// application wrote faster than the estimate let them out.
    pub pacer_dropped: u64,
}

/// `RTCIceCandidatePairStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CandidatePairStats {
    /// `id`.
    pub id: String,
    /// `transportId`.
    pub transport_id: String,
    /// `localCandidateId`.
    pub local_candidate_id: String,
    /// `remoteCandidateId`.
    pub remote_candidate_id: String,
    /// `state`.
    pub state: &'static str,
    /// `nominated`.
    pub nominated: bool,
    /// Whether it is the transport's selected pair.
    pub selected: bool,
    /// `packetsSent`, `bytesSent`, `packetsReceived`, `bytesReceived`.
    pub counters: Counters,
    /// `currentRoundTripTime`.
    pub current_round_trip_time: Option<Duration>,
    /// `availableOutgoingBitrate`: the congestion controller's target in bits per second, on
    /// the selected pair once media went out with transport-wide sequence numbers.
    pub available_outgoing_bitrate: Option<u64>,
}

/// `RTCIceCandidateStats` (local or remote).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CandidateStats {
    /// `id`.
    pub id: String,
    /// `transportId`.
    pub transport_id: String,
    /// `address` (an mDNS name stays a name).
    pub address: String,
    /// `port`.
    pub port: u16,
    /// `protocol`: `udp` or `tcp`.
    pub protocol: String,
    /// `candidateType`: `host`, `srflx`, `prflx` or `relay`.
    pub candidate_type: String,
    /// `priority`.
    pub priority: u32,
    /// `foundation`.
    pub foundation: String,
    /// `usernameFragment`, when the candidate line named it.
    pub username_fragment: Option<String>,
}

/// `RTCCertificateStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateStats {
    /// `id`.
    pub id: String,
    /// `fingerprint`: colon-separated upper-case hex.
    pub fingerprint: String,
    /// `fingerprintAlgorithm`.
    pub fingerprint_algorithm: &'static str,
}

/// `RTCDataChannelStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataChannelStats {
    /// `id`.
    pub id: String,
    /// `label`.
    pub label: String,
    /// `protocol`.
    pub protocol: String,
    /// `dataChannelIdentifier`: the SCTP stream id.
    pub data_channel_identifier: ChannelId,
    /// `state`: `connecting`, `open`, `closing` or `closed`.
    pub state: &'static str,
    /// `messagesSent`.
    pub messages_sent: u64,
    /// `bytesSent`.
    pub bytes_sent: u64,
    /// `messagesReceived`.
    pub messages_received: u64,
    /// `bytesReceived`.
    pub bytes_received: u64,
}

const TRANSPORT_ID: &str = "T01";

fn candidate_id(prefix: char, c: &Candidate) -> String {
    format!("I{prefix}{}_{}_{}", c.kind.as_str(), c.address, c.port)
}

fn candidate_stats(prefix: char, c: &Candidate) -> CandidateStats {
    CandidateStats {
        id: candidate_id(prefix, c),
        transport_id: TRANSPORT_ID.into(),
        address: c.address.to_string(),
        port: c.port,
        protocol: c.transport.as_str().to_string(),
        candidate_type: c.kind.as_str().into(),
        priority: c.priority,
        foundation: c.foundation.clone(),
        username_fragment: c.ufrag.clone(),
    }
}

fn certificate_stats(f: &Fingerprint) -> CertificateStats {
    let text = f.to_string();
    let hex = text.split_once(' ').map_or(text.as_str(), |(_, h)| h);
    CertificateStats {
        id: format!("CF{}", &hex.replace(':', "")[..16.min(hex.len())]),
        fingerprint: hex.to_string(),
        fingerprint_algorithm: f.algorithm.name(),
    }
}

/// The IANA name of a DTLS 1.2 suite, as browsers report `dtlsCipher`.
fn cipher_name(s: CipherSuite) -> &'static str {
    match s {
        CipherSuite::EcdheEcdsaAes128GcmSha256 => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::EcdheEcdsaAes256GcmSha384 => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256 => {
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        }
        CipherSuite::EcdheRsaAes128GcmSha256 => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::Unknown(0x1301) => "TLS_AES_128_GCM_SHA256",
        CipherSuite::Unknown(0x1302) => "TLS_AES_256_GCM_SHA384",
        CipherSuite::Unknown(0x1303) => "TLS_CHACHA20_POLY1305_SHA256",
        _ => "unknown",
    }
}

/// The SRTP profile's name as browsers report `srtpCipher`.
fn srtp_name(p: SrtpProfile) -> &'static str {
    match p {
        SrtpProfile::Aes128CmHmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
        SrtpProfile::Aes128CmHmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        SrtpProfile::AeadAes128Gcm => "AEAD_AES_128_GCM",
        SrtpProfile::AeadAes256Gcm => "AEAD_AES_256_GCM",
        _ => "unknown",
    }
}

fn ice_state_name(s: IceState) -> &'static str {
    match s {
        IceState::New => "new",
        IceState::Checking => "checking",
        IceState::Connected => "connected",
        IceState::Completed => "completed",
        IceState::Disconnected => "disconnected",
        IceState::Failed => "failed",
        IceState::Closed => "closed",
    }
}

impl PeerConnection {
    /// A statistics report (W3C `getStats()`), built now from counters kept as traffic passed.
    pub fn get_stats(&self, now: Instant) -> StatsReport {
        let t = &self.traffic;
        let local_cert = certificate_stats(&self.fingerprint);
        let remote_cert = t.remote_certificate.as_ref().map(certificate_stats);
        let mut candidate_pairs = Vec::new();
        let mut selected_id = None;
        for p in self.ice.pairs() {
            let id = format!(
                "CP{}_{}",
                candidate_id('L', p.local),
                candidate_id('R', p.remote)
            );
            if p.selected {
                selected_id = Some(id.clone());
            }
            let counters = t
                .pairs
                .iter()
                .find(|(k, _)| *k == (p.local_socket, p.remote_addr))
                .map(|(_, c)| *c)
                .unwrap_or_default()
                .plus(self.quiet_pending(Some((p.local_socket, p.remote_addr))));
            candidate_pairs.push(CandidatePairStats {
                id,
                transport_id: TRANSPORT_ID.into(),
                local_candidate_id: candidate_id('L', p.local),
                remote_candidate_id: candidate_id('R', p.remote),
                state: p.state.as_str(),
                nominated: p.nominated,
                selected: p.selected,
                counters,
                current_round_trip_time: p.rtt,
                available_outgoing_bitrate: p
                    .selected
                    .then(|| self.media.get()?.bwe.available_outgoing_bitrate())
                    .flatten(),
            });
        }
        let mut local_candidates: Vec<CandidateStats> = self
            .ice
            .local_candidates()
            .map(|c| candidate_stats('L', c))
            .collect();
        // Peer-reflexive local candidates appear only through pairs.
        for p in self.ice.pairs() {
            let id = candidate_id('L', p.local);
            if !local_candidates.iter().any(|c| c.id == id) {
                local_candidates.push(candidate_stats('L', p.local));
            }
        }
        let dtls_state = match (&self.dtls, self.dtls_connected, self.dtls_failed) {
            (_, _, true) => "failed",
            (Some(_), _, _) if t.dtls_closed => "closed",
            (_, true, _) => "connected",
            (Some(_), false, _) => "connecting",
            (None, _, _) => "new",
        };
        let data_channels = self
            .channels
            .ids()
            .filter_map(|id| {
                let cfg = self.channels.channel_config(id)?;
                let c = t.channels.get(&id).copied().unwrap_or_default();
                Some(DataChannelStats {
                    id: format!("D{id}"),
                    label: cfg.label.clone(),
                    protocol: cfg.protocol.clone(),
                    data_channel_identifier: id,
                    state: match self.channels.state(id) {
                        Some(ChannelState::Open) => "open",
                        Some(ChannelState::Closing) => "closing",
                        Some(ChannelState::Connecting) | None => "connecting",
                    },
                    messages_sent: c.messages_sent,
                    bytes_sent: c.bytes_sent,
                    messages_received: c.messages_received,
                    bytes_received: c.bytes_received,
                })
            })
            .collect();
        StatsReport {
            timestamp: now,
            peer_connection: PeerConnectionStats {
                id: "P".into(),
                data_channels_opened: t.channels_opened,
                data_channels_closed: t.channels_closed,
            },
            transport: TransportStats {
                id: TRANSPORT_ID.into(),
                counters: t.transport.plus(self.quiet_pending(None)),
                ice_role: if self.ice.is_controlling() {
                    "controlling"
                } else {
                    "controlled"
                },
                ice_local_username_fragment: self.ice.local_credentials().0.to_string(),
                ice_state: ice_state_name(self.ice_state),
                dtls_state,
                dtls_role: match self.dtls_role {
                    Some(dtls::Role::Client) => "client",
                    Some(dtls::Role::Server) => "server",
                    None => "unknown",
                },
                // TLS 1.3 suites are 0x13xx (RFC 8446 §B.4).
                tls_version: t.dtls_cipher.map(|c| {
                    if c.to_u16() >> 8 == 0x13 {
                        "FEFC"
                    } else {
                        "FEFD"
                    }
                }),
                dtls_cipher: t.dtls_cipher.map(cipher_name),
                srtp_cipher: t.srtp_profile.map(srtp_name),
                selected_candidate_pair_id: selected_id,
                selected_candidate_pair_changes: t.selected_pair_changes,
                local_certificate_id: local_cert.id.clone(),
                remote_certificate_id: remote_cert.as_ref().map(|c| c.id.clone()),
                pacer_dropped: self.media.get().map_or(0, |m| m.counters.pacer_dropped),
            },
            candidate_pairs,
            local_candidates,
            remote_candidates: self
                .ice
                .remote_candidates()
                .map(|c| candidate_stats('R', c))
                .collect(),
            certificates: [Some(local_cert), remote_cert]
                .into_iter()
                .flatten()
                .collect(),
            data_channels,
            rtp: super::media::stats::collect(self.media.transceivers()),
        }
    }
}

impl StatsReport {
    /// The report as JSON in W3C's names: an object keyed by stats id, as browsers'
    /// `JSON.stringify(Object.fromEntries(await pc.getStats()))` prints it. Times are not
    /// wall-clock (kaon reads no clock): `timestamp` is omitted and round-trip times are in
    /// seconds.
    pub fn to_json(&self) -> String {
        let mut o = Json::default();
        let pc = &self.peer_connection;
        o.open(&pc.id, "peer-connection");
        o.num("dataChannelsOpened", pc.data_channels_opened);
        o.num("dataChannelsClosed", pc.data_channels_closed);
        o.close();
        let t = &self.transport;
        o.open(&t.id, "transport");
        o.counters(&t.counters);
        o.str("iceRole", t.ice_role);
        o.str("iceLocalUsernameFragment", &t.ice_local_username_fragment);
        o.str("iceState", t.ice_state);
        o.str("dtlsState", t.dtls_state);
        o.str("dtlsRole", t.dtls_role);
        o.opt("tlsVersion", t.tls_version);
        o.opt("dtlsCipher", t.dtls_cipher);
        o.opt("srtpCipher", t.srtp_cipher);
        o.opt(
            "selectedCandidatePairId",
            t.selected_candidate_pair_id.as_deref(),
        );
        o.num(
            "selectedCandidatePairChanges",
            t.selected_candidate_pair_changes,
        );
        o.str("localCertificateId", &t.local_certificate_id);
        o.opt("remoteCertificateId", t.remote_certificate_id.as_deref());
        if t.pacer_dropped > 0 {
            o.num("pacerDropped", t.pacer_dropped);
        }
        o.close();
        for p in &self.candidate_pairs {
            o.open(&p.id, "candidate-pair");
            o.str("transportId", &p.transport_id);
            o.str("localCandidateId", &p.local_candidate_id);
            o.str("remoteCandidateId", &p.remote_candidate_id);
            o.str("state", p.state);
            o.bool("nominated", p.nominated);
            o.counters(&p.counters);
            if let Some(rtt) = p.current_round_trip_time {
                o.raw("currentRoundTripTime", &format!("{:.4}", rtt.as_secs_f64()));
            }
            if let Some(b) = p.available_outgoing_bitrate {
                o.num("availableOutgoingBitrate", b);
            }
            o.close();
        }
        for (kind, list) in [
            ("local-candidate", &self.local_candidates),
            ("remote-candidate", &self.remote_candidates),
        ] {
            for c in list {
                o.open(&c.id, kind);
                o.str("transportId", &c.transport_id);
                o.str("address", &c.address);
                o.num("port", c.port);
                o.str("protocol", &c.protocol);
                o.str("candidateType", &c.candidate_type);
                o.num("priority", c.priority);
                o.str("foundation", &c.foundation);
                o.opt("usernameFragment", c.username_fragment.as_deref());
                o.close();
            }
        }
        for c in &self.certificates {
            o.open(&c.id, "certificate");
            o.str("fingerprint", &c.fingerprint);
            o.str("fingerprintAlgorithm", c.fingerprint_algorithm);
            o.close();
        }
        for d in &self.data_channels {
            o.open(&d.id, "data-channel");
            o.str("label", &d.label);
            o.str("protocol", &d.protocol);
            o.num("dataChannelIdentifier", d.data_channel_identifier);
            o.str("state", d.state);
            o.num("messagesSent", d.messages_sent);
            o.num("bytesSent", d.bytes_sent);
            o.num("messagesReceived", d.messages_received);
            o.num("bytesReceived", d.bytes_received);
            o.close();
        }
        self.rtp.write_json(&mut o, TRANSPORT_ID);
        o.finish()
    }
}

/// A tiny JSON writer for the report: objects of flat fields, strings escaped.
#[derive(Default)]
pub(crate) struct Json {
    out: String,
    first_field: bool,
}

impl Json {
    pub(crate) fn open(&mut self, id: &str, kind: &str) {
        self.out
            .push_str(if self.out.is_empty() { "{" } else { "," });
        let _ = write!(self.out, "\n  {}: {{", quote(id));
        self.first_field = true;
        self.str("id", id);
        self.str("type", kind);
    }
    fn key(&mut self, k: &str) {
        if !self.first_field {
            self.out.push(',');
        }
        self.first_field = false;
        let _ = write!(self.out, " \"{k}\": ");
    }
    pub(crate) fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push_str(v);
    }
    pub(crate) fn str(&mut self, k: &str, v: &str) {
        self.raw(k, &quote(v));
    }
    pub(crate) fn opt(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }
    pub(crate) fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        self.raw(k, &v.to_string());
    }
    pub(crate) fn bool(&mut self, k: &str, v: bool) {
        self.raw(k, if v { "true" } else { "false" });
    }
    fn counters(&mut self, c: &Counters) {
        self.num("packetsSent", c.packets_sent);
        self.num("bytesSent", c.bytes_sent);
        self.num("packetsReceived", c.packets_received);
        self.num("bytesReceived", c.bytes_received);
    }
    pub(crate) fn close(&mut self) {
        self.out.push_str(" }");
    }
    fn finish(mut self) -> String {
        self.out
            .push_str(if self.out.is_empty() { "{}" } else { "\n}" });
        self.out
    }
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_in_use_keeps_its_counters_while_others_come_and_go() {
        let addr = |port: u16| SocketAddr::from(([192, 0, 2, 1], port));
        let mut t = Traffic::default();
        t.sent_many(addr(1), addr(2), 1, 100);
        // More pairs than are counted, the one in use counted between each.
        for port in 10..10 + 2 * MAX_COUNTED_PAIRS as u16 {
            t.received(addr(1), addr(port), 10);
            t.received(addr(1), addr(2), 50);
        }
        assert_eq!(t.pairs.len(), MAX_COUNTED_PAIRS);
        let (_, c) = t
            .pairs
            .iter()
            .find(|(k, _)| *k == (addr(1), addr(2)))
            .unwrap();
        assert_eq!((c.packets_sent, c.bytes_sent), (1, 100));
        let received = 2 * MAX_COUNTED_PAIRS as u64;
        assert_eq!(
            (c.packets_received, c.bytes_received),
            (received, 50 * received)
        );
        assert_eq!(t.transport.packets_received, 2 * received);
    }
}
