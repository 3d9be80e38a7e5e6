//! The `log` bridge (feature `log`): a connection's diagnostics, state changes and failures,
//! and the adapters' socket errors, forwarded to the [`log`] crate under the target `kaon`.
//!
//! Failures (a pair whose checks failed, a fatal DTLS alert, a wrong fingerprint, an SCTP
//! abort, refused channels, SRTP authentication failures) log at `warn`; the rest of the
//! story (candidates, pairs tried, the selected pair, graceful closes) at `debug`; state
//! changes at `info`. [`wants_diagnostics`] turns the core's diagnostics on only when `debug`
//! is enabled for the target, so a quiet logger costs nothing. Socket errors repeat (a dead
//! route fails every send): each kind is logged at its 1st, 2nd, 4th, 8th... occurrence.

use kaon::peer::{ConnectionState, Diagnostic, PeerEvent};
use kaon::sctp::CloseReason;
use log::Level;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `log` target every record here uses.
pub const TARGET: &str = "kaon";

/// Whether the logger wants `debug` records from [`TARGET`]: the adapters then build their
/// connection with `PeerConfig::diagnostics` on.
pub fn wants_diagnostics() -> bool {
    log::log_enabled!(target: TARGET, Level::Debug)
}

/// The level a diagnostic logs at: failures `warn`, the rest `debug`.
pub fn level(d: &Diagnostic) -> Level {
    use kaon::ice::PairCheckState;
    match d {
        Diagnostic::PairStateChanged {
            state: PairCheckState::Failed,
            ..
        }
        | Diagnostic::RemoteCandidateRefused { .. }
        | Diagnostic::FingerprintMismatch { .. }
        | Diagnostic::DtlsFailed(_)
        | Diagnostic::DataChannelRefused { .. }
        | Diagnostic::SrtpAuthFailures { .. }
        | Diagnostic::ChecksUnauthenticated { .. } => Level::Warn,
        Diagnostic::DtlsAlertSent { level, .. } | Diagnostic::DtlsAlertReceived { level, .. }
            if *level == kaon::dtls::AlertLevel::Fatal =>
        {
            Level::Warn
        }
        Diagnostic::SctpClosed(r) if *r != CloseReason::Shutdown => Level::Warn,
        _ => Level::Debug,
    }
}

/// Logs what a connection reported, if it is worth a record.
pub fn peer_event(e: &PeerEvent) {
    match e {
        PeerEvent::Diagnostic(d) => log::log!(target: TARGET, level(d), "{d}"),
        PeerEvent::ConnectionStateChanged(s) => {
            let level = if *s == ConnectionState::Failed {
                Level::Warn
            } else {
                Level::Info
            };
            log::log!(target: TARGET, level, "connection state: {s:?}");
        }
        PeerEvent::IceConnectionStateChanged(s) => {
            log::info!(target: TARGET, "ice state: {s:?}")
        }
        PeerEvent::DtlsFailed(err) => log::warn!(target: TARGET, "dtls failed: {err}"),
        _ => {}
    }
}

static SEND_ERRORS: AtomicU64 = AtomicU64::new(0);
static RECEIVE_ERRORS: AtomicU64 = AtomicU64::new(0);

fn worth_logging(counter: &AtomicU64) -> Option<u64> {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    n.is_power_of_two().then_some(n)
}

/// A datagram could not be sent (no route, a closed socket, a full buffer).
pub fn send_error(destination: SocketAddr, e: &std::io::Error) {
    if let Some(n) = worth_logging(&SEND_ERRORS) {
        log::warn!(target: TARGET, "udp send to {destination} failed: {e} ({n} send errors so far)");
    }
}

/// A socket reported a receive error: on many systems an ICMP port or host unreachable for
/// something we sent (the peer is not listening there).
pub fn receive_error(local: SocketAddr, e: &std::io::Error) {
    if let Some(n) = worth_logging(&RECEIVE_ERRORS) {
        log::warn!(
            target: TARGET,
            "udp receive on {local} failed: {e} ({n} receive errors so far; ICMP unreachable for a datagram we sent shows up here)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_socket_errors_are_logged_at_powers_of_two() {
        let c = AtomicU64::new(0);
        let logged: Vec<u64> = (0..20).filter_map(|_| worth_logging(&c)).collect();
        assert_eq!(logged, vec![1, 2, 4, 8, 16]);
    }

    #[test]
    fn failures_log_at_warn_and_the_rest_at_debug() {
        use kaon::dtls::{AlertDescription, AlertLevel};
        let fatal = Diagnostic::DtlsAlertReceived {
            level: AlertLevel::Fatal,
            description: AlertDescription::BadCertificate,
        };
        let close = Diagnostic::DtlsAlertReceived {
            level: AlertLevel::Warning,
            description: AlertDescription::CloseNotify,
        };
        assert_eq!(level(&fatal), Level::Warn);
        assert_eq!(level(&close), Level::Debug);
        assert_eq!(
            level(&Diagnostic::SctpClosed(CloseReason::Shutdown)),
            Level::Debug
        );
        assert_eq!(
            level(&Diagnostic::SctpClosed(CloseReason::AbortedByPeer(Some(
                12
            )))),
            Level::Warn
        );
    }

    /// Keeps the records of the `kaon` target.
    struct Capture(std::sync::Mutex<Vec<(Level, String)>>);

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.target() == TARGET
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                let mut v = self.0.lock().unwrap();
                v.push((r.level(), r.args().to_string()));
            }
        }
        fn flush(&self) {}
    }

    struct NoGlue;

    impl crate::Glue for NoGlue {
        type Route = ();
        fn deliver(&self, _: &(), m: crate::Message) -> Result<(), crate::Message> {
            Err(m)
        }
        fn set_state(&self, _: &(), _: crate::ChannelState) {}
        fn buffered_low(&self, _: &()) {}
        fn accept(&mut self, _: kaon::datachannel::ChannelId, _: String) {}
    }

    #[test]
    fn a_dispatched_connection_logs_its_diagnostics_and_socket_errors() {
        use kaon::Protocol;
        use kaon::peer::{PeerConfig, PeerConnection};
        static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));
        log::set_logger(&CAPTURE).unwrap();
        log::set_max_level(log::LevelFilter::Debug);
        assert!(wants_diagnostics());
        let config = PeerConfig {
            diagnostics: wants_diagnostics(),
            ..PeerConfig::with_seed(7)
        };
        let mut pc = PeerConnection::new(config).unwrap();
        pc.add_local_address("192.0.2.1:5000".parse().unwrap())
            .unwrap();
        let mut d = crate::Dispatch::new(pc, NoGlue, crate::InboxBudget::default());
        while d.poll_event().is_some() {}
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        receive_error("192.0.2.1:5000".parse().unwrap(), &refused);
        let got = CAPTURE.0.lock().unwrap().clone();
        assert!(
            got.contains(&(
                Level::Debug,
                "ice: gathered host 192.0.2.1:5000 udp".to_string()
            )),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|(l, m)| *l == Level::Warn && m.starts_with("udp receive on 192.0.2.1:5000")),
            "{got:?}"
        );
    }
}
