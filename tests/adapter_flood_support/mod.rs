//! Shared by the adapter flood tests: a process-wide heap counter with a peak, and a flooder
//! that sprays random datagrams (junk, STUN-shaped, DTLS-shaped) at an address from its own
//! sockets until told to stop.
#![allow(dead_code)] // each test binary uses a different part

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Counts live heap bytes over all threads, and the highest count since the last
/// [`reset_peak`].
pub struct Global;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only updates two atomics.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = layout.size() as isize;
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let delta = new_size as isize - layout.size() as isize;
        let live = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap bytes live in the whole process now.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the current live bytes.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The most heap bytes live at once since [`reset_peak`].
pub fn peak_bytes() -> isize {
    PEAK.load(Ordering::Relaxed)
}

/// The resident set size in KiB, where the system reports it (Linux), for the log.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Random datagrams sent at a target from a few loopback sockets of their own.
pub struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Flood {
    /// Starts `threads` flooding threads, each with its own socket and seed, each sending
    /// about `rate` datagrams a second.
    pub fn start(target: SocketAddr, threads: usize, rate: u32, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let threads = (0..threads as u64)
            .map(|i| {
                let (stop, sent) = (stop.clone(), sent.clone());
                thread::spawn(move || flood(target, rate, seed + i, &stop, &sent))
            })
            .collect();
        Self {
            stop,
            sent,
            threads,
        }
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the flood; returns how many datagrams it sent.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.sent.load(Ordering::Relaxed)
    }
}

/// Bursts per second: the rate is paced in bursts of `rate / TICKS` datagrams.
const TICKS: u32 = 100;

fn flood(target: SocketAddr, rate: u32, seed: u64, stop: &AtomicBool, sent: &AtomicU64) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut buf = [0u8; 1200];
    let burst = (rate / TICKS).max(1);
    let tick = Duration::from_secs(1) / TICKS;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..burst {
            let len = junk(&mut rng, &mut buf);
            if socket.send_to(&buf[..len], target).is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        next += tick;
        // Behind schedule (a loaded machine): send the next burst at once, never a backlog.
        let now = Instant::now();
        match next.checked_duration_since(now) {
            Some(wait) => thread::sleep(wait),
            None => next = now,
        }
    }
}

/// One random datagram in `buf`: pure junk, or shaped like a STUN Binding request or a DTLS
/// application-data record so that it gets past RFC 7983 demultiplexing into a parser.
fn junk(rng: &mut XorShift, buf: &mut [u8; 1200]) -> usize {
    let len = 1 + (rng.next() % 1200) as usize;
    for chunk in buf[..len].chunks_mut(8) {
        let r = rng.next().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    match rng.next() % 3 {
        0 if len >= 20 => {
            // RFC 8489 §5: a Binding request header with the magic cookie.
            buf[..2].copy_from_slice(&[0x00, 0x01]);
            buf[2..4].copy_from_slice(&((len - 20) as u16 & !3).to_be_bytes());
            buf[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        }
        1 if len >= 13 => {
            // RFC 6347 §4.1: an application-data record of DTLS 1.2, epoch 1.
            buf[..5].copy_from_slice(&[23, 0xfe, 0xfd, 0, 1]);
            buf[11..13].copy_from_slice(&((len - 13) as u16).to_be_bytes());
        }
        _ => {}
    }
    len
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
