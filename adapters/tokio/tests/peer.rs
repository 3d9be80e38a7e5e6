//! Two async kaon peer connections over real loopback UDP: offer and answer passed in-process
//! as strings, then data channels with back-pressure, both directions, opened by either side,
//! and closed.

use bytes::Bytes;
use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::{DataChannel, Message, PeerConnection};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const PATIENCE: Duration = Duration::from_secs(20);

async fn peer() -> PeerConnection {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    PeerConnection::new(PeerConfig::default(), vec![socket]).unwrap()
}

/// Offer from `a` (with a channel labelled `label`), answer from `b`, both as SDP text; returns
/// both ends of the channel once open, and the time from the offer to the open channel.
async fn connect(
    a: &PeerConnection,
    b: &PeerConnection,
    label: &str,
) -> (DataChannel, DataChannel, Duration) {
    let ours = a
        .create_data_channel(label, ChannelConfig::default())
        .await
        .unwrap();
    let start = Instant::now();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .await
        .unwrap();
    let offer = SessionDescription::parse(&offer.to_string()).unwrap();
    b.set_remote_description(SdpType::Offer, offer)
        .await
        .unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .await
        .unwrap();
    let answer = SessionDescription::parse(&answer.to_string()).unwrap();
    a.set_remote_description(SdpType::Answer, answer)
        .await
        .unwrap();
    timeout(PATIENCE, ours.wait_open()).await.unwrap().unwrap();
    let elapsed = start.elapsed();
    let theirs = timeout(PATIENCE, b.accept_data_channel())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.label(), label);
    assert_eq!(theirs.id(), ours.id());
    (ours, theirs, elapsed)
}

async fn recv(channel: &DataChannel) -> Message {
    timeout(PATIENCE, channel.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn two_peers_connect_over_loopback_and_exchange_messages() {
    let a = peer().await;
    let b = peer().await;
    let (ours, theirs, elapsed) = connect(&a, &b, "chat").await;
    println!("offer to open channel: {elapsed:?}");

    ours.send_text("hello from a").await.unwrap();
    let m = recv(&theirs).await;
    assert_eq!((&m.data[..], m.binary), (&b"hello from a"[..], false));

    theirs
        .send(Bytes::from_static(&[0, 1, 2, 255]))
        .await
        .unwrap();
    let m = recv(&ours).await;
    assert_eq!((&m.data[..], m.binary), (&[0u8, 1, 2, 255][..], true));

    theirs.send_text("hello from b").await.unwrap();
    ours.send(Bytes::from_static(b"binary from a"))
        .await
        .unwrap();
    let m = recv(&ours).await;
    assert_eq!((&m.data[..], m.binary), (&b"hello from b"[..], false));
    let m = recv(&theirs).await;
    assert_eq!((&m.data[..], m.binary), (&b"binary from a"[..], true));
}

#[tokio::test]
async fn send_waits_under_back_pressure_and_delivers_everything() {
    const TOTAL: usize = 32 * 1024 * 1024;
    const SIZE: usize = 16 * 1024;
    const HIGH_WATER: usize = 1024 * 1024;
    let a = peer().await;
    let b = peer().await;
    let (ours, theirs, _) = connect(&a, &b, "bulk").await;
    assert_eq!(ours.high_water_mark(), HIGH_WATER);

    let (filled, started) = tokio::sync::oneshot::channel::<()>();
    let mut filled = Some(filled);
    let reader = tokio::spawn(async move {
        // A late reader: it starts only once the sender's buffer has filled (the peer's inbox
        // and SCTP receive window first), so send must have waited at the mark.
        let _ = started.await;
        let mut received = 0usize;
        let mut expected = 0u64;
        while received < TOTAL {
            let m = recv(&theirs).await;
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
    let mut max_buffered = 0;
    for n in 0..(TOTAL / SIZE) as u64 {
        let message = Bytes::from(vec![(n % 251) as u8; SIZE]);
        timeout(PATIENCE, ours.send(message))
            .await
            .unwrap()
            .unwrap();
        max_buffered = max_buffered.max(ours.buffered_amount().await.unwrap());
        if max_buffered > HIGH_WATER {
            // The next send has to wait for the reader.
            filled.take().map(|f| f.send(()));
        }
    }
    let received = timeout(PATIENCE, reader).await.unwrap().unwrap();
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

#[tokio::test]
async fn a_channel_the_peer_opens_is_accepted() {
    let a = peer().await;
    let b = peer().await;
    let (_first, _, _) = connect(&a, &b, "first").await;

    // The answerer opens a second channel; the offerer accepts it.
    let from_b = b
        .create_data_channel("from-b", ChannelConfig::default())
        .await
        .unwrap();
    timeout(PATIENCE, from_b.wait_open())
        .await
        .unwrap()
        .unwrap();
    let accepted = timeout(PATIENCE, a.accept_data_channel())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accepted.label(), "from-b");
    assert_eq!(accepted.id(), from_b.id());

    from_b.send_text("ping").await.unwrap();
    assert_eq!(&recv(&accepted).await.data[..], b"ping");
    accepted.send_text("pong").await.unwrap();
    assert_eq!(&recv(&from_b).await.data[..], b"pong");
}

#[tokio::test]
async fn closing_a_channel_ends_recv_on_the_other_side() {
    let a = peer().await;
    let b = peer().await;
    let (ours, theirs, _) = connect(&a, &b, "short").await;

    ours.send_text("last words").await.unwrap();
    ours.close().await.unwrap();
    // Queued messages still arrive, then recv ends on both sides.
    assert_eq!(&recv(&theirs).await.data[..], b"last words");
    assert_eq!(timeout(PATIENCE, theirs.recv()).await.unwrap(), None);
    assert_eq!(timeout(PATIENCE, ours.recv()).await.unwrap(), None);
    assert!(ours.send_text("too late").await.is_err());
}

#[tokio::test]
async fn a_dropped_channel_handle_does_not_stall_the_others() {
    let a = peer().await;
    let b = peer().await;
    let (ours, theirs, _) = connect(&a, &b, "ignored").await;
    let second = a
        .create_data_channel("second", ChannelConfig::default())
        .await
        .unwrap();
    let second_theirs = timeout(PATIENCE, b.accept_data_channel())
        .await
        .unwrap()
        .unwrap();

    // More than the connection's inbox limit goes to a channel nobody reads; its handle is
    // dropped with all of it unread, so none of it may count against the other channels.
    let size = 64 * 1024;
    let total = kaon_tokio::peer::INBOX_LIMIT + 2 * 1024 * 1024;
    for _ in 0..total / size {
        timeout(PATIENCE, ours.send(Bytes::from(vec![7; size])))
            .await
            .unwrap()
            .unwrap();
    }
    drop(theirs);
    second.send_text("still flowing").await.unwrap();
    assert_eq!(&recv(&second_theirs).await.data[..], b"still flowing");
}

#[tokio::test(start_paused = true)]
async fn peers_connect_and_exchange_messages_under_paused_tokio_time() {
    // Real loopback sockets, virtual time: tokio moves the clock to the next timer whenever
    // every task waits, so timers may fire early, and the connection must still come up.
    let a = peer().await;
    let b = peer().await;
    let (ours, theirs, _) = connect(&a, &b, "paused").await;
    ours.send_text("tick").await.unwrap();
    assert_eq!(&recv(&theirs).await.data[..], b"tick");
    theirs.send_text("tock").await.unwrap();
    assert_eq!(&recv(&ours).await.data[..], b"tock");
}
