//! What mDNS costs a PeerConnection: the heap of a connected, idle peer that hides its address
//! and resolved its peer's name, against the same peer without mDNS; and that the steady-state
//! message path allocates nothing more with mDNS on.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::dtls::Identity;
use kaon::peer::{MdnsOptions, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::{Datagram, Protocol};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Carries datagrams between the two (a multicast to the group reaches the other one: the
/// link has two hosts), jumping virtual time to the next deadline when nothing moves.
fn run(a: &mut PeerConnection, b: &mut PeerConnection, now: &mut Instant, until: Instant) {
    let mut buf = vec![0u8; 2048];
    while *now < until {
        let mut moved = false;
        for from_a in [true, false] {
            let (from, to) = if from_a {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(t) = from.poll_transmit(*now, &mut buf) {
                moved = true;
                to.handle_datagram(
                    *now,
                    Datagram {
                        source: t.source,
                        destination: t.destination,
                        contents: &buf[..t.len],
                    },
                );
            }
        }
        for pc in [&mut *a, &mut *b] {
            while pc.poll_event().is_some() {}
        }
        if !moved {
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            *now = next.clamp(*now, until);
            a.handle_timeout(*now);
            b.handle_timeout(*now);
        }
    }
}

/// Two peers connected with `chat` open, each with or without mDNS, at `now`.
fn connected(mdns: bool) -> (PeerConnection, PeerConnection, u16, Instant) {
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let peer = |seed, id: &Identity, ip: &str| {
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(id.clone()),
            mdns: if mdns {
                MdnsOptions::browser_like()
            } else {
                MdnsOptions::default()
            },
            ..PeerConfig::with_seed(seed)
        })
        .unwrap();
        pc.add_local_address(format!("{ip}:5000").parse().unwrap())
            .unwrap();
        pc.add_mdns_socket(format!("{ip}:5353").parse::<SocketAddr>().unwrap());
        pc
    };
    let mut now = Instant::now();
    let mut a = peer(1, &ida, "192.0.2.1");
    let mut b = peer(2, &idb, "192.0.2.2");
    let id = a
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    assert_eq!(offer.to_string().contains(".local"), mdns);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let t0 = now;
    run(&mut a, &mut b, &mut now, t0 + Duration::from_secs(2));
    assert_eq!(a.connection_state(), kaon::peer::ConnectionState::Connected);
    (a, b, id, now)
}

fn idle_heap(mdns: bool) -> isize {
    let (mut a, mut b, id, mut now) = connected(mdns);
    for _ in 0..10 {
        a.send_text(now, id, "ping").unwrap();
        b.send_text(now, id, "ping").unwrap();
        let step = now + Duration::from_millis(20);
        run(&mut a, &mut b, &mut now, step);
    }
    let idle = now + Duration::from_secs(60);
    run(&mut a, &mut b, &mut now, idle);
    if mdns {
        let m = a.mdns().expect("a responder");
        assert!(m.stats().answered >= 1 && m.stats().queries_sent >= 1);
        assert!(a.ice().unresolved_remote_names().is_empty());
    }
    let before = live_bytes();
    drop(a);
    before - live_bytes() + std::mem::size_of::<PeerConnection>() as isize
}

#[test]
fn mdns_adds_little_to_an_idle_connection() {
    let without = idle_heap(false);
    let with = idle_heap(true);
    eprintln!(
        "connected, idle, one channel: {without} B without mDNS, {with} B hiding its address \
         and having resolved the peer's name (+{} B)",
        with - without
    );
    assert!(with - without < 2048, "{with} vs {without}");
    assert!(with < 24 * 1024, "{with} B");
}

#[test]
fn steady_state_messages_allocate_only_their_payload_with_mdns_on() {
    let (mut a, mut b, id, mut now) = connected(true);
    let msg = bytes::Bytes::from(vec![7u8; 1000]);
    let mut buf = vec![0u8; 2048];
    let (mut allocs, mut delivered) = (0, 0);
    for round in 0..100 {
        let before = allocations();
        for _ in 0..20 {
            a.send_message(now, id, msg.clone(), true).unwrap();
        }
        loop {
            let mut moved = false;
            for from_a in [true, false] {
                let (from, to) = if from_a {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                while let Some(t) = from.poll_transmit(now, &mut buf) {
                    moved = true;
                    to.handle_datagram(
                        now,
                        Datagram {
                            source: t.source,
                            destination: t.destination,
                            contents: &buf[..t.len],
                        },
                    );
                }
            }
            while let Some(e) = b.poll_event() {
                if let PeerEvent::Message { data, .. } = e {
                    assert_eq!(data.len(), 1000);
                    if round >= 50 {
                        delivered += 1;
                    }
                }
            }
            while a.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
        if round >= 50 {
            allocs += allocations() - before;
        }
        now += Duration::from_millis(1);
        for pc in [&mut a, &mut b] {
            if pc.poll_timeout().is_some_and(|t| t <= now) {
                pc.handle_timeout(now);
            }
        }
    }
    let per = allocs as f64 / delivered as f64;
    eprintln!("{allocs} allocations for {delivered} messages: {per:.2} per message");
    assert!(per <= 1.05, "{per}");
}
