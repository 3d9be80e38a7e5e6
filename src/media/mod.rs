//! Media at the frame level: payload formats, the jitter buffer and media files.
//!
//! - [`codec`]: packetizers and depacketizers for Opus, G.711, G.722, VP8, VP9, H.264, H.265
//!   and AV1, working on RTP payloads (the RTP header is the caller's, see `rtp`).
//! - [`jitter`]: a sans-IO jitter buffer per receive stream: reorders, waits for repairs up to
//!   a deadline that follows the RTT, hands out whole frames and asks for keyframes.
//! - [`stream`]: per-SSRC send and receive streams: RTX history and NACK answers, PLI/FIR,
//!   sender and receiver reports, RFC 3550 loss and jitter, NACK generation, RTT.
//! - [`file`](mod@file): IVF, Ogg Opus and H.264/H.265 Annex B, as pure parsers and writers over bytes.
//!
//! ```
//! use kaon::media::codec::{Codec, Packetizer, PacketizerConfig};
//! let mut p = Packetizer::new(Codec::Opus, PacketizerConfig::default());
//! let mut payloads = p.packetize(&[0xfc, 1, 2, 3], 1200)?;
//! let mut buf = [0u8; 1200];
//! let first = payloads.next_payload(&mut buf).unwrap()?;
//! assert_eq!(&buf[..first.len], &[0xfc, 1, 2, 3]);
//! # Ok::<(), kaon::media::codec::CodecError>(())
//! ```

pub mod codec;
pub mod file;
pub mod jitter;
pub mod stream;

pub use stream::{
    KeyframeKind, NtpEpoch, RemoteInboundStats, RemoteOutboundStats, Rtx, RxStats, RxVerdict,
    StreamEvent, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig, TxStats,
};
