//! Writing our offers and answers from the session model (RFC 8829 §5.2 and §5.3).

use std::fmt::Write as _;

use super::{MLine, SCTP_PORT};
use crate::dtls::Fingerprint;
use crate::sdp::{SessionDescription, Setup};

/// What goes into one of our descriptions.
pub(crate) struct Local<'a> {
    pub session_id: u64,
    pub version: u64,
    /// The m-lines, in order: the live data section gets the transport, the rest are
    /// written rejected.
    pub lines: &'a [MLine],
    /// Whether to group the live sections with `a=group:BUNDLE` (always in our offers; in an
    /// answer only when the offer did, RFC 8843 §7.3).
    pub bundle: bool,
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
        let live: Vec<&str> = self
            .lines
            .iter()
            .filter(|l| l.is_data())
            .map(|l| l.mid.as_str())
            .collect();
        if self.bundle && !live.is_empty() {
            let _ = write!(s, "a=group:BUNDLE {}\r\n", live.join(" "));
        }
        s.push_str("a=msid-semantic: WMS\r\n");
        for line in self.lines {
            if line.is_data() {
                self.write_data(&mut s, line);
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

    fn write_data(&self, s: &mut String, line: &MLine) {
        let _ = write!(
            s,
            "m=application 9 {} webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=ice-options:trickle\r\n\
             a=fingerprint:{}\r\na=setup:{}\r\na=mid:{}\r\n\
             a=sctp-port:{SCTP_PORT}\r\na=max-message-size:{}\r\n",
            // The old DTLS/SCTP form carries its port in the format list: we answer it in
            // the RFC 8841 form, which every stack that sends the old one also reads.
            if line.protocol == "TCP/DTLS/SCTP" {
                "TCP/DTLS/SCTP"
            } else {
                "UDP/DTLS/SCTP"
            },
            self.ufrag,
            self.pwd,
            self.fingerprint,
            self.setup.as_str(),
            line.mid,
            self.max_message_size,
        );
        for c in self.candidates {
            let _ = write!(s, "a={c}\r\n");
        }
        if self.end_of_candidates {
            s.push_str("a=end-of-candidates\r\n");
        }
    }
}
