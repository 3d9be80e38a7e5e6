//! The RTP part of [`get_stats`](crate::peer::PeerConnection::get_stats), in W3C
//! webrtc-stats names: `inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`,
//! `remote-outbound-rtp` and `codec`, from the per-SSRC streams' counters.

use std::time::Duration;

use super::Transceiver;
use crate::peer::jsep::TrackKind;
use crate::peer::stats::Json;

/// The RTP stats of a connection.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RtpStats {
    /// `inbound-rtp`: one per incoming source.
    pub inbound: Vec<InboundRtpStats>,
    /// `outbound-rtp`: one per transceiver that has sent.
    pub outbound: Vec<OutboundRtpStats>,
    /// `remote-inbound-rtp`: what the peer reported about our sources.
    pub remote_inbound: Vec<RemoteInboundRtpStats>,
    /// `remote-outbound-rtp`: what the peer's sender reports said.
    pub remote_outbound: Vec<RemoteOutboundRtpStats>,
    /// `codec`: the codecs in use.
    pub codecs: Vec<CodecStats>,
}

/// `RTCInboundRtpStreamStats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboundRtpStats {
    /// `id`.
    pub id: String,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`.
    pub kind: TrackKind,
    /// `mid`.
    pub mid: String,
    /// `codecId`.
    pub codec_id: Option<String>,
    /// `packetsReceived`.
    pub packets_received: u64,
    /// `bytesReceived` (payload).
    pub bytes_received: u64,
    /// `headerBytesReceived`.
    pub header_bytes_received: u64,
    /// `packetsLost` (RFC 3550 A.3).
    pub packets_lost: i64,
    /// `packetsDiscarded`.
    pub packets_discarded: u64,
    /// `jitter`, in seconds (RFC 3550 A.8).
    pub jitter: f64,
    /// `nackCount`: NACK packets we sent.
    pub nack_count: u64,
    /// `pliCount`: PLIs we sent.
    pub pli_count: u64,
    /// `firCount`: FIRs we sent.
    pub fir_count: u64,
    /// `retransmittedPacketsReceived`.
    pub retransmitted_packets_received: u64,
    /// `retransmittedBytesReceived`.
    pub retransmitted_bytes_received: u64,
    /// `remoteId` (the `remote-outbound-rtp` entry), once the sender reported.
    pub remote_id: Option<String>,
}

/// `RTCOutboundRtpStreamStats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OutboundRtpStats {
    /// `id`.
    pub id: String,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`.
    pub kind: TrackKind,
    /// `mid`.
    pub mid: String,
    /// `codecId`.
    pub codec_id: Option<String>,
    /// `packetsSent`.
    pub packets_sent: u64,
    /// `bytesSent` (payload).
    pub bytes_sent: u64,
    /// `headerBytesSent`.
    pub header_bytes_sent: u64,
    /// `retransmittedPacketsSent`.
    pub retransmitted_packets_sent: u64,
    /// `retransmittedBytesSent`.
    pub retransmitted_bytes_sent: u64,
    /// `nackCount`: NACK packets received.
    pub nack_count: u64,
    /// `pliCount`: PLIs received.
    pub pli_count: u64,
    /// `firCount`: FIRs received.
    pub fir_count: u64,
    /// `remoteId` (the `remote-inbound-rtp` entry), once the peer reported.
    pub remote_id: Option<String>,
}

/// `RTCRemoteInboundRtpStreamStats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteInboundRtpStats {
    /// `id`.
    pub id: String,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`.
    pub kind: TrackKind,
    /// `localId`.
    pub local_id: String,
    /// `packetsLost`.
    pub packets_lost: i64,
    /// `fractionLost`.
    pub fraction_lost: f64,
    /// `jitter`, in seconds.
    pub jitter: f64,
    /// `roundTripTime`.
    pub round_trip_time: Option<Duration>,
    /// `totalRoundTripTime`.
    pub total_round_trip_time: Duration,
    /// `roundTripTimeMeasurements`.
    pub round_trip_time_measurements: u64,
}

/// `RTCRemoteOutboundRtpStreamStats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteOutboundRtpStats {
    /// `id`.
    pub id: String,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`.
    pub kind: TrackKind,
    /// `localId`.
    pub local_id: String,
    /// `packetsSent`.
    pub packets_sent: u32,
    /// `bytesSent`.
    pub bytes_sent: u32,
    /// `reportsSent`.
    pub reports_sent: u64,
}

/// `RTCCodecStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodecStats {
    /// `id`.
    pub id: String,
    /// `payloadType`.
    pub payload_type: u8,
    /// `mimeType`.
    pub mime_type: String,
    /// `clockRate`.
    pub clock_rate: u32,
    /// `channels`.
    pub channels: Option<u16>,
    /// `sdpFmtpLine`.
    pub sdp_fmtp_line: String,
}

/// The `codec` entry id of a transceiver's first codec (the one reported as in use), as
/// received (`CI<pt>`) or sent (`CO<pt>`).
fn codec_id(t: &Transceiver, recv: bool) -> Option<String> {
    let c = t.negotiated.as_ref()?.codecs.first()?;
    Some(if recv {
        format!("CI{}", c.recv_pt)
    } else {
        format!("CO{}", c.send_pt)
    })
}

/// The RTP stats of these transceivers.
pub(crate) fn collect(transceivers: &[Transceiver]) -> RtpStats {
    let mut s = RtpStats::default();
    for t in transceivers {
        let mid = t.mid.map(|m| m.to_string()).unwrap_or_default();
        if let Some(n) = &t.negotiated {
            for c in &n.codecs {
                for (recv, pt) in [(true, c.recv_pt), (false, c.send_pt)] {
                    let id = format!("C{}{pt}", if recv { 'I' } else { 'O' });
                    if !s.codecs.iter().any(|x| x.id == id) {
                        s.codecs.push(CodecStats {
                            id,
                            payload_type: pt,
                            mime_type: c.codec.mime_type(),
                            clock_rate: c.codec.clock_rate,
                            channels: c.codec.channels,
                            sdp_fmtp_line: c.codec.fmtp.clone(),
                        });
                    }
                }
            }
        }
        for r in &t.receivers {
            let st = r.rx.stats();
            let ssrc = r.ssrc();
            let reported = st.remote.reports_received > 0;
            s.inbound.push(InboundRtpStats {
                id: format!("IT{ssrc}"),
                ssrc,
                kind: t.kind,
                mid: mid.clone(),
                codec_id: codec_id(t, true),
                packets_received: st.packets_received,
                bytes_received: st.bytes_received,
                header_bytes_received: st.header_bytes_received,
                packets_lost: st.packets_lost,
                packets_discarded: st.packets_discarded,
                jitter: st.jitter,
                nack_count: st.nack_count,
                pli_count: st.pli_count,
                fir_count: st.fir_count,
                retransmitted_packets_received: st.retransmitted_packets_received,
                retransmitted_bytes_received: st.retransmitted_bytes_received,
                remote_id: reported.then(|| format!("RO{ssrc}")),
            });
            if reported {
                s.remote_outbound.push(RemoteOutboundRtpStats {
                    id: format!("RO{ssrc}"),
                    ssrc,
                    kind: t.kind,
                    local_id: format!("IT{ssrc}"),
                    packets_sent: st.remote.packets_sent,
                    bytes_sent: st.remote.bytes_sent,
                    reports_sent: st.remote.reports_received,
                });
            }
        }
        let Some(tx) = &t.tx else { continue };
        let st = tx.stats();
        let ssrc = t.ssrc;
        let reported = st.remote.reports_received > 0;
        s.outbound.push(OutboundRtpStats {
            id: format!("OT{ssrc}"),
            ssrc,
            kind: t.kind,
            mid: mid.clone(),
            codec_id: codec_id(t, false),
            packets_sent: st.packets_sent,
            bytes_sent: st.bytes_sent,
            header_bytes_sent: st.header_bytes_sent,
            retransmitted_packets_sent: st.retransmitted_packets_sent,
            retransmitted_bytes_sent: st.retransmitted_bytes_sent,
            nack_count: st.nack_count,
            pli_count: st.pli_count,
            fir_count: st.fir_count,
            remote_id: reported.then(|| format!("RI{ssrc}")),
        });
        if reported {
            s.remote_inbound.push(RemoteInboundRtpStats {
                id: format!("RI{ssrc}"),
                ssrc,
                kind: t.kind,
                local_id: format!("OT{ssrc}"),
                packets_lost: st.remote.packets_lost,
                fraction_lost: st.remote.fraction_lost,
                jitter: st.remote.jitter,
                round_trip_time: st.round_trip_time,
                total_round_trip_time: st.total_round_trip_time,
                round_trip_time_measurements: st.round_trip_time_measurements,
            });
        }
    }
    s
}

impl RtpStats {
    /// Writes the entries into a report's JSON.
    pub(crate) fn write_json(&self, o: &mut Json, transport_id: &str) {
        for c in &self.codecs {
            o.open(&c.id, "codec");
            o.str("transportId", transport_id);
            o.num("payloadType", c.payload_type);
            o.str("mimeType", &c.mime_type);
            o.num("clockRate", c.clock_rate);
            if let Some(ch) = c.channels {
                o.num("channels", ch);
            }
            if !c.sdp_fmtp_line.is_empty() {
                o.str("sdpFmtpLine", &c.sdp_fmtp_line);
            }
            o.close();
        }
        for i in &self.inbound {
            o.open(&i.id, "inbound-rtp");
            o.num("ssrc", i.ssrc);
            o.str("kind", i.kind.as_str());
            o.str("mid", &i.mid);
            o.str("transportId", transport_id);
            o.opt("codecId", i.codec_id.as_deref());
            o.num("packetsReceived", i.packets_received);
            o.num("bytesReceived", i.bytes_received);
            o.num("headerBytesReceived", i.header_bytes_received);
            o.num("packetsLost", i.packets_lost);
            o.num("packetsDiscarded", i.packets_discarded);
            o.raw("jitter", &format!("{:.6}", i.jitter));
            o.num("nackCount", i.nack_count);
            o.num("pliCount", i.pli_count);
            o.num("firCount", i.fir_count);
            o.num(
                "retransmittedPacketsReceived",
                i.retransmitted_packets_received,
            );
            o.num("retransmittedBytesReceived", i.retransmitted_bytes_received);
            o.opt("remoteId", i.remote_id.as_deref());
            o.close();
        }
        for x in &self.outbound {
            o.open(&x.id, "outbound-rtp");
            o.num("ssrc", x.ssrc);
            o.str("kind", x.kind.as_str());
            o.str("mid", &x.mid);
            o.str("transportId", transport_id);
            o.opt("codecId", x.codec_id.as_deref());
            o.num("packetsSent", x.packets_sent);
            o.num("bytesSent", x.bytes_sent);
            o.num("headerBytesSent", x.header_bytes_sent);
            o.num("retransmittedPacketsSent", x.retransmitted_packets_sent);
            o.num("retransmittedBytesSent", x.retransmitted_bytes_sent);
            o.num("nackCount", x.nack_count);
            o.num("pliCount", x.pli_count);
            o.num("firCount", x.fir_count);
            o.opt("remoteId", x.remote_id.as_deref());
            o.close();
        }
        for r in &self.remote_inbound {
            o.open(&r.id, "remote-inbound-rtp");
            o.num("ssrc", r.ssrc);
            o.str("kind", r.kind.as_str());
            o.str("localId", &r.local_id);
            o.num("packetsLost", r.packets_lost);
            o.raw("fractionLost", &format!("{:.4}", r.fraction_lost));
            o.raw("jitter", &format!("{:.6}", r.jitter));
            if let Some(rtt) = r.round_trip_time {
                o.raw("roundTripTime", &format!("{:.4}", rtt.as_secs_f64()));
            }
            o.raw(
                "totalRoundTripTime",
                &format!("{:.4}", r.total_round_trip_time.as_secs_f64()),
            );
            o.num("roundTripTimeMeasurements", r.round_trip_time_measurements);
            o.close();
        }
        for r in &self.remote_outbound {
            o.open(&r.id, "remote-outbound-rtp");
            o.num("ssrc", r.ssrc);
            o.str("kind", r.kind.as_str());
            o.str("localId", &r.local_id);
            o.num("packetsSent", r.packets_sent);
            o.num("bytesSent", r.bytes_sent);
            o.num("reportsSent", r.reports_sent);
            o.close();
        }
    }
}
