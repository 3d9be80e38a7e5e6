//! mDNS against a real browser: headless Chromium with its default obfuscation (no media
//! permission, no loopback flag) hides its host addresses behind `<uuid>.local` names. A
//! kaon-std PeerConnection with `MdnsOptions::browser_like()` resolves them itself through the
//! process's shared mDNS socket (`kaon_std::mdns::MdnsHub`), hides its own address behind a
//! name, answers Chromium's query for it, and the two open a data channel and exchange a
//! message each way.
//!
//! Runs in a network namespace of its own (the test re-runs itself there with `ip netns
//! exec`): a veth pair with MULTICAST, 10.99.0.1 and 10.99.0.2, and a default route, which is
//! what makes Chromium gather host candidates. No traffic leaves the namespace. Needs root,
//! `ip`, `/usr/bin/chromium`, `node` and `tests/interop/chromium/node_modules` (`.ci/run`
//! installs them); skipped with a printed reason without them (failing in CI when a peer is
//! missing).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::json_lines::{Ev, json_str};
use kaon::mdns::MdnsConfig;
use kaon::peer::{MdnsOptions, PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

const TEST: &str = "chromium_and_kaon_resolve_each_others_mdns_names";
const INNER: &str = "KAON_MDNS_CHROMIUM_INNER";
const CHROMIUM: &str = "/usr/bin/chromium";
/// kaon's side of the veth pair; Chromium gathers both ends.
const KAON_IP: &str = "10.99.0.1";

fn playwright() -> PathBuf {
    common::repo_root().join("tests/interop/chromium/node_modules/playwright-core")
}

fn peer_available() -> bool {
    if !PathBuf::from(CHROMIUM).is_file() {
        return common::missing_peer(TEST, CHROMIUM);
    }
    if common::which("node").is_none() {
        return common::missing_peer(TEST, "node");
    }
    if !playwright().join("index.mjs").is_file() {
        return common::missing_peer(TEST, "tests/interop/chromium/node_modules (npm ci there)");
    }
    true
}

/// A network namespace with a veth pair and a default route; deleted on drop.
struct Namespace(String);

impl Namespace {
    fn create() -> Result<Self, String> {
        if common::which("ip").is_none() {
            return Err("no `ip` on PATH".into());
        }
        let ns = Self(format!("kaon-mdns-{}", std::process::id()));
        ns.run(&["netns", "add", &ns.0])?;
        let n = ns.0.clone();
        for args in [
            vec!["-n", &n, "link", "set", "lo", "up"],
            vec![
                "-n", &n, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
            ],
            vec!["-n", &n, "addr", "add", "10.99.0.1/24", "dev", "v0"],
            vec!["-n", &n, "addr", "add", "10.99.0.2/24", "dev", "v1"],
            vec!["-n", &n, "link", "set", "v0", "up"],
            vec!["-n", &n, "link", "set", "v1", "up"],
            vec![
                "-n",
                &n,
                "route",
                "add",
                "default",
                "via",
                "10.99.0.2",
                "dev",
                "v0",
            ],
        ] {
            ns.run(&args)?;
        }
        Ok(ns)
    }

    fn run(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = self.run(&["netns", "delete", &self.0]) {
            eprintln!("could not delete namespace {}: {e}", self.0);
        }
    }
}

#[test]
fn chromium_and_kaon_resolve_each_others_mdns_names() {
    if !peer_available() {
        return;
    }
    if std::env::var_os(INNER).is_some() {
        return session();
    }
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipping {TEST}: cannot make a network namespace ({why})");
            return;
        }
    };
    let exe = std::env::current_exe().expect("test binary");
    let mut inner = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .spawn()
        .expect("run the test inside the namespace");
    let end = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = inner.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > end {
            let _ = inner.kill();
            let _ = inner.wait();
            panic!("the session did not end within 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the mDNS session failed: {status}");
}

/// The browser script; killed (by its own pid) when dropped.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<String>,
}

impl Browser {
    fn start() -> Self {
        let mut child = Command::new("node")
            .arg(common::repo_root().join("tests/mdns_chromium.mjs"))
            .arg(playwright())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node mdns_chromium.mjs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("mdns_chromium.mjs: {line}");
            }
        });
        let mut b = Self {
            child,
            stdin,
            events,
        };
        let ready = b.wait("ready", Duration::from_secs(90));
        eprintln!("browser: {}", ready.get("ua"));
        b
    }

    fn send(&mut self, json: &str) {
        writeln!(self.stdin, "{json}").expect("write to the script");
        self.stdin.flush().expect("flush");
    }

    /// The next event named `ev` (others are printed and skipped); panics on `error`.
    fn wait(&mut self, ev: &str, limit: Duration) -> Ev {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {ev} event within {limit:?}"));
            let Some(e) = Ev::parse(&line) else {
                continue;
            };
            assert!(!e.is("error"), "browser error: {}", e.get("what"));
            if e.is(ev) {
                return e;
            }
            eprintln!("browser event: {line}");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, r#"{{"cmd":"quit"}}"#);
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

/// The part that runs inside the namespace.
fn session() {
    let t0 = Instant::now();
    let mut browser = Browser::start();

    // Chromium offers; its host candidates carry names only.
    browser.send(r#"{"cmd":"offer"}"#);
    let offer = browser
        .wait("offer", Duration::from_secs(30))
        .get("sdp")
        .to_owned();
    let names: Vec<String> = offer
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" udp ") && l.contains(".local "))
        .filter_map(|l| l.split(' ').find(|t| t.ends_with(".local")))
        .map(str::to_owned)
        .collect();
    assert!(
        !names.is_empty(),
        "Chromium offered no .local UDP candidate:\n{offer}"
    );
    assert!(
        !offer.contains("10.99.0."),
        "Chromium showed an address:\n{offer}"
    );

    // The connection resolves Chromium's names and hides its own: nothing else to wire.
    let config = PeerConfig {
        mdns: MdnsOptions {
            // A browser just started may answer late: ask longer than the default 5 s.
            resolver: MdnsConfig {
                query_schedule: [0, 1, 3, 7].map(Duration::from_secs).to_vec(),
                resolve_timeout: Duration::from_secs(12),
                ..MdnsConfig::new(Vec::new())
            },
            ..MdnsOptions::browser_like()
        },
        ..PeerConfig::default()
    };
    let socket = UdpSocket::bind((KAON_IP, 0)).unwrap();
    let pc = kaon_std::PeerConnection::new(config, vec![socket]).unwrap();
    let hub = kaon_std::mdns::MdnsHub::shared().expect("the shared mDNS socket on the veth");
    assert_eq!(hub.subscribers(), 1);
    pc.set_remote_description(SdpType::Offer, SessionDescription::parse(&offer).unwrap())
        .unwrap();
    let resolving = Instant::now();

    // kaon's answer hides its address behind a name its responder answers for.
    let answer = pc.create_answer().unwrap();
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let local_names: Vec<String> = pc
        .call(|pc, _| {
            pc.ice()
                .local_mdns_names()
                .map(|(n, _)| n.to_owned())
                .collect()
        })
        .unwrap();
    assert_eq!(local_names.len(), 1, "{local_names:?}");
    // kaon trickles its candidates; here they ride at the end of the answer's only m-section.
    let candidates = pc.local_candidates().unwrap();
    assert!(!candidates.is_empty(), "kaon has no candidate");
    let mut answer = answer.to_string();
    for c in &candidates {
        if !answer.contains(c.as_str()) {
            answer.push_str(&format!("a={c}\r\n"));
        }
    }
    assert!(
        answer.contains(&local_names[0]),
        "kaon's answer lacks its name:\n{answer}"
    );
    assert!(
        !answer.contains(&format!(" {KAON_IP} ")),
        "kaon showed its address:\n{answer}"
    );
    browser.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));

    let chat = pc
        .accept_data_channel_timeout(Duration::from_secs(30))
        .expect("Chromium's channel opens");
    browser.wait("open", Duration::from_secs(30));
    println!("channel open {:?} after the browser started", t0.elapsed());
    browser.send(r#"{"cmd":"send","text":"hello from chromium"}"#);
    let m = chat.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(&m.data[..], b"hello from chromium");
    chat.send_text("hello from kaon").unwrap();
    let e = browser.wait("message", Duration::from_secs(10));
    assert_eq!(e.get("text"), "hello from kaon");

    // kaon resolved Chromium's names itself: no held candidate is left, a name's query was
    // answered, and Chromium asked for kaon's name and kaon answered.
    // The channel may open before the names resolve (Chromium's checks make kaon learn its
    // address as peer-reflexive); the names must resolve all the same.
    let end = Instant::now() + Duration::from_secs(12);
    while Instant::now() < end {
        let asked = names.clone();
        let pending = pc
            .call(move |pc, now| {
                asked
                    .iter()
                    .any(|n| pc.mdns().is_some_and(|m| m.lookup(now, n).is_empty()))
            })
            .unwrap();
        if !pending {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "Chromium's names resolved {:?} after its offer was set",
        resolving.elapsed()
    );
    let asked = names.clone();
    let (stats, unresolved, selected, resolved) = pc
        .call(move |pc, now| {
            (
                pc.mdns().map(|m| m.stats()),
                pc.ice().unresolved_remote_names(),
                pc.ice().selected_pair().map(|p| p.remote),
                asked
                    .iter()
                    .flat_map(|n| pc.mdns().map(|m| m.lookup(now, n)).unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap();
    println!("kaon resolved Chromium's names to {resolved:?}");
    assert!(
        !resolved.is_empty()
            && resolved
                .iter()
                .all(|ip| ip.to_string().starts_with("10.99.0.")),
        "{resolved:?}"
    );
    let stats = stats.expect("the connection has an mDNS responder");
    println!("kaon's mDNS: {stats:?}; selected remote {selected:?}; Chromium's names {names:?}");
    assert!(unresolved.is_empty(), "still unresolved: {unresolved:?}");
    assert!(stats.queries_sent >= 1, "{stats:?}");
    assert!(
        stats.answered >= 1,
        "Chromium never asked for kaon's name: {stats:?}"
    );
    let selected = selected.expect("a selected pair");
    assert!(
        selected.ip().to_string().starts_with("10.99.0."),
        "{selected}"
    );
}
