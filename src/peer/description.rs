//! JSEP's session descriptions for a data-only session: what we write in offers and answers
//! (RFC 8829 §5.2, §5.3) and what we require of the peer's (RFC 8841, RFC 8842, RFC 8839).

use std::fmt::Write as _;

use super::Error;
use crate::dtls::{Fingerprint, HashAlgorithm};
use crate::sdp::{MediaKind, SessionDescription, Setup};

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

/// The parts of a remote description a data-only PeerConnection uses, checked.
///
/// [`RemoteSummary::from_sdp`] is what `set_remote_description` applies; call it to inspect a
/// description (or learn why it would be refused) before applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSummary {
    /// The data m-section's `a=mid`.
    pub mid: String,
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
    /// The candidates in the description (`candidate:...`).
    pub candidates: Vec<String>,
    /// Whether the description says `a=end-of-candidates`.
    pub end_of_candidates: bool,
}

impl RemoteSummary {
    /// Checks a remote description and extracts what a data-only session needs.
    pub fn from_sdp(sdp: &SessionDescription) -> Result<Self, Error> {
        let Some(bundle) = sdp.bundle_group() else {
            return Err(Error::NoBundle);
        };
        let mut data = None;
        for m in &sdp.media {
            if m.kind != MediaKind::Application {
                return Err(Error::MediaNotSupported(m.kind.as_str().to_string()));
            }
            if m.is_rejected() {
                continue;
            }
            if data.is_some() {
                return Err(Error::SeveralDataSections);
            }
            data = Some(m);
        }
        let m = data.ok_or(Error::NoDataSection)?;
        // RFC 8841 §4: UDP/DTLS/SCTP, or the older DTLS/SCTP that browsers still accept.
        if m.protocol != "UDP/DTLS/SCTP" && m.protocol != "DTLS/SCTP" {
            return Err(Error::UnsupportedProtocol(m.protocol.clone()));
        }
        let mid = m.mid().ok_or(Error::NoMid)?.to_string();
        if !bundle.contains(&mid) {
            return Err(Error::NoBundle);
        }
        let creds = sdp.ice_credentials_for(m).ok_or(Error::NoIceCredentials)?;
        let fingerprints: Vec<Fingerprint> = sdp
            .fingerprints_for(m)
            .filter_map(|f| f.to_string().parse().ok())
            .collect();
        // RFC 8827 §6.5 has every endpoint support sha-256; we insist on seeing it.
        if !fingerprints
            .iter()
            .any(|f| f.algorithm == HashAlgorithm::Sha256)
        {
            return Err(Error::NoFingerprint);
        }
        let setup = sdp.setup_for(m).ok_or(Error::NoSetup)?;
        let sctp_port = match (m.sctp_port(), m.protocol.as_str()) {
            (Some(p), _) => p,
            // The pre-RFC 8841 form puts the port in the format list.
            (None, "DTLS/SCTP") => m
                .formats
                .first()
                .and_then(|f| f.parse().ok())
                .unwrap_or(SCTP_PORT),
            (None, _) => SCTP_PORT,
        };
        let max_message_size = match m.max_message_size() {
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_MESSAGE_SIZE,
        };
        Ok(Self {
            mid,
            ice_ufrag: creds.ufrag.to_string(),
            ice_pwd: creds.pwd.to_string(),
            ice_lite: sdp.ice_lite(),
            fingerprints,
            setup,
            sctp_port,
            max_message_size,
            candidates: m.candidates().map(|c| format!("candidate:{c}")).collect(),
            end_of_candidates: m.end_of_candidates(),
        })
    }
}

/// What goes into one of our descriptions.
pub(crate) struct Local<'a> {
    pub session_id: u64,
    pub version: u64,
    pub mid: &'a str,
    pub ufrag: &'a str,
    pub pwd: &'a str,
    pub fingerprint: &'a Fingerprint,
    pub setup: Setup,
    pub max_message_size: usize,
    pub candidates: &'a [String],
    pub end_of_candidates: bool,
}

impl Local<'_> {
    /// Writes the description (RFC 8829 §5.2.1 for the session part, §5.2.2 for the m-section).
    pub fn write(&self) -> SessionDescription {
        let mut s = String::with_capacity(512);
        let _ = write!(
            s,
            "v=0\r\no=- {} {} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             a=group:BUNDLE {mid}\r\na=msid-semantic: WMS\r\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=ice-options:trickle\r\n\
             a=fingerprint:{}\r\na=setup:{}\r\na=mid:{mid}\r\n\
             a=sctp-port:{SCTP_PORT}\r\na=max-message-size:{}\r\n",
            self.session_id,
            self.version,
            self.ufrag,
            self.pwd,
            self.fingerprint,
            self.setup.as_str(),
            self.max_message_size,
            mid = self.mid,
        );
        for c in self.candidates {
            let _ = write!(s, "a={c}\r\n");
        }
        if self.end_of_candidates {
            s.push_str("a=end-of-candidates\r\n");
        }
        // Everything above is ours and well formed; a failure here is a bug in this writer.
        SessionDescription::parse(&s).expect("our own description parses")
    }
}
