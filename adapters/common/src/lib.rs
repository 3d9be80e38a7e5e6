//! # kaon-adapter-common: what every kaon adapter needs, once
//!
//! `kaon-std` (threads) and `kaon-tokio` (tasks) differ only in how they wait and how they
//! touch sockets. Everything else lives here, with no socket, clock or thread of its own
//! (but for [`mdns_hub`], which is one per process whatever the runtime):
//!
//! - [`Engine`]: one driving round of a [`kaon::Protocol`]: feed queued datagrams and commands
//!   in (a bounded batch), hand the datagrams to send and the events out, report the deadline.
//! - [`DatagramInbox`]: the bounded queue between socket readers and the engine. Under a flood
//!   it drops and counts instead of growing ([`InboxStats`]), and it reuses its buffers.
//! - [`Dispatch`]: a [`kaon::peer::PeerConnection`] whose channel events (messages, opens,
//!   closes, buffered-amount-low) go to per-channel routes an adapter supplies through [`Glue`],
//!   with one byte budget ([`INBOX_LIMIT`]) over all of a connection's channel inboxes.
//! - [`WithStreams`]: a [`Dispatch`] with the adapter's TURN-over-TCP/TLS and ICE-TCP
//!   connections beside it ([`StreamSide`]), as the driver runs it.
//! - [`mdns_hub`]: the process's shared mDNS sockets (port 5353), which every connection of
//!   either adapter subscribes to.
//! - [`udp_batch`]: batched UDP receives and sends (`recvmmsg`, GSO) through `quinn-udp`,
//!   without the per-datagram control messages the drivers do not need.
//! - [`turn_tls`]: the roots a `turns:` server is checked against, and what a TURN-over-TCP
//!   connection reports to its driver.
//!
//! An adapter's loop, in outline (the `wait_*` and `send_to` calls are the runtime's):
//!
//! ```ignore
//! loop {
//!     let now = clock();
//!     engine.handle_timeout(now);
//!     while let Some(t) = engine.poll_transmit(now) {
//!         sockets[t.socket].send_to(t.contents, t.destination);
//!     }
//!     while let Some(e) = engine.poll_event() { events.send(e); }
//!     if engine.is_stopping() { return engine.into_protocol(); }
//!     // Block only when no datagram is waiting: a command, a reader's wake-up, or the deadline.
//!     let first = if engine.has_datagrams() { None } else { wait_for_input(engine.deadline()) };
//!     engine.ingest(clock(), first, || commands.try_recv().ok());
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dispatch;
mod engine;
mod inbox;
#[cfg(feature = "log")]
pub mod logging;
pub mod mdns_hub;
mod streams;
pub mod turn_tls;
pub mod udp_batch;

pub use dispatch::{
    ChannelState, DEFAULT_HIGH_WATER_MARK, Dispatch, Glue, INBOX_LIMIT, InboxBudget, Message,
};
pub use engine::{BATCH, BUF_SIZE, Command, Engine, Input, Outgoing};
pub use inbox::{DEFAULT_INBOX_DATAGRAMS, DatagramInbox, FAIR_SHARE, InboxStats, Push, Queued};
pub use streams::{StreamSide, WithStreams};
