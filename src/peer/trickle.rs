//! Trickled candidates on the [`PeerConnection`] (W3C `addIceCandidate`, RFC 8838): which
//! section and generation a remote candidate belongs to, and the section our own candidates
//! name.

use std::time::Instant;

use super::jsep::MLine;
use super::{Error, IceCandidate, PeerConnection};

/// How many trickled candidates (end-of-candidates included) may wait for the description
/// they belong to; more are dropped and counted, so a peer cannot grow our memory with
/// candidates of a generation that never comes.
pub(super) const MAX_HELD_CANDIDATES: usize = 64;

impl PeerConnection {
    /// Adds a remote candidate trickled by the peer (W3C `addIceCandidate`, RFC 8838 §4).
    ///
    /// - The section: `sdp_mid`, else `sdp_mline_index`, must name a section of the remote
    ///   or local description ([`Error::NoSuchSection`] otherwise). kaon runs one transport,
    ///   so any section of the bundle takes it; with neither given (a bare line,
    ///   [`IceCandidate::from_line`]) it goes to that transport too, where W3C would refuse.
    /// - The generation: one of the peer's pending offer (an ICE restart) waits until our
    ///   answer applies it. While our own ICE restart awaits its answer, a candidate of a
    ///   `username_fragment` not yet known may be the peer's new generation, trickled ahead
    ///   of its answer: it waits too, and is added if the answer names that fragment. Any
    ///   other fragment is stale (W3C: ignored, `Ok`). Stale candidates, waiting ones the
    ///   description turns out not to name, and those past the 64 that may wait, are counted
    ///   in [`PeerStats::candidates_ignored`](super::PeerStats::candidates_ignored).
    /// - An empty `candidate` is end-of-candidates for that generation.
    pub fn add_ice_candidate(
        &mut self,
        now: Instant,
        candidate: &IceCandidate,
    ) -> Result<(), Error> {
        self.unquiet();
        let c = candidate.candidate.trim();
        let c = c.strip_prefix("a=").unwrap_or(c);
        let eoc = c.is_empty() || c == "end-of-candidates";
        if !self.remote_applied && self.pending_remote.is_none() {
            return Err(Error::NoRemoteDescription);
        }
        if !self.names_a_section(candidate) {
            return Err(Error::NoSuchSection);
        }
        let pending_ufrag = self.pending_remote.as_ref().map(|r| r.ice_ufrag.as_str());
        let current_ufrag = match self.remote_applied {
            true => self.ice.remote_credentials().map(|(u, _)| u),
            false => None,
        };
        // Our restart's offer is out and unanswered: the peer's new fragment is unknown yet.
        let restarting = self.remote_applied
            && self.local_offer_lines.is_some()
            && !self.ice_unchanged_since_signalled();
        let ufrag = candidate.username_fragment.as_deref();
        let to_pending = match ufrag {
            None => !self.remote_applied,
            Some(u) if current_ufrag == Some(u) => false,
            Some(u) if pending_ufrag == Some(u) => true,
            // RFC 8838 §4: the peer may trickle candidates of the new generation as soon as
            // it has our offer, so they can overtake its answer.
            Some(_) if restarting => true,
            Some(_) => {
                // W3C addIceCandidate: a candidate of another generation is ignored.
                self.stats.candidates_ignored += 1;
                return Ok(());
            }
        };
        if to_pending {
            if !eoc {
                // Checked now so the caller hears about a bad line at once.
                if let Err(e) = crate::ice::Candidate::parse(c) {
                    self.diagnose_remote_candidate(c, &Err(e.clone()));
                    return Err(e.into());
                }
            }
            if self.pending_candidates.len() >= MAX_HELD_CANDIDATES {
                self.stats.candidates_ignored += 1;
                return Ok(());
            }
            let line = if eoc { String::new() } else { c.to_string() };
            self.pending_candidates
                .push((ufrag.unwrap_or_default().to_string(), line));
            return Ok(());
        }
        if eoc {
            self.ice.end_of_remote_candidates();
        } else {
            let r = self.ice.add_remote_candidate_str(c);
            self.diagnose_remote_candidate(c, &r);
            r?;
        }
        // End-of-candidates may settle ICE's state at once.
        self.pump(Some(now));
        Ok(())
    }

    /// Whether a trickled candidate's `sdp_mid` or `sdp_mline_index` names a section of a
    /// description in play (or names none).
    fn names_a_section(&self, c: &IceCandidate) -> bool {
        let remote = self.pending_remote.as_ref().map(|r| r.sections.as_slice());
        let descriptions = [
            remote,
            self.local_offer_lines.as_deref(),
            Some(self.jsep.lines.as_slice()),
        ];
        let mut lines = descriptions.into_iter().flatten();
        match (&c.sdp_mid, c.sdp_mline_index) {
            (Some(mid), _) => lines.any(|ls| ls.iter().any(|l| l.mid == *mid)),
            (None, Some(i)) => lines.any(|ls| usize::from(i) < ls.len()),
            (None, None) => true,
        }
    }

    /// The section our trickled candidates name: the first live one of the bundle, from our
    /// pending offer, the peer's pending offer, or the last exchange. `None` before any.
    fn candidate_section(&self) -> Option<(String, u16)> {
        let first_live = |lines: &[MLine]| {
            lines
                .iter()
                .position(|l| !l.rejected)
                .map(|i| (lines[i].mid.clone(), u16::try_from(i).unwrap_or(u16::MAX)))
        };
        if let Some(lines) = &self.local_offer_lines {
            return first_live(lines);
        }
        if let Some(r) = &self.pending_remote {
            // What our answer keeps: the data section and the media sections in the bundle.
            let taken = (0..r.sections.len()).find(|&i| {
                !r.sections[i].rejected
                    && (r.data_index == Some(i) || matches!(r.media.get(i), Some(Some(_))))
            });
            return taken.map(|i| {
                (
                    r.sections[i].mid.clone(),
                    u16::try_from(i).unwrap_or(u16::MAX),
                )
            });
        }
        first_live(&self.jsep.lines)
    }

    /// Fills in the section of a local candidate as the event leaves.
    pub(super) fn with_section(&self, mut c: IceCandidate) -> IceCandidate {
        if c.sdp_mid.is_none() && c.sdp_mline_index.is_none() {
            match self.candidate_section() {
                Some((mid, index)) => {
                    c.sdp_mid = Some(mid);
                    c.sdp_mline_index = Some(index);
                }
                // Every description has a first section; under BUNDLE it carries them all.
                None => c.sdp_mline_index = Some(0),
            }
        }
        c
    }
}
