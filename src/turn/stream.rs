//! The byte-stream seam: TURN over TCP and TLS (RFC 8656 §3.1) without a socket in the core.
//!
//! The TURN client and server speak in datagrams, each one whole STUN or ChannelData message.
//! Over TCP and TLS the same messages follow each other on a byte stream (RFC 8656 §12.5:
//! ChannelData padded to a multiple of 4). A [`StreamLink`] sits between a datagram-speaking
//! layer (a [`Client`](super::Client), an ICE agent or a whole `PeerConnection` with relays,
//! or a [`Server`](super::Server)) and a driver that owns the connections:
//!
//! - outgoing: the driver offers every [`Transmit`](crate::Transmit) to
//!   [`StreamLink::send`]; a datagram for a server registered as a stream server is taken (it
//!   returns `true`), the rest go out over UDP as usual. The link then asks the driver, through
//!   [`StreamLink::poll_command`], to open a connection ([`StreamCommand::Connect`]), write bytes
//!   on one ([`StreamCommand::Write`]), or close one ([`StreamCommand::Close`]).
//! - incoming: the driver reports [`StreamLink::handle_connected`],
//!   [`StreamLink::handle_bytes`] (cut into whole messages and handed back as datagrams from the
//!   connection's remote address to its local one) and [`StreamLink::handle_closed`].
//!
//! Connections are named by a [`StreamId`]; nothing here is TURN-specific beyond the framing,
//! so ICE-TCP (RFC 6544, RFC 4571 framing) can reuse the ids and commands. TLS is the driver's
//! business: [`StreamCommand::Connect`] only says whether to run it.
//!
//! ```
//! use kaon::turn::{StreamCommand, StreamLink, TurnTransport};
//!
//! let local = "10.0.0.1:5000".parse().unwrap();
//! let server = "192.0.2.1:3478".parse().unwrap();
//! let mut link = StreamLink::new();
//! link.add_server(server, TurnTransport::Tcp);
//! // A STUN Binding request (20 bytes, no attributes) from the layer above.
//! let request = [0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
//! assert!(link.send(local, server, &request));
//! let mut buf = [0u8; 2048];
//! let Some(StreamCommand::Connect { id, tls: false, .. }) = link.poll_command(&mut buf) else {
//!     panic!()
//! };
//! assert_eq!(link.poll_command(&mut buf), None); // nothing to write before it connects
//! link.handle_connected(id);
//! assert_eq!(link.poll_command(&mut buf), Some(StreamCommand::Write { id, len: 20 }));
//! // The answer arrives in two pieces and comes back as one datagram.
//! let mut got = Vec::new();
//! link.handle_bytes(id, &request[..7], |d| got.push(d.contents.to_vec()));
//! link.handle_bytes(id, &request[7..], |d| {
//!     assert_eq!((d.source, d.destination), (server, local));
//!     got.push(d.contents.to_vec())
//! });
//! assert_eq!(got, vec![request.to_vec()]);
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::channel_data;
use super::framing::StreamFramer;
use crate::Datagram;

/// A STUN header (RFC 8489 §5).
const STUN_HEADER_LEN: usize = 20;

/// Names one byte stream (a TCP or TLS connection) between a [`StreamLink`] and its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// A datagram layer that also serves clients over byte streams (kaon's TURN
/// [`Server`](super::Server) behind a listening TCP or TLS socket): the driver that accepted a
/// connection tells it when the connection ends, since state tied to the connection (a TURN
/// allocation, RFC 8656 §3.1) must end with it.
///
/// What arrives over a connection goes in through
/// [`handle_stream_datagram`](Self::handle_stream_datagram) and what goes back down one comes
/// out of [`poll_stream_transmit`](Self::poll_stream_transmit), apart from the UDP datagrams
/// of the [`Protocol`](crate::Protocol): RFC 8656 §2.2 names a client by its 5-tuple, transport
/// included, so a UDP client and a TCP client at the same address must not be confused.
pub trait StreamServer {
    /// The accepted connection from `remote` to the listening address `local` has closed (the
    /// client closed it, it failed, or its framing was lost).
    fn stream_closed(&mut self, now: std::time::Instant, local: SocketAddr, remote: SocketAddr);

    /// One whole message that arrived over the accepted connection from `datagram.source` to
    /// the listening address `datagram.destination`.
    fn handle_stream_datagram(&mut self, now: std::time::Instant, datagram: Datagram<'_>);

    /// The next message to write down the connection between `Transmit::source` (the
    /// listening address) and `Transmit::destination`, written into `buf`.
    fn poll_stream_transmit(
        &mut self,
        now: std::time::Instant,
        buf: &mut [u8],
    ) -> Option<crate::Transmit>;
}

/// How a TURN client reaches its server (RFC 8656 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TurnTransport {
    /// UDP datagrams (`turn:` with `?transport=udp`, the default).
    #[default]
    Udp,
    /// A TCP connection (`turn:...?transport=tcp`).
    Tcp,
    /// TLS over TCP (`turns:`); the driver runs TLS.
    Tls,
}

impl TurnTransport {
    /// Whether the transport is a byte stream (TCP or TLS).
    pub fn is_stream(self) -> bool {
        self != Self::Udp
    }
}

/// What a [`StreamLink`] asks its driver to do, from [`StreamLink::poll_command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamCommand {
    /// Open a connection to `remote` (running TLS over it when `tls`), then report
    /// [`StreamLink::handle_connected`], or [`StreamLink::handle_closed`] if it fails.
    /// `local` is the address of the datagram that asked for it (the UDP socket the layer above
    /// uses for this server); the driver may bind the connection anywhere.
    Connect {
        /// The new connection.
        id: StreamId,
        /// The local address datagrams for this connection come from.
        local: SocketAddr,
        /// The server to connect to.
        remote: SocketAddr,
        /// Whether to run TLS over the connection.
        tls: bool,
    },
    /// Write the first `len` bytes of the buffer given to `poll_command` on the connection,
    /// all of them, after what was written before.
    Write {
        /// The connection.
        id: StreamId,
        /// How many bytes of the buffer to write.
        len: usize,
    },
    /// Close the connection (its framing is lost, or the application asked).
    Close {
        /// The connection.
        id: StreamId,
    },
}

/// [`StreamLink`] limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLinkConfig {
    /// The most connections at once; datagrams that would open more are dropped. Default 64.
    pub max_streams: usize,
    /// The most bytes waiting to be written per connection (before it connects, or while the
    /// driver does not poll); datagrams beyond are dropped, as UDP would. Default 256 KiB.
    pub max_queued: usize,
}

impl Default for StreamLinkConfig {
    fn default() -> Self {
        Self {
            max_streams: 64,
            max_queued: 256 * 1024,
        }
    }
}

/// Counters of a [`StreamLink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Connections asked for or accepted.
    pub opened: u64,
    /// Connections that closed (either side) or were closed for lost framing.
    pub closed: u64,
    /// Messages written to streams.
    pub sent: u64,
    /// Messages cut out of streams and handed back as datagrams.
    pub received: u64,
    /// Outgoing datagrams dropped: not one whole STUN or ChannelData message, a full queue,
    /// or no room for another connection.
    pub dropped: u64,
    /// Connections closed because their bytes were not a TURN stream.
    pub bad_framing: u64,
}

#[derive(Debug)]
struct Stream {
    id: StreamId,
    local: SocketAddr,
    remote: SocketAddr,
    connected: bool,
    out: Vec<u8>,
    framer: StreamFramer,
}

/// Carries datagram-shaped TURN messages over byte streams the driver owns (see the module
/// docs for the calls and their order). Any order of calls is legal; every queue is bounded.
#[derive(Debug)]
pub struct StreamLink {
    config: StreamLinkConfig,
    servers: Vec<(SocketAddr, bool)>,
    streams: Vec<Stream>,
    commands: VecDeque<StreamCommand>,
    next_id: u32,
    stats: StreamStats,
}

impl Default for StreamLink {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamLink {
    /// A link with the default limits and no stream servers.
    pub fn new() -> Self {
        Self::with_config(StreamLinkConfig::default())
    }

    /// A link with these limits.
    pub fn with_config(config: StreamLinkConfig) -> Self {
        Self {
            config,
            servers: Vec::new(),
            streams: Vec::new(),
            commands: VecDeque::new(),
            next_id: 0,
            stats: StreamStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Datagrams to `server` go over a stream of this transport from now on (or over UDP
    /// again, for [`TurnTransport::Udp`]). Open connections are kept.
    pub fn add_server(&mut self, server: SocketAddr, transport: TurnTransport) {
        self.servers.retain(|(s, _)| *s != server);
        if transport.is_stream() {
            self.servers.push((server, transport == TurnTransport::Tls));
        }
    }

    /// Whether datagrams to `server` go over a stream.
    pub fn is_stream_server(&self, server: SocketAddr) -> bool {
        self.servers.iter().any(|(s, _)| *s == server)
    }

    /// The connection that carries datagrams between `local` and `remote`, if one is open.
    pub fn stream(&self, local: SocketAddr, remote: SocketAddr) -> Option<StreamId> {
        self.find(local, remote).map(|i| self.streams[i].id)
    }

    /// How many connections are open or opening.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no connection is open or opening.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    fn find(&self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
        self.streams
            .iter()
            .position(|s| s.local == local && s.remote == remote)
    }

    fn index(&self, id: StreamId) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    fn new_stream(&mut self, local: SocketAddr, remote: SocketAddr, connected: bool) -> StreamId {
        let id = StreamId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.streams.push(Stream {
            id,
            local,
            remote,
            connected,
            out: Vec::new(),
            framer: StreamFramer::new(),
        });
        self.stats.opened += 1;
        id
    }

    /// Offers a datagram the layer above wants sent from `source` to `destination`. Returns
    /// `false` when it is not for a stream (send it over UDP); `true` when the link took it
    /// (queued for a connection, opened if needed, or dropped and counted when it is not one
    /// whole STUN or ChannelData message or there is no room).
    pub fn send(&mut self, source: SocketAddr, destination: SocketAddr, datagram: &[u8]) -> bool {
        let index = match self.find(source, destination) {
            Some(i) => i,
            None => {
                let Some(&(_, tls)) = self.servers.iter().find(|(s, _)| *s == destination) else {
                    return false;
                };
                if self.streams.len() >= self.config.max_streams {
                    self.stats.dropped += 1;
                    return true;
                }
                let id = self.new_stream(source, destination, false);
                self.commands.push_back(StreamCommand::Connect {
                    id,
                    local: source,
                    remote: destination,
                    tls,
                });
                self.streams.len() - 1
            }
        };
        let Some((body, total)) = message_len(datagram) else {
            self.stats.dropped += 1;
            return true;
        };
        let out = &mut self.streams[index].out;
        if out.len() + total > self.config.max_queued {
            self.stats.dropped += 1;
            return true;
        }
        out.extend_from_slice(&datagram[..body]);
        // RFC 8656 §12.5: over TCP and TLS the ChannelData message MUST be padded to a
        // multiple of four bytes, so that the next message starts aligned.
        out.resize(out.len() + (total - body), 0);
        self.stats.sent += 1;
        true
    }

    /// A connection the driver accepted (a server's listening socket `local`, a client at
    /// `remote`): its messages come up as datagrams from `remote` to `local`, and datagrams the
    /// layer above sends from `local` to `remote` go down it. `None` when the link already has
    /// [`StreamLinkConfig::max_streams`] connections (close it), or one for the same addresses.
    pub fn accept(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<StreamId> {
        if self.streams.len() >= self.config.max_streams || self.find(local, remote).is_some() {
            return None;
        }
        Some(self.new_stream(local, remote, true))
    }

    /// The connection `id` is established: what was queued for it can be written.
    pub fn handle_connected(&mut self, id: StreamId) {
        if let Some(i) = self.index(id) {
            self.streams[i].connected = true;
        }
    }

    /// Bytes received on connection `id`: each whole message in them (and in what came
    /// before) is handed to `deliver` as a datagram from the connection's remote address to
    /// its local one, ChannelData without its padding. A stream that is not TURN framing is
    /// closed ([`StreamCommand::Close`]).
    pub fn handle_bytes(
        &mut self,
        id: StreamId,
        mut bytes: &[u8],
        mut deliver: impl FnMut(Datagram<'_>),
    ) {
        let Some(i) = self.index(id) else {
            return;
        };
        let (local, remote) = (self.streams[i].local, self.streams[i].remote);
        loop {
            let framer = &mut self.streams[i].framer;
            let taken = framer.push(bytes);
            bytes = &bytes[taken..];
            loop {
                match framer.next_message() {
                    Ok(Some(message)) => {
                        self.stats.received += 1;
                        deliver(Datagram {
                            source: remote,
                            destination: local,
                            contents: message,
                        });
                    }
                    Ok(None) => break,
                    Err(_) => {
                        self.stats.bad_framing += 1;
                        self.close(id);
                        return;
                    }
                }
            }
            if bytes.is_empty() {
                return;
            }
        }
    }

    /// The connection `id` closed (or never opened): it is forgotten, and the next datagram
    /// for its server opens a new one. Returns its (local, remote) addresses, to tell the layer
    /// above: RFC 8656 §3.1 ties an allocation made over TCP or TLS to its connection, so its
    /// client should be told ([`Client::stream_closed`](super::Client::stream_closed),
    /// [`Agent::relay_stream_closed`](crate::ice::Agent::relay_stream_closed)).
    pub fn handle_closed(&mut self, id: StreamId) -> Option<(SocketAddr, SocketAddr)> {
        let i = self.index(id)?;
        let s = self.streams.swap_remove(i);
        self.stats.closed += 1;
        Some((s.local, s.remote))
    }

    /// Closes connection `id`: a [`StreamCommand::Close`] for the driver, and it is forgotten.
    /// Returns its (local, remote) addresses, as [`handle_closed`](Self::handle_closed) does.
    pub fn close(&mut self, id: StreamId) -> Option<(SocketAddr, SocketAddr)> {
        let addrs = self.handle_closed(id)?;
        self.commands.push_back(StreamCommand::Close { id });
        Some(addrs)
    }

    /// The next thing for the driver to do; for [`StreamCommand::Write`] the bytes are in
    /// `buf` (at most `buf.len()` at a time: poll again for the rest).
    pub fn poll_command(&mut self, buf: &mut [u8]) -> Option<StreamCommand> {
        if let Some(c) = self.commands.pop_front() {
            return Some(c);
        }
        if buf.is_empty() {
            return None;
        }
        let s = self
            .streams
            .iter_mut()
            .find(|s| s.connected && !s.out.is_empty())?;
        let len = s.out.len().min(buf.len());
        buf[..len].copy_from_slice(&s.out[..len]);
        s.out.drain(..len);
        Some(StreamCommand::Write { id: s.id, len })
    }
}

/// The length of the one whole STUN or ChannelData message `datagram` holds, and its length
/// on a stream (padded), or `None` when it holds something else.
fn message_len(datagram: &[u8]) -> Option<(usize, usize)> {
    let header = datagram.first_chunk::<4>()?;
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    match header[0] >> 6 {
        // A STUN message is exactly its header and its length.
        0b00 if datagram.len() == STUN_HEADER_LEN + len => Some((datagram.len(), datagram.len())),
        // ChannelData over UDP may come padded or not (RFC 8656 §12.5); the stream form is
        // always padded.
        0b01 if datagram.len() >= channel_data::HEADER_LEN + len => {
            let body = channel_data::HEADER_LEN + len;
            Some((body, body.next_multiple_of(4)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::ChannelData;
    use proptest::prelude::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn stun(len: u16) -> Vec<u8> {
        let mut m = vec![0, 1];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[9; 12]);
        m.extend(std::iter::repeat_n(7u8, usize::from(len)));
        m
    }

    fn channel_data(channel: u16, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 4 + data.len()];
        let n = ChannelData { channel, data }.write(&mut b, false).unwrap();
        b.truncate(n);
        b
    }

    /// Drains every command; returns the bytes written per connection.
    fn drain(link: &mut StreamLink) -> (Vec<StreamCommand>, Vec<(StreamId, Vec<u8>)>) {
        let mut buf = [0u8; 100];
        let (mut commands, mut written) = (Vec::new(), Vec::<(StreamId, Vec<u8>)>::new());
        while let Some(c) = link.poll_command(&mut buf) {
            match c {
                StreamCommand::Write { id, len } => match written.iter_mut().find(|w| w.0 == id) {
                    Some(w) => w.1.extend_from_slice(&buf[..len]),
                    None => written.push((id, buf[..len].to_vec())),
                },
                other => commands.push(other),
            }
        }
        (commands, written)
    }

    #[test]
    fn datagrams_for_other_servers_stay_on_udp() {
        let mut link = StreamLink::new();
        link.add_server(a("192.0.2.1:3478"), TurnTransport::Tcp);
        assert!(!link.send(a("10.0.0.1:1"), a("192.0.2.1:3479"), &stun(0)));
        assert!(!link.send(a("10.0.0.1:1"), a("192.0.2.2:3478"), &stun(0)));
        link.add_server(a("192.0.2.1:3478"), TurnTransport::Udp);
        assert!(!link.send(a("10.0.0.1:1"), a("192.0.2.1:3478"), &stun(0)));
        assert!(link.is_empty());
    }

    #[test]
    fn one_connection_per_local_and_server_with_tls_asked_for() {
        let (l1, l2, s) = (a("10.0.0.1:1"), a("10.0.0.1:2"), a("192.0.2.1:5349"));
        let mut link = StreamLink::new();
        link.add_server(s, TurnTransport::Tls);
        assert!(link.send(l1, s, &stun(4)));
        assert!(link.send(l1, s, &stun(0)));
        assert!(link.send(l2, s, &stun(0)));
        let (commands, written) = drain(&mut link);
        assert_eq!(
            commands,
            vec![
                StreamCommand::Connect {
                    id: StreamId(0),
                    local: l1,
                    remote: s,
                    tls: true
                },
                StreamCommand::Connect {
                    id: StreamId(1),
                    local: l2,
                    remote: s,
                    tls: true
                },
            ]
        );
        assert!(
            written.is_empty(),
            "nothing is written before the connection is up"
        );
        link.handle_connected(StreamId(0));
        let (_, written) = drain(&mut link);
        assert_eq!(written, vec![(StreamId(0), [stun(4), stun(0)].concat())]);
    }

    #[test]
    fn channel_data_is_padded_on_the_stream_and_unpadded_on_delivery() {
        let (l, s) = (a("10.0.0.1:1"), a("192.0.2.1:3478"));
        let mut link = StreamLink::new();
        link.add_server(s, TurnTransport::Tcp);
        let cd = channel_data(0x4001, b"hello");
        assert!(link.send(l, s, &cd));
        link.handle_connected(StreamId(0));
        let (_, written) = drain(&mut link);
        // RFC 8656 §12.5: 4 + 5 bytes padded to 12.
        assert_eq!(written[0].1, [&cd[..], &[0, 0, 0]].concat());
        let mut got = Vec::new();
        link.handle_bytes(StreamId(0), &written[0].1, |d| {
            got.push(d.contents.to_vec())
        });
        assert_eq!(got, vec![cd]);
    }

    #[test]
    fn a_datagram_that_is_not_one_whole_message_is_dropped() {
        let (l, s) = (a("10.0.0.1:1"), a("192.0.2.1:3478"));
        let mut link = StreamLink::new();
        link.add_server(s, TurnTransport::Tcp);
        let mut long = stun(4);
        long.push(0);
        for bad in [
            &b"\x80\x00\x00\x00"[..],
            &stun(4)[..23],
            &long,
            b"\x40\x00\x00\x09abc",
        ] {
            assert!(link.send(l, s, bad));
        }
        assert_eq!(link.stats().dropped, 4);
        link.handle_connected(StreamId(0));
        assert!(drain(&mut link).1.is_empty());
    }

    #[test]
    fn lost_framing_closes_the_connection_and_the_next_datagram_reopens() {
        let (l, s) = (a("10.0.0.1:1"), a("192.0.2.1:3478"));
        let mut link = StreamLink::new();
        link.add_server(s, TurnTransport::Tcp);
        link.send(l, s, &stun(0));
        let _ = drain(&mut link);
        link.handle_connected(StreamId(0));
        let mut got = 0;
        link.handle_bytes(
            StreamId(0),
            &[stun(0), b"\xc0\x00\x00\x00".to_vec()].concat(),
            |_| got += 1,
        );
        assert_eq!(got, 1);
        assert_eq!(link.stats().bad_framing, 1);
        let (commands, _) = drain(&mut link);
        assert_eq!(commands, vec![StreamCommand::Close { id: StreamId(0) }]);
        link.send(l, s, &stun(0));
        let (commands, _) = drain(&mut link);
        assert!(matches!(
            commands[..],
            [StreamCommand::Connect {
                id: StreamId(1),
                ..
            }]
        ));
    }

    #[test]
    fn queues_and_connections_are_bounded() {
        let s = a("192.0.2.1:3478");
        let mut link = StreamLink::with_config(StreamLinkConfig {
            max_streams: 2,
            max_queued: 50,
        });
        link.add_server(s, TurnTransport::Tcp);
        for port in 1..5 {
            for _ in 0..10 {
                link.send(SocketAddr::new(a("10.0.0.1:0").ip(), port), s, &stun(0));
            }
        }
        assert_eq!(link.len(), 2);
        // Two datagrams of 20 bytes fit under 50 per connection; the rest are dropped.
        assert_eq!(link.stats().sent, 4);
        assert_eq!(link.stats().dropped, 36);
        assert_eq!(link.accept(a("192.0.2.1:3478"), a("10.0.0.9:9")), None);
    }

    #[test]
    fn an_accepted_connection_carries_the_servers_answers_back() {
        let (listen, client) = (a("192.0.2.1:3478"), a("203.0.113.5:40000"));
        let mut link = StreamLink::new();
        let id = link.accept(listen, client).unwrap();
        let mut seen = Vec::new();
        link.handle_bytes(id, &stun(8), |d| {
            seen.push((d.source, d.destination, d.contents.len()))
        });
        assert_eq!(seen, vec![(client, listen, 28)]);
        // The server answers from its listening address: that goes down the same connection,
        // while relayed traffic from another address stays on UDP.
        assert!(link.send(listen, client, &stun(0)));
        assert!(!link.send(a("192.0.2.1:49152"), client, &stun(0)));
        assert_eq!(drain(&mut link).1, vec![(id, stun(0))]);
        link.handle_closed(id);
        assert!(
            !link.send(listen, client, &stun(0)),
            "a closed accepted connection is gone"
        );
    }

    proptest! {
        #[test]
        fn messages_cross_the_stream_whole_whatever_the_cuts(
            msgs in proptest::collection::vec(
                prop_oneof![
                    (0u16..40).prop_map(|n| stun(n * 4)),
                    (MIN..=MAX, proptest::collection::vec(any::<u8>(), 0..40))
                        .prop_map(|(c, d)| channel_data(c, &d)),
                ],
                1..10),
            cuts in proptest::collection::vec(1usize..50, 0..20),
        ) {
            let (l, s) = (a("10.0.0.1:1"), a("192.0.2.1:3478"));
            let mut tx = StreamLink::new();
            tx.add_server(s, TurnTransport::Tcp);
            for m in &msgs {
                prop_assert!(tx.send(l, s, m));
            }
            tx.handle_connected(StreamId(0));
            let (_, written) = drain(&mut tx);
            let stream = &written[0].1;
            let mut rx = StreamLink::new();
            let id = rx.accept(s, l).unwrap();
            let mut got = Vec::new();
            let mut at = 0usize;
            for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
                let end = at.saturating_add(*cut).min(stream.len());
                rx.handle_bytes(id, &stream[at..end], |d| got.push(d.contents.to_vec()));
                at = end;
            }
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn any_bytes_never_panic_and_stay_bounded(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        ) {
            let mut link = StreamLink::new();
            let id = link.accept(a("192.0.2.1:3478"), a("10.0.0.1:1")).unwrap();
            for c in &chunks {
                link.handle_bytes(id, c, |d| assert!(!d.contents.is_empty()));
                link.send(a("192.0.2.1:3478"), a("10.0.0.1:1"), c);
            }
            let _ = drain(&mut link);
            prop_assert!(link.len() <= 1);
        }
    }

    const MIN: u16 = channel_data::MIN_CHANNEL;
    const MAX: u16 = channel_data::MAX_CHANNEL;
}
