//! `write_sample` does not allocate per packet once warmed up: the packetizer writes into the
//! transceiver's scratch packet, and `write_rtp` reuses the queue's emptied buffers and the
//! stream's retransmission history.
//!
//! Only the `write_sample` calls are counted: the simulator's own bookkeeping (reaching an
//! endpoint, carrying datagrams) allocates and is left out.
#![cfg(feature = "sim")]

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
mod peer_support;

use bytes::Bytes;
use counting_alloc::*;
use kaon::media::jitter::Sample;
use kaon::peer::{ConnectionState, LocalTrack, TrackKind};

use peer_support::{MS, Pair, SEC};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn write_sample_does_not_allocate_per_packet_in_the_steady_state() {
    let mut p = Pair::lan(5, 5 * MS, 0.0);
    let now = p.now();
    p.pc(true)
        .add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"]))
        .unwrap();
    p.pc(true)
        .add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    p.negotiate();
    assert!(
        p.run_until(10 * SEC, |p| p.state(true) == ConnectionState::Connected
            && p.state(false) == ConnectionState::Connected)
    );
    static FRAME: [u8; 3000] = [0x11; 3000];
    let video = Sample::with_duration(Bytes::from_static(&FRAME), 3000);
    let audio = Sample::with_duration(Bytes::from_static(&[0xfc, 1, 2, 3, 4, 5]), 960);
    let (mut measured_video, mut measured_audio, mut frames) = (0, 0, 0);
    // 1200 frames of 3 packets go round the 1024-packet retransmission history three times
    // first, so that each of its slots has held a packet of each size.
    for i in 0..1300 {
        let now = p.now();
        let pc = p.pc(true);
        let before = allocations();
        pc.write_sample(now, "1", &video).unwrap();
        let mid = allocations();
        pc.write_sample(now, "0", &audio).unwrap();
        let after = allocations();
        if i >= 1200 {
            measured_video += mid - before;
            measured_audio += after - mid;
            frames += 1;
        }
        p.run_for(10 * MS);
    }
    println!(
        "{frames} video frames (3 packets each): {measured_video} allocations; {frames} audio \
         frames: {measured_audio} allocations"
    );
    assert_eq!(measured_video, 0, "a video write_sample allocated");
    assert_eq!(measured_audio, 0, "an audio write_sample allocated");
}
