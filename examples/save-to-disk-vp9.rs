//! save-to-disk-vp9: records a browser's VP9 video to an IVF file and its Opus audio to an
//! Ogg file (Pion's example of that name).
//!
//! ```text
//! cargo run --example save-to-disk-vp9 -- [--video OUT.ivf] [--audio OUT.ogg] [--offer FILE]
//!                                         [--answer FILE] [--bind IP] [--duration SECS]
//! ```
//!
//! The program of `save-to-disk` (see there for signalling, options and output), accepting only
//! VP9 and Opus, so that the browser sends VP9.

#[allow(dead_code)] // its own main is save-to-disk's
#[path = "save-to-disk.rs"]
mod save_to_disk;

fn main() {
    save_to_disk::main_with("save-to-disk-vp9", "VP9");
}
