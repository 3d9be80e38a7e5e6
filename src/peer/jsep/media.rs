//! Audio and video m-sections (RFC 8829 §5.2.2, §5.3.1, §5.10): what one says ([`SectionMedia`],
//! read the same way from our description and the peer's), and what two of them settle on
//! ([`Negotiated`]): the codecs both speak with the payload type each side receives on, the
//! header extensions with each side's ids, RTX pairs (RFC 4588 `apt`), directions, and the
//! peer's sources (`a=ssrc`, `a=ssrc-group:FID`, `a=msid`, RFC 8830, RFC 5576).

use super::codec::{Codec, MediaEngine, TrackKind};
use crate::sdp::{Direction, MediaDescription, SessionDescription};

/// What a description says about one audio or video section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionMedia {
    /// Audio or video.
    pub kind: TrackKind,
    /// The direction as seen by the description's writer.
    pub direction: Direction,
    /// Codecs in the writer's order of preference, each with the payload type the writer
    /// receives it on and its RTX payload type.
    pub codecs: Vec<Codec>,
    /// Header extensions as `(id, uri)`.
    pub extensions: Vec<(u8, String)>,
    /// The writer's sources: each primary SSRC with its RTX SSRC (`ssrc-group:FID`).
    pub sources: Vec<(u32, Option<u32>)>,
    /// The writer's `a=msid` (stream id, track id); `-` for no stream.
    pub msid: Option<(String, String)>,
    /// The writer's `a=rid`s (simulcast layers).
    pub rids: Vec<String>,
}

impl SectionMedia {
    /// Reads a live audio or video section; `None` for anything else or a rejected section.
    pub fn of(sdp: &SessionDescription, m: &MediaDescription) -> Option<Self> {
        let kind = TrackKind::of(&m.kind)?;
        if m.is_rejected() || !m.protocol.contains("RTP") {
            return None;
        }
        let mut codecs: Vec<Codec> = Vec::new();
        let mut rtx: Vec<(u8, u8)> = Vec::new();
        for f in &m.formats {
            let Ok(pt) = f.parse::<u8>() else { continue };
            let Some(map) = m.rtpmap(pt) else { continue };
            let fmtp = m.fmtp(f).map(|p| p.params.clone()).unwrap_or_default();
            if map.encoding.eq_ignore_ascii_case("rtx") {
                // RFC 4588 §8.6: `apt` names the payload type it repairs.
                let apt = fmtp.split(';').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k.trim() == "apt").then(|| v.trim().parse::<u8>().ok())?
                });
                if let Some(apt) = apt {
                    rtx.push((pt, apt));
                }
                continue;
            }
            if matches!(
                map.encoding.to_ascii_lowercase().as_str(),
                "red" | "ulpfec" | "flexfec-03" | "telephone-event" | "cn"
            ) {
                continue;
            }
            let feedback = m
                .rtcp_fbs()
                .filter(|fb| fb.payload_type.is_none_or(|p| p == pt))
                .map(|fb| match &fb.param {
                    Some(p) => format!("{} {p}", fb.kind),
                    None => fb.kind.clone(),
                })
                .collect();
            codecs.push(Codec {
                kind,
                name: map.encoding.clone(),
                payload_type: pt,
                clock_rate: map.clock_rate,
                channels: map.channels,
                fmtp,
                feedback,
                rtx: None,
            });
        }
        for (pt, apt) in rtx {
            if let Some(c) = codecs.iter_mut().find(|c| c.payload_type == apt) {
                c.rtx = Some(pt);
            }
        }
        let extensions = m
            .extmaps()
            .filter_map(|e| Some((u8::try_from(e.id).ok()?, e.uri.clone())))
            // One-byte (1..=14) and two-byte (1..=255) ids; 15 is reserved (RFC 8285 §4.2).
            .filter(|(id, _)| *id != 0 && *id != 15)
            .collect();
        let mut sources: Vec<(u32, Option<u32>)> = Vec::new();
        for g in m.ssrc_groups().filter(|g| g.semantics == "FID") {
            if let [primary, repair, ..] = g.ssrcs[..] {
                sources.push((primary, Some(repair)));
            }
        }
        for s in m.ssrcs() {
            let grouped = sources
                .iter()
                .any(|(p, r)| *p == s.ssrc || *r == Some(s.ssrc));
            if !grouped {
                sources.push((s.ssrc, None));
            }
        }
        sources.truncate(MAX_SOURCES);
        let msid = m
            .msids()
            .next()
            .map(|(s, t)| (s.to_string(), t.unwrap_or_default().to_string()))
            .or_else(|| {
                // Plan B era peers put msid on the ssrc lines only.
                m.ssrcs().find(|s| s.attribute == "msid").and_then(|s| {
                    let v = s.value.as_deref()?;
                    let (a, b) = v.split_once(' ').unwrap_or((v, ""));
                    Some((a.to_string(), b.to_string()))
                })
            });
        Some(Self {
            kind,
            direction: sdp.direction_for(m),
            codecs,
            extensions,
            sources,
            msid,
            rids: m.rids().take(MAX_SOURCES).map(|r| r.id.clone()).collect(),
        })
    }

    /// What we answer to this offered section (RFC 8829 §5.3.1): the offered codecs we support
    /// (their payload types, our parameters), the extensions we know with the offer's ids, and
    /// `direction` (ours, already intersected). `None` when no codec is common: the section
    /// is then rejected.
    pub fn answer(&self, engine: &MediaEngine, direction: Direction) -> Option<Self> {
        let mut codecs = Vec::new();
        for theirs in &self.codecs {
            let Some(ours) = engine.codecs(self.kind).find(|c| c.matches(theirs)) else {
                continue;
            };
            codecs.push(Codec {
                payload_type: theirs.payload_type,
                feedback: ours
                    .feedback
                    .iter()
                    .filter(|f| theirs.has_feedback(f))
                    .cloned()
                    .collect(),
                rtx: ours.rtx.and(theirs.rtx),
                ..ours.clone()
            });
        }
        if codecs.is_empty() {
            return None;
        }
        let extensions = self
            .extensions
            .iter()
            .filter(|(_, uri)| engine.extensions(self.kind).any(|(_, u)| u == uri))
            .cloned()
            .collect();
        Some(Self {
            kind: self.kind,
            direction,
            codecs,
            extensions,
            sources: Vec::new(),
            msid: None,
            rids: Vec::new(),
        })
    }
}

/// A section can list this many sources and rids; more are ignored (bounded memory).
const MAX_SOURCES: usize = 16;

/// The direction we answer with (RFC 8829 §5.3.1, RFC 3264 §6.1): what we want, limited by
/// what the offer allows the other way round.
pub fn answer_direction(ours: Direction, offered: Direction) -> Direction {
    let send = sends(ours) && receives(offered);
    let recv = receives(ours) && sends(offered);
    direction(send, recv)
}

/// Whether a direction includes sending.
pub fn sends(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

/// Whether a direction includes receiving.
pub fn receives(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

/// The direction that sends and receives as told.
pub fn direction(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// A codec both sides speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCodec {
    /// The codec (our parameters; feedback both sides asked for).
    pub codec: Codec,
    /// The payload type we send it with: the one the peer's description gave it.
    pub send_pt: u8,
    /// The payload type we receive it on: the one our description gave it.
    pub recv_pt: u8,
    /// RTX payload types, when both sides have RTX for it: (send, receive).
    pub rtx: Option<(u8, u8)>,
}

/// What our section and the peer's settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Common codecs, in the order of the answer.
    pub codecs: Vec<NegotiatedCodec>,
    /// Header extensions we write (the peer's ids).
    pub send_extensions: crate::rtp::ExtensionMap,
    /// Header extensions we read (our ids).
    pub recv_extensions: crate::rtp::ExtensionMap,
    /// The direction of our section: what we may send and expect to receive.
    pub direction: Direction,
    /// The peer's sources, msid and rids.
    pub remote: SectionMedia,
    /// Whether a common codec negotiated `transport-cc` feedback (draft-holmer-rmcat-
    /// transport-wide-cc-extensions), read once here rather than per received packet.
    pub transport_cc: bool,
}

impl Negotiated {
    /// Settles our section and the peer's; `remote_answered` says the peer's is the answer
    /// (we offered), whose codec order wins.
    pub fn settle(local: &SectionMedia, remote: &SectionMedia, remote_answered: bool) -> Self {
        let mut codecs = Vec::new();
        let (first, second) = if remote_answered {
            (remote, local)
        } else {
            (local, remote)
        };
        for a in &first.codecs {
            let Some(b) = second.codecs.iter().find(|b| b.matches(a)) else {
                continue;
            };
            let (ours, theirs) = if remote_answered { (b, a) } else { (a, b) };
            codecs.push(NegotiatedCodec {
                codec: Codec {
                    feedback: ours
                        .feedback
                        .iter()
                        .filter(|f| theirs.has_feedback(f))
                        .cloned()
                        .collect(),
                    ..ours.clone()
                },
                send_pt: theirs.payload_type,
                recv_pt: ours.payload_type,
                rtx: theirs.rtx.zip(ours.rtx),
            });
        }
        let mut send_extensions = crate::rtp::ExtensionMap::new();
        let mut recv_extensions = crate::rtp::ExtensionMap::new();
        for (id, uri) in &local.extensions {
            let Some(kind) = super::codec::extension_kind(uri) else {
                continue;
            };
            if let Some((theirs, _)) = remote.extensions.iter().find(|(_, u)| u == uri) {
                recv_extensions.insert(*id, kind);
                send_extensions.insert(*theirs, kind);
            }
        }
        Self {
            transport_cc: codecs.iter().any(|c| c.codec.has_feedback("transport-cc")),
            codecs,
            send_extensions,
            recv_extensions,
            direction: local.direction,
            remote: remote.clone(),
        }
    }

    /// The codec we send with a payload type: ours or the peer's number for it.
    pub fn by_any_pt(&self, pt: u8) -> Option<&NegotiatedCodec> {
        self.codecs
            .iter()
            .find(|c| c.send_pt == pt)
            .or_else(|| self.codecs.iter().find(|c| c.recv_pt == pt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> SectionMedia {
        let sdp = SessionDescription::parse(text).unwrap();
        SectionMedia::of(&sdp, &sdp.media[0]).unwrap()
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 100 101 102 103\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
        a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:9 urn:x-unknown\r\n\
        a=sendrecv\r\na=msid:s t\r\na=rtpmap:100 VP8/90000\r\na=rtcp-fb:100 nack\r\n\
        a=rtcp-fb:100 nack pli\r\na=rtcp-fb:100 ccm fir\r\na=rtpmap:101 rtx/90000\r\n\
        a=fmtp:101 apt=100\r\na=rtpmap:102 H264/90000\r\n\
        a=fmtp:102 packetization-mode=1;profile-level-id=640032\r\n\
        a=rtpmap:103 ulpfec/90000\r\na=ssrc-group:FID 11 12\r\na=ssrc:11 cname:c\r\n\
        a=ssrc:12 cname:c\r\n";

    #[test]
    fn an_offered_video_section_is_read_with_rtx_sources_and_msid() {
        let s = section(OFFER);
        assert_eq!(s.kind, TrackKind::Video);
        assert_eq!(s.codecs.len(), 2);
        assert_eq!(s.codecs[0].rtx, Some(101));
        assert!(s.codecs[0].has_feedback("nack pli"));
        assert_eq!(s.sources, vec![(11, Some(12))]);
        assert_eq!(s.msid, Some(("s".into(), "t".into())));
        assert_eq!(s.extensions.len(), 2);
    }

    #[test]
    fn the_answer_keeps_offered_payload_types_and_drops_what_we_lack() {
        let s = section(OFFER);
        let a = s
            .answer(&MediaEngine::default(), Direction::RecvOnly)
            .unwrap();
        // VP8 taken with the offer's 100 and RTX 101; H264 High is not in the default engine.
        assert_eq!(a.codecs.len(), 1);
        assert_eq!(
            (a.codecs[0].payload_type, a.codecs[0].rtx),
            (100, Some(101))
        );
        assert!(!a.codecs[0].has_feedback("transport-cc"));
        assert_eq!(a.extensions, vec![(4, super::super::codec::EXT_MID.into())]);
        let n = Negotiated::settle(&a, &s, false);
        assert_eq!(n.codecs[0].send_pt, 100);
        assert_eq!(n.codecs[0].rtx, Some((101, 101)));
        assert_eq!(
            n.send_extensions.id(crate::rtp::ExtensionKind::Mid),
            Some(4)
        );
    }

    #[test]
    fn directions_answer_per_rfc_3264() {
        use Direction::*;
        assert_eq!(answer_direction(SendRecv, SendRecv), SendRecv);
        assert_eq!(answer_direction(SendRecv, RecvOnly), SendOnly);
        assert_eq!(answer_direction(RecvOnly, SendOnly), RecvOnly);
        assert_eq!(answer_direction(SendOnly, SendOnly), Inactive);
        assert_eq!(answer_direction(Inactive, SendRecv), Inactive);
    }
}
