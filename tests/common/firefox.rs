//! Headless Firefox ESR driven by `tests/interop/firefox/peer.mjs` (puppeteer-core over
//! WebDriver BiDi) over JSON lines on its stdin/stdout, inside a network namespace of the test
//! process's own: one browser per test process (two: one with the ICE settings users run, one
//! revealing its address), started on first use, and a page of its own for each test.
//!
//! The namespace's only links are loopback and a veth to the test's (root) namespace, with a
//! default route through the veth (Firefox gathers no host candidate without one) and nftables
//! rejecting every datagram that would leave for anything but loopback, the veth's /30 and
//! link-local multicast. kaon binds [`Firefox::kaon_addr`], the root end of the veth. Firefox's
//! profile is fresh per run (a scratch directory peer.mjs makes and removes) and turns off
//! updates, telemetry, safe browsing and the rest, but the fence is what makes "no outside
//! contact" hold. The browsers end when the test process does (their stdin closes), and a
//! guard process deletes the namespace after them. What it shares with Chromium's harness is
//! in `browser.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::browser::{Page, read_lines, spawn_script};
use super::json_lines::Ev;
use super::netns::Netns;

pub const FIREFOX: &str = "/usr/bin/firefox-esr";
pub fn script_dir() -> PathBuf {
    super::repo_root().join("tests/interop/firefox")
}

/// Whether Firefox, node, nft and the script's node_modules are here (or why the test skips).
pub fn peer_available(test: &str) -> bool {
    if !PathBuf::from(FIREFOX).is_file() {
        return super::missing_peer(test, FIREFOX);
    }
    if super::which("nft").is_none() && !PathBuf::from("/usr/sbin/nft").is_file() {
        return super::missing_peer(test, "nft (apt: nftables)");
    }
    super::browser::node_script_available(test, &script_dir(), "puppeteer-core")
}

/// Firefox's namespace and the veth from the test's namespace into it.
struct Fence {
    ns: Netns,
    kaon: Ipv4Addr,
    browser: Ipv4Addr,
}

impl Fence {
    /// A namespace with a veth to ours on a /30 of 10.99.0.0/16 picked from the pid and a
    /// counter, so parallel tests (and test processes) use different subnets and names.
    fn create() -> Result<Self, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let slot = (pid.wrapping_mul(16).wrapping_add(n)) % (256 * 64);
        let base = [10, 99, (slot / 64) as u8, (slot % 64 * 4) as u8];
        let kaon = Ipv4Addr::new(base[0], base[1], base[2], base[3] + 1);
        let browser = Ipv4Addr::new(base[0], base[1], base[2], base[3] + 2);
        let subnet = Ipv4Addr::from(base);
        let ns = Netns::create("ff")?;
        // Our end lives in the root namespace: a name unique to this process and fence.
        let ours = format!("kfx{}x{n}", pid % 10_000_000);
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new(super::which("ip").unwrap_or_else(|| "/usr/sbin/ip".into()))
                .args(args)
                .output()
                .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        // Deleting the namespace deletes veth-b, and with it our end of the pair.
        ip(&[
            "link", "add", &ours, "type", "veth", "peer", "name", "veth-b", "netns", &ns.name,
        ])?;
        ip(&["addr", "add", &format!("{kaon}/30"), "dev", &ours])?;
        ip(&["link", "set", &ours, "up"])?;
        ns.ip(&["addr", "add", &format!("{browser}/30"), "dev", "veth-b"])?;
        ns.ip(&["link", "set", "veth-b", "up"])?;
        ns.ip(&["route", "add", "default", "via", &kaon.to_string()])?;
        let rules = format!(
            "table inet fence {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n  \
             oifname \"lo\" accept\n  ip daddr {{ {subnet}/30, 224.0.0.251 }} accept\n  \
             ip6 daddr {{ fe80::/10, ff02::fb }} accept\n  counter reject\n }}\n}}\n"
        );
        let nft = super::which("nft").unwrap_or_else(|| "/usr/sbin/nft".into());
        let mut child = ns
            .command(&nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("nft: {e}"))?;
        child
            .stdin
            .take()
            .expect("nft stdin")
            .write_all(rules.as_bytes())
            .map_err(|e| format!("nft: {e}"))?;
        let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "nft fence: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { ns, kaon, browser })
    }
}

/// The namespace, shared by the test process's browsers, made on first use.
fn fence() -> Result<&'static Fence, String> {
    static FENCE: OnceLock<Result<Fence, String>> = OnceLock::new();
    FENCE
        .get_or_init(|| {
            let fence = Fence::create()?;
            // Statics are never dropped: a guard outside the namespace waits for this process
            // to end (its stdin closes), gives the browsers time to close, ends what is left
            // in the namespace pid by pid, and deletes it.
            let name = &fence.ns.name;
            let script = format!(
                "cat >/dev/null; sleep 10; for p in $(ip netns pids {name}); do kill -9 $p; done; \
                 ip netns delete {name}"
            );
            let guard = Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("sh: {e}"))?;
            // Its stdin stays open for the life of this process.
            std::mem::forget(guard);
            Ok(fence)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// One browser (node script and Firefox) and the routes of its output to the pages.
struct Shared {
    stdin: Mutex<ChildStdin>,
    /// Each page's event channel, by page number; the browser's own events go to page 0.
    routes: Arc<Mutex<HashMap<u32, Sender<String>>>>,
    next_page: AtomicU32,
    _child: Child,
}

impl Shared {
    fn start(default_ice: bool) -> Result<Self, String> {
        let fence = fence()?;
        let t0 = Instant::now();
        let node = super::which("node").ok_or("node")?;
        let mut command = fence.ns.command(node);
        command.arg("peer.mjs");
        if default_ice {
            command.arg("--default");
        }
        let (child, stdin, stdout) = spawn_script(command, &script_dir(), "firefox peer.mjs")?;
        let routes: Arc<Mutex<HashMap<u32, Sender<String>>>> = Arc::default();
        let (tx, browser) = channel();
        routes.lock().unwrap().insert(0, tx);
        let (r, end) = (routes.clone(), routes.clone());
        let route = move |line: String| {
            let page = Ev::parse(&line).map_or(0, |e| e.get("page").parse().unwrap_or(0));
            let routes = r.lock().unwrap_or_else(|e| e.into_inner());
            if page == 0 {
                // The browser's own: an error there concerns every page.
                for tx in routes.values() {
                    let _ = tx.send(line.clone());
                }
            } else if let Some(tx) = routes.get(&page) {
                let _ = tx.send(line);
            }
            true
        };
        // The script ended: every page's channel disconnects.
        let ended = move || end.lock().unwrap_or_else(|e| e.into_inner()).clear();
        read_lines(stdout, route, ended);
        // A browser's first start on a fresh machine (profile, caches, fonts) can take a while.
        let end = t0 + Duration::from_secs(90);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = browser
                .recv_timeout(left)
                .map_err(|e| format!("firefox did not start within 90 s ({e})"))?;
            let Some(ev) = Ev::parse(&line) else { continue };
            if ev.is("error") {
                return Err(format!("firefox did not start: {}", ev.get("what")));
            }
            if ev.is("ready") {
                eprintln!(
                    "firefox: {} ready in {:?} (namespace {}, {} <-> kaon {}{})",
                    ev.get("ua"),
                    t0.elapsed(),
                    fence.ns.name,
                    fence.browser,
                    fence.kaon,
                    if default_ice {
                        ", default ICE settings"
                    } else {
                        ""
                    }
                );
                break;
            }
        }
        routes.lock().unwrap().remove(&0);
        Ok(Self {
            stdin: Mutex::new(stdin),
            routes,
            next_page: AtomicU32::new(1),
            _child: child,
        })
    }

    fn send(&self, line: &str) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
    }
}

/// This test's page in the process's Firefox: its own RTCPeerConnection. The page is closed
/// when dropped; the browser lives on for the next test. Dereferences to its [`Page`]
/// (`send`, `wait`, `seen`...), whose commands carry the page number.
pub struct Firefox {
    shared: &'static Shared,
    number: u32,
    page: Page,
    fence: &'static Fence,
}

impl Deref for Firefox {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.page
    }
}

impl DerefMut for Firefox {
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.page
    }
}

impl Firefox {
    /// A fresh page in the process's Firefox, starting it on first use. `default_ice` picks
    /// the browser with the ICE settings users run (mDNS names for host candidates, no camera
    /// grant); the other's candidates carry its veth address. `None` (after
    /// [`super::missing_peer`]) when no namespace can be made or Firefox does not start.
    pub fn start(test: &str, default_ice: bool) -> Option<Self> {
        static DEFAULT: OnceLock<Result<Shared, String>> = OnceLock::new();
        static REVEALING: OnceLock<Result<Shared, String>> = OnceLock::new();
        let cell = if default_ice { &DEFAULT } else { &REVEALING };
        let shared = match cell.get_or_init(|| Shared::start(default_ice)) {
            Ok(s) => s,
            Err(why) => {
                super::missing_peer(test, &format!("Firefox in a network namespace ({why})"));
                return None;
            }
        };
        let fence = fence().expect("the namespace exists once a browser started in it");
        let page = shared.next_page.fetch_add(1, Ordering::Relaxed);
        let (tx, events) = channel();
        shared.routes.lock().unwrap().insert(page, tx);
        let out = move |json: &str| {
            let json = json.trim_end();
            let body = json.strip_suffix('}').expect("a JSON object");
            let sep = if body.trim_end().ends_with('{') {
                ""
            } else {
                ","
            };
            shared.send(&format!(r#"{body}{sep}"page":{page}}}"#))
        };
        let mut f = Self {
            shared,
            number: page,
            page: Page::new("firefox", out, events),
            fence,
        };
        let t0 = Instant::now();
        f.send(r#"{"cmd":"new-page"}"#);
        f.wait("page-ready", Duration::from_secs(30), |e| {
            e.is("page-ready")
        });
        eprintln!(
            "firefox: page {page} for {test} ready in {:?}",
            t0.elapsed()
        );
        Some(f)
    }

    /// The address kaon binds: our end of the veth into Firefox's namespace.
    pub fn kaon_addr(&self) -> Ipv4Addr {
        self.fence.kaon
    }

    /// Firefox's address on the veth.
    pub fn browser_addr(&self) -> Ipv4Addr {
        self.fence.browser
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        // Not while unwinding from a failed wait: the browser may be gone.
        if !std::thread::panicking() {
            let _ = self.page.try_send(r#"{"cmd":"close-page"}"#);
            let t = Instant::now();
            let end = t + Duration::from_secs(10);
            while let Ok(line) = self
                .page
                .lines()
                .recv_timeout(end.saturating_duration_since(Instant::now()))
            {
                if Ev::parse(&line).is_some_and(|e| e.is("page-closed")) {
                    eprintln!("firefox: page {} closed in {:?}", self.number, t.elapsed());
                    break;
                }
            }
        }
        self.shared
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.number);
    }
}
