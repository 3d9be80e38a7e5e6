//! aiortc relay-only (`iceTransportPolicy` relay) with a relay-only kaon peer through kaon's
//! TURN server: the data channel opens and carries messages both ways, and kaon's selected
//! pair is relayed. aiortc runs `tests/turn_aiortc.py` from the venv `.ci/run` makes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::json_lines::{Ev, json_str};
use kaon::ice::IceTransportPolicy;
use kaon::peer::{IceServer, PeerConfig, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon::turn::{Server, ServerConfig};
use kaon_std::{Driver, PeerConnection};

const TEST: &str = "turn_aiortc";
const USER: &str = "test";
const PASSWORD: &str = "test123";

struct Aiortc {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<String>,
}

impl Aiortc {
    fn start(url: &str) -> Option<Self> {
        let Some(python) = common::venv_python("aiortc") else {
            common::missing_peer(TEST, "aiortc in .ci/venv");
            return None;
        };
        let mut child = Command::new(python)
            .arg(common::repo_root().join("tests/turn_aiortc.py"))
            .args([url, USER, PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start turn_aiortc.py");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut a = Self {
            child,
            stdin,
            events,
        };
        a.wait("ready", Duration::from_secs(30));
        Some(a)
    }

    fn send(&mut self, json: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{json}").expect("write to turn_aiortc.py");
        stdin.flush().unwrap();
    }

    fn wait(&mut self, ev: &str, limit: Duration) -> Ev {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("aiortc: no {ev} within {limit:?}"));
            let e = Ev::parse(&line).unwrap_or_else(|| panic!("aiortc printed {line}"));
            if e.is("error") {
                panic!("aiortc: {}", e.get("what"));
            }
            if e.is(ev) {
                return e;
            }
            eprintln!("aiortc: {line}");
        }
    }

    fn poll(&mut self) -> Vec<Ev> {
        self.events
            .try_iter()
            .filter_map(|l| Ev::parse(&l))
            .collect()
    }
}

impl Drop for Aiortc {
    fn drop(&mut self) {
        // stdin closing ends the script.
        drop(self.stdin.take());
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kaon's TURN server on loopback UDP sockets, on a kaon-std driver thread.
fn kaon_turn_server() -> (SocketAddr, Driver<Server>) {
    let sockets: Vec<UdpSocket> = (0..9)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut cfg = ServerConfig::new("example.test", vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let server = Server::new(cfg, Instant::now(), 1_700_000_000);
    (addrs[0], Driver::spawn(server, sockets).unwrap())
}

#[test]
fn aiortc_and_kaon_connect_relay_only_through_kaons_turn_server() {
    let (addr, server) = kaon_turn_server();
    let url = format!("turn:{addr}?transport=udp");
    let Some(mut aiortc) = Aiortc::start(&url) else {
        return;
    };
    aiortc.send("{\"cmd\":\"offer\"}");
    let offer = aiortc.wait("offer", Duration::from_secs(30));
    let offer_sdp = offer.get("sdp").to_owned();
    assert!(offer_sdp.contains(" typ relay"), "{offer_sdp}");
    assert!(!offer_sdp.contains(" typ host"), "{offer_sdp}");

    let config = PeerConfig {
        ice_servers: vec![IceServer::turn(&url, USER, PASSWORD)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..PeerConfig::default()
    };
    let kaon = PeerConnection::new(config, vec![UdpSocket::bind("127.0.0.1:0").unwrap()]).unwrap();
    kaon.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer_sdp).unwrap(),
    )
    .unwrap();
    let answer = kaon.create_answer().unwrap();
    kaon.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    aiortc.send(&format!(
        "{{\"cmd\":\"answer\",\"sdp\":{}}}",
        json_str(&answer.to_string())
    ));
    aiortc.wait("answered", Duration::from_secs(10));

    let end = Instant::now() + Duration::from_secs(30);
    let (mut open, mut channel) = (false, None);
    while Instant::now() < end && !(open && channel.is_some()) {
        while let Ok(e) = kaon.next_event_timeout(Duration::from_millis(10)) {
            if let PeerEvent::LocalCandidate(c) = e {
                assert!(c.candidate.contains(" typ relay"), "{c}");
                let line = c.candidate.as_str();
                aiortc.send(&format!(
                    "{{\"cmd\":\"candidate\",\"line\":{}}}",
                    json_str(line)
                ));
            }
        }
        for e in aiortc.poll() {
            if e.is("error") {
                panic!("aiortc: {}", e.get("what"));
            }
            open |= e.is("open");
        }
        if channel.is_none() {
            channel = kaon.accept_data_channel_timeout(Duration::ZERO).ok();
        }
    }
    assert!(open, "aiortc's channel never opened");
    let channel = channel.expect("kaon saw no channel");
    aiortc.send("{\"cmd\":\"send\",\"text\":\"hello from aiortc\"}");
    let got = channel.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(&got.data[..], b"hello from aiortc");
    channel.send_text("hello from kaon").unwrap();
    let got = aiortc.wait("message", Duration::from_secs(10));
    assert_eq!(got.get("text"), "hello from kaon");
    let relayed = kaon
        .call(|pc, _| pc.ice().selected_pair().map(|p| p.relayed))
        .unwrap();
    assert_eq!(relayed, Some(true));
    let stats = server.call(|s, _| s.stats().clone()).unwrap();
    assert!(stats.allocations >= 2, "{stats:?}");
    let _ = kaon.close();
}
