//! JSEP (RFC 8829): the only code in the PeerConnection that reads or writes SDP.
//!
//! A session is an ordered list of m-lines ([`MLine`]). An m-line's position is its index for
//! the life of the session and is never removed (RFC 8829 §5.2.2); a rejected m-line keeps its
//! place with port 0, and may be recycled for a new section with a new mid. Offers and answers
//! are written from this model ([`write`]), and remote descriptions are checked and summarised
//! into it ([`RemoteSummary`]) before anything is applied.
//!
//! Audio and video sections are read into [`SectionMedia`] and settled into [`Negotiated`]
//! (codecs per [`codec`]'s rules, payload types and extension ids each way, RTX, directions);
//! the data section is `UDP/DTLS/SCTP` (RFC 8841). An offer with sections kaon cannot take (no
//! common codec, another protocol, outside the bundle) is answered with those sections rejected,
//! never refused whole (RFC 8829 §5.3.1).
//!
//! ```text
//! remote offer ─ RemoteSummary::from_sdp ─▶ answer_lines ─▶ write ─▶ our answer
//! Session.lines ─ offer_lines ─▶ write ─▶ our offer ◀─ settle ◀─ remote answer
//! ```

pub mod codec;
pub mod media;
mod remote;
mod write;

pub use codec::{Codec, MediaEngine, TrackKind};
pub use media::{Negotiated, NegotiatedCodec, SectionMedia};
pub use remote::{DEFAULT_MAX_MESSAGE_SIZE, RemoteSummary, SCTP_PORT, SdpType};
pub(crate) use write::Local;

/// A media section's identification tag (`a=mid`, RFC 8843 §15), stored inline: copying one
/// into every RTP event costs no allocation. Mids longer than [`Mid::MAX_LEN`] bytes are not
/// taken (the MID header extension carries at most 16 bytes in its one-byte form, and
/// browsers use short numbers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mid {
    len: u8,
    bytes: [u8; Mid::MAX_LEN],
}

impl Mid {
    /// The longest mid kept.
    pub const MAX_LEN: usize = 32;

    /// The mid for `text`; `None` when it is empty or longer than [`Mid::MAX_LEN`].
    pub fn new(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.is_empty() || b.len() > Self::MAX_LEN {
            return None;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Some(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The mid as text.
    pub fn as_str(&self) -> &str {
        // Built from a &str only.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for Mid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mid({:?})", self.as_str())
    }
}

impl std::fmt::Display for Mid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Mid {
    fn eq(&self, other: &str) -> bool {
        // Bytes, not `as_str`: a lookup per packet sent by mid need not validate UTF-8.
        self.bytes[..usize::from(self.len)] == *other.as_bytes()
    }
}

impl PartialEq<&str> for Mid {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

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

    /// A new audio or video section.
    pub fn media(mid: String, kind: TrackKind) -> Self {
        Self {
            mid,
            kind: kind.media_kind(),
            protocol: "UDP/TLS/RTP/SAVPF".into(),
            format: "0".into(),
            rejected: false,
        }
    }

    /// Whether this is a live SCTP data section.
    pub fn is_data(&self) -> bool {
        !self.rejected && self.kind == MediaKind::Application && is_sctp(&self.protocol)
    }

    /// The same line, rejected.
    pub(crate) fn rejected(&self) -> Self {
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
    /// One more than the largest numeric mid the session has used: a recycled line gets a
    /// mid never seen before (RFC 8829 §5.2.2).
    next_mid: u32,
}

impl Session {
    /// The lines an exchange settled on.
    pub fn set_lines(&mut self, mut lines: Vec<MLine>) {
        // Kept for the life of the connection: no spare capacity.
        lines.shrink_to_fit();
        for l in &lines {
            if let Ok(n) = l.mid.parse::<u32>() {
                self.next_mid = self.next_mid.max(n.saturating_add(1));
            }
        }
        self.lines = lines;
    }

    /// The mid of the live data section, if there is one.
    pub fn data_mid(&self) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.is_data())
            .map(|l| l.mid.as_str())
    }

    /// The m-lines of our next offer (RFC 8829 §5.2.2): every current line in its place, then
    /// a line for each of `new_media` (transceivers without a mid yet, in the order they were
    /// added) and a data section if there is none and `data` asks for one, each in the first
    /// rejected place (recycled, with a new mid) or at the end. Returns the lines and, for
    /// each new media line, its index.
    pub fn offer_lines(&self, new_media: &[TrackKind], data: bool) -> (Vec<MLine>, Vec<usize>) {
        let mut lines = self.lines.clone();
        // A line recycled in this offer is no longer free for the next new section.
        let mut recycled = vec![false; lines.len()];
        let mut place = |lines: &mut Vec<MLine>, line: MLine| -> usize {
            match (0..lines.len()).find(|&i| lines[i].rejected && !recycled[i]) {
                Some(i) => {
                    recycled[i] = true;
                    lines[i] = line;
                    i
                }
                None => {
                    lines.push(line);
                    recycled.push(true);
                    lines.len() - 1
                }
            }
        };
        let mut indices = Vec::with_capacity(new_media.len());
        let mut floor = self.next_mid;
        for l in &self.lines {
            if let Ok(n) = l.mid.parse::<u32>() {
                floor = floor.max(n.saturating_add(1));
            }
        }
        let floor = std::cell::Cell::new(floor);
        let fresh = |lines: &[MLine]| {
            let mid = fresh_mid(lines, floor.get());
            floor.set(
                mid.parse::<u32>()
                    .map_or(floor.get(), |n| n.saturating_add(1)),
            );
            mid
        };
        for kind in new_media {
            let mid = fresh(&lines);
            indices.push(place(&mut lines, MLine::media(mid, *kind)));
        }
        if data && self.data_mid().is_none() {
            let mid = fresh(&lines);
            place(&mut lines, MLine::data(mid));
        }
        (lines, indices)
    }
}

/// A mid no line uses: the smallest free number from `floor`, as browsers pick them.
fn fresh_mid(lines: &[MLine], floor: u32) -> String {
    (floor..)
        .map(|n: u32| n.to_string())
        .find(|m| lines.iter().all(|l| l.mid != *m))
        .unwrap_or_default()
}

/// The m-lines of our answer to `offer` (RFC 8829 §5.3.1): one per offered line, in order; the
/// data section the summary chose and the media lines `media` says we take are live, every
/// other line is rejected.
pub(crate) fn answer_lines(offer: &RemoteSummary, media: &[Option<SectionMedia>]) -> Vec<MLine> {
    offer
        .sections
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if Some(i) == offer.data_index || matches!(media.get(i), Some(Some(_))) {
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
        let (lines, _) = Session::default().offer_lines(&[], true);
        assert_eq!(lines, vec![MLine::data("0".into())]);
    }

    #[test]
    fn later_offers_keep_every_line_in_place() {
        let s = Session {
            lines: vec![line("0", MediaKind::Audio, false), MLine::data("1".into())],
            ..Session::default()
        };
        assert_eq!(s.offer_lines(&[], true).0, s.lines);
    }

    #[test]
    fn new_media_lines_come_in_order_and_recycle_rejected_places() {
        let s = Session {
            lines: vec![MLine::data("0".into()), line("1", MediaKind::Audio, true)],
            ..Session::default()
        };
        let (lines, at) = s.offer_lines(&[TrackKind::Video, TrackKind::Audio], true);
        assert_eq!(at, vec![1, 2]);
        assert_eq!(lines[1].mid, "2");
        assert_eq!(lines[1].kind, MediaKind::Video);
        assert_eq!(lines[2].mid, "3");
        assert!(lines.iter().all(|l| !l.rejected));
    }

    #[test]
    fn mids_are_kept_inline_and_bounded() {
        let m = Mid::new("audio0").unwrap();
        assert_eq!(m.as_str(), "audio0");
        assert!(Mid::new("").is_none());
        assert!(Mid::new(&"x".repeat(33)).is_none());
    }

    #[test]
    fn a_new_data_section_recycles_a_rejected_line_with_a_new_mid() {
        let s = Session {
            lines: vec![
                line("0", MediaKind::Audio, true),
                line("1", MediaKind::Video, false),
            ],
            ..Session::default()
        };
        let (lines, _) = s.offer_lines(&[], true);
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
