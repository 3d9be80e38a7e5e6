//! kaon's TURN server beside coturn on this machine, in one run: how many ChannelData packets
//! each relays per CPU-second of its own.
//!
//! Run: `cargo run --release --example turn-relay-bench -- [--seconds 3] [--size 100]
//! [--rounds 3] [--io driver|tasks|std|std-threads|plain|mmsg|gso] [--workers 0]`
//!
//! For each server a client allocates (kaon's `turn::Client`), binds a channel to a peer
//! socket, then sends ChannelData of `--size` bytes as fast as it can for `--seconds`; the peer
//! counts what the server relayed. The server's CPU time over the blast comes from
//! `/proc` (each thread's `schedstat`, in nanoseconds): the threads kaon's server runs on in
//! this process, coturn's whole process (Debian's `turnserver`, skipped when absent). Both see the same offered load from the same
//! client code, one after the other in each of `--rounds` rounds, so the figure that matters
//! is packets relayed per CPU-second; wall-clock packets per second are printed beside it.
//!
//! `--io driver` (the default) runs kaon's server the way users run it, as the `turn-server`
//! example does: `kaon_tokio::Driver::spawn_inline` with `TcpServer`, one task reading its
//! sockets itself (quinn-udp: recvmmsg until they would block, GSO sends), on a current-thread
//! runtime (`--workers 0`, the default; `--workers N`: a multi-threaded runtime of N workers).
//! `--io tasks` is `Driver::spawn` instead: a reader task per socket handing batches to the
//! driver task through the inbox (what peer connections use). `--io std` runs it on
//! `kaon_std::Driver::spawn_inline` (one thread polling its sockets), `--io std-threads` on
//! `kaon_std::Driver::spawn` (a reader thread per socket and a driver thread; batched the same
//! way on Linux). The other modes are a hand-written blocking loop on one thread.
//! Nearly all of a relay's CPU time is the kernel's UDP path (the core's own work is a few
//! percent of it), so `--io` picks how that loop uses its sockets: `plain` makes one system
//! call per datagram each way, as coturn does; `mmsg` (Linux) receives and sends up to 64 per
//! call with `recvmmsg` and `sendmmsg`; `gso` (the default on Linux) also sends each run of
//! equal-size datagrams to one peer as a single UDP GSO send (`UDP_SEGMENT`), which crosses the
//! kernel's send path once for the run. One client blasting one peer is GSO's best case: with
//! many peers interleaved, runs are shorter and `gso` tends towards `mmsg`.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kaon::turn::{Client, ClientConfig, ClientEvent, Server, ServerConfig};
use kaon::{Datagram, Protocol};

const USER: &str = "bench";
const PASSWORD: &str = "bench123";

/// Clock ticks of a thread or process in `/proc/.../stat` (utime + stime).
fn ticks(stat_path: &str) -> u64 {
    let text = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Nanoseconds a thread ran, from its `schedstat` (the scheduler's own clock).
fn schedstat_ns(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU nanoseconds of the thread or process whose `/proc/.../stat` is `stat_path`: from
/// `schedstat` (nanoseconds, summed over a process's threads) where the kernel keeps it, else
/// from the clock ticks of `stat` (10 ms each: too coarse for a server that gets a fraction
/// of a core for a few seconds).
fn cpu_ns(stat_path: &str, hz: f64) -> u64 {
    let dir = stat_path.trim_end_matches("/stat");
    let tasks = std::fs::read_dir(format!("{dir}/task"));
    let ns = match tasks {
        Ok(tasks) => tasks
            .filter_map(|t| t.ok())
            .map(|t| schedstat_ns(&format!("{}/schedstat", t.path().display())))
            .sum::<Option<u64>>(),
        Err(_) => schedstat_ns(&format!("{dir}/schedstat")),
    };
    ns.unwrap_or_else(|| (ticks(stat_path) as f64 * 1e9 / hz) as u64)
}

/// A server's CPU nanoseconds so far.
type Ticks<'a> = Box<dyn Fn() -> u64 + 'a>;

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// How kaon's server loop talks to its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Io {
    /// kaon-tokio's driver reading its sockets itself, as the `turn-server` example runs
    /// the server.
    Driver,
    /// kaon-tokio's driver with a reader task per socket handing datagrams to the driver
    /// task through its inbox (what `Driver::spawn` does, for peer connections).
    Tasks,
    /// kaon-std's driver reading its sockets itself on one thread (`poll(2)`), the same
    /// batching.
    Std,
    /// kaon-std's driver with a reader thread per socket handing datagrams to the driver
    /// thread through its inbox (what `Driver::spawn` does, for peer connections).
    StdThreads,
    /// One `recv_from` and one `send_to` per datagram.
    Plain,
    /// `recvmmsg` and `sendmmsg`: up to 64 datagrams per system call (Linux).
    Mmsg,
    /// As `Mmsg`, and a run of equal-size datagrams to one peer leaves as one UDP GSO send.
    Gso,
}

/// kaon's server on kaon-tokio's driver with the TCP wrapper, reading `inline` (as the
/// `turn-server` example runs it) or through reader tasks, on a runtime of `workers` threads
/// (0: current-thread). Returns the listening address and the `/proc` stat paths of the
/// runtime's threads.
fn spawn_kaon_driver(
    stop: Arc<AtomicBool>,
    workers: usize,
    inline: bool,
) -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use kaon_tokio::turn_server::TcpServer;
    let stats = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = stats.clone();
    // `--workers 0`: a current-thread runtime on the one thread that runs it.
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let own = stats.clone();
    let runtime = builder
        .enable_all()
        .on_thread_start(move || {
            if let Ok(p) = std::fs::read_link("/proc/thread-self") {
                record
                    .lock()
                    .unwrap()
                    .push(format!("/proc/{}/stat", p.display()));
            }
        })
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        if let Ok(p) = std::fs::read_link("/proc/thread-self") {
            own.lock()
                .unwrap()
                .push(format!("/proc/{}/stat", p.display()));
        }
        runtime.block_on(async move {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let listen = udp.local_addr().unwrap();
            let tcp = tokio::net::TcpListener::bind(listen).await.unwrap();
            let mut sockets = vec![udp];
            for _ in 0..8 {
                sockets.push(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
            }
            let relays = sockets[1..].iter().map(|s| s.local_addr().unwrap());
            let server = bench_server(listen, relays.collect());
            let server = TcpServer::new(server);
            let driver = if inline {
                kaon_tokio::Driver::spawn_inline(server, sockets)
            } else {
                kaon_tokio::Driver::spawn(server, sockets)
            }
            .unwrap();
            TcpServer::listen(&driver, tcp).unwrap();
            tx.send(listen).unwrap();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Datagrams the driver's inbox dropped were received (and paid for) in vain.
            println!("kaon's driver inbox: {:?}", driver.inbox_stats());
            driver.shutdown().await;
        });
    });
    (rx.recv().unwrap(), stats)
}

/// kaon's TURN server listening on `listen`, relaying from `relays`, with the bench's user.
fn bench_server(listen: SocketAddr, relays: Vec<SocketAddr>) -> Server {
    let mut cfg = ServerConfig::new("bench.test", vec![listen], relays);
    cfg.users.push((USER.into(), PASSWORD.into()));
    Server::new(cfg, Instant::now(), 1_700_000_000)
}

/// The `/proc` stat paths of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| format!("/proc/self/task/{}/stat", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default()
}

/// kaon's server on kaon-std's driver with the TCP wrapper. Returns the listening address,
/// the driver (the server runs while it lives) and the `/proc` stat paths of the threads it
/// started (every thread that appeared while it started).
fn spawn_kaon_std(
    inline: bool,
) -> (
    SocketAddr,
    kaon_std::Driver<kaon_std::turn_stream::TcpServer<Server>>,
    Vec<String>,
) {
    use kaon_std::turn_stream::TcpServer;
    let before = threads();
    let sockets: Vec<UdpSocket> = (0..9)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let listen = sockets[0].local_addr().unwrap();
    let relays = sockets[1..].iter().map(|s| s.local_addr().unwrap());
    let server = bench_server(listen, relays.collect());
    let server = TcpServer::new(server);
    let driver = if inline {
        kaon_std::Driver::spawn_inline(server, sockets)
    } else {
        kaon_std::Driver::spawn(server, sockets)
    }
    .unwrap();
    TcpServer::listen(&driver, std::net::TcpListener::bind(listen).unwrap()).unwrap();
    let started = threads()
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    (listen, driver, started)
}

fn spawn_kaon(stop: Arc<AtomicBool>, io: Io) -> (SocketAddr, Arc<std::sync::Mutex<String>>) {
    let sockets: Vec<UdpSocket> = (0..9)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut cfg = ServerConfig::new("bench.test", vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let stat = Arc::new(std::sync::Mutex::new(String::new()));
    let stat_out = stat.clone();
    let listen = addrs[0];
    sockets[0]
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    for s in &sockets[1..] {
        s.set_nonblocking(true).unwrap();
    }
    thread::spawn(move || {
        let tid = std::fs::read_link("/proc/thread-self")
            .map(|p| format!("{}/stat", p.display()))
            .unwrap_or_default();
        *stat_out.lock().unwrap() = format!("/proc/{tid}");
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let server = Server::new(cfg, Instant::now(), unix);
        match io {
            Io::Driver | Io::Tasks | Io::Std | Io::StdThreads => {
                unreachable!("the drivers have their own threads")
            }
            Io::Plain => plain_loop(server, &sockets, &addrs, &stop),
            #[cfg(target_os = "linux")]
            Io::Mmsg | Io::Gso => batched_loop(server, &sockets, &addrs, &stop, io == Io::Gso),
            #[cfg(not(target_os = "linux"))]
            _ => plain_loop(server, &sockets, &addrs, &stop),
        }
    });
    (listen, stat)
}

/// Whether this round also reads the relay sockets (peers' traffic back): every 8th, since an
/// empty non-blocking read is a wasted system call per socket.
fn polled(round: u32, sockets: usize) -> usize {
    if round.is_multiple_of(8) { sockets } else { 1 }
}

/// One system call per datagram each way.
fn plain_loop(mut server: Server, sockets: &[UdpSocket], addrs: &[SocketAddr], stop: &AtomicBool) {
    let mut buf = vec![0u8; 65_536];
    let mut out = vec![0u8; 65_536];
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        round = round.wrapping_add(1);
        for (i, s) in sockets
            .iter()
            .enumerate()
            .take(polled(round, sockets.len()))
        {
            // Up to a batch per socket per round; the listening socket blocks briefly
            // when idle.
            for _ in 0..64 {
                match s.recv_from(&mut buf) {
                    Ok((n, source)) => server.handle_datagram(
                        now,
                        Datagram {
                            source,
                            destination: addrs[i],
                            contents: &buf[..n],
                        },
                    ),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        while let Some(t) = server.poll_transmit(now, &mut out) {
            if let Some(i) = addrs.iter().position(|a| *a == t.source) {
                let _ = sockets[i].send_to(&out[..t.len], t.destination);
            }
        }
        while server.poll_event().is_some() {}
    }
}

/// Up to 64 datagrams per system call each way; the server writes each outgoing datagram
/// straight into the send batch's buffer.
#[cfg(target_os = "linux")]
fn batched_loop(
    mut server: Server,
    sockets: &[UdpSocket],
    addrs: &[SocketAddr],
    stop: &AtomicBool,
    gso: bool,
) {
    use std::os::fd::{AsRawFd, RawFd};
    let fds: Vec<RawFd> = sockets.iter().map(AsRawFd::as_raw_fd).collect();
    let mut rx = batch::RecvBatch::new();
    let mut tx = batch::SendBatch::new(gso);
    let drain = |server: &mut Server, tx: &mut batch::SendBatch, now: Instant| {
        loop {
            if tx.is_full() {
                tx.flush(&fds);
            }
            let Some(t) = server.poll_transmit(now, tx.slot()) else {
                break;
            };
            if let Some(i) = addrs.iter().position(|a| *a == t.source) {
                tx.commit(i, t.destination, t.len);
            }
        }
        tx.flush(&fds);
    };
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        round = round.wrapping_add(1);
        for (i, &fd) in fds.iter().enumerate().take(polled(round, fds.len())) {
            // The listening socket waits briefly for its first datagram when idle.
            let n = rx.recv(fd, i == 0).unwrap_or(0);
            for k in 0..n {
                if let Some((source, contents)) = rx.get(k) {
                    let destination = addrs[i];
                    server.handle_datagram(
                        now,
                        Datagram {
                            source,
                            destination,
                            contents,
                        },
                    );
                }
            }
            drain(&mut server, &mut tx, now);
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
            drain(&mut server, &mut tx, now);
        }
        while server.poll_event().is_some() {}
    }
}

struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_coturn() -> Option<(SocketAddr, Coturn)> {
    let port = UdpSocket::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("turnserver")
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .args(["--min-port=56000", "--max-port=56100"])
        .args(["--lt-cred-mech", &format!("--user={USER}:{PASSWORD}")])
        .args(["--realm=bench.test", "--no-tls", "--no-dtls", "--no-tcp"])
        .args(["--no-cli", "--allow-loopback-peers", "--log-file=stdout"])
        // One relay thread: packets per CPU-second is what is compared, not parallelism.
        .args(["--relay-threads=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    thread::sleep(Duration::from_millis(1500));
    Some((format!("127.0.0.1:{port}").parse().unwrap(), Coturn(child)))
}

/// Allocates on `server`, binds a channel to a peer socket, blasts ChannelData for `secs`.
/// Returns (sent, relayed) packet counts, and runs `mark` at the start and end of the blast.
fn blast(
    server: SocketAddr,
    secs: f64,
    size: usize,
    mut mark: impl FnMut(),
) -> Result<(u64, u64), String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The counting peer must not be what loses packets: whatever a server relayed should be
    // counted, so its receive buffer is as large as the system allows.
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let bytes: libc::c_int = 4 << 20;
        // SAFETY: a plain setsockopt with a c_int value on a socket this function owns.
        unsafe {
            libc::setsockopt(
                peer.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    let peer_addr = peer.local_addr().unwrap();
    let mut client = Client::new(ClientConfig {
        seed: Some(1),
        ..ClientConfig::new(local, server, USER, PASSWORD)
    });
    let start = Instant::now();
    client.allocate(start);
    client.permit(start, peer_addr);
    let mut buf = [0u8; 2048];
    let mut channel = None;
    while channel.is_none() && start.elapsed() < Duration::from_secs(5) {
        let now = Instant::now();
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let _ = sock.send_to(&buf[..t.len], t.destination);
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            client.handle_datagram(
                Instant::now(),
                Datagram {
                    source: from,
                    destination: local,
                    contents: &buf[..n],
                },
            );
        }
        while let Some(e) = client.poll_event() {
            match e {
                ClientEvent::ChannelBound { channel: c, .. } => channel = Some(c),
                ClientEvent::Failed(e) => return Err(e.to_string()),
                _ => {}
            }
        }
    }
    let channel = channel.ok_or("no channel bound within 5 s")?;
    let relayed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let counter = {
        let (relayed, done) = (relayed.clone(), done.clone());
        peer.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        thread::spawn(move || {
            let mut b = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if peer.recv_from(&mut b).is_ok() {
                    relayed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let payload = vec![0x5au8; size];
    let mut packet = vec![0u8; 4 + size + 3];
    let n = kaon::turn::ChannelData {
        channel,
        data: &payload,
    }
    .write(&mut packet, false)
    .unwrap();
    mark();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    // The client offers as much as it can: 64 datagrams per sendmmsg on Linux, so that the
    // servers, not the client, are what runs out (a server that idles between packets pays a
    // wake-up for each few and looks worse per packet than a saturated one).
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fds = [sock.as_raw_fd()];
        let mut tx = batch::SendBatch::new(false);
        while Instant::now() < end {
            while !tx.is_full() {
                tx.slot()[..n].copy_from_slice(&packet[..n]);
                tx.commit(0, server, n);
            }
            let before = tx.sent;
            tx.flush(&fds);
            sent += tx.sent - before;
        }
    }
    #[cfg(not(target_os = "linux"))]
    while Instant::now() < end {
        for _ in 0..64 {
            if sock.send_to(&packet[..n], server).is_ok() {
                sent += 1;
            }
        }
    }
    // Let the queues drain before the CPU time is read.
    thread::sleep(Duration::from_millis(200));
    mark();
    done.store(true, Ordering::Relaxed);
    let _ = counter.join();
    Ok((sent, relayed.load(Ordering::Relaxed)))
}

fn main() {
    let mut secs = 3.0;
    let mut size = 100;
    let mut rounds = 3;
    let mut workers = 0;
    let mut io = Io::Driver;
    let mut args = std::env::args().skip(1);
    let usage = "usage: turn-relay-bench [--seconds S] [--size BYTES] [--rounds N] \
                 [--io driver|tasks|std|std-threads|plain|mmsg|gso] [--workers N]";
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--size" => size = args.next().and_then(|v| v.parse().ok()).unwrap_or(size),
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            "--workers" => workers = args.next().and_then(|v| v.parse().ok()).unwrap_or(workers),
            "--io" => {
                io = match args.next().as_deref() {
                    Some("driver") => Io::Driver,
                    Some("tasks") => Io::Tasks,
                    Some("std") => Io::Std,
                    Some("std-threads") => Io::StdThreads,
                    Some("plain") => Io::Plain,
                    Some("mmsg") => Io::Mmsg,
                    Some("gso") => Io::Gso,
                    _ => {
                        eprintln!("--io takes driver, tasks, std, std-threads, plain, mmsg or gso");
                        std::process::exit(2);
                    }
                }
            }
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let hz = clock_ticks_per_second();
    let stop = Arc::new(AtomicBool::new(false));
    // kaon's server's CPU time so far: the sum over the threads it runs on.
    let mut std_driver = None;
    let (kaon_addr, kaon_ticks): (SocketAddr, Ticks) = if matches!(io, Io::Driver | Io::Tasks) {
        let (addr, stats) = spawn_kaon_driver(stop.clone(), workers, io == Io::Driver);
        let ticks_of = move || stats.lock().unwrap().iter().map(|p| cpu_ns(p, hz)).sum();
        (addr, Box::new(ticks_of))
    } else if matches!(io, Io::Std | Io::StdThreads) {
        let (addr, driver, stats) = spawn_kaon_std(io == Io::Std);
        std_driver = Some(driver);
        (
            addr,
            Box::new(move || stats.iter().map(|p| cpu_ns(p, hz)).sum()),
        )
    } else {
        let (addr, stat) = spawn_kaon(stop.clone(), io);
        thread::sleep(Duration::from_millis(100));
        let path = stat.lock().unwrap().clone();
        (addr, Box::new(move || cpu_ns(&path, hz)))
    };
    match io {
        Io::Driver => {
            println!("kaon's server: kaon-tokio's driver reading inline, {workers} worker threads")
        }
        Io::Tasks => println!(
            "kaon's server: kaon-tokio's driver with reader tasks, {workers} worker threads"
        ),
        Io::Std => println!("kaon's server: kaon-std's driver reading inline on one thread"),
        Io::StdThreads => println!("kaon's server: kaon-std's driver (a thread per socket)"),
        _ => println!("kaon's server: a blocking loop on one thread, {io:?}"),
    }
    thread::sleep(Duration::from_millis(100));
    let coturn = spawn_coturn();
    if coturn.is_none() {
        eprintln!("coturn (turnserver) not found: measuring kaon alone");
    }
    let coturn_stat = coturn
        .as_ref()
        .map(|(_, c)| format!("/proc/{}/stat", c.0.id()));
    let mut ratios = Vec::new();
    for round in 1..=rounds.max(1) {
        let mut per_cpu = Vec::new();
        let mut servers: Vec<(&str, SocketAddr, Ticks)> =
            vec![("kaon", kaon_addr, Box::new(&kaon_ticks))];
        if let (Some((addr, _)), Some(stat)) = (&coturn, &coturn_stat) {
            servers.push(("coturn", *addr, Box::new(move || cpu_ns(stat, hz))));
        }
        // Alternate which goes first, so neither always meets a warmer or cooler machine.
        if round % 2 == 0 {
            servers.reverse();
        }
        for (name, addr, ticks_now) in servers {
            let mut marks = Vec::new();
            match blast(addr, secs, size, || {
                marks.push((ticks_now(), Instant::now()))
            }) {
                Ok((sent, relayed)) => {
                    let cpu = (marks[1].0.saturating_sub(marks[0].0)) as f64 / 1e9;
                    let wall = marks[1].1.duration_since(marks[0].1).as_secs_f64();
                    let rate = if cpu > 0.0 {
                        relayed as f64 / cpu
                    } else {
                        f64::NAN
                    };
                    println!(
                        "round {round} {name:>7}: offered {:.0}/s, relayed {relayed} of {sent} ({:.1}%), {:.0}/s wall; server CPU {cpu:.2} s of {wall:.2} s wall ({:.0}% of a core), {rate:.0} packets per CPU-second",
                        sent as f64 / secs,
                        100.0 * relayed as f64 / sent.max(1) as f64,
                        relayed as f64 / wall,
                        100.0 * cpu / wall,
                    );
                    per_cpu.push((name, rate));
                }
                Err(e) => println!("round {round} {name:>7}: failed: {e}"),
            }
        }
        let k = per_cpu.iter().find(|(n, _)| *n == "kaon").map(|p| p.1);
        let c = per_cpu.iter().find(|(n, _)| *n == "coturn").map(|p| p.1);
        if let (Some(k), Some(c)) = (k, c) {
            println!(
                "round {round}: kaon / coturn, packets per CPU-second: {:.2}x",
                k / c
            );
            ratios.push(k / c);
        }
    }
    if !ratios.is_empty() {
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "kaon / coturn over {} rounds: min {min:.2}x, max {max:.2}x",
            ratios.len()
        );
    }
    if let Some(driver) = std_driver {
        println!("kaon's driver inbox: {:?}", driver.inbox_stats());
    }
    stop.store(true, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(300));
}

/// Batched UDP system calls on Linux: `recvmmsg` for many datagrams per call, `sendmmsg` for
/// many per call, and UDP GSO (`UDP_SEGMENT`) so a run of equal-size datagrams to one
/// destination crosses the kernel's send path once.
#[cfg(target_os = "linux")]
mod batch {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::RawFd;

    /// Datagrams per system call.
    pub const BATCH: usize = 64;
    /// Bytes per datagram slot (the bench relays small packets; larger ones are truncated).
    pub const SLOT: usize = 2048;
    /// `UDP_SEGMENT` from `<linux/udp.h>` (not in every libc target).
    const UDP_SEGMENT: libc::c_int = 103;
    /// A GSO batch stays under the 64 KiB an IP datagram can hold.
    const GSO_MAX_BYTES: usize = 65_000;

    fn to_sockaddr(a: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
        // SAFETY: sockaddr_storage is large and aligned enough for either form.
        unsafe {
            match a {
                SocketAddr::V4(v4) => {
                    let sin =
                        &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                    sin.sin_family = libc::AF_INET as libc::sa_family_t;
                    sin.sin_port = v4.port().to_be();
                    sin.sin_addr = libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    };
                    size_of::<libc::sockaddr_in>() as libc::socklen_t
                }
                SocketAddr::V6(v6) => {
                    let sin6 =
                        &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sin6.sin6_port = v6.port().to_be();
                    sin6.sin6_flowinfo = v6.flowinfo();
                    sin6.sin6_addr = libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    };
                    sin6.sin6_scope_id = v6.scope_id();
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t
                }
            }
        }
    }

    fn from_sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
        // SAFETY: the family field says which form the kernel wrote.
        unsafe {
            match i32::from(s.ss_family) {
                libc::AF_INET => {
                    let sin = &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                    Some(SocketAddr::V4(SocketAddrV4::new(
                        sin.sin_addr.s_addr.to_ne_bytes().into(),
                        u16::from_be(sin.sin_port),
                    )))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                    Some(SocketAddr::V6(SocketAddrV6::new(
                        sin6.sin6_addr.s6_addr.into(),
                        u16::from_be(sin6.sin6_port),
                        sin6.sin6_flowinfo,
                        sin6.sin6_scope_id,
                    )))
                }
                _ => None,
            }
        }
    }

    /// Up to [`BATCH`] received datagrams.
    pub struct RecvBatch {
        bufs: Vec<u8>,
        addrs: Vec<libc::sockaddr_storage>,
        lens: Vec<usize>,
    }

    impl RecvBatch {
        pub fn new() -> Self {
            Self {
                bufs: vec![0; BATCH * SLOT],
                // SAFETY: all-zero is a valid sockaddr_storage.
                addrs: vec![unsafe { zeroed() }; BATCH],
                lens: vec![0; BATCH],
            }
        }

        /// One `recvmmsg`: `wait` blocks (up to the socket's read timeout) for the first
        /// datagram, then takes what is queued; otherwise it never blocks. Returns how many.
        pub fn recv(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
            // SAFETY: all-zero iovecs and headers are valid; every pointer set below points
            // into `self`, which outlives the call.
            let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
            for (i, (iov, h)) in iovs.iter_mut().zip(hdrs.iter_mut()).enumerate() {
                iov.iov_base = self.bufs[i * SLOT..].as_mut_ptr().cast();
                iov.iov_len = SLOT;
                h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
            }
            let flags = if wait {
                libc::MSG_WAITFORONE
            } else {
                libc::MSG_DONTWAIT
            };
            // SAFETY: `hdrs` holds BATCH valid headers.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    hdrs.as_mut_ptr(),
                    BATCH as u32,
                    flags,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            for (len, h) in self.lens.iter_mut().zip(&hdrs).take(n) {
                *len = h.msg_len as usize;
            }
            Ok(n)
        }

        /// The `i`th datagram of the last [`recv`](Self::recv): its source and bytes.
        pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
            let from = from_sockaddr(&self.addrs[i])?;
            Some((
                from,
                &self.bufs[i * SLOT..i * SLOT + self.lens[i].min(SLOT)],
            ))
        }
    }

    /// Up to [`BATCH`] datagrams to send, written in place by the protocol's `poll_transmit`.
    pub struct SendBatch {
        bufs: Vec<u8>,
        /// (socket index, destination, length) per queued datagram.
        meta: Vec<(usize, SocketAddr, usize)>,
        /// Whether runs of equal-size datagrams go out as one GSO send.
        pub gso: bool,
        /// System calls made, datagrams handed to them.
        pub calls: u64,
        pub sent: u64,
    }

    impl SendBatch {
        pub fn new(gso: bool) -> Self {
            Self {
                bufs: vec![0; BATCH * SLOT],
                meta: Vec::with_capacity(BATCH),
                gso,
                calls: 0,
                sent: 0,
            }
        }

        pub fn is_full(&self) -> bool {
            self.meta.len() == BATCH
        }

        /// The buffer the next datagram is written into.
        pub fn slot(&mut self) -> &mut [u8] {
            let i = self.meta.len();
            &mut self.bufs[i * SLOT..(i + 1) * SLOT]
        }

        /// The datagram just written into [`slot`](Self::slot) goes from socket `socket`.
        pub fn commit(&mut self, socket: usize, destination: SocketAddr, len: usize) {
            self.meta.push((socket, destination, len));
        }

        /// Sends everything queued, one `sendmmsg` per run of datagrams from one socket.
        pub fn flush(&mut self, fds: &[RawFd]) {
            let mut start = 0;
            while start < self.meta.len() {
                let socket = self.meta[start].0;
                let end = self.meta[start..]
                    .iter()
                    .position(|m| m.0 != socket)
                    .map_or(self.meta.len(), |p| start + p);
                self.send_run(fds[socket], start, end);
                start = end;
            }
            self.meta.clear();
        }

        fn send_run(&mut self, fd: RawFd, start: usize, end: usize) {
            // SAFETY: as in `RecvBatch::recv`: zeroed structures are valid, and every pointer
            // points into locals or `self`, alive across the call.
            let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
            let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
            // Room for one UDP_SEGMENT control message per header, 8-byte aligned.
            let mut control = [[0u64; 4]; BATCH];
            let mut messages = 0;
            let mut i = start;
            while i < end {
                let (_, destination, len) = self.meta[i];
                // A GSO run: datagrams to the same destination, all `len` long but the last,
                // which may be shorter (the kernel cuts the payload every `len` bytes).
                let mut j = i + 1;
                if self.gso {
                    while j < end
                        && self.meta[j].1 == destination
                        && self.meta[j].2 <= len
                        && (j - i + 1) * len <= GSO_MAX_BYTES
                        && j - i < BATCH
                    {
                        j += 1;
                        if self.meta[j - 1].2 < len {
                            break;
                        }
                    }
                }
                for k in i..j {
                    iovs[k - start].iov_base = self.bufs[k * SLOT..].as_mut_ptr().cast();
                    iovs[k - start].iov_len = self.meta[k].2;
                }
                let h = &mut hdrs[messages].msg_hdr;
                h.msg_namelen = to_sockaddr(destination, &mut names[messages]);
                h.msg_name = (&mut names[messages] as *mut libc::sockaddr_storage).cast();
                h.msg_iov = &mut iovs[i - start];
                h.msg_iovlen = j - i;
                if j - i > 1 {
                    h.msg_control = control[messages].as_mut_ptr().cast();
                    // SAFETY: CMSG_SPACE is a pure size computation.
                    h.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as usize;
                    // SAFETY: the control buffer is CMSG_SPACE(2) bytes or more, aligned.
                    unsafe {
                        let c = libc::CMSG_FIRSTHDR(h);
                        (*c).cmsg_level = libc::SOL_UDP;
                        (*c).cmsg_type = UDP_SEGMENT;
                        (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
                        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), len as u16);
                    }
                }
                messages += 1;
                i = j;
            }
            let mut done = 0;
            while done < messages {
                // SAFETY: headers `done..messages` are filled in above.
                let n = unsafe {
                    libc::sendmmsg(fd, hdrs[done..].as_mut_ptr(), (messages - done) as u32, 0)
                };
                self.calls += 1;
                if n <= 0 {
                    // A full send buffer or an error drops the rest, as one send_to would.
                    break;
                }
                done += n as usize;
            }
            self.sent += (end - start) as u64;
        }
    }
}
