//! Reliable transfers over lossy, reordering, duplicating links, and message sizes.
//!
//! The big transfers run at full size in release builds (`cargo test --release --test
//! sctp_transfer`) and scaled down in debug builds so the default `cargo test` stays quick;
//! each test prints which size it ran.

mod sctp_link;

use kaon::sctp::{Association, Config, Error, Event, SendOptions};
use sctp_link::{LinkConfig, Pair};
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

fn cfg(seed: u64) -> Config {
    Config {
        seed: Some(seed),
        ..Config::default()
    }
}

fn connected(
    a: Config,
    b: Config,
    ab: LinkConfig,
    ba: LinkConfig,
    seed: u64,
) -> Pair<Association, Association> {
    let mut p = Pair::new(Association::new(a), Association::new(b), ab, ba, seed);
    let now = p.now;
    p.a.connect(now);
    p.b.connect(now);
    assert!(p.run(Duration::from_secs(120), |p| p.a.is_established()
        && p.b.is_established()));
    while p.a.poll_event().is_some() {}
    while p.b.poll_event().is_some() {}
    p
}

/// The byte at `offset` of the transfer: a pattern no reordering or duplication can fake.
fn byte_at(offset: usize) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Sends `total` bytes from a to b on one reliable ordered stream in messages of `msg`
/// bytes, checking every byte in order; returns the virtual time taken.
fn transfer(
    p: &mut Pair<Association, Association>,
    total: usize,
    msg: usize,
    limit: Duration,
) -> Duration {
    let start = p.now;
    let (mut sent, mut received) = (0usize, 0usize);
    let done = p.run(limit, |p| {
        while sent < total {
            let n = msg.min(total - sent);
            let data: Vec<u8> = (sent..sent + n).map(byte_at).collect();
            match p.a.send(p.now, 1, 53, data, SendOptions::default()) {
                Ok(()) => sent += n,
                Err(Error::SendBufferFull { .. }) => break,
                Err(e) => panic!(
                    "{e}: {:?}",
                    std::iter::from_fn(|| p.a.poll_event()).collect::<Vec<_>>()
                ),
            }
        }
        while let Some(e) = p.b.poll_event() {
            if let Event::Message(m) = e {
                for (i, &b) in m.data.iter().enumerate() {
                    assert_eq!(b, byte_at(received + i), "byte {} wrong", received + i);
                }
                received += m.data.len();
            }
        }
        received == total
    });
    assert!(
        done,
        "only {received} of {total} bytes arrived in {limit:?}: a={:?} b={:?}",
        p.a.stats(),
        p.b.stats()
    );
    p.now - start
}

fn scaled(release: usize, debug: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

#[test]
fn reliable_ordered_64mib_arrives_exact_under_5pct_loss_reordering_and_duplication() {
    let total = scaled(64 * MIB, 4 * MIB);
    let link = LinkConfig {
        loss: 0.05,
        reorder: 0.02,
        reorder_delay: Duration::from_millis(5),
        duplicate: 0.01,
        bandwidth: Some(100_000_000),
        queue: 1_000_000,
        ..LinkConfig::rtt(Duration::from_millis(50))
    };
    let mut p = connected(cfg(1), cfg(2), link.clone(), link, 11);
    let wall = Instant::now();
    let t = transfer(&mut p, total, 64 * 1024, Duration::from_secs(3600));
    let a = p.a.stats();
    eprintln!(
        "{} MiB at 5% loss, 50 ms RTT, 100 Mbit/s: {:.1} s simulated ({:.1} Mbit/s), {:.2} s wall; {} retransmissions, {} fast recoveries, {} timeouts",
        total / MIB,
        t.as_secs_f64(),
        total as f64 * 8.0 / t.as_secs_f64() / 1e6,
        wall.elapsed().as_secs_f64(),
        a.retransmissions,
        a.fast_recoveries,
        a.timeouts
    );
    assert!(p.b.stats().duplicates_received > 0);
}

#[test]
fn reliable_transfer_still_completes_at_30pct_loss() {
    let total = scaled(64 * MIB, 2 * MIB);
    let link = LinkConfig {
        loss: 0.3,
        bandwidth: Some(100_000_000),
        queue: 1_000_000,
        ..LinkConfig::rtt(Duration::from_millis(50))
    };
    let mut p = connected(cfg(3), cfg(4), link.clone(), link, 12);
    let wall = Instant::now();
    let t = transfer(&mut p, total, 16 * 1024, Duration::from_secs(24 * 3600));
    eprintln!(
        "{} MiB at 30% loss: {:.1} s simulated ({:.2} Mbit/s), {:.2} s wall, {:?}",
        total / MIB,
        t.as_secs_f64(),
        total as f64 * 8.0 / t.as_secs_f64() / 1e6,
        wall.elapsed().as_secs_f64(),
        p.a.stats()
    );
}

#[test]
fn message_sizes_from_empty_to_the_limit_and_one_over() {
    for interleaving in [false, true] {
        let c = |seed| Config {
            interleaving,
            ..cfg(seed)
        };
        let link = LinkConfig {
            loss: 0.02,
            ..LinkConfig::rtt(Duration::from_millis(20))
        };
        let mut p = connected(c(5), c(6), link.clone(), link, 13);
        let sizes = [0usize, 1, 1199, 1200, 65535, 262_144];
        let now = p.now;
        for (i, &n) in sizes.iter().enumerate() {
            // Empty messages are the data channel's business (PPIDs 56/57); SCTP itself
            // needs at least one byte, so the zero-size case goes as one byte here.
            let data: Vec<u8> = (0..n.max(1)).map(|k| byte_at(k + i)).collect();
            p.a.send(now, i as u16, 53, data, SendOptions::default())
                .unwrap();
        }
        let over =
            p.a.send(now, 0, 53, vec![0; 262_145], SendOptions::default());
        assert_eq!(
            over,
            Err(Error::MessageTooLarge {
                size: 262_145,
                max: 262_144
            })
        );
        let mut got = vec![None; sizes.len()];
        assert!(p.run(Duration::from_secs(60), |p| {
            while let Some(e) = p.b.poll_event() {
                if let Event::Message(m) = e {
                    got[m.stream as usize] = Some(m.data);
                }
            }
            got.iter().all(Option::is_some)
        }));
        for (i, &n) in sizes.iter().enumerate() {
            let d = got[i].as_ref().unwrap();
            assert_eq!(d.len(), n.max(1));
            assert!(d.iter().enumerate().all(|(k, &b)| b == byte_at(k + i)));
        }
    }
}

#[test]
fn a_64k_peer_limit_is_enforced_at_send() {
    let mut a = Association::new(Config {
        max_message_size: 65536,
        ..cfg(1)
    });
    let now = Instant::now();
    assert!(
        a.send(now, 0, 53, vec![0; 65536], SendOptions::default())
            .is_ok()
    );
    assert!(matches!(
        a.send(now, 0, 53, vec![0; 65537], SendOptions::default()),
        Err(Error::MessageTooLarge { .. })
    ));
}

#[test]
fn message_in_one_chunk_arrives_as_a_slice_of_the_packet_bytes() {
    let mut p = connected(
        cfg(7),
        cfg(8),
        LinkConfig::default(),
        LinkConfig::default(),
        9,
    );
    let now = p.now;
    let mut buf = vec![0u8; 1500];
    // Flush whatever the handshake left (a SACK, a heartbeat) so the next packet is the DATA.
    while let Some(n) = p.a.poll_packet(now, &mut buf) {
        p.b.handle_packet(now, &buf[..n]);
    }
    while p.b.poll_event().is_some() {}
    p.a.send(now, 1, 53, vec![0x42; 1000], SendOptions::default())
        .unwrap();
    let n = p.a.poll_packet(now, &mut buf).unwrap();
    let packet = bytes::Bytes::copy_from_slice(&buf[..n]);
    p.b.handle_packet_bytes(now, &packet);
    let m = std::iter::from_fn(|| p.b.poll_event())
        .find_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(m.data, vec![0x42; 1000]);
    let inside = packet.as_ptr_range();
    assert!(inside.contains(&m.data.as_ptr()), "the payload was copied");
}
