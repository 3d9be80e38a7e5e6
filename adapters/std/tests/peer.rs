//! Two blocking kaon peer connections over real loopback UDP: offer and answer passed
//! in-process as strings, then data channels with back-pressure, both directions, opened by
//! either side, and closed.

use bytes::Bytes;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;
use kaon_std::{DataChannel, Message, PeerConnection};
use std::net::UdpSocket;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

fn peer() -> PeerConnection {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    PeerConnection::new(PeerConfig::default(), vec![socket]).unwrap()
}

/// Offer from `a` (with a channel labelled `label`), answer from `b`, both as SDP text; returns
/// both ends of the channel once open, and the time from the offer to the open channel.
fn connect(
    a: &PeerConnection,
    b: &PeerConnection,
    label: &str,
) -> (DataChannel, DataChannel, Duration) {
    let ours = a
        .create_data_channel(label, ChannelConfig::default())
        .unwrap();
    let start = Instant::now();
    let offer = a.create_offer().unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let offer = SessionDescription::parse(&offer.to_string()).unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = SessionDescription::parse(&answer.to_string()).unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    assert!(ours.wait_open_timeout(PATIENCE).unwrap(), "never opened");
    let elapsed = start.elapsed();
    let theirs = b.accept_data_channel_timeout(PATIENCE).unwrap();
    assert_eq!(theirs.label(), label);
    assert_eq!(theirs.id(), ours.id());
    (ours, theirs, elapsed)
}

fn recv(channel: &DataChannel) -> Message {
    channel.recv_timeout(PATIENCE).unwrap()
}

#[test]
fn two_peers_connect_over_loopback_and_exchange_messages() {
    let a = peer();
    let b = peer();
    let (ours, theirs, elapsed) = connect(&a, &b, "chat");
    println!("offer to open channel: {elapsed:?}");

    ours.send_text("hello from a").unwrap();
    let m = recv(&theirs);
    assert_eq!((&m.data[..], m.binary), (&b"hello from a"[..], false));

    theirs.send(Bytes::from_static(&[0, 1, 2, 255])).unwrap();
    let m = recv(&ours);
    assert_eq!((&m.data[..], m.binary), (&[0u8, 1, 2, 255][..], true));

    theirs.send_text("hello from b").unwrap();
    ours.send(Bytes::from_static(b"binary from a")).unwrap();
    let m = recv(&ours);
    assert_eq!((&m.data[..], m.binary), (&b"hello from b"[..], false));
    let m = recv(&theirs);
    assert_eq!((&m.data[..], m.binary), (&b"binary from a"[..], true));
}

#[test]
fn send_waits_under_back_pressure_and_delivers_everything() {
    const TOTAL: usize = 32 * 1024 * 1024;
    const SIZE: usize = 16 * 1024;
    const HIGH_WATER: usize = 1024 * 1024;
    let a = peer();
    let b = peer();
    let (ours, theirs, _) = connect(&a, &b, "bulk");
    assert_eq!(ours.high_water_mark(), HIGH_WATER);

    let (filled, started) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        // A late reader: it starts only once the sender's buffer has filled (the peer's inbox
        // and SCTP receive window first), so send must have blocked at the mark.
        let _ = started.recv();
        let mut received = 0usize;
        let mut expected = 0u64;
        while received < TOTAL {
            let m = recv(&theirs);
            assert!(m.binary);
            assert_eq!(m.data.len(), SIZE);
            // Every byte of message n is n mod 251: a reordered or corrupted message shows.
            let want = (expected % 251) as u8;
            assert!(
                m.data.iter().all(|&x| x == want),
                "message {expected} out of order"
            );
            expected += 1;
            received += m.data.len();
        }
        received
    });

    let start = Instant::now();
    let mut filled = Some(filled);
    let mut max_buffered = 0;
    for n in 0..(TOTAL / SIZE) as u64 {
        ours.send(Bytes::from(vec![(n % 251) as u8; SIZE])).unwrap();
        max_buffered = max_buffered.max(ours.buffered_amount().unwrap());
        if max_buffered > HIGH_WATER {
            // The next send has to wait for the reader.
            filled.take().map(|f| f.send(()));
        }
    }
    drop(filled);
    let received = reader.join().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(received, TOTAL);
    println!(
        "{} MiB in {elapsed:?} ({:.1} MB/s), most buffered {max_buffered} bytes",
        TOTAL >> 20,
        TOTAL as f64 / elapsed.as_secs_f64() / 1e6
    );
    assert!(
        max_buffered > HIGH_WATER,
        "the sender never filled its buffer: back-pressure was not exercised"
    );
    assert!(
        max_buffered <= HIGH_WATER + SIZE,
        "buffered {max_buffered} above the mark plus one message"
    );
}

#[test]
fn a_channel_the_peer_opens_is_accepted() {
    let a = peer();
    let b = peer();
    let (_first, _, _) = connect(&a, &b, "first");

    let from_b = b
        .create_data_channel("from-b", ChannelConfig::default())
        .unwrap();
    assert!(from_b.wait_open_timeout(PATIENCE).unwrap());
    let accepted = a.accept_data_channel_timeout(PATIENCE).unwrap();
    assert_eq!(accepted.label(), "from-b");
    assert_eq!(accepted.id(), from_b.id());

    from_b.send_text("ping").unwrap();
    assert_eq!(&recv(&accepted).data[..], b"ping");
    accepted.send_text("pong").unwrap();
    assert_eq!(&recv(&from_b).data[..], b"pong");
}

#[test]
fn closing_a_channel_ends_recv_on_the_other_side() {
    let a = peer();
    let b = peer();
    let (ours, theirs, _) = connect(&a, &b, "short");

    ours.send_text("last words").unwrap();
    ours.close().unwrap();
    assert_eq!(&recv(&theirs).data[..], b"last words");
    assert_eq!(
        theirs.recv_timeout(PATIENCE),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(
        ours.recv_timeout(PATIENCE),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(ours.send_text("too late").is_err());
}

#[test]
fn a_dropped_channel_handle_does_not_stall_the_others() {
    let a = peer();
    let b = peer();
    let (ours, theirs, _) = connect(&a, &b, "ignored");
    let second = a
        .create_data_channel("second", ChannelConfig::default())
        .unwrap();
    let second_theirs = b.accept_data_channel_timeout(PATIENCE).unwrap();

    // More than the connection's inbox limit goes to a channel nobody reads; its handle is
    // dropped with all of it unread, so none of it may count against the other channels.
    let size = 64 * 1024;
    let total = kaon_std::peer::INBOX_LIMIT + 2 * 1024 * 1024;
    for _ in 0..total / size {
        ours.send(Bytes::from(vec![7; size])).unwrap();
    }
    drop(theirs);
    second.send_text("still flowing").unwrap();
    assert_eq!(&recv(&second_theirs).data[..], b"still flowing");
}
