//! play-h264-from-disk: sends an H.264 Annex B file and an Ogg Opus file to a browser (Pion's
//! example of that name).
//!
//! ```text
//! cargo run --example play-h264-from-disk -- --video FILE.h264 [--audio FILE.ogg] [--fps N]
//!                                            [--offer FILE] [--answer FILE] [--bind IP]
//! ```
//!
//! The program of `play-from-disk` (see there for signalling, options and output), taking only
//! H.264: its access units go out at `--fps` (default 30) with the H.264 the browser accepted
//! (packetization mode 1 when offered: single NAL units, STAP-A and FU-A).

#[allow(dead_code)] // its own main is play-from-disk's
#[path = "play-from-disk.rs"]
mod play_from_disk;

fn main() {
    play_from_disk::main_with("play-h264-from-disk", Some(kaon::media::codec::Codec::H264));
}
