//! The `data-channels` example, run the way a user runs it: the headless demo prints its
//! handshake timeline and a transfer rate, and with `--serve` its page, opened in headless
//! Chromium (driven by `tests/interop/chromium/example.mjs`), chats with the kaon peer behind
//! `POST /offer`.
//!
//! The test builds the example with the cargo that runs it (a no-op when it is up to date), in
//! the same profile. The browser test needs `/usr/bin/chromium`, `node` and
//! `tests/interop/chromium/node_modules` (`npm ci` there); it fails when they are missing under
//! `CI=true` and is skipped otherwise.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The example's binary, built once per test run.
fn example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build
                .args(["build", "--example", "data-channels"])
                .current_dir(common::repo_root());
            if !cfg!(debug_assertions) {
                build.arg("--release");
            }
            // The features this test was built with, so kaon is not built a second time.
            if cfg!(feature = "sim") {
                build.args(["--features", "sim"]);
            }
            let status = build.status().expect("run cargo build");
            assert!(
                status.success(),
                "cargo build --example data-channels failed"
            );
            // This test runs from target/<profile>/deps/; examples live in target/<profile>/examples/.
            let exe = std::env::current_exe().expect("test executable");
            let profile = exe.parent().and_then(|d| d.parent()).expect("target dir");
            profile.join("examples/data-channels")
        })
        .clone()
}

/// A child process killed (by its own pid) when dropped, with its stdout lines on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("example: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) for which `pred` holds.
    fn line(&mut self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "example: no {what} within {limit:?}; printed {:?}",
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let end = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} ran longer than {limit:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn the_demo_prints_a_handshake_timeline() {
    let out = run(Command::new(example()).arg("2"), Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "  offerer: ICE connected        7.16 ms": each side reports each step, with a time.
    for side in ["offerer", "answerer"] {
        for step in [
            "ICE connected",
            "DTLS connected",
            "SCTP established",
            "channel open",
        ] {
            let line = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{side}: {step}")))
                .unwrap_or_else(|| panic!("no {side:?} {step:?} in the timeline"));
            let ms: f64 = line
                .split_whitespace()
                .rev()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no time in {line:?}"));
            assert!((0.0..10_000.0).contains(&ms), "{line}");
        }
    }
    assert!(
        stdout.contains("transfer: 2 MiB in ") && stdout.contains(" MiB/s "),
        "no throughput figure"
    );
}

#[test]
fn the_browser_page_connects_to_the_example() {
    const TEST: &str = "the_browser_page_connects_to_the_example";
    let scripts = common::repo_root().join("tests/interop/chromium");
    if !PathBuf::from(CHROMIUM).is_file() {
        common::missing_peer(TEST, CHROMIUM);
        return;
    }
    if common::which("node").is_none() {
        common::missing_peer(TEST, "node");
        return;
    }
    if !scripts.join("node_modules/playwright-core").is_dir() {
        common::missing_peer(
            TEST,
            "tests/interop/chromium/node_modules (run npm ci there)",
        );
        return;
    }

    let mut server = Running::start(Command::new(example()).args(["--serve", "127.0.0.1:0"]));
    let banner = server.line("URL", Duration::from_secs(30), |l| l.contains("http://"));
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback URL in {banner:?}"))
        .to_string();

    let text = "hello from chromium ✓";
    let t = Instant::now();
    let out = run(
        Command::new("node")
            .args(["example.mjs", &url, text])
            .current_dir(&scripts),
        Duration::from_secs(90),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.contains(r#""ev":"done""#),
        "the page did not chat with kaon: {report}"
    );
    println!(
        "page loaded, channel open, greeting and echo: {:.0} ms; page log: {report}",
        t.elapsed().as_secs_f64() * 1e3
    );
    // kaon's side of the conversation, as the example prints it.
    server.line("the browser's message", Duration::from_secs(10), |l| {
        l.ends_with(&format!("[chat]: {text}"))
    });
}
