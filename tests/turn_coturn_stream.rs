//! kaon PeerConnections relay-only through coturn (Debian's), the relay reached over UDP, TCP
//! and TLS (RFC 8656 §3.1): a data channel both ways between two kaon peers on `kaon-std`,
//! whose TCP and TLS connections (rustls, checked against a CA the test makes with openssl)
//! run in the adapter, and the same through `kaon-tokio` over TCP and TLS. Needs
//! `turnserver` and `openssl` (`.ci/run` installs both). Also coturn's `turnutils_uclient`
//! over TCP against kaon's server (kaon-std's `TcpServer`).

mod common;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::ice::IceTransportPolicy;
use kaon::peer::{IceServer, PeerConfig, PeerEvent, SdpType};
use kaon_std::PeerConnection;
use kaon_std::turn_stream::TurnTls;

const USER: &str = "test";
const PASSWORD: &str = "test123";
const REALM: &str = "example.test";

struct Coturn {
    child: Child,
    port: u16,
    tls_port: u16,
    dir: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("coturn.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("coturn's log, last lines first:\n{}", tail.join("\n"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    // Free for both UDP and TCP: coturn listens on both.
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether coturn answers a STUN Binding request over UDP on `port`.
fn answers_binding(port: u16) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let req = kaon::stun::Message::new(
        kaon::stun::Class::Request,
        kaon::stun::Method::Binding,
        kaon::stun::TransactionId([1; 12]),
    );
    let mut buf = [0u8; 1500];
    let n = req.write(&mut buf, None, false).unwrap();
    let _ = sock.send_to(&buf[..n], ("127.0.0.1", port));
    sock.recv_from(&mut buf).is_ok()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=kaon test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// coturn on loopback over UDP, TCP and TLS; `tag` keeps parallel tests' files apart.
fn start_coturn(tag: &str) -> Option<Coturn> {
    let Some(turnserver) = common::which("turnserver") else {
        common::missing_peer("turn_coturn_stream", "turnserver (Debian package coturn)");
        return None;
    };
    if common::which("openssl").is_none() {
        common::missing_peer("turn_coturn_stream", "openssl");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("kaon-coturn-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    make_certificates(&dir);
    let log = dir.join("coturn.log");
    for attempt in 0..3u16 {
        let (port, tls_port) = (free_port(), free_port());
        // Tests run in parallel: each tag gets relay ports of its own.
        let slot = ["three", "untrusted"]
            .iter()
            .position(|t| *t == tag)
            .unwrap_or(2) as u16;
        let min =
            52_000 + slot * 3000 + ((std::process::id() as u16 % 100) + attempt * 100) % 300 * 10;
        let child = Command::new(&turnserver)
            .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--tls-listening-port={tls_port}"))
            .arg(format!("--min-port={min}"))
            .arg(format!("--max-port={}", min + 9))
            .args(["--lt-cred-mech", &format!("--user={USER}:{PASSWORD}")])
            .arg(format!("--realm={REALM}"))
            .arg(format!("--cert={}", dir.join("server.pem").display()))
            .arg(format!("--pkey={}", dir.join("server.key").display()))
            .args([
                "--fingerprint",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                "--simple-log",
            ])
            .arg(format!("--log-file={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn {
            child,
            port,
            tls_port,
            dir: dir.clone(),
        };
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let up = |p| TcpStream::connect(("127.0.0.1", p)).is_ok();
            if up(port) && up(tls_port) && answers_binding(port) {
                return Some(coturn);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(coturn);
        std::fs::create_dir_all(&dir).unwrap();
        make_certificates(&dir);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    panic!("coturn did not start:\n{text}");
}

fn peer(url: &str, tls: TurnTls) -> PeerConnection {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = PeerConfig {
        ice_servers: vec![IceServer::turn(url, USER, PASSWORD)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..PeerConfig::default()
    };
    PeerConnection::with_turn_tls(config, vec![socket], tls).unwrap()
}

/// Passes each side's trickled candidates to the other until `done` or the time is up.
fn trickle(a: &PeerConnection, b: &PeerConnection, limit: Duration, done: impl Fn() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end && !done() {
        for (from, to) in [(a, b), (b, a)] {
            while let Ok(e) = from.next_event_timeout(Duration::from_millis(5)) {
                if let PeerEvent::LocalCandidate(c) = e {
                    assert!(c.candidate.contains(" typ relay"), "{c}");
                    to.add_ice_candidate(c).unwrap();
                }
            }
        }
    }
}

/// A relay-only data channel between two kaon peers, `a` reaching coturn at `a_url`.
fn channel_through_coturn(a_url: &str, tls: TurnTls, b_url: &str) {
    let a = peer(a_url, tls);
    let b = peer(b_url, TurnTls::System);
    let chat = a
        .create_data_channel("turn", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let open = std::sync::atomic::AtomicBool::new(false);
    trickle(&a, &b, Duration::from_secs(20), || {
        if !open.load(std::sync::atomic::Ordering::Relaxed)
            && chat.wait_open_timeout(Duration::ZERO).unwrap_or(false)
        {
            open.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        open.load(std::sync::atomic::Ordering::Relaxed)
    });
    if !chat.wait_open_timeout(Duration::from_secs(1)).unwrap() {
        for pc in [&a, &b] {
            let s = pc
                .call(|pc, _| {
                    let ice = pc.ice();
                    format!(
                        "{:?} {:?} {:?}",
                        ice.stats(),
                        ice.relay_failures(),
                        ice.state()
                    )
                })
                .unwrap();
            eprintln!("{s}");
        }
        panic!("{a_url}: channel never opened");
    }
    let remote = b
        .accept_data_channel_timeout(Duration::from_secs(5))
        .unwrap();
    chat.send_text("hello over the relay").unwrap();
    let got = remote.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(&got.data[..], b"hello over the relay");
    remote.send_text("and back").unwrap();
    let got = chat.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(&got.data[..], b"and back");
    for pc in [&a, &b] {
        let relayed = pc
            .call(|pc, _| pc.ice().selected_pair().map(|p| p.relayed))
            .unwrap();
        assert_eq!(
            relayed,
            Some(true),
            "{a_url}: the selected pair is not relayed"
        );
    }
    // RFC 8445 §5.1.2.2 local preference: 65535 for a relay over UDP, 2048 less over TCP,
    // 4096 less over TLS (one relay each here).
    let want = if a_url.starts_with("turns:") {
        65535 - 4096
    } else if a_url.ends_with("transport=tcp") {
        65535 - 2048
    } else {
        65535
    };
    let local = a
        .call(|pc, _| pc.ice().selected_candidates().map(|(l, _)| l.priority))
        .unwrap()
        .unwrap();
    assert_eq!((local >> 8) & 0xffff, want, "{a_url}: priority {local}");
    let _ = a.close();
    let _ = b.close();
}

#[test]
fn kaon_peers_connect_relay_only_through_coturn_over_udp_tcp_and_tls() {
    let Some(coturn) = start_coturn("three") else {
        return;
    };
    let ca = std::fs::read(coturn.dir.join("ca.pem")).unwrap();
    let udp = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let tcp = format!("turn:127.0.0.1:{}?transport=tcp", coturn.port);
    let tls = format!("turns:127.0.0.1:{}", coturn.tls_port);
    channel_through_coturn(&udp, TurnTls::System, &udp);
    channel_through_coturn(&tcp, TurnTls::System, &udp);
    channel_through_coturn(&tls, TurnTls::from_pem(&ca).unwrap(), &tcp);
}

#[test]
fn a_turns_server_with_an_untrusted_certificate_is_refused() {
    let Some(coturn) = start_coturn("untrusted") else {
        return;
    };
    // The system's roots do not know the test's CA: the TLS handshake fails, the allocation
    // with it, and with a relay-only policy the agent has nothing to pair.
    let tls = format!("turns:127.0.0.1:{}", coturn.tls_port);
    let a = peer(&tls, TurnTls::System);
    let _chat = a
        .create_data_channel("turn", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut failures = Vec::new();
    while Instant::now() < end && failures.is_empty() {
        while let Ok(e) = a.next_event_timeout(Duration::from_millis(20)) {
            assert!(!matches!(e, PeerEvent::LocalCandidate(_)), "{e:?}");
        }
        failures = a.call(|pc, _| pc.ice().relay_failures()).unwrap();
    }
    assert_eq!(failures.len(), 1, "{failures:?}");
    let streams_closed: SocketAddr = failures[0].0;
    assert_eq!(streams_closed.port(), coturn.tls_port);
}

/// The same through `kaon-tokio`: its TCP and TLS connections are tokio tasks.
async fn tokio_channel_through_coturn(
    a_url: &str,
    tls: kaon_tokio::turn_stream::TurnTls,
    b_url: &str,
) {
    use std::sync::Arc;
    let peer = |url: &str, tls| {
        let url = url.to_owned();
        async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let config = PeerConfig {
                ice_servers: vec![IceServer::turn(&url, USER, PASSWORD)],
                ice_transport_policy: IceTransportPolicy::Relay,
                ..PeerConfig::default()
            };
            Arc::new(kaon_tokio::PeerConnection::with_turn_tls(config, vec![socket], tls).unwrap())
        }
    };
    let a = peer(a_url, tls).await;
    let b = peer(b_url, kaon_tokio::turn_stream::TurnTls::System).await;
    let chat = a
        .create_data_channel("turn", ChannelConfig::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .await
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer)
        .await
        .unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .await
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer)
        .await
        .unwrap();
    let mut trickles = Vec::new();
    for (from, to) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        trickles.push(tokio::spawn(async move {
            while let Some(e) = from.next_event().await {
                if let PeerEvent::LocalCandidate(c) = e {
                    assert!(c.candidate.contains(" typ relay"), "{c}");
                    to.add_ice_candidate(c).await.unwrap();
                }
            }
        }));
    }
    let limit = Duration::from_secs(20);
    tokio::time::timeout(limit, chat.wait_open())
        .await
        .unwrap_or_else(|_| panic!("{a_url}: channel never opened"))
        .unwrap();
    let remote = tokio::time::timeout(limit, b.accept_data_channel())
        .await
        .unwrap()
        .unwrap();
    chat.send_text("hello over the relay").await.unwrap();
    let got = tokio::time::timeout(limit, remote.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"hello over the relay");
    remote.send_text("and back").await.unwrap();
    let got = tokio::time::timeout(limit, chat.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"and back");
    let relayed = a
        .call(|pc, _| pc.ice().selected_pair().map(|p| p.relayed))
        .await
        .unwrap();
    assert_eq!(relayed, Some(true), "{a_url}");
    for t in trickles {
        t.abort();
    }
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaon_tokio_peers_connect_relay_only_through_coturn_over_tcp_and_tls() {
    let Some(coturn) = start_coturn("tokio") else {
        return;
    };
    let ca = std::fs::read(coturn.dir.join("ca.pem")).unwrap();
    let udp = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let tcp = format!("turn:127.0.0.1:{}?transport=tcp", coturn.port);
    let tls = format!("turns:127.0.0.1:{}", coturn.tls_port);
    use kaon_tokio::turn_stream::TurnTls as TokioTls;
    tokio_channel_through_coturn(&tcp, TokioTls::System, &udp).await;
    tokio_channel_through_coturn(&tls, TokioTls::from_pem(&ca).unwrap(), &tcp).await;
}

#[test]
fn coturn_uclient_over_tcp_relays_through_kaons_server() {
    use kaon::turn::{Server, ServerConfig};
    use kaon_std::turn_stream::TcpServer;
    let Some(uclient) = common::which("turnutils_uclient") else {
        common::missing_peer(
            "turn_coturn_stream",
            "turnutils_uclient (Debian package coturn)",
        );
        return;
    };
    // kaon's server listening on UDP and TCP at one address, relays on UDP.
    let (listen, tcp) = loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(t) = std::net::TcpListener::bind(u.local_addr().unwrap()) {
            break (u, t);
        }
    };
    let mut sockets = vec![listen];
    sockets.extend((0..8).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()));
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut cfg = ServerConfig::new(REALM, vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let server = Server::new(cfg, Instant::now(), 1_700_000_000);
    let driver = kaon_std::Driver::spawn(TcpServer::new(server), sockets).unwrap();
    TcpServer::listen(&driver, tcp).unwrap();
    // -t: the client talks to the server over TCP (RFC 8656 §3.1); the relays stay UDP.
    let out = Command::new(uclient)
        .args([
            "-t", "-u", USER, "-w", PASSWORD, "-y", "-c", "-n", "20", "-m", "2", "-l", "200",
        ])
        .args(["-p", &addrs[0].port().to_string(), "127.0.0.1"])
        .output()
        .expect("run turnutils_uclient");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "uclient failed:\n{text}");
    assert!(
        text.contains("Total lost packets 0 (0.000000%)"),
        "uclient lost packets:\n{text}"
    );
    let (stats, link) = driver
        .call(|s, _| (s.inner().stats().clone(), *s.link().stats()))
        .unwrap();
    assert!(stats.allocations >= 2, "{stats:?}");
    assert!(link.opened >= 2 && link.bad_framing == 0, "{link:?}");
}
