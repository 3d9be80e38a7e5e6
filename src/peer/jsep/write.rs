//! Writing our offers and answers from the session model (RFC 8829 §5.2 and §5.3).

use std::fmt::Write as _;

use super::codec::FEEDBACK_CCFB;
use super::media::SectionMedia;
use super::{MLine, SCTP_PORT};
use crate::dtls::Fingerprint;
use crate::sdp::{SessionDescription, Setup};

/// What goes into one of our descriptions.
pub(crate) struct Local<'a> {
    pub session_id: u64,
    pub version: u64,
    /// The m-lines, in order: the live data section and the media sections with content in
    /// `media` get the transport, the rest are written rejected.
    pub lines: &'a [MLine],
    /// Per line, what a live audio or video section says (codecs, extensions, direction, our
    /// sources and msid); `None` (or a short slice) for every other line.
    pub media: &'a [Option<SectionMedia>],
    /// Our RTCP CNAME (RFC 7022), on every `a=ssrc` line.
    pub cname: &'a str,
    /// Whether to group the live sections with `a=group:BUNDLE` (always in our offers; in an
    /// answer only when the offer did, RFC 8843 §7.3).
    pub bundle: bool,
    /// Mids of the live sections to mark `a=bundle-only` with port 0 (RFC 8843 §6: only in an
    /// offer, for sections the answerer may take only inside the bundle).
    pub bundle_only: &'a [String],
    pub ufrag: &'a str,
    pub pwd: &'a str,
    pub fingerprint: &'a Fingerprint,
    pub setup: Setup,
    pub max_message_size: usize,
    pub candidates: &'a [String],
    pub end_of_candidates: bool,
}

impl Local<'_> {
    /// Writes the description: the session part (RFC 8829 §5.2.1), then each m-line in its
    /// place (§5.2.2, §5.3.1).
    pub fn write(&self) -> SessionDescription {
        let mut s = String::with_capacity(512 + 64 * self.lines.len());
        let _ = write!(
            s,
            "v=0\r\no=- {} {} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
            self.session_id, self.version
        );
        let live: Vec<&str> = (0..self.lines.len())
            .filter(|&i| self.is_live(i))
            .map(|i| self.lines[i].mid.as_str())
            .collect();
        if self.bundle && !live.is_empty() {
            let _ = write!(s, "a=group:BUNDLE {}\r\n", live.join(" "));
        }
        s.push_str("a=msid-semantic: WMS\r\n");
        // RFC 8843 §7.1.1: candidates go in the section that carries the bundle's transport,
        // the first live one.
        let first_live = (0..self.lines.len()).find(|&i| self.is_live(i));
        for (i, line) in self.lines.iter().enumerate() {
            let candidates = first_live == Some(i);
            if line.is_data() {
                self.write_data(&mut s, line, candidates);
            } else if let Some(Some(m)) = self.media.get(i) {
                self.write_media(&mut s, line, m, candidates);
            } else {
                // §5.3.1 / §5.2.2: a rejected section keeps its place, kind and mid with port
                // 0, and nothing that would start a transport for it.
                let _ = write!(
                    s,
                    "m={} 0 {} {}\r\nc=IN IP4 0.0.0.0\r\na=mid:{}\r\na=inactive\r\n",
                    line.kind, line.protocol, line.format, line.mid
                );
            }
        }
        // Everything above is ours and well formed; a failure here is a bug in this writer.
        SessionDescription::parse(&s).expect("our own description parses")
    }

    fn is_live(&self, i: usize) -> bool {
        self.lines[i].is_data() || matches!(self.media.get(i), Some(Some(_)))
    }

    /// The transport attributes every bundled section repeats (RFC 8843 §7.1.3, RFC 8839,
    /// RFC 8842).
    fn write_transport(&self, s: &mut String, mid: &str) {
        let _ = write!(
            s,
            "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=ice-options:trickle\r\n\
             a=fingerprint:{}\r\na=setup:{}\r\na=mid:{mid}\r\n",
            self.ufrag,
            self.pwd,
            self.fingerprint,
            self.setup.as_str(),
        );
        if self.is_bundle_only(mid) {
            s.push_str("a=bundle-only\r\n");
        }
    }

    fn is_bundle_only(&self, mid: &str) -> bool {
        self.bundle_only.iter().any(|m| m == mid)
    }

    /// RFC 8843 §6: "the offerer MUST assign a zero port value" to a bundle-only section
    /// (with `a=bundle-only` it is not rejected); 9 (discard, RFC 8839 §4.2.1) otherwise.
    fn port(&self, mid: &str) -> u16 {
        if self.is_bundle_only(mid) { 0 } else { 9 }
    }

    fn write_candidates(&self, s: &mut String) {
        for c in self.candidates {
            let _ = write!(s, "a={c}\r\n");
        }
        if self.end_of_candidates {
            s.push_str("a=end-of-candidates\r\n");
        }
    }

    /// An audio or video section (RFC 8829 §5.2.2 and §5.3.1; RTP/AVPF feedback per RFC 4585,
    /// RTX per RFC 4588, sources per RFC 5576 and RFC 8830).
    fn write_media(&self, s: &mut String, line: &MLine, m: &SectionMedia, candidates: bool) {
        let _ = write!(s, "m={} {} UDP/TLS/RTP/SAVPF", m.kind, self.port(&line.mid));
        for c in &m.codecs {
            let _ = write!(s, " {}", c.payload_type);
            if let Some(rtx) = c.rtx {
                let _ = write!(s, " {rtx}");
            }
        }
        s.push_str("\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n");
        self.write_transport(s, &line.mid);
        for (id, uri) in &m.extensions {
            let _ = write!(s, "a=extmap:{id} {uri}\r\n");
        }
        let _ = write!(s, "a={}\r\n", m.direction.as_str());
        if let Some((stream, track)) = &m.msid {
            let _ = write!(s, "a=msid:{stream} {track}\r\n");
        }
        s.push_str("a=rtcp-mux\r\na=rtcp-rsize\r\n");
        for c in &m.codecs {
            let _ = write!(s, "a=rtpmap:{} {}/{}", c.payload_type, c.name, c.clock_rate);
            if let Some(ch) = c.channels {
                let _ = write!(s, "/{ch}");
            }
            s.push_str("\r\n");
            for fb in c.feedback.iter().filter(|f| *f != FEEDBACK_CCFB) {
                let _ = write!(s, "a=rtcp-fb:{} {fb}\r\n", c.payload_type);
            }
            if !c.fmtp.is_empty() {
                let _ = write!(s, "a=fmtp:{} {}\r\n", c.payload_type, c.fmtp);
            }
            if let Some(rtx) = c.rtx {
                let _ = write!(
                    s,
                    "a=rtpmap:{rtx} rtx/{}\r\na=fmtp:{rtx} apt={}\r\n",
                    c.clock_rate, c.payload_type
                );
            }
        }
        // RFC 8888 §6: ccfb feedback MUST use the wildcard payload type.
        if m.codecs.iter().any(|c| c.has_feedback(FEEDBACK_CCFB)) {
            s.push_str("a=rtcp-fb:* ack ccfb\r\n");
        }
        for (ssrc, rtx) in &m.sources {
            if let Some(rtx) = rtx {
                let _ = write!(s, "a=ssrc-group:FID {ssrc} {rtx}\r\n");
            }
            for x in std::iter::once(ssrc).chain(rtx) {
                let _ = write!(s, "a=ssrc:{x} cname:{}\r\n", self.cname);
                if let Some((stream, track)) = &m.msid {
                    let _ = write!(s, "a=ssrc:{x} msid:{stream} {track}\r\n");
                }
            }
        }
        if candidates {
            self.write_candidates(s);
        }
    }

    fn write_data(&self, s: &mut String, line: &MLine, candidates: bool) {
        let _ = write!(
            s,
            "m=application {} {} webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n",
            self.port(&line.mid),
            // The old DTLS/SCTP form carries its port in the format list: we answer it in
            // the RFC 8841 form, which every stack that sends the old one also reads.
            if line.protocol == "TCP/DTLS/SCTP" {
                "TCP/DTLS/SCTP"
            } else {
                "UDP/DTLS/SCTP"
            },
        );
        self.write_transport(s, &line.mid);
        let _ = write!(
            s,
            "a=sctp-port:{SCTP_PORT}\r\na=max-message-size:{}\r\n",
            self.max_message_size
        );
        if candidates {
            self.write_candidates(s);
        }
    }
}
