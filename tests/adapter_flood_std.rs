//! kaon-std under a datagram flood: two connected peers exchange data channel messages on
//! loopback while other sockets spray random datagrams at one of them. The flooded peer's
//! driver is also stalled now and then (a slow command), as a busy application would, so its
//! inbox fills whatever the speed of this machine: memory must stay bounded, the overflow must
//! be counted, and every message must still arrive, none of them late by more than [`LATE`].

mod adapter_flood_support;

use adapter_flood_support as support;
use bytes::Bytes;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon_std::{DEFAULT_INBOX_DATAGRAMS, PeerConnection};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: support::Global = support::Global;

const PATIENCE: Duration = Duration::from_secs(20);
/// The flood: this many sockets, each sending this many random datagrams a second (about
/// 12 MB/s together). Paced, so that the test measures the adapter rather than a fight for a
/// small machine's cores between the flooders and the peers: past what the reader can take,
/// the kernel drops at the socket, legitimate datagrams among them, whatever the adapter does.
/// The stalls below make the inbox overflow whatever this rate.
const FLOOD_THREADS: usize = 2;
const FLOOD_RATE: u32 = 10_000;
/// Messages each way while the flood runs.
const MESSAGES: u32 = 60;
/// Every this many messages the flooded driver is stalled for [`STALL`].
const STALL_EVERY: u32 = 10;
const STALL: Duration = Duration::from_millis(150);
/// The slowest echo allowed. The flooders' addresses fill the inbox's capacity and the peer's
/// datagrams still get in through its headroom (a fair share per source), so echoes normally
/// take milliseconds; the bound leaves room for a stall plus two SCTP retransmissions
/// (RFC 9260 §6.3.1 and §6.3.3: RTO.Initial is 1 s, doubled on expiry) of a datagram the
/// kernel dropped at the socket on a loaded machine.
const LATE: Duration = Duration::from_secs(4);
/// The most the heap may grow under the flood: the inbox's datagrams (its capacity and
/// headroom, at most 1,200 bytes each in this flood, 2 KiB of buffer) and more than as much
/// again for everything else. An unbounded
/// queue of 64 KiB receive buffers, as before, would grow by hundreds of megabytes in one
/// stall at loopback rates.
const HEAP_BOUND: isize = 3 * (DEFAULT_INBOX_DATAGRAMS as isize) * 2048;

#[test]
fn a_flooded_peer_keeps_memory_bounded_counts_drops_and_keeps_chatting() {
    let socket_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = socket_b.local_addr().unwrap();
    let a = PeerConnection::new(PeerConfig::default(), vec![socket_a]).unwrap();
    let b = PeerConnection::new(PeerConfig::default(), vec![socket_b]).unwrap();

    let ours = a
        .create_data_channel("chat", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    assert!(ours.wait_open_timeout(PATIENCE).unwrap(), "never opened");
    let theirs = b.accept_data_channel_timeout(PATIENCE).unwrap();

    // The flooded side echoes everything.
    let echo = std::thread::spawn(move || {
        while let Some(m) = theirs.recv() {
            if theirs.send(m.data).is_err() {
                break;
            }
        }
    });
    // Warm up, so the baseline includes the connection's steady-state buffers.
    for i in 0..5u32 {
        ours.send(Bytes::from(i.to_be_bytes().to_vec())).unwrap();
        ours.recv_timeout(PATIENCE).unwrap();
    }

    let baseline = support::live_bytes();
    support::reset_peak();
    let flood = support::Flood::start(target, FLOOD_THREADS, FLOOD_RATE, 7);
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..MESSAGES {
        if i % STALL_EVERY == 0 {
            // A slow command on the flooded driver: its inbox fills meanwhile.
            b.call(|_, _| std::thread::sleep(STALL)).unwrap();
        }
        let sent = Instant::now();
        let payload = Bytes::from(format!("message {i}").into_bytes());
        ours.send(payload.clone()).unwrap();
        let back = ours
            .recv_timeout(PATIENCE)
            .expect("the echo never came back");
        assert_eq!(back.data, payload, "echoes arrive in order");
        slowest = slowest.max(sent.elapsed());
    }
    let elapsed = start.elapsed();
    let flooded = flood.stop();
    let peak = support::peak_bytes() - baseline;
    let inbox = b.inbox_stats();
    println!(
        "kaon-std flood: {flooded} datagrams in {elapsed:?}; {MESSAGES} echoes, slowest \
         {slowest:?}; inbox {inbox:?}; heap peak {peak} bytes above the connected baseline \
         (bound {HEAP_BOUND}); rss {:?} KiB",
        support::rss_kib()
    );
    assert!(
        inbox.dropped > 0,
        "the flood never overflowed the inbox: {inbox:?}"
    );
    assert!(
        inbox.high_water <= inbox.capacity + inbox.headroom,
        "{inbox:?}"
    );
    assert!(
        peak < HEAP_BOUND,
        "the heap grew by {peak} bytes under the flood (bound {HEAP_BOUND})"
    );
    assert!(slowest < LATE, "an echo took {slowest:?}");
    // The unflooded side saw nothing to drop.
    assert_eq!(a.inbox_stats().dropped, 0);

    a.close().unwrap();
    drop(ours);
    echo.join().unwrap();
}
