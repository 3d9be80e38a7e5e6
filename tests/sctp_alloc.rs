//! Steady-state allocations per packet: none on the send path (send, bundling, SACK
//! processing, SACK generation); on the receive path one per message, its payload, which the
//! application receives as `Bytes`.

use kaon::sctp::{Association, Config, Event, SendOptions};
use std::time::{Duration, Instant};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_connected_idle_data_channel_endpoint_is_small() {
    use kaon::datachannel::{ChannelConfig, Config as DcConfig, DataChannels, Role};
    let cfg = |seed, role| {
        let mut c = DcConfig::new(role);
        c.sctp.seed = Some(seed);
        c
    };
    let before = live_bytes();
    let mut a = Box::new(DataChannels::new(cfg(1, Role::Client)));
    let mut b = Box::new(DataChannels::new(cfg(2, Role::Server)));
    let now = Instant::now();
    a.connect(now);
    b.connect(now);
    let id = a
        .create_channel(now, ChannelConfig::labelled("chat"))
        .unwrap();
    let mut buf = [0u8; 1200];
    for _ in 0..10 {
        a.send_text(now, id, "hi").unwrap();
        while let Some(n) = a.poll_packet(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    let each = (live_bytes() - before) / 2;
    eprintln!(
        "connected, idle, one channel: {each} B per endpoint ({} B of it the struct)",
        std::mem::size_of::<DataChannels>()
    );
    // DESIGN.md wants a whole idle PeerConnection with one channel under 24 KiB.
    assert!(each < 12 * 1024, "{each}");
}

#[test]
fn steady_state_allocations_per_packet() {
    for zero_checksum in [false, true] {
        let cfg = |seed| Config {
            seed: Some(seed),
            zero_checksum,
            heartbeat_interval: None,
            initial_cwnd_mtus: 400,
            ..Config::default()
        };
        let (mut a, mut b) = (Association::new(cfg(1)), Association::new(cfg(2)));
        let mut now = Instant::now();
        a.connect(now);
        let msg = bytes::Bytes::from(vec![7u8; 1000]);
        let mut wire: Vec<Vec<u8>> = (0..512).map(|_| vec![0u8; 1200]).collect();
        // The wire is a fixed set of buffers; SACKs go straight back through one more.
        let mut lens = vec![0usize; 512];
        let mut sacks = vec![0u8; 1200];
        let (mut send_allocs, mut recv_allocs, mut packets, mut delivered) = (0, 0, 0, 0);
        for round in 0..200 {
            let measure = round >= 100;
            // Sender: queue messages and write packets.
            let before = allocations();
            for _ in 0..200 {
                a.send(now, 0, 53, msg.clone(), SendOptions::default())
                    .unwrap();
            }
            let mut n = 0;
            while n < wire.len() {
                let Some(len) = a.poll_packet(now, &mut wire[n]) else {
                    break;
                };
                lens[n] = len;
                n += 1;
            }
            let sent = allocations() - before;
            // Receiver: take the packets, hand messages to the application, write SACKs.
            let before = allocations();
            for i in 0..n {
                b.handle_packet(now, &wire[i][..lens[i]]);
            }
            while let Some(e) = b.poll_event() {
                if let Event::Message(m) = e {
                    delivered += usize::from(measure);
                    drop(m);
                }
            }
            let received = allocations() - before;
            // SACKs: written by b and processed by a one at a time, into one buffer.
            let before = allocations();
            while let Some(len) = b.poll_packet(now, &mut sacks) {
                a.handle_packet(now, &sacks[..len]);
            }
            let sack_path = allocations() - before;
            if measure {
                send_allocs += sent + sack_path;
                recv_allocs += received;
                packets += n;
            }
            now += Duration::from_millis(1);
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
        let per_packet_send = send_allocs as f64 / packets as f64;
        let per_message_recv = recv_allocs as f64 / delivered as f64;
        eprintln!(
            "zero_checksum={zero_checksum}: {packets} packets, {delivered} messages; send path {per_packet_send:.3} allocations/packet, receive path {per_message_recv:.3}/message"
        );
        assert!(packets > 10_000);
        assert!(per_packet_send < 0.01, "{per_packet_send}");
        assert!(per_message_recv <= 1.01, "{per_message_recv}");
    }
}
