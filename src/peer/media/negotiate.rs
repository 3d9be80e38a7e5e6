//! Transceivers in offers and answers (RFC 8829 §5.2.2, §5.3.1, §5.10): which m-line each
//! takes, what its section says, and what an exchange settles for it.

use super::{Media, Route, Transceiver};
use crate::peer::jsep::media::{answer_direction, direction, receives, sends};
use crate::peer::jsep::{MLine, Mid, Negotiated, RemoteSummary, SectionMedia, TrackKind};
use crate::sdp::{Direction, MediaKind, SessionDescription};

/// What applying a remote offer did to the transceivers, so a rollback can undo it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingAssociation {
    /// Transceivers the offer created (at the end of the list).
    created: usize,
    /// Transceivers that took a mid from the offer.
    associated: Vec<usize>,
}

impl Media {
    /// Our section for a transceiver in an offer: every codec and extension of the engine,
    /// our direction, and our source when we send.
    pub fn offer_section(&self, t: &Transceiver) -> SectionMedia {
        SectionMedia {
            kind: t.kind,
            direction: t.direction,
            codecs: self.engine.codecs(t.kind).cloned().collect(),
            extensions: self
                .engine
                .extensions(t.kind)
                .map(|(id, uri)| (id, uri.to_string()))
                .collect(),
            sources: Vec::new(),
            msid: None,
            rids: Vec::new(),
        }
        .with_sender(t)
    }

    /// The media sections of an offer over `lines`, after giving each new transceiver (no mid
    /// yet) its line: `new` holds the transceivers' indices, `at` their lines' indices.
    pub fn offer_sections(
        &mut self,
        lines: &mut [MLine],
        new: &[usize],
        at: &[usize],
    ) -> Vec<Option<SectionMedia>> {
        // A stopped transceiver whose line was recycled gives up its mid.
        for t in &mut self.transceivers {
            if t.mid
                .is_some_and(|m| lines.iter().all(|l| m != l.mid.as_str()))
            {
                t.mid = None;
            }
        }
        for (&t, &i) in new.iter().zip(at) {
            self.transceivers[t].mid = Mid::new(&lines[i].mid);
        }
        lines
            .iter_mut()
            .map(|line| {
                let kind = TrackKind::of(&line.kind)?;
                let t = self.by_mid(&line.mid).map(|i| &self.transceivers[i]);
                match t {
                    Some(t) if !t.stopped && t.kind == kind => {
                        line.rejected = false;
                        Some(self.offer_section(t))
                    }
                    _ => {
                        // RFC 8829 §5.2.2: a stopped transceiver's line is offered rejected.
                        line.rejected = true;
                        None
                    }
                }
            })
            .collect()
    }

    /// Indices of the transceivers that need a new m-line in the next offer, and their kinds.
    pub fn unplaced(&self) -> (Vec<usize>, Vec<TrackKind>) {
        self.transceivers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.mid.is_none() && !t.stopped)
            .map(|(i, t)| (i, t.kind))
            .unzip()
    }

    /// RFC 8829 §5.10: gives each media section of a remote offer its transceiver: the one with
    /// its mid, else one `add_track` made for that kind with no mid yet, else a new `recvonly`
    /// one. Sections we cannot take (no common codec) still get one, answered rejected.
    pub fn associate(&mut self, offer: &RemoteSummary) -> Result<(), crate::peer::Error> {
        let mut pending = PendingAssociation::default();
        for (i, m) in offer.media.iter().enumerate() {
            let Some(m) = m else { continue };
            let Some(mid) = Mid::new(&offer.sections[i].mid) else {
                continue;
            };
            if self.by_mid(mid.as_str()).is_some() {
                continue;
            }
            let free = self
                .transceivers
                .iter()
                .position(|t| t.mid.is_none() && t.from_track && !t.stopped && t.kind == m.kind);
            let t = match free {
                Some(t) => {
                    pending.associated.push(t);
                    t
                }
                None => {
                    let t = self.new_transceiver(m.kind, Direction::RecvOnly, None, false)?;
                    pending.created += 1;
                    t
                }
            };
            self.transceivers[t].mid = Some(mid);
        }
        self.pending = Some(pending);
        Ok(())
    }

    /// Undoes [`associate`](Self::associate) (RFC 8829 §4.1.8.2, rollback).
    pub fn rollback(&mut self) {
        let Some(p) = self.pending.take() else { return };
        let keep = self.transceivers.len() - p.created;
        self.transceivers.truncate(keep);
        for t in p.associated {
            if let Some(t) = self.transceivers.get_mut(t) {
                t.mid = None;
            }
        }
    }

    /// Our answer's media sections for a remote offer: per line, the codecs we share, our
    /// direction intersected with the offer's, and our source if we send; `None` for lines we
    /// reject.
    pub fn answer_sections(&self, offer: &RemoteSummary) -> Vec<Option<SectionMedia>> {
        offer
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let m = m.as_ref()?;
                let t = &self.transceivers[self.by_mid(&offer.sections[i].mid)?];
                if t.stopped {
                    return None;
                }
                let dir = answer_direction(t.direction, m.direction);
                Some(m.answer(&self.engine, dir)?.with_sender(t))
            })
            .collect()
    }

    /// Applies a completed exchange: `lines` as settled, our sections and the peer's (parallel
    /// to `lines`); `remote_answered` when we offered.
    pub fn apply(
        &mut self,
        lines: &[MLine],
        local: &[Option<SectionMedia>],
        remote: &[Option<SectionMedia>],
        remote_answered: bool,
    ) {
        self.pending = None;
        for (i, line) in lines.iter().enumerate() {
            if TrackKind::of(&line.kind).is_none() {
                continue;
            }
            let Some(t) = self.by_mid(&line.mid) else {
                continue;
            };
            let t = &mut self.transceivers[t];
            match (local.get(i), remote.get(i)) {
                (Some(Some(l)), Some(Some(r))) if !line.rejected => {
                    let n = Negotiated::settle(l, r, remote_answered);
                    // W3C currentDirection: our answer's direction, or the reverse of theirs.
                    t.current_direction = Some(if remote_answered {
                        direction(
                            sends(l.direction) && receives(r.direction),
                            receives(l.direction) && sends(r.direction),
                        )
                    } else {
                        l.direction
                    });
                    t.negotiated = Some(n);
                    t.template = None;
                }
                _ => {
                    // A rejected line stops its transceiver (RFC 8829 §5.10); its mid is freed
                    // for recycling once the line is.
                    t.stopped = true;
                    t.current_direction = None;
                    t.negotiated = None;
                    t.receivers.clear();
                }
            }
        }
        self.settle_feedback();
        self.rebuild_routes();
    }

    /// The signalled incoming SSRCs (`a=ssrc`, `ssrc-group:FID`), and those already learned
    /// that still belong to a live transceiver.
    fn rebuild_routes(&mut self) {
        let ts = &self.transceivers;
        self.routes.retain(|_, r| {
            ts.get(r.transceiver)
                .is_some_and(|t| !t.stopped && t.negotiated.is_some())
        });
        for (i, t) in self.transceivers.iter().enumerate() {
            let Some(n) = &t.negotiated else { continue };
            if t.stopped {
                continue;
            }
            for &(ssrc, rtx) in &n.remote.sources {
                self.routes.insert(
                    ssrc,
                    Route {
                        transceiver: i,
                        repairs: None,
                        srtp_slot: usize::MAX,
                    },
                );
                if let Some(rtx) = rtx {
                    self.routes.insert(
                        rtx,
                        Route {
                            transceiver: i,
                            repairs: Some(ssrc),
                            srtp_slot: usize::MAX,
                        },
                    );
                }
            }
        }
    }
}

impl SectionMedia {
    /// The section with our sender's source and msid when its direction sends.
    fn with_sender(mut self, t: &Transceiver) -> Self {
        if sends(self.direction) {
            let rtx = self.codecs.iter().any(|c| c.rtx.is_some());
            self.sources = vec![(t.ssrc, rtx.then_some(t.rtx_ssrc))];
            self.msid = Some(match &t.track {
                Some(track) => (
                    track
                        .stream_ids
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "-".into()),
                    track.id.clone(),
                ),
                None => ("-".into(), format!("{:08x}", t.ssrc)),
            });
        }
        self
    }
}

/// Every section of a description of ours, read back (what the application set is what
/// applies, RFC 8829 §5.7).
pub(crate) fn sections_of(sdp: &SessionDescription) -> Vec<Option<SectionMedia>> {
    sdp.media
        .iter()
        .map(|m| {
            if matches!(m.kind, MediaKind::Audio | MediaKind::Video) {
                SectionMedia::of(sdp, m)
            } else {
                None
            }
        })
        .collect()
}
