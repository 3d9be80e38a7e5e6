//! Network namespaces of a test's own (`ip netns`), so that real peers gather only addresses
//! the test chose and no traffic leaves the machine. Each is deleted when dropped.
//!
//! Needs root and the `ip` command (iproute2); [`Netns::create`] says why it cannot otherwise,
//! so a test can fail in CI and skip elsewhere.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace, deleted on drop.
pub struct Netns {
    ip: PathBuf,
    /// Its name, as `ip netns` knows it.
    pub name: String,
}

impl Netns {
    /// Creates `kaon-<tag>-<pid>-<n>` with its loopback up (`n` counts this process's
    /// namespaces, so tests running at once never pick the same name).
    pub fn create(tag: &str) -> Result<Self, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let ip = super::which("ip")
            .or_else(|| Some(PathBuf::from("/usr/sbin/ip")).filter(|p| p.exists()))
            .ok_or("the ip command (apt: iproute2)")?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("kaon-{tag}-{}-{n}", std::process::id());
        run(&ip, &["netns", "add", &name])?;
        let ns = Self { ip, name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Has nftables drop a random `percent` of the UDP datagrams leaving any interface of the
    /// namespace (`lo` included), so both peers inside lose that share each way. Needs `nft`.
    pub fn drop_udp(&self, percent: u32) -> Result<(), String> {
        let nft = super::which("nft").ok_or("the nft command (apt: nftables)")?;
        let rule = format!(
            "add rule inet loss out meta l4proto udp numgen random mod 100 < {percent} counter drop"
        );
        for command in [
            "add table inet loss",
            "add chain inet loss out { type filter hook output priority 0 ; }",
            &rule,
        ] {
            let mut args = vec!["netns", "exec", &self.name];
            let nft = nft.to_str().ok_or("nft path")?;
            args.push(nft);
            args.extend(command.split(' '));
            run(&self.ip, &args)?;
        }
        Ok(())
    }

    /// As [`drop_udp`](Self::drop_udp), but on the way in (the input hook): the sender's
    /// `sendmsg` succeeds and the datagram is gone, as on a real lossy path. Chromium retries
    /// a send that the output hook refused (EPERM), so `drop_udp` never loses its packets.
    pub fn drop_udp_received(&self, percent: u32) -> Result<(), String> {
        let nft = super::which("nft").ok_or("the nft command (apt: nftables)")?;
        let rule = format!(
            "add rule inet loss in meta l4proto udp numgen random mod 100 < {percent} counter drop"
        );
        for command in [
            "add table inet loss",
            "add chain inet loss in { type filter hook input priority 0 ; }",
            &rule,
        ] {
            let mut args = vec!["netns", "exec", &self.name];
            let nft = nft.to_str().ok_or("nft path")?;
            args.push(nft);
            args.extend(command.split(' '));
            run(&self.ip, &args)?;
        }
        Ok(())
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run(&self.ip, &all)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`, which execs the
    /// program: the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &self.name]).arg(program.as_ref());
        c
    }

    /// Runs this test binary's `test` again inside the namespace with `envs` set, as a
    /// [`Side`] the test talks to line by line (the copy reads [`Side::tell`]'s lines on stdin
    /// and prints lines the test reads with [`Side::expect`]).
    pub fn side(&self, test: &str, envs: &[(&str, &str)]) -> Side {
        let mut child = self
            .command(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                test,
                "--nocapture",
                "--test-threads=1",
                "--quiet",
            ])
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a side");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Side {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs this test binary's `test` again inside the namespace with `var=value` set (the
    /// inner run does the peer's part), waits up to `limit` and fails the test if the inner
    /// run fails or outlives it; `what` names the session in those messages.
    pub fn rerun_test(&self, test: &str, var: &str, value: &str, limit: Duration, what: &str) {
        let mut inner = self
            .command(std::env::current_exe().expect("test binary"))
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(var, value)
            .spawn()
            .expect("run the test inside the namespace");
        let end = Instant::now() + limit;
        let status = loop {
            if let Some(status) = inner.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > end {
                let _ = inner.kill();
                let _ = inner.wait();
                panic!("{what} did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{what} failed: {status}");
    }

    /// Links `self` and `other` with a veth pair: `self` gets `mine`, `other` gets `theirs`
    /// (both `ADDR/PREFIX`), and when `default_route` is set, `other` routes everything through
    /// `self`'s end (browsers gather no host candidate without a default route).
    pub fn veth_to(
        &self,
        other: &Netns,
        mine: &str,
        theirs: &str,
        default_route: bool,
    ) -> Result<(), String> {
        self.ip(&[
            "link",
            "add",
            "veth-a",
            "type",
            "veth",
            "peer",
            "name",
            "veth-b",
            "netns",
            &other.name,
        ])?;
        self.ip(&["addr", "add", mine, "dev", "veth-a"])?;
        self.ip(&["link", "set", "veth-a", "up"])?;
        other.ip(&["addr", "add", theirs, "dev", "veth-b"])?;
        other.ip(&["link", "set", "veth-b", "up"])?;
        if default_route {
            let via = mine.split('/').next().unwrap_or(mine);
            other.ip(&["route", "add", "default", "via", via])?;
        }
        Ok(())
    }

    /// Links `self` and `other` with a veth pair carrying IPv6 only: `self` gets `mine`,
    /// `other` gets `theirs` (both `ADDR/PREFIX`, added without duplicate address detection so
    /// they are usable at once), and `other` routes all IPv6 through `self`'s end (a browser
    /// gathers no host candidate without a default route). No IPv4 address is put on the veth,
    /// so nothing can fall back to IPv4; the kernel still gives each end its fe80:: address.
    pub fn veth6_to(&self, other: &Netns, mine: &str, theirs: &str) -> Result<(), String> {
        self.ip(&[
            "link",
            "add",
            "veth-a",
            "type",
            "veth",
            "peer",
            "name",
            "veth-b",
            "netns",
            &other.name,
        ])?;
        self.ip(&["addr", "add", mine, "dev", "veth-a", "nodad"])?;
        self.ip(&["link", "set", "veth-a", "up"])?;
        other.ip(&["addr", "add", theirs, "dev", "veth-b", "nodad"])?;
        other.ip(&["link", "set", "veth-b", "up"])?;
        let via = mine.split('/').next().unwrap_or(mine);
        other.ip(&["-6", "route", "add", "default", "via", via, "dev", "veth-b"])?;
        Ok(())
    }

    /// The index of interface `dev` in the namespace: the zone (scope id) of its link-local
    /// addresses.
    pub fn ifindex(&self, dev: &str) -> Result<u32, String> {
        let out = Command::new(&self.ip)
            .args(["-n", &self.name, "-o", "link", "show", "dev", dev])
            .output()
            .map_err(|e| format!("ip link show: {e}"))?;
        // `7: veth-a@if6: <BROADCAST,...`
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("no interface {dev}: {text}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run(&self.ip, &["netns", "delete", &self.name]) {
            eprintln!("could not delete namespace {}: {e}", self.name);
        }
    }
}

fn run(program: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{} {}: {e}", program.display(), args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {}: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A copy of the test running in a namespace ([`Netns::side`]), talked to by lines.
pub struct Side {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Side {
    /// Its process id (to end it by, should it hang).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The rest of the next line starting with `tag` (the harness prints other lines too).
    pub fn expect(&mut self, tag: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read");
            assert!(n > 0, "the side ended before saying {tag}");
            if let Some(rest) = line.trim_end().strip_prefix(tag) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Waits for it to end; fails the test, naming it `what`, unless it succeeded.
    pub fn finish(&mut self, what: &str) {
        let status = self.child.wait().expect("wait for a side");
        assert!(status.success(), "the {what} failed: {status}");
    }

    /// Writes `line` to the side's stdin.
    pub fn tell(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        // Normally it has exited; a side stuck on an assertion gets 2 s, then is ended by its
        // own pid.
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_secs(2));
            if !matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// Writes `line` to stdout at once (what a [`Side`] says to its test).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}
