//! JSEP (RFC 8829): the only code in the PeerConnection that reads or writes SDP.
//!
//! A session is an ordered list of m-lines ([`MLine`]). An m-line's position is its index for
//! the life of the session and is never removed (RFC 8829 §5.2.2); a rejected m-line keeps its
//! place with port 0, and may be recycled for a new section with a new mid. Offers and answers
//! are written from this model ([`write`]), and remote descriptions are checked and summarised
//! into it ([`RemoteSummary`]) before anything is applied.
//!
//! Until media lands, the data section (`UDP/DTLS/SCTP`, RFC 8841) is the one section kaon takes:
//! an offer that also carries audio, video or anything else is answered with those sections
//! rejected, never refused whole (RFC 8829 §5.3.1).
//!
//! ```text
//! remote offer ─ RemoteSummary::from_sdp ─▶ answer_lines ─▶ write ─▶ our answer
//! Session.lines ─ offer_lines ─▶ write ─▶ our offer ◀─ settle ◀─ remote answer
//! ```

mod remote;
mod write;

pub use remote::{DEFAULT_MAX_MESSAGE_SIZE, RemoteSummary, SCTP_PORT, SdpType};
pub(crate) use write::Local;

use crate::sdp::{MediaDescription, MediaKind};

/// One m-line of the session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MLine {
    /// Its `a=mid` (RFC 8843 §15), unique in the session.
    pub mid: String,
    /// `audio`, `video`, `application`, ...
    pub kind: MediaKind,
    /// The transport protocol of its `m=` line, echoed when it is rejected.
    pub protocol: String,
    /// The first format of its `m=` line (a rejected line still names one, RFC 8866 §5.14).
    pub format: String,
    /// Whether it is rejected (port 0) or stopped.
    pub rejected: bool,
}

impl MLine {
    /// The m-line of a section as a description carries it. A section without a mid gets
    /// `index` as its name (old peers; RFC 8843 requires a mid only under BUNDLE).
    pub fn of(m: &MediaDescription, index: usize) -> Self {
        Self {
            mid: m.mid().map_or_else(|| index.to_string(), str::to_string),
            kind: m.kind.clone(),
            protocol: m.protocol.clone(),
            format: m.formats.first().cloned().unwrap_or_else(|| "0".into()),
            rejected: m.is_rejected(),
        }
    }

    /// A new data section (RFC 8841 §5).
    pub fn data(mid: String) -> Self {
        Self {
            mid,
            kind: MediaKind::Application,
            protocol: "UDP/DTLS/SCTP".into(),
            format: "webrtc-datachannel".into(),
            rejected: false,
        }
    }

    /// Whether this is a live SCTP data section.
    pub fn is_data(&self) -> bool {
        !self.rejected && self.kind == MediaKind::Application && is_sctp(&self.protocol)
    }

    /// The same line, rejected.
    fn rejected(&self) -> Self {
        Self {
            rejected: true,
            ..self.clone()
        }
    }
}

/// RFC 8841 §4: `UDP/DTLS/SCTP`, or the older `DTLS/SCTP` that browsers still accept.
pub(crate) fn is_sctp(protocol: &str) -> bool {
    matches!(protocol, "UDP/DTLS/SCTP" | "DTLS/SCTP" | "TCP/DTLS/SCTP")
}

/// The session's m-lines as of the last completed offer/answer exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Session {
    pub lines: Vec<MLine>,
}

impl Session {
    /// The mid of the live data section, if there is one.
    pub fn data_mid(&self) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.is_data())
            .map(|l| l.mid.as_str())
    }

    /// The m-lines of our next offer (RFC 8829 §5.2.2): every current line in its place, and a
    /// data section if there is none, in the first rejected place (recycled, with a new mid)
    /// or at the end.
    pub fn offer_lines(&self) -> Vec<MLine> {
        let mut lines = self.lines.clone();
        if self.data_mid().is_none() {
            let data = MLine::data(self.fresh_mid());
            match lines.iter().position(|l| l.rejected) {
                Some(i) => lines[i] = data,
                None => lines.push(data),
            }
        }
        lines
    }

    /// A mid no line uses: the smallest free number, as browsers pick them.
    fn fresh_mid(&self) -> String {
        (0..)
            .map(|n: u32| n.to_string())
            .find(|m| self.lines.iter().all(|l| l.mid != *m))
            .unwrap_or_default()
    }
}

/// The m-lines of our answer to `offer` (RFC 8829 §5.3.1): one per offered line, in order; the
/// data section the summary chose is taken, every other line is rejected.
pub(crate) fn answer_lines(offer: &RemoteSummary) -> Vec<MLine> {
    offer
        .sections
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if Some(i) == offer.data_index {
                l.clone()
            } else {
                l.rejected()
            }
        })
        .collect()
}

/// The lines an exchange settled on: the offer's, with what the answer rejected rejected.
/// `None` when the answer does not match the offer line for line (RFC 8829 §5.3.1: same count,
/// kinds and mids).
pub(crate) fn settle(offer: &[MLine], answer: &[MLine]) -> Option<Vec<MLine>> {
    if offer.len() != answer.len() {
        return None;
    }
    offer
        .iter()
        .zip(answer)
        .map(|(o, a)| {
            let same = o.kind == a.kind && (o.mid == a.mid || o.rejected || a.rejected);
            same.then(|| if a.rejected { o.rejected() } else { o.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(mid: &str, kind: MediaKind, rejected: bool) -> MLine {
        MLine {
            mid: mid.into(),
            kind,
            protocol: "UDP/TLS/RTP/SAVPF".into(),
            format: "111".into(),
            rejected,
        }
    }

    #[test]
    fn a_first_offer_has_one_data_section_with_mid_0() {
        let lines = Session::default().offer_lines();
        assert_eq!(lines, vec![MLine::data("0".into())]);
    }

    #[test]
    fn later_offers_keep_every_line_in_place() {
        let s = Session {
            lines: vec![line("0", MediaKind::Audio, false), MLine::data("1".into())],
        };
        assert_eq!(s.offer_lines(), s.lines);
    }

    #[test]
    fn a_new_data_section_recycles_a_rejected_line_with_a_new_mid() {
        let s = Session {
            lines: vec![
                line("0", MediaKind::Audio, true),
                line("1", MediaKind::Video, false),
            ],
        };
        let lines = s.offer_lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].is_data());
        assert_eq!(lines[0].mid, "2");
        assert_eq!(lines[1], s.lines[1]);
    }

    #[test]
    fn settling_applies_the_answers_rejections_and_refuses_mismatches() {
        let offer = vec![MLine::data("0".into()), line("1", MediaKind::Audio, false)];
        let answer = vec![MLine::data("0".into()), line("1", MediaKind::Audio, true)];
        let settled = settle(&offer, &answer).unwrap();
        assert!(settled[0].is_data() && settled[1].rejected);
        assert_eq!(settle(&offer, &answer[..1]), None);
        let swapped = vec![line("1", MediaKind::Audio, false), MLine::data("0".into())];
        assert_eq!(settle(&offer, &swapped), None);
    }
}
