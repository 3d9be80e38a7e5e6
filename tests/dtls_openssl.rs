//! Interop with OpenSSL's command line over loopback UDP, both directions: `openssl s_server
//! -dtls1_2` against our client, and our server against `openssl s_client -dtls1_2`; every
//! cipher suite, certificates required both ways, use_srtp with the exporter output compared
//! byte for byte, and application data both ways.
//!
//! Needs the `openssl` binary (Debian package `openssl`). Outside CI the tests skip when it is
//! missing; in CI (`CI=true`) they fail.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use kaon::dtls::{
    CipherSuite, Config, Endpoint, Event, Fingerprint, HashAlgorithm, Identity, Role, SrtpProfile,
};
use kaon::{Datagram, Protocol};

fn openssl() -> Option<PathBuf> {
    common::which("openssl")
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kaon-dtls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An OpenSSL key and self-signed certificate (EC P-256 or RSA 2048) and its fingerprint.
struct PeerCert {
    cert: PathBuf,
    key: PathBuf,
    fingerprint: Fingerprint,
}

/// The kind of key OpenSSL's certificate carries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyKind {
    P256,
    P384,
    Rsa,
}

fn peer_cert(dir: &Path, kind: KeyKind) -> PeerCert {
    let cert = dir.join(format!("{kind:?}-cert.pem"));
    let key = dir.join(format!("{kind:?}-key.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=openssl-peer",
    ]);
    match kind {
        KeyKind::Rsa => cmd.args(["-newkey", "rsa:2048"]),
        KeyKind::P256 => cmd.args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        KeyKind::P384 => cmd.args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
    };
    let status = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .output()
        .unwrap()
        .stdout;
    PeerCert {
        cert,
        key,
        fingerprint: Fingerprint::of(HashAlgorithm::Sha256, &der),
    }
}

/// A running OpenSSL process; its output lines arrive on a channel. Killed (by its own
/// handle) on drop.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn pump(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    fn wait_for(&mut self, what: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if let Some(l) = self.seen.iter().find(|l| l.contains(what)) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Ok(l) = self.lines.recv_timeout(left.min(Duration::from_millis(50))) {
                self.seen.push(l);
            }
        }
    }

    fn write_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    /// The `Keying material:` line OpenSSL prints, decoded.
    fn keying_material(&mut self) -> Vec<u8> {
        let line = self
            .wait_for("Keying material:", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no keying material in:\n{}", self.seen.join("\n")));
        let hex = line.split("Keying material:").nth(1).unwrap().trim();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Drives `ep` over `socket` until `done` holds (true) or `timeout` passes (false).
fn drive(
    ep: &mut Endpoint,
    socket: &UdpSocket,
    events: &mut Vec<Event>,
    timeout: Duration,
    mut done: impl FnMut(&mut Endpoint, &[Event]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let local = socket.local_addr().unwrap();
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        ep.handle_timeout(now);
        while let Some(tx) = ep.poll_transmit(now, &mut buf) {
            socket.send_to(&buf[..tx.len], tx.destination).unwrap();
        }
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        if done(ep, events) {
            return true;
        }
        if now >= deadline {
            return false;
        }
        let wake = ep.poll_timeout().unwrap_or(deadline).min(deadline);
        let wait = wake
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        socket.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let contents = buf[..n].to_vec();
            ep.handle_datagram(
                Instant::now(),
                Datagram {
                    source: from,
                    destination: local,
                    contents: &contents,
                },
            );
        }
    }
}

fn connected(events: &[Event]) -> Option<&kaon::dtls::Connected> {
    events.iter().find_map(|e| match e {
        Event::Connected(c) => Some(c),
        _ => None,
    })
}

fn openssl_suite(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::EcdheEcdsaAes128GcmSha256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::EcdheEcdsaAes256GcmSha384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::EcdheRsaAes128GcmSha256 => "ECDHE-RSA-AES128-GCM-SHA256",
        other => panic!("no OpenSSL name for {other}"),
    }
}

/// Our client against `openssl s_server`, which requires our certificate (`-Verify 1`).
fn our_client_against_s_server(test: &str, suite: CipherSuite, mtu: Option<usize>) {
    let kind = if suite == CipherSuite::EcdheRsaAes128GcmSha256 {
        KeyKind::Rsa
    } else {
        KeyKind::P256
    };
    our_client_against_s_server_with(test, suite, kind, mtu, false);
}

fn our_client_against_s_server_with(
    test: &str,
    suite: CipherSuite,
    kind: KeyKind,
    mtu: Option<usize>,
    renegotiate: bool,
) {
    our_client_against_s_server_args(test, suite, kind, mtu, renegotiate, &[]);
}

/// `extra` goes to s_server as is.
fn our_client_against_s_server_args(
    test: &str,
    suite: CipherSuite,
    kind: KeyKind,
    mtu: Option<usize>,
    renegotiate: bool,
    extra: &[&str],
) {
    if openssl().is_none() {
        common::missing_peer(test, "openssl");
        return;
    }
    let dir = TempDir::new(test);
    let theirs = peer_cert(&dir.0, kind);
    let port = free_port();
    let mut cmd = Command::new("openssl");
    // -nbio: with a blocking socket, s_server reads a datagram that holds no new application
    // data (a repeated flight, a replayed record) inside SSL_read and then waits there for
    // more, no longer reading stdin, so "R" or a line to send is never acted on.
    cmd.args(["s_server", "-dtls1_2", "-nbio", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&theirs.cert)
        .arg("-key")
        .arg(&theirs.key)
        .args([
            "-Verify",
            "1",
            "-naccept",
            "1",
            "-cipher",
            openssl_suite(suite),
        ])
        .args(["-use_srtp", "SRTP_AES128_CM_SHA1_80"])
        .args([
            "-keymatexport",
            "EXTRACTOR-dtls_srtp",
            "-keymatexportlen",
            "60",
        ]);
    if let Some(mtu) = mtu {
        cmd.args(["-mtu", &mtu.to_string()]);
    }
    cmd.args(extra);
    let mut server = Peer::spawn(cmd);
    assert!(
        server.wait_for("ACCEPT", Duration::from_secs(5)).is_some(),
        "s_server did not start: {:?}",
        server.seen
    );

    let ours = Identity::generate().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let remote: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = Config {
        role: Role::Client,
        local_addr: Some(socket.local_addr().unwrap()),
        remote_addr: Some(remote),
        remote_fingerprints: vec![theirs.fingerprint.clone()],
        cipher_suites: vec![suite],
        srtp_profiles: vec![SrtpProfile::Aes128CmHmacSha1_80],
        mtu: mtu.unwrap_or(1200),
        ..Config::default()
    };
    let mut ep = Endpoint::new(config, ours, Instant::now()).unwrap();
    let mut events = Vec::new();
    let ok = drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_secs(10),
        |_, ev| connected(ev).is_some() || ev.iter().any(|e| matches!(e, Event::Failed(_))),
    );
    server.pump();
    assert!(
        ok && ep.is_connected(),
        "{test}: not connected: {events:?}\nopenssl:\n{}",
        server.seen.join("\n")
    );
    let c = connected(&events).unwrap().clone();
    assert_eq!(c.cipher_suite, suite);
    let srtp = c.srtp.expect("SRTP negotiated");
    assert_eq!(srtp.profile, SrtpProfile::Aes128CmHmacSha1_80);
    assert_eq!(
        server.keying_material(),
        srtp.material,
        "{test}: exporter differs from OpenSSL's"
    );
    assert!(
        server
            .wait_for(
                &format!("CIPHER is {}", openssl_suite(suite)),
                Duration::from_secs(2)
            )
            .is_some()
    );

    // Data both ways: s_server prints what we send and sends what it reads on stdin.
    ep.send(b"ping from kaon\n").unwrap();
    drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_millis(100),
        |_, _| false,
    );
    assert!(
        server
            .wait_for("ping from kaon", Duration::from_secs(5))
            .is_some(),
        "{test}: s_server never printed our data: {:?}",
        server.seen
    );
    server.write_line("pong from openssl");
    let got = drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_secs(5),
        |_, ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Data(d) if d.starts_with(b"pong from openssl")))
        },
    );
    assert!(got, "{test}: no data from s_server: {events:?}");
    if renegotiate {
        // s_server's "R" sends a HelloRequest under the new keys; we answer no_renegotiation
        // (OpenSSL logs it as such), and OpenSSL then chooses to end the connection with
        // handshake_failure.
        // s_server does not always act on a line that arrives mid-select; repeat it until
        // the HelloRequest comes.
        for _ in 0..10 {
            server.write_line("R");
            let failed = drive(
                &mut ep,
                &socket,
                &mut events,
                Duration::from_millis(500),
                |_, ev| ev.iter().any(|e| matches!(e, Event::Failed(_))),
            );
            if failed {
                break;
            }
        }
        assert!(
            server
                .wait_for("no renegotiation", Duration::from_secs(5))
                .is_some(),
            "{test}: OpenSSL did not see our no_renegotiation: {:?}",
            server.seen
        );
        assert_eq!(
            events.last(),
            Some(&Event::Failed(kaon::dtls::Error::Alert(
                kaon::dtls::AlertDescription::HandshakeFailure
            )))
        );
        return;
    }
    if std::env::var_os("KAON_SHOW_OPENSSL").is_some() {
        eprintln!("{}", server.seen.join("\n"));
    }
    ep.close();
    drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_millis(100),
        |_, _| false,
    );
    // s_server reports the close_notify and, with -naccept 1, exits.
    assert!(
        server.wait_for("DONE", Duration::from_secs(5)).is_some(),
        "{test}: no close seen: {:?}",
        server.seen
    );
}

/// `openssl s_client` (presenting its certificate) against our server.
fn s_client_against_our_server(test: &str, suite: CipherSuite, hello_verify: bool) {
    s_client_against_our_server_with(test, suite, hello_verify, KeyKind::P256);
}

fn s_client_against_our_server_with(
    test: &str,
    suite: CipherSuite,
    hello_verify: bool,
    kind: KeyKind,
) {
    s_client_against_our_server_args(test, suite, hello_verify, kind, &[]);
}

/// `extra` goes to s_client as is.
fn s_client_against_our_server_args(
    test: &str,
    suite: CipherSuite,
    hello_verify: bool,
    kind: KeyKind,
    extra: &[&str],
) {
    if openssl().is_none() {
        common::missing_peer(test, "openssl");
        return;
    }
    let dir = TempDir::new(test);
    let theirs = peer_cert(&dir.0, kind);
    let ours = Identity::generate().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let config = Config {
        role: Role::Server,
        local_addr: Some(socket.local_addr().unwrap()),
        remote_fingerprints: vec![theirs.fingerprint.clone()],
        hello_verify,
        srtp_profiles: vec![SrtpProfile::Aes128CmHmacSha1_80, SrtpProfile::AeadAes128Gcm],
        ..Config::default()
    };
    let mut ep = Endpoint::new(config, ours, Instant::now()).unwrap();
    let mut cmd = Command::new("openssl");
    // -nbio: as for s_server above.
    cmd.args(["s_client", "-dtls1_2", "-nbio", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&theirs.cert)
        .arg("-key")
        .arg(&theirs.key)
        .args(["-cipher", openssl_suite(suite)])
        .args(["-use_srtp", "SRTP_AES128_CM_SHA1_80"])
        .args([
            "-keymatexport",
            "EXTRACTOR-dtls_srtp",
            "-keymatexportlen",
            "60",
        ])
        .args(extra);
    let mut client = Peer::spawn(cmd);
    let mut events = Vec::new();
    let ok = drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_secs(10),
        |_, ev| connected(ev).is_some() || ev.iter().any(|e| matches!(e, Event::Failed(_))),
    );
    client.pump();
    assert!(
        ok && ep.is_connected(),
        "{test}: not connected: {events:?}\nopenssl:\n{}",
        client.seen.join("\n")
    );
    let c = connected(&events).unwrap().clone();
    assert_eq!(c.cipher_suite, suite);
    let srtp = c.srtp.expect("SRTP negotiated");
    assert_eq!(
        client.keying_material(),
        srtp.material,
        "{test}: exporter differs from OpenSSL's"
    );
    // Data both ways.
    client.write_line("hello from openssl");
    let got = drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_secs(5),
        |_, ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Data(d) if d.starts_with(b"hello from openssl")))
        },
    );
    assert!(
        got,
        "{test}: no data from s_client: {events:?}\n{}",
        client.seen.join("\n")
    );
    ep.send(b"hello from kaon\n").unwrap();
    drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_millis(200),
        |_, _| false,
    );
    assert!(
        client
            .wait_for("hello from kaon", Duration::from_secs(5))
            .is_some(),
        "{test}: s_client never printed our data:\n{}",
        client.seen.join("\n")
    );
    ep.close();
    drive(
        &mut ep,
        &socket,
        &mut events,
        Duration::from_millis(200),
        |_, _| false,
    );
}

#[test]
fn our_client_with_openssl_server_aes128gcm() {
    our_client_against_s_server(
        "client_aes128gcm",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        None,
    );
}

#[test]
fn our_client_with_openssl_server_aes256gcm() {
    our_client_against_s_server(
        "client_aes256gcm",
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        None,
    );
}

#[test]
fn our_client_with_openssl_server_chacha20() {
    our_client_against_s_server(
        "client_chacha20",
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
        None,
    );
}

#[test]
fn our_client_with_openssl_server_rsa_certificate() {
    our_client_against_s_server("client_rsa", CipherSuite::EcdheRsaAes128GcmSha256, None);
}

#[test]
fn our_client_with_openssl_server_p384_certificate() {
    // OpenSSL signs with ecdsa_secp384r1_sha384.
    our_client_against_s_server_with(
        "client_p384",
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        KeyKind::P384,
        None,
        false,
    );
}

#[test]
fn our_client_with_openssl_server_fragmenting_at_a_small_mtu() {
    our_client_against_s_server(
        "client_mtu",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        Some(300),
    );
}

#[test]
fn our_client_refuses_openssl_server_renegotiation() {
    our_client_against_s_server_with(
        "client_renegotiation",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        KeyKind::P256,
        None,
        true,
    );
}

#[test]
fn openssl_client_with_our_server_aes128gcm() {
    s_client_against_our_server(
        "server_aes128gcm",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        true,
    );
}

#[test]
fn openssl_client_with_our_server_aes256gcm() {
    s_client_against_our_server(
        "server_aes256gcm",
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        true,
    );
}

#[test]
fn openssl_client_with_our_server_chacha20() {
    s_client_against_our_server(
        "server_chacha20",
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
        true,
    );
}

#[test]
fn openssl_client_with_our_server_without_hello_verify() {
    s_client_against_our_server(
        "server_no_hvr",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        false,
    );
}

#[test]
fn openssl_client_with_a_p384_certificate() {
    // OpenSSL's CertificateVerify uses ecdsa_secp384r1_sha384.
    s_client_against_our_server_with(
        "server_client_p384",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        true,
        KeyKind::P384,
    );
}

#[test]
fn openssl_client_with_an_rsa_certificate() {
    // OpenSSL's CertificateVerify uses rsa_pkcs1_sha256, the only RSA scheme we offer.
    s_client_against_our_server_with(
        "server_client_rsa",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        true,
        KeyKind::Rsa,
    );
}

#[test]
fn our_client_with_openssl_server_requiring_a_cookie() {
    // -listen makes s_server answer the first ClientHello with a HelloVerifyRequest.
    our_client_against_s_server_args(
        "client_cookie",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        KeyKind::P256,
        None,
        false,
        &["-listen"],
    );
}

#[test]
fn openssl_client_fragmenting_its_flight_at_a_small_mtu() {
    // s_client splits Certificate and CertificateVerify into fragments.
    s_client_against_our_server_args(
        "server_client_mtu",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        true,
        KeyKind::Rsa,
        &["-mtu", "300"],
    );
}
