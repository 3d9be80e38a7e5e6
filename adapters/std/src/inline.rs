//! [`Driver::spawn_inline`](crate::Driver::spawn_inline)'s thread (Linux): the sockets read
//! where the protocol runs, with no reader thread between them.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use kaon::Protocol;
use kaon_adapter_common::udp_batch::UdpSocketState;
use kaon_adapter_common::{DatagramInbox, Engine, Input};

use crate::udp;

/// `recvmmsg` calls on one socket in a round before the thread turns to the next socket, the
/// commands and the timers: a flood on one socket cannot starve the rest.
const READS_PER_ROUND: usize = 4;

/// The thread's sockets: read through a [`udp::Poller`], written through the sender.
pub(crate) struct Io<'a> {
    pub(crate) sockets: &'a [UdpSocket],
    pub(crate) states: &'a [Arc<UdpSocketState>],
    pub(crate) sender: udp::Sender,
    pub(crate) waker: &'a udp::Waker,
}

/// Rounds until told to stop: send, read every readable socket (waiting in `poll(2)` only
/// when the last round found nothing), run the commands.
pub(crate) fn drive<P: Protocol>(
    mut engine: Engine<P>,
    inputs: Receiver<Input<P>>,
    events: Sender<P::Event>,
    io: Io<'_>,
    counter: &DatagramInbox,
) -> P {
    let Io {
        sockets,
        states,
        mut sender,
        waker,
    } = io;
    let mut poller = udp::Poller::new(sockets, states, waker);
    let mut busy = false;
    loop {
        let now = Instant::now();
        engine.handle_timeout(now);
        crate::transmit(&mut engine, now, &mut sender);
        while let Some(e) = engine.poll_event() {
            let _ = events.send(e);
        }
        if engine.is_stopping() {
            return engine.into_protocol();
        }
        // A command queued before the waker was reset is taken now, not after a sleep.
        let mut first = None;
        let timeout = if busy {
            Some(Duration::ZERO)
        } else if let Ok(input) = inputs.try_recv() {
            first = Some(input);
            Some(Duration::ZERO)
        } else {
            engine.deadline().map(|d| d.saturating_duration_since(now))
        };
        if let Err(_e) = poller.wait(timeout) {
            // Only an invalid timeout or an exhausted kernel: rest instead of spinning.
            std::thread::sleep(udp::READER_POLL);
        }
        let mut received = 0;
        for (index, _socket) in sockets.iter().enumerate() {
            for _ in 0..READS_PER_ROUND {
                match poller.recv(index) {
                    Ok(true) => {
                        let now = Instant::now();
                        for (source, contents) in poller.datagrams() {
                            engine.handle_datagram(now, index, source, contents);
                            received += 1;
                        }
                        crate::transmit(&mut engine, now, &mut sender);
                    }
                    Ok(false) => break,
                    // ICMP errors (port unreachable) on some systems: not fatal for UDP.
                    Err(_e) => {
                        #[cfg(feature = "log")]
                        if let Ok(local) = _socket.local_addr() {
                            kaon_adapter_common::logging::receive_error(local, &_e);
                        }
                        break;
                    }
                }
            }
        }
        busy = received > 0;
        if busy {
            counter.count_received(received);
        }
        engine.ingest(Instant::now(), first, || inputs.try_recv().ok());
    }
}
