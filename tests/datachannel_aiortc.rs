//! Interop with a real, independent SCTP stack: aiortc's (pure Python), with its DTLS
//! transport replaced by plain UDP so the two speak SCTP packets directly. Channels opened from
//! both sides with DCEP, text and binary messages both ways (one of 100 KB, fragmented and
//! reassembled by both stacks), and a close by stream reset.
//!
//! Needs a Python with aiortc: `.ci/venv` (made by `.ci/run`) or `$KAON_VENV`. Skipped with a
//! message outside CI when missing; a failure in CI.

mod common;

use kaon::datachannel::{ChannelConfig, Config, DataChannels, Event, Role};
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = r#"
import asyncio, socket, sys
from aiortc import RTCDataChannelParameters
from aiortc.rtcdatachannel import RTCDataChannel
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport

class UdpAsDtls:
    # Just enough of RTCDtlsTransport for RTCSctpTransport: a state, a role, and data.
    def __init__(self, sock, peer):
        self.state = "connected"
        self._role = "server"
        self._data_receiver = None
        self.sock = sock
        self.peer = peer
    def _register_data_receiver(self, receiver):
        self._data_receiver = receiver
    def _unregister_data_receiver(self, receiver):
        self._data_receiver = None
    async def _send_data(self, data):
        self.sock.sendto(data, self.peer)

async def main():
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    print(sock.getsockname()[1], flush=True)
    dtls = UdpAsDtls(sock, ("127.0.0.1", int(sys.argv[1])))
    sctp = RTCSctpTransport(dtls)
    closed = asyncio.Event()

    async def receive():
        while True:
            data = await loop.sock_recv(sock, 65536)
            if dtls._data_receiver is not None:
                await dtls._data_receiver._handle_data(data)
    loop.create_task(receive())

    @sctp.on("datachannel")
    def on_channel(ch):
        print("channel", ch.id, ch.label, ch.protocol, flush=True)
        @ch.on("message")
        def on_message(m):
            if isinstance(m, str):
                ch.send("echo:" + m)
            else:
                ch.send(bytes(reversed(m)))
        @ch.on("close")
        def on_close():
            print("closed", ch.id, flush=True)
            closed.set()

    await sctp.start(RTCSctpCapabilities(maxMessageSize=262144), 5000)
    mine = RTCDataChannel(sctp, RTCDataChannelParameters(label="from-aiortc", ordered=False))
    @mine.on("open")
    def on_open():
        mine.send("hello from aiortc")
    try:
        await asyncio.wait_for(closed.wait(), 20)
    except asyncio.TimeoutError:
        print("timeout", flush=True)
    await asyncio.sleep(0.5)

asyncio.run(main())
"#;

#[test]
fn data_channels_with_aiortc_sctp() {
    let Some(python) = common::venv_python("aiortc") else {
        common::missing_peer("data_channels_with_aiortc_sctp", "python with aiortc");
        return;
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("kaon-aiortc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("peer.py");
    std::fs::write(&script, PEER).unwrap();
    let mut child = Command::new(python)
        .arg(&script)
        .arg(local.port().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let remote = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    // We are the DTLS client: even channel ids.
    let mut cfg = Config::new(Role::Client);
    cfg.sctp.max_message_size = 262_144;
    let mut dc = DataChannels::new(cfg);
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let start = Instant::now();
    dc.connect(start);
    let mine = dc
        .create_channel(
            start,
            ChannelConfig {
                protocol: "chat".into(),
                ..ChannelConfig::labelled("from-kaon")
            },
        )
        .unwrap();
    dc.send_text(start, mine, "ping").unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    dc.send(start, mine, big.clone(), true).unwrap();

    let mut buf = [0u8; 2048];
    let (mut echo_text, mut echo_big, mut hello, mut closed) = (false, false, None, false);
    let mut close_sent = false;
    while start.elapsed() < Duration::from_secs(20) && !closed {
        let now = Instant::now();
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            assert_eq!(from, remote);
            dc.handle_packet(Instant::now(), &buf[..n]);
        }
        let now = now.max(Instant::now());
        if dc.poll_timeout().is_some_and(|t| t <= now) {
            dc.handle_timeout(now);
        }
        while let Some(e) = dc.poll_event() {
            match e {
                Event::Message {
                    id,
                    data,
                    binary: false,
                } if id == mine => {
                    assert_eq!(&data[..], b"echo:ping");
                    echo_text = true;
                }
                Event::Message {
                    id,
                    data,
                    binary: true,
                } if id == mine => {
                    let want: Vec<u8> = big.iter().rev().copied().collect();
                    assert_eq!(&data[..], &want[..]);
                    echo_big = true;
                }
                Event::ChannelOpen { id, remote: true } => {
                    let c = dc.channel_config(id).unwrap();
                    assert_eq!(
                        (c.label.as_str(), c.ordered, id % 2),
                        ("from-aiortc", false, 1)
                    );
                }
                Event::Message {
                    id,
                    data,
                    binary: false,
                } => hello = Some((id, data)),
                Event::ChannelClosed(id) if id == mine => closed = true,
                _ => {}
            }
        }
        if echo_text && echo_big && hello.is_some() && !close_sent {
            dc.close(mine);
            close_sent = true;
        }
        while let Some(n) = dc.poll_packet(Instant::now(), &mut buf) {
            sock.send_to(&buf[..n], remote).unwrap();
        }
    }
    let _ = child.wait();
    let log = log.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "aiortc said: {log:?}; our stats: {:?}",
        dc.association().stats()
    );
    assert!(
        echo_text && echo_big,
        "echoes: text {echo_text}, 100 KB {echo_big}"
    );
    assert_eq!(hello.map(|(_, d)| d), Some("hello from aiortc".into()));
    assert!(
        log.iter()
            .any(|l| l == &format!("channel {mine} from-kaon chat")),
        "{log:?}"
    );
    assert!(closed, "our close completed (both streams reset)");
    assert!(
        log.iter().any(|l| l == &format!("closed {mine}")),
        "{log:?}"
    );
}
