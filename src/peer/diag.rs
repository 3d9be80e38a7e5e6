//! Diagnostics: what the stack did, for a user whose connection fails and wants to know why.
//!
//! With [`PeerConfig::diagnostics`](super::PeerConfig::diagnostics) on (or
//! [`PeerConnection::set_diagnostics`]), the connection interleaves
//! [`PeerEvent::Diagnostic`] events with its other events: candidates gathered, added and
//! refused; every candidate pair's check state with the reason a check failed (RFC 8445
//! §7.2.5: a timeout, 487 Role Conflict, 401, an asymmetric answer; RFC 7675 consent loss); the
//! selected pair; DTLS alerts sent and received (RFC 5246 §7.2) and a certificate that does not
//! match the signalled fingerprint (RFC 8842 §5); why the SCTP association ended (RFC 9260
//! §3.3.10 error causes) and the non-fatal ERROR chunks its peer sent, counted; DCEP OPENs
//! refused (RFC 8832 §6); SRTP and SRTCP packets that failed
//! authentication (RFC 3711 §3.3), and RTP the pacer dropped, counted. Off by default: the connection then does no work
//! for them at all.
//!
//! Each [`Diagnostic`] prints as one line (`Display`), which is what the `log` features of
//! `kaon-std` and `kaon-tokio` forward to the `log` crate.
//!
//! ```
//! use kaon::Protocol;
//! use kaon::peer::{Diagnostic, PeerConfig, PeerConnection, PeerEvent};
//!
//! let mut pc = PeerConnection::new(PeerConfig { diagnostics: true, ..PeerConfig::with_seed(1) })?;
//! pc.add_local_address("192.0.2.1:5000".parse()?)?;
//! while let Some(e) = pc.poll_event() {
//!     if let PeerEvent::Diagnostic(d) = e {
//!         println!("{d}"); // ice: gathered candidate host 192.0.2.1:5000 ...
//!         assert!(matches!(d, Diagnostic::CandidateGathered { .. }));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::SocketAddr;

use super::{PeerConnection, PeerEvent};
use crate::datachannel::{ChannelId, OpenRefusal};
use crate::dtls::{self, AlertDescription, AlertLevel, Fingerprint, HashAlgorithm};
use crate::ice::{CandidateKind, CheckFailure, PairCheckState};
use crate::sctp::{CloseReason, ErrorCause};

/// One thing the stack did that explains how a connection fares
/// ([`PeerEvent::Diagnostic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnostic {
    /// We gathered a local candidate (`candidate:...`).
    CandidateGathered {
        /// The candidate line.
        candidate: String,
    },
    /// A remote candidate was added (trickled, or from a remote description).
    RemoteCandidateAdded {
        /// The candidate line as given.
        candidate: String,
    },
    /// A remote candidate was refused and will never be checked.
    RemoteCandidateRefused {
        /// The candidate line as given.
        candidate: String,
        /// Why.
        reason: crate::ice::Error,
    },
    /// A candidate pair's check state changed (RFC 8445 §6.1.2.6).
    PairStateChanged {
        /// The local socket the pair sends from.
        local: SocketAddr,
        /// Our candidate's type (reflexive once a check showed what a NAT maps us to).
        local_kind: CandidateKind,
        /// The address the pair sends to.
        remote: SocketAddr,
        /// The peer's candidate's type (peer-reflexive when a check revealed it).
        remote_kind: CandidateKind,
        /// The new state.
        state: PairCheckState,
        /// Why its last check failed or was answered with an error, if it did.
        failure: Option<CheckFailure>,
    },
    /// ICE moved the data to another pair.
    SelectedPairChanged {
        /// Our candidate (`candidate:...`).
        local: String,
        /// The peer's candidate.
        remote: String,
    },
    /// We sent a DTLS alert: a fatal one says why we ended the handshake or the connection;
    /// a warning `close_notify` is a graceful close.
    DtlsAlertSent {
        /// Fatal or warning.
        level: AlertLevel,
        /// Why.
        description: AlertDescription,
    },
    /// The peer sent a DTLS alert.
    DtlsAlertReceived {
        /// Fatal or warning.
        level: AlertLevel,
        /// Why.
        description: AlertDescription,
    },
    /// DTLS failed without an alert either way (a handshake timeout, a local error).
    DtlsFailed(dtls::Error),
    /// The peer's certificate does not match the fingerprint in its description (RFC 8842
    /// §5: the connection must fail): a wrong or altered description, or a man in the middle.
    FingerprintMismatch {
        /// The fingerprints its description signalled.
        expected: Vec<Fingerprint>,
        /// The SHA-256 fingerprint of the certificate it presented, when one arrived.
        presented: Option<Fingerprint>,
    },
    /// The SCTP association ended, with the reason (and the error cause code of an ABORT).
    SctpClosed(CloseReason),
    /// The peer's SCTP sent a non-fatal ERROR chunk (RFC 9260 §3.3.10), one diagnostic per
    /// cause: for example Unrecognized Chunk Type (it does not know a chunk we sent) or
    /// Stale Cookie (our COOKIE ECHO came too late; the handshake restarts).
    SctpErrorReceived {
        /// What the peer reports.
        cause: ErrorCause,
        /// The cause's information (its first 256 bytes).
        info: Vec<u8>,
        /// Causes received so far on this association.
        total: u64,
    },
    /// A DATA_CHANNEL_OPEN from the peer was refused; its stream is reset.
    DataChannelRefused {
        /// The stream id it asked for.
        id: ChannelId,
        /// Why.
        reason: OpenRefusal,
        /// How many have been refused so far.
        total: u64,
    },
    /// SRTP or SRTCP packets failed authentication or replayed (wrong keys, a stale sender,
    /// tampering). Reported at the 1st, 2nd, 4th, 8th... failure, so a flood stays a few
    /// events.
    SrtpAuthFailures {
        /// Failures so far.
        total: u64,
    },
    /// STUN checks to us were dropped for a bad USERNAME or MESSAGE-INTEGRITY (the peer uses
    /// credentials we do not know: an old description, or a peer of another session).
    /// Reported at powers of two like [`SrtpAuthFailures`](Self::SrtpAuthFailures).
    ChecksUnauthenticated {
        /// Dropped so far.
        total: u64,
    },
    /// The pacer dropped RTP the application wrote: its queue was over its bounds (the
    /// oldest video goes first) or a packet waited past the time limit, because the
    /// application writes faster than the congestion controller's estimate lets out.
    /// Reported at powers of two like [`SrtpAuthFailures`](Self::SrtpAuthFailures).
    PacerDropped {
        /// Dropped so far.
        total: u64,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CandidateGathered { candidate } => {
                write!(f, "ice: gathered {}", short_candidate(candidate))
            }
            Self::RemoteCandidateAdded { candidate } => {
                write!(f, "ice: remote {}", short_candidate(candidate))
            }
            Self::RemoteCandidateRefused { candidate, reason } => {
                write!(f, "ice: refused remote {candidate:?}: {reason}")
            }
            Self::PairStateChanged {
                local,
                local_kind,
                remote,
                remote_kind,
                state,
                failure,
            } => {
                write!(
                    f,
                    "ice: pair {local} {local_kind} -> {remote} {remote_kind}: {}",
                    state.as_str()
                )?;
                match failure {
                    Some(CheckFailure::ErrorResponse(code)) => write!(f, " (error {code})"),
                    Some(why) => write!(f, " ({})", why.as_str()),
                    None => Ok(()),
                }
            }
            Self::SelectedPairChanged { local, remote } => write!(
                f,
                "ice: selected {} -> {}",
                short_candidate(local),
                short_candidate(remote)
            ),
            Self::DtlsAlertSent { level, description } => {
                write!(f, "dtls: sent {} alert {description:?}", level_name(*level))
            }
            Self::DtlsAlertReceived { level, description } => write!(
                f,
                "dtls: received {} alert {description:?}",
                level_name(*level)
            ),
            Self::DtlsFailed(e) => write!(f, "dtls: failed: {e}"),
            Self::FingerprintMismatch {
                expected,
                presented,
            } => {
                write!(
                    f,
                    "dtls: certificate does not match the fingerprint: expected"
                )?;
                for e in expected {
                    write!(f, " {e}")?;
                }
                match presented {
                    Some(p) => write!(f, ", peer presented {p}"),
                    None => write!(f, ", peer presented none"),
                }
            }
            Self::SctpClosed(reason) => write!(f, "sctp: association ended: {reason:?}"),
            Self::SctpErrorReceived { cause, total, .. } => write!(
                f,
                "sctp: peer reported error {cause:?} (cause {}; {total} so far)",
                u16::from(*cause)
            ),
            Self::DataChannelRefused { id, reason, total } => write!(
                f,
                "datachannel: refused the peer's open of stream {id}: {reason:?} ({total} so far)"
            ),
            Self::SrtpAuthFailures { total } => {
                write!(f, "srtp: {total} packets failed authentication")
            }
            Self::ChecksUnauthenticated { total } => write!(
                f,
                "ice: {total} checks dropped for bad credentials (USERNAME or MESSAGE-INTEGRITY)"
            ),
            Self::PacerDropped { total } => write!(
                f,
                "media: the pacer dropped {total} packets (writing faster than the estimate)"
            ),
        }
    }
}

fn level_name(l: AlertLevel) -> &'static str {
    match l {
        AlertLevel::Warning => "warning",
        AlertLevel::Fatal => "fatal",
        AlertLevel::Unknown(_) => "unknown-level",
    }
}

/// `candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host ...` → `host 192.0.2.1:5000 udp`.
fn short_candidate(line: &str) -> String {
    let f: Vec<&str> = line.split_whitespace().collect();
    match (f.get(2), f.get(4), f.get(5), f.get(7)) {
        (Some(t), Some(ip), Some(port), Some(kind)) if f.get(6) == Some(&"typ") => {
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            format!("{kind} {ip}:{port} {}", t.to_ascii_lowercase())
        }
        _ => line.to_string(),
    }
}

/// What the connection last reported, to report only changes.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    pairs: Vec<PairSnapshot>,
    srtp_failures: u64,
    unauthenticated: u64,
    refused: u64,
    pacer_dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PairSnapshot {
    local: SocketAddr,
    remote: SocketAddr,
    local_kind: CandidateKind,
    remote_kind: CandidateKind,
    state: PairCheckState,
    failure: Option<CheckFailure>,
}

/// Whether a counter that went from `before` to `now` crossed a power of two.
fn crossed_power_of_two(before: u64, now: u64) -> bool {
    now > before && (before == 0 || now.ilog2() > before.ilog2())
}

impl PeerConnection {
    /// Turns [`PeerEvent::Diagnostic`] events on or off (see
    /// [`PeerConfig::diagnostics`](super::PeerConfig::diagnostics)). Turned on later, it
    /// reports changes from then on.
    pub fn set_diagnostics(&mut self, on: bool) {
        self.unquiet();
        match (on, self.diag.is_some()) {
            (true, false) => self.diag = Some(Box::default()),
            (false, true) => self.diag = None,
            _ => {}
        }
    }

    /// Whether diagnostics are on.
    pub fn diagnostics(&self) -> bool {
        self.diag.is_some()
    }

    /// Queues a diagnostic if they are on; `make` runs only then.
    pub(super) fn diagnose(&mut self, make: impl FnOnce(&Self) -> Diagnostic) {
        if self.diag.is_some() {
            let d = make(self);
            self.events.push_back(PeerEvent::Diagnostic(d));
        }
    }

    /// A remote candidate went to the agent: says what became of it.
    pub(super) fn diagnose_remote_candidate(
        &mut self,
        line: &str,
        result: &Result<(), crate::ice::Error>,
    ) {
        self.diagnose(|_| match result {
            Ok(()) => Diagnostic::RemoteCandidateAdded {
                candidate: line.to_string(),
            },
            Err(e) => Diagnostic::RemoteCandidateRefused {
                candidate: line.to_string(),
                reason: e.clone(),
            },
        });
    }

    /// DTLS failed with `e`: the alert we sent, the one we received, or the bare failure, and
    /// for a wrong certificate what was expected and what came.
    pub(super) fn diagnose_dtls_failure(&mut self, e: &dtls::Error) {
        if self.diag.is_none() {
            return;
        }
        if matches!(
            e,
            dtls::Error::PeerMisbehaved(dtls::PeerMisbehaved::FingerprintMismatch)
        ) {
            self.diagnose(|pc| Diagnostic::FingerprintMismatch {
                expected: pc.remote_fingerprints.clone(),
                presented: pc
                    .dtls
                    .as_ref()
                    .and_then(|d| d.peer_certificate())
                    .map(|c| Fingerprint::of(HashAlgorithm::Sha256, c)),
            });
        }
        let d = match (e, e.alert()) {
            (dtls::Error::Alert(description), _) => Diagnostic::DtlsAlertReceived {
                level: AlertLevel::Fatal,
                description: *description,
            },
            (_, Some(description)) => Diagnostic::DtlsAlertSent {
                level: AlertLevel::Fatal,
                description,
            },
            (e, None) => Diagnostic::DtlsFailed(e.clone()),
        };
        self.diagnose(|_| d);
    }

    /// Compares what the layers hold with what was last reported and reports the changes:
    /// pair states, counters of failures. Runs only with diagnostics on, in O(pairs).
    pub(super) fn observe_diagnostics(&mut self) {
        let Some(mut t) = self.diag.take() else {
            return;
        };
        let mut now: Vec<PairSnapshot> = Vec::with_capacity(t.pairs.len());
        for p in self.ice.pairs() {
            let s = PairSnapshot {
                local: p.local_socket,
                remote: p.remote_addr,
                local_kind: p.local.kind,
                remote_kind: p.remote.kind,
                state: p.state,
                failure: p.failure,
            };
            let before = t
                .pairs
                .iter()
                .find(|o| o.local == s.local && o.remote == s.remote);
            // A change of failure alone (a 487 answered, then the check retried) shows as the
            // state it put the pair in.
            if before.is_none_or(|o| o.state != s.state || o.failure != s.failure) {
                self.events
                    .push_back(PeerEvent::Diagnostic(Diagnostic::PairStateChanged {
                        local: s.local,
                        local_kind: s.local_kind,
                        remote: s.remote,
                        remote_kind: s.remote_kind,
                        state: s.state,
                        failure: s.failure,
                    }));
            }
            now.push(s);
        }
        t.pairs = now;

        let unauthenticated = self.ice.stats().unauthenticated;
        if crossed_power_of_two(t.unauthenticated, unauthenticated) {
            self.events
                .push_back(PeerEvent::Diagnostic(Diagnostic::ChecksUnauthenticated {
                    total: unauthenticated,
                }));
        }
        t.unauthenticated = unauthenticated;

        let srtp = self.media.get().map_or(0, |m| m.counters.unprotect_failed);
        if crossed_power_of_two(t.srtp_failures, srtp) {
            self.events
                .push_back(PeerEvent::Diagnostic(Diagnostic::SrtpAuthFailures {
                    total: srtp,
                }));
        }
        t.srtp_failures = srtp;

        let dropped = self.media.get().map_or(0, |m| m.counters.pacer_dropped);
        if crossed_power_of_two(t.pacer_dropped, dropped) {
            self.events
                .push_back(PeerEvent::Diagnostic(Diagnostic::PacerDropped {
                    total: dropped,
                }));
        }
        t.pacer_dropped = dropped;

        // The channels are rebuilt (and their count starts again) when our role changes.
        let (refused, last) = self.channels.refused_opens();
        if refused > t.refused
            && let Some((id, reason)) = last
        {
            self.events
                .push_back(PeerEvent::Diagnostic(Diagnostic::DataChannelRefused {
                    id,
                    reason,
                    total: refused,
                }));
        }
        t.refused = refused;
        self.diag = Some(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_reported_at_powers_of_two() {
        let hits: Vec<u64> = (0..20u64)
            .filter(|&n| crossed_power_of_two(n, n + 1))
            .map(|n| n + 1)
            .collect();
        assert_eq!(hits, vec![1, 2, 4, 8, 16]);
        assert!(crossed_power_of_two(3, 9));
        assert!(!crossed_power_of_two(9, 9));
        assert!(!crossed_power_of_two(9, 3));
    }

    #[test]
    fn candidate_lines_print_short() {
        let line = "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host generation 0";
        assert_eq!(short_candidate(line), "host 192.0.2.1:5000 udp");
        let v6 = "candidate:1 1 UDP 1 2001:db8::1 9 typ srflx raddr 0.0.0.0 rport 0";
        assert_eq!(short_candidate(v6), "srflx [2001:db8::1]:9 udp");
        assert_eq!(short_candidate("junk"), "junk");
    }

    #[test]
    fn a_failed_pair_prints_its_reason() {
        let d = Diagnostic::PairStateChanged {
            local: "10.0.0.1:5000".parse().unwrap(),
            local_kind: CandidateKind::Host,
            remote: "10.0.0.2:5000".parse().unwrap(),
            remote_kind: CandidateKind::Host,
            state: PairCheckState::Failed,
            failure: Some(CheckFailure::Timeout),
        };
        assert_eq!(
            d.to_string(),
            "ice: pair 10.0.0.1:5000 host -> 10.0.0.2:5000 host: failed (timeout)"
        );
    }

    #[test]
    fn a_peer_sctp_error_prints_its_cause_and_count() {
        let d = Diagnostic::SctpErrorReceived {
            cause: ErrorCause::UnrecognizedChunkType,
            info: vec![0xc7, 0, 0, 4],
            total: 3,
        };
        assert_eq!(
            d.to_string(),
            "sctp: peer reported error UnrecognizedChunkType (cause 6; 3 so far)"
        );
    }
}
