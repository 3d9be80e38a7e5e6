//! Codecs in SDP: what kaon offers, and which offered codec matches which of ours
//! (RFC 8829 §5.3.1, RFC 3264 §6.1; the per-codec rules of RFC 6184 §8.2.2 for H264, RFC 9628
//! §6 for VP9, the AV1 RTP specification §7.2 for AV1, RFC 7798 §7.2 for H265, RFC 7587 §7
//! for Opus; RTX per RFC 4588 §8).
//!
//! ```
//! use kaon::peer::{Codec, MediaEngine, TrackKind};
//! let engine = MediaEngine::default(); // Chromium's usual set
//! assert!(engine.codecs(TrackKind::Video).any(|c| c.name == "VP8"));
//! let h264 = Codec::video("H264", 102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
//! let other = Codec::video("H264", 127, "profile-level-id=42e034;packetization-mode=1");
//! assert!(h264.matches(&other)); // same profile and mode; the level may differ
//! ```

use std::fmt;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
}

impl TrackKind {
    /// The `m=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    /// The kind of an `m=` line, if it carries RTP media.
    pub fn of(kind: &crate::sdp::MediaKind) -> Option<Self> {
        match kind {
            crate::sdp::MediaKind::Audio => Some(Self::Audio),
            crate::sdp::MediaKind::Video => Some(Self::Video),
            _ => None,
        }
    }

    /// The SDP media kind.
    pub fn media_kind(self) -> crate::sdp::MediaKind {
        match self {
            Self::Audio => crate::sdp::MediaKind::Audio,
            Self::Video => crate::sdp::MediaKind::Video,
        }
    }
}

impl fmt::Display for TrackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One codec as SDP describes it: `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` of a payload type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// Audio or video.
    pub kind: TrackKind,
    /// The encoding name as `a=rtpmap` writes it (`opus`, `VP8`, `H264`...); compared without
    /// regard to case.
    pub name: String,
    /// The payload type (in [`MediaEngine`]: the one offered; after negotiation: the one the
    /// peer's description gave it).
    pub payload_type: u8,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels (`opus/48000/2`); `None` when the rtpmap has no channel part.
    pub channels: Option<u16>,
    /// The `a=fmtp` parameters, as written (`minptime=10;useinbandfec=1`).
    pub fmtp: String,
    /// `a=rtcp-fb` values for it (`nack`, `nack pli`, `ccm fir`, `transport-cc`, `goog-remb`).
    pub feedback: Vec<String>,
    /// The payload type of its RTX stream (RFC 4588), if it has one.
    pub rtx: Option<u8>,
}

/// RFC 8888 congestion control feedback, as a codec's feedback lists it. RFC 8888 §6: "The
/// payload type used with "ccfb" feedback MUST be the wildcard type ("*")", so SDP carries it
/// once per section as `a=rtcp-fb:* ack ccfb`, and a wildcard line lists it on every codec.
pub(crate) const FEEDBACK_CCFB: &str = "ack ccfb";
/// Transport-wide congestion control feedback, as a codec's feedback lists it.
pub(crate) const FEEDBACK_TWCC: &str = "transport-cc";
/// Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb), as a codec's feedback
/// lists it.
pub(crate) const FEEDBACK_REMB: &str = "goog-remb";

const VIDEO_FEEDBACK: [&str; 5] = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"];

impl Codec {
    /// An audio codec with `transport-cc` feedback.
    pub fn audio(name: &str, payload_type: u8, clock_rate: u32, channels: Option<u16>) -> Self {
        Self {
            kind: TrackKind::Audio,
            name: name.to_string(),
            payload_type,
            clock_rate,
            channels,
            fmtp: String::new(),
            feedback: vec!["transport-cc".into()],
            rtx: None,
        }
    }

    /// A 90 kHz video codec with Chromium's feedback set (REMB, transport-cc, FIR, NACK, PLI)
    /// and no RTX; see [`with_rtx`](Self::with_rtx).
    pub fn video(name: &str, payload_type: u8, fmtp: &str) -> Self {
        Self {
            kind: TrackKind::Video,
            name: name.to_string(),
            payload_type,
            clock_rate: 90_000,
            channels: None,
            fmtp: fmtp.to_string(),
            feedback: VIDEO_FEEDBACK.iter().map(|s| s.to_string()).collect(),
            rtx: None,
        }
    }

    /// The same codec with an RTX payload type.
    pub fn with_rtx(self, rtx: u8) -> Self {
        Self {
            rtx: Some(rtx),
            ..self
        }
    }

    /// The same codec with these `a=fmtp` parameters.
    pub fn with_fmtp(self, fmtp: &str) -> Self {
        Self {
            fmtp: fmtp.to_string(),
            ..self
        }
    }

    /// The MIME type, `audio/opus` or `video/VP8`.
    pub fn mime_type(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// One `fmtp` parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.fmtp.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
        })
    }

    /// Whether a feedback mechanism (`nack`, `nack pli`, `ccm fir`, `transport-cc`) is on.
    pub fn has_feedback(&self, fb: &str) -> bool {
        self.feedback.iter().any(|f| f == fb)
    }

    /// Whether `other` is the same codec as far as negotiation goes: name, clock rate and
    /// channels, and the format parameters that name a different bitstream (H264 profile
    /// and packetization mode, VP9 and H265 profile, AV1 profile). Levels may differ.
    pub fn matches(&self, other: &Codec) -> bool {
        if self.kind != other.kind
            || !self.name.eq_ignore_ascii_case(&other.name)
            || self.clock_rate != other.clock_rate
        {
            return false;
        }
        // RFC 7587 §7: opus is always `/48000/2`; other audio defaults to one channel.
        if self.channels.unwrap_or(1) != other.channels.unwrap_or(1) {
            return false;
        }
        let same = |key: &str, default: &str| {
            self.param(key).unwrap_or(default) == other.param(key).unwrap_or(default)
        };
        match self.name.to_ascii_uppercase().as_str() {
            // RFC 6184 §8.2.2: the packetization mode must match; the profile must be the
            // same (the level is negotiated down, or asymmetric with level-asymmetry-allowed).
            "H264" => {
                same("packetization-mode", "0")
                    && h264_profile(self.param("profile-level-id"))
                        == h264_profile(other.param("profile-level-id"))
            }
            // RFC 9628 §6: profile-id defaults to 0.
            "VP9" => same("profile-id", "0"),
            // AV1 RTP specification §7.2.1: profile defaults to 0 (Main).
            "AV1" => same("profile", "0"),
            // RFC 7798 §7.2.2: profile-id defaults to 1 (Main).
            "H265" => same("profile-id", "1"),
            _ => true,
        }
    }
}

/// The H264 profile of a `profile-level-id` (RFC 6184 §8.1: profile_idc, profile-iop,
/// level_idc in hex); the constraint flags tell constrained baseline from baseline and
/// constrained high from high, as libwebrtc reads them. Absent means constrained baseline
/// level 1 (`42000a` per the RFC, which browsers treat as constrained baseline).
fn h264_profile(plid: Option<&str>) -> Option<(u8, bool)> {
    let plid = plid.unwrap_or("42e00a");
    if plid.len() != 6 || !plid.is_ascii() {
        return None;
    }
    let idc = u8::from_str_radix(&plid[0..2], 16).ok()?;
    let iop = u8::from_str_radix(&plid[2..4], 16).ok()?;
    let constrained = match idc {
        // constraint_set1_flag makes baseline constrained baseline.
        0x42 => iop & 0x40 != 0,
        // constraint_set3 with 4..5 set: constrained high.
        0x64 => iop & 0x0c == 0x0c,
        _ => false,
    };
    Some((idc, constrained))
}

/// A header extension kaon knows (RFC 8285 `a=extmap` URIs).
pub(crate) const EXT_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
pub(crate) const EXT_RID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
pub(crate) const EXT_REPAIRED_RID: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
pub(crate) const EXT_ABS_SEND_TIME: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
pub(crate) const EXT_TWCC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
pub(crate) const EXT_AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
pub(crate) const EXT_VIDEO_ORIENTATION: &str = "urn:3gpp:video-orientation";
pub(crate) const EXT_PLAYOUT_DELAY: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";

/// The extension kind of a URI, for [`crate::rtp::ExtensionMap`].
pub(crate) fn extension_kind(uri: &str) -> Option<crate::rtp::ExtensionKind> {
    use crate::rtp::ExtensionKind as K;
    Some(match uri {
        EXT_MID => K::Mid,
        EXT_RID => K::RtpStreamId,
        EXT_REPAIRED_RID => K::RepairedRtpStreamId,
        EXT_ABS_SEND_TIME => K::AbsSendTime,
        EXT_TWCC => K::TransportCc,
        EXT_AUDIO_LEVEL => K::AudioLevel,
        EXT_VIDEO_ORIENTATION => K::VideoOrientation,
        EXT_PLAYOUT_DELAY => K::PlayoutDelay,
        _ => return None,
    })
}

/// The codecs and header extensions a PeerConnection offers and accepts, in order of
/// preference (Pion's `MediaEngine`). The default is what Chromium offers: Opus, G.722, G.711;
/// VP8, VP9, H264 (constrained baseline, modes 1 and 0), AV1 and H265, each video codec with RTX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEngine {
    /// Codecs, most preferred first. Payload types must be unique within a kind.
    pub codecs: Vec<Codec>,
    /// Header extensions per kind, as `(id, uri)`.
    pub extensions: Vec<(TrackKind, u8, String)>,
}

impl Default for MediaEngine {
    fn default() -> Self {
        let mut opus = Codec::audio("opus", 111, 48_000, Some(2));
        opus.fmtp = "minptime=10;useinbandfec=1".into();
        let codecs = vec![
            opus,
            Codec::audio("G722", 9, 8_000, None),
            Codec::audio("PCMU", 0, 8_000, None),
            Codec::audio("PCMA", 8, 8_000, None),
            Codec::video("VP8", 96, "").with_rtx(97),
            Codec::video("VP9", 98, "profile-id=0").with_rtx(99),
            Codec::video(
                "H264",
                102,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            )
            .with_rtx(103),
            Codec::video(
                "H264",
                104,
                "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
            )
            .with_rtx(105),
            Codec::video("AV1", 45, "level-idx=5;profile=0;tier=0").with_rtx(46),
            Codec::video(
                "H265",
                49,
                "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST",
            )
            .with_rtx(50),
        ];
        let audio = [
            (1, EXT_AUDIO_LEVEL),
            (2, EXT_ABS_SEND_TIME),
            (3, EXT_TWCC),
            (4, EXT_MID),
        ];
        let video = [
            (2, EXT_ABS_SEND_TIME),
            (3, EXT_TWCC),
            (4, EXT_MID),
            (10, EXT_RID),
            (11, EXT_REPAIRED_RID),
            (13, EXT_VIDEO_ORIENTATION),
            (14, EXT_PLAYOUT_DELAY),
        ];
        let extensions = audio
            .iter()
            .map(|(id, uri)| (TrackKind::Audio, *id, uri.to_string()))
            .chain(
                video
                    .iter()
                    .map(|(id, uri)| (TrackKind::Video, *id, uri.to_string())),
            )
            .collect();
        Self { codecs, extensions }
    }
}

/// The default engine, made once per process and shared by every default config.
pub(crate) fn default_engine() -> std::sync::Arc<MediaEngine> {
    static ENGINE: std::sync::OnceLock<std::sync::Arc<MediaEngine>> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| std::sync::Arc::new(MediaEngine::default()))
        .clone()
}

impl MediaEngine {
    /// No codecs and no extensions: add what the application supports.
    pub fn empty() -> Self {
        Self {
            codecs: Vec::new(),
            extensions: Vec::new(),
        }
    }

    /// The codecs of one kind, in order of preference.
    pub fn codecs(&self, kind: TrackKind) -> impl Iterator<Item = &Codec> {
        self.codecs.iter().filter(move |c| c.kind == kind)
    }

    /// Offers and accepts RFC 8888 congestion control feedback (`a=rtcp-fb:* ack ccfb`) on
    /// every codec. While transport-wide congestion control is negotiated as well, it is the
    /// one used (both sides then have both); [`without_twcc`](Self::without_twcc) leaves
    /// RFC 8888 alone.
    ///
    /// ```
    /// use kaon::peer::{MediaEngine, TrackKind};
    /// let engine = MediaEngine::default().with_ccfb().without_twcc();
    /// let vp8 = engine.codecs(TrackKind::Video).next().unwrap();
    /// assert!(vp8.has_feedback("ack ccfb") && !vp8.has_feedback("transport-cc"));
    /// ```
    pub fn with_ccfb(mut self) -> Self {
        for c in &mut self.codecs {
            if !c.has_feedback(FEEDBACK_CCFB) {
                c.feedback.push(FEEDBACK_CCFB.to_string());
            }
        }
        self
    }

    /// Neither offers nor accepts transport-wide congestion control: no `transport-cc`
    /// feedback and no transport-wide sequence number header extension.
    pub fn without_twcc(mut self) -> Self {
        for c in &mut self.codecs {
            c.feedback.retain(|f| f != FEEDBACK_TWCC);
        }
        self.extensions.retain(|e| e.2 != EXT_TWCC);
        self
    }

    /// The header extensions of one kind.
    pub(crate) fn extensions(&self, kind: TrackKind) -> impl Iterator<Item = (u8, &str)> {
        self.extensions
            .iter()
            .filter(move |e| e.0 == kind)
            .map(|e| (e.1, e.2.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_matches_on_profile_and_mode_not_level() {
        let a = Codec::video("H264", 102, "packetization-mode=1;profile-level-id=42e01f");
        assert!(a.matches(&Codec::video(
            "h264",
            100,
            "profile-level-id=42e034;packetization-mode=1"
        )));
        // 42c0 is constrained baseline too (constraint_set1).
        assert!(a.matches(&Codec::video(
            "H264",
            100,
            "profile-level-id=42c01f;packetization-mode=1"
        )));
        assert!(!a.matches(&Codec::video(
            "H264",
            100,
            "profile-level-id=42e01f;packetization-mode=0"
        )));
        assert!(!a.matches(&Codec::video(
            "H264",
            100,
            "profile-level-id=640c1f;packetization-mode=1"
        )));
        assert!(
            !a.matches(&Codec::video(
                "H264",
                100,
                "profile-level-id=zz;packetization-mode=1"
            )) || h264_profile(Some("zz")).is_none()
        );
    }

    #[test]
    fn vp9_av1_and_opus_follow_their_rules() {
        let vp9 = Codec::video("VP9", 98, "profile-id=0");
        assert!(vp9.matches(&Codec::video("VP9", 100, "")));
        assert!(!vp9.matches(&Codec::video("VP9", 100, "profile-id=2")));
        let av1 = Codec::video("AV1", 45, "");
        assert!(av1.matches(&Codec::video("AV1", 41, "profile=0;level-idx=8")));
        assert!(!av1.matches(&Codec::video("AV1", 41, "profile=1")));
        let opus = Codec::audio("opus", 111, 48_000, Some(2));
        assert!(opus.matches(&Codec::audio("OPUS", 109, 48_000, Some(2))));
        assert!(!opus.matches(&Codec::audio("opus", 109, 48_000, None)));
        assert!(!opus.matches(&Codec::audio("PCMU", 0, 8_000, None)));
    }

    #[test]
    fn ccfb_is_added_once_and_twcc_can_be_dropped() {
        let e = MediaEngine::default().with_ccfb().with_ccfb();
        assert!(e.codecs.iter().all(|c| {
            c.feedback.iter().filter(|f| *f == FEEDBACK_CCFB).count() == 1
                && c.has_feedback(FEEDBACK_TWCC)
        }));
        let e = e.without_twcc();
        assert!(e.codecs.iter().all(|c| !c.has_feedback(FEEDBACK_TWCC)));
        assert!(e.extensions.iter().all(|x| x.2 != EXT_TWCC));
        assert!(e.extensions.iter().any(|x| x.2 == EXT_MID));
    }

    #[test]
    fn the_default_engine_has_unique_payload_types_per_kind() {
        let e = MediaEngine::default();
        for kind in [TrackKind::Audio, TrackKind::Video] {
            let mut pts: Vec<u8> = e
                .codecs(kind)
                .flat_map(|c| [Some(c.payload_type), c.rtx])
                .flatten()
                .collect();
            let n = pts.len();
            pts.sort_unstable();
            pts.dedup();
            assert_eq!(pts.len(), n);
        }
    }
}
