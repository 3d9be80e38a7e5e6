//! Offer and answer (RFC 8829, JSEP) for [`PeerConnection`]: writing our descriptions,
//! checking and applying the peer's, the signalling state machine and rollback.

use super::connection::channels_config;
use super::jsep::{self, Local, MLine, RemoteSummary, SCTP_PORT, SdpType, SectionMedia};
use super::media::negotiate_sections_of as sections_of;
use super::{Error, PeerConnection, SignalingState};
use crate::datachannel::{self, DataChannels};
use crate::dtls;
use crate::ice::Agent;
use crate::sdp::{SessionDescription, Setup};
use std::time::Instant;

impl PeerConnection {
    /// Writes an offer: one data m-section, `a=setup:actpass` (RFC 8842 §5.2), our ICE
    /// credentials and the candidates known so far.
    pub fn create_offer(&mut self, now: Instant) -> Result<SessionDescription, Error> {
        self.unquiet();
        self.check_open()?;
        if self.signaling == SignalingState::HaveRemoteOffer {
            return Err(Error::InvalidState {
                operation: "create_offer",
                state: self.signaling,
            });
        }
        // RFC 8842 §5.5: a later offer that keeps the DTLS association says the role we hold.
        let setup = self.current_setup().unwrap_or(Setup::ActPass);
        let (new, kinds) = self.media.get().map(|m| m.unplaced()).unwrap_or_default();
        // A data section when channels exist or were asked for, or when there is nothing
        // else to offer (a data-only peer offers one before its first channel).
        let data = !self.media.get().is_some_and(|m| m.has_transceivers())
            || self.data_negotiation_asked
            || self.channels.ids().next().is_some();
        let (mut lines, at) = self.jsep.offer_lines(&kinds, data);
        let media = match self.media.get_mut() {
            Some(m) => m.offer_sections(&mut lines, &new, &at),
            None => Vec::new(),
        };
        // RFC 8829 §5.2.1 / §5.2.2, RFC 8843 §6: under max-bundle every section new in this
        // offer, except the first live one of the session, is bundle-only.
        let bundle_only: Vec<String> = match self.bundle_policy {
            super::BundlePolicy::MaxBundle => {
                let live = |i: usize| lines[i].is_data() || matches!(media.get(i), Some(Some(_)));
                let first = (0..lines.len()).find(|&i| live(i));
                (0..lines.len())
                    .filter(|&i| live(i) && Some(i) != first)
                    .filter(|&i| {
                        !self
                            .jsep
                            .lines
                            .iter()
                            .any(|l| !l.rejected && l.mid == lines[i].mid)
                    })
                    .map(|i| lines[i].mid.clone())
                    .collect()
            }
            super::BundlePolicy::Balanced | super::BundlePolicy::MaxCompat => Vec::new(),
        };
        Ok(self.write_local(now, setup, &lines, &media, true, &bundle_only))
    }

    /// `a=setup` for the DTLS role already negotiated, if any.
    fn current_setup(&self) -> Option<Setup> {
        match self.dtls_role? {
            dtls::Role::Client => Some(Setup::Active),
            dtls::Role::Server => Some(Setup::Passive),
        }
    }

    /// Writes an answer to the remote offer. We take `a=setup:active` (we are the DTLS client)
    /// when the offer allows, as browsers do; an offer that insists on `active` makes us
    /// `passive` (RFC 8842 §5.3).
    pub fn create_answer(&mut self, now: Instant) -> Result<SessionDescription, Error> {
        self.unquiet();
        self.check_open()?;
        let Some(remote) = &self.pending_remote else {
            return Err(Error::InvalidState {
                operation: "create_answer",
                state: self.signaling,
            });
        };
        let setup = match (self.current_setup(), remote.setup) {
            (Some(kept), _) => kept,
            (None, Setup::Active) => Setup::Passive,
            (None, _) => Setup::Active,
        };
        let media = match self.media.get() {
            Some(m) => m.answer_sections(remote),
            None => Vec::new(),
        };
        let lines = jsep::answer_lines(remote, &media);
        let bundle = remote.bundled;
        // Answers never say bundle-only (RFC 8843 §7.3.1).
        Ok(self.write_local(now, setup, &lines, &media, bundle, &[]))
    }

    pub(super) fn write_local(
        &mut self,
        now: Instant,
        setup: Setup,
        lines: &[MLine],
        media: &[Option<SectionMedia>],
        bundle: bool,
        bundle_only: &[String],
    ) -> SessionDescription {
        // Take in the candidates the agent has announced, even if the app has not polled
        // events since adding its addresses.
        self.pump(Some(now));
        let (ufrag, pwd) = self.ice.local_credentials();
        let d = Local {
            session_id: self.session_id,
            version: self.session_version,
            lines,
            media,
            cname: self.media.get().map_or("-", |m| m.cname.as_str()),
            bundle,
            bundle_only,
            ufrag,
            pwd,
            fingerprint: &self.fingerprint,
            setup,
            max_message_size: self.local_max_message_size,
            candidates: &self.local_candidates,
            end_of_candidates: self.gathering_complete,
        }
        .write();
        self.session_version += 1;
        d
    }

    /// Sets our own offer or answer (or rolls back the pending offer).
    pub fn set_local_description(
        &mut self,
        kind: SdpType,
        sdp: SessionDescription,
    ) -> Result<(), Error> {
        self.unquiet();
        self.check_open()?;
        match (kind, self.signaling) {
            (SdpType::Rollback, _) => return self.rollback_pending(),
            (SdpType::Offer, SignalingState::Stable | SignalingState::HaveLocalOffer) => {
                self.local_offer_lines = Some(lines_of(&sdp));
                self.local_offer_media = Some(sections_of(&sdp));
                self.signaling = SignalingState::HaveLocalOffer;
            }
            (SdpType::Answer, SignalingState::HaveRemoteOffer) => {
                // The role our answer took, from its live section; with every section
                // rejected there is no transport and the role does not matter.
                let setup = match sdp.media.iter().find(|m| !m.is_rejected()) {
                    Some(m) => sdp.setup_for(m).ok_or(Error::NoSetup)?,
                    None => Setup::Active,
                };
                let remote = self
                    .pending_remote
                    .take()
                    .map(|r| *r)
                    .ok_or(Error::NoRemoteDescription)?;
                let role = match setup {
                    Setup::Active => dtls::Role::Client,
                    Setup::Passive => dtls::Role::Server,
                    _ => return Err(Error::BadSetup(setup)),
                };
                let remote_media = remote.media.clone();
                if self.remote_applied {
                    self.apply_update(remote, role)?;
                } else {
                    self.apply_remote(remote, role, false)?;
                }
                self.jsep.set_lines(lines_of(&sdp));
                if let Some(m) = self.media.get_mut() {
                    m.apply(&self.jsep.lines, &sections_of(&sdp), &remote_media, false);
                }
                self.signaling = SignalingState::Stable;
            }
            (_, state) => {
                return Err(Error::InvalidState {
                    operation: "set_local_description",
                    state,
                });
            }
        }
        if kind == SdpType::Offer && !self.previous_local_kept {
            // The description of the last completed exchange stays current until this offer
            // is answered (W3C currentLocalDescription) or rolled back.
            self.previous_local = self.local_description.take();
            self.previous_local_kept = true;
        }
        if kind == SdpType::Answer {
            self.previous_remote = None;
            self.previous_remote_kept = false;
        }
        self.local_description = Some((kind, compact_text(&sdp)));
        Ok(())
    }

    /// Sets the peer's offer or answer, after checking it ([`RemoteSummary::from_sdp`]); a
    /// refused description changes nothing.
    pub fn set_remote_description(
        &mut self,
        kind: SdpType,
        sdp: SessionDescription,
    ) -> Result<(), Error> {
        self.unquiet();
        self.check_open()?;
        if kind == SdpType::Rollback {
            return self.rollback_pending();
        }
        let summary = RemoteSummary::from_sdp(&sdp)?;
        match (kind, self.signaling) {
            (SdpType::Offer, SignalingState::Stable | SignalingState::HaveRemoteOffer) => {
                if self.remote_applied {
                    self.check_update(&summary)?;
                    // The offerer may only keep the role it has or leave us the choice.
                    let ours = self.current_setup();
                    if summary.setup == ours.unwrap_or(Setup::ActPass) {
                        return Err(Error::Renegotiation("DTLS role"));
                    }
                    // RFC 8445 §9: the peer restarted ICE; we restart too, unless we already
                    // did since the last exchange.
                    if self.remote_restarts_ice(&summary) && self.ice_unchanged_since_signalled() {
                        self.restart_local_ice();
                    }
                } else {
                    // JSEP: the answerer's channels take the ids of the role it will answer
                    // with.
                    self.channels.set_role(datachannel::Role::Client);
                }
                if summary.media.iter().any(Option::is_some) {
                    self.media.force().associate(&summary)?;
                }
                self.pending_remote = Some(Box::new(summary));
                self.signaling = SignalingState::HaveRemoteOffer;
            }
            (SdpType::Answer, SignalingState::HaveLocalOffer) => {
                // RFC 8842 §5.3: the answer picks; actpass there is an error.
                let role = match summary.setup {
                    Setup::Active => dtls::Role::Server,
                    Setup::Passive => dtls::Role::Client,
                    s => return Err(Error::BadSetup(s)),
                };
                let offered = self.local_offer_lines.as_deref().unwrap_or_default();
                let settled =
                    jsep::settle(offered, &summary.sections).ok_or(Error::SectionMismatch)?;
                let remote_media = summary.media.clone();
                if self.remote_applied {
                    self.check_update(&summary)?;
                    self.apply_update(summary, role)?;
                } else {
                    self.apply_remote(summary, role, true)?;
                }
                self.jsep.set_lines(settled);
                self.local_offer_lines = None;
                let local_media = self.local_offer_media.take().unwrap_or_default();
                if let Some(m) = self.media.get_mut() {
                    m.apply(&self.jsep.lines, &local_media, &remote_media, true);
                }
                self.signaling = SignalingState::Stable;
            }
            (_, state) => {
                return Err(Error::InvalidState {
                    operation: "set_remote_description",
                    state,
                });
            }
        }
        if kind == SdpType::Offer && !self.previous_remote_kept {
            self.previous_remote = self.remote_description.take();
            self.previous_remote_kept = true;
        }
        if kind == SdpType::Answer {
            self.previous_local = None;
            self.previous_local_kept = false;
        }
        self.remote_description = Some((kind, compact_text(&sdp)));
        Ok(())
    }

    /// Discards the pending offer, ours or the peer's, and returns to stable (RFC 8829 §4.1.8.2).
    pub fn rollback(&mut self, now: Instant) -> Result<(), Error> {
        self.unquiet();
        self.rollback_pending()?;
        self.pump(Some(now));
        Ok(())
    }

    /// [`rollback`](Self::rollback), as `SdpType::Rollback` descriptions ask for it.
    fn rollback_pending(&mut self) -> Result<(), Error> {
        match self.signaling {
            SignalingState::Stable => {
                return Err(Error::InvalidState {
                    operation: "rollback",
                    state: self.signaling,
                });
            }
            SignalingState::HaveLocalOffer => {
                self.local_description = self.previous_local.take();
                self.previous_local_kept = false;
                self.local_offer_lines = None;
                self.local_offer_media = None;
                // Candidates trickled ahead of the answer to a restart that is not happening.
                self.drop_held_candidates();
            }
            SignalingState::HaveRemoteOffer => {
                self.pending_remote = None;
                if let Some(m) = self.media.get_mut() {
                    m.rollback();
                }
                self.drop_held_candidates();
                self.remote_description = self.previous_remote.take();
                self.previous_remote_kept = false;
                if !self.remote_applied {
                    self.channels.set_role(datachannel::Role::Server);
                }
            }
        }
        self.signaling = SignalingState::Stable;
        Ok(())
    }

    pub(super) fn apply_remote(
        &mut self,
        remote: RemoteSummary,
        role: dtls::Role,
        we_offered: bool,
    ) -> Result<(), Error> {
        if !we_offered && self.ice.is_controlling() {
            self.become_controlled()?;
        }
        self.apply_remote_ice(&remote)?;
        self.remote_fingerprints = remote.fingerprints.clone();
        self.remote_max_message_size = remote.max_message_size;
        self.remote_sctp_port = remote.sctp_port;
        if remote.sctp_port != SCTP_PORT {
            if self.channels.ids().next().is_some() {
                return Err(Error::SctpPort(remote.sctp_port));
            }
            self.channels = DataChannels::new(channels_config(
                self.sctp_seed,
                datachannel::Role::Server,
                remote.sctp_port,
                self.local_max_message_size,
            ));
        }
        self.dtls_role = Some(role);
        // RFC 8832 §6: the DTLS client uses even stream ids, the server odd ones.
        self.channels.set_role(match role {
            dtls::Role::Client => datachannel::Role::Client,
            dtls::Role::Server => datachannel::Role::Server,
        });
        self.remote_applied = true;
        // Our ICE role is settled: the agent is never rebuilt again.
        self.cfg_ice = None;
        self.signalled_ufrag = Some(self.ice.local_credentials().0.to_string());
        Ok(())
    }

    /// The peer's ICE side of a description: credentials, lite, candidates (with those that
    /// were trickled before it), end-of-candidates.
    fn apply_remote_ice(&mut self, remote: &RemoteSummary) -> Result<(), Error> {
        self.ice
            .set_remote_credentials(&remote.ice_ufrag, &remote.ice_pwd)?;
        self.ice.set_remote_lite(remote.ice_lite);
        let held = std::mem::take(&mut self.pending_candidates);
        let mut end_of_candidates = remote.end_of_candidates;
        // Held ones that name no fragment, or this description's, are of its generation; the
        // rest belong to none that is coming (W3C: ignored).
        let (ours, stale): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|(u, _)| u.is_empty() || *u == remote.ice_ufrag);
        self.stats.candidates_ignored += stale.iter().filter(|(_, c)| !c.is_empty()).count() as u64;
        let held = ours.iter().map(|(_, c)| c.as_str());
        for c in remote.candidates.iter().map(String::as_str).chain(held) {
            if c.is_empty() {
                end_of_candidates = true;
                continue;
            }
            // One bad candidate does not spoil the description (RFC 8839 §5.1: ignore it).
            let r = self.ice.add_remote_candidate_str(c);
            if self.diag.is_some() {
                self.diagnose_remote_candidate(c, &r);
            }
            if r.is_err() {
                self.stats.candidates_ignored += 1;
            }
        }
        if end_of_candidates {
            self.ice.end_of_remote_candidates();
        }
        Ok(())
    }

    /// Drops the trickled candidates waiting for a description that will not come.
    fn drop_held_candidates(&mut self) {
        let held = std::mem::take(&mut self.pending_candidates);
        let lines = held.iter().filter(|(_, c)| !c.is_empty()).count();
        self.stats.candidates_ignored += lines as u64;
    }

    /// What a later description may not change (RFC 8842 §5.5: any of it would mean a new
    /// DTLS association, which this release does not make).
    fn check_update(&self, remote: &RemoteSummary) -> Result<(), Error> {
        // The data section may not move or vanish while its association lives (RFC 8841 §5;
        // other sections may come and go).
        if let Some(mid) = self.jsep.data_mid()
            && remote.mid.as_deref() != Some(mid)
        {
            return Err(Error::Renegotiation("mid"));
        }
        let same_certificate = remote
            .fingerprints
            .iter()
            .any(|f| self.remote_fingerprints.contains(f));
        if !same_certificate {
            return Err(Error::Renegotiation("certificate"));
        }
        if remote.sctp_port != self.remote_sctp_port {
            return Err(Error::Renegotiation("SCTP port"));
        }
        Ok(())
    }

    fn remote_restarts_ice(&self, remote: &RemoteSummary) -> bool {
        self.ice
            .remote_credentials()
            .is_some_and(|(u, p)| (u, p) != (remote.ice_ufrag.as_str(), remote.ice_pwd.as_str()))
    }

    pub(super) fn ice_unchanged_since_signalled(&self) -> bool {
        self.signalled_ufrag.as_deref() == Some(self.ice.local_credentials().0)
    }

    /// Applies a later description: new ICE credentials (a restart) and candidates, the
    /// peer's message size limit. `role` must be the role we have.
    fn apply_update(&mut self, remote: RemoteSummary, role: dtls::Role) -> Result<(), Error> {
        if Some(role) != self.dtls_role {
            return Err(Error::Renegotiation("DTLS role"));
        }
        // The same credentials are a no-op; new ones drop the old candidates and pairs.
        self.apply_remote_ice(&remote)?;
        self.remote_max_message_size = remote.max_message_size;
        self.signalled_ufrag = Some(self.ice.local_credentials().0.to_string());
        Ok(())
    }

    /// The answerer's agent is controlled (RFC 8445 §6.1.1): the same credentials and
    /// addresses in a fresh agent, before any check was sent.
    pub(super) fn become_controlled(&mut self) -> Result<(), Error> {
        let (u, p) = self.ice.local_credentials();
        let (u, p) = (u.to_string(), p.to_string());
        // Only before the first remote description is applied, while the config is kept.
        let Some(cfg) = self.cfg_ice.as_deref() else {
            return Err(Error::Renegotiation("ICE role"));
        };
        let mut cfg = cfg.clone();
        cfg.controlling = false;
        let mut ice = Agent::new(cfg);
        ice.set_local_credentials(&u, &p)?;
        // TURN allocations already asked for stay: a second Allocate from the same socket
        // would be refused (437).
        ice.take_relays_from(&mut self.ice);
        // The host addresses keep the `.local` names already announced.
        ice.adopt_mdns_names(&self.ice);
        for a in &self.local_addrs {
            ice.add_local_interface(*a)?;
        }
        // ICE-TCP host candidates (RFC 6544) carry over the same way.
        for (a, t) in self.ice.local_tcp_candidates() {
            match t {
                crate::ice::TcpType::Active => ice.add_tcp_active(a.ip()).map(|_| ())?,
                _ => ice.add_tcp_passive(a)?,
            }
        }
        self.ice = ice;
        Ok(())
    }
}

/// The description as SDP text with no spare capacity: one is kept per peer.
fn compact_text(sdp: &SessionDescription) -> String {
    let mut text = sdp.to_string();
    text.shrink_to_fit();
    text
}

/// The m-lines a description (ours, as the application set it) carries.
fn lines_of(sdp: &SessionDescription) -> Vec<MLine> {
    sdp.media
        .iter()
        .enumerate()
        .map(|(i, m)| MLine::of(m, i))
        .collect()
}
