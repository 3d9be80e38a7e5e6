//! Headless Chromium driven by `tests/interop/chromium/peer.mjs` (playwright-core) over JSON
//! lines on its stdin/stdout: start it, send commands, wait for events. One browser and one
//! page per [`Browser`]; what it shares with Firefox's harness is in `browser.rs`.

use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use super::browser::{Page, read_lines, spawn_script};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub fn script_dir() -> PathBuf {
    super::repo_root().join("tests/interop/chromium")
}

/// Whether Chromium, node and the script's node_modules are here (or why the test skips).
pub fn peer_available(test: &str) -> bool {
    if !PathBuf::from(CHROMIUM).is_file() {
        return super::missing_peer(test, CHROMIUM);
    }
    super::browser::node_script_available(test, &script_dir(), "playwright-core")
}

/// The node script and the browser it drives, one page; killed (by its own pid) when
/// dropped. Dereferences to its [`Page`] (`send`, `wait`, `seen`...).
pub struct Browser {
    child: Child,
    page: Page,
}

impl Deref for Browser {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.page
    }
}

impl DerefMut for Browser {
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.page
    }
}

impl Browser {
    pub fn start() -> Self {
        let mut node = Command::new("node");
        node.arg("peer.mjs");
        Self::start_with(node)
    }

    /// Starts the script with `command` (`node peer.mjs ...`, perhaps inside a namespace).
    pub fn start_with(command: Command) -> Self {
        let t0 = Instant::now();
        let (child, mut stdin, stdout) =
            spawn_script(command, &script_dir(), "peer.mjs").expect("start node peer.mjs");
        let (tx, events) = channel();
        read_lines(stdout, move |line| tx.send(line).is_ok(), || {});
        let out = move |json: &str| {
            writeln!(stdin, "{json}")?;
            stdin.flush()
        };
        let mut b = Self {
            child,
            page: Page::new("chromium", out, events),
        };
        // A browser's first start on a fresh machine (caches, fonts) can take a while.
        let ready = b.wait("ready", Duration::from_secs(90), |e| e.is("ready"));
        eprintln!("browser: {} ready in {:?}", ready.get("ua"), t0.elapsed());
        b
    }

    /// Chromium's view of the transport (getStats): checks its DTLS role and that DTLS 1.2
    /// (`FEFD`) was negotiated over a loopback UDP pair, and prints it.
    pub fn check_transport(&mut self, role: &str, kaon: std::net::SocketAddr) {
        self.send(r#"{"cmd":"stats"}"#);
        let s = self.wait("stats", Duration::from_secs(10), |e| e.is("stats"));
        eprintln!(
            "chromium transport: dtls {} {} role {} ({}), pair {} -> {}",
            s.get("dtlsState"),
            s.get("tlsVersion"),
            s.get("dtlsRole"),
            s.get("dtlsCipher"),
            s.get("local"),
            s.get("remote")
        );
        assert_eq!(s.get("dtlsState"), "connected");
        assert_eq!(s.get("dtlsRole"), role, "Chromium's DTLS role");
        // DTLS 1.2 (FEFD) with kaon's default; 1.3 (FEFC) when kaon is configured for it.
        assert!(
            matches!(s.get("tlsVersion"), "FEFC" | "FEFD"),
            "a DTLS version negotiated"
        );
        // A remote candidate Chromium learned from a check (kaon's check can beat the answer
        // to the page) is peer-reflexive, and getStats hides its address.
        let remote = s.get("remote").to_string();
        assert!(
            remote == format!("udp {kaon}") || remote == format!("udp :{}", kaon.port()),
            "the pair ends at kaon's socket {kaon}"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.page.try_send(r#"{"cmd":"quit"}"#);
        // Give it a moment to close the browser cleanly, then kill it by its pid.
        let start = Instant::now();
        let end = start + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                eprintln!("browser closed in {:?}", start.elapsed());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("browser: peer.mjs did not exit within 5 s of quit; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
