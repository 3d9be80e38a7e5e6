//! What kaon takes from a remote description, checked: [`RemoteSummary`] (RFC 8829 §5.7,
//! RFC 8841 for the data section, RFC 8842 for DTLS, RFC 8839 for ICE, RFC 8843 for BUNDLE).

use super::{MLine, Mid, SectionMedia};
use crate::dtls::{Fingerprint, HashAlgorithm};
use crate::peer::Error;
use crate::sdp::{self, MediaDescription, SessionDescription, Setup};

/// The SCTP port WebRTC uses (RFC 8841 §5: the default when `a=sctp-port` is absent).
pub const SCTP_PORT: u16 = 5000;

/// What `a=max-message-size` means when the peer leaves it out (RFC 8841 §6.1: 64 KiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 65536;

/// Whether a description is an offer or an answer, or undoes the pending one (RFC 8829 §4.1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpType {
    /// An offer.
    Offer,
    /// A final answer.
    Answer,
    /// Discards the pending offer (ours or the peer's) and returns to stable.
    Rollback,
}

/// The parts of a remote description a PeerConnection uses, checked.
///
/// [`RemoteSummary::from_sdp`] is what `set_remote_description` applies; call it to inspect a
/// description (or learn why it would be refused) before applying it. Sections kaon cannot
/// take (media, for now, or a second data section) are listed in `sections` and answered
/// rejected; they never make the description fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSummary {
    /// Every m-line, in order; `rejected` is set for those the peer rejected (port 0).
    pub sections: Vec<MLine>,
    /// The index in `sections` of the data section kaon takes: the first live
    /// `UDP/DTLS/SCTP` one that is bundled (or the only transport when nothing is bundled).
    pub data_index: Option<usize>,
    /// The data section's `a=mid`.
    pub mid: Option<String>,
    /// Per section, what a live audio or video section in the bundle says (`None` for the
    /// others, and for sections kaon cannot take: no mid under BUNDLE, a mid longer than
    /// [`Mid::MAX_LEN`], a transport other than RTP).
    pub media: Vec<Option<SectionMedia>>,
    /// Whether the description groups its sections with `a=group:BUNDLE`.
    pub bundled: bool,
    /// ICE username fragment.
    pub ice_ufrag: String,
    /// ICE password.
    pub ice_pwd: String,
    /// Whether the peer is an ICE lite agent.
    pub ice_lite: bool,
    /// The peer's certificate fingerprints (at least one sha-256).
    pub fingerprints: Vec<Fingerprint>,
    /// The peer's `a=setup`.
    pub setup: Setup,
    /// The peer's SCTP port.
    pub sctp_port: u16,
    /// The largest message the peer accepts (`usize::MAX` for its "0 = no limit").
    pub max_message_size: usize,
    /// The candidates in the description (`candidate:...`), from every section of the
    /// transport, each once.
    pub candidates: Vec<String>,
    /// Whether the description says `a=end-of-candidates`.
    pub end_of_candidates: bool,
}

impl RemoteSummary {
    /// Checks a remote description and extracts what the session needs. Errors only for
    /// what makes the transport impossible (no ICE credentials, no sha-256 fingerprint, no
    /// `a=setup`), never for sections kaon cannot take.
    pub fn from_sdp(sdp: &SessionDescription) -> Result<Self, Error> {
        let bundle = sdp.bundle_group();
        let in_bundle = |m: &MediaDescription| {
            bundle.is_none_or(|b| m.mid().is_some_and(|id| b.iter().any(|x| x == id)))
        };
        let sections: Vec<MLine> = sdp
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| MLine::of(m, i))
            .collect();
        // RFC 8843 §7.2.1: under BUNDLE every section needs a mid; a data section without one
        // cannot be taken (and is rejected like any other section we cannot take).
        let data_index = sdp.media.iter().enumerate().position(|(i, m)| {
            sections[i].is_data() && (bundle.is_none() || m.mid().is_some()) && in_bundle(m)
        });
        // The transport's attributes: the data section's, or else the first live section's
        // (RFC 8843 §7.1.3: the offerer's tagged section carries them under BUNDLE).
        let transport = data_index
            .map(|i| &sdp.media[i])
            .or_else(|| sdp.media.iter().find(|m| !m.is_rejected() && in_bundle(m)))
            .or(sdp.media.first());
        let creds = match transport {
            Some(m) => sdp.ice_credentials_for(m),
            None => sdp.ice_credentials(),
        }
        .ok_or(Error::NoIceCredentials)?;
        let fingerprints: Vec<Fingerprint> = match transport {
            Some(m) => sdp.fingerprints_for(m).filter_map(to_dtls).collect(),
            None => sdp.fingerprints().filter_map(to_dtls).collect(),
        };
        // RFC 8827 §6.5 has every endpoint support sha-256; we insist on seeing it.
        if !fingerprints
            .iter()
            .any(|f| f.algorithm == HashAlgorithm::Sha256)
        {
            return Err(Error::NoFingerprint);
        }
        let setup = match transport {
            Some(m) => sdp.setup_for(m),
            None => sdp.setup(),
        }
        .ok_or(Error::NoSetup)?;
        let data = data_index.map(|i| &sdp.media[i]);
        let sctp_port = data.map_or(SCTP_PORT, sctp_port);
        let max_message_size = match data.and_then(|m| m.max_message_size()) {
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_MESSAGE_SIZE,
        };
        // Candidates of the one transport: under BUNDLE they may sit in any bundled section.
        let mut candidates: Vec<String> = Vec::new();
        let mut end_of_candidates = false;
        for m in sdp
            .media
            .iter()
            .filter(|m| !m.is_rejected() && in_bundle(m))
        {
            // Without BUNDLE each section has its own transport: only the data one's count.
            if bundle.is_none() && data.is_some_and(|d| !std::ptr::eq(d, m)) {
                continue;
            }
            for c in m.candidates() {
                let line = format!("candidate:{c}");
                if !candidates.contains(&line) {
                    candidates.push(line);
                }
            }
            end_of_candidates |= m.end_of_candidates();
        }
        // Max-bundle (RFC 8843): a media section outside the bundle would need its own
        // transport, which kaon does not make; it is answered rejected.
        let media = sdp
            .media
            .iter()
            .map(|m| {
                let taken = in_bundle(m)
                    && m.mid().is_some_and(|id| Mid::new(id).is_some())
                    && (bundle.is_some() || sdp.media.len() == 1);
                taken.then(|| SectionMedia::of(sdp, m)).flatten()
            })
            .collect();
        Ok(Self {
            media,
            mid: data_index.map(|i| sections[i].mid.clone()),
            sections,
            data_index,
            bundled: bundle.is_some(),
            ice_ufrag: creds.ufrag.to_string(),
            ice_pwd: creds.pwd.to_string(),
            ice_lite: sdp.ice_lite(),
            fingerprints,
            setup,
            sctp_port,
            max_message_size,
            candidates,
            end_of_candidates,
        })
    }

    /// Whether the description has a live data section kaon takes.
    pub fn has_data(&self) -> bool {
        self.data_index.is_some()
    }
}

/// The SCTP port of a data section: `a=sctp-port`, or the pre-RFC 8841 form that puts it in
/// the format list.
fn sctp_port(m: &MediaDescription) -> u16 {
    match (m.sctp_port(), m.protocol.as_str()) {
        (Some(p), _) => p,
        (None, "DTLS/SCTP") => m
            .formats
            .first()
            .and_then(|f| f.parse().ok())
            .unwrap_or(SCTP_PORT),
        (None, _) => SCTP_PORT,
    }
}

/// The SDP attribute's fingerprint as the DTLS layer checks it, without a text round trip;
/// hash functions DTLS does not know are skipped (RFC 8122 §5 lets a peer offer several).
pub(crate) fn to_dtls(f: &sdp::Fingerprint) -> Option<Fingerprint> {
    let algorithm = [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ]
    .into_iter()
    .find(|a| a.name().eq_ignore_ascii_case(&f.algorithm))?;
    Some(Fingerprint {
        algorithm,
        value: f.value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::MediaKind;

    fn fixture(text: &str) -> SessionDescription {
        SessionDescription::parse(text).unwrap()
    }

    #[test]
    fn a_browser_audio_video_data_offer_is_summarised_with_its_data_section() {
        let s = RemoteSummary::from_sdp(&fixture(include_str!(
            "../../../tests/fixtures/sdp/firefox_av_data_offer.sdp"
        )))
        .unwrap();
        assert!(s.sections.len() >= 3);
        let i = s.data_index.unwrap();
        assert_eq!(s.sections[i].kind, MediaKind::Application);
        assert_eq!(s.mid.as_deref(), Some(s.sections[i].mid.as_str()));
        assert!(s.sections.iter().any(|l| l.kind == MediaKind::Audio));
        assert!(s.sections.iter().any(|l| l.kind == MediaKind::Video));
    }

    #[test]
    fn a_media_only_offer_has_no_data_section_but_a_transport() {
        // aiortc's audio + video + data offer without its data section.
        let text = include_str!("../../../tests/fixtures/sdp/aiortc_av_offer.sdp");
        let cut = text.find("m=application").unwrap();
        let s = RemoteSummary::from_sdp(&fixture(&text[..cut])).unwrap();
        assert_eq!(s.data_index, None);
        assert_eq!(s.mid, None);
        assert!(!s.ice_ufrag.is_empty());
        assert_eq!(s.sections.len(), 2);
    }
}
