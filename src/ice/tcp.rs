//! ICE over TCP (RFC 6544): RFC 4571 framing and the byte-stream seam for TCP candidates.
//!
//! Over TCP, ICE checks and everything after them (DTLS records, SRTP packets) travel as
//! RFC 4571 frames: a 16-bit big-endian length and that many bytes. [`TcpFramer`] cuts a
//! received stream into frames with a bounded buffer; [`write_frame`] writes one.
//!
//! The agent keeps speaking in datagrams. Its TCP candidates have addresses like any other
//! (a passive candidate is the listening socket's address, an active one is the interface IP
//! with port 9, RFC 6544 §4.5), and an [`IceTcpLink`] between the agent and the driver turns
//! the datagrams from those addresses into frames on connections, and frames back into
//! datagrams. The driver owns the sockets: it listens, accepts ([`IceTcpLink::accept`]),
//! connects when asked ([`StreamCommand::Connect`]), writes ([`StreamCommand::Write`]) and
//! reports what happens ([`IceTcpLink::handle_connected`], [`IceTcpLink::handle_bytes`],
//! [`IceTcpLink::handle_closed`], whose addresses go to [`Agent::tcp_stream_closed`]).
//! [`IceTcpLink`] shows the driving contract in an example.
//!
//! [`Agent::tcp_stream_closed`]: super::Agent::tcp_stream_closed

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::TcpType;
use crate::Datagram;
use crate::turn::{StreamCommand, StreamId};

/// The RFC 4571 length prefix.
pub const FRAME_HEADER_LEN: usize = 2;
/// The longest payload one frame carries (RFC 4571 §2: a 16-bit LENGTH).
pub const MAX_FRAME_PAYLOAD: usize = u16::MAX as usize;
/// The discard port active TCP candidates are signalled with (RFC 6544 §4.5).
pub const ACTIVE_PORT: u16 = 9;
/// Connection ids an [`IceTcpLink`] hands out have this bit set, so that one driver can run it
/// beside a TURN [`StreamLink`](crate::turn::StreamLink) (whose ids count up from 0) without
/// confusing their connections.
pub const STREAM_ID_BIT: u32 = 1 << 31;

/// Why a frame could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A payload longer than [`MAX_FRAME_PAYLOAD`].
    #[error("payload of {0} bytes does not fit an RFC 4571 frame")]
    TooLong(usize),
    /// The output buffer is shorter than the frame.
    #[error("buffer too small: the frame needs {0} bytes")]
    BufferTooSmall(usize),
}

/// Writes `payload` as one RFC 4571 frame at the start of `buf`; returns the frame's length.
pub fn write_frame(payload: &[u8], buf: &mut [u8]) -> Result<usize, FramingError> {
    // RFC 4571 §2: each packet is preceded by its 16-bit unsigned length, in network order.
    let len = u16::try_from(payload.len()).map_err(|_| FramingError::TooLong(payload.len()))?;
    let total = FRAME_HEADER_LEN + payload.len();
    let out = buf
        .get_mut(..total)
        .ok_or(FramingError::BufferTooSmall(total))?;
    out[..FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out[FRAME_HEADER_LEN..].copy_from_slice(payload);
    Ok(total)
}

/// Cuts an RFC 4571 byte stream into frames, buffering at most one frame
/// ([`FRAME_HEADER_LEN`] + [`MAX_FRAME_PAYLOAD`] bytes).
///
/// Feed received bytes with [`push`](Self::push), which takes only what fits, then take frames
/// with [`next_frame`](Self::next_frame) until it returns `None`, and push the rest. Every
/// byte string is a valid RFC 4571 stream (any length is legal), so there is no error; an
/// empty frame is skipped, since no ICE, DTLS or RTP packet is empty.
///
/// ```
/// use kaon::ice::TcpFramer;
/// let mut f = TcpFramer::new();
/// let stream = b"\x00\x03abc\x00\x00\x00\x01z";
/// assert_eq!(f.push(&stream[..4]), 4);
/// assert_eq!(f.next_frame(), None);
/// assert_eq!(f.push(&stream[4..]), stream.len() - 4);
/// assert_eq!(f.next_frame(), Some(&b"abc"[..]));
/// assert_eq!(f.next_frame(), Some(&b"z"[..]));
/// assert_eq!(f.next_frame(), None);
/// ```
#[derive(Debug, Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
    /// Bytes before this are consumed frames, dropped at the next push.
    start: usize,
}

impl TcpFramer {
    /// The most bytes a framer holds.
    pub const CAPACITY: usize = FRAME_HEADER_LEN + MAX_FRAME_PAYLOAD;

    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes received and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends received bytes, as many as fit under [`CAPACITY`](Self::CAPACITY), and returns
    /// how many were taken. Take frames out before pushing the rest.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let take = bytes.len().min(Self::CAPACITY - self.buf.len());
        self.buf.extend_from_slice(&bytes[..take]);
        take
    }

    /// The next whole non-empty frame's payload, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        loop {
            let rest = &self.buf[self.start..];
            let header = rest.first_chunk::<FRAME_HEADER_LEN>()?;
            let len = usize::from(u16::from_be_bytes(*header));
            if rest.len() < FRAME_HEADER_LEN + len {
                return None;
            }
            let at = self.start + FRAME_HEADER_LEN;
            self.start = at + len;
            if len > 0 {
                return Some(&self.buf[at..at + len]);
            }
        }
    }
}

/// [`IceTcpLink`] limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceTcpLinkConfig {
    /// The most connections at once; accepting or opening more is refused. Default 32.
    pub max_streams: usize,
    /// The most bytes queued for one connection (a slow or unconnected peer); frames past it
    /// are dropped, as a congested UDP path would drop them. Default 256 KiB.
    pub max_queued: usize,
}

impl Default for IceTcpLinkConfig {
    fn default() -> Self {
        Self {
            max_streams: 32,
            max_queued: 256 * 1024,
        }
    }
}

/// [`IceTcpLink`] counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IceTcpStats {
    /// Datagrams queued as frames.
    pub sent: u64,
    /// Frames received and delivered as datagrams.
    pub received: u64,
    /// Datagrams dropped: too long, a full queue, no connection from a passive candidate, or
    /// the connection limit.
    pub dropped: u64,
    /// Connections opened at the agent's request.
    pub connects: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed or failed.
    pub closed: u64,
}

#[derive(Debug)]
struct Stream {
    id: StreamId,
    local: SocketAddr,
    remote: SocketAddr,
    connected: bool,
    framer: TcpFramer,
    out: Vec<u8>,
}

/// Between an ICE agent (or a whole `PeerConnection`) and a driver that owns TCP sockets, for
/// the agent's TCP candidates (RFC 6544, RFC 4571 framing).
///
/// The driver offers every outgoing datagram to [`send`](Self::send): one whose source is a
/// registered TCP candidate ([`add_local`](Self::add_local)) is taken and framed (it returns
/// `true`), the rest go out over UDP as usual. RFC 6544 §7.1: an active candidate opens a
/// connection to the pair's remote address when it first has something to send on it; a
/// passive one never connects and sends only on connections it accepted. The driver reports
/// [`handle_connected`](Self::handle_connected), [`handle_bytes`](Self::handle_bytes) and
/// [`handle_closed`](Self::handle_closed) (whose addresses go to
/// [`Agent::tcp_stream_closed`](super::Agent::tcp_stream_closed)), and carries out
/// [`poll_command`](Self::poll_command)'s connects, writes and closes.
///
/// ```
/// use kaon::ice::{IceTcpLink, TcpType};
/// use kaon::turn::StreamCommand;
///
/// let active = "10.0.0.1:9".parse().unwrap();
/// let peer = "10.0.0.2:7000".parse().unwrap();
/// let mut link = IceTcpLink::new();
/// link.add_local(active, TcpType::Active);
/// // A check the agent sends from its active candidate opens a connection to the peer.
/// assert!(link.send(active, peer, b"\x00\x01\x00\x00check"));
/// let mut buf = [0u8; 1500];
/// let Some(StreamCommand::Connect { id, remote, .. }) = link.poll_command(&mut buf) else {
///     panic!()
/// };
/// assert_eq!(remote, peer);
/// link.handle_connected(id);
/// // Once connected, the datagram goes out as one RFC 4571 frame.
/// assert_eq!(link.poll_command(&mut buf), Some(StreamCommand::Write { id, len: 11 }));
/// assert_eq!(&buf[..2], &[0, 9]);
/// // What the peer sends back comes up as datagrams from the peer to the active candidate.
/// let mut got = Vec::new();
/// link.handle_bytes(id, &[0, 2, b'h', b'i'], |d| got.push((d.source, d.destination, d.contents.to_vec())));
/// assert_eq!(got, vec![(peer, active, b"hi".to_vec())]);
/// ```
#[derive(Debug, Default)]
pub struct IceTcpLink {
    config: IceTcpLinkConfig,
    locals: Vec<(SocketAddr, TcpType)>,
    streams: Vec<Stream>,
    commands: VecDeque<StreamCommand>,
    next_id: u32,
    stats: IceTcpStats,
}

impl IceTcpLink {
    /// A link with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A link with the given limits.
    pub fn with_config(config: IceTcpLinkConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Registers a local TCP candidate's address: a passive one's listening address, or an
    /// active one's `ip:9` ([`Agent::add_tcp_passive`](super::Agent::add_tcp_passive),
    /// [`Agent::add_tcp_active`](super::Agent::add_tcp_active) return them).
    pub fn add_local(&mut self, addr: SocketAddr, tcp_type: TcpType) {
        match self.locals.iter_mut().find(|l| l.0 == addr) {
            Some(l) => l.1 = tcp_type,
            None => self.locals.push((addr, tcp_type)),
        }
    }

    /// Whether `addr` is a registered local TCP candidate.
    pub fn is_local(&self, addr: SocketAddr) -> bool {
        self.locals.iter().any(|l| l.0 == addr)
    }

    /// Counters.
    pub fn stats(&self) -> &IceTcpStats {
        &self.stats
    }

    /// Open (or opening) connections.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The local and remote addresses of connection `id`.
    pub fn addresses(&self, id: StreamId) -> Option<(SocketAddr, SocketAddr)> {
        self.index(id)
            .map(|i| (self.streams[i].local, self.streams[i].remote))
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
        let id = StreamId(STREAM_ID_BIT | (self.next_id & !STREAM_ID_BIT));
        self.next_id = self.next_id.wrapping_add(1);
        self.streams.push(Stream {
            id,
            local,
            remote,
            connected,
            framer: TcpFramer::new(),
            out: Vec::new(),
        });
        id
    }

    /// Offers an outgoing datagram. Returns `false` when `source` is no TCP candidate (send it
    /// over UDP); otherwise it is taken, framed on its connection (opening one for an active
    /// candidate), or dropped and counted.
    pub fn send(&mut self, source: SocketAddr, destination: SocketAddr, datagram: &[u8]) -> bool {
        let Some(&(_, tcp_type)) = self.locals.iter().find(|l| l.0 == source) else {
            return false;
        };
        if datagram.is_empty() || datagram.len() > MAX_FRAME_PAYLOAD {
            self.stats.dropped += 1;
            return true;
        }
        let index = match self.find(source, destination) {
            Some(i) => i,
            // RFC 6544 §7.1: a passive candidate never opens a connection; it answers on the
            // ones it accepted.
            None if tcp_type == TcpType::Passive => {
                self.stats.dropped += 1;
                return true;
            }
            None if self.streams.len() >= self.config.max_streams => {
                self.stats.dropped += 1;
                return true;
            }
            None => {
                // RFC 6544 §7.1: the check on a pair with an active local candidate goes out
                // on a new connection from it to the remote candidate.
                let id = self.new_stream(source, destination, false);
                self.stats.connects += 1;
                self.commands.push_back(StreamCommand::Connect {
                    id,
                    local: source,
                    remote: destination,
                    tls: false,
                });
                self.streams.len() - 1
            }
        };
        let out = &mut self.streams[index].out;
        if out.len() + FRAME_HEADER_LEN + datagram.len() > self.config.max_queued {
            self.stats.dropped += 1;
            return true;
        }
        // RFC 6544 §3 and RFC 4571 §2: every STUN message and every media or DTLS packet is
        // one frame, its length first.
        out.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
        out.extend_from_slice(datagram);
        self.stats.sent += 1;
        true
    }

    /// A connection the driver accepted on the listening socket `local` (a passive candidate)
    /// from `remote`: its frames come up as datagrams from `remote` to `local`, and the agent's
    /// datagrams from `local` to `remote` go down it. `None` when `local` is not a passive
    /// candidate, at [`IceTcpLinkConfig::max_streams`], or when one for the same addresses is
    /// open: close it.
    pub fn accept(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<StreamId> {
        let passive = self
            .locals
            .iter()
            .any(|l| l.0 == local && l.1 != TcpType::Active);
        if !passive
            || self.streams.len() >= self.config.max_streams
            || self.find(local, remote).is_some()
        {
            return None;
        }
        self.stats.accepted += 1;
        Some(self.new_stream(local, remote, true))
    }

    /// Connection `id` is established: what was queued for it can be written.
    pub fn handle_connected(&mut self, id: StreamId) {
        if let Some(i) = self.index(id) {
            self.streams[i].connected = true;
        }
    }

    /// Bytes received on connection `id`: each whole frame in them (and in what came before)
    /// is handed to `deliver` as a datagram from the connection's remote address to its local
    /// one.
    pub fn handle_bytes(
        &mut self,
        id: StreamId,
        mut bytes: &[u8],
        mut deliver: impl FnMut(Datagram<'_>),
    ) {
        let Some(i) = self.index(id) else {
            return;
        };
        let s = &mut self.streams[i];
        let (local, remote) = (s.local, s.remote);
        loop {
            let taken = s.framer.push(bytes);
            bytes = &bytes[taken..];
            while let Some(frame) = s.framer.next_frame() {
                self.stats.received += 1;
                deliver(Datagram {
                    source: remote,
                    destination: local,
                    contents: frame,
                });
            }
            if bytes.is_empty() {
                return;
            }
        }
    }

    /// Connection `id` closed, or could not be opened: it is forgotten. Returns its (local,
    /// remote) addresses, for [`Agent::tcp_stream_closed`](super::Agent::tcp_stream_closed)
    /// (RFC 6544 §7.1: a connection that fails to open fails its pair's check).
    pub fn handle_closed(&mut self, id: StreamId) -> Option<(SocketAddr, SocketAddr)> {
        let i = self.index(id)?;
        let s = self.streams.swap_remove(i);
        self.stats.closed += 1;
        Some((s.local, s.remote))
    }

    /// Closes connection `id`: a [`StreamCommand::Close`] for the driver, and it is forgotten.
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
        if s.out.is_empty() && s.out.capacity() > 64 * 1024 {
            s.out = Vec::new();
        }
        Some(StreamCommand::Write { id: s.id, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Drains every command; returns the other commands and the bytes written per connection.
    fn drain(link: &mut IceTcpLink) -> (Vec<StreamCommand>, Vec<(StreamId, Vec<u8>)>) {
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
    fn write_frame_prefixes_the_length_in_network_order() {
        let mut buf = [0u8; 8];
        assert_eq!(write_frame(b"abcde", &mut buf), Ok(7));
        assert_eq!(&buf[..7], b"\x00\x05abcde");
        assert_eq!(
            write_frame(b"abcdefg", &mut buf),
            Err(FramingError::BufferTooSmall(9))
        );
        let big = vec![0u8; MAX_FRAME_PAYLOAD + 1];
        let mut out = vec![0u8; big.len() + 2];
        assert_eq!(
            write_frame(&big, &mut out),
            Err(FramingError::TooLong(big.len()))
        );
        assert_eq!(write_frame(&big[1..], &mut out), Ok(MAX_FRAME_PAYLOAD + 2));
    }

    #[test]
    fn framer_holds_at_most_one_frame_and_takes_the_rest_later() {
        let mut f = TcpFramer::new();
        let mut stream = vec![0xff, 0xff];
        stream.extend(std::iter::repeat_n(1u8, MAX_FRAME_PAYLOAD));
        stream.extend_from_slice(b"\x00\x01x");
        let taken = f.push(&stream);
        assert_eq!(taken, TcpFramer::CAPACITY);
        assert_eq!(f.next_frame().map(<[u8]>::len), Some(MAX_FRAME_PAYLOAD));
        assert_eq!(f.next_frame(), None);
        assert_eq!(f.push(&stream[taken..]), 3);
        assert_eq!(f.next_frame(), Some(&b"x"[..]));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn empty_frames_are_skipped() {
        let mut f = TcpFramer::new();
        f.push(b"\x00\x00\x00\x00\x00\x02hi\x00\x00");
        assert_eq!(f.next_frame(), Some(&b"hi"[..]));
        assert_eq!(f.next_frame(), None);
    }

    #[test]
    fn datagrams_from_udp_addresses_are_not_taken() {
        let mut link = IceTcpLink::new();
        link.add_local(a("10.0.0.1:9"), TcpType::Active);
        assert!(!link.send(a("10.0.0.1:5000"), a("10.0.0.2:7000"), b"x"));
        assert!(link.is_empty());
    }

    #[test]
    fn a_passive_candidate_never_connects() {
        let l = a("10.0.0.1:7000");
        let mut link = IceTcpLink::new();
        link.add_local(l, TcpType::Passive);
        assert!(link.send(l, a("10.0.0.2:40000"), b"check"));
        assert_eq!(link.stats().dropped, 1);
        assert_eq!(drain(&mut link), (vec![], vec![]));
        // Once the peer connected, the same datagram goes down its connection.
        let id = link.accept(l, a("10.0.0.2:40000")).unwrap();
        assert!(link.send(l, a("10.0.0.2:40000"), b"check"));
        assert_eq!(drain(&mut link).1, vec![(id, b"\x00\x05check".to_vec())]);
    }

    #[test]
    fn an_active_candidate_opens_one_connection_per_remote_and_writes_once_up() {
        let l = a("10.0.0.1:9");
        let (r1, r2) = (a("10.0.0.2:7000"), a("10.0.0.3:7000"));
        let mut link = IceTcpLink::new();
        link.add_local(l, TcpType::Active);
        assert!(link.send(l, r1, b"a"));
        assert!(link.send(l, r1, b"bc"));
        assert!(link.send(l, r2, b"d"));
        let (commands, written) = drain(&mut link);
        assert_eq!(commands.len(), 2);
        assert!(written.is_empty(), "nothing is written before it connects");
        let StreamCommand::Connect { id, remote, .. } = commands[0] else {
            panic!()
        };
        assert_eq!(remote, r1);
        assert_ne!(id.0 & STREAM_ID_BIT, 0);
        link.handle_connected(id);
        assert_eq!(
            drain(&mut link).1,
            vec![(id, b"\x00\x01a\x00\x02bc".to_vec())]
        );
        assert_eq!(link.handle_closed(id), Some((l, r1)));
        assert_eq!(link.len(), 1);
    }

    #[test]
    fn accept_only_on_passive_candidates_and_within_limits() {
        let (p, act) = (a("10.0.0.1:7000"), a("10.0.0.1:9"));
        let mut link = IceTcpLink::with_config(IceTcpLinkConfig {
            max_streams: 2,
            max_queued: 10,
        });
        link.add_local(p, TcpType::Passive);
        link.add_local(act, TcpType::Active);
        assert_eq!(link.accept(act, a("10.0.0.2:1")), None);
        let id = link.accept(p, a("10.0.0.2:1")).unwrap();
        assert_eq!(link.accept(p, a("10.0.0.2:1")), None);
        assert!(link.accept(p, a("10.0.0.2:2")).is_some());
        assert_eq!(link.accept(p, a("10.0.0.2:3")), None);
        // 10 bytes a connection: one 5-byte payload plus header fits, the second not.
        assert!(link.send(p, a("10.0.0.2:1"), b"12345"));
        assert!(link.send(p, a("10.0.0.2:1"), b"12345"));
        assert_eq!(link.stats().dropped, 1);
        assert_eq!(drain(&mut link).1, vec![(id, b"\x00\x0512345".to_vec())]);
    }

    proptest! {
        #[test]
        fn frames_cross_the_stream_whole_whatever_the_cuts(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 1..10),
            cuts in proptest::collection::vec(1usize..80, 0..30),
        ) {
            let (l, r) = (a("10.0.0.1:9"), a("10.0.0.2:7000"));
            let mut tx = IceTcpLink::new();
            tx.add_local(l, TcpType::Active);
            for m in &msgs {
                prop_assert!(tx.send(l, r, m));
            }
            let (commands, _) = drain(&mut tx);
            let StreamCommand::Connect { id, .. } = commands[0] else { panic!() };
            tx.handle_connected(id);
            let (_, written) = drain(&mut tx);
            let stream = &written[0].1;
            let mut rx = IceTcpLink::new();
            rx.add_local(r, TcpType::Passive);
            let id = rx.accept(r, l).unwrap();
            let mut got = Vec::new();
            let mut at = 0usize;
            for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
                let end = at.saturating_add(*cut).min(stream.len());
                rx.handle_bytes(id, &stream[at..end], |d| {
                    assert_eq!((d.source, d.destination), (l, r));
                    got.push(d.contents.to_vec())
                });
                at = end;
            }
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn write_then_frame_round_trips(payload in proptest::collection::vec(any::<u8>(), 1..2000)) {
            let mut buf = vec![0u8; payload.len() + 2];
            let n = write_frame(&payload, &mut buf).unwrap();
            let mut f = TcpFramer::new();
            prop_assert_eq!(f.push(&buf[..n]), n);
            prop_assert_eq!(f.next_frame(), Some(&payload[..]));
        }

        #[test]
        fn any_bytes_never_panic_and_stay_bounded(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8),
        ) {
            let mut f = TcpFramer::new();
            for c in &chunks {
                let mut rest = &c[..];
                loop {
                    let n = f.push(rest);
                    rest = &rest[n..];
                    while let Some(frame) = f.next_frame() {
                        prop_assert!(!frame.is_empty());
                    }
                    prop_assert!(f.buffered() <= TcpFramer::CAPACITY);
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            let mut link = IceTcpLink::new();
            link.add_local(a("10.0.0.1:7000"), TcpType::Passive);
            let id = link.accept(a("10.0.0.1:7000"), a("10.0.0.2:1")).unwrap();
            for c in &chunks {
                link.handle_bytes(id, c, |d| assert!(!d.contents.is_empty()));
                link.send(a("10.0.0.1:7000"), a("10.0.0.2:1"), c);
            }
            let _ = drain(&mut link);
            prop_assert!(link.len() <= 1);
        }
    }
}
