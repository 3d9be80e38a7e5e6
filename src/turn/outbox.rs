//! The server's queue of datagrams to send, with reused buffers: once warm, relaying a packet
//! allocates nothing.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::Transmit;
use crate::stun::{Key, Message};

#[derive(Debug)]
struct Packet {
    source: SocketAddr,
    destination: SocketAddr,
    bytes: Vec<u8>,
}

/// A bounded FIFO of datagrams whose buffers go back to a pool when sent.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: VecDeque<Packet>,
    pool: Vec<Vec<u8>>,
    max: usize,
    /// Datagrams dropped because the queue was full or the caller's buffer too small.
    pub dropped: u64,
}

impl Outbox {
    pub fn new(max: usize) -> Self {
        Self {
            queue: VecDeque::with_capacity(max.min(1024)),
            pool: Vec::new(),
            max: max.max(1),
            dropped: 0,
        }
    }

    /// A buffer of `len` zero bytes for the next datagram, or `None` when the queue is full.
    fn buffer(&mut self, len: usize) -> Option<Vec<u8>> {
        if self.queue.len() >= self.max {
            self.dropped += 1;
            return None;
        }
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.resize(len, 0);
        Some(v)
    }

    fn push(&mut self, source: SocketAddr, destination: SocketAddr, bytes: Vec<u8>) {
        self.queue.push_back(Packet {
            source,
            destination,
            bytes,
        });
    }

    /// Queues a datagram written by `write` into a buffer of `len` bytes; `write` returns the
    /// length it used, or `None` to drop it.
    pub fn push_with(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        len: usize,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let Some(mut v) = self.buffer(len) else {
            return false;
        };
        match write(&mut v) {
            Some(n) => {
                v.truncate(n);
                self.push(source, destination, v);
                true
            }
            None => {
                self.pool.push(v);
                self.dropped += 1;
                false
            }
        }
    }

    /// Queues a STUN message, signed with `key` when given, with FINGERPRINT.
    pub fn push_message(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        msg: &Message<'_>,
        key: Option<&Key>,
    ) -> bool {
        let len = msg.encoded_len(key, true);
        self.push_with(source, destination, len, |buf| {
            msg.write(buf, key, true).ok()
        })
    }

    pub fn pop(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(p) = self.queue.pop_front() {
            let len = p.bytes.len();
            let fits = buf.get_mut(..len).map(|out| out.copy_from_slice(&p.bytes));
            self.pool.push(p.bytes);
            if fits.is_some() {
                return Some(Transmit::new(p.source, p.destination, len));
            }
            self.dropped += 1;
        }
        None
    }
}
