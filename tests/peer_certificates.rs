//! `PeerConfig::certificates` (W3C `RTCCertificate`): a generated certificate's fingerprint is
//! the one the offer carries, and an expired certificate, or one whose expiry cannot be
//! checked, is refused with a typed error.

use std::time::{Duration, Instant, SystemTime};

use kaon::peer::{Certificate, Error, PeerConfig, PeerConnection};

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn config(cert: &Certificate, created_at: Option<SystemTime>) -> PeerConfig {
    PeerConfig {
        certificates: vec![cert.clone()],
        created_at,
        ..PeerConfig::with_seed(1)
    }
}

#[test]
fn a_certificate_signs_the_offer_with_its_fingerprint() {
    let cert = Certificate::generate(wall(), Certificate::DEFAULT_LIFETIME).unwrap();
    assert_eq!(cert.expires(), wall() + Certificate::DEFAULT_LIFETIME);
    let mut pc = PeerConnection::new(config(&cert, Some(wall()))).unwrap();
    pc.add_local_address("192.0.2.1:5000".parse().unwrap())
        .unwrap();
    let offer = pc.create_offer(Instant::now()).unwrap().to_string();
    let fp = &cert.fingerprints()[0];
    assert_eq!(pc.fingerprint(), fp);
    assert!(offer.contains(&format!("a=fingerprint:{fp}")), "{offer}");
}

#[test]
fn an_expired_certificate_is_refused() {
    let cert = Certificate::generate(wall(), Duration::from_secs(60)).unwrap();
    let later = wall() + Duration::from_secs(60);
    assert!(cert.is_expired(later));
    assert_eq!(
        PeerConnection::new(config(&cert, Some(later))).err(),
        Some(Error::CertificateExpired {
            expires: cert.expires()
        })
    );
    assert!(PeerConnection::new(config(&cert, Some(later - Duration::from_secs(1)))).is_ok());
}

#[test]
fn certificates_without_a_wall_clock_are_refused() {
    let cert = Certificate::generate(wall(), Certificate::DEFAULT_LIFETIME).unwrap();
    assert_eq!(
        PeerConnection::new(config(&cert, None)).err(),
        Some(Error::NoWallClock)
    );
}
