//! The single-threaded poll loop (`examples/poll_echo.rs`, mio over one non-blocking UDP
//! socket, `Stepper` driving a `PeerConnection`) serves headless Chromium's data channel: it
//! answers Chromium's offer, the channel opens, and Chromium gets its message echoed.
//!
//! Chromium runs with its defaults (its host addresses hidden behind `.local` names): kaon's
//! host candidate is a plain address, so Chromium's checks reach it and kaon learns Chromium's
//! address from them. Both run in a network namespace of the test's own (the test re-runs
//! itself there with `ip netns exec`): a veth with 10.96.0.1 and 10.96.0.2 and a default route,
//! without which Chromium gathers no host candidate. The second test adds 2001:db8:96::1 and
//! ::2 with an IPv6 default route and the loop binds IPv6 only, so the session runs over IPv6
//! addresses of the veth, not `::1` (Chromium gathers nothing on an IPv6-only host, so the
//! namespace keeps its IPv4 too). Both ends sit in the one namespace. No traffic leaves it. Needs
//! root, `ip`, `/usr/bin/chromium`, `node` and `tests/interop/chromium/node_modules` (`.ci/run`
//! installs them); skipped with a printed reason without them, failing in CI.

#[path = "../../../tests/common/json_lines.rs"]
#[allow(dead_code)]
mod json_lines;
#[path = "../examples/poll_echo.rs"]
mod poll_echo;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use json_lines::{Ev, json_str};

const INNER: &str = "KAON_POLL_CHROMIUM_INNER";
const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn playwright() -> PathBuf {
    repo_root().join("tests/interop/chromium/node_modules/playwright-core")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Panics in CI, otherwise prints why the test is skipped.
fn missing(test: &str, what: &str) {
    assert!(!in_ci(), "{test}: required peer missing in CI: {what}");
    eprintln!("skipping {test}: {what}");
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// A network namespace with a veth pair and a default route; deleted on drop.
struct Namespace(String);

impl Namespace {
    fn create(ipv6: bool) -> Result<Self, String> {
        let ns = Self(format!(
            "kaon-embedded{}-{}",
            if ipv6 { "6" } else { "" },
            std::process::id()
        ));
        ip(&["netns", "add", &ns.0])?;
        let n = ns.0.as_str();
        let v4: &[&[&str]] = &[
            &["addr", "add", "10.96.0.1/24", "dev", "v0"],
            &["addr", "add", "10.96.0.2/24", "dev", "v1"],
            &["link", "set", "v0", "up"],
            &["link", "set", "v1", "up"],
            &["route", "add", "default", "via", "10.96.0.2", "dev", "v0"],
        ];
        // No duplicate address detection: the addresses are usable at once.
        let v6: &[&[&str]] = &[
            &["addr", "add", "2001:db8:96::1/64", "dev", "v0", "nodad"],
            &["addr", "add", "2001:db8:96::2/64", "dev", "v1", "nodad"],
            &["link", "set", "v0", "up"],
            &["link", "set", "v1", "up"],
            // A device route: the other end's address is local here, no gateway.
            &["-6", "route", "add", "default", "dev", "v0"],
        ];
        let base: &[&[&str]] = &[
            &["link", "set", "lo", "up"],
            &["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        ];
        // Chromium gathers nothing on an IPv6-only host: the IPv6 namespace is dual-stack, and
        // kaon binds IPv6 only.
        let extra: &[&[&str]] = if ipv6 { v4 } else { &[] };
        for args in base.iter().chain(if ipv6 { v6 } else { v4 }).chain(extra) {
            let mut all = vec!["-n", n];
            all.extend_from_slice(args);
            ip(&all)?;
        }
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "delete", &self.0]) {
            eprintln!("could not delete namespace {}: {e}", self.0);
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
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

#[test]
fn poll_loop_serves_chromiums_data_channel() {
    run("poll_loop_serves_chromiums_data_channel", false);
}

#[test]
fn poll_loop_serves_chromium_over_ipv6_veth_addresses() {
    run("poll_loop_serves_chromium_over_ipv6_veth_addresses", true);
}

fn run(test: &str, ipv6: bool) {
    if !PathBuf::from(CHROMIUM).is_file() {
        return missing(test, CHROMIUM);
    }
    if !which("node") {
        return missing(test, "node");
    }
    if !playwright().join("index.mjs").is_file() {
        return missing(test, "tests/interop/chromium/node_modules (npm ci there)");
    }
    if std::env::var_os(INNER).is_some() {
        return session(ipv6);
    }
    let ns = match Namespace::create(ipv6) {
        Ok(ns) => ns,
        Err(why) => return missing(test, &format!("a network namespace ({why})")),
    };
    let mut inner = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .spawn()
        .expect("run the test inside the namespace");
    let end = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = inner.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > end {
            let _ = inner.kill();
            let _ = inner.wait();
            panic!("the session did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the session failed: {status}");
}

/// The browser script (tests/mdns_chromium.mjs: Chromium with default settings); ended by its
/// own pid when dropped.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<String>,
}

impl Browser {
    fn start() -> Self {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/mdns_chromium.mjs"))
            .arg(playwright())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut b = Self {
            child,
            stdin,
            events,
        };
        b.wait("ready", Duration::from_secs(60));
        b
    }

    fn send(&mut self, json: &str) {
        writeln!(self.stdin, "{json}").expect("write to the script");
        self.stdin.flush().expect("flush");
    }

    fn wait(&mut self, ev: &str, limit: Duration) -> Ev {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {ev} event within {limit:?}"));
            let Some(e) = Ev::parse(&line) else { continue };
            assert!(!e.is("error"), "browser error: {}", e.get("what"));
            if e.is(ev) {
                return e;
            }
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

/// Inside the namespace: Chromium offers, the poll loop answers and echoes.
fn session(ipv6: bool) {
    let mut browser = Browser::start();
    browser.send(r#"{"cmd":"offer"}"#);
    let offer = browser
        .wait("offer", Duration::from_secs(30))
        .get("sdp")
        .to_owned();
    let candidates: Vec<&str> = offer
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    println!("Chromium's candidates: {candidates:?}");
    // The browser is driven from another thread while this one runs the loop.
    let (answer_tx, answer_rx) = channel::<String>();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let browser_side = std::thread::spawn(move || {
        let answer = answer_rx.recv().expect("an answer");
        browser.send(&format!(
            r#"{{"cmd":"answer","sdp":{}}}"#,
            json_str(&answer)
        ));
        browser.wait("open", Duration::from_secs(30));
        let opened = Instant::now();
        browser.send(r#"{"cmd":"send","text":"hello poll loop"}"#);
        let e = browser.wait("message", Duration::from_secs(10));
        assert_eq!(e.get("text"), "hello poll loop");
        println!(
            "echo came back {:?} after the channel opened",
            opened.elapsed()
        );
        flag.store(true, Ordering::Relaxed);
    });
    let start = Instant::now();
    let bind = if ipv6 {
        "[2001:db8:96::1]:0"
    } else {
        "10.96.0.1:0"
    };
    let served = poll_echo::serve(
        bind.parse().unwrap(),
        &offer,
        |answer| answer_tx.send(answer).unwrap(),
        |_| done.load(Ordering::Relaxed),
        Duration::from_secs(60),
    )
    .expect("the loop runs");
    browser_side.join().expect("the browser side succeeds");
    println!(
        "served Chromium: {} echo(es) in {} wake-ups, {:?}",
        served.echoed,
        served.wakeups,
        start.elapsed()
    );
    assert!(served.echoed >= 1);
    let (local, remote) = served.selected.expect("a selected pair");
    println!("selected pair {local} -> {remote}");
    assert_eq!(local.is_ipv6(), ipv6, "{local}");
    assert_eq!(remote.is_ipv6(), ipv6, "{remote}");
}
