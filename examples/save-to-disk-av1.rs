//! save-to-disk-av1: records a browser's AV1 video to an IVF file and its Opus audio to an
//! Ogg file (Pion's example of that name).
//!
//! ```text
//! cargo run --example save-to-disk-av1 -- [--video OUT.ivf] [--audio OUT.ogg] [--offer FILE]
//!                                         [--answer FILE] [--bind IP] [--duration SECS]
//! ```
//!
//! The program of `save-to-disk` (see there for signalling, options and output), accepting only
//! AV1 and Opus, so that the browser sends AV1.

#[allow(dead_code)] // its own main is save-to-disk's
#[path = "save-to-disk.rs"]
mod save_to_disk;

fn main() {
    save_to_disk::main_with("save-to-disk-av1", "AV1");
}
