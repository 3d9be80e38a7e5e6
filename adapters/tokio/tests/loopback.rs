//! The tokio driver over real loopback UDP: a STUN client and server, and a deadline-driven
//! protocol under paused (virtual) tokio time.

use kaon::stun::{Client, ClientConfig, ClientEvent, Server, ServerConfig, ServerEvent};
use kaon_tokio::Driver;
use std::time::Duration;
use tokio::net::UdpSocket;

#[tokio::test]
async fn stun_client_and_server_talk_over_loopback() {
    let server_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server_socket.local_addr().unwrap();
    let server = Driver::spawn(
        Server::new(ServerConfig::new(vec![server_addr])),
        vec![server_socket],
    )
    .unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let client = Driver::spawn(Client::new(ClientConfig::default()), vec![socket]).unwrap();

    let id = client
        .call(move |c, now| c.binding_request(now, local, server_addr))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), client.next_event())
        .await
        .unwrap();
    match event {
        Some(ClientEvent::Success {
            id: done, response, ..
        }) => {
            assert_eq!(done, id);
            assert_eq!(response.mapped_address(), Some(local));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        server.next_event().await,
        Some(ServerEvent::BindingServed { .. })
    ));
    assert!(client.shutdown().await.is_some());
    assert!(server.shutdown().await.is_some());
}

#[tokio::test(start_paused = true)]
async fn retransmissions_follow_virtual_time_to_the_rfc8489_timeout() {
    // A server that never answers: the client retransmits on its schedule and times out after
    // 39.5 s, which paused tokio time runs through at once.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let client = Driver::spawn(Client::new(ClientConfig::default()), vec![socket]).unwrap();
    let start = tokio::time::Instant::now();
    client
        .call(move |c, now| c.binding_request(now, local, silent_addr))
        .await;
    assert!(matches!(
        client.next_event().await,
        Some(ClientEvent::Timeout { .. })
    ));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(39_500) && waited < Duration::from_secs(41),
        "{waited:?}"
    );
    let mut buf = [0u8; 1500];
    let mut requests = 0;
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(1), silent.recv_from(&mut buf)).await
    {
        requests += 1;
    }
    assert_eq!(requests, 7, "Rc = 7 requests in total");
}

#[tokio::test]
async fn what_a_command_queued_goes_out_even_when_shutdown_follows_at_once() {
    // A close queues its last datagrams and the caller stops the driver right away; the
    // batched inputs must not swallow them.
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = peer.local_addr().unwrap();
    for round in 0..20u8 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let from = socket.local_addr().unwrap();
        let driver = Driver::spawn(Client::new(ClientConfig::default()), vec![socket]).unwrap();
        driver.post(move |c: &mut Client, now| {
            let _ = c.binding_request(now, from, to);
        });
        driver.shutdown().await;
        let mut buf = [0u8; 64];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
            .await
            .expect("the request was sent")
            .unwrap();
        assert!(
            n >= 20 && buf[..2] == [0, 1],
            "a binding request, round {round}"
        );
    }
}
