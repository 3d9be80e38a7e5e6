//! Memory of a whole PeerConnection: what a connected, idle peer with one data channel keeps
//! on the heap (DESIGN.md: under 24 KiB), measured by dropping it and counting what the
//! allocator gets back.

use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::dtls::{Identity, VersionPolicy};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::{Datagram, Protocol};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Carries datagrams between the two in memory, jumping virtual time to the next deadline
/// when nothing moves, until `until` is reached.
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
            while let Some(e) = pc.poll_event() {
                if let PeerEvent::Message { data, .. } = e {
                    assert_eq!(&data[..], b"ping");
                }
            }
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

/// Two peers speaking `dtls`, connected and with `chat` open, at `now`.
fn connected_with(dtls: VersionPolicy) -> (PeerConnection, PeerConnection, u16, Instant) {
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let peer = |seed, id: &Identity, addr: &str| {
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(id.clone()),
            dtls_versions: dtls,
            ..PeerConfig::with_seed(seed)
        })
        .unwrap();
        pc.add_local_address(addr.parse().unwrap()).unwrap();
        pc
    };
    let mut now = Instant::now();
    let mut a = peer(1, &ida, "192.0.2.1:5000");
    let mut b = peer(2, &idb, "192.0.2.2:5000");
    let id = a
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let t0 = now;
    run(&mut a, &mut b, &mut now, t0 + Duration::from_secs(1));
    (a, b, id, now)
}

/// Two peers with the default configuration (DTLS 1.3 between two kaon peers).
fn connected() -> (PeerConnection, PeerConnection, u16, Instant) {
    connected_with(PeerConfig::default().dtls_versions)
}

/// What one connected, idle PeerConnection with one channel holds, its struct included.
fn idle_bytes(dtls: VersionPolicy) -> isize {
    let (mut a, mut b, id, mut now) = connected_with(dtls);
    for _ in 0..10 {
        a.send_text(now, id, "ping").unwrap();
        b.send_text(now, id, "ping").unwrap();
        let step = now + Duration::from_millis(20);
        run(&mut a, &mut b, &mut now, step);
    }
    // Idle long enough for consent checks, heartbeats and delayed acks to settle.
    let idle = now + Duration::from_secs(60);
    run(&mut a, &mut b, &mut now, idle);
    assert_eq!(a.connection_state(), kaon::peer::ConnectionState::Connected);

    let before = live_bytes();
    drop(a);
    let each = before - live_bytes();
    eprintln!(
        "{dtls:?}: connected, idle, one channel: {each} B per PeerConnection ({} B of it the \
         struct, inline)",
        std::mem::size_of::<PeerConnection>()
    );
    let each = each + std::mem::size_of::<PeerConnection>() as isize;
    eprintln!("{dtls:?}: with the struct itself: {each} B");
    each
}

#[test]
fn a_connected_idle_peer_with_one_channel_is_small() {
    // Issue 11: no regression from the 19.4 KiB measured (with DTLS 1.2, the only version
    // then) before media, mDNS and TURN streams arrived.
    let v12 = idle_bytes(VersionPolicy::Dtls12);
    assert!(
        v12 as f64 <= 19.4 * 1024.0,
        "{v12} B: more than the 19.4 KiB of issue 11"
    );
    // The default speaks DTLS 1.3 to a peer that offers it, as kaon does: its epoch-3 keys
    // (aws-lc's header-protection keys keep both AES schedules inline) cost about 1.6 KiB
    // more. DESIGN.md's budget is 24 KiB (str0m measures ~50 KB per connection here).
    let v13 = idle_bytes(VersionPolicy::Dtls13OrDtls12);
    assert!(v13 < 21 * 1024, "{v13} B with DTLS 1.3");
}

#[test]
fn steady_state_messages_allocate_only_their_payload() {
    let (mut a, mut b, id, mut now) = connected();
    let msg = bytes::Bytes::from(vec![7u8; 1000]);
    let mut buf = vec![0u8; 2048];
    let (mut allocs, mut delivered) = (0, 0);
    for round in 0..200 {
        let before = allocations();
        for _ in 0..20 {
            a.send_message(now, id, msg.clone(), true).unwrap();
        }
        // Carry everything both ways until both sides are quiet.
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
                    if round >= 100 {
                        delivered += 1;
                    }
                }
            }
            while a.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
        if round >= 100 {
            allocs += allocations() - before;
        }
        // Timers run when due, as a driver would run them.
        now += Duration::from_millis(1);
        for pc in [&mut a, &mut b] {
            if pc.poll_timeout().is_some_and(|t| t <= now) {
                pc.handle_timeout(now);
            }
        }
    }
    let per = allocs as f64 / delivered as f64;
    eprintln!("{allocs} allocations for {delivered} messages: {per:.2} per message");
    // None per message: a message in one chunk reaches the application as a slice of the
    // record DTLS decrypted it into, and those records are split off arenas that come back
    // once the messages are dropped. Nothing per packet either.
    assert!(per <= 0.05, "{per}");
}
