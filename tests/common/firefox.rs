//! Headless Firefox ESR driven by `tests/interop/firefox/peer.mjs` (puppeteer-core over
//! WebDriver BiDi) over JSON lines on its stdin/stdout, inside a network namespace of the test's
//! own: start it, send commands, wait for events.
//!
//! Each [`Firefox`] gets a fresh namespace whose only links are loopback and a veth to the
//! test's (root) namespace, with a default route through the veth (Firefox gathers no host
//! candidate without one) and nftables rejecting every datagram that would leave for anything
//! but loopback, the veth's /30 and link-local multicast. kaon binds [`Firefox::kaon_addr`],
//! the root end of the veth. Firefox's profile is fresh per run (a scratch directory peer.mjs
//! makes and removes) and turns off updates, telemetry, safe browsing and the rest, but the
//! fence is what makes "no outside contact" hold.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use super::json_lines::{Ev, json_str};
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
    if super::which("node").is_none() {
        return super::missing_peer(test, "node");
    }
    if super::which("nft").is_none() && !PathBuf::from("/usr/sbin/nft").is_file() {
        return super::missing_peer(test, "nft (apt: nftables)");
    }
    if !script_dir().join("node_modules/puppeteer-core").is_dir() {
        return super::missing_peer(
            test,
            "tests/interop/firefox/node_modules (run npm ci there)",
        );
    }
    true
}

/// Byte `i` of an `n`-byte test message, as the page computes it.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + n) % 256) as u8).collect()
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

/// The node script and the browser it drives, in their namespace; the script is ended (by its
/// own pid) and the namespace deleted when dropped.
pub struct Firefox {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<String>,
    /// Events read while waiting for another one.
    pub seen: Vec<Ev>,
    fence: Fence,
}

impl Firefox {
    /// Starts Firefox in a fresh namespace. `default_ice` keeps the ICE settings users run
    /// (mDNS names for host candidates, no camera grant); otherwise its candidates carry its
    /// veth address. `None` (after [`super::missing_peer`]) when no namespace can be made.
    pub fn start(test: &str, default_ice: bool) -> Option<Self> {
        let t0 = Instant::now();
        let fence = match Fence::create() {
            Ok(f) => f,
            Err(why) => {
                super::missing_peer(test, &format!("a network namespace for Firefox ({why})"));
                return None;
            }
        };
        let node = super::which("node").expect("node");
        let mut command = fence.ns.command(node);
        command.arg("peer.mjs");
        if default_ice {
            command.arg("--default");
        }
        let mut child = command
            .current_dir(script_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node peer.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
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
                eprintln!("firefox peer.mjs: {line}");
            }
        });
        let mut f = Self {
            child,
            stdin,
            events,
            seen: Vec::new(),
            fence,
        };
        // A browser's first start on a fresh machine (profile, caches, fonts) can take a while.
        let ready = f.wait("ready", Duration::from_secs(90), |e| e.is("ready"));
        eprintln!(
            "firefox: {} ready in {:?} (namespace {}, {} <-> kaon {})",
            ready.get("ua"),
            t0.elapsed(),
            f.fence.ns.name,
            f.fence.browser,
            f.fence.kaon
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

    pub fn send(&mut self, json: &str) {
        writeln!(self.stdin, "{json}").expect("write to peer.mjs");
        self.stdin.flush().expect("flush peer.mjs");
    }

    /// Reads events until one matches (earlier unmatched ones are kept); panics on an
    /// `error` event, on the script ending, or after `limit`.
    pub fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&Ev) -> bool) -> Ev {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) => {
                    let ev = Ev::parse(&line)
                        .unwrap_or_else(|| panic!("peer.mjs printed a non-event: {line}"));
                    assert!(!ev.is("error"), "firefox error: {}", ev.get("what"));
                    if pred(&ev) {
                        return ev;
                    }
                    self.seen.push(ev);
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("firefox: no {what} within {limit:?}; seen {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("firefox: peer.mjs ended while waiting for {what}")
                }
            }
        }
    }

    pub fn send_text(&mut self, label: &str, text: &str) {
        self.send(&format!(
            r#"{{"cmd":"send","label":{},"text":{}}}"#,
            json_str(label),
            json_str(text)
        ));
    }

    pub fn send_binary(&mut self, label: &str, n: usize) {
        self.send(&format!(
            r#"{{"cmd":"send","label":{},"binary":{n}}}"#,
            json_str(label)
        ));
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, r#"{{"cmd":"quit"}}"#);
        let _ = self.stdin.flush();
        // Give it a moment to close the browser cleanly, then kill it by its pid (`ip netns
        // exec` execs node, so this is node's pid).
        let start = Instant::now();
        let end = start + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                eprintln!("firefox closed in {:?}", start.elapsed());
                break;
            }
            if Instant::now() > end {
                eprintln!("firefox: peer.mjs did not exit within 10 s of quit; killing it");
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // What the fence stopped: datagrams Firefox tried to send anywhere but kaon.
        if let Ok(out) = self
            .fence
            .ns
            .command("nft")
            .args(["list", "chain", "inet", "fence", "out"])
            .output()
        {
            let rules = String::from_utf8_lossy(&out.stdout);
            if let Some(n) = rules.split("counter packets ").nth(1) {
                let n = n.split(' ').next().unwrap_or("?");
                eprintln!("firefox: the namespace's fence rejected {n} outgoing packets");
            }
        }
        // A Firefox that outlived its node would keep the namespace: end what is left in it,
        // pid by pid, before the namespace is deleted.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.fence.ns.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
    }
}
