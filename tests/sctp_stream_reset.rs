//! Stream reset (RFC 6525) and zero checksum (RFC 9653).

mod sctp_link;

use kaon::sctp::{Association, Config, Event, SendOptions, StreamList};
use sctp_link::{LinkConfig, Pair};
use std::time::{Duration, Instant};

fn cfg(seed: u64) -> Config {
    Config {
        seed: Some(seed),
        ..Config::default()
    }
}

fn connected(a: Config, b: Config, link: LinkConfig, seed: u64) -> Pair<Association, Association> {
    let mut p = Pair::new(
        Association::new(a),
        Association::new(b),
        link.clone(),
        link,
        seed,
    );
    let now = p.now;
    p.a.connect(now);
    p.b.connect(now);
    assert!(p.run(Duration::from_secs(60), |p| p.a.is_established()
        && p.b.is_established()));
    while p.a.poll_event().is_some() {}
    while p.b.poll_event().is_some() {}
    p
}

fn list(s: &[u16]) -> StreamList {
    StreamList::from_slice(s)
}

#[test]
fn both_sides_reset_a_stream_and_reuse_its_id() {
    let link = LinkConfig {
        loss: 0.1,
        ..LinkConfig::rtt(Duration::from_millis(30))
    };
    let mut p = connected(cfg(1), cfg(2), link, 1);
    let now = p.now;
    for i in 0..20u8 {
        p.a.send(now, 4, 53, vec![i; 2000], SendOptions::default())
            .unwrap();
    }
    // Closing: queued messages still go first, then the reset.
    p.a.reset_stream(4);
    assert!(
        p.a.send(now, 4, 53, vec![0; 1], SendOptions::default())
            .is_err()
    );
    let mut got = 0u8;
    let (mut a_out, mut b_in, mut a_in, mut b_out) = (false, false, false, false);
    assert!(p.run(Duration::from_secs(30), |p| {
        while let Some(e) = p.b.poll_event() {
            match e {
                Event::Message(m) => {
                    assert!(!b_in, "message after the reset");
                    assert_eq!(m.data[0], got);
                    got += 1;
                }
                Event::IncomingStreamsReset(s) => {
                    assert_eq!(s, list(&[4]));
                    b_in = true;
                    // RFC 8831 §6.7: the other side resets its outgoing stream too.
                    p.b.reset_stream(4);
                }
                Event::OutgoingStreamsReset(s) => {
                    assert_eq!(s, list(&[4]));
                    b_out = true;
                }
                _ => {}
            }
        }
        while let Some(e) = p.a.poll_event() {
            a_out |= e == Event::OutgoingStreamsReset(list(&[4]));
            a_in |= e == Event::IncomingStreamsReset(list(&[4]));
        }
        a_out && b_in && a_in && b_out
    }));
    assert_eq!(got, 20);
    // Nothing of stream 4 is left on either side.
    for m in [p.a.memory(), p.b.memory()] {
        assert_eq!(
            (m.send_streams, m.receive_streams, m.reassembly),
            (0, 0, 0),
            "{m:?}"
        );
    }
    // The id is reusable, its sequence numbers start again at 0.
    let now = p.now;
    p.a.send(now, 4, 51, &b"again"[..], SendOptions::default())
        .unwrap();
    let mut again = false;
    assert!(p.run(Duration::from_secs(10), |p| {
        while let Some(e) = p.b.poll_event() {
            again |= matches!(e, Event::Message(m) if m.stream == 4 && m.data == b"again"[..]);
        }
        again
    }));
}

#[test]
fn many_streams_reset_at_once_are_batched() {
    let mut p = connected(
        cfg(3),
        cfg(4),
        LinkConfig::rtt(Duration::from_millis(10)),
        3,
    );
    let now = p.now;
    for s in 0..300u16 {
        p.a.send(now, s, 53, vec![1; 10], SendOptions::default())
            .unwrap();
        p.a.reset_stream(s);
    }
    let mut reset = 0;
    let mut requests = 0;
    assert!(p.run(Duration::from_secs(10), |p| {
        while let Some(e) = p.a.poll_event() {
            if let Event::OutgoingStreamsReset(s) = e {
                reset += s.len();
                requests += 1;
            }
        }
        while p.b.poll_event().is_some() {}
        reset == 300
    }));
    assert!(requests <= 5, "{requests} requests for 300 streams");
}

#[test]
fn zero_checksum_is_used_only_when_both_accept_it() {
    for (za, zb) in [(true, true), (true, false)] {
        let mut a = Association::new(Config {
            zero_checksum: za,
            ..cfg(5)
        });
        let mut b = Association::new(Config {
            zero_checksum: zb,
            ..cfg(6)
        });
        let now = Instant::now();
        a.connect(now);
        let mut buf = [0u8; 1500];
        let mut zero_seen = 0;
        let mut data_packets = 0;
        for round in 0..10 {
            if round == 3 {
                a.send(now, 0, 53, vec![7; 5000], SendOptions::default())
                    .unwrap();
            }
            while let Some(n) = a.poll_packet(now, &mut buf) {
                let zero = buf[8..12] == [0; 4];
                zero_seen += usize::from(zero);
                // Handshake packets always carry a CRC32c.
                if buf[12] == 1 || buf[12] == 10 {
                    assert!(!zero);
                }
                data_packets += usize::from(buf[12] == 0 || buf[12] == 64 || buf[12] == 3);
                b.handle_packet(now, &buf[..n]);
            }
            while let Some(n) = b.poll_packet(now, &mut buf) {
                a.handle_packet(now, &buf[..n]);
            }
        }
        assert!(data_packets > 0);
        assert_eq!(zero_seen > 0, za && zb);
        let mut got = 0;
        while let Some(e) = b.poll_event() {
            if let Event::Message(m) = e {
                got += m.data.len();
            }
        }
        assert_eq!(got, 5000);
    }
}

#[test]
fn corrupted_packets_are_dropped_unless_zero_checksum_was_agreed() {
    let mut a = Association::new(cfg(7));
    let mut b = Association::new(cfg(8));
    let now = Instant::now();
    a.connect(now);
    let mut buf = [0u8; 1500];
    let n = a.poll_packet(now, &mut buf).unwrap();
    buf[n - 1] ^= 0x40;
    b.handle_packet(now, &buf[..n]);
    assert!(
        b.poll_packet(now, &mut buf).is_none(),
        "a corrupted INIT gets no answer"
    );
    assert_eq!(b.stats().packets_dropped, 1);
}
