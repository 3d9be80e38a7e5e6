//! ERROR chunks from the peer (RFC 9260 §3.3.10): non-fatal reports that something we sent
//! was not understood or came too late. Each cause is counted ([`Stats::errors_received`])
//! and surfaced as an [`Event::PeerError`]; a Stale Cookie during setup also restarts the
//! handshake (§5.2.6).
//!
//! [`Stats::errors_received`]: super::Stats::errors_received

use super::association::{Association, CloseReason, Event, State};
use super::chunk::{Causes, cause};
use super::timer::Timer;
use std::time::Instant;

/// Unread [`Event::PeerError`]s held at most: a peer that floods ERROR chunks is counted, and
/// the events it would cause beyond these are dropped, so it cannot grow our memory.
const MAX_UNREAD: usize = 16;
/// Bytes of a cause's information kept in its event.
const MAX_INFO: usize = 256;
/// RFC 9260 §5.2.6: the lifetime extension asked for "SHOULD add no more than 1 second beyond
/// the measured RTT".
const MAX_PRESERVATIVE_MS: u64 = 1000;

/// An error cause code (RFC 9260 §3.3.10; RFC 6525; RFC 9653), with unknown codes kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCause {
    /// 1: DATA for a stream that does not exist.
    InvalidStreamIdentifier,
    /// 2: an INIT or INIT ACK lacked a mandatory parameter.
    MissingMandatoryParameter,
    /// 3: our COOKIE ECHO carried an expired cookie.
    StaleCookie,
    /// 4: the peer is out of resources.
    OutOfResource,
    /// 5: an address could not be resolved.
    UnresolvableAddress,
    /// 6: the peer does not know a chunk type we sent.
    UnrecognizedChunkType,
    /// 7: a mandatory parameter had an invalid value.
    InvalidMandatoryParameter,
    /// 8: the peer does not know parameters we sent.
    UnrecognizedParameters,
    /// 9: a DATA chunk carried no user data.
    NoUserData,
    /// 10: a COOKIE ECHO arrived while the peer was shutting down.
    CookieReceivedWhileShuttingDown,
    /// 11: a restart tried to add new addresses.
    RestartWithNewAddresses,
    /// 12: the peer's user aborted.
    UserInitiatedAbort,
    /// 13: the peer saw a protocol violation.
    ProtocolViolation,
    /// Any other code.
    Unknown(u16),
}

impl From<u16> for ErrorCause {
    fn from(code: u16) -> Self {
        match code {
            cause::INVALID_STREAM => Self::InvalidStreamIdentifier,
            cause::MISSING_PARAM => Self::MissingMandatoryParameter,
            cause::STALE_COOKIE => Self::StaleCookie,
            cause::OUT_OF_RESOURCE => Self::OutOfResource,
            5 => Self::UnresolvableAddress,
            cause::UNRECOGNIZED_CHUNK => Self::UnrecognizedChunkType,
            cause::INVALID_MANDATORY_PARAM => Self::InvalidMandatoryParameter,
            cause::UNRECOGNIZED_PARAMS => Self::UnrecognizedParameters,
            cause::NO_USER_DATA => Self::NoUserData,
            cause::COOKIE_WHILE_SHUTTING_DOWN => Self::CookieReceivedWhileShuttingDown,
            11 => Self::RestartWithNewAddresses,
            cause::USER_ABORT => Self::UserInitiatedAbort,
            cause::PROTOCOL_VIOLATION => Self::ProtocolViolation,
            n => Self::Unknown(n),
        }
    }
}

impl From<ErrorCause> for u16 {
    fn from(c: ErrorCause) -> u16 {
        match c {
            ErrorCause::InvalidStreamIdentifier => cause::INVALID_STREAM,
            ErrorCause::MissingMandatoryParameter => cause::MISSING_PARAM,
            ErrorCause::StaleCookie => cause::STALE_COOKIE,
            ErrorCause::OutOfResource => cause::OUT_OF_RESOURCE,
            ErrorCause::UnresolvableAddress => 5,
            ErrorCause::UnrecognizedChunkType => cause::UNRECOGNIZED_CHUNK,
            ErrorCause::InvalidMandatoryParameter => cause::INVALID_MANDATORY_PARAM,
            ErrorCause::UnrecognizedParameters => cause::UNRECOGNIZED_PARAMS,
            ErrorCause::NoUserData => cause::NO_USER_DATA,
            ErrorCause::CookieReceivedWhileShuttingDown => cause::COOKIE_WHILE_SHUTTING_DOWN,
            ErrorCause::RestartWithNewAddresses => 11,
            ErrorCause::UserInitiatedAbort => cause::USER_ABORT,
            ErrorCause::ProtocolViolation => cause::PROTOCOL_VIOLATION,
            ErrorCause::Unknown(n) => n,
        }
    }
}

/// One cause of an ERROR chunk the peer sent ([`Event::PeerError`]). The association goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    /// What the peer reports.
    pub cause: ErrorCause,
    /// The cause-specific information (for Unrecognized Chunk Type, the chunk we sent), its
    /// first 256 bytes.
    pub info: Vec<u8>,
}

impl Association {
    /// An ERROR chunk (RFC 9260 §3.3.10). Its causes are reported, not acted on, except a
    /// Stale Cookie while our COOKIE ECHO is outstanding.
    pub(super) fn on_error_chunk(&mut self, now: Instant, causes: &[u8]) {
        for c in Causes::new(causes) {
            let Ok(c) = c else {
                self.stats.packets_dropped += 1;
                break;
            };
            self.stats.errors_received += 1;
            let kind = ErrorCause::from(c.code);
            if kind == ErrorCause::StaleCookie {
                self.on_stale_cookie(now, c.info);
            }
            if self.unread_errors < MAX_UNREAD {
                self.unread_errors += 1;
                let info = c.info[..c.info.len().min(MAX_INFO)].to_vec();
                self.events
                    .push_back(Event::PeerError(PeerError { cause: kind, info }));
            }
        }
    }

    /// RFC 9260 §5.2.6: "if the association is not in the COOKIE-ECHOED state, the ERROR
    /// chunk SHOULD be silently discarded"; in it we take alternative 3, a new INIT with a
    /// Cookie Preservative asking for the cookie's lifetime to grow by the staleness the
    /// peer measured, at most a second. Each such restart counts as an INIT attempt, so a
    /// peer that always finds our cookies stale ends the handshake after
    /// `max_init_retransmits`.
    fn on_stale_cookie(&mut self, now: Instant, info: &[u8]) {
        if self.state != State::CookieEchoed {
            return;
        }
        self.init_tries += 1;
        if self.init_tries > self.cfg.max_init_retransmits {
            self.terminate(CloseReason::HandshakeFailed);
            return;
        }
        // The Measure of Staleness is in microseconds; the preservative in milliseconds.
        let stale_us = match info {
            [a, b, c, d, ..] => u64::from(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => 0,
        };
        let extra_ms = (stale_us.div_ceil(1000) + 1).min(MAX_PRESERVATIVE_MS) as u32;
        self.timers.stop(Timer::Cookie);
        self.state = State::CookieWait;
        self.peer_tag = 0;
        self.echo_cookie = Vec::new();
        self.send_init_preserving(Some(extra_ms));
        self.timers.set(Timer::Init, now + self.rto.rto());
    }
}
